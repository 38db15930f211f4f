"""``nbprod.panel()``: the JupyterLab panel (ipywidgets 8) over the same functions as the CLI.

Tabs: Steps (code cells, their step and tags; the data flowing on each edge), Lint (findings naming their cell),
Pipeline (the DAG picture), Run (``nbprod run`` with a progress bar and a live log) and Review (``nbprod review``,
then approve or reject). Long work runs synchronously in the click handlers; a handler never raises: an error is
shown as text in the panel. Importing this module imports neither ipywidgets nor any heavy library; the Run and
Review buttons import Ploomber, Great Expectations, ... through the functions they call.
"""

from __future__ import annotations

import html
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from nbprod.errors import NbprodError
from nbprod.events import EventKind, StepEvent
from nbprod.views.events_text import event_text

if TYPE_CHECKING:
    from nbprod.lint import LintReport
    from nbprod.plan.model import Pipeline
    from nbprod.workflow.run import RunResult

__all__ = ["Panel", "panel"]

log = logging.getLogger(__name__)

TITLES = ("Steps", "Lint", "Pipeline", "Run", "Review")
_E = html.escape
_TABLE = "style='border-collapse:collapse;font-size:12px' cellpadding='3' border='1'"
_COLORS = {"error": "#b42318", "warning": "#b54708", "info": "#475467", "ok": "#1a7f37"}


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _pre(text: str, color: Optional[str] = None) -> str:
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


# ---- what each tab shows (pure functions of the plan / reports: easy to test) ----


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


# ---- the panel ----


class Panel:
    """The widgets of one notebook's panel. Display it (or end a cell with it); drive it from code in tests."""

    def __init__(self, path: Union[str, Path], *, project: Union[str, Path] = ".") -> None:
        import ipywidgets as w

        self.path = str(path)
        self.project = Path(project)
        self.plan: Optional[Pipeline] = None
        self.result: Optional[RunResult] = None
        self.status: dict[str, str] = {}
        self._log_lines: list[str] = []

        self.reload_button = w.Button(
            description="Reload notebook", icon="refresh", tooltip="re-read the notebook file (save it first)"
        )
        self.steps_html = w.HTML()
        self.lint_html = w.HTML()
        self.dag_html = w.HTML()

        self.run_button = w.Button(
            description="Run",
            button_style="primary",
            icon="play",
            tooltip="nbprod run: build the pipeline incrementally, check the gates",
        )
        self.progress = w.IntProgress(value=0, min=0, max=1, description="steps")
        self.run_log = w.HTML()
        self.run_result = w.HTML()

        self.review_button = w.Button(description="Refresh review", icon="refresh")
        self.review_html = w.HTML("<i>Click Refresh review to build the review report.</i>")
        self.name = w.Text(placeholder="Your name", description="Reviewer")
        self.note = w.Textarea(placeholder="Note (required to reject)", description="Note")
        self.approve_button = w.Button(description="Approve", button_style="success", icon="check")
        self.reject_button = w.Button(description="Reject", button_style="danger", icon="times")
        self.review_status = w.HTML()

        self.reload_button.on_click(self._guard(self.reload, self.steps_html))
        self.run_button.on_click(self._guard(self.on_run, self.run_result))
        self.review_button.on_click(self._guard(self.on_review, self.review_html))
        self.approve_button.on_click(self._guard(lambda _b=None: self.on_decide(reject=False), self.review_status))
        self.reject_button.on_click(self._guard(lambda _b=None: self.on_decide(reject=True), self.review_status))

        self.tabs = w.Tab(
            children=[
                w.VBox([self.reload_button, self.steps_html]),
                self.lint_html,
                self.dag_html,
                w.VBox([self.run_button, self.progress, self.run_log, self.run_result]),
                w.VBox(
                    [
                        self.review_button,
                        self.review_html,
                        self.name,
                        self.note,
                        w.HBox([self.approve_button, self.reject_button]),
                        self.review_status,
                    ]
                ),
            ],
            titles=TITLES,
        )
        self.reload()

    # display: a cell ending with ``nbprod.panel("x.ipynb")`` shows the tabs
    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.tabs._repr_mimebundle_(**kwargs)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.tabs)

    def __repr__(self) -> str:
        return f"<nbprod panel for {self.path}>"

    @staticmethod
    def _guard(handler: Callable[..., None], target: Any) -> Callable[..., None]:
        """A click handler that shows any error in ``target`` instead of raising into the widget machinery."""

        def on_click(_button: Any = None) -> None:
            try:
                handler()
            except Exception as exc:  # noqa: BLE001 - shown to the user, logged with its traceback
                log.debug("panel action failed", exc_info=True)
                target.value = _pre(_error_text(exc), _COLORS["error"])

        return on_click

    def reload(self, _button: Any = None) -> None:
        """Re-read the notebook: Steps, Lint and Pipeline tabs."""
        from nbprod.lint import lint_notebook
        from nbprod.notebook.reader import read_notebook
        from nbprod.plan.build import build_plan
        from nbprod.views.dag_svg import render_svg

        nb = read_notebook(self.path)
        self.plan = build_plan(nb, strict=False)
        self.status = {}
        self.steps_html.value = steps_html(self.plan)
        self.lint_html.value = lint_html(lint_notebook(nb))
        self.dag_html.value = render_svg(self.plan)
        self.progress.max = max(1, len(self.plan.steps))

    # ---- Run ----
    def _on_event(self, e: StepEvent) -> None:
        self._log_lines.append(event_line(e))
        self.run_log.value = _pre("\n".join(self._log_lines))
        if e.kind in ("done", "skipped"):
            self.status[e.step] = "ran" if e.kind == "done" else "skipped"
            self.progress.value = min(self.progress.max, self.progress.value + 1)
        elif e.kind in ("failed", "gate-failed"):
            self.status[e.step] = "failed"
            self.progress.bar_style = "danger"
        elif e.kind == "aborted":
            self.status[e.step] = "blocked"
        else:
            return
        from nbprod.views.dag_svg import render_svg

        if self.plan is not None:
            self.dag_html.value = render_svg(self.plan, status=self.status)

    def on_run(self, _button: Any = None) -> None:
        from nbprod.workflow.run import run

        self.run_button.disabled = True
        self._log_lines = []
        self.run_log.value = ""
        self.run_result.value = "<i>running ...</i>"
        self.result = None
        try:
            self.reload()
            self.progress.value = 0
            self.progress.bar_style = ""
            try:
                self.result = run(self.path, project=self.project, on_event=self._on_event)
            except Exception as exc:  # noqa: BLE001 - shown in the panel
                log.debug("run failed", exc_info=True)
                self._log_lines.append("✗ the run stopped")
                self.run_log.value = _pre("\n".join(self._log_lines))
                self.progress.bar_style = "danger"
                self.run_result.value = _pre(_error_text(exc), _COLORS["error"])
                return
            self.progress.value = self.progress.max
            self.progress.bar_style = "success"
            self.run_result.value = result_html(self.result)
        finally:
            self.run_button.disabled = False

    # ---- Review ----
    def on_review(self, _button: Any = None) -> None:
        from nbprod.workflow.review import review

        rep = review(self.path, project=self.project)
        blockers = "".join(f"<li>{_E(b)}</li>" for b in rep.blockers)
        self.review_html.value = (
            _pre(rep.summary_text())
            + (
                f"<p style='color:{_COLORS['error']}'><b>blockers</b></p><ul>{blockers}</ul>"
                if blockers
                else f"<p style='color:{_COLORS['ok']}'><b>ready to approve</b></p>"
            )
            + f"<p>full report: <code>{_E(str(rep.html_path))}</code></p>"
        )

    def on_decide(self, *, reject: bool) -> None:
        from nbprod.workflow.approval import approve, check

        verb = "reject" if reject else "approve"
        if not self.name.value.strip():
            self.review_status.value = _pre(
                f"Enter your name (Reviewer) before you {verb}: nothing was recorded.", _COLORS["warning"]
            )
            return
        if reject and not self.note.value.strip():
            self.review_status.value = _pre(
                "Write a note saying why before you reject: nothing was recorded.", _COLORS["warning"]
            )
            return
        record = approve(self.path, by=self.name.value, note=self.note.value, reject=reject, project=self.project)
        verdict = check(self.path, project=self.project)
        color = _COLORS["ok"] if verdict.ok else _COLORS["warning"]
        self.review_status.value = _pre(
            f"{record['decision']} by {record['by']}: approvals/{record['pipeline']}.json written "
            f"(digest {record['digest'][:12]}); commit it so that the pull request carries the decision.\n"
            f"approval state: {verdict.state}" + (f" ({verdict.message})" if verdict.message else ""),
            color,
        )


