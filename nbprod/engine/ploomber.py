"""The Ploomber adapter: build the generated ``pipeline.yaml`` with progress events and located failures.

The only module that imports Ploomber. The plan stays nbprod's own, so the runner could be swapped.

A failed step is reported with the notebook cell it comes from. The failing cell of the executed step notebook
names it: a copy of a notebook cell carries its marker comment (``convert.markers``), and the line is that of the
executed cell's own frame (the outermost one), not of a library function it called. A failure in the generated
load block is attributed to the step's first cell and names the input; one in the save block to the cell that
assigns the output or metric being saved.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

from nbprod._core.env import quiet_loggers
from nbprod.convert.markers import cell_index, parse_block
from nbprod.engine.kernels import step_kernel_manager
from nbprod.engine.outcome import BuildOutcome, StepHooks
from nbprod.engine.shells import closing_shells, kernel_display
from nbprod.errors import NbprodError, RunError, StepFailedError
from nbprod.events import EventKind, EventSink, StepEvent
from nbprod.notebook.reader import Cell
from nbprod.plan.model import Pipeline, Step

__all__ = ["build_dag", "describe_failure"]

log = logging.getLogger(__name__)

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: The header IPython prints for a frame of the executed cell: "Cell In[3], line 7" (older: "<cell line: 7>").
_CELL_FRAME = re.compile(r"^(?:Cell In ?\[\d*\], line (\d+)|.*<cell line: (\d+)>)", re.M)
_ARROW = re.compile(r"^-*> ?(\d+)", re.M)
#: A library frame in IPython's traceback: "File ~/lib/python3.11/json/decoder.py:355, in JSONDecoder.raw_decode(...)"
_FILE_FRAME = re.compile(r"^File (\S+?):(\d+), in ([\w.<>]+)", re.M)
#: The lines of the generated load and save blocks (``convert.render.render_task``).
_LOAD_LINE = re.compile(r"^(\w+)(?:, \w+)* = load_(?:value|together)\(upstream\[")
_SAVE_VALUE_LINE = re.compile(r"^save_(?:value\(|together\(\{'\w+': )(\w+)")
_SAVE_METRICS_LINE = re.compile(r"^save_metrics\(")
_METRIC_IN_MESSAGE = re.compile(r"\b(?:metric|name) '(\w+)'")  # save_metrics' own errors, a NameError


@dataclass(frozen=True)
class _Failure:
    """The failing cell of a partially executed step notebook, as the kernel recorded it."""

    exc: str = ""  # "Name: value"
    source: str = ""  # the generated cell's source
    copies: Optional[int] = None  # the notebook cell it copies (its title says), or None
    line: Optional[int] = None  # line of the generated cell (1-based) where its own frame stopped
    raised_in: str = ""  # the innermost library frame, shown as context: "json/decoder.py:355, in raw_decode"

    @property
    def cell_index(self) -> Optional[int]:
        """The notebook cell this generated cell copies (from its title), or None."""
        return self.copies

    @property
    def block(self) -> Optional[str]:
        """ "load" / "save" when the failing cell is a generated block."""
        return parse_block(self.source)

    @property
    def failing_line(self) -> str:
        lines = self.source.split("\n")
        return lines[self.line - 1].strip() if self.line is not None and 0 < self.line <= len(lines) else ""


def _executed_line(tb: str) -> Optional[int]:
    """The line of the executed cell: its frame is the outermost one, which IPython prints first."""
    m = _CELL_FRAME.search(tb)
    if m:
        return int(m.group(1) or m.group(2))
    lm = _ARROW.findall(tb) or re.findall(r"line (\d+)", tb)
    return int(lm[0]) if lm else None


def _innermost_frame(tb: str) -> str:
    """The last library frame of the traceback (file shortened to its last two parts), or "" when there is none."""
    frames = _FILE_FRAME.findall(tb)
    if not frames:
        return ""
    path, line, func = frames[-1]
    short = "/".join(Path(path).parts[-2:])
    return f"{short}:{line}, in {func.rsplit('.', 1)[-1]}"


def _read_failure(nb_product: Path) -> Optional[_Failure]:
    """The first error output of a partially executed step notebook, or None when there is none (or no notebook)."""
    try:
        nb = json.loads(nb_product.read_text())
    except (OSError, ValueError):
        log.debug("no executed notebook to locate the failure in: %s", nb_product)
        return None
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []) or []:
            if out.get("output_type") == "error":
                tb = _ANSI.sub("", "\n".join(out.get("traceback") or []))
                exc = f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"
                source = "".join(cell.get("source", ""))
                return _Failure(exc, source, cell_index(cell), _executed_line(tb), _innermost_frame(tb))
    return None


@dataclass(frozen=True)
class _Culprit:
    """The notebook cell a failure is reported at, its line there, and what nbprod was doing (for blocks)."""

    cell: Optional[Cell] = None
    line: Optional[int] = None
    doing: str = ""


def _culprit(plan: Pipeline, step: Step, failure: _Failure) -> _Culprit:
    block = failure.block
    if block == "load":
        return _load_culprit(step, failure)
    if block == "save":
        return _save_culprit(plan, step, failure)
    cell = _notebook_cell(plan, failure.cell_index)
    line = failure.line  # the copy keeps the notebook cell's lines (its marker is in its title)
    log.debug(
        "step %r: failure attributed to %s by the title of the failing cell, line %s of its own frame",
        step.name,
        cell.ref if cell else "no notebook cell",
        line,
    )
    return _Culprit(cell, line if cell is not None and line is not None and line > 0 else None)


def _notebook_cell(plan: Pipeline, index: Optional[int]) -> Optional[Cell]:
    return next((c for c in plan.notebook.cells if c.index == index), None) if index is not None else None


def _first_cell(step: Step) -> Optional[Cell]:
    code = step.code_cells
    return code[0] if code else (step.cells[0] if step.cells else None)


def _load_culprit(step: Step, failure: _Failure) -> _Culprit:
    """An input that could not be loaded: reported at the step's first cell, naming the input and its producer."""
    m = _LOAD_LINE.match(failure.failing_line)
    if m is None:  # e.g. `from nbprod.io import load_value` failed: no notebook cell is to blame
        log.debug("step %r: failure in the load block outside any input (%r)", step.name, failure.failing_line)
        return _Culprit(doing="could not load the step's inputs")
    name = m.group(1)
    producer = step.inputs.get(name)
    cell = _first_cell(step)
    log.debug("step %r: loading input %r failed; attributed to the step's first cell %s", step.name, name, cell)
    origin = f" (a product of step {producer!r})" if producer else ""
    return _Culprit(cell, doing=f"could not load input {name!r}{origin}")


