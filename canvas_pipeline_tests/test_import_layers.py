"""The package's layers and its lack of import cycles, as import-linter reads them from
pyproject.toml: tools <- data <- guardrails <- training <- evaluation <- release <- defs and the
CLI, nothing importing the CLI, and no cycle between the modules of any package. Planted
violations in a copy of the package must break the contracts, naming the import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )


def contracts() -> dict[str, dict]:
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {c["id"]: c for c in config["contracts"]}


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    shutil.copytree(
        REPO_ROOT / "canvas_pipeline", tmp_path / "canvas_pipeline", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def plant(root: Path, module: str, line: str) -> None:
    path = root / "canvas_pipeline" / module
    path.write_text(path.read_text() + f"\n{line}\n")


def test_the_package_keeps_its_layers_and_has_no_import_cycle() -> None:
    result = lint_imports(REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout


def test_every_top_level_module_has_a_layer() -> None:
    """A new top-level package or module outside the layer list would escape the contract."""
    top = {p.stem for p in (REPO_ROOT / "canvas_pipeline").iterdir() if p.suffix == ".py" and p.stem != "__init__"}
    top |= {p.name for p in (REPO_ROOT / "canvas_pipeline").iterdir() if (p / "__init__.py").is_file()}
    layers = contracts()["layers"]
    assert set(layers["layers"]) == top
    assert layers["layers"][0] == "cli" and layers["layers"][-1] == "tools"  # nothing imports the CLI
    assert contracts()["acyclic"]["ancestors"] == ["canvas_pipeline"]


def test_an_upward_import_breaks_the_layers_naming_it(package_copy: Path) -> None:
    plant(package_copy, "guardrails/result.py", "import canvas_pipeline.cli  # planted")
    result = lint_imports(package_copy)
    assert result.returncode == 1
    assert "canvas_pipeline.guardrails is not allowed to import canvas_pipeline.cli" in result.stdout
    assert "canvas_pipeline.guardrails.result -> canvas_pipeline.cli" in result.stdout


def test_a_function_level_import_of_the_cli_counts_too(package_copy: Path) -> None:
    plant(package_copy, "release/card.py", "def planted():\n    from canvas_pipeline.cli import main\n    return main")
    result = lint_imports(package_copy)
    assert result.returncode == 1
    assert "canvas_pipeline.release.card -> canvas_pipeline.cli" in result.stdout


def test_a_cycle_between_two_modules_of_one_layer_breaks_the_acyclic_contract(package_copy: Path) -> None:
    # tools.validity imports tools.codec; codec importing validity back closes a cycle that
    # breaks no layer (both are in tools).
    plant(package_copy, "tools/codec.py", "from canvas_pipeline.tools import validity  # planted")
    result = lint_imports(package_copy)
    assert result.returncode == 1
    assert "No cycles are allowed in canvas_pipeline.tools" in result.stdout
    assert "canvas_pipeline.guardrails is not allowed" not in result.stdout
