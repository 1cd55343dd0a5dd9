"""Pretraining the checkpoint suite: tiny Llama-style decoders across sizes × token-per-parameter ratios.

Public API (imported lazily so ``import retscale.pretrain`` stays light):
``SUITES``, ``SuiteSpec``, ``SuiteOptions``, ``SizeSpec``, ``PlannedCheckpoint``, ``get_suite``, ``plan_suite``,
``format_plan``, ``pretrain_suite``, ``PretrainingRecord``, ``read_pretraining_record``, ``list_checkpoints``.
"""

from __future__ import annotations

from retscale.lazy import lazy_exports

_EXPORTS = {
    "SUITES": "retscale.pretrain.suite",
    "SuiteSpec": "retscale.pretrain.suite",
    "PlannedCheckpoint": "retscale.pretrain.suite",
    "get_suite": "retscale.pretrain.suite",
    "SuiteOptions": "retscale.pretrain.suite",
    "SizeSpec": "retscale.pretrain.model",
    "plan_suite": "retscale.pretrain.plan",
    "format_plan": "retscale.pretrain.plan",
    "pretrain_suite": "retscale.pretrain.train",
    "PretrainingRecord": "retscale.pretrain.checkpoint",
    "read_pretraining_record": "retscale.pretrain.checkpoint",
    "list_checkpoints": "retscale.pretrain.checkpoint",
}

__all__ = list(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS)
