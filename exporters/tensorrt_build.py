"""Build a TensorRT engine from the ONNX segment: one dynamic-batch profile, cached by what determines the plan.

    hrm export tensorrt runs/sudoku/checkpoints/step_010000                  # fp16, batch 1,64,256
    hrm export tensorrt model.onnx --precision fp32 --batch 1,8,64 --workspace 2

    from hrm_sdk.exporters.tensorrt_build import build_engine
    result = build_engine("model.onnx", precision="fp32", batch="1,8,64")   # -> EngineResult

Writes a plain plan (no metadata prefix, so trtexec, tensorrt_rtx and Polygraphy load it) and a sidecar
``<engine>.json``: the ONNX's SegmentMeta with ``build`` filled in (ONNX sha256, precision, profile, TensorRT
flavour and version, target compute capability, the plan's sha256 and size, the IO tensors).

- Model: a checkpoint directory is exported to ONNX first, at the precision the installed TensorRT needs
  (fp32 plus a precision flag where the flavour has one, else the engine's precision: TensorRT-RTX is strongly
  typed); an existing ONNX of the same weights beside the checkpoint is reused, else the export goes into the
  engine cache's folder (never into the model's). An ``.onnx`` is used as is.
- Precision is never lowered or raised silently: an fp16 engine needs an fp16 ONNX under TensorRT-RTX.
- Target GPU: full TensorRT builds for the local GPU. TensorRT-RTX builds on a CPU-only machine: for the local
  GPU when there is one, else a portable engine (sm_80, 86, 89, 120+); ``target="sm_89"`` (or a comma list, or
  "portable") chooses. See hrm_sdk/runtime/trt.py for what TensorRT-RTX supports.
- Cache: ``$HRM_CACHE_DIR/engines`` (default ``~/.cache/hrm/engines``) keyed by sha256 of (ONNX sha256,
  precision, profile, flavour and version, target); a hit links or copies the plan and skips the build.
- Timing cache (full TensorRT only; a no-op in TensorRT-RTX, so not used there): loaded with
  ``ignore_mismatch=False`` and saved after each build, beside the engine cache unless ``timing_cache`` is given.
- Progress: TensorRT's IProgressMonitor drives a Rich bar on a terminal, log lines otherwise; Ctrl-C cancels.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from hrm_sdk.errors import ArtefactError, HRMError
from hrm_sdk.runtime import trt as trt_info
from hrm_sdk.runtime.artefact import METADATA_KEY, SegmentMeta, read_sidecar, write_sidecar
from hrm_sdk.runtime.engine_io import check_io, network_io, sha256_file

log = logging.getLogger(__name__)
PRECISIONS = ("fp32", "fp16", "bf16")
FLAGS = {"fp16": "FP16", "bf16": "BF16"}  # BuilderFlag names in full TensorRT 10 (weak typing)


@dataclass(frozen=True)
class Profile:
    min: int
    opt: int
    max: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class EngineResult:
    path: str
    sidecar: str
    precision: str
    profile: dict  # {"min", "opt", "max"} over the batch axis
    cached: bool  # True: the plan came from the engine cache, nothing was built
    seconds: float
    size_mb: float
    io: list  # [{"name", "mode", "shape", "dtype"}] of the engine's tensors, batch as -1
    target: str = ""  # compute capability the plan runs on ("sm_86", "portable", ...)
    tensorrt: str = ""  # "TensorRT-RTX 1.7.1.116"
    next_command: str = ""


def parse_profile(batch: str | int | Sequence[int]) -> Profile:
    """'MIN,OPT,MAX' (or a sequence of three ints) -> Profile, with 1 <= MIN <= OPT < MAX."""
    if isinstance(batch, str):
        parts = [p.strip() for p in batch.split(",")]
    else:
        parts = list(batch) if isinstance(batch, Sequence) else [batch]
    if len(parts) != 3:
        raise HRMError(f"batch must be MIN,OPT,MAX (e.g. 1,64,256), got {batch!r}")
    try:
        lo, opt, hi = (int(p) for p in parts)
    except (TypeError, ValueError):
        raise HRMError(f"batch must be three integers MIN,OPT,MAX (e.g. 1,64,256), got {batch!r}") from None
    if not 1 <= lo <= opt < hi:
        raise HRMError(f"batch {lo},{opt},{hi} must satisfy 1 <= MIN <= OPT < MAX (OPT is the size tuned for, "
                       "MAX the largest accepted; they must differ)")
    return Profile(lo, opt, hi)


def default_cache_dir() -> Path:
    return trt_info.cache_root() / "engines"


def onnx_precision_for(trt, precision: str) -> str:
    """The ONNX precision to export for an engine of `precision`: fp32 where a builder flag can lower it."""
    flag = FLAGS.get(precision)
    return "fp32" if flag and hasattr(trt.BuilderFlag, flag) else precision


def precision_flag(trt, onnx_precision: str, precision: str) -> str | None:
    """The BuilderFlag to set (None: strongly typed, precision from the graph), or HRMError when impossible."""
    if onnx_precision == precision:
        return None
    flag = FLAGS.get(precision)
    if onnx_precision == "fp32" and flag and hasattr(trt.BuilderFlag, flag):
        return flag
    why = ("this TensorRT builds strongly typed networks only (no precision flags)" if onnx_precision == "fp32"
           else "an engine is never more precise than its graph")
    raise HRMError(f"an {precision} engine cannot be built from an {onnx_precision} ONNX: {why}; export the graph "
                   f"at {precision} first: hrm export onnx MODEL --precision {precision}")


def resolve_target(rt: trt_info.TensorRT, target: str | None, local: tuple[int, int] | None) -> str:
    """The compute capability to build for: 'sm_86', 'sm_86,sm_120' or 'portable' (TensorRT-RTX only)."""
    if rt.flavour == "tensorrt":
        if local is None:
            raise ArtefactError("full TensorRT builds for the GPU it runs on and no GPU was found (asked cuda-python "
                                "and nvidia-smi); build on the machine that will run the engine")
        if target not in (None, trt_info.sm_name(local)) and (target == trt_info.PORTABLE or
                                                             trt_info.parse_sm(target) != local):
            raise HRMError(f"full TensorRT builds only for this GPU ({trt_info.sm_name(local)}), not {target}; "
                           "build on the target GPU, or with TensorRT-RTX")
        return trt_info.sm_name(local)
    if target is None:
        if local is None:
            return trt_info.PORTABLE
        if not trt_info.runs_on(trt_info.PORTABLE, local, rt.flavour):
            raise HRMError(f"TensorRT-RTX engines do not run on this GPU ({trt_info.sm_name(local)}); choose the GPU "
                           "to build for (target='sm_89', or 'portable'), or install full TensorRT")
        target = trt_info.sm_name(local)
    if target == trt_info.PORTABLE:
        return target
    sms = [trt_info.sm_name(trt_info.parse_sm(t)) for t in target.split(",")]
    valid = [m.lower().replace("sm", "sm_") for m in rt.module.ComputeCapability.__members__ if m.startswith("SM")]
    bad = [s for s in sms if s not in valid]
    if bad:
        raise HRMError(f"{rt.describe()} cannot build for {bad[0]}; choose from {', '.join(valid)} or 'portable'")
    return ",".join(sms)


def cache_key(onnx_sha256: str, precision: str, profile: Profile, rt: trt_info.TensorRT, target: str) -> str:
    facts = {"onnx_sha256": onnx_sha256, "precision": precision, "profile": profile.to_dict(),
             "tensorrt": f"{rt.flavour} {rt.version}", "compute_capability": target}
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()


# ----------------------------------------------------------------------------- the ONNX to build from

def _embedded_meta(path: Path) -> SegmentMeta | None:
    try:
        import onnx
    except ImportError:
        return None
    proto = onnx.load(str(path), load_external_data=False)
    text = next((p.value for p in proto.metadata_props if p.key == METADATA_KEY), None)
    return SegmentMeta.from_json(text, str(path)) if text else None


def resolve_onnx(model: str | Path, precision: str, trt, work_dir: Path) -> tuple[Path, SegmentMeta]:
    """The ONNX segment and its metadata; a checkpoint's existing export of the same weights is reused, else the
    checkpoint is exported into ``work_dir`` (never into the model's own folder)."""
    p = Path(model)
    if p.suffix == ".engine":
        raise HRMError(f"{p} is already an engine; build from the checkpoint or its .onnx")
    if p.suffix == ".onnx":
        if not p.is_file():
            raise ArtefactError(f"{p}: no such ONNX file; export one with: hrm export onnx MODEL")
        meta = read_sidecar(p) or _embedded_meta(p)
        if meta is None:
            raise ArtefactError(f"{p}: no hrm-sdk metadata (no {p.name}.json, none embedded); "
                                "export the model with: hrm export onnx MODEL")
        return p, meta
    from hrm_sdk.checkpoint import model_paths, read_card

    from .onnx_export import default_onnx_path, export_onnx

    onnx_precision = onnx_precision_for(trt, precision)
    card_path, _ = model_paths(p)
    onnx = default_onnx_path(card_path.parent, onnx_precision)
    weights_sha = read_card(p).get("weights_sha256") or ""
    meta = read_sidecar(onnx) if onnx.is_file() else None
    if meta and meta.source_sha256 and meta.source_sha256 == weights_sha:
        log.info("using %s, the %s export of these weights", onnx, onnx_precision)
        return onnx, meta
    onnx = Path(work_dir) / f"onnx-{weights_sha[:16]}-{onnx_precision}" / "model.onnx"
    onnx.parent.mkdir(parents=True, exist_ok=True)
    export_onnx(p, out=onnx, precision=onnx_precision)
    return onnx, read_sidecar(onnx)


# ----------------------------------------------------------------------------- progress

def progress_monitor(trt, tty: bool | None = None):
    """An IProgressMonitor showing build phases (Rich bars on a terminal, else log lines); None if unsupported."""
    base = getattr(trt, "IProgressMonitor", None)
    if base is None:
        return None
    tty = sys.stderr.isatty() if tty is None else tty

    class Monitor(base):
        def __init__(self) -> None:
            base.__init__(self)
            self.lock = threading.Lock()  # TensorRT may call from several threads
            self.cancelled = False
            self.depth: dict[str, int] = {}
            self.tasks: dict[str, int] = {}
            self.progress = None
            if tty:
                from rich.console import Console
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

                self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                         TimeElapsedColumn(), console=Console(stderr=True), transient=True)

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            with self.lock:
                depth = self.depth[phase_name] = self.depth.get(parent_phase, -1) + 1 if parent_phase else 0
                if self.progress is not None:
                    self.tasks[phase_name] = self.progress.add_task("  " * depth + phase_name, total=num_steps)
                elif depth <= 1:
                    log.info("TensorRT: %s (%d steps)", phase_name, num_steps)

        def step_complete(self, phase_name: str, step: int) -> bool:
            with self.lock:
                if phase_name in self.tasks:
                    self.progress.update(self.tasks[phase_name], completed=step + 1)
            return not self.cancelled  # False makes TensorRT stop the build

        def phase_finish(self, phase_name: str) -> None:
            with self.lock:
                task = self.tasks.pop(phase_name, None)
                if task is not None:
                    self.progress.remove_task(task)

        def __enter__(self):
            if self.progress is not None:
                self.progress.start()
            return self

        def __exit__(self, *exc) -> None:
            if self.progress is not None:
                self.progress.stop()

    return Monitor()


