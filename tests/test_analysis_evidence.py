"""The study's findings from its stored per-query results: a store written as the stages write it, from a known
model, gives back the known answers (and a null effect comes back as a null)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from retscale.analysis.evidence import aligned_per_query_scores, gather_evidence, headline, ood_tasks
from retscale.analysis.inference import AVERAGE
from retscale.study.names import PER_ITEM, PER_QUERY, CheckpointKind, Metric, StageName
from retscale.study.store import ModelEntry, ResultsStore, open_store

TASKS = ["scifact", "arguana", "wiki-val"]
SIZES = {"d128": 1e6, "d192": 2e6, "d256": 4e6}
RATIOS = (20, 50, 100, 200)
N_QUERIES = 300


def _finish(store: ResultsStore, checkpoint: str, stage: str, rows: list[tuple[str, str, float]],
            output: dict) -> None:
    key = f"{stage}:{checkpoint}:test"
    attempt = store.start_stage(key)
    store.finish_stage(attempt_id=attempt, key=key, stage=stage, checkpoint=checkpoint, dep_hash="test", rows=rows,
                       provenance={}, output=output, seconds=0.0)


def _write(store: ResultsStore, d_effect: float, seed: int = 0) -> None:
    """Per-query nDCG = 0.30 + 0.03·log10(N/1e6) + d_effect·log10(D/N/20) + query effect + seed noise (controls:
    0.25); ICL gold-choice probability per item rises with the same latent skill."""
    rng = np.random.default_rng(seed)
    query_effect = {t: rng.normal(0, 0.05, N_QUERIES) for t in TASKS}
    item_effect = rng.normal(0, 0.05, 400)
    entries = []
    for size, n in SIZES.items():
        for ratio in (*RATIOS, 0):
            control = ratio == 0
            name = f"{size}-init" if control else f"{size}-r{ratio}"
            tokens = 0.0 if control else n * ratio
            kind = CheckpointKind.CONTROL if control else CheckpointKind.SUITE
            entries.append(ModelEntry(name, kind, size, n, tokens, 6 * n * tokens, {}))
            skill = 0.25 if control else 0.30 + 0.03 * math.log10(n / 1e6) + d_effect * math.log10(ratio / 20)
            per_query = {}
            for t in TASKS:
                seeds = {str(s): {Metric.NDCG_AT_10: list(np.clip(skill + query_effect[t]
                                                                  + rng.normal(0, 0.01, N_QUERIES), 0, 1))}
                         for s in (0, 1)}
                per_query[t] = {"qids": [f"q{i}" for i in range(N_QUERIES)], "per_seed": seeds}
            rows = [(t, Metric.NDCG_AT_10, float(np.mean([np.mean(v[Metric.NDCG_AT_10])
                                                          for v in per_query[t]["per_seed"].values()])))
                    for t in TASKS]
            _finish(store, name, StageName.EVALUATE, rows, {PER_QUERY: per_query})
            if not control:
                probs = list(np.clip(2 * skill - 0.3 + item_effect + rng.normal(0, 0.02, 400), 0, 1))
                _finish(store, name, StageName.ICL, [("copa", Metric.GOLD_PROB, float(np.mean(probs)))],
                        {PER_ITEM: {"copa": probs}})
    store.set_checkpoints(entries)


def _evidence(tmp_path: Path, d_effect: float):
    with open_store(tmp_path) as store:
        _write(store, d_effect)
        return gather_evidence(store, TASKS, n_boot=400, seed=0)


def test_known_effects_come_back_with_their_intervals(tmp_path: Path) -> None:
    ev = _evidence(tmp_path, d_effect=0.03)
    assert ev is not None and ev.tasks == ood_tasks(TASKS) == ["scifact", "arguana"]  # wiki-val is not OOD
    gains = [g for g in ev.gains if g.task == AVERAGE]
    assert len(gains) == 12 and all(g.gain > 0 and g.excludes_zero for g in gains)
    d = ev.duration.log10_d
    assert d.low < 0.03 < d.high and d.low > 0  # the true per-decade effect, CI excluding 0
    # score = 0.03·log N + 0.03·(log D − log N) + …: the log N coefficient at fixed D is 0.03 − 0.03 = 0
    assert ev.duration.log10_n.low < 0.0 < ev.duration.log10_n.high
    assert ev.flops_trend.r > 0.8 and ev.flops_trend.n == 12
    assert ev.icl and ev.icl[0][1].r > 0.9 and ev.icl[0][1].n == 12
    intervals = {i.checkpoint: i for i in ev.intervals if i.task == AVERAGE}
    assert intervals["d256-r200"].n_seeds == 2 and intervals["d256-r200"].n_queries == {"scifact": 300,
                                                                                        "arguana": 300}
    assert any("duration effect" in line for line in headline(ev))
    # per task: the OOD tasks' nDCG@10 and the in-domain task's (no contrastive entropy was stored)
    by_task = {(d.task, metric): d for metric, d in ev.duration_by_task}
    assert set(by_task) == {("scifact", "ndcg_at_10"), ("arguana", "ndcg_at_10"), ("wiki-val", "ndcg_at_10")}
    assert all(d.log10_d.low < 0.03 < d.log10_d.high for d in by_task.values())
    assert by_task[("wiki-val", "ndcg_at_10")].n_queries == {"wiki-val": N_QUERIES}


def test_no_duration_effect_is_reported_as_null(tmp_path: Path) -> None:
    ev = _evidence(tmp_path, d_effect=0.0)
    d = ev.duration.log10_d
    assert d.low < 0 < d.high  # a null comes back as a null, not rounded up


def test_queries_no_model_can_score_are_left_out_of_contrastive_entropy(tmp_path: Path) -> None:
    """ArguAna has queries whose relevant documents are missing from its corpus: their contrastive entropy is NaN
    for every model. They are left out (n drops by their number); nDCG keeps them (0, as BEIR scores them)."""
    missing = [3, 17]
    with open_store(tmp_path) as store:
        _write(store, d_effect=0.03)
        for entry in store.checkpoints():
            output = store.output(entry.name, StageName.EVALUATE)
            for t in TASKS:
                for seed in output[PER_QUERY][t]["per_seed"].values():
                    ce = [4.0 - v for v in seed[Metric.NDCG_AT_10]]
                    for i in missing:
                        ce[i] = float("nan")
                    seed[Metric.CONTRASTIVE_ENTROPY] = ce
            key = f"{StageName.EVALUATE}:{entry.name}:test"
            store.finish_stage(attempt_id=store.start_stage(key), key=key, stage=StageName.EVALUATE,
                               checkpoint=entry.name, dep_hash="test", rows=[], provenance={}, output=output,
                               seconds=0.0)
        ev = gather_evidence(store, TASKS, n_boot=200, seed=0)
    assert ev is not None and ev.contrastive
    assert ev.contrastive[0].n_queries == {"scifact": N_QUERIES - 2, "arguana": N_QUERIES - 2}
    assert all(math.isfinite(i.score) for i in ev.contrastive)
    assert {i.n_queries["arguana"] for i in ev.intervals if i.task == AVERAGE} == {N_QUERIES}


def test_models_from_two_stores_are_aligned_on_their_queries(tmp_path: Path) -> None:
    """An experiment's checkpoints set beside a reference run's: the second store lists its queries in another
    order, and the scores are matched by query id, not by position; a model that scored other queries is refused."""
    with open_store(tmp_path / "a") as a, open_store(tmp_path / "b") as b:
        _write(a, d_effect=0.03)
        _write(b, d_effect=0.03)
        first = a.checkpoints()[0]
        out_a = a.output(first.name, StageName.EVALUATE)
        out_b = b.output(first.name, StageName.EVALUATE)
    reversed_b = {PER_QUERY: {t: {"qids": e["qids"][::-1],
                                  "per_seed": {s: {m: v[::-1] for m, v in pq.items()} for s, pq in e["per_seed"].items()}}
                              for t, e in out_b[PER_QUERY].items()}}
    scores = aligned_per_query_scores([(first.name, first, out_a), (f"other:{first.name}", first, reversed_b)], TASKS)
    assert scores.names == (first.name, f"other:{first.name}")
    for t in TASKS:  # the same store content, so per query and seed the two rows agree once aligned
        np.testing.assert_array_equal(scores.tasks[t][0], scores.tasks[t][1])
    fewer = {PER_QUERY: {t: {"qids": e["qids"][1:],
                             "per_seed": {s: {m: v[1:] for m, v in pq.items()} for s, pq in e["per_seed"].items()}}
                         for t, e in out_b[PER_QUERY].items()}}
    with pytest.raises(ValueError, match="scored other scifact queries than"):
        aligned_per_query_scores([(first.name, first, out_a), ("fewer", first, fewer)], TASKS)
