"""Tags compose (PRODUCT.md): every pair of code tags on one cell is either accepted with its meaning, or a conflict
(NB011) naming the cell and both tags. Then the compositions that matter in practice, end to end through the plan."""

from __future__ import annotations

import itertools

import pytest

from nbprod.notebook.reader import notebook_from_cells
from nbprod.notebook.tags import GRAMMAR, conflict
from nbprod.plan.build import build_plan

#: one tag of each code kind, with a value that holds in the notebook below
TAG = {
    "parameters": "parameters",
    "step": "step:b",
    "after": "after:load",
    "imports": "imports",
    "functions": "functions",
    "skip": "skip",
    "gate": "gate:df",
    "model": "model:m",
    "metrics": "metrics",
    "require": "require:acc>=0.5",
    "serve": "serve",
}
SHARED = ("imports", "functions", "serve")
IN_STEP = ("step", "after", "gate", "model", "metrics", "require")
CONFLICTS = {
    frozenset(p)
    for p in itertools.combinations(TAG, 2)
    if "skip" in p or "parameters" in p or ("imports" in p and set(p) & set(IN_STEP))
}
PAIRS = [tuple(sorted(p)) for p in itertools.combinations(sorted(TAG), 2)]


def test_the_table_covers_every_code_tag():
    assert set(TAG) == {n for n, s in GRAMMAR.items() if s.cell_type == "code"}


@pytest.mark.parametrize("a,b", PAIRS)
def test_grammar_says_which_pairs_conflict(a, b):
    assert (conflict(a, b) is not None) == (frozenset((a, b)) in CONFLICTS)
    assert conflict(a, b) == conflict(b, a)


def _plan(a: str, b: str):
    body = "df = raw\nm = 1\nacc = 0.9\n\ndef preprocess(d):\n    return d"
    if "parameters" in (a, b):
        body = "alpha = 1"
    cells = [
        ("code", "import math", ["imports"]),
        ("code", "raw = [1, 2]", ["step:load"]),
        ("code", "acc = 0.8\ndone = raw", ["step:prep", "metrics"]),
        ("code", body, [TAG[a], TAG[b]]),
        ("code", "z = 1", []),
    ]
    return build_plan(notebook_from_cells("nb.ipynb", cells), strict=False)


def _step_of(plan, index):
    return next((s.name for s in plan.steps if any(c.index == index for c in s.cells)), None)


@pytest.mark.parametrize("a,b", PAIRS)
def test_every_pair_of_tags_on_one_cell(a, b):
    plan = _plan(a, b)
    nb011 = [f for f in plan.findings if f.code == "NB011"]
    if frozenset((a, b)) in CONFLICTS:
        assert len(nb011) == 1, nb011
        finding = nb011[0]
        assert finding.cell is not None and finding.cell.index == 3
        assert TAG[a] in finding.message and TAG[b] in finding.message
        assert "conflicting tags" in finding.message
        # the next cell is not silently given to another step: it follows the cell's own step: tag, if any
        assert _step_of(plan, 4) == ("b" if "step" in (a, b) else "prep")
        return
    assert not nb011 and not plan.errors, plan.errors
    kinds = {a, b}
    owner = ("b" if "step" in kinds else "prep") if kinds & set(IN_STEP) else None
    assert _step_of(plan, 3) == owner
    assert _step_of(plan, 4) == (owner or "prep")  # an untagged cell extends the step the cell before it is in
    for role in SHARED:
        assert (3 in [c.index for c in plan.shared[role]]) == (role in kinds)
    if owner is not None:
        step = plan.step(owner)
        assert ("load" in step.after) == ("after" in kinds)
        assert ("df" in step.gates) == ("gate" in kinds)
        assert (step.model == "m") == ("model" in kinds)
        assert ("m" in step.metrics) == ("metrics" in kinds)
        assert (["acc>=0.5"] == [str(r) for r, _ in step.requires]) == ("require" in kinds)


def test_several_step_names_on_one_cell_conflict():
    cells = [("code", "x = 1", ["step:a", "step:b"])]
    plan = build_plan(notebook_from_cells("nb.ipynb", cells), strict=False)
    assert [f.message for f in plan.findings if f.code == "NB011"] == ["cell carries 2 step tags (a, b)"]


def test_a_conflict_message_says_why():
    plan = _plan("skip", "metrics")
    (finding,) = [f for f in plan.findings if f.code == "NB011"]
    assert finding.message.startswith("conflicting tags skip, metrics on one cell: a 'skip' cell is never part")
    assert "need a step cell" in finding.message


FEATURES_SERVE = [
    ("code", "import pandas as pd", ["imports"]),
    ("code", "raw = pd.DataFrame({'a': [1, 2], 'y': [0, 1]})", ["step:load"]),
    (
        "code",
        "# nbprod: step:features serve\nCOLUMNS = ['a']\n\n\ndef preprocess(df):\n    return df[COLUMNS] * 2\n\n\n"
        "X = preprocess(raw)\ny = raw['y']",
        [],
    ),
    ("code", "model = X.sum()", ["step:train", "model:model"]),
    ("code", "pred = preprocess(raw)", ["step:score"]),
]


