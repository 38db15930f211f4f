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
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import yaml

from nbprod import __version__
from nbprod._core import env
from nbprod._core.hashing import files_digest, sha256
from nbprod._core.layout import ProjectLayout
from nbprod.convert.render import INPUTS_PARAM, convert, product_paths
from nbprod.engine.lock import pipeline_lock
from nbprod.engine.ploomber import build_dag
from nbprod.engine.record import BuildRecord, RecordStore, product_stats, step_fingerprints
from nbprod.errors import UsageError
from nbprod.events import EventKind, EventSink, StepEvent, ignore
from nbprod.gates.keeper import GateKeeper
from nbprod.gates.model import GateResult, RequirementOutcome, check_requirements
from nbprod.gates.worker import GateWorker
from nbprod.io import load_metrics
from nbprod.notebook.tags import validate_identifier
from nbprod.plan.model import Pipeline, pipeline_name
from nbprod.plan.params import apply_overrides

__all__ = ["RunResult", "run", "build_ungated"]

log = logging.getLogger(__name__)

_PACKAGE_DIR = Path(__file__).resolve().parent.parent / "package"


@dataclass
class RunResult:
    """What a run did. ``fast_path``: nothing changed, answered from the build record without Ploomber."""

    plan: Pipeline
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    products: dict[str, dict[str, str]] = field(default_factory=dict)
    fast_path: bool = False
    tracked: Optional[dict[str, Any]] = None  #: run_id, experiment, model_version, kind, tracking_uri
    bento_tag: Optional[str] = None
    missing_card_fields: list[str] = field(default_factory=list)
    gates: list[GateResult] = field(default_factory=list)
    requirements: list[RequirementOutcome] = field(default_factory=list)

    @property
    def up_to_date(self) -> bool:
        return not self.ran


@dataclass
class _Build:
    """Everything the phases of one run share."""

    notebook: Union[str, Path]
    layout: ProjectLayout
    plan: Pipeline
    spec: dict[str, Any]
    pdir: Path
    nb_dir: Path
    mode: str
    overrides: dict[str, Any]
    products: dict[str, dict[str, Path]]
    emit: EventSink

    @property
    def project(self) -> Path:
        return self.layout.root


def _gate_inputs(plan: Pipeline, layout: ProjectLayout) -> dict[str, list[str]]:
    """What a step's gates depend on besides its products: suite contents and thresholds."""
    out: dict[str, list[str]] = {}
    for step in plan.steps:
        items = []
        for var in step.gates:
            suite = layout.suite(plan.name, var)
            items.append(sha256(suite.read_bytes()) if suite.exists() else f"missing:{var}")
        items += [str(r) for r, _ in step.requires]
        out[step.name] = items
    return out


def collect_metrics(products: dict[str, dict[str, Path]]) -> dict[str, float]:
    """The metrics every step saved (``metrics.json`` products), merged."""
    metrics: dict[str, float] = {}
    for prods in products.values():
        p = prods.get("metrics")
        if p is not None and p.exists():
            metrics.update(load_metrics(p))
    return metrics


def _generator_fingerprint() -> str:
    """The code that renders the Bento: when nbprod is upgraded, a no-op run still re-packages."""
    return sha256("".join(p.read_text() for p in sorted(_PACKAGE_DIR.glob("*.py"))))[:16]


def _previous_gate_results(b: _Build, result: RunResult) -> None:
    """On a no-op run, report the gates of the last build (they passed then, for the same suites and data)."""
    for step in b.plan.steps:
        for var in step.gates:
            try:
                data = json.loads((b.layout.gates_dir(b.plan.name) / f"{var}.json").read_text())
                result.gates.append(GateResult.from_dict(data))
            except (OSError, ValueError, TypeError, KeyError):
                continue
        result.requirements += check_requirements(step, result.metrics)


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
    store = RecordStore(b.layout.build_record(b.plan.name))
    fps = step_fingerprints(b.spec, b.pdir, b.mode, _gate_inputs(b.plan, b.layout))
    if not force and _fast_path(b, store.load(), fps, result, track=track, package=package):
        return result
    store.clear()
    _build(b, result, force=force, isolated=isolated)
    result.metrics = collect_metrics(b.products)
    if track:
        _track(b, result, tracking_uri)
    if package and any(s.model for s in b.plan.steps):
        _package(b, result)
    store.save(
        BuildRecord(
            steps=fps,
            products=product_stats(_all_products(b)),
            tracked=result.tracked,
            bento_tag=result.bento_tag,
            generator=_generator_fingerprint(),
        )
    )
    return result


def _all_products(b: _Build) -> list[Path]:
    return [p for prods in b.products.values() for p in prods.values()]