def _save_culprit(plan: Pipeline, step: Step, failure: _Failure) -> _Culprit:
    """An output or metric that could not be saved: reported at the cell that assigns it."""
    text = failure.failing_line
    m = _SAVE_VALUE_LINE.match(text)
    if m is not None:
        name = m.group(1)
        cell = _defining_cell(plan, step, name)
        log.debug("step %r: saving output %r failed; attributed to its last assignment, %s", step.name, name, cell)
        return _Culprit(cell, doing=f"could not save output {name!r}")
    if _SAVE_METRICS_LINE.match(text):
        found = _METRIC_IN_MESSAGE.search(failure.exc)
        name = found.group(1) if found and found.group(1) in step.metrics else None
        cell = _metrics_cell(plan, step, name)
        log.debug("step %r: saving metric %s failed; attributed to the metrics cell %s", step.name, name, cell)
        return _Culprit(cell, doing=f"could not save metric {name!r}" if name else "could not save the metrics")
    log.debug("step %r: failure in the save block outside any product (%r)", step.name, text)
    return _Culprit(doing="could not save the step's products")


def _defining_cell(plan: Pipeline, step: Step, name: str) -> Optional[Cell]:
    """The step's last cell that defines ``name`` (the value that was saved)."""
    cells = [c for c in step.code_cells if name in plan.analyses[c.index].defines]
    return cells[-1] if cells else None