class _CancelOnInterrupt:
    """Ctrl-C during a build asks TensorRT to stop at the next step instead of killing the process mid-build."""

    def __init__(self, monitor) -> None:
        self.monitor, self.previous = monitor, None

    def __enter__(self):
        if self.monitor is not None and threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.monitor.cancelled = True

    def __exit__(self, *exc) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


# ----------------------------------------------------------------------------- the build

def _timing_cache(config, path: Path):
    data = path.read_bytes() if path.is_file() else b""
    cache = config.create_timing_cache(data)
    if not config.set_timing_cache(cache, ignore_mismatch=False):
        log.warning("timing cache %s is from another GPU or TensorRT version; starting a new one", path)
        cache = config.create_timing_cache(b"")
        config.set_timing_cache(cache, ignore_mismatch=False)
    return cache


def _parse(rt: trt_info.TensorRT, builder, logger, onnx: Path, strongly_typed: bool):
    trt = rt.module
    flags = 0
    if strongly_typed and hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED"):
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx)):
        errors = []
        for i in range(parser.num_errors):
            e = parser.get_error(i)
            where = f"node {e.node()} ({e.node_operator()} {e.node_name()})" if e.node() >= 0 else "graph"
            errors.append(f"{i + 1}) {where}: {e.desc()}")
            log.error("ONNX parser error %s", errors[-1])
        raise ArtefactError(f"{onnx}: {rt.describe()} cannot parse the graph ({parser.num_errors} errors: "
                            f"{'; '.join(errors)}); re-export it with: hrm export onnx MODEL")
    return network, parser


