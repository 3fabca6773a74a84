"""Training: config (``config``), losses, optimisers, evaluation and the trainer (``trainer.Trainer``)."""
