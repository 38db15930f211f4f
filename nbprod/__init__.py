"""nbprod: a tagged Jupyter notebook becomes a linted, gated, tracked, servable pipeline.

Importing nbprod is cheap: heavy libraries are imported inside the functions that need them.
"""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "read_notebook", "build_plan", "NbprodError", "panel"]

_LAZY = {
    "read_notebook": ("nbprod.notebook", "read_notebook"),
    "build_plan": ("nbprod.plan", "build_plan"),
    "NbprodError": ("nbprod.errors", "NbprodError"),
    "panel": ("nbprod.panel", "panel"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'nbprod' has no attribute {name!r}")
