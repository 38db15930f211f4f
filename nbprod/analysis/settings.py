"""Library settings a cell makes: process state that is not a variable and that every later cell sees.

``pd.set_option("display.width", 250)``, ``np.set_printoptions(precision=3)``, ``warnings.filterwarnings(...)``,
``plt.rcParams["figure.dpi"] = 120``, ``sklearn.set_config(...)``, ``os.environ["X"] = "1"`` (with ``time.tzset()``),
``np.seterr(...)``, ``decimal.getcontext().prec = 5``, ``sys.path.append(...)``: in one kernel they
hold for the rest of the notebook; a step in its own kernel starts without them. The planner replays the settings
of earlier steps at the start of each later step (they are idempotent, unlike a random generator's seed).

A named logger's configuration is a setting too (:func:`logger_settings`): ``logger = logging.getLogger("etl")``
then ``logger.setLevel(...)``, ``logger.addHandler(logging.StreamHandler(sys.stdout))``, ``logger.propagate = False``
in one cell are replayed as ``logging.getLogger("etl").setLevel(...)`` (the name itself is not bound again: a later
step may have rebound it), a handler only when the logger has none of its kind and stream yet (in-process steps share
the logging module, whose logger already has it). A logging call (``logger.info``) is never replayed: it prints.
"""

from __future__ import annotations

import ast

from nbprod.analysis.rng import dotted

__all__ = ["settings_statements", "logger_settings", "logger_name", "LOGGER_CONFIG", "REPLAYED_HANDLERS"]

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
    replayed = dict(logger_settings(tree))
    out = []
    for s in tree.body:
        if s in replayed:
            out.append(replayed[s])
        elif _is_setting(s) and (seg := ast.get_source_segment(source, s)):
            out.append(seg)
    return out


#: logger methods and attributes that configure it (``setLevel``, ``propagate = False``), not log
LOGGER_CONFIG = frozenset("setLevel addHandler removeHandler addFilter removeFilter propagate disabled".split())
#: handlers replayed when built inline in ``addHandler(...)``: a file handler would open its file again
REPLAYED_HANDLERS = frozenset("StreamHandler logging.StreamHandler NullHandler logging.NullHandler".split())


def logger_name(node: ast.expr, loggers: dict[str, str]) -> str | None:
    """The logger's name (``""`` for the root logger) when ``node`` is ``logging.getLogger("etl")`` with a string
    or no argument, ``logging.root``, or a name in ``loggers`` (name -> logger name)."""
    if isinstance(node, ast.Name):
        return loggers.get(node.id)
    if dotted(node) in ("logging.root", "logging.getLogger().root"):
        return ""
    if not (isinstance(node, ast.Call) and dotted(node.func) == "logging.getLogger") or node.keywords:
        return None
    if not node.args:
        return ""
    arg = node.args[0]
    return arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and len(node.args) == 1 else None


def _getter(name: str) -> ast.expr:
    return ast.parse(f"logging.getLogger({name!r})" if name else "logging.getLogger()", mode="eval").body


def logger_settings(tree: ast.Module) -> list[tuple[ast.stmt, str]]:
    """(statement, its replay) for each top-level statement of ``tree`` that configures a named logger in a way
    that can be replayed: through ``logging.getLogger(...)`` itself or a name the cell bound to it before."""
    loggers: dict[str, str] = {}
    out = []
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            name = logger_name(stmt.value, {})
            if name is not None and isinstance(stmt.value, ast.Call):
                loggers[stmt.targets[0].id] = name
                continue
        for n in ast.walk(stmt):
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
                loggers.pop(n.id, None)
        replay = _replay(stmt, loggers)
        if replay is not None:
            out.append((stmt, replay))
    return out


def _replay(stmt: ast.stmt, loggers: dict[str, str]) -> str | None:
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        target = stmt.targets[0]
        if isinstance(target, ast.Attribute) and target.attr in ("propagate", "disabled"):
            name = logger_name(target.value, loggers)
            if name is not None and isinstance(stmt.value, ast.Constant):
                return f"{ast.unparse(_getter(name))}.{target.attr} = {stmt.value.value!r}"
        return None
    if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)):
        return None
    call = stmt.value
    func = call.func
    if not isinstance(func, ast.Attribute) or func.attr not in ("setLevel", "addHandler") or call.keywords:
        return None
    name = logger_name(func.value, loggers)
    if name is None or len(call.args) != 1:
        return None
    getter = ast.unparse(_getter(name))
    if func.attr == "setLevel":
        return f"{getter}.setLevel({ast.unparse(call.args[0])})"
    handler = call.args[0]
    if not (isinstance(handler, ast.Call) and dotted(handler.func) in REPLAYED_HANDLERS and len(handler.args) <= 1):
        return None  # a handler made before: it may have been given a formatter, a level, a file...
    return (
        f"_nbprod_handler = {ast.unparse(handler)}\n"
        "if not any(\n"
        '    type(h) is type(_nbprod_handler) and getattr(h, "stream", None) is getattr(_nbprod_handler, "stream", None)\n'
        f"    for h in {getter}.handlers\n"
        "):\n"
        f"    {getter}.addHandler(_nbprod_handler)\n"
        "del _nbprod_handler"
    )
