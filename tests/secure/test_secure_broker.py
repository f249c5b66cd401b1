"""Every command against a secured Kafka (SASL_SSL, SCRAM-SHA-512, ACLs), each as its own
least-privilege principal, with the README's example configuration (README "A secured Kafka").

The ACLs are deploy/kafka/acls.toml's, granted by deploy/kafka/acls.py as a process: the
commands succeed with exactly them, and a command missing one stops at once with an error that
names the operation and the resource, never hangs or retries. No password reaches any output.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from delivery_support import free_port, start_sink, stop_sink
from secure_support import Run, SecureBroker, readme_kafka_config

pytestmark = [pytest.mark.kafka, pytest.mark.secure]

Names = dict[str, str]
END_TIME = "2026-11-01T00:00:00Z"


def _user(secure: SecureBroker, role: str) -> str:
    user = f"test-{role}-{uuid.uuid4().hex[:8]}"
    secure.add_user(user)
    return user


def _clean(secure: SecureBroker, *runs: Run) -> None:
    """No password of any principal appears in what the commands wrote."""
    for run in runs:
        for password in secure.passwords():
            assert password not in run.output, f"a password reached the output of {run.argv[3:5]}"


def _produce(secure: SecureBroker, user: str, names: Names, count: int) -> Run:
    return secure.voicelens(
        user,
        "produce",
        f"--topic={names['conversations_topic']}",
        f"--datasets-topic={names['datasets_topic']}",
        f"--partitions={names['partitions']}",
        f"--count={count}",
        "--workers=1",
        "--transaction-size=10",
        f"--end-time={END_TIME}",
    )


def _deliver(secure: SecureBroker, user: str, names: Names, url: str, *flags: str) -> Run:
    return secure.voicelens(
        user,
        "deliver",
        f"--topic={names['conversations_topic']}",
        f"--group={names['deliver_group']}",
        f"--deliveries-topic={names['deliveries_topic']}",
        f"--webhook-url={url}/hook/secret-path",
        "--grace=5",
        *flags,
    )


def _refusal(run: Run) -> str:
    """The one error line a refused command ends with."""
    assert run.returncode != 0, run.output
    lines = [x for x in run.stderr.splitlines() if x.startswith("voicelens: error:")]
    assert len(lines) == 1, run.output
    return lines[0]


def test_the_readme_example_is_sasl_over_tls_with_scram() -> None:
    config = readme_kafka_config()
    assert config["security.protocol"] == "SASL_SSL"
    assert config["sasl.mechanisms"] == "SCRAM-SHA-512"
    assert {"sasl.username", "sasl.password", "ssl.ca.location"} <= config.keys()


def test_a_principal_without_acls_is_refused_at_once(secure: SecureBroker, names: Names) -> None:
    # allow.everyone.if.no.acl.found=false: an authenticated user with no ACL sees nothing,
    # and a topic it may not describe is refused, not reported missing.
    stranger = _user(secure, "stranger")
    run = secure.voicelens(
        stranger, "replay", f"--topic={names['conversations_topic']}", "--dry-run"
    )
    line = _refusal(run)
    assert f"DESCRIBE on topic '{names['dlq_topic']}'" in line
    _clean(secure, run)


def test_every_command_runs_as_its_own_least_privilege_principal(
    secure: SecureBroker, names: Names, grant: Callable[..., None], tmp_path: Path
) -> None:
    users = {role: _user(secure, role) for role in ("produce", "deliver", "replay", "report")}
    grant(users)

    produced = _produce(secure, users["produce"], names, 20)
    assert produced.returncode == 0, produced.output
    assert "produced 20 records" in produced.stderr

    sink = start_sink(tmp_path, "--reject-rate", "0.3", "--seed", "7")
    try:
        delivered = _deliver(secure, users["deliver"], names, sink.url, "--until-drained")
        received = {r["call_id"] for r in sink.requests()}
    finally:
        stop_sink(sink)
    assert delivered.returncode == 0, delivered.output
    counts = re.search(r"delivered (\d+), dead-lettered (\d+)", delivered.stderr)
    assert counts, delivered.output
    ok, dead = int(counts[1]), int(counts[2])
    assert ok + dead == 20
    assert dead >= 1  # the sink rejects some, so the DLQ write is exercised
    assert len(received) == 20

    replayed = secure.voicelens(
        users["replay"],
        "replay",
        f"--topic={names['conversations_topic']}",
        f"--group={names['replay_group']}",
        "--reason=rejected",
    )
    assert replayed.returncode == 0, replayed.output
    assert f"replayed {dead} of {dead} dead letters" in replayed.stdout + replayed.stderr

    reported = secure.voicelens(
        users["report"],
        "report",
        f"--topic={names['conversations_topic']}",
        f"--datasets-topic={names['datasets_topic']}",
        f"--deliveries-topic={names['deliveries_topic']}",
        f"--out={tmp_path / 'reports'}",
    )
    assert reported.returncode == 0, reported.output
    assert re.search(
        rf"report: 20 conversations, .* delivered {ok}, dead-lettered {dead}", reported.output
    ), reported.output
    assert (tmp_path / "reports" / "quality.md").exists()

    # The same report, its Read on the delivery events revoked: a refusal naming it, not a
    # report of nothing delivered.
    revoked = secure.acls(
        "revoke",
        names,
        "--role=report",
        f"--user=report={users['report']}",
        "--only=report:read:deliveries",
    )
    assert revoked.returncode == 0, revoked.output
    refused = secure.voicelens(
        users["report"],
        "report",
        f"--topic={names['conversations_topic']}",
        f"--datasets-topic={names['datasets_topic']}",
        f"--deliveries-topic={names['deliveries_topic']}",
        f"--out={tmp_path / 'refused'}",
    )
    assert f"READ on topic '{names['deliveries_topic']}'" in _refusal(refused)
    _clean(secure, produced, delivered, replayed, reported, refused)


def test_refused_credentials_stop_the_command_naming_the_user_and_the_setting(
    secure: SecureBroker,
) -> None:
    user = _user(secure, "report")
    wrong = "not-" + secure.users[user]
    run = secure.voicelens(user, "replay", "--dry-run", "--timeout=3", password=wrong)
    line = _refusal(run)
    assert f"the broker refused sasl.username {user!r} (SCRAM-SHA-512)" in line
    assert "--kafka-config (VOICELENS_KAFKA_CONFIG)" in line
    assert wrong not in run.output
    _clean(secure, run)


def test_the_broker_logs_no_password(secure: SecureBroker) -> None:
    log = (secure.state_dir / "kafka.log").read_text(errors="replace")
    assert "BrokerServer id=1" in log
    assert not [p for p in secure.passwords() if p in log]
    # Nor the SCRAM verifiers the storage was formatted with (salts and keys).
    assert "UserScramCredentialRecord" not in log


def test_produce_without_its_transactional_id_stops_naming_it(
    secure: SecureBroker, names: Names, grant: Callable[..., None]
) -> None:
    user = _user(secure, "produce")
    grant({"produce": user}, "produce:write:voicelens-produce-")
    run = _produce(secure, user, names, 5)
    line = _refusal(run)
    assert "not authorized" in line
    assert "WRITE on transactional id 'voicelens-produce-" in line
    assert f"-{names['conversations_topic']}'" in line
    _clean(secure, run)


def test_deliver_without_write_on_the_dlq_stops_naming_it(
    secure: SecureBroker, names: Names, grant: Callable[..., None], tmp_path: Path
) -> None:
    user = _user(secure, "deliver")
    grant({"deliver": user}, "deliver:write:dlq")
    assert _produce(secure, "admin", names, 5).returncode == 0
    sink = start_sink(tmp_path, "--reject-rate", "1.0")
    try:
        run = _deliver(secure, user, names, sink.url, "--until-drained")
    finally:
        stop_sink(sink)
    line = _refusal(run)
    assert f"WRITE on topic '{names['dlq_topic']}'" in line
    _clean(secure, run)


def test_deliver_without_read_on_its_group_stops_naming_it(
    secure: SecureBroker, names: Names, grant: Callable[..., None]
) -> None:
    user = _user(secure, "deliver")
    grant({"deliver": user}, "deliver:read:deliver_group")
    # No record and no receiver needed: the group is refused before any. Not --until-drained:
    # without the refusal this member would run until the test's limit and fail it.
    run = _deliver(secure, user, names, f"http://127.0.0.1:{free_port()}")
    line = _refusal(run)
    assert f"READ on group '{names['deliver_group']}'" in line
    _clean(secure, run)


def test_replay_without_its_group_stops_naming_it(
    secure: SecureBroker, names: Names, grant: Callable[..., None]
) -> None:
    user = _user(secure, "replay")
    grant({"replay": user}, "replay:read:replay_group")
    run = secure.voicelens(
        user,
        "replay",
        f"--topic={names['conversations_topic']}",
        f"--group={names['replay_group']}",
    )
    line = _refusal(run)
    assert f"on group '{names['replay_group']}'" in line
    _clean(secure, run)
