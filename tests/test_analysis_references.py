"""Reference models in the scaling figure: a reference-only external model with known N and D is a point at its
6·N·D (real decoders beside a built-in suite on one FLOPs axis); BM25 and a reference without FLOPs stay
horizontal lines."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from retscale.analysis.figures import _scaling_axes
from retscale.analysis.table import Point, StudyTable
from retscale.study.names import CheckpointKind


def test_external_references_with_flops_are_points_at_their_flops() -> None:
    suite = [Point(f"d64-r{r}", CheckpointKind.SUITE, "0.4M", 4e5, 4e5 * r, 6 * 4e5 * 4e5 * r,
                   ndcg={"scifact": 0.01 * r}) for r in (20, 50)]
    gemma = Point("gemma-3-270m", CheckpointKind.EXTERNAL, "270M", 2.681e8, 6e12, 6 * 2.681e8 * 6e12,
                  ndcg={"scifact": 0.25})
    unknown = Point("no-axes", CheckpointKind.EXTERNAL, "?", None, None, None, ndcg={"scifact": 0.2})
    bm25 = Point("BM25", CheckpointKind.BASELINE, "BM25", None, None, None, ndcg={"scifact": 0.6})
    table = StudyTable([*suite, gemma, unknown, bm25], ["scifact"])
    fig, ax = plt.subplots()
    _scaling_axes(ax, table, None)
    points = [c.get_offsets() for c in ax.collections]
    assert any(np.allclose(p, [[gemma.flops, 0.25]]) for p in points)
    horizontal = {line.get_label() for line in ax.get_lines() if len(set(line.get_ydata())) == 1}
    assert horizontal == {"BM25 (baseline)", "no-axes (external)"}
    assert any(label == f"gemma-3-270m (reference, {gemma.flops:.1e} FLOPs)" for label in ax.get_legend_handles_labels()[1])
    low, high = ax.get_xlim()
    assert low <= suite[0].flops and high >= gemma.flops  # one axis from the suite to the real decoders
    plt.close(fig)
