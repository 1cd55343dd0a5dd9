"""retscale: how does a decoder LLM's retrieval ability scale with pretraining compute?

Pipeline stages, one subpackage each, layered (docs/ARCHITECTURE.md): data → models → bm25 / pairs → mining →
finetune / evaluate / icl / pretrain → study → analysis → report → cli. The main jobs are one import away
(``retscale.api``, loaded on first use so ``import retscale`` stays cheap)::

    from retscale import evaluate, finetune, run_study, load_results, load_table
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from retscale.lazy import lazy_exports

__version__ = "0.1.0"
_API = ("evaluate", "finetune", "load_results", "load_table", "run_study")
__all__ = ["__version__", "evaluate", "finetune", "load_results", "load_table", "run_study"]

if TYPE_CHECKING:
    from retscale.api import evaluate, finetune, load_results, load_table, run_study

__getattr__ = lazy_exports(__name__, dict.fromkeys(_API, "retscale.api"))
