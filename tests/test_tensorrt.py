"""TensorRT: a real engine built from the exported segment (TensorRT-RTX builds on a CPU-only machine), the engine
cache, profile parsing, and the backend's refusals of bad engines. No engine can be executed here.

    python -m pytest tests/test_tensorrt.py -q
"""

import dataclasses
import hashlib
import importlib.util
import logging
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import REPO
from hrm_sdk.exporters import tensorrt_build as tb
from hrm_sdk.errors import ArtefactError, HRMError, MissingExtraError
from hrm_sdk.runtime import trt as trt_info
from hrm_sdk.runtime.artefact import read_sidecar
from hrm_sdk.runtime.backends import tensorrt_backend as tbe


@pytest.fixture(scope="module")
def rt():
    name = "tensorrt" if importlib.util.find_spec("tensorrt") else "tensorrt_rtx_bindings"
    pytest.importorskip(name, reason="no TensorRT flavour (pip install 'hrm-sdk[tensorrt-rtx]')", exc_type=ImportError)
    return trt_info.load()


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("engine_cache")


@pytest.fixture(scope="module")
def engine(rt, tiny_onnx, cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("engine") / "tiny.fp32.engine"
    return tb.build_engine(tiny_onnx, out=out, precision="fp32", batch="1,8,64", cache_dir=cache)


def onnx_io(path):
    import onnx
    from onnx.helper import tensor_dtype_to_np_dtype

    graph = onnx.load(str(path)).graph

    def spec(v, mode):
        t = v.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim]
        dtype = np.dtype(tensor_dtype_to_np_dtype(t.elem_type)).name
        return {"name": v.name, "mode": mode, "shape": shape, "dtype": dtype}

    return [spec(v, "input") for v in graph.input] + [spec(v, "output") for v in graph.output]


# ----------------------------------------------------------------------------- a real build

def test_engine_io_matches_the_onnx_graph(engine, tiny_onnx):
    assert engine.io == onnx_io(tiny_onnx)
    assert all(t["shape"][0] == -1 for t in engine.io)
    plan = Path(engine.path).read_bytes()
    assert len(plan) > 100_000 and not plan.startswith(b"{") and plan[4:5] != b"{"  # a plain plan, no JSON prefix
    assert engine.cached is False and engine.next_command == f"hrm verify {engine.path}"


def test_sidecar_has_the_build_facts(engine, rt, tiny_onnx, cache):
    meta, onnx_meta = read_sidecar(engine.path), read_sidecar(tiny_onnx)
    b = meta.build
    assert b["onnx_sha256"] == hashlib.sha256(tiny_onnx.read_bytes()).hexdigest()
    assert (b["precision"], b["profile"]) == ("fp32", {"min": 1, "opt": 8, "max": 64})
    assert (b["flavour"], b["tensorrt_version"]) == (rt.flavour, rt.version)
    assert b["compute_capability"] == engine.target
    if rt.flavour == "tensorrt-rtx" and trt_info.gpu_compute_capability() is None:
        assert engine.target == "portable"  # built on a CPU-only machine for every GPU TensorRT-RTX runs on
    assert datetime.fromisoformat(b["built_at"]).tzinfo is not None
    assert b["cache_key"] == tb.cache_key(b["onnx_sha256"], "fp32", tb.Profile(1, 8, 64), rt, engine.target)
    assert b["engine_sha256"] == hashlib.sha256(Path(engine.path).read_bytes()).hexdigest()
    assert (cache / f"{b['cache_key']}.engine").is_file()
    assert dataclasses.replace(meta, build={}) == dataclasses.replace(onnx_meta, build={})  # the ONNX's metadata


