"""Model files: safetensors weights plus a JSON card, written atomically and checked on load.

A model directory holds::

    model.json          {"format": "hrm-sdk-model", "model": ModelConfig, "task": ..., "weights_sha256": ..., ...}
    model.safetensors   parameters and buffers (puzzle-embedding table, H_init, L_init)

``load_model`` accepts the directory, either file, and refuses (with ``CheckpointError``) files that are
missing, truncated, corrupted (sha256), or shaped for another architecture, naming the first offending key.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

from .errors import CheckpointError, clip

log = logging.getLogger(__name__)

FORMAT = "hrm-sdk-model"
FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
CARD = "model.json"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sha256_bytes(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def model_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """(model.json, model.safetensors) for a directory or either file."""
    p = Path(path)
    if not p.exists() and p.suffix not in (".json", ".safetensors"):
        raise CheckpointError(f"{p}: no such model (expected a directory with {CARD} and {WEIGHTS})")
    if p.is_dir():
        return p / CARD, p / WEIGHTS
    if p.suffix == ".json":
        return p, p.with_suffix(".safetensors")
    if p.suffix == ".safetensors":
        return p.with_suffix(".json"), p
    raise CheckpointError(f"{p}: expected a model directory, a .safetensors file or its .json card")


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file, read in 1 MiB blocks."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_card(path: str | os.PathLike) -> dict:
    """The model card (``model.json``) of a model; CheckpointError naming the file and the first thing wrong."""
    card_path, _ = model_paths(path)
    if not card_path.is_file():
        raise CheckpointError(f"{card_path}: no model metadata ({CARD}); a model is a directory with {CARD} and "
                              f"{WEIGHTS}")
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError, ValueError) as exc:
        raise CheckpointError(f"{card_path}: corrupted model metadata ({str(exc)[:120]})") from None
    except OSError as exc:
        raise CheckpointError(f"{card_path}: cannot read the model metadata ({exc.strerror})") from None
    if not isinstance(card, dict):
        raise CheckpointError(f"{card_path}: not hrm-sdk model metadata (a JSON object expected)")
    if "format" not in card:
        raise CheckpointError(f"{card_path}: model metadata has no 'format' key (expected {FORMAT!r})")
    if card["format"] != FORMAT:
        raise CheckpointError(f"{card_path}: not hrm-sdk model metadata (format {clip(card['format'])}, "
                              f"expected {FORMAT!r})")
    if "model" not in card:
        raise CheckpointError(f"{card_path}: model metadata has no 'model' key (the model config)")
    if not isinstance(card["model"], dict):
        raise CheckpointError(f"{card_path}: model metadata's 'model' must be an object, got {clip(card['model'])}")
    return card


def card_config(card: dict, card_path: str | os.PathLike):
    """The card's ``ModelConfig`` (checked field by field, without torch); CheckpointError naming the key."""
    from .errors import ConfigError
    from .model_config import ModelConfig

    try:
        return ModelConfig.from_dict(card["model"], where=f"{card_path}: model")
    except (ConfigError, TypeError) as exc:
        raise CheckpointError(f"{card_path}: invalid model config ({exc})") from None


def verify_model_dir(path: str | os.PathLike) -> dict:
    """Check a model directory's card and weights without loading them (no torch): the card reads and its
    config is valid, ``model.safetensors`` exists and matches the card's ``weights_sha256``. A directory is
    used all or nothing: the runtime calls this before running any artefact in it. -> the card."""
    card_path, weights_path = model_paths(path)
    card = read_card(path)
    card_config(card, card_path)
    expected = card.get("weights_sha256")
    if not expected:
        raise CheckpointError(f"{card_path}: no weights_sha256, so {weights_path.name} cannot be verified; "
                              "re-save the model with this SDK")
    if not weights_path.is_file():
        raise CheckpointError(f"{weights_path}: missing (the card {card_path.name} names it)")
    if file_sha256(weights_path) != expected:
        raise CheckpointError(f"{weights_path}: sha256 does not match {card_path.name} (truncated or corrupted "
                              "file); restore or re-export the model")
    return card


