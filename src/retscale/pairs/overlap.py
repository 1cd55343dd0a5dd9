"""Does training text overlap a BEIR test collection? (Zero-shot evaluation must stay zero-shot.)

Two measures against each task's corpus *and* queries, both on normalised text (``retscale.pairs.dedup``):
- ``exact``: training passages/queries whose whole normalised text equals a BEIR document or query;
- ``ngram13``: training passages sharing at least one 13-word n-gram with the BEIR text (the contamination test
  of GPT-3, Brown et al. 2020, appendix C) — catches copied sentences inside otherwise different passages.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from retscale.pairs.dedup import normalise, text_hash

NGRAM = 13


def _ngrams(text: str, n: int = NGRAM) -> set[int]:
    words = normalise(text).split()
    return {hash(" ".join(words[i:i + n])) for i in range(len(words) - n + 1)}


def reference_sets(texts: Iterable[str]) -> tuple[set[str], set[int]]:
    hashes: set[str] = set()
    grams: set[int] = set()
    for t in texts:
        hashes.add(text_hash(t))
        grams |= _ngrams(t)
    return hashes, grams


def overlap_counts(train_texts: Iterable[str], reference: tuple[set[str], set[int]]) -> dict[str, int]:
    hashes, grams = reference
    n = exact = shared = 0
    for t in train_texts:
        n += 1
        exact += text_hash(t) in hashes
        shared += not grams.isdisjoint(_ngrams(t))
    return {"checked": n, "exact": exact, "ngram13": shared}


def beir_overlap(train_texts: list[str], tasks: Iterable[str] = ("scifact", "arguana")) -> dict[str, Any]:
    """Overlap of ``train_texts`` with each task's corpus + queries, by task name."""
    from retscale.data import load_task

    out: dict[str, Any] = {}
    for name in tasks:
        ds = load_task(name)
        texts = [d.get("title", "") + " " + d.get("text", "") for d in ds.corpus.values()]
        texts += [d.get("text", "") for d in ds.corpus.values()] + list(ds.queries.values())
        out[name] = overlap_counts(train_texts, reference_sets(texts))
    return out
