"""Which calls may change their arguments or their receiver in place: the conservative mutation rule.

A name passed to a call, or used as the receiver of a method call, may be mutated by it, unless the callee is known
not to: the tables below. Being wrong in the conservative direction only costs a product (the next step loads the
value from the step that last may have changed it, which holds the same value); being wrong the other way hands the
next step a stale value, so anything not listed here counts as a mutation.
"""

from __future__ import annotations

import ast
import re
from typing import Optional

__all__ = [
    "comprehension_effects",
    "globals_mutated",
    "MUTATING_METHODS",
    "PURE_FUNCTIONS",
    "PURE_METHODS",
    "PURE_MODULES",
    "MUTATING_FUNCTIONS",
    "dotted_name",
    "call_mutates",
    "pure_import",
]

#: Methods that change their receiver in place (and not their arguments): lists, dicts, sets, arrays, estimators.
MUTATING_METHODS = frozenset(
    (
        # lists, dicts, sets
        "append extend insert pop remove clear sort reverse update setdefault popitem add discard difference_update "
        "intersection_update symmetric_difference_update "
        # estimators
        "fit partial_fit fit_transform fit_predict fit_resample set_params "
        # arrays, anything with item assignment
        "fill resize put itemset __setitem__ __delitem__ "
        # drawing: matplotlib axes and figures (what they draw from is not changed)
        "plot hist bar barh scatter imshow pie boxplot errorbar fill_between axhline axvline text annotate legend "
        "grid set set_title set_xlabel set_ylabel set_xlim set_ylim set_xticks set_yticks set_xticklabels "
        "set_yticklabels suptitle tight_layout add_subplot subplots colorbar"
    ).split()
)

#: Builtins that never change their arguments (``next``, ``setattr``, ``delattr``, ``exec``, ``iter`` are not here).
PURE_FUNCTIONS = frozenset(
    (
        "abs all any ascii bin bool bytearray bytes callable chr complex dict dir divmod enumerate filter float format "
        "frozenset getattr hasattr hash hex id int isinstance issubclass len list map max min object oct ord pow print "
        "range repr reversed round set slice sorted str sum tuple type zip display vars super open"
    ).split()
)

#: Methods that only read their receiver: ``str`` methods, the read side of containers, and the common read-only
#: verbs of numpy, pandas, scikit-learn and matplotlib (a method not listed, e.g. ``rng.normal``, may mutate).
#: Drawing verbs are not here: ``ax.plot``, ``ax.set_title``, ``ax.legend`` change the axes (and its figure), and
#: a ``df.plot()`` read as a change of ``df`` costs one more save, where the reverse would lose the drawing.
PURE_METHODS = frozenset(
    {m for m in dir(str) if not m.startswith("_")}
    | set(
        (
            "copy count index get keys values items "
            "head tail describe info mean median mode sum prod std var min max nunique unique value_counts groupby "
            "agg aggregate apply map applymap transform astype drop dropna fillna merge join query sort_values "
            "sort_index reset_index set_index rename to_numpy to_list tolist to_dict to_frame to_csv to_parquet "
            "to_json reshape ravel flatten squeeze transpose any all isna notna isnull notnull round clip cumsum "
            "corr cov select_dtypes dot argmax argmin idxmax idxmin quantile between isin where mask replace "
            "duplicated drop_duplicates nlargest nsmallest pivot pivot_table melt concat assign pipe filter sample "
            "predict predict_proba predict_log_proba decision_function score inverse_transform get_params "
            "get_feature_names_out savefig show exists is_file is_dir read_text read_bytes resolve"
        ).split()
    )
)

#: Modules whose functions take values and return new ones (module-level functions; their in-place exceptions are
#: in :data:`MUTATING_FUNCTIONS`).
PURE_MODULES = frozenset(
    "math statistics cmath operator json re os os.path pathlib np numpy pd pandas sklearn scipy itertools "
    "functools collections string textwrap datetime time copy pprint plt matplotlib sns seaborn".split()
)

#: Module functions that change an argument in place (by dotted name as written, with common aliases).
MUTATING_FUNCTIONS = frozenset(
    (
        "heapq.heappush heapq.heappop heapq.heapify heapq.heapreplace heapq.heappushpop heappush heappop heapify "
        "heapreplace heappushpop random.shuffle shuffle bisect.insort bisect.insort_left bisect.insort_right insort "
        "np.random.shuffle numpy.random.shuffle np.copyto numpy.copyto np.put numpy.put np.place numpy.place "
        "np.fill_diagonal numpy.fill_diagonal np.random.set_state numpy.random.set_state setattr delattr next"
    ).split()
)


