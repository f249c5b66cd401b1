"""CONTRIBUTING.md's layout lists every module of the package."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("voicelens", "producer", "consumer", "schemas", "report")


def test_the_layout_names_every_module() -> None:
    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    layout = text.split("## Layout", 1)[1].split("```")[1]
    named = set(re.findall(r"[A-Za-z_]\w*\.py", layout))
    missing = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.is_symlink() or any(p.is_symlink() for p in path.parents if p != ROOT):
                continue  # voicelens/<name> links to the top-level folders, listed there
            if path.name not in named and path.name != "__init__.py":
                missing.append(str(path.relative_to(ROOT)))
    assert not missing, f"CONTRIBUTING.md's layout does not name: {missing}"
