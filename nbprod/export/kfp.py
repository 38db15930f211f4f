"""``nbprod export kfp NB``: the pipeline as a Kubeflow Pipelines v2 module, ``kubeflow/<pipeline>.py``, and its
compiled IR, ``kubeflow/<pipeline>.yaml``.

A text generator like :mod:`nbprod.export.airflow`: it never imports kfp (the generated module does; it is compiled
in a child process). One lightweight component per step, with typed artifacts: each product is an output artifact
(``Dataset``, the ``model:`` variable a ``Model``, the metrics a ``Metrics``, the executed notebook an ``Artifact``)
whose ``.path`` holds the product folder, and the downstream steps take them as inputs. Data gates and ``require:``
thresholds are components of their own that fail the run; the steps after them wait for them. The notebook's
parameters are pipeline parameters; ``nbprod_project`` is the project folder as the components see it (their
working directory by default). Tracking and packaging are the last component: it copies the artifacts into nbprod's
products folder, then logs to MLflow and builds the Bento. The base image and the package list are pinned.

Why not ``pipelines/<name>/``: ``nbprod convert`` (and so ``nbprod run``) replaces that folder whole, which would
delete the export; ``kubeflow/`` sits next to Airflow's ``dags/``.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from nbprod._core.fsutil import atomic_write_text
from nbprod._core.layout import ProjectLayout
from nbprod.convert.render import render_pipeline, step_products, write_atomically
from nbprod.errors import ConvertError, UsageError
from nbprod.gates.suites import load_suite
from nbprod.notebook.reader import read_notebook
from nbprod.plan.build import build_plan
from nbprod.plan.model import Pipeline, Step

__all__ = ["render_kfp", "export_kfp", "KfpExport", "BASE_IMAGE", "KFP_VERSION"]

BASE_IMAGE = "python:3.11-slim"  # pinned: kfp's default image moves with its releases
KFP_VERSION = "2.17.3"  # pyproject.toml's extra nbprod[kfp]
PROJECT_PARAM = "nbprod_project"
_TYPES = {bool: "bool", int: "int", float: "float", str: "str", list: "list", dict: "dict"}
_INSTALL = "pip install 'nbprod[kfp]'"


@dataclass(frozen=True)
class KfpExport:
    module: Path
    ir: Optional[Path]  # None with compile=False
    changed: bool
    pipeline: str


def _out_name(key: str) -> str:
    return "notebook" if key == "nb" else key


def _kind(step: Step, key: str) -> str:
    if key == "nb":
        return "Artifact"
    if key == "metrics":
        return "Metrics"
    return "Model" if key == step.model else "Dataset"


def _param_types(plan: Pipeline, notebook: str) -> dict[str, str]:
    out = {}
    for k, v in plan.parameters.items():
        if type(v) not in _TYPES:
            raise UsageError(
                f"parameter {k!r} = {v!r} has no Kubeflow type (bool, int, float, str, list, dict)",
                path=notebook,
                fix=f"give {k} a value of one of those types in the parameters cell",
            )
        if k == PROJECT_PARAM:
            raise UsageError(f"the parameter name {k!r} is nbprod's own", path=notebook, fix=f"rename {k}")
        out[k] = _TYPES[type(v)]
    return out


def _check_names(names: list[str], component: str, notebook: str) -> None:
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UsageError(
            f"component {component!r} would have two arguments named {', '.join(dupes)}",
            path=notebook,
            fix="rename the parameter or the variable in the notebook (a step's outputs and parameters share names)",
        )


def _dict(pairs: list[tuple[str, str]]) -> str:
    """``{'a': x, 'b': y}`` from (key, expression) pairs."""
    return "{" + ", ".join(f"{k!r}: {v}" for k, v in pairs) + "}"


def _component(name: str, args: list[str], body: list[str]) -> list[str]:
    return [
        "@dsl.component(base_image=BASE_IMAGE, packages_to_install=PACKAGES)",
        f"def {name}({', '.join(args)}):",
        "    from nbprod.export.runtime import " + body[0],
        "",
        *[f"    {line}" if line else "" for line in body[1:]],
        "",
        "",
    ]


def _step(plan: Pipeline, s: Step, types: dict[str, str], nb: str) -> tuple[list[str], str]:
    """The component of one step and the call that makes its task."""
    params = [p for p in plan.parameters if p in s.params]
    inputs = [(up, var) for var, up in s.inputs.items()]
    outputs = list(step_products(plan, s, ""))
    args = ["project: str", *[f"{p}: {types[p]}" for p in params]]
    args += [f"{up}__{var}: Input[{_kind(plan.step(up), var)}]" for up, var in inputs]
    args += [f"{_out_name(k)}: Output[{_kind(s, k)}]" for k in outputs]
    _check_names([a.split(":")[0] for a in args], f"step_{s.name}", nb)
    upstream: dict[str, list[tuple[str, str]]] = {u: [] for u in s.upstream}
    for up, var in inputs:
        upstream.setdefault(up, []).append((var, f"{up}__{var}.path"))
    body = [
        "run_step_at",
        "run_step_at(",
        f"    project, PIPELINE, NOTEBOOK, {s.name!r}, {_dict([(p, p) for p in params])},",
        f"    product={_dict([(k, _out_name(k) + '.path') for k in outputs])},",
        f"    upstream={_dict([(u, _dict(v)) for u, v in upstream.items()])},",
        ")",
    ]
    if s.metrics:
        body += [
            "from nbprod.io import load_metrics",
            "",
            "for key, value in load_metrics(metrics.path).items():",
            "    metrics.log_metric(key, value)",
        ]
    kw = [f"project={PROJECT_PARAM}", *[f"{p}={p}" for p in params]]
    kw += [f"{up}__{var}=t_{up}.outputs[{var!r}]" for up, var in inputs]
    return _component(f"step_{s.name}", args, body), f"step_{s.name}({', '.join(kw)})"


def _gates(plan: Pipeline, s: Step) -> list[tuple[str, list[str], str]]:
    """(task id, component lines, call) of the gates and the thresholds after step ``s``."""
    out = []
    for var in s.gates:
        tid = f"gate__{s.name}__{var}"
        lines = _component(
            tid,
            ["project: str", f"{var}: Input[{_kind(s, var)}]"],
            ["check_gate_at", f"check_gate_at(project, PIPELINE, NOTEBOOK, {s.name!r}, {var!r}, {var}.path)"],
        )
        out.append((tid, lines, f"{tid}(project={PROJECT_PARAM}, {var}=t_{s.name}.outputs[{var!r}])"))
    if s.requires:
        tid = f"require__{s.name}"
        if s.metrics:
            args, path, call = ["project: str", "metrics: Input[Metrics]"], "metrics.path", f", metrics=t_{s.name}"
            call += ".outputs['metrics']"
        else:
            args, path, call = ["project: str"], "''", ""
        body = ["check_thresholds_at", f"check_thresholds_at(project, PIPELINE, NOTEBOOK, {s.name!r}, {path})"]
        out.append((tid, _component(tid, args, body), f"{tid}(project={PROJECT_PARAM}{call})"))
    return out


def _final(plan: Pipeline, track: bool, package: bool) -> tuple[list[str], str]:
    """The last component: the artifacts copied into nbprod's products folder, then tracking and packaging."""
    prods = [(s, k) for s in plan.steps for k in step_products(plan, s, "")]
    args = ["project: str", *[f"{s.name}__{_out_name(k)}: Input[{_kind(s, k)}]" for s, k in prods]]
    mapping = _dict(
        [
            (s.name, _dict([(k, f"{s.name}__{_out_name(k)}.path") for k in step_products(plan, s, "")]))
            for s in plan.steps
        ]
    )
    body = [
        "publish_products, track_and_package",
        f"publish_products(project, PIPELINE, {mapping})",
        f"track_and_package(project, PIPELINE, NOTEBOOK, track={track!r}, package={package!r})",
    ]
    kw = [
        f"project={PROJECT_PARAM}",
        *[f"{s.name}__{_out_name(k)}=t_{s.name}.outputs[{_out_name(k)!r}]" for s, k in prods],
    ]
    return _component("track_and_package", args, body), f"track_and_package({', '.join(kw)})"


