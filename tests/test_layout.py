"""The repository's shape: layers point one way, and the installed namespace holds every package."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAPPED = {"exporters": "hrm_sdk.exporters", "solvers": "hrm_sdk.solvers", "serving": "hrm_sdk.serving",
          "cli": "hrm_sdk.cli"}
# Each layer may import only the ones listed (and itself).
ALLOWED = {"hrm_sdk": {"hrm_sdk"}, "hrm_sdk.exporters": {"hrm_sdk", "hrm_sdk.exporters"},
           "hrm_sdk.solvers": {"hrm_sdk", "hrm_sdk.solvers", "hrm_sdk.exporters"},
           "hrm_sdk.serving": {"hrm_sdk", "hrm_sdk.solvers", "hrm_sdk.serving"},
           "hrm_sdk.cli": {"hrm_sdk", "hrm_sdk.exporters", "hrm_sdk.solvers", "hrm_sdk.serving", "hrm_sdk.cli"}}


def _layer(module: str) -> str | None:
    for name in sorted(ALLOWED, key=len, reverse=True):
        if module == name or module.startswith(name + "."):
            return name
    return None


def _modules():
    """(file, its layer, its package) for every Python file of the installed packages."""
    for folder, layer in [("hrm_sdk", "hrm_sdk"), *MAPPED.items()]:
        for path in (REPO / folder).rglob("*.py"):
            rel = path.relative_to(REPO / folder).with_suffix("")
            parts = [layer, *rel.parts]
            package = ".".join(parts[:-1] if parts[-1] != "__init__" else parts[:-1])
            yield path, layer, package


def _imports(path: Path, package: str):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the file's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                yield ".".join(base + ([node.module] if node.module else []))
            else:
                yield node.module


def test_layers_point_one_way():
    wrong = []
    for path, layer, package in _modules():
        for target in _imports(path, package):
            if target.split(".")[0] in MAPPED:
                wrong.append(f"{path.relative_to(REPO)}: imports {target} (use {MAPPED[target.split('.')[0]]})")
            dest = _layer(target)
            if dest and dest not in ALLOWED[layer]:
                wrong.append(f"{path.relative_to(REPO)}: {layer} imports {target}")
            if layer in ("hrm_sdk.solvers", "hrm_sdk.serving") and target.startswith("hrm_sdk.training"):
                wrong.append(f"{path.relative_to(REPO)}: solving imports training ({target}); go through the runtime")
    assert not wrong, "\n".join(wrong)


def test_pyproject_lists_every_package():
    tool = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(tool["packages"])
    found = {package for path, _, package in _modules() if path.name == "__init__.py"}
    assert found == listed, f"missing {sorted(found - listed)}, stale {sorted(listed - found)}"
    assert tool["package-dir"] == {v: k for k, v in MAPPED.items()}


def test_no_module_over_600_lines():
    long = [f"{p.relative_to(REPO)}: {n}" for p, _, _ in _modules()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 600]
    assert not long, long


def test_every_extra_named_in_an_error_exists():
    """require("module", "extra", ...) tells users which extra to install: it must be one pyproject defines."""
    import re

    extras = set(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    named = {m.group(1) for path, _, _ in _modules()
             for m in re.finditer(r"require\(\s*\"[\w.]+\",\s*\"([\w-]+)\"", path.read_text(encoding="utf-8"))}
    assert named and named <= extras, sorted(named - extras)
