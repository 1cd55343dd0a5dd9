"""Resuming ``mine`` checks what the output was mined with: other settings never leave a stale file behind a
fresh done marker, and an output that would overwrite its own input is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retscale.cli import main
from retscale.errors import UserError
from retscale.mining.miner import MiningConfig, done_marker, mine_hard_negatives
from retscale.pairs.formats import read_pairs, write_pairs


def _inputs(tmp_path: Path) -> tuple[Path, Path]:
    pool = tmp_path / "pool.jsonl"
    rows = [{"id": f"p{i}", "text": f"apple pie recipe number {i} with {'sugar ' * (i % 4)}and flour", "doc": f"d{i}"}
            for i in range(40)]
    pool.write_text("".join(json.dumps(r) + "\n" for r in rows))
    pairs = tmp_path / "pairs.jsonl"
    write_pairs(pairs, [{"query_id": f"q{i}", "query": f"apple pie {i} sugar", "positives": [rows[i]],
                         "negatives": [], "source": "test"} for i in range(8)])
    return pairs, pool


def _mine(pairs: Path, pool: Path, out: Path, *extra: str) -> int:
    return main(["mine", "--pairs", str(pairs), "--pool", str(pool), "--out", str(out), "--depth", "30",
                 "--threads", "1", "--no-stats", *extra])


def test_rerun_with_other_settings_is_not_a_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pairs, pool = _inputs(tmp_path)
    out = tmp_path / "mined.jsonl"
    assert _mine(pairs, pool, out, "--negatives", "3") == 0
    mined, marker = out.read_text(), done_marker(out).read_text()
    capsys.readouterr()
    code = _mine(pairs, pool, out, "--negatives", "6")
    err = capsys.readouterr().err
    if code == 0:  # recomputed: the file must hold what was asked for
        assert {len(p["negatives"]) for p in read_pairs(out)} == {6}
        assert json.loads(done_marker(out).read_text())["config"]["negatives"] == 6
    else:  # refused: one line, and nothing changed
        assert code == 2 and len(err.strip().splitlines()) == 1 and "negatives" in err
        assert out.read_text() == mined and done_marker(out).read_text() == marker
    for flag in (["--seed", "5", "--strategy", "sample"], ["--depth", "31"]):
        code = _mine(pairs, pool, out, "--negatives", "3", *flag)
        assert code == 2 or json.loads(done_marker(out).read_text())["config"][flag[0][2:]] == int(flag[1]), flag


def test_other_pool_contents_are_not_a_resume(tmp_path: Path) -> None:
    pairs, pool = _inputs(tmp_path)
    out = tmp_path / "mined.jsonl"
    cfg = MiningConfig(negatives=3, depth=30, n_threads=1)
    mine_hard_negatives(pairs, pool, out, cfg, show_progress=False)
    pool.write_text(pool.read_text().replace("flour", "butter"))
    with pytest.raises(UserError, match="other settings"):
        mine_hard_negatives(pairs, pool, out, cfg, show_progress=False)


def test_same_settings_still_resume(tmp_path: Path) -> None:
    pairs, pool = _inputs(tmp_path)
    cfg = MiningConfig(negatives=3, depth=30, n_threads=1)
    full = tmp_path / "full.jsonl"
    mine_hard_negatives(pairs, pool, full, cfg, show_progress=False)
    again = mine_hard_negatives(pairs, pool, full, MiningConfig(negatives=3, depth=30, n_threads=2, batch_size=3),
                                show_progress=False)
    assert again.resumed_from == 8  # threads and batch size do not change the output


@pytest.mark.parametrize("target", ["pairs", "pool"])
def test_out_equal_to_an_input_is_refused(tmp_path: Path, target: str, capsys: pytest.CaptureFixture[str]) -> None:
    pairs, pool = _inputs(tmp_path)
    before = {pairs: pairs.read_text(), pool: pool.read_text()}
    out = pairs if target == "pairs" else pool
    assert _mine(pairs, pool, tmp_path / "." / out.name, "--negatives", "3") == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--out" in err
    assert {p: p.read_text() for p in before} == before
    assert not done_marker(out).exists()
