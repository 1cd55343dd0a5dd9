"""In-domain retrieval tasks from held-out Wikipedia articles, written as BEIR folders.

Why: the paper's BEIR tasks are far from the tiny models' training domain; a task from Wikipedia articles that
neither pretraining nor fine-tuning saw (:mod:`retscale.data.splits`) measures the same skill where small models
can score. Two tasks come out of one recipe: ``wiki-dev`` (``dev`` articles: design choices are scored on it) and
``wiki-val`` (``test`` articles: reported, never tuned on).

Built so that a title matcher cannot solve it (the old ``wiki-val`` used article titles as queries and kept titles
on passages, and a same-title matcher scored 0.675 nDCG@10):

- queries: inverse-cloze sentences (``wiki-sentence`` pairs: a sentence taken out of a passage), a seeded sample
  of at most ``max_queries``;
- qrels: the passage the sentence was taken from, *without* that sentence (grade 1);
- corpus: every passage of the split's articles, titles removed, so the positive competes with the other passages
  of its own article and of every other held-out article.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from retscale.errors import UserError
from retscale.fileio import atomic_write, iter_jsonl
from retscale.pairs.formats import read_pairs

TASK_NAME = "wiki-val"  # test articles: the reported in-domain task
DEV_TASK_NAME = "wiki-dev"  # dev articles: the design task
QUERY_SOURCE = "wiki-sentence"


def write_heldout_task(pairs: str | Path, pool: str | Path, out_dir: str | Path, *, seed: int = 0,
                       max_queries: int | None = 1000) -> Path:
    """Write ``out_dir/{corpus.jsonl, queries.jsonl, qrels/test.tsv}`` from one split's pairs and pool."""
    out = Path(out_dir)
    held = [p for p in read_pairs(pairs) if p.get("source") == QUERY_SOURCE]
    if not held:
        raise UserError(f"no {QUERY_SOURCE} pairs to build the held-out task from", path=pairs,
                        fix="use more Wikipedia articles (pairs.max_articles) or drop the task from eval.tasks")
    if max_queries is not None and len(held) > max_queries:
        held = [held[i] for i in sorted(random.Random(seed).sample(range(len(held)), max_queries))]
    positives = {p["id"]: p["text"] for pair in held for p in pair["positives"]}
    corpus: dict[str, str] = {}
    for _, obj in iter_jsonl(pool):
        corpus[str(obj["id"])] = positives.get(str(obj["id"]), obj["text"])
    missing = set(positives) - set(corpus)
    if missing:
        raise UserError(f"{len(missing)} positives are not in the pool {pool}", path=pairs,
                        fix="build pairs and pool together with retscale.pairs.wiki.build_wiki_pairs")
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    with atomic_write(out / "corpus.jsonl") as fh:
        for pid, text in corpus.items():
            fh.write(json.dumps({"_id": pid, "title": "", "text": text}, ensure_ascii=False) + "\n")
    with atomic_write(out / "queries.jsonl") as fh:
        for pair in held:
            fh.write(json.dumps({"_id": pair["query_id"], "text": pair["query"]}, ensure_ascii=False) + "\n")
    with atomic_write(out / "qrels" / "test.tsv") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        fh.writelines(f"{pair['query_id']}\t{p['id']}\t1\n" for pair in held for p in pair["positives"])
    return out
