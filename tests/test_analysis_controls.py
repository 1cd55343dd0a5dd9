"""Random-init controls in the analysis: kept out of fits and correlations, reported as per-size gains."""

from __future__ import annotations

from pathlib import Path

import pytest

from retscale.analysis.summary import analyze, write_tables
from retscale.analysis.table import load_table
from retscale.report.html import build_report
from retscale.study.names import CheckpointKind, StageName
from retscale.study.store import ModelEntry, open_store
from synthetic_study import Truth, evaluation_rows, finish_stage, make_synthetic_study_dir

CONTROL_SCORE = {"4M": 0.10, "12M": 0.35, "36M": 0.90}  # 36M's control beats every pretrained checkpoint


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    truth = Truth()
    out = make_synthetic_study_dir(tmp_path_factory.mktemp("controls"), truth)
    with open_store(out) as store:
        n_params = {"4M": 4e6, "12M": 12e6, "36M": 36e6}
        for size, score in CONTROL_SCORE.items():
            name = f"{size}-init"
            store.put_checkpoint(ModelEntry(name, CheckpointKind.CONTROL, size, n_params[size], 0, 0.0, {}))
            finish_stage(store, name, StageName.EVALUATE, evaluation_rows(truth, score))
    return out


def test_controls_stay_out_of_fits_and_give_per_size_gains(study_dir: Path) -> None:
    with open_store(study_dir, readonly=True) as store:
        table = load_table(store, tasks=list(Truth().tasks))
    result = analyze(table, n_boot=100)
    assert result.n_checkpoints == 15  # the 3 controls are not fitted points
    assert all(f.n <= 15 for f in result.fits)
    assert len(result.gains) == 15
    for g in result.gains:
        point = next(p for p in table.points if p.name == g["checkpoint"])
        assert g["gain_avg"] == pytest.approx(point.avg_ndcg(table.tasks) - CONTROL_SCORE[g["size"]])
        assert g["control"] == f"{g['size']}-init"
    assert all(g["gain_avg"] < 0 for g in result.gains if g["size"] == "36M")
    paths = write_tables(table, result, study_dir / "tables")
    assert study_dir / "tables" / "pretraining_gain.csv" in paths


def test_report_has_the_gain_section_and_per_task_trends(study_dir: Path) -> None:
    with open_store(study_dir, readonly=True) as store:
        table = load_table(store, tasks=list(Truth().tasks))
    gains = analyze(table, n_boot=100).gains
    n_beat = sum(g["gain_avg"] > 0 for g in gains)
    assert 0 < n_beat < 10  # 36M's five lose, 4M's five win
    page = build_report(study_dir).read_text()
    assert "Pretraining vs random init" in page
    assert f"{n_beat} of 15 checkpoints beat their control" in page
    assert "task by task" in page
