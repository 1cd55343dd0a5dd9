"""Models: locate/load HF models (``loading``), pool hidden states (``pooling``), embed text (``embedder``), and
the bi-encoder that fine-tuning and evaluation share (``biencoder``: encode queries and passages, similarity, loss).

Exports are imported lazily, so ``retscale.models.pooling`` (the pooling names, for configs) does not load torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BiEncoder": "retscale.models.biencoder",
    "Embedder": "retscale.models.embedder",
    "ResolvedModel": "retscale.models.loading",
    "load_backbone": "retscale.models.loading",
    "load_causal_lm": "retscale.models.loading",
    "load_tokenizer": "retscale.models.loading",
    "count_parameters": "retscale.models.params",
    "resolve_model": "retscale.models.loading",
    "POOLINGS": "retscale.models.pooling",
    "Pooling": "retscale.models.pooling",
    "pool": "retscale.models.pooling",
    "cosine_similarity": "retscale.models.similarity",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'retscale.models' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
