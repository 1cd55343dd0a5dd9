"""retscale.runtime: training-state files restore every RNG stream, AdamW groups, seeding, provenance."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
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
