"""Two gloo processes under torchrun train to the same weights as one process (within fp32 tolerance)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from finetune_fixtures import make_pairs, make_tiny_llama
from retscale.fileio import read_json


@pytest.mark.slow
@pytest.mark.parametrize("extra", [[], ["--in-batch-negatives", "--gather-across-ranks", "--chunk-size", "7"]])
def test_two_gloo_processes_equal_one(tmp_path: Path, extra: list[str]) -> None:
    model = make_tiny_llama(tmp_path / "llama")
    train = make_pairs(tmp_path / "pairs.jsonl", n_queries=16, n_negatives=4)
    common = ["finetune", "--model", str(model), "--train", str(train), "--n-negatives", "3", "--batch-size", "8",
              "--learning-rate", "1e-3", "--epochs", "2", *extra]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    single = subprocess.run([sys.executable, "-m", "retscale.cli", *common, "--output", str(tmp_path / "one")],
                            env=env, capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stderr[-2000:]
    # each rank's stderr goes to its own file (--redirects), so a rank that dies shows its own last words
    multi = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                            "--log-dir", str(tmp_path / "ranks"), "--redirects", "2",
                            "-m", "retscale.cli", *common, "--output", str(tmp_path / "two")],
                           env=env, capture_output=True, text=True, timeout=300)
    assert multi.returncode == 0, _rank_stderr(tmp_path / "ranks") + multi.stderr[-1500:]
    assert read_json(tmp_path / "two" / "retscale.json")["world_size"] == 2
    a = load_file(tmp_path / "one" / "model.safetensors")
    b = load_file(tmp_path / "two" / "model.safetensors")
    assert a.keys() == b.keys()
    base = load_file(model / "model.safetensors")["model.layers.0.mlp.up_proj.weight"]
    assert (a["layers.0.mlp.up_proj.weight"] - base).abs().max() > 1e-3  # training moved the weights
    for name in a:
        assert (a[name] - b[name]).abs().max() < 1e-4, name
    loss_a = [c["loss"] for c in read_json(tmp_path / "one" / "retscale.json")["curve"]]
    loss_b = [c["loss"] for c in read_json(tmp_path / "two" / "retscale.json")["curve"]]
    assert loss_a == pytest.approx(loss_b, rel=1e-4)


def _rank_stderr(log_dir: Path, keep: int = 3000) -> str:
    """The end of every rank's stderr under torchrun's ``--log-dir``, progress-bar redraws dropped."""
    parts = []
    for path in sorted(log_dir.rglob("stderr.log")):
        lines = [line for line in path.read_text(errors="replace").splitlines()  # splits at \r redraws too
                 if "it/s]" not in line and "%|" not in line]
        parts.append(f"--- {path.relative_to(log_dir)} ---\n" + "\n".join(lines)[-keep:])
    return "\n".join(parts) + "\n--- torchrun ---\n"
