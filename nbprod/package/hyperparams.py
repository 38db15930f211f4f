"""The model card's hyperparameters: what the author set, readably, for a bare estimator or a composite one.

A scikit-learn ``Pipeline`` answers ``get_params()`` with every parameter of every step and the steps themselves
(estimator objects whose repr fills a page). The card lists, for each estimator of the tree, the class and the
parameters that differ from its constructor's defaults (what ``repr`` shows with sklearn's ``print_changed_only``),
named by their path: ``model`` → ``Pipeline``, ``model.forest`` → ``RandomForestClassifier``,
``model.forest.n_estimators`` → ``200`` (the names of a Pipeline's steps, a ColumnTransformer's transformers). Values are JSON
scalars or short readable names (a class as ``numpy.float64``, a function by its name), never ``<...>`` reprs.
Duck-typed on ``get_params(deep=False)``: nothing here imports scikit-learn.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

__all__ = ["hyperparameters"]

#: how deep a composite model is followed (a Pipeline in a ColumnTransformer in a Pipeline is depth 3)
_MAX_DEPTH = 6
_MAX_TEXT = 80


def _is_estimator(value: Any) -> bool:
    return not isinstance(value, type) and callable(getattr(value, "get_params", None))


def _readable(value: Any) -> Any:
    """A JSON scalar, or a short name for what has none."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, type):
        return f"{value.__module__}.{value.__qualname__}".removeprefix("builtins.")
    if _is_estimator(value):
        return type(value).__name__
    if callable(value):
        return getattr(value, "__qualname__", None) or type(value).__name__
    if isinstance(value, (list, tuple)) and all(v is None or isinstance(v, (bool, int, float, str)) for v in value):
        return [_readable(v) for v in value]
    text = repr(value)
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 3] + "..."


def _defaults(estimator: Any) -> dict[str, Any]:
    try:
        signature = inspect.signature(type(estimator).__init__)
    except (TypeError, ValueError):
        return {}
    return {n: p.default for n, p in signature.parameters.items() if p.default is not inspect.Parameter.empty}


def _same(value: Any, default: Any) -> bool:
    try:
        return bool(value is default or (type(value) is type(default) and value == default))
    except Exception:  # arrays and other values without a plain truth value: treat as set by the author
        return False


def _children(name: str, value: Any) -> list[tuple[str, Any]]:
    """Estimators held by a parameter: one (Pipeline.steps, FeatureUnion...), or named in (name, est[, cols]) lists."""
    if _is_estimator(value):
        return [(name, value)]
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, tuple) and len(v) >= 2 for v in value):
        return [(str(v[0]), v[1]) for v in value if _is_estimator(v[1])]
    return []


def _walk(path: str, estimator: Any, out: dict[str, Any], depth: int) -> None:
    out[path] = type(estimator).__name__
    try:
        params = estimator.get_params(deep=False)
    except Exception:  # a get_params that needs a fitted or configured object: the class is all we show
        return
    defaults = _defaults(estimator)
    for name in sorted(params):
        value = params[name]
        children = _children(name, value)
        if children and depth < _MAX_DEPTH:  # named lists (steps, transformers) are left out of the path
            for child_name, child in children:
                _walk(f"{path}.{child_name}", child, out, depth + 1)
            continue
        if name in defaults and _same(value, defaults[name]):
            continue
        out[f"{path}.{name}"] = _readable(value)


def hyperparameters(model: Any, *, name: str = "model") -> dict[str, Any]:
    """The estimator tree of ``model``: class per path and the parameters set away from their defaults."""
    if not _is_estimator(model):
        return {}
    out: dict[str, Any] = {}
    _walk(name, model, out, 0)
    return out
