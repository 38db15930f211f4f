"""Tracking: every ``nbprod run`` that builds is one MLflow run in an experiment named after the pipeline.

Parameters, metrics, tags (notebook path and digest, git commit, nbprod version, which steps ran and which were
reused), the ``model:`` variable logged with a signature and input example and registered under the pipeline's
name with the alias ``candidate``, and as artifacts the executed step notebooks, gate results and pipeline card.
The default store is SQLite under ``.nbprod/`` (no server); MLflow is imported only here.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from nbprod._core.vcs import git_commit
from nbprod.errors import RunError
from nbprod.plan.dataflow import training_inputs
from nbprod.plan.model import Pipeline, Step

__all__ = ["TrackedRun", "default_tracking_uri", "track"]

CANDIDATE = "candidate"


@dataclass
class TrackedRun:
    run_id: str
    experiment: str
    tracking_uri: str
    model_name: Optional[str] = None
    model_version: Optional[str] = None


def default_tracking_uri(project: Path) -> str:
    return f"sqlite:///{(project / '.nbprod' / 'mlflow.db').resolve()}"


def artifact_root(project: Path) -> Path:
    return (project / ".nbprod" / "mlartifacts").resolve()


def _product(products: dict[str, dict[str, Path]], plan: Pipeline, step: Step, name: Optional[str]) -> Optional[Path]:
    if name is None:
        return None
    if name in step.inputs:
        return products[step.inputs[name]].get(name)
    return products[step.name].get(name)


def track(
    plan: Pipeline,
    project: Path,
    products: dict[str, dict[str, Path]],
    *,
    params: dict[str, Any],
    metrics: dict[str, float],
    ran: list[str],
    reused: list[str],
    gates: list,
    requirements: list,
    tracking_uri: Optional[str] = None,
    version: str = "",
) -> TrackedRun:
    """Log this run to MLflow and register the model with the alias ``candidate``."""
    from nbprod._core.env import quiet_dependencies

    quiet_dependencies()
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")  # an unreachable server fails in seconds, not minutes
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri(project)
    (project / ".nbprod").mkdir(parents=True, exist_ok=True)
    user_uri = os.environ.get("MLFLOW_TRACKING_URI")
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            return _track(plan, project, products, params, metrics, ran, reused, gates, requirements, uri, version)
    except RunError:
        raise
    except Exception as exc:  # MLflow raises many types for an unreachable or locked store
        raise RunError(
            f"tracking the run in MLflow failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})",
            path=uri,
            fix="check the tracking URI (--tracking-uri / MLFLOW_TRACKING_URI) and that the store is "
            "reachable and not locked; the pipeline's products under .nbprod/ are kept",
        ) from exc
    finally:
        _restore_tracking_uri(user_uri)


def _restore_tracking_uri(user_uri: Optional[str]) -> None:
    """mlflow.set_tracking_uri also sets MLFLOW_TRACKING_URI in the environment: give the user's process its own back."""
    import mlflow

    mlflow.set_tracking_uri(user_uri)  # None unsets both MLflow's global and the environment variable


def _track(
    plan: Pipeline,
    project: Path,
    products: dict[str, dict[str, Path]],
    params: dict[str, Any],
    metrics: dict[str, float],
    ran: list[str],
    reused: list[str],
    gates: list,
    requirements: list,
    uri: str,
    version: str,
) -> TrackedRun:
    import mlflow
    from mlflow.tracking import MlflowClient

    from nbprod.io import load_value

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(plan.name)
    if experiment is None:
        location = artifact_root(project).as_uri() if uri.startswith("sqlite:") else None
        exp_id = client.create_experiment(plan.name, artifact_location=location)
    else:
        exp_id = experiment.experiment_id
    nb_path = plan.notebook.path
    tags = {
        "nbprod.notebook": nb_path,
        "nbprod.notebook_digest": plan.notebook.digest(),
        "nbprod.version": version,
        "nbprod.steps_ran": ",".join(ran) or "-",
        "nbprod.steps_reused": ",".join(reused) or "-",
        "mlflow.source.name": nb_path,
    }
    commit = git_commit(project)
    if commit:
        tags["mlflow.source.git.commit"] = commit
    for g in gates:
        tags[f"nbprod.gate.{g.variable}"] = "passed" if g.success else "failed"
    for r in requirements:
        tags[f"nbprod.require.{r.metric}"] = f"{r.requirement}:{'passed' if r.passed else 'failed'}"
    result = TrackedRun("", plan.name, uri)
    with mlflow.start_run(
        experiment_id=exp_id, run_name=f"{plan.name}-{plan.notebook.digest()[:8]}", tags=tags
    ) as active:
        result.run_id = active.info.run_id
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        if metrics:
            mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
        for step in plan.steps:
            nb = products[step.name]["nb"]
            if nb.exists():
                mlflow.log_artifact(str(nb), artifact_path="notebooks")
        gdir = project / ".nbprod" / "gates" / plan.name
        for g in gates:
            for suffix in (".json", ".html"):
                path = gdir / f"{g.variable}{suffix}"
                if path.exists():
                    mlflow.log_artifact(str(path), artifact_path="gates")
        card = project / "pipelines" / plan.name / "README.md"
        if card.exists():
            mlflow.log_artifact(str(card), artifact_path="pipeline")
        for step in plan.steps:
            if not step.model:
                continue
            model = load_value(products[step.name][step.model])
            x_name, _ = training_inputs(plan, step)
            x_path = _product(products, plan, step, x_name)
            example = None
            signature = None
            if x_path is not None and x_path.exists():
                from mlflow.models import infer_signature

                features = load_value(x_path)
                example = features.head(5) if hasattr(features, "head") else features[:5]
                signature = infer_signature(example, model.predict(example))
            info = _log_model(mlflow, model, signature, example, plan.name)
            versions = client.search_model_versions(f"name='{plan.name}' and run_id='{result.run_id}'")
            if versions:
                mv = max(versions, key=lambda v: int(v.version))
                client.set_registered_model_alias(plan.name, CANDIDATE, mv.version)
                client.set_model_version_tag(plan.name, mv.version, "nbprod.notebook_digest", plan.notebook.digest())
                result.model_name, result.model_version = plan.name, mv.version
            mlflow.set_tag("nbprod.model_uri", getattr(info, "model_uri", ""))
    return result


def _log_model(mlflow: Any, model: Any, signature: Any, example: Any, registered: str) -> Any:
    module = type(model).__module__.split(".")[0]
    if module == "sklearn":
        return mlflow.sklearn.log_model(
            model,
            name="model",
            signature=signature,
            input_example=example,
            registered_model_name=registered,
            serialization_format="cloudpickle",
        )
    import mlflow.pyfunc

    class _Wrapped(mlflow.pyfunc.PythonModel):
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
            return self.inner.predict(model_input)

    return mlflow.pyfunc.log_model(
        name="model",
        python_model=_Wrapped(model),
        signature=signature,
        input_example=example,
        registered_model_name=registered,
    )
