"""``nbprod run``: convert if needed, then build the pipeline with Ploomber, incrementally.

Steps run in-process with ploomber-engine (imports are paid once) or, with ``isolated=True``, each in its
own kernel through papermill. A step re-runs when its generated code, the parameters it uses, the data
files it reads, or an upstream product changed. When nothing changed at all, nbprod answers from its own
build record without importing Ploomber.

The phases of a run, each a function below: prepare the spec (convert, parameter overrides, data-file
digests), try the fast path, build (with the gatekeeper), track, package, save the build record.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any, Callable, Optional, Union

import yaml

from nbprod import __version__
from nbprod._core import env
from nbprod._core.hashing import files_digest
from nbprod._core.layout import ProjectLayout
from nbprod.convert.render import INPUTS_PARAM, convert, product_paths
from nbprod.engine.direct import run_steps
from nbprod.engine.lock import pipeline_lock
from nbprod.engine.ploomber import build_dag
from nbprod.engine.record import BuildRecord, RecordStore, product_stats, step_fingerprints
from nbprod.errors import PlanError, UsageError
from nbprod.events import EventKind, EventSink, StepEvent, ignore
from nbprod.gates.keeper import GateKeeper
from nbprod.gates.worker import GateWorker
from nbprod.lint.report import CANNOT_RUN, may_differ
from nbprod.notebook.tags import validate_identifier
from nbprod.package import bentoml_child
from nbprod.plan.model import pipeline_name
from nbprod.plan.params import apply_overrides
from nbprod.workflow import track_worker
from nbprod.workflow.incremental import (
    BuildContext,
    RunResult,
    all_products,
    collect_metrics,
    fast_path,
    gate_inputs,
    generator_fingerprint,
    outdated_steps,
)
from nbprod.workflow.track_worker import TrackWorker

__all__ = ["RunResult", "run", "build_ungated"]

log = logging.getLogger(__name__)


def run(
    notebook: Union[str, Path],
    *,
    project: Union[str, Path] = ".",
    name: Optional[str] = None,
    params: Optional[dict[str, str]] = None,
    isolated: bool = False,
    force: bool = False,
    split: str = "auto",
    on_event: Optional[EventSink] = None,
    track: Optional[bool] = None,
    tracking_uri: Optional[str] = None,
    package: Optional[bool] = None,
) -> RunResult:
    """Convert (when the notebook changed) and build the pipeline. Raises :class:`StepFailedError` when a step fails.

    After the gates pass, the run is tracked in MLflow (``track``) and the model packaged as a Bento (``package``);
    both default to on (environment ``NBPROD_TRACK=0`` / ``NBPROD_PACKAGE=0`` turn them off)."""
    track = os.environ.get("NBPROD_TRACK", "1") != "0" if track is None else track
    package = os.environ.get("NBPROD_PACKAGE", "1") != "0" if package is None else package
    if name is not None:
        why = validate_identifier(name, "pipeline name")
        if why:  # checked before anything, even the lock file, is written
            raise UsageError(why, path=str(notebook), fix="use letters, digits and '_', e.g. --name churn_model")
    pipeline = name or pipeline_name(str(notebook))
    with pipeline_lock(ProjectLayout(project).lock(pipeline), pipeline, str(notebook)):
        return _run(
            notebook,
            project=project,
            name=name,
            params=params,
            isolated=isolated,
            force=force,
            split=split,
            on_event=on_event,
            track=track,
            tracking_uri=tracking_uri,
            package=package,
        )


def build_ungated(
    notebook: Union[str, Path],
    *,
    project: Union[str, Path] = ".",
    name: Optional[str] = None,
    split: str = "auto",
    on_event: Optional[EventSink] = None,
) -> RunResult:
    """Build the steps without checking gates, tracking or packaging: the data ``nbprod expect`` proposes suites from
    on a first checkout. The build record is cleared, never written, so the next ``nbprod run`` checks every gate."""
    env.quiet_dependencies()
    layout = ProjectLayout(project)
    pipeline = name or pipeline_name(str(notebook))
    with pipeline_lock(layout.lock(pipeline), pipeline, str(notebook)):
        b = _prepare(notebook, layout, name=name, params={}, isolated=False, split=split, emit=on_event or ignore)
        RecordStore(layout.build_record(b.plan.name)).clear()
        result = RunResult(b.plan)
        outcome = build_dag(
            b.spec, b.pdir, b.nb_dir, b.plan, isolated=False, force=False, emit=b.emit, notebook=notebook
        )
        result.ran, result.skipped, result.timings = outcome.ran, outcome.skipped, outcome.timings
        return result


def _run(
    notebook: Union[str, Path],
    *,
    project: Union[str, Path],
    name: Optional[str],
    params: Optional[dict[str, str]],
    isolated: bool,
    force: bool,
    split: str,
    on_event: Optional[EventSink],
    track: bool,
    tracking_uri: Optional[str],
    package: bool,
) -> RunResult:
    env.quiet_dependencies()
    b = _prepare(
        notebook,
        ProjectLayout(project),
        name=name,
        params=params or {},
        isolated=isolated,
        split=split,
        emit=on_event or ignore,
    )
    result = RunResult(
        b.plan, products={s: {k: b.layout.relpath(v) for k, v in p.items()} for s, p in b.products.items()}
    )
    b.emit(
        StepEvent(EventKind.PLAN, message=f"{len(b.plan.steps)} steps: " + " -> ".join(s.name for s in b.plan.steps))
    )
    differ = may_differ(b.plan)
    unsavable = [f for f in differ if f.code in CANNOT_RUN]
    if unsavable:  # certain to stop mid-run: say so before any step runs
        raise PlanError(unsavable, path=b.plan.notebook.path)
    for finding in differ:
        message = (
            f"{finding.render(b.plan.notebook.path)}\n  the pipeline may differ from the notebook here: nbprod verify"
        )
        b.emit(StepEvent(EventKind.NOTE, message="warning: " + message + " checks"))
    store = RecordStore(b.layout.build_record(b.plan.name))
    fps = step_fingerprints(b.spec, b.pdir, b.mode, gate_inputs(b.plan, b.layout))
    previous = store.load()
    if not force and fast_path(b, previous, fps, result, track=track, package=package):
        return result
    direct = None if force or isolated else outdated_steps(b, previous, fps)  # None: Ploomber decides
    store.clear()
    with contextlib.ExitStack() as side:
        tracker = None
        if track and track_worker.enabled():  # MLflow imported and its store opened while the steps run
            log_path = b.layout.logs_dir / "track_worker.log"
            modules = track_worker.imported_modules(b.plan)
            tracker = side.enter_context(TrackWorker(log_path, b.layout.root, b.plan.name, tracking_uri, modules))
        _build(b, result, force=force, isolated=isolated, direct=direct)
        result.metrics = collect_metrics(b.products)
        builder = None
        if package and any(s.model for s in b.plan.steps):  # BentoML imported while the run is being tracked
            builder = side.enter_context(
                bentoml_child.Builder(b.layout.bentoml_home, track_worker.imported_modules(b.plan))
            )
        tracked = _track(b, result, tracking_uri, tracker) if track else (lambda: None)
        if builder is not None:  # the package is prepared while the run is tracked; the card waits for the run
            try:
                _package(b, result, builder, tracked)
            except BaseException:
                with contextlib.suppress(Exception):  # the packaging error is the one to report
                    tracked()  # the MLflow run is finished, not cut short
                raise
        tracked()
    store.save(
        BuildRecord(
            steps=fps,
            products=product_stats(all_products(b)),
            tracked=result.tracked,
            bento_tag=result.bento_tag,
            generator=generator_fingerprint(),
        )
    )
    return result


def _prepare(
    notebook: Union[str, Path],
    layout: ProjectLayout,
    *,
    name: Optional[str],
    params: dict[str, str],
    isolated: bool,
    split: str,
    emit: EventSink,
) -> BuildContext:
    """Convert (if the notebook changed) and load the spec with the parameter overrides and data-file digests."""
    plan = convert(notebook, project=layout.root, name=name, split=split).plan
    overrides = apply_overrides(plan, params)
    pdir = layout.pipeline_dir(plan.name)
    spec = yaml.safe_load((pdir / "pipeline.yaml").read_text())
    nb_dir = Path(notebook).resolve().parent
    files = {s.name: s.input_files for s in plan.steps if s.input_files}
    for task in spec["tasks"]:
        task_params = dict(task.get("params") or {})
        for k, v in overrides.items():
            if k in task_params:
                task_params[k] = v
        if task["name"] in files:
            task_params[INPUTS_PARAM] = files_digest(nb_dir, files[task["name"]])[:16]
        if task_params:
            task["params"] = task_params
    return BuildContext(
        notebook,
        layout,
        plan,
        spec,
        pdir,
        nb_dir,
        "isolated" if isolated else "in-process",
        overrides,
        product_paths(plan, layout.root),
        emit,
    )


def _build(
    b: BuildContext, result: RunResult, *, force: bool, isolated: bool, direct: Optional[list[str]] = None
) -> None:
    """Build with Ploomber, or run the ``direct`` steps without it (the build record said they are out of date);
    the gatekeeper checks gates as their steps finish and blocks what follows a failure."""
    keeper = None
    with contextlib.ExitStack() as stack:
        if any(s.gates or s.requires for s in b.plan.steps):
            keeper = GateKeeper(b.plan, b.project, b.products, str(b.notebook), b.emit)
            if keeper.needs_validation and os.environ.get("NBPROD_GATE_WORKER", "1") != "0":
                # Great Expectations is imported in a side process while the steps run (on the other core)
                worker = stack.enter_context(GateWorker(b.layout.logs_dir / "gate_worker.log"))
                keeper = GateKeeper(b.plan, b.project, b.products, str(b.notebook), b.emit, validator=worker.run_gate)
        try:
            outcome = (
                run_steps(b.spec, b.pdir, b.nb_dir, b.plan, direct, emit=b.emit, notebook=b.notebook, hooks=keeper)
                if direct is not None
                else build_dag(
                    b.spec,
                    b.pdir,
                    b.nb_dir,
                    b.plan,
                    isolated=isolated,
                    force=force,
                    emit=b.emit,
                    notebook=b.notebook,
                    hooks=keeper,
                    kernel_log=b.layout.logs_dir / f"{b.plan.name}.kernels.log",
                )
            )
            result.ran, result.skipped, result.timings = outcome.ran, outcome.skipped, outcome.timings
            if keeper is not None:
                keeper.finish()
        finally:
            if keeper is not None:
                result.gates = list(keeper.gates.values())
                result.requirements = [o for outs in keeper.requirements.values() for o in outs]


def _track(
    b: BuildContext, result: RunResult, tracking_uri: Optional[str], tracker: Optional[TrackWorker]
) -> Callable[[], Optional[dict]]:
    """Start tracking the run; returns the function that waits for it and returns ``result.tracked`` (once)."""
    from nbprod.track import track as track_in_process

    b.emit(StepEvent(EventKind.NOTE, message="tracking the run in MLflow ..."))
    args = (b.plan, b.project, b.products)
    kwargs = dict(
        params={**b.plan.parameters, **b.overrides},
        metrics=result.metrics,
        ran=result.ran,
        reused=result.skipped,
        gates=result.gates,
        requirements=result.requirements,
        tracking_uri=tracking_uri,
        version=__version__,
    )
    if tracker is not None:
        tracker.send(*args, **kwargs)
    done: list[dict] = []

    def wait() -> Optional[dict]:
        if not done:
            tracked = tracker.result() if tracker is not None else track_in_process(*args, **kwargs)  # type: ignore[arg-type]
            done.append(_tracked(b, result, tracked))
        return done[0]

    return wait


def _tracked(b: BuildContext, result: RunResult, tracked: Any) -> dict:
    result.tracked = {
        "run_id": tracked.run_id,
        "experiment": tracked.experiment,
        "model_version": tracked.model_version,
        "kind": "sqlite" if tracked.tracking_uri.startswith("sqlite:") else "server",
        "tracking_uri": tracked.tracking_uri,
    }
    version = f", model version {tracked.model_version} (alias candidate)" if tracked.model_version else ""
    b.emit(
        StepEvent(
            EventKind.TRACKED, message=f"MLflow run {tracked.run_id} in experiment {tracked.experiment!r}{version}"
        )
    )
    return result.tracked


def _package(
    b: BuildContext, result: RunResult, builder: bentoml_child.Builder, tracked: Callable[[], Optional[dict]]
) -> None:
    from nbprod.package.packager import package_plan

    b.emit(StepEvent(EventKind.NOTE, message="packaging the model as a Bento ..."))
    packaged = package_plan(b.plan, b.project, tracked=tracked, builder=builder.build)
    result.bento_tag = packaged.bento_tag
    result.missing_card_fields = packaged.missing_card_fields
    b.emit(
        StepEvent(
            EventKind.PACKAGED, message=f"Bento {packaged.bento_tag} built from {b.layout.relpath(packaged.bento_dir)}/"
        )
    )
