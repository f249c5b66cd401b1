"""`voicelens sink` serves its own counters on /metrics, consistent with /stats."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from delivery_support import Sink, start_sink, stop_sink
from prometheus_client.parser import text_string_to_metric_families


def _post(sink: Sink, call_id: str) -> int:
    body = json.dumps({"call_id": call_id, "vcp_version": "0.3", "vcp_payload": {}}).encode()
    req = urllib.request.Request(  # noqa: S310 - our own local sink
        sink.url + "/hook", data=body, headers={"webhook-id": f"msg_{call_id}"}, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_metrics_match_stats_and_pass_promtool(tmp_path: Path) -> None:
    sink = start_sink(tmp_path, "--reject-rate", "0.5", "--seed", "2")
    try:
        statuses = [_post(sink, f"call-{i % 15}") for i in range(20)]  # 5 repeats: duplicates
        with urllib.request.urlopen(sink.url + "/metrics", timeout=10) as resp:  # noqa: S310
            text = resp.read().decode()
        stats = sink.stats()
    finally:
        stop_sink(sink)
    samples = {
        (s.name, s.labels.get("status", "")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    by_status = {str(code): statuses.count(code) for code in set(statuses)}
    assert len(by_status) == 2  # both accepted and rejected requests happened
    requests = {k: int(v) for (n, k), v in samples.items() if n == "voicelens_sink_requests_total"}
    assert requests == by_status
    assert samples["voicelens_sink_accepted_total", ""] == stats["accepted"] == by_status["200"]
    assert samples["voicelens_sink_duplicates_total", ""] == stats["duplicates"]
    assert samples["voicelens_sink_unique_call_ids", ""] == stats["unique_call_ids"]
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: run .ci/install-extras (or make tools)"
    lint = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
