"""Contrastive fine-tuning (InfoNCE with hard negatives) that turns a decoder or encoder into a retriever.

``finetune(FinetuneConfig(...)) -> Path`` — see ``trainer`` for the loop, ``infonce`` for the loss (the
``retscale.models.BiEncoder``'s objective), ``gradcache`` for the memory-bounded chunked mode, ``data`` for the
training groups, ``checkpoint`` / ``output`` for resumable and finished state; torchrun/DDP comes from
``retscale.runtime``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from retscale.finetune.config import FinetuneConfig

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["FinetuneConfig", "finetune"]


def finetune(config: FinetuneConfig, **kwargs: Any) -> Path:
    """Run a fine-tune (imports torch/transformers lazily; see ``retscale.finetune.trainer.finetune``)."""
    from retscale.finetune.trainer import finetune as run

    return run(config, **kwargs)
