"""Does training text overlap an evaluation collection? (Zero-shot evaluation must stay zero-shot.)

Two measures against each task's corpus *and* queries, both on normalised text (``retscale.pairs.dedup``):
- ``exact``: training passages/queries whose whole normalised text equals a BEIR document or query;
- ``ngram13``: training passages sharing at least one 13-word n-gram with the BEIR text (the contamination test
  of GPT-3, Brown et al. 2020, appendix C) — catches copied sentences inside otherwise different passages.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from retscale.data.splits import ArticleSplit
from retscale.pairs.dedup import normalise, text_hash

NGRAM = 13
# The evaluation texts no training text may share a 13-gram with: these BEIR tasks (corpus and queries) and the
# Wikipedia articles of the ``test`` split (the ``wiki-val`` task).
EVAL_TASKS = ("scifact", "arguana", "trec-dl19-pool")


def ngrams(text: str, n: int = NGRAM) -> set[int]:
    """Hashes of the text's normalised ``n``-word n-grams (Python's string hash: compare within one process)."""
    words = normalise(text).split()
    return {hash(" ".join(words[i:i + n])) for i in range(len(words) - n + 1)}


def reference_sets(texts: Iterable[str]) -> tuple[set[str], set[int]]:
    hashes: set[str] = set()
    grams: set[int] = set()
    for t in texts:
        hashes.add(text_hash(t))
        grams |= ngrams(t)
    return hashes, grams


def overlap_counts(train_texts: Iterable[str], reference: tuple[set[str], set[int]]) -> dict[str, int]:
    hashes, grams = reference
    n = exact = shared = 0
    for t in train_texts:
        n += 1
        exact += text_hash(t) in hashes
        shared += not grams.isdisjoint(ngrams(t))
    return {"checked": n, "exact": exact, "ngram13": shared}


def beir_overlap(train_texts: list[str], tasks: Iterable[str] = ("scifact", "arguana")) -> dict[str, Any]:
    """Overlap of ``train_texts`` with each task's corpus + queries, by task name."""
    from retscale.data import load_task

    out: dict[str, Any] = {}
    for name in tasks:
        dataset = load_task(name)
        texts = task_texts(dataset) + [d.get("text", "") for d in dataset.corpus.values()]  # bodies: exact matches
        out[name] = overlap_counts(train_texts, reference_sets(texts))
    return out


def task_texts(dataset: Any) -> list[str]:
    """An evaluation task's texts as its retrievers see them: every document (title + body) and every query."""
    return [f"{d.get('title', '')} {d.get('text', '')}" for d in dataset.corpus.values()] + list(dataset.queries.values())


def article_text(obj: dict[str, Any]) -> str:
    """The text of one Wikipedia sample row as pretraining sees it (title line, then the body)."""
    return f"{obj.get('title', '')}\n{obj.get('text', '')}".strip()


def contamination_reference(wiki_source: str | Path | None, split: ArticleSplit,
                            tasks: Iterable[str] = EVAL_TASKS) -> set[int]:
    """13-grams of every evaluation text: the ``test`` articles of ``wiki_source`` and each BEIR task's corpus and
    queries. A training document sharing one of them is dropped (pretraining corpus and pair builder alike)."""
    from retscale.data import load_task
    from retscale.fileio import iter_jsonl

    grams: set[int] = set()
    if wiki_source is not None:
        for _, obj in iter_jsonl(wiki_source):
            if split.of(str(obj.get("id"))) == "test":
                grams |= ngrams(article_text(obj))
    for name in tasks:
        for text in task_texts(load_task(name)):
            grams |= ngrams(text)
    return grams


def shares_ngram(text: str, reference: set[int]) -> bool:
    return bool(reference) and not reference.isdisjoint(ngrams(text))
