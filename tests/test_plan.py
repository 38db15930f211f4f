import pytest

from nbprod.errors import PlanError
from nbprod.notebook.reader import notebook_from_cells, read_notebook
from nbprod.plan.build import build_plan
from nbprod.plan.model import pipeline_name
from tests.conftest import EXAMPLES, FIXTURES


def plan_of(cells, **kw):
    return build_plan(notebook_from_cells("nb.ipynb", cells), **kw)


BASIC = [
    ("code", "import pandas as pd", ["imports"]),
    ("code", "seed = 1\nn = 10", ["parameters"]),
    ("code", "def double(v):\n    return v * factor", ["functions"]),
    ("code", "factor = 2", ["functions"]),
    ("code", "raw = list(range(n))", ["step:load"]),
    ("code", "df = pd.DataFrame({'a': raw})", []),
    ("code", "df['b'] = double(df['a'])\nclean = df.dropna()", ["step:clean", "gate:clean"]),
    ("code", "model = clean.sum()", ["step:train", "model:model"]),
    ("code", "acc = float(model['a'] / 100)", ["step:evaluate", "metrics", "require:acc>=0.1"]),
]


def test_steps_inputs_outputs_and_edges():
    plan = plan_of(BASIC)
    assert [s.name for s in plan.steps] == ["load", "clean", "train", "evaluate"]
    load, clean, train, ev = plan.steps
    assert load.params == ["n"] and load.outputs == ["df"]
    assert clean.inputs == {"df": "load"} and clean.mutated_inputs == ["df"]
    assert clean.outputs == ["clean"] and clean.gates == ["clean"]
    assert train.inputs == {"clean": "clean"} and train.outputs == ["model"] and train.model == "model"
    assert ev.inputs == {"model": "train"} and ev.metrics == ["acc"] and str(ev.requires[0][0]) == "acc>=0.1"
    assert plan.edges == [("load", "clean", ["df"]), ("clean", "train", ["clean"]), ("train", "evaluate", ["model"])]
    assert plan.parameters == {"seed": 1, "n": 10}


def test_shared_cells_follow_function_globals():
    plan = plan_of(BASIC)
    clean = plan.step("clean")
    # double() reads the global 'factor', defined in another functions cell: both cells are needed
    assert [c.index for c in clean.shared_cells] == [2, 3]
    assert [c.index for c in plan.step("load").shared_cells] == [0]


def test_mutation_makes_the_mutating_step_the_producer():
    plan = plan_of(
        [
            ("code", "data = [1]", ["step:a"]),
            ("code", "data.append(2)", ["step:b"]),
            ("code", "total = sum(data)", ["step:c"]),
        ]
    )
    assert plan.step("b").inputs == {"data": "a"} and plan.step("b").outputs == ["data"]
    assert plan.step("c").inputs == {"data": "b"}
    assert plan.step("a").outputs == ["data"]


def test_last_producer_wins():
    plan = plan_of([("code", "x = 1", ["step:a"]), ("code", "x = 2", ["step:b"]), ("code", "y = x", ["step:c"])])
    assert plan.step("c").inputs == {"x": "b"}
    assert plan.step("a").outputs == []


def test_imports_and_functions_defined_in_step_cells_are_reemitted_not_pickled():
    plan = plan_of(
        [
            ("code", "import math\ndef sq(v):\n    return v * v\nx = 3", ["step:a"]),
            ("code", "y = math.sqrt(sq(x))", ["step:b"]),
        ]
    )
    b = plan.step("b")
    assert b.inputs == {"x": "a"}
    assert b.extra_imports == ["import math"]
    assert b.extra_defs[0][0].startswith("def sq(v):")


def test_after_orders_steps_and_adds_an_edge():
    plan = plan_of(
        [
            ("code", "a = 1", ["step:one"]),
            ("code", "b = 2", ["step:two"]),
            ("code", "c = 3", ["step:three", "after:one"]),
        ]
    )
    assert plan.step("three").upstream == ["one"]
    assert ("one", "three", []) in plan.edges


def test_after_pointing_later_reorders():
    plan = plan_of([("code", "a = 1", ["step:one", "after:two"]), ("code", "b = 2", ["step:two"])])
    assert [s.name for s in plan.steps] == ["two", "one"]


def test_untagged_cells_extend_the_current_step_and_imports_before_first_step():
    plan = plan_of([("code", "import os", []), ("code", "a = os.sep", ["step:one"]), ("code", "b = a * 2", [])])
    assert [c.index for c in plan.step("one").code_cells] == [1, 2]
    assert plan.shared["imports"][0].index == 0
    assert any("only imports" in n for n in plan.notes)


def test_code_outside_steps_is_collected():
    plan = plan_of([("code", "x = 1", []), ("code", "y = 2", ["step:a"])], strict=False)
    assert [c.index for c in plan.outside] == [0]


