"""``pairs build`` refuses settings and inputs that would give an empty training file (exit 2, one line)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from retscale.cli import main


def _one_error_line(err: str) -> str:
    """The error line; anything else on stderr may only be the progress bar (carriage-return redrawn)."""
    lines = [line for line in err.strip().split("\n") if line.strip()]
    errors = [line for line in lines if line.startswith("retscale: error:")]
    assert len(errors) == 1 and len(lines) <= 2 and "Traceback" not in err, err
    return errors[0]


def _wiki(tmp_path: Path) -> Path:
    path = tmp_path / "wiki.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for i in range(20):  # every sentence names its article: no 13-gram is shared between articles
            lead = " ".join(f"The river {i} flows through the old valley near the town number {j}." for j in range(4))
            body = " ".join(f"Fact {k} about topic {i} is told here in several plain words." for k in range(5))
            fh.write(json.dumps({"id": str(i), "title": f"Article {i}",
                                 "text": f"{lead}\nHistory.\n{body}\nGeography.\n{body}"}) + "\n")
    return path


@pytest.mark.parametrize("flags", [["--test-fraction", "2"], ["--dev-fraction", "-1"],
                                   ["--test-fraction", "0.5"], ["--max-tokens", "0"], ["--kinds", "titles"]])
def test_bad_settings_exit_2(tmp_path: Path, flags: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "x"
    assert main(["pairs", "build", "--input", str(_wiki(tmp_path)), "--out", str(out), "--decontaminate", "",
                 *flags]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert flags[0].lstrip("-").split("-")[0] in line.replace("_", "-") or "kinds" in line
    assert not (out / "pairs.train.jsonl").exists()


def test_non_wikipedia_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "other.jsonl"
    src.write_text("".join(json.dumps({"_id": str(i), "text": f"a passage {i}"}) + "\n" for i in range(10)))
    out = tmp_path / "x"
    assert main(["pairs", "build", "--input", str(src), "--out", str(out), "--decontaminate", ""]) == 2
    err = _one_error_line(capsys.readouterr().err)
    assert str(src) in err and "no training pairs" in err
    assert not (out / "pairs.train.jsonl").exists()


def test_good_input_still_builds(tmp_path: Path) -> None:
    out = tmp_path / "x"
    assert main(["pairs", "build", "--input", str(_wiki(tmp_path)), "--out", str(out), "--decontaminate", ""]) == 0
    assert (out / "pairs.train.jsonl").read_text().strip()
