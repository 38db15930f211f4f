"""``nbprod review``: one self-contained HTML report and a terminal summary for the MLOps reviewer.

The DAG as an inline SVG, what changed since the last approval (a readable diff of the generated files, the suites
and the model card), lint findings, gate results, metrics against thresholds, model-card completeness and the
approval status. Reads only files and the local stores; changes nothing but the report it writes under ``.nbprod/``.
"""

from __future__ import annotations

import difflib
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

from nbprod._core.fsutil import atomic_write_text
from nbprod.gates.model import check_requirements
from nbprod.views.dag_svg import render_svg
from nbprod.workflow.approval import card_warnings, check_workspace, current_digests, readiness
from nbprod.workflow.release import CANARY_ACTIONS, canary_line, history
from nbprod.workflow.workspace import Workspace

__all__ = ["ReviewReport", "review"]


@dataclass
class ReviewReport:
    pipeline: str
    html_path: Path
    approval: str
    approval_message: str
    changed: list[str]
    lint: list
    gates: list[dict]
    metrics: list[tuple[str, float, Optional[str], Optional[bool]]]
    missing_card_fields: list[str]
    blockers: list[str] = field(default_factory=list)
    #: "complete", "incomplete", "not packaged" (a model, but no card yet) or "no model"
    card_state: str = "complete"
    #: missing card fields that do not block approval ([tool.nbprod] approval-card-fields lists those that do)
    card_warnings: list[str] = field(default_factory=list)
    #: the canary events of the release history (nbprod serve --canary), one line each, oldest first
    canary: list[str] = field(default_factory=list)

    @property
    def card_text(self) -> str:
        if self.card_state == "incomplete":
            return "missing " + ", ".join(f"card:{m}" for m in self.missing_card_fields)
        return {"not packaged": "not written yet: package the model first", "no model": "none (no model: tag)"}.get(
            self.card_state, "complete"
        )

    def summary_text(self) -> str:
        lines = [
            f"review of pipeline {self.pipeline}: {self.html_path}",
            f"  approval: {self.approval}" + (f" ({self.approval_message})" if self.approval_message else ""),
        ]
        lines += [f"    changed: {c}" for c in self.changed]
        errors = [f for f in self.lint if f.severity == "error"]
        lines.append(f"  lint: {len(errors)} error(s), {len(self.lint) - len(errors)} other finding(s)")
        for g in self.gates:
            lines.append(
                f"  gate {g['variable']}: {gate_state(g)}"
                + (f" ({len(g['outcomes'])} expectations)" if g.get("ran", True) else "")
            )
        for name, value, req, passed in self.metrics:
            lines.append(
                f"  metric {name} = {value:.4g}"
                + (f" (require {req}: {'passed' if passed else 'FAILED'})" if req else "")
            )
        lines.append(f"  model card: {self.card_text}")
        if self.card_warnings:
            lines.append("    (not required for approval: " + ", ".join(f"card:{m}" for m in self.card_warnings) + ")")
        lines += [f"  canary: {c}" for c in self.canary]
        lines.append("  ready to approve" if not self.blockers else "  not ready to approve:")
        lines += [f"    - {b}" for b in self.blockers]
        return "\n".join(lines)


def gate_state(g: dict) -> str:
    """passed, FAILED, or "not run yet" for a gate that has no result (it did not fail: nothing was checked)."""
    if not g.get("ran", True):
        return "not run yet"
    return "passed" if g["success"] else "FAILED"


def _card_state(ws: Workspace, card: Optional[dict]) -> str:
    if not any(s.model for s in ws.plan.steps):
        return "no model"
    if card is None:
        return "not packaged"
    return "incomplete" if card.get("missing_human_fields") else "complete"


def _diffs(ws: Workspace, changed_files: list[str]) -> list[tuple[str, str]]:
    base, project = ws.layout.approved_copy(ws.pipeline), ws.project
    out = []
    for rel in changed_files:
        old = base / rel
        new = project / rel
        old_lines = old.read_text(errors="replace").splitlines(True) if old.exists() else []
        new_lines = new.read_text(errors="replace").splitlines(True) if new.exists() else []
        diff = "".join(difflib.unified_diff(old_lines, new_lines, f"approved/{rel}", rel, n=2))
        out.append((rel, diff or "(no local copy of the approved version: see the pull request diff)"))
    return out


def _gates(ws: Workspace) -> list[dict]:
    out = []
    for step in ws.plan.steps:
        for var in step.gates:
            result = ws.last_gate_result(var)
            if result is None:
                absent = {
                    "success": False,
                    "ran": False,
                    "outcomes": [],
                    "report_html": "(no result: run the pipeline)",
                }
                out.append({"variable": var, **absent})
            else:
                out.append({**result.to_dict(), "ran": True})
    return out


def _metrics(ws: Workspace) -> list[tuple[str, float, Optional[str], Optional[bool]]]:
    metrics = []
    for step in ws.plan.steps:
        values = ws.metrics(step.name)
        reqs = {o.metric: o for o in check_requirements(step, values)}
        for m, v in sorted(values.items()):
            o = reqs.get(m)
            metrics.append((m, v, o.requirement if o else None, o.passed if o else None))
    return metrics


