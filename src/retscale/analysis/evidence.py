"""The study's findings with honest intervals: per-query results from the store → ``retscale.analysis.inference``.

What is claimed, and on which numbers (each with its n and a CI from the right unit of resampling):

- per checkpoint: average out-of-domain nDCG@10 (``ood_tasks``: the BEIR tasks, not the Wikipedia ones), CI over
  queries and fine-tuning seeds;
- pretraining vs random init: each pretrained checkpoint minus its size's control, paired query bootstrap;
- the FLOPs trend: Spearman(log10 FLOPs, average OOD nDCG@10), exact permutation p for small n;
- the duration effect: the coefficient of log10 D in score ~ log10 N + log10 D, CI over queries and seeds;
- the isoFLOP verdict: holds / fails / inconclusive;
- ICL ↔ retrieval: Pearson(mean gold-choice probability, average OOD nDCG@10), with CIs over checkpoints and over
  ICL items and retrieval queries.

Nothing here reads anything but the store; a study without per-query values (an older one) gets no evidence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from retscale.analysis import inference as inf
from retscale.study.names import (
    PER_ITEM,
    PER_QUERY,
    WIKI_TASKS,
    CheckpointKind,
    Metric,
    StageName,
)
from retscale.study.store import ModelEntry, ResultsStore


def ood_tasks(tasks: list[str]) -> list[str]:
    """The out-of-domain tasks: every evaluation task but the Wikipedia ones the study builds itself."""
    return [t for t in tasks if t not in WIKI_TASKS]


@dataclass
class Evidence:
    tasks: list[str]  # the tasks averaged (out of domain)
    metric: str
    intervals: list[inf.ScoreInterval]
    gains: list[inf.Gain]
    seed_spread: list[inf.SeedSpread]
    flops_trend: inf.CorrelationTest | None
    duration: inf.DurationEffect | None
    isoflop: inf.IsoflopVerdict | None
    icl: list[tuple[str, inf.CorrelationTest]]  # (ICL measure, test against the average OOD score)
    contrastive: list[inf.ScoreInterval] = field(default_factory=list)  # contrastive entropy, averaged over tasks
    # (metric, effect) per task: each out-of-domain task's nDCG@10, and the in-domain Wikipedia tasks' nDCG@10 and
    # contrastive entropy — where the average hides opposite movements
    duration_by_task: list[tuple[str, inf.DurationEffect]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"tasks": self.tasks, "metric": self.metric,
                "intervals": [i.as_dict() for i in self.intervals], "gains": [g.as_dict() for g in self.gains],
                "seed_spread": [s.as_dict() for s in self.seed_spread],
                "flops_trend": None if self.flops_trend is None else self.flops_trend.as_dict(),
                "duration": None if self.duration is None else self.duration.as_dict(),
                "isoflop": None if self.isoflop is None else self.isoflop.as_dict(),
                "icl": [{"measure": m, **t.as_dict()} for m, t in self.icl],
                "contrastive": [i.as_dict() for i in self.contrastive],
                "duration_by_task": [{"metric": m, **d.as_dict()} for m, d in self.duration_by_task],
                "notes": self.notes}


def per_query_vectors(output: dict[str, Any], task: str, metric: str
                      ) -> tuple[list[str], list[list[float]]] | None:
    """(qids, one vector per seed) from an evaluation stage's output: a one-seed stage keeps
    ``per_query[task][metric]``, a seed-mean stage ``per_query[task]["per_seed"][seed][metric]``."""
    entry = output.get(PER_QUERY, {}).get(task)
    if not entry:
        return None
    if "per_seed" in entry:
        vectors = [pq[metric] for _, pq in sorted(entry["per_seed"].items()) if pq.get(metric)]
    else:
        vectors = [entry[metric]] if entry.get(metric) else []
    return (entry["qids"], vectors) if vectors else None


def _inference_checkpoint(name: str, entry: ModelEntry) -> inf.ModelOnAxes:
    kind = CheckpointKind.CONTROL if entry.kind == CheckpointKind.CONTROL else CheckpointKind.SUITE
    return inf.ModelOnAxes(name, entry.size, float(entry.n_params or 0), float(entry.tokens or 0), kind)


def per_query_scores(store: ResultsStore, tasks: list[str], metric: str = Metric.NDCG_AT_10
                     ) -> inf.PerQueryScores | None:
    """Pretrained checkpoints and controls with per-query values on every task, aligned on each task's queries."""
    entries = [e for e in store.checkpoints() if e.kind in (CheckpointKind.SUITE, CheckpointKind.CONTROL)
               and e.n_params and (e.kind == CheckpointKind.CONTROL or e.flops)]
    outputs = [(e.name, e, store.output(e.name, StageName.EVALUATE)) for e in entries]
    scored = [m for m in outputs if all(per_query_vectors(m[2], t, metric) is not None for t in tasks)]
    if len([e for _, e, _ in scored if e.kind == CheckpointKind.SUITE]) < 2:
        return None
    return aligned_per_query_scores(scored, tasks, metric)


