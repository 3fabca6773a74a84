"""ACT losses: token cross-entropy (stablemax or softmax), the Q-halt and Q-continue BCE terms, and metrics.

total = lm_loss + 0.5 * (q_halt_loss + q_continue_loss), each summed over rows; the LM loss of a row is its
mean over labelled positions. Labels of 0 are ignored. Metrics count only the rows that halted at this step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def stablemax_log_probs(logits: Tensor) -> Tensor:
    """log of s(x)/sum s(x), s(x) = 1/(1-x) for x<0 else x+1, in float64 (Prieto et al., 2025)."""
    x = logits.double()
    s = torch.where(x < 0, 1 / (1 - x + 1e-30), x + 1)
    return torch.log(s / s.sum(-1, keepdim=True))


def token_losses(logits: Tensor, labels: Tensor, kind: str) -> Tensor:
    """Per-position loss [B, S]; zero where the label is ignored (0)."""
    mask = labels != 0
    if kind == "stablemax":
        logp = stablemax_log_probs(logits)
        loss = -torch.gather(logp, -1, labels.long().unsqueeze(-1)).squeeze(-1)
    else:
        loss = F.cross_entropy(logits.float().transpose(1, 2), labels.long(), reduction="none")
    return torch.where(mask, loss, torch.zeros((), dtype=loss.dtype, device=loss.device))


def act_loss(out, labels: Tensor, halted: Tensor, steps: Tensor, kind: str = "stablemax") -> tuple[Tensor, dict]:
    """-> (summed loss, metric sums). `out` is a StepOutput; `halted`/`steps` come from the new carry."""
    mask = labels != 0
    counts = mask.sum(-1)
    denom = counts.clamp(min=1)
    lm_loss = (token_losses(out.logits, labels, kind).sum(-1) / denom).sum()

    with torch.no_grad():
        correct = (out.logits.argmax(-1) == labels) & mask
        seq_correct = (correct.sum(-1) == counts) & (counts > 0)
    q_halt_loss = F.binary_cross_entropy_with_logits(out.q_halt, seq_correct.to(out.q_halt.dtype), reduction="sum")
    q_cont_loss = torch.zeros((), device=lm_loss.device)
    if out.target_q_continue is not None:
        q_cont_loss = F.binary_cross_entropy_with_logits(out.q_continue, out.target_q_continue, reduction="sum")
    total = lm_loss.float() + 0.5 * (q_halt_loss + q_cont_loss)

    with torch.no_grad():
        done = halted & (counts > 0)
        metrics = {
            "count": done.sum(),
            "accuracy": torch.where(done, correct.sum(-1) / denom, 0).sum(),
            "exact_accuracy": (done & seq_correct).sum(),
            "q_halt_accuracy": (done & ((out.q_halt >= 0) == seq_correct)).sum(),
            "steps": torch.where(done, steps, 0).sum(),
            "lm_loss": lm_loss.detach().float(),
            "q_halt_loss": q_halt_loss.detach(),
            "q_continue_loss": q_cont_loss.detach(),
        }
    return total, metrics
