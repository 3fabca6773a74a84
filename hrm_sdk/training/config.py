"""Training configuration: typed dataclasses loaded from a TOML file with strict validation.

A config file has four sections (see ``configs/*.toml``)::

    [run]    name, out_dir, seed
    [data]   path (a directory built by ``hrm data build``)
    [model]  any ModelConfig field; vocab_size/seq_len/num_puzzle_ids default to the dataset's
    [train]  batch, steps, optimiser, schedule, loss, EMA, compile, logging, evaluation and checkpoint cadence

Unknown keys, wrong types and impossible values raise ``ConfigError`` naming the file and the key.
``overrides`` (``section.key=value`` strings, values in TOML syntax) let the CLI change single values.
"""

from __future__ import annotations

import tomllib
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..errors import ConfigError, clip
from ..model_config import ModelConfig


@dataclass
class RunConfig:
    name: str = "run"
    out_dir: str = "runs/run"  # checkpoints, metrics.jsonl and the resolved config go here
    seed: int = 0
    init_from: str = ""  # warm start from a model or checkpoint directory (weights, EMA and step; fresh optimiser)


@dataclass
class DataConfig:
    path: str = ""  # dataset directory with train/ and test/ splits
    train_split: str = "train"
    eval_split: str = "test"


@dataclass
class TrainConfig:
    global_batch_size: int = 768  # rows in flight across all ranks
    steps: int = 10_000  # optimiser steps; one per ACT segment (deep supervision)
    optimizer: str = "adam_atan2"  # "adam_atan2" | "adamw" | "muon" (block matrices; AdamATan2 for the rest)
    muon_lr: float = 0.02  # Muon's rate (follows the same warm-up and decay as lr)
    muon_momentum: float = 0.95
    muon_weight_decay: float = 0.01  # decoupled, times muon_lr (weight_decay is the Adam part's)
    muon_adjust_lr: str = "original"  # torch.optim.Muon's adjust_lr_fn: "original" | "match_rms_adamw"
    lr: float = 1e-4
    lr_min_ratio: float = 1.0  # 1.0 = constant after warm-up; < 1 = cosine decay to lr * ratio
    lr_warmup_steps: int = 2000
    lr_cycle_start: int = 0  # step where warm-up and decay start: a new cycle for a run warm-started mid-way
    beta1: float = 0.9
    beta2: float = 0.95
    weight_decay: float = 0.1
    puzzle_emb_lr: float = 1e-2  # sign-SGD on the puzzle-embedding rows a batch touches
    puzzle_emb_lr_decay: bool = True  # false: the embeddings' rate warms up but does not follow the cosine
    puzzle_emb_weight_decay: float = 0.1
    grad_clip: float = 0.0  # max global grad norm; 0 = off
    loss: str = "stablemax"  # "stablemax" | "softmax" cross-entropy
    ema: bool = True  # evaluate and export an exponential moving average of the weights
    ema_rate: float = 0.999
    compile: bool = False  # torch.compile the segment (CUDA only)
    bf16: bool = True  # bf16 autocast (CUDA only)
    log_interval: int = 50
    eval_interval: int = 1000  # 0 = only at the end
    eval_limit: int = 1000  # test examples per periodic evaluation; 0 = the whole split
    eval_batch_size: int = 0  # 0 = global_batch_size
    checkpoint_interval: int = 1000
    keep_checkpoints: int = 3


