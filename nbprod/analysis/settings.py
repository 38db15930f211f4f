"""Library settings a cell makes: process state that is not a variable and that every later cell sees.

``pd.set_option("display.width", 250)``, ``np.set_printoptions(precision=3)``, ``warnings.filterwarnings(...)``,
``plt.rcParams["figure.dpi"] = 120``, ``sklearn.set_config(...)``, ``os.environ["X"] = "1"`` (with ``time.tzset()``),
``np.seterr(...)``, ``decimal.getcontext().prec = 5``, ``sys.path.append(...)``: in one kernel they
hold for the rest of the notebook; a step in its own kernel starts without them. The planner replays the settings
of earlier steps at the start of each later step (they are idempotent, unlike a random generator's seed).
"""

from __future__ import annotations

import ast

from nbprod.analysis.rng import dotted

__all__ = ["settings_statements"]

#: calls that change a library's settings (by the name the call is written with, a module alias first)
_SETTING_CALLS = frozenset(
    """pd.set_option pandas.set_option pd.reset_option pandas.reset_option np.set_printoptions
    numpy.set_printoptions warnings.filterwarnings warnings.simplefilter plt.style.use matplotlib.style.use
    mpl.style.use plt.rcParams.update mpl.rcParams.update matplotlib.rcParams.update plt.rc mpl.rc matplotlib.rc
    sns.set sns.set_theme sns.set_style sns.set_context sns.set_palette seaborn.set_theme sklearn.set_config
    set_config logging.basicConfig pl.Config.set_tbl_cols pl.Config.set_tbl_rows np.seterr numpy.seterr
    time.tzset locale.setlocale sys.setrecursionlimit sys.path.append sys.path.insert matplotlib.use mpl.use
    decimal.setcontext setcontext""".split()
)
#: attribute or item assignments into settings: pd.options.display.width = 250, plt.rcParams["a"] = 1
_SETTING_TARGETS = (
    "pd.options.",
    "pandas.options.",
    "plt.rcParams",
    "mpl.rcParams",
    "matplotlib.rcParams",
    "os.environ",
    "decimal.getcontext().",
    "getcontext().",
)


def _target_name(node: ast.expr) -> str:
    while isinstance(node, ast.Subscript):
        node = node.value
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Call) and not node.value.args:
        return f"{dotted(node.value.func)}().{node.attr}"  # decimal.getcontext().prec = 5
    return dotted(node)


def _is_setting(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        return dotted(stmt.value.func) in _SETTING_CALLS
    if isinstance(stmt, (ast.Assign, ast.AugAssign)):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        names = [_target_name(t) for t in targets if isinstance(t, (ast.Attribute, ast.Subscript))]
        return len(names) == len(targets) and all(n.startswith(_SETTING_TARGETS) for n in names)
    return False


def settings_statements(tree: ast.Module | None, source: str) -> list[str]:
    """The source of each top-level statement of ``tree`` that changes a library's settings, in order."""
    if tree is None:
        return []
    return [seg for s in tree.body if _is_setting(s) and (seg := ast.get_source_segment(source, s))]
