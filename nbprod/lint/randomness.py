"""NB2xx: results that change from run to run because a random generator is never seeded."""

from __future__ import annotations

import ast
from typing import Callable, Optional

from nbprod.analysis.rng import NP_GLOBAL as _NP_GLOBAL
from nbprod.analysis.rng import PY_RANDOM as _PY_RANDOM
from nbprod.analysis.rng import RANDOM_STATE_ESTIMATORS, dotted, takes_state
from nbprod.notebook.reader import Cell
from nbprod.plan.model import Pipeline

__all__ = ["check_randomness", "RANDOM_STATE_ESTIMATORS", "dotted"]

_GENERATORS = frozenset(
    {
        "np.random.default_rng",
        "numpy.random.default_rng",
        "np.random.RandomState",
        "numpy.random.RandomState",
        "default_rng",
        "random.Random",
    }
)
_SHUFFLE_SPLITTERS = frozenset({"KFold", "StratifiedKFold", "GroupKFold", "StratifiedGroupKFold"})
_SHARED = "<shared>"

#: add(code, cell, message, fix)
Add = Callable[[str, Optional[Cell], str, str], None]


def _kw(call: ast.Call, name: str) -> Optional[ast.expr]:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_none(node: Optional[ast.AST]) -> bool:
    return node is None or (isinstance(node, ast.Constant) and node.value is None)


def _is_const(node: Optional[ast.AST], value: bool) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def _unseeded_state(call: ast.Call) -> bool:
    """No ``random_state=`` (and no ``**kwargs`` that could carry one)."""
    return _is_none(_kw(call, "random_state")) and not any(k.arg is None for k in call.keywords)


#: estimators that use random_state only with some solvers: (keyword, its default, the values that draw randomly)
_RANDOM_ONLY_WITH = {"LogisticRegression": ("solver", "lbfgs", frozenset({"sag", "saga", "liblinear"}))}


def _draws_randomly(tail: str, call: ast.Call) -> bool:
    """False when the constructor's arguments choose a deterministic solver (LogisticRegression's default lbfgs)."""
    if tail not in _RANDOM_ONLY_WITH:
        return True
    keyword, default, random_values = _RANDOM_ONLY_WITH[tail]
    value = _kw(call, keyword)
    if value is None:
        return default in random_values
    return not isinstance(value, ast.Constant) or value.value in random_values


class _Scopes:
    """Which steps seeded numpy's / Python's global generator so far (shared cells count for every step)."""

    def __init__(self) -> None:
        self.np: set[str] = set()
        self.py: set[str] = set()

    @staticmethod
    def seeded(seen: set[str], scope: str) -> bool:
        """Seeded in this step or an earlier one: the planner hands the generator's state on (analysis.rng)."""
        return bool(seen)


def _check_call(call: ast.Call, cell: Cell, scope: str, seeds: _Scopes, add: Add) -> None:
    name = dotted(call.func)
    tail = name.rsplit(".", 1)[-1]
    if name in ("np.random.seed", "numpy.random.seed"):
        seeds.np.add(scope)
    elif name == "random.seed":
        seeds.py.add(scope)
    elif name.startswith(("np.random.", "numpy.random.")) and tail in _NP_GLOBAL:
        if not seeds.seeded(seeds.np, scope):
            add(
                "NB201",
                cell,
                f"{name}() draws from numpy's global RNG, which is never seeded in this step",
                "use rng = np.random.default_rng(seed) with a 'seed' parameter, and rng.<method>(...)",
            )
    elif name in _GENERATORS and not call.args and _is_none(_kw(call, "seed")):
        add("NB205", cell, f"{name}() is created without a seed", f"pass a seed: {name}(seed) with 'seed' a parameter")
    elif name.startswith("random.") and tail in _PY_RANDOM and name.count(".") == 1:
        if not seeds.seeded(seeds.py, scope):
            add(
                "NB202",
                cell,
                f"{name}() uses Python's global RNG, which is never seeded in this step",
                "call random.seed(seed) first, or use random.Random(seed)",
            )
    elif tail == "train_test_split":
        if _unseeded_state(call) and not _is_const(_kw(call, "shuffle"), False) and not seeds.seeded(seeds.np, scope):
            add(
                "NB204",
                cell,
                "train_test_split(...) without random_state gives a different split on every run",
                "add random_state=seed (a parameter) to train_test_split",
            )
    elif (tail in RANDOM_STATE_ESTIMATORS and takes_state(call)) or (
        tail in _SHUFFLE_SPLITTERS and _is_const(_kw(call, "shuffle"), True)
    ):
        # without random_state they draw from numpy's global generator: seeded earlier, they are reproducible
        if _unseeded_state(call) and _draws_randomly(tail, call) and not seeds.seeded(seeds.np, scope):
            add(
                "NB203",
                cell,
                f"{tail}(...) takes random_state but does not get one: results change on every run",
                f"add random_state=seed (a parameter) to {tail}(...)",
            )


def check_randomness(plan: Pipeline, cells: list[Cell], add: Add) -> None:
    """NB201-NB205 over ``cells`` (in notebook order): calls are visited in source order within each cell."""
    steps = {c.index: s.name for s in plan.steps for c in s.code_cells}
    seeds = _Scopes()
    for cell in cells:
        tree = plan.analyses[cell.index].tree
        if tree is None:
            continue
        scope = steps.get(cell.index, _SHARED)
        calls = sorted((n for n in ast.walk(tree) if isinstance(n, ast.Call)), key=lambda n: (n.lineno, n.col_offset))
        for call in calls:
            _check_call(call, cell, scope, seeds, add)
