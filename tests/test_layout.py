"""The packages depend one way: inference (the light serving package) imports nothing from training;
in training, corpus <- evaluation <- finetune <- release <- annotate <- commands <- the CLI. Lazy
imports inside functions count too: a layer that reaches up is a cycle waiting to happen."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = [
    "inference",
    "training.corpus",
    "training.evaluation",
    "training.finetune",
    "training.release",
    "training.annotate",
    "training.commands",
    "training.cli",
]


def layer(module: str) -> int:
    """The index of the deepest layer ``module`` belongs to."""
    return max(i for i, name in enumerate(LAYERS) if module == name or module.startswith(name + "."))


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] in ("inference", "training")}


def project_modules() -> dict[str, Path]:
    modules = {}
    for package in ("inference", "training"):
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def test_every_module_sits_in_a_layer() -> None:
    unplaced = [m for m in project_modules() if m not in ("inference", "training") and not any(
        m == name or m.startswith(name + ".") for name in LAYERS[1:] + ["inference"]
    )]
    assert unplaced == []


def test_imports_point_down_the_layers_only() -> None:
    upward = []
    for module, path in sorted(project_modules().items()):
        if module in ("inference", "training"):
            continue
        for target in sorted(imports(path)):
            if target != "training" and layer(target) > layer(module):
                upward.append(f"{module} imports {target}")
    assert upward == []
