"""EXPERIMENTS.md §12, step 3: d128 at 50 vs 20 tokens/param, paired over queries, with 95% bootstrap CIs over
queries and the 2 fine-tuning seeds; also against the reference run's d128-r20 (full-logits loss) and d128
control, and the reference run's d64 at 50 vs 20 for comparison.

    python docs/results/experiments/d128_duration/analyse.py [runs/d128-duration/study] [runs/full]
"""

from __future__ import annotations

import sys

import numpy as np

from retscale.analysis import inference as inf
from retscale.analysis.evidence import aligned_per_query_scores
from retscale.study.names import StageName
from retscale.study.store import open_store

OOD = ["scifact", "arguana", "trec-dl19-pool"]
TASKS = [*OOD, "wiki-val", "wiki-dev"]
REFERENCE = ("d128-r20", "d128-init", "d64-r20", "d64-r50")
PAIRS = [("d128-r50", "d128-r20-trunk50"), ("d128-r20-trunk50", "full:d128-r20"), ("d128-r50", "full:d128-init"),
         ("full:d64-r50", "full:d64-r20")]


def load(experiment: str, reference: str) -> dict:
    models = {}
    with open_store(experiment, readonly=True) as store:
        for e in store.checkpoints():
            if e.name.startswith("d128"):
                models[e.name] = (store.output(e.name, StageName.EVALUATE), e)
    with open_store(reference, readonly=True) as store:
        for e in store.checkpoints():
            if e.name in REFERENCE:
                models[f"full:{e.name}"] = (store.output(e.name, StageName.EVALUATE), e)
    return models


def replicates(models: dict, metric: str) -> inf.Replicates:
    scores = aligned_per_query_scores([(name, entry, output) for name, (output, entry) in models.items()], TASKS,
                                      metric)
    return inf.bootstrap(scores, n_boot=2000, resample_seeds=True, seed=0)


def main() -> None:
    experiment = sys.argv[1] if len(sys.argv) > 1 else "runs/d128-duration/study"
    reference = sys.argv[2] if len(sys.argv) > 2 else "runs/full"
    models = load(experiment, reference)
    for metric in ("ndcg_at_10", "mrr_at_10", "contrastive_entropy"):
        reps = replicates(models, metric)
        print(f"== {metric}")
        for tasks, label in ((OOD, "OOD average"), *(([t], t) for t in TASKS)):
            point, boot = reps.scores(list(models), tasks)
            low, high = np.percentile(boot, [2.5, 97.5], axis=0)
            print(f"  {label}: " + "; ".join(f"{n} {p:.4f} [{lo:.4f}, {hi:.4f}]"
                                             for n, p, lo, hi in zip(models, point, low, high, strict=True)))
            for a, b in PAIRS:
                d, lo, hi = reps.difference(a, b, tasks)
                print(f"     {a} − {b}: {d:+.4f} [{lo:+.4f}, {hi:+.4f}]")


if __name__ == "__main__":
    main()
