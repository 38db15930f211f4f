"""The review never contradicts itself: a gate that never ran is not 'FAILED', a card that does not exist is not
'complete' (issue: review report and panel said "gate FAILED (0 expectations)" and "model card: complete")."""

import pytest

from nbprod.workflow.review import review

GATED = [
    ("code", "import pandas as pd", ["imports"]),
    ("code", "df = pd.DataFrame({'a': [1, 2]})", ["step:load", "gate:df"]),
    ("code", "model = df['a'].mean()", ["step:train", "model:model"]),
]
UNMODELLED = [("code", "x = 1", ["step:only"])]


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_pipeline_that_never_ran(project, write_nb):
    report = review(write_nb(GATED), project=project)
    text = report.summary_text()
    assert "gate df: not run yet" in text and "FAILED" not in text
    assert "model card: not written yet" in text and "complete" not in text
    page = report.html_path.read_text()
    assert "not run yet" in page and ">FAILED<" not in page and "the card is complete" not in page
    assert any("gate df has no result" in b for b in report.blockers)  # still not approvable


def test_a_pipeline_without_a_model_has_no_card_to_complete(project, write_nb):
    text = review(write_nb(UNMODELLED), project=project).summary_text()
    assert "model card: none (no model: tag)" in text