def find_notebook() -> str:
    """The notebook this kernel runs, as JupyterLab tells it (``JPY_SESSION_NAME``, or IPython's ``__session__``)."""
    tried = []
    session = os.environ.get("JPY_SESSION_NAME")
    if session:
        tried.append(f"JPY_SESSION_NAME={session!r}")
        found = _locate(session)
        if found:
            return found
    shell = None
    if "IPython" in sys.modules:
        from IPython import get_ipython

        shell = get_ipython()
    user_ns = getattr(shell, "user_ns", None) or {}
    session = user_ns.get("__session__")
    if session:
        tried.append(f"__session__={session!r}")
        found = _locate(str(session))
        if found:
            return found
    why = ("no notebook file found for " + ", ".join(tried)) if tried else "this kernel does not know its notebook"
    raise NbprodError(f"{why}; pass the notebook's path", fix='nbprod.panel("path/to/notebook.ipynb")')


def _locate(session: str) -> Optional[str]:
    """A session path is absolute, or relative to the server root (an ancestor of the kernel's directory)."""
    p = Path(session)
    if p.is_absolute():
        return str(p) if p.is_file() else None
    cwd = Path.cwd()
    for base in (cwd, *cwd.parents):
        if (base / p).is_file():
            return os.path.relpath(base / p, cwd)
    return p.name if (cwd / p.name).is_file() else None


def panel(path: Union[str, Path, None] = None, *, project: Union[str, Path] = ".") -> Panel:
    """The nbprod panel for ``path`` (default: the notebook this JupyterLab kernel runs).

    Raises :class:`NbprodError` when the notebook cannot be found or read."""
    return Panel(find_notebook() if path is None else path, project=project)
