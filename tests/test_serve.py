"""hrm serve: continuous batching across callers with eviction (no Ray), the solvers' JSON API for a new puzzle
type, cluster batch solving on Ray Data (a local Ray instance, 2 actors, a run killed and resumed), and a real
local Ray Serve instance over HTTP (bad input, a client that disconnects, a solver replica killed mid-request).

The Ray tests start Ray with one or two CPUs, on a free loopback port, and are bounded in time; they skip only
when ray is not installed (the [serve] extra)."""

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


def test_served_solver_opens_every_lane_at_the_asked_precision():
    """``precision`` reaches the replica's solver and every ACT lane it opens later (another max_steps), or the
    replica refuses to start on a CPU without native bf16."""
    import torch

    from hrm_sdk.errors import HRMError
    from hrm_sdk.runtime import ACTPolicy
    from hrm_sdk.runtime.backends.torch_backend import native_cpu_bf16
    from hrm_sdk.serving.engine import ServedSolver, ServeOptions

    options = ServeOptions(tasks=("sudoku",), device="cpu", precision="bf16")
    if not native_cpu_bf16(torch):
        with pytest.raises(HRMError, match="no native bf16"):
            ServedSolver("sudoku", options)
        return
    served = ServedSolver("sudoku", options)
    assert "bf16" in served.describe()
    assert "bf16" in served.solver._lane(ACTPolicy(max_steps=2)).backend.describe()


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


def _check_sudoku_record(record: dict, puzzle: str) -> None:
    """A result line answers its own puzzle, and an answer reported solved keeps the givens and fills every unit."""
    assert record["puzzle"] == puzzle
    if record["solved"]:
        sol = np.frombuffer(record["solution"].encode(), np.uint8) - 48
        assert sudoku.is_solution(sudoku.as_cells(puzzle), sol).all(), record


def test_cluster_batch_solving_with_ray_data_in_order_and_resumable(tmp_path, reference):
    """hrm_sdk.serving.batch (Ray Data map_batches on a pool of 2 actors, local Ray): a run killed mid-way
    (SIGKILL to its process group) leaves only complete, right, in-order lines; a torn last line is cut; the
    rerun solves exactly the rest, and every line equals solve_many's answer for its puzzle."""
    pytest.importorskip("ray.data")
    import os
    import signal
    import time

    from hrm_sdk.serving.batch import solve_file

    puzzles, expected = reference
    inp, out = tmp_path / "in.txt", tmp_path / "out.jsonl"
    inp.write_text("\n".join(puzzles) + "\n")
    run = subprocess.Popen([sys.executable, "-m", "hrm_sdk.serving.batch", str(inp), str(out), "--actors", "2",
                            "--chunk", "1", "--backend", "onnxruntime"], start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not (out.exists() and out.read_text().count("\n") >= 1) and run.poll() is None:
            assert time.monotonic() < deadline, "no result line within 300 s"
            time.sleep(0.2)
        assert run.poll() is None, f"the run ended before it could be killed: {run.stderr.read()[-2000:]}"
    finally:
        os.killpg(run.pid, signal.SIGKILL)  # the driver and the local Ray it started (its own session)
        run.wait(60)
    killed = [json.loads(line) for line in out.read_text().splitlines()]
    assert 1 <= len(killed) < len(puzzles)
    assert [r["index"] for r in killed] == list(range(len(killed)))
    for r in killed:
        _check_sudoku_record(r, puzzles[r["index"]])

    with out.open("a") as f:
        f.write('{"index": %d, "source": "torn' % len(killed))  # as if killed in the middle of a write
    assert solve_file(str(inp), str(out), actors=2, chunk=2, backend="onnxruntime") == len(puzzles) - len(killed)
    lines = out.read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["index"] for r in records] == list(range(len(puzzles)))
    assert [r["line"] for r in records] == list(range(1, len(puzzles) + 1))
    for r, p in zip(records, puzzles):
        _check_sudoku_record(r, p)
    assert [_comparable({k: v for k, v in r.items() if k != "index"}) for r in records] == expected
    assert solve_file(str(inp), str(out), actors=2, chunk=2, backend="onnxruntime") == 0  # nothing left
    assert out.read_text().splitlines() == lines


