"""What an exported pipeline's tasks call at run time, on the orchestrator's worker (Airflow, Kubeflow Pipelines).

Each step runs its generated task script (``pipelines/<name>/tasks/<step>.py``) in its own kernel with papermill,
with the same ``upstream``/``product`` parameters Ploomber would inject, so a step computes what ``nbprod run
--isolated`` computes. Products travel as paths under a products folder (by default nbprod's own,
``.nbprod/products/<pipeline>/``), never as pickled objects through the orchestrator; the ``*_at`` variants take
the paths themselves (Kubeflow's typed artifacts: ``Output[Dataset].path``). Gates and ``require:``
thresholds are their own tasks: they raise, so the orchestrator marks the run failed at the gate task.
"""

from __future__ import annotations

import logging
import os
from functools import partial
from pathlib import Path
from typing import Any, Optional, Union

import yaml

from nbprod._core import env
from nbprod._core.layout import ProjectLayout
from nbprod.convert.markers import read_upstream
from nbprod.engine.ploomber import describe_failure
from nbprod.errors import GateFailedError, RunError, StepFailedError
from nbprod.io import load_metrics
from nbprod.notebook.reader import read_notebook
from nbprod.plan.build import build_plan
from nbprod.plan.model import Pipeline

__all__ = [
    "run_step",
    "run_step_at",
    "check_gate",
    "check_gate_at",
    "check_thresholds",
    "check_thresholds_at",
    "publish_products",
    "track_and_package",
    "products_root",
    "replace_data_files",
]

log = logging.getLogger(__name__)

PathLike = Union[str, Path]


def products_root(project: PathLike, pipeline: str, products_dir: Optional[str] = None) -> Path:
    """Where the products go: ``products_dir`` (relative to the project, or absolute), else nbprod's own folder."""
    root = Path(project)
    return (root / products_dir) if products_dir else ProjectLayout(root).products_dir(pipeline)


def _plan(project: Path, pipeline: str, notebook: str) -> Pipeline:
    return build_plan(read_notebook(project / notebook, display_path=notebook), name=pipeline)


def _spec(project: Path, pipeline: str) -> tuple[Path, dict[str, Any]]:
    pdir = ProjectLayout(project).pipeline_dir(pipeline)
    if not (pdir / "pipeline.yaml").is_file():
        raise RunError(
            f"no pipeline {pipeline!r} here: {pdir / 'pipeline.yaml'} does not exist",
            path=str(pdir),
            fix="run the task from the project folder (--project), after `nbprod convert` of the notebook",
        )
    return pdir, yaml.safe_load((pdir / "pipeline.yaml").read_text())


def _products(project: Path, pipeline: str, pdir: Path, task: dict[str, Any], root: Path) -> dict[str, str]:
    """The task's products re-rooted under ``root`` (pipeline.yaml names them under nbprod's products folder)."""
    default = ProjectLayout(project).products_dir(pipeline).resolve()
    out = {}
    for key, rel in task["product"].items():
        out[key] = str(root.resolve() / (pdir / rel).resolve().relative_to(default))
    return out


def _task(project: Path, pipeline: str, notebook: str, step: str) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    """The pipeline folder, the step's task in pipeline.yaml and every task by name."""
    pdir, spec = _spec(project, pipeline)
    tasks = {t["name"]: t for t in spec["tasks"]}
    if step not in tasks:
        raise RunError(
            f"the pipeline has no step {step!r}",
            path=str(pdir / "pipeline.yaml"),
            fix=f"regenerate the export after `nbprod convert {notebook}`",
        )
    return pdir, tasks[step], tasks


def run_step(
    project: PathLike,
    pipeline: str,
    notebook: str,
    step: str,
    params: Optional[dict[str, Any]] = None,
    *,
    products_dir: Optional[str] = None,
    data: Optional[dict[str, str]] = None,
) -> dict[str, str]:
    """Execute step ``step`` in its own kernel; returns its products (key -> path). ``params`` override the
    notebook's parameters the step uses; unknown ones are ignored. ``data``: data file as the notebook names it ->
    the path to read instead (relative to the notebook's folder, or absolute)."""
    project = Path(project)
    pdir, task, tasks = _task(project, pipeline, notebook, step)
    root = products_root(project, pipeline, products_dir)
    product = _products(project, pipeline, pdir, task, root)
    ups = read_upstream((pdir / task["source"]).read_text())
    upstream = {u: _products(project, pipeline, pdir, tasks[u], root) for u in ups}
    return run_step_at(project, pipeline, notebook, step, params, product=product, upstream=upstream, data=data)


