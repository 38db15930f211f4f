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
    # a method added to a library's class (pd.Series.pct = lambda s: ...): every later frame has it
    "pd.DataFrame.",
    "pd.Series.",
    "pd.Index.",
    "pandas.DataFrame.",
    "pandas.Series.",
    "pandas.Index.",
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
    """The logger's name (``""`` for the root logger) when ``node`` is ``logging.getLogger("etl")`` with a string,
    ``__name__`` or no argument, ``logging.root``, or a name in ``loggers`` (name -> logger name)."""
    if isinstance(node, ast.Name):
        return loggers.get(node.id)
    if dotted(node) in ("logging.root", "logging.getLogger().root"):
        return ""
    if not (isinstance(node, ast.Call) and dotted(node.func) == "logging.getLogger") or node.keywords:
        return None
    if not node.args:
        return ""
    arg = node.args[0]
    if isinstance(arg, ast.Name) and arg.id == "__name__" and len(node.args) == 1:
        return "__main__"  # a notebook's kernel, and a step's, run the cells as __main__
    return arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and len(node.args) == 1 else None


def _getter(name: str) -> ast.expr:
    return ast.parse(f"logging.getLogger({name!r})" if name else "logging.getLogger()", mode="eval").body


def logger_settings(tree: ast.Module) -> list[tuple[ast.stmt, str]]:
    """(statement, its replay) for each top-level statement of ``tree`` that configures a named logger in a way
    that can be replayed: through ``logging.getLogger(...)`` itself or a name the cell bound to it before; a handler
    built inline or in a name the cell uses for nothing but ``setFormatter``/``setLevel`` and ``addHandler``."""
    cell = _LoggerCell()
    out = [(stmt, replay) for stmt in tree.body if (replay := cell.statement(stmt)) is not None]
    used = [n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in cell.seen]
    kept = {h for h in cell.seen if used.count(h) == cell.seen[h]}  # a handler used for anything else: not replayed
    return [(st, r) for st, r in out if not _handler_arg(st) or _handler_arg(st) in kept]


class _LoggerCell:
    """The loggers and handlers a cell's statements have bound so far."""

    def __init__(self) -> None:
        self.loggers: dict[str, str] = {}  # variable -> logger name
        self.handlers: dict[str, list[str]] = {}  # handler variable -> the statements that build and configure it
        self.seen: dict[str, int] = {}  # handler variable -> its uses those statements and addHandler account for

    def statement(self, stmt: ast.stmt) -> str | None:
        target = stmt.targets[0] if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 else None
        value = stmt.value if isinstance(stmt, (ast.Assign, ast.Expr)) else None
        if isinstance(target, ast.Name) and isinstance(value, ast.Call):
            if (name := logger_name(value, {})) is not None:
                self.loggers[target.id] = name
                return None
            if _is_handler(value):
                self.handlers[target.id], self.seen[target.id] = [f"_nbprod_handler = {ast.unparse(value)}"], 1
                return None
        call = value if isinstance(value, ast.Call) and isinstance(stmt, ast.Expr) else None
        func = call.func if call is not None else None
        if call and isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            h = func.value.id
            if h in self.handlers and func.attr in ("setFormatter", "setLevel", "addFilter"):
                self.handlers[h].append(f"_nbprod_handler.{ast.unparse(call)[len(h) + 1 :]}")
                self.seen[h] += 1
                return None
        for n in ast.walk(stmt):
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
                self.loggers.pop(n.id, None)
                self.handlers.pop(n.id, None)
        return _replay(stmt, self.loggers, self.handlers, self.seen)


def _is_handler(node: ast.expr) -> bool:
    """``logging.StreamHandler(sys.stdout)``, ``logging.NullHandler()``: handlers that open nothing."""
    return (
        isinstance(node, ast.Call)
        and dotted(node.func) in REPLAYED_HANDLERS
        and len(node.args) + len(node.keywords) <= 1
        and all(k.arg == "stream" for k in node.keywords)
    )


def _handler_arg(stmt: ast.stmt) -> str | None:
    """``h`` of ``logger.addHandler(h)``."""
    call = stmt.value if isinstance(stmt, ast.Expr) else None
    arg = call.args[0] if isinstance(call, ast.Call) and len(call.args) == 1 else None
    return arg.id if isinstance(arg, ast.Name) else None


def _replay(
    stmt: ast.stmt, loggers: dict[str, str], handlers: dict[str, list[str]], seen: dict[str, int]
) -> str | None:
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
    if isinstance(handler, ast.Name) and handler.id in handlers:
        built = handlers[handler.id]
        seen[handler.id] += 1
    elif _is_handler(handler):
        built = [f"_nbprod_handler = {ast.unparse(handler)}"]
    else:
        return None  # a handler that opens a file, or one made in another cell
    return "\n".join(
        [
            *built,
            "if not any(",
            '    type(h) is type(_nbprod_handler) and getattr(h, "stream", None) is getattr(_nbprod_handler, "stream", None)',
            f"    for h in {getter}.handlers",
            "):",
            f"    {getter}.addHandler(_nbprod_handler)",
            "del _nbprod_handler",
        ]
    )
