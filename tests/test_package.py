"""Packaging without BentoML (``build=False``) on products written by hand (no pipeline run, so these are fast).

The author's code run while packaging (serve cells, preprocess, the model's predict) fails as a UserCodeError
that names the notebook cell and its line, never as a raw traceback."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from nbprod.convert.render import product_paths
from nbprod.errors import CellRef, NbprodError, UserCodeError
from nbprod.io import save_value
from nbprod.notebook.reader import read_notebook
from nbprod.package.packager import package_plan
from nbprod.package.spec import infer_serving
from nbprod.plan.build import build_plan
from nbprod.ui.cli import main

IMPORTS = ("code", "import pandas as pd\nfrom sklearn.linear_model import LogisticRegression", ["imports"])
LOAD = ("code", "df = pd.read_csv('data.csv')", ["step:load"])
FEATURES = ("code", "X = df[['a']]\ny = df['b']", ["step:features"])
TRAIN = ("code", "model = LogisticRegression()\nmodel.fit(X, y)", ["step:train", "model:model"])


def _frame(n: int = 60) -> pd.DataFrame:
    return pd.DataFrame({"a": [float(i % 7) for i in range(n)], "b": [i % 2 for i in range(n)]})


def _project(tmp_path, write_nb, serve_source: str, *, features: pd.DataFrame | None = None):
    """A notebook whose products are saved as a run would have saved them; returns (plan, products)."""
    nb_path = write_nb([IMPORTS, LOAD, FEATURES, TRAIN, ("code", serve_source, ["serve"])])
    plan = build_plan(read_notebook(nb_path, display_path="nb.ipynb"))
    products = product_paths(plan, tmp_path)
    df = _frame()
    model = LogisticRegression().fit(df[["a"]], df["b"])
    save_value(df, products["load"]["df"])
    save_value(df[["a"]] if features is None else features, products["features"]["X"])
    save_value(df["b"], products["features"]["y"])
    save_value(model, products["train"]["model"])
    return plan, products


def test_a_serve_cell_that_raises_names_the_cell_and_its_line(tmp_path, write_nb):
    plan, products = _project(tmp_path, write_nb, "# nbprod: serve\ndef preprocess(raw):\n    return raw\n\nx = 1 / 0")
    with pytest.raises(UserCodeError) as info:
        infer_serving(plan, tmp_path, products)
    err = info.value
    assert err.cell == CellRef(4, "# nbprod: serve") and err.path == "nb.ipynb"
    assert "the serve cell failed: ZeroDivisionError: division by zero (line 5 of the cell)" in err.message
    assert err.exit_code == 1 and "nbprod package nb.ipynb" in (err.fix or "")
    assert "Traceback" not in str(err)


def test_a_syntax_error_in_a_serve_cell_names_the_cell_and_line(tmp_path, write_nb):
    plan, products = _project(tmp_path, write_nb, "def preprocess(raw):\n    return raw\nreturn 1")
    with pytest.raises(UserCodeError, match=r"SyntaxError: .*\(line 3 of the cell\)") as info:
        infer_serving(plan, tmp_path, products)
    assert info.value.cell is not None and info.value.cell.index == 4


def test_preprocess_failing_on_the_training_records_names_the_line_inside_it(tmp_path, write_nb):
    source = (
        "def preprocess(raw):\n"
        "    if len(raw) > 50:\n"
        "        raise ValueError('too many rows for this preprocess')\n"
        "    return raw[['a']]\n"
    )
    plan, products = _project(tmp_path, write_nb, source)
    with pytest.raises(UserCodeError) as info:
        infer_serving(plan, tmp_path, products)
    err = info.value
    assert err.cell == CellRef(4, "def preprocess(raw):")
    assert "preprocess() on the training records failed: ValueError: too many rows" in err.message
    assert "(line 3 of the cell)" in err.message


def test_a_failing_import_of_the_serve_cells_names_the_imports_cell(tmp_path, write_nb):
    plan, products = _project(tmp_path, write_nb, "def preprocess(raw):\n    return raw\n")
    plan.analyses[0].imports["nope"] = "import nbprod_no_such_module as nope"
    plan.analyses[4].uses.append("nope")
    with pytest.raises(UserCodeError, match="ModuleNotFoundError") as info:
        infer_serving(plan, tmp_path, products)
    assert info.value.cell is not None and info.value.cell.index == 0


def test_model_predict_failing_names_the_model_cell(tmp_path, write_nb):
    broken = _frame().assign(a=float("nan"))[["a"]]  # the features the model is asked to predict on
    plan, products = _project(tmp_path, write_nb, "def postprocess(p):\n    return p\n", features=broken)
    with pytest.raises(UserCodeError) as info:
        package_plan(plan, tmp_path, build=False)
    err = info.value
    assert err.cell == CellRef(3, "model = LogisticRegression()")
    assert "model.predict() on the training features failed: ValueError" in err.message
    assert not (tmp_path / "bentos").exists()


def test_the_cli_prints_the_cell_not_a_traceback(tmp_path, write_nb, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _project(tmp_path, write_nb, "def preprocess(raw):\n    return raw\n\nraise RuntimeError('no serving today')")
    code = main(["package", "nb.ipynb", "--no-build"])
    err = capsys.readouterr().err
    assert code == 1
    assert "nb.ipynb, cell 4 ('def preprocess(raw):'): the serve cell failed: RuntimeError: no serving today" in err
    assert "(line 4 of the cell)" in err and "Traceback" not in err


def test_packaging_writes_the_bento_context_and_a_typed_card(tmp_path, write_nb):
    source = "def preprocess(raw):\n    return raw[['a']]\n\ndef postprocess(p):\n    return [int(x) for x in p]\n"
    plan, _ = _project(tmp_path, write_nb, source)
    result = package_plan(plan, tmp_path, build=False)
    assert sorted(result.files) == [
        "MODEL_CARD.md",
        "alerts.yaml",
        "bentofile.yaml",
        "dashboard.json",
        "deploy/deployment.yaml",
        "deploy/hpa.yaml",
        "deploy/service.yaml",
        "deploy/servicemonitor.yaml",
        "model_card.json",
        "nbprod_batching.py",
        "nbprod_drift.py",
        "nbprod_prediction_log.py",
        "nbprod_service_log.py",
        "service.py",
    ]
    card = json.loads((tmp_path / "bentos/nb/model_card.json").read_text())
    assert card["model_parameters"]["input_schema"][0]["name"] == "a" and card["data"]["training"]["rows"] == 60
    assert card["model_parameters"]["output_schema"]["description"] == "postprocess() of the model's prediction"
    assert card["monitoring"]["drift_baseline"]["numeric"] == ["a"] and not result.built
    assert "def preprocess(raw):" in result.files["service.py"]
    assert 'nbprod_drift_psi{feature="a"} > 0.2' in (tmp_path / "bentos/nb/alerts.yaml").read_text()


def test_user_code_error_is_an_nbprod_error():
    assert issubclass(UserCodeError, NbprodError)


def test_bentoml_child_parent_side_needs_no_bentoml(tmp_path):
    import subprocess
    import sys

    from nbprod.package import bentoml_child

    cmd, env = bentoml_child.serve_command(tmp_path / "home", "p:1", 3001)
    assert cmd[1:] == ["serve", "p:1", "--host", "127.0.0.1", "--port", "3001"]
    assert env["BENTOML_HOME"] == str(tmp_path / "home") and env["BENTOML_DO_NOT_TRACK"] == "true"
    assert bentoml_child.main(["frobnicate"]) == 2
    code = "import sys, nbprod.package.bentoml_child, nbprod.workflow.serve; print('bentoml' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_a_step_cell_that_is_also_the_serve_cell_serves_its_definitions_only(tmp_path, write_nb):
    features = (
        "code",
        "# nbprod: step:features serve\ndef preprocess(raw):\n    return raw[['a']] * 1.0\n\n\n"
        "X_raw = df.drop(columns=['b'])\nX = preprocess(X_raw)\ny = df['b']",
        [],
    )
    nb_path = write_nb([IMPORTS, LOAD, features, TRAIN])
    plan = build_plan(read_notebook(nb_path, display_path="nb.ipynb"))
    assert plan.step("features").package_outputs == {"X_raw": "request records"}
    products = product_paths(plan, tmp_path)
    df = _frame().assign(c=lambda f: ["x" if v % 2 else "z" for v in range(len(f))])
    save_value(df, products["load"]["df"])
    save_value(df.drop(columns=["b"]), products["features"]["X_raw"])
    save_value(df[["a"]] * 1.0, products["features"]["X"])
    save_value(df["b"], products["features"]["y"])
    save_value(LogisticRegression().fit(df[["a"]], df["b"]), products["train"]["model"])
    spec, _model, raw, _features = infer_serving(plan, tmp_path, products)  # the step's code is not run
    assert spec.has_preprocess and [f.name for f in spec.fields] == ["a", "c"]
    assert list(raw.columns) == ["a", "c"]
    assert "request records are the columns of 'X_raw' (step 'features')" in spec.notes[0]
