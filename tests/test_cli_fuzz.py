"""Bad input across the CLI, run as a user would (``python -m retscale ...`` in a subprocess): every case must exit 2
with at most three lines of output and no traceback. Cases avoid loading models where they can (CLI start-up is
the cost: a few seconds each)."""

from __future__ import annotations

import gzip
import json
import os
import struct
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from retscale.pairs.formats import write_pairs

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "src" / "retscale" / "presets" / "smoke.yaml"

PAIR = {"query_id": "q1", "query": "apple pie", "positives": [{"id": "p1", "text": "An apple pie recipe."}],
        "negatives": [], "source": "test"}


def _gguf_header_only(path: Path) -> Path:
    """A GGUF file whose header is valid (magic, version, counts) but whose metadata is cut off."""
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 10, 5) + b"\x01\x00")
    return path


def _beir_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of broken inputs, one file per kind of damage."""
    d = tmp_path_factory.mktemp("bad-inputs")
    (d / "a_file").write_text("I am a file, not a folder\n")
    (d / "not_utf8.jsonl").write_bytes(json.dumps(PAIR).encode() + b"\n" + b'{"query": "caf\xe9"}\n')
    (d / "fake.jsonl.gz").write_text(json.dumps(PAIR) + "\n")
    whole = gzip.compress(("".join(json.dumps({**PAIR, "query_id": f"q{i}"}) + "\n" for i in range(300))).encode())
    (d / "truncated.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    (d / "malformed.jsonl").write_text(json.dumps(PAIR) + "\n{not json\n")
    (d / "array_line.jsonl").write_text("[1, 2, 3]\n")
    (d / "pool_no_id.jsonl").write_text('{"text": "a passage without an id"}\n')
    (d / "pool.jsonl").write_text("".join(json.dumps({"id": f"p{i}", "text": f"apple pie number {i}"}) + "\n"
                                          for i in range(30)))
    write_pairs(d / "pairs.jsonl", [{**PAIR, "query_id": f"q{i}"} for i in range(3)])
    (d / "other.jsonl").write_text("".join(json.dumps({"_id": str(i), "text": f"a passage {i}"}) + "\n"
                                           for i in range(5)))
    mined = d / "mined.jsonl"
    mined.write_text(json.dumps(PAIR) + "\n")
    (d / "mined.jsonl.settings.json").write_text("{ damaged")
    _gguf_header_only(d / "truncated.gguf")
    (d / "weights.bin").write_bytes(b"\0" * 64)
    (d / "random.zip").write_bytes(os.urandom(2048))
    _beir_zip(d / "no_qrels.zip", {"tiny/corpus.jsonl": b'{"_id": "d1", "text": "x"}\n',
                                   "tiny/queries.jsonl": b'{"_id": "q1", "text": "x"}\n'})
    _beir_zip(d / "latin1.zip", {"tiny/corpus.jsonl": b'{"_id": "d1", "text": "caf\xe9"}\n',
                                 "tiny/queries.jsonl": b'{"_id": "q1", "text": "x"}\n',
                                 "tiny/qrels/test.tsv": b"query-id\tcorpus-id\tscore\nq1\td1\t1\n"})
    store = d / "corrupt_study"
    store.mkdir()
    (store / "results.sqlite").write_bytes(b"SQLite format 3\0" + os.urandom(4000))
    smoke = SMOKE.read_text()
    (d / "syntax.yaml").write_text("name: x\n  bad: [indent\n")
    (d / "list.yaml").write_text("- a\n- b\n")
    (d / "unknown_top.yaml").write_text(smoke + "bogus_section: 1\n")
    (d / "bad_eval_task.yaml").write_text(smoke.replace("tasks: [scifact, wiki-val]", "tasks: [scifakt]"))
    (d / "ft_config.yaml").write_text("learning_rate: fast\n")
    return d


A = Callable[[Path], list[str]]
CASES: dict[str, A] = {
    # outputs that cannot be written
    "study output is a file": lambda d: ["study", "smoke", "--output", str(d / "a_file"), "--no-progress"],
    "evaluate output is a file": lambda d: ["evaluate", "--model", "bm25", "--tasks", str(d / "latin1.zip"),
                                            "--output", str(d / "a_file")],
    "evaluate output under a file": lambda d: ["evaluate", "--model", "bm25", "--tasks", str(d / "latin1.zip"),
                                               "--output", str(d / "a_file" / "sub")],
    "pairs convert out under a file": lambda d: ["pairs", "convert", str(d / "pairs.jsonl"), "--out",
                                                 str(d / "a_file" / "x.jsonl")],
    # JSONL
    "pairs stats non-UTF-8": lambda d: ["pairs", "stats", str(d / "not_utf8.jsonl")],
    "pairs stats fake .gz": lambda d: ["pairs", "stats", str(d / "fake.jsonl.gz")],
    "pairs stats truncated .gz": lambda d: ["pairs", "stats", str(d / "truncated.jsonl.gz")],
    "pairs stats malformed line": lambda d: ["pairs", "stats", str(d / "malformed.jsonl")],
    "pairs stats missing file": lambda d: ["pairs", "stats", str(d / "absent.jsonl")],
    "pairs convert array line": lambda d: ["pairs", "convert", str(d / "array_line.jsonl"), "--out",
                                           str(d / "converted.jsonl")],
    "pairs build non-wiki input": lambda d: ["pairs", "build", "--input", str(d / "other.jsonl"), "--out",
                                             str(d / "built.jsonl")],
    "pairs build fraction 2": lambda d: ["pairs", "build", "--input", str(d / "other.jsonl"), "--out",
                                         str(d / "built.jsonl"), "--validation-fraction", "2"],
    "pairs build max tokens 0": lambda d: ["pairs", "build", "--input", str(d / "other.jsonl"), "--out",
                                           str(d / "built.jsonl"), "--max-tokens", "0"],
    "mine pool without ids": lambda d: ["mine", "--pairs", str(d / "pairs.jsonl"), "--pool", str(d / "pool_no_id.jsonl"),
                                        "--out", str(d / "m1.jsonl")],
    "mine pairs not UTF-8": lambda d: ["mine", "--pairs", str(d / "not_utf8.jsonl"), "--pool", str(d / "pool.jsonl"),
                                       "--out", str(d / "m2.jsonl")],
    "mine out is the pairs": lambda d: ["mine", "--pairs", str(d / "pairs.jsonl"), "--pool", str(d / "pool.jsonl"),
                                        "--out", str(d / "pairs.jsonl"), "--negatives", "2"],
    "mine zero negatives": lambda d: ["mine", "--pairs", str(d / "pairs.jsonl"), "--pool", str(d / "pool.jsonl"),
                                      "--out", str(d / "m3.jsonl"), "--negatives", "0"],
    "mine damaged settings record": lambda d: ["mine", "--pairs", str(d / "pairs.jsonl"), "--pool",
                                               str(d / "pool.jsonl"), "--out", str(d / "mined.jsonl"),
                                               "--negatives", "2", "--depth", "10"],
    "finetune train fake .gz": lambda d: ["finetune", "--model", "all-MiniLM-L6-v2", "--train",
                                          str(d / "fake.jsonl.gz"), "--output", str(d / "ft1")],
    "finetune bad config value": lambda d: ["finetune", "--model", "all-MiniLM-L6-v2", "--train",
                                            str(d / "pairs.jsonl"), "--output", str(d / "ft2"),
                                            "--config", str(d / "ft_config.yaml")],
    # GGUF and other model files
    "evaluate truncated GGUF": lambda d: ["evaluate", "--model", str(d / "truncated.gguf"), "--tasks",
                                          str(d / "latin1.zip"), "--output", str(d / "e1")],
    "icl truncated GGUF": lambda d: ["icl", "--model", str(d / "truncated.gguf"), "--tasks", "copa", "--output",
                                     str(d / "i1")],
    "evaluate non-GGUF weights file": lambda d: ["evaluate", "--model", str(d / "weights.bin"), "--output",
                                                 str(d / "e2")],
    # zips and BEIR folders
    "data info random bytes zip": lambda d: ["data", "info", str(d / "random.zip")],
    "data info zip without qrels": lambda d: ["data", "info", str(d / "no_qrels.zip")],
    "data info latin-1 corpus": lambda d: ["data", "info", str(d / "latin1.zip")],
    "evaluate random bytes zip": lambda d: ["evaluate", "--model", "bm25", "--tasks", str(d / "random.zip"),
                                            "--output", str(d / "e3")],
    # unknown models and tasks
    "evaluate unknown model": lambda d: ["evaluate", "--model", "no-such-model", "--output", str(d / "e4")],
    "evaluate unknown task": lambda d: ["evaluate", "--model", "bm25", "--tasks", "scifakt", "--output",
                                        str(d / "e5")],
    "icl unknown task": lambda d: ["icl", "--model", "smollm2-135m-instruct", "--tasks", "nope", "--output",
                                   str(d / "i2")],
    "icl encoder model": lambda d: ["icl", "--model", "sentence-transformers/all-MiniLM-L6-v2", "--tasks", "copa",
                                    "--output", str(d / "i3")],
    "data fetch unknown task": lambda d: ["data", "fetch", "scifakt"],
    # study configs and stores
    "study YAML syntax error": lambda d: ["study", str(d / "syntax.yaml"), "--output", str(d / "s1")],
    "study config is a list": lambda d: ["study", str(d / "list.yaml"), "--output", str(d / "s2")],
    "study unknown section": lambda d: ["study", str(d / "unknown_top.yaml"), "--output", str(d / "s3")],
    "study missing config": lambda d: ["study", str(d / "absent.yaml"), "--output", str(d / "s4")],
    "study damaged store": lambda d: ["study", "smoke", "--output", str(d / "corrupt_study"), "--no-progress"],
    "report damaged store": lambda d: ["report", str(d / "corrupt_study")],
    "report no store": lambda d: ["report", str(d / "e5")],
}


def run_cli(argv: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
           "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "retscale", *argv], capture_output=True, text=True, env=env,
                          timeout=timeout, check=False)


def assert_one_line_failure(proc: subprocess.CompletedProcess[str]) -> None:
    output = proc.stdout + proc.stderr
    lines = [line for line in output.split("\n") if line.strip()]
    assert proc.returncode == 2, output
    assert "Traceback" not in output, output
    assert len(lines) <= 3, output
    assert any(line.startswith("retscale: error:") for line in lines), output


def test_there_are_at_least_30_cases() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_exit_2(case: str, bad: Path) -> None:
    assert_one_line_failure(run_cli(CASES[case](bad)))


# A bad key or value in a study section must fail when the config is loaded, before any stage runs (and not
# after pretraining): a timeout here means the study started working on a config it should have refused.
STUDY_SECTIONS = {
    "unknown key in mining": ("  depth: 20\n", "  depth: 20\n  bogus: 3\n"),
    "bad value in finetune": ("  learning_rate: 0.001\n", "  learning_rate: fast\n"),
}


@pytest.mark.parametrize("case", list(STUDY_SECTIONS))
def test_bad_study_section_fails_at_load(case: str, tmp_path: Path) -> None:
    old, new = STUDY_SECTIONS[case]
    config = tmp_path / "study.yaml"
    smoke = SMOKE.read_text()
    assert old in smoke
    config.write_text(smoke.replace(old, new))
    assert_one_line_failure(run_cli(["study", str(config), "--output", str(tmp_path / "out"), "--no-progress"],
                                    timeout=60))
    assert not (tmp_path / "out" / "stages").exists()


def test_a_bug_is_one_line_and_debug_shows_the_traceback(monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    import retscale.pairs.commands
    from retscale.cli import main

    def broken(args: object) -> int:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(retscale.pairs.commands, "run", broken)
    assert main(["pairs", "stats", "x.jsonl"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "internal error" in err and "ZeroDivisionError: division by zero" in err and "--debug" in err
    assert main(["--debug", "pairs", "stats", "x.jsonl"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "in broken" in err


def test_expected_failures_keep_their_path_and_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from retscale.cli import main

    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["pairs", "convert", str(tmp_path / "absent.jsonl"), "--out", str(tmp_path / "x.jsonl")]) == 2
    assert "absent.jsonl: file not found" in capsys.readouterr().err
    src = tmp_path / "pairs.jsonl"
    write_pairs(src, [PAIR])
    assert main(["pairs", "convert", str(src), "--out", str(blocker / "x.jsonl")]) == 2
    err = capsys.readouterr().err
    assert str(blocker) in err and "a file is where a folder should be" in err


def test_explain_names_the_file_and_the_fix() -> None:
    import sqlite3

    import pydantic

    from retscale.cli import explain

    denied = explain(PermissionError(13, "Permission denied", "/results/out"))
    assert denied is not None and denied.path == "/results/out" and "write to" in (denied.fix or "")
    full = explain(OSError(28, "No space left on device", "/results/out/x.f32"))
    assert full is not None and "disk space" in (full.fix or "")
    assert explain(sqlite3.DatabaseError("file is not a database")) is not None

    class Settings(pydantic.BaseModel):
        learning_rate: float

    with pytest.raises(pydantic.ValidationError) as err:
        Settings(learning_rate="fast")  # type: ignore[arg-type]
    invalid = explain(err.value)
    assert invalid is not None and "learning_rate" in invalid.one_line() and "\n" not in invalid.one_line()
    assert explain(ZeroDivisionError()) is None and explain(KeyError("x")) is None
