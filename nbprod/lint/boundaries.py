"""NB411-NB414: what a value handed to a later step does not carry: a set's iteration order (NB411), an object's
identity (NB412), a named logger's configuration nbprod cannot replay (NB413), IPython's output history (NB414).

A later step loads each value it takes from a file in its own kernel (``nbprod run --isolated``): an equal value,
a new object. Each finding names the cell that relies on what was lost and the cell it comes from, with a fix.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import Callable, Optional

from nbprod.analysis.cells import BUILTINS
from nbprod.analysis.rng import dotted
from nbprod.analysis.settings import LOGGER_CONFIG, logger_name, logger_settings
from nbprod.analysis.together import target_root
from nbprod.notebook.reader import Cell
from nbprod.plan.model import Pipeline, Step

__all__ = ["check_boundaries"]

Add = Callable[[str, Optional[Cell], str, str], None]

#: calls whose result follows the order a set iterates in (``sorted``, ``len``, ``in``, ``min`` do not)
_ORDERED_CALLS = frozenset("list tuple enumerate iter zip print str repr join dict.fromkeys".split())
_ORDER_FREE = frozenset("sorted set frozenset sum any all min max len".split())
_SET_METHODS = frozenset("union intersection difference symmetric_difference copy".split())
_LOG_CALLS = frozenset("debug info warning warn error exception critical log".split())
#: IPython's output and input history: what an earlier cell displayed or ran in this kernel
_HISTORY = {"_": 1, "__": 2, "___": 3, "Out": 0, "In": 0}


def check_boundaries(plan: Pipeline, add: Add) -> None:
    """NB411-NB414 over the steps of ``plan``."""
    _set_order(plan, add)
    _identity(plan, add)
    _loggers(plan, add)
    _history(plan, add)


def _trees(plan: Pipeline, step: Step) -> Iterator[tuple[Cell, ast.Module]]:
    for cell in step.code_cells:
        tree = plan.analyses[cell.index].tree
        if tree is not None:
            yield cell, tree


def _producer_cell(plan: Pipeline, step: Step, name: str) -> Cell:
    """The last cell of ``step`` that binds ``name`` (its first cell when none does)."""
    cells = [c for c in step.code_cells if name in plan.analyses[c.index].defines]
    return (cells or step.code_cells)[-1]


# NB411 -------------------------------------------------------------------------------------------------------------


def _sets(tree: ast.Module) -> set[str]:
    """Names the cell binds to a set: a display, a comprehension, ``set(...)``, ``frozenset(...)``, set algebra."""
    out: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if _is_set(node.value, out):
                out.add(node.targets[0].id)
            else:
                out.discard(node.targets[0].id)
    return out


def _is_set(v: ast.expr, known: set[str]) -> bool:
    if isinstance(v, (ast.Set, ast.SetComp)):
        return True
    if isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and v.func.id in ("set", "frozenset"):
        return True
    if isinstance(v, ast.Call) and isinstance(v.func, ast.Attribute) and v.func.attr in _SET_METHODS:
        return isinstance(v.func.value, ast.Name) and v.func.value.id in known
    if isinstance(v, ast.BinOp) and isinstance(v.op, (ast.BitOr, ast.BitAnd, ast.Sub, ast.BitXor)):
        return any(isinstance(o, ast.Name) and o.id in known for o in (v.left, v.right))
    return False


def _iterates(tree: ast.AST, name: str) -> bool:
    """Whether ``tree`` depends on the order ``name`` iterates in: ``for x in name``, ``list(name)``,
    ``", ".join(name)``, ``print(name)``, ``f"{name}"``, ``*name``, ``a, b = name``, ``name.pop()``."""

    def is_name(n: ast.AST) -> bool:
        return isinstance(n, ast.Name) and n.id == name

    unordered = {id(g) for n in ast.walk(tree) for g in _unordered_loops(n)}
    for n in ast.walk(tree):
        if isinstance(n, (ast.For, ast.AsyncFor, ast.comprehension)) and is_name(n.iter) and id(n) not in unordered:
            return True
        if isinstance(n, ast.Call):
            d = dotted(n.func)
            if (d in _ORDERED_CALLS or d.rpartition(".")[2] == "join") and any(is_name(a) for a in n.args):
                return True
            if isinstance(n.func, ast.Attribute) and n.func.attr == "pop" and is_name(n.func.value):
                return True
        if isinstance(n, (ast.FormattedValue, ast.Starred)) and is_name(n.value):
            return True
        if isinstance(n, ast.Assign) and is_name(n.value) and isinstance(n.targets[0], (ast.Tuple, ast.List)):
            return True
    return False


def _unordered_loops(node: ast.AST) -> list[ast.comprehension]:
    """The loops of a comprehension whose result does not follow their order: ``{w.upper() for w in vocab}``,
    ``sum(len(w) for w in vocab)``, ``sorted(...)``."""
    if isinstance(node, ast.SetComp):
        return node.generators
    if isinstance(node, ast.Call) and dotted(node.func) in _ORDER_FREE:
        return [g for a in node.args if isinstance(a, (ast.GeneratorExp, ast.ListComp)) for g in a.generators]
    return []


def _set_order(plan: Pipeline, add: Add) -> None:
    """NB411: a set built and iterated in one step, iterated again in a later step that loads it. Rebuilt from its
    file, a set of strings may iterate in another order than the one its step built (the order follows how it
    was built), while the notebook's one set iterates alike everywhere."""
    for step in plan.steps:
        for cell, tree in _trees(plan, step):
            for name in sorted(_sets(tree)):
                first = next((c for c, t in _trees(plan, step) if c.index >= cell.index and _iterates(t, name)), None)
                later = [s for s in plan.steps if s.inputs.get(name) == step.name]
                reader = next((c for s in later for c, t in _trees(plan, s) if _iterates(t, name)), None)
                if first is None or reader is None:
                    continue
                add(
                    "NB411",
                    reader,
                    f"the order this cell iterates set {name!r} in may differ from the order {first.ref} "
                    f"(step {step.name!r}) iterated it in: rebuilt from its file in this step's kernel, a set may "
                    "iterate in another order, while the notebook's one set iterates alike in both cells",
                    f"iterate sorted({name}) in both cells, or hand on a list (e.g. {name}_order = sorted({name}))",
                )


