"""The paper's figures, each saved as PNG and PDF. matplotlib runs headless (Agg).

Fig 1: average nDCG@10 vs pretraining FLOPs (log x), one line per model size, BM25 as a reference line,
reference-only external models as points at their 6·N·D, the pooled fit as a dashed curve with its bootstrap band;
checkpoints that did not finish their learning-rate schedule (intermediate steps of a public suite, e.g. Pythia) are
open circles. Fig 2: the same per task.
Fig 3: nDCG@10 vs ICL score, averaged and per task. Fig 4 (a report with ``--compare-to``): one task, another
study's suite as lines and this study's models at their FLOPs. Every title says how many checkpoints/queries it
rests on.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatterSciNotation, LogLocator

from retscale.analysis.fits import Fit
from retscale.analysis.table import StudyTable
from retscale.fileio import atomic_write
from retscale.study.names import CheckpointKind


def _save(fig: Figure, out_dir: Path, stem: str) -> list[Path]:
    paths = []
    for ext in ("png", "pdf"):
        path = out_dir / f"{stem}.{ext}"
        with atomic_write(path, "wb", encoding=None) as fh:
            # metadata without dates: the same study gives byte-identical figures
            fig.savefig(fh, format=ext, dpi=110, bbox_inches="tight",
                        metadata={"CreationDate": None} if ext == "pdf" else {"Software": None})
        paths.append(path)
    plt.close(fig)
    return paths


def _legend(ax: Axes, fontsize: int) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=fontsize, loc="best")
    else:
        ax.text(0.5, 0.5, "no scores yet", ha="center", va="center", transform=ax.transAxes, color="gray")


def _scaling_axes(ax: Axes, table: StudyTable, task: str | None, fit: Fit | None = None) -> None:
    """Score vs FLOPs on ``ax``: one line per size; reference models with known FLOPs as points at their FLOPs
    (outside the fit), other references (BM25, controls, a reference without N·D) as horizontal lines."""
    def score(p) -> float | None:  # type: ignore[no-untyped-def]
        return p.avg_ndcg(table.tasks) if task is None else p.ndcg.get(task)

    colors = plt.cm.viridis(np.linspace(0.1, 0.9, max(len(table.sizes()), 1)))
    open_label = iter(["open: intermediate step (not annealed)"])
    size_color = dict(zip(table.sizes(), colors, strict=False))
    for color, (size, pts) in zip(colors, table.by_size().items(), strict=False):
        xs = [p.flops for p in pts if score(p) is not None]
        ys = [score(p) for p in pts if score(p) is not None]
        if xs:
            ax.plot(xs, ys, "o-", color=color, label=f"{size} (n={len(xs)})", markersize=4)
        unfinished = [p for p in pts if p.annealed is False and score(p) is not None]
        if unfinished:  # not annealed: they sit above a model trained to completion on as many tokens
            ax.scatter([p.flops for p in unfinished], [score(p) for p in unfinished], s=30, zorder=3,
                       facecolors="white", edgecolors=[color], label=next(open_label, "_nolegend_"))
    if fit is not None and task is None:
        grid = np.logspace(np.log10(min(p.flops for p in table.suite())),  # type: ignore[type-var,arg-type]
                           np.log10(max(p.flops for p in table.suite())), 60)  # type: ignore[type-var,arg-type]
        low, high = fit.band(grid)
        ax.plot(grid, fit.predict(grid), "--", color="black", lw=1, label=f"{fit.model} fit (R²={fit.r2:.2f})")
        ax.fill_between(grid, low, high, color="black", alpha=0.08, lw=0)
    styles = iter(["-", ":", "-.", (0, (5, 1)), (0, (3, 1, 1, 1))] * 10)
    markers = iter(["D", "s", "^", "v", "P", "X"] * 10)
    suite_scores = [y for p in table.suite() if (y := score(p)) is not None]
    top = max(suite_scores) if suite_scores else None
    off_scale = []
    for ref in table.references():
        s = score(ref)
        if s is None:
            continue
        placed = ref.kind == CheckpointKind.EXTERNAL and bool(ref.flops)  # a model at its own FLOPs: always drawn
        if not placed and top is not None and top > 0 and s > 3 * top:  # a far line would flatten every curve
            off_scale.append(f"{ref.name} ({ref.kind}) = {s:.3f} (off scale)")
            continue
        if ref.kind == CheckpointKind.CONTROL:  # the size's untrained start, fine-tuned alike: dashed, in the size's colour
            ax.axhline(s, color=size_color.get(ref.size, "tab:gray"), ls="--", lw=1,
                       label=f"{ref.size} random init (0 FLOPs)")
            continue
        if placed:  # a reference model with known N and D: at its FLOPs
            ax.scatter([ref.flops], [s], marker=next(markers), color="tab:gray", s=36, zorder=3,
                       label=f"{ref.name} (reference, {ref.flops:.1e} FLOPs)")
            continue
        ax.axhline(s, color="tab:red" if ref.kind == CheckpointKind.BASELINE else "tab:gray", ls=next(styles), lw=1,
                   label=f"{ref.name} ({ref.kind})")
    if off_scale:
        ax.text(0.02, 0.97, "\n".join(off_scale), transform=ax.transAxes, va="top", fontsize=7, color="tab:red")
    ax.set_xscale("log")
    low, high = ax.get_xlim()
    if high < 100 * low:
        # within about one decade matplotlib labels every minor tick, and they overprint each other: label 2× and
        # 5× only; over wider spans (a suite beside real decoders) the decades alone are labelled
        ax.xaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
        ax.xaxis.set_minor_formatter(LogFormatterSciNotation(labelOnlyBase=False, minor_thresholds=(np.inf, np.inf)))
    ax.set_xlabel("pretraining FLOPs (6ND)")
    ax.grid(True, which="both", alpha=0.25)


def figure_scaling(table: StudyTable, out_dir: Path, fit: Fit | None = None) -> list[Path]:
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    _scaling_axes(ax, table, None, fit)
    ax.set_ylabel(f"average nDCG@10 ({len(table.tasks)} tasks)")
    ax.set_title(f"Retrieval vs pretraining compute — {len(table.suite())} checkpoints, "
                 f"{table.queries_per_average()} queries each", fontsize=9)
    _legend(ax, 7)
    return _save(fig, out_dir, "fig1_ndcg_vs_flops")


def figure_per_task(table: StudyTable, out_dir: Path) -> list[Path]:
    n = max(len(table.tasks), 1)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.3 * rows), squeeze=False)
    for ax, task in zip(axes.flat, table.tasks, strict=False):
        _scaling_axes(ax, table, task)
        nq = next((p.n_queries[task] for p in table.points if task in p.n_queries), 0)
        ax.set_title(f"{task} ({nq} queries)", fontsize=9)
        ax.set_ylabel("nDCG@10")
    for ax in list(axes.flat)[len(table.tasks):]:
        ax.set_visible(False)
    _legend(axes.flat[0], 6)
    fig.tight_layout()
    return _save(fig, out_dir, "fig2_ndcg_vs_flops_per_task")


def figure_comparison(table: StudyTable, out_dir: Path, title: str, other: str) -> list[Path]:
    """One task's nDCG@10 vs FLOPs for points from two studies (``table.tasks`` is that one task): one study's
    suite as lines per size, the other's models at their own FLOPs (``retscale.analysis.comparison``)."""
    (task,) = table.tasks
    fig, ax = plt.subplots(figsize=(7.2, 4.4))
    _scaling_axes(ax, table, task)
    ax.set_ylabel(f"nDCG@10 ({task})")
    ax.set_title(title, fontsize=9)
    # outside the axes: the models of interest sit at the far right, where a legend "best" placed inside would be
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in other)
    return _save(fig, out_dir, f"fig4_{task}_vs_flops_with_{safe}")


