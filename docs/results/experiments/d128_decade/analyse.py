"""EXPERIMENTS.md §15, step 3: does one decade of D (20 → 210 tokens/param) on d128 raise out-of-domain retrieval?

Per checkpoint: scores with 95% bootstrap CIs over queries and the 2 fine-tuning seeds; each longer checkpoint
against the same trunk's r20 and against the reference run's d128 control (paired); the slope of the score on
log10 D within d128, refitted on every replicate; the same for the reference run's d64 decade. Then the reference
study as it would read with this decade in place of its single d128 checkpoint (9 pretrained checkpoints: d64 × 4,
d128 × 4, d192 × 1): pooled Spearman(FLOPs, OOD average nDCG@10) and the log10 D coefficient of
score ~ log10 N + log10 D. ICL means and held-out LM loss come from the two stores' results.csv.

    python docs/results/experiments/d128_decade/analyse.py [runs/d128-decade/study] [runs/full] \\
        [runs/d128-decade/suite]
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np

from retscale.analysis import inference as inf
from retscale.analysis.evidence import aligned_per_query_scores
from retscale.study.names import StageName
from retscale.study.store import open_store

OOD = ["scifact", "arguana", "trec-dl19-pool"]
TASKS = [*OOD, "wiki-val", "wiki-dev"]
DECADE = ["d128-r20", "d128-r50", "d128-r100", "d128-r210"]
REFERENCE = ["d64-r20", "d64-r50", "d64-r100", "d64-r210", "d128-r20", "d192-r20", "d64-init", "d128-init",
             "d192-init"]
ICL_TASKS = ["hellaswag", "arc_easy", "piqa", "copa"]


def load(experiment: str, reference: str) -> dict:
    """name → (evaluation output, store entry); the reference run's checkpoints are prefixed ``full:``."""
    models = {}
    for folder, prefix, wanted in ((experiment, "", DECADE), (reference, "full:", REFERENCE)):
        with open_store(folder, readonly=True) as store:
            for e in store.checkpoints():
                if e.name in wanted:
                    models[prefix + e.name] = (store.output(e.name, StageName.EVALUATE), e)
    return models


def replicates(models: dict, metric: str) -> inf.Replicates:
    scores = aligned_per_query_scores([(name, entry, output) for name, (output, entry) in models.items()], TASKS,
                                      metric)
    return inf.bootstrap(scores, n_boot=2000, resample_seeds=True, seed=0)


def slope_on_log_d(reps: inf.Replicates, names: list[str], tasks: list[str]) -> tuple[float, float, float]:
    """Least-squares slope of the score on log10 D over ``names`` (one size), and its percentile CI."""
    point, boot = reps.scores(names, tasks)
    x = np.log10([reps.checkpoints[reps.index(n)].tokens for n in names])
    xc = (x - x.mean()) / ((x - x.mean()) ** 2).sum()
    slopes = (boot - boot.mean(axis=1, keepdims=True)) @ xc
    low, high = np.percentile(slopes, [2.5, 97.5])
    return float((point - point.mean()) @ xc), float(low), float(high)


def results_rows(folder: str) -> list[dict[str, str]]:
    with open(Path(folder) / "results.csv") as fh:
        return list(csv.DictReader(fh))


