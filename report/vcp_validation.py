"""VCP 0.3 validity of one conversation: shape, types, ranges and internal consistency.

Written against ../shared/VCP-0.3.md. Returns the problems found (empty = valid), so a report
can say what is wrong with which record instead of only that something is.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

__all__ = ["validate"]

_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_PROVIDERS = {"retell", "vapi", "bland", "synthetic"}
_STATUS = {"success", "partial", "filtered", "failed"}
_GAP = {"aligned", "mild_misalignment", "significant_gap"}
_BY = {"caller", "agent", "supervisor"}


def _ts(value: Any) -> datetime | None:
    if not isinstance(value, str) or not _TS.match(value):
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _unit(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1


def validate(doc: Any) -> list[str]:
    """Problems of ``doc`` as a VCP 0.3 conversation."""
    p: list[str] = []
    if not isinstance(doc, dict):
        return ["not an object"]
    if doc.get("vcp_version") != "0.3":
        p.append("vcp_version is not '0.3'")
    payload = doc.get("vcp_payload")
    if not isinstance(payload, dict):
        return [*p, "vcp_payload missing"]
    try:
        call = payload["call"]
        outcomes = payload["outcomes"]
        objective = outcomes["objective"]
        metrics = objective["metrics"]
        audit = payload["audit"]
        custom = payload["custom"]
        gap = outcomes["perception_gap"]
    except (KeyError, TypeError) as exc:
        return [*p, f"missing {exc}"]
    call_id = doc.get("call_id")
    if not isinstance(call_id, str) or not _UUID.match(call_id):
        p.append("call_id is not a UUID")
    if call.get("call_id") != call_id:
        p.append("call.call_id differs from call_id")
    if call.get("provider") not in _PROVIDERS:
        p.append(f"unknown provider {call.get('provider')!r}")
    start, end = _ts(call.get("start_time")), _ts(call.get("end_time"))
    duration = call.get("duration_sec")
    if start is None or end is None:
        p.append("start_time/end_time not ISO 8601 UTC with milliseconds")
    elif not isinstance(duration, int) or (end - start).total_seconds() != duration:
        p.append("end_time != start_time + duration_sec")
    if metrics.get("aht_sec") != duration:
        p.append("aht_sec != duration_sec")
    status = objective.get("status")
    if status not in _STATUS:
        p.append(f"unknown status {status!r}")
    if metrics.get("first_contact_resolution") is not (status == "success"):
        p.append("first_contact_resolution disagrees with status")
    hint = custom.get("outcome_hint")
    if metrics.get("handoff_performed") is not (hint == "live_transfer"):
        p.append("handoff_performed disagrees with the scenario")
    criteria = {c.get("id") for c in call.get("purpose_contract", {}).get("success_criteria", [])}
    scored = {c.get("id") for c in objective.get("scored_criteria", [])}
    if not scored or scored - criteria:
        p.append("scored_criteria ids do not match success_criteria")
    if not _unit(objective.get("confidence")):
        p.append("objective.confidence outside [0, 1]")
    for item in outcomes.get("perceived", []):
        if item.get("by") not in _BY:
            p.append("perceived.by invalid")
        if not _unit(item.get("sentiment", {}).get("score")) or not _unit(item.get("confidence")):
            p.append("perceived score/confidence outside [0, 1]")
    if gap.get("gap_class") not in _GAP or not (
        isinstance(gap.get("gap_score"), int | float) and gap["gap_score"] >= 0
    ):
        p.append("perception_gap invalid")
    if any(not _unit(d.get("weight")) for d in gap.get("drivers", [])):
        p.append("driver weight outside [0, 1]")
    received, normalized = _ts(audit.get("received_at")), _ts(audit.get("normalized_at"))
    if end is not None and (
        received is None or normalized is None or received < end or normalized < end
    ):
        p.append("audit times not after end_time")
    if audit.get("schema_version") != "0.3":
        p.append("audit.schema_version is not '0.3'")
    if custom.get("synthetic") is not True:
        p.append("custom.synthetic is not true")
    return p
