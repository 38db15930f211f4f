"""Free names of the nested scopes in a cell: function and class bodies, lambdas, comprehensions.

A nested scope reads the cell's globals when it runs, so a name it loads but never binds (and does not declare
``global``) is free: for a function, the globals it reads when called; for a comprehension, names read at once.
"""

from __future__ import annotations

import ast
from typing import Sequence, Union

__all__ = [
    "Comprehension",
    "arg_names",
    "comprehension_free",
    "definition_free",
    "globals_written",
    "scope_free",
    "target_names",
    "walrus_targets",
]


def target_names(target: ast.AST) -> list[str]:
    """Names bound by an assignment target (``a``, ``a, *b``, ``[a, (b, c)]``); none for ``x.attr`` or ``x[i]``."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for elt in target.elts for n in target_names(elt)]
    if isinstance(target, ast.Starred):
        return target_names(target.value)
    return []


def arg_names(args: ast.arguments) -> set[str]:
    """Names a function's or lambda's parameters bind."""
    names = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
    if args.vararg:
        names.add(args.vararg.arg)
    if args.kwarg:
        names.add(args.kwarg.arg)
    return names


Comprehension = Union[ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp]


def scope_free(body_nodes: Sequence[ast.AST], bound: set[str]) -> set[str]:
    """Free names of a function-like scope: loads not bound anywhere in that scope."""
    loads: set[str] = set()
    stores: set[str] = set(bound)
    declared_global: set[str] = set()

    def walk(node: ast.AST) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            stores.add(node.name)
            for d in node.decorator_list:
                walk(d)
            if isinstance(node, ast.ClassDef):
                for b in node.bases + [k.value for k in node.keywords]:
                    walk(b)
                loads.update(scope_free(node.body, set()))
            else:
                for d in node.args.defaults + [d for d in node.args.kw_defaults if d is not None]:
                    walk(d)
                loads.update(scope_free(node.body, arg_names(node.args)))
            return
        if isinstance(node, ast.Lambda):
            for d in node.args.defaults:
                walk(d)
            loads.update(scope_free([node.body], arg_names(node.args)))
            return
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            loads.update(comprehension_free(node))
            stores.update(walrus_targets(node))  # ':=' in a comprehension binds in this scope
            return
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            declared_global.update(node.names)
            return
        if isinstance(node, ast.Name):
            (loads if isinstance(node.ctx, ast.Load) else stores).add(node.id)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                stores.add((a.asname or a.name).split(".")[0])
            return
        if isinstance(node, ast.ExceptHandler) and node.name:
            stores.add(node.name)
        if isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            stores.add(node.name)
        if isinstance(node, ast.MatchMapping) and node.rest:
            stores.add(node.rest)
        for child in ast.iter_child_nodes(node):
            walk(child)

    for n in body_nodes:
        walk(n)
    return (loads - (stores - declared_global)) | (loads & declared_global)


def comprehension_free(node: Comprehension) -> set[str]:
    """Free names of a comprehension: what its iterables, conditions and element read that its targets do not bind."""
    bound: set[str] = set()
    loads: set[str] = set()
    for gen in node.generators:
        loads.update(n for n in scope_free([gen.iter], set()) if n not in bound)
        bound.update(target_names(gen.target))
        for cond in gen.ifs:
            loads.update(scope_free([cond], bound))
    elts = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
    loads.update(scope_free(elts, bound))
    return loads


def walrus_targets(node: Comprehension) -> list[str]:
    """Names a comprehension's ``:=`` binds in the enclosing scope (not those of nested lambdas or functions)."""
    out: list[str] = []

    def walk(n: ast.AST) -> None:
        if isinstance(n, ast.NamedExpr):
            out.append(n.target.id)
        if isinstance(n, (ast.Lambda, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return
        for child in ast.iter_child_nodes(n):
            walk(child)

    walk(node)
    return out


Definition = Union[ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef]


def definition_free(node: Definition) -> set[str]:
    """What a ``def`` or ``class`` statement itself reads when it runs: decorators, defaults, annotations, bases.

    A copy of the definition in another step needs these as much as what its body reads.
    """
    exprs: list[ast.AST] = list(node.decorator_list)
    if isinstance(node, ast.ClassDef):
        exprs += node.bases + [k.value for k in node.keywords]
    else:
        a = node.args
        exprs += a.defaults + [d for d in a.kw_defaults if d is not None]
        exprs += [x.annotation for x in a.posonlyargs + a.args + a.kwonlyargs if x.annotation is not None]
        exprs += [x.annotation for x in (a.vararg, a.kwarg) if x is not None and x.annotation is not None]
        if node.returns is not None:
            exprs.append(node.returns)
    return scope_free(exprs, set())


def globals_written(node: Union[ast.FunctionDef, ast.AsyncFunctionDef]) -> set[str]:
    """Names a function declares ``global`` and assigns or deletes (also in nested blocks, not nested scopes)."""
    declared: set[str] = set()
    bound: set[str] = set()

    def walk(n: ast.AST) -> None:
        if isinstance(n, ast.Global):
            declared.update(n.names)
        elif isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load):
            bound.add(n.id)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(n.name)
            return
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in n.names)
        if isinstance(n, (ast.Lambda, ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            return
        for child in ast.iter_child_nodes(n):
            walk(child)

    for stmt in node.body:
        walk(stmt)
    return declared & bound
