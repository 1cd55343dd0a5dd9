"""Checkpoints that did not finish their learning-rate schedule (a public suite's intermediate steps) are marked
in the scaling figure: open circles with one legend entry; a study without such points draws none."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from retscale.analysis.figures import _scaling_axes
from retscale.analysis.table import load_table
from retscale.flops import format_count
from retscale.study.names import CheckpointKind
from retscale.study.store import ModelEntry, open_store
from synthetic_study import Truth, make_synthetic_study_dir

LABEL = "open: intermediate step (not annealed)"


def _labels(study_dir: Path) -> tuple[list[bool | None], list[str], int]:
    with open_store(study_dir, readonly=True) as store:
        table = load_table(store, tasks=list(Truth().tasks))
    fig, ax = plt.subplots()
    _scaling_axes(ax, table, None)
    labels = ax.get_legend_handles_labels()[1]
    n_open = sum(len(c.get_offsets()) for c in ax.collections)
    plt.close(fig)
    return [p.annealed for p in table.points], labels, n_open


def test_unannealed_checkpoints_are_open_circles(tmp_path: Path) -> None:
    study_dir = make_synthetic_study_dir(tmp_path / "plain")
    annealed, labels, n_open = _labels(study_dir)
    assert set(annealed) == {None} and LABEL not in labels and n_open == 0
    with open_store(study_dir) as store:
        for n in (4e6, 12e6):  # two sizes' 2x checkpoints become intermediate steps
            tokens = n * 2
            store.put_checkpoint(ModelEntry(f"{format_count(n)}-2x", CheckpointKind.SUITE, format_count(n), n,
                                            tokens, 6 * n * tokens, {"annealed": False}))
    annealed, labels, n_open = _labels(study_dir)
    assert annealed.count(False) == 2 and labels.count(LABEL) == 1 and n_open == 2
