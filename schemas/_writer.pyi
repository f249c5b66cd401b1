"""Types of the native writer (schemas/_writer.c); built from a program of native_writer.py."""

from typing import Any

__all__ = ["Writer"]

class Writer:
    def __init__(
        self, program: list[tuple[int, Any, Any, Any]], unfit: type[BaseException]
    ) -> None: ...
    def __call__(self, datum: Any, out: bytearray, /) -> None: ...
