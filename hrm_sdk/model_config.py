"""The model's configuration (``ModelConfig``): a typed dataclass that checks every field on construction. It is
kept apart from ``hrm_sdk.model`` so that model cards can be validated without importing torch (the ONNX Runtime
solve path checks the card of a model directory before it runs the graph)."""

from __future__ import annotations

import math
import typing
from dataclasses import asdict, dataclass, fields

from .errors import ConfigError, clip

@dataclass
class ModelConfig:
    arch: str = "hrm"  # "hrm": separate H and L stacks, 1-step gradient; "trm": one shared net, full last-cycle grad
    vocab_size: int = 11  # token ids 0..vocab_size-1; 0 is PAD
    seq_len: int = 81  # puzzle tokens (the model adds puzzle_emb_len prefix positions)
    num_puzzle_ids: int = 1  # rows of the puzzle-identifier embedding table (1 = one shared vector)
    hidden_size: int = 512
    num_heads: int = 8
    expansion: float = 4.0  # SwiGLU width multiplier
    H_layers: int = 4  # blocks in the H module (hrm only)
    L_layers: int = 4  # blocks in the L module (the shared net for trm)
    H_cycles: int = 2  # outer cycles per segment (N in HRM, T in TRM)
    L_cycles: int = 2  # L-updates per cycle (T in HRM, n in TRM)
    puzzle_emb_len: int = 1  # prefix positions; the learned vector fills the first, the rest start at zero
    pos_encodings: str = "rope"  # "rope" | "rope2d" (row/column RoPE over a square grid) | "learned" | "none"
    mlp_t: bool = False  # TRM-MLP: SwiGLU across positions instead of attention
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-5
    halt_max_steps: int = 16  # segments per puzzle at most
    halt_exploration_prob: float = 0.1  # chance a training row must run a random minimum of 2..max segments
    grad_L_steps: int = 0  # L-updates of the last cycle that carry gradients; 0 = 1 for hrm, L_cycles for trm
    act_continue: bool | None = None  # learn a continue head (Q-learning target); None = True for hrm only

    @classmethod
    def field_problems(cls, values: dict) -> list[str]:
        """What is wrong with single fields of ``values`` (types and ranges that need no other field), e.g.
        ``num_heads must be >= 1, got 0``; fields absent from ``values`` are not checked."""
        hints = typing.get_type_hints(cls)
        problems = []
        for name, value in values.items():
            kind = hints.get(name)
            if kind is int and (type(value) is not int):
                problems.append(f"{name} must be a whole number, got {clip(value)}")
            elif kind is float and (isinstance(value, bool) or not isinstance(value, (int, float))
                                    or not math.isfinite(value)):
                problems.append(f"{name} must be a finite number, got {clip(value)}")
            elif kind is str and not isinstance(value, str):
                problems.append(f"{name} must be a string, got {clip(value)}")
            elif kind is bool and not isinstance(value, bool):
                problems.append(f"{name} must be true or false, got {clip(value)}")
        if problems:
            return problems
        for name in ("hidden_size", "num_heads", "vocab_size", "seq_len", "num_puzzle_ids", "L_layers",
                     "H_cycles", "L_cycles", "puzzle_emb_len", "halt_max_steps"):
            if name in values and values[name] < 1:
                problems.append(f"{name} must be >= 1, got {values[name]}")
        for name in ("H_layers", "grad_L_steps"):
            if name in values and values[name] < 0:
                problems.append(f"{name} must be >= 0, got {values[name]}")
        for name in ("expansion", "rope_theta", "rms_norm_eps"):
            if name in values and values[name] <= 0:
                problems.append(f"{name} must be > 0, got {values[name]}")
        if "arch" in values and values["arch"] not in ("hrm", "trm"):
            problems.append(f"arch must be 'hrm' or 'trm', got {clip(values['arch'])}")
        return problems

    def __post_init__(self):
        problems = self.field_problems(asdict(self))
        if problems:
            raise ConfigError("model config: " + "; ".join(problems))
        if self.arch not in ("hrm", "trm"):
            problems.append(f"arch must be 'hrm' or 'trm', got {self.arch!r}")
        if self.pos_encodings not in ("rope", "rope2d", "learned", "none"):
            problems.append(f"pos_encodings must be 'rope', 'rope2d', 'learned' or 'none', got {self.pos_encodings!r}")
        if self.pos_encodings == "rope2d":
            side = math.isqrt(max(self.seq_len, 0))
            if side * side != self.seq_len:
                problems.append(f"pos_encodings 'rope2d' needs a square grid, seq_len {self.seq_len} is not a square")
            if self.num_heads > 0 and self.hidden_size % self.num_heads == 0 and (self.hidden_size // self.num_heads) % 4:
                problems.append("pos_encodings 'rope2d' needs a head size divisible by 4")
        if self.hidden_size % self.num_heads or (self.hidden_size // self.num_heads) % 2:
            problems.append(f"hidden_size {self.hidden_size} must split into {self.num_heads} heads of even size")
        for name in ("vocab_size", "seq_len", "num_puzzle_ids", "L_layers", "H_cycles", "L_cycles",
                     "puzzle_emb_len", "halt_max_steps"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.arch == "hrm" and self.H_layers < 1:
            problems.append(f"H_layers must be >= 1 for hrm, got {self.H_layers}")
        if not 0 <= self.grad_L_steps <= self.L_cycles:
            problems.append(f"grad_L_steps must be in 0..L_cycles={self.L_cycles}, got {self.grad_L_steps}")
        if not 0.0 <= self.halt_exploration_prob <= 1.0:
            problems.append(f"halt_exploration_prob must be in [0, 1], got {self.halt_exploration_prob}")
        if problems:
            raise ConfigError("model config: " + "; ".join(problems))
        if self.grad_L_steps == 0:
            self.grad_L_steps = 1 if self.arch == "hrm" else self.L_cycles
        if self.act_continue is None:
            self.act_continue = self.arch == "hrm"

    @property
    def positions(self) -> int:
        return self.seq_len + self.puzzle_emb_len

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict, where: str = "model config") -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**data)
