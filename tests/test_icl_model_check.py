"""``icl`` scores causal LMs only: an encoder is refused with one line instead of getting a random LM head."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retscale.cli import main


def test_encoder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["icl", "--model", "sentence-transformers/all-MiniLM-L6-v2", "--tasks", "copa",
                 "--output", str(tmp_path / "out"), "--limit", "2"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "not a causal" in err
    assert not (tmp_path / "out" / "icl.json").exists()


def test_damaged_item_cache_is_recomputed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from icl_tiny_lm import tiny_model, tiny_tokenizer

    model_dir = tmp_path / "model"
    tiny_model().save_pretrained(model_dir)
    tiny_tokenizer().save_pretrained(model_dir)
    out = tmp_path / "out"
    argv = ["icl", "--model", str(model_dir), "--tasks", "copa", "--output", str(out), "--limit", "3"]
    assert main(argv) == 0
    first = json.loads((out / "icl.json").read_text())["tasks"]["copa"]
    for cache in (out / "cache").glob("*.jsonl"):
        cache.write_bytes(b"\xff\xfe not utf-8\n[1, 2]\n" + cache.read_bytes()[: cache.stat().st_size // 2])
    capsys.readouterr()
    assert main(argv) == 0, capsys.readouterr().err
    again = json.loads((out / "icl.json").read_text())["tasks"]["copa"]
    assert again["accuracy"] == first["accuracy"] and again["n_items"] == 3
