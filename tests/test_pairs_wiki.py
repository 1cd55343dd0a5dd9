"""Wikipedia pair builders: headings, sentence chunking, stub filtering, the seeded split, counts, stats."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from retscale.cli import main
from retscale.data.splits import ArticleSplit
from retscale.pairs.formats import read_pairs
from retscale.pairs.overlap import overlap_counts, reference_sets
from retscale.pairs.stats import pair_stats
from retscale.pairs.wiki import (
    MAX_TOKENS,
    approx_tokens,
    build_wiki_pairs,
    chunk_text,
    is_heading,
    pairs_path,
    pool_path,
    split_sections,
)


def _article(i: int, n_sections: int = 2) -> dict[str, str]:
    """Articles that share no 13-word n-gram (each sentence names its article): the pair builder drops a train
    article sharing one with a test article, as it would a copied one."""
    lead = " ".join(f"Article {i}: The river {i} flows through the valley {i} near the town {i} part {j}."
                    for j in range(4))
    body = [lead]
    for s in range(n_sections):
        body += [f"Section {s}.", " ".join(f"Fact {k} of article {i} about topic {s} is told in words of {i}." for k in range(5))]
    body += ["References.", f"Some citation {i} text that must not be used {i} as a passage at all {i}."]
    return {"id": str(1000 + i), "url": "", "title": f"Article {i}", "text": "\n".join(body)}


def _source(tmp_path: Path, n: int = 30) -> Path:
    path = tmp_path / "wiki.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(json.dumps(_article(i)) + "\n")
        fh.write(json.dumps({"id": "9", "url": "", "title": "Stub", "text": "Too short."}) + "\n")
        fh.write(json.dumps({"id": "8", "url": "", "title": "Empty", "text": ""}) + "\n")
    return path


def test_heading_rule() -> None:
    assert is_heading("Early life.") and is_heading("2015–present.")
    assert not is_heading("He was born in 1950 and died in 2001 in a small village.")
    assert not is_heading("Mr. Smith.") and not is_heading("lowercase start.")


def test_sections_stop_at_references() -> None:
    sections = split_sections(_article(1)["text"])
    assert [h for h, _ in sections] == [None, "Section 0", "Section 1"]
    assert all("citation" not in body for _, body in sections)


def test_chunks_respect_sentence_boundaries_and_token_budget() -> None:
    text = " ".join(f"Sentence {i} has exactly seven words here." for i in range(60))
    chunks = chunk_text(text)
    assert len(chunks) > 1 and all(approx_tokens(c) <= MAX_TOKENS for c in chunks)
    assert all(c.startswith("Sentence") and c.endswith(".") for c in chunks)
    sizes = [len(c.split()) for c in chunks]
    assert max(sizes) - min(sizes) <= 7  # balanced, not 96 + leftovers
    long_sentence = " ".join(["word"] * 300) + "."
    assert all(approx_tokens(c) <= MAX_TOKENS for c in chunk_text(long_sentence))


def test_build_counts_and_outputs(tmp_path: Path) -> None:
    src = _source(tmp_path)
    split = ArticleSplit(dev_fraction=0.2, test_fraction=0.2)
    out = tmp_path / "pairs"
    report = build_wiki_pairs(src, out, split=split, decontaminate=())
    assert report.articles_read == 32 and report.articles_kept == 30
    assert sum(report.articles_by_split.values()) == 30 and all(report.articles_by_split.get(p) for p in
                                                                 ("train", "dev", "test"))
    totals = {k: sum(report.pairs.get(sp, {}).get(k, 0) for sp in ("train", "dev", "test"))
              for k in ("wiki-title", "wiki-section", "wiki-sentence")}
    assert totals == {"wiki-title": 30, "wiki-section": 60, "wiki-sentence": 90}  # one sentence pair per section
    parts = {sp: list(read_pairs(pairs_path(out, sp))) for sp in ("train", "dev", "test")}
    docs = {sp: {p["positives"][0]["doc"] for p in pairs} for sp, pairs in parts.items()}
    assert not docs["train"] & docs["test"] and not docs["train"] & docs["dev"]  # split by article
    assert all(split.of(d) == sp for sp, ds in docs.items() for d in ds)
    section = next(p for p in parts["train"] if p["source"] == "wiki-section")
    assert section["query"].startswith("Article ") and ": Section " in section["query"]
    sentence = next(p for p in parts["train"] if p["source"] == "wiki-sentence")
    assert sentence["query"] not in sentence["positives"][0]["text"]  # taken out of its passage
    pool = [json.loads(line) for sp in ("train", "dev", "test") for line in pool_path(out, sp).read_text().splitlines()]
    assert len(pool) == sum(report.pool_passages.values()) == 90 and {"id", "title", "text", "doc"} <= set(pool[0])
    stats = pair_stats(pairs_path(out, "train"))
    assert stats["pairs"] == len(parts["train"]) and stats["checks"]["duplicate_query_texts"] == 0


def test_kinds_and_titles(tmp_path: Path) -> None:
    report = build_wiki_pairs(_source(tmp_path), tmp_path / "p", kinds=("sentence",), passage_titles=False,
                              decontaminate=())
    assert set(report.pairs["train"]) == {"wiki-sentence"}
    assert all(p["positives"][0]["title"] == "" for p in read_pairs(pairs_path(tmp_path / "p", "train")))


def test_build_cli_prints_counts(tmp_path: Path, capsys) -> None:
    src = _source(tmp_path)
    assert main(["pairs", "build", "--source", "wiki", "--input", str(src), "--out", str(tmp_path / "x"),
                 "--dev-fraction", "0.2", "--test-fraction", "0.2", "--decontaminate", ""]) == 0
    out = capsys.readouterr().out
    assert "wiki-title" in out and "wiki-section" in out and "pool" in out and "wiki-val" in out
    assert (tmp_path / "x" / "pairs.test.jsonl").exists() and (tmp_path / "x" / "pool.train.jsonl").exists()
    assert (tmp_path / "x" / "wiki-val" / "corpus.jsonl").exists()
    assert main(["pairs", "stats", str(tmp_path / "x" / "pairs.train.jsonl")]) == 0
    assert "negatives_per_query" in capsys.readouterr().out


def test_overlap_counts_exact_and_ngram() -> None:
    ref = reference_sets(["One two three four five six seven eight nine ten eleven twelve thirteen fourteen."])
    counts = overlap_counts(["ONE two three, four five six seven eight nine ten eleven twelve thirteen fourteen!",
                             "zero one two three four five six seven eight nine ten eleven twelve thirteen",
                             "nothing in common here"], ref)
    assert counts == {"checked": 3, "exact": 1, "ngram13": 2}
