"""NB410: state a notebook definition keeps between calls, which does not cross a step boundary.

Each step that uses a notebook function or class runs its ``def``/``class`` again in its own kernel, so what the
definition holds starts over there: a class attribute changed through the class (``Run.count += 1``), a mutable default
the function fills (``def record(e, log=[])``), a cache (``@lru_cache``), a default that reads a global a later step
rebinds (``def scale(x, factor=FACTOR)``: evaluated when the copy runs, with the later value). In the notebook's kernel
the one definition keeps it all."""

from __future__ import annotations

import ast
from typing import Callable, Optional

from nbprod.analysis.rng import dotted
from nbprod.analysis.stateful import changed_roots
from nbprod.notebook.reader import Cell
from nbprod.plan.model import Pipeline

__all__ = ["check_definitions"]

Add = Callable[[str, Optional[Cell], str, str], None]

_CACHES = frozenset({"lru_cache", "cache", "functools.lru_cache", "functools.cache"})


def check_definitions(plan: Pipeline, add: Add) -> None:
    """NB410 for each notebook function or class that keeps state and is used by two steps or more."""
    defined: dict[str, tuple[Cell, ast.AST]] = {}
    for cell in plan.notebook.cells:
        a = plan.analyses.get(cell.index)
        for f in a.functions.values() if a is not None and cell.is_code else ():
            if a is not None and f.name in a.value_defs:  # handed on with its state: nothing to say
                continue
            tree = ast.parse(f.source).body
            if tree:
                defined[f.name] = (cell, tree[0])
    rebound_later = _rebound_by_step(plan)
    reads = _globals_read(plan)
    for name, (cell, node) in sorted(defined.items()):
        via = _readers(name, reads)  # the definition itself, and the notebook functions that read it when they run
        users = [s for s in plan.steps if any(via & plan.analyses[c.index].referenced for c in s.code_cells)]
        why = _kept_state(plan, name, node, rebound_later, cell)
        late = [s for s in users if s.code_cells[0].index > cell.index] if why.startswith("takes a default") else []
        if why and (len(users) > 1 or late):  # used in one kernel only, it keeps its state there, as in the notebook
            second = late[0] if late else users[1]
            add(
                "NB410",
                second.code_cells[0],
                f"{name!r} (cell {cell.index}) {why}; step {second.name!r} runs its own copy of the definition, which "
                "starts over, while in the notebook's kernel one definition keeps it",
                f"hand the state on as a value (a variable the steps pass), or use {name!r} in one step; "
                "`nbprod verify` shows whether the results differ",
            )


def _globals_read(plan: Pipeline) -> dict[str, set[str]]:
    """Each notebook function -> the globals it reads when it runs."""
    out: dict[str, set[str]] = {}
    for a in plan.analyses.values():
        for f in a.functions.values():
            out.setdefault(f.name, set()).update(f.globals_read)
    return out


def _readers(name: str, reads: dict[str, set[str]]) -> set[str]:
    """``name`` and the functions that read it, directly or through other functions (``fmt`` reads ``Settings``)."""
    found = {name}
    while True:
        more = {f for f, globs in reads.items() if globs & found} - found
        if not more:
            return found
        found |= more


def _kept_state(plan: Pipeline, name: str, node: ast.AST, rebound: dict[str, int], cell: Cell) -> str:
    if isinstance(node, ast.ClassDef) and _class_changed(plan, name, node):
        return "changes its class attributes (through the class)"
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return ""
    if any(dotted(d.func if isinstance(d, ast.Call) else d) in _CACHES for d in node.decorator_list):
        return "caches its results (its cache holds what earlier calls computed)"
    positional = node.args.posonlyargs + node.args.args
    pairs = list(zip(positional[len(positional) - len(node.args.defaults) :], node.args.defaults))
    pairs += [(p, d) for p, d in zip(node.args.kwonlyargs, node.args.kw_defaults) if d is not None]
    defaults = [d for _, d in pairs]
    changed = set(changed_roots(node))
    for p, d in pairs:
        if isinstance(d, (ast.List, ast.Dict, ast.Set)) and p.arg in changed:
            return f"fills its mutable default {p.arg}={ast.unparse(d)}"
    for d in defaults:
        late = sorted(n.id for n in ast.walk(d) if isinstance(n, ast.Name) and rebound.get(n.id, -1) > cell.index)
        if late:
            return (
                f"takes a default from {late[0]!r} as it was when it was defined, and a later cell rebinds {late[0]!r}"
            )
    return ""


def _class_changed(plan: Pipeline, name: str, node: ast.ClassDef) -> bool:
    """``Name.attr = ...``, ``Name.attr += 1``, ``Name.items.append(...)`` anywhere, or ``cls.attr = ...`` inside."""
    roots = {name}
    for c in plan.notebook.cells:
        a = plan.analyses.get(c.index)
        if a is not None and a.tree is not None and roots & set(changed_roots(a.tree)):
            return True
    inside = set(changed_roots(node, attributes_only=True))
    return bool(inside & {"cls", "__class__"})


def _rebound_by_step(plan: Pipeline) -> dict[str, int]:
    """Name -> the last step cell that assigns it."""
    out: dict[str, int] = {}
    for s in plan.steps:
        for c in s.code_cells:
            for n in plan.analyses[c.index].defines:
                out[n] = max(out.get(n, -1), c.index)
    return out