def run_step_at(
    project: PathLike,
    pipeline: str,
    notebook: str,
    step: str,
    params: Optional[dict[str, Any]] = None,
    *,
    product: dict[str, str],
    upstream: dict[str, dict[str, str]],
    data: Optional[dict[str, str]] = None,
) -> dict[str, str]:
    """Execute step ``step`` in its own kernel with its products and its upstream products at the paths given
    (an orchestrator's artifacts: Kubeflow's ``Output[...].path``); returns ``product``."""
    env.quiet_dependencies()
    import jupytext
    import papermill

    project = Path(project)
    pdir, task, _ = _task(project, pipeline, notebook, step)
    source = replace_data_files((pdir / task["source"]).read_text(), data or {})
    parameters: dict[str, Any] = {k: v for k, v in (task.get("params") or {}).items()}
    parameters.update({k: v for k, v in (params or {}).items() if k in parameters})
    parameters["product"] = dict(product)
    ups = read_upstream(source)
    if ups:
        parameters["upstream"] = {u: dict(upstream.get(u, {})) for u in ups}
    out = Path(parameters["product"]["nb"])
    out.parent.mkdir(parents=True, exist_ok=True)
    for path in parameters["product"].values():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    nb = jupytext.reads(source, fmt="py:percent")
    os.environ.update(env.step_kernel_env())  # the kernel inherits it: one string-hash seed for every task
    log.debug("step %s: papermill into %s with %s", step, out, sorted(parameters))
    try:
        papermill.execute_notebook(
            nb,
            str(out),
            parameters=parameters,
            cwd=str((project / notebook).parent),
            kernel_name="python3",
            progress_bar=False,
            log_output=False,
        )
    except papermill.PapermillExecutionError as exc:  # named like `nbprod run` names it: the notebook cell and line
        raise StepFailedError(
            describe_failure(_plan(project, pipeline, notebook), step, out, exc),
            path=notebook,
            fix="fix the cell in the notebook, then trigger the DAG again",
        ) from None
    return parameters["product"]


def replace_data_files(source: str, data: dict[str, str]) -> str:
    """``source`` with every string literal equal to a key of ``data`` replaced by the value's literal (tokens, so a
    comment or a longer string that merely contains the path is left alone)."""
    if not data:
        return source
    import ast
    import io
    import tokenize

    offsets = [0]
    for line in source.splitlines(keepends=True):
        offsets.append(offsets[-1] + len(line))
    pieces, pos = [], 0
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type != tokenize.STRING:
            continue
        try:
            value = ast.literal_eval(tok.string)
        except (ValueError, SyntaxError):
            continue
        if isinstance(value, str) and value in data:
            start = offsets[tok.start[0] - 1] + tok.start[1]
            end = offsets[tok.end[0] - 1] + tok.end[1]
            pieces += [source[pos:start], repr(data[value])]
            pos = end
    return "".join([*pieces, source[pos:]])


def check_gate(
    project: PathLike, pipeline: str, notebook: str, step: str, variable: str, *, products_dir: Optional[str] = None
) -> bool:
    """Validate the product ``variable`` of ``step`` against its suite; raise :class:`GateFailedError` if it fails."""
    project = Path(project)
    pdir, spec = _spec(project, pipeline)
    task = next(t for t in spec["tasks"] if t["name"] == step)
    product = _products(project, pipeline, pdir, task, products_root(project, pipeline, products_dir))[variable]
    return check_gate_at(project, pipeline, notebook, step, variable, product)


def check_gate_at(project: PathLike, pipeline: str, notebook: str, step: str, variable: str, product: str) -> bool:
    """Validate the product folder ``product`` (``variable`` of ``step``) against its suite."""
    env.quiet_dependencies()
    from nbprod.gates.store import run_gate

    result = run_gate(Path(project), pipeline, step, variable, Path(product), notebook=notebook)
    if not result.success:
        failed = "; ".join(o.describe() for o in result.failed)
        raise GateFailedError(
            f"gate {variable} after step {step!r} failed: {failed}",
            path=notebook,
            fix=f"see the report {result.report_html}",
        )
    return True


def check_thresholds(
    project: PathLike, pipeline: str, notebook: str, step: str, *, products_dir: Optional[str] = None
) -> dict[str, float]:
    """Check the ``require:`` thresholds of ``step`` on its saved metrics; raise :class:`GateFailedError` if one fails."""
    project = Path(project)
    pdir, spec = _spec(project, pipeline)
    task = next(t for t in spec["tasks"] if t["name"] == step)
    metrics = _products(project, pipeline, pdir, task, products_root(project, pipeline, products_dir))["metrics"]
    return check_thresholds_at(project, pipeline, notebook, step, metrics)