def _prepare(
    notebook: Union[str, Path],
    layout: ProjectLayout,
    *,
    name: Optional[str],
    params: dict[str, str],
    isolated: bool,
    split: str,
    emit: EventSink,
) -> _Build:
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
    return _Build(
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


def _fast_path(
    b: _Build, previous: Optional[BuildRecord], fps: dict[str, str], result: RunResult, *, track: bool, package: bool
) -> bool:
    """Answer from the build record when nothing changed. Returns False (and logs why) when a build is needed."""
    if previous is None:
        log.debug("full build: no build record for %s", b.plan.name)
        return False
    if track and not previous.tracked:
        log.debug("build: the last build was not tracked")
        return False
    if package and any(s.model for s in b.plan.steps):
        if not previous.bento_tag:
            log.debug("build: the last build was not packaged")
            return False
        if previous.generator != _generator_fingerprint():
            log.debug("build: nbprod's packaging code changed since the last build")
            return False
    changed = sorted(s for s in set(fps) | set(previous.steps) if fps.get(s) != previous.steps.get(s))
    if changed:
        log.debug("build: fingerprints changed for steps %s", ", ".join(changed))
        return False
    stats = product_stats(_all_products(b))
    if stats != previous.products or any(v is None for v in stats.values()):
        log.debug(
            "build: products changed or are missing: %s",
            ", ".join(sorted(p for p, s in stats.items() if s is None or previous.products.get(p) != s)),
        )
        return False
    log.debug("fast path: every fingerprint and product matches the build record")
    for s in b.plan.steps:
        b.emit(StepEvent(EventKind.SKIPPED, s.name, message="up to date"))
    result.skipped = [s.name for s in b.plan.steps]
    result.fast_path = True
    result.metrics = collect_metrics(b.products)
    _previous_gate_results(b, result)
    result.tracked = previous.tracked
    result.bento_tag = previous.bento_tag
    b.emit(
        StepEvent(
            EventKind.NOTE,
            message="nothing changed: no new MLflow run or Bento"
            + (f" (last run {result.tracked['run_id']})" if result.tracked else ""),
        )
    )
    return True


def _build(b: _Build, result: RunResult, *, force: bool, isolated: bool) -> None:
    """Build with Ploomber; the gatekeeper checks gates as their steps finish and blocks what follows a failure."""
    keeper = None
    with contextlib.ExitStack() as stack:
        if any(s.gates or s.requires for s in b.plan.steps):
            keeper = GateKeeper(b.plan, b.project, b.products, str(b.notebook), b.emit)
            if keeper.needs_validation and os.environ.get("NBPROD_GATE_WORKER", "1") != "0":
                # Great Expectations is imported in a side process while the steps run (on the other core)
                worker = stack.enter_context(GateWorker(b.layout.logs_dir / "gate_worker.log"))
                keeper = GateKeeper(b.plan, b.project, b.products, str(b.notebook), b.emit, validator=worker.run_gate)
        try:
            outcome = build_dag(
                b.spec,
                b.pdir,
                b.nb_dir,
                b.plan,
                isolated=isolated,
                force=force,
                emit=b.emit,
                notebook=b.notebook,
                hooks=keeper,
            )
            result.ran, result.skipped, result.timings = outcome.ran, outcome.skipped, outcome.timings
            if keeper is not None:
                keeper.finish()
        finally:
            if keeper is not None:
                result.gates = list(keeper.gates.values())
                result.requirements = [o for outs in keeper.requirements.values() for o in outs]


def _track(b: _Build, result: RunResult, tracking_uri: Optional[str]) -> None:
    from nbprod.track import track as track_run

    b.emit(StepEvent(EventKind.NOTE, message="tracking the run in MLflow ..."))
    tracked = track_run(
        b.plan,
        b.project,
        b.products,
        params={**b.plan.parameters, **b.overrides},
        metrics=result.metrics,
        ran=result.ran,
        reused=result.skipped,
        gates=result.gates,
        requirements=result.requirements,
        tracking_uri=tracking_uri,
        version=__version__,
    )
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


def _package(b: _Build, result: RunResult) -> None:
    from nbprod.package.packager import package_plan

    b.emit(StepEvent(EventKind.NOTE, message="packaging the model as a Bento ..."))
    packaged = package_plan(b.plan, b.project, tracked=result.tracked)
    result.bento_tag = packaged.bento_tag
    result.missing_card_fields = packaged.missing_card_fields
    b.emit(
        StepEvent(
            EventKind.PACKAGED, message=f"Bento {packaged.bento_tag} built from {b.layout.relpath(packaged.bento_dir)}/"
        )
    )
