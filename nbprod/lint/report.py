"""``nbprod lint``: what breaks when a notebook goes to production, each finding naming its cell and the fix.

Imports nothing heavy (a contract in pyproject.toml and a test check it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from nbprod.lint.checks import Linter
from nbprod.notebook.findings import ERROR, WARNING, Finding
from nbprod.notebook.reader import Notebook, read_notebook
from nbprod.plan.build import build_plan
from nbprod.plan.model import Pipeline

__all__ = [
    "LintReport",
    "lint",
    "lint_notebook",
    "render_text",
    "render_json",
    "MAY_DIFFER",
    "CANNOT_RUN",
    "may_differ",
]

#: findings that mean the pipeline may compute or print something other than the notebook: ``nbprod run`` shows
#: them before it runs (never silently different), ``nbprod verify`` checks
MAY_DIFFER = (
    "NB302",
    "NB403",
    "NB404",
    "NB405",
    "NB407",
    "NB408",
    "NB409",
    "NB410",
    "NB411",
    "NB412",
    "NB413",
    "NB414",
)
#: ... and those by which it cannot run at all: ``nbprod run`` refuses before any step runs
CANNOT_RUN = ("NB409",)


@dataclass
class LintReport:
    path: str
    findings: list[Finding]
    plan: Optional[Pipeline] = None

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == WARNING]


def lint_notebook(nb: Notebook, *, split: str = "auto", name: Optional[str] = None) -> LintReport:
    plan = build_plan(nb, name=name, split=split, strict=False)
    unique = {(f.code, f.cell, f.message): f for f in Linter(nb, plan).run()}
    return LintReport(nb.path, sorted(unique.values(), key=lambda f: f.sort_key), plan)


def may_differ(plan: Pipeline) -> list[Finding]:
    """The findings of ``plan``'s notebook by which its pipeline may differ from the notebook run top to bottom."""
    found = {(f.code, f.cell, f.message): f for f in Linter(plan.notebook, plan).run() if f.code in MAY_DIFFER}
    return sorted(found.values(), key=lambda f: f.sort_key)


def lint(notebook: Union[str, Path], *, split: str = "auto", name: Optional[str] = None) -> LintReport:
    """Lint a notebook file. Raises :class:`~nbprod.errors.NotebookReadError` when it cannot be read."""
    return lint_notebook(read_notebook(notebook), split=split, name=name)


def render_text(report: LintReport) -> str:
    lines = []
    for f in report.findings:
        where = f"{report.path}:{f.cell.index}" if f.cell else report.path
        first = f" ({f.cell.first_line[:50]!r})" if f.cell and f.cell.first_line else ""
        lines.append(f"{where}{first}: {f.severity} {f.code} {f.message}")
        if f.fix:
            lines.append(f"    fix: {f.fix}")
    if report.plan is not None:
        lines += [f"note: {n}" for n in report.plan.notes]
    n_err, n_warn = len(report.errors), len(report.warnings)
    n_info = len(report.findings) - n_err - n_warn
    status = "clean" if not report.findings else f"{n_err} error(s), {n_warn} warning(s), {n_info} note(s)"
    lines.append(f"{report.path}: {status}")
    return "\n".join(lines)


def render_json(report: LintReport) -> str:
    return json.dumps(
        {
            "notebook": report.path,
            "findings": [f.to_dict() for f in report.findings],
            "summary": {"errors": len(report.errors), "warnings": len(report.warnings), "total": len(report.findings)},
        },
        indent=2,
        sort_keys=True,
    )
