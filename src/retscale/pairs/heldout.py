"""An in-domain retrieval task from held-out Wikipedia articles, written as a BEIR folder.

Why: BEIR tasks (SciFact, ArguAna) are far from Wikipedia, and tiny fine-tuned models score near the floor on
them, so their FLOPs trend drowns in noise. Queries from articles that no training pair came from (the pair
builder's article-level validation split) measure the same skill in the training domain, where small models
reach scores that can move.

- queries: every validation pair's query (an article title, or "title: section heading");
- qrels: its positive passages (grade 1);
- corpus: every validation positive, so a section query competes with its article's other sections, plus a
  seeded sample of other passages from the pool up to ``corpus_size`` distractors in all.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from retscale.errors import UserError
from retscale.fileio import atomic_write, iter_jsonl
from retscale.pairs.formats import read_pairs

TASK_NAME = "wiki-val"


def write_heldout_task(validation: str | Path, pool: str | Path, out_dir: str | Path, *, seed: int = 0,
                       corpus_size: int = 3000) -> Path:
    """Write ``out_dir/{corpus.jsonl, queries.jsonl, qrels/test.tsv}``; returns ``out_dir``."""
    out = Path(out_dir)
    queries: dict[str, str] = {}
    qrels: dict[str, list[str]] = {}
    corpus: dict[str, tuple[str, str]] = {}
    for pair in read_pairs(validation):
        queries[pair["query_id"]] = pair["query"]
        qrels[pair["query_id"]] = [p["id"] for p in pair["positives"]]
        for p in pair["positives"]:
            corpus[p["id"]] = (p.get("title", ""), p["text"])
    if not queries:
        raise UserError("no validation pairs to build the held-out task from", path=validation,
                        fix="raise pairs.max_articles (2% of articles are held out) or drop wiki-val from eval.tasks")
    others = [(obj["id"], obj.get("title", ""), obj["text"]) for _, obj in iter_jsonl(pool) if obj["id"] not in corpus]
    n_extra = max(0, min(len(others), corpus_size - len(corpus)))
    for pid, title, text in sorted(random.Random(seed).sample(others, n_extra)):
        corpus[pid] = (title, text)
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    with atomic_write(out / "corpus.jsonl") as fh:
        for pid, (title, text) in corpus.items():
            fh.write(json.dumps({"_id": pid, "title": title, "text": text}, ensure_ascii=False) + "\n")
    with atomic_write(out / "queries.jsonl") as fh:
        for qid, text in queries.items():
            fh.write(json.dumps({"_id": qid, "text": text}, ensure_ascii=False) + "\n")
    with atomic_write(out / "qrels" / "test.tsv") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        fh.writelines(f"{qid}\t{pid}\t1\n" for qid, pids in qrels.items() for pid in pids)
    return out
