"""One article-level split: nothing that feeds an evaluation task reaches pretraining or fine-tuning text.

The pair builder and the pretraining corpus both follow ``retscale.data.splits``; these tests check the outputs
themselves (files and token streams), not the rule, so a builder that ignored the split would fail them.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from retscale.data.splits import ArticleSplit
from retscale.fileio import iter_jsonl
from retscale.pairs.formats import read_pairs
from retscale.pairs.heldout import write_heldout_task
from retscale.pairs.overlap import article_text, ngrams
from retscale.pairs.wiki import build_wiki_pairs, pairs_path, pool_path


def test_split_is_seeded_order_independent_and_sized() -> None:
    ids = [str(i) for i in range(20000)]
    split = ArticleSplit(seed=0, dev_fraction=0.05, test_fraction=0.1)
    parts = [split.of(i) for i in ids]
    assert parts == [split.of(i) for i in ids]  # a pure function of the id
    assert 0.09 < parts.count("test") / len(ids) < 0.11 and 0.04 < parts.count("dev") / len(ids) < 0.06
    assert parts != [ArticleSplit(seed=1, dev_fraction=0.05, test_fraction=0.1).of(i) for i in ids]
    with pytest.raises(ValueError):
        ArticleSplit(dev_fraction=0.6, test_fraction=0.5)


def _sample(shared_data: Path, tmp_path: Path, n: int) -> Path:
    """The first ``n`` articles of the offline Wikipedia sample that are long enough to give pairs."""
    out = tmp_path / "wiki.jsonl"
    kept = 0
    with gzip.open(shared_data / "text" / "enwiki-sample.jsonl.gz", "rt", encoding="utf-8") as src, \
            out.open("w", encoding="utf-8") as dst:
        for line in src:
            if len(json.loads(line).get("text", "").split()) >= 200:
                dst.write(line)
                kept += 1
                if kept == n:
                    break
    return out


@pytest.fixture(scope="module")
def built(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, ArticleSplit]:
    tmp = tmp_path_factory.mktemp("splits")
    split = ArticleSplit(seed=0, dev_fraction=0.1, test_fraction=0.1)
    source = _sample(shared_data, tmp, 600)
    build_wiki_pairs(source, tmp / "pairs", split=split)
    write_heldout_task(pairs_path(tmp / "pairs", "test"), pool_path(tmp / "pairs", "test"), tmp / "wiki-val")
    return source, tmp, split


def _docs(path: Path) -> set[str]:
    return {str(obj["doc"]) for _, obj in iter_jsonl(path)}


def test_every_file_holds_only_its_own_split(built: tuple[Path, Path, ArticleSplit]) -> None:
    _, tmp, split = built
    for part in ("train", "dev", "test"):
        pool_docs = _docs(pool_path(tmp / "pairs", part))
        pair_docs = {p["doc"] for pair in read_pairs(pairs_path(tmp / "pairs", part)) for p in pair["positives"]}
        assert pool_docs and pair_docs <= pool_docs
        assert {split.of(d) for d in pool_docs} == {part}


def test_no_evaluation_text_in_fine_tuning_data(built: tuple[Path, Path, ArticleSplit]) -> None:
    """wiki-val (queries and corpus) shares no article, no passage text and no 13-gram with the training pairs
    or the mining pool, and the BEIR tasks share no 13-gram with them either (the builder decontaminates)."""
    _, tmp, _ = built
    train_texts = [p["text"] for pair in read_pairs(pairs_path(tmp / "pairs", "train")) for p in pair["positives"]]
    train_texts += [pair["query"] for pair in read_pairs(pairs_path(tmp / "pairs", "train"))]
    train_texts += [obj["text"] for _, obj in iter_jsonl(pool_path(tmp / "pairs", "train"))]
    eval_texts = [obj["text"] for _, obj in iter_jsonl(tmp / "wiki-val" / "corpus.jsonl")]
    eval_texts += [obj["text"] for _, obj in iter_jsonl(tmp / "wiki-val" / "queries.jsonl")]
    assert eval_texts and train_texts
    assert not set(train_texts) & set(eval_texts)
    eval_grams = set().union(*(ngrams(t) for t in eval_texts))
    assert not any(eval_grams & ngrams(t) for t in train_texts)
    from retscale.pairs.overlap import EVAL_TASKS, contamination_reference

    beir = contamination_reference(None, ArticleSplit(), EVAL_TASKS)
    assert not any(beir & ngrams(t) for t in train_texts)


def test_wiki_val_has_no_title_shortcut(built: tuple[Path, Path, ArticleSplit]) -> None:
    _, tmp, _ = built
    corpus = [obj for _, obj in iter_jsonl(tmp / "wiki-val" / "corpus.jsonl")]
    queries = [obj["text"] for _, obj in iter_jsonl(tmp / "wiki-val" / "queries.jsonl")]
    assert all(obj["title"] == "" for obj in corpus)
    qrels = (tmp / "wiki-val" / "qrels" / "test.tsv").read_text().splitlines()[1:]
    text_of = {obj["_id"]: obj["text"] for obj in corpus}
    query_of = {obj["_id"]: obj["text"] for _, obj in iter_jsonl(tmp / "wiki-val" / "queries.jsonl")}
    for line in qrels:  # the query sentence was taken out of its positive
        qid, pid, _ = line.split("\t")
        assert query_of[qid] not in text_of[pid]
    assert len(queries) == len(qrels)


@pytest.mark.slow
def test_pretraining_corpus_holds_no_held_out_article(built: tuple[Path, Path, ArticleSplit], monkeypatch,
                                                      tmp_path: Path) -> None:
    """Decode the built token stream: no test article shares a 13-gram with the training tokens (training documents
    that share one are dropped), and no dev article's text is in them (dev may share template sentences)."""
    from transformers import PreTrainedTokenizerFast

    from retscale.pretrain.corpus import CorpusSpec, build_corpus

    monkeypatch.setenv("RETSCALE_HOME", str(tmp_path / "home"))
    split = ArticleSplit(seed=0, dev_fraction=0.1, test_fraction=0.1)
    corpus = build_corpus(CorpusSpec(vocab_size=512, max_chars=1_500_000, tokenizer_chars=300_000, split=split,
                                     decontaminate=()), show_progress=False)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(str(corpus.tokenizer_dir))
    train_text = tokenizer.decode(np.asarray(corpus.train).tolist())
    train_grams = ngrams(train_text)
    held: dict[str, set[int]] = {"dev": set(), "test": set()}
    dev_openings: list[str] = []
    n_held = 0
    wiki = Path(corpus.meta["sources"][0])
    chars = 0
    for _, obj in iter_jsonl(wiki):
        text = article_text(obj)
        chars += len(text)
        if chars > 1_500_000 * 0.7:
            break
        part = split.of(str(obj["id"]))
        if part in held and len(text.split()) > 30:
            held[part] |= ngrams(text)
            n_held += 1
            if part == "dev":
                dev_openings.append(text[:300])
    assert n_held > 20 and dev_openings
    assert not train_grams & held["test"]
    assert not any(opening in train_text for opening in dev_openings)
    assert corpus.meta["excluded_test_articles"] > 0 and corpus.meta["heldout_tokens"] > 0
