"""The chaos scenario of issue 12 on any checkout: duplicates, loss and time to resume.

The same scenario as tests/consumer/test_chaos.py (tests/lib/chaos_support.py), run as a
measurement: ``--code DIR`` runs the members from another checkout (its ``voicelens`` first on
``PYTHONPATH``), so "before" and "after" come from one script on one broker::

    git worktree add --detach /tmp/base 5a51489
    .venv/bin/python bench/chaos.py --code /tmp/base --runs 2     # before
    .venv/bin/python bench/chaos.py --runs 2                      # after

Writes one JSON line per run (with the load average) to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "lib"))

from chaos_support import PARTITIONS, SINK_FLAGS, run_chaos  # noqa: E402
from delivery_support import start_sink, stop_sink  # noqa: E402

from voicelens.kafka import TopicAdmin, TopicSpec  # noqa: E402
from voicelens.settings import KafkaSettings  # noqa: E402

__all__ = ["main"]


def main() -> None:
    """Run the scenario ``--runs`` times and print each run's figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", type=Path, help="checkout whose deliver runs (default: this)")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument(
        "--bootstrap", default=os.environ.get("VOICELENS_TEST_BOOTSTRAP", "127.0.0.1:9092")
    )
    args = parser.parse_args()
    settings = KafkaSettings(bootstrap_servers=args.bootstrap)
    admin = TopicAdmin(settings)
    env = {"PYTHONPATH": str(args.code.resolve())} if args.code else None
    for run in range(args.runs):
        name = f"bench-chaos-{uuid.uuid4().hex[:8]}"
        topics = [name, f"{name}-deliveries", f"{name}.dlq"]
        admin.ensure(TopicSpec(name, PARTITIONS))
        with tempfile.TemporaryDirectory() as tmp:
            sink = start_sink(Path(tmp), *SINK_FLAGS)
            try:
                result = run_chaos(settings, name, name, sink, Path(tmp), env=env, cwd=args.code)
            finally:
                stop_sink(sink)
                admin.delete_topics(topics)
        figures = result.summary()
        figures.update(
            run=run,
            code=str(args.code or ROOT),
            load=os.getloadavg(),
            resume_by_partition=result.resume_seconds,
        )
        print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