def save_model(directory: str | os.PathLike, model, card: dict | None = None, state_dict: dict | None = None,
               dtype=None, keep_fp32: tuple = ()) -> Path:
    """Save weights and card; `state_dict` overrides the model's (e.g. EMA weights), `dtype` casts floats except
    the tensors named in `keep_fp32`."""
    import torch
    from safetensors.torch import save

    directory = Path(directory)
    state = state_dict if state_dict is not None else model.state_dict()
    tensors = {}
    for k, v in state.items():
        v = v.detach().cpu()
        if dtype is not None and v.is_floating_point() and k not in keep_fp32:
            v = v.to(dtype)
        tensors[k] = v.contiguous()
    data = save(tensors)
    full_card = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": model.config.to_dict(),
        "weights": WEIGHTS,
        "weights_sha256": sha256_bytes(data),
        "dtype": str(dtype or torch.float32).removeprefix("torch."),
        "num_params": model.num_params(),
        **(card or {}),
    }
    atomic_write_bytes(directory / WEIGHTS, data)
    atomic_write_bytes(directory / CARD, (json.dumps(full_card, indent=2) + "\n").encode())
    return directory


def load_state(path: str | os.PathLike, card: dict | None = None) -> dict:
    """Read and verify the weights of a model; -> state dict of CPU tensors."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    card_path, weights_path = model_paths(path)
    card = card or read_card(path)
    try:
        data = weights_path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"{weights_path}: cannot read weights ({exc.strerror})") from exc
    expected = card.get("weights_sha256")
    if not expected:  # a card written by save_model always has it: without it nothing is verified
        raise CheckpointError(f"{card_path}: no weights_sha256, so {weights_path.name} cannot be verified; "
                              "re-save the model with this SDK")
    if sha256_bytes(data) != expected:
        raise CheckpointError(f"{weights_path}: sha256 does not match {card_path.name} (truncated or corrupted file); "
                              "restore or re-export the model")
    try:
        return load(data)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{weights_path}: corrupted safetensors file ({exc})") from exc


def check_compatible(model, state: dict, source: str) -> None:
    """Raise CheckpointError naming the first missing, unexpected or mis-shaped key."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        raise CheckpointError(f"{source}: weights do not fit this architecture: {', '.join(parts)} keys")
    for k, v in expected.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise CheckpointError(f"{source}: weight {k} has shape {list(state[k].shape)}, "
                                  f"the model config needs {list(v.shape)}")


def load_model(path: str | os.PathLike, device="cpu", dtype=None):
    """-> (model in eval mode, card). Weights are loaded into an fp32 model unless `dtype` is given."""
    import torch

    from .model import HRM

    card = read_card(path)
    card_path, weights_path = model_paths(path)
    config = card_config(card, card_path)
    state = load_state(path, card)
    model = HRM(config)
    check_compatible(model, state, str(weights_path))
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    model.to(device=device, dtype=dtype or torch.float32).eval()
    return model, card


def remove_stale_tmp(ckpt_dir: str | os.PathLike) -> list[Path]:
    """Delete the ``.tmp-step_N`` folders a killed checkpoint write left in ``ckpt_dir``; -> those removed."""
    import shutil

    ckpt_dir = Path(ckpt_dir)
    stale = sorted(p for p in ckpt_dir.glob(".tmp-*") if p.is_dir()) if ckpt_dir.is_dir() else []
    for p in stale:
        shutil.rmtree(p, ignore_errors=True)
    if stale:
        log.warning("removed %d unfinished checkpoint folder(s) left by an interrupted write: %s",
                    len(stale), ", ".join(p.name for p in stale))
    return stale


OPTIMIZER_KEYS = ("step", "optimizer", "stream", "explore_gen")


def load_optimizer_state(path: str | os.PathLike) -> dict:
    """The trainer's ``optimizer.pt`` (tensors and plain containers only: ``weights_only``); CheckpointError in
    one line for a file that is missing, is not such a state (a pickle with code in it included) or lacks a key."""
    import torch

    path = Path(path)
    try:
        extra = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing; the checkpoint is incomplete") from None
    except Exception as exc:  # noqa: BLE001 - an unpickling refusal, a truncated zip, a foreign format
        first = (str(exc).strip().splitlines() or [""])[0][:120]
        raise CheckpointError(f"{path}: refused, not an optimiser state written by hrm-sdk "
                              f"({type(exc).__name__}: {first})") from None
    missing = [k for k in OPTIMIZER_KEYS if not isinstance(extra, dict) or k not in extra]
    if missing:
        raise CheckpointError(f"{path}: not an optimiser state written by hrm-sdk (no {missing[0]!r} entry)")
    return extra
