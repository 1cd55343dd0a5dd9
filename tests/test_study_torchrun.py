"""`retscale study smoke` under torchrun (two gloo processes on CPU) gives the results.csv of one process, within
1e-3 per value; the parallel stages really ran on two ranks, and a second run under torchrun reuses every stage."""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from retscale.fileio import read_json

TOLERANCE = 1e-3


def _study(tmp_path: Path, name: str, launcher: list[str]) -> subprocess.CompletedProcess[str]:
    """``retscale study smoke`` into ``tmp_path/name`` with its own RETSCALE_HOME: no embedding cache is shared
    between the two runs being compared."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "RETSCALE_HOME": str(tmp_path / f"home-{name}")}
    result = subprocess.run([*launcher, "-m", "retscale", "study", "smoke", "--output", str(tmp_path / name),
                             "--no-progress"], env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _values(path: Path) -> dict[tuple[str, ...], str]:
    with open(path, newline="", encoding="utf-8") as fh:
        return {(r["checkpoint"], r["stage"], r["task"], r["metric"]): r["value"] for r in csv.DictReader(fh)}


def _differ(a: str, b: str) -> bool:
    try:
        x, y = float(a), float(b)
    except ValueError:
        return a != b
    if math.isnan(x) or math.isnan(y):
        return not (math.isnan(x) and math.isnan(y))
    return abs(x - y) > TOLERANCE


@pytest.mark.slow
def test_two_gloo_ranks_give_the_results_of_one_process(tmp_path: Path) -> None:
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    _study(tmp_path, "one", [sys.executable])
    two = _study(tmp_path, "two", torchrun)
    assert two.stdout.count("stages ran") == 1  # rank 0 speaks for both ranks

    one_values, two_values = _values(tmp_path / "one" / "results.csv"), _values(tmp_path / "two" / "results.csv")
    assert len(one_values) > 200 and one_values.keys() == two_values.keys()
    differing = {k: (one_values[k], two_values[k]) for k in one_values if _differ(one_values[k], two_values[k])}
    assert not differing, differing

    # every parallel stage really ran on both ranks: fine-tuning under DDP, corpus encoding and ICL items shared
    finetuned = sorted((tmp_path / "two" / "stages").glob("finetune-*/model/retscale.json"))
    assert finetuned and all(read_json(p)["world_size"] == 2 for p in finetuned)
    evaluated = sorted((tmp_path / "two" / "stages").glob("evaluate-*/scifact.json"))
    dense = [read_json(p)["provenance"]["retriever"] for p in evaluated]
    assert [r["world_size"] for r in dense if r.get("kind") == "dense"] == [2] * len(finetuned)
    icl = sorted((tmp_path / "two" / "stages").glob("icl-*/icl.json"))
    assert icl and all(read_json(p)["provenance"]["world_size"] == 2 for p in icl)

    again = _study(tmp_path, "two", torchrun)  # the other rank learns every finished stage from rank 0
    assert "0 stages ran, 21 reused, 0 failed" in again.stdout
    assert _values(tmp_path / "two" / "results.csv") == two_values
