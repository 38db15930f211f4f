"""nbprod: a tagged Jupyter notebook becomes a linted, gated, tracked, servable pipeline.

The supported API is the names in ``__all__`` below (asserted by ``tests/test_public_api.py``). They are loaded
lazily, so ``import nbprod`` is cheap: heavy libraries are imported inside the functions that need them.

Three commands share their name with the subpackage that holds them and are reached through it:
``nbprod.lint.lint``, ``nbprod.convert.convert`` and ``nbprod.package.package``.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    # reading and planning
    "read_notebook": "nbprod.notebook.reader",
    "build_plan": "nbprod.plan.build",
    "Pipeline": "nbprod.plan.model",
    "Step": "nbprod.plan.model",
    # the journey
    "Workspace": "nbprod.workflow.workspace",
    "run": "nbprod.workflow.run",
    "RunResult": "nbprod.workflow.run",
    "expect": "nbprod.workflow.expect",
    "serve": "nbprod.workflow.serve",
    "review": "nbprod.workflow.review",
    "approve": "nbprod.workflow.approval",
    "check": "nbprod.workflow.approval",
    "release": "nbprod.workflow.release",
    "rollback": "nbprod.workflow.release",
    "status": "nbprod.workflow.release",
    "verify": "nbprod.workflow.verify",
    "panel": "nbprod.ui.jupyter",
    # what a build reports
    "StepEvent": "nbprod.events",
    "EventKind": "nbprod.events",
    # errors
    "NbprodError": "nbprod.errors",
    "CellRef": "nbprod.errors",
    "UsageError": "nbprod.errors",
    "PlanError": "nbprod.errors",
    "RunError": "nbprod.errors",
    "StepFailedError": "nbprod.errors",
    "GateFailedError": "nbprod.errors",
}

__all__ = sorted(["__version__", *_LAZY])


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'nbprod' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return __all__
