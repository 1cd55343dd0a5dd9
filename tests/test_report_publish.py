"""`retscale report STUDY_DIR --publish DIR`: the shareable subset of a study folder, current and complete."""

from __future__ import annotations

from pathlib import Path

import pytest

from retscale.cli import main
from synthetic_study import make_synthetic_study_dir


@pytest.fixture()
def study_dir(tmp_path: Path) -> Path:
    out = make_synthetic_study_dir(tmp_path / "study")
    (out / "stages" / "finetune-x").mkdir(parents=True)
    (out / "stages" / "finetune-x" / "model.safetensors").write_bytes(b"weights")
    return out


def test_publish_copies_report_tables_figures_but_no_models(study_dir: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "docs" / "results" / "synthetic"
    assert main(["report", str(study_dir), "--publish", str(dest)]) == 0
    assert "published" in capsys.readouterr().out
    for name in ("report.html", "results.csv", "config.json", "tables/scores.csv", "tables/fits.csv",
                 "figures/fig1_ndcg_vs_flops.png", "figures/fig1_ndcg_vs_flops.pdf"):
        assert (dest / name).read_bytes() == (study_dir / name).read_bytes(), name
    assert not list(dest.rglob("*.safetensors")) and not (dest / "results.sqlite").exists()


def test_publish_without_a_report_is_a_user_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from retscale.errors import UserError
    from retscale.report.publish import publish

    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match=r"report\.html"):
        publish(tmp_path / "empty", tmp_path / "dest")
