"""``nbprod export airflow``: golden DAGs for both examples, bad input, and the exported DAG run by a real Airflow 3
(``airflow db migrate`` + ``airflow dags test`` in an environment of its own, as a user's workers would have it)."""

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nbprod.errors import PlanError, UsageError
from nbprod.export.airflow import export_airflow
from nbprod.ui.cli import main
from nbprod.workflow.run import run
from tests.conftest import EXAMPLES, GOLDEN, ROOT

AIRFLOW = "apache-airflow==3.3.2"  # pyproject.toml's extra nbprod[airflow]


@pytest.fixture
def project(tmp_path, monkeypatch):
    shutil.copytree(EXAMPLES, tmp_path / "example_notebooks", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "expectations", tmp_path / "expectations")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("name", ["regression", "classifier"])
def test_the_dag_of_each_example_matches_its_golden_file(project, name):
    result = export_airflow(f"example_notebooks/{name}.ipynb")
    assert result.changed and result.dag_id == name
    text = (project / "dags" / f"{name}.py").read_text()
    assert text == (GOLDEN / "airflow" / f"{name}.py").read_text()
    ast.parse(text)
    assert "/tmp" not in text and str(project) not in text  # path-relative
    assert not export_airflow(f"example_notebooks/{name}.ipynb").changed  # deterministic


def test_schedule_and_without_tracking(project):
    export_airflow("example_notebooks/regression.ipynb", schedule="@weekly", track=False, package=False)
    text = (project / "dags/regression.py").read_text()
    assert "schedule='@weekly'" in text and "track_and_package" not in text
    tree = ast.parse(text)
    tasks = [n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.decorator_list]
    assert tasks == [
        "pipeline",
        "step_load",
        "step_clean",
        "gate__clean__df",
        "step_train",
        "step_evaluate",
        "require__evaluate",
    ]


def test_bad_input_writes_nothing(project, write_nb, capsys):
    bad = write_nb([("code", "x = undefined_name", ["step:a", "stepp:b"])], name="bad.ipynb", folder=project)
    with pytest.raises(PlanError):
        export_airflow(bad)
    with pytest.raises(UsageError, match="--schedule is empty"):
        export_airflow("example_notebooks/regression.ipynb", schedule=" ")
    assert not (project / "dags").exists()
    with pytest.raises(SystemExit) as info:
        main(["export", "kubeflow", "example_notebooks/regression.ipynb"])
    assert info.value.code == 2 and "invalid choice" in capsys.readouterr().err


# ---- a real Airflow 3 (slow) ----


def _uv() -> list[str]:
    for cmd in ([sys.executable, "-m", "uv"], [shutil.which("uv")], [shutil.which("python3"), "-m", "uv"]):
        if cmd[0] and subprocess.run([*cmd, "--version"], capture_output=True).returncode == 0:
            return [c for c in cmd if c]
    raise AssertionError("uv is needed to build the Airflow environment (make venv installs it)")


def build_airflow(base: Path, *packages: str) -> tuple[Path, dict[str, str]]:
    """A virtualenv under ``base`` with nbprod, Airflow and ``packages``, and an initialised AIRFLOW_HOME (SQLite)."""
    venv = base / "venv"
    uv = _uv()
    subprocess.run([*uv, "venv", "-q", "-p", sys.executable, str(venv)], check=True)
    subprocess.run(
        [*uv, "pip", "install", "-q", "--python", str(venv / "bin/python"), "-e", str(ROOT), AIRFLOW, *packages],
        check=True,
        capture_output=True,
    )
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(base / "home"),
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
        "NBPROD_GATE_WORKER": "0",
    }
    env.pop("PYTHONPATH", None)
    migrate = subprocess.run([str(venv / "bin/airflow"), "db", "migrate"], env=env, capture_output=True, text=True)
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    return venv, env


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory):
    """A virtualenv with nbprod and Airflow, and an initialised AIRFLOW_HOME (SQLite): what a worker has."""
    return build_airflow(tmp_path_factory.mktemp("airflow"))


