"""The device-resident ACT loop (runtime/resident.py) gives each puzzle what the host loop gives it.

Run on the CPU with the tiny model: the same code runs on CUDA, where ``run_act`` takes it by default."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from hrm_sdk.runtime import ACTPolicy, run_all
from hrm_sdk.runtime.backends.base import Backend
from hrm_sdk.runtime.resident import run_resident
from test_runtime import puzzles


class Counter(Backend):
    """A segment whose state counts the segments since the row's reset, that halts a puzzle at segment
    1 + (sum of its tokens) mod 16 and predicts (token + count) mod 10: both loops' bookkeeping (refills, moves,
    buckets) under staggered halting, with answers that show a mixed-up row at once."""

    name, supports_move = "counter", True

    def __init__(self):
        self.torch, self.device = torch, torch.device("cpu")
        super().__init__(SimpleNamespace(seq_len=81, halt_max_steps=16))

    def new_states(self, batch):
        return torch.zeros(batch, 1), torch.zeros(batch, 1)

    def run_segment(self, tokens, puzzle_ids, z_H, z_L, reset):
        count = torch.where(reset[:, None], 0.0, z_H) + 1
        target = (tokens.long().sum(1) % 16 + 1).float()
        q_halt = (count[:, 0] >= target).float()
        logits = torch.nn.functional.one_hot((tokens.long() + count.long()) % 10, 10).float()
        return count, z_L, logits, q_halt, 1 - q_halt

    def _allocate_states(self, capacity):
        self.z_H, self.z_L = self.new_states(capacity)

    def _move_states(self, src, dst):
        self.z_H[dst], self.z_L[dst] = self.z_H[src], self.z_L[src]

    def _run(self, n):
        t = lambda a: torch.from_numpy(a[:n])  # noqa: E731
        self.z_H[:n], _, self.logits, q_halt, q_cont = self.run_segment(t(self.tokens), t(self.puzzle_ids),
                                                                        self.z_H[:n], self.z_L[:n], t(self.reset))
        return q_halt.numpy(), q_cont.numpy()

    def fetch_logits(self, slots):
        return self.logits[torch.from_numpy(np.asarray(slots))].numpy()


def both(backend, items, batch, policy):
    backend.resident = False
    host = run_all(backend, items, batch, policy)
    resident = sorted(run_resident(backend, items, batch, policy, check_every=3), key=lambda r: r.index)
    return host, resident


def same(host, resident):
    assert [r.index for r in resident] == list(range(len(host)))
    for h, r in zip(host, resident):
        assert (h.steps, h.halted_by) == (r.steps, r.halted_by), h.index
        np.testing.assert_array_equal(h.prediction, r.prediction)
        np.testing.assert_allclose(h.confidence, r.confidence, rtol=1e-5, atol=1e-6)
        assert h.q_halt == pytest.approx(r.q_halt, abs=1e-4) and h.q_continue == pytest.approx(r.q_continue, abs=1e-4)


@pytest.mark.parametrize("policy", [ACTPolicy(), ACTPolicy(max_steps=5, halting="max"), ACTPolicy(min_steps=3),
                                    ACTPolicy(max_steps=6)])
@pytest.mark.parametrize("n,batch", [(300, 64), (64, 64), (5, 64), (1, 8), (1000, 256)])
def test_resident_bookkeeping_matches_host_loop(policy, n, batch):
    items = puzzles(n)
    host, resident = both(Counter(), items, batch, policy)
    same(host, resident)
    if policy.halting == "q" and n > 50:
        assert len({r.steps for r in host}) > 5  # staggered: refills and buckets were exercised


@pytest.mark.parametrize("policy", [ACTPolicy(), ACTPolicy(max_steps=5, halting="max")])
def test_resident_loop_matches_host_loop_on_a_real_model(tiny_model, policy):
    from hrm_sdk.runtime.backends.torch_backend import TorchBackend

    be = TorchBackend(tiny_model, device="cpu")
    same(*both(be, puzzles(40) + puzzles(160, start=2000), 64, policy))


def test_resident_loop_with_nothing_to_do():
    assert list(run_resident(Counter(), [], 8)) == []


def test_run_act_takes_the_resident_loop_only_for_lists(tiny_model):
    from hrm_sdk.runtime import run_act
    from hrm_sdk.runtime.backends.torch_backend import TorchBackend

    be = TorchBackend(tiny_model, device="cpu")
    assert not be.resident  # on a CPU the host loop is the default
    be.resident = True
    calls = []
    original = be.run_segment
    be.run_segment = lambda *a: calls.append(1) or original(*a)
    items = puzzles(10)
    list(run_act(be, iter(items), 8))  # an iterator (the batcher's kind): the host loop
    assert not calls
    list(run_act(be, items, 8))
    assert calls
