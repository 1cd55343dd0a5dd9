"""A synthetic study drawn from a known saturating power law: the study folder the analysis and report tests read.

Scores follow y = L − A·(C/C0)^(−alpha) + per-task offset + Gaussian noise, with C = 6·N·D, so a fit has a
checkable answer. ICL rises with log FLOPs too (plus its own noise), so ICL and nDCG correlate positively.
Rows are written under the names of ``retscale.study.names``, as the study's stages write them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retscale.flops import format_count
from retscale.study.names import BM25, CONFIG_FILE, ICL_ALL_TASKS, CheckpointKind, Metric, StageName
from retscale.study.store import ModelEntry, ResultsStore, open_store


@dataclass(frozen=True)
class Truth:
    ceiling: float = 0.62
    amp: float = 0.30
    alpha: float = 0.35
    c0: float = 1e15
    noise: float = 0.004
    tasks: tuple[str, ...] = ("scifact", "arguana", "nfcorpus")
    task_offsets: tuple[float, ...] = (0.05, -0.03, -0.02)
    n_queries: tuple[int, ...] = (300, 1406, 323)
    size_effect: float = 0.0  # extra score per decade of N at fixed FLOPs (0: only compute matters)

    def score(self, flops: float | np.ndarray) -> np.ndarray:
        return self.ceiling - self.amp * np.power(np.asarray(flops, dtype=float) / self.c0, -self.alpha)


def write_synthetic_study(store: ResultsStore, truth: Truth = Truth(), *, sizes: tuple[float, ...] = (4e6, 12e6, 36e6),
                          tokens_per_param: tuple[float, ...] = (2, 5, 10, 20, 50), seed: int = 0) -> None:
    """Fill ``store`` with a suite (sizes × token budgets), a BM25 baseline and the config meta."""
    rng = np.random.default_rng(seed)
    for n in sizes:
        for tpp in tokens_per_param:
            tokens = n * tpp
            flops = 6 * n * tokens
            name = f"{format_count(n)}-{tpp:g}x"
            store.put_checkpoint(ModelEntry(name, CheckpointKind.SUITE, format_count(n), n, tokens, flops,
                                            {"synthetic": True}))
            base = float(truth.score(flops)) + truth.size_effect * np.log10(n / 1e7)
            rows: list[tuple[str, str, float]] = []
            for task, off, nq in zip(truth.tasks, truth.task_offsets, truth.n_queries, strict=True):
                rows += [(task, Metric.NDCG_AT_10, base + off + rng.normal(0, truth.noise)),
                         (task, Metric.N_QUERIES, nq)]
            finish_stage(store, name, StageName.EVALUATE, rows)
            icl = 0.25 + 0.04 * np.log10(flops / truth.c0) + rng.normal(0, 0.005)
            finish_stage(store, name, StageName.ICL, [(ICL_ALL_TASKS, Metric.CORE_AVERAGE, float(icl)),
                                                      ("piqa", Metric.ACCURACY, 0.5 + icl / 2),
                                                      ("piqa", Metric.N_ITEMS, 500)])
    store.put_checkpoint(ModelEntry(BM25, CheckpointKind.BASELINE, BM25, None, None, None, {}))
    finish_stage(store, BM25, StageName.EVALUATE, evaluation_rows(truth, 0.5))
    store.set_meta("config", {"name": "synthetic", "seed": seed, "eval": {"tasks": list(truth.tasks)},
                              "analysis": {"bootstrap": 200, "predict_flops": [1e18]}})


def evaluation_rows(truth: Truth, score: float) -> list[tuple[str, str, float]]:
    """The same nDCG@10 on every task of ``truth``, with its query counts."""
    return [r for task, nq in zip(truth.tasks, truth.n_queries, strict=True)
            for r in ((task, Metric.NDCG_AT_10, score), (task, Metric.N_QUERIES, nq))]


def finish_stage(store: ResultsStore, checkpoint: str, stage: str, rows: list[tuple[str, str, float]]) -> None:
    """Record one finished stage's rows, as the study's runner does."""
    key = f"{stage}:{checkpoint}:synthetic"
    attempt_id = store.start_stage(key)
    store.finish_stage(attempt_id=attempt_id, key=key, stage=stage, checkpoint=checkpoint, dep_hash="synthetic",
                       rows=rows, provenance={"synthetic": True}, output={}, seconds=0.0)


def make_synthetic_study_dir(study_dir: Path, truth: Truth = Truth()) -> Path:
    """A study folder holding the synthetic study's store and config snapshot (no report yet)."""
    with open_store(study_dir) as store:
        write_synthetic_study(store, truth)
    (study_dir / CONFIG_FILE).write_text('{"name": "synthetic"}\n', encoding="utf-8")
    return study_dir
