"""``nbprod run``: convert if needed, then build the pipeline with Ploomber, incrementally.

Steps run in-process with ploomber-engine (imports are paid once) or, with ``isolated=True``, each in its
own kernel through papermill. A step re-runs when its generated code, the parameters it uses, the data
files it reads, or an upstream product changed. When nothing changed at all, nbprod answers from its own
build record without importing Ploomber.
"""
from __future__ import annotations

import ast
import contextlib
import hashlib
import json
import os

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional, Union

import yaml

from . import settings
from .convert import INPUTS_PARAM, convert, pipeline_dir, product_paths, project_relpath
from .errors import RunError
from .params import apply_overrides
from .plan import Pipeline, pipeline_name


__all__ = ["StepEvent", "RunResult", "run"]



@dataclass(frozen=True)
class StepEvent:
    """Progress of a run. ``kind``: plan, start, done, skipped, failed, aborted."""

    kind: str
    step: str = ""
    elapsed: float = 0.0
    message: str = ""


@dataclass
class RunResult:
    plan: Pipeline
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    products: dict[str, dict[str, str]] = field(default_factory=dict)
    fast_path: bool = False
    tracked: Optional[dict] = None  # run_id, experiment, model_version, kind, tracking_uri
    bento_tag: Optional[str] = None
    missing_card_fields: list[str] = field(default_factory=list)
    gates: list = field(default_factory=list)  # GateResult
    requirements: list = field(default_factory=list)  # RequirementOutcome

    @property
    def up_to_date(self) -> bool:
        return not self.ran


def _sha(data: Union[str, bytes]) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def _digest_files(nb_dir: Path, files: list[str]) -> str:
    h = hashlib.sha256()
    for rel in files:
        h.update(rel.encode())
        with open(nb_dir / rel, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


def _stat(path: Path) -> Optional[list[int]]:
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_mtime_ns, st.st_size, st.st_ino]


class _BuildRecord:
    """What the last successful build saw: per-step fingerprints and product stats (``.nbprod/state/``)."""

    def __init__(self, project: Path, name: str) -> None:
        self.path = project / ".nbprod" / "state" / f"{name}.json"

    def load(self) -> Optional[dict]:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None

    def save(self, data: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, sort_keys=True, indent=1))
        os.replace(tmp, self.path)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def _gate_inputs(plan: Pipeline, project: Path) -> dict[str, list[str]]:
    """What a step's gates depend on besides its products: suite contents and thresholds."""
    out: dict[str, list[str]] = {}
    for step in plan.steps:
        items = []
        for var in step.gates:
            suite = project / "expectations" / plan.name / f"{var}.json"
            items.append(_sha(suite.read_bytes()) if suite.exists() else f"missing:{var}")
        items += [str(r) for r, _ in step.requires]
        out[step.name] = items
    return out


def _fingerprints(spec: dict, pdir: Path, mode: str, gate_inputs: dict[str, list[str]]) -> dict[str, str]:
    fps: dict[str, str] = {}
    for task in spec["tasks"]:
        source = (pdir / task["source"]).read_text()
        ups = ast_upstream(source)
        payload = json.dumps([source, task.get("params", {}), mode, [fps.get(u, "") for u in ups],
                              gate_inputs.get(task["name"], [])], sort_keys=True, default=repr)
        fps[task["name"]] = _sha(payload)
    return fps


def ast_upstream(source: str) -> list[str]:
    for line in source.split("\n"):
        if line.startswith("upstream = "):
            value = ast.literal_eval(line[len("upstream = "):])
            return list(value or [])
    return []


def _collect_metrics(products: dict[str, dict[str, Path]]) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for prods in products.values():
        p = prods.get("metrics")
        if p is not None and p.exists():
            metrics.update(json.loads(p.read_text()))
    return metrics


def _generator_fingerprint() -> str:
    """The code that renders the Bento: when nbprod is upgraded, a no-op run still re-packages."""
    here = Path(__file__).parent
    return _sha("".join((here / f).read_text() for f in ("bento.py", "card.py", "drift.py", "package.py", "serving.py")))[:16]


def _previous_gate_results(plan: Pipeline, project: Path, result: RunResult) -> None:
    """On a no-op run, report the gates of the last build (they passed then, for the same suites and data)."""
    if not any(s.gates or s.requires for s in plan.steps):
        return
    from .gates import GateResult, check_requirements, gates_dir

    for step in plan.steps:
        for var in step.gates:
            try:
                result.gates.append(GateResult.from_dict(json.loads((gates_dir(project, plan.name) / f"{var}.json").read_text())))
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
    on_event: Optional[Callable[[StepEvent], None]] = None,
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
        from .tags import validate_identifier

        why = validate_identifier(name, "pipeline name")
        if why:  # checked before anything, even the lock file, is written
            from .errors import UsageError

            raise UsageError(why, path=str(notebook), fix="use letters, digits and '_', e.g. --name churn_model")
    with _run_lock(Path(project), name or pipeline_name(str(notebook)), notebook):
        return _run(notebook, project=project, name=name, params=params, isolated=isolated, force=force, split=split,
                    on_event=on_event, track=track, tracking_uri=tracking_uri, package=package)


@contextlib.contextmanager
def _run_lock(project: Path, pipeline: str, notebook: Union[str, Path]) -> Iterator[None]:
    """One ``nbprod run`` per pipeline at a time: a second one stops with a clear message instead of racing."""
    import fcntl

    path = project / ".nbprod" / "locks" / f"{pipeline}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "a+")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "?"
            raise RunError(f"another `nbprod run` of pipeline {pipeline!r} is running (pid {holder})", path=str(notebook),
                           fix="wait for it to finish, then run again; nothing was changed by this attempt") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield
    finally:
        fh.close()  # closing releases the lock


