"""The recursive reasoning model family: HRM (Wang et al., 2025) and TRM (Jolicoeur-Martineau, 2025).

Both keep two state tensors over the puzzle's positions and refine them in an outer ACT loop of *segments*.
One segment runs `H_cycles` outer cycles, each of `L_cycles` updates of the fast state followed by one update
of the slow state:

    for i in range(H_cycles):
        for j in range(L_cycles):  z_L = L(z_L + z_H + x)      # x: the embedded puzzle (input injection)
        z_H = H(z_H + z_L)

- ``arch="hrm"``: H and L are separate stacks of post-norm transformer blocks; gradients flow only through
  the last L-update and the last H-update (the "1-step gradient").
- ``arch="trm"``: one small network serves as both L and H; gradients flow through the whole last cycle
  (full backprop through the last recursion). It has no continue head: it halts when ``q_halt > 0``,
  which the model exposes as ``q_halt > q_continue`` with ``q_continue == 0`` so callers need one rule.

The segment interface is the same for both, so trainers, exporters and runtimes never ask which one they hold:

    carry = model.initial_carry(batch_size)
    carry, out = model.step(carry, {"tokens": ..., "puzzle_ids": ...})   # out.logits, out.q_halt, out.q_continue

``model.segment(z_H, z_L, tokens, puzzle_vectors)`` is the pure function of one segment (no halting, no
resets): the unit that the ONNX exporter unrolls and that ``torch.compile`` compiles.

Attention goes through ``torch.nn.functional.scaled_dot_product_attention``: no flash-attn, no custom CUDA.
Parameters are fp32; on a GPU the trainer and the runtime run the forward under bf16 autocast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .model_config import ModelConfig  # noqa: F401 - re-exported: hrm_sdk.model.ModelConfig


# -----------------------------------------------------------------------------
# Layers


def trunc_normal_(tensor: Tensor, std: float = 1.0, bound: float = 2.0) -> Tensor:
    """Normal truncated at +-bound sigma, rescaled so the result has standard deviation `std` (JAX style)."""
    with torch.no_grad():
        nn.init.trunc_normal_(tensor, mean=0.0, std=1.0, a=-bound, b=bound)
        # Variance of a standard normal truncated to [-b, b]: 1 - 2 b phi(b) / (2 Phi(b) - 1).
        phi = math.exp(-0.5 * bound * bound) / math.sqrt(2 * math.pi)
        mass = math.erf(bound / math.sqrt(2))
        tensor.mul_(std / math.sqrt(1 - 2 * bound * phi / mass))
    return tensor


def lecun_linear(fan_in: int, fan_out: int, bias: bool = False) -> nn.Linear:
    """A linear layer with truncated LeCun-normal weights (std = 1/sqrt(fan_in)) and zero bias."""
    layer = nn.Linear(fan_in, fan_out, bias=bias)
    trunc_normal_(layer.weight, std=1.0 / math.sqrt(fan_in))
    if bias:
        nn.init.zeros_(layer.bias)
    return layer


def rms_norm(x: Tensor, eps: float) -> Tensor:
    """RMSNorm over the last axis, without a learnable scale, computed in fp32."""
    xf = x.float()
    return (xf * torch.rsqrt(xf.square().mean(-1, keepdim=True) + eps)).to(x.dtype)


def rope_tables(positions: int, head_dim: int, theta: float) -> tuple[Tensor, Tensor]:
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    freqs = torch.outer(torch.arange(positions, dtype=torch.float32), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)  # rotate-half convention
    return emb.cos(), emb.sin()


def rope2d_tables(prefix: int, side: int, head_dim: int, theta: float, device=None) -> tuple[Tensor, Tensor]:
    """2D RoPE over a side x side grid of positions after `prefix` positions (which sit at row 0, column 0).

    Half of each head's rotary frequencies turn with the row, half with the column, so attention between two
    cells depends on their (row, column) offset: a rule learned on a 10x10 grid is the same rule on a 20x20
    one, and an output cell (r, c) sits level with input cell (r, c). Same tables as `rope_tables` in shape.
    """
    half = head_dim // 2
    inv_freq = 1.0 / (theta ** (torch.arange(0, half, 2, dtype=torch.float32, device=device) / half))
    cells = torch.arange(side * side, device=device)
    rows = torch.cat((torch.zeros(prefix, device=device), (cells // side).float()))
    cols = torch.cat((torch.zeros(prefix, device=device), (cells % side).float()))
    freqs = torch.cat((torch.outer(rows, inv_freq), torch.outer(cols, inv_freq)), dim=-1)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """x: [B, S, H, hd]; cos/sin: [S, hd]. Rotation in fp32, result in x's dtype."""
    xf = x.float()
    x1, x2 = xf.chunk(2, dim=-1)
    rotated = torch.cat((-x2, x1), dim=-1)
    return (xf * cos[:, None, :] + rotated * sin[:, None, :]).to(x.dtype)


