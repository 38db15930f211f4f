"""``nbprod export airflow NB``: the pipeline as one Airflow 3 DAG, ``dags/<pipeline>.py``.

One task per step (each runs the generated task script in its own kernel, :func:`nbprod.export.runtime.run_step`),
one task per data gate and per step with ``require:`` thresholds (they fail the DAG run), tracking and packaging
as the last task. The notebook's parameters are DAG params (overridable when triggering); products travel as paths
under a products folder (a DAG param, nbprod's own folder by default), never through XCom. The file is
deterministic and path-relative: the project root is the DAG file's parent folder's parent.

``--kubernetes`` renders the same tasks as KubernetesPodOperators in one image (:mod:`nbprod.export.kubernetes`,
which also writes its Dockerfile); ``--data-param NAME[=FILE]`` makes a data file the notebook reads the DAG param
``NAME`` (the runtime reads the given path instead of the literal), so a scheduled retrain takes the new data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

from nbprod._core.fsutil import atomic_write_text
from nbprod._core.layout import ProjectLayout
from nbprod.convert.render import convert
from nbprod.errors import UsageError
from nbprod.export.kubernetes import (
    Task,
    data_for,
    default_image,
    dockerfile_path,
    pod_docstring,
    pod_preamble,
    pod_task,
    render_dockerfile,
)
from nbprod.plan.model import Pipeline

__all__ = ["render_dag", "export_airflow", "AirflowExport"]

_DATA_HELP = "data file the notebook reads: a path relative to the notebook's folder, or absolute"
_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}


@dataclass(frozen=True)
class AirflowExport:
    path: Path
    changed: bool
    dag_id: str


def _param(value: Any) -> str:
    kind = _TYPES.get(type(value))
    schema = f", type={kind!r}" if kind else ""
    return f"Param({value!r}{schema})"


def _task_id(kind: str, *parts: str) -> str:
    """``gate__clean__df``, ``require__evaluate``: task ids that cannot collide with step names."""
    return "__".join((kind, *parts))


def _edges(plan: Pipeline) -> list[tuple[str, str]]:
    """(before, after) task ids: data and ``after:`` edges; a gated step's downstream waits for its gate tasks."""
    gates = {
        s.name: [_task_id("gate", s.name, v) for v in s.gates] + ([_task_id("require", s.name)] if s.requires else [])
        for s in plan.steps
    }
    out: set[tuple[str, str]] = set()
    for s in plan.steps:
        out.update((s.name, g) for g in gates[s.name])
        for up in s.upstream:
            out.update([(g, s.name) for g in gates[up]] or [(up, s.name)])
    return sorted(out)


def _taskflow(t: Task, plan: Pipeline, data: dict[str, str]) -> list[str]:
    """A ``@task`` that calls :mod:`nbprod.export.runtime` on the worker itself."""
    fn = {"step": "run_step", "gate": "check_gate", "require": "check_thresholds"}.get(t.verb, "track_and_package")
    name = f"step_{t.step}" if t.verb == "step" else t.task_id
    if t.verb == "step":
        reads = data_for(plan.step(t.step), data)
        extra = ", data=_data()" if reads else ""
        call = f"run_step(PROJECT, PIPELINE, NOTEBOOK, {t.step!r}, _params(), products_dir=_products_dir(){extra})"
    elif t.verb == "gate":
        call = f"check_gate(PROJECT, PIPELINE, NOTEBOOK, {t.step!r}, {t.var!r}, products_dir=_products_dir())"
    elif t.verb == "require":
        call = f"check_thresholds(PROJECT, PIPELINE, NOTEBOOK, {t.step!r}, products_dir=_products_dir())"
    else:
        extra = " data=_data()," if data else ""
        call = (
            f"track_and_package(\n            PROJECT, PIPELINE, NOTEBOOK, track={t.track!r}, package={t.package!r}, "
            f"products_dir=_products_dir(),\n            params=_params(),{extra}\n        )"
        )
    return [
        f"    @task(task_id={t.task_id!r})",
        f"    def {name}():",
        f"        from nbprod.export.runtime import {fn}",
        "",
        f"        {call}",
        "",
    ]