@dataclass
class Config:
    run: RunConfig = field(default_factory=RunConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: dict = field(default_factory=dict)  # ModelConfig fields; completed from the dataset by the trainer
    train: TrainConfig = field(default_factory=TrainConfig)
    source: str = "<config>"

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("source")
        return d

    def model_config(self, vocab_size: int, seq_len: int, num_puzzle_ids: int) -> ModelConfig:
        """The model config with dataset-derived sizes filled in; mismatches name both values."""
        values = dict(self.model)
        for key, actual in (("vocab_size", vocab_size), ("seq_len", seq_len), ("num_puzzle_ids", num_puzzle_ids)):
            given = values.setdefault(key, actual)
            if given != actual:
                raise ConfigError(f"{self.source}: model.{key} = {given} but the dataset at {self.data.path} "
                                  f"has {key} = {actual}")
        return ModelConfig.from_dict(values, where=f"{self.source} [model]")


SECTIONS = {"run": RunConfig, "data": DataConfig, "train": TrainConfig}


def config_changes(before: dict, after: dict) -> list[str]:
    """``section.key: old -> new`` for every value that differs between two ``Config.to_dict()`` results."""
    changes = []
    for section in sorted(set(before) | set(after)):
        old, new = before.get(section) or {}, after.get(section) or {}
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                changes.append(f"{section}.{key}: {old.get(key)!r} -> {new.get(key)!r}")
    return changes


def _check_type(value, annotation, where: str):
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(annotation):
            try:
                return _check_type(value, option, where)
            except ConfigError:
                pass
        raise ConfigError(f"{where}: expected {annotation}, got {clip(value)}")
    if annotation is type(None):
        if value is None:
            return None
        raise ConfigError(f"{where}: expected nothing, got {clip(value)}")
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation in (int, float, str, bool):
        if isinstance(value, annotation) and not (annotation is int and isinstance(value, bool)):
            return value
        raise ConfigError(f"{where}: expected {annotation.__name__}, got {type(value).__name__} {clip(value)}")
    return value


def _build_section(cls, values: dict, source: str, name: str):
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: [{name}] must be a table, got {clip(values)}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"{source}: [{name}] unknown key {clip(unknown[0])}; known keys: {', '.join(sorted(known))}")
    return cls(**{k: _check_type(v, hints[k], f"{source}: {name}.{k}") for k, v in values.items()})


def _validate(cfg: Config) -> None:
    t, src = cfg.train, cfg.source
    checks = [  # (test, message): each test runs only when those before it passed, so none can divide by zero
        (lambda: t.global_batch_size >= 1, "train.global_batch_size must be >= 1"),
        (lambda: t.steps >= 1, "train.steps must be >= 1"),
        (lambda: t.optimizer in ("adam_atan2", "adamw", "muon"),
         f"train.optimizer must be 'adam_atan2', 'adamw' or 'muon', got {clip(t.optimizer)}"),
        (lambda: t.muon_adjust_lr in ("original", "match_rms_adamw"),
         f"train.muon_adjust_lr must be 'original' or 'match_rms_adamw', got {clip(t.muon_adjust_lr)}"),
        (lambda: t.muon_lr > 0 and 0 <= t.muon_momentum < 1 and t.muon_weight_decay >= 0,
         "train.muon_lr must be > 0, muon_momentum in [0, 1) and muon_weight_decay >= 0"),
        (lambda: t.loss in ("stablemax", "softmax"), f"train.loss must be 'stablemax' or 'softmax', got {clip(t.loss)}"),
        (lambda: t.lr > 0, "train.lr must be > 0"),
        (lambda: 0 <= t.lr_min_ratio <= 1, "train.lr_min_ratio must be in [0, 1]"),
        (lambda: t.lr_warmup_steps >= 0, "train.lr_warmup_steps must be >= 0"),
        (lambda: 0 <= t.lr_cycle_start < t.steps,
         f"train.lr_cycle_start must be in [0, train.steps), got {t.lr_cycle_start}"),
        (lambda: 0 <= t.beta1 < 1 and 0 <= t.beta2 < 1, "train.beta1/beta2 must be in [0, 1)"),
        (lambda: 0 < t.ema_rate < 1, "train.ema_rate must be in (0, 1)"),
        (lambda: t.log_interval >= 1, f"train.log_interval must be >= 1, got {t.log_interval}"),
        (lambda: t.checkpoint_interval >= 1, f"train.checkpoint_interval must be >= 1, got {t.checkpoint_interval}"),
        (lambda: t.keep_checkpoints >= 1, "train.keep_checkpoints must be >= 1"),
        (lambda: t.checkpoint_interval % t.log_interval == 0,
         f"train.checkpoint_interval ({t.checkpoint_interval}) must be a multiple of train.log_interval "
         f"({t.log_interval}) so a resumed run continues the same metrics stream"),
        (lambda: min(t.eval_interval, t.eval_limit, t.eval_batch_size) >= 0, "train.eval_* values must be >= 0"),
        (lambda: t.grad_clip >= 0 and t.weight_decay >= 0 and t.puzzle_emb_lr >= 0
         and t.puzzle_emb_weight_decay >= 0, "train.grad_clip, weight_decay and puzzle_emb_* must be >= 0"),
        (lambda: bool(cfg.data.path), "data.path is required (a directory built by 'hrm data build')"),
    ]
    for ok, message in checks:
        if not ok():
            raise ConfigError(f"{src}: {message}")
    known_model = {f.name for f in fields(ModelConfig)}
    unknown = sorted(set(cfg.model) - known_model)
    if unknown:
        raise ConfigError(f"{src}: [model] unknown key {clip(unknown[0])}; known keys: {', '.join(sorted(known_model))}")
    hints = typing.get_type_hints(ModelConfig)
    cfg.model = {k: _check_type(v, hints[k], f"{src}: model.{k}") for k, v in cfg.model.items()}
    problems = ModelConfig.field_problems(cfg.model)
    if problems:
        raise ConfigError(f"{src}: model.{problems[0]}")