def render_kfp(
    plan: Pipeline, *, notebook: str, base_image: str = BASE_IMAGE, track: bool = True, package: bool = True
) -> str:
    """The text of ``kubeflow/<pipeline>.py`` (deterministic: the same plan gives the same bytes)."""
    from nbprod import __version__

    name, types = plan.name, _param_types(plan, notebook)
    lines = [
        f'"""Kubeflow Pipelines v2 pipeline `{name}`, generated by nbprod from `{notebook}`.',
        "",
        f"Edit the notebook, not this file: `nbprod export kfp {notebook}` regenerates it",
        f"and its compiled IR (`kubeflow/{name}.yaml`; `python kubeflow/{name}.py` compiles it again). The components need nbprod",
        f"(`{_INSTALL}`) and the project folder, passed as the `{PROJECT_PARAM}` parameter, in their image.",
        '"""',
        "",
        "import sys",
        "from pathlib import Path",
        "",
        "from kfp import compiler, dsl",
        "from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output",
        "",
        f"BASE_IMAGE = {base_image!r}",
        f"PACKAGES = ['nbprod=={__version__}']",
        "",
        "",
    ]
    consts = [f"    PIPELINE = {name!r}", f"    NOTEBOOK = {notebook!r}"]
    calls: list[tuple[str, str, list[str]]] = []  # (task id, call, tasks it waits for beyond its inputs)
    blocking: dict[str, list[str]] = {}
    for s in plan.steps:
        comp, call = _step(plan, s, types, notebook)
        fed = set(s.inputs.values())  # data inputs already order the tasks
        waits = sorted({t for up in s.upstream for t in blocking[up] if t != up or up not in fed})
        lines += _with_consts(comp, consts)
        calls.append((s.name, call, waits))
        gates = _gates(plan, s)
        for tid, comp, call in gates:
            lines += _with_consts(comp, consts)
            calls.append((tid, call, []))
        blocking[s.name] = [tid for tid, _, _ in gates] or [s.name]
    if track or package:
        comp, call = _final(plan, track, package)
        lines += _with_consts(comp, consts)
        calls.append(("track_and_package", call, sorted({t for ts in blocking.values() for t in ts} - set(blocking))))
    sig = [f"{k}: {types[k]} = {v!r}" for k, v in plan.parameters.items()] + [f"{PROJECT_PARAM}: str = '.'"]
    lines += [
        f"@dsl.pipeline(name={name.replace('_', '-')!r}, description={f'nbprod pipeline from {notebook}'!r})",
        "def pipeline(",
        *[f"    {a}," for a in sig],
        "):",
    ]
    for tid, call, waits in calls:
        lines.append(f"    t_{tid} = {call}")
        lines.append(f"    t_{tid}.set_display_name({tid!r}).set_caching_options(False)")
        lines += [f"    t_{tid}.after({', '.join(f't_{w}' for w in waits)})"] if waits else []
    lines += [
        "",
        "",
        'if __name__ == "__main__":',
        "    out = sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).with_suffix('.yaml'))",
        "    compiler.Compiler().compile(pipeline, package_path=out)",
        "",
    ]
    return "\n".join(lines)


