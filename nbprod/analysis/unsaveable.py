"""Values that cannot be saved between steps: generators and live resources.

A step hands its values on by saving them (pickling); some values cannot be pickled at all: a generator
(``gen = (x for x in xs)``, a call of a notebook function that yields), an open file (``log = open("run.log", "w")``),
a database connection (``con = sqlite3.connect(":memory:")``) or cursor, a lock, a socket, a pool of processes. The
planner runs the ``## `` sections that share one as one step; with step tags lint refuses the pipeline (NB409).
"""

from __future__ import annotations

import ast
from typing import Iterable, Optional

from nbprod.analysis.cells import CellAnalysis
from nbprod.analysis.rng import dotted

__all__ = ["generator_functions", "unsaveable_values"]

#: calls whose result holds an operating-system resource (by the name the call is written with, or its last part)
_RESOURCES = {
    "open": "an open file",
    "io.open": "an open file",
    "gzip.open": "an open file",
    "bz2.open": "an open file",
    "lzma.open": "an open file",
    "tempfile.TemporaryFile": "an open file",
    "tempfile.NamedTemporaryFile": "an open file",
    "sqlite3.connect": "a database connection",
    "duckdb.connect": "a database connection",
    "psycopg2.connect": "a database connection",
    "pymysql.connect": "a database connection",
    "create_engine": "a database engine",
    "sqlalchemy.create_engine": "a database engine",
    "socket.socket": "a socket",
    "threading.Lock": "a lock",
    "threading.RLock": "a lock",
    "threading.Thread": "a thread",
    "multiprocessing.Pool": "a pool of processes",
    "concurrent.futures.ThreadPoolExecutor": "a pool of threads",
    "ThreadPoolExecutor": "a pool of threads",
    "ProcessPoolExecutor": "a pool of processes",
    "subprocess.Popen": "a running process",
}
#: methods whose result is a resource of its receiver's (``con.cursor()``, ``path.open()``)
_RESOURCE_METHODS = {"cursor": "a database cursor"}


def generator_functions(analyses: Iterable[CellAnalysis]) -> set[str]:
    """The notebook's functions whose body yields: calling one makes a generator."""
    out = set()
    for a in analyses:
        for node in ast.walk(a.tree) if a.tree is not None else ():
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(
                isinstance(n, (ast.Yield, ast.YieldFrom)) for n in ast.walk(node)
            ):
                out.add(node.name)
    return out


def unsaveable_values(tree: Optional[ast.AST], makers: set[str]) -> dict[str, tuple[int, str]]:
    """Names a top-level statement of ``tree`` binds to a value that cannot be pickled: name -> (line, what it is)."""
    out: dict[str, tuple[int, str]] = {}
    for stmt in tree.body if isinstance(tree, ast.Module) else ():
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            what = _kind(stmt.value, makers)
            name = stmt.targets[0].id
            if what:
                out[name] = (stmt.lineno, what)
            else:
                out.pop(name, None)
    return out


def _kind(value: ast.expr, makers: set[str]) -> str:
    if isinstance(value, ast.GeneratorExp):
        return "a generator"
    if not isinstance(value, ast.Call):
        return ""
    name = dotted(value.func)
    if isinstance(value.func, ast.Name) and name in makers:
        return "a generator"
    if name in _RESOURCES:
        return _RESOURCES[name]
    if isinstance(value.func, ast.Attribute) and value.func.attr in _RESOURCE_METHODS:
        return _RESOURCE_METHODS[value.func.attr]
    return ""
