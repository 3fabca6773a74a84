"""The trainer: deep supervision with ACT Q-learning halting, on one process or many (torchrun + DDP).

    hrm train configs/sudoku.toml                      # train; refuses an out_dir that already has checkpoints
    hrm train configs/sudoku.toml --resume             # continue from the last complete checkpoint
    torchrun --nproc_per_node=2 $(which hrm) train configs/sudoku.toml

One optimiser step per ACT segment: a batch of `global_batch_size` rows is kept in flight; every step runs one
segment for every row, takes one optimiser step, and replaces only the rows that halted with fresh samples.
A dataset whose rows come in several shapes (ARC's canvas-size buckets: ``hrm data build arc --buckets``) keeps one
such batch per shape, a *lane*; each step picks one lane at random in proportion to its rows, so every example is
drawn as often as without buckets while a batch of small grids costs what its grids cost.
All bookkeeping of the global batch (which rows are in flight, the sample stream, exploration draws) happens
on the host identically on every rank; each rank runs the model on its slice. So N ranks see exactly the rows
one process would see, and a resumed run continues the same stream.

Checkpoints (``out_dir/checkpoints/step_NNNNNN/``) are written to a temporary directory and renamed into place;
``checkpoints/latest`` names the last complete one. Ctrl-C or SIGTERM finishes the current step (or abandons a
running evaluation, in a single-process run), writes a checkpoint and exits; a second Ctrl-C stops at once.
Repeated SIGTERMs count as one (torchrun forwards the one its launcher got, so a worker often receives two); a kill
at any moment leaves the previous checkpoint intact.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import __version__, tasks
from ..checkpoint import atomic_write_bytes, check_compatible, load_optimizer_state, remove_stale_tmp, save_model
from ..data.dataset import SampleStream, read_split
from ..errors import CheckpointError, ConfigError, DatasetError
from ..metrics import peak_flops
from ..model import HRM, Carry
from . import distributed as D
from .config import Config, dump_toml
from .evaluate import evaluate_model, finalize
from .losses import act_loss
from .optim import EMA, build_optimizer, lr_factor, sign_sgd_rows
from .progress import TrainingProgress

log = logging.getLogger(__name__)

CARRY_SAVE_LIMIT = 256 << 20  # bytes; larger in-flight states are not checkpointed (those rows restart)
TIMING_KEYS = ("elapsed_s", "samples_per_s", "steps_per_s", "mfu")


@dataclass
class InFlight:
    """The global batch on the host: the puzzle each row is working on."""

    inputs: np.ndarray  # uint8 [B, S]
    labels: np.ndarray  # uint8 [B, S]
    puzzle_ids: np.ndarray  # int32 [B]


@dataclass
class Lane:
    """One batch in flight over rows of one length (most datasets have a single lane)."""

    stream: SampleStream
    seq_len: int
    inflight: InFlight
    halted: np.ndarray  # bool [B], global: which rows take a new sample at the lane's next step
    carry: Carry  # this rank's rows
    flops_per_step: float  # training FLOPs of one step of the whole global batch


class Trainer:
    def __init__(self, cfg: Config, resume: bool = False, device: str | None = None, show_progress: bool = True):
        self.cfg = cfg
        t = cfg.train
        self.dist = D.setup(device)
        self.device = self.dist.device
        self.out_dir = Path(cfg.run.out_dir)
        self.ckpt_dir = self.out_dir / "checkpoints"
        if self.dist.is_main:
            remove_stale_tmp(self.ckpt_dir)

        data = Path(cfg.data.path)
        if not data.is_dir():
            raise DatasetError(f"{cfg.source}: data.path {cfg.data.path!r} does not exist; "
                               f"build it with 'hrm data build <task> --out {cfg.data.path}'")
        self.train_split = read_split(data / cfg.data.train_split)
        self.eval_split = read_split(data / cfg.data.eval_split) if (data / cfg.data.eval_split).is_dir() else None
        meta = self.train_split.meta
        self.task = meta.task
        model_cfg = cfg.model_config(meta.vocab_size, meta.seq_len, meta.num_puzzle_ids)
        if self.eval_split is not None:
            em = self.eval_split.meta
            if (em.task, em.vocab_size, em.seq_len) != (meta.task, meta.vocab_size, meta.seq_len):
                raise DatasetError(f"{data}: eval split ({em.task}, vocab {em.vocab_size}, seq_len {em.seq_len}) does "
                                   f"not match train split ({meta.task}, vocab {meta.vocab_size}, seq_len {meta.seq_len})")
        if t.global_batch_size % self.dist.world:
            raise ConfigError(f"{cfg.source}: train.global_batch_size {t.global_batch_size} is not divisible by "
                              f"the {self.dist.world} ranks")
        samplers = tasks.make_samplers(self.train_split)
        rows = sum(s.epoch_size for s in samplers)
        if t.global_batch_size > rows:  # refused before anything of that size is allocated
            raise ConfigError(f"{cfg.source}: train.global_batch_size {t.global_batch_size} is larger than the "
                              f"{rows} training rows of {data / cfg.data.train_split}; use at most {rows}")
        if len(samplers) > 1 and (model_cfg.pos_encodings != "rope2d" or model_cfg.mlp_t):
            raise ConfigError(f"{cfg.source}: {data} is built with canvas-size buckets, which need attention with "
                              f"model.pos_encodings = \"rope2d\" (got {model_cfg.pos_encodings!r}"
                              f"{', mlp_t' if model_cfg.mlp_t else ''}); rebuild it without --buckets")
        self.B = t.global_batch_size
        self.local_B = self.B // self.dist.world
        lo = self.dist.rank * self.local_B
        self.local = slice(lo, lo + self.local_B)

        torch.manual_seed(cfg.run.seed)
        self.model = HRM(model_cfg).to(self.device)
        self.optimizer = build_optimizer(self.model.named_parameters(), t)
        self.ema = EMA(self.model, t.ema_rate) if t.ema else None
        self.eval_model = copy.deepcopy(self.model) if t.ema else self.model
        self.explore_gen = torch.Generator().manual_seed(cfg.run.seed + 1)
        self.use_bf16 = t.bf16 and self.device.type == "cuda"
        self.carry_dtype = torch.bfloat16 if self.use_bf16 else torch.float32
        self.segment_fn = None
        if t.compile and self.device.type == "cuda":
            self.segment_fn = torch.compile(self.model.segment, dynamic=False)
        self.step = 0
        self.lanes = [self._new_lane(sampler, i, meta.seq_len) for i, sampler in enumerate(samplers)]
        sizes = np.array([s.epoch_size for s in samplers], dtype=np.float64)
        self.lane_p = sizes / sizes.sum()
        self.lane_rng = np.random.default_rng([cfg.run.seed, 2])

        if resume:
            self._load_latest()
        elif self._latest_name() is not None:
            raise ConfigError(f"{self.ckpt_dir} already holds checkpoints; pass --resume to continue the run, or "
                              "set run.out_dir to a new directory")
        elif cfg.run.init_from:
            self._warm_start(Path(cfg.run.init_from))
        self.ddp = self.model
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            # Buffers (the puzzle-embedding table) are updated identically on every rank: no broadcast needed.
            self.ddp = DistributedDataParallel(self.model, device_ids=ids, broadcast_buffers=False)
        # expected over the lanes (each lane's rows cost what their length costs)
        self.flops_per_step = float(np.dot(self.lane_p, [lane.flops_per_step for lane in self.lanes]))
        self._flops = 0.0  # FLOPs run since the last log line (lanes differ)
        self.peak = peak_flops(torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "cpu")
        self.progress = TrainingProgress(t.steps, self.step, enabled=show_progress and self.dist.is_main)
        self._stop_signal: int | None = None

    # --- lanes -------------------------------------------------------------------------------------------

    def _new_lane(self, sampler, index: int, default_seq_len: int) -> Lane:
        S = getattr(sampler, "seq_len", default_seq_len)
        seed = self.cfg.run.seed if index == 0 else [self.cfg.run.seed, index]  # lane 0: the single-lane stream
        return Lane(stream=SampleStream(sampler, seed=seed), seq_len=S,
                    inflight=InFlight(np.zeros((self.B, S), np.uint8), np.zeros((self.B, S), np.uint8),
                                      np.zeros(self.B, np.int32)),
                    halted=np.ones(self.B, dtype=bool),
                    carry=self.model.initial_carry(self.local_B, self.device, self.carry_dtype, seq_len=S),
                    flops_per_step=self.model.flops_per_segment(training=True, seq_len=S) * self.B)

    # The single-lane view (most datasets; the tests read these).
    stream = property(lambda self: self.lanes[0].stream)
    inflight = property(lambda self: self.lanes[0].inflight)
    halted = property(lambda self: self.lanes[0].halted)
    carry = property(lambda self: self.lanes[0].carry)

    def _next_lane(self) -> Lane:
        if len(self.lanes) == 1:
            return self.lanes[0]
        return self.lanes[int(self.lane_rng.choice(len(self.lanes), p=self.lane_p))]

    # --- one optimiser step ----------------------------------------------------------------------------

    def _refill(self, lane: Lane) -> None:
        """Give every halted row of a lane's global batch a fresh sample; rows still in flight keep theirs."""
        rows = np.flatnonzero(lane.halted)
        if len(rows):
            inputs, labels, ids = lane.stream.take(len(rows))
            lane.inflight.inputs[rows] = inputs
            lane.inflight.labels[rows] = labels
            lane.inflight.puzzle_ids[rows] = ids

    def _autocast(self):
        return torch.autocast("cuda", dtype=torch.bfloat16) if self.use_bf16 else contextlib.nullcontext()

    def train_step(self) -> dict:
        t, c = self.cfg.train, self.model.config
        lane = self._next_lane()
        self._refill(lane)
        dev = self.device
        tokens = torch.as_tensor(lane.inflight.inputs[self.local], device=dev)
        labels = torch.as_tensor(lane.inflight.labels[self.local], device=dev).long()
        ids = torch.as_tensor(lane.inflight.puzzle_ids[self.local], device=dev)
        explore = torch.rand(self.B, generator=self.explore_gen) < c.halt_exploration_prob
        draw = torch.randint(2, c.halt_max_steps + 1, (self.B,), generator=self.explore_gen, dtype=torch.int32)
        min_steps = torch.where(explore, draw, 0)[self.local].to(dev)

        lane.carry.halted = torch.as_tensor(lane.halted[self.local], device=dev)
        leaf = self.model.puzzle_emb[ids.long()].clone().requires_grad_(True)
        factor = lr_factor(self.step, t.lr_warmup_steps, t.steps, t.lr_min_ratio, t.lr_cycle_start)
        for group in self.optimizer.param_groups:
            group["lr"] = t.lr * factor * group.get("lr_scale", 1.0)
        with self._autocast():
            lane.carry, out = self.ddp(lane.carry, {"tokens": tokens, "puzzle_ids": ids}, puzzle_vectors=leaf,
                                       min_steps=min_steps, segment_fn=self.segment_fn)
        loss, metrics = act_loss(out, labels, lane.carry.halted, lane.carry.steps, t.loss)
        (loss * (self.dist.world / self.B)).backward()
        if t.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), t.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        all_ids = D.all_gather_cat(ids, self.dist)
        all_grads = D.all_gather_cat(leaf.grad, self.dist)
        emb_factor = factor if t.puzzle_emb_lr_decay else lr_factor(self.step, t.lr_warmup_steps, t.steps, 1.0,
                                                                    t.lr_cycle_start)
        sign_sgd_rows(self.model.puzzle_emb, all_ids, all_grads, t.puzzle_emb_lr * emb_factor,
                      t.puzzle_emb_weight_decay)
        if self.ema is not None:
            self.ema.update(self.model)
        halted = D.all_gather_cat(lane.carry.halted.to(torch.uint8), self.dist)
        lane.halted = halted.cpu().numpy().astype(bool)
        self._flops += lane.flops_per_step
        self.step += 1
        metrics["loss"] = loss.detach()
        return metrics

    # --- evaluation --------------------------------------------------------------------------------------

    def evaluate(self) -> dict:
        """Evaluation metrics on the first ``eval_limit`` test examples, or {} when there is no test split. In a
        single-process run a stop signal abandons the evaluation (-> {}): the checkpoint that the signal asks
        for must not wait for it (on a CPU an evaluation can take longer than a scheduler's grace period). Ranks
        of a distributed run always finish it, since they must meet in the all-reduce."""
        if self.eval_split is None:
            return {}
        t = self.cfg.train
        if self.ema is not None:
            self.eval_model.load_state_dict(self.ema.state_dict_for(self.model))
        n = len(self.eval_split.inputs) if t.eval_limit == 0 else min(t.eval_limit, len(self.eval_split.inputs))
        per = -(-n // self.dist.world)
        lo, hi = self.dist.rank * per, min(n, (self.dist.rank + 1) * per)
        sp = self.eval_split
        stop = (lambda: self._stop_signal is not None) if self.dist.world == 1 else None
        sums: dict = {}
        for rows, to_length in tasks.get(sp.meta.task).row_groups(sp, np.arange(lo, hi)):
            x, y = np.asarray(sp.inputs[rows]), np.asarray(sp.labels[rows])
            if to_length is not None:  # ARC's canvas-size buckets: each task on its own canvas
                x, y = to_length(x), to_length(y)
            part = evaluate_model(self.eval_model, x, y, np.asarray(sp.puzzle_ids[rows]), t.eval_batch_size or self.B,
                                  self.device, self.use_bf16, task=sp.meta.task, should_stop=stop)
            if part is None:
                log.warning("step %d: evaluation abandoned for the stop signal", self.step)
                return {}
            sums = {k: sums.get(k, 0.0) + v for k, v in part.items()}
        if not sums:  # this rank had no rows
            sums = evaluate_model(self.eval_model, sp.inputs[:0], sp.labels[:0], sp.puzzle_ids[:0], 1, self.device,
                                  task=sp.meta.task)
        keys = sorted(sums)
        totals = D.all_reduce_sum(torch.tensor([sums[k] for k in keys], dtype=torch.float64, device=self.device),
                                  self.dist)
        # the step travels with the numbers: a later checkpoint's card carries the last evaluation made
        return {**finalize(dict(zip(keys, totals.tolist()))), "eval/step": self.step}

    # --- checkpoints -------------------------------------------------------------------------------------

    def _latest_name(self) -> str | None:
        latest = self.ckpt_dir / "latest"
        return latest.read_text().strip() if latest.is_file() else None

    def latest_checkpoint(self) -> Path | None:
        name = self._latest_name()
        return self.ckpt_dir / name if name else None

    def _gather_carry(self, lane: Lane) -> dict | None:
        c = lane.carry
        size = c.z_H.numel() * c.z_H.element_size() * 2 * self.dist.world
        if size > CARRY_SAVE_LIMIT:
            return None
        return {"carry.z_H": D.all_gather_cat(c.z_H, self.dist), "carry.z_L": D.all_gather_cat(c.z_L, self.dist),
                "carry.steps": D.all_gather_cat(c.steps, self.dist)}

    def save_checkpoint(self, eval_metrics: dict | None = None) -> Path | None:
        from safetensors.torch import save

        carries = [self._gather_carry(lane) for lane in self.lanes]  # collective: every rank takes part
        if not self.dist.is_main:
            return None
        name = f"step_{self.step:06d}"
        final = self.ckpt_dir / name
        tmp = self.ckpt_dir / f".tmp-{name}"
        shutil.rmtree(tmp, ignore_errors=True)
        card = {"task": self.task, "step": self.step, "sdk_version": __version__,
                "dataset": {"path": self.cfg.data.path, "sources": self.train_split.meta.sources,
                            "build": self.train_split.meta.build},
                "train_config": self.cfg.to_dict(), "eval": eval_metrics or {}}
        weights = self.ema.state_dict_for(self.model) if self.ema else None
        save_model(tmp, self.model, card, state_dict=weights)
        tasks.get(self.task).save_model_extras(tmp, self.train_split)  # ARC: which task version each id means
        state = {f"param.{k}": v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        for i, (lane, carry) in enumerate(zip(self.lanes, carries)):
            prefix = f"lane{i}." if i else ""  # lane 0's keys are the single-lane checkpoint's
            if carry is not None:
                state.update({prefix + k: v.cpu().contiguous() for k, v in carry.items()})
            for k in ("inputs", "labels", "puzzle_ids"):
                state[f"{prefix}inflight.{k}"] = torch.from_numpy(getattr(lane.inflight, k).copy())
            state[f"{prefix}inflight.halted"] = torch.from_numpy(lane.halted.copy())
        atomic_write_bytes(tmp / "train_state.safetensors", save(state))
        torch.save({"step": self.step, "optimizer": self.optimizer.state_dict(),
                    "stream": self.stream.state_dict(), "explore_gen": self.explore_gen.get_state(),
                    "lane_streams": [lane.stream.state_dict() for lane in self.lanes[1:]],
                    "lane_rng": self.lane_rng.bit_generator.state, "world": self.dist.world}, tmp / "optimizer.pt")
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        atomic_write_bytes(self.ckpt_dir / "latest", (name + "\n").encode())
        kept = sorted(p for p in self.ckpt_dir.glob("step_*") if p.is_dir())
        for old in kept[:-self.cfg.train.keep_checkpoints]:
            shutil.rmtree(old, ignore_errors=True)
        return final

    def _load_latest(self) -> None:
        from safetensors.torch import load_file

        name = self._latest_name()
        if name is None:
            raise CheckpointError(f"{self.ckpt_dir}: nothing to resume (no checkpoints/latest); start without --resume")
        path = self.ckpt_dir / name
        try:
            state = load_file(path / "train_state.safetensors")
        except Exception as exc:  # noqa: BLE001 - any read failure means the same thing to the user
            raise CheckpointError(f"{path / 'train_state.safetensors'}: cannot read checkpoint "
                                  f"({type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''})") from exc
        extra = load_optimizer_state(path / "optimizer.pt")
        params = {k.removeprefix("param."): v for k, v in state.items() if k.startswith("param.")}
        check_compatible(self.model, params, str(path))
        self.model.load_state_dict(params)
        if self.ema is not None:
            ema_state = load_file(path / "model.safetensors")
            for k in self.ema.shadow:
                self.ema.shadow[k] = ema_state[k].to(self.device, self.ema.shadow[k].dtype)
        try:
            self.optimizer.load_state_dict(extra["optimizer"])
        except (ValueError, KeyError) as exc:
            raise CheckpointError(f"{path / 'optimizer.pt'}: does not fit train.optimizer "
                                  f"{self.cfg.train.optimizer!r} ({str(exc).splitlines()[0][:200]}); resume with the "
                                  "optimizer it was written with, or start a new run with run.init_from") from None
        lane_streams = extra.get("lane_streams", [])
        if len(lane_streams) != len(self.lanes) - 1:
            raise CheckpointError(f"{path}: written with {len(lane_streams) + 1} row shape(s) (canvas-size buckets), "
                                  f"the dataset {self.cfg.data.path} has {len(self.lanes)}: resume with the dataset the "
                                  "run was started on")
        for lane, stream_state in zip(self.lanes, [extra["stream"], *lane_streams]):
            lane.stream.load_state_dict(stream_state)
        if "lane_rng" in extra:
            self.lane_rng.bit_generator.state = extra["lane_rng"]
        self.explore_gen.set_state(extra["explore_gen"])
        self.step = int(extra["step"])
        for i, lane in enumerate(self.lanes):
            self._load_lane(lane, state, f"lane{i}." if i else "")
        self._truncate_metrics()
        if self.dist.is_main:
            log.info("resumed from %s at step %d", path, self.step)
            self._warn_config_changes(path)

    def _load_lane(self, lane: Lane, state: dict, prefix: str) -> None:
        """A lane's rows in flight (and their states, when the checkpoint kept them) from a checkpoint."""
        lane.inflight = InFlight(*(state[f"{prefix}inflight.{k}"].numpy().copy()
                                   for k in ("inputs", "labels", "puzzle_ids")))
        lane.halted = state[f"{prefix}inflight.halted"].numpy().copy()
        z_H = state.get(f"{prefix}carry.z_H")
        if z_H is not None and len(z_H) == self.B:
            s = self.local
            lane.carry = Carry(z_H=z_H[s].to(self.device, self.carry_dtype),
                               z_L=state[f"{prefix}carry.z_L"][s].to(self.device, self.carry_dtype),
                               steps=state[f"{prefix}carry.steps"][s].to(self.device),
                               halted=torch.as_tensor(lane.halted[s], device=self.device))
        else:
            if self.dist.is_main:
                log.warning("checkpoint has no in-flight states; the %d rows in flight restart their puzzles", self.B)
            lane.halted[:] = True

    def _warn_config_changes(self, path: Path) -> None:
        """A resume reads the config again: name every value that differs from the one the checkpoint was made
        with (a forgotten ``--set`` would otherwise change the schedule silently)."""
        from .config import config_changes

        try:
            saved = json.loads((path / "model.json").read_text())["train_config"]
        except (OSError, ValueError, KeyError):
            log.warning("%s: no train_config in model.json; cannot compare the config with the checkpoint's", path)
            return
        for change in config_changes(saved, self.cfg.to_dict()):
            log.warning("resumed with a config that differs from the checkpoint's: %s", change)

    def _warm_start(self, path: Path) -> None:
        """Start from another run's weights (raw and EMA) and step count, with fresh optimiser moments.

        This is how a run continues on another machine when only the weights can travel. The sample stream
        is reseeded with the step so it does not replay the start of the first run.
        """
        from safetensors.torch import load_file

        from ..checkpoint import load_state, read_card

        card = read_card(path)
        ema_state = load_state(path, card)
        check_compatible(self.model, ema_state, str(path))
        raw_file = Path(path) / "train_state.safetensors"
        raw = ({k.removeprefix("param."): v for k, v in load_file(raw_file).items() if k.startswith("param.")}
               if raw_file.is_file() else ema_state)
        check_compatible(self.model, raw, str(raw_file))
        self.model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in raw.items()})
        if self.ema is not None:
            for k in self.ema.shadow:
                self.ema.shadow[k] = ema_state[k].to(self.device, torch.float32)
        self.step = int(card.get("step", 0))
        for i, lane in enumerate(self.lanes):
            seed = self.cfg.run.seed + self.step
            lane.stream = SampleStream(lane.stream.sampler, seed=[seed, i] if i else seed)
        self.explore_gen.manual_seed(self.cfg.run.seed + 1 + self.step)
        if self.dist.is_main:
            log.info("warm start from %s at step %d (raw weights: %s)", path, self.step,
                     "train_state" if raw_file.is_file() else "the EMA weights")

    def _truncate_metrics(self) -> None:
        """Drop metric lines written after the checkpoint we resume from, so the stream stays consistent."""
        path = self.out_dir / "metrics.jsonl"
        if not self.dist.is_main or not path.is_file():
            return
        lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
        keep = [ln for ln in lines if json.loads(ln).get("step", 0) <= self.step]
        atomic_write_bytes(path, ("\n".join(keep) + "\n" if keep else "").encode())

    # --- the loop ------------------------------------------------------------------------------------------

    def _log(self, record: dict) -> None:
        if not self.dist.is_main:
            return
        with open(self.out_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        self.progress.update(self.step, record)

    def _reduce_train_metrics(self, acc: dict, steps: int, seconds: float) -> dict:
        keys = sorted(acc)
        vals = D.all_reduce_sum(torch.stack([acc[k].double() for k in keys]), self.dist).tolist()
        s = dict(zip(keys, vals))
        n = max(s["count"], 1.0)
        rec = {"step": self.step, "epoch": min(lane.stream.epoch for lane in self.lanes),
               "lr": self.cfg.train.lr * lr_factor(self.step - 1, self.cfg.train.lr_warmup_steps, self.cfg.train.steps,
                                                   self.cfg.train.lr_min_ratio, self.cfg.train.lr_cycle_start),
               "loss": s["loss"] / (steps * self.B), "lm_loss": s["lm_loss"] / (steps * self.B),
               "q_halt_loss": s["q_halt_loss"] / (steps * self.B),
               "q_continue_loss": s["q_continue_loss"] / (steps * self.B),
               "train/count": int(s["count"]), "train/accuracy": s["accuracy"] / n,
               "train/exact_accuracy": s["exact_accuracy"] / n, "train/q_halt_accuracy": s["q_halt_accuracy"] / n,
               "train/steps": s["steps"] / n,
               "samples_per_s": steps * self.B / seconds, "steps_per_s": steps / seconds, "world": self.dist.world}
        if self.peak:
            rec["mfu"] = self._flops / seconds / (self.peak * self.dist.world)  # per GPU
        self._flops = 0.0
        return rec

    def _check_replicas(self) -> int:
        """Compare every rank's weights, puzzle-embedding table and EMA with rank 0's, bit for bit.

        DDP keeps the weights equal by construction and the puzzle embeddings are updated from gathered
        gradients on every rank, so a difference means a bug or faulty hardware: it is logged, counted in the
        metrics and repaired by copying rank 0's tensors, so the ranks do not drift apart.
        """
        named = {f"param.{k}": p for k, p in self.model.named_parameters()}
        named["puzzle_emb"] = self.model.puzzle_emb
        if self.ema is not None:
            named.update({f"ema.{k}": v for k, v in self.ema.shadow.items()})
        bad = D.mismatched_replicas(named, self.dist)
        if bad:
            if self.dist.is_main:
                log.warning("step %d: %d tensor(s) differ between ranks (%s); copying rank 0's", self.step,
                            len(bad), ", ".join(bad[:5]) + (" ..." if len(bad) > 5 else ""))
            D.broadcast_from_main([named[k] for k in bad], self.dist)
        return len(bad)

    def _on_signal(self, signum, frame):
        if self._stop_signal is not None:
            if signum == signal.SIGINT:  # a second Ctrl-C: stop now, the previous checkpoint stays intact
                raise KeyboardInterrupt
            return  # another SIGTERM (e.g. pkill and torchrun's forward): already stopping
        self._stop_signal = signum
        if self.dist.is_main:
            log.warning("received %s: finishing step %d and saving a checkpoint%s", signal.Signals(signum).name,
                        self.step, " (Ctrl-C again to abort)" if signum == signal.SIGINT else "")

    def fit(self) -> dict:
        t = self.cfg.train
        if self.dist.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            (self.out_dir / "config.toml").write_text(dump_toml(self.cfg.to_dict()))
            log.info("model: %s, %.2fM parameters, %.2f GFLOP per training segment per sample; task %s, "
                     "%d train examples; %d rank(s) on %s%s", self.model.config.arch, self.model.num_params() / 1e6,
                     self.flops_per_step / self.B / 1e9, self.task, self.train_split.meta.size, self.dist.world,
                     self.device, f" (DDP over {torch.distributed.get_backend()})" if self.dist.enabled else "")
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        acc: dict = {}
        n_acc, t0 = 0, time.perf_counter()
        eval_metrics: dict = {}
        try:
            while self.step < t.steps:
                m = self.train_step()
                for k, v in m.items():
                    acc[k] = acc.get(k, 0) + v.detach().double()
                n_acc += 1
                if self.step % t.log_interval == 0 or self.step == t.steps:
                    if self.device.type == "cuda":
                        torch.cuda.synchronize()
                    rec = self._reduce_train_metrics(acc, n_acc, time.perf_counter() - t0)
                    if self.dist.world > 1:
                        rec["dist/replica_mismatches"] = self._check_replicas()
                    self._log(rec)
                    acc, n_acc, t0 = {}, 0, time.perf_counter()
                else:
                    self.progress.update(self.step)
                if t.eval_interval and self.step % t.eval_interval == 0 and self.step < t.steps:
                    fresh = self.evaluate()
                    if fresh:  # {} when abandoned for a stop signal: the card keeps the last complete one
                        eval_metrics = fresh
                        self._log({"step": self.step, **eval_metrics})
                    t0 = time.perf_counter()
                stop = D.any_rank(self._stop_signal is not None, self.dist)
                if self.step % t.checkpoint_interval == 0 or stop:
                    path = self.save_checkpoint(eval_metrics)
                    t0 = time.perf_counter()
                    if stop:
                        raise TrainingInterrupted(self.step, path)
            path = self.save_checkpoint(eval_metrics)  # progress is safe before the final evaluation
            eval_metrics = self.evaluate()
            if self._stop_signal is not None:  # stopped during the final evaluation: the checkpoint is written
                raise TrainingInterrupted(self.step, path)
            if eval_metrics:
                self._log({"step": self.step, **eval_metrics})
                path = self.save_checkpoint(eval_metrics)
            if self.dist.is_main:
                log.info("finished at step %d; final checkpoint %s", self.step, path)
            return eval_metrics
        finally:
            for s, h in previous.items():
                signal.signal(s, h)
            self.progress.close()


class TrainingInterrupted(Exception):
    """Raised after a signal once the checkpoint of the current step has been written."""

    def __init__(self, step: int, path: Path | None):
        super().__init__(f"interrupted at step {step}; checkpoint {path}")
        self.step, self.path = step, path
