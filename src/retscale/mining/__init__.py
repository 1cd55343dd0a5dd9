"""Hard-negative mining: BM25 over a passage pool, with duplicate and false-negative guards.

``mine_hard_negatives`` mines one pairs file (``retscale.mining.miner`` documents every rule);
``retscale.mining.training_set`` is the one builder of the Wikipedia training set (``build_pairs_set`` then
``mine_pairs_set``; ``build_training_set`` does both in one call), used by ``retscale mine --wiki-set`` and the study.
"""

from retscale.mining.miner import MiningConfig, MiningReport, Pool, PoolIndex, load_pool, mine_hard_negatives
from retscale.mining.training_set import (
           MinedSet,
           PairsSet,
           build_pairs_set,
           build_training_set,
           mine_pairs_set,
)

__all__ = ["MinedSet", "MiningConfig", "MiningReport", "PairsSet", "Pool", "PoolIndex", "build_pairs_set",
           "build_training_set", "load_pool", "mine_hard_negatives", "mine_pairs_set"]
