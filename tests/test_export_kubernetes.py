"""``nbprod export airflow --kubernetes`` and ``--data-param``: golden DAGs and Dockerfiles, the runtime CLI the pods
run, bad input; slow: the DAG parsed by a real Airflow 3 with the cncf.kubernetes provider, its pods' commands run
here in order (as the image would run them), and a TaskFlow DAG triggered with another data file trains on it."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nbprod.errors import RunError, UsageError
from nbprod.export.airflow import export_airflow, render_dag
from nbprod.export.runtime import replace_data_files
from nbprod.export.runtime_cli import main as runtime_main
from nbprod.ui.cli import main
from nbprod.workflow.run import run
from tests.conftest import EXAMPLES, GOLDEN, ROOT
from tests.test_export_airflow import build_airflow

PROVIDER = "apache-airflow-providers-cncf-kubernetes==10.25.0"
CASES = {  # example -> export options of its golden files
    "regression": {"image": "registry.example/ml/regression:1", "data_param": "houses"},
    "classifier": {},
}


@pytest.fixture
def project(tmp_path, monkeypatch):
    shutil.copytree(EXAMPLES, tmp_path / "example_notebooks", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "expectations", tmp_path / "expectations")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def normalise_dockerfile(text: str) -> str:
    """The pins and the Python of the exporting environment vary by machine; the rest is golden."""
    text = re.sub(r"==[0-9][^\s\"']*", "==<version>", text)
    return re.sub(r"FROM python:3\.[0-9]+-slim", "FROM python:3.<minor>-slim", text)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_kubernetes_dag_and_dockerfile_match_their_golden_files(project, name):
    result = export_airflow(f"example_notebooks/{name}.ipynb", kubernetes=True, **CASES[name])
    assert result.changed and result.dag_id == name
    dag = (project / "dags" / f"{name}.py").read_text()
    docker = (project / "dags" / f"{name}.Dockerfile").read_text()
    for text, golden, got in (
        (dag, GOLDEN / "airflow_kubernetes" / f"{name}.py", dag),
        (docker, GOLDEN / "airflow_kubernetes" / f"{name}.Dockerfile", normalise_dockerfile(docker)),
    ):
        if os.environ.get("NBPROD_UPDATE_GOLDEN") == "1":
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_text(got)
        assert got == golden.read_text(), golden.name
        assert str(project) not in text and "/tmp" not in text  # path-relative
    tree = ast.parse(dag)
    pods = [
        n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "KubernetesPodOperator"
    ]
    assert len(pods) == len([ln for ln in dag.splitlines() if "task_id=" in ln]) > 0
    assert "@task" not in dag and "from nbprod" not in dag  # the workers need no nbprod: the image has it
    assert re.search(r"scikit-learn==[0-9]", docker)  # the notebook's libraries, pinned
    assert not export_airflow(f"example_notebooks/{name}.ipynb", kubernetes=True, **CASES[name]).changed


def test_the_dockerfile_copies_what_the_pods_read(project):
    export_airflow("example_notebooks/regression.ipynb", kubernetes=True)
    docker = (project / "dags/regression.Dockerfile").read_text()
    copied = re.findall(r"^COPY (\S+) \1$", docker, re.M)
    assert copied == [
        "example_notebooks/regression.ipynb",
        "example_notebooks/data/houses.csv",  # the data file the load step reads
        "pipelines/regression/",
        "expectations/regression/df.json",
    ]
    assert all((project / c).exists() for c in copied)
    assert "IMAGE = 'regression-pipeline:latest'" in (project / "dags/regression.py").read_text()


def test_data_param_in_the_taskflow_dag(project):
    export_airflow("example_notebooks/regression.ipynb", data_param="houses", schedule="@weekly")
    text = (project / "dags/regression.py").read_text()
    assert "'houses': Param('data/houses.csv', type='string'" in text
    assert (
        "run_step(PROJECT, PIPELINE, NOTEBOOK, 'load', _params(), products_dir=_products_dir(), data=_data())" in text
    )
    assert text.count("data=_data()") == 2  # the step that reads the file, and the tracking task (MLflow records it)
    ast.parse(text)


@pytest.mark.parametrize(
    "options, needle",
    [
        ({"data_param": "alpha"}, "'alpha' cannot be the name of a DAG param (the notebook has a parameter"),
        ({"data_param": "products_dir"}, "'products_dir' cannot be the name of a DAG param"),
        ({"data_param": "my-data"}, "'my-data' cannot be the name of a DAG param"),
        (
            {"data_param": "d=data/other.csv"},
            "'data/other.csv' is not a data file the notebook reads; it reads data/houses.csv",
        ),
        ({"image": "x:1"}, "--image needs --kubernetes"),
        ({"image": "my image", "kubernetes": True}, "is not an image name"),
    ],
)
def test_bad_options_are_clear_errors_and_write_no_dag(project, options, needle):
    with pytest.raises(UsageError) as info:
        export_airflow("example_notebooks/regression.ipynb", **options)
    assert needle in str(info.value) and info.value.fix
    assert not (project / "dags").exists()


def test_data_param_on_a_notebook_without_data_files(project, capsys):
    code = main(["export", "airflow", "example_notebooks/classifier.ipynb", "--data-param", "data"])
    err = capsys.readouterr().err
    assert code == 2 and "the notebook reads no data file" in err and "Traceback" not in err


@pytest.mark.slow
def test_a_data_path_in_the_parameters_cell_is_a_dag_param_already(project, write_nb):
    """No --data-param needed when the parameters cell holds the path: the DAG param reaches the step's kernel."""
    from nbprod.export.runtime import run_step
    from nbprod.io import load_value

    (project / "week1.csv").write_text("x\n1\n2\n")
    (project / "week2.csv").write_text("x\n10\n20\n30\n")
    cells = [
        ("code", "import pandas as pd", ["imports"]),
        ("code", "data_path = 'week1.csv'", ["parameters"]),
        ("code", "df = pd.read_csv(data_path)", ["step:load"]),
        ("code", "total = float(df['x'].sum())", ["step:total"]),
    ]
    write_nb(cells, name="weekly.ipynb", folder=project)
    export_airflow("weekly.ipynb", track=False, package=False)
    assert "'data_path': Param('week1.csv', type='string')" in (project / "dags/weekly.py").read_text()
    products = run_step(project, "weekly", "weekly.ipynb", "load", {"data_path": "week2.csv"})
    assert load_value(products["df"])["x"].tolist() == [10, 20, 30]


