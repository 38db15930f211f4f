"""Gates in real runs of the regression example: corrupted data files stop the pipeline at the gate."""

import json
import subprocess
import sys

import pytest

from nbprod.errors import GateFailedError, SuiteError
from nbprod.workflow.expect import expect
from nbprod.workflow.run import run
from tests.conftest import tree_snapshot

pytestmark = pytest.mark.slow

REGRESSION = "example_notebooks/regression.ipynb"
CLASSIFIER = "example_notebooks/classifier.ipynb"


def corrupt_csv(project, fn):
    import pandas as pd

    path = project / "example_notebooks" / "data" / "houses.csv"
    df = pd.read_csv(path)
    fn(df).to_csv(path, index=False)


def downstream_products(project):
    base = project / ".nbprod" / "products" / "regression"
    return {name: tree_snapshot(base / name) for name in ("train", "evaluate")} | {
        "nb": (base / "train.ipynb").read_bytes() + (base / "evaluate.ipynb").read_bytes()
    }


def test_clean_runs_pass_their_gates_and_starter_suites_match_the_committed_ones(project):
    for nb, name in ((REGRESSION, "regression"), (CLASSIFIER, "classifier")):
        result = run(nb)
        assert [g.success for g in result.gates] == [True]
        assert all(o.passed for o in result.requirements) and len(result.requirements) == 2
        assert (project / ".nbprod" / "gates" / name / "df.html").exists()
        # the committed suites are the golden files of the starter suites
        proposal = expect(nb)
        assert proposal.unchanged == [f"expectations/{name}/df.json"] and not proposal.written


@pytest.mark.parametrize(
    "label,fn,failed",
    [
        (
            "nulls",
            lambda d: d.assign(bedrooms=d["bedrooms"].where(d.index % 3 != 0)),
            {("expect_column_values_to_not_be_null", "bedrooms")},
        ),
        (
            "shifted",
            lambda d: d.assign(distance_km=d["distance_km"] * 100),
            {("expect_column_values_to_be_between", "distance_km")},
        ),
        (
            "unseen_category",
            lambda d: d.assign(neighborhood=d["neighborhood"].where(d.index % 10 != 0, "atlantis")),
            {("expect_column_values_to_be_in_set", "neighborhood")},
        ),
        (
            "dropped_column",
            lambda d: d.drop(columns=["distance_km"]),
            {
                ("expect_table_columns_to_match_set", None),
                ("expect_column_values_to_not_be_null", "distance_km"),
                ("expect_column_values_to_be_in_type_list", "distance_km"),
                ("expect_column_values_to_be_between", "distance_km"),
            },
        ),
    ],
)
def test_corrupted_data_fails_the_gate_and_nothing_downstream_runs(project, label, fn, failed):
    assert run(REGRESSION).ran == ["load", "clean", "train", "evaluate"]
    before = downstream_products(project)
    corrupt_csv(project, fn)
    events = []
    with pytest.raises(GateFailedError) as info:
        run(REGRESSION, on_event=events.append)
    report = json.loads((project / ".nbprod/gates/regression/df.json").read_text())
    got = {(o["type"], o["column"]) for o in report["outcomes"] if not o["success"] and o["severity"] == "critical"}
    assert got == failed
    text = str(info.value)
    assert "gate df after step 'clean' failed" in text and ".nbprod/gates/regression/df.html" in text
    for kind, column in failed:
        assert kind in text and (column is None or repr(column) in text)
    assert "not run: train, evaluate" in text
    assert [e.step for e in events if e.kind == "aborted"] == ["train", "evaluate"]
    assert [e.step for e in events if e.kind == "start"] == ["load", "clean"]
    assert downstream_products(project) == before
    # the same bad data fails again on the next run, without re-validating
    with pytest.raises(GateFailedError):
        run(REGRESSION)


def test_warning_only_failures_pass_with_a_visible_warning(project):
    suite_path = project / "expectations/regression/df.json"
    suite = json.loads(suite_path.read_text())
    mean = next(e for e in suite["expectations"] if e["type"] == "expect_column_mean_to_be_between")
    mean["kwargs"].update(min_value=-2, max_value=-1)
    suite_path.write_text(json.dumps(suite))
    result = run(REGRESSION)
    [gate] = result.gates
    assert gate.success and [o.type for o in gate.warnings] == ["expect_column_mean_to_be_between"]
    assert result.ran[-1] == "evaluate"
    proc = subprocess.run([sys.executable, "-m", "nbprod", "run", REGRESSION], capture_output=True, text=True)
    assert (
        proc.returncode == 0
        and "warning: gate df:" in proc.stdout
        and "expect_column_mean_to_be_between" in proc.stdout
    )


