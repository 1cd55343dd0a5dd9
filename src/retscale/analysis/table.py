"""The study's numbers as the analysis sees them: one ``Point`` per checkpoint, read from the results store.

Names in the store (``retscale.study.names``, written by ``retscale.study.stages``):
- stage ``EVALUATE``: task = BEIR task, metrics as in ``retscale.evaluate`` (``ndcg_at_10`` ...) plus ``n_queries``.
- stage ``ICL``: task = ICL task or ``ICL_ALL_TASKS``; metric ``accuracy`` per task, ``core_average`` for all.
- checkpoint ``BM25`` (kind "baseline") carries the BM25 reference numbers.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from retscale.study.names import ICL_ALL_TASKS, MAIN_METRIC, CheckpointKind, Metric, StageName
from retscale.study.store import ResultsStore


@dataclass
class Point:
    """One checkpoint's position on the axes and its scores."""

    name: str
    kind: str  # a CheckpointKind: suite | external | baseline | control (a suite size at random init)
    size: str
    n_params: float | None
    tokens: float | None
    flops: float | None
    ndcg: dict[str, float] = field(default_factory=dict)  # task -> nDCG@10
    n_queries: dict[str, int] = field(default_factory=dict)  # task -> queries the number rests on
    icl: dict[str, float] = field(default_factory=dict)  # ICL task -> accuracy
    icl_items: dict[str, int] = field(default_factory=dict)  # ICL task -> items the accuracy rests on
    icl_average: float | None = None
    annealed: bool | None = None  # False: an intermediate checkpoint of a longer run (its LR never decayed)

    def avg_ndcg(self, tasks: list[str]) -> float | None:
        """Mean nDCG@10 over ``tasks``; None unless every task has a score (no silent partial averages)."""
        if not tasks or any(t not in self.ndcg for t in tasks):
            return None
        return float(np.mean([self.ndcg[t] for t in tasks]))


@dataclass
class StudyTable:
    points: list[Point]
    tasks: list[str]  # BEIR tasks, in config order when known

    def suite(self) -> list[Point]:
        """Checkpoints that enter the fits: on the FLOPs axis, with a complete average."""
        return [p for p in self.points
                if p.kind == CheckpointKind.SUITE and p.flops and p.avg_ndcg(self.tasks) is not None]

    def references(self) -> list[Point]:
        return [p for p in self.points if p.kind != CheckpointKind.SUITE and p.avg_ndcg(self.tasks) is not None]

    def sizes(self) -> list[str]:
        """Size labels ordered by parameter count."""
        by_size: dict[str, float] = {}
        for p in self.suite():
            by_size[p.size] = p.n_params or 0.0
        return sorted(by_size, key=lambda s: by_size[s])

    def by_size(self) -> dict[str, list[Point]]:
        groups: dict[str, list[Point]] = defaultdict(list)
        for p in self.suite():
            groups[p.size].append(p)
        return {s: sorted(groups[s], key=lambda p: p.flops or 0.0) for s in self.sizes()}

    def icl_items(self) -> dict[str, int]:
        """ICL task -> items scored per checkpoint (from the first checkpoint that has it)."""
        out: dict[str, int] = {}
        for p in self.points:
            for task, n in p.icl_items.items():
                out.setdefault(task, n)
        return out

    def queries_per_average(self) -> int:
        """Queries behind one checkpoint's average nDCG@10 (sum over tasks, from the first complete point)."""
        for p in self.suite() + self.references():
            if all(t in p.n_queries for t in self.tasks):
                return sum(p.n_queries[t] for t in self.tasks)
        return 0


def load_table(store: ResultsStore, tasks: list[str] | None = None, stage: str = StageName.EVALUATE) -> StudyTable:
    points = {c.name: Point(c.name, c.kind, c.size, c.n_params, c.tokens, c.flops,
                            annealed=(c.info or {}).get("annealed")) for c in store.checkpoints()}
    seen_tasks: list[str] = []
    for r in store.rows(stage=stage):
        p = points.setdefault(r.checkpoint, Point(r.checkpoint, CheckpointKind.BASELINE, r.checkpoint, None, None,
                                                  None))
        if r.metric == MAIN_METRIC:
            p.ndcg[r.task] = r.value
            if r.task not in seen_tasks:
                seen_tasks.append(r.task)
        elif r.metric == Metric.N_QUERIES:
            p.n_queries[r.task] = int(r.value)
    for r in store.rows(stage=StageName.ICL):
        if r.checkpoint not in points:
            continue
        if r.task == ICL_ALL_TASKS and r.metric == Metric.CORE_AVERAGE:
            points[r.checkpoint].icl_average = r.value
        elif r.metric == Metric.ACCURACY:
            points[r.checkpoint].icl[r.task] = r.value
        elif r.metric == Metric.N_ITEMS:
            points[r.checkpoint].icl_items[r.task] = int(r.value)
    return StudyTable(points=sorted(points.values(), key=lambda p: (p.flops or 0.0, p.name)),
                      tasks=list(tasks) if tasks else sorted(seen_tasks))

