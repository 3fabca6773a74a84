"""A client of ``hrm serve`` with the solvers' interface (standard library only; no Ray needed).

    client = HRMClient("http://127.0.0.1:8000")
    doc = client.solve_json("sudoku", puzzles=["53..7....6..195...."[:81], ...], search_nodes=500)

    solver = RemoteSudokuSolver("http://127.0.0.1:8000")
    r = solver.solve("53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79")
    r.solved, r.route, r.grid                      # a SudokuResult, as SudokuSolver.solve returns
    results = solver.solve_many(open("puzzles.txt").read())

Errors the server reports (400, 404, 413) raise ``ServerError`` with its one-line message and status; a 5xx
answer or a lost connection is ``retryable`` (a 503 for a request whose replica was lost carries the server's
``retry_after`` in seconds).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import numpy as np

from hrm_sdk.errors import HRMError


class ServerError(HRMError):
    """``status``: the HTTP status (None: no answer); ``retry_after``: the server's Retry-After, in seconds."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status >= 500


class HRMClient:
    def __init__(self, url: str, timeout: float = 600.0):
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _request(self, path: str, body: dict | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method="GET" if body is None else "POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                message = json.loads(raw)["error"]
            except (ValueError, KeyError, TypeError):
                message = raw.decode("utf-8", "replace").strip().splitlines()[0] if raw.strip() else exc.reason
            try:
                retry_after = float(exc.headers.get("Retry-After")) if exc.headers.get("Retry-After") else None
            except ValueError:
                retry_after = None
            raise ServerError(f"{self.url}: {message} (HTTP {exc.code})", exc.code, retry_after) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ServerError(f"cannot reach {self.url}: {reason}") from None

    def health(self) -> dict:
        return self._request("/healthz")

    def stats(self) -> dict:
        return self._request("/v1/stats")

    def solve_json(self, task: str, **body) -> dict:
        """POST /v1/{task}/solve with ``body`` (puzzle, puzzles or text, and the task's options); -> the
        document ``hrm solve TASK --format json`` prints."""
        return self._request(f"/v1/{task}/solve", body)


def _grid(s: str | None) -> np.ndarray | None:
    return None if s is None else np.frombuffer(s.replace(".", "0").encode(), np.uint8).reshape(9, 9) - ord("0")


class RemoteSudokuSolver:
    """``SudokuSolver``'s ``solve``/``solve_many`` over HTTP; results are ``SudokuResult``s."""

    task = "sudoku"

    def __init__(self, url: str, views: int = 0, max_steps: int | None = None, budget=None, timeout: float = 600.0):
        self.client = HRMClient(url, timeout)
        self.options: dict = {}
        if views:
            self.options["views"] = views
        if max_steps:
            self.options["max_steps"] = max_steps
        if budget is not None:
            self.options.update(extra_steps=budget.extra_steps, search_nodes=budget.search_nodes)

    def solve(self, puzzle, budget=None):
        return self.solve_many([puzzle], budget)[0]

    def solve_many(self, puzzles, budget=None, source: str = "<request>"):
        from hrm_sdk.solvers.sudoku import SudokuResult

        opts = dict(self.options)
        if budget is not None:
            opts.update(extra_steps=budget.extra_steps, search_nodes=budget.search_nodes)
        if isinstance(puzzles, str):
            doc = self.client.solve_json("sudoku", text=puzzles, source=source, **opts)
        else:
            doc = self.client.solve_json("sudoku", puzzles=[_plain(p) for p in puzzles], **opts)
        out = []
        for d in doc["puzzles"]:
            extra = {"views": d["views"]} if "views" in d else {}
            out.append(SudokuResult(puzzle=_grid(d["puzzle"]), solved=d["solved"], grid=_grid(d["solution"]),
                                    network_grid=_grid(d["network_answer"]), route=d["route"], steps=d["steps"],
                                    confidence=d["confidence"], seconds=d["seconds"], search_nodes=d["search_nodes"],
                                    source=d["source"], line=d["line"], extra=extra))
        return out


def _plain(puzzle):
    """A puzzle as JSON can carry it: strings stay, arrays become lists, SudokuPuzzles their 81 characters."""
    cells = getattr(puzzle, "cells", None)
    if cells is not None:
        return "".join(map(str, np.asarray(cells).reshape(-1))).replace("0", ".")
    if isinstance(puzzle, np.ndarray):
        return puzzle.tolist()
    return puzzle
