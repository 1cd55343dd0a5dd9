"""``BiEncoder``: the retrieval model fine-tuning and evaluation share (after tevatron's ``EncoderModel``).

One ``Embedder`` (backbone + pooling + normalisation) encodes both roles; the roles differ only in prefix and
maximum length. The bi-encoder adds what makes it a retriever:

- ``encode_queries`` / ``encode_passages``: inference, numpy, length-sorted batches (evaluation);
- ``embed_queries`` / ``embed_passages``: a differentiable forward pass over one batch (training);
- ``similarity(q, p)``: ``[Q, P]`` scores, cosine or dot (``retscale.models.similarity``);
- ``loss(q, p)``: the training objective it was built with (e.g. ``retscale.finetune.infonce.InfoNCELoss``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from retscale.models.embedder import Embedder
from retscale.models.similarity import Similarity, similarity_fn

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (query embeddings, passage embeddings) -> scalar


class BiEncoder:
    """Queries and passages through one ``Embedder``; see the module docstring."""

    def __init__(self, embedder: Embedder, *, query_max_length: int | None = None,
                 passage_max_length: int | None = None, score: Similarity = "cos", loss: LossFn | None = None,
                 autocast_dtype: torch.dtype | None = None) -> None:
        self.embedder = embedder
        self.query_max_length = query_max_length or embedder.max_length
        self.passage_max_length = passage_max_length or embedder.max_length
        self.score = score
        self.similarity = similarity_fn(score)
        self._loss = loss
        self.autocast_dtype = autocast_dtype  # bf16 autocast on GPU while embedding (the loss stays float32)

    # ---- inference (evaluation) ------------------------------------------------------------------------
    def encode_queries(self, queries: Sequence[str], **kwargs: Any) -> np.ndarray:
        return self.embedder.encode_queries(queries, **kwargs)

    def encode_passages(self, passages: Sequence[str], **kwargs: Any) -> np.ndarray:
        return self.embedder.encode_passages(passages, **kwargs)

    # ---- training --------------------------------------------------------------------------------------
    def embed_queries(self, queries: Sequence[str]) -> torch.Tensor:
        return self._embed([self.embedder.query_prefix + q for q in queries], self.query_max_length)

    def embed_passages(self, passages: Sequence[str]) -> torch.Tensor:
        return self._embed([self.embedder.passage_prefix + p for p in passages], self.passage_max_length)

    def count_tokens(self, queries: Sequence[str], passages: Sequence[str]) -> int:
        """Non-padding tokens the two ``embed_*`` calls on these texts process (throughput bookkeeping)."""
        prefix_q, prefix_p = self.embedder.query_prefix, self.embedder.passage_prefix
        q = self.embedder.tokenize([prefix_q + t for t in queries], self.query_max_length)
        p = self.embedder.tokenize([prefix_p + t for t in passages], self.passage_max_length)
        return int(q["attention_mask"].sum()) + int(p["attention_mask"].sum())

    def loss(self, queries: torch.Tensor, passages: torch.Tensor) -> torch.Tensor:
        if self._loss is None:
            raise RuntimeError("this BiEncoder was built without a loss (inference only)")
        return self._loss(queries, passages)

    def _embed(self, texts: list[str], max_length: int) -> torch.Tensor:
        device = self.embedder.device
        batch = {k: v.to(device) for k, v in self.embedder.tokenize(texts, max_length).items()}
        autocast = (torch.autocast(device.type, dtype=self.autocast_dtype) if self.autocast_dtype is not None
                    else contextlib.nullcontext())
        with autocast:
            return self.embedder.embed(batch)

    def describe(self) -> dict[str, Any]:
        return {"score": self.score, **self.embedder.describe()}
