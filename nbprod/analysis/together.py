"""Names a cell binds together from one value: ``fig, ax = plt.subplots()`` unpacks one result, whose parts may be
one object seen through two names (``ax`` is drawn in ``fig``). The planner hands such names on together."""

from __future__ import annotations

import ast
from typing import Iterator, Optional

__all__ = ["PART_METHODS", "unpacked_together", "held_names", "target_root", "view_of"]

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)

#: Methods that return a part of their receiver (most methods return a new value: ``rng.normal()``, ``df.copy()``).
PART_METHODS = frozenset(
    "add_subplot add_axes subplots gca gcf get_figure get_axes twinx twiny inset_axes subfigures get setdefault "
    "items values".split()
)
#: Attributes that describe a value rather than hold a part of it.
_METADATA = frozenset("shape dtypes dtype size ndim columns index name names nbytes itemsize".split())
#: Methods that store their arguments in their receiver.
_STORES = frozenset("append extend insert add update setdefault appendleft".split())
#: Builtins whose result holds the very elements of their arguments (``for i, m in enumerate(models)``).
_SAME_ELEMENTS = frozenset("enumerate zip reversed sorted list tuple iter".split())


def unpacked_together(tree: Optional[ast.AST]) -> list[tuple[str, ...]]:
    """Groups of two or more names the cell's own scope binds to one object or its parts: what one assignment
    unpacks from a single value that is not a display, a name bound to a part of another (``ax = fig.add_subplot()``,
    ``items = holder["items"]``, ``w = net.layer``; a method other than :data:`PART_METHODS` returns a new value:
    ``rng.normal()``, ``df.copy()``), a container display and the names it holds (``models = {"lr": lr}``), a loop
    variable and what it runs over (``for name, m in models.items()``, ``for df in (train, test)``)."""
    out: list[tuple[str, ...]] = []
    for node in _statements(tree):
        if isinstance(node, (ast.For, ast.AsyncFor)):
            out += _loop(node)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _STORES:
            out += _store(node)
        elif isinstance(node, ast.Assign):
            out += _assignment(node)
    return out


def _group(names: list[str], held: list[str]) -> list[tuple[str, ...]]:
    """One group of ``names`` and what they hold (leaving out ``names`` themselves), when both are there."""
    held = [h for h in dict.fromkeys(held) if h not in names]
    return [(*names, *held)] if names and held else []


def _loop(node: ast.For | ast.AsyncFor) -> list[tuple[str, ...]]:
    """The loop variable is each element in turn of what it runs over."""
    return _group(list(dict.fromkeys(_names(node.target))), _holders(node.iter))


def _store(node: ast.Call) -> list[tuple[str, ...]]:
    """``grid.append(row)``: grid now holds row."""
    holder = target_root(node.func.value) if isinstance(node.func, ast.Attribute) else None
    return _group([holder], [a.id for a in node.args if isinstance(a, ast.Name)]) if holder else []


def _assignment(node: ast.Assign) -> list[tuple[str, ...]]:
    holders = [h for t in node.targets if isinstance(t, (ast.Attribute, ast.Subscript)) and (h := target_root(t))]
    if isinstance(node.value, ast.Name) and holders:  # box.xs = xs, d["k"] = lst: the holder holds it
        return _group(holders, [node.value.id])
    if isinstance(node.value, (ast.Dict, ast.List, ast.Tuple, ast.Set)):  # models = {"lr": lr, "tree": tree}
        return _group([t.id for t in node.targets if isinstance(t, ast.Name)], list(held_names(node.value)))
    out = []
    whole = _part_of(node.value)
    for target in node.targets:
        names = tuple(dict.fromkeys(_names(target)))
        if isinstance(target, (ast.Tuple, ast.List)) and len(names) > 1:
            out.append(names)
        if whole is not None and whole not in names and names:
            out.append((*names, whole))
    return out


def _holders(iterable: ast.expr) -> list[str]:
    """The names whose elements a ``for`` loop runs over: ``models``, ``models.items()``, ``(train, test)``,
    ``enumerate(models)``."""
    if isinstance(iterable, ast.Name):
        return [iterable.id]
    if isinstance(iterable, (ast.Tuple, ast.List, ast.Set)):
        return list(dict.fromkeys(held_names(iterable)))
    if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Name) and iterable.func.id in _SAME_ELEMENTS:
        return [h for a in iterable.args for h in _holders(a)]
    whole = _part_of(iterable)
    return [whole] if whole is not None else []


def held_names(value: ast.expr) -> Iterator[str]:
    """Bare names a container display holds as elements (``{"k": lst}``, ``[a, b]``, ``(x,)``), at any depth."""
    if isinstance(value, ast.Name):
        yield value.id
    elif isinstance(value, (ast.List, ast.Tuple, ast.Set)):
        for e in value.elts:
            yield from held_names(e)
    elif isinstance(value, ast.Dict):
        for v in value.values:
            if v is not None:
                yield from held_names(v)


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
        elif isinstance(node, ast.Attribute) and node.attr in _METADATA:
            return None  # df.shape, df.columns: new values, not parts
        elif isinstance(node, (ast.Subscript, ast.Attribute)):
            node = node.value
        else:
            break
        chained = True
    return node.id if chained and isinstance(node, ast.Name) else None


def target_root(node: ast.expr) -> Optional[str]:
    """The name an item or attribute target hangs from: ``d`` for ``d["k"].x``; None under a call."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


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


#: numpy methods whose result is a view of the receiver's data (``a.T`` too); ``np.asarray(a)`` is ``a`` itself.
_VIEW_METHODS = frozenset("view reshape ravel swapaxes".split())
_BASIC = (ast.Slice, ast.Constant, ast.UnaryOp)  # a[1:3], a[0], a[-1], a[None], a[...]


def view_of(value: ast.expr, arrays: set[str]) -> Optional[str]:
    """``a`` when ``value`` is a numpy view of the array ``a``: basic slicing (``a[:, :2]``, ``a[1:]``, ``a[0, ...]``),
    ``a.T``, ``a.view()``, ``a.reshape(...)``, ``a.ravel()``, ``np.asarray(a)``. A one-axis slice and ``.T`` count
    only on a name in ``arrays`` (a list's slice is a copy, and pandas 3 copies on write: a column is no view)."""
    if isinstance(value, ast.Subscript) and isinstance(value.value, ast.Name):
        return _sliced(value, value.value.id, arrays)
    if isinstance(value, ast.Attribute) and value.attr == "T" and isinstance(value.value, ast.Name):
        return value.value.id if value.value.id in arrays else None
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute):
        func = value.func
        if func.attr in _VIEW_METHODS and isinstance(func.value, ast.Name):
            return func.value.id
        head = func.value.id if isinstance(func.value, ast.Name) else ""
        arg = value.args[0] if len(value.args) == 1 and not value.keywords else None
        if head in ("np", "numpy") and func.attr == "asarray" and isinstance(arg, ast.Name):
            return arg.id
    return None


def _sliced(value: ast.Subscript, base: str, arrays: set[str]) -> Optional[str]:
    index = value.slice
    parts = index.elts if isinstance(index, ast.Tuple) else [index]
    basic = all(isinstance(p, _BASIC) for p in parts)
    sliced = any(isinstance(p, ast.Slice) or (isinstance(p, ast.Constant) and p.value is ...) for p in parts)
    array = isinstance(index, ast.Tuple) or base in arrays
    return base if basic and sliced and array else None
