"""Lazy package exports: ``from retscale.models import Embedder`` without importing torch at ``import retscale``.

A package lists ``name → module`` and sets ``__getattr__ = lazy_exports(__name__, EXPORTS)`` (PEP 562): the module
is imported on first access to one of its names.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(exports[name]), name)

    return __getattr__