@pytest.mark.parametrize(
    "cells,code,message",
    [
        ([("code", "x = 1", [])], "NB010", "no step: tags"),
        ([("code", "x = 1", ["step:a", "after:b"]), ("code", "y = x", ["step:b"])], "NB015", "form a cycle"),
        ([("code", "x = 1", ["step:a", "after:nope"])], "NB014", "after:nope names an unknown step"),
        ([("code", "x = 1", ["step:a", "after:a"])], "NB015", "cannot run after itself"),
        ([("code", "x = 1", ["step:a", "gate:df"])], "NB110", "gate:df names a variable step 'a' never assigns"),
        ([("code", "x = 1", ["step:a", "model:m"])], "NB110", "model:m names a variable"),
        ([("code", "x = 1", ["step:a", "require:acc>=0.9"])], "NB111", "names metric 'acc'"),
        ([("code", "x = 1", ["step:a", "imports"])], "NB011", "conflicting tags"),
        ([("code", "x = 1", ["step:a"]), ("code", "x = 1", ["skip", "metrics"])], "NB011", "need a step cell"),
        ([("code", "x = y", ["step:a"])], "NB104", "uses 'y'"),
        ([("code", "x = 1\nprint(x)", ["parameters"]), ("code", "y = 1", ["step:a"])], "NB020", "only assignments"),
        ([("code", "x = [1e999]", ["parameters"]), ("code", "y = x", ["step:a"])], "NB020", "not a plain value"),
        ([("code", "def f(:", ["step:a"])], "NB100", "syntax error"),
        ([("code", "x = 1", ["stpe:a"])], "NB001", "unknown tag"),
    ],
)
def test_plan_errors(cells, code, message):
    with pytest.raises(PlanError) as info:
        plan_of(cells)
    codes = [p.code for p in info.value.problems]
    assert code in codes, codes
    assert message in str(info.value)


def test_plan_error_names_the_cell():
    with pytest.raises(PlanError) as info:
        plan_of([("code", "x = 1", ["step:a"]), ("code", "z = 1  # second", ["step:b", "after:ghost"])])
    assert "cell 1 ('z = 1  # second')" in str(info.value)


def test_heading_split():
    nb = read_notebook(FIXTURES / "headings.ipynb")
    plan = build_plan(nb)
    assert plan.split == "headings"
    assert [s.name for s in plan.steps] == ["load_data", "clean", "train_model"]
    assert any("split at 3" in n for n in plan.notes)
    with pytest.raises(PlanError, match="no step: tags"):
        build_plan(nb, split="tags")


def test_kale_dialect():
    plan = build_plan(read_notebook(FIXTURES / "kale_dialect.ipynb"))
    assert [s.name for s in plan.steps] == ["load_data", "train"]
    assert plan.step("train").upstream == ["load_data"]
    assert plan.step("train").metrics == ["score"]
    assert plan.parameters
    assert any("Kale cluster tag" in n for n in plan.notes)


def test_untagged_without_headings_is_an_error_telling_how_to_tag():
    with pytest.raises(PlanError) as info:
        build_plan(read_notebook(FIXTURES / "untagged_no_headings.ipynb"))
    assert "step:<name>" in info.value.fix


@pytest.mark.parametrize("nb", ["classifier.ipynb", "regression.ipynb"])
def test_examples_plan_cleanly(nb):
    plan = build_plan(read_notebook(EXAMPLES / nb))
    assert [s.name for s in plan.steps][-1] == "evaluate"
    assert plan.models and any(s.gates for s in plan.steps) and any(s.requires for s in plan.steps)
    assert len(plan.cards) == 8 and plan.shared["serve"]


def test_regression_load_step_reads_its_data_file():
    plan = build_plan(read_notebook(EXAMPLES / "regression.ipynb"))
    assert plan.step("load").input_files == ["data/houses.csv"]


def test_pipeline_name():
    assert pipeline_name("notebooks/Churn Model-v2.ipynb") == "churn_model_v2"
    assert pipeline_name("2024.ipynb") == "p_2024"
    with pytest.raises(PlanError, match="path separator"):
        build_plan(notebook_from_cells("nb.ipynb", [("code", "x=1", ["step:a"])]), name="../evil")


def test_code_before_the_first_heading_starts_a_setup_step():
    """Many notebooks import and load the data in their first cell, then split into '## ' sections."""
    cells = [
        ("markdown", "# Quick regression", []),
        ("code", "import numpy as np\nx = np.arange(3)\nprint(x)", []),
        ("code", "y = x * 2", []),
        ("markdown", "## Fit", []),
        ("code", "print(np.sum(y))", []),
    ]
    plan = plan_of(cells)
    assert [s.name for s in plan.steps] == ["setup", "fit"] and plan.outside == []
    assert [c.index for c in plan.step("setup").code_cells] == [1, 2]
    assert plan.step("fit").inputs == {"y": "setup"}
    assert any("starts step 'setup'" in n for n in plan.notes)


def test_imports_before_the_first_heading_stay_an_imports_cell():
    plan = plan_of([("code", "import numpy as np", []), ("markdown", "## A", []), ("code", "x = np.ones(2)", [])])
    assert [s.name for s in plan.steps] == ["a"] and [c.index for c in plan.shared["imports"]] == [0]
