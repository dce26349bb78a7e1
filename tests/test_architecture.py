"""What docs/architecture.md promises, checked on every test run: only orchestrator/
touches Ray and MLflow and nothing imports it; orchestrator/ knows no model family
by name; every family has the same files; no file outside a model definition grows
past the size a newcomer reads in one sitting."""

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


# Every family has these; data.py (its per-trial view of the data) and plots.py only
# where it has its own, not the forecasting families' shared ones in trainables/.
FAMILY_FILES = ("config.py", "model.py", "task.py", "serving.py")
MAX_LINES = 350
SOURCE_DIRS = ["orchestrator", "trainables", "data", "packing", "search_spaces", "benchmarks", "examples", "tests"]


def _families() -> dict[str, Path]:
    from trainables.registry import FAMILIES

    return {name: ROOT / Path(*module.split(".")[:-1]) for name, module in FAMILIES.items()}


@pytest.mark.parametrize("family", sorted(_families()))
def test_every_family_has_the_layout(family):
    """config, model, task (SPEC and fit), serving: a reader finds the same thing in
    the same file in every family."""
    package = _families()[family]
    missing = [name for name in FAMILY_FILES if not (package / name).is_file()]
    assert not missing, f"{package.relative_to(ROOT)} lacks {missing} (docs/adding-a-family.md)"


def test_orchestrator_names_no_model_family():
    """The orchestrator reads families through the registry only; the demo's preset
    (commands.DEMO) is the one place a family is named."""
    names = set(_families()) | {path.name for path in _families().values()}
    offenders = []
    for path in sorted((ROOT / "orchestrator").rglob("*.py")):
        tree = ast.parse(path.read_text())
        allowed: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "DEMO" for t in node.targets):
                allowed.update(range(node.lineno, node.end_lineno + 1))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.lineno not in allowed:
                words = set(node.value.lower().replace("-", " ").replace("/", " ").replace(".", " ").split())
                if words & names:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value[:60]!r}")
    assert not offenders, offenders


def test_no_file_outside_model_definitions_is_over_350_lines():
    long = []
    for folder in SOURCE_DIRS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.name == "model.py":
                continue
            lines = len(path.read_text().splitlines())
            if lines > MAX_LINES:
                long.append(f"{path.relative_to(ROOT)}: {lines}")
    assert not long, long
