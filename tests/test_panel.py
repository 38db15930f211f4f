"""The JupyterLab panel, driven in-process: set widget values, click buttons, check what is shown and written."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

import nbprod
from nbprod.errors import NbprodError
from nbprod.ui.jupyter import Panel, panel

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "example_notebooks"


@pytest.fixture(autouse=True)
def _handlers_never_raise(caplog):
    """ipywidgets swallows an exception raised by a click handler (it logs it): make that a test failure."""
    caplog.set_level(logging.WARNING)
    yield
    swallowed = [r for r in caplog.records if "Exception in callback" in r.getMessage()]
    assert not swallowed, swallowed[0].getMessage()


def test_steps_lint_and_pipeline_tabs_for_the_classifier():
    p = nbprod.panel(str(EXAMPLES / "classifier.ipynb"))
    assert isinstance(p, Panel)
    assert p.tabs.titles == ("Steps", "Lint", "Pipeline", "Run", "Verify", "Review")
    steps = p.steps_html.value
    for step in ("load", "features", "train", "evaluate"):
        assert f"<td>{step}</td>" in steps
    assert "<td>8</td><td>" in steps  # the cell index of step load
    assert "step:features, gate:df" in steps
    assert "<td>features</td><td>train</td><td>X_train, y_train</td>" in steps
    assert "<td>train</td><td>evaluate</td><td>model</td>" in steps
    assert "(skip)" in steps and "(parameters)" in steps
    assert "lint: clean, no findings" in p.lint_html.value
    assert p.dag_html.value.lstrip().startswith("<svg") and "evaluate" in p.dag_html.value
    assert p.progress.max == 4
    bundle = p._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_messy_notebook_shows_the_finding_with_its_cell(write_nb):
    path = write_nb(
        [
            ("code", "# nbprod: step:load\nx = 1", []),
            ("code", "# nbprod: step:train\ny = x + undefined_thing", []),
        ]
    )
    p = panel(path)
    assert "lint: 2 error(s)" in p.lint_html.value
    assert "NB103" in p.lint_html.value
    assert "cell 1 (&#x27;# nbprod: step:train&#x27;)" in p.lint_html.value
    assert "&#x27;undefined_thing&#x27; is not defined" in p.lint_html.value


def test_unreadable_notebook_raises_a_located_error(tmp_path):
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{not json")
    with pytest.raises(NbprodError, match="bad.ipynb"):
        panel(bad)


@pytest.mark.slow
def test_run_then_review_approve_and_reject(project):
    p = panel("example_notebooks/regression.ipynb")
    p.run_button.click()
    assert p.progress.value == p.progress.max == 4
    assert p.progress.bar_style == "success"
    log = p.run_log.value
    for step in ("load", "clean", "train", "evaluate"):
        assert f"✓ {step} (" in log
    assert "gate df: passed" in log and "require r2&gt;=0.85: passed" in log
    assert "<td>r2</td>" in p.run_result.value and "<td>rmse</td>" in p.run_result.value
    assert "<td>df</td><td>clean</td><td>passed</td>" in p.run_result.value
    assert (project / ".nbprod/products/regression/evaluate/metrics.json").exists()
    assert p.dag_html.value.count('data-status="ran"') == 4  # the Pipeline tab shows the run
    assert not p.run_button.disabled

    p.review_button.click()
    assert "review of pipeline regression" in p.review_html.value
    assert "no model card" in p.review_html.value  # packaging is off in tests: a blocker

    record = project / "approvals" / "regression.json"
    p.approve_button.click()  # no name
    assert "Enter your name" in p.review_status.value and not record.exists()

    p.name.value = "Ada Reviewer"
    p.approve_button.click()
    assert "approval refused" in p.review_status.value
    assert "no model card" in p.review_status.value
    assert not record.exists()

    p.reject_button.click()  # no note
    assert "Write a note" in p.review_status.value and not record.exists()

    p.note.value = "the model card is missing"
    p.reject_button.click()
    data = json.loads(record.read_text())
    assert (
        data["decision"] == "rejected" and data["by"] == "Ada Reviewer" and data["note"] == "the model card is missing"
    )
    assert "rejected by Ada Reviewer" in p.review_status.value
    assert "approval state: rejected" in p.review_status.value


@pytest.mark.slow
def test_failed_run_shows_the_error_instead_of_raising(project):
    (project / "expectations" / "regression" / "df.json").write_text("{ not json")
    p = panel("example_notebooks/regression.ipynb")
    p.run_button.click()  # must not raise (the autouse fixture fails the test if the handler raised)
    assert "df.json" in p.run_result.value
    assert "the run stopped" in p.run_log.value
    assert p.progress.bar_style == "danger"
    assert not p.run_button.disabled


def test_finds_the_notebook_from_jupyterlab_session(project, monkeypatch):
    monkeypatch.setenv("JPY_SESSION_NAME", str(project / "example_notebooks" / "classifier.ipynb"))
    assert Path(nbprod.panel().path).name == "classifier.ipynb"
    # relative to the server root, from a kernel started in the notebook's folder
    monkeypatch.setenv("JPY_SESSION_NAME", "example_notebooks/regression.ipynb")
    monkeypatch.chdir(project / "example_notebooks")
    p = panel()
    assert p.path == "regression.ipynb" and "<td>clean</td>" in p.steps_html.value


def test_finds_the_notebook_from_ipython_session(project, monkeypatch):
    import IPython

    class Shell:
        user_ns = {"__session__": "example_notebooks/classifier.ipynb"}

    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.setattr(IPython, "get_ipython", lambda: Shell())
    assert panel().path == "example_notebooks/classifier.ipynb"


def test_without_a_session_asks_for_the_path(monkeypatch):
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    with pytest.raises(NbprodError, match="pass the notebook's path"):
        nbprod.panel()


def test_importing_the_panel_is_cheap_and_nbprod_panel_stays_callable():
    code = (
        "import sys, nbprod, nbprod.ui.jupyter as m; assert callable(nbprod.panel); "
        "heavy = [h for h in ('ploomber', 'mlflow', 'great_expectations', 'bentoml', 'papermill', 'ipywidgets') "
        "if h in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_the_verify_tab_shows_the_first_divergence_and_a_row_per_step(tmp_path):
    from tests.test_verify import ALIAS

    (tmp_path / "alias.py").write_text(ALIAS)
    p = panel(tmp_path / "alias.py", project=tmp_path)
    p.verify_button.click()
    shown = p.verify_html.value
    assert "the pipeline differs from the notebook" in shown
    assert "step &#x27;use&#x27;, value &#x27;total&#x27;" in shown  # the first divergence, escaped
    assert "<td>make</td><td>equal</td>" in shown and "<td>use</td><td>DIFFERENT</td>" in shown
    assert not p.verify_button.disabled


def test_the_verify_tab_of_an_equal_run():
    from nbprod.ui.panel_views import verify_html
    from nbprod.workflow.verify import StepReport, VerifyReport

    report = VerifyReport("nb.ipynb", "nb", [StepReport("a", compared=["x"], equal=["x"], printed_equal=[1])], None)
    shown = verify_html(report)
    assert "the pipeline equals the notebook" in shown and "<td>a</td><td>equal</td><td>x</td>" in shown
