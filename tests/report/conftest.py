"""Fixtures of the report tests: the default profile and small generated datasets."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from voicelens.producer.generator import Dataset, GeneratorOptions
from voicelens.producer.manifest import COMPUTED_KEYS, ManifestBuilder
from voicelens.producer.profile import Profile, load_profile
from voicelens.producer.sources import GeneratedSource

END = "2026-11-01T00:00:00Z"

Conversations = list[dict[str, Any]]


@pytest.fixture(scope="session")
def profile() -> Profile:
    """The packaged HVAC profile."""
    return load_profile(None)


@pytest.fixture(scope="session")
def make_dataset() -> Callable[..., tuple[Conversations, dict[str, Any]]]:
    """(conversations, manifest) of a generated dataset; fresh copies on every call."""
    cache: dict[tuple[int, int, int], tuple[Conversations, dict[str, Any]]] = {}

    def make(
        count: int = 300, seed: int = 11, days: int = 30
    ) -> tuple[Conversations, dict[str, Any]]:
        key = (count, seed, days)
        if key not in cache:
            ds = Dataset.from_options(
                GeneratorOptions(count=count, seed=seed, start_days_ago=days, end_time=END)
            )
            cache[key] = (list(ds.conversations()), GeneratedSource(ds).manifest())
        return copy.deepcopy(cache[key])

    return make


def _restate(conversations: Conversations, manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest with counts and checksum recomputed for (edited) conversations.

    Lets a test change one thing about the data without also failing the count and checksum
    checks, so exactly one check is under test.
    """
    description = {k: v for k, v in manifest.items() if k not in COMPUTED_KEYS}
    builder = ManifestBuilder(copy.deepcopy(description))
    for conv in conversations:
        builder.add(conv)
    return builder.build()


@pytest.fixture(scope="session")
def restate_manifest() -> Callable[[Conversations, dict[str, Any]], dict[str, Any]]:
    """See :func:`_restate`."""
    return _restate
