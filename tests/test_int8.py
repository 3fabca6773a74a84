"""INT8 ONNX for CPUs (exporters/onnx_int8.py): export from the tiny model's fp32 graph, load, solve, refuse a
corrupted file, and the `hrm export onnx --precision int8` command.

    python -m pytest tests/test_int8.py        # trains the session's tiny model first (marked slow)
    python -m pytest tests/test_int8.py -m "not slow"   # the graph-folding and argument checks alone
"""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import shared
from hrm_sdk.checkpoint import file_sha256
from hrm_sdk.errors import ArtefactError, HRMError
from hrm_sdk.runtime import open as open_model
from hrm_sdk.runtime.artefact import read_sidecar


@pytest.fixture(scope="module")
def tiny_int8(tiny_onnx, tmp_path_factory):
    from hrm_sdk.exporters import export

    out = tmp_path_factory.mktemp("int8") / "tiny.int8.onnx"
    return export(tiny_onnx, "onnx", precision="int8", out=out, check=True)


def test_int8_sidecar_records_the_graph_and_its_source(tiny_int8, tiny_onnx):
    meta = read_sidecar(tiny_int8.path)
    assert meta.precision == "int8" and meta.state_dtype == "float32"
    assert meta.build["onnx_sha256"] == file_sha256(tiny_int8.path)
    assert meta.build["source_onnx_sha256"] == file_sha256(tiny_onnx)
    q = meta.build["quantization"]
    assert q["quantized_matmuls"] > 0 and q["kept_fp32"]  # the logits head stays fp32
    fp32 = read_sidecar(tiny_onnx)
    assert (meta.task, meta.model, meta.source_sha256, meta.H_init) == (fp32.task, fp32.model, fp32.source_sha256,
                                                                        fp32.H_init)
    check = tiny_int8.check
    assert check["puzzles"] > 0 and check["segments"] == meta.halt_max_steps
    assert 0 <= check["cell_disagreement"] <= 0.1 and 0 <= check["halting_disagreement"] <= 0.25
    assert 0 < check["teacher_forced_max_rel_logits"] < 1  # quantized: not bit-identical, not garbage


def test_int8_graph_is_smaller_and_really_int8(tiny_int8, tiny_onnx):
    import onnx

    ops = {n.op_type for n in onnx.load(tiny_int8.path).graph.node}
    assert ops & {"MatMulInteger", "DynamicQuantizeMatMul"}
    assert tiny_int8.size_mb * 1e6 < 0.75 * tiny_onnx.stat().st_size  # embeddings stay fp32


def test_int8_solves_like_fp32(tiny_int8, tiny_onnx):
    """Through runtime.open and the solver on the CPU: the network's answers mostly equal the fp32 graph's, and
    every answer reported solved is the collection's solution."""
    from hrm_sdk.solvers.sudoku import SudokuSolver
    from hrm_sdk.tasks import sudoku

    backend = open_model(tiny_int8.path, "onnxruntime", "cpu")
    assert "int8" in backend.describe() and not backend.cuda
    puzzles, solutions, _ = sudoku.read_collection(shared("sudoku", "hard-train.txt"))
    puzzles, solutions = puzzles[:32], solutions[:32]  # the 32 the tiny model was trained on
    int8 = SudokuSolver(tiny_int8.path, backend="onnxruntime", device="cpu").solve_many(puzzles)
    fp32 = SudokuSolver(tiny_onnx, backend="onnxruntime", device="cpu").solve_many(puzzles)
    cells = np.mean([np.mean(a.network_grid == b.network_grid) for a, b in zip(int8, fp32)])
    assert cells > 0.9, cells
    for r, solution in zip(int8, solutions):
        if r.solved:
            assert np.array_equal(r.grid.reshape(81), np.asarray(solution).reshape(81))
    assert any(r.solved for r in int8)


