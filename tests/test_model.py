"""The model family: reference sizes, the segment interface, halting rules and where gradients flow."""

import pytest
import torch

from hrm_sdk.errors import ConfigError
from hrm_sdk.model import HRM, ModelConfig


def tiny(arch="hrm", **kw):
    base = dict(arch=arch, hidden_size=32, num_heads=2, H_layers=1, L_layers=1, H_cycles=2, L_cycles=3,
                halt_max_steps=5, puzzle_emb_len=1 if arch == "hrm" else 4)
    base.update(kw)
    torch.manual_seed(0)
    return HRM(ModelConfig(**base))


def batch(n=3, vocab=11, seq=81):
    return {"tokens": torch.randint(1, vocab, (n, seq)), "puzzle_ids": torch.zeros(n, dtype=torch.long)}


def test_reference_sizes():
    """Parameter counts and FLOPs of the reference configurations (hrm-reference.md sections 3.5, 6.2, 7)."""
    hrm = HRM(ModelConfig())
    assert hrm.num_params() == 27_275_266
    assert hrm.flops_per_segment() / 1e9 == pytest.approx(13.7, abs=0.05)
    trm_mlp = HRM(ModelConfig(arch="trm", L_layers=2, H_cycles=3, L_cycles=6, puzzle_emb_len=16, mlp_t=True,
                              pos_encodings="none"))
    assert trm_mlp.num_params() / 1e6 == pytest.approx(5.03, abs=0.01)
    assert trm_mlp.flops_per_segment() / 1e9 == pytest.approx(25.63, abs=0.01)
    trm_att = HRM(ModelConfig(arch="trm", L_layers=2, H_cycles=3, L_cycles=6, puzzle_emb_len=16))
    assert trm_att.num_params() / 1e6 == pytest.approx(6.83, abs=0.01)


@pytest.mark.parametrize("arch", ["hrm", "trm"])
def test_step_interface(arch):
    m = tiny(arch).eval()
    carry = m.initial_carry(3)
    assert carry.halted.all()
    carry, out = m.step(carry, batch())
    P = m.config.puzzle_emb_len
    assert carry.z_H.shape == (3, 81 + P, 32) and carry.z_L.shape == carry.z_H.shape
    assert out.logits.shape == (3, 81, 11) and out.logits.dtype == torch.float32
    assert out.q_halt.shape == out.q_continue.shape == (3,)
    assert carry.steps.tolist() == [1, 1, 1] and not carry.halted.any()
    if arch == "trm":  # no continue head: halting rule q_halt > q_continue means q_halt > 0
        assert (out.q_continue == 0).all() and m.q_head.out_features == 1


@pytest.mark.parametrize("arch", ["hrm", "trm"])
def test_eval_runs_max_steps_training_halts_by_q(arch):
    m = tiny(arch, halt_exploration_prob=0.0)
    with torch.no_grad():
        m.q_head.bias[0] = 5.0  # q_halt far above q_continue: training halts at once
    b = batch(4)
    m.eval()
    carry = m.initial_carry(4)
    for s in range(1, 6):
        carry, _ = m.step(carry, b)
        assert carry.halted.all() == (s == 5)
    m.train()
    carry, out = m.step(m.initial_carry(4), b)
    assert carry.halted.all()
    # An exploration minimum keeps a row running even when Q says halt.
    carry, _ = m.step(m.initial_carry(4), b, min_steps=torch.tensor([0, 3, 0, 3], dtype=torch.int32))
    assert carry.halted.tolist() == [True, False, True, False]


def test_hrm_q_learning_target_only_for_continue_head():
    m = tiny("hrm").train()
    _, out = m.step(m.initial_carry(2), batch(2))
    assert out.target_q_continue is not None and ((0 < out.target_q_continue) & (out.target_q_continue < 1)).all()
    m = tiny("trm").train()
    _, out = m.step(m.initial_carry(2), batch(2))
    assert out.target_q_continue is None


