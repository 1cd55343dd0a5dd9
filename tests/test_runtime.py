"""retscale.runtime: training-state files restore every RNG stream, AdamW groups, seeding, provenance."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from retscale.runtime import (
    DistContext,
    all_reduce_sum,
    decay_groups,
    gather_with_grad,
    load_training_state,
    provenance,
    save_training_state,
    seed_everything,
)


def _draws() -> tuple[float, float, float]:
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_training_state_round_trip_restores_rng_streams(tmp_path: Path) -> None:
    seed_everything(3)
    _draws()
    save_training_state(tmp_path / "state.pt", {"step": 7})
    expected = _draws()
    seed_everything(99)  # move every stream elsewhere
    state = load_training_state(tmp_path / "state.pt")
    assert state["step"] == 7 and _draws() == expected
    assert [p.name for p in tmp_path.iterdir()] == ["state.pt"]  # written atomically, no temp file left


def test_seed_everything_repeats_all_streams() -> None:
    seed_everything(5)
    first = _draws()
    seed_everything(5)
    assert _draws() == first


def test_decay_groups_skip_vectors_and_frozen_parameters() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LayerNorm(3), torch.nn.Linear(3, 2))
    model[2].weight.requires_grad_(False)
    decay, no_decay = decay_groups(model, 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert [tuple(p.shape) for p in decay["params"]] == [(3, 4)]
    assert [tuple(p.shape) for p in no_decay["params"]] == [(3,), (3,), (3,), (2,)]


def test_single_process_collectives_are_identities() -> None:
    ctx = DistContext()
    assert ctx.is_main and not ctx.enabled
    tensor = torch.ones(2, 3, requires_grad=True)
    assert gather_with_grad(tensor, ctx) is tensor and all_reduce_sum(2.5, ctx) == 2.5


def test_provenance_adds_versions_and_time() -> None:
    record = provenance(task="x")
    assert record["task"] == "x" and record["versions"]["torch"].startswith("2.") and record["created"].endswith("Z")


_ALLOCATE_AND_FREE = """
import resource, sys, torch
from retscale.runtime import reuse_freed_memory
applied = reuse_freed_memory() if sys.argv[1] == "reuse" else None
torch.empty(1 << 24).fill_(1.0)  # a first 64 MB tensor: its pages are faulted in either way
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(30):  # what every training step does with its activations
    torch.empty(1 << 24).fill_(1.0)
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def test_reuse_freed_memory_stops_refaulting_large_tensors() -> None:
    """With glibc's defaults each freed 64 MB tensor is unmapped and the next one faults in 16,384 fresh pages;
    reusing the heap removes most of that (measured here: ~82k faults in 30 rounds against ~490k)."""
    import platform
    import subprocess
    import sys

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("glibc only")

    def faults(mode: str) -> tuple[str, int]:
        out = subprocess.run([sys.executable, "-c", _ALLOCATE_AND_FREE, mode], capture_output=True, text=True,
                             check=True).stdout.split()
        return out[0], int(out[1])

    applied, reused = faults("reuse")
    _, default = faults("default")
    assert applied == "True"
    if default < 30 * 16_384 * 0.5:
        pytest.skip("this kernel backs fresh mappings with huge pages: the default does not refault 4 KB pages")
    assert reused < default / 3


def test_a_users_own_malloc_setting_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    from retscale.runtime import reuse_freed_memory

    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "131072")
    assert reuse_freed_memory() is False
