"""``icl`` scores causal LMs only: an encoder is refused with one line instead of getting a random LM head."""

from __future__ import annotations

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
