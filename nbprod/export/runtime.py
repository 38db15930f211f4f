"""What an exported pipeline's tasks call at run time, on the orchestrator's worker (Airflow today).

Each step runs its generated task script (``pipelines/<name>/tasks/<step>.py``) in its own kernel with papermill,
with the same ``upstream``/``product`` parameters Ploomber would inject, so a step computes what ``nbprod run
--isolated`` computes. Products travel as paths under a products folder (by default nbprod's own,
``.nbprod/products/<pipeline>/``), never as pickled objects through the orchestrator. Gates and ``require:``
thresholds are their own tasks: they raise, so the orchestrator marks the run failed at the gate task.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional, Union

import yaml

from nbprod._core import env
from nbprod._core.layout import ProjectLayout
from nbprod.convert.markers import read_upstream
from nbprod.engine.ploomber import describe_failure
from nbprod.errors import GateFailedError, NbprodError, RunError, StepFailedError, UsageError
from nbprod.io import load_metrics
from nbprod.notebook.reader import read_notebook
from nbprod.plan.build import build_plan
from nbprod.plan.model import Pipeline

__all__ = [
    "run_step",
    "check_gate",
    "check_thresholds",
    "track_and_package",
    "products_root",
    "replace_data_files",
    "main",
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
    return pdir, yaml.safe_load((pdir / "pipeline.yaml").read_text())


def _products(project: Path, pipeline: str, pdir: Path, task: dict[str, Any], root: Path) -> dict[str, str]:
    """The task's products re-rooted under ``root`` (pipeline.yaml names them under nbprod's products folder)."""
    default = ProjectLayout(project).products_dir(pipeline).resolve()
    out = {}
    for key, rel in task["product"].items():
        out[key] = str(root.resolve() / (pdir / rel).resolve().relative_to(default))
    return out


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
    env.quiet_dependencies()
    import jupytext
    import papermill

    project = Path(project)
    pdir, spec = _spec(project, pipeline)
    tasks = {t["name"]: t for t in spec["tasks"]}
    if step not in tasks:
        raise RunError(
            f"the pipeline has no step {step!r}",
            path=str(pdir / "pipeline.yaml"),
            fix=f"regenerate the export after `nbprod convert {notebook}`",
        )
    task, root = tasks[step], products_root(project, pipeline, products_dir)
    source = replace_data_files((pdir / task["source"]).read_text(), data or {})
    parameters: dict[str, Any] = {k: v for k, v in (task.get("params") or {}).items()}
    parameters.update({k: v for k, v in (params or {}).items() if k in parameters})
    parameters["product"] = _products(project, pipeline, pdir, task, root)
    ups = read_upstream(source)
    if ups:
        parameters["upstream"] = {u: _products(project, pipeline, pdir, tasks[u], root) for u in ups}
    out = Path(parameters["product"]["nb"])
    out.parent.mkdir(parents=True, exist_ok=True)
    for path in parameters["product"].values():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    nb = jupytext.reads(source, fmt="py:percent")
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
    env.quiet_dependencies()
    from nbprod.gates.store import run_gate

    project = Path(project)
    pdir, spec = _spec(project, pipeline)
    task = next(t for t in spec["tasks"] if t["name"] == step)
    product = Path(_products(project, pipeline, pdir, task, products_root(project, pipeline, products_dir))[variable])
    result = run_gate(project, pipeline, step, variable, product, notebook=notebook)
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
    from nbprod.gates.model import check_requirements

    project = Path(project)
    plan = _plan(project, pipeline, notebook)
    pdir, spec = _spec(project, pipeline)
    task = next(t for t in spec["tasks"] if t["name"] == step)
    metrics_path = Path(
        _products(project, pipeline, pdir, task, products_root(project, pipeline, products_dir))["metrics"]
    )
    metrics = load_metrics(metrics_path) if metrics_path.exists() else {}
    failed = [o for o in check_requirements(plan.step(step), metrics) if not o.passed]
    if failed:
        raise GateFailedError(
            "; ".join(f"evaluation gate failed: {o.describe()}" for o in failed),
            path=notebook,
            fix="improve the model or review the threshold in the notebook's require: tag",
        )
    return metrics


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


def _cli() -> Any:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m nbprod.export.runtime",
        description="One task of an exported pipeline (what the pods of `nbprod export airflow --kubernetes` run).",
    )
    sub = parser.add_subparsers(dest="verb", required=True)
    for verb, extra in (("step", ["step"]), ("gate", ["step", "variable"]), ("require", ["step"])) + (
        ("track-and-package", []),
    ):
        p = sub.add_parser(verb)
        p.add_argument("pipeline")
        p.add_argument("notebook", help="relative to the project")
        for name in extra:
            p.add_argument(name)
        p.add_argument("--project", default=".", help="the project folder (default: the current folder)")
        p.add_argument("--products-dir", default="", help="products folder (default: nbprod's own)")
        if verb in ("step", "track-and-package"):
            p.add_argument("--param", nargs=2, action="append", default=[], metavar=("NAME", "JSON"))
            p.add_argument("--data", nargs=2, action="append", default=[], metavar=("FILE", "PATH"))
        if verb == "track-and-package":
            p.add_argument("--no-track", action="store_true")
            p.add_argument("--no-package", action="store_true")
    return parser


def _json_param(name: str, text: str) -> Any:
    import json

    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"--param {name}: {text!r} is not JSON ({exc.msg})",
            path=name,
            fix="pass the value as JSON, e.g. --param alpha 0.5 or --param city '\"Oslo\"'",
        ) from None


def main(argv: Optional[list[str]] = None) -> int:
    """``python -m nbprod.export.runtime VERB PIPELINE NOTEBOOK ...``: one task; an nbprod error is one line on
    stderr and its exit code, never a traceback."""
    import json
    import sys

    args = _cli().parse_args(argv)
    where = {"products_dir": args.products_dir or None}
    try:
        params = {k: _json_param(k, v) for k, v in getattr(args, "param", [])}
        data = {f: p for f, p in getattr(args, "data", []) if p and p != f}
        if args.verb == "step":
            out: Any = run_step(args.project, args.pipeline, args.notebook, args.step, params, data=data, **where)
        elif args.verb == "gate":
            out = check_gate(args.project, args.pipeline, args.notebook, args.step, args.variable, **where)
        elif args.verb == "require":
            out = check_thresholds(args.project, args.pipeline, args.notebook, args.step, **where)
        else:
            out = track_and_package(
                args.project,
                args.pipeline,
                args.notebook,
                track=not args.no_track,
                package=not args.no_package,
                params=params,
                data=data,
                **where,
            )
    except NbprodError as err:
        sys.stderr.write(f"{err}\n")
        return err.exit_code
    sys.stdout.write(json.dumps(out, sort_keys=True, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
