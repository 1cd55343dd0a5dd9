"""``retscale_checkpoint.json``: the ``PretrainingRecord`` that puts a checkpoint on the (N, D, FLOPs) axes.

retscale's own checkpoints fill every field; external checkpoints (MPT, Pythia, SmolLM, …) declare only what is
published — parameters and training tokens — via :meth:`PretrainingRecord.external`, and sit on the same axes.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from retscale.errors import UserError
from retscale.fileio import read_json, write_json
from retscale.flops import flops_6nd

INFO_FILE = "retscale_checkpoint.json"
REQUIRED = ("name", "n_params", "tokens")


@dataclass(frozen=True)
class PretrainingRecord:
    """What pretraining made of one checkpoint (the content of ``retscale_checkpoint.json``): its N, D and FLOPs,
    and for our own checkpoints the losses, wall time, seed and LR schedule."""

    name: str
    size: str | None
    n_params: int  # total, embeddings included (the axis; see retscale.flops)
    n_params_non_embedding: int | None
    tokens: int  # training tokens seen
    tokens_per_param: float
    epochs: float | None  # passes over the pretraining corpus (None when unknown)
    flops_6nd: float
    flops_full: float | None
    train_loss: float | None
    heldout_loss: float | None
    wall_seconds: float | None
    seed: int | None
    lr_schedule: dict[str, Any] | None = None

    @classmethod
    def external(cls, name: str, n_params: int, tokens: int, *, size: str | None = None,
                 n_params_non_embedding: int | None = None) -> PretrainingRecord:
        """Metadata for a checkpoint trained elsewhere, from its published parameter and token counts."""
        if n_params <= 0 or tokens <= 0:
            raise UserError(f"checkpoint {name!r}: n_params and tokens must be positive (got {n_params}, {tokens})")
        return cls(name=name, size=size, n_params=int(n_params), n_params_non_embedding=n_params_non_embedding,
                   tokens=int(tokens), tokens_per_param=tokens / n_params, epochs=None,
                   flops_6nd=flops_6nd(n_params, tokens), flops_full=None, train_loss=None, heldout_loss=None,
                   wall_seconds=None, seed=None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def write(self, model_dir: str | Path) -> Path:
        path = Path(model_dir) / INFO_FILE
        write_json(path, self.to_dict())
        return path


def publish_checkpoint(model: Any, tokenizer: Any, info: PretrainingRecord, out_dir: Path) -> Path:
    """Write ``out_dir/<info.name>/`` (HF model + tokenizer + metadata) atomically: a temp folder, then a rename,
    so a folder with ``INFO_FILE`` is always complete. Replaces an existing folder of that name."""
    final, tmp = out_dir / info.name, out_dir / f".{info.name}.tmp"
    for stale in (tmp, final):
        if stale.exists():
            shutil.rmtree(stale)
    model.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    info.write(tmp)
    os.replace(tmp, final)
    return final


def pretraining_record_from_dict(obj: dict[str, Any], path: str | Path | None = None) -> PretrainingRecord:
    """Build from a dict; only ``name``, ``n_params`` and ``tokens`` are required (the rest is derived or None)."""
    missing = [k for k in REQUIRED if obj.get(k) is None]
    if missing:
        raise UserError(f"checkpoint metadata lacks {', '.join(missing)}", path=path,
                        fix="declare at least name, n_params and tokens")
    name, n_params, tokens = str(obj["name"]), int(obj["n_params"]), int(obj["tokens"])
    if tokens == 0 and n_params > 0:  # a random-init control (retscale.pretrain.control): zero pretraining FLOPs
        base = PretrainingRecord(name=name, size=obj.get("size"), n_params=n_params, n_params_non_embedding=None,
                              tokens=0, tokens_per_param=0.0, epochs=0.0, flops_6nd=0.0, flops_full=0.0,
                              train_loss=None, heldout_loss=None, wall_seconds=None, seed=None)
    else:
        base = PretrainingRecord.external(name, n_params, tokens, size=obj.get("size"))
    known = {f.name for f in fields(PretrainingRecord)}
    values = {**base.to_dict(), **{k: v for k, v in obj.items() if k in known and v is not None}}
    return PretrainingRecord(**values)


def read_pretraining_record(path: str | Path) -> PretrainingRecord:
    """Read a checkpoint folder's ``retscale_checkpoint.json`` (or the JSON file itself)."""
    path = Path(path)
    file = path / INFO_FILE if path.is_dir() else path
    if not file.exists():
        raise UserError(f"no {INFO_FILE} found", path=path,
                        fix="pretrain it with 'retscale pretrain' or declare it with PretrainingRecord.external(...)")
    obj = read_json(file)
    if not isinstance(obj, dict):
        raise UserError("checkpoint metadata must be a JSON object", path=file)
    return pretraining_record_from_dict(obj, path=file)


def list_checkpoints(root: str | Path) -> list[tuple[Path, PretrainingRecord]]:
    """Every finished checkpoint folder directly under ``root`` (e.g. a suite's output), sorted by FLOPs."""
    root = Path(root)
    if not root.is_dir():
        raise UserError("not a folder", path=root, fix="pass a suite output folder, e.g. /work/runs/mini-suite")
    found = [(p, read_pretraining_record(p)) for p in sorted(root.iterdir()) if (p / INFO_FILE).is_file()]
    return sorted(found, key=lambda item: (item[1].flops_6nd, item[1].name))
