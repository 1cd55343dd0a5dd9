"""One study's models set beside another study's suite (``retscale report --compare-to``): paired over the queries
both scored, against the other study's best checkpoint on the task, with the figure and section in the report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from retscale.analysis.comparison import ZERO_SHOT_SUFFIX, compare, comparison_table
from retscale.cli import main
from retscale.study.names import BM25, PER_QUERY, CheckpointKind, Metric, StageName
from retscale.study.store import ModelEntry, ResultsStore, open_store

N_QUERIES = 200
QIDS = [f"q{i}" for i in range(N_QUERIES)]
DIFFICULTY = np.random.default_rng(0).uniform(0.0, 0.6, N_QUERIES)  # shared by both studies: what pairing cancels


def _finish(store: ResultsStore, checkpoint: str, stage: str, ndcg: list[list[float]], qids: list[str] = QIDS
            ) -> None:
    per_query = ({"qids": qids, Metric.NDCG_AT_10: ndcg[0]} if len(ndcg) == 1
                 else {"qids": qids, "per_seed": {str(s): {Metric.NDCG_AT_10: v} for s, v in enumerate(ndcg)}})
    rows = [("scifact", Metric.NDCG_AT_10, float(np.mean(ndcg))), ("scifact", Metric.N_QUERIES, len(qids))]
    key = f"{stage}:{checkpoint}:test"
    store.finish_stage(attempt_id=store.start_stage(key), key=key, stage=stage, checkpoint=checkpoint,
                       dep_hash="test", rows=rows, provenance={}, output={PER_QUERY: {"scifact": per_query}},
                       seconds=0.0)


def _suite_study(study_dir: Path) -> None:
    """A built-in-like suite: d64 and d128, each 2 seeds; d128-r20 is the best on scifact (+0.10 over d64)."""
    rng = np.random.default_rng(1)
    with open_store(study_dir) as store:
        entries = []
        for name, size, n, skill in [("d64-r20", "d64", 1e6, 0.0), ("d128-r20", "d128", 4e6, 0.10),
                                     ("d128-init", "d128", 4e6, -0.02)]:
            control = name.endswith("init")
            tokens = 0.0 if control else 20 * n
            entries.append(ModelEntry(name, CheckpointKind.CONTROL if control else CheckpointKind.SUITE, size, n,
                                      tokens, 6 * n * tokens, {}))
            _finish(store, name, StageName.EVALUATE,
                    [list(DIFFICULTY + skill + rng.normal(0, 0.01, N_QUERIES)) for _ in range(2)])
        entries.append(ModelEntry(BM25, CheckpointKind.BASELINE, BM25, None, None, None, {}))
        _finish(store, BM25, StageName.EVALUATE, [list(DIFFICULTY + 0.3)])
        store.set_checkpoints(entries)
        store.set_meta("config", {"name": "suite", "seed": 0, "eval": {"tasks": ["scifact"]}})


def _real_study(study_dir: Path, qids: list[str] = QIDS, task: str = "scifact") -> None:
    """A real decoder at 1.6e21 FLOPs, one seed: fine-tuned 0.2 above the suite's best on every query (up to that
    checkpoint's seed noise), zero-shot 0.05 above."""
    index = [QIDS.index(q) for q in qids]
    with open_store(study_dir) as store:
        store.set_checkpoints([ModelEntry("real-135m", CheckpointKind.EXTERNAL, "135M", 1.35e8, 2e12, 1.6e21, {})])
        base = DIFFICULTY + 0.10
        for stage, offset in [(StageName.EVALUATE, 0.2), (StageName.ZERO_SHOT, 0.05)]:
            per_query = {"qids": qids, Metric.NDCG_AT_10: list((base + offset)[index])}
            key = f"{stage}:real-135m:test"
            store.finish_stage(attempt_id=store.start_stage(key), key=key, stage=stage, checkpoint="real-135m",
                               dep_hash="test", rows=[(task, Metric.NDCG_AT_10, float(np.mean(base + offset)))],
                               provenance={}, output={PER_QUERY: {task: per_query}}, seconds=0.0)
        store.set_meta("config", {"name": "real", "seed": 0, "eval": {"tasks": [task]}})


