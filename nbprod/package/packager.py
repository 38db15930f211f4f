"""``nbprod package``: the Bento build context in ``bentos/<pipeline>/``, the model in the BentoML store, the Bento.

Writes a generated ``service.py``, ``bentofile.yaml`` (explicit include/exclude, package pins from the environment
that trained the model, no lock step), ``MODEL_CARD.md`` and ``model_card.json``; saves the model with its drift
baseline and input schema; builds the Bento into ``.nbprod/bentoml`` (BENTOML_HOME). Refuses to package when a
data or evaluation gate failed, so the last good model and Bento stay untouched.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from nbprod.convert.render import product_paths, project_relpath, write_atomically
from nbprod.errors import GateFailedError, NbprodError, RunError
from nbprod.gates.model import check_requirements
from nbprod.gates.store import cached_gate
from nbprod.notebook.reader import read_notebook
from nbprod.package.model_card import build_model_card, card_facts, card_json, missing_human_fields
from nbprod.package.model_card_md import render_markdown
from nbprod.package.spec import infer_serving, serve_source
from nbprod.package.templates import render_bentofile, render_service
from nbprod.plan.build import build_plan
from nbprod.plan.model import Pipeline

__all__ = ["PackageResult", "package", "package_plan", "bentoml_home", "bento_dir"]

_BASE_PACKAGES = ("bentoml", "numpy", "pandas", "pydantic", "joblib", "prometheus-client", "starlette")


@dataclass
class PackageResult:
    bento_dir: Path
    files: dict[str, str]
    model_tag: str
    bento_tag: str = ""
    missing_card_fields: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    built: bool = False


def bentoml_home(project: Path) -> Path:
    return (project / ".nbprod" / "bentoml").resolve()


def bento_dir(project: Path, name: str) -> Path:
    return project / "bentos" / name


def _version(name: str) -> Optional[str]:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _packages(model: Any, serve_imports: str) -> dict[str, str]:
    names = list(_BASE_PACKAGES)
    module = type(model).__module__.split(".")[0]
    dist = {"sklearn": "scikit-learn", "xgboost": "xgboost", "lightgbm": "lightgbm"}.get(module, module)
    names.append(dist)
    for line in serve_imports.splitlines():
        top = line.split()[1].split(".")[0] if line.startswith(("import ", "from ")) else ""
        names.append({"sklearn": "scikit-learn", "np": "numpy", "pd": "pandas"}.get(top, top))
    return {n: v for n in sorted(set(names)) if n and (v := _version(n))}


def _check_gates(plan: Pipeline, project: Path, products: dict[str, dict[str, Path]]) -> list:
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
            metrics = json.loads(mpath.read_text()) if mpath is not None and mpath.exists() else {}
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


def package_plan(plan: Pipeline, project: Path, *, tracked: Optional[dict] = None, build: bool = True) -> PackageResult:
    import joblib

    from nbprod.package.drift import compute_baseline

    products = product_paths(plan, project)
    gates = _check_gates(plan, project, products)
    spec, model, raw, features = infer_serving(plan, project, products)
    predictions = model.predict(features)
    baseline = compute_baseline(raw, predictions)
    work = (project / ".nbprod" / "package" / plan.name).resolve()
    work.mkdir(parents=True, exist_ok=True)
    stored = products[spec.model_step][spec.model_var] / "value.joblib"
    if stored.exists():  # the run's own product: the same model gives the same bytes, hence the same model tag
        shutil.copyfile(stored, work / "model.joblib")
    else:
        joblib.dump(model, work / "model.joblib")
    (work / "drift_baseline.json").write_text(json.dumps(baseline, sort_keys=True, indent=1))
    (work / "input_schema.json").write_text(spec.schema_json())
    h = hashlib.sha256()
    for name in ("model.joblib", "drift_baseline.json", "input_schema.json"):
        h.update((work / name).read_bytes())
    model_tag = f"{plan.name}:{h.hexdigest()[:12]}"
    imports, code = serve_source(plan)
    packages = _packages(model, imports)
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
    card = build_model_card(facts, plan.cards)
    nb_rel = facts.notebook or ""
    files = {
        "service.py": render_service(
            spec, pipeline=plan.name, notebook=nb_rel, model_tag=model_tag, serve_imports=imports, serve_code=code
        ),
        "bentofile.yaml": render_bentofile(pipeline=plan.name, notebook=nb_rel, model_tag=model_tag, packages=packages),
        "MODEL_CARD.md": render_markdown(card),
        "model_card.json": card_json(card),
        "nbprod_drift.py": (Path(__file__).parent / "drift.py").read_text(),
    }
    out = bento_dir(project, plan.name)
    write_atomically(out, files)
    result = PackageResult(out, files, model_tag, missing_card_fields=missing_human_fields(card), notes=spec.notes)
    if build:
        digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:12]
        request = {
            "model_tag": model_tag,
            "name": plan.name,
            "bento_version": digest,
            "build_ctx": str(out.resolve()),
            "model_labels": {"nbprod.pipeline": plan.name},
            "model_metadata": {"notebook": nb_rel, "task": spec.task, "mlflow_run_id": (tracked or {}).get("run_id")},
            "model_files": {
                n: str((work / n).resolve()) for n in ("model.joblib", "drift_baseline.json", "input_schema.json")
            },
            "bento_labels": {"nbprod.pipeline": plan.name},
        }
        (work / "build_request.json").write_text(json.dumps(request))
        env = dict(os.environ, BENTOML_HOME=str(bentoml_home(project)), BENTOML_DO_NOT_TRACK="true")
        proc = subprocess.run(
            [sys.executable, "-m", "nbprod.package.bentoml_child", str(work / "build_request.json")],
            capture_output=True,
            text=True,
            env=env,
            cwd=str(out),
        )
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-8:])
            raise RunError(
                f"building the Bento failed:\n{tail}",
                path=str(out / "bentofile.yaml"),
                fix="read the error above; the previous Bento in .nbprod/bentoml is untouched",
            )
        info = json.loads(proc.stdout.strip().splitlines()[-1])
        result.bento_tag, result.built = info["bento_tag"], True
        (work / "last_bento.json").write_text(json.dumps(info))
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
    project = Path(project)
    nb = read_notebook(notebook, display_path=project_relpath(notebook, project))
    plan = build_plan(nb, name=name, split=split)
    state = project / ".nbprod" / "state" / f"{plan.name}.json"
    tracked = None
    try:
        tracked = json.loads(state.read_text()).get("tracked")
    except (OSError, ValueError):
        pass
    if not any(s.model for s in plan.steps):
        raise NbprodError(
            "nothing to package: the notebook has no model:<variable> tag",
            path=nb.path,
            fix="tag the cell that trains the model, e.g. '# nbprod: step:train model:model'",
        )
    result = package_plan(plan, project, tracked=tracked, build=build)
    if result.built and state.exists():  # the build record names the Bento that release and approvals refer to
        data = json.loads(state.read_text())
        data["bento_tag"] = result.bento_tag
        tmp = state.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, sort_keys=True, indent=1))
        os.replace(tmp, state)
    return result