def _dags_test(airflow_env, project: Path, dag_id: str) -> subprocess.CompletedProcess:
    venv, env = airflow_env
    env = {**env, "AIRFLOW__CORE__DAGS_FOLDER": str(project / "dags")}
    return subprocess.run(
        [str(venv / "bin/airflow"), "dags", "test", dag_id, "-f", str(project / "dags" / f"{dag_id}.py")],
        env=env,
        capture_output=True,
        text=True,
        cwd=project,
        timeout=1200,
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", ["regression", "classifier"])
def test_the_exported_dag_runs_on_airflow_and_computes_what_nbprod_run_computes(airflow_env, project, tmp_path, name):
    export_airflow(f"example_notebooks/{name}.ipynb")
    proc = _dags_test(airflow_env, project, name)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    products = project / ".nbprod/products" / name
    on_airflow = json.loads((products / "evaluate/metrics.json").read_text())
    assert (project / ".nbprod/package" / name / "last_bento.json").exists()  # the last task packaged the model
    # the same notebook built by nbprod run, in its own copy of the project
    reference = tmp_path / "reference"
    shutil.copytree(EXAMPLES, reference / "example_notebooks", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "expectations", reference / "expectations")
    result = run(reference / f"example_notebooks/{name}.ipynb", project=reference, track=False, package=False)
    assert on_airflow == result.metrics and on_airflow


@pytest.mark.slow
def test_corrupted_data_fails_the_dag_at_the_gate_task(airflow_env, project):
    import pandas as pd

    csv = project / "example_notebooks/data/houses.csv"
    df = pd.read_csv(csv)
    df.assign(bedrooms=df["bedrooms"].where(df.index % 3 != 0)).to_csv(csv, index=False)
    export_airflow("example_notebooks/regression.ipynb")
    proc = _dags_test(airflow_env, project, "regression")
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "gate df after step 'clean' failed" in out and "expect_column_values_to_not_be_null" in out
    products = project / ".nbprod/products/regression"
    assert (products / "clean.ipynb").exists() and not (products / "train.ipynb").exists()  # nothing after the gate


def test_a_dag_for_another_shape_of_notebook(tmp_path):
    """No gate, no model, an after: edge, string and list parameters: the tasks and edges follow the plan."""
    from nbprod.export.airflow import render_dag
    from nbprod.notebook.reader import notebook_from_cells
    from nbprod.plan.build import build_plan

    cells = [
        ("code", "city = 'Oslo'\nsizes = [1, 2]", ["parameters"]),
        ("code", "a = len(city)", ["step:first"]),
        ("code", "b = sum(sizes)", ["step:second", "after:first"]),
        ("code", "c = a + b", ["step:third", "metrics", "require:c>=1"]),
    ]
    plan = build_plan(notebook_from_cells("nb.ipynb", cells))
    text = render_dag(plan, notebook="nb.ipynb", track=False, package=False)
    tree = ast.parse(text)
    assert "'city': Param('Oslo', type='string')" in text and "'sizes': Param([1, 2], type='array')" in text
    edges = {
        (n.left.id, n.right.id) for n in ast.walk(tree) if isinstance(n, ast.BinOp) and isinstance(n.op, ast.RShift)
    }
    assert edges == {
        ("t_first", "t_second"),
        ("t_first", "t_third"),
        ("t_second", "t_third"),
        ("t_third", "t_require__third"),
    }
    assert "track_and_package" not in text and "gate__" not in text


@pytest.mark.slow
def test_a_failing_task_names_the_notebook_cell_and_line(project, write_nb):
    """What a worker reports when a step fails: the same location as `nbprod run` (cell, line), not papermill's."""
    from nbprod.convert import convert
    from nbprod.errors import StepFailedError
    from nbprod.export.runtime import run_step

    write_nb(
        [("code", "x = 1", ["step:a"]), ("code", "# check it\ny = x + 1\nraise ValueError('bad y')", ["step:b"])],
        name="fails.ipynb",
        folder=project,
    )
    convert("fails.ipynb")
    run_step(project, "fails", "fails.ipynb", "a")
    with pytest.raises(StepFailedError) as info:
        run_step(project, "fails", "fails.ipynb", "b")
    assert "step 'b' failed in cell 1 ('# check it'), line 3: ValueError: bad y" in str(info.value)
