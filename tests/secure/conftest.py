"""Fixtures of the secured-broker tests: the SASL_SSL broker of `make kafka-secure-up`.

Each test works on topics and a group of its own and runs every command as a user of its own,
created for it and deleted afterwards with the ACLs it was granted. When the secured broker does
not answer, the tests fail with a message saying how to start it; they never skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from secure_support import REPO, SecureBroker

BOOTSTRAP = os.environ.get("VOICELENS_TEST_SECURE_BOOTSTRAP", "127.0.0.1:39092")
STATE_DIR = Path(
    os.environ.get(
        "VOICELENS_TEST_SECURE_DIR",
        str(REPO / ".cache" / "kafka" / f"secure-{BOOTSTRAP.rsplit(':', 1)[1]}"),
    )
)

#: What acls.py calls each name it fills into the ACL table.
Names = dict[str, str]


@pytest.fixture(scope="session")
def secure_broker() -> SecureBroker:
    """The secured broker, or a failed test naming how to start it."""
    broker = SecureBroker(BOOTSTRAP, STATE_DIR)
    if not broker.answers():
        pytest.fail(
            f"no secured Kafka broker answers at {BOOTSTRAP} (state {STATE_DIR}): run "
            "`make kafka-secure-up` (or set VOICELENS_TEST_SECURE_BOOTSTRAP and "
            "VOICELENS_TEST_SECURE_DIR). Secured-broker tests fail rather than skip.",
            pytrace=False,
        )
    return broker


@pytest.fixture
def secure(secure_broker: SecureBroker) -> Iterator[SecureBroker]:
    """The broker, with this test's users deleted afterwards."""
    try:
        yield secure_broker
    finally:
        secure_broker.drop_users()


@pytest.fixture
def names(secure: SecureBroker) -> Iterator[Names]:
    """Topic and group names of this test (acls.py's flags); topics deleted afterwards."""
    base = f"secure-{uuid.uuid4().hex[:10]}"
    out = {
        "conversations_topic": base,
        "datasets_topic": f"{base}.datasets",
        "deliveries_topic": f"{base}.deliveries",
        "dlq_topic": f"{base}.dlq",
        "deliver_group": f"{base}-deliver",
        "replay_group": f"{base}-replay",
        "partitions": "3",
    }
    yield out
    secure.topic_admin().delete_topics(
        [out[k] for k in ("conversations_topic", "datasets_topic", "deliveries_topic", "dlq_topic")]
    )


@pytest.fixture
def grant(secure: SecureBroker, names: Names) -> Iterator[Callable[..., None]]:
    """Grant each role's ACLs (less ``without``) to its user, in one acls.py run; revoked after
    the test: ``grant({"deliver": user}, "deliver:write:dlq")``."""
    granted: list[list[str]] = []

    def give(users: dict[str, str], *without: str) -> None:
        args = []
        for role, user in users.items():
            args += ["--role", role, "--user", f"{role}={user}"]
        for item in without:
            args += ["--without", item]
        run = secure.acls("grant", names, *args)
        assert run.returncode == 0, run.output
        assert not [p for p in secure.passwords() if p in run.output]
        granted.append(args)

    yield give
    for args in granted:
        secure.acls("revoke", {k: v for k, v in names.items() if k != "partitions"}, *args)