def _flags(kubernetes: bool, image: Optional[str], data: dict[str, str]) -> str:
    """The options of the export that wrote the DAG (those that change its text beside the plan)."""
    flags = [" --kubernetes"] if kubernetes else []
    flags += [f" --image {image}"] if image else []
    return "".join(flags + [f" --data-param {k}={v}" for k, v in data.items()])


def _tasks(plan: Pipeline, track: bool, package: bool) -> list[Task]:
    out = []
    for s in plan.steps:
        out.append(Task(s.name, "step", s.name))
        out += [Task(_task_id("gate", s.name, var), "gate", s.name, var) for var in s.gates]
        if s.requires:
            out.append(Task(_task_id("require", s.name), "require", s.name))
    if track or package:
        out.append(Task("track_and_package", "track-and-package", track=track, package=package))
    return out


def render_dag(
    plan: Pipeline,
    *,
    notebook: str,
    schedule: Optional[str] = None,
    track: bool = True,
    package: bool = True,
    kubernetes: bool = False,
    image: Optional[str] = None,
    data: Optional[dict[str, str]] = None,
) -> str:
    """The text of ``dags/<pipeline>.py`` (deterministic: the same plan gives the same bytes). ``kubernetes``: each
    task is a KubernetesPodOperator in ``image``; ``data``: DAG param name -> a data file the notebook reads."""
    name = plan.name
    data = data or {}
    params = {k: v for k, v in plan.parameters.items()}
    lines = [
        f'"""Airflow 3 DAG of pipeline `{name}`, generated by nbprod from `{notebook}`.',
        "",
        f"Edit the notebook, not this file: `nbprod export airflow {notebook}{_flags(kubernetes, image, data)}` "
        "regenerates it.",
    ]
    lines += (
        pod_docstring(name)
        if kubernetes
        else [
            "Needs nbprod installed on the workers (`pip install nbprod[airflow]`) and the project folder (this file's",
            "parent's parent) on a path they share. Products go under the `products_dir` param (default: nbprod's own).",
        ]
    )
    lines += ['"""', ""]
    if kubernetes:
        lines += pod_preamble(plan, notebook, image or default_image(name))
    else:
        lines += _taskflow_preamble(name, notebook, data)
    lines += [
        "@dag(",
        f"    dag_id={name!r},",
        f"    schedule={schedule!r},",
        "    catchup=False,",
        f"    tags=['nbprod', {name!r}],",
        "    params={",
    ]
    lines += [f"        {k!r}: {_param(v)}," for k, v in params.items()]
    lines += [f"        {k!r}: Param({v!r}, type='string', description={_DATA_HELP!r})," for k, v in data.items()]
    lines += [
        "        'products_dir': Param('', type='string', description='products folder (relative to the project)'),",
        "    },",
        ")",
        "def pipeline():",
    ]
    tasks = _tasks(plan, track, package)
    if kubernetes:
        lines += [pod_task(t, plan, data) for t in tasks]
    else:
        for t in tasks:
            lines += _taskflow(t, plan, data)
        name_of = {t.task_id: (f"step_{t.step}" if t.verb == "step" else t.task_id) for t in tasks}
        lines += [f"    {_var(t.task_id)} = {name_of[t.task_id]}()" for t in tasks]
    edges = _edges(plan)
    if track or package:
        finals = [t.task_id for t in tasks if t.verb != "track-and-package"]
        sinks = sorted(set(finals) - {a for a, _ in edges})
        edges += [(t, "track_and_package") for t in sinks]
    lines += [f"    {_var(a)} >> {_var(b)}" for a, b in edges]
    lines += ["", "", "pipeline()", ""]
    return "\n".join(lines)


