"""Optional dependencies that cost seconds at import time for a feature nbprod's runs never use, deferred.

jsonschema, under nbformat (hence Ploomber and papermill) and under Great Expectations (altair), imports
``rfc3987_syntax`` when it is installed, only to offer an ``iri`` format checker; that module builds about 40 lark
parsers at import time (1-3 s per process). :func:`defer_rfc3987_syntax` puts a stand-in into ``sys.modules`` whose
``is_valid_syntax`` (and every other attribute) imports the real module on first use: the checker still works, and
a process that never checks an IRI never pays for the parsers.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any

__all__ = ["defer_rfc3987_syntax"]

_NAME = "rfc3987_syntax"


def _real() -> types.ModuleType:
    """The real module, imported on first use (replacing the stand-in in ``sys.modules``)."""
    mod = sys.modules.get(_NAME)
    if mod is not None and not getattr(mod, "_nbprod_deferred", False):
        return mod
    sys.modules.pop(_NAME, None)
    return importlib.import_module(_NAME)


def _is_valid_syntax(term: str, value: str) -> Any:
    return _real().is_valid_syntax(term, value)


def _getattr(attr: str) -> Any:
    if attr.startswith("__"):
        raise AttributeError(attr)
    return getattr(_real(), attr)


def defer_rfc3987_syntax() -> None:
    """Install the stand-in (once; nothing happens when the module is absent or already imported)."""
    if _NAME in sys.modules:
        return
    try:
        spec = importlib.util.find_spec(_NAME)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return
    stub = types.ModuleType(_NAME, "deferred by nbprod._core.lazy_imports: imported on first use")
    stub.__path__ = list(spec.submodule_search_locations or [])
    stub._nbprod_deferred = True  # type: ignore[attr-defined]
    stub.is_valid_syntax = _is_valid_syntax  # type: ignore[attr-defined]
    stub.__getattr__ = _getattr  # type: ignore[method-assign]
    sys.modules[_NAME] = stub