def test_second_build_is_a_cache_hit(engine, tiny_onnx, cache, tmp_path):
    again = tb.build_engine(tiny_onnx, out=tmp_path / "again.engine", precision="fp32", batch="1,8,64", cache_dir=cache)
    assert again.cached and Path(again.path).read_bytes() == Path(engine.path).read_bytes()
    assert read_sidecar(again.path).build["built_at"] == read_sidecar(engine.path).build["built_at"]
    other = tb.build_engine(tiny_onnx, out=tmp_path / "other.engine", precision="fp32", batch="1,8,32", cache_dir=cache)
    assert not other.cached  # another profile is another engine


def test_build_from_a_checkpoint(rt, tiny_model, tmp_path, monkeypatch):
    """A checkpoint is exported first, at the precision this TensorRT needs, into the engine cache's folder (never
    into the model's own folder); the export is reused next time."""
    import shutil

    ckpt = shutil.copytree(tiny_model, tmp_path / "ckpt", ignore=shutil.ignore_patterns("*.onnx*", "*.engine*"))
    before = sorted(p.name for p in ckpt.iterdir())
    monkeypatch.chdir(tmp_path)
    r = tb.build_engine(ckpt, batch="1,2,4", cache_dir=tmp_path / "cache")  # fp16 by default
    onnx_precision = tb.onnx_precision_for(rt.module, "fp16")
    assert Path(r.path).resolve() == (tmp_path / "ckpt.fp16.engine").resolve()
    assert sorted(p.name for p in ckpt.iterdir()) == before  # nothing written into the model folder
    assert list((tmp_path / "cache").glob(f"onnx-*-{onnx_precision}/model.onnx"))
    io = {t["name"]: t["dtype"] for t in r.io}
    assert io["z_H"] == {"fp16": "float16", "fp32": "float32"}[onnx_precision] and io["logits"] == "float32"
    assert read_sidecar(r.path).build["precision"] == "fp16"
    assert tb.build_engine(ckpt, batch="1,2,4", cache_dir=tmp_path / "cache").cached


def test_build_logs_phases_without_a_terminal(rt, tiny_onnx, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="hrm_sdk.exporters.tensorrt_build"):
        tb.build_engine(tiny_onnx, out=tmp_path / "m.engine", precision="fp32", batch="1,2,4", cache_dir=tmp_path)
    text = caplog.text
    if hasattr(rt.module, "IProgressMonitor"):
        assert "TensorRT: Building engine" in text
    assert "wrote" in text and "next: hrm verify" in text


def test_progress_bar_tasks(rt):
    monitor = tb.progress_monitor(rt.module, tty=True)
    if monitor is None:
        pytest.skip("this TensorRT has no IProgressMonitor")
    with monitor:
        monitor.phase_start("Building engine", None, 3)
        monitor.phase_start("Optimizing", "Building engine", 2)
        assert monitor.step_complete("Optimizing", 0) is True
        monitor.phase_finish("Optimizing")
        monitor.cancelled = True
        assert monitor.step_complete("Building engine", 0) is False  # what Ctrl-C does
        monitor.phase_finish("Building engine")
    assert monitor.tasks == {}