def main() -> None:
    experiment = sys.argv[1] if len(sys.argv) > 1 else "runs/d128-decade/study"
    reference = sys.argv[2] if len(sys.argv) > 2 else "runs/full"
    suite = sys.argv[3] if len(sys.argv) > 3 else "runs/d128-decade/suite"
    models = load(experiment, reference)
    missing = [n for n in DECADE if n not in models] + [f"full:{n}" for n in REFERENCE if f"full:{n}" not in models]
    if missing:
        raise SystemExit(f"not in the stores yet: {', '.join(missing)}")
    d64 = [f"full:{n}" for n in REFERENCE[:4]]
    for metric in ("ndcg_at_10", "mrr_at_10", "contrastive_entropy"):
        reps = replicates(models, metric)
        print(f"== {metric} (95% CIs over queries and 2 fine-tuning seeds, 2,000 replicates; n queries "
              f"{reps.n_queries})")
        for tasks, label in ((OOD, "OOD average"), *(([t], t) for t in TASKS)):
            point, boot = reps.scores(list(models), tasks)
            low, high = np.percentile(boot, [2.5, 97.5], axis=0)
            print(f"  {label}:")
            print("    " + "; ".join(f"{n} {p:.4f} [{lo:.4f}, {hi:.4f}]"
                                     for n, p, lo, hi in zip(models, point, low, high, strict=True)))
            for longer in DECADE[1:]:
                d, lo, hi = reps.difference(longer, DECADE[0], tasks)
                print(f"    {longer} − {DECADE[0]} (same trunk): {d:+.4f} [{lo:+.4f}, {hi:+.4f}]")
            for name in DECADE:
                d, lo, hi = reps.difference(name, "full:d128-init", tasks)
                print(f"    {name} − reference d128 control: {d:+.4f} [{lo:+.4f}, {hi:+.4f}]")
            d, lo, hi = reps.difference(DECADE[0], "full:d128-r20", tasks)
            print(f"    {DECADE[0]} (this trunk) − reference d128-r20: {d:+.4f} [{lo:+.4f}, {hi:+.4f}]")
            for size, names in (("d128", DECADE), ("d64 (reference)", d64)):
                s, lo, hi = slope_on_log_d(reps, names, tasks)
                print(f"    {size}: slope per decade of D {s:+.4f} [{lo:+.4f}, {hi:+.4f}]")
        if metric != "ndcg_at_10":
            continue
        # the reference study with this decade in place of its single d128 checkpoint
        nine = [*d64, *DECADE, "full:d192-r20"]
        rows = [reps.index(n) for n in nine]
        sub = inf.Replicates(tuple(reps.checkpoints[i] for i in rows), reps.tasks, reps.point[rows],
                             reps.boot[:, rows], reps.resampling, reps.n_queries, {n: reps.n_seeds[n] for n in nine})
        effect = inf.duration_effect(sub, tasks=OOD)
        print("  with the d128 decade, 9 pretrained checkpoints (d64 × 4, d128 × 4, d192 × 1), OOD average:")
        print(f"    per decade of D {effect.log10_d.text()}")
        print(f"    per decade of N {effect.log10_n.text()}; R² {effect.r2:.2f}")
        point, boot = sub.scores(nine, OOD)
        flops = [6 * c.n_params * c.tokens for c in sub.checkpoints]
        test = inf.correlation_test(flops, point, "spearman", y_boot=boot, resampling=sub.resampling)
        print(f"    Spearman(FLOPs, OOD average): {test.text()}")
    reference_rows = results_rows(reference)
    gold = {(prefix + r["checkpoint"], r["task"]): float(r["value"])
            for folder_rows, prefix in ((results_rows(experiment), ""), (reference_rows, "full:"))
            for r in folder_rows if r["stage"] == "icl" and r["metric"] == "gold_prob"}
    pretrain = {(r["task"], r["metric"]): float(r["value"]) for r in reference_rows if r["stage"] == "pretrain"}
    losses = {f"full:{n}": (pretrain[n, "heldout_loss"], pretrain[n, "epochs"]) for n in REFERENCE[:4]}
    for name in DECADE:
        record = json.loads((Path(suite) / name / "retscale_checkpoint.json").read_text())
        losses[name] = (record["heldout_loss"], record["epochs"])
    print("== held-out LM loss (pretraining records) and ICL mean gold-choice probability per task")
    for name in [*DECADE, *d64]:
        loss, epochs = losses[name]
        print(f"  {name}: held-out loss {loss:.4f}, {epochs:.2f} epochs; ICL "
              + ", ".join(f"{t} {gold[name, t]:.4f}" for t in ICL_TASKS))

if __name__ == "__main__":
    main()
