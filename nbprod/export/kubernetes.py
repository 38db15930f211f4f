"""The Kubernetes flavour of the Airflow export: every task a ``KubernetesPodOperator`` in one image.

``nbprod export airflow NB --kubernetes [--image IMAGE]`` renders each task as a pod running
``python -m nbprod.export.runtime_cli <verb> ...`` (the same functions the TaskFlow DAG calls on its workers), and writes
``dags/<pipeline>.Dockerfile``, the image those pods run: nbprod, the notebook's libraries pinned to the versions of
the environment that exported it, the notebook, its data files, the generated task scripts and the gate suites.
Products cross pods through a PersistentVolumeClaim (``<pipeline>-nbprod``) mounted at ``/project/.nbprod``.
Pure text generation (nothing here imports Airflow or Kubernetes).
"""

from __future__ import annotations

import importlib.metadata
import sys
from dataclasses import dataclass
from pathlib import Path

from nbprod._core.env import TELEMETRY_OPT_OUT
from nbprod._core.layout import ProjectLayout
from nbprod.package.deploy import k8s_name
from nbprod.plan.model import Pipeline, Step

__all__ = [
    "Task",
    "data_for",
    "default_image",
    "pod_docstring",
    "pod_preamble",
    "pod_task",
    "render_dockerfile",
    "dockerfile_path",
    "MOUNT",
]

MOUNT = "/project/.nbprod"  # the image's WORKDIR is /project


@dataclass(frozen=True)
class Task:
    """One task of the DAG: ``verb`` is the runtime CLI's (step, gate, require, track-and-package)."""

    task_id: str
    verb: str
    step: str = ""
    var: str = ""
    track: bool = True
    package: bool = True


def data_for(step: Step, data: dict[str, str]) -> dict[str, str]:
    """The data params (param -> file as the notebook names it) of the files ``step`` reads."""
    return {k: f for k, f in data.items() if f in step.input_files}


def default_image(pipeline: str) -> str:
    return f"{k8s_name(pipeline)}-pipeline:latest"


def dockerfile_path(project: Path, pipeline: str) -> Path:
    return Path(project) / "dags" / f"{pipeline}.Dockerfile"


def pod_docstring(pipeline: str) -> list[str]:
    return [
        f"Every task is a KubernetesPodOperator in one image, built from `dags/{pipeline}.Dockerfile`; the tasks share",
        f"their products through the PersistentVolumeClaim `{k8s_name(pipeline)}-nbprod` (create it first, ReadWriteOnce",
        "is enough when the pods land on one node, ReadWriteMany otherwise). The Airflow deployment needs",
        "`apache-airflow-providers-cncf-kubernetes`; the workers need neither nbprod nor the project.",
    ]


def pod_preamble(plan: Pipeline, notebook: str, image: str) -> list[str]:
    name = plan.name
    lines = [
        "from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator",
        "from airflow.sdk import Param, dag",
        "from kubernetes.client import models as k8s",
        "",
        f"PIPELINE = {name!r}",
        f"NOTEBOOK = {notebook!r}",
        f"IMAGE = {image!r}  # built from dags/{name}.Dockerfile",
        f"PVC = {k8s_name(name) + '-nbprod'!r}  # products, gate results, MLflow and BentoML stores of every task",
    ]
    lines += [
        "POD = dict(",
        "    image=IMAGE,",
        "    cmds=['python', '-m', 'nbprod.export.runtime_cli'],",
        "    volumes=[",
        "        k8s.V1Volume(",
        "            name='nbprod', persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(claim_name=PVC)",
        "        )",
        "    ],",
        f"    volume_mounts=[k8s.V1VolumeMount(name='nbprod', mount_path={MOUNT!r})],",
        "    get_logs=True,",
        "    on_finish_action='delete_pod',",
        ")",
        "PRODUCTS = ['--products-dir', '{{ params.products_dir }}']",
        "",
        "",
    ]
    return lines


