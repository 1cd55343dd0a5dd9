"""One article-level split of the Wikipedia text, shared by every stage that reads it.

Why one split: the pretraining corpus, the fine-tuning pairs, the mining pool and the held-out retrieval tasks all
come from the same Wikipedia sample. If each stage drew its own held-out set, an article held out for evaluation
could still be pretraining text or a fine-tuning negative (it was: 98.6% of the old ``wiki-val`` articles were in
the pretraining text). Here an article's split is a pure function of its id and the split seed:

| split | share | used for |
|---|---|---|
| ``train`` | the rest | pretraining text, fine-tuning pairs, the mining pool |
| ``dev``   | ``dev_fraction`` | held-out LM loss, the ``wiki-dev`` task: design choices are made here |
| ``test``  | ``test_fraction`` | the ``wiki-val`` evaluation task, and nothing else |

``tests/test_data_splits.py`` proves that no text of a ``dev``/``test`` article reaches pretraining or fine-tuning.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

Split = Literal["train", "dev", "test"]
SPLITS: tuple[Split, ...] = ("train", "dev", "test")


@dataclass(frozen=True)
class ArticleSplit:
    """Seeded, order-independent assignment of article ids to ``train`` / ``dev`` / ``test``."""

    seed: int = 0
    dev_fraction: float = 0.02
    test_fraction: float = 0.02

    def __post_init__(self) -> None:
        if not (0 <= self.dev_fraction < 1 and 0 <= self.test_fraction < 1
                and self.dev_fraction + self.test_fraction < 1):
            raise ValueError(f"split fractions must be in [0, 1) and sum below 1, got dev {self.dev_fraction}, "
                             f"test {self.test_fraction}")

    def of(self, article_id: str) -> Split:
        u = int(hashlib.sha1(f"{self.seed}:{article_id}".encode()).hexdigest()[:8], 16) / 0x100000000
        if u < self.test_fraction:
            return "test"
        if u < self.test_fraction + self.dev_fraction:
            return "dev"
        return "train"

    def is_train(self, article_id: str) -> bool:
        return self.of(article_id) == "train"


DEFAULT_SPLIT = ArticleSplit()
