"""Expectation suites as canonical, reviewable JSON: ``expectations/<pipeline>/<variable>.json``.

GX's own expectation types and kwargs, no random ids, sorted keys, stable order. Loading checks the
structure without importing Great Expectations; the types are checked against GX when a gate validates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from nbprod._core.fsutil import atomic_write_text
from nbprod._core.hashing import json_sha256
from nbprod._core.layout import ProjectLayout
from nbprod.errors import SuiteError

__all__ = [
    "Suite",
    "suite_path",
    "load_suite",
    "dump_suite",
    "write_suite",
    "expectations_digest",
    "SEVERITIES",
]

SEVERITIES = ("critical", "warning", "info")


def expectations_digest(expectations: list[Any]) -> str:
    """The digest of a suite's expectations (canonical JSON): how ``nbprod expect`` recognises its own proposal."""
    return json_sha256(expectations)


@dataclass
class Suite:
    name: str
    expectations: list[dict[str, Any]]
    meta: dict[str, Any]
    path: str

    def to_gx(self) -> dict[str, Any]:
        """Keyword arguments for ``gx.ExpectationSuite`` (name, expectations, meta)."""
        return {"name": self.name, "expectations": [dict(e) for e in self.expectations], "meta": dict(self.meta)}


def suite_path(project: Union[str, Path], pipeline: str, variable: str) -> Path:
    return ProjectLayout(project).suite(pipeline, variable)


def _describe(i: int, exp: Any) -> str:
    kind = exp.get("type") if isinstance(exp, dict) else None
    column = (
        exp.get("kwargs", {}).get("column") if isinstance(exp, dict) and isinstance(exp.get("kwargs"), dict) else None
    )
    return f"expectation {i}" + (f" ({kind}" + (f" on column {column!r}" if column else "") + ")" if kind else "")


def load_suite(path: Union[str, Path], *, shown: str = "", run_hint: str = "") -> Suite:
    p = Path(path)
    shown = shown or str(path)
    if not p.exists():
        raise SuiteError(
            "the expectation suite does not exist",
            path=shown,
            fix=run_hint
            or "run `nbprod expect <notebook>` after a good run to propose a starter suite, then review it",
        )
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise SuiteError("the suite is not UTF-8 text", path=shown, fix="save it as UTF-8 JSON") from None
    except json.JSONDecodeError as exc:
        raise SuiteError(
            f"the suite is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
            path=shown,
            fix="repair the JSON (a trailing comma or a missing quote?), or regenerate it with `nbprod expect --force`",
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("expectations"), list):
        raise SuiteError(
            "the suite must be a JSON object with an 'expectations' list",
            path=shown,
            fix='write {"name": ..., "expectations": [{"type": ..., "kwargs": {...}}]}',
        )
    for i, exp in enumerate(data["expectations"]):
        if not isinstance(exp, dict) or not isinstance(exp.get("type"), str) or not exp["type"].startswith("expect_"):
            raise SuiteError(
                f"{_describe(i, exp)} has no valid 'type' "
                "(an expectation name such as 'expect_column_values_to_not_be_null')",
                path=shown,
                fix="give every expectation a GX expectation type and a 'kwargs' object",
            )
        if not isinstance(exp.get("kwargs", {}), dict):
            raise SuiteError(
                f"{_describe(i, exp)}: 'kwargs' must be an object", path=shown, fix='write "kwargs": {...}'
            )
        severity = exp.get("severity", "critical")
        if severity not in SEVERITIES:
            raise SuiteError(
                f"{_describe(i, exp)}: severity {severity!r} is not one of {', '.join(SEVERITIES)}",
                path=shown,
                fix="use 'critical' (fails the gate) or 'warning' (reported only)",
            )
        unknown = set(exp) - {"type", "kwargs", "severity", "meta", "notes", "description"}
        if unknown:
            raise SuiteError(
                f"{_describe(i, exp)}: unknown field(s) {', '.join(sorted(unknown))}",
                path=shown,
                fix="an expectation holds type, kwargs, severity and optionally meta/notes",
            )
    name: str = data["name"] if isinstance(data.get("name"), str) else p.stem
    meta: dict[str, Any] = data["meta"] if isinstance(data.get("meta"), dict) else {}
    return Suite(name, data["expectations"], meta, shown)


def dump_suite(suite: dict[str, Any]) -> str:
    """Canonical JSON: sorted keys, two-space indent, trailing newline."""
    return json.dumps(suite, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_suite(path: Path, text: str) -> None:
    atomic_write_text(path, text)
