"""Types of the native reader (schemas/_reader.c); built from a program of native_reader.py."""

from typing import Any

__all__ = ["Reader"]

class Reader:
    def __init__(self, program: list[tuple[int, Any, Any]], unfit: type[BaseException]) -> None: ...
    def __call__(self, data: bytes, position: int, /) -> tuple[Any, int]: ...
