"""Generator benchmark (issue 3): conversations per second and peak memory, against the baseline.

Measured in one run, each in a fresh process so imports, GC state and peak RSS are its own:
- ours in-process: generate only (dicts), and generate + serialize (compact JSON bytes);
- the baseline (bench/baseline_pydantic.py, one pydantic model per record) the same two ways;
- to files: ``voicelens generate --out DIR`` against the baseline writing files, same count;
- flat memory: peak RSS of ``voicelens generate --count 200000 --out DIR``.

Goals: ≥ 5x the baseline on the same machine; ≤ 200 MB RSS for 200,000 conversations to files.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from benchlib import (
    END_TIME,
    PY,
    ROOT,
    Cleanup,
    machine_state,
    print_table,
    run_measured,
    voicelens,
    write_result,
)

__all__ = ["main", "run"]

BASELINE = str(ROOT / "bench" / "baseline_pydantic.py")
SELF = str(Path(__file__).resolve())
RSS_TARGET_MB = 200
SPEEDUP_TARGET = 5.0


def _measure_ours(mode: str, count: int) -> dict[str, Any]:
    """In this process: iterate the dataset (``build``) or also ``orjson.dumps`` each record."""
    import orjson

    from voicelens.producer.generator import Dataset, GeneratorOptions

    started = time.perf_counter()
    dataset = Dataset.from_options(GeneratorOptions(count=count, end_time=END_TIME))
    size = 0
    if mode == "build":
        for _ in dataset.conversations():
            pass
    else:
        dumps = orjson.dumps
        for conv in dataset.conversations():
            size += len(dumps(conv))
    seconds = time.perf_counter() - started
    return {"mode": mode, "count": count, "seconds": seconds, "per_second": count / seconds}


def _worker(args: list[str]) -> dict[str, Any]:
    measured = run_measured(args, timeout=900).check(" ".join(args[1:3]))
    doc: dict[str, Any] = json.loads(measured.stdout.strip().splitlines()[-1])
    doc["max_rss_mb"] = round(measured.max_rss_mb, 1)
    doc["wall_seconds"] = round(measured.seconds, 2)
    return doc


# The generate command alone, without what ``voicelens`` imports for its other commands: the
# difference in peak RSS is the CLI's import cost, not the generator's.
_GENERATE_ONLY = (
    "import sys; from pydantic_settings import CliApp; "
    "from producer.generate_command import GenerateCommand; "
    "CliApp.run(GenerateCommand, cli_args=sys.argv[1:])"
)


def _files_ours(cleanup: Cleanup, count: int, *, bare: bool = False) -> dict[str, Any]:
    out = cleanup.tempdir("gen")
    os.sync()  # start clean: no run pays for the previous run's dirty pages
    flags = ["--count", str(count), "--end-time", END_TIME, "--out", str(out)]
    args = [PY, "-c", _GENERATE_ONLY, *flags] if bare else voicelens("generate", *flags)
    measured = run_measured(args, timeout=900).check("voicelens generate")
    files = sum(1 for _ in out.iterdir()) - 1  # minus manifest.json
    if files != count:
        msg = f"voicelens generate wrote {files} files, expected {count}"
        raise RuntimeError(msg)
    summary = measured.last_line("generated")
    # The command's own figure ("in 3.8 s, 13,018/s") leaves out interpreter start-up.
    own_seconds = float(summary.split(" in ")[-1].split(" s,")[0])
    return {
        "command": ("GenerateCommand alone " if bare else "voicelens generate ")
        + " ".join([*flags[:-1], "DIR"]),
        "count": count,
        "wall_seconds": round(measured.seconds, 2),
        "per_second": count / measured.seconds,
        "per_second_inprocess": count / max(own_seconds, 0.05),
        "max_rss_mb": round(measured.max_rss_mb, 1),
        "summary": summary,
    }


def _files_baseline(cleanup: Cleanup, count: int) -> dict[str, Any]:
    out = cleanup.tempdir("baseline")
    os.sync()
    doc = _worker([PY, BASELINE, "--mode", "files", "--count", str(count), "--out", str(out)])
    doc["per_second_wall"] = count / doc["wall_seconds"]
    doc["per_second_inprocess"] = doc["per_second"]
    doc["per_second"] = doc["per_second_wall"]
    return doc


def _file_floor(cleanup: Cleanup, count: int, size: int = 4_000) -> dict[str, Any]:
    """The file system's own ceiling: ``count`` files of pre-made bytes (4 KB, our file size)."""
    out = cleanup.tempdir("floor")
    os.sync()
    data = b"x" * size
    started = time.perf_counter()
    for i in range(count):
        (out / f"hvac_{i:05d}_booked_service_retell.json").write_bytes(data)
    seconds = time.perf_counter() - started
    return {"count": count, "bytes_per_file": size, "per_second": count / seconds}