def _build_plan(rt: trt_info.TensorRT, onnx: Path, meta: SegmentMeta, flag: str | None, profile: Profile,
                workspace: float, target: str, timing_cache: Path | None) -> tuple[bytes, list]:
    trt = rt.module
    logger = trt_info.make_logger(rt)
    builder = trt.Builder(logger)
    network, _parser = _parse(rt, builder, logger, onnx, strongly_typed=flag is None)
    io = network_io(network)
    check_io(io, meta, str(onnx), "re-export it with: hrm export onnx MODEL")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace * (1 << 30)))
    if flag is not None:
        if flag == "FP16" and not getattr(builder, "platform_has_fast_fp16", True):
            raise HRMError("this GPU has no fast fp16; build an fp32 engine (--precision fp32)")
        config.set_flag(getattr(trt.BuilderFlag, flag))
    if target != trt_info.PORTABLE:
        sms = target.split(",")
        config.num_compute_capabilities = len(sms)
        for i, sm in enumerate(sms):
            if not config.set_compute_capability(getattr(trt.ComputeCapability, sm.replace("sm_", "SM")), i):
                raise HRMError(f"{rt.describe()} refused target {sm}: {logger.last_error()}")
    opt_profile = builder.create_optimization_profile()
    for spec in io:
        if spec.mode == "input":
            rest = spec.shape[1:]
            opt_profile.set_shape(spec.name, (profile.min, *rest), (profile.opt, *rest), (profile.max, *rest))
    config.add_optimization_profile(opt_profile)
    cache = _timing_cache(config, timing_cache) if timing_cache is not None else None
    monitor = progress_monitor(trt)
    if monitor is not None:
        config.progress_monitor = monitor
    with monitor if monitor is not None else contextlib.nullcontext(), _CancelOnInterrupt(monitor):
        plan = builder.build_serialized_network(network, config)
    if monitor is not None and monitor.cancelled:
        raise KeyboardInterrupt
    if plan is None or plan.nbytes == 0:
        raise ArtefactError(f"{onnx}: {rt.describe()} could not build the engine ({logger.last_error()})")
    if cache is not None:
        _write(timing_cache, memoryview(config.get_timing_cache().serialize()))
    return bytes(memoryview(plan)), io


