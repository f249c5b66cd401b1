"""What a ``voicelens`` command costs before it does anything: CPU seconds and peak RSS of
``voicelens <command> --help``, against another checkout's ``voicelens`` in the same run.

Every command's start loads the command tree (the settings models of all commands); what runs a
command is loaded when it runs. Each round runs every command's ``--help`` once with this
checkout's script and once with ``--baseline``'s, alternating, in fresh processes
(``os.wait4``: user + system CPU of that one child); the median of the rounds is reported.

Run: ``cd bench && ../.venv/bin/python bench_startup.py --baseline CHECKOUT/.venv/bin/voicelens``
(``git worktree add /tmp/base REV && make -C /tmp/base venv`` makes another checkout).
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

from benchlib import ROOT, machine_state, print_table, run_measured, write_result

__all__ = ["main"]

COMMANDS = (
    ("--help",),
    ("generate", "--help"),
    ("produce", "--help"),
    ("deliver", "--help"),
    ("report", "--help"),
    ("sink", "--help"),
)


def _measure(script: str, args: tuple[str, ...]) -> tuple[float, float]:
    run = run_measured([script, *args], timeout=120).check(f"{script} {' '.join(args)}")
    return run.cpu_seconds, run.max_rss_mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="another checkout's voicelens script")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rounds = 1 if args.quick else args.rounds
    ours = str(ROOT / ".venv" / "bin" / "voicelens")
    before = machine_state()
    raw: dict[str, dict[str, list[tuple[float, float]]]] = {"baseline": {}, "ours": {}}
    for _ in range(rounds):
        for command in COMMANDS:
            name = " ".join(command)
            raw["baseline"].setdefault(name, []).append(_measure(args.baseline, command))
            raw["ours"].setdefault(name, []).append(_measure(ours, command))
    rows: list[list[Any]] = []
    for command in COMMANDS:
        name = " ".join(command)
        base_cpu = statistics.median(c for c, _ in raw["baseline"][name])
        our_cpu = statistics.median(c for c, _ in raw["ours"][name])
        base_rss = statistics.median(r for _, r in raw["baseline"][name])
        our_rss = statistics.median(r for _, r in raw["ours"][name])
        rows.append(
            [f"voicelens {name}", f"{base_cpu:.2f}", f"{our_cpu:.2f}",
             f"{base_cpu / our_cpu:.2f}x", f"{base_rss:.0f}", f"{our_rss:.0f}"]
        )  # fmt: skip
    print_table(
        f"Start-up: CPU s and peak RSS MB, median of {rounds} alternating rounds",
        ["command", "baseline CPU s", "ours CPU s", "baseline / ours", "baseline MB", "ours MB"],
        rows,
    )
    data = {"baseline": args.baseline, "rounds": raw, "load_before": before}
    write_result("startup", args.quick, {**data, "load_after": machine_state()})


if __name__ == "__main__":
    main()
