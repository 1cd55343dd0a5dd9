"""The held-out Wikipedia tasks: built only from one split's articles, a valid BEIR folder, seeded, sized,
without the title shortcut."""

from __future__ import annotations

from pathlib import Path

import pytest

from retscale.data import load_task
from retscale.data.splits import ArticleSplit
from retscale.errors import UserError
from retscale.pairs.formats import read_pairs
from retscale.pairs.heldout import write_heldout_task
from retscale.pairs.wiki import build_wiki_pairs, pairs_path, pool_path
from test_pairs_wiki import _source

SPLIT = ArticleSplit(dev_fraction=0.2, test_fraction=0.2)


@pytest.fixture()
def built(tmp_path: Path) -> Path:
    build_wiki_pairs(_source(tmp_path, 40), tmp_path / "pairs", split=SPLIT, decontaminate=())
    return tmp_path / "pairs"


def test_task_is_valid_beir_from_test_articles_only(built: Path) -> None:
    out = write_heldout_task(pairs_path(built, "test"), pool_path(built, "test"), built / "wiki-val", seed=0)
    ds = load_task(out)
    held = [p for p in read_pairs(pairs_path(built, "test")) if p["source"] == "wiki-sentence"]
    assert held and set(ds.queries) == {p["query_id"] for p in held}
    for p in held:  # every positive is in the corpus, without the query sentence, and its qrels say so
        assert set(ds.qrels[p["query_id"]]) == {x["id"] for x in p["positives"]}
        assert p["query"] not in ds.corpus[p["positives"][0]["id"]]["text"]
    assert {SPLIT.of(pid.split("-")[1]) for pid in ds.corpus} == {"test"}  # the corpus: test articles only
    assert all(doc["title"] == "" for doc in ds.corpus.values())  # no title shortcut


def test_seeded_and_sized(built: Path) -> None:
    a = write_heldout_task(pairs_path(built, "test"), pool_path(built, "test"), built / "a", seed=3, max_queries=5)
    b = write_heldout_task(pairs_path(built, "test"), pool_path(built, "test"), built / "b", seed=3, max_queries=5)
    c = write_heldout_task(pairs_path(built, "test"), pool_path(built, "test"), built / "c", seed=4, max_queries=5)
    assert (a / "queries.jsonl").read_bytes() == (b / "queries.jsonl").read_bytes()
    assert (a / "queries.jsonl").read_bytes() != (c / "queries.jsonl").read_bytes()
    assert len(load_task(a).queries) == 5


def test_no_sentence_pairs_is_a_user_error(built: Path) -> None:
    empty = built / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(UserError, match="max_articles"):
        write_heldout_task(empty, pool_path(built, "test"), built / "x")
