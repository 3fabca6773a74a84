"""What every evaluation reports, shared by the trainer's periodic evaluation (``training.evaluate``, PyTorch)
and ``hrm eval`` (``runtime.evaluate``, any backend): exact accuracy at these fixed segment budgets, besides ACT
halting. Plain Python; no layer above it."""

BUDGETS = (1, 2, 4, 8, 16, 32, 64)
