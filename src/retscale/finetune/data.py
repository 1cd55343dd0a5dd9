"""Training groups from the canonical pairs jsonl, and the deterministic order they are trained in.

A *group* is one query, one positive passage and ``k`` hard negatives. Each epoch visits the groups in a seeded
permutation; batch ``b`` of epoch ``e`` is a pure function of ``(seed, e, b)``, so the training position is just the
step number — resuming needs nothing else — and data-parallel ranks take contiguous slices of the same batch.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from retscale.data.types import passage_text
from retscale.errors import UserError
from retscale.pairs.formats import read_numbered_pairs


@dataclass(frozen=True)
class TrainGroup:
    query: str
    positive: str
    negatives: tuple[str, ...]  # all mined negatives; ``k`` of them are drawn per epoch


def read_groups(path: str | Path, n_negatives: int) -> list[TrainGroup]:
    """Read a pairs file (validated by ``retscale.pairs.formats``, any format it reads); a pair with fewer than
    ``n_negatives`` negatives is an error. A group's passages are what an embedder sees: ``title + " " + text``."""
    path = Path(path)
    if not path.is_file():
        raise UserError("training file not found", path=path, fix="pass a pairs .jsonl made by 'retscale mine'")
    groups = []
    for line, pair in read_numbered_pairs(path):
        negatives = pair["negatives"]
        if not negatives:
            raise UserError("no negatives", path=path, line=line, fix="mine hard negatives first ('retscale mine')")
        if len(negatives) < n_negatives:
            raise UserError(f"{len(negatives)} negatives but {n_negatives} requested", path=path, line=line,
                            fix=f"mine more negatives or pass --n-negatives {len(negatives)}")
        groups.append(TrainGroup(query=pair["query"].strip(), positive=passage_text(pair["positives"][0]),
                                 negatives=tuple(passage_text(n) for n in negatives)))
    if not groups:
        raise UserError("training file has no examples", path=path)
    return groups


@dataclass(frozen=True)
class Batch:
    queries: list[str]
    passages: list[str]  # grouped: each query's positive, then its k negatives


class BatchSchedule:
    """Which groups make up each optimiser step, and which slice of each step a rank trains on."""

    def __init__(self, groups: list[TrainGroup], *, batch_size: int, n_negatives: int, seed: int,
                 epochs: int) -> None:
        if len(groups) < batch_size:
            raise UserError(f"only {len(groups)} training examples but batch size {batch_size}",
                            fix=f"use --batch-size {len(groups)} or fewer")
        self.groups = groups
        self.batch_size = batch_size
        self.n_negatives = n_negatives
        self.seed = seed
        self.epochs = epochs
        # A final partial batch is dropped (as in E5/tevatron): every step has the same size on every rank.
        self.steps_per_epoch = len(groups) // batch_size
        self._order_cache: tuple[int, list[int]] | None = None

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.epochs

    def _order(self, epoch: int) -> list[int]:
        if self._order_cache is None or self._order_cache[0] != epoch:
            order = list(range(len(self.groups)))
            random.Random(f"{self.seed}-order-{epoch}").shuffle(order)
            self._order_cache = (epoch, order)
        return self._order_cache[1]

    def batch(self, step: int, rank: int = 0, world_size: int = 1) -> Batch:
        """Step ``step``'s queries for ``rank``: a contiguous slice of the global batch."""
        epoch, index = divmod(step, self.steps_per_epoch)
        ids = self._order(epoch)[index * self.batch_size:(index + 1) * self.batch_size]
        per_rank = -(-self.batch_size // world_size)
        ids = ids[rank * per_rank:(rank + 1) * per_rank]
        queries, passages = [], []
        for i in ids:
            group = self.groups[i]
            # Draw k of the mined negatives afresh each epoch, seeded by (epoch, example): deterministic.
            negatives = random.Random(f"{self.seed}-neg-{epoch}-{i}").sample(group.negatives, self.n_negatives)
            queries.append(group.query)
            passages.extend([group.positive, *negatives])
        return Batch(queries=queries, passages=passages)
