"""Values that read globals when they are called: ``decide = lambda p: p >= threshold`` reads ``threshold`` each time
``decide`` runs, not when it is made. A later step that calls ``decide`` needs the ``threshold`` of that moment."""

from __future__ import annotations

import ast
from typing import Optional

from nbprod.analysis.scopes import arg_names, scope_free

__all__ = ["lambda_globals"]


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
