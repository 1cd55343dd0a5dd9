"""One study's models against another study's suite on the tasks both evaluated, on one FLOPs axis.

This is how real decoders (a study of reference models such as ``real-cpu``) are set beside the built-in suite
(``full``): both studies score the same queries of a task, so each difference is paired over queries.

Per shared task:
- every external model of this study (``checkpoints.models``), fine-tuned and (where run) zero-shot, with a CI
  over queries; this study's own suite checkpoints are not compared (Fig 4 does not draw them);
- every pretrained checkpoint of the other study, with a CI over queries and fine-tuning seeds;
- each model of this study minus the other study's best pretrained checkpoint on that task, paired over queries.
  "Best" is chosen on this same task, which flatters the other study a little (winner's curse); the report says so.

Only per-query values stored by the stages are read: nothing is recomputed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Any

from retscale.analysis import inference as inf
from retscale.analysis.evidence import per_query_vectors
from retscale.analysis.table import Point, StudyTable, load_table
from retscale.study.names import PER_QUERY, CheckpointKind, Metric, StageName
from retscale.study.store import ModelEntry, ResultsStore

ZERO_SHOT_SUFFIX = " (zero-shot)"


@dataclass(frozen=True)
class Difference:
    """score(model) − score(reference) on one task, both resampled with the same query indices."""

    model: str
    reference: str
    task: str
    difference: float
    low: float
    high: float
    n_queries: int
    n_boot: int
    resampling: str
    level: float = 0.95

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        return (f"{self.difference:+.3f} [{self.low:+.3f}, {self.high:+.3f}] ({self.level:.0%} CI, paired over "
                f"{self.n_queries} queries)")


@dataclass(frozen=True)
class Comparison:
    """This study's models and the other study's suite on one task."""

    task: str
    other: str  # the other study's name
    models: list[inf.ScoreInterval]  # this study's models ("<name> (zero-shot)" for the untuned encoder)
    suite: list[inf.ScoreInterval]  # the other study's pretrained checkpoints
    best: str  # the other study's best pretrained checkpoint on ``task`` (by point estimate)
    differences: list[Difference] = field(default_factory=list)  # each of ``models`` minus ``best``
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"task": self.task, "other": self.other, "best": self.best,
                "models": [i.as_dict() for i in self.models], "suite": [i.as_dict() for i in self.suite],
                "differences": [d.as_dict() for d in self.differences], "notes": self.notes}


def _runs(store: ResultsStore, entries: list[ModelEntry], task: str, stage: str, suffix: str = ""
          ) -> dict[str, tuple[ModelEntry, list[str], list[list[float]]]]:
    out = {}
    for entry in entries:
        found = per_query_vectors(store.output(entry.name, stage), task, Metric.NDCG_AT_10)
        if found is not None:
            out[entry.name + suffix] = (entry, *found)
    return out


def compared_models(store: ResultsStore) -> list[ModelEntry]:
    """The models of a study that a comparison sets beside another study's suite: its external models
    (``checkpoints.models``). Its own suite checkpoints are not compared: the figure (``comparison_table``) does not
    draw them either."""
    return [e for e in store.checkpoints() if e.kind == CheckpointKind.EXTERNAL]


def compare(store: ResultsStore, other: ResultsStore, other_name: str, *, n_boot: int = 2000, seed: int = 0,
            level: float = 0.95) -> list[Comparison]:
    """One ``Comparison`` per task that this study's ``compared_models`` and the other study's pretrained suite
    both have per-query nDCG@10 for; [] when there is none."""
    ours = compared_models(store)
    theirs = sorted((e for e in other.checkpoints() if e.kind == CheckpointKind.SUITE),
                    key=lambda e: (e.flops or 0.0, e.name))
    tasks = sorted({t for e in ours for stage in (StageName.EVALUATE, StageName.ZERO_SHOT)
                    for t in store.output(e.name, stage).get(PER_QUERY, {})})
    out = []
    for task in tasks:
        mine = {**_runs(store, ours, task, StageName.EVALUATE),
                **_runs(store, ours, task, StageName.ZERO_SHOT, ZERO_SHOT_SUFFIX)}
        suite = _runs(other, theirs, task, StageName.EVALUATE)
        if not mine or not suite:
            continue
        out.append(_compare_task(task, other_name, mine, suite, n_boot=n_boot, seed=seed, level=level))
    return out


def _compare_task(task: str, other_name: str, mine: dict, suite: dict, *, n_boot: int, seed: int, level: float
                  ) -> Comparison:
    notes = []
    every = {**mine, **{f"{other_name}:{k}": v for k, v in suite.items()}}
    common = set.intersection(*(set(qids) for _, qids, _ in every.values()))
    order = [q for q in next(iter(every.values()))[1] if q in common]
    widest = max(len(qids) for _, qids, _ in every.values())
    if len(order) < 2:
        raise ValueError(f"task {task!r}: the two studies share {len(order)} scored queries; nothing to compare")
    if len(order) < widest:
        notes.append(f"{task}: compared on the {len(order)} queries both studies scored (of up to {widest})")
    runs: dict[str, list[list[float]]] = {}
    for label, (_, qids, vectors) in every.items():
        index = {q: i for i, q in enumerate(qids)}
        runs[label] = [[v[index[q]] for q in order] for v in vectors]
    checkpoints = [inf.ModelOnAxes(label, entry.size, float(entry.n_params or 0), float(entry.tokens or 0))
                   for label, (entry, _, _) in every.items()]
    scores = inf.PerQueryScores.from_runs(checkpoints, {task: runs})
    reps = inf.bootstrap(scores, n_boot=n_boot, resample_seeds=int(scores.n_seeds.max()) > 1, seed=seed)
    intervals = {i.checkpoint: i for i in inf.checkpoint_intervals(reps, tasks=[task], level=level)
                 if i.task == task}
    suite_labels = [f"{other_name}:{k}" for k in suite]
    best = max(suite_labels, key=lambda label: intervals[label].score)
    differences = [Difference(label, best, task, *reps.difference(label, best, task, level), len(order),
                              reps.n_boot, reps.resampling, level) for label in mine]
    return Comparison(task, other_name, [intervals[label] for label in mine],
                      [intervals[label] for label in suite_labels], best, differences, notes)


def comparison_table(store: ResultsStore, other: ResultsStore, task: str) -> StudyTable:
    """The points of one comparison figure: the other study's suite, controls and baselines, and this study's
    models (fine-tuned, and zero-shot under "<name> (zero-shot)") and baselines; this study's baseline wins a
    name both have."""
    mine = [p for p in load_table(store, tasks=[task]).points if p.kind != CheckpointKind.SUITE]
    zero_shot = [dataclasses.replace(p, name=p.name + ZERO_SHOT_SUFFIX)
                 for p in load_table(store, tasks=[task], stage=StageName.ZERO_SHOT).points
                 if p.kind == CheckpointKind.EXTERNAL]
    names = {p.name for p in mine}
    theirs = [p for p in load_table(other, tasks=[task]).points if p.name not in names]
    points: list[Point] = [p for p in theirs + mine + zero_shot if task in p.ndcg]
    return StudyTable(points=sorted(points, key=lambda p: (p.flops or 0.0, p.name)), tasks=[task])