# NB412 -------------------------------------------------------------------------------------------------------------


def _id_values(plan: Pipeline, step: Step) -> dict[str, Cell]:
    """Names ``step`` binds or fills with ``id(...)``: ``seen = {id(x)}``, ``seen.add(id(y))``."""
    out: dict[str, Cell] = {}
    for cell, tree in _trees(plan, step):
        for node in ast.walk(tree):
            holder = None
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                holder, value = node.targets[0].id, node.value
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                holder, value = dotted(node.func.value), node
            if holder and any(isinstance(n, ast.Call) and dotted(n.func) == "id" for n in ast.walk(value)):
                out.setdefault(holder, cell)
    return out


def _identity(plan: Pipeline, add: Add) -> None:
    """NB412: ``id(x)`` or ``a is b`` on values a step loads, ids stored by an earlier step compared here: each
    loaded value is a new object in the step's kernel. One finding per cell, naming each case."""
    ids = {s.name: _id_values(plan, s) for s in plan.steps}
    for step in plan.steps:
        for cell, tree in _trees(plan, step):
            found = []
            compared = {
                n.id
                for c in ast.walk(tree)
                if isinstance(c, ast.Compare)
                for n in ast.walk(c)
                if isinstance(n, ast.Name)
            }
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and dotted(node.func) == "id":
                    found += [m for m in [_id_call(plan, step, node)] if m]
                elif isinstance(node, ast.Compare) and any(isinstance(op, (ast.Is, ast.IsNot)) for op in node.ops):
                    found += [m for m in [_loaded_pair(plan, step, node)] if m]
            for name in sorted(compared & set(step.inputs)):
                made_in = step.inputs[name]
                if name in ids[made_in]:
                    found.append(
                        f"{name!r} holds object ids computed in {ids[made_in][name].ref} (step {made_in!r}), which "
                        "match none of this step's objects"
                    )
            if found:
                add(
                    "NB412",
                    cell,
                    "; ".join(dict.fromkeys(found)),
                    "compare values (==) or keys that are values (a name, a row number), not id(); or keep the "
                    "identity test in the step that makes the objects",
                )


