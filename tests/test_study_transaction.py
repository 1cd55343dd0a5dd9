"""A study run is a transaction over its config: a report shows one config's complete results; a run of another
config that is interrupted, killed or rejected leaves them as they were; a study folder can be moved.

Each test copies one finished `smoke` study and runs `retscale study` / `retscale report` on it as subprocesses."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from retscale.study.config import preset_path

pytestmark = pytest.mark.slow

OUTPUTS = ("results.csv", "config.json", "tables/scores.csv", "tables/fits.csv", "tables/correlations.csv")


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "RETSCALE_HOME": str(home), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def _cli(home: Path, *args: str | Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "retscale.cli", *map(str, args)], env=_env(home), text=True,
                          capture_output=True, timeout=timeout)


def _default_sigint() -> None:
    # A suite started in the background (`make test &`) inherits an ignored SIGINT, and Python keeps it ignored:
    # the study would then run to its end instead of being interrupted.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _study(home: Path, config: str | Path, out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "retscale.cli", "study", str(config), "--output", str(out),
                             "--no-progress"], env=_env(home), text=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, preexec_fn=_default_sigint)


def _smoke_variant(path: Path, **sections: dict[str, object]) -> Path:
    """The smoke preset with some keys of some sections replaced."""
    raw = yaml.safe_load(preset_path("smoke").read_text(encoding="utf-8"))
    for section, values in sections.items():
        raw[section] = {**raw[section], **values}
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def _snapshot(out: Path) -> dict[str, str]:
    return {name: (out / name).read_text(encoding="utf-8") for name in OUTPUTS}


def _interrupt_after(proc: subprocess.Popen[str], log: Path, offset: int, pattern: str, sig: int) -> None:
    """Send ``sig`` once ``pattern`` shows up in the log past ``offset`` (the study must still be running)."""
    while proc.poll() is None:
        if pattern in log.read_text(encoding="utf-8")[offset:]:
            os.kill(proc.pid, sig)
            proc.wait(timeout=120)
            return
        time.sleep(0.05)
    pytest.fail(f"the study ended before {pattern!r} was logged: {proc.stderr.read() if proc.stderr else ''}")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory, home: Path) -> Path:
    out = tmp_path_factory.mktemp("finished") / "smoke"
    done = _cli(home, "study", "smoke", "--output", out, "--no-progress")
    assert done.returncode == 0, done.stderr[-2000:]
    return out


@pytest.fixture
def study(finished: Path, tmp_path: Path) -> Path:
    """A private copy of the finished smoke study."""
    out = tmp_path / "smoke"
    shutil.copytree(finished, out)
    return out


def _stage_count(out: Path, where: str) -> int:
    db = sqlite3.connect(out / "results.sqlite")
    try:
        return int(db.execute(f"SELECT COUNT(*) FROM stage_runs WHERE {where}").fetchone()[0])
    finally:
        db.close()


def test_an_interrupted_run_of_a_new_config_leaves_the_previous_report(study: Path, home: Path,
                                                                        tmp_path: Path) -> None:
    """Reproduction 1: `eval.max_queries: 15` interrupted after its first evaluation; the report still shows the
    complete 20-query results, never a mix, and says a later run did not finish."""
    before = _snapshot(study)
    config = _smoke_variant(tmp_path / "q15.yaml", eval={"max_queries": 15})
    log = study / "study.log"
    offset = len(log.read_text(encoding="utf-8"))
    proc = _study(home, config, study)
    _interrupt_after(proc, log, offset, "done evaluate:bm25:", signal.SIGINT)
    assert _stage_count(study, "key LIKE 'evaluate:bm25:%' AND finished_at IS NOT NULL") == 2  # 20 and 15 queries
    report = _cli(home, "report", study)
    assert report.returncode == 0, report.stderr
    assert _snapshot(study) == before
    html = (study / "report.html").read_text(encoding="utf-8")
    assert "did not finish" in html


def test_a_rejected_config_leaves_a_finished_study_intact(study: Path, home: Path, tmp_path: Path) -> None:
    """Reproduction 2: a run with the task `scifakt` fails (exit 2); the folder's config and report are unchanged."""
    before = _snapshot(study)
    config = _smoke_variant(tmp_path / "typo.yaml", eval={"tasks": ["scifakt", "wiki-val"]})
    bad = _cli(home, "study", config, "--output", study, "--no-progress")
    assert bad.returncode == 2, bad.stderr[-2000:]
    assert "scifakt" in bad.stderr
    report = _cli(home, "report", study)
    assert report.returncode == 0, report.stderr
    assert _snapshot(study) == before


def test_a_killed_run_of_a_changed_config_keeps_the_previous_results(study: Path, home: Path,
                                                                      tmp_path: Path) -> None:
    """SIGKILL mid-way through a changed config: `retscale report` reports the previous complete results unchanged;
    finishing the changed config then switches the report to it, complete."""
    before = _snapshot(study)
    config = _smoke_variant(tmp_path / "q15.yaml", eval={"max_queries": 15})
    log = study / "study.log"
    offset = len(log.read_text(encoding="utf-8"))
    proc = _study(home, config, study)
    _interrupt_after(proc, log, offset, "start evaluate:xs-r1:", signal.SIGKILL)
    report = _cli(home, "report", study)
    assert report.returncode == 0, report.stderr
    assert _snapshot(study) == before

    done = _cli(home, "study", config, "--output", study, "--no-progress")
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line.split(",") for line in (study / "results.csv").read_text(encoding="utf-8").splitlines()[1:]]
    n_queries = {(ck, task): float(v) for ck, stage, task, metric, v in rows
                 if stage == "evaluate" and metric == "n_queries"}
    assert {v for (_, task), v in n_queries.items() if task == "scifact"} == {15.0}  # all new, none of the 20
    assert len(rows) == len(before["results.csv"].splitlines()) - 1
    assert "did not finish" not in (study / "report.html").read_text(encoding="utf-8")


def test_a_copied_study_folder_works_without_the_original(study: Path, finished: Path, home: Path,
                                                          tmp_path: Path) -> None:
    """Reproduction 9: a copy, then moved, runs a changed config with the original folder gone (no stored path
    names the original or the copy: they are relative to the study folder)."""
    moved = tmp_path / "elsewhere" / "moved"
    moved.parent.mkdir()
    shutil.move(study, moved)
    before = _snapshot(moved)
    away = finished.with_name("away")
    finished.rename(away)
    try:
        report = _cli(home, "report", moved)
        assert report.returncode == 0, report.stderr
        assert _snapshot(moved) == before
        config = _smoke_variant(tmp_path / "icl5.yaml", icl={"limit": 5})
        done = _cli(home, "study", config, "--output", moved, "--no-progress")
    finally:
        away.rename(finished)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "4 stages ran" in done.stdout  # only the ICL stages: the copied pretrain and fine-tunes were reused
    db = sqlite3.connect(moved / "results.sqlite")
    stored = " ".join(v for (v,) in db.execute("SELECT output FROM stages UNION SELECT provenance FROM results"))
    assert "{study}/stages/" in stored
    assert str(finished) not in stored and str(moved) not in stored
