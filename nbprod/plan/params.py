"""Parameter overrides from the command line (``-p name=value``), typed after the notebook's defaults."""

from __future__ import annotations

import ast
import difflib
from typing import Any

from nbprod.errors import UsageError
from nbprod.plan.model import Pipeline

__all__ = ["parse_assignments", "apply_overrides"]


def parse_assignments(items: list[str]) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}``; a malformed item is a :class:`UsageError`."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"-p {item!r} is not name=value", fix="write -p name=value, e.g. -p n_estimators=300")
        out[name.strip()] = value
    return out


def _convert(name: str, raw: str, default: Any) -> Any:
    kind = type(default).__name__
    try:
        if isinstance(default, bool):
            low = raw.strip().lower()
            if low in ("true", "1", "yes", "on"):
                return True
            if low in ("false", "0", "no", "off"):
                return False
            raise ValueError
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            value = float(raw)
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError
            return value
        if isinstance(default, str):
            return raw
        value = ast.literal_eval(raw)
        if default is not None and type(value) is not type(default):
            raise ValueError
        return value
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise UsageError(
            f"parameter {name!r} expects {kind} (default {default!r}), got {raw!r}",
            fix=f"pass a {kind}, e.g. -p {name}={default!r}",
        ) from None


def apply_overrides(plan: Pipeline, overrides: dict[str, str]) -> dict[str, Any]:
    """Typed overrides for ``plan``'s parameters; unknown names are a :class:`UsageError` with a did-you-mean."""
    typed: dict[str, Any] = {}
    for name, raw in overrides.items():
        if name not in plan.parameters:
            guess = difflib.get_close_matches(name, list(plan.parameters), n=1)
            known = ", ".join(plan.parameters) or "(none: the notebook has no cell tagged 'parameters')"
            raise UsageError(
                f"unknown parameter {name!r}" + (f"; did you mean {guess[0]!r}?" if guess else ""),
                path=plan.notebook.path,
                fix=f"parameters of this notebook: {known}",
            )
        typed[name] = _convert(name, raw, plan.parameters[name])
    return typed