@pytest.mark.parametrize("arch,expected_L_with_grad", [("hrm", 1), ("trm", 3)])
def test_gradient_depth(arch, expected_L_with_grad):
    """HRM: only the last L- and H-update carry gradients; TRM: the whole last cycle."""
    m = tiny(arch).train()
    calls = []
    m.L_level.register_forward_hook(lambda mod, inp, out: calls.append(("L", torch.is_grad_enabled())))
    H = m.H_level or m.L_level
    if m.H_level is not None:
        m.H_level.register_forward_hook(lambda mod, inp, out: calls.append(("H", torch.is_grad_enabled())))
    m.step(m.initial_carry(2), batch(2), min_steps=torch.zeros(2, dtype=torch.int32))
    total = m.config.H_cycles * m.config.L_cycles + (m.config.H_cycles if H is not m.L_level else 0)
    segment = calls[: total if m.H_level is not None else m.config.H_cycles * (m.config.L_cycles + 1)]
    with_grad = [name for name, g in segment if g]
    if arch == "hrm":
        assert with_grad == ["L", "H"]
    else:  # shared net: L_cycles z-updates plus the y-update, all through L_level
        assert len(with_grad) == expected_L_with_grad + 1


def test_carry_is_detached_and_reset():
    m = tiny("hrm").train()
    carry, out = m.step(m.initial_carry(2), batch(2))
    assert not carry.z_H.requires_grad and not carry.z_L.requires_grad
    carry.halted = torch.tensor([True, False])
    reset = m.reset(carry, carry.halted)
    assert torch.equal(reset.z_H[0], m.H_init.expand_as(reset.z_H[0]))
    assert torch.equal(reset.z_H[1], carry.z_H[1]) and reset.steps.tolist() == [0, 1]


def test_config_errors():
    with pytest.raises(ConfigError, match="arch"):
        ModelConfig(arch="gpt")
    with pytest.raises(ConfigError, match="unknown key"):
        ModelConfig.from_dict({"hidden": 3})
    with pytest.raises(ConfigError, match="heads"):
        ModelConfig(hidden_size=30, num_heads=4)


@pytest.mark.parametrize("pos,mlp_t", [("learned", False), ("none", True)])
def test_variants_run(pos, mlp_t):
    m = tiny("trm", pos_encodings=pos, mlp_t=mlp_t).train()
    carry, out = m.step(m.initial_carry(2), batch(2))
    out.logits.float().sum().backward()
    assert all(p.grad is not None for p in m.L_level.parameters())


def test_rope2d_depends_on_row_and_column_offsets_only():
    from hrm_sdk.model import apply_rope, rope2d_tables

    cos, sin = rope2d_tables(prefix=2, side=5, head_dim=8, theta=10000.0)
    assert cos.shape == (2 + 25, 8)
    q, k = torch.randn(1, 1, 1, 8), torch.randn(1, 1, 1, 8)

    def score(p, r):  # attention logit between positions p and r
        rot = lambda x, i: apply_rope(x, cos[i:i + 1], sin[i:i + 1])  # noqa: E731
        return float((rot(q, p) * rot(k, r)).sum())

    cell = lambda r, c: 2 + 5 * r + c  # noqa: E731
    # Same (row, column) offset, different places on the grid: same score. 1D RoPE over the flattened
    # grid gives (0,4)->(1,0) the offset of two horizontal neighbours; 2D RoPE does not.
    assert score(cell(0, 0), cell(1, 2)) == pytest.approx(score(cell(2, 1), cell(3, 3)), abs=1e-4)
    assert score(cell(0, 4), cell(1, 0)) != pytest.approx(score(cell(0, 0), cell(0, 1)), abs=1e-3)
    assert torch.equal(cos[0], cos[cell(0, 0)])  # the prefix sits at row 0, column 0


def test_rope2d_config_checks_and_runs():
    with pytest.raises(ConfigError, match="square"):
        ModelConfig(seq_len=80, pos_encodings="rope2d", hidden_size=64, num_heads=2)
    with pytest.raises(ConfigError, match="divisible by 4"):
        ModelConfig(seq_len=81, pos_encodings="rope2d", hidden_size=12, num_heads=2)
    model = HRM(ModelConfig(arch="trm", seq_len=81, pos_encodings="rope2d", hidden_size=64, num_heads=2,
                            L_layers=1, H_cycles=1, L_cycles=1, vocab_size=11)).eval()
    carry = model.initial_carry(2)
    carry, out = model.step(carry, {"tokens": torch.randint(1, 11, (2, 81)), "puzzle_ids": torch.zeros(2)})
    assert out.logits.shape == (2, 81, 11)
