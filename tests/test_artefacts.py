"""Issue 26: artefacts are verified end to end. A model directory is used all or nothing; the ONNX graph's
sha256 (recorded at export) and the weights' sha256 are checked at load; the sidecar must agree with the graph
and with its own model config. Built on copies of the shipped Sudoku and Maze models (no training)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hrm_sdk import runtime
from hrm_sdk.checkpoint import file_sha256, read_card
from hrm_sdk.errors import ArtefactError, CheckpointError, HRMError

MODELS = Path(__file__).resolve().parents[1] / "solvers" / "models"


@pytest.fixture
def sudoku_dir(tmp_path) -> Path:
    out = tmp_path / "sudoku"
    shutil.copytree(MODELS / "sudoku", out, ignore=shutil.ignore_patterns("*.md"))
    return out


def edit_json(path: Path, fn) -> None:
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data))


def test_shipped_models_load_and_record_the_graph_hash():
    for task in ("sudoku", "maze"):
        sidecar = json.loads((MODELS / task / "model.onnx.json").read_text())
        assert sidecar["build"]["onnx_sha256"] == file_sha256(MODELS / task / "model.onnx")
        assert runtime.open(MODELS / task).meta.task == task


def test_flipped_bytes_in_the_graph_are_refused(sudoku_dir):
    onnx = sudoku_dir / "model.onnx"
    data = bytearray(onnx.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 64] = bytes(b ^ 0xFF for b in data[mid:mid + 64])  # inside the weights: the graph still loads
    onnx.write_bytes(bytes(data))
    with pytest.raises(ArtefactError, match="sha256 does not match build.onnx_sha256"):
        runtime.open(sudoku_dir)
    with pytest.raises(ArtefactError, match="sha256 does not match"):
        runtime.open(onnx)


def test_a_sidecar_without_the_graph_hash_is_refused(sudoku_dir):
    # every shipped ONNX records its hash (test above), so a sidecar without one is refused, no longer loaded with
    # a warning: the graph could be anything
    edit_json(sudoku_dir / "model.onnx.json", lambda m: m["build"].pop("onnx_sha256"))
    with pytest.raises(ArtefactError) as info:
        runtime.open(sudoku_dir / "model.onnx")
    message = str(info.value)
    assert message == (f"{sudoku_dir / 'model.onnx'}: model.onnx.json records no build.onnx_sha256 (written by an "
                       "older hrm-sdk), so the graph cannot be verified; re-export it with: hrm export onnx "
                       f"{sudoku_dir} -o {sudoku_dir / 'model.onnx'}")


@pytest.mark.parametrize("key,value", [("halt_max_steps", 1), ("vocab_size", 3), ("precision", "fp16")])
def test_sidecar_edits_are_refused_naming_the_field(sudoku_dir, key, value):
    edit_json(sudoku_dir / "model.onnx.json", lambda m: m.__setitem__(key, value))
    with pytest.raises(ArtefactError) as info:
        runtime.open(sudoku_dir / "model.onnx")
    message = str(info.value)
    assert f"{key} differ" in message and "vs" not in message  # was "source sha256 96c10e848c60 vs 96c10e848c60"


def test_sidecar_and_its_model_config_must_agree(sudoku_dir):
    # the same edit in the sidecar and the embedded copy cannot be made by hand; the config inside must agree
    import onnx

    path = sudoku_dir / "model.onnx"
    proto = onnx.load(str(path))
    meta = json.loads(proto.metadata_props[0].value)
    meta["halt_max_steps"] = 2
    proto.metadata_props[0].value = json.dumps(meta)
    onnx.save(proto, str(path))
    edit_json(sudoku_dir / "model.onnx.json", lambda m: (m.__setitem__("halt_max_steps", 2),
                                                           m["build"].__setitem__("onnx_sha256", file_sha256(path))))
    with pytest.raises(ArtefactError, match="metadata halt_max_steps = 2 but its model config says 16"):
        runtime.open(path)


def test_truncated_weights_never_fall_back_to_the_graph(sudoku_dir):
    weights = sudoku_dir / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="model.safetensors: sha256 does not match"):
        runtime.open(sudoku_dir)
    weights.unlink()
    with pytest.raises(CheckpointError, match="model.safetensors: missing"):
        runtime.open(sudoku_dir)


@pytest.mark.parametrize("key,value,match", [
    ("arch", "xyz", "arch must be 'hrm' or 'trm', got 'xyz'"),
    ("num_heads", 0, "num_heads must be >= 1, got 0"),
    ("hidden_size", 384.0, "hidden_size must be a whole number, got 384.0"),
])
def test_bad_card_config_is_refused_naming_the_key(sudoku_dir, key, value, match):
    edit_json(sudoku_dir / "model.json", lambda c: c["model"].__setitem__(key, value))
    with pytest.raises(CheckpointError, match=match):
        runtime.open(sudoku_dir)  # the ONNX graph is fine: still refused
    with pytest.raises(CheckpointError, match=match):
        runtime.open(sudoku_dir, backend="pytorch")


def test_card_without_weights_hash_is_refused(sudoku_dir):
    edit_json(sudoku_dir / "model.json", lambda c: c.pop("weights_sha256"))
    with pytest.raises(CheckpointError, match="no weights_sha256"):
        runtime.open(sudoku_dir)
    with pytest.raises(CheckpointError, match="no weights_sha256"):
        runtime.open(sudoku_dir, backend="pytorch")


@pytest.mark.parametrize("key,match", [("model", "no 'model' key"), ("format", "no 'format' key")])
def test_card_missing_one_key_names_it(sudoku_dir, key, match):
    edit_json(sudoku_dir / "model.json", lambda c: c.pop(key))
    with pytest.raises(CheckpointError, match=match):
        read_card(sudoku_dir)


def test_graph_from_other_weights_is_refused(sudoku_dir):
    for name in ("model.onnx", "model.onnx.json"):
        shutil.copy(MODELS / "maze" / name, sudoku_dir / name)
    with pytest.raises(ArtefactError, match="is a sudoku model but its onnxruntime artefact is a maze model"):
        runtime.open(sudoku_dir)


def test_a_maze_model_is_refused_by_the_sudoku_solver_by_name():
    from hrm_sdk.solvers.sudoku import SudokuSolver

    for model in (MODELS / "maze", MODELS / "maze" / "model.onnx"):
        with pytest.raises(HRMError, match="is a maze model; it cannot solve sudoku puzzles"):
            SudokuSolver(model)


def test_cpu_sessions_run_without_the_memory_arena():
    # with the arena, solve_many in batches of 100 held 1.3-2.4 GB RSS on the CPU (issue 26); without it ~470 MB
    opts = runtime.open(MODELS / "sudoku", backend="onnxruntime", device="cpu").session.get_session_options()
    assert not opts.enable_cpu_mem_arena and not opts.enable_mem_pattern


def test_cpu_rows_go_to_onnx_runtime_in_small_calls_with_the_same_results(monkeypatch):
    # one call for 100 rows peaked at 1.1 GB RSS (about 10 MB of activations a row); CPU_ROWS rows a call keep the
    # peak small, and the rows are independent, so splitting the batch must not change a number
    import numpy as np

    from hrm_sdk.runtime.backends import onnx_backend
    from hrm_sdk.tasks import sudoku

    backend = runtime.open(MODELS / "sudoku", backend="onnxruntime", device="cpu")
    tokens = np.stack([tokens for tokens, _ in sudoku.SPEC.check_items(3)])
    calls = []
    real_run = backend.session.run
    monkeypatch.setattr(backend, "session", type("Spy", (), {
        "run": lambda self, names, feeds: calls.append(len(feeds["tokens"])) or real_run(names, feeds)})())

    def one_segment(rows_per_call: int):
        monkeypatch.setattr(onnx_backend, "CPU_ROWS", rows_per_call)
        backend.allocate(3)
        backend.load(np.arange(3), tokens, np.zeros(3, np.int32))
        q = backend.step(3)
        return q, backend.fetch_logits(np.arange(3))

    (q_split, logits_split), (q_whole, logits_whole) = one_segment(2), one_segment(64)
    assert calls == [2, 1, 3]
    np.testing.assert_allclose(logits_split, logits_whole, rtol=0, atol=1e-5)
    np.testing.assert_allclose(q_split, q_whole, rtol=0, atol=1e-5)
