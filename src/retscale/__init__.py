"""retscale: how does a decoder LLM's retrieval ability scale with pretraining compute?

Pipeline stages, one subpackage each, layered (docs/ARCHITECTURE.md): data → models → bm25 / pairs → mining →
finetune / evaluate / icl / pretrain → study → analysis → report → cli. The main jobs are one import away
(``retscale.api``, loaded on first use so ``import retscale`` stays cheap)::

    from retscale import evaluate, finetune, run_study, load_results, load_table
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "evaluate", "finetune", "load_results", "load_table", "run_study"]

if TYPE_CHECKING:
    from retscale.api import evaluate, finetune, load_results, load_table, run_study


def __getattr__(name: str) -> Any:
    if name in __all__ and name != "__version__":
        from retscale import api

        return getattr(api, name)
    raise AttributeError(f"module 'retscale' has no attribute {name!r}")
