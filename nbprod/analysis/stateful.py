"""Definitions that keep state, which a copy run again in another kernel would not have.

A step normally runs again the ``def``/``class`` of each notebook function it uses; that copy starts over. Three kinds of
definition hold state the notebook's later cells see, and travel instead as values (pickled by value, with their state,
and handed on by the last step that changed them, like any variable):

- a function that fills its mutable default (``def record(e, log=[]): log.append(e)``): the default holds the calls;
- a function whose default reads a global a later cell rebinds (``def scale(x, factor=FACTOR)``): the default is the
  value of when the ``def`` ran, which a copy would evaluate again with the later value;
- a class whose attributes cells set through its name (``Settings.currency = "USD"``, ``Registry.items.append(f)``),
  while its own body never changes them (a class that counts its instances in ``__init__`` stays a definition: NB410).

A cache (``@lru_cache``) cannot travel (its wrapper pickles by name): lint says so (NB410).
"""

from __future__ import annotations

import ast
from typing import Iterator, Mapping

from nbprod.analysis.cells import CellAnalysis
from nbprod.analysis.effects import MUTATING_METHODS
from nbprod.analysis.rng import dotted
from nbprod.analysis.together import target_root

__all__ = ["changed_roots", "value_definitions"]


def changed_roots(tree: ast.AST, attributes_only: bool = False) -> Iterator[str]:
    """Names changed in place in ``tree``: targets ``x.a = ``/``x[k] = ``/``x.a += ``, receivers ``x.append(...)``."""
    for n in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(n, ast.Assign):
            targets = n.targets
        elif isinstance(n, ast.AugAssign):
            targets = [n.target]
        elif isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in MUTATING_METHODS:
            targets = [n.func.value]
        for t in targets:
            if isinstance(t, (ast.Attribute, ast.Subscript)) or (targets and isinstance(n, ast.Call)):
                root = target_root(t)
                if root == "self" and isinstance(t, ast.Attribute) and dotted(t).startswith("self.__class__"):
                    root = "__class__"
                if root is not None and (not attributes_only or isinstance(t, ast.Attribute)):
                    yield root


def value_definitions(analyses: Mapping[int, CellAnalysis]) -> dict[int, set[str]]:
    """Cell index -> the names of the definitions of that cell that keep state (see the module's docstring)."""
    changed_at = {i: set(changed_roots(a.tree)) for i, a in analyses.items() if a.tree is not None}
    out: dict[int, set[str]] = {}
    for index, a in analyses.items():
        for f in a.functions.values():
            body = ast.parse(f.source).body
            node = body[0] if body else None
            later = set().union(*(a2.defines for i, a2 in analyses.items() if i > index))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _default_state(node, later):
                out.setdefault(index, set()).add(f.name)
            elif isinstance(node, ast.ClassDef) and _changed_from_outside(f.name, node, changed_at):
                out.setdefault(index, set()).add(f.name)
    return out


def _default_state(node: ast.FunctionDef | ast.AsyncFunctionDef, rebound_later: set[str]) -> bool:
    if node.decorator_list:  # a decorated function is what the decorator returns: a wrapper may not pickle
        return False
    positional = node.args.posonlyargs + node.args.args
    pairs = list(zip(positional[len(positional) - len(node.args.defaults) :], node.args.defaults))
    pairs += [(p, d) for p, d in zip(node.args.kwonlyargs, node.args.kw_defaults) if d is not None]
    changed = set(changed_roots(node))
    if any(isinstance(d, (ast.List, ast.Dict, ast.Set)) and p.arg in changed for p, d in pairs):
        return True
    return any(isinstance(n, ast.Name) and n.id in rebound_later for _, d in pairs for n in ast.walk(d))


def _changed_from_outside(name: str, node: ast.ClassDef, changed_at: dict[int, set[str]]) -> bool:
    """Every change of the class happens where a step's code names it: ``Name.attr = ...`` in a cell, a call of the
    class (its ``__init__`` counting instances) or of a classmethod through its name; not an instance's method."""
    if node.decorator_list:
        return False
    for method in node.body:
        if isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)) and not _through_the_class(method):
            if set(changed_roots(method, attributes_only=True)) & {"cls", "__class__", name, "type"}:
                return False
    return any(name in roots for roots in changed_at.values())


def _through_the_class(method: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    decorators = {dotted(d) for d in method.decorator_list}
    return method.name in ("__init__", "__new__") or bool(decorators & {"classmethod", "staticmethod"})