def check_thresholds_at(project: PathLike, pipeline: str, notebook: str, step: str, metrics: str) -> dict[str, float]:
    """Check the ``require:`` thresholds of ``step`` on the metrics file ``metrics``."""
    from nbprod.gates.model import check_requirements

    plan = _plan(Path(project), pipeline, notebook)
    values = load_metrics(metrics) if Path(metrics).exists() else {}
    failed = [o for o in check_requirements(plan.step(step), values) if not o.passed]
    if failed:
        raise GateFailedError(
            "; ".join(f"evaluation gate failed: {o.describe()}" for o in failed),
            path=notebook,
            fix="improve the model or review the threshold in the notebook's require: tag",
        )
    return values


def _copy_into(source: Path, tmp: Path) -> None:
    import shutil

    shutil.copytree(source, tmp, dirs_exist_ok=True)


def publish_products(project: PathLike, pipeline: str, products: dict[str, dict[str, str]]) -> None:
    """Copy products held elsewhere (an orchestrator's artifacts: {step: {key: path}}) into nbprod's own products
    folder, where tracking, packaging and ``nbprod status`` read them; each product is replaced whole."""
    import shutil

    from nbprod._core.fsutil import replace_dir

    project = Path(project)
    pdir, spec = _spec(project, pipeline)
    tasks = {t["name"]: t for t in spec["tasks"]}
    default = ProjectLayout(project).products_dir(pipeline)
    for step, prods in sorted(products.items()):
        targets = _products(project, pipeline, pdir, tasks[step], default)
        for key, src in sorted(prods.items()):
            target, source = Path(targets[key]), Path(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                replace_dir(target, partial(_copy_into, source))
            else:
                tmp = target.with_name(f".{target.name}.tmp")
                shutil.copyfile(source, tmp)
                tmp.replace(target)


def _run_params(plan: Pipeline, params: Optional[dict[str, Any]], data: Optional[dict[str, str]]) -> dict[str, Any]:
    """The notebook's parameters with the run's overrides, and ``data.<file>`` for each data file read elsewhere."""
    out = dict(plan.parameters)
    out.update({k: v for k, v in (params or {}).items() if k in out})
    out.update({f"data.{file}": path for file, path in sorted((data or {}).items()) if path and path != file})
    return out


def track_and_package(
    project: PathLike,
    pipeline: str,
    notebook: str,
    *,
    track: bool = True,
    package: bool = True,
    products_dir: Optional[str] = None,
    params: Optional[dict[str, Any]] = None,
    data: Optional[dict[str, str]] = None,
) -> dict[str, Any]:
    """After every gate passed: log the run to MLflow and build the Bento, as ``nbprod run`` does. ``params`` and
    ``data`` are the run's (as :func:`run_step` got them): MLflow records what was trained on, not the defaults."""
    if products_dir:
        raise RunError(
            "tracking and packaging read the products from nbprod's own folder, not from products_dir",
            path=notebook,
            fix="trigger the DAG without products_dir, or export it with --no-track --no-package",
        )
    env.quiet_dependencies()
    from nbprod import __version__
    from nbprod.convert.render import product_paths

    project = Path(project)
    plan = _plan(project, pipeline, notebook)
    products = product_paths(plan, project)
    metrics: dict[str, float] = {}
    for prods in products.values():
        if prods.get("metrics") is not None and prods["metrics"].exists():
            metrics.update(load_metrics(prods["metrics"]))
    out: dict[str, Any] = {"metrics": metrics}
    tracked = None
    if track:
        from nbprod.track import track as track_run

        run = track_run(
            plan,
            project,
            products,
            params=_run_params(plan, params, data),
            metrics=metrics,
            ran=[s.name for s in plan.steps],
            reused=[],
            gates=[],
            requirements=[],
            tracking_uri=None,  # track() reads MLFLOW_TRACKING_URI, else the project's SQLite store
            version=__version__,
        )
        tracked = {"run_id": run.run_id, "experiment": run.experiment, "model_version": run.model_version}
        out["tracked"] = tracked
    if package and any(s.model for s in plan.steps):
        from nbprod.package.packager import package_plan

        out["bento_tag"] = package_plan(plan, project, tracked=tracked).bento_tag
    return out
