"""Suites, starter suites and GX validation on small in-memory frames (real Great Expectations)."""

import json

import pandas as pd
import pytest

from nbprod.errors import (
    CellRef,
    ConvertError,
    GateFailedError,
    NbprodError,
    PlanError,
    RunError,
    StepFailedError,
    SuiteError,
    UserCodeError,
)
from nbprod.gates.model import check_requirements
from nbprod.gates.propose import propose_suite, was_edited
from nbprod.gates.report import render_html
from nbprod.gates.suites import dump_suite, load_suite
from nbprod.gates.validate import validate_frame
from nbprod.gates.worker import error_from_json, error_to_json
from nbprod.notebook.reader import notebook_from_cells
from nbprod.plan.build import build_plan


@pytest.fixture
def frame():
    return pd.DataFrame(
        {
            "age": [23, 35, 41, 52, 60, 29, 33, 47],
            "income": [30.5, 52.0, None, 75.2, 81.0, 40.0, 45.5, 66.6],
            "plan": ["basic", "pro", "pro", "enterprise", "basic", "basic", "pro", "enterprise"],
        }
    )


def write(tmp_path, suite, name="df.json"):
    path = tmp_path / name
    path.write_text(suite if isinstance(suite, str) else dump_suite(suite))
    return path


def test_starter_suite_covers_columns_rows_types_nulls_ranges_sets_and_means(frame):
    suite = propose_suite(frame, "p.df")
    kinds = [(e["type"], e["kwargs"].get("column"), e["severity"]) for e in suite["expectations"]]
    assert ("expect_table_columns_to_match_set", None, "critical") in kinds
    assert ("expect_table_row_count_to_be_between", None, "critical") in kinds
    assert ("expect_column_values_to_not_be_null", "age", "critical") in kinds
    assert ("expect_column_values_to_be_between", "age", "critical") in kinds
    assert ("expect_column_values_to_be_in_set", "plan", "critical") in kinds
    assert ("expect_column_mean_to_be_between", "income", "warning") in kinds
    nulls = next(
        e
        for e in suite["expectations"]
        if e["type"] == "expect_column_values_to_not_be_null" and e["kwargs"]["column"] == "income"
    )
    assert 0 < nulls["kwargs"]["mostly"] < 7 / 8
    age = next(
        e
        for e in suite["expectations"]
        if e["type"] == "expect_column_values_to_be_between" and e["kwargs"]["column"] == "age"
    )
    assert age["kwargs"]["min_value"] < 23 and age["kwargs"]["max_value"] > 60
    assert next(e for e in suite["expectations"] if e["kwargs"].get("column") == "plan" and "value_set" in e["kwargs"])[
        "kwargs"
    ]["value_set"] == ["basic", "enterprise", "pro"]


def test_starter_suite_is_canonical_and_deterministic(frame):
    a, b = dump_suite(propose_suite(frame, "p.df")), dump_suite(propose_suite(frame.copy(), "p.df"))
    assert a == b and '"id"' not in a and a.endswith("}\n")
    assert json.loads(a) == json.loads(dump_suite(json.loads(a)))


def test_edited_suites_are_detected(frame):
    suite = propose_suite(frame, "p.df")
    assert not was_edited(suite)
    suite["expectations"][1]["kwargs"]["max_value"] = 99
    assert was_edited(suite)
    assert was_edited({"expectations": []})  # written by a person from scratch


def test_clean_frame_passes_its_starter_suite(tmp_path, frame):
    suite = load_suite(write(tmp_path, propose_suite(frame, "p.df")))
    outcomes = validate_frame(frame, suite)
    assert outcomes and all(o.success for o in outcomes)


@pytest.mark.parametrize(
    "corrupt,failed",
    [
        (lambda d: d.assign(age=[None] * 8), {("expect_column_values_to_not_be_null", "age")}),
        (lambda d: d.assign(age=d["age"] * 10), {("expect_column_values_to_be_between", "age")}),
        (lambda d: d.assign(plan=["gold"] + list(d["plan"][1:])), {("expect_column_values_to_be_in_set", "plan")}),
        (
            lambda d: d.drop(columns=["plan"]),
            {
                ("expect_table_columns_to_match_set", None),
                ("expect_column_values_to_not_be_null", "plan"),
                ("expect_column_values_to_be_in_set", "plan"),
            },
        ),
    ],
)
def test_corrupted_frames_fail_exactly_the_expected_expectations(tmp_path, frame, corrupt, failed):
    suite = load_suite(write(tmp_path, propose_suite(frame, "p.df")))
    outcomes = validate_frame(corrupt(frame), suite)
    got = {(o.type, o.column) for o in outcomes if not o.success and o.severity == "critical"}
    assert got == failed


