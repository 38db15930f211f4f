"""Packaging does not depend on how the notebook is cut into steps: whatever packaging reads (the frame the model is
fit on, its target, the records ``preprocess`` turns into it) is a product of the step that has it."""

from __future__ import annotations

import json

import pytest

from nbprod.notebook.reader import notebook_from_cells
from nbprod.plan.build import build_plan
from tests.conftest import nb_json

IMPORTS = (
    "import numpy as np\nimport pandas as pd\nfrom sklearn.ensemble import RandomForestClassifier\n"
    "from sklearn.metrics import roc_auc_score\nfrom sklearn.model_selection import train_test_split"
)
PREPROCESS = (
    "def preprocess(df):\n"
    "    out = df.assign(plan=pd.Categorical(df['plan'], categories=['basic', 'pro']))\n"
    "    return pd.get_dummies(out, columns=['plan'], dtype=float)"
)
LOAD = (
    "rng = np.random.default_rng(seed)\n"
    "tenure = rng.integers(1, 60, size=n_rows)\n"
    "calls = rng.integers(0, 8, size=n_rows)\n"
    "plan = rng.choice(['basic', 'pro'], size=n_rows)\n"
    "logit = -0.08 * tenure + 0.9 * calls + np.where(plan == 'basic', 0.5, -0.5)\n"
    "churned = (rng.random(n_rows) < 1 / (1 + np.exp(-logit))).astype(int)\n"
    "raw = pd.DataFrame({'tenure': tenure, 'calls': calls, 'plan': plan, 'churned': churned})"
)
SPLIT = (
    "X_train_raw, X_test_raw, y_train, y_test = train_test_split(\n"
    "    raw.drop(columns=['churned']), raw['churned'], test_size=0.25, random_state=seed\n)\n"
    "X_train = preprocess(X_train_raw)\nX_test = preprocess(X_test_raw)"
)
FIT = "model = RandomForestClassifier(n_estimators=20, max_depth=4, random_state=seed, n_jobs=1)\nmodel.fit(X_train, y_train)"
METRICS = "proba = model.predict_proba(X_test)[:, 1]\nauc = float(roc_auc_score(y_test, proba))"
REQUIRE = ["metrics", "require:auc>=0.6"]


def churn(tags: list[list[str]]) -> list[tuple[str, str, list[str]]]:
    """The same notebook, cut into steps by ``tags`` (one list per cell after the parameters)."""
    cells = [("code", IMPORTS, ["imports"]), ("code", "seed = 3\nn_rows = 400", ["parameters"])]
    return cells + [("code", src, t) for src, t in zip((PREPROCESS, LOAD, SPLIT, FIT, METRICS), tags)]


LAYOUTS = {
    # split + fit + evaluate in one step, preprocess() a plain serve cell
    "one_step": churn([["serve"], ["step:all"], [], ["model:model"], REQUIRE]),
    # load | split + fit + evaluate; the serve cell is also the first cell of the load step
    "two_steps": churn([["step:load", "serve"], [], ["step:train"], ["model:model"], REQUIRE]),
    # load + split | fit | evaluate
    "three_steps": churn([["serve"], ["step:load"], [], ["step:train", "model:model"], ["step:evaluate"] + REQUIRE]),
}
KEPT = {
    "one_step": {
        "all": {"X_train": "training features", "y_train": "training target", "X_train_raw": "request records"}
    },
    "two_steps": {
        "train": {"X_train": "training features", "y_train": "training target", "X_train_raw": "request records"}
    },
    "three_steps": {"load": {"X_train_raw": "request records"}},
}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_what_packaging_reads_is_a_product(layout):
    plan = build_plan(notebook_from_cells("churn.ipynb", LAYOUTS[layout]))
    kept = {s.name: s.package_outputs for s in plan.steps if s.package_outputs}
    assert kept == KEPT[layout]
    model_step = next(s for s in plan.steps if s.model)
    for name in ("X_train", "y_train", "model"):  # each is an output of its step, or an input from the step making it
        owner = plan.step(model_step.inputs.get(name, model_step.name))
        assert name in owner.outputs, (name, owner.name, owner.outputs)
    for step in plan.steps:
        for name in step.package_outputs:
            assert name in step.outputs
    assert plan.step(model_step.name).metrics == ["auc"] or any(s.metrics == ["auc"] for s in plan.steps)


def test_a_sklearn_pipeline_fit_on_the_raw_frame():
    cells = [
        ("code", "import pandas as pd\nfrom sklearn.linear_model import LogisticRegression", ["imports"]),
        ("code", "from sklearn.pipeline import make_pipeline\nfrom sklearn.preprocessing import StandardScaler", []),
        (
            "code",
            "df = pd.DataFrame({'a': [1.0, 2.0, 3.0, 4.0], 'y': [0, 0, 1, 1]})\nX_train, y_train = df[['a']], df['y']\n"
            "pipe = make_pipeline(StandardScaler(), LogisticRegression())\npipe.fit(X_train, y_train)",
            ["step:train", "model:pipe"],
        ),
    ]
    plan = build_plan(notebook_from_cells("nb.ipynb", cells))
    train = plan.step("train")
    assert train.outputs == ["X_train", "pipe", "y_train"]
    assert train.package_outputs == {"X_train": "training features", "y_train": "training target"}


