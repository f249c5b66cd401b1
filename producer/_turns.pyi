"""Type stub of ``producer/_turns.c``: the C twin of ``producer/turns.py``."""

from collections.abc import Callable
from typing import Any

__all__ = ["fill", "say"]

Beats = tuple[tuple[str, str], ...]
Said = tuple[list[dict[str, Any]], Beats, list[str], list[str | None]]

def say(
    state: Any,
    beats: Beats,
    base: int,
    call: Any,
    english: Callable[[Any, Any], tuple[dict[str, Any], dict[str, str]]],
    context: tuple[Any, ...],
    /,
) -> list[str]: ...
def fill(said: list[Said], begins: list[float], ends: list[float], /) -> None: ...
