"""Stage names, checkpoint kinds, metric keys and file names are defined once (``retscale.study.names``): the study,
the analysis and the report select and write by those constants, never by a literal that a rename would leave
behind (and so silently empty a report section)."""

from __future__ import annotations

import ast
from pathlib import Path

from retscale.study import names

SRC = Path(__file__).resolve().parents[1] / "src" / "retscale"
PACKAGES = ("study", "analysis", "report")
NAMES = ({str(v) for e in (names.StageName, names.CheckpointKind, names.Metric) for v in e}
         | {names.SHARED, names.BM25, names.ICL_ALL_TASKS, names.HELDOUT_TASK})
FILES = {names.STORE_FILE, names.CONFIG_FILE, names.LOG_FILE, names.RESULTS_CSV, names.RESULTS_PARQUET,
         names.REPORT_FILE, names.FIGURES_DIR, names.TABLES_DIR, names.STAGES_DIR}


def _literals(node: ast.AST) -> list[str]:
    """String constants of a node, looking into tuples, lists and sets."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [s for e in node.elts for s in _literals(e)]
    return []


def _misuses(path: Path, root: Path = SRC) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Compare):  # p.kind == "control", r.metric in ("accuracy", ...)
            found = [s for part in (node.left, *node.comparators) for s in _literals(part) if s in NAMES]
        elif isinstance(node, ast.keyword) and node.arg in ("stage", "metric", "kind", "task", "checkpoint"):
            found = [s for s in _literals(node.value) if s in NAMES]  # store.rows(stage="icl")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):  # out / "report.html"
            found = [s for s in _literals(node.right) if s in FILES]
        else:
            continue
        out += [f"{path.relative_to(root)}:{node.lineno}: {s!r}" for s in found]
    return out


def test_study_analysis_and_report_use_the_names_module() -> None:
    files = [p for pkg in PACKAGES for p in (SRC / pkg).rglob("*.py") if p.name != "names.py"]
    assert len(files) > 10
    misuses = [m for p in files for m in _misuses(p)]
    assert not misuses, "use retscale.study.names instead of literals:\n" + "\n".join(misuses)


def test_the_scan_catches_a_literal(tmp_path: Path) -> None:
    bad = tmp_path / "example.py"
    bad.write_text('def f(p, out, store):\n    return p.kind == "control" or out / "report.html" or '
                   'store.rows(stage="icl")\n')
    assert len(_misuses(bad, tmp_path)) == 3
