"""Models: locate/load HF models (``loading``), pool hidden states (``pooling``), embed text (``embedder``), and
the bi-encoder that fine-tuning and evaluation share (``biencoder``: encode queries and passages, similarity, loss).

Exports are imported lazily, so ``retscale.models.pooling`` (the pooling names, for configs) does not load torch.
"""

from __future__ import annotations

from retscale.lazy import lazy_exports

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


__getattr__ = lazy_exports(__name__, _EXPORTS)
