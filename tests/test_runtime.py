"""The runtime: ONNX export parity with PyTorch, continuous batching, halting policies, bad artefacts."""

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, shared
from hrm_sdk.errors import ArtefactError
from hrm_sdk.runtime import ACTPolicy, load, run_all
from hrm_sdk.runtime.verify import compare


def puzzles(n, start=0):
    from hrm_sdk.tasks import sudoku

    p, _, _ = sudoku.read_collection(shared("sudoku", "hard-train.txt"))
    return [(sudoku.encode(x), 0) for x in p[start:start + n]]


def test_onnx_matches_pytorch_on_200_puzzles(tiny_model, tiny_onnx):
    """Identical predictions and halting segments, ONNX Runtime (CPU) vs PyTorch (CPU, fp32)."""
    items = puzzles(32) + puzzles(168, start=1000)  # the 32 it was trained on, and 168 it never saw
    cmp = compare(load(tiny_model), load(tiny_onnx), items, batch_size=50)
    assert cmp.first_segment_max_abs_logits < 1e-3
    assert cmp.halting_agreement == 1.0 and cmp.prediction_agreement == 1.0, cmp.mismatched
    assert cmp.converged > 0 and cmp.converged_agreement == 1.0


class StaggeredHalting:
    """A real backend whose halting is forced at a per-puzzle segment (1..max, from the puzzle's tokens), so that
    slots finish at different times whatever the tiny model's Q-head happened to learn; states, logits and
    predictions are the real backend's."""

    def __init__(self, inner):
        self.inner, self.meta, self.max_batch = inner, inner.meta, inner.max_batch
        self.fixed_batch, self.supports_move = inner.fixed_batch, inner.supports_move
        self.rows = 0  # rows computed, over all segments

    def allocate(self, n):
        self.inner.allocate(n)
        self.target, self.count = np.zeros(n, np.int64), np.zeros(n, np.int64)

    def load(self, slots, tokens, puzzle_ids):
        self.inner.load(slots, tokens, puzzle_ids)
        self.target[slots] = tokens.astype(np.int64).sum(1) % self.meta.halt_max_steps + 1
        self.count[slots] = 0

    def move(self, src, dst):
        self.inner.move(src, dst)
        self.target[dst], self.count[dst] = self.target[src], self.count[src]

    def step(self, n):
        self.inner.step(n)
        self.rows += n
        self.count[:n] += 1
        halt = (self.count[:n] >= self.target[:n]).astype(np.float32)
        return halt, 1 - halt

    def fetch_logits(self, slots):
        return self.inner.fetch_logits(slots)


@pytest.mark.parametrize("path", ["tiny_model", "tiny_onnx"])
def test_continuous_batching_equals_one_at_a_time(path, request):
    """Refilling freed slots while others run leaves every puzzle's result as if it ran alone."""
    backend = StaggeredHalting(load(request.getfixturevalue(path)))
    items = puzzles(24, start=5)
    batched = run_all(backend, items, batch_size=7)
    single = [run_all(backend, [it], batch_size=1)[0] for it in items]
    assert [r.index for r in batched] == list(range(24))
    assert len({r.steps for r in batched}) > 1  # puzzles really halted at different segments
    for b, s in zip(batched, single):
        assert b.steps == s.steps and np.array_equal(b.prediction, s.prediction)
        np.testing.assert_allclose(b.confidence, s.confidence, atol=1e-5)


@pytest.mark.parametrize("path", ["tiny_model", "tiny_onnx"])
def test_finished_rows_are_not_computed_once_the_queue_is_empty(path, request):
    """When no puzzles are left to load, the running ones move down into freed slots: every row computed is a
    segment some puzzle needed (the last slot no longer drags the finished ones along), and results stay as
    if each puzzle ran alone."""
    backend = StaggeredHalting(load(request.getfixturevalue(path)))
    items = puzzles(24, start=5)
    single = [run_all(backend, [it], batch_size=1)[0] for it in items]
    backend.rows = 0
    batched = run_all(backend, items, batch_size=7)
    assert backend.rows == sum(r.steps for r in batched)
    for b, s in zip(batched, single):
        assert b.steps == s.steps and np.array_equal(b.prediction, s.prediction)
        np.testing.assert_allclose(b.confidence, s.confidence, atol=1e-5)


