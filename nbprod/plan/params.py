"""Pipeline parameters: read from the notebook's ``parameters`` cells, overridden from the command line.

The ``parameters`` cells hold ``name = literal`` lines; the values become the pipeline's defaults. ``-p name=value``
on the command line overrides them, typed after the notebook's defaults. A parameters cell may also derive values
(``n_test = int(n_rows * test_fraction)``, ``DATA = Path("data") / name``) and import what it needs for that: those
statements are *derived*, not parameters; every step that uses a derived name runs them right after its parameters
(so a derived value follows a ``-p`` override, which papermill's injected cell does not do).
"""

from __future__ import annotations

import ast
import difflib
from typing import Any, Collection, Optional

from nbprod.analysis.cells import CellAnalysis
from nbprod.errors import UsageError
from nbprod.notebook.reader import Cell
from nbprod.plan.model import RESERVED_NAMES, Pipeline
from nbprod.plan.report import Report

__all__ = ["read_parameters", "derived_statements", "parameters_read", "parse_assignments", "apply_overrides"]


def _plain_value(value: Any) -> bool:
    """A parameter value that YAML, JSON and ``repr`` all round-trip: finite numbers, str, bool, None, lists, str-keyed
    dicts."""
    if value is None or isinstance(value, (bool, int, str)):
        return True
    if isinstance(value, float):
        return value == value and value not in (float("inf"), float("-inf"))
    if isinstance(value, list):
        return all(_plain_value(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain_value(v) for k, v in value.items())
    return False


def read_parameters(cells: list[Cell], analyses: dict[int, CellAnalysis], report: Report) -> dict[str, Any]:
    """The parameters assigned in ``cells`` (the ``parameters`` cells), in order; problems go to ``report``."""
    parameters: dict[str, Any] = {}
    for cell in cells:
        a = analyses[cell.index]
        if a.tree is None:
            continue
        derived = {id(d) for d in derived_statements(a)}
        for stmt in a.tree.body:
            if id(stmt) in derived:
                continue
            if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
                found = _parameter(stmt, cell, a, report)
                if found is not None:
                    parameters[found[0]] = found[1]
            elif not isinstance(stmt, ast.Expr) or not isinstance(getattr(stmt, "value", None), ast.Constant):
                report.add_finding(
                    "NB020",
                    "the parameters cell may hold only assignments (and the imports they need)",
                    cell,
                    "move other code into a step",
                )
    return parameters


def _literal(node: ast.expr) -> bool:
    try:
        ast.literal_eval(node)
        return True
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False


def derived_statements(a: CellAnalysis) -> list[ast.stmt]:
    """The statements of a parameters cell that derive values instead of setting them: ``name = <expression that is
    not a literal>`` and imports."""
    if a.tree is None:
        return []
    out: list[ast.stmt] = []
    for stmt in a.tree.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            out.append(stmt)
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            if len(targets) == 1 and isinstance(targets[0], ast.Name) and not _literal(stmt.value):
                out.append(stmt)
    return out


def _parameter(
    stmt: ast.Assign | ast.AnnAssign, cell: Cell, a: CellAnalysis, report: Report
) -> Optional[tuple[str, Any]]:
    """(name, value) of one assignment in a parameters cell, or None (reported) when it cannot be a parameter."""
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
    if len(targets) != 1 or not isinstance(targets[0], ast.Name) or stmt.value is None:
        report.add_finding(
            "NB020", "parameters must be simple assignments 'name = value'", cell, "write one 'name = literal' per line"
        )
        return None
    name = targets[0].id
    try:
        value = ast.literal_eval(stmt.value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        report.add_finding(
            "NB020",
            f"parameter {name!r} is not a literal ({ast.get_source_segment(a.cleaned, stmt.value)})",
            cell,
            "parameters must be literals (numbers, strings, booleans, None, lists, dicts): compute derived values in "
            "a step",
        )
        return None
    if not _plain_value(value):
        report.add_finding(
            "NB020",
            f"parameter {name!r} = {value!r} is not a plain value",
            cell,
            "use finite numbers, strings, booleans, None, and lists or dicts with string keys of those "
            "(the value is written to pipeline.yaml and passed on the command line)",
        )
        return None
    if name in RESERVED_NAMES:
        report.add_finding(
            "NB021",
            f"parameter name {name!r} is reserved by the generated task scripts",
            cell,
            f"rename it (e.g. '{name}_'); reserved: {', '.join(sorted(RESERVED_NAMES))}",
        )
        return None
    return name, value


def parameters_read(cell: Cell, a: CellAnalysis, parameters: Collection[str]) -> list[str]:
    """The parameters the derived statements of a parameters cell read (the cell also sets them: not free names)."""
    if not cell.has("parameters"):
        return []
    read = {n.id for s in derived_statements(a) for n in ast.walk(s) if isinstance(n, ast.Name)}
    return sorted(read & set(parameters))


def parse_assignments(items: list[str]) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}``; a malformed item is a :class:`UsageError`."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"-p {item!r} is not name=value", fix="write -p name=value, e.g. -p n_estimators=300")
        out[name.strip()] = value
    return out


def _convert(name: str, raw: str, default: Any) -> Any:
    kind = type(default).__name__
    try:
        if isinstance(default, bool):
            low = raw.strip().lower()
            if low in ("true", "1", "yes", "on"):
                return True
            if low in ("false", "0", "no", "off"):
                return False
            raise ValueError
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            value = float(raw)
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError
            return value
        if isinstance(default, str):
            return raw
        value = ast.literal_eval(raw)
        if default is not None and type(value) is not type(default):
            raise ValueError
        return value
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise UsageError(
            f"parameter {name!r} expects {kind} (default {default!r}), got {raw!r}",
            fix=f"pass a {kind}, e.g. -p {name}={default!r}",
        ) from None


def apply_overrides(plan: Pipeline, overrides: dict[str, str]) -> dict[str, Any]:
    """Typed overrides for ``plan``'s parameters; unknown names are a :class:`UsageError` with a did-you-mean."""
    typed: dict[str, Any] = {}
    for name, raw in overrides.items():
        if name not in plan.parameters:
            guess = difflib.get_close_matches(name, list(plan.parameters), n=1)
            known = ", ".join(plan.parameters) or "(none: the notebook has no cell tagged 'parameters')"
            raise UsageError(
                f"unknown parameter {name!r}" + (f"; did you mean {guess[0]!r}?" if guess else ""),
                path=plan.notebook.path,
                fix=f"parameters of this notebook: {known}",
            )
        typed[name] = _convert(name, raw, plan.parameters[name])
    return typed
