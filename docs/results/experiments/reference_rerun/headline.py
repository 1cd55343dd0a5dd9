"""EXPERIMENTS.md §14: the headline findings of two published reference runs side by side (tables/scores.csv and
tables/evidence.json of each).

    python docs/results/experiments/reference_rerun/headline.py docs/results/full RERUN/docs/results/full
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

OOD = ("scifact", "arguana", "trec-dl19-pool")


def main() -> None:
    runs = [Path(p) for p in sys.argv[1:3]]
    evidence = [json.loads((d / "tables/evidence.json").read_text()) for d in runs]
    scores = []
    for d in runs:
        with open(d / "tables/scores.csv") as fh:
            scores.append({row["checkpoint"]: row for row in csv.DictReader(fh)})
    print("checkpoint   OOD avg nDCG@10 (old → new)   SciFact / ArguAna / DL19 (new − old)")
    for ck, a in scores[0].items():
        b = scores[1][ck]
        per_task = [float(b[f"ndcg_at_10_{t}"]) - float(a[f"ndcg_at_10_{t}"]) for t in OOD]
        old, new = float(a["avg_ndcg_at_10"]), float(b["avg_ndcg_at_10"])
        print(f"{ck:<11} {old:.4f} → {new:.4f} ({new - old:+.4f})   " + " / ".join(f"{x:+.4f}" for x in per_task))
    for e, label in zip(evidence, ("old", "new"), strict=True):
        trend, duration, icl = e["flops_trend"], e["duration"]["log10_d"], e["icl"][0]
        print(f"{label}: Spearman {trend['r']:.3f} p {trend['p_value']:.3f} CI checkpoints "
              f"[{trend['checkpoint_low']:.2f}, {trend['checkpoint_high']:.2f}] queries+seeds "
              f"[{trend['noise_low']:.2f}, {trend['noise_high']:.2f}];  log D {duration['estimate']:+.4f} "
              f"[{duration['low']:+.4f}, {duration['high']:+.4f}]  log N {e['duration']['log10_n']['estimate']:+.4f};"
              f"  ICL r {icl['r']:+.2f} p {icl['p_value']:.2f};  isoFLOP {e['isoflop']['outcome']}")
        gains = [g for g in e["gains"] if g["task"] == "average"]
        print("   gains: " + "; ".join(f"{g['checkpoint']} {g['gain']:+.3f} [{g['low']:+.3f}, {g['high']:+.3f}]"
                                       for g in gains))


if __name__ == "__main__":
    main()
