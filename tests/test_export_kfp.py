"""``nbprod export kfp``: golden Kubeflow modules for both examples, bad input, and (slow) the module compiled by a
real kfp 2.17.3, its IR validated strictly, and the pipeline run by ``kfp.local.SubprocessRunner`` in an environment
of its own (nbprod + kfp + pip, as a user's would be), computing what ``nbprod run`` computes."""

import ast
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nbprod.errors import PlanError, SuiteError, UsageError
from nbprod.export.kfp import export_kfp, render_kfp
from nbprod.ui.cli import main
from nbprod.workflow.run import run
from tests.conftest import EXAMPLES, GOLDEN, ROOT, uv_command

KFP = "kfp==2.17.3"  # pyproject.toml's extra nbprod[kfp]
EXAMPLE_NAMES = ["regression", "classifier"]


def _components(text: str) -> list[str]:
    tree = ast.parse(text)
    return [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_the_module_of_each_example_matches_its_golden_file(project, name):
    result = export_kfp(f"example_notebooks/{name}.ipynb", compile=False)
    assert result.changed and result.pipeline == name and result.ir is None
    text = (project / "kubeflow" / f"{name}.py").read_text()
    assert text == (GOLDEN / "kfp" / f"{name}.py").read_text()
    assert "/tmp" not in text and str(project) not in text  # path-relative
    assert (project / "pipelines" / name / "pipeline.yaml").exists()  # what the components run
    assert not export_kfp(f"example_notebooks/{name}.ipynb", compile=False).changed  # deterministic


def test_components_artifacts_and_order_follow_the_plan(project):
    export_kfp("example_notebooks/regression.ipynb", compile=False, track=False, package=False)
    text = (project / "kubeflow/regression.py").read_text()
    assert _components(text) == [
        "step_load",
        "step_clean",
        "gate__clean__df",
        "step_train",
        "step_evaluate",
        "require__evaluate",
        "pipeline",
    ]
    # typed artifacts: the model is a Model, the metrics Metrics, the data Datasets; they flow as inputs
    assert "model: Output[Model]" in text and "metrics: Output[Metrics]" in text and "df: Output[Dataset]" in text
    assert "train__model: Input[Model]" in text and "clean__X_train: Input[Dataset]" in text
    # the notebook's parameters are pipeline parameters, typed
    assert "alpha: float = 1.0," in text and "seed: int = 7," in text and "nbprod_project: str = '.'," in text
    # the steps after the gate wait for it
    assert "t_train.after(t_gate__clean__df)" in text and "track_and_package" not in text
    assert "BASE_IMAGE = 'python:3.11-slim'" in text and "PACKAGES = ['nbprod==0.1.0']" in text


def test_a_module_for_another_shape_of_notebook():
    """No gate, no model, an after: edge, string and list parameters."""
    from nbprod.notebook.reader import notebook_from_cells
    from nbprod.plan.build import build_plan

    cells = [
        ("code", "city = 'Oslo'\nsizes = [1, 2]", ["parameters"]),
        ("code", "a = len(city)", ["step:first"]),
        ("code", "b = sum(sizes)", ["step:second", "after:first"]),
        ("code", "c = a + b", ["step:third", "metrics", "require:c>=1"]),
    ]
    plan = build_plan(notebook_from_cells("nb.ipynb", cells))
    text = render_kfp(plan, notebook="nb.ipynb", base_image="python:3.12-slim", track=False, package=False)
    assert _components(text) == ["step_first", "step_second", "step_third", "require__third", "pipeline"]
    assert "city: str = 'Oslo'," in text and "sizes: list = [1, 2]," in text
    assert "t_second.after(t_first)" in text  # no data between them: the after: edge is explicit
    assert "first__a: Input[Dataset]" in text and "second__b: Input[Dataset]" in text
    assert "BASE_IMAGE = 'python:3.12-slim'" in text


def test_bad_input_writes_nothing(project, write_nb, capsys, monkeypatch):
    bad = write_nb([("code", "x = undefined_name", ["step:a", "stepp:b"])], name="bad.ipynb", folder=project)
    with pytest.raises(PlanError):
        export_kfp(bad, compile=False)
    none_param = write_nb(
        [("code", "limit = None", ["parameters"]), ("code", "y = limit", ["step:a"])], name="none.ipynb", folder=project
    )
    with pytest.raises(UsageError, match="parameter 'limit' = None has no Kubeflow type"):
        export_kfp(none_param, compile=False)
    (project / "expectations/regression/df.json").unlink()
    with pytest.raises(SuiteError, match="does not exist") as info:
        export_kfp("example_notebooks/regression.ipynb", compile=False)
    assert "expectations/regression/df.json" in str(info.value)
    monkeypatch.setitem(sys.modules, "kfp", None)  # kfp not importable, as without the extra
    with pytest.raises(UsageError, match="kfp is not installed") as info:
        export_kfp("example_notebooks/classifier.ipynb")
    assert "pip install 'nbprod[kfp]'" in str(info.value) and "--no-compile" in str(info.value)
    assert main(["export", "kfp", "example_notebooks/classifier.ipynb"]) == 2
    err = capsys.readouterr().err
    assert "kfp is not installed" in err and "Traceback" not in err
    assert main(["export", "kfp", "example_notebooks/classifier.ipynb", "--schedule", "@daily"]) == 2
    assert main(["export", "airflow", "example_notebooks/classifier.ipynb", "--no-compile"]) == 2
    assert not (project / "kubeflow").exists() and not (project / "pipelines").exists()
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "argo", "example_notebooks/regression.ipynb"])
    assert exit_info.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_the_cli_writes_the_module(project, capsys):
    assert main(["export", "kfp", "example_notebooks/regression.ipynb", "--no-compile", "--no-package"]) == 0
    assert "kubeflow/regression.py written" in capsys.readouterr().out
    text = (project / "kubeflow/regression.py").read_text()
    assert "track=True, package=False" in text