def test_models_are_compared_with_the_other_suites_best_paired_over_queries(tmp_path: Path) -> None:
    _suite_study(tmp_path / "suite")
    _real_study(tmp_path / "real")
    with open_store(tmp_path / "real", readonly=True) as mine, open_store(tmp_path / "suite", readonly=True) as other:
        (comp,) = compare(mine, other, "suite", n_boot=500)
        table = comparison_table(mine, other, "scifact")
    assert comp.task == "scifact" and comp.best == "suite:d128-r20" and not comp.notes
    assert [i.checkpoint for i in comp.suite] == ["suite:d64-r20", "suite:d128-r20"]  # pretrained only, by FLOPs
    diffs = {d.model: d for d in comp.differences}
    assert set(diffs) == {"real-135m", "real-135m" + ZERO_SHOT_SUFFIX}
    # the per-query difficulty (spread 0.6) cancels in the pairing: only the suite's seed noise is left
    fine_tuned = diffs["real-135m"]
    assert fine_tuned.difference == pytest.approx(0.2, abs=0.002)
    assert fine_tuned.low < fine_tuned.difference < fine_tuned.high and fine_tuned.high - fine_tuned.low < 0.01
    assert fine_tuned.n_queries == N_QUERIES and fine_tuned.resampling == "queries+seeds"
    assert diffs["real-135m" + ZERO_SHOT_SUFFIX].difference == pytest.approx(0.05, abs=0.002)
    # unpaired, each score's own interval is wide (the query difficulty does not cancel)
    own = {i.checkpoint: i for i in comp.models}["real-135m"]
    assert own.high - own.low > 0.03 and own.n_seeds == 1
    # the figure's points: the suite and its control, this study's BM25 (ours wins the shared name), both models
    names = {p.name: p.kind for p in table.points}
    assert names == {"d64-r20": "suite", "d128-r20": "suite", "d128-init": "control", BM25: "baseline",
                     "real-135m": "external", "real-135m" + ZERO_SHOT_SUFFIX: "external"}


def test_queries_only_one_study_scored_are_left_out_and_said(tmp_path: Path) -> None:
    _suite_study(tmp_path / "suite")
    _real_study(tmp_path / "real", qids=QIDS[:150])
    with open_store(tmp_path / "real", readonly=True) as mine, open_store(tmp_path / "suite", readonly=True) as other:
        (comp,) = compare(mine, other, "suite", n_boot=200)
    assert comp.differences[0].n_queries == 150
    assert comp.notes == ["scifact: compared on the 150 queries both studies scored (of up to 200)"]
    assert comp.differences[0].difference == pytest.approx(0.2, abs=0.003)


def test_no_shared_task_gives_no_comparison(tmp_path: Path) -> None:
    _suite_study(tmp_path / "suite")
    _real_study(tmp_path / "real", task="nfcorpus")
    with open_store(tmp_path / "real", readonly=True) as mine, open_store(tmp_path / "suite", readonly=True) as other:
        assert compare(mine, other, "suite", n_boot=200) == []


def test_a_suite_is_not_compared_as_models_since_the_figure_does_not_draw_it(tmp_path: Path) -> None:
    _suite_study(tmp_path / "a")
    _suite_study(tmp_path / "b")
    with open_store(tmp_path / "a", readonly=True) as mine, open_store(tmp_path / "b", readonly=True) as other:
        assert compare(mine, other, "b", n_boot=200) == []
        drawn = comparison_table(mine, other, "scifact").points
    assert len([p for p in drawn if p.kind == CheckpointKind.SUITE]) == 2  # b's d64-r20 and d128-r20 only, not a's


def test_report_compare_to_adds_figure_section_and_table_and_a_plain_rebuild_drops_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _suite_study(tmp_path / "suite")
    _real_study(tmp_path / "real")
    real = tmp_path / "real"
    assert main(["report", str(real), "--compare-to", str(tmp_path / "suite")]) == 0
    page = (real / "report.html").read_text()
    assert "Against the suite study" in page and "best suite checkpoint suite:d128-r20" in page
    assert "fig4_scifact_vs_flops_with_suite.png" in page
    assert "Fine-tuning budgets — this study: all pairs, 15 BM25 hard negatives, τ 0.01" in page  # the defaults
    saved = json.loads((real / "tables" / "comparison.json").read_text())
    assert saved[0]["best"] == "suite:d128-r20" and len(saved[0]["differences"]) == 2
    assert (real / "figures" / "fig4_scifact_vs_flops_with_suite.pdf").is_file()
    assert main(["report", str(real)]) == 0
    assert not (real / "tables" / "comparison.json").exists()
    assert not list((real / "figures").glob("fig4_*")) and "Against the" not in (real / "report.html").read_text()
