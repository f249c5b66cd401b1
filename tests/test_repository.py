"""The repository stands alone: a clone anywhere passes its own tests, and the wheel it builds
installs one top-level package."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Built, not written out, so this file does not match itself (nor looks like it reads there).
SIBLING = "sha" + "red"
OUTSIDE = ("..", "/", SIBLING)
#: The same folder reached as path parts: ``/ "<sibling>" / "reference"``.
AS_PATH_PARTS = f'/ "{SIBLING}" / "refe' + 'rence"'
# The reading material beside the repository, by name: citing it points a reader at a file a
# clone does not have.
SIBLING_DOCS = tuple(
    "".join(parts)
    for parts in (("VCP-0.3", ".md"), ("HANDOVER", "_GUIDE"), ("consumer-", "pitfalls"))
)


def _tracked() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout.decode()
    return [ROOT / name for name in out.split("\0") if name]


def test_nothing_tracked_refers_to_the_sibling_shared_folder() -> None:
    needle = "".join(OUTSIDE)
    offenders = []
    for path in _tracked():
        if path == Path(__file__).resolve() or path.is_symlink() or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        if needle in text or AS_PATH_PARTS in text or any(doc in text for doc in SIBLING_DOCS):
            offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, f"files reading outside the repository: {offenders}"


def test_the_subsystem_links_point_inside_the_repository() -> None:
    # voicelens/producer → ../producer etc.: the import root over the design card's folders.
    for name in ("producer", "consumer", "schemas", "report"):
        link = ROOT / "voicelens" / name
        assert link.is_symlink(), name
        assert link.resolve() == ROOT / name