def run(quick: bool) -> dict[str, Any]:
    """Run every measurement, print the tables, write bench/results/generator.json."""
    inproc_n = 5_000 if quick else 200_000
    base_n = 2_000 if quick else 50_000
    files_n = 2_000 if quick else 50_000
    flat_n = 10_000 if quick else 200_000
    before = machine_state()
    with Cleanup() as cleanup:
        ours = {m: _worker([PY, SELF, "--inproc", m, "--count", str(inproc_n)]) for m in
                ("build", "serialize")}  # fmt: skip
        base = {m: _worker([PY, BASELINE, "--mode", m, "--count", str(base_n)]) for m in
                ("build", "serialize")}  # fmt: skip
        ours_files = _files_ours(cleanup, files_n)
        base_files = _files_baseline(cleanup, files_n)
        flat = _files_ours(cleanup, flat_n)
        bare = _files_ours(cleanup, flat_n, bare=True)
        floor = _file_floor(cleanup, files_n)
    speedups = {
        "generate_only": ours["build"]["per_second"] / base["build"]["per_second"],
        "generate_and_serialize": ours["serialize"]["per_second"] / base["serialize"]["per_second"],
        "to_files_wall": ours_files["per_second"] / base_files["per_second"],
        "to_files_inprocess": (
            ours_files["per_second_inprocess"] / base_files["per_second_inprocess"]
        ),
    }

    def row(
        label: str, o: dict[str, Any], b: dict[str, Any], key: str, speedup: float
    ) -> list[str]:
        return [
            label,
            f"{o['per_second']:,.0f}",
            f"{b[key]:,.0f}",
            f"{speedup:.1f}x",
            f"{o['max_rss_mb']:.0f} / {b['max_rss_mb']:.0f}",
        ]

    rows = [
        row("generate only (in-process)", ours["build"], base["build"], "per_second",
            speedups["generate_only"]),
        row("generate + serialize (in-process)", ours["serialize"], base["serialize"],
            "per_second", speedups["generate_and_serialize"]),
        row(f"to files, {files_n:,} (process wall time)", ours_files, base_files,
            "per_second", speedups["to_files_wall"]),
        row(f"to files, {files_n:,} (excluding start-up)",
            {**ours_files, "per_second": ours_files["per_second_inprocess"]}, base_files,
            "per_second_inprocess", speedups["to_files_inprocess"]),
    ]  # fmt: skip
    print_table(
        f"Generator: conversations/s (ours {inproc_n:,} in-process, baseline {base_n:,})",
        ["measure", "voicelens /s", "pydantic baseline /s", "speed-up", "peak RSS MB ours / base"],
        rows,
    )
    print(
        f"File-system floor: writing {files_n:,} pre-made 4 KB files alone runs at "
        f"{floor['per_second']:,.0f}/s, so no generator writing one file per conversation "
        f"beats that here (best possible speed-up to files: "
        f"{floor['per_second'] / base_files['per_second']:.1f}x the baseline)."
    )
    met = "met" if flat["max_rss_mb"] <= RSS_TARGET_MB else "NOT met"
    print_table(
        "Generator: flat memory",
        ["run", "conversations", "wall s", "per s", "peak RSS MB", "target"],
        [
            [
                "voicelens generate --out DIR",
                f"{flat_n:,}",
                f"{flat['wall_seconds']:.1f}",
                f"{flat['per_second']:,.0f}",
                f"{flat['max_rss_mb']:.0f}",
                f"<= {RSS_TARGET_MB} MB: {met}",
            ],
            [
                "same, GenerateCommand without the CLI's other imports",
                f"{flat_n:,}",
                f"{bare['wall_seconds']:.1f}",
                f"{bare['per_second']:,.0f}",
                f"{bare['max_rss_mb']:.0f}",
                "(shows the CLI's import cost)",
            ],
        ],
    )
    data = {
        "machine_before": before,
        "ours_inprocess": ours,
        "baseline_inprocess": base,
        "ours_files": ours_files,
        "baseline_files": base_files,
        "flat_memory": flat,
        "flat_memory_generate_command_alone": bare,
        "file_write_floor": floor,
        "speedup": speedups,
        "goals": {
            "speedup_target": SPEEDUP_TARGET,
            "speedup_met": min(speedups.values()) >= SPEEDUP_TARGET,
            "rss_target_mb": RSS_TARGET_MB,
            "rss_met": flat["max_rss_mb"] <= RSS_TARGET_MB,
        },
    }
    write_result("generator", quick, data)
    return data


def main() -> None:
    """CLI: the whole benchmark, or (``--inproc``) one in-process measurement as a JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--inproc", choices=["build", "serialize"], help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=200_000, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inproc:
        print(json.dumps(_measure_ours(args.inproc, args.count)))
        return
    run(args.quick)


if __name__ == "__main__":
    main()
