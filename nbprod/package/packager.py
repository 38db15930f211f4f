"""``nbprod package``: the Bento build context in ``bentos/<pipeline>/``, the model in the BentoML store, the Bento.

Writes a generated ``service.py``, ``bentofile.yaml`` (explicit include/exclude, package pins from the environment
that trained the model, no lock step), ``MODEL_CARD.md`` and ``model_card.json``; saves the model with its drift
baseline and input schema; builds the Bento into ``.nbprod/bentoml`` (BENTOML_HOME). Refuses to package when a
data or evaluation gate failed, so the last good model and Bento stay untouched.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Union

from nbprod._core.fsutil import atomic_write_text
from nbprod._core.layout import ProjectLayout
from nbprod.convert.render import product_paths, write_atomically
from nbprod.engine.record import RecordStore
from nbprod.errors import GateFailedError, NbprodError
from nbprod.gates.model import GateResult, check_requirements
from nbprod.gates.store import cached_gate
from nbprod.io import load_metrics
from nbprod.notebook.reader import read_notebook
from nbprod.package import bentoml_child
from nbprod.package.alerts import load_settings, render_alerts
from nbprod.package.dashboard import render_dashboard
from nbprod.package.deploy import deploy_settings, render_deploy
from nbprod.package.log_settings import load_log_settings
from nbprod.package.model_card import CardFacts, build_model_card, card_facts, card_json, missing_human_fields
from nbprod.package.model_card_md import render_markdown
from nbprod.package.spec import ServingSpec, infer_serving, serve_source
from nbprod.package.templates import render_bentofile, render_service
from nbprod.package.user_code import user_code_error
from nbprod.plan.build import build_plan
from nbprod.plan.model import Pipeline

__all__ = ["PackageResult", "package", "package_plan"]

_BASE_PACKAGES = ("bentoml", "numpy", "pandas", "pydantic", "joblib", "prometheus-client", "starlette", "scipy")
_MODEL_FILES = ("model.joblib", "drift_baseline.json", "input_schema.json")


@dataclass
class PackageResult:
    bento_dir: Path
    files: dict[str, str]
    model_tag: str
    bento_tag: str = ""
    missing_card_fields: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    built: bool = False


def _version(name: str) -> Optional[str]:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _packages(model: Any, serve_imports: str, *, by_value: bool = False) -> dict[str, str]:
    names = list(_BASE_PACKAGES) + (["cloudpickle"] if by_value else [])
    module = type(model).__module__.split(".")[0]
    dist = {"sklearn": "scikit-learn", "xgboost": "xgboost", "lightgbm": "lightgbm"}.get(module, module)
    names.append(dist)
    for line in serve_imports.splitlines():
        top = line.split()[1].split(".")[0] if line.startswith(("import ", "from ")) else ""
        names.append({"sklearn": "scikit-learn", "np": "numpy", "pd": "pandas"}.get(top, top))
    return {n: v for n in sorted(set(names)) if n and (v := _version(n))}


def _check_gates(plan: Pipeline, project: Path, products: dict[str, dict[str, Path]]) -> list[GateResult]:
    """Refuse to package after a failed gate; returns the gate results for the card."""
    results, failures = [], []
    for step in plan.steps:
        for var in step.gates:
            res = (
                cached_gate(project, plan.name, var, products[step.name][var])
                if products[step.name][var].exists()
                else None
            )
            if res is None:
                failures.append(f"gate {var} has no result for the current data: run the pipeline first")
            elif not res.success:
                failures.append(f"gate {var} after step {step.name!r} failed ({len(res.failed)} expectations)")
            else:
                results.append(res)
        if step.requires:
            mpath = products[step.name].get("metrics")
            metrics = load_metrics(mpath) if mpath is not None and mpath.exists() else {}
            failures += [
                f"evaluation gate failed: {o.describe()}" for o in check_requirements(step, metrics) if not o.passed
            ]
    if failures:
        raise GateFailedError(
            "no packaging: " + "; ".join(failures),
            path=plan.notebook.path,
            fix=f"fix the failed gate and re-run `nbprod run {plan.notebook.path}`; the last good Bento is untouched",
        )
    return results


def _predict(plan: Pipeline, spec: ServingSpec, model: Any, features: Any) -> Any:
    """The model's predictions for the training records (for the drift baseline); a failure names the model's cell."""
    step = plan.step(spec.model_step)
    cell = next((c for c in step.cells if c.has("model")), step.first_cell)
    try:
        return model.predict(features)
    except Exception as exc:
        what = f"{spec.model_var}.predict() on the " + (
            "preprocess() output" if spec.has_preprocess else "training features"
        )
        raise user_code_error(
            exc,
            what,
            plan,
            default=cell,
            fix="check that the model predicts on the training features (and that preprocess() returns them), "
            f"then run and package again (nbprod run {plan.notebook.path})",
        ) from exc


def _stage_model(work: Path, stored: Path, model: Any, spec: ServingSpec, baseline: dict) -> str:
    """The model, its drift baseline and input schema in ``work``; returns the model tag (a digest of them)."""
    from nbprod.io import save_value

    work.mkdir(parents=True, exist_ok=True)
    if not stored.is_dir() or not any(stored.glob("value.*")):  # none, or saved with the names unpacked with it
        stored = work / "model.value"
        save_value(model, stored)
    # the run's own product: the same model gives the same bytes, hence the same model tag. A cloudpickle file (a
    # model holding a lambda) is a plain pickle stream, which joblib.load in the service reads too
    shutil.copyfile(min(stored.glob("value.*")), work / "model.joblib")
    atomic_write_text(work / "drift_baseline.json", json.dumps(baseline, sort_keys=True, indent=1))
    atomic_write_text(work / "input_schema.json", spec.schema_json())
    h = hashlib.sha256()
    for name in _MODEL_FILES:
        h.update((work / name).read_bytes())
    return h.hexdigest()[:12]


def bento_version(files: dict[str, str]) -> str:
    """The Bento's version: a digest of its build context with a model card naming no Bento (the card then names
    it; ``deploy/`` is not in it either: it names the version)."""
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:12]


def _build_request(
    plan: Pipeline,
    spec: ServingSpec,
    model_tag: str,
    version: str,
    *,
    work: Path,
    out: Path,
    notebook: str,
    run_id: Optional[str],
) -> dict:
    """What the BentoML child needs to save the model and build the Bento."""
    return {
        "model_tag": model_tag,
        "name": plan.name,
        "bento_version": version,
        "build_ctx": str(out.resolve()),
        "model_labels": {"nbprod.pipeline": plan.name},
        # BentoML refuses None in metadata: an untracked run simply has no run id
        "model_metadata": {"notebook": notebook, "task": spec.task, **({"mlflow_run_id": run_id} if run_id else {})},
        "model_files": {n: str((work / n).resolve()) for n in _MODEL_FILES},
        "bento_labels": {"nbprod.pipeline": plan.name},
    }


def _card_files(facts: CardFacts, plan: Pipeline) -> dict[str, str]:
    card = build_model_card(facts, plan.cards)
    return {"MODEL_CARD.md": render_markdown(card), "model_card.json": card_json(card)}


def package_plan(
    plan: Pipeline,
    project: Path,
    *,
    tracked: Union[None, dict, Callable[[], Optional[dict]]] = None,
    build: bool = True,
    builder: Optional[Callable[..., dict[str, str]]] = None,
) -> PackageResult:
    """``tracked`` may be a function that waits for the MLflow run (``nbprod run`` tracks it meanwhile): it is
    called when the model card needs the run, after the model and its drift baseline are staged."""
    from nbprod.package import batching, drift, prediction_log, service_log

    layout = ProjectLayout(project)
    products = product_paths(plan, project)
    gates = _check_gates(plan, project, products)
    spec, model, raw, features = infer_serving(plan, project, products)
    baseline = drift.compute_baseline(raw, _predict(plan, spec, model, features))
    work = layout.package_work_dir(plan.name).resolve()
    model_tag = f"{plan.name}:" + _stage_model(work, products[spec.model_step][spec.model_var], model, spec, baseline)
    imports, code = serve_source(plan)
    packages = _packages(model, imports, by_value=(work / "model.joblib").read_bytes().find(b"cloudpickle") >= 0)
    tracked = tracked() if callable(tracked) else tracked
    facts = card_facts(
        plan,
        project,
        spec=spec,
        model=model,
        raw=raw,
        products=products,
        gates=gates,
        baseline=baseline,
        tracked=tracked,
        packages=packages,
    )
    nb_rel = facts.notebook or ""
    alert_settings = load_settings(project)
    files = {
        "service.py": render_service(
            spec,
            pipeline=plan.name,
            notebook=nb_rel,
            model_tag=model_tag,
            serve_imports=imports,
            serve_code=code,
            drift_levels=alert_settings.drift_levels(),
            prediction_log=load_log_settings(project),
        ),
        "bentofile.yaml": render_bentofile(pipeline=plan.name, notebook=nb_rel, model_tag=model_tag, packages=packages),
        "nbprod_batching.py": Path(batching.__file__).read_text(),
        "nbprod_drift.py": Path(drift.__file__).read_text(),
        "nbprod_service_log.py": Path(service_log.__file__).read_text(),
        "nbprod_prediction_log.py": Path(prediction_log.__file__).read_text(),
        "alerts.yaml": render_alerts(plan.name, model_tag, baseline, alert_settings),
        "dashboard.json": render_dashboard(plan.name, model_tag, baseline, alert_settings),
    }
    files.update(_card_files(facts, plan))
    # the Bento's version is a digest of its files with the card naming no Bento; the card then names that Bento
    version = bento_version(files)
    if build:
        files.update(_card_files(dataclasses.replace(facts, bento_tag=f"{plan.name}:{version}"), plan))
    card = build_model_card(facts, plan.cards)
    out = layout.bento_dir(plan.name)
    deploy = render_deploy(plan.name, version, deploy_settings(layout.root))  # Kubernetes manifests: the built Bento
    write_atomically(out, {**files, **deploy})
    result = PackageResult(
        out, {**files, **deploy}, model_tag, missing_card_fields=missing_human_fields(card), notes=spec.notes
    )
    if build:
        run_id = (tracked or {}).get("run_id")
        request = _build_request(plan, spec, model_tag, version, work=work, out=out, notebook=nb_rel, run_id=run_id)
        info = (builder or bentoml_child.build)(layout.bentoml_home, request, work / "build_request.json", out)
        result.bento_tag, result.built = info["bento_tag"], True
        atomic_write_text(layout.last_bento(plan.name), json.dumps(info))
    return result


def package(
    notebook: Union[str, Path],
    *,
    project: Union[str, Path] = ".",
    name: Optional[str] = None,
    split: str = "auto",
    build: bool = True,
) -> PackageResult:
    """Package the model of the last good run of ``notebook`` (see the module docstring)."""
    layout = ProjectLayout(project)
    nb = read_notebook(notebook, display_path=layout.relpath(notebook))
    plan = build_plan(nb, name=name, split=split)
    store = RecordStore(layout.build_record(plan.name))
    record = store.load()
    tracked = record.tracked if record else None
    if not any(s.model for s in plan.steps):
        raise NbprodError(
            "nothing to package: the notebook has no model:<variable> tag",
            path=nb.path,
            fix="tag the cell that trains the model, e.g. '# nbprod: step:train model:model'",
        )
    result = package_plan(plan, layout.root, tracked=tracked, build=build)
    if result.built:  # the build record names the Bento that release and approvals refer to
        store.update(bento_tag=result.bento_tag)
    return result
