"""``voicelens report``: delivery and data-quality reports rebuilt from the topics (or files).

Writes ``summary.json``, ``delivery_analysis.json``, ``quality.md``, the dataset's
``manifest.json`` and PNG charts to ``--out``. ``--fail-under SCORE`` turns the quality score
into an exit code, so a pipeline can gate on it.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import Field

from voicelens import topics
from voicelens.producer.exceptions import ProfileError
from voicelens.report.exceptions import MissingExtraError
from voicelens.schemas.schema_registry import SchemaRegistry, SchemaRegistrySettings
from voicelens.settings import BASE_CONFIG, KafkaSettings, LogSettings, TopicName

# Every command's start loads this module (the command tree): the report's own modules (numpy,
# the generator, confluent-kafka) are imported by the functions that use them, once
# _require_report_extra has found scipy and matplotlib.
if TYPE_CHECKING:
    from voicelens.producer.profile import Profile
    from voicelens.report.quality import QualityResult
    from voicelens.report.sources import Loaded

__all__ = ["ReportCommand", "build_summary"]

log = logging.getLogger("voicelens.report")

#: Exit code when the score is under --fail-under (errors use the VoicelensError codes).
EXIT_UNDER = 1


class ReportCommand(LogSettings, SchemaRegistrySettings, KafkaSettings):
    """Rebuild delivery and data-quality reports from the topics (or a directory of files)."""

    model_config = BASE_CONFIG

    topic: TopicName = Field(topics.CONVERSATIONS, description="conversations topic")
    deliveries_topic: TopicName = Field(topics.DELIVERIES, description="delivery events topic")
    datasets_topic: TopicName = Field(topics.DATASETS, description="dataset manifests topic")
    dlq_topic: TopicName | None = Field(
        None, description="dead-letter topic (default: the conversations topic + .dlq)"
    )
    dataset_id: str | None = Field(None, description="dataset to report on (default: the newest)")
    group: str | None = Field(
        None, description="count only this consumer group's deliveries (default: every group)"
    )
    profile: Path | None = Field(
        None, description="profile to check against (default: the manifest's, else HVAC)"
    )
    out: Path = Field(Path("reports"), description="output directory")
    fail_under: float | None = Field(
        None, ge=0, le=100, description="exit 1 when the quality score is lower"
    )
    from_dir: Path | None = Field(None, description="analyse a directory of VCP JSON files instead")

    def cli_cmd(self) -> None:
        """Write the reports; exit 1 when the score is under --fail-under."""
        _require_report_extra()
        from voicelens.report.delivery import delivery_stats
        from voicelens.report.markdown import render
        from voicelens.report.quality import assess
        from voicelens.report.sources import TopicNames, from_directory, from_topics

        if self.from_dir is not None:
            loaded = from_directory(self.from_dir)
        else:
            names = TopicNames(
                conversations=self.topic,
                datasets=self.datasets_topic,
                deliveries=self.deliveries_topic,
                dead_letters=self.dlq_topic or topics.dlq_topic(self.topic),
                dataset_id=self.dataset_id,
                group=self.group,
            )
            if self.schema_registry_url is None:
                loaded = from_topics(self, names)
            else:  # Confluent wire-format conversations: their schema ids looked up there
                with SchemaRegistry(self) as registry:
                    loaded = from_topics(self, names, registry.writer_schema)
        profile = _profile(self.profile, loaded.manifest)
        result = assess(loaded.conversations, loaded.manifest, profile)
        delivery = None
        if loaded.events is not None:
            ids = {str(c.get("call_id")) for c in loaded.conversations}
            delivery = delivery_stats(loaded.events, ids, loaded.dead_letters)
        self.out.mkdir(parents=True, exist_ok=True)
        latencies = [
            e["latency_ms"]
            for e in loaded.events or []
            if e["outcome"] == "delivered" and e["call_id"] is not None
        ]
        from voicelens.report.charts import write_charts  # matplotlib: only when a report runs

        charts = write_charts(
            self.out, result.facts, latencies, delivery["latency_ms"] if delivery else None
        )
        summary = build_summary(loaded, result, delivery, charts)
        _write(self.out / "summary.json", summary)
        _write(
            self.out / "delivery_analysis.json",
            delivery
            if delivery is not None
            else {"note": "no delivery data: reported from files (--from-dir)"},
        )
        _write(self.out / "quality_facts.json", result.facts)
        if loaded.manifest is not None:
            _write(self.out / "manifest.json", loaded.manifest)
        (self.out / "quality.md").write_text(
            render(summary, result, delivery, charts, loaded.skipped), encoding="utf-8"
        )
        score = summary["quality_score"]
        delivered = (
            ""
            if delivery is None
            else f", delivered {summary['delivered']}, dead-lettered {summary['dead_lettered']}, "
            f"duplicates {summary['duplicates']}"
        )
        print(
            f"report: {summary['conversations']} conversations, score {score}/100 "
            f"(grade {summary['grade']}){delivered} -> {self.out}",
            file=sys.stderr,
        )
        if self.fail_under is not None and score < self.fail_under:
            print(
                f"report: score {score} is under --fail-under {self.fail_under:g}", file=sys.stderr
            )
            sys.exit(EXIT_UNDER)


def _profile(explicit: Path | None, manifest: dict[str, Any] | None) -> Profile:
    """--profile, else the profile the manifest names (when still readable), else the default."""
    from voicelens.producer.profile import load_profile

    if explicit is not None:
        return load_profile(explicit)
    named = ((manifest or {}).get("parameters") or {}).get("profile")
    if named:
        try:
            return load_profile(Path(named))
        except ProfileError as exc:
            log.warning("checking against the default profile: %s", exc)
    return load_profile(None)


def build_summary(
    loaded: Loaded,
    result: QualityResult,
    delivery: dict[str, Any] | None,
    charts: list[str],
) -> dict[str, Any]:
    """The ``summary.json`` document."""
    from voicelens.report.quality import grade

    def from_delivery(key: str) -> Any:
        return None if delivery is None else delivery[key]

    return {
        "source": loaded.source,
        "dataset_id": loaded.dataset_id,
        "conversations": len(loaded.conversations),
        "delivered": from_delivery("delivered"),
        "dead_lettered": from_delivery("dead_lettered"),
        "duplicates": from_delivery("duplicates"),
        "missing": from_delivery("missing"),
        "success_rate": from_delivery("success_rate"),
        "topic_copies": loaded.copies,
        "skipped_files": len(loaded.skipped),
        "quality_score": result.score,
        "grade": grade(result.score),
        "checks": {
            c.name: {"passed": c.passed, "points": c.points, "of": c.weight, "detail": c.detail}
            for c in result.checks
        },
        "charts": charts,
    }


def _write(path: Path, doc: Any) -> None:
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))


def _require_report_extra() -> None:
    """Fail before reading a topic when scipy or matplotlib is missing, naming the fix."""
    import importlib.util

    missing = [m for m in ("scipy", "matplotlib") if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingExtraError(
            f"voicelens report needs {' and '.join(missing)}: "
            "install the report extra with pip install 'voicelens[report]'"
        )
