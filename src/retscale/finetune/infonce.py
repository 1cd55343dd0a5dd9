"""InfoNCE: contrastive cross-entropy over cosine similarities divided by a temperature.

| input        | shape                 | meaning                                                           |
|--------------|-----------------------|-------------------------------------------------------------------|
| ``queries``  | ``[B, D]``            | one embedding per query (any scale; normalised here)              |
| ``passages`` | ``[B * (1 + k), D]``  | grouped per query: its positive first, then its ``k`` negatives   |
| output       | scalar                | ``sum_i CE_i / denominator`` (``denominator`` defaults to ``B``)  |

For query ``i`` the candidates are its own group (positive + ``k`` hard negatives); with ``in_batch_negatives``
they are every passage in ``passages`` (all groups — across ranks too with ``gather_across_ranks``), as in
Wang et al. 2022 (E5). The target is always the query's own positive.

``query_offset`` says where this rank's queries' groups start inside a gathered ``passages`` tensor, and
``denominator`` lets data-parallel ranks divide by the *global* batch size so that summed gradients equal the
single-process gradient exactly. ``InfoNCELoss`` holds these settings for a training run (the bi-encoder's
``loss``); ``info_nce_loss`` is the function it calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from retscale.finetune.config import DEFAULT_TEMPERATURE
from retscale.models.similarity import cosine_similarity, grouped_cosine
from retscale.runtime import DistContext, gather_with_grad


def info_nce_loss(queries: torch.Tensor, passages: torch.Tensor, *, group_size: int,
                  temperature: float = DEFAULT_TEMPERATURE, in_batch_negatives: bool = False,
                  query_offset: int = 0, denominator: float | None = None) -> torch.Tensor:
    """Mean (or ``/ denominator``) cross-entropy of each query's positive among its candidates; see module doc."""
    n_queries = queries.shape[0]
    if passages.shape[0] % group_size:
        raise ValueError(f"{passages.shape[0]} passages do not split into groups of {group_size}")
    if in_batch_negatives:
        logits = cosine_similarity(queries, passages) / temperature  # [B, all passages]
        targets = (torch.arange(n_queries, device=queries.device) + query_offset) * group_size
    else:
        logits = grouped_cosine(queries, passages, group_size, first_group=query_offset) / temperature  # [B, 1+k]
        targets = torch.zeros(n_queries, dtype=torch.long, device=queries.device)
    total = F.cross_entropy(logits, targets, reduction="sum")
    return total / (n_queries if denominator is None else denominator)


@dataclass(frozen=True)
class InfoNCELoss:
    """``loss(queries, passages)`` with a run's settings; ``global_batch_size`` queries per step over all ranks."""

    group_size: int
    temperature: float = DEFAULT_TEMPERATURE
    in_batch_negatives: bool = False
    gather_across_ranks: bool = False
    global_batch_size: int | None = None
    dist: DistContext = field(default_factory=DistContext)

    def __call__(self, queries: torch.Tensor, passages: torch.Tensor) -> torch.Tensor:
        offset = 0
        if self.gather_across_ranks and self.dist.enabled:
            passages = gather_with_grad(passages, self.dist)  # every rank's passages become candidates
            offset = self.dist.rank * queries.shape[0]
        return info_nce_loss(queries, passages, group_size=self.group_size, temperature=self.temperature,
                             in_batch_negatives=self.in_batch_negatives, query_offset=offset,
                             denominator=self.global_batch_size)