def test_failure_details_name_column_counts_and_examples(tmp_path, frame):
    suite = load_suite(write(tmp_path, propose_suite(frame, "p.df")))
    bad = frame.assign(plan=["gold", "gold"] + list(frame["plan"][2:]))
    [o] = [o for o in validate_frame(bad, suite) if not o.success and o.severity == "critical"]
    assert o.unexpected_count == 2 and o.examples == ["gold", "gold"]
    text = o.describe()
    assert "column 'plan'" in text and "2 row(s) failed" in text and "'gold'" in text


def test_warning_expectations_do_not_fail(tmp_path, frame):
    suite = load_suite(
        write(
            tmp_path,
            {
                "name": "w",
                "expectations": [
                    {
                        "type": "expect_column_mean_to_be_between",
                        "kwargs": {"column": "age", "min_value": 0, "max_value": 1},
                        "severity": "warning",
                    }
                ],
            },
        )
    )
    [o] = validate_frame(frame, suite)
    assert not o.success and o.severity == "warning"


@pytest.mark.parametrize(
    "content,message",
    [
        ('{"expectations": [', "is not valid JSON"),
        ("[1, 2]", "must be a JSON object with an 'expectations' list"),
        ('{"expectations": [{"kwargs": {}}]}', "expectation 0 has no valid 'type'"),
        (
            '{"expectations": [{"type": "expect_x", "kwargs": [], "severity": "critical"}]}',
            "'kwargs' must be an object",
        ),
        (
            '{"expectations": [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"}, '
            '"severity": "fatal"}]}',
            "severity 'fatal' is not one of",
        ),
        (
            '{"expectations": [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"}, "id": "x"}]}',
            "unknown field(s) id",
        ),
    ],
)
def test_malformed_suites_name_the_file_and_expectation(tmp_path, content, message):
    path = write(tmp_path, content)
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert message in str(info.value) and str(path) in str(info.value)


def test_unknown_expectation_type_and_bad_kwargs_are_named(tmp_path, frame):
    suite = load_suite(
        write(
            tmp_path,
            {
                "name": "x",
                "expectations": [
                    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "age"}},
                    {"type": "expect_column_values_to_be_purple", "kwargs": {"column": "age"}},
                ],
            },
        )
    )
    with pytest.raises(
        SuiteError, match=r"expectation 1 \(expect_column_values_to_be_purple\) is not a known Great Expectations"
    ):
        validate_frame(frame, suite)
    suite = load_suite(
        write(
            tmp_path,
            {
                "name": "x",
                "expectations": [
                    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "age", "min_value": "low"}}
                ],
            },
        )
    )
    with pytest.raises(SuiteError, match=r"expectation 0 \(expect_column_values_to_be_between\) has invalid kwargs"):
        validate_frame(frame, suite)


def test_missing_suite_tells_to_run_expect(tmp_path):
    with pytest.raises(SuiteError, match="does not exist") as info:
        load_suite(tmp_path / "nope.json")
    assert "nbprod expect" in info.value.fix


def test_html_report_escapes_values(tmp_path, frame):
    from nbprod.gates.model import GateResult

    suite = load_suite(write(tmp_path, propose_suite(frame, "p.df")))
    bad = frame.assign(plan=["<script>alert(1)</script>"] + list(frame["plan"][1:]))
    outcomes = validate_frame(bad, suite)
    page = render_html(GateResult("p", "s", "df", "expectations/p/df.json", False, 8, list(bad.columns), outcomes))
    assert "<script>alert" not in page and "&lt;script&gt;" in page and "FAILED" in page


