"""The Workspace: one notebook read and one plan per command, and --name/--split honoured by every command."""

import pytest

from nbprod.errors import PlanError, UsageError
from nbprod.ui.cli import main
from nbprod.workflow.approval import check
from nbprod.workflow.review import review
from nbprod.workflow.workspace import Workspace

# no step: tags, two '## ' headings: split "auto"/"headings" gives steps 'load' and 'use', "tags" has no step
CELLS = [
    ("markdown", "## load", []),
    ("code", "x = 1", []),
    ("markdown", "## use", []),
    ("code", "y = x + 1", []),
]


@pytest.fixture
def nb(write_nb, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return write_nb(CELLS)


def test_the_plan_is_built_once_per_workspace(nb, tmp_path):
    ws = Workspace(nb, project=tmp_path)
    assert ws.plan is ws.plan and ws.nb is ws.plan.notebook
    assert ws.nb.path == "nb.ipynb"  # shown relative to the project


@pytest.mark.parametrize("split", ["auto", "headings"])
def test_split_chooses_the_plan(nb, tmp_path, split):
    assert [s.name for s in Workspace(nb, project=tmp_path, split=split).plan.steps] == ["load", "use"]
    with pytest.raises(PlanError, match="NB010|no step"):
        _ = Workspace(nb, project=tmp_path, split="tags").plan


def test_bad_split_and_bad_name_are_usage_errors(nb, tmp_path):
    with pytest.raises(UsageError, match="unknown split 'sections'"):
        Workspace(nb, project=tmp_path, split="sections")
    with pytest.raises(UsageError, match="pipeline name"):
        Workspace(nb, project=tmp_path, name="no spaces please")


def test_review_approve_status_and_serve_honour_split(nb, tmp_path, capsys):
    report = review(nb, project=tmp_path, split="headings", name="nb_headings")
    assert report.html_path.name == "nb_headings.html" and ">use<" in report.html_path.read_text()
    for argv in (["review"], ["approve", "--check"], ["status"], ["serve"], ["release"], ["rollback"]):
        assert main([*argv, str(nb), "--split", "tags"]) == 2, argv  # the tags split of this notebook is invalid
        assert "no step" in capsys.readouterr().err, argv


def test_check_and_the_cli_honour_name(nb, tmp_path, capsys):
    assert "approvals/custom.json" in check(nb, project=tmp_path, name="custom").message
    assert main(["approve", str(nb), "--check", "--name", "custom", "--split", "headings"]) == 1
    assert "approvals/custom.json" in capsys.readouterr().out
