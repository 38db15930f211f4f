"""Whether a name is bound at the end of a cell: bound, deleted, or only maybe (a branch, a loop, a handler).

The state of one name is the set of what may have happened to it in the cell: ``BOUND`` (assigned), ``UNBOUND``
(deleted, or an ``except ... as e`` name that Python deletes after the handler) and ``KEPT`` (untouched: whatever it
was before the cell). Branches merge by union; :func:`after` folds a cell's state onto the state before it.
"""

from __future__ import annotations

import ast
import sys
from typing import Iterable, Mapping, Optional

__all__ = ["BOUND", "UNBOUND", "KEPT", "State", "merge", "after", "literal_code", "star_names"]

BOUND, UNBOUND, KEPT = "bound", "unbound", "kept"
State = dict[str, frozenset[str]]
_KEPT = frozenset({KEPT})


def merge(states: Iterable[Mapping[str, frozenset[str]]]) -> State:
    """The state after one of several paths ran: per name, the union of what each path may have done."""
    states = list(states)
    names = {n for s in states for n in s}
    return {n: frozenset().union(*(s.get(n, _KEPT) for s in states)) for n in names}


def after(before: Optional[frozenset[str]], cell: Optional[frozenset[str]]) -> frozenset[str]:
    """Fold a cell's state of one name onto its state before the cell (``None``: the name was not bound)."""
    prior = before if before is not None else frozenset({UNBOUND})
    if cell is None:
        return prior
    return (cell - _KEPT) | (prior if KEPT in cell else frozenset())


def literal_code(call: ast.Call) -> Optional[ast.AST]:
    """The parsed code of ``exec("...")`` / ``eval("...")`` with a string literal, else None."""
    if not (isinstance(call.func, ast.Name) and call.func.id in ("exec", "eval") and call.args):
        return None
    arg = call.args[0]
    if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
        return None
    try:
        return ast.parse(arg.value, mode="exec" if call.func.id == "exec" else "eval")
    except (SyntaxError, ValueError):
        return None


def star_names(module: str) -> Optional[list[str]]:
    """The names ``from <module> import *`` binds, for a standard-library module (importing it is safe); else None."""
    if module.startswith(".") or module.split(".")[0] not in sys.stdlib_module_names:
        return None
    import importlib

    try:
        mod = importlib.import_module(module)
    except Exception:  # noqa: BLE001 - a module that does not import on this machine cannot be listed
        return None
    names = getattr(mod, "__all__", None)
    if names is None:
        names = [n for n in dir(mod) if not n.startswith("_")]
    return sorted(str(n) for n in names)


def namespace_key(target: ast.expr) -> Optional[str]:
    """For an assignment target ``globals()[key]`` (or ``vars()[key]``): the name a literal key binds, "" for a computed
    key; None for any other target."""
    if not (
        isinstance(target, ast.Subscript)
        and isinstance(target.value, ast.Call)
        and isinstance(target.value.func, ast.Name)
        and target.value.func.id in ("globals", "vars")
        and not target.value.args
    ):
        return None
    key = target.slice
    if isinstance(key, ast.Constant) and isinstance(key.value, str) and key.value.isidentifier():
        return key.value
    return ""