def _arguments(t: Task, plan: Pipeline, data: dict[str, str]) -> list[str]:
    """The pod's arguments, one group (verb and positionals, then one option) per line."""
    if t.verb == "track-and-package":  # MLflow records the run's params and data files
        flags = ([] if t.track else ["'--no-track'"]) + ([] if t.package else ["'--no-package'"])
        groups = [", ".join(["'track-and-package'", "PIPELINE", "NOTEBOOK", *flags])]
        names, files = list(plan.parameters), data
    else:
        groups = [", ".join([repr(t.verb), "PIPELINE", "NOTEBOOK", repr(t.step)] + ([repr(t.var)] if t.var else []))]
        step = plan.step(t.step)
        names, files = (step.params, data_for(step, data)) if t.verb == "step" else ([], {})
    groups += [f"'--param', {p!r}, {'{{ params.%s | tojson }}' % p!r}" for p in names]
    groups += [f"'--data', {file!r}, {'{{ params.%s }}' % key!r}" for key, file in files.items()]
    return groups


def pod_task(t: Task, plan: Pipeline, data: dict[str, str]) -> str:
    pod = f"{k8s_name(plan.name)}-{k8s_name(t.task_id)}"[:63].rstrip("-")
    return "\n".join(
        [
            f"    t_{t.task_id} = KubernetesPodOperator(",
            f"        task_id={t.task_id!r},",
            f"        name={pod!r},",
            "        arguments=[",
            *(f"            {g}," for g in _arguments(t, plan, data)),
            "            *PRODUCTS,",
            "        ],",
            "        **POD,",
            "    )",
        ]
    )


def _top_modules(plan: Pipeline) -> list[str]:
    """The top-level modules the notebook imports (``import a.b`` and ``from a.b import c`` give ``a``)."""
    out = set()
    for analysis in plan.analyses.values():
        for statement in analysis.imports.values():
            words = statement.split()
            if len(words) > 1 and words[0] in ("import", "from") and not words[1].startswith("."):
                out.add(words[1].split(".")[0].rstrip(","))
    return sorted(out - set(sys.stdlib_module_names))


def _pins(plan: Pipeline) -> list[str]:
    """``dist==version`` of the notebook's libraries, as installed where it was exported (nbprod comes with its own)."""
    dists = importlib.metadata.packages_distributions()
    pins = set()
    for module in _top_modules(plan):
        for dist in dists.get(module, []):
            if dist.lower() != "nbprod":
                pins.add(f"{dist}=={importlib.metadata.version(dist)}")
    return sorted(pins, key=str.lower)


def render_dockerfile(plan: Pipeline, notebook: str, project: Path) -> str:
    """``dags/<pipeline>.Dockerfile`` (deterministic for one environment; no absolute paths of this machine)."""
    name, layout = plan.name, ProjectLayout(project)
    folder = Path(notebook).parent
    copies = [notebook]
    copies += sorted({(folder / f).as_posix() for s in plan.steps for f in s.input_files})
    copies += [f"pipelines/{name}/"]
    copies += sorted(
        f"expectations/{name}/{layout.suite(name, v).name}"
        for s in plan.steps
        for v in s.gates
        if layout.suite(name, v).is_file()
    )
    version = ".".join(str(v) for v in sys.version_info[:2])
    try:
        nbprod_spec = f"nbprod=={importlib.metadata.version('nbprod')}"
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - nbprod runs from a checkout
        nbprod_spec = "nbprod"
    env = {"PYTHONUNBUFFERED": "1", **TELEMETRY_OPT_OUT}
    pins = " ".join(_pins(plan))
    lines = [
        f"# Image of the Kubernetes tasks of DAG `{name}`, generated by nbprod from `{notebook}`.",
        f"# Edit the notebook, not this file: `nbprod export airflow {notebook} --kubernetes` regenerates it.",
        "# Build it from the project folder (needs Docker or another OCI builder), push it where the cluster pulls",
        "# from, and give its name to --image:",
        f"#   docker build -f dags/{name}.Dockerfile -t {default_image(name)} .",
        "# NBPROD is the pip requirement of nbprod: by default the exporting version from your package index; e.g.",
        "# --build-arg NBPROD='nbprod @ git+https://example.org/you/nbprod@v1' for another source.",
        f"FROM python:{version}-slim",
        f"ARG NBPROD={nbprod_spec}",
        "ENV " + " \\\n    ".join(f"{k}={v}" for k, v in env.items()),
        f'RUN pip install --no-cache-dir "$NBPROD"{" " + pins if pins else ""}',
        "WORKDIR /project",
        *(f"COPY {c} {c}" for c in copies),
        f"# {MOUNT} is the PersistentVolumeClaim the DAG mounts: products, gate results, MLflow and BentoML stores",
        'ENTRYPOINT ["python", "-m", "nbprod.export.runtime_cli"]',
        "",
    ]
    return "\n".join(lines)