def _set_override(raw: dict, override: str, source: str) -> None:
    key, sep, text = override.partition("=")
    parts = key.strip().split(".")
    if not sep or len(parts) != 2:
        raise ConfigError(f"override {clip(override)}: expected section.key=value, e.g. train.steps=100")
    try:
        value = tomllib.loads(f"v = {text.strip()}")["v"]
    except (tomllib.TOMLDecodeError, RecursionError, ValueError):
        value = text.strip()  # a bare string
    section = raw.setdefault(parts[0], {})
    if not isinstance(section, dict):
        raise ConfigError(f"{source}: override {clip(override)}: {parts[0]} is {clip(section)} in the file, "
                          f"not a [{parts[0]}] table")
    section[parts[1]] = value


def load_config(path: str | Path | None = None, overrides: list[str] = (), text: str | None = None) -> Config:
    """Read and validate a config file (or `text`), applying ``section.key=value`` overrides."""
    source = str(path) if path is not None else "<config>"
    if text is None:
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise ConfigError(f"{source}: cannot read config ({exc.strerror})") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML ({exc})") from None
    except RecursionError:
        raise ConfigError(f"{source}: invalid TOML (arrays or tables nested too deeply)") from None
    except ValueError as exc:  # an integer of over 4,300 digits
        raise ConfigError(f"{source}: invalid TOML ({str(exc)[:80]})") from None
    for override in overrides:
        _set_override(raw, override, source)
    unknown = sorted(set(raw) - set(SECTIONS) - {"model"})
    if unknown:
        raise ConfigError(f"{source}: unknown section [{unknown[0][:60]}]; expected [run], [data], [model], [train]")
    if not isinstance(raw.get("model", {}), dict):
        raise ConfigError(f"{source}: [model] must be a table, got {clip(raw['model'])}")
    cfg = Config(source=source, model=dict(raw.get("model", {})),
                 **{name: _build_section(cls, raw.get(name, {}), source, name) for name, cls in SECTIONS.items()})
    _validate(cfg)
    return cfg


def dump_toml(data: dict) -> str:
    """A minimal TOML writer for the resolved config (tables of scalars)."""
    def scalar(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if v is None:
            raise ValueError("TOML has no null")
        return repr(v)

    lines = []
    for section, values in data.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {scalar(v)}" for k, v in values.items() if v is not None]
        lines.append("")
    return "\n".join(lines)
