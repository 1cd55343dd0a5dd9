"""Resumable training state: weights being trained, optimizer, scheduler, RNG streams and position (the step).

One file, ``OUTPUT/checkpoint/state.pt``, replaced atomically every ``checkpoint_every`` steps; a run killed at any
moment resumes from the last complete one and ends with the same weights as an uninterrupted run.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from retscale.errors import UserError
from retscale.runtime import load_training_state, save_training_state


@dataclass
class Progress:
    """What the loop has done so far; saved in every checkpoint and reported in ``retscale.json``."""

    step: int = 0
    tokens: int = 0
    seconds: float = 0.0
    curve: list[dict[str, float]] = field(default_factory=list)

    def advance(self, *, tokens: int, seconds: float) -> None:
        """Count one optimiser step."""
        self.step += 1
        self.tokens += tokens
        self.seconds += seconds

    def log_point(self, *, loss: float, lr: float) -> None:
        """Add the current step to the loss curve."""
        self.curve.append({"step": self.step, "loss": round(loss, 6), "lr": lr, "tokens": self.tokens,
                           "seconds": round(self.seconds, 3)})


def checkpoint_path(output: Path) -> Path:
    return output / "checkpoint" / "state.pt"


def _trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    # Only what training changes: with LoRA that is the adapters, not the frozen base.
    return {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}


def save_checkpoint(output: Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LRScheduler, progress: Progress,
                    identity: dict[str, Any]) -> None:
    save_training_state(checkpoint_path(output), {
        "model": _trainable_state(model), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
        "progress": progress.__dict__, "identity": identity})


def load_checkpoint(output: Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LRScheduler, identity: dict[str, Any]) -> Progress | None:
    """Restore a checkpoint (and the RNG streams) into the given objects; None if there is none. A checkpoint of
    a different run (recipe, data or base model) is an error."""
    path = checkpoint_path(output)
    if not path.is_file():
        return None
    state = load_training_state(path)
    changed = differences(identity, state["identity"])
    if changed:
        raise UserError(f"the output folder holds a checkpoint of a different run (differs in: {', '.join(changed)})",
                        path=path, fix="re-run with the same settings to resume, or use a new --output folder")
    missing = set(_trainable_state(model)) - set(state["model"])
    if missing:
        raise UserError(f"checkpoint lacks {len(missing)} trained tensors", path=path,
                        fix="delete the checkpoint folder to start over")
    model.load_state_dict(state["model"], strict=False)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    return Progress(**state["progress"])


def differences(current: dict[str, Any], recorded: dict[str, Any]) -> list[str]:
    """Top-level keys whose values differ between two run identities."""
    return sorted(k for k in {*current, *recorded} if current.get(k) != recorded.get(k))


def remove_checkpoint(output: Path) -> None:
    shutil.rmtree(output / "checkpoint", ignore_errors=True)
