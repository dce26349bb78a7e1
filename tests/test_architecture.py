"""The dependency direction of DESIGN.md: only orchestrator/ touches Ray and MLflow,
and nothing imports orchestrator."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PURE = ["trainables", "data", "packing", "search_spaces"]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", PURE)
def test_pure_packages_import_neither_ray_mlflow_nor_orchestrator(package):
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = _imports(path) & {"ray", "mlflow", "orchestrator"}
        if bad:
            offenders.append(f"{path.relative_to(ROOT)}: {sorted(bad)}")
    assert not offenders, offenders


def test_trainables_do_not_import_search_spaces_or_packing():
    for path in (ROOT / "trainables").rglob("*.py"):
        assert not _imports(path) & {"search_spaces", "packing"}, path
