"""The public surface stays small and deliberate: every module declares ``__all__`` and every
name it lists exists (after httpx's test_exported_members.py)."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import pytest

import voicelens

PACKAGES: list[ModuleType] = [voicelens]


def _modules() -> list[str]:
    names: list[str] = []
    for package in PACKAGES:
        names.append(package.__name__)
        for info in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + "."):
            if info.name.endswith("__main__"):
                continue
            names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_module_declares_all_and_every_name_exists(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    is_package = bool(module.__file__ and module.__file__.endswith("__init__.py"))
    if is_package and exported is None:
        # A package whose __init__ re-exports nothing is fine as long as it exports nothing.
        public = [n for n in vars(module) if not n.startswith("_")]
        assert not [n for n in public if not isinstance(getattr(module, n), ModuleType)]
        return
    assert exported is not None, f"{name} has no __all__"
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names missing members: {missing}"


def test_root_exports_are_few() -> None:
    assert sorted(voicelens.__all__) == ["ConfigError", "VoicelensError", "__version__"]
