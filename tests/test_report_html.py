"""The HTML report, rebuilt from the results store alone, shows every headline number with its counts."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from retscale.cli import main
from retscale.report.html import build_report
from retscale.study.store import open_store
from synthetic_study import make_synthetic_study_dir


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = make_synthetic_study_dir(tmp_path_factory.mktemp("study"))
    with open_store(out) as store:
        attempt_id = store.start_stage("icl:16M-2x:abc")
        store.fail_stage(attempt_id, "RuntimeError: out of memory")
    build_report(out)
    return out


def test_report_shows_headline_numbers_with_counts(study_dir: Path) -> None:
    page = (study_dir / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "http://" not in page and "https://" not in page
    # Spearman(FLOPs, avg nDCG@10) within each size, with CI and n
    for size in ("4M", "12M", "36M"):
        assert re.search(rf'<td class="l">{size}</td><td class="l">avg nDCG@10</td><td class="l">spearman</td>'
                         r'<td class="">\+1\.00 \[\+[0-9.]+, \+[0-9.]+\] \(n=5\)</td>', page), size
    assert "ICL core average vs nDCG@10" in page and "ICL items scored per checkpoint — piqa: 500" in page
    assert re.search(r"IsoFLOP comparison</h2><p class='verdict'>holds", page)
    assert "15 fitted checkpoints in 3 sizes" in page and "2029 queries per average" in page
    assert "icl:16M-2x:abc: RuntimeError: out of memory" in page  # what was missing
    assert "powerlaw" in page and "Predictions for unseen budgets" in page
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 3
    for data in images:
        png = base64.b64decode(data)
        assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_figures_and_tables_written_beside_the_report(study_dir: Path) -> None:
    for stem in ("fig1_ndcg_vs_flops", "fig2_ndcg_vs_flops_per_task", "fig3_ndcg_vs_icl"):
        assert (study_dir / "figures" / f"{stem}.png").read_bytes().startswith(b"\x89PNG")
        assert (study_dir / "figures" / f"{stem}.pdf").read_bytes().startswith(b"%PDF")
    fits = (study_dir / "tables" / "fits.csv").read_text().splitlines()
    assert fits[0] == "model,group,n,param,value,ci_low,ci_high,r2,rmse,aic"
    alpha = next(line.split(",") for line in fits if line.startswith("powerlaw,pooled,15,alpha"))
    assert float(alpha[5]) <= 0.35 <= float(alpha[6])  # the synthetic study's true exponent
    assert (study_dir / "tables" / "correlations.csv").read_text().count("spearman") >= 4


@pytest.mark.slow
def test_cli_rebuilds_identically_from_the_store_alone(study_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = (study_dir / "report.html").read_text()
    for sub in ("figures", "tables"):
        for f in (study_dir / sub).iterdir():
            f.unlink()
    (study_dir / "report.html").unlink()
    assert main(["report", str(study_dir)]) == 0
    assert (study_dir / "report.html").read_text() == first
    assert (study_dir / "results.csv").read_text().startswith("checkpoint,stage,task,metric,value\n")
    assert (study_dir / "results.parquet").is_file()
    assert main(["report", str(study_dir / "missing")]) == 2
    assert "no results store" in capsys.readouterr().err


def test_checkpoints_section_shows_epochs_and_the_shared_trunk(tmp_path: Path) -> None:
    import dataclasses

    out = make_synthetic_study_dir(tmp_path)
    with open_store(out) as store:
        first = next(c for c in store.checkpoints() if c.kind == "suite")
        info = {**first.info, "epochs": 2.5, "heldout_loss": 4.25, "wall_seconds": 600.0,
                "lr_schedule": {"decay_start": 800, "total_steps": 1000}}
        store.put_checkpoint(dataclasses.replace(first, info=info))
    page = build_report(out).read_text()
    section = page.split("<h2>Checkpoints</h2>")[1].split("<h2>")[0]
    assert "share one pretraining run" in section and "not independent runs" in section
    assert f'<td class="l">{first.name}</td>' in section and "2.50" in section and "4.250" in section
    assert "800 / 1,000" in section and "10.0" in section
    assert section.count("<tr>") == 2  # the header and the one checkpoint that has a schedule
