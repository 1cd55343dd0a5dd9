"""retscale_checkpoint.json: external declarations and the loader's errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retscale.errors import UserError
from retscale.pretrain.checkpoint import INFO_FILE, PretrainingRecord, read_pretraining_record


def test_external_checkpoint_axes(tmp_path: Path) -> None:
    info = PretrainingRecord.external("mpt-125m-2.5b", n_params=125_000_000, tokens=2_500_000_000)
    assert info.tokens_per_param == 20.0
    assert info.flops_6nd == pytest.approx(6 * 125e6 * 2.5e9)
    info.write(tmp_path)
    assert read_pretraining_record(tmp_path) == info


def test_minimal_declaration_is_completed(tmp_path: Path) -> None:
    (tmp_path / INFO_FILE).write_text(json.dumps({"name": "x", "n_params": 10, "tokens": 50, "seed": 3}))
    info = read_pretraining_record(tmp_path)
    assert info.flops_6nd == 3000 and info.tokens_per_param == 5 and info.seed == 3


def test_missing_fields_and_files(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"no retscale_checkpoint\.json"):
        read_pretraining_record(tmp_path)
    (tmp_path / INFO_FILE).write_text(json.dumps({"name": "x"}))
    with pytest.raises(UserError, match="n_params, tokens"):
        read_pretraining_record(tmp_path)
    with pytest.raises(UserError):
        PretrainingRecord.external("bad", n_params=0, tokens=5)
