"""Metadata of an exported segment: everything a host needs to drive the ACT loop without torch or the checkpoint.

It is stored twice: in the ONNX file's ``metadata_props`` (key ``hrm_sdk``) and in a sidecar JSON next to the
artefact (``model.onnx.json``, ``model.engine.json``). A TensorRT plan is left untouched (no prefix), so
``trtexec`` and Polygraphy load it as is; its sidecar adds the build facts (ONNX sha256, precision, profile,
TensorRT version, GPU compute capability).

The segment graph's interface (both formats):

    inputs   tokens int32 [B, seq_len], puzzle_ids int32 [B], z_H, z_L [B, positions, hidden], reset bool [B]
    outputs  z_H_out, z_L_out [B, positions, hidden], logits fp32 [B, seq_len, vocab], q_halt, q_continue fp32 [B]

``reset`` marks rows that start a new puzzle: the graph replaces their states with the fixed initial vectors
(also recorded here as ``H_init``/``L_init``), so the states never leave the device between segments.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..errors import ArtefactError

SEGMENT_FORMAT = "hrm-sdk-segment"
SEGMENT_FORMAT_VERSION = 1
METADATA_KEY = "hrm_sdk"
INPUTS = ("tokens", "puzzle_ids", "z_H", "z_L", "reset")
OUTPUTS = ("z_H_out", "z_L_out", "logits", "q_halt", "q_continue")


@dataclass
class SegmentMeta:
    task: str
    arch: str
    vocab_size: int
    seq_len: int
    positions: int
    hidden_size: int
    num_puzzle_ids: int
    halt_max_steps: int
    precision: str  # fp32 | fp16 | bf16 | int8 (int8 MatMul weights, fp32 states: ONNX Runtime on the CPU)
    state_dtype: str  # numpy/torch dtype name of z_H, z_L
    model: dict  # the full ModelConfig
    source_sha256: str  # sha256 of the checkpoint's weights
    H_init: list = field(default_factory=list)
    L_init: list = field(default_factory=list)
    card: dict = field(default_factory=dict)  # selected facts of the model card (task metrics, dataset)
    sdk_version: str = ""
    build: dict = field(default_factory=dict)  # engines: onnx_sha256, profile, tensorrt version, compute capability
    format: str = SEGMENT_FORMAT
    format_version: int = SEGMENT_FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str, source: str) -> "SegmentMeta":
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ArtefactError(f"{source}: corrupted metadata ({exc}); re-export the model") from exc
        if not isinstance(raw, dict) or raw.get("format") != SEGMENT_FORMAT:
            raise ArtefactError(f"{source}: not an hrm-sdk segment (metadata format "
                                f"{raw.get('format') if isinstance(raw, dict) else None!r}); export it with 'hrm export'")
        if raw.get("format_version") != SEGMENT_FORMAT_VERSION:
            raise ArtefactError(f"{source}: segment format version {raw.get('format_version')}, this SDK reads "
                                f"{SEGMENT_FORMAT_VERSION}; re-export the model with this SDK")
        known = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in raw.items() if k in known})
        except TypeError as exc:
            raise ArtefactError(f"{source}: incomplete metadata ({exc}); re-export the model") from exc


def verify_sha256(path: str | Path, meta: SegmentMeta, key: str, what: str, remedy: str, data: bytes | None = None,
                  size_key: str | None = None) -> None:
    """The artefact's bytes (``data``, else the file at ``path``) must have the sha256 (and, with ``size_key``,
    the size) that its sidecar recorded under ``build.<key>`` when it was written: an ONNX graph
    (``onnx_sha256``, checked by the ONNX Runtime backend), a TensorRT plan (``engine_sha256``, by the TensorRT
    backend). ArtefactError, one line naming the file, when the sidecar records none (written by an older
    hrm-sdk: nothing to verify against) or the bytes differ (a flipped byte, a truncated file, a sidecar of
    another ``what``); ``remedy`` says how to rewrite it."""
    import hashlib

    from ..checkpoint import file_sha256

    sidecar = sidecar_path(path).name
    recorded = (meta.build or {}).get(key)
    if not recorded:
        raise ArtefactError(f"{path}: {sidecar} records no build.{key} (written by an older hrm-sdk), so the {what} "
                            f"cannot be verified; {remedy}")
    actual = hashlib.sha256(data).hexdigest() if data is not None else file_sha256(path)
    n = len(data) if data is not None else Path(path).stat().st_size
    size = (meta.build or {}).get(size_key) if size_key else None
    if actual == recorded and (size is None or n == size):
        return
    why = ("the file is truncated" if size is not None and n < size
           else f"the file is corrupted or its sidecar belongs to another {what}")
    recorded_size = f"{size:,} bytes, " if size is not None else ""
    raise ArtefactError(f"{path}: sha256 does not match build.{key} in {sidecar} ({n:,} bytes, sha256 {actual[:12]}; "
                        f"the sidecar records {recorded_size}sha256 {str(recorded)[:12]}): {why}; {remedy}")


def sidecar_path(artefact: str | Path) -> Path:
    p = Path(artefact)
    return p.with_name(p.name + ".json")


def write_sidecar(artefact: str | Path, meta: SegmentMeta) -> Path:
    from ..checkpoint import atomic_write_bytes

    path = sidecar_path(artefact)
    atomic_write_bytes(path, (json.dumps(asdict(meta), indent=1) + "\n").encode())
    return path


def read_sidecar(artefact: str | Path) -> SegmentMeta | None:
    path = sidecar_path(artefact)
    if not path.is_file():
        return None
    return SegmentMeta.from_json(path.read_text(), str(path))


# precision -> the dtype of z_H, z_L; an int8 graph (exporters/onnx_int8.py) quantizes weights only: fp32 states
STATE_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16", "int8": "float32"}
CARD_KEYS = ("task", "step", "eval", "sdk_version", "dataset", "name")


def meta_from_card(config: dict, card: dict, precision: str, H_init: list, L_init: list) -> SegmentMeta:
    """The segment metadata of a model, from its config and card (see checkpoint.py)."""
    from .. import __version__

    task = card.get("task")
    if not task:
        raise ArtefactError("the model card names no task (sudoku, maze or arc); it cannot be exported or solved")
    return SegmentMeta(
        task=task, arch=config["arch"], vocab_size=config["vocab_size"], seq_len=config["seq_len"],
        positions=config["seq_len"] + config["puzzle_emb_len"], hidden_size=config["hidden_size"],
        num_puzzle_ids=config["num_puzzle_ids"], halt_max_steps=config["halt_max_steps"], precision=precision,
        state_dtype=STATE_DTYPES[precision], model=dict(config), source_sha256=card.get("weights_sha256", ""),
        H_init=[float(v) for v in H_init], L_init=[float(v) for v in L_init],
        card={k: card[k] for k in CARD_KEYS if k in card}, sdk_version=__version__)
