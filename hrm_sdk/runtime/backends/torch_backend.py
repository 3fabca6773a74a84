"""PyTorch backend: runs ``SegmentGraph`` from a checkpoint; bf16 autocast on CUDA, fp32 on CPU unless asked for
bf16 (``precision="bf16"``, ``--precision bf16``: CPUs with native bf16 only, AVX512-BF16 or AMX). It alone can run
with another table of puzzle embeddings and fit one at test time (``puzzle_table``, ``fit_puzzle_embeddings``:
the ARC fitted route)."""

from __future__ import annotations

import contextlib

import numpy as np

from ...errors import HRMError
from ..artefact import SegmentMeta, meta_from_card
from .base import Backend


class TorchBackend(Backend):
    name = "pytorch"

    def __init__(self, path=None, device: str | None = None, model=None, card: dict | None = None,
                 compile: bool = False, precision: str | None = None):
        import torch

        from ...checkpoint import load_model, sha256_bytes  # noqa: F401
        from ...model import SegmentGraph

        if model is None:
            model, card = load_model(path)
        self.torch = torch
        try:
            self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        except RuntimeError:
            raise HRMError(f"device {device!r}: use cpu or cuda (cuda:N for one GPU of several)") from None
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise HRMError(f"device {device!r}: PyTorch sees no CUDA GPU here; use --device cpu")
        precision = precision or ("bf16" if self.device.type == "cuda" else "fp32")
        if precision not in ("fp32", "bf16"):
            raise HRMError(f"precision {precision!r}: the PyTorch backend runs fp32 or bf16")
        if precision == "bf16" and self.device.type == "cpu" and not native_cpu_bf16(torch):
            raise HRMError("precision bf16: this CPU has no native bf16 (AVX512-BF16 or AMX), where bf16 runs slower "
                           "than fp32; use fp32")
        self.amp = precision == "bf16"
        self.state_dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        self.graph = SegmentGraph(model.float()).to(self.device).eval()
        self.run_graph = torch.compile(self.graph, dynamic=False) if compile else self.graph
        self.fixed_batch = compile
        self._fit_segment = None  # fit_puzzle_embeddings(compile=True): compiled once, then reused
        self.compile = compile
        self._resident_graph = None  # run_segment: compiled at its first call, shapes dynamic after the second
        self.resident = self.device.type == "cuda"  # run_act takes the device-resident loop (runtime/resident.py)
        self.supports_move = not compile
        super().__init__(meta_from_card(model.config.to_dict(), card or {}, precision,
                                        model.H_init.tolist(), model.L_init.tolist()))

    def describe(self) -> str:
        return f"pytorch ({self.device}, {'bf16' if self.amp else 'fp32'})"

    def _autocast(self):
        t = self.torch
        return t.autocast(self.device.type, dtype=t.bfloat16) if self.amp else contextlib.nullcontext()

    def on_canvas(self, seq_len: int) -> "TorchBackend":
        """A view of this backend for puzzles of ``seq_len`` tokens (a smaller square ARC canvas): the same network
        (and compiled graph, which compiles once more per length), its own slots."""
        import copy
        import dataclasses

        if seq_len == self.meta.seq_len:
            return self
        view = copy.copy(self)
        view.meta = dataclasses.replace(self.meta, seq_len=seq_len,
                                        positions=seq_len + self.meta.positions - self.meta.seq_len)
        view.capacity = 0
        return view

    def _allocate_states(self, capacity: int) -> None:
        t, m = self.torch, self.meta
        shape = (capacity, m.positions, m.hidden_size)
        self.z_H = t.zeros(shape, device=self.device, dtype=self.state_dtype)
        self.z_L = t.zeros(shape, device=self.device, dtype=self.state_dtype)
        self.logits = None

    def _move_states(self, src, dst) -> None:
        s, d = (self.torch.as_tensor(np.asarray(x), device=self.device) for x in (src, dst))
        self.z_H[d], self.z_L[d] = self.z_H[s], self.z_L[s]

    def _run(self, n: int):
        t = self.torch
        amp = self._autocast()
        tok = t.from_numpy(self.tokens[:n]).to(self.device, non_blocking=True)
        ids = t.from_numpy(self.puzzle_ids[:n]).to(self.device, non_blocking=True)
        reset = t.from_numpy(self.reset[:n]).to(self.device, non_blocking=True)
        with t.inference_mode(), amp:
            z_H, z_L, logits, q_halt, q_cont = self.run_graph(tok, ids, self.z_H[:n], self.z_L[:n], reset)
            self.z_H[:n] = z_H
            self.z_L[:n] = z_L
        self.logits = logits
        q = t.stack((q_halt, q_cont)).float().cpu().numpy()
        return q[0], q[1]

    # --- the device-resident loop's interface (runtime/resident.py): tensors stay on the device -------------

    def new_states(self, batch: int):
        """Fresh (z_H, z_L) for ``batch`` rows on the device (their rows start with reset set)."""
        m = self.meta
        z = self.torch.zeros(batch, m.positions, m.hidden_size, device=self.device, dtype=self.state_dtype)
        return z, z.clone()

    def run_segment(self, tokens, puzzle_ids, z_H, z_L, reset):
        """One segment on device tensors -> (z_H, z_L, logits, q_halt, q_continue), all on the device."""
        t = self.torch
        if self._resident_graph is None:
            self._resident_graph = t.compile(self.graph) if self.compile else self.graph
        amp = self._autocast()
        with t.inference_mode(), amp:
            z_H, z_L, logits, q_halt, q_cont = self._resident_graph(tokens, puzzle_ids, z_H, z_L, reset)
        return z_H.to(self.state_dtype), z_L.to(self.state_dtype), logits, q_halt, q_cont

    def fetch_logits(self, slots: np.ndarray) -> np.ndarray:
        idx = self.torch.as_tensor(np.asarray(slots), device=self.device)
        return self.logits[idx].float().cpu().numpy()

    # --- test-time puzzle embeddings (the ARC fitted route) ---------------------------------------------

    @contextlib.contextmanager
    def puzzle_table(self, table):
        """Run with ``table`` (float [rows, hidden]) as the puzzle embeddings, so puzzle ids index its rows (test-time
        fitted embeddings); the model's own table is back afterwards. ``None`` keeps the model's own."""
        model = self.graph.model
        saved = model.puzzle_emb
        if table is not None:
            model.puzzle_emb = table.to(saved.dtype)
        try:
            yield
        finally:
            model.puzzle_emb = saved

    @contextlib.contextmanager
    def network_weights(self, weights: dict | None):
        """Run with ``weights`` (parameter name -> tensor, from a fine-tuning fit) in place of the model's own;
        the model's own are back afterwards. ``None`` keeps the model's own."""
        if not weights:
            yield
            return
        params = dict(self.graph.model.named_parameters())
        saved = {n: params[n].detach().clone() for n in weights}
        with self.torch.no_grad():
            for n, w in weights.items():
                params[n].copy_(w)
        try:
            yield
        finally:
            with self.torch.no_grad():
                for n, w in saved.items():
                    params[n].copy_(w)

    def fit_puzzle_embeddings(self, inputs, labels, rows, num_rows: int, compile: bool = False, **kwargs):
        """A fresh table of ``num_rows`` embeddings fitted on (inputs, labels) with the network frozen
        (``hrm_sdk.training.embedding_fit``; ``rows``: the table row of each example). ``compile`` fits through a
        ``torch.compile``d segment, made at the first call and reused."""
        from ...training.embedding_fit import fit_puzzle_embeddings

        segment_fn = None
        if compile:
            if self._fit_segment is None:
                self._fit_segment = self.torch.compile(self.graph.model.segment, dynamic=False)
            segment_fn = self._fit_segment
        return fit_puzzle_embeddings(self.graph.model, inputs, labels, rows, num_rows, device=self.device,
                                     segment_fn=segment_fn, **kwargs)


def native_cpu_bf16(torch) -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX tiles), where bf16 matmuls beat fp32."""
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(cpu, name, lambda: False)() for name in checks)
