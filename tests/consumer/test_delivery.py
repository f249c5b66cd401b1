"""`voicelens deliver` against the real broker and a real HTTP receiver, with faults."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from delivery_support import (
    SECRET_PATH,
    Sink,
    dead_letters,
    deliver_cmd,
    deliveries,
    produce_conversations,
)

from voicelens.kafka import TopicAdmin
from voicelens.settings import KafkaSettings

pytestmark = pytest.mark.kafka


def run(cmd: list[str], timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=timeout)


def test_permanent_rejects_are_dead_lettered_with_their_story(
    kafka_settings: KafkaSettings,
    admin: TopicAdmin,
    topic_factory: Callable[..., str],
    group_factory: Callable[[], str],
    sink_factory: Callable[..., Sink],
) -> None:
    topic = topic_factory(3)
    ids = produce_conversations(kafka_settings, topic, 120)
    sink = sink_factory("--reject-rate", "0.25", "--seed", "4")
    group = group_factory()
    result = run(deliver_cmd(kafka_settings, topic, group, sink.url, "--until-drained"))
    assert result.returncode == 0, result.stderr
    delivered = {r["call_id"] for r in sink.requests() if r["status"] == 200}
    dlq = dead_letters(kafka_settings, topic)
    dead = {m.key().decode() for m in dlq}
    assert delivered | dead == set(ids)
    assert not delivered & dead  # never both
    assert 10 < len(dead) < 60
    headers = dict(dlq[0].headers())
    assert headers["voicelens-dlq-reason"] == b"rejected"
    assert headers["voicelens-dlq-detail"] == b"HTTP 422"
    assert headers["voicelens-dlq-last-status"] == b"422"
    assert headers["voicelens-dlq-attempts"] == b"1"  # permanent: no retry
    assert headers["voicelens-dlq-source-topic"] == topic.encode()
    assert int(headers["voicelens-dlq-source-offset"]) >= 0
    events = deliveries(kafka_settings, topic)
    outcomes = Counter(e["outcome"] for e in events)
    assert outcomes == {"delivered": len(delivered), "dead_lettered": len(dead)}
    assert all(e["webhook"].endswith("/…") and "Secret" not in e["webhook"] for e in events)
    assert admin.committed_offsets(topic, group) == admin.end_offsets(topic)
    assert "SuperSecretToken123" not in result.stderr


def test_throttling_and_errors_are_retried_with_the_same_idempotency_key(
    kafka_settings: KafkaSettings,
    admin: TopicAdmin,
    topic_factory: Callable[..., str],
    group_factory: Callable[[], str],
    sink_factory: Callable[..., Sink],
) -> None:
    topic = topic_factory(2)
    ids = produce_conversations(kafka_settings, topic, 60)
    sink = sink_factory(
        "--fail-first", "1", "--throttle-rate", "0.3", "--retry-after", "1", "--seed", "9"
    )
    group = group_factory()
    cmd = deliver_cmd(
        kafka_settings,
        topic,
        group,
        sink.url,
        "--until-drained",
        "--max-attempts",
        "10",
        # Every first attempt fails here: the breaker would (rightly) call the endpoint down.
        # This test is about each record's retries.
        "--no-circuit-breaker",
    )
    result = run(cmd)
    assert result.returncode == 0, result.stderr
    reqs = sink.requests()
    assert {r["call_id"] for r in reqs if r["status"] == 200} == set(ids)
    statuses = Counter(r["status"] for r in reqs)
    assert statuses[503] == 60  # every first attempt failed
    assert statuses[429] > 0
    by_call: dict[str, set[str]] = {}
    for r in reqs:
        by_call.setdefault(r["call_id"], set()).add(r["webhook_id"])
    assert all(len(keys) == 1 for keys in by_call.values())  # one key per call, every attempt
    events = deliveries(kafka_settings, topic)
    assert all(e["outcome"] == "delivered" and e["attempts"] >= 2 for e in events)
    assert admin.committed_offsets(topic, group) == admin.end_offsets(topic)


def test_undecodable_records_go_to_the_dlq_and_the_rest_flows(
    kafka_settings: KafkaSettings,
    admin: TopicAdmin,
    topic_factory: Callable[..., str],
    group_factory: Callable[[], str],
    sink_factory: Callable[..., Sink],
) -> None:
    topic = topic_factory(1)
    ids = produce_conversations(kafka_settings, topic, 30, poison=3)
    sink = sink_factory()
    group = group_factory()
    result = run(deliver_cmd(kafka_settings, topic, group, sink.url, "--until-drained"))
    assert result.returncode == 0, result.stderr
    assert sink.stats()["unique_call_ids"] == 30
    assert {r["call_id"] for r in sink.requests()} == set(ids)
    dlq = dead_letters(kafka_settings, topic)
    assert sorted(m.key() for m in dlq) == [b"poison-0", b"poison-1", b"poison-2"]
    assert all(dict(m.headers())["voicelens-dlq-reason"] == b"undecodable" for m in dlq)
    assert all(m.value() == b"\x00not avro at all" for m in dlq)  # the original, untouched
    assert admin.committed_offsets(topic, group) == admin.end_offsets(topic)


def test_a_receiver_that_hangs_times_out_and_dead_letters_after_bounded_retries(
    kafka_settings: KafkaSettings,
    topic_factory: Callable[..., str],
    group_factory: Callable[[], str],
    sink_factory: Callable[..., Sink],
) -> None:
    topic = topic_factory(1)
    produce_conversations(kafka_settings, topic, 5)
    sink = sink_factory("--hang-rate", "1")
    result = run(
        deliver_cmd(
            kafka_settings,
            topic,
            group_factory(),
            sink.url,
            "--until-drained",
            "--timeout",
            "0.5",
            "--max-attempts",
            "2",
            # A receiver that never answers is down: with the breaker its records wait for it
            # (test_endpoint_routing.py); this test is about the retry budget alone.
            "--no-circuit-breaker",
        )
    )
    assert result.returncode == 0, result.stderr
    dlq = dead_letters(kafka_settings, topic)
    assert len(dlq) == 5
    assert all(
        dict(m.headers())["voicelens-dlq-reason"] == b"timed_out"
        and dict(m.headers())["voicelens-dlq-detail"] == b"timed out after 0.5 s"
        for m in dlq
    )
    assert all(dict(m.headers())["voicelens-dlq-attempts"] == b"2" for m in dlq)


def test_signed_requests_verify_at_the_receiver(
    kafka_settings: KafkaSettings,
    topic_factory: Callable[..., str],
    group_factory: Callable[[], str],
    sink_factory: Callable[..., Sink],
) -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    topic = topic_factory(1)
    produce_conversations(kafka_settings, topic, 20)
    sink = sink_factory("--sink-signing-secret", secret)
    env = {**os.environ, "VOICELENS_SIGNING_SECRET": secret}
    cmd = deliver_cmd(kafka_settings, topic, group_factory(), sink.url, "--until-drained")
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    stats = sink.stats()
    assert (stats["accepted"], stats["signature_failures"]) == (20, 0)
    assert secret not in result.stderr
    wrong = sink_factory("--sink-signing-secret", "whsec_" + "QUJD" * 8)
    topic2 = topic_factory(1)
    produce_conversations(kafka_settings, topic2, 3)
    cmd = deliver_cmd(kafka_settings, topic2, group_factory(), wrong.url, "--until-drained")
    subprocess.run(cmd, capture_output=True, check=False, timeout=60, env=env)
    assert wrong.stats()["signature_failures"] == 3  # 401 is permanent: dead-lettered


def test_sigterm_drains_commits_and_a_restart_finishes_the_rest(
    kafka_settings: KafkaSettings,
    admin: TopicAdmin,
    topic_factory: Callable[..., str],
    group_factory: Callable[[], str],
    sink_factory: Callable[..., Sink],
) -> None:
    topic = topic_factory(2)
    ids = produce_conversations(kafka_settings, topic, 200)
    sink = sink_factory("--latency-ms", "100")
    group = group_factory()
    cmd = deliver_cmd(
        kafka_settings, topic, group, sink.url, "--max-in-flight", "8", "--grace", "20"
    )
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while sink.stats()["accepted"] < 40:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=40)
    assert proc.returncode == 0, err
    committed = admin.committed_offsets(topic, group)
    delivered_before = {r["call_id"] for r in sink.requests() if r["status"] == 200}
    # Everything below the committed offsets was delivered: a drain never commits past work.
    assert sum(committed.values()) <= len(delivered_before)
    assert sum(committed.values()) >= len(delivered_before) - 8  # at most the in-flight window
    rerun = run(deliver_cmd(kafka_settings, topic, group, sink.url, "--until-drained"))
    assert rerun.returncode == 0, rerun.stderr
    accepted = [r["call_id"] for r in sink.requests() if r["status"] == 200]
    assert set(accepted) == set(ids)
    assert len(accepted) - len(ids) <= 8  # duplicates stay within the in-flight window


def test_max_in_flight_bounds_the_requests_the_webhook_sees_at_once(
    kafka_settings: KafkaSettings,
    topic_factory: Callable[..., str],
    group_factory: Callable[[], str],
    sink_factory: Callable[..., Sink],
) -> None:
    topic = topic_factory(4)
    ids = produce_conversations(kafka_settings, topic, 120)
    sink = sink_factory("--latency-ms", "100")  # slow enough that every slot fills
    cmd = deliver_cmd(
        kafka_settings, topic, group_factory(), sink.url, "--until-drained", "--max-in-flight", "5"
    )
    result = run(cmd)
    assert result.returncode == 0, result.stderr
    stats = sink.stats()
    assert stats["unique_call_ids"] == len(ids)
    # The request slot is freed once the webhook answered (the delivery event is written after),
    # but a new request never starts before one is freed: at most 5 at the webhook, and 5 used.
    assert stats["max_concurrent"] == 5


def test_a_partition_with_work_uses_the_budget_its_idle_siblings_leave(
    kafka_settings: KafkaSettings,
    topic_factory: Callable[..., str],
    group_factory: Callable[[], str],
    sink_factory: Callable[..., Sink],
) -> None:
    # Everything on partition 0 of 3, one member, 15 req/s: partition 0's own share is 5/s,
    # but the member holds the idle partitions' slots too and hands them to the one with work.
    topic = topic_factory(3)
    ids = produce_conversations(kafka_settings, topic, 90, partition=0)
    sink = sink_factory()
    flags = ("--until-drained", "--max-rps", "15")
    result = run(deliver_cmd(kafka_settings, topic, group_factory(), sink.url, *flags))
    assert result.returncode == 0, result.stderr
    stats = sink.stats()
    assert stats["unique_call_ids"] == len(ids)
    busiest = stats["max_per_second"]
    # Partition 0 alone at its share would put at most 6 in any second (5 + arrival jitter);
    # the budget still caps every second at ceil(R), plus one request of jitter.
    assert 10 <= busiest <= 16, stats["per_second"]


def test_kill_9_redelivers_at_most_the_in_flight_window(
    kafka_settings: KafkaSettings,
    admin: TopicAdmin,
    topic_factory: Callable[..., str],
    group_factory: Callable[[], str],
    sink_factory: Callable[..., Sink],
) -> None:
    topic = topic_factory(2)
    ids = produce_conversations(kafka_settings, topic, 200)
    sink = sink_factory("--latency-ms", "50")
    group = group_factory()
    window = 6
    # The group notices the killed member after session.timeout.ms; 6 s (the broker's minimum)
    # rather than the 45 s default keeps the test short. Passed through like any client setting.
    fast = ("--kafka-config", '{"session.timeout.ms": "6000"}')
    # 40 req/s over 200 records: the kill lands mid-stream, not after the end.
    cmd = deliver_cmd(
        kafka_settings,
        topic,
        group,
        sink.url,
        "--max-in-flight",
        str(window),
        "--max-rps",
        "40",
        *fast,
    )
    proc = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while sink.stats()["accepted"] < 60:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(1.5)  # let a commit happen so the restart resumes mid-stream
    proc.kill()
    proc.wait()
    before_restart = sink.stats()["accepted"]
    assert before_restart < len(ids), "the kill must land before the end of the data"
    rerun = run(deliver_cmd(kafka_settings, topic, group, sink.url, "--until-drained", *fast))
    assert rerun.returncode == 0, rerun.stderr
    accepted = Counter(r["call_id"] for r in sink.requests() if r["status"] == 200)
    assert set(accepted) == set(ids)  # nothing lost
    duplicates = sum(n - 1 for n in accepted.values())
    # Re-delivered: what was in flight, plus what finished during the poll cycle whose
    # asynchronous commit the kill interrupted; all of it carries the same idempotency key.
    assert duplicates <= 2 * window
    keys = {(r["call_id"], r["webhook_id"]) for r in sink.requests()}
    assert len(keys) == len(ids)


def test_bad_configuration_fails_at_start_naming_the_setting(
    kafka_settings: KafkaSettings, topic_factory: Callable[..., str]
) -> None:
    topic = topic_factory(1)
    bad_url = run(deliver_cmd(kafka_settings, topic, "g", "not-a-url"))
    assert bad_url.returncode == 2
    assert "--webhook-url" in bad_url.stderr
    assert SECRET_PATH not in bad_url.stderr
    negative = run(deliver_cmd(kafka_settings, topic, "g", "http://127.0.0.1:9", "--max-rps", "-1"))
    assert negative.returncode == 2
    assert "--max-rps" in negative.stderr
    assert "VOICELENS_MAX_RPS" in negative.stderr
    missing = run(deliver_cmd(kafka_settings, topic + "-nope", "g", "http://127.0.0.1:9"))
    assert missing.returncode != 0
    assert "does not exist" in missing.stderr


def test_rerun_of_a_finished_job_posts_nothing_and_exits(
    kafka_settings: KafkaSettings,
    topic_factory: Callable[..., str],
    group_factory: Callable[[], str],
    sink_factory: Callable[..., Sink],
) -> None:
    # Every partition is committed to its end: the second member fetches nothing, so it must
    # learn its start points from the group rather than from records (a regression: it hung).
    topic = topic_factory(3)
    ids = produce_conversations(kafka_settings, topic, 30)
    sink = sink_factory()
    group = group_factory()
    first = run(deliver_cmd(kafka_settings, topic, group, sink.url, "--until-drained"))
    assert first.returncode == 0, first.stderr
    assert sink.stats()["accepted"] == len(ids)
    second = run(deliver_cmd(kafka_settings, topic, group, sink.url, "--until-drained"))
    assert second.returncode == 0, second.stderr
    assert sink.stats()["accepted"] == len(ids)
    assert "delivered 0, dead-lettered 0" in second.stderr


def test_progress_lines_report_delivered_in_flight_rate_and_lag(
    kafka_settings: KafkaSettings,
    topic_factory: Callable[..., str],
    group_factory: Callable[[], str],
    sink_factory: Callable[..., Sink],
) -> None:
    topic = topic_factory(2)
    ids = produce_conversations(kafka_settings, topic, 120)
    sink = sink_factory()
    flags = ("--until-drained", "--max-rps", "30", "--progress-interval", "0.5")
    result = run(deliver_cmd(kafka_settings, topic, group_factory(), sink.url, *flags))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(x) for x in result.stderr.splitlines() if x.startswith("{")]
    progress = [x for x in lines if x["logger"] == "voicelens.deliver.progress"]
    assert len(progress) >= 4  # about 4 s of traffic at 30 req/s
    keys = {"delivered", "dead_lettered", "requests_in_flight", "records_waiting", "lag", "eta_s"}
    assert all(keys <= x.keys() for x in progress)
    assert max(x["lag"] for x in progress) > 0  # the backlog was visible while it lasted
    delivered = [x["delivered"] for x in progress]
    assert delivered == sorted(delivered)
    assert delivered[-1] <= len(ids)
    assert "lag" in progress[0]["msg"]


def test_four_members_that_finish_at_different_times_all_exit_and_commit_to_the_end(
    kafka_settings: KafkaSettings,
    admin: TopicAdmin,
    topic_factory: Callable[..., str],
    group_factory: Callable[[], str],
    sink_factory: Callable[..., Sink],
) -> None:
    # Members leaving one by one move the group to new generations; a member still finishing
    # gets its final commit refused (ILLEGAL_GENERATION). It must still leave cleanly (it hung
    # at exit, its consumer never closed), commit in the new generation, and the group must end
    # committed to the end.
    topic = topic_factory(8)
    ids = produce_conversations(kafka_settings, topic, 1200)
    sink = sink_factory("--latency-ms", "200")
    group = group_factory()
    cmd = deliver_cmd(kafka_settings, topic, group, sink.url, "--until-drained")
    procs = [
        subprocess.Popen([*cmd, "--consumer-id", f"m{i}"], stderr=subprocess.PIPE, text=True)
        for i in range(4)
    ]
    try:
        errors = [p.communicate(timeout=120)[1] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert [p.returncode for p in procs] == [0, 0, 0, 0], errors
    assert {r["call_id"] for r in sink.requests() if r["status"] == 200} == set(ids)
    assert admin.committed_offsets(topic, group) == admin.end_offsets(topic)
    # A refused final commit is retried in the group's new generation, so nothing a member
    # finished is handed to another uncommitted: no record is posted twice.
    assert sink.stats()["duplicates"] == 0


def test_a_key_rotation_from_a_mounted_file_has_no_window_of_failures(
    kafka_settings: KafkaSettings,
    topic_factory: Callable[..., str],
    group_factory: Callable[[], str],
    sink_factory: Callable[..., Sink],
    tmp_path: Path,
) -> None:
    old, new = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_" + "TkVXa2V5" * 4
    keys = tmp_path / "signing-secret"
    keys.write_text(f"{old} {new}\n")  # as a Kubernetes Secret mounted as a file
    topic = topic_factory(1)
    produce_conversations(kafka_settings, topic, 10)
    # Receivers on the old key and on the new key both accept every request.
    for key in (old, new):
        sink = sink_factory("--sink-signing-secret", key)
        cmd = deliver_cmd(
            kafka_settings,
            topic,
            group_factory(),
            sink.url,
            "--until-drained",
            "--signing-secret-file",
            str(keys),
        )
        result = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=60)
        assert result.returncode == 0, result.stderr
        assert (sink.stats()["accepted"], sink.stats()["signature_failures"]) == (10, 0)
        assert old not in result.stderr
        assert new not in result.stderr


def test_signing_secrets_are_refused_as_flags_and_bad_ones_named(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    base = [sys.executable, "-m", "voicelens", "deliver", "--webhook-url", "http://127.0.0.1:9/x"]
    flag = subprocess.run(
        [*base, f"--signing-secret={secret}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert flag.returncode == 2
    assert "refused on the command line" in flag.stderr
    assert "VOICELENS_SIGNING_SECRET" in flag.stderr
    assert secret not in flag.stderr
    bad = tmp_path / "keys"
    bad.write_text(f"{secret} whsec_not-base64!")
    for extra, env, expected in (
        (["--signing-secret-file", str(bad)], {}, "secret 2 is not a whsec_"),
        (["--signing-secret-file", str(tmp_path / "missing")], {}, "cannot read"),
        (["--signing-secret-file", str(bad)], {"VOICELENS_SIGNING_SECRET": secret}, "not both"),
    ):
        run = subprocess.run(
            [*base, "--bootstrap-servers", kafka_settings.bootstrap_servers, *extra],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, **env},
        )
        assert run.returncode == 2, run.stderr
        assert expected in run.stderr
        assert "Traceback" not in run.stderr
        assert "not-base64" not in run.stderr