def _write(path: Path, data) -> None:
    from hrm_sdk.checkpoint import atomic_write_bytes

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, bytes(data))


def _place(src: Path, dst: Path) -> None:
    """Put the cached plan at dst: a hard link where the filesystem allows, else a copy; atomically."""
    if dst.exists() and dst.samefile(src):
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def _cached(plan: Path, key: str) -> SegmentMeta | None:
    """The sidecar of a usable cache entry, or None (missing, or the plan does not match it)."""
    meta = read_sidecar(plan) if plan.is_file() else None
    if meta is None or meta.build.get("cache_key") != key:
        return None
    if plan.stat().st_size != meta.build.get("engine_bytes") or sha256_file(plan) != meta.build.get("engine_sha256"):
        log.warning("engine cache entry %s is damaged; rebuilding it", plan)
        return None
    return meta


def build_engine(model: str | Path, out: str | Path | None = None, precision: str = "fp16",
                 batch: str | Sequence[int] = "1,64,256", workspace: float = 4.0,
                 timing_cache: str | Path | None = None, cache_dir: str | Path | None = None,
                 target: str | None = None) -> EngineResult:
    """Build (or fetch from the cache) the engine of `model`, a checkpoint directory or an exported .onnx."""
    t0 = time.perf_counter()
    rt = trt_info.load()
    if precision not in PRECISIONS:
        raise HRMError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    profile = parse_profile(batch)
    if not workspace > 0:
        raise HRMError(f"workspace is the builder's scratch memory in GiB and must be > 0, got {workspace}")
    target = resolve_target(rt, target, trt_info.gpu_compute_capability())
    cache_dir = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    onnx, onnx_meta = resolve_onnx(model, precision, rt.module, cache_dir)
    flag = precision_flag(rt.module, onnx_meta.precision, precision)
    onnx_sha = sha256_file(onnx)
    key = cache_key(onnx_sha, precision, profile, rt, target)
    cached_plan = cache_dir / f"{key}.engine"
    if not out:  # beside an .onnx given as the model; a checkpoint's engine goes to the current directory
        out = Path(model).with_name(f"model.{precision}.engine") if Path(model).suffix == ".onnx" \
            else Path(f"{Path(model).name}.{precision}.engine")
    out = Path(out)

    meta = _cached(cached_plan, key)
    hit = meta is not None
    if hit:
        log.info("engine cache hit %s", cached_plan)
    else:
        if rt.flavour == "tensorrt-rtx":
            if timing_cache is not None:
                log.warning("TensorRT-RTX has no timing cache (a no-op since 1.2); %s is not used", timing_cache)
            timing_cache = None
        else:
            timing_cache = Path(timing_cache) if timing_cache else cache_dir / f"timing-{rt.version}-{target}.cache"
        log.info("building an %s engine from %s with %s for %s, batch %d..%d (opt %d)", precision, onnx,
                 rt.describe(), target, profile.min, profile.max, profile.opt)
        t_build = time.perf_counter()
        plan, io = _build_plan(rt, onnx, onnx_meta, flag, profile, workspace, target, timing_cache)
        build = {"onnx": str(onnx.resolve()), "onnx_sha256": onnx_sha, "precision": precision,
                 "profile": profile.to_dict(), "flavour": rt.flavour, "tensorrt_version": rt.version,
                 "compute_capability": target, "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                 "cache_key": key, "engine_sha256": hashlib.sha256(plan).hexdigest(), "engine_bytes": len(plan),
                 "workspace_gib": workspace, "build_seconds": round(time.perf_counter() - t_build, 2),
                 "io": [dict(asdict(s), shape=list(s.shape)) for s in io]}
        meta = dataclasses.replace(onnx_meta, build=build)
        _write(cached_plan, plan)
        write_sidecar(cached_plan, meta)
    meta.build["onnx"] = str(onnx.resolve())  # a cache entry may have been built from an identical copy
    _place(cached_plan, out)
    sidecar = write_sidecar(out, meta)
    result = EngineResult(path=str(out), sidecar=str(sidecar), precision=precision, profile=profile.to_dict(),
                          cached=hit, seconds=round(time.perf_counter() - t0, 2),
                          size_mb=round(out.stat().st_size / 1e6, 2), io=meta.build["io"], target=target,
                          tensorrt=rt.describe(), next_command=f"hrm verify {out}")
    log.info("%s %s (%.1f MB, %s, %s, batch %d..%d) and %s in %.1fs; next: %s",
             "linked cached engine to" if hit else "wrote", out, result.size_mb, precision, target,
             profile.min, profile.max, sidecar.name, result.seconds, result.next_command)
    return result
