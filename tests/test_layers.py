"""The package's layers (``[tool.importlinter]`` in pyproject.toml): foundation → data → models → bm25 / pairs →
mining → finetune / evaluate / icl / pretrain → study → analysis → report → experiment → cli. No package imports a
layer above it and no two modules import each other, imports inside functions included."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINT = "import sys; from importlinter.cli import lint_imports_command; sys.argv[0] = 'lint-imports'; lint_imports_command()"


def _lint(src: Path) -> subprocess.CompletedProcess[str]:
    """import-linter on the ``retscale`` package under ``src`` (its own process: the graph is built from files)."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run([sys.executable, "-c", LINT, str(REPO / "pyproject.toml"), "--no-cache"], env=env,
                           capture_output=True, text=True, timeout=120)


def test_packages_keep_their_layers_without_cycles() -> None:
    result = _lint(REPO / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_a_lazy_import_of_a_higher_layer_is_caught(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(REPO / "src" / "retscale", src / "retscale", ignore=shutil.ignore_patterns("__pycache__"))
    stages = src / "retscale" / "study" / "stages.py"
    stages.write_text(stages.read_text() + "\n\ndef _report(study_dir):\n"
                      "    from retscale.report.html import build_report\n\n    return build_report(study_dir)\n")
    result = _lint(src)
    assert result.returncode != 0
    assert "retscale.study.stages -> retscale.report.html" in result.stdout
    assert "retscale layers BROKEN" in result.stdout