def _id_call(plan: Pipeline, step: Step, node: ast.Call) -> Optional[str]:
    x = target_root(node.args[0]) if len(node.args) == 1 else None
    if x is None or x not in step.inputs:
        return None
    made = _producer_cell(plan, plan.step(step.inputs[x]), x)
    return (
        f"id({ast.unparse(node.args[0])}): {x!r} comes from step {step.inputs[x]!r} ({made.ref}) "
        "as a new object loaded from its file, so its id is not the one the notebook's object has"
    )


def _bound_from(plan: Pipeline, step: Step, name: str, sources: set[str]) -> bool:
    """Whether ``step`` binds ``name`` from an expression that reads one of ``sources`` (``y = x``, ``y = x[0]``)."""
    for _, tree in _trees(plan, step):
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and any(target_root(t) == name for t in node.targets):
                if sources & {n.id for n in ast.walk(node.value) if isinstance(n, ast.Name)}:
                    return True
    return False


def _loaded_pair(plan: Pipeline, step: Step, node: ast.Compare) -> Optional[str]:
    """The message for ``a is b`` when one side is a value the step loads and the other a value too (not None, a
    literal, a class, a module), and they were not handed on together as one object."""
    sides = [node.left, *node.comparators]
    if any(isinstance(s, (ast.Constant, ast.Call)) for s in sides):
        return None
    roots = [r for r in map(target_root, sides) if r is not None]
    if len(roots) < len(sides) or len(set(roots)) < 2:
        return None
    values = set(step.defines) | set(step.inputs)
    if not all(r in values and r not in BUILTINS for r in roots):
        return None
    loaded = [r for r in roots if r in step.inputs]
    local = [r for r in roots if r not in step.inputs]
    if not loaded or any(_bound_from(plan, step, r, set(loaded)) for r in local):
        return None  # y = x; y is x: one object in this kernel
    producers = {step.inputs.get(r, "") for r in roots}
    if len(producers) == 1 and any(set(roots) <= set(g) for p in producers if p for g in plan.step(p).together):
        return None  # saved together in one file: still one object
    x = loaded[0]
    return (
        f"{ast.unparse(node)}: {x!r} comes from step {step.inputs[x]!r} ("
        f"{_producer_cell(plan, plan.step(step.inputs[x]), x).ref}) as a new object loaded from its file, so it is "
        "not the object the other side is in the notebook's kernel"
    )


# NB413 -------------------------------------------------------------------------------------------------------------


def _loggers_bound(plan: Pipeline) -> dict[str, str]:
    """Variable -> logger name, for each ``logger = logging.getLogger("etl")`` in the notebook."""
    out: dict[str, str] = {}
    for a in plan.analyses.values():
        for node in ast.walk(a.tree) if a.tree is not None else ():
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                name = logger_name(node.value, {}) if isinstance(node.value, ast.Call) else None
                if name is not None:
                    out[node.targets[0].id] = name
    return out


def _configures(stmt: ast.stmt, loggers: dict[str, str]) -> Optional[str]:
    """The name of the logger ``stmt`` configures (``logger.setLevel``, ``.addHandler``, ``.propagate = ``)."""
    node: Optional[ast.expr] = None
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) and isinstance(stmt.value.func, ast.Attribute):
        node = stmt.value.func
    elif isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Attribute):
        node = stmt.targets[0]
    if isinstance(node, ast.Attribute) and node.attr in LOGGER_CONFIG:
        return logger_name(node.value, loggers)
    return None


def _logs(tree: ast.Module, logger: str, loggers: dict[str, str]) -> bool:
    """Whether ``tree`` logs through ``logger`` (through any logger when it is the root logger, ``""``)."""
    for n in ast.walk(tree):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in _LOG_CALLS:
            through = "" if dotted(n.func.value) == "logging" else logger_name(n.func.value, loggers)
            if through is not None and (through == logger or logger == ""):
                return True
    return False


