"""EXPERIMENTS.md §14: two results.csv (long format) compared: per (stage, metric) the largest |Δ| and where.

    python docs/results/experiments/reference_rerun/diff_results.py A/results.csv B/results.csv
"""

from __future__ import annotations

import csv
import sys


def load(path: str) -> dict[tuple[str, ...], float]:
    with open(path) as fh:
        return {(r["checkpoint"], r["stage"], r["task"], r["metric"]): float(r["value"]) for r in csv.DictReader(fh)}


def main() -> None:
    a, b = load(sys.argv[1]), load(sys.argv[2])
    print(f"rows: {len(a)} vs {len(b)}; only in the first {len(a.keys() - b.keys())}, "
          f"only in the second {len(b.keys() - a.keys())}")
    worst: dict[tuple[str, str], tuple[float, tuple[str, ...]]] = {}
    for key in a.keys() & b.keys():
        d = abs(a[key] - b[key])
        group = (key[1], key[3])
        if group not in worst or d > worst[group][0]:
            worst[group] = (d, key)
    for (stage, metric), (d, key) in sorted(worst.items(), key=lambda item: -item[1][0]):
        print(f"{stage:<12} {metric:<28} max |Δ| {d:.2e}  at {key[0]} {key[2]}")


if __name__ == "__main__":
    main()
