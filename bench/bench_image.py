"""The container image's codec: what a conversation costs to generate, encode and decode inside
it, against another image in the same run (``--baseline-image``, e.g. one built before its
build stage compiled the native extensions).

Each round runs a fresh container of each image in turn (no network), which generates
``--count`` conversations with transcripts, encodes each with ``ConversationCodec`` and decodes
it back, and prints CPU µs a record (``time.process_time``, the cyclic GC off as in deliver) and
whether the native reader and writer were loaded. The median of the rounds is reported.

Run: ``cd bench && ../.venv/bin/python bench_image.py --baseline-image IMAGE_ID [--quick]``
(needs ``make image``; ``CONTAINER_ENGINE`` podman or docker).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
from typing import Any

from benchlib import machine_state, print_table, write_result

__all__ = ["main"]

ENGINE = os.environ.get("CONTAINER_ENGINE", "podman")
_PROBE = """
import gc, json, sys, time
from voicelens.producer.generator import Dataset, GeneratorOptions
from voicelens.schemas import native_reader, native_writer
from voicelens.schemas.codec import ConversationCodec, ConversationEnvelope
n = int(sys.argv[1])
gc.disable()
ds = Dataset.from_options(GeneratorOptions(count=n, end_time="2026-11-01T00:00:00Z"))
t = time.process_time(); convs = list(ds.conversations()); gen = time.process_time() - t
codec = ConversationCodec()
envs = [ConversationEnvelope(f"d-{i:09d}", "d", i, 1, "v") for i in range(n)]
t = time.process_time(); values = [codec.encode(e, c) for e, c in zip(envs, convs)]
enc = time.process_time() - t
t = time.process_time(); decoded = [codec.decode(v) for v in values]
dec = time.process_time() - t
assert [c for _, c in decoded] == convs
print(json.dumps({"native": native_reader.AVAILABLE and native_writer.AVAILABLE,
                  "generate": gen / n * 1e6, "encode": enc / n * 1e6, "decode": dec / n * 1e6}))
"""
_KEYS = ("generate", "encode", "decode")


def _probe(image: str, count: int) -> dict[str, Any]:
    done = subprocess.run(
        [ENGINE, "run", "--rm", "--network", "none", "--entrypoint", "python", image,
         "-c", _PROBE, str(count)],
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default=os.environ.get("IMAGE", "voicelens:dev"))
    parser.add_argument("--baseline-image", required=True)
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    count, rounds = (300, 1) if args.quick else (args.count, args.rounds)
    before = machine_state()
    runs: dict[str, list[dict[str, Any]]] = {"baseline": [], "image": []}
    for _ in range(rounds):
        runs["baseline"].append(_probe(args.baseline_image, count))
        runs["image"].append(_probe(args.image, count))
    medians = {
        name: {key: statistics.median(r[key] for r in rs) for key in _KEYS}
        for name, rs in runs.items()
    }
    rows = [
        [name, str(rs[0]["native"]), *(f"{medians[name][k]:.1f}" for k in _KEYS)]
        for name, rs in runs.items()
    ]
    rows.append(
        [
            "baseline / image",
            "",
            *(f"{medians['baseline'][k] / medians['image'][k]:.2f}x" for k in _KEYS),
        ]
    )
    print_table(
        f"CPU µs a conversation inside the image ({count:,} conversations, median of {rounds})",
        ["image", "native codec", "generate", "encode", "decode"],
        rows,
    )
    images = {"image": args.image, "baseline": args.baseline_image}
    data = {"images": images, "count": count, "rounds": runs, "medians": medians}
    write_result(
        "image", args.quick, {**data, "load_before": before, "load_after": machine_state()}
    )


if __name__ == "__main__":
    main()
