"""Reading puzzle text the same way in every task: line breaks are ``\\n``, ``\\r\\n`` or ``\\r`` only (never the
form feed, ``\\x1c``-``\\x1e``, ``\\x85`` or ``\\u2028`` that ``str.splitlines`` also breaks at, which would shift
every later line number), one leading UTF-8 byte-order mark is dropped, and a file larger than the configured
limit (``hrm_sdk.limits``) is refused before it is read."""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import PuzzleParseError
from ..limits import current

_BREAK = re.compile(r"\r\n|\r|\n")
BOM = "\ufeff"


def split_lines(text: str) -> list[str]:
    """The lines of ``text`` without their terminators; ``\\r\\n``, ``\\r`` and ``\\n`` end a line, nothing else.
    A final terminator does not start an extra line (like ``str.splitlines``); empty text has no lines."""
    lines = _BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def strip_bom(text: str) -> str:
    """``text`` without one leading UTF-8 byte-order mark."""
    return text[1:] if text.startswith(BOM) else text


def read_text(path: str | os.PathLike, what: str = "puzzle file") -> str:
    """The UTF-8 text of ``path`` (BOM dropped); PuzzleParseError for an unreadable, oversized or non-UTF-8
    file, naming it."""
    path = Path(path)
    limit = current().max_file_bytes
    try:
        size = path.stat().st_size
        if size > limit:
            raise PuzzleParseError(f"{what} is {size:,} bytes, over the limit of {limit:,}"
                                   " (set HRM_MAX_FILE_BYTES to raise it)", str(path))
        data = path.read_bytes()
    except OSError as exc:
        raise PuzzleParseError(f"cannot read the {what} ({exc.strerror or exc})", str(path)) from None
    if len(data) > limit:  # grew while read, or not a regular file
        raise PuzzleParseError(f"{what} is over the limit of {limit:,} bytes (set HRM_MAX_FILE_BYTES to raise it)",
                               str(path))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PuzzleParseError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", str(path)) from None
    return strip_bom(text)
