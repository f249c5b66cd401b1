"""VCP 0.3 validity of one conversation: shape, types, ranges and internal consistency.

Written against the VCP 0.3 contract (GTM mode; our extensions live in ``custom``). The shape is
a set of strict pydantic models (no type coercion, no unknown keys except inside ``custom``),
so every problem names the field's path;
the consistency rules (times, metrics, criteria) run once the shape is right. ``validate``
returns the problems found (empty = valid), so a report can say what is wrong with which record.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["validate"]

_TS_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"
_UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"

Timestamp = Annotated[str, Field(pattern=_TS_PATTERN)]
Unit = Annotated[float, Field(ge=0.0, le=1.0)]
Status = Literal["success", "partial", "filtered", "failed"]
# Names pydantic adds to an error's location for the members of a union: not field names.
_UNION_TAGS = frozenset({"bool", "str", "float", "int", "none", "function-after"})


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class _Criterion(_Strict):
    id: str
    metric: str
    operator: str
    value: bool | str | float


class _PurposeContract(_Strict):
    declared_intent: str
    success_criteria: list[_Criterion]


class _Call(_Strict):
    call_id: str
    session_id: str
    provider: Literal["retell", "vapi", "bland", "synthetic"]
    start_time: Timestamp
    end_time: Timestamp
    duration_sec: Annotated[int, Field(ge=0)]
    capabilities_invoked: list[str]
    purpose_contract: _PurposeContract


class _Sentiment(_Strict):
    model: str
    score: Unit


class _Perceived(_Strict):
    by: Literal["caller", "agent", "supervisor"]
    at: int = 0
    sentiment: _Sentiment
    confidence: Unit


class _Scored(_Strict):
    id: str
    met: bool
    evidence_ref: str


class _Metrics(_Strict):
    aht_sec: int
    first_contact_resolution: bool
    interruptions: Annotated[int, Field(ge=0)] = 0
    handoff_performed: bool = False
    first_response_sec: Annotated[float, Field(ge=0.0)] = 0.0
    estimated_value_usd: Annotated[float, Field(ge=0.0)] = 0.0


class _Objective(_Strict):
    status: Status
    scored_criteria: list[_Scored]
    metrics: _Metrics
    confidence: Unit


class _Driver(_Strict):
    type: str
    weight: Unit
    note: str | None = None


class _Gap(_Strict):
    gap_score: Annotated[float, Field(ge=0.0)]
    gap_class: Literal["aligned", "mild_misalignment", "significant_gap"]
    drivers: list[_Driver]


class _Outcomes(_Strict):
    perceived: list[_Perceived]
    objective: _Objective
    perception_gap: _Gap


class _Artifacts(_Strict):
    recording_url: str | None = None
    transcript_url: str | None = None
    provider_raw_payload_ref: str | None = None


class _Custom(BaseModel):
    # The one place where extra keys are allowed (the VCP 0.3 contract allows them in `custom`).
    model_config = ConfigDict(strict=True, extra="allow")

    provider_specific: dict[str, Any] = Field(default_factory=dict)
    outcome_hint: str
    synthetic: bool
    synthetic_recipe: str


class _Audit(_Strict):
    received_at: Timestamp
    normalized_at: Timestamp
    schema_version: Literal["0.3"]


class _Role(_Strict):
    chosen: str
    alternatives: list[str]
    reason: list[str]


class _Roles(_Strict):
    V2V: _Role | None = None
    LLM: _Role | None = None
    STT: _Role | None = None
    TTS: _Role | None = None


class _ModelSelection(_Strict):
    policy_id: str
    resolved_at: Timestamp
    roles: _Roles


class _ImpactMetrics(_Strict):
    aht_sec: int
    first_contact_resolution: bool
    estimated_value_usd: float | None = None


class _Hcr(_Strict):
    audience: str
    headline: str
    outcome_status: Status
    key_points: list[str]
    impact_metrics: _ImpactMetrics


class _Payload(_Strict):
    call: _Call
    outcomes: _Outcomes
    artifacts: _Artifacts
    custom: _Custom
    audit: _Audit
    model_selection: _ModelSelection | None = None
    hcr: _Hcr | None = None


class _Conversation(_Strict):
    call_id: Annotated[str, Field(pattern=_UUID_PATTERN)]
    vcp_version: Literal["0.3"]
    vcp_payload: _Payload


def _shape_problems(error: ValidationError) -> list[str]:
    """One ``path: message`` per field, union members folded into their field."""
    seen: dict[str, str] = {}
    for item in error.errors():
        path = ".".join(
            str(p) for p in item["loc"] if not (isinstance(p, str) and p in _UNION_TAGS)
        )
        seen.setdefault(path or "(document)", item["msg"])
    return [f"{path}: {msg}" for path, msg in seen.items()]


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _consistency(c: _Conversation) -> list[str]:
    """The rules that tie fields together (types are already right here)."""
    p: list[str] = []
    call, objective = c.vcp_payload.call, c.vcp_payload.outcomes.objective
    metrics, audit, hint = objective.metrics, c.vcp_payload.audit, c.vcp_payload.custom.outcome_hint
    if call.call_id != c.call_id:
        p.append("vcp_payload.call.call_id: differs from call_id")
    start, end = _time(call.start_time), _time(call.end_time)
    if (end - start).total_seconds() != call.duration_sec:
        p.append("vcp_payload.call.end_time: not start_time + duration_sec")
    if metrics.aht_sec != call.duration_sec:
        p.append("vcp_payload.outcomes.objective.metrics.aht_sec: differs from duration_sec")
    if metrics.first_contact_resolution is not (objective.status == "success"):
        p.append(
            "vcp_payload.outcomes.objective.metrics.first_contact_resolution: disagrees with status"
        )
    if metrics.handoff_performed is not (hint == "live_transfer"):
        p.append(
            "vcp_payload.outcomes.objective.metrics.handoff_performed: disagrees with the scenario"
        )
    criteria = {x.id for x in call.purpose_contract.success_criteria}
    scored = {x.id for x in objective.scored_criteria}
    if not scored or scored - criteria:
        p.append(
            "vcp_payload.outcomes.objective.scored_criteria: ids do not match success_criteria"
        )
    if _time(audit.received_at) < end or _time(audit.normalized_at) < end:
        p.append("vcp_payload.audit: received_at/normalized_at before end_time")
    if c.vcp_payload.custom.synthetic is not True:
        p.append("vcp_payload.custom.synthetic: not true")
    return p


def validate(doc: Any) -> list[str]:
    """Problems of ``doc`` as a VCP 0.3 conversation, each naming the field's path."""
    if not isinstance(doc, dict):
        return ["(document): not a JSON object"]
    try:
        conversation = _Conversation.model_validate(doc)
    except ValidationError as exc:
        return _shape_problems(exc)
    return _consistency(conversation)
