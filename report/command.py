"""``voicelens report``: delivery and data-quality reports rebuilt from the topics (or files)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Message
from pydantic import Field

from producer.profile import load_profile
from report.charts import write_charts
from report.delivery import delivery_stats
from report.exceptions import DatasetNotFoundError, ReportError
from report.quality import QualityResult, assess, grade
from report.readers import read_directory, read_topic
from schemas.codec import ConversationCodec, DatasetEventCodec, DeliveryEventCodec
from schemas.exceptions import DecodeError
from voicelens import topics
from voicelens.settings import BASE_CONFIG, KafkaSettings, TopicName

__all__ = ["ReportCommand"]


class ReportCommand(KafkaSettings):
    """Rebuild delivery and data-quality reports from the topics (or a directory of files)."""

    model_config = BASE_CONFIG

    topic: TopicName = Field(topics.CONVERSATIONS, description="conversations topic")
    deliveries_topic: TopicName = Field(topics.DELIVERIES, description="delivery events topic")
    datasets_topic: TopicName = Field(topics.DATASETS, description="dataset manifests topic")
    dataset_id: str | None = Field(None, description="dataset to report on (default: the newest)")
    out: Path = Field(Path("reports"), description="output directory")
    fail_under: float | None = Field(
        None, ge=0, le=100, description="exit 1 when the score is lower"
    )
    from_dir: Path | None = Field(None, description="analyse a directory of VCP JSON files instead")

    def cli_cmd(self) -> None:
        """Write the reports; exit 1 under --fail-under."""
        if self.from_dir is not None:
            conversations, manifest, unreadable = read_directory(self.from_dir)
            delivery = None
        else:
            by_dataset = self._conversations()
            manifest = self._manifest(set(by_dataset))
            conversations = by_dataset[manifest["dataset_id"]]
            ids = {c["call_id"] for c in conversations}
            decoder = _delivery_decoder(manifest["dataset_id"])
            events = list(read_topic(self, self.deliveries_topic, decoder))
            delivery = delivery_stats(events, ids)
            unreadable = {}
        profile = load_profile(None)
        ranges = {
            name: {"duration_sec": s.duration_sec, "value_usd": s.value_usd}
            for name, s in profile.scenarios.items()
        }
        result = assess(conversations, manifest, ranges)
        score = result.score
        self.out.mkdir(parents=True, exist_ok=True)
        summary = {
            "dataset_id": (manifest or {}).get("dataset_id"),
            "conversations": len(conversations),
            "delivered": delivery["delivered"] if delivery else None,
            "dead_lettered": delivery["dead_lettered"] if delivery else None,
            "duplicates": delivery["duplicates"] if delivery else None,
            "missing": delivery["missing"] if delivery else None,
            "unreadable_files": len(unreadable),
            "quality_score": score,
            "grade": grade(score),
            "checks": {
                c.name: {"passed": c.passed, "points": c.points, "of": c.weight}
                for c in result.checks
            },
        }
        _write(self.out / "summary.json", summary)
        _write(
            self.out / "delivery_analysis.json",
            delivery or {"note": "no delivery data (--from-dir)"},
        )
        if manifest is not None:
            _write(self.out / "manifest.json", manifest)
        charts = write_charts(self.out, result.facts, delivery)
        (self.out / "quality.md").write_text(
            _markdown(summary, result, delivery, charts, unreadable)
        )
        print(
            f"report: {summary['conversations']} conversations, "
            f"score {score}/100 (grade {summary['grade']}) -> {self.out}",
            file=sys.stderr,
        )
        if self.fail_under is not None and score < self.fail_under:
            print(
                f"report: score {score} is under --fail-under {self.fail_under:g}", file=sys.stderr
            )
            sys.exit(1)

    def _manifest(self, on_topic: set[str]) -> dict[str, Any]:
        """The requested dataset's manifest, or the newest one with conversations on --topic."""
        codec = DatasetEventCodec()

        def decode(m: Message) -> dict[str, Any] | None:
            try:
                event = codec.decode(m.value() or b"")
            except DecodeError:
                return None
            return event if event["kind"] == "manifest" else None

        wanted_ids = {self.dataset_id} if self.dataset_id is not None else on_topic
        manifests = [
            m
            for m in read_topic(self, self.datasets_topic, decode)
            if m["dataset_id"] in wanted_ids
        ]
        if not manifests:
            wanted = self.dataset_id or "any dataset"
            msg = f"no manifest for {wanted} on {self.datasets_topic!r} (--dataset-id)"
            raise DatasetNotFoundError(msg)
        return dict(max(manifests, key=lambda e: e["updated_at_ms"])["manifest"])

    def _conversations(self) -> dict[str, list[dict[str, Any]]]:
        """Every conversation on --topic, by dataset id."""
        codec = ConversationCodec()
        by_dataset: dict[str, list[dict[str, Any]]] = {}

        def decode(m: Message) -> tuple[str, dict[str, Any]] | None:
            try:
                envelope, conversation = codec.decode(m.value() or b"")
            except DecodeError:
                return None
            return envelope.dataset_id, conversation

        for dataset_id, conversation in read_topic(self, self.topic, decode):
            by_dataset.setdefault(dataset_id, []).append(conversation)
        if not by_dataset:
            msg = f"no conversations on {self.topic!r} (--topic)"
            raise ReportError(msg)
        return by_dataset


def _delivery_decoder(dataset_id: str) -> Any:
    codec = DeliveryEventCodec()

    def decode(m: Message) -> dict[str, Any] | None:
        try:
            event = codec.decode(m.value() or b"")
        except DecodeError:
            return None
        return event if event["dataset_id"] in (dataset_id, None) else None

    return decode


def _write(path: Path, doc: Any) -> None:
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))


def _markdown(
    summary: dict[str, Any],
    result: QualityResult,
    delivery: dict[str, Any] | None,
    charts: list[str],
    unreadable: dict[str, str],
) -> str:
    lines = [
        f"# Quality report — dataset {summary['dataset_id'] or '(files)'}",
        "",
        f"**Score: {summary['quality_score']}/100 (grade {summary['grade']})** — "
        "every point is earned by a check that can fail.",
        "",
        "| check | result | points | detail |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {c.name} | {'pass' if c.passed else 'FAIL'} | {c.points}/{c.weight} | {c.detail} |"
        for c in result.checks
    ]
    if delivery:
        lines += [
            "",
            "## Delivery",
            "",
            f"- delivered: {delivery['delivered']}, dead-lettered: {delivery['dead_lettered']}, "
            f"missing: {delivery['missing']}, duplicates: {delivery['duplicates']}",
            f"- latency (ms): {delivery['latency_ms']}",
            f"- attempts: {delivery['attempts']}",
            f"- dead-letter reasons: {delivery['dead_letter_reasons'] or 'none'}",
        ]
    if unreadable:
        lines += ["", "## Unreadable files", ""] + [f"- {k}: {v}" for k, v in unreadable.items()]
    lines += ["", "## Charts", ""] + [f"![{c}]({c})" for c in charts]
    return "\n".join(lines) + "\n"