def aligned_per_query_scores(models: Sequence[tuple[str, ModelEntry, dict[str, Any]]], tasks: Sequence[str],
                             metric: str = Metric.NDCG_AT_10) -> inf.PerQueryScores:
    """Per-query scores of ``models`` — (name to report, store entry, evaluation-stage output), possibly from
    several stores — aligned on the first model's query order per task. Every model must have scored the same
    queries of every task as the first (more are dropped): a ``ValueError`` names the first that lacks one."""
    runs: dict[str, dict[str, list[list[float]]]] = {t: {} for t in tasks}
    order: dict[str, list[str]] = {}
    for name, _, output in models:
        for task in tasks:
            found = per_query_vectors(output, task, metric)
            if found is None:
                raise ValueError(f"{name} has no per-query {metric} on {task}")
            qids, vectors = found
            first = order.setdefault(task, qids)
            if qids != first:
                index = {q: i for i, q in enumerate(qids)}
                if not index.keys() >= set(first):
                    raise ValueError(f"{name} scored other {task} queries than {models[0][0]}")
                vectors = [[v[index[q]] for q in first] for v in vectors]
            runs[task][name] = vectors
    return inf.PerQueryScores.from_runs([_inference_checkpoint(name, e) for name, e, _ in models],
                                        _scored_queries(runs), metric)


def _scored_queries(runs: dict[str, dict[str, list[list[float]]]]) -> dict[str, dict[str, list[list[float]]]]:
    """``runs`` without the queries that no model has a score for. Contrastive entropy is undefined for a query
    whose relevant documents are all missing from the corpus (5 ArguAna queries): NaN for every model and seed, so
    leaving the query out changes no comparison. A NaN that only some models have is not dropped here: the
    inference engine refuses it."""
    out: dict[str, dict[str, list[list[float]]]] = {}
    for task, by_name in runs.items():
        vectors = [np.asarray(v, dtype=float) for seeds in by_name.values() for v in seeds]
        scored = ~np.logical_and.reduce([np.isnan(v) for v in vectors]) if vectors else None
        if scored is None or scored.all():
            out[task] = by_name
            continue
        out[task] = {name: [list(np.asarray(v, dtype=float)[scored]) for v in seeds] for name, seeds in by_name.items()}
    return out


def icl_items(store: ResultsStore, names: list[str]) -> dict[str, dict[str, list[float]]]:
    """task → checkpoint → per-item gold-choice probabilities, for tasks every checkpoint of ``names`` has."""
    by_task: dict[str, dict[str, list[float]]] = {}
    for name in names:
        for task, values in store.output(name, StageName.ICL).get(PER_ITEM, {}).items():
            by_task.setdefault(task, {})[name] = values
    return {t: d for t, d in by_task.items()
            if set(d) == set(names) and len({len(v) for v in d.values()}) == 1 and len(next(iter(d.values()))) > 1}


