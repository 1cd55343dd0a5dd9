"""Similarity between query and passage embeddings: the one place cosine similarity is written.

| function                     | inputs                                   | output                               |
|------------------------------|------------------------------------------|--------------------------------------|
| ``cosine_similarity(q, p)``  | ``q`` ``[Q, D]``, ``p`` ``[P, D]``       | ``[Q, P]``: every query × passage    |
| ``grouped_cosine(q, p, K)``  | ``q`` ``[B, D]``, ``p`` ``[N·K, D]``     | ``[B, K]``: each query × its group   |
| ``dot_similarity(q, p)``     | ``q`` ``[Q, D]``, ``p`` ``[P, D]``       | ``[Q, P]`` inner products            |

Inputs may be any float dtype and scale; they are compared in float32 (after L2 normalisation for cosine).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

import torch
import torch.nn.functional as F

Similarity = Literal["cos", "dot"]
SIMILARITIES: tuple[str, ...] = get_args(Similarity)


def unit(vectors: torch.Tensor) -> torch.Tensor:
    """float32 and L2-normalised along the last dimension."""
    return F.normalize(vectors.float(), dim=-1)


def cosine_similarity(queries: torch.Tensor, passages: torch.Tensor) -> torch.Tensor:
    return unit(queries) @ unit(passages).T


def grouped_cosine(queries: torch.Tensor, passages: torch.Tensor, group_size: int,
                   first_group: int = 0) -> torch.Tensor:
    """Query ``i`` against only group ``first_group + i`` of ``passages`` (consecutive groups of ``group_size``),
    without building the ``[B, all passages]`` matrix."""
    groups = unit(passages).view(-1, group_size, passages.shape[-1])
    return torch.einsum("bd,bkd->bk", unit(queries), groups[first_group:first_group + queries.shape[0]])


def dot_similarity(queries: torch.Tensor, passages: torch.Tensor) -> torch.Tensor:
    return queries.float() @ passages.float().T


def similarity_fn(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if name not in SIMILARITIES:
        raise ValueError(f"score must be one of {', '.join(SIMILARITIES)}, not {name!r}")
    return cosine_similarity if name == "cos" else dot_similarity
