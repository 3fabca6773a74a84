"""hrm serve: continuous batching across callers (no Ray), and a real local Ray Serve instance over HTTP.

The Ray tests start Ray with one CPU and one replica, on a free loopback port, and are bounded in time; they
skip only when ray is not installed (the [serve] extra)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest

from hrm_sdk.tasks import sudoku

REPO_EXAMPLES = "hrm_sdk/tasks/sudoku/examples.txt"


def _puzzles(n: int) -> list[str]:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / REPO_EXAMPLES).read_text()
    return ["".join(map(str, p.cells)).replace("0", ".") for p in sudoku.parse_text(text)[:n]]


def _comparable(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in ("seconds", "source", "line")}


@pytest.fixture(scope="module")
def reference():
    """The in-process solver's answers for 8 bundled example puzzles (ONNX Runtime)."""
    from hrm_sdk.solvers.sudoku import SudokuSolver

    puzzles = _puzzles(8)
    return puzzles, [_comparable(r.to_dict()) for r in SudokuSolver(backend="onnxruntime").solve_many(puzzles)]


def test_batcher_shares_one_batch_across_threads_and_matches_solve_many(reference):
    from hrm_sdk.serving.engine import ServedSolver, ServeOptions

    puzzles, expected = reference
    served = ServedSolver("sudoku", ServeOptions(backend="onnxruntime", batch_size=16))
    try:
        got: list = [None] * 4
        start = threading.Barrier(4)

        def client(k: int) -> None:
            start.wait()
            got[k] = served.solve_request({"puzzles": puzzles[2 * k:2 * k + 2]})[0]

        threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        records = [r for doc in got for r in doc["puzzles"]]
        assert [_comparable(r) for r in records] == expected
        stats = served.stats()
        assert stats.puzzles == 8
        assert stats.max_rows > 2, f"no batch held more than one caller's puzzles: {stats}"
    finally:
        served.close()


def test_batcher_run_act_interface_and_cancel():
    """Batcher.run_act gives run_act's results (indices local to the caller); cancelled puzzles take no slot."""
    from hrm_sdk import runtime
    from hrm_sdk.runtime.batcher import Batcher
    from hrm_sdk.solvers import registry

    backend = runtime.open(registry.resolve(None, "sudoku"), "onnxruntime")
    tokens = sudoku.encode(np.stack([sudoku.as_cells(p) for p in _puzzles(3)]))
    alone = runtime.run_all(backend, [(t, 0) for t in tokens], batch_size=4)
    batcher = Batcher(runtime.open(registry.resolve(None, "sudoku"), "onnxruntime"), batch_size=4)
    try:
        shared = sorted(batcher.run_act(None, [(t, 0) for t in tokens]), key=lambda r: r.index)
        assert [r.index for r in shared] == [0, 1, 2]
        for a, b in zip(alone, shared):
            assert np.array_equal(a.prediction, b.prediction) and a.steps == b.steps
        with pytest.raises(Exception, match="batcher runs"):
            list(batcher.run_act(None, [(tokens[0], 0)], policy=runtime.ACTPolicy(max_steps=1)))
    finally:
        batcher.close()
    assert batcher.stats.puzzles == 3


def test_cluster_batch_solving_in_order_and_resumable(tmp_path, reference):
    """hrm_sdk.serving.batch on a local Ray instance: results in input order, equal to solve_many's; a rerun after a
    torn write resumes after the last complete line."""
    pytest.importorskip("ray")
    from hrm_sdk.serving.batch import solve_file

    puzzles, expected = reference
    inp, out = tmp_path / "in.txt", tmp_path / "out.jsonl"
    inp.write_text("\n".join(puzzles[:5]) + "\n")
    assert solve_file(str(inp), str(out), actors=1, chunk=2, backend="onnxruntime") == 5
    first = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["index"] for r in first] == [0, 1, 2, 3, 4] and [r["line"] for r in first] == [1, 2, 3, 4, 5]
    assert [_comparable({k: v for k, v in r.items() if k != "index"}) for r in first] == expected[:5]
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:2]) + lines[2][:30])  # two complete results and a torn third
    assert solve_file(str(inp), str(out), actors=1, chunk=2, backend="onnxruntime") == 3
    again = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["index"], r["line"], _comparable(r)) for r in again] == [(r["index"], r["line"], _comparable(r))
                                                                       for r in first]
    assert solve_file(str(inp), str(out), actors=1, chunk=2, backend="onnxruntime") == 0  # nothing left


