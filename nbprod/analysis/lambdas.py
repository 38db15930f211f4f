"""Values whose use depends on, or changes, state: ``decide = lambda p: p >= threshold`` reads ``threshold`` each time
``decide`` runs, not when it is made (a later step that calls ``decide`` needs the ``threshold`` of that moment), and
``pairs = zip(names, scores)`` is used up by the loop that runs over it (a later step sees it empty)."""

from __future__ import annotations

import ast
from typing import Optional

from nbprod.analysis.scopes import arg_names, scope_free

__all__ = ["lambda_globals", "iterators", "consumed", "function_aliases"]

#: calls that make a one-shot iterator (used up by iterating over it)
_ITERATOR_CALLS = frozenset("zip map filter iter enumerate reversed".split())
#: builtins that run through an iterable they are given
_CONSUMERS = frozenset("list tuple set dict sorted sum min max any all next frozenset".split())


def lambda_globals(tree: Optional[ast.AST]) -> dict[str, set[str]]:
    """For each name a top-level assignment binds to a lambda, or to a dict, list or tuple display holding lambdas:
    the free names their bodies read."""
    out: dict[str, set[str]] = {}
    for stmt in tree.body if isinstance(tree, ast.Module) else ():
        if not isinstance(stmt, ast.Assign):
            continue
        lambdas = [n for n in _held(stmt.value) if isinstance(n, ast.Lambda)]
        free = set().union(*(scope_free([lam.body], arg_names(lam.args)) for lam in lambdas))
        for target in stmt.targets:
            if isinstance(target, ast.Name) and free:
                out[target.id] = free
    return out


def _held(value: ast.expr) -> list[ast.expr]:
    if isinstance(value, ast.Dict):
        return [v for v in value.values if v is not None]
    if isinstance(value, (ast.List, ast.Tuple)):
        return list(value.elts)
    return [value]


def iterators(tree: Optional[ast.AST]) -> set[str]:
    """Names a top-level assignment binds to a one-shot iterator: ``zip(...)``, ``map(...)``, ``iter(...)``,
    ``itertools.<anything>(...)``."""
    out: set[str] = set()
    for stmt in tree.body if isinstance(tree, ast.Module) else ():
        if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call):
            func = stmt.value.func
            name = func.id if isinstance(func, ast.Name) else ""
            module = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
            if name in _ITERATOR_CALLS or module == "itertools":
                out |= {t.id for t in stmt.targets if isinstance(t, ast.Name)}
    return out


def consumed(tree: Optional[ast.AST]) -> set[str]:
    """Bare names the cell runs through: ``for x in pairs``, ``list(pairs)``, ``next(pairs)``, ``[.. for x in pairs]``."""
    out: set[str] = set()
    for node in ast.walk(tree) if tree is not None else ():
        if isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)) and isinstance(node.iter, ast.Name):
            out.add(node.iter.id)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _CONSUMERS:
            out |= {a.id for a in node.args if isinstance(a, ast.Name)}
    return out


#: calls that make a value whose calls change nothing of it: a partial, a namedtuple or dataclass type
_PLAIN_CALLABLES = frozenset(
    "partial functools.partial namedtuple collections.namedtuple NamedTuple typing.NamedTuple make_dataclass "
    "dataclasses.make_dataclass".split()
)


def function_aliases(tree: Optional[ast.AST], functions: set[str]) -> set[str]:
    """Names a top-level assignment binds to a notebook function (``first = clean``), a ``partial`` or a namedtuple
    type (``Row = namedtuple(...)``): calling them runs the function or makes a new value (what the function changes
    is its own business), it does not change the value itself."""
    out: set[str] = set()
    for stmt in tree.body if isinstance(tree, ast.Module) else ():
        if isinstance(stmt, ast.Assign):
            value = stmt.value
            plain = isinstance(value, ast.Call) and ast.unparse(value.func) in _PLAIN_CALLABLES
            if plain or (isinstance(value, ast.Name) and value.id in functions):
                out |= {t.id for t in stmt.targets if isinstance(t, ast.Name)}
    return out