def test_threshold_failure_stops_the_run_naming_metric_value_threshold_and_cell(project):
    with pytest.raises(GateFailedError) as info:
        run(REGRESSION, params={"alpha": "1e9"})
    text = str(info.value)
    assert "evaluation gate failed in step 'evaluate': r2 = " in text and "required r2>=0.85" in text
    assert "# nbprod: metrics require:r2>=0.85" in text  # the cell's first line
    proc = subprocess.run(
        [sys.executable, "-m", "nbprod", "run", REGRESSION, "-p", "alpha=1e9"], capture_output=True, text=True
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and "required r2>=0.85" in proc.stderr


def test_missing_suite_tells_the_user_to_run_expect(project):
    (project / "expectations/regression/df.json").unlink()
    with pytest.raises(SuiteError) as info:
        run(REGRESSION)
    assert (
        "expectations/regression/df.json" in str(info.value)
        and "nbprod expect example_notebooks/regression.ipynb" in info.value.fix
    )


def test_first_checkout_expect_builds_the_steps_then_proposes_the_suite(project):
    """A fresh checkout has no products and no suite: expect builds what it needs; the next run checks the gate."""
    committed = (project / "expectations/regression/df.json").read_text()
    (project / "expectations/regression/df.json").unlink()
    assert not (project / ".nbprod").exists()
    proposal = expect(REGRESSION)
    assert proposal.built == ["load", "clean", "train", "evaluate"]
    assert proposal.written == ["expectations/regression/df.json"]
    assert (project / "expectations/regression/df.json").read_text() == committed  # the same starter suite
    assert not (project / ".nbprod/state/regression.json").exists()  # an ungated build leaves no build record
    result = run(REGRESSION)
    assert [g.success for g in result.gates] == [True] and not result.fast_path


def test_malformed_suite_is_named(project):
    (project / "expectations/regression/df.json").write_text(
        '{"expectations": [{"type": "expect_column_to_be_blue", "kwargs": {}}]}'
    )
    with pytest.raises(
        SuiteError, match=r"expectations/regression/df.json: expectation 0 \(expect_column_to_be_blue\)"
    ):
        run(REGRESSION)


def test_expect_never_overwrites_an_edited_suite(project):
    run(REGRESSION)
    path = project / "expectations/regression/df.json"
    edited = path.read_text().replace('"max_value": 2964', '"max_value": 2500')
    assert edited != path.read_text()
    path.write_text(edited)
    result = expect(REGRESSION)
    assert (
        list(result.refused) == ["expectations/regression/df.json"]
        and "-" in result.refused["expectations/regression/df.json"]
    )
    assert path.read_text() == edited
    assert expect(REGRESSION, force=True).written == ["expectations/regression/df.json"]
    assert path.read_text() != edited


def _last_line(proc):
    return proc.stdout.strip().splitlines()[-1]


def test_gx_is_imported_once_and_only_when_a_gate_is_validated(project, monkeypatch):
    import shutil

    from tests.conftest import FIXTURES

    code = (
        "import sys; from nbprod.workflow.run import run; r = run({nb!r}); "
        "print('GX' if 'great_expectations' in sys.modules else 'noGX')"
    )
    shutil.copy(FIXTURES / "kale_dialect.ipynb", project / "kale_dialect.ipynb")
    monkeypatch.setenv("NBPROD_GATE_WORKER", "0")  # validate in-process, to see the import in this process
    check = dict(capture_output=True, text=True, check=True)
    assert _last_line(subprocess.run([sys.executable, "-c", code.format(nb="kale_dialect.ipynb")], **check)) == "noGX"
    assert _last_line(subprocess.run([sys.executable, "-c", code.format(nb=REGRESSION)], **check)) == "GX"
    # nothing changed: the gate result is reused, GX is not imported at all
    assert _last_line(subprocess.run([sys.executable, "-c", code.format(nb=REGRESSION)], **check)) == "noGX"


def test_gate_worker_validates_in_a_side_process(project, monkeypatch):
    """The default: GX is imported by one side process per run, overlapping with the steps."""
    monkeypatch.setenv("NBPROD_GATE_WORKER", "1")
    code = (
        "import sys; from nbprod.workflow.run import run; r = run({nb!r}); "
        "print([g.success for g in r.gates], 'GX' if 'great_expectations' in sys.modules else 'noGX')"
    )
    out = subprocess.run([sys.executable, "-c", code.format(nb=REGRESSION)], capture_output=True, text=True, check=True)
    assert _last_line(out) == "[True] noGX"
    assert (project / ".nbprod/logs/gate_worker.log").exists()
    # a malformed suite found by the worker is raised in the parent with the file and the expectation
    corrupt_csv(project, lambda d: d.assign(distance_km=d["distance_km"] * 100))
    (project / "expectations/regression/df.json").write_text(
        '{"expectations": [{"type": "expect_purple", "kwargs": {}}]}'
    )
    proc = subprocess.run([sys.executable, "-m", "nbprod", "run", REGRESSION], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "expectations/regression/df.json: expectation 0 (expect_purple)" in proc.stderr


def test_classifier_with_too_few_rows_fails_its_row_count_expectation(project):
    assert run(CLASSIFIER).ran == ["load", "features", "train", "evaluate"]
    base = project / ".nbprod/products/classifier"
    before = tree_snapshot(base / "train") | tree_snapshot(base / "evaluate")
    with pytest.raises(GateFailedError) as info:
        run(CLASSIFIER, params={"n_rows": "200"})
    report = json.loads((project / ".nbprod/gates/classifier/df.json").read_text())
    failed = {(o["type"], o["column"]) for o in report["outcomes"] if not o["success"] and o["severity"] == "critical"}
    assert failed == {("expect_table_row_count_to_be_between", None)}
    assert "observed 200" in str(info.value) and "not run: train, evaluate" in str(info.value)
    assert tree_snapshot(base / "train") | tree_snapshot(base / "evaluate") == before
