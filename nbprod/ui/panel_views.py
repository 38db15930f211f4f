"""What each tab of the panel shows: pure functions from the plan and the reports to HTML (easy to test)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Optional

from nbprod.errors import NbprodError
from nbprod.events import EventKind, StepEvent
from nbprod.views.events_text import event_text

if TYPE_CHECKING:
    from nbprod.lint import LintReport
    from nbprod.plan.model import Pipeline
    from nbprod.workflow.run import RunResult
    from nbprod.workflow.verify import VerifyReport

__all__ = ["steps_html", "lint_html", "lint_summary", "event_line", "result_html", "verify_html", "error_html", "pre"]

_E = html.escape
_TABLE = "style='border-collapse:collapse;font-size:12px' cellpadding='3' border='1'"
COLORS = {"error": "#b42318", "warning": "#b54708", "info": "#475467", "ok": "#1a7f37"}
_COLORS = COLORS


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def pre(text: str, color: Optional[str] = None) -> str:
    style = "white-space:pre-wrap;margin:0" + (f";color:{color}" if color else "")
    return f"<pre style='{style}'>{_E(text)}</pre>"


def _table(head: list[str], rows: list[list[str]], empty: str) -> str:
    if not rows:
        return f"<p><i>{_E(empty)}</i></p>"
    th = "".join(f"<th style='text-align:left'>{_E(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{_E(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table {_TABLE}><tr>{th}</tr>{body}</table>"


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, NbprodError):
        return exc.render()
    return f"unexpected error ({type(exc).__name__}): {exc}"


def steps_html(plan: Pipeline) -> str:
    """Every code cell with its step (or role) and tags; then the data flowing on each edge."""
    owner: dict[int, str] = {}
    for step in plan.steps:
        for c in step.code_cells:
            owner[c.index] = step.name
    for kind, cells in plan.shared.items():
        for c in cells:
            owner.setdefault(c.index, f"({kind}: shared)")
    for cells, label in ((plan.parameter_cells, "(parameters)"), (plan.skipped, "(skip)"), (plan.outside, "(no step)")):
        for c in cells:
            owner.setdefault(c.index, label)
    rows = [
        [str(c.index), _clip(c.first_line), owner.get(c.index, ""), ", ".join(str(t) for t in c.tags)]
        for c in plan.notebook.cells
        if c.is_code
    ]
    edges = [
        [producer, consumer, ", ".join(names) if names else "(ordering only: after:)"]
        for producer, consumer, names in plan.edges
    ]
    notes = "".join(f"<li>{_E(n)}</li>" for n in plan.notes)
    return (
        f"<b>pipeline {_E(plan.name)}</b>: {len(plan.steps)} steps ({_E(' -> '.join(s.name for s in plan.steps))})"
        + _table(["cell", "first line", "step", "tags"], rows, "no code cells")
        + "<p><b>data between steps</b></p>"
        + _table(["from step", "to step", "data"], edges, "no data flows between steps")
        + (f"<p><b>notes</b></p><ul>{notes}</ul>" if notes else "")
    )


def lint_summary(findings: list) -> str:
    if not findings:
        return "lint: clean, no findings"
    counts = {sev: sum(1 for f in findings if f.severity == sev) for sev in ("error", "warning", "info")}
    return "lint: " + ", ".join(f"{n} {sev}(s)" for sev, n in counts.items() if n)


def lint_html(report: LintReport) -> str:
    findings = sorted(report.findings, key=lambda f: f.sort_key)
    color = _COLORS["error"] if report.errors else _COLORS["warning"] if findings else _COLORS["ok"]
    rows = [
        [str(f.cell) if f.cell is not None else "(notebook)", f.severity, f.code, f.message, f.fix or ""]
        for f in findings
    ]
    return f"<p style='color:{color}'><b>{_E(lint_summary(findings))}</b></p>" + _table(
        ["cell", "severity", "code", "finding", "fix"], rows, "nothing to fix"
    )


def event_line(e: StepEvent) -> str:
    """One log line per event, worded like the CLI."""
    indent = "  " if e.kind in (EventKind.GATE, EventKind.GATE_FAILED) else ""
    return indent + event_text(e, with_cause=True)


def result_html(result: RunResult) -> str:
    """Gates and metrics (against their requirements) of a finished run."""
    gates = [
        [
            g.variable,
            g.step,
            "passed" if g.success else "FAILED",
            str(len(g.outcomes)),
            str(len(g.failed)),
            str(len(g.warnings)),
            g.report_html,
        ]
        for g in result.gates
    ]
    reqs = {o.metric: o for o in result.requirements}
    metrics = []
    for name, value in sorted(result.metrics.items()):
        o = reqs.get(name)
        check = f"{o.requirement}: {'passed' if o.passed else 'FAILED'}" if o else ""
        metrics.append([name, f"{value:.4g}" if isinstance(value, (int, float)) else str(value), check])
    head = f"<p><b>done</b>: {len(result.ran)} ran, {len(result.skipped)} up to date</p>"
    return (
        head
        + "<p><b>gates</b></p>"
        + _table(["variable", "step", "result", "expectations", "failed", "warnings", "report"], gates, "no data gates")
        + "<p><b>metrics</b></p>"
        + _table(["metric", "value", "requirement"], metrics, "no metrics")
    )


def error_html(exc: BaseException) -> str:
    return pre(_error_text(exc), COLORS["error"])


def verify_html(report: VerifyReport) -> str:
    """``nbprod verify``: the verdict, the first divergence with its cells and likely cause, a row per step."""
    if report.equal:
        head = f"<p style='color:{COLORS['ok']}'><b>the pipeline equals the notebook</b>: every value handed on"
        head += (
            " and every printed output matched</p>" if report.printed else " matched (printed output not compared)</p>"
        )
    else:
        head = f"<p style='color:{COLORS['error']}'><b>the pipeline differs from the notebook</b></p>"
        if report.first_divergence is not None:
            head += pre(report.first_divergence.render(), COLORS["error"])
    rows = []
    for s in report.steps:
        if s.failed:
            verdict = f"failed: {s.failed}"
        elif not s.ran:
            verdict = "did not run"
        else:
            verdict = "equal" if s.ok else "DIFFERENT"
        different = ", ".join(f"{n} ({how})" for n, how in sorted(s.different.items()))
        printed = f"{len(s.printed_equal)} equal" + (
            f", {len(s.printed_different)} different" if s.printed_different else ""
        )
        rows.append([s.name, verdict, ", ".join(s.equal) or "-", different or "-", printed])
    return head + _table(["step", "verdict", "values equal", "values different", "printed cells"], rows, "no steps")
