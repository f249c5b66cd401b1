"""Baseline: the user's generator approach — one pydantic model per conversation.

A faithful stand-in for ``voicelens_seeder generate conversations`` as the handover guide
describes it: pydantic v2 models of the VCP 0.3 payload (GTM mode), random values drawn per
record from the HVAC catalogue with Python's ``random``, every conversation collected into a
list, then one ``model_dump_json(indent=2)`` file per conversation plus a manifest. It is not
made slow on purpose: one ``random.Random``, precomputed catalogue, no validation on assignment.

Run: ``python bench/baseline_pydantic.py --count 50000 --mode files --out DIR`` (or
``--mode build`` / ``--mode serialize`` for in-process rates). Prints one JSON line of results.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

__all__ = ["Conversation", "generate", "main"]

Status = Literal["success", "partial", "filtered", "failed"]


class SuccessCriterion(BaseModel):
    id: str
    metric: str
    operator: str = "=="
    value: bool | str | float


class PurposeContract(BaseModel):
    declared_intent: str
    success_criteria: list[SuccessCriterion]


class Call(BaseModel):
    call_id: str
    session_id: str
    provider: Literal["retell", "vapi", "bland", "synthetic"]
    start_time: str
    end_time: str
    duration_sec: int
    capabilities_invoked: list[str]
    purpose_contract: PurposeContract


class Sentiment(BaseModel):
    model: str
    score: float = Field(ge=0, le=1)


class Perceived(BaseModel):
    by: Literal["caller", "agent", "supervisor"]
    at: int | None = None
    sentiment: Sentiment
    confidence: float = Field(ge=0, le=1)


class ScoredCriterion(BaseModel):
    id: str
    met: bool
    evidence_ref: str


class Metrics(BaseModel):
    aht_sec: int
    first_contact_resolution: bool
    interruptions: int = 0
    handoff_performed: bool = False
    first_response_sec: float | None = None
    estimated_value_usd: float | None = None


class Objective(BaseModel):
    status: Status
    scored_criteria: list[ScoredCriterion]
    metrics: Metrics
    confidence: float = Field(ge=0, le=1)


class Driver(BaseModel):
    type: str
    weight: float = Field(ge=0, le=1)
    note: str | None = None


class PerceptionGap(BaseModel):
    gap_score: float = Field(ge=0)
    gap_class: Literal["aligned", "mild_misalignment", "significant_gap"]
    drivers: list[Driver]


class Outcomes(BaseModel):
    perceived: list[Perceived]
    objective: Objective
    perception_gap: PerceptionGap


class Artifacts(BaseModel):
    recording_url: str | None = None
    transcript_url: str | None = None
    provider_raw_payload_ref: str | None = None


class Custom(BaseModel):
    provider_specific: dict[str, dict[str, str]]
    outcome_hint: str
    synthetic: bool = True
    synthetic_recipe: str


class Audit(BaseModel):
    received_at: str
    normalized_at: str
    schema_version: str = "0.3"


class Payload(BaseModel):
    call: Call
    outcomes: Outcomes
    artifacts: Artifacts
    custom: Custom
    audit: Audit


class Conversation(BaseModel):
    call_id: str
    vcp_version: str = "0.3"
    vcp_payload: Payload


# The VCP 0.3 contract's HVAC scenario catalogue: intent, capabilities, metric, evidence, status,
# met, value range, duration range, caller sentiment range, confidence range, gap range, class,
# (driver, weight).
CATALOGUE: dict[str, tuple[object, ...]] = {
    "booked_service": ("appointment_booking", ["calendar_api", "sms_notification"],
        "task_completion", "tool_log#calendar_api", "success", True, (250, 400), (140, 200),
        (0.75, 0.90), (0.80, 0.92), (0.01, 0.05), "aligned", ("clarity", 0.6)),
    "live_transfer": ("speak_to_tech", ["telephony.transfer"], "warm_transfer",
        "tool_log#telephony.transfer", "success", True, (350, 525), (120, 180), (0.70, 0.80),
        (0.75, 0.85), (0.03, 0.08), "aligned", ("response_latency", 0.4)),
    "scheduled_callback": ("schedule_callback", ["crm.create_task", "sms_notification"],
        "callback_window_created", "tool_log#crm.create_task", "success", True, (120, 200),
        (90, 150), (0.80, 0.88), (0.78, 0.88), (0.02, 0.06), "aligned",
        ("expectation_match", 0.6)),
    "quote_requested": ("request_quote", ["crm.create_opportunity", "email_followup"],
        "lead_created", "tool_log#crm.create_opportunity", "success", True, (250, 650),
        (130, 170), (0.70, 0.85), (0.70, 0.85), (0.04, 0.08), "aligned", ("info_request", 0.5)),
    "out_of_service_area": ("service_request", [], "task_completion", "rule#not_service_area",
        "partial", False, (0, 0), (80, 120), (0.45, 0.70), (0.70, 0.85), (0.10, 0.15),
        "mild_misalignment", ("expectation_mismatch", 0.7)),
    "spam_filtered": ("unknown", [], "screening", "heuristic#spam", "filtered", True, (0, 0),
        (30, 60), (0.05, 0.25), (0.85, 0.95), (0.0, 0.0), "aligned", None),
    "emergency_service": ("emergency_service", ["calendar_api", "priority_flag",
        "sms_notification"], "priority_booking", "tool_log#priority_flag", "success", True,
        (450, 800), (160, 220), (0.60, 0.75), (0.85, 0.95), (0.03, 0.08), "aligned",
        ("urgency", 0.5)),
}  # fmt: skip
WEIGHTS = {
    "scheduled_callback": 20, "spam_filtered": 18, "booked_service": 17, "emergency_service": 16,
    "live_transfer": 14, "out_of_service_area": 9, "quote_requested": 5,
}  # fmt: skip
PROVIDERS = {"retell": ("retell-internal", (1.5, 2.5), 0.10),
             "vapi": ("vapi-internal", (2.0, 3.0), 0.15),
             "bland": ("bland-internal", (1.8, 2.4), 0.05)}  # fmt: skip


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def one(rng: random.Random, window_start: datetime, window_s: int) -> Conversation:
    """Build one conversation model with fresh random values."""
    scenario = rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
    (intent, caps, metric, evidence, status, met, value, dur, senti, conf, gap, gap_class,
     driver) = CATALOGUE[scenario]  # fmt: skip
    provider = rng.choice(list(PROVIDERS))
    model, first_resp, interrupt_p = PROVIDERS[provider]
    call_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    start = window_start + timedelta(seconds=rng.randrange(window_s))
    duration = rng.randint(*dur)
    end = start + timedelta(seconds=duration)
    confidence = round(rng.uniform(*conf), 2)
    return Conversation(
        call_id=call_id,
        vcp_payload=Payload(
            call=Call(
                call_id=call_id,
                session_id=f"{call_id}-session",
                provider=provider,
                start_time=_ts(start),
                end_time=_ts(end),
                duration_sec=duration,
                capabilities_invoked=list(caps),
                purpose_contract=PurposeContract(
                    declared_intent=intent,
                    success_criteria=[SuccessCriterion(id="sc1", metric=metric, value=True)],
                ),
            ),
            outcomes=Outcomes(
                perceived=[
                    Perceived(
                        by="caller",
                        at=int(end.timestamp()),
                        sentiment=Sentiment(model=model, score=round(rng.uniform(*senti), 2)),
                        confidence=confidence,
                    )
                ],
                objective=Objective(
                    status=status,
                    scored_criteria=[ScoredCriterion(id="sc1", met=met, evidence_ref=evidence)],
                    metrics=Metrics(
                        aht_sec=duration,
                        first_contact_resolution=status == "success",
                        interruptions=int(rng.random() < interrupt_p),
                        handoff_performed=scenario == "live_transfer",
                        first_response_sec=round(rng.uniform(*first_resp), 1),
                        estimated_value_usd=float(round(rng.uniform(*value))),
                    ),
                    confidence=confidence,
                ),
                perception_gap=PerceptionGap(
                    gap_score=round(rng.uniform(*gap), 2),
                    gap_class=gap_class,
                    drivers=[Driver(type=driver[0], weight=driver[1])] if driver else [],
                ),
            ),
            artifacts=Artifacts(
                recording_url=f"https://example.com/rec/{call_id}.mp3",
                provider_raw_payload_ref=f"s3://vcp-raw/{provider}/{call_id}.json",
            ),
            custom=Custom(
                provider_specific={provider: {"channel": "inbound"}},
                outcome_hint=scenario,
                synthetic_recipe="hvac_standard_v1_2025_10_12",
            ),
            audit=Audit(
                received_at=_ts(end + timedelta(seconds=1)),
                normalized_at=_ts(end + timedelta(seconds=2)),
            ),
        ),
    )


def generate(count: int, seed: int = 42, days: int = 60) -> list[Conversation]:
    """Every conversation as a model, collected in a list (as the user's tool does)."""
    rng = random.Random(seed)
    end = datetime(2025, 10, 12, tzinfo=UTC)
    start = end - timedelta(days=days)
    window_s = days * 86_400
    return [one(rng, start, window_s) for _ in range(count)]


def main() -> None:
    """Measure one mode and print its figures as a JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--mode", choices=["build", "serialize", "files"], default="files")
    parser.add_argument("--out", type=Path, help="output directory (mode files)")
    args = parser.parse_args()
    started = time.perf_counter()
    cpu_started = time.process_time()
    conversations = generate(args.count)
    built = time.perf_counter()
    built_cpu = time.process_time() - cpu_started
    size = 0
    if args.mode == "serialize":
        for conv in conversations:
            size += len(conv.model_dump_json())
    elif args.mode == "files":
        if args.out is None:
            parser.error("--mode files needs --out")
        args.out.mkdir(parents=True, exist_ok=True)
        names = []
        for i, conv in enumerate(conversations, 1):
            payload = conv.vcp_payload
            name = f"hvac_{i:05d}_{payload.custom.outcome_hint}_{payload.call.provider}.json"
            data = conv.model_dump_json(indent=2)
            (args.out / name).write_text(data)
            size += len(data)
            names.append(name)
        manifest = {"count": len(names), "files": names}
        (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    done = time.perf_counter()
    json.dump(
        {
            "mode": args.mode,
            "count": args.count,
            "build_seconds": built - started,
            "build_cpu_us_per_record": built_cpu / args.count * 1e6,
            "seconds": done - started,
            "per_second": args.count / (done - started),
            "bytes": size,
        },
        sys.stdout,
    )
    print()


if __name__ == "__main__":
    main()
