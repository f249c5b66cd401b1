"""The one way to start a local sink (demo, tests, bench): a real process on a free port."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from voicelens.sink.exceptions import SinkStartError
from voicelens.sink.process import local_sink, start_local_sink


def _post(url: str, call_id: str) -> int:
    body = json.dumps({"call_id": call_id}).encode()
    headers = {"Content-Type": "application/json"}
    req = urllib.request.Request(url, data=body, headers=headers)  # noqa: S310 - loopback
    with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 - loopback sink
        status: int = resp.status
        return status


def test_two_sinks_get_their_own_ports_and_record_what_they_receive(tmp_path: Path) -> None:
    with local_sink(tmp_path, record=True) as a, local_sink(tmp_path, record=True) as b:
        assert a.url.startswith("http://127.0.0.1:")
        assert a.url != b.url
        assert _post(a.url + "/hook", "call-a") == 200
        assert a.stats()["accepted"] == 1
        assert b.stats()["accepted"] == 0
        assert [r["call_id"] for r in a.requests()] == ["call-a"]
        assert b.requests() == []
        proc = a.proc
    assert proc.poll() is not None  # stopped with the block
    assert "sink listening on" in a.log.read_text()


def test_a_sink_that_cannot_start_is_an_error_with_its_output(tmp_path: Path) -> None:
    with pytest.raises(SinkStartError, match="error-rate"):
        start_local_sink(tmp_path, "--error-rate", "0.7", "--hang-rate", "0.7")


def test_requests_needs_a_recording_sink(tmp_path: Path) -> None:
    with local_sink(tmp_path) as sink, pytest.raises(SinkStartError, match="record=True"):
        sink.requests()