def review(
    notebook: Union[str, Path], *, project: Union[str, Path] = ".", name: Optional[str] = None, split: str = "auto"
) -> ReviewReport:
    """Write ``.nbprod/review/<pipeline>.html`` and return its summary; the plan is built once."""
    ws = Workspace(notebook, project=project, name=name, split=split)
    plan = ws.plan
    verdict = check_workspace(ws)
    card = ws.model_card()
    changed_files = [
        c.rsplit(" (", 1)[0] for c in verdict.changed if "(notebook content)" not in c and not c.startswith("model/")
    ]
    if verdict.state in ("none", "rejected"):
        changed_files = sorted(current_digests(ws)["files"])
    report = ReviewReport(
        plan.name,
        ws.layout.review_html(plan.name),
        verdict.state,
        verdict.message,
        verdict.changed,
        ws.lint_report.findings,
        _gates(ws),
        _metrics(ws),
        (card or {}).get("missing_human_fields", []),
        readiness(ws),
        _card_state(ws, card),
        card_warnings(ws),
        [canary_line(e) for e in history(ws.project, plan.name) if e.get("action") in CANARY_ACTIONS],
    )
    page = _render(plan, report, render_svg(plan), _diffs(ws, changed_files) if verdict.state != "approved" else [])
    atomic_write_text(report.html_path, page)
    return report


_BADGE = {"approved": "#1a7f37", "stale": "#b54708", "rejected": "#b42318", "none": "#475467", "tampered": "#b42318"}


def _lint_rows(report: ReviewReport) -> str:
    e = html.escape
    rows = (
        f"<tr class='{e(f.severity)}'><td>{e(f.code)}</td><td>{e(f.severity)}</td><td>{e(str(f.cell or ''))}</td>"
        f"<td>{e(f.message)}</td><td>{e(f.fix or '')}</td></tr>"
        for f in report.lint
    )
    return "".join(rows) or "<tr><td colspan=5>clean</td></tr>"


def _gate_rows(report: ReviewReport) -> str:
    e = html.escape
    out = []
    for g in report.gates:
        state = gate_state(g)
        css = "pass" if state == "passed" else "fail" if state == "FAILED" else ""
        failed = sum(1 for o in g["outcomes"] if not o["success"] and o["severity"] == "critical")
        counts = f"<td>{len(g['outcomes'])}</td><td>{failed}</td>" if g.get("ran", True) else "<td>-</td><td>-</td>"
        out.append(
            f"<tr class='{css}'><td>{e(g['variable'])}</td><td>{e(state)}</td>{counts}"
            f"<td>{e(str(g.get('report_html', '')))}</td></tr>"
        )
    return "".join(out) or "<tr><td colspan=5>no gates</td></tr>"


def _metric_rows(report: ReviewReport) -> str:
    e = html.escape
    rows = (
        f"<tr class='{'' if p is None else 'pass' if p else 'fail'}'><td>{e(m)}</td><td>{v:.6g}</td>"
        f"<td>{e(r or '-')}</td><td>{'-' if p is None else 'passed' if p else 'FAILED'}</td></tr>"
        for m, v, r, p in report.metrics
    )
    return "".join(rows) or "<tr><td colspan=4>no metrics</td></tr>"


def _render(plan, report: ReviewReport, svg: str, diffs: list[tuple[str, str]]) -> str:
    e = html.escape
    badge = _BADGE
    rows_lint, rows_gates, rows_metrics = _lint_rows(report), _gate_rows(report), _metric_rows(report)
    diff_html = (
        "".join(
            f"<details open><summary><code>{e(rel)}</code></summary><pre>{_diff_lines(d)}</pre></details>"
            for rel, d in diffs
        )
        or "<p>Nothing changed since the approval.</p>"
    )
    blockers = "".join(f"<li>{e(b)}</li>" for b in report.blockers)
    missing = (
        ", ".join(f"<code>card:{e(m)}</code>" for m in report.missing_card_fields)
        if report.card_state == "incomplete"
        else e(report.card_text)
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Review: {e(report.pipeline)}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:1200px}} table{{border-collapse:collapse;width:100%;margin:.5rem 0}}
td,th{{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top;font-size:.9rem}}
.fail,.error{{background:#fde2e2}} .warning{{background:#fff4d6}} .pass{{background:#eef9ee}}
.badge{{display:inline-block;padding:.2rem .6rem;border-radius:1rem;color:#fff;background:{badge.get(report.approval, "#475467")}}}
pre{{background:#f6f8fa;padding:.5rem;overflow:auto;font-size:.8rem}} .add{{color:#1a7f37}} .del{{color:#b42318}}
</style></head><body>
<h1>Review of pipeline <code>{e(report.pipeline)}</code></h1>
<p>Notebook <code>{e(plan.notebook.path)}</code>. Approval: <span class="badge">{e(report.approval)}</span> {e(report.approval_message)}</p>
{"<p><b>Not ready to approve:</b></p><ul>" + blockers + "</ul>" if blockers else "<p><b>Ready to approve.</b></p>"}
<h2>Pipeline</h2>{svg}
<h2>What changed since the last approval</h2>{diff_html}
<h2>Lint</h2><table><tr><th>code</th><th>severity</th><th>cell</th><th>finding</th><th>fix</th></tr>{rows_lint}</table>
<h2>Data gates</h2><table><tr><th>gate</th><th>result</th><th>expectations</th><th>failed</th><th>report</th></tr>{rows_gates}</table>
<h2>Metrics and thresholds</h2><table><tr><th>metric</th><th>value</th><th>required</th><th>result</th></tr>{rows_metrics}</table>
<h2>Model card</h2><p>{"Missing human fields: " if report.card_state == "incomplete" else ""}{missing}</p>
{"<h2>Canary</h2><ul>" + "".join(f"<li>{e(c)}</li>" for c in report.canary) + "</ul>" if report.canary else ""}
</body></html>
"""


def _diff_lines(diff: str) -> str:
    out = []
    for line in diff.splitlines():
        cls = (
            "add"
            if line.startswith("+") and not line.startswith("+++")
            else "del"
            if line.startswith("-") and not line.startswith("---")
            else ""
        )
        out.append(f"<span class='{cls}'>{html.escape(line)}</span>" if cls else html.escape(line))
    return "\n".join(out)