def _metrics_cell(plan: Pipeline, step: Step, name: Optional[str]) -> Optional[Cell]:
    """The step's ``metrics`` cell that assigns metric ``name`` (any metrics cell when the name is not known)."""
    tagged = [c for c in step.code_cells if c.has("metrics")]
    assigning = [c for c in tagged if name is not None and name in plan.analyses[c.index].assigned]
    if assigning:
        return assigning[-1]  # the last assignment is the value that was saved
    return tagged[0] if tagged else None


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
    kernel_log: Optional[Path] = None,
) -> BuildOutcome:
    """Build the generated pipeline; returns what ran and what was skipped. ``hooks`` (the gatekeeper) may block a
    step before it runs and check it after; ``kernel_log``: where isolated steps' kernels write their standard error
    (default: inherited). Raises :class:`StepFailedError` naming the notebook cell that failed."""
    with (
        quiet_loggers(("ploomber", "papermill", "ploomber_engine", "traitlets"), logging.CRITICAL),
        contextlib.nullcontext() if isolated else closing_shells(),
        contextlib.nullcontext() if isolated else kernel_display(),
    ):
        b = _Build(spec, pdir, nb_dir, plan, notebook, emit, hooks, kernel_log)
        return _build(b, isolated=isolated, force=force)


@dataclass
class _Build:
    """One build: the generated spec and where it lives, the plan, and who hears about progress."""

    spec: dict
    pdir: Path
    nb_dir: Path
    plan: Pipeline
    notebook: Union[str, Path]
    emit: EventSink
    hooks: Optional[StepHooks]
    kernel_log: Optional[Path] = None

    @property
    def yaml_path(self) -> str:
        return str(self.pdir / "pipeline.yaml")


def _build(b: _Build, *, isolated: bool, force: bool) -> BuildOutcome:
    _choose_executor(b, isolated)
    outcome = BuildOutcome()
    failures: list[tuple[str, BaseException]] = []
    dag = _render(b, force, _progress_executor(b, outcome, failures))
    _note_skipped(b, dag, outcome)
    _run(b, dag, force, failures)
    if failures:
        _raise_step_failed(b, *failures[0])
    return outcome


def _choose_executor(b: _Build, isolated: bool) -> None:
    """In-process ploomber-engine (imports paid once), or papermill with one kernel per step (``isolated``)."""
    manager = step_kernel_manager(b.kernel_log) if isolated else None
    for task in b.spec["tasks"]:
        if isolated:
            task["executor"] = "papermill"
            params = {"cwd": str(b.nb_dir), "progress_bar": False, "kernel_name": "python3"}
            task["executor_params"] = {**params, "kernel_manager_class": manager}
        else:
            task["executor"] = "ploomber-engine"
            task["executor_params"] = {"cwd": str(b.nb_dir), "progress_bar": False}
    log.debug(
        "building %d step(s) of %r with %s, cwd %s",
        len(b.spec["tasks"]),
        b.plan.name,
        "papermill (one kernel per step)" if isolated else "ploomber-engine (in-process)",
        b.nb_dir,
    )


def _progress_executor(b: _Build, outcome: BuildOutcome, failures: list[tuple[str, BaseException]]) -> Any:
    """Ploomber's serial executor, in the current process, reporting each step as it starts and ends."""
    from ploomber.constants import TaskStatus
    from ploomber.executors.abc import Executor

    emit, hooks = b.emit, b.hooks

    def run_one(name: str, task: Any, reports: list) -> None:
        """Build one task (its report joins ``reports``) unless an upstream step failed or a hook blocks it."""
        if task.exec_status == TaskStatus.Aborted:
            emit(StepEvent(EventKind.ABORTED, name, message="an upstream step failed"))
            return
        reason = hooks.blocked(name) if hooks is not None else None
        if reason:
            log.debug("step %r blocked before it runs: %s", name, reason)
            task.exec_status = TaskStatus.Aborted
            emit(StepEvent(EventKind.ABORTED, name, message=reason))
            return
        emit(StepEvent(EventKind.START, name))
        t0 = time.perf_counter()
        try:
            report, _ = task._build(catch_exceptions=True)
            reports.append(report)
        except Exception as exc:  # the task is marked Errored; downstream steps become Aborted
            failures.append((name, exc))
            emit(StepEvent(EventKind.FAILED, name, time.perf_counter() - t0, str(_root_cause(exc))))
            return
        outcome.step_done(name, time.perf_counter() - t0, emit, hooks)

    class ProgressExecutor(Executor):
        def __call__(self, dag: Any, show_progress: Any) -> list:  # Ploomber's executor protocol
            super().__call__(dag)
            reports: list = []
            for name in sorted(dag, key=[s.name for s in b.plan.steps].index):  # in the notebook's order (files)
                if dag[name].exec_status != TaskStatus.Skipped:
                    run_one(str(name), dag[name], reports)
            return reports

    return ProgressExecutor()