def _run(notebook: Union[str, Path], *, project: Union[str, Path], name: Optional[str], params: Optional[dict[str, str]],
         isolated: bool, force: bool, split: str, on_event: Optional[Callable[[StepEvent], None]], track: bool,
         tracking_uri: Optional[str], package: bool) -> RunResult:
    settings.quiet_dependencies()
    emit = on_event or (lambda e: None)
    project = Path(project)
    conv = convert(notebook, project=project, name=name, split=split)
    plan = conv.plan
    overrides = apply_overrides(plan, params or {})
    pdir = pipeline_dir(project, plan.name)
    spec = yaml.safe_load((pdir / "pipeline.yaml").read_text())
    nb_dir = Path(notebook).resolve().parent
    files = {s.name: s.input_files for s in plan.steps if s.input_files}
    mode = "isolated" if isolated else "in-process"
    for task in spec["tasks"]:
        task_params = dict(task.get("params") or {})
        for k, v in overrides.items():
            if k in task_params:
                task_params[k] = v
        if task["name"] in files:
            task_params[INPUTS_PARAM] = _digest_files(nb_dir, files[task["name"]])
        if task_params:
            task["params"] = task_params
    products = product_paths(plan, project)
    result = RunResult(plan, products={s: {k: project_relpath(v, project) for k, v in p.items()} for s, p in products.items()})
    emit(StepEvent("plan", message=f"{len(plan.steps)} steps: " + " -> ".join(s.name for s in plan.steps)))

    record = _BuildRecord(project, plan.name)
    fps = _fingerprints(spec, pdir, mode, _gate_inputs(plan, project))
    previous = record.load()
    complete = previous is not None and (not track or previous.get("tracked")) and (
        not package or not any(s.model for s in plan.steps)
        or (previous.get("bento_tag") and previous.get("generator") == _generator_fingerprint()))
    if not force and previous and complete and previous.get("steps") == fps:
        stats = {str(p): _stat(p) for prods in products.values() for p in prods.values()}
        if stats == previous.get("products") and all(v is not None for v in stats.values()):
            for s in plan.steps:
                emit(StepEvent("skipped", s.name, message="up to date"))
            result.skipped = [s.name for s in plan.steps]
            result.fast_path = True
            result.metrics = _collect_metrics(products)
            _previous_gate_results(plan, project, result)
            result.tracked = previous.get("tracked")
            result.bento_tag = previous.get("bento_tag")
            emit(StepEvent("note", message="nothing changed: no new MLflow run or Bento"
                           + (f" (last run {result.tracked['run_id']})" if result.tracked else "")))
            return result

    record.clear()
    keeper = None
    with contextlib.ExitStack() as stack:
        if any(s.gates or s.requires for s in plan.steps):
            from .gatekeeper import GateKeeper

            keeper = GateKeeper(plan, project, products, str(notebook), emit)
            if keeper.needs_validation and os.environ.get("NBPROD_GATE_WORKER", "1") != "0":
                from .gate_worker import GateWorker

                # Great Expectations is imported in a side process while the steps run (on the other core)
                worker = stack.enter_context(GateWorker(project / ".nbprod" / "logs" / "gate_worker.log"))
                keeper.validator = worker.run_gate
        try:
            _build_with_ploomber(spec, pdir, nb_dir, plan, isolated, force, emit, result, notebook, keeper)
            if keeper is not None:
                keeper.finish()
        finally:
            if keeper is not None:
                result.gates = list(keeper.gates.values())
                result.requirements = [o for outs in keeper.requirements.values() for o in outs]
    result.metrics = _collect_metrics(products)
    effective = {**plan.parameters, **overrides}
    if track:
        from . import __version__
        from .tracking import track as track_run

        emit(StepEvent("note", message="tracking the run in MLflow ..."))
        tracked = track_run(plan, project, products, params=effective, metrics=result.metrics, ran=result.ran,
                            reused=result.skipped, gates=result.gates, requirements=result.requirements,
                            tracking_uri=tracking_uri, version=__version__)
        result.tracked = {"run_id": tracked.run_id, "experiment": tracked.experiment, "model_version": tracked.model_version,
                          "kind": "sqlite" if tracked.tracking_uri.startswith("sqlite:") else "server",
                          "tracking_uri": tracked.tracking_uri}
        emit(StepEvent("tracked", message=f"MLflow run {tracked.run_id} in experiment {tracked.experiment!r}"
                       + (f", model version {tracked.model_version} (alias candidate)" if tracked.model_version else "")))
    if package and any(s.model for s in plan.steps):
        from .package import package_plan

        emit(StepEvent("note", message="packaging the model as a Bento ..."))
        packaged = package_plan(plan, project, tracked=result.tracked)
        result.bento_tag = packaged.bento_tag
        result.missing_card_fields = packaged.missing_card_fields
        emit(StepEvent("packaged", message=f"Bento {packaged.bento_tag} built from {project_relpath(packaged.bento_dir, project)}/"))
    stats = {str(p): _stat(p) for prods in products.values() for p in prods.values()}
    record.save({"steps": fps, "products": stats, "tracked": result.tracked, "bento_tag": result.bento_tag,
                 "generator": _generator_fingerprint()})
    return result


def _build_with_ploomber(spec: dict, pdir: Path, nb_dir: Path, plan: Pipeline, isolated: bool, force: bool,
                         emit: Callable[[StepEvent], None], result: RunResult, notebook: Union[str, Path], keeper) -> None:
    from .executor import build_dag

    build_dag(spec, pdir, nb_dir, plan, isolated=isolated, force=force, emit=emit, result=result, notebook=notebook,
              keeper=keeper)


