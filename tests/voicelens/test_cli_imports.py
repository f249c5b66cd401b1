"""Starting any command does not pay for another command's heavy libraries."""

from __future__ import annotations

import subprocess
import sys


def test_the_cli_loads_without_scipy_or_matplotlib() -> None:
    # scipy.stats and matplotlib add ~100 MB of RSS; only `voicelens report` needs them, and
    # `voicelens generate` has a 200 MB budget for 200,000 conversations (bench/README.md).
    code = (
        "import sys, voicelens.cli; "
        "print(sorted(m for m in ('scipy', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
