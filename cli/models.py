"""`hrm models`: the bundled models with their measured accuracy and where it was measured."""

from __future__ import annotations

from . import output
from .options import ReportFormat, ReportOpt


@output.handle_errors
def models(fmt: ReportOpt = ReportFormat.human) -> None:
    """List the models shipped with this installation."""
    from dataclasses import asdict

    from hrm_sdk.solvers.registry import bundled

    found = bundled()
    if fmt == ReportFormat.json:
        output.emit_json([asdict(m) for m in found])
        return
    if not found:
        output.message("no bundled models in this installation")
        return
    for m in found:
        output.stdout.print(f"{m.name:10s} {m.task:7s} {m.arch}  {m.params / 1e6:.2f}M parameters  {m.path}", markup=False)
        for key, res in m.results.items():
            text = res.get("summary") if isinstance(res, dict) else res
            if text is None:  # no summary line: its values, not a Python dict
                text = output.summary({k: v for k, v in res.items() if not isinstance(v, (dict, list))})
            output.stdout.print(f"    {key}: {text}", markup=False)
