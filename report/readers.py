"""Where a report's records come from: topics (:func:`voicelens.kafka.read_topic`) or a
directory of files (:func:`voicelens.producer.directory.read_directory`, the reader
``produce --from-dir`` uses too), both re-exported here."""

from __future__ import annotations

from voicelens.kafka.reader import read_topic
from voicelens.producer.directory import read_directory

__all__ = ["read_directory", "read_topic"]
