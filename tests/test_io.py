"""nbprod.io.save_metrics: numbers are metrics, anything else is left out with a warning and never fails the step."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from nbprod.io import load_metrics, save_metrics


@pytest.mark.parametrize(
    "value,expected",
    [
        (1, 1.0),
        (0.25, 0.25),
        (True, 1.0),
        (False, 0.0),
        (np.float32(0.5), 0.5),
        (np.int64(3), 3.0),
        (np.bool_(True), 1.0),
        (np.array(0.75), 0.75),
        (np.array(2, dtype=np.int8), 2.0),
    ],
)
def test_numbers_are_metrics(tmp_path, value, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        save_metrics({"m": value}, tmp_path / "metrics.json")
    assert load_metrics(tmp_path / "metrics.json") == {"m": expected}


@pytest.mark.parametrize(
    "value,why",
    [
        (np.array([0.1, 0.9]), "ndarray, not a number"),
        (np.array([[0.5]]), "ndarray, not a number"),
        (pd.Series([1.0]), "Series, not a number"),
        ("0.5", "str, not a number"),
        (None, "NoneType, not a number"),
        ([1, 2], "list, not a number"),
        (1 + 2j, "complex, not a number"),
        (np.array("x"), "ndarray, not a number"),
        (float("nan"), "nan, not a finite number"),
        (np.float64("inf"), "inf, not a finite number"),
    ],
)
def test_anything_else_is_left_out_with_a_warning(tmp_path, value, why):
    with pytest.warns(UserWarning, match=why):
        save_metrics({"auc": 0.9, "proba": value}, tmp_path / "metrics.json")
    assert load_metrics(tmp_path / "metrics.json") == {"auc": 0.9}


def test_metrics_json_is_sorted_and_strict(tmp_path):
    save_metrics({"b": 2, "a": np.float64(1.5)}, tmp_path / "metrics.json")
    text = (tmp_path / "metrics.json").read_text()
    assert list(json.loads(text)) == ["a", "b"]
    assert "NaN" not in text


def test_a_required_metric_that_is_not_a_number_fails_its_gate_naming_the_cell(tmp_path):
    from nbprod.gates.model import check_requirements
    from nbprod.notebook.reader import notebook_from_cells
    from nbprod.plan.build import build_plan

    cells = [
        ("code", "import numpy as np", ["imports"]),
        ("code", "scores = np.ones(3)", ["step:train"]),
        ("code", "auc = scores.copy()", ["step:evaluate", "metrics", "require:auc>=0.5"]),
    ]
    step = build_plan(notebook_from_cells("nb.ipynb", cells)).step("evaluate")
    assert step.metrics == ["auc"]  # the plan cannot tell: the save block leaves it out at run time
    with pytest.warns(UserWarning, match="metric 'auc' is ndarray"):
        save_metrics({"auc": np.ones(3)}, tmp_path / "metrics.json")
    (outcome,) = check_requirements(step, load_metrics(tmp_path / "metrics.json"))
    assert not outcome.passed
    assert outcome.describe() == "auc = not computed, required auc>=0.5 (cell 2 ('auc = scores.copy()'))"