def dotted_name(node: ast.AST) -> Optional[str]:
    """``a.b.c`` for a chain of attributes on a name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _capitalised(name: str) -> bool:
    """A CapWords callee is a class: constructing an object does not change what it is given."""
    last = name.rsplit(".", 1)[-1]
    return last[:1].isupper() and not last.isupper()


def pure_import(statement: str) -> bool:
    """True for ``from <module of PURE_MODULES> import f`` (a function of a value library, not an in-place one) and
    for ``import <module of PURE_MODULES> [as m]``, ``from <module> import <submodule>`` (``stats.ttest_ind(a, b)``)."""
    m = re.match(r"import ([\w.]+)(?: as \w+)?$", statement)
    if m is not None:
        return m.group(1).split(".")[0] in PURE_MODULES
    m = re.match(r"from ([\w.]+) import (\w+)", statement)
    return m is not None and m.group(1).split(".")[0] in PURE_MODULES and m.group(2) not in MUTATING_FUNCTIONS


def call_mutates(call: ast.Call) -> tuple[bool, bool]:
    """(may mutate the arguments, may mutate the receiver) of ``call`` by the rule above. For a call of a bare name
    that is not a builtin or a class, the arguments' fate depends on where the name comes from: see
    :func:`pure_import` (the planner decides, knowing every cell's imports)."""
    func = call.func
    name = dotted_name(func)
    if name is not None and name in MUTATING_FUNCTIONS:
        return True, False
    if isinstance(func, ast.Name):
        return not (func.id in PURE_FUNCTIONS or _capitalised(func.id)), False
    if not isinstance(func, ast.Attribute):
        return True, False
    if name is not None and name.split(".")[0] in PURE_MODULES:
        return False, False
    # by convention get_*/is_*/has_* methods only read (ax.get_title(), rng.get_state(), path.is_relative_to(...))
    reads = func.attr in PURE_METHODS or func.attr.startswith(("get_", "is_", "has_"))
    receiver = not reads
    args = not (reads or func.attr in MUTATING_METHODS or _capitalised(func.attr))
    return args, receiver


def root_name(node: ast.AST) -> Optional[str]:
    """The name an expression hangs from: ``df`` for ``df["a"].values``, ``rng`` for ``rng.normal(0)``."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


#: keyword arguments whose value the call changes: what it draws on
_ADVANCED = frozenset({"ax", "axes"})


def _drawn_on(call: ast.Call) -> list[ast.AST]:
    """``df.plot(ax=ax)``, ``sns.histplot(df, ax=axes[1])``: what is drawn on changes, whatever draws on it."""
    return [k.value for k in call.keywords if k.arg in _ADVANCED and root_name(k.value) is not None]


def call_effects(call: ast.Call, imports: dict[str, str]) -> tuple[list[ast.AST], list[ast.AST], list[tuple[str, str]]]:
    """What one call may change: (receivers, arguments, (argument root, bare callee) pairs left to the planner).

    ``imports`` are the cell's own imports: a bare callee imported here is decided at once.
    """
    func = call.func
    args_mutated, receiver_mutated = call_mutates(call)
    receivers: list[ast.AST] = []
    if isinstance(func, ast.Attribute):
        inplace = any(
            k.arg == "inplace" and isinstance(k.value, ast.Constant) and k.value.value is True for k in call.keywords
        )
        if func.attr in MUTATING_METHODS or inplace or receiver_mutated:
            receivers.append(func.value)
        if func.attr == "shuffle" and call.args:
            receivers.append(call.args[0])
    receivers += _drawn_on(call)
    mutated: list[ast.AST] = []
    passed: list[tuple[str, str]] = []
    if not args_mutated:
        return receivers, mutated, passed
    bare = func.id if isinstance(func, ast.Name) and func.id not in MUTATING_FUNCTIONS else None
    name = dotted_name(func)
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and name not in MUTATING_FUNCTIONS:
        bare = func.value.id  # stats.ttest_ind(a, b): decided by what ``stats`` is (a module of a value library?)
    for a in [*call.args, *(k.value for k in call.keywords)]:
        a = a.value if isinstance(a, ast.Starred) else a
        root = root_name(a) if isinstance(a, (ast.Name, ast.Attribute, ast.Subscript)) else None
        if root is None:
            continue
        if bare is None or (bare in imports and not pure_import(imports[bare])):
            mutated.append(a)
        elif bare not in imports:
            passed.append((root, bare))
    return receivers, mutated, passed


def globals_mutated(node: ast.AST, free: set[str]) -> set[str]:
    """The free names (globals) a function may change in place when it runs: ``history.append(x)``,
    ``cache[key] = v``, ``cfg.seen += 1``, ``del registry[k]``, an argument to a call that may change it; also in the
    functions it defines (a decorator's wrapper changes what the decorator's closure reads)."""
    roots: list[Optional[str]] = []
    for n in ast.walk(node):
        if isinstance(n, ast.Call):
            receivers, mutated, passed = call_effects(n, {})
            roots += [root_name(r) for r in receivers + mutated] + [root for root, _ in passed]
        elif isinstance(n, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = n.targets if isinstance(n, (ast.Assign, ast.Delete)) else [n.target]
            roots += [root_name(t) for t in targets if isinstance(t, (ast.Subscript, ast.Attribute))]
    return {r for r in roots if r is not None} & free


def comprehension_effects(
    node: ast.AST, free: set[str], imports: dict[str, str]
) -> tuple[list[ast.AST], list[tuple[str, str]], set[str]]:
    """What a comprehension changes of the names around it (``free``) when it runs: (changed expressions, (argument
    root, bare callee) pairs left to the planner, bare names it calls)."""
    changed: list[ast.AST] = []
    passed: list[tuple[str, str]] = []
    calls: set[str] = set()
    for call in (c for c in ast.walk(node) if isinstance(c, ast.Call)):
        if isinstance(call.func, ast.Name):
            calls.add(call.func.id)
        receivers, mutated, handed = call_effects(call, imports)
        changed += [m for m in receivers + mutated if root_name(m) in free]
        passed += [(root, callee) for root, callee in handed if root in free]
    return changed, passed, calls