def test_requirements_compare_metrics_with_thresholds():
    plan = build_plan(
        notebook_from_cells(
            "nb.ipynb",
            [("code", "acc = 0.7\nloss = 0.2", ["step:ev", "metrics", "require:acc>=0.8", "require:loss<0.5"])],
        )
    )
    outcomes = check_requirements(plan.steps[0], {"acc": 0.7, "loss": 0.2})
    assert [(o.requirement, o.passed) for o in outcomes] == [("acc>=0.8", False), ("loss<0.5", True)]
    assert "acc = 0.7, required acc>=0.8 (cell 0" in outcomes[0].describe()
    assert not check_requirements(plan.steps[0], {})[0].passed


# --- the gate worker's error round-trip ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "exc",
    [
        SuiteError("bad suite", path="expectations/p/df.json", cell=CellRef(3, "# nbprod: step:clean"), fix="edit it"),
        GateFailedError("gate df failed", path="nb.ipynb", fix="fix the data"),
        StepFailedError("step 'a' failed", path="nb.ipynb", cell=CellRef(0, "x = 1")),
        ConvertError("cannot write", path="pipelines/p", cell=CellRef(7, "def f(raw):")),
        UserCodeError("preprocess() raised", cell=CellRef(7, "def preprocess(raw):")),
        RunError("the worker stopped"),
        NbprodError("plain"),
    ],
)
def test_worker_errors_come_back_as_the_same_class_with_cell_and_exit_code(exc):
    back = error_from_json(json.loads(json.dumps(error_to_json(exc))))
    assert type(back) is type(exc)
    assert (back.message, back.path, back.cell, back.fix, back.exit_code) == (
        exc.message,
        exc.path,
        exc.cell,
        exc.fix,
        exc.exit_code,
    )
    assert str(back) == str(exc)


def test_worker_error_of_an_unknown_class_keeps_message_and_exit_code():
    data = {**error_to_json(GateFailedError("boom", path="nb.ipynb")), "type": "NoSuchError"}
    back = error_from_json(data)
    assert type(back) is NbprodError and back.exit_code == 1 and back.message == "boom"
    # names that are not nbprod errors are never instantiated
    assert type(error_from_json({**data, "type": "CellRef"})) is NbprodError


def test_worker_error_for_a_class_with_its_own_constructor():
    data = {"type": "PlanError", "message": "2 problems", "path": None, "cell": None, "fix": None, "exit_code": 2}
    back = error_from_json(data)
    assert isinstance(back, PlanError) and back.message == "2 problems"


def test_worker_answers_a_failing_gate_with_the_error_as_data(monkeypatch, tmp_path):
    from nbprod.gates import worker

    def failing(*args, **kwargs):
        raise SuiteError("the suite is not valid JSON", path="expectations/p/df.json", cell=CellRef(2, "df = f()"))

    monkeypatch.setattr(worker, "run_gate", failing)
    request = {"project": str(tmp_path), "pipeline": "p", "step": "s", "variable": "df", "product": "x"}
    reply = json.loads(json.dumps(worker._answer(request)))
    back = error_from_json(reply["error"])
    assert isinstance(back, SuiteError) and back.cell == CellRef(2, "df = f()") and back.path.endswith("df.json")

    def crashing(*args, **kwargs):
        raise KeyError("oops")

    monkeypatch.setattr(worker, "run_gate", crashing)
    back = error_from_json(json.loads(json.dumps(worker._answer(request)))["error"])
    assert type(back) is RunError and "validating gate:df failed: KeyError" in back.message


def test_validation_leaves_the_great_expectations_logger_as_it_was():
    """A Jupyter kernel that ran a gate (panel) keeps its own logging configuration (fresh process: GX loads here)."""
    import subprocess
    import sys

    code = (
        "import logging, pandas as pd\n"
        "from nbprod.gates.suites import Suite\n"
        "from nbprod.gates.validate import validate_frame\n"
        "logging.getLogger('great_expectations').setLevel(logging.INFO)\n"
        "suite = Suite('s', [{'type': 'expect_column_values_to_not_be_null', 'kwargs': {'column': 'a'}}], {}, 's.json')\n"
        "assert validate_frame(pd.DataFrame({'a': [1, 2]}), suite)[0].success\n"
        "print(logging.getLogger('great_expectations').level)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "20"  # logging.INFO, as the user set it
