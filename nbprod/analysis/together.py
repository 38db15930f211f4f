"""Names a cell binds together from one value: ``fig, ax = plt.subplots()`` unpacks one result, whose parts may be
one object seen through two names (``ax`` is drawn in ``fig``). The planner hands such names on together."""

from __future__ import annotations

import ast
from typing import Iterator, Optional

__all__ = ["PART_METHODS", "unpacked_together"]

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)

#: Methods that return a part of their receiver (most methods return a new value: ``rng.normal()``, ``df.copy()``).
PART_METHODS = frozenset(
    "add_subplot add_axes subplots gca gcf get_figure get_axes twinx twiny inset_axes subfigures get setdefault".split()
)


def unpacked_together(tree: Optional[ast.AST]) -> list[tuple[str, ...]]:
    """Groups of two or more names the cell's own scope binds to one object or its parts: what one assignment
    unpacks from a single value that is not a tuple or list display (``a, b = 1, 2`` binds two separate values), and
    a name bound to a part of another (``ax = fig.add_subplot()``, ``items = holder["items"]``, ``w = net.layer``;
    a method other than :data:`PART_METHODS` returns a new value: ``rng.normal()``, ``df.copy()``)."""
    out = []
    for node in _statements(tree):
        if not isinstance(node, ast.Assign) or isinstance(node.value, (ast.Tuple, ast.List)):
            continue
        whole = _part_of(node.value)
        for target in node.targets:
            names = tuple(dict.fromkeys(_names(target)))
            if isinstance(target, (ast.Tuple, ast.List)) and len(names) > 1:
                out.append(names)
            if whole is not None and whole not in names and names:
                out.append((*names, whole))
    return out


def _part_of(value: ast.expr) -> Optional[str]:
    """``a`` when ``value`` is a chain of items, attributes and :data:`PART_METHODS` calls on ``a`` (``a[...]``,
    ``a.attr``, ``a.layers[0].weights``, ``a.add_subplot(...)``)."""
    node: ast.expr = value
    chained = False
    while True:
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Attribute) or node.func.attr not in PART_METHODS:
                return None
            node = node.func.value
        elif isinstance(node, (ast.Subscript, ast.Attribute)):
            node = node.value
        else:
            break
        chained = True
    return node.id if chained and isinstance(node, ast.Name) else None


def _statements(tree: Optional[ast.AST]) -> Iterator[ast.AST]:
    """Every node of the cell's own scope: not the bodies of its functions, classes and lambdas."""
    todo = list(ast.iter_child_nodes(tree)) if tree is not None else []
    while todo:
        node = todo.pop(0)
        yield node
        if not isinstance(node, _SCOPES):
            todo.extend(ast.iter_child_nodes(node))


def _names(target: ast.AST) -> Iterator[str]:
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, ast.Starred):
        yield from _names(target.value)
    elif isinstance(target, (ast.Tuple, ast.List)):
        for elt in target.elts:
            yield from _names(elt)
