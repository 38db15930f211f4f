"""Review, approval records, release and rollback on a real run (MLflow SQLite store, a built Bento)."""

import json
import shutil

import pytest

from nbprod.errors import ApprovalRefused, NbprodError
from nbprod.workflow.approval import approve, check
from nbprod.workflow.release import release, rollback, status
from nbprod.workflow.review import review
from nbprod.workflow.run import run
from tests.conftest import EXAMPLES, ROOT, tree_snapshot

pytestmark = pytest.mark.slow
NB = "example_notebooks/classifier.ipynb"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    project = tmp_path_factory.mktemp("rel")
    shutil.copytree(EXAMPLES, project / "example_notebooks")
    shutil.copytree(ROOT / "expectations", project / "expectations")
    return project


@pytest.fixture
def here(project, monkeypatch):
    monkeypatch.chdir(project)
    return project


def test_1_run_review_and_the_report_changes_nothing(here):
    run(NB, track=True, package=True)
    before = {k: v for k, v in tree_snapshot(here).items() if not k.startswith(".nbprod/review/")}
    rep = review(NB)
    after = {k: v for k, v in tree_snapshot(here).items() if not k.startswith(".nbprod/review/")}
    assert before == after
    page = rep.html_path.read_text()
    assert "<svg" in page and "Data gates" in page and "Metrics and thresholds" in page and "accuracy" in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "") and "https://" not in page
    assert "<script" not in page and "<link" not in page
    assert rep.approval == "none" and rep.blockers == [] and "ready to approve" in rep.summary_text()


def test_2_approval_is_refused_while_lint_has_errors(here):
    nb_path = here / NB
    original = nb_path.read_text()
    nb = json.loads(original)
    nb["cells"].append(
        {
            "cell_type": "code",
            "id": "x-bad",
            "metadata": {"tags": ["skip"]},
            "execution_count": None,
            "outputs": [],
            "source": "print(undefined_thing_xyz)",
        }
    )
    nb_path.write_text(json.dumps(nb))
    try:
        with pytest.raises(ApprovalRefused) as info:
            approve(NB, by="Ada")
        assert "NB103" in str(info.value) and "undefined_thing_xyz" in str(info.value)
        assert not (here / "approvals").exists()
    finally:
        nb_path.write_text(original)


def test_3_approve_check_stale_tamper_reject(here):
    record = approve(NB, by="Ada", note="first review")
    assert record["decision"] == "approved" and record["kind"] == "release"
    assert record["digests"]["release"]["model_version"] and record["digests"]["release"]["bento_tag"]
    files = record["digests"]["files"]
    assert "pipelines/classifier/pipeline.yaml" in files and "bentos/classifier/service.py" in files
    assert "expectations/classifier/df.json" in files and "bentos/classifier/model_card.json" in files
    assert check(NB).ok

    # re-running the notebook (new outputs and execution counts) keeps the approval valid
    nb_path = here / NB
    original = nb_path.read_text()
    nb = json.loads(original)
    for i, cell in enumerate(c for c in nb["cells"] if c["cell_type"] == "code"):
        cell["execution_count"] = 100 + i
        cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["re-run\n"]}]
    nb_path.write_text(json.dumps(nb))
    assert check(NB).ok

    # editing a cell does not
    nb_path.write_text(original.replace("n_estimators = 200", "n_estimators = 201"))
    verdict = check(NB)
    assert verdict.state == "stale" and any("notebook content" in c for c in verdict.changed)
    nb_path.write_text(original)

    # a generated file that changed is named
    card = here / "pipelines/classifier/README.md"
    text = card.read_text()
    card.write_text(text + "\nedited by hand\n")
    verdict = check(NB)
    assert verdict.state == "stale" and verdict.changed == ["pipelines/classifier/README.md (changed)"]
    rep = review(NB)
    assert "edited by hand" in rep.html_path.read_text()  # the readable diff against the approved copy
    card.write_text(text)
    assert check(NB).ok

    # tampering with the record is detected
    path = here / "approvals/classifier.json"
    saved = path.read_text()
    data = json.loads(saved)
    data["digests"]["files"]["pipelines/classifier/pipeline.yaml"] = "0" * 64
    path.write_text(json.dumps(data))
    assert check(NB).state == "tampered"
    path.write_text(saved)

    # a rejection is a decision too, and never passes the check
    with pytest.raises(NbprodError, match="needs a note"):
        approve(NB, by="Bob", reject=True)
    approve(NB, by="Bob", note="threshold too low", reject=True)
    verdict = check(NB)
    assert verdict.state == "rejected" and "threshold too low" in verdict.message


def test_4_release_needs_approval_then_rollback(here):
    assert check(NB).state == "rejected"
    with pytest.raises(NbprodError, match="release refused"):
        release(NB)
    first = approve(NB, by="Ada", note="ok")
    entry1 = release(NB)
    st = status(NB)
    assert st.champion == entry1["model_version"] == str(first["digests"]["release"]["model_version"])
    assert st.champion_bento == first["digests"]["release"]["bento_tag"] and st.approval == "approved"

    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{here / '.nbprod/mlflow.db'}")
    mv = client.get_model_version("classifier", entry1["model_version"])
    assert mv.tags["nbprod.approval_digest"] == first["digest"]

    # a new model (a changed parameter) makes the approval stale: release refuses until it is approved
    run(NB, params={"n_estimators": "50"}, track=True, package=True)
    verdict = check(NB)
    assert verdict.state == "stale" and any(c.startswith("model/Bento") for c in verdict.changed)
    with pytest.raises(NbprodError, match="release refused"):
        release(NB)
    second = approve(NB, by="Ada", note="smaller forest")
    entry2 = release(NB)
    assert entry2["model_version"] != entry1["model_version"]
    assert status(NB).champion == entry2["model_version"]

    back = rollback(NB)
    assert back["model_version"] == entry1["model_version"] and back["bento_tag"] == entry1["bento_tag"]
    st = status(NB)
    assert st.champion == entry1["model_version"] and st.champion_bento == entry1["bento_tag"]
    assert st.candidate == str(second["digests"]["release"]["model_version"])
    with pytest.raises(NbprodError, match="nothing to roll back to"):
        rollback(NB)
