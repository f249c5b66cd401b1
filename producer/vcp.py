"""Building VCP 0.3 JSON objects from a block of random numbers.

Everything that depends only on the profile and mode (per-scenario ranges, capability lists,
driver lists, provider constants) is prepared once in :class:`PayloadBuilder`; per block, numpy
turns uniforms into rounded values, and the per-record loop only assembles dicts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from voicelens.producer.profile import Profile
from voicelens.producer.story import BlockInput

__all__ = [
    "PayloadBuilder",
    "format_timestamp",
    "format_timestamps",
    "round_cents",
    "uuid_of",
    "uuids_of",
]

_PROVIDERS = ("retell", "vapi", "bland")
_ROLES = ("V2V", "LLM", "STT", "TTS")
_DAY = 86_400
_date_cache: dict[int, str] = {}


def format_timestamp(epoch_s: int) -> str:
    """ISO 8601 UTC with milliseconds and ``Z``: ``2025-10-10T19:42:10.000Z``."""
    day, rem = divmod(epoch_s, _DAY)
    date = _date_cache.get(day)
    if date is None:
        date = np.datetime_as_string(np.datetime64(day, "D"))
        _date_cache[day] = date
    hour, rem = divmod(rem, 3600)
    minute, second = divmod(rem, 60)
    return f"{date}T{hour:02d}:{minute:02d}:{second:02d}.000Z"


def format_timestamps(epoch_s: npt.NDArray[np.int64]) -> list[str]:
    """:func:`format_timestamp` of every element, in one numpy call."""
    stamps = epoch_s.astype("datetime64[s]")
    text: list[str] = np.datetime_as_string(stamps, unit="ms", timezone="UTC").tolist()
    return text


#: How close to a half a hundredfold value may be before :func:`round_cents` leaves it to
#: ``round``: the float product's error is far below this for any time or score here.
_TIE_MARGIN = 1e-6


def round_cents(values: npt.NDArray[np.float64]) -> list[float]:
    """``round(v, 2)`` of every value, the same floats, at numpy speed.

    ``round(v, 2)`` is the double nearest to k / 100, k being ``v * 100`` (exact) rounded half
    to even. Away from a half, the float product rounds to the same k, and IEEE division of k by
    100 is that nearest double. Values whose product lies within :data:`_TIE_MARGIN` of a half
    go through ``round`` itself.
    """
    scaled = values * 100.0
    out: list[float] = (np.rint(scaled) / 100.0).tolist()
    near = np.abs(scaled - np.floor(scaled) - 0.5) < _TIE_MARGIN
    for j in np.flatnonzero(near).tolist():
        out[j] = round(float(values[j]), 2)
    return out


def uuid_of(a: int, b: int) -> str:
    """A call id from two 64-bit words."""
    # Shaped as a version-4, RFC 4122 variant UUID so strict validators accept it.
    a = (a & ~0xF000) | 0x4000
    b = (b & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000
    h = f"{a:016x}{b:016x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


#: Where each of a UUID's 36 characters comes from in the 32 hex digits (-1: a dash).
_UUID_SOURCE = np.array(
    [*range(8), -1, *range(8, 12), -1, *range(12, 16), -1, *range(16, 20), -1, *range(20, 32)]
)
_HIGH_MASK = np.uint64(~0xF000 & 0xFFFF_FFFF_FFFF_FFFF)
_HIGH_VERSION = np.uint64(0x4000)
_LOW_MASK = np.uint64(0x3FFF_FFFF_FFFF_FFFF)
_LOW_VARIANT = np.uint64(0x8000_0000_0000_0000)


def uuids_of(a: npt.NDArray[np.uint64], b: npt.NDArray[np.uint64]) -> list[str]:
    """:func:`uuid_of` of every pair, the hex digits and dashes laid out by numpy at once."""
    pairs = np.empty((len(a), 2), dtype=">u8")
    pairs[:, 0] = (a & _HIGH_MASK) | _HIGH_VERSION
    pairs[:, 1] = (b & _LOW_MASK) | _LOW_VARIANT
    digits = np.frombuffer(pairs.tobytes().hex().encode("ascii"), dtype=np.uint8)
    laid = np.ascontiguousarray(digits.reshape(len(a), 32)[:, _UUID_SOURCE])
    laid[:, _UUID_SOURCE < 0] = ord("-")
    text: list[str] = laid.view("S36").ravel().astype("U36").tolist()
    return text


class PayloadBuilder:
    """Turns (ids, times, scenario, provider, uniforms) into VCP 0.3 dicts."""

    def __init__(self, profile: Profile, mode: Literal["gtm", "full"]) -> None:
        self.full = mode == "full"
        self.recipe = f"{profile.recipe}_{mode}"
        scenarios = list(profile.enabled_scenarios.items())
        self.names = [name for name, _ in scenarios]
        self.specs = [spec for _, spec in scenarios]

        def column(attr: str) -> npt.NDArray[np.float64]:
            return np.array([getattr(s, attr) for s in self.specs], dtype=np.float64)

        self.duration = column("duration_sec")
        self.value = column("value_usd")
        self.sentiment = column("caller_sentiment")
        self.confidence = column("confidence")
        self.gap = column("gap_score")
        providers = [profile.providers[p] for p in _PROVIDERS]
        self.first_response = np.array([p.first_response_sec for p in providers], dtype=np.float64)
        self.interrupt_p = np.array([p.interruption_probability for p in providers])
        self.sentiment_model = [p.sentiment_model for p in providers]
        self.drivers = [[d.model_dump(exclude_none=True) for d in s.drivers] for s in self.specs]
        # Roles in the contract's order (V2V, LLM, STT, TTS), whatever order the profile uses.
        self.model_roles = {
            name: {
                role: {
                    "chosen": roles[role].chosen,
                    "alternatives": list(roles[role].alternatives),
                    "reason": list(roles[role].reason),
                }
                for role in _ROLES
                if role in roles
            }
            for name, roles in profile.model_selection.items()
        }

    @staticmethod
    def _span(ranges: npt.NDArray[np.float64], which: npt.NDArray[np.int64], u: Any) -> Any:
        lo = ranges[which, 0]
        return lo + u * (ranges[which, 1] - lo)

    def build(
        self,
        *,
        ids: npt.NDArray[np.uint64],
        start_s: list[int],
        scenario: list[int],
        provider: list[int],
        u: npt.NDArray[np.float64],
        index: npt.NDArray[np.int64],
        conversation: Callable[[BlockInput], list[dict[str, Any]]] | None = None,
    ) -> list[dict[str, Any]]:
        """One block of conversations; ``conversation`` adds the words and context to custom."""
        sc = np.asarray(scenario, dtype=np.int64)
        pv = np.asarray(provider, dtype=np.int64)
        lo = self.duration[sc, 0]
        duration = (lo + np.floor(u[:, 3] * (self.duration[sc, 1] - lo + 1))).astype(np.int64)
        duration = np.minimum(duration, self.duration[sc, 1].astype(np.int64)).tolist()
        value = np.round(self._span(self.value, sc, u[:, 4])).tolist()
        sentiment = np.round(self._span(self.sentiment, sc, u[:, 5]), 2).tolist()
        confidence = np.round(self._span(self.confidence, sc, u[:, 6]), 2).tolist()
        gap = np.round(self._span(self.gap, sc, u[:, 7]), 2).tolist()
        first = np.round(self._span(self.first_response, pv, u[:, 8]), 1).tolist()
        interruptions = (u[:, 9] < self.interrupt_p[pv]).astype(np.int64).tolist()
        call_ids = uuids_of(ids[:, 0], ids[:, 1])
        n = len(scenario)
        start_a = np.asarray(start_s, dtype=np.int64)
        end_a = start_a + np.asarray(duration, dtype=np.int64)
        # Start, end, received (end + 1 s) and normalized (end + 2 s) of every record at once.
        stamps = format_timestamps(np.concatenate((start_a, end_a, end_a + 1, end_a + 2)))
        end_list = end_a.tolist()
        extras = (
            conversation(
                BlockInput(
                    index, start_s, scenario, duration, first, interruptions, sentiment, call_ids
                )
            )
            if conversation is not None
            else None
        )

        out: list[dict[str, Any]] = []
        for i, s in enumerate(scenario):
            spec = self.specs[s]
            name = self.names[s]
            prov = _PROVIDERS[provider[i]]
            call_id = call_ids[i]
            dur = duration[i]
            end = end_list[i]
            start_ts = stamps[i]
            end_ts = stamps[n + i]
            success = spec.status == "success"
            conf = confidence[i]
            metrics = {
                "aht_sec": dur,
                "first_contact_resolution": success,
                "interruptions": interruptions[i],
                "handoff_performed": name == "live_transfer",
                "first_response_sec": first[i],
                "estimated_value_usd": value[i],
            }
            payload: dict[str, Any] = {
                "call": {
                    "call_id": call_id,
                    "session_id": f"{call_id}-session",
                    "provider": prov,
                    "start_time": start_ts,
                    "end_time": end_ts,
                    "duration_sec": dur,
                    "capabilities_invoked": list(spec.capabilities),
                    "purpose_contract": {
                        "declared_intent": spec.intent,
                        "success_criteria": [
                            {"id": "sc1", "metric": spec.metric, "operator": "==", "value": True}
                        ],
                    },
                },
                "outcomes": {
                    "perceived": [
                        {
                            "by": "caller",
                            "at": end,
                            "sentiment": {
                                "model": self.sentiment_model[provider[i]],
                                "score": sentiment[i],
                            },
                            "confidence": conf,
                        }
                    ],
                    "objective": {
                        "status": spec.status,
                        "scored_criteria": [
                            {"id": "sc1", "met": spec.met, "evidence_ref": spec.evidence}
                        ],
                        "metrics": metrics,
                        "confidence": conf,
                    },
                    "perception_gap": {
                        "gap_score": gap[i],
                        "gap_class": spec.gap_class,
                        "drivers": [dict(d) for d in self.drivers[s]],
                    },
                },
                "artifacts": {
                    "recording_url": f"https://example.com/rec/{call_id}.mp3",
                    "transcript_url": None,
                    "provider_raw_payload_ref": f"s3://vcp-raw/{prov}/{call_id}.json",
                },
                "custom": {
                    "provider_specific": {prov: {"channel": "inbound"}},
                    "outcome_hint": name,
                    "synthetic": True,
                    "synthetic_recipe": self.recipe,
                    **(extras[i] if extras is not None else {}),
                },
                "audit": {
                    "received_at": stamps[2 * n + i],
                    "normalized_at": stamps[3 * n + i],
                    "schema_version": "0.3",
                },
            }
            if self.full:
                payload["model_selection"] = {
                    "policy_id": f"{prov}-hvac-default",
                    "resolved_at": start_ts,
                    "roles": self.model_roles.get(prov, {}),
                }
                payload["hcr"] = {
                    "audience": "hvac_operations",
                    "headline": spec.headline,
                    "outcome_status": spec.status,
                    "key_points": [
                        f"intent: {spec.intent}",
                        f"handled in {dur} s by {prov}",
                        "tools: " + (", ".join(spec.capabilities) or "none"),
                    ],
                    "impact_metrics": {
                        "aht_sec": dur,
                        "first_contact_resolution": success,
                        "estimated_value_usd": value[i],
                    },
                }
            out.append({"call_id": call_id, "vcp_version": "0.3", "vcp_payload": payload})
        return out