# -- a real Ray Serve instance --------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, body: bytes) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=300) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def server():
    pytest.importorskip("ray")
    from hrm_sdk.serving import server as srv
    from hrm_sdk.serving.engine import ServeOptions

    url = srv.start(ServeOptions(tasks=("sudoku",), backend="onnxruntime", batch_size=16, max_puzzles=4),
                    port=_free_port(), replicas=1, num_cpus=1, timeout_s=240)
    yield url
    srv.stop()


def test_serve_answers_like_the_cli_and_refuses_bad_input(server, reference):
    puzzles, expected = reference
    status, doc = _post(f"{server}/v1/sudoku/solve", json.dumps({"puzzles": puzzles[:2]}).encode())
    assert status == 200, doc
    assert [_comparable(r) for r in doc["puzzles"]] == expected[:2]
    assert doc["solved"] == sum(r["solved"] for r in expected[:2]) and doc["total"] == 2

    bad = {
        b"{not json": 400,
        json.dumps({"puzzle": "123"}).encode(): 400,  # wrong shape
        json.dumps({"puzzles": [[1, 2, 3]]}).encode(): 400,
        json.dumps({"puzzles": puzzles[:2], "colour": 1}).encode(): 400,  # unknown field
        json.dumps({"puzzles": puzzles[:1] * 5}).encode(): 413,  # over max_puzzles=4
    }
    for body, want in bad.items():
        status, doc = _post(f"{server}/v1/sudoku/solve", body)
        assert status == want, (body, doc)
        assert "\n" not in doc["error"] and doc["error"]
    status, doc = _post(f"{server}/v1/chess/solve", b"{}")
    assert status == 404 and "chess" in doc["error"]

    with urllib.request.urlopen(f"{server}/healthz", timeout=30) as r:  # still serving
        assert json.loads(r.read())["status"] == "ok"
    status, doc = _post(f"{server}/v1/sudoku/solve", json.dumps({"puzzle": puzzles[2]}).encode())
    assert status == 200 and _comparable(doc["puzzles"][0]) == expected[2]


def test_client_and_cli_server_option(server, reference, tmp_path):
    from hrm_sdk.serving.client import RemoteSudokuSolver, ServerError

    puzzles, expected = reference
    r = RemoteSudokuSolver(server).solve(puzzles[3])
    assert _comparable(r.to_dict()) == expected[3]
    with pytest.raises(ServerError, match="HTTP 413") as info:
        RemoteSudokuSolver(server).solve_many(puzzles[:5])
    assert not info.value.retryable

    f = tmp_path / "p.txt"
    f.write_text("\n".join(puzzles[4:6]) + "\n")
    out = subprocess.run([sys.executable, "-m", "hrm_sdk.cli.main", "solve", "sudoku", str(f), "--server", server,
                          "--format", "json"], capture_output=True, text=True, timeout=300)
    assert out.returncode in (0, 1), out.stderr
    doc = json.loads(out.stdout)
    assert [_comparable(r) for r in doc["puzzles"]] == expected[4:6]
    assert [r["line"] for r in doc["puzzles"]] == [1, 2] and doc["puzzles"][0]["source"] == str(f)


def test_cancelled_caller_frees_its_queued_puzzles():
    """A caller that goes away (its request cancelled) gets Cancelled at once, and its puzzles still queued
    never take a slot."""
    import time

    from hrm_sdk import runtime
    from hrm_sdk.runtime.batcher import Batcher, Cancelled
    from hrm_sdk.solvers import registry

    tokens = sudoku.encode(np.stack([sudoku.as_cells(p) for p in _puzzles(6)]))
    batcher = Batcher(runtime.open(registry.resolve(None, "sudoku"), "onnxruntime"), batch_size=1)
    gone = threading.Event()
    gone.set()
    t0 = time.perf_counter()
    with pytest.raises(Cancelled):
        list(batcher.run_act(None, [(t, 0) for t in tokens], cancelled=gone))
    assert time.perf_counter() - t0 < 5
    batcher.close(60)
    assert batcher.stats.puzzles < 6 and batcher.pending() == 0
