"""Miner rules: positives and their duplicates never come back as negatives; caps, window, shortfall, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from retscale.cli import main
from retscale.errors import UserError
from retscale.mining.miner import MiningConfig, PoolIndex, done_marker, load_pool, mine_hard_negatives
from retscale.pairs.dedup import DupKey, normalise
from retscale.pairs.formats import read_pairs, write_pairs

POSITIVE = "Red apples grow on apple trees in the orchard during the autumn season."


def _pool(tmp_path: Path) -> Path:
    rows = [
        {"id": "pos", "title": "", "text": POSITIVE, "doc": "A"},
        {"id": "exact", "title": "", "text": "RED apples grow on apple trees, in the orchard during the autumn season!",
         "doc": "B"},
        {"id": "contains", "title": "", "text": POSITIVE + " Pickers arrive in October.", "doc": "C"},
        {"id": "near", "title": "", "text": POSITIVE.replace("autumn", "fall"), "doc": "D"},
        {"id": "same-doc", "title": "", "text": "Apple orchards also grow pears.", "doc": "A"},
    ]
    rows += [{"id": f"n{i}", "title": "", "text": f"Apples number {i} are sold at market stall {i} for apple pie {i}.",
              "doc": f"doc{i // 2}"} for i in range(40)]
    rows += [{"id": f"z{i}", "title": "", "text": f"Unrelated zebra text {i}.", "doc": f"z{i}"} for i in range(10)]
    path = tmp_path / "pool.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _pairs(tmp_path: Path, n: int = 6) -> Path:
    pairs = [{"query_id": f"q{i}", "query": "red apple orchard" if i % 2 == 0 else f"apple pie market {i}",
              "positives": [{"id": "pos", "title": "", "text": POSITIVE, "doc": "A"}], "negatives": [],
              "source": "test"} for i in range(n)]
    write_pairs(tmp_path / "pairs.jsonl", pairs)
    return tmp_path / "pairs.jsonl"


def test_dedup_rules() -> None:
    pos = DupKey(POSITIVE)
    assert normalise("  Hello,   WORLD!! ") == "hello world"
    assert pos.duplicates(DupKey(POSITIVE.upper() + "!!"))  # exact after normalising
    assert pos.duplicates(DupKey("Intro. " + POSITIVE))  # containment
    assert pos.duplicates(DupKey(POSITIVE.replace("autumn", "fall")))  # Jaccard 12/14 ≥ 0.8
    assert not pos.duplicates(DupKey("Red apples grow on trees."))


def test_positives_and_duplicates_never_mined(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    cfg = MiningConfig(negatives=5, depth=40, n_threads=1)
    report = mine_hard_negatives(_pairs(tmp_path), _pool(tmp_path), out, cfg, show_progress=False)
    assert report.written == 6 and report.dropped == 0
    for pair in read_pairs(out):
        ids = [n["id"] for n in pair["negatives"]]
        assert len(ids) == 5 and len(set(ids)) == 5
        assert not {"pos", "exact", "contains", "near", "same-doc"} & set(ids)
        docs = [n["doc"] for n in pair["negatives"]]
        assert len(docs) == len(set(docs))  # max_per_doc=1
    assert json.loads(done_marker(out).read_text())["complete"] is True


def test_same_doc_allowed_and_per_doc_cap(tmp_path: Path) -> None:
    cfg = MiningConfig(negatives=10, depth=50, max_per_doc=2, exclude_positive_docs=False, n_threads=1)
    mine_hard_negatives(_pairs(tmp_path, 1), _pool(tmp_path), tmp_path / "o.jsonl", cfg, show_progress=False)
    (pair,) = read_pairs(tmp_path / "o.jsonl")
    ids = [n["id"] for n in pair["negatives"]]
    assert "same-doc" in ids and "pos" not in ids
    docs = [n["doc"] for n in pair["negatives"]]
    assert max(docs.count(d) for d in docs) == 2


def test_skip_top_window(tmp_path: Path) -> None:
    pool = PoolIndex.build(_pool(tmp_path))
    base = MiningConfig(negatives=3, depth=40, n_threads=1)
    mine_hard_negatives(_pairs(tmp_path, 1), pool, tmp_path / "a.jsonl", base, show_progress=False)
    skipped = MiningConfig(negatives=3, depth=40, skip_top=11, n_threads=1)  # past the 5 excluded + n0..n5
    mine_hard_negatives(_pairs(tmp_path, 1), pool, tmp_path / "b.jsonl", skipped, show_progress=False)
    (a,), (b,) = read_pairs(tmp_path / "a.jsonl"), read_pairs(tmp_path / "b.jsonl")
    assert not {n["id"] for n in a["negatives"]} & {n["id"] for n in b["negatives"]}


@pytest.mark.parametrize(("policy", "written", "counts"), [("drop", 0, set()), ("keep", 1, None), ("pad", 1, {25})])
def test_shortfall_policies(tmp_path: Path, policy: str, written: int, counts: set[int] | None) -> None:
    cfg = MiningConfig(negatives=25, depth=60, shortfall=policy, n_threads=1)
    report = mine_hard_negatives(_pairs(tmp_path, 1), _pool(tmp_path), tmp_path / "o.jsonl", cfg,
                                 show_progress=False)
    assert report.short == 1 and report.written == written
    got = {len(p["negatives"]) for p in read_pairs(tmp_path / "o.jsonl")}
    if counts is None:
        assert got == {20}  # 20 matching docs (max_per_doc=1); the zebras only pad
    else:
        assert got == counts


def test_sample_strategy_is_seeded(tmp_path: Path) -> None:
    pool = PoolIndex.build(_pool(tmp_path))
    runs = []
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        cfg = MiningConfig(negatives=4, depth=40, strategy="sample", seed=seed, n_threads=1)
        mine_hard_negatives(_pairs(tmp_path), pool, tmp_path / f"{name}.jsonl", cfg, show_progress=False)
        runs.append((tmp_path / f"{name}.jsonl").read_text())
    assert runs[0] == runs[1] and runs[0] != runs[2]


def test_resume_truncates_torn_line_and_continues(tmp_path: Path) -> None:
    pairs, pool = _pairs(tmp_path), _pool(tmp_path)
    cfg = MiningConfig(negatives=5, depth=40, n_threads=1)
    full = tmp_path / "full.jsonl"
    mine_hard_negatives(pairs, pool, full, cfg, show_progress=False)
    lines = full.read_text().splitlines(keepends=True)
    part = tmp_path / "part.jsonl"
    part.write_text("".join(lines[:2]) + lines[2][:40])  # a crash mid-line
    report = mine_hard_negatives(pairs, pool, part, cfg, show_progress=False)
    assert report.resumed_from == 2 and part.read_text() == full.read_text()
    again = mine_hard_negatives(pairs, pool, part, cfg, show_progress=False)  # complete: nothing to do
    assert again.resumed_from == 6 and part.read_text() == full.read_text()


def test_resume_with_other_pairs_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    out.write_text(json.dumps({"query_id": "elsewhere"}) + "\n")
    with pytest.raises(UserError, match="cannot resume"):
        mine_hard_negatives(_pairs(tmp_path), _pool(tmp_path), out, MiningConfig(negatives=2, n_threads=1),
                            show_progress=False)


def test_bad_pool_and_config(tmp_path: Path) -> None:
    bad = tmp_path / "pool.jsonl"
    bad.write_text('{"id": "a", "text": "x"}\n{"title": "no id"}\n')
    with pytest.raises(UserError) as err:
        load_pool(bad)
    assert err.value.line == 2
    with pytest.raises(ValidationError, match="10 leaves fewer than 15 negatives"):
        MiningConfig(negatives=15, depth=10)


def test_mine_cli(tmp_path: Path, capsys) -> None:
    out = tmp_path / "cli.jsonl"
    code = main(["mine", "--pairs", str(_pairs(tmp_path)), "--pool", str(_pool(tmp_path)), "--negatives", "5",
                 "--depth", "40", "--out", str(out), "--threads", "1"])
    assert code == 0 and len(out.read_text().splitlines()) == 6
    printed = capsys.readouterr().out
    assert "6 pairs written" in printed and "negative_equals_own_positive_violations=0" in printed
    assert main(["mine", "--pairs", str(tmp_path / "pairs.jsonl")]) == 2
    capsys.readouterr()
    assert main(["mine", "--pairs", "p", "--pool", "q", "--out", "o", "--negatives", "15", "--depth", "10"]) == 2
    assert "--depth: 10 leaves fewer than 15 negatives" in capsys.readouterr().err  # the CLI names its flags
