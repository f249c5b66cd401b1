"""Settings that cannot work stop `voicelens deliver` at start-up, naming the flag and the
variable; the group settings translate to librdkafka's (real processes, no broker needed)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from voicelens.consumer.deliver_command import DeliverCommand

URL = "http://127.0.0.1:9/hook"


def deliver(*flags: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "voicelens", "deliver", "--webhook-url", URL, *flags]
    return subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    ("flag", "value", "problem"),
    [
        ("--max-rps", "inf", "finite"),
        ("--max-rps", "nan", "finite"),
        ("--max-rps", "1e9", "less than or equal"),
        ("--partition-rps", "inf", "finite"),
        ("--partition-rps", "0", "greater than"),
        ("--timeout", "inf", "finite"),
        ("--session-timeout", "0.5", "greater than or equal"),
        ("--group-protocol", "eager", "classic"),
    ],
)
def test_a_budget_that_cannot_work_is_refused_naming_the_flag(
    flag: str, value: str, problem: str
) -> None:
    result = deliver(flag, value)
    assert result.returncode == 2
    variable = "VOICELENS_" + flag.removeprefix("--").replace("-", "_").upper()
    assert f"{flag} ({variable})" in result.stderr
    assert problem in result.stderr


def test_the_variable_is_checked_like_the_flag() -> None:
    result = deliver(env={"VOICELENS_MAX_RPS": "Infinity"})
    assert result.returncode == 2
    assert "--max-rps (VOICELENS_MAX_RPS)" in result.stderr


def test_group_settings_become_librdkafka_settings() -> None:
    classic = DeliverCommand(webhook_url=URL, session_timeout=7.5, group_instance_id="pod-0")
    assert classic.group_overrides() == {
        "group.protocol": "classic",
        "session.timeout.ms": 7500,
        "group.instance.id": "pod-0",
    }
    kip848 = DeliverCommand(webhook_url=URL, group_protocol="consumer")
    assert kip848.group_overrides() == {"group.protocol": "consumer"}  # the broker's timeout