def _with_consts(component: list[str], consts: list[str]) -> list[str]:
    """Components run as their own source only (no module globals): the constants go inside each one."""
    head = component[:2]
    return [*head, *consts, *component[2:]]


def _compile(text: str, name: str) -> str:
    """Compile the module text in a child process (the one place kfp is imported); return the IR YAML."""
    with tempfile.TemporaryDirectory(prefix="nbprod-kfp-") as tmp:
        module, ir = Path(tmp) / f"{name}.py", Path(tmp) / f"{name}.yaml"
        module.write_text(text)
        load = (
            "import importlib.util, sys; spec = importlib.util.spec_from_file_location('nbprod_kfp_export', sys.argv[1]);"
            " m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m);"
            " from kfp import compiler; compiler.Compiler().compile(m.pipeline, package_path=sys.argv[2])"
        )
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        proc = subprocess.run(
            [sys.executable, "-c", load, str(module), str(ir)], cwd=tmp, capture_output=True, text=True, env=env
        )
        if proc.returncode != 0 or not ir.exists():
            raise ConvertError(
                f"compiling the Kubeflow pipeline failed: {(proc.stderr or proc.stdout).strip()[-1500:]}",
                path=f"kubeflow/{name}.py",
                fix=f"check that kfp=={KFP_VERSION} is installed ({_INSTALL}), or export with --no-compile",
            )
        return ir.read_text()


def export_kfp(
    notebook: Union[str, Path],
    *,
    project: Union[str, Path] = ".",
    name: Optional[str] = None,
    split: str = "auto",
    base_image: str = BASE_IMAGE,
    track: bool = True,
    package: bool = True,
    compile: bool = True,
) -> KfpExport:
    """Convert ``notebook`` and write ``kubeflow/<pipeline>.py`` and (``compile``) its IR ``kubeflow/<pipeline>.yaml``.
    Everything is checked (kfp installed, the plan, the gates' suites, the compile) before anything is written."""
    layout = ProjectLayout(project)
    if compile and importlib.util.find_spec("kfp") is None:
        raise UsageError(
            "kfp is not installed: compiling the Kubeflow pipeline needs it",
            path=str(notebook),
            fix=f"{_INSTALL} (kfp=={KFP_VERSION}), or pass --no-compile to write only the pipeline module",
        )
    if not base_image.strip():
        raise UsageError("--base-image is empty", path=str(notebook), fix="pass an image, e.g. python:3.11-slim")
    shown = layout.relpath(notebook)
    plan = build_plan(read_notebook(notebook, display_path=shown), name=name, split=split, strict=True)
    for s in plan.steps:
        for var in s.gates:
            suite = layout.suite(plan.name, var)
            load_suite(suite, shown=layout.relpath(suite))
    text = render_kfp(plan, notebook=shown, base_image=base_image, track=track, package=package)
    ir_text = _compile(text, plan.name) if compile else None
    write_atomically(layout.pipeline_dir(plan.name), render_pipeline(plan, layout.root))  # what the steps run
    module = layout.root / "kubeflow" / f"{plan.name}.py"
    ir = module.with_suffix(".yaml")
    changed = not module.exists() or module.read_text() != text
    if ir_text is not None:
        changed = changed or not ir.exists() or ir.read_text() != ir_text
        if not ir.exists() or ir.read_text() != ir_text:
            atomic_write_text(ir, ir_text)
    if not module.exists() or module.read_text() != text:
        atomic_write_text(module, text)
    return KfpExport(module, ir if ir_text is not None else None, changed, plan.name)