def test_cluster_batch_refuses_bad_input(tmp_path):
    """Bad input: one line and exit 2, before Ray starts."""
    bad = tmp_path / "bad.txt"
    bad.write_text("12345\n")
    other = tmp_path / "other.jsonl"
    other.write_text('{"x": 1}\n')
    good = tmp_path / "good.txt"
    good.write_text(_puzzles(1)[0] + "\n")
    for args, needle in [([str(bad), str(tmp_path / "o.jsonl")], "bad.txt"),
                         ([str(tmp_path / "missing.txt"), str(tmp_path / "o.jsonl")], "missing.txt"),
                         ([str(good), str(other)], "other.jsonl"),
                         ([str(good), str(tmp_path / "o.jsonl"), "--task", "chess"], "chess"),
                         ([str(good), str(tmp_path / "o.jsonl"), "--option", "colour=1"], "colour")]:
        out = subprocess.run([sys.executable, "-m", "hrm_sdk.serving.batch", *args], capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 2, (args, out.stderr)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and needle in lines[0], out.stderr


class _Gated:
    """A toy backend whose every segment waits for the test (``go``) and records the puzzles it computed; it
    never halts by q, so a puzzle runs ``halt_max_steps`` segments unless it is evicted."""

    @staticmethod
    def make(max_steps: int = 6):
        from types import SimpleNamespace

        from hrm_sdk.runtime.backends.base import Backend

        class Gated(Backend):
            name = "gated"
            supports_move = True

            def __init__(self):
                super().__init__(SimpleNamespace(task="toy", seq_len=4, vocab_size=4, halt_max_steps=max_steps))
                self.go, self.ran = threading.Semaphore(0), threading.Semaphore(0)
                self.computed: list[list[int]] = []  # per segment: the first token of each row computed

            def _allocate_states(self, capacity):
                pass

            def _move_states(self, src, dst):
                pass

            def _run(self, n):
                assert self.go.acquire(timeout=60), "the test never released this segment"
                self.computed.append(self.tokens[:n, 0].tolist())
                self.ran.release()
                return np.full(n, -1.0, np.float32), np.zeros(n, np.float32)

            def fetch_logits(self, slots):
                out = np.zeros((len(slots), 4, 4), np.float32)
                for k, s in enumerate(slots):
                    out[k, np.arange(4), self.tokens[s] % 4] = 5.0
                return out

        return Gated()


def test_evicted_caller_leaves_the_running_batch():
    """A caller that goes away mid-run (its puzzles already computing) leaves the batch at the next segment
    boundary: no further segment is spent on its puzzles, while another caller's puzzles run to the end."""
    import time

    from hrm_sdk.runtime.batcher import Batcher, Cancelled

    backend = _Gated.make(max_steps=6)
    batcher = Batcher(backend, batch_size=4)
    gone = threading.Event()
    outcome: dict = {}

    def caller(name, token, cancelled=None):
        items = [(np.full(4, token, np.uint8), 0) for _ in range(2)]
        try:
            outcome[name] = sorted(batcher.run_act(None, items, cancelled=cancelled), key=lambda r: r.index)
        except Cancelled as exc:
            outcome[name] = exc

    def segment():
        backend.go.release()
        assert backend.ran.acquire(timeout=60)

    def wait_for(cond):
        deadline = time.monotonic() + 30
        while not cond():
            assert time.monotonic() < deadline
            time.sleep(0.01)

    a = threading.Thread(target=caller, args=("a", 1, gone))
    b = threading.Thread(target=caller, args=("b", 2))
    try:
        a.start()
        wait_for(lambda: batcher.pending() == 2)
        b.start()
        wait_for(lambda: batcher.pending() == 4)
        segment()
        segment()  # by now both callers' puzzles share the batch
        assert sorted(backend.computed[-1]) == [1, 1, 2, 2]
        gone.set()  # caller a goes away with its two puzzles two segments in
        a.join(30)
        assert isinstance(outcome["a"], Cancelled)
        while b.is_alive() and len(backend.computed) < 20:
            segment()
            b.join(0.05)
        b.join(30)
    finally:
        gone.set()
        for _ in range(20):
            backend.go.release()
        batcher.close(30)
    after = backend.computed[3:]  # the third segment may have started before the eviction
    assert after and all(rows == [2, 2] for rows in after), backend.computed
    assert [r.steps for r in outcome["b"]] == [6, 6] and [r.index for r in outcome["b"]] == [0, 1]
    assert batcher.stats.evicted == 2 and batcher.stats.puzzles == 2 and batcher.pending() == 0
    assert sum(rows.count(1) for rows in backend.computed) <= 6  # caller a: at most 3 segments of 2 puzzles


def test_a_new_puzzle_type_is_served_with_no_change_in_serving(monkeypatch):
    """A toy task (reverse 6 digits) with one solver class implementing the JSON API is served by
    ServedSolver through the shared batch: serving names no task."""
    from dataclasses import dataclass
    from pathlib import Path
    from types import SimpleNamespace

    from hrm_sdk import tasks
    from hrm_sdk.errors import InvalidPuzzleError
    from hrm_sdk.runtime.backends.base import Backend
    from hrm_sdk.serving.engine import RequestError, ServedSolver, task_names
    from hrm_sdk.solvers import base

    class Reverser(Backend):
        name = "reverser"

        def __init__(self):
            super().__init__(SimpleNamespace(task="toy", seq_len=6, vocab_size=10, halt_max_steps=2))

        def _allocate_states(self, capacity):
            pass

        def _run(self, n):
            return np.ones(n, np.float32), np.zeros(n, np.float32)

        def fetch_logits(self, slots):
            out = np.zeros((len(slots), 6, 10), np.float32)
            for k, s in enumerate(slots):
                out[k, np.arange(6), self.tokens[s][::-1]] = 5.0
            return out

    @dataclass
    class ToyResult:
        puzzle: str
        answer: str
        steps: int

        @property
        def solved(self):
            return self.answer == self.puzzle[::-1]

        def to_dict(self):
            return {"puzzle": self.puzzle, "answer": self.answer, "solved": self.solved, "steps": self.steps}

    class ToyTask(tasks.Task):
        name, vocab_size, seq_len = "toy", 10, 6

    class ToySolver(base.Solver):
        task = "toy"
        result_key = "rows"
        request_options = {}

        @classmethod
        def parse_text(cls, text, source="<input>"):
            return [cls.check_item(line.strip(), source) for line in text.splitlines() if line.strip()]

        @classmethod
        def check_item(cls, item, where):
            if not (isinstance(item, str) and len(item) == 6 and item.isdigit()):
                raise InvalidPuzzleError(f"{where}: expected 6 digits")
            return item

        def solve_many(self, items):
            found = self.run([(np.frombuffer(p.encode(), np.uint8) - 48, 0) for p in items])
            return [ToyResult(p, "".join(map(str, r.prediction)), r.steps) for p, r in zip(items, found)]

    tasks.register(ToyTask())
    monkeypatch.setattr(base.registry, "resolve", lambda model, task=None: Path("toy-model"))
    monkeypatch.setattr(base.runtime, "open", lambda path, backend="auto", device=None, **kw: Reverser())
    served = None
    try:
        assert "toy" in task_names()
        served = ServedSolver("toy")
        doc, counts = served.solve_request({"puzzles": ["123456", "000111"]})
        assert doc == {"rows": [{"puzzle": "123456", "answer": "654321", "solved": True, "steps": 1},
                                {"puzzle": "000111", "answer": "111000", "solved": True, "steps": 1}],
                       "solved": 2, "total": 2}
        assert served.solve_request({"text": "987654\n"})[0]["rows"][0]["answer"] == "456789"
        assert served.stats().puzzles == 3 and counts.segments == 2
        with pytest.raises(RequestError, match="unknown field"):
            served.solve_request({"puzzle": "123456", "views": 2})
        with pytest.raises(InvalidPuzzleError, match="puzzle 2: expected 6 digits"):
            served.solve_request({"puzzles": ["123456", "12"]})
    finally:
        if served is not None:
            served.close()
        tasks.unregister("toy")
        base._SOLVERS.pop("toy", None)


# -- a real Ray Serve instance --------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, body: bytes, headers: dict | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=300) as r:
            result = r.status, json.loads(r.read())
            if headers is not None:
                headers.update(r.headers)
            return result
    except urllib.error.HTTPError as exc:
        if headers is not None:
            headers.update(exc.headers)
        return exc.code, json.loads(exc.read())


def _batch_stats(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/v1/stats", timeout=60) as r:
        return json.loads(r.read())["batch"]["sudoku"]


def _wait_for(condition, timeout: float, what: str):
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(0.1)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as r:
            return json.loads(r.read()).get("status") == "ok"
    except (OSError, ValueError):
        return False


SLOW = "." * 81  # the empty grid: the model runs all 16 segments on it


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



def test_hrm_serve_shuts_down_cleanly_on_sigterm():
    """`hrm serve` (a subprocess with its own Ray) answers, then SIGTERM (docker stop, kill) shuts Serve and Ray
    down through its own handler (exit 130), not through the one ray.init installs (which kills the process)."""
    import os
    import signal
    import time

    pytest.importorskip("ray")
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "hrm_sdk.cli.main", "serve", "--port", str(port), "--backend",
                             "onnxruntime"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        _wait_for(lambda: proc.poll() is not None or _healthy(f"http://127.0.0.1:{port}"), 240, "no server")
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        err = proc.communicate(timeout=120)[1]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
    assert proc.returncode == 130, err[-2000:]
    assert "shutting down" in err and "SIGTERM received" not in err


def test_client_that_disconnects_frees_its_slots(server, reference):
    """A client that goes away mid-request: the cancellation reaches the solver replica, whose running puzzle
    leaves the shared batch at the next segment (no more segments spent on it); the server keeps serving."""
    puzzles, expected = reference
    before = _batch_stats(server)
    port = int(server.rsplit(":", 1)[1])
    body = json.dumps({"puzzle": SLOW}).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as conn:
        conn.sendall(b"POST /v1/sudoku/solve HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        _wait_for(lambda: (lambda b: b["pending"] and b["rows"] > before["rows"])(_batch_stats(server)), 120,
                  "the puzzle never started running")
    # the connection is closed here, with the puzzle one or more of its 16 segments in
    after = _wait_for(lambda: (lambda b: b if b["pending"] == 0 else None)(_batch_stats(server)), 60,
                      "the puzzle was not evicted")
    assert after["evicted"] == before["evicted"] + 1
    assert after["puzzles"] == before["puzzles"]  # it never finished
    assert after["rows"] - before["rows"] < 16, (before, after)
    status, doc = _post(f"{server}/v1/sudoku/solve", json.dumps({"puzzle": puzzles[6]}).encode())
    assert status == 200 and _comparable(doc["puzzles"][0]) == expected[6]


def test_killed_replica_answers_503_retry_after_and_the_server_recovers(server, reference):
    """ray.kill on the solver replica's actor while it is solving a request: that request gets 503 with a
    Retry-After header and a one-line message (never an answer), Ray starts a new replica, and the server
    answers correctly afterwards. (Last in this file: it replaces the fixture's replica.)"""
    import ray

    from hrm_sdk.serving.client import HRMClient, ServerError

    puzzles, expected = reference
    got: dict = {}

    def send():
        try:
            got["doc"] = HRMClient(server, timeout=300).solve_json("sudoku", puzzle=SLOW)
        except ServerError as exc:
            got["error"] = exc

    sender = threading.Thread(target=send)
    sender.start()
    _wait_for(lambda: _batch_stats(server)["pending"], 120, "the request never reached the batch")
    replicas = [a for a in ray.util.list_named_actors(all_namespaces=True) if "#HRMSolver#" in a["name"]]
    assert len(replicas) == 1, replicas
    ray.kill(ray.get_actor(replicas[0]["name"], namespace=replicas[0]["namespace"]))
    sender.join(120)
    assert not sender.is_alive() and "doc" not in got, got
    exc = got["error"]
    assert exc.status == 503 and exc.retryable and exc.retry_after and exc.retry_after > 0
    assert "\n" not in str(exc) and "retry" in str(exc)

    status, doc = _wait_for(lambda: (lambda r: r if r[0] == 200 else None)(
        _post(f"{server}/v1/sudoku/solve", json.dumps({"puzzles": puzzles[6:8]}).encode())), 180,
        "no correct answer after the replica was killed")
    assert [_comparable(r) for r in doc["puzzles"]] == expected[6:8]
    new = [a for a in ray.util.list_named_actors(all_namespaces=True) if "#HRMSolver#" in a["name"]]
    assert len(new) == 1 and new != replicas
