"""Resource limits on user input: how many bytes one puzzle file may hold and how many puzzles one call may
solve. Defaults suit a workstation; the environment variables ``HRM_MAX_FILE_BYTES`` and ``HRM_MAX_PUZZLES``
change them for a process, and ``Limits`` can be passed explicitly where a function takes ``limits=``."""

from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import ConfigError

DEFAULT_MAX_FILE_BYTES = 512 * 1024 * 1024  # the largest shipped collection is ~60 MB
DEFAULT_MAX_PUZZLES = 1_000_000


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    max_puzzles: int = DEFAULT_MAX_PUZZLES

    @classmethod
    def from_env(cls) -> "Limits":
        """The defaults, overridden by ``HRM_MAX_FILE_BYTES`` / ``HRM_MAX_PUZZLES`` (positive integers)."""
        values = {}
        for field, var in (("max_file_bytes", "HRM_MAX_FILE_BYTES"), ("max_puzzles", "HRM_MAX_PUZZLES")):
            text = os.environ.get(var, "").strip()
            if not text:
                continue
            if not text.isdigit() or int(text) < 1:
                raise ConfigError(f"environment variable {var}={text[:40]!r}: expected a positive whole number")
            values[field] = int(text)
        return cls(**values)


def current() -> Limits:
    """The limits in force now (read from the environment on every call, so tests and callers can change them)."""
    return Limits.from_env()
