"""Optional dependencies that cost seconds at import time for a feature nbprod's runs never use, deferred.

jsonschema, under nbformat (hence Ploomber and papermill) and under Great Expectations (altair), imports
``rfc3987_syntax`` when it is installed, only to offer an ``iri`` format checker; that module builds about 40 lark
parsers at import time (1-3 s per process). :func:`defer_rfc3987_syntax` puts a stand-in into ``sys.modules`` whose
``is_valid_syntax`` (and every other attribute) imports the real module on first use: the checker still works, and
a process that never checks an IRI never pays for the parsers.

:func:`package_without_init` registers a package whose ``__init__`` imports far more than the one submodule nbprod
needs (ploomber-engine's pulls papermill and ``matplotlib.pyplot``; jupytext's the Jupyter server's contents
manager): its submodules import as usual, and the ``__init__`` runs, in the same module object, the first time an
attribute only it defines is asked for.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any

__all__ = ["defer_rfc3987_syntax", "package_without_init"]

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


def package_without_init(name: str) -> None:
    """Register package ``name`` with its ``__init__`` deferred (nothing happens when it is imported already or
    absent): ``import name.sub`` loads only ``sub``; ``name.attr`` for any other attribute runs the ``__init__``."""
    if name in sys.modules:
        return
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        spec = None
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return
    pkg = importlib.util.module_from_spec(spec)
    loader = spec.loader

    def complete(attr: str) -> Any:
        if attr.startswith("__") and attr not in ("__all__", "__version__"):  # the import system's own probes
            raise AttributeError(attr)
        vars(pkg).pop("__getattr__", None)
        loader.exec_module(pkg)  # the real __init__, into the module its submodules are bound to
        try:
            return vars(pkg)[attr]
        except KeyError:
            raise AttributeError(f"module {name!r} has no attribute {attr!r}") from None

    pkg.__getattr__ = complete  # type: ignore[method-assign]
    sys.modules[name] = pkg
