"""Reading puzzle text the same way in every task: line breaks are ``\\n``, ``\\r\\n`` or ``\\r`` only (never the
form feed, ``\\x1c``-``\\x1e``, ``\\x85`` or ``\\u2028`` that ``str.splitlines`` also breaks at, which would shift
every later line number), one leading UTF-8 byte-order mark is dropped, and a file larger than the configured
limit (``hrm_sdk.limits``) is refused before it is read.

Batch files: a parser called with ``errors="collect"`` returns, in input order, the puzzles it could read and an
``ItemError`` for each entry it could not (a malformed line, grid, maze row or ARC task), so one bad entry does
not refuse the whole file; ``settle`` applies the rule every parser shares: a file in which not a single entry
could be read is refused as a whole (it is most likely the wrong file), with the first error. Problems of the
file itself (unreadable, not UTF-8, over the size limit, empty, binary) always refuse the whole file."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import PuzzleParseError
from ..limits import current

_BREAK = re.compile(r"\r\n|\r|\n")
BOM = "\ufeff"
ERROR_MODES = ("raise", "collect")  # what a parser does with a malformed entry: refuse the file, or keep going


@dataclass(frozen=True)
class ItemError:
    """One entry of a batch file that could not be read: where it is and what is wrong. ``message`` is the
    one line a result carries (``file:line:column: what``); ``name`` is the entry's own name where it has one
    (an ARC task's id)."""

    source: str
    line: int | None
    col: int | None
    reason: str
    name: str | None = None

    @classmethod
    def of(cls, exc: PuzzleParseError, name: str | None = None) -> "ItemError":
        return cls(exc.source, exc.line, exc.col, exc.reason, name)

    @property
    def message(self) -> str:
        return str(self.exception())

    def exception(self) -> PuzzleParseError:
        return PuzzleParseError(self.reason, self.source, self.line, self.col)


def check_mode(errors: str) -> None:
    if errors not in ERROR_MODES:
        raise ValueError(f"errors={errors!r}: expected one of {', '.join(ERROR_MODES)}")


def settle(items: list, what: str = "puzzle") -> list:
    """``items`` (puzzles and ``ItemError``s, in input order) as a collecting parser returns them; when not one
    entry could be read, the first error is raised instead (with the count of the others), so a wrong file is
    refused in one line rather than answered with an error per line."""
    bad = [x for x in items if isinstance(x, ItemError)]
    if items and len(bad) == len(items):
        first = bad[0]
        more = f" (and {len(bad) - 1:,} more bad entries; no {what} could be read)" if len(bad) > 1 else ""
        raise PuzzleParseError(first.reason + more, first.source, first.line, first.col)
    return items


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
