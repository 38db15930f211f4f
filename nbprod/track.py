"""Tracking: every ``nbprod run`` that builds is one MLflow run in an experiment named after the pipeline.

Parameters, metrics, tags (notebook path and digest, git commit, nbprod version, which steps ran and which were
reused), the ``model:`` variable logged with a signature and input example and registered under the pipeline's
name with the alias ``candidate``, and as artifacts the executed step notebooks, gate results and pipeline card.
The default store is SQLite under ``.nbprod/`` (no server). MLflow is imported only here: ``release``, ``rollback``
and ``status`` get their client from :func:`registry_client`.

MLflow is kept quiet with its own switches (its event stream, the run-URL print, the artifact progress bars) and
its loggers' levels, only for the duration of a call: nothing redirects the process's stdout or stderr, and a
Jupyter kernel that ran the panel keeps its own output and logging.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Optional, Sequence

from nbprod._core.env import quiet_dependencies, quiet_loggers
from nbprod._core.layout import ProjectLayout
from nbprod._core.vcs import git_commit
from nbprod.errors import NbprodError, RunError
from nbprod.plan.dataflow import training_inputs
from nbprod.plan.model import Pipeline, Step

if TYPE_CHECKING:
    from nbprod.gates.model import GateResult, RequirementOutcome

__all__ = ["TrackedRun", "default_tracking_uri", "registry_client", "alias_version", "track", "prepare_store"]

log = logging.getLogger(__name__)

CANDIDATE = "candidate"

#: Loggers MLflow and the libraries under it write to during a call; raised to ERROR for the call only.
QUIET_LOGGERS = ("mlflow", "alembic", "sqlalchemy", "urllib3", "git")

#: MLflow's own switches, set for the duration of a call unless the user set them.
_MLFLOW_QUIET_ENV = {
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",  # "View run ... at: ..." written to sys.stdout
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}


@dataclass
class TrackedRun:
    run_id: str
    experiment: str
    tracking_uri: str
    model_version: Optional[str] = None  #: the registered model is named after the pipeline


def default_tracking_uri(project: Path) -> str:
    return f"sqlite:///{ProjectLayout(project).mlflow_db.resolve()}"


def artifact_root(project: Path) -> Path:
    return ProjectLayout(project).mlflow_artifacts.resolve()


def tracking_uri_of(project: Path, tracking_uri: Optional[str] = None) -> str:
    """The store a command uses: the given URI, else ``MLFLOW_TRACKING_URI``, else SQLite under ``.nbprod/``."""
    if tracking_uri:
        uri, source = tracking_uri, "the tracking_uri argument"
    elif os.environ.get("MLFLOW_TRACKING_URI"):
        uri, source = os.environ["MLFLOW_TRACKING_URI"], "MLFLOW_TRACKING_URI"
    else:
        uri, source = default_tracking_uri(project), "the project default"
    log.debug("tracking URI %s (from %s)", uri, source)
    return uri


@contextlib.contextmanager
def _quiet_mlflow() -> Iterator[None]:
    """MLflow silent for the block, everything restored after: its event stream (``eprint``, its loggers' handler)
    through MLflow's own reference-counted switch, the run-URL print and progress bars through its environment
    switches, warnings, and the levels of :data:`QUIET_LOGGERS`.

    The process's ``sys.stdout``/``sys.stderr`` are left alone, so other threads and callers keep their output."""
    quiet_dependencies()
    saved_env = {k: os.environ.get(k) for k in _MLFLOW_QUIET_ENV}
    for key, value in _MLFLOW_QUIET_ENV.items():
        os.environ.setdefault(key, value)
    with warnings.catch_warnings():  # the first import of MLflow warns about its own dependencies
        warnings.simplefilter("ignore")
        from mlflow.utils import logging_utils
        from mlflow.utils.autologging_utils.logging_and_warnings import MlflowEventsAndWarningsBehaviorGlobally

    stream_was_enabled = logging_utils.MLFLOW_LOGGING_STREAM.enabled
    try:
        with (
            MlflowEventsAndWarningsBehaviorGlobally(
                disable_event_logs=True, disable_warnings=True, reroute_warnings=False
            ),
            warnings.catch_warnings(),
            quiet_loggers(QUIET_LOGGERS, logging.ERROR),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        logging_utils.MLFLOW_LOGGING_STREAM.enabled = stream_was_enabled  # as the user had it
        for key, old in saved_env.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def registry_client(project: Path, tracking_uri: Optional[str] = None) -> Any:
    """The MLflow client of the project's model registry (what ``nbprod release/rollback/status`` use)."""
    quiet_dependencies()
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri_of(project, tracking_uri))


def alias_version(client: Any, model: str, alias: str) -> Optional[str]:
    """The model version ``alias`` points at; None when the model is not registered or has no such alias.

    Any other failure (an unreachable server, a locked or broken store) raises :class:`NbprodError`: it is not the
    same as "no champion"."""
    from mlflow.exceptions import MlflowException

    try:
        aliases = client.get_registered_model(model).aliases or {}
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            log.debug("model %r is not registered yet: no alias %r", model, alias)
            return None
        raise _registry_error(client, model, exc) from exc
    except Exception as exc:  # the HTTP client and SQLAlchemy raise their own types
        raise _registry_error(client, model, exc) from exc
    version = aliases.get(alias)
    log.debug("alias %r of model %r: %s", alias, model, version if version is not None else "not set")
    return None if version is None else str(version)


def _registry_error(client: Any, model: str, exc: BaseException) -> NbprodError:
    first = (str(exc).splitlines() or [""])[0][:200]
    return NbprodError(
        f"reading model {model!r} from the MLflow registry failed ({type(exc).__name__}: {first})",
        path=str(getattr(client, "tracking_uri", "") or "") or None,
        fix="check the tracking URI (--tracking-uri / MLFLOW_TRACKING_URI) and that the store is reachable",
    )


def _product(products: dict[str, dict[str, Path]], plan: Pipeline, step: Step, name: Optional[str]) -> Optional[Path]:
    if name is None:
        return None
    if name in step.inputs:
        return products[step.inputs[name]].get(name)
    return products[step.name].get(name)


@dataclass(frozen=True)
class _RunFacts:
    """Everything one tracked run records (what :func:`track` was given)."""

    plan: Pipeline
    layout: ProjectLayout
    products: dict[str, dict[str, Path]]
    params: dict[str, Any]
    metrics: dict[str, float]
    ran: list[str]
    reused: list[str]
    gates: Sequence[GateResult]
    requirements: Sequence[RequirementOutcome]
    version: str


def track(
    plan: Pipeline,
    project: Path,
    products: dict[str, dict[str, Path]],
    *,
    params: dict[str, Any],
    metrics: dict[str, float],
    ran: list[str],
    reused: list[str],
    gates: Sequence[GateResult],
    requirements: Sequence[RequirementOutcome],
    tracking_uri: Optional[str] = None,
    version: str = "",
) -> TrackedRun:
    """Log this run to MLflow and register the model with the alias ``candidate``."""
    quiet_dependencies()
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")  # an unreachable server fails in seconds, not minutes
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    uri = tracking_uri_of(project, tracking_uri)
    layout = ProjectLayout(project)
    layout.state_root.mkdir(parents=True, exist_ok=True)
    facts = _RunFacts(plan, layout, products, params, metrics, ran, reused, gates, requirements, version)
    user_uri = os.environ.get("MLFLOW_TRACKING_URI")
    try:
        with _quiet_mlflow():
            return _track(facts, uri)
    except RunError:
        raise
    except Exception as exc:  # MLflow raises many types for an unreachable or locked store
        log.debug("tracking failed", exc_info=True)
        raise RunError(
            f"tracking the run in MLflow failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})",
            path=uri,
            fix="check the tracking URI (--tracking-uri / MLFLOW_TRACKING_URI) and that the store is "
            "reachable and not locked; the pipeline's products under .nbprod/ are kept",
        ) from exc
    finally:
        _restore_tracking_uri(user_uri)


def prepare_store(project: Path, experiment: str, tracking_uri: Optional[str] = None) -> None:
    """Import what :func:`track` uses, open the store (on first use the SQLite database is created and migrated)
    and the pipeline's experiment: what a side process does while the steps run (``workflow.track_worker``)."""
    quiet_dependencies()
    uri = tracking_uri_of(project, tracking_uri)
    layout = ProjectLayout(project)
    layout.state_root.mkdir(parents=True, exist_ok=True)
    with _quiet_mlflow():
        import mlflow.models  # noqa: F401  (the signature, the flavours: imported now rather than after the steps)
        import mlflow.pyfunc  # noqa: F401
        import mlflow.sklearn  # noqa: F401
        from mlflow.tracking import MlflowClient
        from mlflow.utils import requirements_utils

        _experiment_id(MlflowClient(uri), experiment, layout, uri)
        # the map of installed distributions MLflow checks the model's requirements against (cached; about 1 s)
        getattr(requirements_utils, "_init_packages_to_modules_map", lambda: None)()


def _restore_tracking_uri(user_uri: Optional[str]) -> None:
    """mlflow.set_tracking_uri also sets MLFLOW_TRACKING_URI in the environment: give the user's process its own."""
    import mlflow

    mlflow.set_tracking_uri(user_uri)  # type: ignore[arg-type]  # None unsets MLflow's global and the variable


def _track(facts: _RunFacts, uri: str) -> TrackedRun:
    """One MLflow run: its values, then its artifacts, then the model registration."""
    import mlflow
    from mlflow.tracking import MlflowClient

    plan = facts.plan
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    exp_id = _experiment_id(client, plan.name, facts.layout, uri)
    result = TrackedRun("", plan.name, uri)
    run_name = f"{plan.name}-{plan.notebook.digest()[:8]}"
    with mlflow.start_run(experiment_id=exp_id, run_name=run_name, tags=_run_tags(facts)) as active:
        result.run_id = active.info.run_id
        log.debug("MLflow run %s in experiment %r (%s)", result.run_id, plan.name, exp_id)
        _log_values(mlflow, facts)
        _log_artifacts(mlflow, facts)
        for step in plan.steps:
            if step.model:
                _register_model(mlflow, client, facts, step, result)
    return result


def _experiment_id(client: Any, name: str, layout: ProjectLayout, uri: str) -> str:
    """The experiment named after the pipeline, created on first use (artifacts under .nbprod/ for SQLite)."""
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = layout.mlflow_artifacts.resolve().as_uri() if uri.startswith("sqlite:") else None
    log.debug("creating MLflow experiment %r (artifacts: %s)", name, location or "the server's default")
    return client.create_experiment(name, artifact_location=location)


def _run_tags(facts: _RunFacts) -> dict[str, str]:
    """Where the run comes from (notebook, digest, commit, nbprod version), what ran, and the gate verdicts."""
    plan = facts.plan
    nb_path = plan.notebook.path
    tags = {
        "nbprod.notebook": nb_path,
        "nbprod.notebook_digest": plan.notebook.digest(),
        "nbprod.version": facts.version,
        "nbprod.steps_ran": ",".join(facts.ran) or "-",
        "nbprod.steps_reused": ",".join(facts.reused) or "-",
        "mlflow.source.name": nb_path,
    }
    commit = git_commit(facts.layout.root)
    if commit:
        tags["mlflow.source.git.commit"] = commit
    for g in facts.gates:
        tags[f"nbprod.gate.{g.variable}"] = "passed" if g.success else "failed"
    for r in facts.requirements:
        tags[f"nbprod.require.{r.metric}"] = f"{r.requirement}:{'passed' if r.passed else 'failed'}"
    return tags


def _log_values(mlflow: Any, facts: _RunFacts) -> None:
    mlflow.log_params({k: str(v)[:500] for k, v in facts.params.items()})
    if facts.metrics:
        mlflow.log_metrics({k: float(v) for k, v in facts.metrics.items()})


def _log_artifacts(mlflow: Any, facts: _RunFacts) -> None:
    """The executed step notebooks, the gate results and reports, and the pipeline card (those that exist)."""
    plan, layout = facts.plan, facts.layout
    files: list[tuple[Path, str]] = [(facts.products[step.name]["nb"], "notebooks") for step in plan.steps]
    gdir = layout.gates_dir(plan.name)
    files += [(gdir / f"{g.variable}{suffix}", "gates") for g in facts.gates for suffix in (".json", ".html")]
    files.append((layout.pipeline_dir(plan.name) / "README.md", "pipeline"))
    for path, folder in files:
        if path.exists():
            mlflow.log_artifact(str(path), artifact_path=folder)
        else:
            log.debug("no artifact %s: not logged", path)


def _register_model(mlflow: Any, client: Any, facts: _RunFacts, step: Step, result: TrackedRun) -> None:
    """Log the step's model (with a signature when its features are found) and alias the new version candidate."""
    from nbprod.io import load_value

    plan = facts.plan
    model = load_value(facts.products[step.name][step.model])  # type: ignore[index]
    signature, example = _signature(plan, step, facts.products, model)
    info = _log_model(mlflow, model, signature, example, plan.name)
    versions = client.search_model_versions(f"name='{plan.name}' and run_id='{result.run_id}'")
    if versions:
        mv = max(versions, key=lambda v: int(v.version))
        client.set_registered_model_alias(plan.name, CANDIDATE, mv.version)
        client.set_model_version_tag(plan.name, mv.version, "nbprod.notebook_digest", plan.notebook.digest())
        result.model_version = mv.version
        log.debug("model %r of step %r registered as %s version %s", step.model, step.name, plan.name, mv.version)
    else:
        log.debug("model %r of step %r: MLflow registered no version for run %s", step.model, step.name, result.run_id)
    mlflow.set_tag("nbprod.model_uri", getattr(info, "model_uri", ""))


def _signature(plan: Pipeline, step: Step, products: dict[str, dict[str, Path]], model: Any) -> tuple[Any, Any]:
    """(signature, input example) from the first rows of the features passed to ``fit``; (None, None) without them."""
    from nbprod.io import load_value

    x_name, _ = training_inputs(plan, step)
    x_path = _product(products, plan, step, x_name)
    if x_path is None or not x_path.exists():
        log.debug("model %r: no features product (%s) for a signature", step.model, x_name or "fit(X, y) not found")
        return None, None
    from mlflow.models import infer_signature

    features = load_value(x_path)
    example = features.head(5) if hasattr(features, "head") else features[:5]
    return infer_signature(example, model.predict(example)), example


#: distribution of a model's top-level module, when the names differ
_DISTRIBUTIONS = {"sklearn": "scikit-learn"}


def pip_requirements(model: Any) -> list[str]:
    """The model's requirements pinned to this environment: its own library, cloudpickle, numpy and pandas (MLflow
    adds itself). Given explicitly, MLflow skips inferring them, which loads the model in a fresh interpreter (5-8 s)."""
    import importlib.metadata

    module = type(model).__module__.split(".")[0]
    pins = []
    for dist in dict.fromkeys((_DISTRIBUTIONS.get(module, module), "cloudpickle", "numpy", "pandas")):
        try:
            pins.append(f"{dist}=={importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            log.debug("no installed distribution %r: not a requirement of the model", dist)
    return pins


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
            pip_requirements=pip_requirements(model),
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
        pip_requirements=pip_requirements(model),
    )
