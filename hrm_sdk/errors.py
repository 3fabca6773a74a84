"""User-facing errors of the SDK.

Every error here carries a one-line message that names what is wrong and where (file, line, column, key),
so the CLI can print it as ``Error: <message>`` and exit non-zero without a traceback. Library users catch
``HRMError`` to handle all of them at once.
"""

from __future__ import annotations

MAX_MESSAGE = 600  # characters of an error message at most; longer ones are cut (see ``one_line``)
MAX_VALUE = 60  # characters of a quoted user value inside a message (see ``clip``)


def clip(value, limit: int = MAX_VALUE) -> str:
    """``repr``-like text of a user value for a message, cut to ``limit`` characters with a count of the rest;
    never converts a huge integer to decimal (Python refuses over 4,300 digits)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"<an integer of about {int(value.bit_length() * 0.30103) + 1} digits>"
    text = repr(value)
    if len(text) > limit:
        return f"{text[:limit]}... ({len(text) - limit} more characters)"
    return text


def one_line(message: str, limit: int = MAX_MESSAGE) -> str:
    """``message`` on one line (line breaks and other separators become spaces), at most ``limit`` characters."""
    text = str(message)
    if len(text.splitlines()) > 1 or text != text.strip():
        text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 20] + f"... (cut, {len(text)} chars)"


class HRMError(Exception):
    """Base class: the message is complete, one line, and meant for the user. The constructor enforces it:
    line breaks become spaces and a message over ``MAX_MESSAGE`` characters is cut, so no user value can
    turn it into a wall of text."""

    exit_code = 2

    def __init__(self, message: str = "", *args):
        super().__init__(one_line(message), *args)


class ConfigError(HRMError):
    """A training or model config with an unknown, missing or ill-typed key."""


class PuzzleParseError(HRMError):
    """A puzzle that cannot be parsed; names the source, line and column."""

    def __init__(self, message: str, source: str = "<input>", line: int | None = None, col: int | None = None):
        self.source, self.line, self.col, self.reason = source, line, col, message
        where = source
        if line is not None:
            where += f":{line}"
            if col is not None:
                where += f":{col}"
        super().__init__(f"{where}: {message}")


class InvalidPuzzleError(HRMError):
    """A well-formed puzzle whose givens are contradictory or otherwise impossible."""


class DatasetError(HRMError):
    """A dataset directory that is missing, incomplete, or does not match the model config."""


class CheckpointError(HRMError):
    """A weight file that is missing, corrupted, or belongs to another architecture."""


class ArtefactError(HRMError):
    """An exported ONNX graph or TensorRT engine that cannot be used here; says what to rebuild."""


class FitError(HRMError):
    """A test-time fit that went wrong (a non-finite or rising loss): its result must not be used for an answer."""


class MissingExtraError(HRMError, ImportError):
    """An optional dependency is not installed; names the extra that provides it."""

    def __init__(self, package: str, extra: str, purpose: str):
        super().__init__(f"{purpose} needs the '{package}' package: pip install 'hrm-sdk[{extra}]'")
        self.package, self.extra = package, extra


def require(module: str, extra: str, purpose: str):
    """Import an optional module or raise MissingExtraError naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(module.split(".")[0], extra, purpose) from exc