def test_parser_errors_and_bare_onnx(rt, tiny_onnx, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(tiny_onnx.read_bytes()[:5000])
    (tmp_path / "bad.onnx.json").write_text(Path(str(tiny_onnx) + ".json").read_text())
    with pytest.raises(ArtefactError, match=r"cannot parse the graph \(1 errors: 1\) .*hrm export onnx"):
        tb.build_engine(bad, precision="fp32", batch="1,2,4", cache_dir=tmp_path)
    bare = tmp_path / "bare.onnx"  # no sidecar: the metadata embedded in the graph is used
    bare.write_bytes(tiny_onnx.read_bytes())
    r = tb.build_engine(bare, precision="fp32", batch="1,2,4", cache_dir=tmp_path)
    assert Path(r.path) == tmp_path / "model.fp32.engine" and read_sidecar(r.path).build["precision"] == "fp32"


def test_no_silent_precision_change(rt, tiny_onnx, tmp_path):
    if hasattr(rt.module.BuilderFlag, "FP16"):
        pytest.skip("full TensorRT 10 lowers fp32 graphs with BuilderFlag.FP16")
    with pytest.raises(HRMError, match="fp16 engine cannot be built from an fp32 ONNX.*--precision fp16"):
        tb.build_engine(tiny_onnx, precision="fp16", batch="1,2,4", cache_dir=tmp_path)


def test_build_path_does_not_import_torch(rt, tiny_onnx, tmp_path):
    code = (f"import sys; from exporters.tensorrt_build import build_engine; build_engine({str(tiny_onnx)!r}, "
            f"out={str(tmp_path / 'x.engine')!r}, precision='fp32', batch='1,2,4', cache_dir={str(tmp_path)!r}); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"


# ----------------------------------------------------------------------------- options

@pytest.mark.parametrize("batch", ["1,64,64", "8,4,64", "0,1,2", "1,a,64", "1,64", "", "1.5,2,4"])
def test_bad_batch_strings(batch):
    with pytest.raises(HRMError, match="batch"):
        tb.parse_profile(batch)


def test_batch_is_checked_before_anything_is_built(rt, tiny_onnx, tmp_path):
    with pytest.raises(HRMError, match="MIN <= OPT < MAX"):
        tb.build_engine(tiny_onnx, precision="fp32", batch="1,64,64", cache_dir=tmp_path)
    assert not list(tmp_path.iterdir())


def test_profile_parsing():
    assert tb.parse_profile("1, 64, 256") == tb.Profile(1, 64, 256)
    assert tb.parse_profile((2, 2, 8)).to_dict() == {"min": 2, "opt": 2, "max": 8}


def test_precision_rules():
    rtx = SimpleNamespace(BuilderFlag=SimpleNamespace(TF32=1))
    full = SimpleNamespace(BuilderFlag=SimpleNamespace(TF32=1, FP16=2, BF16=3))
    assert tb.onnx_precision_for(rtx, "fp16") == "fp16" and tb.onnx_precision_for(full, "fp16") == "fp32"
    assert tb.precision_flag(rtx, "fp16", "fp16") is None and tb.precision_flag(full, "fp32", "bf16") == "BF16"
    with pytest.raises(HRMError, match="strongly typed"):
        tb.precision_flag(rtx, "fp32", "fp16")
    with pytest.raises(HRMError, match="never more precise"):
        tb.precision_flag(full, "fp16", "fp32")


def test_target_compute_capability():
    members = {m: i for i, m in enumerate(["NONE", "CURRENT", "SM75", "SM80", "SM86", "SM89", "SM120", "SM121"])}
    module = SimpleNamespace(ComputeCapability=SimpleNamespace(__members__=members))
    rtx = trt_info.TensorRT(module, "tensorrt-rtx", "1.7")
    full = trt_info.TensorRT(SimpleNamespace(), "tensorrt", "10.13")
    assert tb.resolve_target(rtx, None, None) == "portable"
    assert tb.resolve_target(rtx, None, (8, 9)) == "sm_89"
    assert tb.resolve_target(rtx, "8.6, sm_120", (9, 0)) == "sm_86,sm_120"
    with pytest.raises(HRMError, match="do not run on this GPU \\(sm_90\\)"):
        tb.resolve_target(rtx, None, (9, 0))
    with pytest.raises(HRMError, match="cannot build for sm_90; choose from sm_75, sm_80"):
        tb.resolve_target(rtx, "sm_90", None)
    assert tb.resolve_target(full, None, (9, 0)) == "sm_90"
    with pytest.raises(ArtefactError, match="no GPU was found"):
        tb.resolve_target(full, None, None)
    with pytest.raises(HRMError, match="only for this GPU"):
        tb.resolve_target(full, "sm_86", (9, 0))


def test_cache_dir_follows_hrm_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("HRM_CACHE_DIR", str(tmp_path))
    assert tb.default_cache_dir() == tmp_path / "engines"
    monkeypatch.delenv("HRM_CACHE_DIR")
    assert tb.default_cache_dir() == Path.home() / ".cache" / "hrm" / "engines"


# ----------------------------------------------------------------------------- the backend's refusals

def copy_engine(engine, dst: Path, data: bytes | None = None, sidecar_of=None) -> Path:
    dst.write_bytes(Path(engine.path).read_bytes() if data is None else data)
    Path(str(dst) + ".json").write_text(Path((sidecar_of or engine).sidecar).read_text())
    return dst


def test_truncated_engine_is_refused(engine, tmp_path):
    plan = Path(engine.path).read_bytes()
    bad = copy_engine(engine, tmp_path / "t.engine", plan[: len(plan) // 2])
    meta = tbe.read_engine_meta(bad)
    with pytest.raises(ArtefactError, match="truncated; rebuild with: hrm export tensorrt"):
        tbe.check_plan(bad, meta)
    assert tbe.check_plan(copy_engine(engine, tmp_path / "ok.engine"), meta) == plan


def test_flipped_byte_in_the_engine_is_refused(engine, tmp_path):
    plan = bytearray(Path(engine.path).read_bytes())
    plan[len(plan) // 2] ^= 0x01  # same size: only the recorded sha256 tells
    bad = copy_engine(engine, tmp_path / "flipped.engine", bytes(plan))
    with pytest.raises(ArtefactError) as info:
        tbe.check_plan(bad, tbe.read_engine_meta(bad))
    message = str(info.value)
    assert message.startswith(f"{bad}: sha256 does not match build.engine_sha256 in flipped.engine.json")
    assert "the file is corrupted" in message and "rebuild with: hrm export tensorrt" in message
    assert "\n" not in message


def test_sidecar_of_another_engine_is_refused(engine, tiny_onnx, cache, tmp_path):
    other = tb.build_engine(tiny_onnx, out=tmp_path / "b.engine", precision="fp32", batch="1,4,16", cache_dir=cache)
    swapped = copy_engine(engine, tmp_path / "swapped.engine", sidecar_of=other)
    with pytest.raises(ArtefactError, match="sidecar belongs to another engine; rebuild with: hrm export tensorrt"):
        tbe.check_plan(swapped, tbe.read_engine_meta(swapped))


def test_engine_of_another_model_is_refused(engine):
    meta = read_sidecar(engine.path)
    specs = [tbe.TensorSpec(t["name"], t["mode"], tuple(t["shape"]), t["dtype"]) for t in engine.io]
    tbe.check_io(specs, meta, "e", "rebuild")
    other = dataclasses.replace(meta, hidden_size=meta.hidden_size * 2)
    with pytest.raises(ArtefactError, match=r"input z_H is float32 \[-1, 82, 64\], its metadata says float32 "
                                            r"\[-1, 82, 128\].*another model.*rebuild"):
        tbe.check_io(specs, other, "e", "rebuild")
    with pytest.raises(ArtefactError, match="not an hrm-sdk segment"):
        tbe.check_io(specs[:-1], meta, "e", "rebuild")


def test_stale_engine_is_refused(rt, tiny_onnx, tmp_path):
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(tiny_onnx.read_bytes())
    Path(str(onnx) + ".json").write_text(Path(str(tiny_onnx) + ".json").read_text())
    r = tb.build_engine(onnx, precision="fp32", batch="1,2,4", cache_dir=tmp_path)
    meta = tbe.read_engine_meta(r.path)
    tbe.check_source(r.path, meta)
    onnx.write_bytes(onnx.read_bytes() + b"\0")  # re-exported since the build
    with pytest.raises(ArtefactError, match=f"engine is stale: rebuild with: hrm export tensorrt {onnx}"):
        tbe.check_source(r.path, meta)


def test_missing_or_foreign_sidecar(engine, tiny_onnx, tmp_path):
    with pytest.raises(ArtefactError, match="no such engine file"):
        tbe.read_engine_meta(tmp_path / "none.engine")
    lone = tmp_path / "lone.engine"
    lone.write_bytes(Path(engine.path).read_bytes())
    with pytest.raises(ArtefactError, match="no sidecar lone.engine.json.*rebuild with"):
        tbe.read_engine_meta(lone)
    Path(str(lone) + ".json").write_text(Path(str(tiny_onnx) + ".json").read_text())  # an ONNX's sidecar
    with pytest.raises(ArtefactError, match="no build facts"):
        tbe.read_engine_meta(lone)


def test_engine_for_another_gpu_or_version_is_refused(engine):
    meta = read_sidecar(engine.path)
    meta.build.update(flavour="tensorrt-rtx", tensorrt_version="1.7.1.116", compute_capability="sm_86")
    rtx = trt_info.TensorRT(None, "tensorrt-rtx", "1.7.1.116")
    tbe.check_compatible("e", meta, rtx, (8, 6))
    with pytest.raises(ArtefactError, match=r"built for sm_86 with TensorRT-RTX 1.7.1.116; this GPU is sm_90 with "
                                            r"TensorRT-RTX 1.7.1.116: TensorRT-RTX does not run on sm_90: install full "
                                            r"TensorRT, then rebuild with: hrm export tensorrt .*\.onnx"):
        tbe.check_compatible("e", meta, rtx, (9, 0))
    with pytest.raises(ArtefactError, match="this GPU is sm_89 with TensorRT-RTX 1.7.1.116: rebuild with"):
        tbe.check_compatible("e", meta, rtx, (8, 9))
    with pytest.raises(ArtefactError, match="with TensorRT 10.13.0; this GPU is sm_86 with TensorRT 10.14.1"):
        meta.build.update(flavour="tensorrt", tensorrt_version="10.13.0")
        tbe.check_compatible("e", meta, trt_info.TensorRT(None, "tensorrt", "10.14.1"), (8, 6))
    meta.build.update(flavour="tensorrt-rtx", tensorrt_version="1.7.1.116", compute_capability="portable")
    for cc in [(8, 0), (8, 6), (8, 9), (12, 0), (12, 1)]:
        tbe.check_compatible("e", meta, rtx, cc)


def test_compute_capability_names():
    assert trt_info.parse_sm("sm_86") == trt_info.parse_sm("8.6") == trt_info.parse_sm("86") == (8, 6)
    assert trt_info.parse_sm("sm_120") == (12, 0) and trt_info.sm_name((12, 0)) == "sm_120"
    with pytest.raises(HRMError):
        trt_info.parse_sm("hopper")


# ----------------------------------------------------------------------------- missing packages

def test_missing_tensorrt_names_the_extra(monkeypatch, tiny_onnx):
    for name in ("tensorrt", "tensorrt_rtx_bindings"):
        monkeypatch.setitem(sys.modules, name, None)  # makes `import name` fail
    for call in (trt_info.load, lambda: tb.build_engine(tiny_onnx), lambda: tbe.TensorRTBackend("x.engine")):
        with pytest.raises(MissingExtraError, match=r"'tensorrt-rtx-cu13-bindings' package: pip install "
                                                    r"'hrm-sdk\[tensorrt-rtx\]'"):
            call()


def test_backend_without_a_usable_gpu(rt, engine):
    """What solvers' 'auto' catches to fall back to ONNX Runtime: ArtefactError or MissingExtraError."""
    with pytest.raises(ArtefactError, match="CUDA GPUs only"):
        tbe.TensorRTBackend(engine.path, device="cpu")
    if trt_info.gpu_compute_capability() is None:
        with pytest.raises((ArtefactError, MissingExtraError)):
            tbe.TensorRTBackend(engine.path)


def test_missing_cuda_python_names_the_package(rt, engine, monkeypatch):
    for name in ("cuda", "cuda.bindings", "cuda.bindings.runtime"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(MissingExtraError, match="'cuda-bindings' package"):
        tbe.TensorRTBackend(engine.path)