# ---- a real kfp, run by kfp.local.SubprocessRunner (slow) ----

RUNNER = """
import importlib.util, json, sys, time
from pathlib import Path

from kfp import local

project, name, root = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=root)
spec = importlib.util.spec_from_file_location("exported", project / "kubeflow" / f"{name}.py")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
start = time.perf_counter()
module.pipeline(nbprod_project=str(project))
print("KFP_WALL", json.dumps(time.perf_counter() - start))
"""

VALIDATE = """
import sys, yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

spec = json_format.ParseDict(yaml.safe_load(open(sys.argv[1])), pipeline_spec_pb2.PipelineSpec())
print(sorted(spec.root.dag.tasks))
"""


@pytest.fixture(scope="session")
def kfp_env(tmp_path_factory):
    """A virtualenv with nbprod, kfp and pip (SubprocessRunner(use_venv=False) pip-installs into it)."""
    base = tmp_path_factory.mktemp("kfp")
    venv = base / "venv"
    uv = uv_command()
    subprocess.run([*uv, "venv", "-q", "-p", sys.executable, str(venv)], check=True)
    subprocess.run(
        [*uv, "pip", "install", "-q", "--python", str(venv / "bin/python"), "-e", str(ROOT), KFP, "pip"],
        check=True,
        capture_output=True,
    )
    (base / "runner.py").write_text(RUNNER)
    (base / "validate.py").write_text(VALIDATE)
    env = {**os.environ, "NBPROD_GATE_WORKER": "0", "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)
    return venv, base, env


def _export(kfp_env, project: Path, name: str, *options: str) -> None:
    venv, _, env = kfp_env
    proc = subprocess.run(
        [str(venv / "bin/nbprod"), "export", "kfp", f"example_notebooks/{name}.ipynb", *options],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _run_local(kfp_env, project: Path, name: str) -> tuple[subprocess.CompletedProcess, Path]:
    venv, base, env = kfp_env
    root = project / ".kfp_outputs"
    proc = subprocess.run(
        [str(venv / "bin/python"), str(base / "runner.py"), str(project), name, str(root)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    return proc, root


@pytest.mark.slow
def test_the_compiled_ir_is_golden_deterministic_and_valid(kfp_env, project):
    venv, base, env = kfp_env
    for name in EXAMPLE_NAMES:
        _export(kfp_env, project, name)
        ir = project / "kubeflow" / f"{name}.yaml"
        assert ir.read_text() == (GOLDEN / "kfp" / f"{name}.yaml").read_text()
        assert str(project) not in ir.read_text()
        check = subprocess.run(
            [str(venv / "bin/python"), str(base / "validate.py"), str(ir)], env=env, capture_output=True, text=True
        )
        assert check.returncode == 0, check.stderr
        assert "'gate-clean-df'" in check.stdout or "'gate-features-df'" in check.stdout
        assert "'track-and-package'" in check.stdout and "'require-evaluate'" in check.stdout
    before = (project / "kubeflow/regression.yaml").stat().st_mtime_ns
    _export(kfp_env, project, "regression")
    assert (project / "kubeflow/regression.yaml").stat().st_mtime_ns == before  # unchanged: not rewritten


def _reference(tmp_path: Path, name: str):
    reference = tmp_path / "reference"
    shutil.copytree(EXAMPLES, reference / "example_notebooks", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "expectations", reference / "expectations")
    start = time.perf_counter()
    result = run(reference / f"example_notebooks/{name}.ipynb", project=reference, track=False, package=False)
    return reference, result, time.perf_counter() - start


@pytest.mark.slow
@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_the_pipeline_runs_locally_and_computes_what_nbprod_run_computes(kfp_env, project, tmp_path, name):
    from nbprod.io import load_metrics, load_value

    # the regression example also runs the last component, tracking (the Bento build is the packaging tests' and the
    # Airflow test's: the same code after the same publish step, 25-40 s here)
    full = name == "regression"
    _export(kfp_env, project, name, "--no-package", *([] if full else ["--no-track"]))
    proc, root = _run_local(kfp_env, project, name)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    wall = json.loads(proc.stdout.split("KFP_WALL")[-1])
    (run_dir,) = root.iterdir()
    on_kfp = load_metrics(run_dir / "step-evaluate" / "metrics")
    executor = json.loads((run_dir / "step-evaluate" / "executor_output.json").read_text())
    assert executor["artifacts"]["metrics"]["artifacts"][0]["metadata"] == on_kfp  # logged as KFP metrics
    reference, result, ref_wall = _reference(tmp_path, name)
    assert on_kfp == result.metrics and on_kfp
    # the data products are equal, artifact by artifact (the models are pickles: their metrics are equal above)
    ref_products = reference / ".nbprod/products" / name
    compared = 0
    for step_dir in sorted(p for p in ref_products.iterdir() if p.is_dir()):
        for product in sorted(p for p in step_dir.iterdir() if p.is_dir() and not (p / "value.joblib").exists()):
            ours, theirs = load_value(run_dir / f"step-{step_dir.name}" / product.name), load_value(product)
            assert type(ours) is type(theirs) and ours.equals(theirs), (step_dir.name, product.name)
            compared += 1
    assert compared >= 5
    if full:  # the artifacts were published into nbprod's products folder and the run logged to MLflow
        assert load_metrics(project / ".nbprod/products" / name / "evaluate/metrics.json") == on_kfp
        with sqlite3.connect(project / ".nbprod/mlflow.db") as db:
            tracked = dict(db.execute("SELECT key, value FROM metrics").fetchall())
        assert {k: tracked[k] for k in on_kfp} == on_kfp
    else:
        assert not (project / ".nbprod/mlflow.db").exists()
    print(
        f"\n{name}: kfp.local SubprocessRunner {wall:.1f} s (tracked: {full}), nbprod run in-process {ref_wall:.1f} s"
    )


@pytest.mark.slow
def test_corrupted_data_fails_the_run_at_the_gate_component(kfp_env, project):
    import pandas as pd

    csv = project / "example_notebooks/data/houses.csv"
    df = pd.read_csv(csv)
    df.assign(bedrooms=df["bedrooms"].where(df.index % 3 != 0)).to_csv(csv, index=False)
    _export(kfp_env, project, "regression", "--no-track", "--no-package")
    proc, root = _run_local(kfp_env, project, "regression")
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "gate df after step 'clean' failed" in out and "expect_column_values_to_not_be_null" in out
    assert "'gate-clean-df' finished with status \x1b[91mFAILURE" in out or "gate-clean-df" in out
    (run_dir,) = root.iterdir()
    assert (run_dir / "step-clean" / "df").is_dir() and not (run_dir / "step-train").exists()  # nothing after it


def test_the_export_stays_light(project):
    """The generator imports neither kfp nor the pipeline's heavy libraries (it is a text generator)."""
    heavy = ["kfp", "ploomber", "papermill", "pandas", "numpy", "great_expectations", "mlflow", "bentoml", "sklearn"]
    code = (
        "import sys, json\nfrom nbprod.ui.cli import main\n"
        "rc = main(['export', 'kfp', 'example_notebooks/regression.ipynb', '--no-compile'])\n"
        f"print(json.dumps([rc, sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r}))]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=project)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [0, []]
