"""``voicelens replay``: put chosen dead letters back on their topic, exactly once per group."""

from __future__ import annotations

import sys

from pydantic import Field

from voicelens import topics
from voicelens.schemas.dead_letters import DeadLetterReason
from voicelens.settings import BASE_CONFIG, KafkaSettings, LogSettings, TopicName

__all__ = ["ReplayCommand"]


class ReplayCommand(LogSettings, KafkaSettings):
    """Re-publish dead letters to the topic they came from, for the delivery group to retry.

    Each replay group passes over the dead-letter topic once: the DLQ offsets commit in the same
    Kafka transaction as the re-published records, so rerunning (or killing) a replay never
    publishes a dead letter twice. Re-published records keep their key, value and original
    headers, so their deliveries carry the same idempotency key as before.
    """

    model_config = BASE_CONFIG

    topic: TopicName = Field(
        topics.CONVERSATIONS,
        description="the delivered topic: its dead letters are read from <topic>.dlq and go "
        "back to the topic each one names (this one when a record names none)",
    )
    dlq_topic: TopicName | None = Field(None, description="dead-letter topic (default <topic>.dlq)")
    reason: list[DeadLetterReason] = Field(
        default_factory=list,
        description="replay only dead letters with this reason, one of "
        + ", ".join(r.value for r in DeadLetterReason)
        + " (repeat for any of several)",
    )
    status: list[int] = Field(
        default_factory=list,
        description="replay only dead letters whose last HTTP status was this, e.g. 422 "
        "(repeatable)",
    )
    call_id: list[str] = Field(
        default_factory=list, description="replay only these call ids (repeatable)"
    )
    group: str = Field(
        "voicelens-replay",
        min_length=1,
        description="replay group: where its last pass over the dead-letter topic ended",
    )
    from_beginning: bool = Field(
        False, description="look at every dead letter again, not only those since the last pass"
    )
    dry_run: bool = Field(False, description="count what would be replayed; change nothing")
    transaction_size: int = Field(1000, gt=0, description="records per Kafka transaction")
    timeout: float = Field(30.0, gt=0, description="seconds to wait for the broker before failing")

    def cli_cmd(self) -> None:
        """Run one replay pass and print what it did."""
        # The replayer (confluent-kafka) and OpenTelemetry are loaded when a replay runs: every
        # command's start loads this module.
        from voicelens.consumer.replay import Replayer, Selection
        from voicelens.tracing.provider import open_tracer

        dlq = self.dlq_topic or topics.dlq_topic(self.topic)
        with open_tracer("replay") as tracer:
            result = Replayer(
                self,
                dlq_topic=dlq,
                default_target=self.topic,
                group=self.group,
                selection=Selection(
                    frozenset(self.reason), frozenset(self.call_id), frozenset(self.status)
                ),
                transaction_size=self.transaction_size,
                from_beginning=self.from_beginning,
                timeout=self.timeout,
                tracer=tracer,
            ).run(dry_run=self.dry_run)
        verb = "would replay" if self.dry_run else "replayed"
        targets = ", ".join(f"{n} to {t}" for t, n in sorted(result.targets.items())) or "none"
        print(
            f"{verb} {result.replayed} of {result.examined} dead letters from {dlq} ({targets}); "
            f"{result.passed_over} passed over by the selection",
            file=sys.stderr,
        )
        for reason, n in result.by_reason.most_common():
            print(f"  {n:>7}  {reason}", file=sys.stderr)