def test_halting_policies(tiny_onnx):
    backend = load(tiny_onnx)
    items = puzzles(10)
    assert all(r.steps == 4 and r.halted_by == "max" for r in run_all(backend, items, 4, ACTPolicy(halting="max")))
    assert all(r.steps >= 3 for r in run_all(backend, items, 4, ACTPolicy(min_steps=3)))
    assert all(r.steps <= 2 for r in run_all(backend, items, 4, ACTPolicy(max_steps=2)))
    r = run_all(backend, items, 4)[0]
    assert r.prediction.shape == (81,) and r.confidence.shape == (81,) and 0 < r.confidence.min() <= 1


def test_bad_onnx_files(tiny_onnx, tmp_path):
    truncated = tmp_path / "t.onnx"
    truncated.write_bytes(tiny_onnx.read_bytes()[:5000])
    with pytest.raises(ArtefactError, match="truncated or corrupted.*hrm export onnx"):
        load(truncated)
    other = tmp_path / "o.onnx"
    other.write_bytes(tiny_onnx.read_bytes())
    meta = json.loads((tiny_onnx.parent / (tiny_onnx.name + ".json")).read_text())
    meta["source_sha256"] = "0" * 64
    (tmp_path / "o.onnx.json").write_text(json.dumps(meta))
    with pytest.raises(ArtefactError, match="describes another model"):
        load(other)
    with pytest.raises(ArtefactError, match="cannot tell the model format"):
        load(tmp_path / "model.bin")


def test_onnx_path_does_not_import_torch(tiny_onnx):
    code = (f"import sys; from hrm_sdk.runtime import load, run_all; b = load({str(tiny_onnx)!r}); "
            "import numpy as np; run_all(b, [(np.ones(81, np.int32), 0)]); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_pytorch_backend_names_a_bad_or_missing_device(tiny_model):
    import torch

    from hrm_sdk.cli.main import app
    from hrm_sdk.errors import HRMError
    from hrm_sdk.runtime.backends.torch_backend import TorchBackend
    from typer.testing import CliRunner

    with pytest.raises(HRMError, match="device 'gpu': use cpu or cuda"):
        TorchBackend(tiny_model, device="gpu")
    if not torch.cuda.is_available():
        with pytest.raises(HRMError, match="PyTorch sees no CUDA GPU here"):
            TorchBackend(tiny_model, device="cuda")
        r = CliRunner().invoke(app, ["solve", "sudoku", str(REPO / "examples" / "sudoku.txt"), "--model",
                                     str(tiny_model), "--backend", "pytorch", "--device", "cuda"])
        assert r.exit_code == 2 and "PyTorch sees no CUDA GPU here" in r.stderr and "Traceback" not in r.stderr


def test_pytorch_bf16_on_the_cpu(tiny_model, tiny_onnx, monkeypatch):
    """--precision bf16 runs the PyTorch backend under CPU bf16 autocast where the CPU computes bf16 natively (its
    answers agree with fp32 on most cells), and is refused with one line on a CPU without it, for another precision,
    and for an exported artefact (whose precision was fixed at export)."""
    from hrm_sdk.cli.main import app
    from hrm_sdk.errors import HRMError
    from hrm_sdk.runtime import open_model
    from hrm_sdk.runtime.backends import torch_backend
    from typer.testing import CliRunner

    with pytest.raises(HRMError, match="runs fp32 or bf16"):
        open_model(tiny_model, precision="fp16", device="cpu")
    with pytest.raises(HRMError, match="keeps the precision it was exported with"):
        open_model(tiny_onnx, precision="bf16", device="cpu")
    import torch

    if torch_backend.native_cpu_bf16(torch):
        be = open_model(tiny_model, precision="bf16", device="cpu")
        assert be.name == "pytorch" and "bf16" in be.describe() and be.state_dtype == torch.bfloat16
        items = puzzles(32)
        cmp = compare(load(tiny_model), be, items, batch_size=16)
        assert cmp.halting_agreement >= 0.9 and cmp.final_cell_agreement >= 0.95, cmp  # bf16 rounding, not noise
    monkeypatch.setattr(torch_backend, "native_cpu_bf16", lambda torch: False)
    with pytest.raises(HRMError, match="no native bf16"):
        open_model(tiny_model, precision="bf16", device="cpu")
    r = CliRunner().invoke(app, ["solve", "sudoku", str(REPO / "examples" / "sudoku.txt"), "--model",
                                 str(tiny_onnx), "--precision", "bf16"])
    assert r.exit_code == 2 and "keeps the precision it was exported with" in r.stderr and "Traceback" not in r.stderr