def _render(b: _Build, force: bool, executor: Any) -> Any:
    """The Ploomber DAG of the generated spec, rendered (which decides what is up to date)."""
    from ploomber.spec import DAGSpec

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Ploomber's render warnings are about code nbprod generated
            dag = DAGSpec(b.spec, parent_path=str(b.pdir)).to_dag()
            dag.executor = executor
            dag.render(force=force, show_progress=False)
    except Exception as exc:
        raise RunError(
            f"Ploomber could not load the generated pipeline: {_root_cause(exc)}",
            path=b.yaml_path,
            fix=f"regenerate it with `nbprod convert {b.notebook}`; if that does not help, report a bug",
        ) from exc
    return dag


def _note_skipped(b: _Build, dag: Any, outcome: BuildOutcome) -> None:
    from ploomber.constants import TaskStatus

    for name in dag:
        if dag[name].exec_status == TaskStatus.Skipped:
            outcome.skipped.append(str(name))
            b.emit(StepEvent(EventKind.SKIPPED, str(name), message="up to date"))
    log.debug("up to date, not run: %s", ", ".join(outcome.skipped) or "(none)")


def _run(b: _Build, dag: Any, force: bool, failures: list[tuple[str, BaseException]]) -> None:
    """Build the DAG. A step's own failure is left in ``failures``; an nbprod error raised by a hook (e.g. a
    malformed suite found by a gate) is re-raised as it is; anything else is a failed build."""
    from ploomber.constants import TaskStatus

    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module="ploomber")
            dag.build(force=force, show_progress=False)
    except Exception as exc:
        for cause in _chain(exc):
            if isinstance(cause, NbprodError):  # already a clear message
                raise cause from None
        blocked_by_gate = b.hooks is not None and any(dag[n].exec_status == TaskStatus.Aborted for n in dag)
        if not failures and not blocked_by_gate:
            raise RunError(f"the pipeline build failed: {_root_cause(exc)}", path=b.yaml_path) from exc
        log.debug("Ploomber reported the failed build (%s); the step failure is reported instead", type(exc).__name__)


def _raise_step_failed(b: _Build, step: str, exc: BaseException) -> None:
    """Raise :class:`StepFailedError` naming the notebook cell (and line) the failure comes from."""
    nb_product = (b.pdir / next(t for t in b.spec["tasks"] if t["name"] == step)["product"]["nb"]).resolve()
    raise StepFailedError(
        describe_failure(b.plan, step, nb_product, exc),
        path=b.plan.notebook.path,
        fix=f"fix the cell in the notebook, then resume with `nbprod run {b.notebook}` (finished steps are not re-run)",
    ) from exc


def describe_failure(plan: Pipeline, step: str, nb_product: Path, exc: BaseException) -> str:
    """What failed where, read from the partially executed step notebook: the notebook cell and its line, the
    exception, the library frame it was raised in, and the executed notebook (any runner: Ploomber, Airflow)."""
    failure = _read_failure(nb_product)
    culprit = _culprit(plan, plan.step(step), failure) if failure is not None else _Culprit()
    text = (failure.exc if failure is not None else "") or f"{type(_root_cause(exc)).__name__}: {_root_cause(exc)}"
    where = f"step {step!r} failed in {culprit.cell.ref}" if culprit.cell else f"step {step!r} failed"
    if culprit.line is not None:
        where += f", line {culprit.line}"
    if culprit.doing:
        where += f": {culprit.doing}"
    context = f"\n  raised in {failure.raised_in}" if failure is not None and failure.raised_in else ""
    return f"{where}: {text}{context}\n  executed notebook: {nb_product}"
