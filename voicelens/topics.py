"""Topic names and record header names shared by producer, consumer and report."""

from __future__ import annotations

__all__ = [
    "CONVERSATIONS",
    "DATASETS",
    "DELIVERIES",
    "dlq_topic",
]

#: Conversation events (Avro, key = call id).
CONVERSATIONS = "vcp.conversations"
#: One manifest event per dataset (compacted, key = dataset id).
DATASETS = "vcp.datasets"
#: One delivery outcome event per finished record (Avro).
DELIVERIES = "vcp.deliveries"


def dlq_topic(topic: str) -> str:
    """The dead-letter topic of ``topic``."""
    return f"{topic}.dlq"
