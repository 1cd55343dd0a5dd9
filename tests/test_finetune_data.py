"""Training-file reader, batch schedule and bad-input errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finetune_fixtures import make_pairs, make_tiny_llama
from retscale.cli import main
from retscale.errors import UserError
from retscale.finetune.config import FinetuneConfig
from retscale.finetune.data import BatchSchedule, read_groups


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _row(n_neg: int = 2, query: str = "what is x", neg_text: str = "other", qid: str = "q") -> dict:
    # Query ids are unique within a pairs file (retscale.pairs.formats checks it).
    return {"query_id": qid, "query": query, "positives": [{"id": "p", "title": "X", "text": "x is a letter"}],
            "negatives": [{"id": f"n{i}", "title": "", "text": f"{neg_text} {i}"} for i in range(n_neg)]}


def test_reads_groups_with_title_joined(tmp_path: Path) -> None:
    groups = read_groups(_write(tmp_path / "a.jsonl", [_row(3, qid="a"), _row(2, qid="b")]), n_negatives=2)
    assert len(groups) == 2
    assert groups[0].positive == "X x is a letter"
    assert groups[0].negatives == ("other 0", "other 1", "other 2")


@pytest.mark.parametrize(("row", "message"), [
    (_row(0), "no negatives"),
    (_row(1), "1 negatives but 2 requested"),
    (_row(2, query="  "), "empty query"),  # the pairs format's own validator (retscale.pairs.formats) words these
    (_row(2, neg_text=""), None),  # "other 0" is not empty: sanity row, must pass
    ({**_row(2), "negatives": [{"id": "n", "title": "", "text": ""}, {"id": "m", "text": "ok"}]}, "has no text"),
    ({**_row(2), "positives": []}, "no positive"),
])
def test_bad_rows_are_user_errors_with_line(tmp_path: Path, row: dict, message: str | None) -> None:
    path = _write(tmp_path / "bad.jsonl", [_row(2, qid="first"), row])
    if message is None:
        assert len(read_groups(path, 2)) == 2
        return
    with pytest.raises(UserError) as info:
        read_groups(path, 2)
    assert message in info.value.problem
    assert info.value.line == 2 and info.value.path == str(path)


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not found"):
        read_groups(tmp_path / "nope.jsonl", 2)
    with pytest.raises(UserError, match="no examples"):
        read_groups(_write(tmp_path / "empty.jsonl", []), 2)


def test_schedule_is_deterministic_and_shards_contiguously(tmp_path: Path) -> None:
    groups = read_groups(make_pairs(tmp_path / "p.jsonl", n_queries=10, n_negatives=4), 2)
    schedule = BatchSchedule(groups, batch_size=4, n_negatives=2, seed=3, epochs=2)
    assert schedule.steps_per_epoch == 2 and schedule.total_steps == 4  # the partial batch is dropped
    again = BatchSchedule(groups, batch_size=4, n_negatives=2, seed=3, epochs=2)
    full = schedule.batch(1)
    assert full == again.batch(1)
    assert len(full.queries) == 4 and len(full.passages) == 12
    halves = [schedule.batch(1, rank, 2) for rank in (0, 1)]
    assert halves[0].queries + halves[1].queries == full.queries
    assert halves[0].passages + halves[1].passages == full.passages
    assert schedule.batch(2).queries != schedule.batch(0).queries  # a new epoch reshuffles
    with pytest.raises(UserError, match="batch size"):
        BatchSchedule(groups, batch_size=11, n_negatives=2, seed=0, epochs=1)


def test_model_dir_without_weights_is_a_user_error(tmp_path: Path) -> None:
    model_dir = make_tiny_llama(tmp_path / "llama")
    for weights in model_dir.glob("*.safetensors"):
        weights.unlink()
    train = make_pairs(tmp_path / "p.jsonl", n_queries=4, n_negatives=2)
    from retscale.finetune.trainer import finetune

    config = FinetuneConfig(model=str(model_dir), train=train, output=tmp_path / "out", n_negatives=2, batch_size=2)
    with pytest.raises(UserError, match="weights"):
        finetune(config)


def test_cli_reports_bad_input_on_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train = _write(tmp_path / "bad.jsonl", [_row(0)])
    code = main(["finetune", "--model", str(tmp_path), "--train", str(train), "--output", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "no negatives" in err and err.count("\n") == 1
    code = main(["finetune", "--model", "m", "--train", str(train), "--output", "o", "--temperature", "-1"])
    assert code == 2 and "temperature" in capsys.readouterr().err


def test_cli_flags_override_yaml_config(tmp_path: Path) -> None:
    from retscale.cli import build_parser
    from retscale.finetune.commands import config_from_args

    (tmp_path / "ft.yaml").write_text("n_negatives: 7\nlearning_rate: 0.001\nchunk_size: 8\n", encoding="utf-8")
    args = build_parser().parse_args(["finetune", "--model", "m", "--train", "t.jsonl", "--output", "o",
                                      "--config", str(tmp_path / "ft.yaml"), "--learning-rate", "3e-4",
                                      "--chunk-size", "none", "--in-batch-negatives"])
    config = config_from_args(args)
    assert (config.n_negatives, config.learning_rate, config.chunk_size) == (7, 3e-4, None)
    assert config.in_batch_negatives and config.query_max_length == 128 and config.epochs == 1
    (tmp_path / "bad.yaml").write_text("n_negatve: 3\n", encoding="utf-8")
    args = build_parser().parse_args(["finetune", "--model", "m", "--train", "t", "--output", "o",
                                      "--config", str(tmp_path / "bad.yaml")])
    with pytest.raises(UserError, match="n_negatve"):
        config_from_args(args)