def gather_evidence(store: ResultsStore, tasks: list[str], *, n_boot: int = 2000, seed: int = 0,
                    tolerance: float = 0.3) -> Evidence | None:
    ood = ood_tasks(tasks)
    if not ood:
        return None
    scores = per_query_scores(store, ood)
    if scores is None:
        return None
    notes: list[str] = []
    reps = inf.bootstrap(scores, n_boot=n_boot, resample_seeds=int(scores.n_seeds.max()) > 1, seed=seed)
    intervals = inf.checkpoint_intervals(reps)
    gains = inf.gains_over_control(scores, paired=True, resample_seeds=int(scores.n_seeds.max()) > 1,
                                   n_boot=n_boot, seed=seed)
    spread = inf.seed_spread(scores) if int(scores.n_seeds.max()) > 1 else []
    pretrained = [c for c in scores.checkpoints if c.kind == CheckpointKind.SUITE]
    names = [c.name for c in pretrained]
    point, boot = reps.scores(names)
    flops = np.log10([c.flops for c in pretrained])
    trend = inf.correlation_test(flops, point, "spearman", y_boot=boot, resampling=reps.resampling,
                                 n_boot=n_boot, seed=seed) if len(names) >= 3 else None
    duration = inf.duration_effect(reps)
    isoflop = inf.isoflop_verdict(reps, tolerance=tolerance)
    icl: list[tuple[str, inf.CorrelationTest]] = []
    items = icl_items(store, names)
    if items:
        icl_scores = inf.PerQueryScores.from_items(pretrained, items)
        icl_reps = inf.bootstrap(icl_scores, n_boot=n_boot, seed=seed + 1)
        icl_point, icl_boot = icl_reps.scores(names)
        label = "mean gold-choice probability (" + ", ".join(sorted(items)) + ")"
        icl.append((label, inf.correlation_test(icl_point, point, "pearson", x_boot=icl_boot, y_boot=boot,
                                                resampling=reps.resampling, n_boot=n_boot, seed=seed)))
    else:
        notes.append("no per-item ICL scores shared by every pretrained checkpoint: ICL↔retrieval not tested")
    contrastive: list[inf.ScoreInterval] = []
    ce = per_query_scores(store, ood, Metric.CONTRASTIVE_ENTROPY)
    if ce is not None:
        ce_reps = inf.bootstrap(ce, n_boot=n_boot, resample_seeds=int(ce.n_seeds.max()) > 1, seed=seed)
        contrastive = [i for i in inf.checkpoint_intervals(ce_reps) if i.task == inf.AVERAGE]
    by_task = [(str(Metric.NDCG_AT_10), inf.duration_effect(reps, tasks=t)) for t in ood]
    for task in (t for t in tasks if t in WIKI_TASKS):
        for metric in (Metric.NDCG_AT_10, Metric.CONTRASTIVE_ENTROPY):
            scored = per_query_scores(store, [task], metric)
            if scored is not None:
                task_reps = inf.bootstrap(scored, n_boot=n_boot, resample_seeds=int(scored.n_seeds.max()) > 1,
                                          seed=seed)
                by_task.append((str(metric), inf.duration_effect(task_reps, tasks=task)))
    return Evidence(ood, Metric.NDCG_AT_10, intervals, gains, spread, trend, duration, isoflop, icl, contrastive,
                    by_task, notes)


def headline(evidence: Evidence) -> list[str]:
    """The acceptance-style statements, each with its number, CI and n — and nothing stronger."""
    lines = []
    avg = [g for g in evidence.gains if g.task == inf.AVERAGE]
    if avg:
        beat = sum(g.gain > 0 for g in avg)
        lines.append(f"{beat} of {len(avg)} pretrained checkpoints score above their size's random-init control on "
                     f"average out-of-domain nDCG@10 ({', '.join(evidence.tasks)})")
    if evidence.flops_trend is not None:
        lines.append(f"FLOPs trend: {evidence.flops_trend.text()}")
    if evidence.duration is not None:
        lines.append(f"duration effect: {evidence.duration.text()}")
    if evidence.isoflop is not None:
        lines.append(f"isoFLOP: {evidence.isoflop.text()}")
    for measure, test in evidence.icl:
        lines.append(f"ICL ({measure}) vs average OOD nDCG@10: {test.text()}")
    best = max((i for i in evidence.intervals if i.task == inf.AVERAGE), key=lambda i: i.score, default=None)
    if best is not None and not math.isnan(best.score):
        lines.append(f"best average OOD nDCG@10: {best.checkpoint} {best.text()}")
    return lines