def test_a_step_cell_that_is_also_the_serve_cell():
    plan = build_plan(notebook_from_cells("nb.ipynb", FEATURES_SERVE))
    features, score = plan.step("features"), plan.step("score")
    assert [c.index for c in features.cells] == [2]
    # raw is passed to the notebook's own preprocess(), whose body changes none of its parameters: raw is unchanged
    assert features.inputs == {"raw": "load"} and features.outputs == ["COLUMNS", "X"]
    # the service runs the cell's definitions only (not the step's code, which needs the step's inputs)
    (serve,) = plan.shared["serve"]
    assert serve.index == 2
    assert serve.source == "COLUMNS = ['a']\n\ndef preprocess(df):\n    return df[COLUMNS] * 2"
    # a later step that uses preprocess() gets the function (re-emitted), and the value it reads as an input
    assert [(src.split("\n")[0], i) for src, i in score.extra_defs] == [("def preprocess(df):", 2)]
    assert score.inputs == {"COLUMNS": "features", "raw": "load"} and score.shared_cells == []


def test_a_step_cell_that_is_also_a_functions_cell():
    cells = [
        ("code", "def twice(v):\n    return 2 * v\n\n\nx = twice(3)", ["step:a", "functions"]),
        ("code", "y = twice(x)", ["step:b"]),
    ]
    plan = build_plan(notebook_from_cells("nb.ipynb", cells))
    a, b = plan.steps
    assert [c.index for c in a.cells] == [0] and a.outputs == ["x"]
    assert [c.index for c in plan.shared["functions"]] == [0]
    assert plan.shared["functions"][0].source == "def twice(v):\n    return 2 * v"
    assert [i for _, i in b.extra_defs] == [0] and b.inputs == {"x": "a"}


def test_serve_and_functions_compose_into_one_shared_cell():
    cells = [
        ("code", "def preprocess(d):\n    return d", ["functions", "serve"]),
        ("code", "x = preprocess(1)", ["step:a"]),
    ]
    plan = build_plan(notebook_from_cells("nb.ipynb", cells))
    assert [c.index for c in plan.shared["serve"]] == [0] == [c.index for c in plan.shared["functions"]]
    assert [c.index for c in plan.step("a").shared_cells] == [0]


def test_tags_before_the_first_step_on_a_shared_cell_need_a_step():
    cells = [("code", "def f():\n    return 1\nacc = 1.0", ["functions", "metrics"]), ("code", "x = 1", ["step:a"])]
    plan = build_plan(notebook_from_cells("nb.ipynb", cells), strict=False)
    assert [f.code for f in plan.errors] == ["NB012"]


def test_a_heading_section_without_code_is_no_step():
    cells = [
        ("markdown", "## Load", []),
        ("code", "x = 1", []),
        ("markdown", "## Background\n\nOnly prose here.", []),
        ("markdown", "More prose.", []),
        ("markdown", "## Train", []),
        ("code", "y = x + 1", []),
    ]
    plan = build_plan(notebook_from_cells("nb.ipynb", cells))
    assert [s.name for s in plan.steps] == ["load", "train"]
    assert plan.step("train").inputs == {"x": "load"}
    assert "'## ' section at cell 2 has no code: not a step" in plan.notes


def test_a_step_of_empty_code_cells_is_no_step():
    cells = [("code", "x = 1", ["step:a"]), ("code", "\n", ["step:b"]), ("code", "y = x", ["step:c"])]
    plan = build_plan(notebook_from_cells("nb.ipynb", cells))
    assert [s.name for s in plan.steps] == ["a", "c"]
    assert "step 'b' has no code: not a step" in plan.notes


def test_a_metrics_cell_that_computes_an_array_on_the_way():
    cells = [
        ("code", "import numpy as np", ["imports"]),
        ("code", "model = 1\nX = np.zeros((3, 2))", ["step:train"]),
        (
            "code",
            "proba = model.predict_proba(X)[:, 1]\npred = model.predict(X)\nname = 'rf'\nauc = float(proba.mean())\n"
            "n = len(pred)\nthreshold = 0.5\nlabels = [0, 1]\nfpr, tpr = proba, pred",
            ["step:evaluate", "metrics", "require:auc>=0.5"],
        ),
    ]
    plan = build_plan(notebook_from_cells("nb.ipynb", cells))
    assert plan.step("evaluate").metrics == ["auc", "n", "threshold", "fpr", "tpr"]  # fpr, tpr: unknown until saved
    notes = [n for n in plan.notes if n.startswith("metrics cell 2")]
    assert notes == [
        "metrics cell 2: 'proba' is an array slice, not a number: not a metric",
        "metrics cell 2: 'pred' is the result of predict(), not a number: not a metric",
        "metrics cell 2: 'name' is str, not a number: not a metric",
        "metrics cell 2: 'labels' is a list, not a number: not a metric",
    ]


def test_a_require_on_a_value_that_is_not_a_number_names_the_cell():
    cells = [
        ("code", "model = 1\nX = 2", ["step:train"]),
        ("code", "proba = model.predict_proba(X)[:, 1]", ["step:evaluate", "metrics", "require:proba>=0.5"]),
    ]
    plan = build_plan(notebook_from_cells("nb.ipynb", cells), strict=False)
    (error,) = plan.errors
    assert error.code == "NB111" and error.cell is not None and error.cell.index == 1
    assert "'proba'" in error.message