def test_replace_data_files_touches_only_the_literal():
    source = (
        "# reads 'data/houses.csv'\n"
        "df = pd.read_csv('data/houses.csv')\n"
        'other = "data/houses.csv.bak"\n'
        "also = pd.read_csv(\"data/houses.csv\", sep=',')\n"
        "text = f'data/houses.csv'\n"
    )
    out = replace_data_files(source, {"data/houses.csv": "/mnt/new week.csv"})
    assert out.splitlines() == [
        "# reads 'data/houses.csv'",
        "df = pd.read_csv('/mnt/new week.csv')",
        'other = "data/houses.csv.bak"',
        "also = pd.read_csv('/mnt/new week.csv', sep=',')",
        "text = f'data/houses.csv'",  # an f-string is not a plain literal: left alone
    ]
    assert replace_data_files(source, {}) == source


def test_the_tracked_params_are_the_runs_not_the_defaults():
    from nbprod.export.runtime import _run_params
    from nbprod.notebook.reader import read_notebook
    from nbprod.plan.build import build_plan

    plan = build_plan(read_notebook(EXAMPLES / "regression.ipynb"))
    got = _run_params(plan, {"alpha": 2.5, "products_dir": "", "houses": "x.csv"}, {"data/houses.csv": "x.csv"})
    assert got == {"alpha": 2.5, "test_size": 0.2, "seed": 7, "min_sqft": 300, "data.data/houses.csv": "x.csv"}
    assert _run_params(plan, None, {"data/houses.csv": "data/houses.csv"}) == plan.parameters