def swiglu_width(width: int, expansion: float) -> int:
    """Intermediate width: 2/3 of expansion*width (SwiGLU's parameter parity), rounded up to 256."""
    return -(-round(expansion * width * 2 / 3) // 256) * 256


class SwiGLU(nn.Module):
    def __init__(self, width: int, expansion: float):
        super().__init__()
        inner = swiglu_width(width, expansion)
        self.gate_up = lecun_linear(width, 2 * inner)
        self.down = lecun_linear(inner, width)

    def forward(self, x: Tensor) -> Tensor:
        gate, up = self.gate_up(x).chunk(2, dim=-1)
        return self.down(F.silu(gate) * up)


class Attention(nn.Module):
    """Non-causal multi-head self-attention with optional RoPE."""

    def __init__(self, hidden: int, heads: int):
        super().__init__()
        self.heads, self.head_dim = heads, hidden // heads
        self.qkv = lecun_linear(hidden, 3 * hidden)
        self.out = lecun_linear(hidden, hidden)

    def forward(self, x: Tensor, rope: tuple[Tensor, Tensor] | None) -> Tensor:
        B, S, _ = x.shape
        q, k, v = self.qkv(x).view(B, S, 3, self.heads, self.head_dim).unbind(2)
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        y = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return self.out(y.transpose(1, 2).reshape(B, S, -1))


class Block(nn.Module):
    """Post-norm block: h = norm(h + mix(h)); h = norm(h + mlp(h)).

    `mix` is self-attention, or (TRM-MLP) a SwiGLU across positions, whose residual and norm are taken over
    the position axis.
    """

    def __init__(self, hidden: int, heads: int, expansion: float, positions: int, mlp_t: bool, eps: float):
        super().__init__()
        self.eps = eps
        self.mlp_t = mlp_t
        self.mix = SwiGLU(positions, expansion) if mlp_t else Attention(hidden, heads)
        self.mlp = SwiGLU(hidden, expansion)

    def forward(self, h: Tensor, rope: tuple[Tensor, Tensor] | None) -> Tensor:
        if self.mlp_t:
            ht = h.transpose(1, 2)
            h = rms_norm(ht + self.mix(ht), self.eps).transpose(1, 2)
        else:
            h = rms_norm(h + self.mix(h, rope), self.eps)
        return rms_norm(h + self.mlp(h), self.eps)


class ReasoningModule(nn.Module):
    """A stack of blocks that first adds its input injection: f(h, inj) = blocks(h + inj)."""

    def __init__(self, layers: int, **block_kw):
        super().__init__()
        self.blocks = nn.ModuleList(Block(**block_kw) for _ in range(layers))

    def forward(self, h: Tensor, injection: Tensor, rope: tuple[Tensor, Tensor] | None) -> Tensor:
        h = h + injection
        for block in self.blocks:
            h = block(h, rope)
        return h


def _as_index(t: Tensor) -> Tensor:
    """Index tensors stay int32/int64 (int32 keeps exported graphs free of int64 for TensorRT)."""
    return t if t.dtype in (torch.int32, torch.int64) else t.int()


# -----------------------------------------------------------------------------
# Model


@dataclass
class Carry:
    """State carried between segments: the two state tensors plus per-row step counts and halted flags."""

    z_H: Tensor  # [B, positions, hidden]
    z_L: Tensor  # [B, positions, hidden]
    steps: Tensor  # int32 [B], segments run since the row's puzzle was loaded
    halted: Tensor  # bool [B], the row is finished; the next step() resets it for a new puzzle


@dataclass
class StepOutput:
    logits: Tensor  # fp32 [B, seq_len, vocab]
    q_halt: Tensor  # fp32 [B]
    q_continue: Tensor  # fp32 [B]; zeros when the model has no continue head
    target_q_continue: Tensor | None = None  # training only, hrm: the bootstrapped Q-learning target


class HRM(nn.Module):
    """HRM / TRM with the ACT segment interface. See the module docstring."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = c = config
        D = c.hidden_size
        self.embed_scale = math.sqrt(D)
        self.embed_tokens = nn.Embedding(c.vocab_size, D)
        trunc_normal_(self.embed_tokens.weight, std=1.0 / self.embed_scale)
        # A buffer, not a parameter: trained by sign-SGD on the rows a batch touches (training/optim.py).
        self.register_buffer("puzzle_emb", torch.zeros(c.num_puzzle_ids, D))
        if c.pos_encodings == "learned":
            self.pos_emb = nn.Parameter(trunc_normal_(torch.empty(c.positions, D), std=1.0 / self.embed_scale))
        if c.pos_encodings in ("rope", "rope2d"):
            if c.pos_encodings == "rope":
                cos, sin = rope_tables(c.positions, D // c.num_heads, c.rope_theta)
            else:
                cos, sin = rope2d_tables(c.puzzle_emb_len, math.isqrt(c.seq_len), D // c.num_heads, c.rope_theta)
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)

        block_kw = dict(hidden=D, heads=c.num_heads, expansion=c.expansion, positions=c.positions,
                        mlp_t=c.mlp_t, eps=c.rms_norm_eps)
        self.L_level = ReasoningModule(c.L_layers, **block_kw)
        self.H_level = ReasoningModule(c.H_layers, **block_kw) if c.arch == "hrm" else None

        self.lm_head = lecun_linear(D, c.vocab_size)
        self.q_head = nn.Linear(D, 2 if c.act_continue else 1)
        with torch.no_grad():  # Q starts near 0 probability of halting
            self.q_head.weight.zero_()
            self.q_head.bias.fill_(-5.0)
        # Fixed initial states, drawn once and never trained.
        self.register_buffer("H_init", trunc_normal_(torch.empty(D), std=1.0))
        self.register_buffer("L_init", trunc_normal_(torch.empty(D), std=1.0))

    # --- sizes ---------------------------------------------------------------------------------------

    def num_params(self, include_puzzle_emb: bool = False) -> int:
        n = sum(p.numel() for p in self.parameters())
        return n + (self.puzzle_emb.numel() if include_puzzle_emb else 0)

    def flops_per_segment(self, training: bool = False, seq_len: int | None = None) -> float:
        """Matmul FLOPs of one segment for one puzzle (2 per multiply-add), on `seq_len` puzzle tokens (default the
        config's; ARC's canvas-size buckets run smaller canvases).

        training=True adds the backward pass through the gradient-carrying updates (2x their forward) and,
        for a model with a continue head, the extra forward that computes the Q-learning target.
        """
        c = self.config
        seq_len = seq_len or c.seq_len
        S, D = seq_len + c.puzzle_emb_len, c.hidden_size

        def block_flops(block: Block) -> float:
            linear = 2 * S * sum(p.numel() for p in block.mlp.parameters())
            if c.mlp_t:
                mix = 2 * D * sum(p.numel() for p in block.mix.parameters())
            else:
                mix = 2 * S * sum(p.numel() for p in block.mix.parameters()) + 4 * S * S * D
            return linear + mix

        L_call = sum(block_flops(b) for b in self.L_level.blocks)
        H_call = sum(block_flops(b) for b in (self.H_level or self.L_level).blocks)
        heads = 2 * seq_len * D * c.vocab_size + 2 * D * self.q_head.out_features
        forward = c.H_cycles * (c.L_cycles * L_call + H_call) + heads
        if not training:
            return float(forward)
        backward = 2 * (c.grad_L_steps * L_call + H_call + heads)
        target = forward if c.act_continue else 0
        return float(forward + backward + target)

    # --- the segment ---------------------------------------------------------------------------------

    def embed(self, tokens: Tensor, puzzle_vectors: Tensor) -> Tensor:
        """tokens [B, seq_len] int, puzzle_vectors [B, hidden] -> input injection x [B, positions, hidden]."""
        c = self.config
        tok = self.embed_tokens(_as_index(tokens))
        prefix = puzzle_vectors.to(tok.dtype)[:, None, :]
        if c.puzzle_emb_len > 1:
            prefix = F.pad(prefix, (0, 0, 0, c.puzzle_emb_len - 1))
        x = torch.cat((prefix, tok), dim=1)
        if c.pos_encodings == "learned":
            x = 0.7071067811865476 * (x + self.pos_emb.to(x.dtype))
        return self.embed_scale * x

    def _rope(self, seq_len: int, device) -> tuple[Tensor, Tensor] | None:
        """The rotary tables for `seq_len` puzzle tokens. The model's own canvas uses the stored tables; a smaller
        square canvas (ARC's canvas-size buckets) gets 2D tables of its own side, so cell (r, c) keeps its place."""
        c = self.config
        if c.pos_encodings not in ("rope", "rope2d"):
            return None
        if seq_len == c.seq_len:
            return self.rope_cos, self.rope_sin
        if c.pos_encodings == "rope":
            n = c.puzzle_emb_len + seq_len
            return self.rope_cos[:n], self.rope_sin[:n]
        return rope2d_tables(c.puzzle_emb_len, math.isqrt(seq_len), c.hidden_size // c.num_heads, c.rope_theta,
                             device)

    def segment(self, z_H: Tensor, z_L: Tensor, tokens: Tensor, puzzle_vectors: Tensor):
        """One ACT segment: returns (z_H, z_L, logits, q_halt, q_continue). Pure; no halting or resets.

        With grad enabled, gradients flow through the last `grad_L_steps` L-updates and the last H-update
        only; the states that come in are treated as constants.
        """
        c = self.config
        rope = self._rope(tokens.shape[1], tokens.device)
        H = self.H_level or self.L_level
        x = self.embed(tokens, puzzle_vectors).to(z_L.dtype)
        n_free = c.H_cycles * c.L_cycles - c.grad_L_steps  # L-updates run without grad
        with torch.no_grad():
            for i in range(c.H_cycles):
                for j in range(c.L_cycles):
                    if i * c.L_cycles + j < n_free:
                        z_L = self.L_level(z_L, z_H + x, rope)
                if i < c.H_cycles - 1:
                    z_H = H(z_H, z_L, rope)
        for _ in range(c.grad_L_steps):
            z_L = self.L_level(z_L, z_H + x, rope)
        z_H = H(z_H, z_L, rope)

        P = c.puzzle_emb_len
        logits = self.lm_head(z_H[:, P:]).float()
        q = self.q_head(z_H[:, 0]).float()
        q_halt = q[:, 0]
        q_continue = q[:, 1] if c.act_continue else torch.zeros_like(q_halt)
        return z_H, z_L, logits, q_halt, q_continue

    # --- the ACT step ----------------------------------------------------------------------------------

    def initial_carry(self, batch_size: int, device=None, dtype: torch.dtype | None = None,
                      seq_len: int | None = None) -> Carry:
        """All rows halted, so the first step() loads and resets every row. `seq_len`: puzzles of another length
        than the config's (a smaller ARC canvas)."""
        c, device = self.config, device or self.H_init.device
        dtype = dtype or torch.get_default_dtype()
        shape = (batch_size, (seq_len or c.seq_len) + c.puzzle_emb_len, c.hidden_size)
        return Carry(
            z_H=torch.zeros(shape, device=device, dtype=dtype),
            z_L=torch.zeros(shape, device=device, dtype=dtype),
            steps=torch.zeros(batch_size, dtype=torch.int32, device=device),
            halted=torch.ones(batch_size, dtype=torch.bool, device=device),
        )

    def reset(self, carry: Carry, rows: Tensor) -> Carry:
        """Reset the states of `rows` (bool [B]) to the fixed initial vectors and their steps to 0."""
        m = rows[:, None, None]
        return Carry(
            z_H=torch.where(m, self.H_init.to(carry.z_H.dtype), carry.z_H),
            z_L=torch.where(m, self.L_init.to(carry.z_L.dtype), carry.z_L),
            steps=torch.where(rows, 0, carry.steps),
            halted=carry.halted,
        )

    def lookup_puzzle_vectors(self, puzzle_ids: Tensor) -> Tensor:
        return F.embedding(_as_index(puzzle_ids), self.puzzle_emb)  # a Gather in ONNX (int32 indices allowed)

    def forward(self, *args, **kwargs):
        """Same as `step` (so DDP can wrap the model)."""
        return self.step(*args, **kwargs)

    def step(self, carry: Carry, batch: dict, puzzle_vectors: Tensor | None = None,
             min_steps: Tensor | None = None, segment_fn=None) -> tuple[Carry, StepOutput]:
        """Run one segment for every row. Rows that were halted are reset first (the caller has put their
        new puzzles into `batch`).

        Eval mode halts a row only at `halt_max_steps`. Training mode also halts when q_halt > q_continue,
        but not before `min_steps` (per row; drawn here with the exploration rule when not given), and
        computes the Q-learning target for the continue head.
        `puzzle_vectors` overrides the table lookup (the trainer passes rows that carry gradients);
        `segment_fn` overrides `self.segment` (a compiled version).
        """
        c = self.config
        segment_fn = segment_fn or self.segment
        carry = self.reset(carry, carry.halted)
        if puzzle_vectors is None:
            puzzle_vectors = self.lookup_puzzle_vectors(batch["puzzle_ids"])
        z_H, z_L, logits, q_halt, q_continue = segment_fn(carry.z_H, carry.z_L, batch["tokens"], puzzle_vectors)

        with torch.no_grad():
            steps = carry.steps + 1
            halted = steps >= c.halt_max_steps
            target = None
            if self.training and c.halt_max_steps > 1:
                if min_steps is None:
                    explore = torch.rand_like(q_halt) < c.halt_exploration_prob
                    draw = torch.randint_like(steps, 2, c.halt_max_steps + 1)
                    min_steps = torch.where(explore, draw, 0)
                halted = halted | ((q_halt > q_continue) & (steps >= min_steps))
                if c.act_continue:
                    _, _, _, next_halt, next_cont = segment_fn(z_H.detach(), z_L.detach(), batch["tokens"],
                                                               puzzle_vectors.detach())
                    is_last = steps >= c.halt_max_steps
                    target = torch.sigmoid(torch.where(is_last, next_halt, torch.maximum(next_halt, next_cont)))
        new_carry = Carry(z_H=z_H.detach(), z_L=z_L.detach(), steps=steps, halted=halted)
        return new_carry, StepOutput(logits=logits, q_halt=q_halt, q_continue=q_continue, target_q_continue=target)


class SegmentGraph(nn.Module):
    """One segment with per-row resets: the unit that is exported to ONNX and run by every backend.

    (tokens, puzzle_ids, z_H, z_L, reset) -> (z_H_out, z_L_out, logits, q_halt, q_continue). Rows with
    ``reset`` set start from the fixed initial states, so a host can load a new puzzle into a row without
    touching the state tensors, which can then stay on the device.
    """

    def __init__(self, model: HRM):
        super().__init__()
        self.model = model

    def forward(self, tokens: Tensor, puzzle_ids: Tensor, z_H: Tensor, z_L: Tensor, reset: Tensor):
        m = reset[:, None, None]
        z_H = torch.where(m, self.model.H_init.to(z_H.dtype), z_H)
        z_L = torch.where(m, self.model.L_init.to(z_L.dtype), z_L)
        return self.model.segment(z_H, z_L, tokens, self.model.lookup_puzzle_vectors(puzzle_ids))
