"""Statistics and sanity checks for a canonical pairs file (``retscale pairs stats FILE``)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from retscale.pairs.dedup import text_hash
from retscale.pairs.formats import read_pairs
from retscale.pairs.wiki import approx_tokens


def _percentiles(values: list[int]) -> dict[str, float]:
    if not values:
        return {}
    arr = np.asarray(values)
    return {"min": int(arr.min()), "p5": float(np.percentile(arr, 5)), "median": float(np.median(arr)),
            "mean": round(float(arr.mean()), 1), "p95": float(np.percentile(arr, 95)), "max": int(arr.max())}


def pair_stats(path: str | Path, fmt: str = "auto") -> dict[str, Any]:
    """Counts, length distributions and overlap checks; every ``*_violations`` count should be 0."""
    by_source: Counter[str] = Counter()
    n_pos, n_neg, query_words, passage_tokens = [], [], [], []
    neg_is_positive = neg_dup_within = query_equals_passage = 0
    positive_hashes: set[str] = set()
    negative_hashes: Counter[str] = Counter()
    query_texts: Counter[str] = Counter()
    for pair in read_pairs(path, fmt):
        by_source[pair["source"]] += 1
        n_pos.append(len(pair["positives"]))
        n_neg.append(len(pair["negatives"]))
        query_words.append(len(pair["query"].split()))
        query_texts[pair["query"].strip().lower()] += 1
        pos = {text_hash(p["text"]) for p in pair["positives"]}
        pos_ids = {p["id"] for p in pair["positives"]}
        positive_hashes |= pos
        neg = [text_hash(p["text"]) for p in pair["negatives"]]
        negative_hashes.update(set(neg))
        neg_is_positive += sum(h in pos for h in neg) + sum(p["id"] in pos_ids for p in pair["negatives"])
        neg_dup_within += len(neg) - len(set(neg))
        q = text_hash(pair["query"])
        query_equals_passage += any(text_hash(p["text"]) == q for p in pair["positives"] + pair["negatives"])
        passage_tokens.extend(approx_tokens(p["text"]) for p in pair["positives"] + pair["negatives"])
    return {
        "file": str(path),
        "pairs": sum(by_source.values()),
        "pairs_by_source": dict(sorted(by_source.items())),
        "positives_per_query": _percentiles(n_pos),
        "negatives_per_query": _percentiles(n_neg),
        "negatives_histogram": dict(sorted(Counter(n_neg).items())),
        "query_words": _percentiles(query_words),
        "passage_approx_tokens": _percentiles(passage_tokens),
        "checks": {
            "negative_equals_own_positive_violations": neg_is_positive,
            "duplicate_negatives_within_query_violations": neg_dup_within,
            "query_text_equals_a_passage": query_equals_passage,
            "duplicate_query_texts": sum(c - 1 for c in query_texts.values() if c > 1),
            "negatives_that_are_another_querys_positive": sum(
                c for h, c in negative_hashes.items() if h in positive_hashes),
        },
    }


def format_stats(stats: dict[str, Any]) -> str:
    lines = [f"{stats['file']}: {stats['pairs']:,} pairs"]
    for source, n in stats["pairs_by_source"].items():
        lines.append(f"  {source:<16} {n:>9,}")
    for key in ("positives_per_query", "negatives_per_query", "query_words", "passage_approx_tokens"):
        d = stats[key]
        if d:
            lines.append(f"  {key:<24} " + "  ".join(f"{k}={v}" for k, v in d.items()))
    lines.append("  checks: " + ", ".join(f"{k}={v}" for k, v in stats["checks"].items()))
    return "\n".join(lines)