def test_the_runtime_cli_reports_errors_without_a_traceback(project, capsys):
    from nbprod.convert import convert

    convert("example_notebooks/regression.ipynb")
    assert (
        runtime_main(["step", "regression", "example_notebooks/regression.ipynb", "nope"])
        == RunError("x").exit_code
        != 0
    )
    assert "the pipeline has no step 'nope'" in capsys.readouterr().err
    argv = ["step", "regression", "example_notebooks/regression.ipynb", "clean", "--param", "seed", "seven"]
    assert runtime_main(argv) == 2
    err = capsys.readouterr().err
    assert "--param seed: 'seven' is not JSON" in err and "Traceback" not in err


def test_render_dag_kubernetes_for_another_notebook_shape():
    from nbprod.notebook.reader import notebook_from_cells
    from nbprod.plan.build import build_plan

    cells = [
        ("code", "city = 'Oslo'", ["parameters"]),
        ("code", "a = len(city)", ["step:first"]),
        ("code", "b = a + 1", ["step:second", "metrics", "require:b>=1"]),
    ]
    text = render_dag(build_plan(notebook_from_cells("nb.ipynb", cells)), notebook="nb.ipynb", kubernetes=True)
    assert (
        "'--param', 'city', '{{ params.city | tojson }}'," in text
        and "'require', PIPELINE, NOTEBOOK, 'second'," in text
    )
    assert "t_first >> t_second" in text and "t_require__second >> t_track_and_package" in text
    ast.parse(text)


# ---- a real Airflow 3 with the Kubernetes provider (slow) ----

PARSE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
out = {"errors": {k: str(v)[-2000:] for k, v in bag.import_errors.items()}, "tasks": {}}
for dag in bag.dags.values():
    params = dag.params.dump()
    for t in dag.tasks:
        out["tasks"][t.task_id] = {
            "type": type(t).__module__ + "." + type(t).__name__,
            "image": t.image,
            "cmds": t.cmds,
            "arguments": t.render_template(t.arguments, {"params": {**params, **json.loads(sys.argv[2])}}),
            "upstream": sorted(t.upstream_task_ids),
            "mounts": [m.mount_path for m in t.volume_mounts],
            "claims": [v.persistent_volume_claim.claim_name for v in t.volumes],
        }
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def k8s_airflow(tmp_path_factory):
    """Airflow 3 with the cncf.kubernetes provider and nbprod (for the TaskFlow run), an initialised SQLite home."""
    return build_airflow(tmp_path_factory.mktemp("airflow_k8s"), PROVIDER)


def _shifted_houses(project: Path) -> Path:
    """Another week's data: the same houses, prices 5% higher downtown (within the gate: a retrain must see it)."""
    import pandas as pd

    df = pd.read_csv(project / "example_notebooks/data/houses.csv")
    df.loc[df["neighborhood"] == "downtown", "price"] *= 1.05
    new = project / "incoming/houses-week-49.csv"
    new.parent.mkdir()
    df.to_csv(new, index=False)
    return new


_REFERENCE: dict[bytes, dict] = {}
CONF_ALPHA = 2.5  # both slow tests trigger with another alpha too: the run's params reach the steps and MLflow


