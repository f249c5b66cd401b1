"""The catalogue is data: the default profile loads, bad profiles name the bad field."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import tomli_w

from voicelens.producer.exceptions import ProfileError
from voicelens.producer.profile import DEFAULT_PROFILE, load_profile


def test_default_profile_matches_the_documented_catalogue() -> None:
    profile = load_profile()
    mix = profile.target_mix()
    assert set(mix) == {
        "scheduled_callback",
        "spam_filtered",
        "booked_service",
        "emergency_service",
        "live_transfer",
        "out_of_service_area",
        "quote_requested",
    }
    assert "no_show_cancel" not in mix  # optional, off by default
    assert mix["scheduled_callback"] == pytest.approx(0.20, abs=0.005)
    assert mix["quote_requested"] == pytest.approx(0.05, abs=0.005)
    spam = profile.scenarios["spam_filtered"]
    assert (spam.status, spam.capabilities, spam.duration_sec) == ("filtered", (), (30, 60))
    assert profile.providers["vapi"].sentiment_model == "vapi-internal"


def _write(tmp_path: Path, mutate: object) -> Path:
    data = tomllib.loads(DEFAULT_PROFILE.read_text())
    mutate(data)  # type: ignore[operator]
    path = tmp_path / "profile.toml"
    path.write_text(tomli_w.dumps(data))
    return path


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (
            lambda d: d["scenarios"]["booked_service"].update(duration_sec=[200, 100]),
            "duration_sec",
        ),
        (lambda d: d["scenarios"]["spam_filtered"].update(status="maybe"), "status"),
        (lambda d: d["scenarios"]["live_transfer"].update(target_share=0.5), "target_share"),
        (lambda d: d.update(hourly_volume=[1.0] * 23), "hourly_volume"),
        (
            lambda d: d["providers"]["retell"].update(interruption_probability=2),
            "interruption_probability",
        ),
    ],
)
def test_bad_profile_names_the_field(tmp_path: Path, mutate: object, field: str) -> None:
    with pytest.raises(ProfileError, match=field):
        load_profile(_write(tmp_path, mutate))


def test_unreadable_profile(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("recipe = [unclosed")
    with pytest.raises(ProfileError, match="not valid TOML"):
        load_profile(bad)
    with pytest.raises(ProfileError, match="cannot read"):
        load_profile(tmp_path / "missing.toml")