def _taskflow_preamble(name: str, notebook: str, data: dict[str, str]) -> list[str]:
    lines = [
        "from pathlib import Path",
        "",
        "from airflow.sdk import Param, dag, get_current_context, task",
        "",
        "PROJECT = Path(__file__).resolve().parent.parent",
        f"PIPELINE = {name!r}",
        f"NOTEBOOK = {notebook!r}",
    ]
    if data:
        lines += [f"DATA = {data!r}  # DAG param -> the data file the notebook reads (replaced by the param's value)"]
    lines += [
        "",
        "",
        "def _params() -> dict:",
        '    """The DAG run\'s params, without nbprod\'s own."""',
        '    return {k: v for k, v in get_current_context()["params"].items() if k != "products_dir"}',
        "",
        "",
        "def _products_dir():",
        '    return get_current_context()["params"].get("products_dir") or None',
        "",
        "",
    ]
    if data:
        lines += [
            "def _data() -> dict:",
            '    """The data files of this run: the file as the notebook names it -> the path to read instead."""',
            '    params = get_current_context()["params"]',
            "    return {file: params[key] for key, file in DATA.items() if params.get(key) and params[key] != file}",
            "",
            "",
        ]
    return lines


def _var(task_id: str) -> str:
    return "t_" + task_id


def _data_params(plan: Pipeline, spec: Optional[str], notebook: str) -> dict[str, str]:
    """``--data-param NAME[=FILE]``: the DAG param that replaces the data file FILE (the notebook's only one)."""
    if not spec:
        return {}
    key, _, file = spec.partition("=")
    files = sorted({f for s in plan.steps for f in s.input_files})
    example = f"--data-param data={files[0]}" if files else "--data-param data=data/train.csv"
    if not key.isidentifier() or key in plan.parameters or key == "products_dir":
        raise UsageError(
            f"--data-param: {key!r} cannot be the name of a DAG param"
            + (" (the notebook has a parameter of that name)" if key in plan.parameters else ""),
            path=notebook,
            fix=f"choose another identifier, e.g. {example}",
        )
    if not files:
        raise UsageError(
            "--data-param: the notebook reads no data file (a path literal naming a file next to it)",
            path=notebook,
            fix="read the data from a file path in the notebook, or put the path in the parameters cell "
            "(a parameter is a DAG param already)",
        )
    file = file.strip() or (files[0] if len(files) == 1 else "")
    if file not in files:
        raise UsageError(
            f"--data-param: {'name the data file' if not file else repr(file) + ' is not a data file the notebook reads'}"
            f"; it reads {', '.join(files)}",
            path=notebook,
            fix=f"e.g. {example}",
        )
    return {key: file}


def export_airflow(
    notebook: Union[str, Path],
    *,
    project: Union[str, Path] = ".",
    name: Optional[str] = None,
    split: str = "auto",
    schedule: Optional[str] = None,
    track: bool = True,
    package: bool = True,
    kubernetes: bool = False,
    image: Optional[str] = None,
    data_param: Optional[str] = None,
) -> AirflowExport:
    """Convert ``notebook`` (the DAG's tasks run the generated task scripts) and write ``dags/<pipeline>.py``
    (with ``kubernetes``, also ``dags/<pipeline>.Dockerfile``, the image of its pods)."""
    layout = ProjectLayout(project)
    if schedule is not None and not schedule.strip():
        raise UsageError(
            "--schedule is empty", path=str(notebook), fix='pass a cron string or a preset, e.g. "@weekly"'
        )
    if image is not None and not kubernetes:
        raise UsageError("--image needs --kubernetes", path=str(notebook), fix="add --kubernetes, or drop --image")
    if image is not None and (not image.strip() or any(c.isspace() for c in image)):
        raise UsageError(
            f"--image {image!r} is not an image name", path=str(notebook), fix="e.g. --image registry.example/ml:1"
        )
    rel = layout.relpath(notebook)
    plan = convert(notebook, project=layout.root, name=name, split=split).plan
    data = _data_params(plan, data_param, rel)
    text = render_dag(
        plan,
        notebook=rel,
        schedule=schedule,
        track=track,
        package=package,
        kubernetes=kubernetes,
        image=image,
        data=data,
    )
    path = layout.root / "dags" / f"{plan.name}.py"
    files = {path: text}
    if kubernetes:
        files[dockerfile_path(layout.root, plan.name)] = render_dockerfile(plan, rel, layout.root)
    changed = False
    for target, content in files.items():
        if not target.exists() or target.read_text() != content:
            atomic_write_text(target, content)
            changed = True
    return AirflowExport(path, changed, plan.name)