def figure_icl(table: StudyTable, out_dir: Path) -> list[Path]:
    """nDCG@10 vs the ICL core average: the averaged panel first, then one panel per BEIR task."""
    pts = [p for p in table.suite() + table.references() if p.icl_average is not None]
    panels: list[str | None] = [None, *table.tasks]
    cols = min(len(panels), 3)
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.3 * rows), squeeze=False)
    colors = dict(zip(table.sizes(), plt.cm.viridis(np.linspace(0.1, 0.9, max(len(table.sizes()), 1))),
                      strict=False))
    for ax, task in zip(axes.flat, panels, strict=False):
        for size in table.sizes():
            sel = [p for p in pts if p.size == size and p.kind == CheckpointKind.SUITE]
            ys = [p.avg_ndcg(table.tasks) if task is None else p.ndcg.get(task) for p in sel]
            xs = [p.icl_average for p, y in zip(sel, ys, strict=True) if y is not None]
            ax.scatter(xs, [y for y in ys if y is not None], color=colors[size], s=16, label=size)
        for ref in (p for p in pts if p.kind not in (CheckpointKind.SUITE, CheckpointKind.CONTROL)):
            y = ref.avg_ndcg(table.tasks) if task is None else ref.ndcg.get(task)
            if y is not None:
                ax.scatter([ref.icl_average], [y], marker="x", color="tab:gray", label=ref.name)
        ax.set_title(f"{'average' if task is None else task} (n={len(pts)} checkpoints)", fontsize=9)
        ax.set_xlabel("ICL core average")
        ax.set_ylabel("nDCG@10")
        ax.grid(True, alpha=0.25)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    _legend(axes.flat[0], 6)
    fig.tight_layout()
    return _save(fig, out_dir, "fig3_ndcg_vs_icl")
