"""All the study's numbers in one object: fits, correlations and the isoFLOP comparison, plus CSV tables."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from retscale.analysis.fits import Fit, fit_all
from retscale.analysis.isoflop import IsoflopResult, isoflop_overlap
from retscale.analysis.stats import Correlation, correlation
from retscale.analysis.table import StudyTable
from retscale.fileio import atomic_write
from retscale.study.names import CheckpointKind


@dataclass
class CorrelationRow:
    """What is correlated with what, over which checkpoints."""

    x: str
    y: str
    group: str
    corr: Correlation


@dataclass
class Analysis:
    fits: list[Fit]
    correlations: list[CorrelationRow]
    isoflop: IsoflopResult
    n_checkpoints: int
    n_queries: int
    notes: list[str] = field(default_factory=list)
    gains: list[dict[str, Any]] = field(default_factory=list)  # pretrained − random-init control, per checkpoint

    def best_pooled_fit(self) -> Fit | None:
        return best_pooled_fit(self.fits)

    def correlations_where(self, x: str, y: str) -> list[CorrelationRow]:
        return [c for c in self.correlations if c.x == x and c.y == y]


def best_pooled_fit(fits: list[Fit]) -> Fit | None:
    """The pooled fit with the lowest AIC (fewer parameters win unless the curve earns its keep)."""
    pooled = [f for f in fits if f.group == "pooled"]
    return min(pooled, key=lambda f: f.aic) if pooled else None


def analyze(table: StudyTable, *, n_boot: int = 1000, seed: int = 0, predict_flops: list[float] | None = None,
            tolerance: float = 0.3) -> Analysis:
    suite = table.suite()
    avg = {p.name: p.avg_ndcg(table.tasks) for p in suite}
    notes: list[str] = []
    groups: dict[str, tuple[list[float], list[float]]] = {
        size: ([p.flops for p in pts], [avg[p.name] for p in pts])  # type: ignore[misc]
        for size, pts in table.by_size().items()}
    if suite:
        groups["pooled"] = ([p.flops for p in suite], [avg[p.name] for p in suite])  # type: ignore[misc]
    fits = fit_all(groups, n_boot=n_boot, seed=seed, predict_flops=predict_flops)
    skipped = [g for g in groups if not any(f.group == g for f in fits)]
    if skipped:
        notes.append(f"too few checkpoints to fit a curve for: {', '.join(skipped)}")

    corrs: list[CorrelationRow] = []
    for group, (c, y) in groups.items():
        for method in ("spearman", "pearson"):
            corrs.append(CorrelationRow("log10 FLOPs", "avg nDCG@10", group,
                                        correlation(np.log10(c), y, method, n_boot=n_boot, seed=seed)))
    for task in table.tasks:  # per task: does the FLOPs trend hold task by task, or only on average?
        for group, pts in [*table.by_size().items(), ("pooled", suite)]:
            sel = [(p.flops, p.ndcg[task]) for p in pts if task in p.ndcg]
            corrs.append(CorrelationRow("log10 FLOPs", f"nDCG@10 {task}", group, correlation(
                np.log10([s[0] for s in sel]), [s[1] for s in sel], "spearman", n_boot=n_boot, seed=seed)))
    with_icl = [p for p in suite if p.icl_average is not None]
    if with_icl:
        for target in [None, *table.tasks]:
            ys = [p.avg_ndcg(table.tasks) if target is None else p.ndcg.get(target) for p in with_icl]
            sel = [(p.icl_average, y) for p, y in zip(with_icl, ys, strict=True) if y is not None]
            label = "avg nDCG@10" if target is None else f"nDCG@10 {target}"
            for method in ("pearson", "spearman"):
                corrs.append(CorrelationRow("ICL core average", label, "pooled", correlation(
                    [s[0] for s in sel], [s[1] for s in sel], method, n_boot=n_boot, seed=seed)))
    else:
        notes.append("no ICL scores for the fitted checkpoints: the ICL↔nDCG@10 correlations are missing")
    best = best_pooled_fit(fits)
    iso = isoflop_overlap(suite, {k: v for k, v in avg.items() if v is not None}, tolerance=tolerance,
                          trend=None if best is None else best.predict, n_boot=n_boot, seed=seed)
    return Analysis(fits, corrs, iso, len(suite), table.queries_per_average(), notes,
                    gains=pretraining_gains(table))


def pretraining_gains(table: StudyTable) -> list[dict[str, Any]]:
    """Each fitted checkpoint's scores minus those of its size's random-init control (fine-tuned alike)."""
    controls = {p.size: p for p in table.points if p.kind == CheckpointKind.CONTROL}
    rows = []
    for p in table.suite():
        c = controls.get(p.size)
        if c is None:
            continue
        avg, c_avg = p.avg_ndcg(table.tasks), c.avg_ndcg(table.tasks)
        rows.append({"checkpoint": p.name, "size": p.size, "flops": p.flops, "control": c.name,
                     "gain_avg": None if avg is None or c_avg is None else avg - c_avg,
                     **{f"gain_{t}": p.ndcg[t] - c.ndcg[t] for t in table.tasks if t in p.ndcg and t in c.ndcg}})
    return rows


def _csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow([f"{v:.6g}" if isinstance(v, float) and not math.isnan(v) else v for v in row])
    with atomic_write(path) as fh:
        fh.write(buf.getvalue())
    return path


def write_tables(table: StudyTable, result: Analysis, out_dir: Path, *,
                 average_tasks: list[str] | None = None) -> list[Path]:
    """The report's tables as CSV: scores (every task, and the average over ``average_tasks``, default all), fits,
    predictions, correlations, isoFLOP pairs."""
    out_dir.mkdir(parents=True, exist_ok=True)
    averaged = average_tasks or table.tasks
    score_rows = [[p.name, p.kind, p.size, p.n_params, p.tokens, p.flops, p.avg_ndcg(averaged),
                   *[p.ndcg.get(t) for t in table.tasks], p.icl_average] for p in table.points]
    paths = [_csv(out_dir / "scores.csv", ["checkpoint", "kind", "size", "n_params", "tokens", "flops",
                                           "avg_ndcg_at_10", *[f"ndcg_at_10_{t}" for t in table.tasks],
                                           "icl_core_average"], score_rows)]
    fit_rows = []
    for f in result.fits:
        for name, value in f.params.items():
            fit_rows.append([f.model, f.group, f.n, name, value, *f.ci[name], f.r2, f.rmse, f.aic])
    paths.append(_csv(out_dir / "fits.csv", ["model", "group", "n", "param", "value", "ci_low", "ci_high",
                                             "r2", "rmse", "aic"], fit_rows))
    pred_rows = [[f.model, f.group, f.n, p["flops"], p["score"], p["low"], p["high"]]
                 for f in result.fits for p in f.predictions]
    paths.append(_csv(out_dir / "predictions.csv", ["model", "group", "n", "flops", "score", "pi_low", "pi_high"],
                      pred_rows))
    corr_rows = [[c.x, c.y, c.group, c.corr.method, c.corr.r, c.corr.low, c.corr.high, c.corr.p_value, c.corr.n]
                 for c in result.correlations]
    paths.append(_csv(out_dir / "correlations.csv", ["x", "y", "group", "method", "r", "ci_low", "ci_high",
                                                     "p_value", "n"], corr_rows))
    if result.gains:
        cols = ["checkpoint", "size", "flops", "control", "gain_avg", *[f"gain_{t}" for t in table.tasks]]
        paths.append(_csv(out_dir / "pretraining_gain.csv", cols, [[g.get(c) for c in cols] for g in result.gains]))
    iso = result.isoflop
    paths.append(_csv(out_dir / "isoflop_pairs.csv", ["bigger", "smaller", "dlog10_flops", "difference",
                                                      "adjusted"],
                      [[p["bigger"], p["smaller"], p["dlog10_flops"], p["difference"], p["adjusted"]]
                       for p in iso.pairs]))
    return paths