def test_corrupted_int8_is_refused(tiny_int8, tmp_path):
    data = bytearray(open(tiny_int8.path, "rb").read())
    data[len(data) // 2] ^= 0xFF
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(bytes(data))
    (tmp_path / "bad.onnx.json").write_text(open(tiny_int8.sidecar).read())
    with pytest.raises(ArtefactError, match="sha256"):
        open_model(bad, "onnxruntime", "cpu")


def test_int8_refuses_cuda_and_fp32_only_options(tiny_int8, tiny_onnx, tmp_path):
    from hrm_sdk.exporters import export
    from hrm_sdk.runtime.backends.onnx_backend import OnnxBackend

    with pytest.raises(HRMError, match="CPU only"):
        OnnxBackend(tiny_int8.path, device="cuda")
    with pytest.raises(HRMError, match="weights"):
        export(tiny_onnx, "onnx", precision="int8", out=tmp_path / "x.onnx", weights="fp16")
    with pytest.raises(HRMError, match="fp32 graph"):  # an int8 graph is not quantized again
        export(tiny_int8.path, "onnx", precision="int8", out=tmp_path / "y.onnx", check=False)


def test_cli_export_int8(tiny_model, tiny_onnx, tmp_path):
    from hrm_sdk.cli.main import app

    out = tmp_path / "cli-int8.onnx"
    result = CliRunner().invoke(app, ["export", "onnx", str(tiny_model), "--precision", "int8", "-o", str(out),
                                      "--format", "json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["precision"] == "int8" and record["path"] == str(out)
    assert record["check"]["cell_disagreement"] <= 0.1
    assert read_sidecar(out).build["source_onnx_sha256"] == file_sha256(tiny_onnx)  # the directory's model.onnx
    assert open_model(out, "auto", None).meta.precision == "int8"
    bad = CliRunner().invoke(app, ["export", "onnx", str(tiny_model), "--precision", "int4", "-o", str(out)])
    assert bad.exit_code == 2 and "int8" in bad.output


def test_fold_weights_shares_one_initializer_per_chain():
    """Cast(fp16 weight) -> Transpose feeding two MatMuls through separate nodes folds into one fp32 initializer,
    so quantize_dynamic quantizes it once; the folded graph computes what the original did."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from hrm_sdk.exporters.onnx_int8 import fold_weights

    w = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float16)
    nodes = []
    for i in range(2):
        nodes += [helper.make_node("Cast", ["w16"], [f"c{i}"], to=TensorProto.FLOAT),
                  helper.make_node("Transpose", [f"c{i}"], [f"t{i}"], perm=[1, 0]),
                  helper.make_node("MatMul", ["x" if i == 0 else "y0", f"t{i}"], [f"y{i}"])]
    nodes[-1].input[0] = "y0"
    nodes.insert(5, helper.make_node("MatMul", ["y0", "sq"], ["y0b"]))  # an unrelated activation MatMul stays
    nodes[-1].input[0] = "y0b"
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
                              [helper.make_tensor_value_info("y1", TensorProto.FLOAT, [2, 3])],
                              [numpy_helper.from_array(w, "w16"),
                               numpy_helper.from_array(np.eye(3, 4, dtype=np.float32), "sq")])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    x = np.random.default_rng(1).standard_normal((2, 4)).astype(np.float32)
    before = ort.InferenceSession(proto.SerializeToString()).run(None, {"x": x})[0]
    folded = fold_weights(proto)
    assert folded == {"nodes": 4, "initializers": 1}
    assert [n.op_type for n in proto.graph.node] == ["MatMul", "MatMul", "MatMul"]
    weights = [i for i in proto.graph.initializer if i.data_type == TensorProto.FLOAT and i.name != "sq"]
    assert len(weights) == 1 and list(weights[0].dims) == [4, 3]
    assert {proto.graph.node[0].input[1], proto.graph.node[2].input[1]} == {weights[0].name}
    after = ort.InferenceSession(proto.SerializeToString()).run(None, {"x": x})[0]
    np.testing.assert_allclose(after, before, rtol=1e-6)


def test_formats_table_offers_int8_for_onnx_only():
    from hrm_sdk.exporters import validate_args

    validate_args("onnx", {"precision": "int8"})
    with pytest.raises(HRMError, match="int8"):
        validate_args("tensorrt", {"precision": "int8"})