def _loggers(plan: Pipeline, add: Add) -> None:
    """NB413: a step configures a named logger in a way nbprod does not replay (a handler made in an earlier
    statement, a file handler, the logger bound in another cell), and a later step logs through it."""
    loggers = _loggers_bound(plan)
    for i, step in enumerate(plan.steps):
        for cell, tree in _trees(plan, step):
            replayed = {s for s, _ in logger_settings(tree)}
            for stmt in tree.body:
                name = _configures(stmt, loggers)
                if name is None or stmt in replayed:
                    continue
                reader = next(
                    (c for s in plan.steps[i + 1 :] for c, t in _trees(plan, s) if _logs(t, name, loggers)), None
                )
                if reader is None:
                    continue
                shown = f"logger {name!r}" if name else "the root logger"
                add(
                    "NB413",
                    reader,
                    f"this cell logs through {shown}, which {cell.ref} (step {step.name!r}) configures with "
                    f"{ast.unparse(stmt)!r}: nbprod cannot replay that in this step's kernel, whose {shown} has no "
                    "such handler or level",
                    "configure the logger in one cell, handler built inline: logger = logging.getLogger(...); "
                    "logger.setLevel(...); logger.addHandler(logging.StreamHandler(sys.stdout)) (nbprod replays "
                    "it), or log in the step that configures it",
                )
                break


# NB414 -------------------------------------------------------------------------------------------------------------

_QUIET = ("print", "display", "pprint", "plt.", "sns.", "time.sleep", "logging.")


def _display(plan: Pipeline, cell: Cell) -> str:
    """ "sure" when ``cell`` ends with an expression IPython shows, "maybe" for a call (None is not shown), else ""."""
    tree = plan.analyses[cell.index].tree
    if tree is None or not tree.body or not isinstance(tree.body[-1], ast.Expr) or cell.source.rstrip().endswith(";"):
        return ""
    value = tree.body[-1].value
    if isinstance(value, ast.Call):
        return "" if dotted(value.func).startswith(_QUIET) else "maybe"
    if isinstance(value, ast.Await):
        return "maybe"
    return "" if isinstance(value, ast.Constant) and value.value is None else "sure"


def _history(plan: Pipeline, add: Add) -> None:
    """NB414: ``_``, ``__``, ``___`` read where the cell that displayed that value is in another step; ``Out[n]``,
    ``In[n]`` anywhere (a step's kernel numbers its own cells)."""
    step_of = {c.index: s.name for s in plan.steps for c in s.code_cells}
    shared = {c.index for cells in plan.shared.values() for c in cells}
    code = [c for c in plan.notebook.cells if c.is_code and c.index not in shared]
    for pos, cell in enumerate(code):
        a = plan.analyses[cell.index]
        if cell.index not in step_of or a.tree is None:
            continue
        for name in [n for n in a.builtin_uses if n in _HISTORY]:
            if any(name in plan.analyses[c.index].defines for c in code[:pos]):
                continue  # a variable of that name (for _ in ...)
            k = _HISTORY[name]
            other = _shown_elsewhere(plan, code[:pos], step_of, step_of[cell.index], k) if k else None
            if k and other is None:
                continue
            where = (
                f"the value {other.ref} ({_step_name(step_of, other)}) displayed"
                if other is not None
                else "IPython's numbered history of the notebook's kernel"
            )
            add(
                "NB414",
                cell,
                f"{name!r} is {where}; step {step_of[cell.index]!r} runs in its own kernel, where it holds "
                "something else",
                "assign the value to a name where it is computed (total = ...) and use that name",
            )


def _step_name(step_of: dict[int, str], cell: Cell) -> str:
    return f"step {step_of[cell.index]!r}" if cell.index in step_of else "not in the pipeline"


def _shown_elsewhere(plan: Pipeline, before: list[Cell], step_of: dict[int, str], step: str, k: int) -> Optional[Cell]:
    """The cell whose displayed value ``_`` (k=1), ``__`` (2) or ``___`` (3) is (or may be: a call), when it is not in
    ``step``; None when it is in ``step``."""
    for cell in reversed(before):
        kind = _display(plan, cell)
        if not kind:
            continue
        if step_of.get(cell.index) != step:  # a call may return None, but then the step's `_` is "" all the same
            return cell
        k -= 1
        if k == 0:
            return None
    return None
