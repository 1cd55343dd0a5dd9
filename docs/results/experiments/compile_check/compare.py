"""EXPERIMENTS.md §13, step 3: the compiled d64-r20 against the committed reference run's d64-r20: the pretrained
weights and held-out loss; per task, metric and fine-tuning seed, the mean score of each and the largest per-query
difference; and ICL per task. The compiled checkpoint is read from the study folder's sibling ``suite/``.

    python docs/results/experiments/compile_check/compare.py [runs/compile-check/study] [runs/full]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from retscale.analysis.evidence import per_query_vectors
from retscale.study.names import StageName
from retscale.study.store import open_store

TASKS = ["scifact", "arguana", "trec-dl19-pool", "wiki-val", "wiki-dev"]
METRICS = ["ndcg_at_10", "mrr_at_10", "contrastive_entropy"]


def outputs(folder: str, name: str) -> tuple[dict, dict]:
    with open_store(folder, readonly=True) as store:
        return store.output(name, StageName.EVALUATE), store.output(name, StageName.ICL)


def pretrained(compiled_dir: Path, reference_dir: Path) -> None:
    from safetensors.torch import load_file

    a, b = (load_file(str(d / "model.safetensors")) for d in (compiled_dir, reference_dir))
    relative = max(float((a[k] - b[k]).norm() / b[k].norm()) for k in b)
    largest = max(float((a[k] - b[k]).abs().max()) for k in b)
    print(f"weights: largest per-tensor relative difference {relative:.2e}, largest element difference {largest:.2e}")
    losses = [json.loads((d / "retscale_checkpoint.json").read_text())["heldout_loss"]
              for d in (compiled_dir, reference_dir)]
    print(f"held-out LM loss: compiled {losses[0]!r}  reference {losses[1]!r}")


def main() -> None:
    study = sys.argv[1] if len(sys.argv) > 1 else "runs/compile-check/study"
    full = sys.argv[2] if len(sys.argv) > 2 else "runs/full"
    (reference_dir,) = Path(full).glob("stages/pretrain-suite-full-*/d64-r20")
    pretrained(Path(study).parent / "suite" / "d64-r20", reference_dir)
    compiled = outputs(study, "d64-r20-compiled")
    reference = outputs(full, "d64-r20")
    worst = 0.0
    for task in TASKS:
        for metric in METRICS:
            (qa, va), (qb, vb) = per_query_vectors(compiled[0], task, metric), per_query_vectors(reference[0], task,
                                                                                                 metric)
            if qa != qb:
                raise SystemExit(f"{task}: the two runs scored different queries")
            for seed, (a, b) in enumerate(zip(np.array(va, float), np.array(vb, float), strict=True)):
                diff = np.nanmax(np.abs(a - b))
                worst = max(worst, float(np.nanmax(np.abs(np.nanmean(a) - np.nanmean(b)))))
                print(f"{task:<15} {metric:<20} seed {seed}: compiled {np.nanmean(a):.6f}  reference "
                      f"{np.nanmean(b):.6f}  mean Δ {np.nanmean(a) - np.nanmean(b):+.2e}  max |Δ| per query "
                      f"{diff:.2e}  (n = {np.sum(~np.isnan(a))})")
    print(f"largest |Δ| of a seed's mean score: {worst:.2e}")
    for task, items in sorted(compiled[1]["per_item"].items()):
        a, b = np.array(items, float), np.array(reference[1]["per_item"][task], float)
        print(f"ICL {task:<10} gold-choice probability: compiled {a.mean():.6f}  reference {b.mean():.6f}  "
              f"max |Δ| per item {np.max(np.abs(a - b)):.2e}  (n = {a.size})")


if __name__ == "__main__":
    main()
