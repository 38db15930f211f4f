"""NB403-NB408: state that does not cross a step boundary and that static analysis cannot carry across (NB406, a
global random generator seeded in another step, is gone: the planner hands the generator's state on).

Each step runs in its own kernel (``nbprod run --isolated``); only the values the planner infers travel between
steps. Where the planner cannot be sure, lint says so and names both cells: the one that sets the state up and the
one in a later step that relies on it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import Callable, Optional

from nbprod.analysis.effects import MUTATING_FUNCTIONS, MUTATING_METHODS
from nbprod.analysis.rng import dotted
from nbprod.analysis.together import held_names, target_root, view_of
from nbprod.analysis.unsaveable import generator_functions, unsaveable_values
from nbprod.notebook.reader import Cell
from nbprod.plan.model import Pipeline, Step

__all__ = ["check_cross_step"]

Add = Callable[[str, Optional[Cell], str, str], None]

#: pyplot calls that start a figure; calls that act on "the current figure" without starting one.
_PLT_NEW = frozenset({"figure", "subplots", "subplot", "subplot_mosaic", "plot", "scatter", "bar", "barh", "hist"})
_PLT_CURRENT = frozenset(
    {"savefig", "show", "title", "xlabel", "ylabel", "legend", "xlim", "ylim", "grid", "tight_layout", "gcf", "gca"}
)


def _calls(plan: Pipeline, cell: Cell) -> Iterator[tuple[ast.Call, str]]:
    tree = plan.analyses[cell.index].tree
    if tree is None:
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node, dotted(node.func)


def _first(plan: Pipeline, step: Step, names: Callable[[str], bool]) -> Optional[Cell]:
    for cell in step.code_cells:
        if any(names(d) for _, d in _calls(plan, cell)):
            return cell
    return None


def _figure_names(plan: Pipeline, step: Step) -> set[str]:
    """Names ``step`` binds to a new pyplot figure or its axes (``fig, ax = plt.subplots()``, ``fig = plt.figure()``)."""
    out: set[str] = set()
    for cell in step.code_cells:
        tree = plan.analyses[cell.index].tree
        for node in ast.walk(tree) if tree is not None else ():
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                if _is_plt(dotted(node.value.func), _PLT_NEW | {"gcf", "gca"}):
                    out |= {n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return out


def _is_plt(d: str, verbs: frozenset[str]) -> bool:
    head, _, verb = d.rpartition(".")
    return head in ("plt", "pyplot", "matplotlib.pyplot") and verb in verbs


def check_cross_step(plan: Pipeline, add: Add) -> None:
    """Dynamic exec (NB403), os.chdir (NB404), pyplot's current figure (NB405), a star import nbprod cannot list
    (NB407), two names for one object (or a view), one changed in a later step (NB408), a generator handed on (NB409)."""
    for step in plan.steps:
        for cell in step.code_cells:
            a = plan.analyses[cell.index]
            for line, fn in a.dynamic:
                what = (
                    "names written as globals()[...] under computed keys"
                    if fn.startswith("globals")
                    else (f"{fn}() of computed code")
                )
                add(
                    "NB403",
                    cell,
                    f"line {line}: {what}: nbprod cannot see which names it reads or binds, so step {step.name!r} "
                    "may not receive or hand on them (a later step's name that nothing else defines is taken from "
                    "this step, if it binds it)",
                    "keep the values in a dict (frames[k] = part)"
                    if fn.startswith("globals")
                    else f"pass {fn}() a string literal, or write the code out",
                )
    _shared_objects(plan, add)
    _shared_views(plan, add)
    _generators(plan, add)
    later_pairs = [(s, t) for i, s in enumerate(plan.steps) for t in plan.steps[i + 1 :]]
    for s, t in later_pairs:
        _pair(plan, s, t, add)
    for step in plan.steps:
        for cell in step.code_cells:
            a = plan.analyses[cell.index]
            for module in a.star_imports:
                if not any(stmt == f"from {module} import {n}" for n, stmt in a.imports.items()):
                    add(
                        "NB407",
                        cell,
                        f"nbprod cannot list what 'from {module} import *' binds: names step {step.name!r} takes "
                        "from it are not carried to later steps",
                        f"import the names you use: from {module} import name1, name2",
                    )


def _aliases(plan: Pipeline, cell: Cell) -> Iterator[tuple[str, str]]:
    """(container, name) pairs one object gets two names by: ``holder = {"items": lst}``, ``holder["k"] = lst``,
    ``obj.attr = lst``, ``box.append(lst)``. A bare ``b = a`` is left out: the planner hands ``a`` on as it is."""
    tree = plan.analyses[cell.index].tree
    for node in ast.walk(tree) if tree is not None else ():
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name) and isinstance(node.value, ast.Name):
                    continue
                root = dotted(target.value) if isinstance(target, (ast.Subscript, ast.Attribute)) else ""
                holder = target.id if isinstance(target, ast.Name) else root.split(".")[0]
                for name in held_names(node.value):
                    if holder and name != holder:
                        yield holder, name
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _STORES:
            holder = dotted(node.func.value).split(".")[0]
            for arg in node.args:
                if isinstance(arg, ast.Name) and holder and arg.id != holder:
                    yield holder, arg.id


_STORES = frozenset({"append", "extend", "insert", "add", "update", "setdefault"})


def _shared_objects(plan: Pipeline, add: Add) -> None:
    """NB408: two names for one object made in one step, one of them changed in a later step: each step loads its
    inputs separately, so the other name no longer sees the change (the notebook's kernel shares the object)."""
    position = {s.name: i for i, s in enumerate(plan.steps)}
    pairs: dict[tuple[str, str], tuple[Step, Cell]] = {}
    for step in plan.steps:
        for cell in step.code_cells:
            for holder, name in _aliases(plan, cell):
                pairs.setdefault((holder, name), (step, cell))
                pairs.setdefault((name, holder), (step, cell))
    for (changed, other), (made_in, made) in sorted(pairs.items()):
        if any(changed in g and other in g for g in made_in.together):
            continue  # handed on together from the step that links them: still one object in the steps after
        for t in plan.steps[position[made_in.name] + 1 :]:
            mutation = next((c for c in t.code_cells if changed in plan.analyses[c.index].mutates), None)
            if mutation is None:
                continue
            reader = next(
                (
                    (u, c)
                    for u in plan.steps[position[t.name] :]
                    if u.inputs.get(other) not in (None, t.name)
                    for c in u.code_cells
                    if other in plan.analyses[c.index].uses
                ),
                None,
            )
            if reader is not None:
                u, read = reader
                add(
                    "NB408",
                    mutation,
                    f"{changed!r} and {other!r} are one object since cell {made.index} (step {made_in.name!r}); step "
                    f"{t.name!r} changes {changed!r}, and step {u.name!r} (cell {read.index}) reads {other!r}, which "
                    "in its own kernel is a separate copy that did not change",
                    f"change {other!r} itself in step {t.name!r}, or read it through {changed!r}; "
                    "`nbprod verify` shows whether the results differ",
                )
                break


def _arrays(plan: Pipeline) -> set[str]:
    """Names the notebook binds to a numpy array: a call of ``np.`` (``np.ones``, ``np.random.rand``),
    ``.to_numpy()``, ``.values``, or a view of such a name."""
    out: set[str] = set()
    for cell in plan.notebook.cells:
        a = plan.analyses.get(cell.index)
        for node in ast.walk(a.tree) if a is not None and a.tree is not None else ():
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                v = node.value
                d = dotted(v.func) if isinstance(v, ast.Call) else dotted(v) if isinstance(v, ast.Attribute) else ""
                if _numpy_root(v, out) or d.endswith((".to_numpy", ".values")) or view_of(v, out):
                    out.add(node.targets[0].id)
    return out


def _numpy_root(node: ast.expr, arrays: set[str]) -> bool:
    """``np.ones(3)``, ``np.arange(12).reshape(3, 4)``, ``rng.normal(size=3).round(2)``: a chain of calls and
    attributes on ``np``/``numpy`` or on a name bound to one (``.tolist()``, ``.item()`` leave numpy)."""
    while isinstance(node, (ast.Call, ast.Attribute)):
        if isinstance(node, ast.Attribute) and node.attr in ("tolist", "item", "tobytes"):
            return False
        node = node.func if isinstance(node, ast.Call) else node.value
    return isinstance(node, ast.Name) and (node.id in ("np", "numpy") or node.id in arrays)


def _views(plan: Pipeline) -> Iterator[tuple[str, str, ast.expr, Step, Cell]]:
    """(view, base, the view's expression, step, cell) for each ``view = base[...]`` (:func:`view_of`) a step's cell binds."""
    arrays = _arrays(plan)
    for step in plan.steps:
        for cell in step.code_cells:
            tree = plan.analyses[cell.index].tree
            for node in tree.body if tree is not None else ():
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    base = view_of(node.value, arrays)
                    if base is not None and base != node.targets[0].id:
                        yield node.targets[0].id, base, node.value, step, cell


def _changes_in_place(tree: Optional[ast.AST], name: str) -> bool:
    """``name -= 1``, ``name[0] = v``, ``name.fill(0)``, ``np.copyto(name, v)``, ``f(..., out=name)``."""
    for n in ast.walk(tree) if tree is not None else ():
        if isinstance(n, ast.AugAssign) and target_root(n.target) == name:
            return True
        if isinstance(n, ast.Assign) and any(
            isinstance(t, (ast.Subscript, ast.Attribute)) and target_root(t) == name for t in n.targets
        ):
            return True
        if isinstance(n, ast.Call):
            func = n.func
            if isinstance(func, ast.Attribute) and func.attr in MUTATING_METHODS and target_root(func.value) == name:
                return True
            first = n.args[0] if n.args else None
            if dotted(func) in MUTATING_FUNCTIONS and isinstance(first, ast.Name) and first.id == name:
                return True
            outs = [k.value for k in n.keywords if k.arg == "out"]
            if any(name in {e.id for e in ast.walk(o) if isinstance(e, ast.Name)} for o in outs):
                return True
    return False


def _read_after_change(tree: Optional[ast.Module], changed: str, other: str) -> bool:
    """Whether a top-level statement of ``tree`` after the first that changes ``changed`` in place reads ``other``."""
    body = tree.body if tree is not None else []
    first = next((i for i, stmt in enumerate(body) if _changes_in_place(stmt, changed)), len(body))
    return any(isinstance(n, ast.Name) and n.id == other for stmt in body[first + 1 :] for n in ast.walk(stmt))


def _shared_views(plan: Pipeline, add: Add) -> None:
    """NB408 for numpy views: ``X = data[:, :2]`` in one step, ``X`` changed in place in a later one while ``data``
    is read after it (or the reverse). Saved and loaded, even in one pickle, a view is an array of its own."""
    cells = [(s, c) for s in plan.steps for c in s.code_cells]
    for view, base, value, made_in, made in _views(plan):
        for changed, other in ((view, base), (base, view)):
            at = next(
                (
                    i
                    for i, (s, c) in enumerate(cells)
                    if s is not made_in and c.index > made.index and changed in s.inputs
                    if _changes_in_place(plan.analyses[c.index].tree, changed)
                ),
                None,
            )
            if at is None:
                continue
            t, mutation = cells[at]
            read = next(((u, c) for u, c in cells[at + 1 :] if other in plan.analyses[c.index].uses), None)
            if _read_after_change(plan.analyses[mutation.index].tree, changed, other):
                read = (t, mutation)
            if read is None or other not in read[0].inputs:
                continue
            u, reader = read
            add(
                "NB408",
                mutation,
                f"{view!r} is a view of {base!r} since {made.ref} (step {made_in.name!r}): step {t.name!r} "
                f"changes {changed!r} in place, and step {u.name!r} ({reader.ref}) reads {other!r}; a saved "
                "view is an array of its own, so there the change is not seen",
                f"copy the view ({view} = {ast.unparse(value)}.copy()) if the change is not "
                f"meant for {base!r}, or change and read them in one step",
            )
            break


def _generators(plan: Pipeline, add: Add) -> None:
    """NB409: a generator, an open file, a connection handed to a later step: it cannot be saved (pickled), so the step
    that makes it would fail. (Sections of an untagged notebook that share one are joined by the planner.)"""
    makers = generator_functions(plan.analyses.values())
    for step in plan.steps:
        for cell in step.code_cells:
            for name, (_, what) in sorted(unsaveable_values(plan.analyses[cell.index].tree, makers).items()):
                if name in step.outputs:
                    later = next(t.name for t in plan.steps if t.inputs.get(name) == step.name)
                    add(
                        "NB409",
                        cell,
                        f"{name!r} is {what}, which step {later!r} takes from step {step.name!r}: it cannot be saved "
                        "between steps (it cannot be pickled), so the pipeline stops here",
                        f"hand on what it holds (list({name}), the rows you read), or make and use it in one step "
                        f"(move the cells of {later!r} that use it into {step.name!r})",
                    )


def _pair(plan: Pipeline, s: Step, t: Step, add: Add) -> None:
    chdir = _first(plan, s, lambda d: d in ("os.chdir", "chdir"))
    if chdir is not None and t.code_cells:
        add(
            "NB404",
            chdir,
            f"os.chdir in step {s.name!r} does not carry to step {t.name!r} (cell {t.code_cells[0].index}), which "
            "runs in its own kernel from the pipeline's folder",
            "build paths from one base folder (a parameter) instead of changing the working directory",
        )
    drawn = _first(plan, s, lambda d: _is_plt(d, _PLT_NEW))
    current = _first(plan, t, lambda d: _is_plt(d, _PLT_CURRENT))
    loads_figure = any(n in t.inputs for n in _figure_names(plan, s))  # unpickled, it is pyplot's current figure
    if (
        drawn is not None
        and current is not None
        and not loads_figure
        and _first(plan, t, lambda d: _is_plt(d, _PLT_NEW)) is None
    ):
        add(
            "NB405",
            current,
            f"step {t.name!r} acts on pyplot's current figure, which step {s.name!r} drew (cell {drawn.index}): "
            "in its own kernel there is no current figure",
            "keep the drawing and its savefig/show in one step, or pass the figure object (fig, ax = plt.subplots())",
        )
