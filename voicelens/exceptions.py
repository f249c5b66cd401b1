"""The root of every error this project raises on purpose.

Each subsystem (``producer``, ``consumer``, ``schemas``, ``report``, ``voicelens.kafka``) has its
own ``exceptions.py`` whose classes derive from :class:`VoicelensError`. Third-party errors are
wrapped at the boundary and kept as ``__cause__``. ``retriable`` says, on the class, whether the
same operation may succeed if simply tried again.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = ["ConfigError", "VoicelensError"]


class VoicelensError(Exception):
    """Root of all VoiceLens errors."""

    retriable: ClassVar[bool] = False
    #: Process exit code when this error ends a command.
    exit_code: ClassVar[int] = 1


class ConfigError(VoicelensError):
    """A setting is missing or wrong; raised at start-up, naming the setting."""

    exit_code: ClassVar[int] = 2

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"invalid setting {setting}: {problem}")
        self.setting = setting
        self.problem = problem
