"""The `hrm` command line: one module per command; `main.py` only wires them together."""
