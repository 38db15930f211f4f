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


def test_project_config_defaults_and_validation(tmp_path):
    from nbprod.workflow.config import DEFAULT_APPROVAL_CARD_FIELDS, load_config

    assert load_config(tmp_path).approval_card_fields == DEFAULT_APPROVAL_CARD_FIELDS  # no pyproject.toml
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert load_config(tmp_path).approval_card_fields == DEFAULT_APPROVAL_CARD_FIELDS  # no [tool.nbprod]
    (tmp_path / "pyproject.toml").write_text('[tool.nbprod]\napproval-card-fields = ["owners", "caveats"]\n')
    assert load_config(tmp_path).approval_card_fields == ("owners", "caveats")
    for text, message, fix in (
        ('[tool.nbprod]\napproval-card-fields = ["ownres"]\n', "unknown card field 'ownres'", "did you mean 'owners'"),
        ('[tool.nbprod]\napproval-card-field = ["owners"]\n', "unknown setting", "did you mean 'approval-card-fields'"),
        ('[tool.nbprod]\napproval-card-fields = "owners"\n', "must be a list", "approval-card-fields = ["),
        ("[tool.nbprod\n", "not valid TOML", "TOML syntax"),
    ):
        (tmp_path / "pyproject.toml").write_text(text)
        with pytest.raises(UsageError, match=message) as info:
            load_config(tmp_path)
        assert fix in (info.value.fix or "") and "pyproject.toml" in str(info.value.path)


def test_only_the_configured_card_fields_block_approval(tmp_path, monkeypatch):
    """A packaged model whose card misses 'caveats' and 'owners': blocking depends on [tool.nbprod]."""
    import json

    from nbprod.workflow.approval import _card_reasons, card_warnings

    monkeypatch.chdir(tmp_path)
    (tmp_path / "nb.py").write_text("# %%\n# nbprod: step:train model:model\nmodel = 1\n")
    card = tmp_path / "bentos/nb/model_card.json"
    card.parent.mkdir(parents=True)
    card.write_text(json.dumps({"missing_human_fields": ["caveats", "owners"]}))
    ws = Workspace(tmp_path / "nb.py", project=tmp_path)
    assert any("card:owners" in r for r in _card_reasons(ws)) and card_warnings(ws) == ["caveats"]
    (tmp_path / "pyproject.toml").write_text('[tool.nbprod]\napproval-card-fields = ["intended-use"]\n')
    ws = Workspace(tmp_path / "nb.py", project=tmp_path)
    assert _card_reasons(ws) == [] and card_warnings(ws) == ["caveats", "owners"]


def test_serve_announces_the_bento_once_it_knows_it_and_refuses_without_one(nb, tmp_path, capsys, monkeypatch):
    import json

    import nbprod.workflow.serve as serve_module

    assert main(["serve", str(nb), "--split", "headings"]) == 2
    assert "no Bento has been built for pipeline 'nb'" in capsys.readouterr().err
    last = tmp_path / ".nbprod/package/nb/last_bento.json"
    last.parent.mkdir(parents=True)
    last.write_text(json.dumps({"bento_tag": "nb:abc123"}))
    started = []
    monkeypatch.setattr(serve_module.subprocess, "call", lambda cmd, env: started.append(cmd) or 0)
    assert main(["serve", str(nb), "--split", "headings", "--port", "3999"]) == 0
    assert capsys.readouterr().out == "serving nb:abc123 on http://127.0.0.1:3999 (Ctrl+C stops)\n"
    assert started and started[0][1:3] == ["serve", "nb:abc123"] and "3999" in started[0]
