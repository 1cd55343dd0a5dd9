"""The held-out Wikipedia task: built only from validation articles, a valid BEIR folder, seeded, sized."""

from __future__ import annotations

from pathlib import Path

import pytest

from retscale.data import load_task
from retscale.errors import UserError
from retscale.pairs.formats import read_pairs
from retscale.pairs.heldout import write_heldout_task
from retscale.pairs.wiki import build_wiki_pairs
from test_pairs_wiki import _source


@pytest.fixture()
def built(tmp_path: Path) -> Path:
    # validation_fraction 0.2 keeps a handful of the 30 articles out of training
    build_wiki_pairs(_source(tmp_path, 30), tmp_path / "train.jsonl", tmp_path / "val.jsonl", tmp_path / "pool.jsonl",
                     seed=0, validation_fraction=0.2)
    return tmp_path


def test_task_is_valid_beir_from_held_out_articles_only(built: Path) -> None:
    out = write_heldout_task(built / "val.jsonl", built / "pool.jsonl", built / "wiki-val", seed=0, corpus_size=60)
    ds = load_task(out)
    val = list(read_pairs(built / "val.jsonl"))
    train = list(read_pairs(built / "train.jsonl"))
    assert val and train
    assert set(ds.queries) == {p["query_id"] for p in val}
    # every positive is in the corpus, and its qrels say so
    for p in val:
        assert set(ds.qrels[p["query_id"]]) == {x["id"] for x in p["positives"]}
        assert all(x["id"] in ds.corpus for x in p["positives"])
    # no query of the task comes from an article that produced training pairs
    train_docs = {x["id"].split("-")[1] for p in train for x in p["positives"]}
    val_docs = {x["id"].split("-")[1] for p in val for x in p["positives"]}
    assert not train_docs & val_docs
    assert len(ds.corpus) == 60  # positives + seeded distractors from the pool


def test_seeded_and_deterministic(built: Path) -> None:
    a = write_heldout_task(built / "val.jsonl", built / "pool.jsonl", built / "a", seed=3, corpus_size=50)
    b = write_heldout_task(built / "val.jsonl", built / "pool.jsonl", built / "b", seed=3, corpus_size=50)
    c = write_heldout_task(built / "val.jsonl", built / "pool.jsonl", built / "c", seed=4, corpus_size=50)
    assert (a / "corpus.jsonl").read_bytes() == (b / "corpus.jsonl").read_bytes()
    assert (a / "corpus.jsonl").read_bytes() != (c / "corpus.jsonl").read_bytes()


def test_corpus_never_smaller_than_the_positives(built: Path) -> None:
    out = write_heldout_task(built / "val.jsonl", built / "pool.jsonl", built / "small", corpus_size=1)
    n_pos = len({x["id"] for p in read_pairs(built / "val.jsonl") for x in p["positives"]})
    assert len(load_task(out).corpus) == n_pos


def test_no_validation_pairs_is_a_user_error(built: Path) -> None:
    empty = built / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(UserError, match="max_articles"):
        write_heldout_task(empty, built / "pool.jsonl", built / "x")
