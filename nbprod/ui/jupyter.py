"""``nbprod.panel()``: the JupyterLab panel (ipywidgets 8) over the same functions as the CLI.

Tabs: Steps (code cells, their step and tags; the data flowing on each edge), Lint (findings naming their cell),
Pipeline (the DAG picture), Run (``nbprod run`` with a progress bar and a live log), Verify (``nbprod verify``: the
notebook in one kernel against the pipeline one kernel per step) and Review (``nbprod review``, then approve or
reject). Long work runs synchronously in the click handlers; a handler never raises: an error is shown as text in
the panel. Importing this module imports neither ipywidgets nor any heavy library; the Run, Verify and Review
buttons import Ploomber, Great Expectations, ... through the functions they call. What each tab shows is rendered
by :mod:`nbprod.ui.panel_views`.
"""

from __future__ import annotations

import html
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from nbprod.errors import NbprodError
from nbprod.events import StepEvent
from nbprod.ui.panel_views import (
    COLORS,
    error_html,
    event_line,
    lint_html,
    lint_summary,
    pre,
    result_html,
    steps_html,
    verify_html,
)

if TYPE_CHECKING:
    from nbprod.plan.model import Pipeline
    from nbprod.workflow.run import RunResult

__all__ = ["Panel", "panel", "steps_html", "lint_html", "lint_summary", "event_line", "result_html", "verify_html"]

log = logging.getLogger(__name__)

TITLES = ("Steps", "Lint", "Pipeline", "Run", "Verify", "Review")
_E = html.escape
_COLORS = COLORS
_pre = pre


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

        self.verify_button = w.Button(
            description="Verify",
            icon="check-square-o",
            tooltip="nbprod verify: run the notebook top to bottom and the pipeline step by step, compare",
        )
        self.verify_html = w.HTML("<i>Click Verify to prove the pipeline computes what the notebook computes.</i>")
        self.review_button = w.Button(description="Refresh review", icon="refresh")
        self.review_html = w.HTML("<i>Click Refresh review to build the review report.</i>")
        self.name = w.Text(placeholder="Your name", description="Reviewer")
        self.note = w.Textarea(placeholder="Note (required to reject)", description="Note")
        self.approve_button = w.Button(description="Approve", button_style="success", icon="check")
        self.reject_button = w.Button(description="Reject", button_style="danger", icon="times")
        self.review_status = w.HTML()

        self.reload_button.on_click(self._guard(self.reload, self.steps_html))
        self.run_button.on_click(self._guard(self.on_run, self.run_result))
        self.verify_button.on_click(self._guard(self.on_verify, self.verify_html))
        self.review_button.on_click(self._guard(self.on_review, self.review_html))
        self.approve_button.on_click(self._guard(lambda _b=None: self.on_decide(reject=False), self.review_status))
        self.reject_button.on_click(self._guard(lambda _b=None: self.on_decide(reject=True), self.review_status))

        self.tabs = w.Tab(
            children=[
                w.VBox([self.reload_button, self.steps_html]),
                self.lint_html,
                self.dag_html,
                w.VBox([self.run_button, self.progress, self.run_log, self.run_result]),
                w.VBox([self.verify_button, self.verify_html]),
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
                target.value = error_html(exc)

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
                self.run_result.value = error_html(exc)
                return
            self.progress.value = self.progress.max
            self.progress.bar_style = "success"
            self.run_result.value = result_html(self.result)
        finally:
            self.run_button.disabled = False

    # ---- Verify ----
    def on_verify(self, _button: Any = None) -> None:
        from nbprod.workflow.verify import verify

        self.verify_button.disabled = True
        self.verify_html.value = "<i>running the notebook in one kernel, then the pipeline one kernel per step ...</i>"
        try:
            self.verify_html.value = verify_html(verify(self.path, project=self.project))
        finally:
            self.verify_button.disabled = False

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
