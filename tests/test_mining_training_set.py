"""The Wikipedia training set: one builder (pairs step + mining step) behind `retscale mine --wiki-set` and the
study's pairs and mining stages; idempotent and resumable."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from retscale.cli import main
from retscale.fileio import read_json
from retscale.mining import MiningConfig, build_training_set
from retscale.pairs.formats import read_pairs
from retscale.pairs.wiki import WikiPairsOptions

TOPICS = ["river", "mountain", "castle", "railway", "library", "harbour", "forest", "bridge", "island", "museum"]


def _source(tmp_path: Path, n: int = 80) -> Path:
    path = tmp_path / "wiki.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for i in range(n):
            topic, other = TOPICS[i % 10], TOPICS[(i * 3 + 1) % 10]
            # every sentence names its article often enough that no 13-word n-gram is shared between articles
            # (the builder drops a train article sharing one with a held-out article)
            lead = " ".join(f"The {topic} of place {i} is known for its {other} and old stones {i}, item {j}."
                            for j in range(4))
            history = " ".join(f"In year {1800 + j} the {topic} {i} near the {other} was rebuilt by workers of {i}."
                               for j in range(4))
            text = "\n".join([lead, "History.", history, "Geography.", f"The {topic} {i} lies beside a {other} "
                              f"in a valley {i} with many trees and fields {i} and farms around it, entry {i}."])
            fh.write(json.dumps({"id": str(i), "url": "", "title": f"{topic.title()} {i}", "text": text}) + "\n")
    return path


@pytest.mark.slow
def test_build_training_set_is_complete_and_idempotent(tmp_path: Path, shared_data: Path) -> None:
    out_dir, source = tmp_path / "set", _source(tmp_path)
    cfg = MiningConfig(negatives=5, depth=60, n_threads=1)
    path = build_training_set(out_dir, WikiPairsOptions(max_pairs=150), cfg, seed=0, source=source,
                              show_progress=False, overlap_tasks=("scifact",))
    pairs = list(read_pairs(path))
    assert 100 <= len(pairs) <= 150 and all(len(p["negatives"]) == 5 for p in pairs)
    stats = read_json(out_dir / "stats.json")
    assert stats["train"]["checks"]["negative_equals_own_positive_violations"] == 0
    assert stats["beir_overlap"]["scifact"]["exact"] == 0
    assert stats["mining"]["train"]["written"] == len(pairs)
    assert (out_dir / "mined.validation.jsonl").exists()

    before = {p.name: p.stat().st_mtime_ns for p in out_dir.iterdir()}
    again = build_training_set(out_dir, WikiPairsOptions(max_pairs=150), cfg, seed=0, source=source,
                               show_progress=False, overlap_tasks=("scifact",))
    assert again == path and {p.name: p.stat().st_mtime_ns for p in out_dir.iterdir()} == before

    # A different selection re-mines from scratch.
    fewer = build_training_set(out_dir, WikiPairsOptions(max_pairs=60), cfg, seed=0, source=source,
                               show_progress=False, overlap_tasks=())
    assert len(list(read_pairs(fewer))) <= 60


def test_interrupted_mining_resumes(tmp_path: Path) -> None:
    out_dir = tmp_path / "set"
    kwargs = {"options": WikiPairsOptions(max_pairs=100), "seed": 3, "source": _source(tmp_path),
              "config": MiningConfig(negatives=4, seed=3, depth=60, n_threads=1), "show_progress": False,
              "overlap_tasks": ()}
    path = build_training_set(out_dir, **kwargs)
    full = path.read_text()
    lines = full.splitlines(keepends=True)
    path.write_text("".join(lines[:30]) + lines[30][:25])
    (out_dir / "mined.train.jsonl.done.json").unlink()
    assert build_training_set(out_dir, **kwargs).read_text() == full


def test_mine_wiki_set_cli(tmp_path: Path, monkeypatch, capsys) -> None:
    src = _source(tmp_path)
    fake_shared = tmp_path / "shared"
    (fake_shared / "text").mkdir(parents=True)
    (fake_shared / "text" / "enwiki-sample.jsonl.gz").write_bytes(src.read_bytes())
    monkeypatch.setenv("RETSCALE_SHARED_DATA", str(fake_shared))
    assert main(["mine", "--wiki-set", str(tmp_path / "w"), "--queries", "80", "--negatives", "3", "--depth", "50",
                 "--threads", "1", "--overlap", ""]) == 0
    out = capsys.readouterr().out
    assert "mined train:" in out and "negatives_per_query" in out and "training set:" in out


STUDY = """\
name: t
checkpoints:
  models:
    - {name: a, model: some/model, n_params: 1.0e+6, tokens: 2.0e+7}
pairs:
  max_pairs: 60
mining:
  negatives: 3
  depth: 50
eval:
  tasks: [TASKS]
"""


def test_mine_wiki_set_and_the_study_build_through_one_builder(tmp_path: Path, monkeypatch) -> None:
    import retscale.mining.training_set as training_set
    import retscale.pairs.overlap as overlap
    from retscale.study.config import parse_config
    from retscale.study.stages import mining_stage, pairs_stage

    src = _source(tmp_path)
    monkeypatch.setattr(training_set, "wiki_source", lambda: src)
    calls: list[str] = []
    for name in ("build_pairs_set", "mine_pairs_set"):
        def spy(*args, _real=getattr(training_set, name), _name=name, **kwargs):  # type: ignore[no-untyped-def]
            calls.append(_name)
            return _real(*args, **kwargs)
        monkeypatch.setattr(training_set, name, spy)
    checked: list[tuple[str, ...]] = []
    monkeypatch.setattr(overlap, "beir_overlap", lambda texts, tasks: checked.append(tuple(tasks)) or {
        t: {"checked": len(texts), "exact": 0, "ngram13": 0} for t in tasks})

    assert main(["mine", "--wiki-set", str(tmp_path / "cli"), "--queries", "60", "--negatives", "3", "--depth",
                 "50", "--threads", "1", "--overlap", "arguana"]) == 0
    config = parse_config(STUDY.replace("TASKS", "scifact, wiki-val"))
    pairs = pairs_stage(config)
    mining = mining_stage(config, pairs)
    pairs_out = pairs.compute(tmp_path / "pairs", {}).output
    mined = mining.compute(tmp_path / "mining", {"pairs": pairs_out})

    assert calls == ["build_pairs_set", "mine_pairs_set"] * 2
    # the overlap check runs in both: the CLI's tasks, and every evaluation corpus of the study (its BEIR tasks and
    # the held-out Wikipedia tasks)
    assert checked[0] == ("arguana",)
    assert checked[1][0] == "scifact" and [Path(t).name for t in checked[1][1:]] == ["wiki-val", "wiki-dev"]
    assert mined.provenance["overlap"]["scifact"]["checked"] > 0
    # the same settings give the same files, byte for byte
    for study_file, cli_file in ((pairs_out["train"], "queries.train.jsonl"), (pairs_out["pool"], "pool.train.jsonl"),
                                 (mined.output["train"], "mined.train.jsonl")):
        assert Path(study_file).read_bytes() == (tmp_path / "cli" / cli_file).read_bytes()
    assert len(list(read_pairs(mined.output["train"]))) > 30