def _reference_metrics(tmp_path: Path, data: Path) -> dict:
    """``nbprod run -p alpha=CONF_ALPHA`` of the regression notebook in a project of its own whose houses.csv is
    ``data`` (once per content: both slow tests train on the same new week)."""
    content = data.read_bytes()
    if content not in _REFERENCE:
        ref = tmp_path / "reference"
        shutil.copytree(EXAMPLES, ref / "example_notebooks", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(ROOT / "expectations", ref / "expectations")
        shutil.copyfile(data, ref / "example_notebooks/data/houses.csv")
        nb = ref / "example_notebooks/regression.ipynb"
        result = run(nb, project=ref, params={"alpha": str(CONF_ALPHA)}, track=False, package=False)
        _REFERENCE[content] = result.metrics
    return _REFERENCE[content]


@pytest.mark.slow
def test_the_kubernetes_dag_parses_on_airflow_and_its_pods_commands_train_on_the_new_data(
    k8s_airflow, project, tmp_path
):
    venv, env = k8s_airflow
    new = _shifted_houses(project)
    export_airflow(
        "example_notebooks/regression.ipynb", kubernetes=True, data_param="houses", track=False, package=False
    )
    conf = {"houses": str(new), "alpha": CONF_ALPHA}
    proc = subprocess.run(
        [str(venv / "bin/python"), "-c", PARSE, str(project / "dags/regression.py"), json.dumps(conf)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    parsed = json.loads(proc.stdout.strip().splitlines()[-1])
    assert parsed["errors"] == {}
    tasks = parsed["tasks"]
    assert list(tasks) == ["load", "clean", "gate__clean__df", "train", "evaluate", "require__evaluate"]
    for t in tasks.values():
        assert t["type"] == "airflow.providers.cncf.kubernetes.operators.pod.KubernetesPodOperator"
        assert t["image"] == "regression-pipeline:latest" and t["cmds"] == ["python", "-m", "nbprod.export.runtime_cli"]
        assert t["mounts"] == ["/project/.nbprod"] and t["claims"] == ["regression-nbprod"]
    assert tasks["load"]["arguments"][-4:] == ["data/houses.csv", str(new), "--products-dir", ""]
    assert tasks["clean"]["arguments"][4:6] == ["--param", "min_sqft"]
    assert tasks["train"]["arguments"][4:7] == ["--param", "alpha", "2.5"]
    # run every pod's command here, in an order the DAG allows, with the project as the image's WORKDIR
    done: set[str] = set()
    while len(done) < len(tasks):
        ready = [k for k, t in tasks.items() if k not in done and set(t["upstream"]) <= done]
        for k in ready:
            pod = subprocess.run(
                [sys.executable, *tasks[k]["cmds"][1:], *tasks[k]["arguments"]],
                cwd=project,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert pod.returncode == 0, (k, pod.stderr[-3000:])
            done.add(k)
    metrics = json.loads((project / ".nbprod/products/regression/evaluate/metrics.json").read_text())
    assert metrics == _reference_metrics(tmp_path, new)  # trained on the new week's data
    _loaded_the_new_data(project, new)


def _loaded_the_new_data(project: Path, new: Path) -> None:
    import pandas as pd

    from nbprod.io import load_value

    loaded = load_value(project / ".nbprod/products/regression/load/raw")  # what the load step read
    assert loaded["price"].sum() == pytest.approx(pd.read_csv(new)["price"].sum())
    old = pd.read_csv(project / "example_notebooks/data/houses.csv")["price"].sum()
    assert loaded["price"].sum() > old * 1.005


@pytest.mark.slow
def test_a_taskflow_dag_triggered_with_another_data_file_trains_on_it(k8s_airflow, project, tmp_path):
    new = _shifted_houses(project)
    export_airflow("example_notebooks/regression.ipynb", data_param="houses", package=False)
    venv, env = k8s_airflow
    env = {**env, "AIRFLOW__CORE__DAGS_FOLDER": str(project / "dags")}
    proc = subprocess.run(
        [str(venv / "bin/airflow"), "dags", "test", "regression", "-f", str(project / "dags/regression.py")]
        + ["-c", json.dumps({"houses": str(new), "alpha": CONF_ALPHA})],
        env=env,
        capture_output=True,
        text=True,
        cwd=project,
        timeout=1200,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    metrics = json.loads((project / ".nbprod/products/regression/evaluate/metrics.json").read_text())
    assert metrics == _reference_metrics(tmp_path, new)
    _loaded_the_new_data(project, new)
    from mlflow.tracking import MlflowClient

    from nbprod.track import default_tracking_uri

    client = MlflowClient(default_tracking_uri(project))
    (tracked,) = client.search_runs([client.get_experiment_by_name("regression").experiment_id])
    # MLflow records what this run trained on: the triggered params and data file, not the notebook's defaults
    assert tracked.data.params["alpha"] == "2.5" and tracked.data.params["data.data/houses.csv"] == str(new)
    assert tracked.data.metrics["mae"] == pytest.approx(metrics["mae"])


def test_the_pods_command_runs_as_a_program_and_fails_without_a_traceback(tmp_path):
    """What the pods run: `python -m nbprod.export.runtime_cli ...` (a module without its __main__ guard does nothing)."""
    out = subprocess.run(
        [sys.executable, "-m", "nbprod.export.runtime_cli", "step", "nope", "nb.ipynb", "load"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and "no pipeline 'nope' here" in out.stderr and "Traceback" not in out.stderr
