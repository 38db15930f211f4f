"""The Ploomber adapter: build the generated ``pipeline.yaml`` with progress events and located failures.

The only module that imports Ploomber. The plan stays nbprod's own, so the runner could be swapped.
"""

from __future__ import annotations

import json
import logging
import re
import time
import warnings
from pathlib import Path
from typing import Optional, Union

from nbprod._core.env import quiet_loggers
from nbprod.convert.markers import parse_cell_marker
from nbprod.engine.outcome import BuildOutcome, StepHooks
from nbprod.errors import NbprodError, RunError, StepFailedError
from nbprod.events import EventKind, EventSink, StepEvent
from nbprod.plan.model import Pipeline

__all__ = ["build_dag"]


def _failure_location(nb_product: Path) -> tuple[Optional[int], Optional[int], str]:
    """From a partially executed step notebook: (source cell index, line in that cell, exception text)."""
    try:
        nb = json.loads(nb_product.read_text())
    except (OSError, ValueError):
        return None, None, ""
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []) or []:
            if out.get("output_type") == "error":
                src = "".join(cell.get("source", ""))
                tb = "\n".join(out.get("traceback") or [])
                tb = re.sub(r"\x1b\[[0-9;]*m", "", tb)
                line = None
                lm = re.findall(r"^-*> ?(\d+)", tb, flags=re.M) or re.findall(r"line (\d+)", tb)
                if lm:
                    line = int(lm[-1]) - 1  # the generated marker comment is one line above the cell's code
                exc = f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"
                return parse_cell_marker(src), line, exc
    return None, None, ""


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    while exc is not None and exc not in out:
        out.append(exc)
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return out


def _root_cause(exc: BaseException) -> BaseException:
    return _chain(exc)[-1]


def build_dag(
    spec: dict,
    pdir: Path,
    nb_dir: Path,
    plan: Pipeline,
    *,
    isolated: bool,
    force: bool,
    emit: EventSink,
    notebook: Union[str, Path],
    hooks: Optional[StepHooks] = None,
) -> BuildOutcome:
    """Build the generated pipeline; returns what ran and what was skipped. ``hooks`` (the gatekeeper) may block a
    step before it runs and check it after. Raises :class:`StepFailedError` naming the notebook cell that failed."""
    with quiet_loggers(("ploomber", "papermill", "ploomber_engine", "traitlets"), logging.CRITICAL):
        return _build(
            spec, pdir, nb_dir, plan, isolated=isolated, force=force, emit=emit, notebook=notebook, hooks=hooks
        )


def _build(
    spec: dict,
    pdir: Path,
    nb_dir: Path,
    plan: Pipeline,
    *,
    isolated: bool,
    force: bool,
    emit: EventSink,
    notebook: Union[str, Path],
    hooks: Optional[StepHooks],
) -> BuildOutcome:
    from ploomber.constants import TaskStatus
    from ploomber.executors.abc import Executor
    from ploomber.spec import DAGSpec

    outcome = BuildOutcome()
    for task in spec["tasks"]:
        if isolated:
            task["executor"] = "papermill"
            task["executor_params"] = {"cwd": str(nb_dir), "progress_bar": False, "kernel_name": "python3"}
        else:
            task["executor"] = "ploomber-engine"
            task["executor_params"] = {"cwd": str(nb_dir), "progress_bar": False}

    failures: list[tuple[str, BaseException]] = []

    class ProgressExecutor(Executor):
        """Ploomber's serial executor, in the current process, reporting each step as it starts and ends."""

        def __call__(self, dag, show_progress):  # noqa: D401 - Ploomber's executor protocol
            super().__call__(dag)
            reports = []
            for name in dag:
                task = dag[name]
                if task.exec_status in (TaskStatus.Skipped,):
                    continue
                if task.exec_status == TaskStatus.Aborted:
                    emit(StepEvent(EventKind.ABORTED, str(name), message="an upstream step failed"))
                    continue
                reason = hooks.blocked(str(name)) if hooks is not None else None
                if reason:
                    task.exec_status = TaskStatus.Aborted
                    emit(StepEvent(EventKind.ABORTED, str(name), message=reason))
                    continue
                emit(StepEvent(EventKind.START, str(name)))
                t0 = time.perf_counter()
                try:
                    report, _ = task._build(catch_exceptions=True)
                    reports.append(report)
                except Exception as exc:  # the task is marked Errored; downstream steps become Aborted
                    failures.append((str(name), exc))
                    emit(StepEvent(EventKind.FAILED, str(name), time.perf_counter() - t0, str(_root_cause(exc))))
                    continue
                elapsed = time.perf_counter() - t0
                outcome.ran.append(str(name))
                outcome.timings[str(name)] = elapsed
                emit(StepEvent(EventKind.DONE, str(name), elapsed))
                if hooks is not None:
                    hooks.after(str(name))
            return reports

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Ploomber's render warnings are about code nbprod generated
            dag = DAGSpec(spec, parent_path=str(pdir)).to_dag()
            dag.executor = ProgressExecutor()
            dag.render(force=force, show_progress=False)
    except Exception as exc:
        raise RunError(
            f"Ploomber could not load the generated pipeline: {_root_cause(exc)}",
            path=str(pdir / "pipeline.yaml"),
            fix=f"regenerate it with `nbprod convert {notebook}`; if that does not help, report a bug",
        ) from exc
    for name in dag:
        if dag[name].exec_status == TaskStatus.Skipped:
            outcome.skipped.append(str(name))
            emit(StepEvent(EventKind.SKIPPED, str(name), message="up to date"))
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module="ploomber")
            dag.build(force=force, show_progress=False)
    except Exception as exc:
        for cause in _chain(exc):
            if isinstance(cause, NbprodError):  # e.g. a malformed suite found by a gate: already a clear message
                raise cause from None
        blocked_by_gate = hooks is not None and any(dag[n].exec_status == TaskStatus.Aborted for n in dag)
        if not failures and not blocked_by_gate:
            raise RunError(f"the pipeline build failed: {_root_cause(exc)}", path=str(pdir / "pipeline.yaml")) from exc
    if failures:
        step, step_exc = failures[0]
        nb_product = (pdir / next(t for t in spec["tasks"] if t["name"] == step)["product"]["nb"]).resolve()
        cell_index, line, text = _failure_location(nb_product)
        text = text or f"{type(_root_cause(step_exc)).__name__}: {_root_cause(step_exc)}"
        cell = next((c for c in plan.notebook.cells if c.index == cell_index), None)
        where = f"step {step!r} failed in {cell.ref}" if cell else f"step {step!r} failed"
        if cell is not None and line is not None and line > 0:
            where += f", line {line}"
        raise StepFailedError(
            f"{where}: {text}\n  executed notebook: {nb_product}",
            path=plan.notebook.path,
            fix=f"fix the cell in the notebook, then resume with `nbprod run {notebook}` (finished steps are not re-run)",
        ) from step_exc
    return outcome
