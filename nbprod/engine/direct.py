"""The steps the build record says are out of date, run with ploomber-engine in-process, without importing Ploomber.

``import ploomber`` costs seconds (its DAG, its executors, its telemetry, papermill) for a decision the build record
has already made: after an edit of the last step, only that step is out of date. This executor runs exactly what
Ploomber's ``NotebookRunner`` with ``executor: ploomber-engine`` runs for each of those tasks of the generated
``pipeline.yaml``: the task script read by jupytext, the parameters Ploomber would inject (the task's params, the
upstream products, its own products, as absolute paths) in an ``injected-parameters`` cell after the ``parameters``
cell, executed by ploomber-engine in the notebook's folder, the executed notebook saved as the ``nb`` product. Then
it writes the product metadata Ploomber writes (``.<product>.metadata``: timestamp, source, params), so the folder
stays a Ploomber pipeline: ``ploomber build`` (and nbprod's Ploomber path) finds these steps up to date.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from pathlib import Path
from typing import Any, Optional, Union

from nbprod._core.env import quiet_loggers
from nbprod._core.fsutil import atomic_write_text
from nbprod._core.lazy_imports import package_without_init
from nbprod.convert.markers import read_upstream
from nbprod.engine.outcome import BuildOutcome, StepHooks
from nbprod.engine.ploomber import describe_failure
from nbprod.engine.shells import closing_shells, kernel_display
from nbprod.errors import StepFailedError
from nbprod.events import EventKind, EventSink, StepEvent
from nbprod.plan.model import Pipeline

__all__ = ["run_steps", "task_products"]

log = logging.getLogger(__name__)


def task_products(task: dict, pdir: Path) -> dict[str, Path]:
    """A task's products (key -> absolute path), in the order of ``pipeline.yaml``, as Ploomber resolves them."""
    return {k: (pdir / v).resolve() for k, v in task["product"].items()}


def run_steps(
    spec: dict,
    pdir: Path,
    nb_dir: Path,
    plan: Pipeline,
    steps: list[str],
    *,
    emit: EventSink,
    notebook: Union[str, Path],
    hooks: Optional[StepHooks] = None,
) -> BuildOutcome:
    """Run ``steps`` (out of date, closed under "downstream of") in the spec's order; the others are reported up to
    date. A failed step aborts what depends on it, independent steps still run (as Ploomber's serial executor does);
    then :class:`StepFailedError` names the notebook cell of the first failure."""
    outcome = BuildOutcome()
    tasks = {t["name"]: t for t in spec["tasks"]}
    for name in tasks:
        if name not in steps:
            outcome.skipped.append(name)
            emit(StepEvent(EventKind.SKIPPED, name, message="up to date"))
    log.debug("running %s with ploomber-engine, without Ploomber (the build record says what is out of date)", steps)
    failed: list[tuple[str, BaseException]] = []
    stopped: set[str] = set()  # failed, aborted or blocked
    engine = _engine()  # before closing_shells imports ploomber_engine.ipython
    with (
        quiet_loggers(("ploomber_engine", "traitlets"), logging.CRITICAL),
        closing_shells(),
        kernel_display(),
    ):
        for name in (n for n in tasks if n in steps):
            task = tasks[name]
            ups = read_upstream((pdir / task["source"]).read_text())
            if any(u in stopped for u in ups):
                stopped.add(name)
                emit(StepEvent(EventKind.ABORTED, name, message="an upstream step failed"))
                continue
            reason = hooks.blocked(name) if hooks is not None else None
            if reason:
                stopped.add(name)
                emit(StepEvent(EventKind.ABORTED, name, message=reason))
                continue
            emit(StepEvent(EventKind.START, name))
            t0 = time.perf_counter()
            try:
                _run_task(engine, task, ups, tasks, pdir, nb_dir)
            except Exception as exc:
                stopped.add(name)
                failed.append((name, exc))
                emit(StepEvent(EventKind.FAILED, name, time.perf_counter() - t0, str(exc)))
                continue
            outcome.step_done(name, time.perf_counter() - t0, emit, hooks)
    if failed:
        first, error = failed[0]
        nb_product = task_products(tasks[first], pdir)["nb"]
        raise StepFailedError(
            describe_failure(plan, first, nb_product, error),
            path=plan.notebook.path,
            fix=f"fix the cell in the notebook, then resume with `nbprod run {notebook}` (finished steps are not re-run)",
        ) from error
    return outcome


def _run_task(
    engine: tuple[Any, Any], task: dict, ups: list[str], tasks: dict[str, dict], pdir: Path, nb_dir: Path
) -> None:
    """One task as Ploomber's NotebookRunner runs it with ploomber-engine, then Ploomber's product metadata."""
    reads, client_class = engine
    source = (pdir / task["source"]).read_text()
    nb = reads(source, fmt="py")
    stored_source = "\n".join(c.source for c in nb.cells)  # what Ploomber stores and compares (str(NotebookSource))
    products = task_products(task, pdir)
    params = dict(task.get("params") or {})
    injected: dict[str, Any] = dict(params)
    if ups:
        injected["upstream"] = {u: {k: str(p) for k, p in task_products(tasks[u], pdir).items()} for u in ups}
    injected["product"] = {k: str(p) for k, p in products.items()}
    _inject(nb, injected)
    for p in products.values():
        p.parent.mkdir(parents=True, exist_ok=True)
    client = client_class(nb, display_stdout=False, progress_bar=False, cwd=str(nb_dir))
    try:  # ploomber_engine.execute_notebook, which writes the executed notebook, also when a cell fails
        with warnings.catch_warnings():  # as Ploomber's build: ploomber-engine's own warnings, not the step's
            warnings.filterwarnings("ignore", module="ploomber_engine")
            executed = client.execute()
    except BaseException:
        _write_notebook(client._nb, products["nb"])
        for p in products.values():  # its executed notebook is the failed one now: Ploomber must re-run it too
            (p.parent / f".{p.name}.metadata").unlink(missing_ok=True)
        raise
    _write_notebook(executed, products["nb"])
    for p in products.values():  # what Ploomber's File.save_metadata writes after a task succeeds
        metadata = {"timestamp": time.time(), "stored_source_code": stored_source, "params": params}
        atomic_write_text(p.parent / f".{p.name}.metadata", json.dumps(metadata))


def _engine() -> tuple[Any, Any]:
    """jupytext's reader and ploomber-engine's client, without their packages' ``__init__`` (papermill,
    ``matplotlib.pyplot``, the Jupyter server's contents manager: about a second that no step needs)."""
    package_without_init("ploomber_engine")
    package_without_init("jupytext")
    from jupytext.jupytext import reads
    from ploomber_engine.ipython import PloomberClient

    return reads, PloomberClient


def _write_notebook(nb: Any, path: Path) -> None:
    import nbformat

    nbformat.write(nb, str(path))


def _inject(nb: Any, parameters: dict[str, Any]) -> None:
    """papermill's ``parameterize_notebook`` as Ploomber calls it: a ``# Parameters`` cell tagged
    ``injected-parameters`` right after the ``parameters`` cell, and the parameters in the notebook's metadata."""
    import nbformat
    from ploomber_engine._translator import translate_parameters

    cell = nbformat.v4.new_code_cell(translate_parameters(parameters, comment="Parameters"))
    cell.metadata["tags"] = ["injected-parameters"]
    at = next((i + 1 for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])), 0)
    nb.cells.insert(at, cell)
    nb.metadata["papermill"] = {"parameters": parameters}