def test_a_gated_frame_is_the_request_records_so_nothing_more_is_kept():
    cells = LAYOUTS["one_step"][:3] + [("code", LOAD, ["step:all", "gate:raw"])] + LAYOUTS["one_step"][4:]
    plan = build_plan(notebook_from_cells("churn.ipynb", cells))
    assert plan.step("all").package_outputs == {"X_train": "training features", "y_train": "training target"}
    assert plan.step("all").outputs == ["X_train", "model", "raw", "y_train"]


def test_the_example_notebooks_keep_nothing_more(tmp_path):
    from nbprod.notebook.reader import read_notebook
    from tests.conftest import EXAMPLES

    for name in ("classifier", "regression"):
        plan = build_plan(read_notebook(EXAMPLES / f"{name}.ipynb"))
        assert all(not s.package_outputs for s in plan.steps), name


#: the model fit on preprocess(records) directly: no name for the features at all
FIT_ON_PREPROCESS = [
    c if c[1] != FIT else ("code", FIT.replace("fit(X_train,", "fit(preprocess(X_train_raw),"), c[2])
    for c in LAYOUTS["three_steps"]
]


def test_a_model_fit_on_preprocess_of_the_records():
    plan = build_plan(notebook_from_cells("churn.ipynb", FIT_ON_PREPROCESS))
    assert plan.step("train").inputs["X_train_raw"] == "load"
    assert plan.step("load").package_outputs == {"X_train_raw": "request records"}
    assert "X_train_raw" in plan.step("load").outputs


@pytest.mark.slow
@pytest.mark.parametrize("layout", [*LAYOUTS, "fit_on_preprocess"])
def test_each_layout_builds_a_bento(layout, tmp_path, monkeypatch):
    from nbprod.workflow.run import run

    monkeypatch.setenv("NBPROD_GATE_WORKER", "0")
    nb = tmp_path / "churn.ipynb"
    nb.write_text(json.dumps(nb_json(LAYOUTS.get(layout, FIT_ON_PREPROCESS)), indent=1))
    result = run(nb, project=tmp_path, track=False, package=True)
    assert result.bento_tag and result.bento_tag.startswith("churn:")
    service = (tmp_path / "bentos/churn/service.py").read_text()
    # the request records are the raw columns preprocess() encodes, not the encoded features
    assert "COLUMNS = ['tenure', 'calls', 'plan']" in service
    assert "    plan: Literal['basic', 'pro']" in service
    assert "def preprocess(df):" in service and "rng = " not in service


#: the model holds a lambda (FunctionTransformer(lambda ...)): pickle cannot store it by name, cloudpickle can
LAMBDA_IN_MODEL = [
    c
    if c[1] != FIT
    else (
        "code",
        "from sklearn.pipeline import make_pipeline\nfrom sklearn.preprocessing import FunctionTransformer\n"
        + FIT.replace(
            "model = RandomForestClassifier(",
            "model = make_pipeline(FunctionTransformer(lambda X: X * 1.0), RandomForestClassifier(",
        ).replace("n_jobs=1)", "n_jobs=1))"),
        c[2],
    )
    for c in LAYOUTS["three_steps"]
]
#: ... or a function of the notebook's (pickle would store it by name: the packaging process has no such function)
FUNCTION_IN_MODEL = [
    (k, "def as_float(X):\n    return X * 1.0\n\n" + src.replace("lambda X: X * 1.0", "as_float"), t)
    if "lambda X: X * 1.0" in src
    else (k, src, t)
    for k, src, t in LAMBDA_IN_MODEL
]


@pytest.mark.slow
@pytest.mark.parametrize("cells", [LAMBDA_IN_MODEL, FUNCTION_IN_MODEL], ids=["lambda", "notebook_function"])
def test_a_model_holding_a_lambda_is_tracked_and_packaged(cells, tmp_path, monkeypatch):
    import joblib

    from nbprod.workflow.run import run

    monkeypatch.setenv("NBPROD_GATE_WORKER", "0")
    nb = tmp_path / "churn.ipynb"
    nb.write_text(json.dumps(nb_json(cells), indent=1))
    result = run(nb, project=tmp_path, isolated=True, track=True, package=True)
    assert result.tracked and result.tracked["model_version"] == 1
    assert result.bento_tag and result.bento_tag.startswith("churn:")
    assert (tmp_path / ".nbprod/products/churn/train/model/value.cloudpickle").exists()
    staged = joblib.load(tmp_path / ".nbprod/package/churn/model.joblib")  # what the service loads
    assert type(staged).__name__ == "Pipeline" and staged.steps[0][1].func(2.0) == 2.0
    assert "cloudpickle" in (tmp_path / "bentos/churn/bentofile.yaml").read_text()
