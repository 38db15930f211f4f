"""End to end on loopback: `nbprod serve NB --canary` serves the released champion and an approved candidate in one
real Bento; a good candidate (shadow mode) holds, a bad one (it fails on single-record requests, though it passed its
gates on the held-out batch) is rolled back after exactly the configured number of requests, and both are recorded."""

import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from nbprod.errors import ReleaseError
from nbprod.package.canary import CANDIDATE, Router, route_key
from nbprod.ui.cli import main
from nbprod.workflow.approval import approve
from nbprod.workflow.release import history, release, rollback
from nbprod.workflow.review import review
from nbprod.workflow.run import run
from tests.conftest import EXAMPLES, ROOT
from tests.test_package_e2e import free_port, training_records

pytestmark = pytest.mark.slow
NB = "example_notebooks/classifier.ipynb"
N = 20  # [tool.nbprod.canary] min-requests of the project


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    import shutil

    project = tmp_path_factory.mktemp("canary")
    shutil.copytree(EXAMPLES, project / "example_notebooks")
    shutil.copytree(ROOT / "expectations", project / "expectations")
    (project / "pyproject.toml").write_text(f"[tool.nbprod.canary]\nmin-requests = {N}\nerror-margin = 0.05\n")
    return project


@pytest.fixture
def here(project, monkeypatch):
    monkeypatch.chdir(project)
    return project


class Served:
    """`nbprod serve NB --canary ...` as the user runs it, in its own session; stopped with Ctrl+C (SIGINT)."""

    def __init__(self, project, *args, stop=signal.SIGINT):
        self.stop = stop
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = project / f"canary-{self.port}.log"
        self.log = open(self.log_path, "wb")
        cmd = [sys.executable, "-m", "nbprod.ui.cli", "serve", NB, *args, "--port", str(self.port)]
        self.proc = subprocess.Popen(
            cmd, cwd=project, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def __enter__(self):
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise AssertionError(self.log_path.read_text()[-3000:])
            time.sleep(0.5)
        raise AssertionError("the canary did not become ready: " + self.log_path.read_text()[-3000:])

    def __exit__(self, *exc):
        self.proc.send_signal(self.stop)  # to nbprod only: it stops the BentoML server it started
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{self.url}/readyz", timeout=2)

    def predict(self, record):
        resp = httpx.post(f"{self.url}/predict", json={"records": [record]}, timeout=30)
        return resp.status_code, resp.headers.get("x-nbprod-model"), resp.json()

    def state(self):
        return httpx.get(f"{self.url}/canary/", timeout=10).json()


def _wait_for_event(project, action, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [e for e in history(project, "classifier") if e.get("action") == action]
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"no {action} in the release history: {history(project, 'classifier')}")


def _wait_for_lines(folder, n, timeout=15.0):
    from nbprod.package.prediction_log import read_log

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = list(read_log(folder)) if folder.is_dir() else []
        if len(lines) >= n:
            return lines
        time.sleep(0.3)
    raise AssertionError(f"{len(lines)} prediction log lines in {folder}, not {n}")


def test_1_release_the_champion(here):
    run(NB, track=True, package=True)
    approve(NB, by="Ada", note="first model")
    assert release(NB)["model_version"] == "1"


def test_2_a_good_candidate_in_shadow_mode_holds_and_never_answers(here):
    run(NB, params={"n_estimators": "50"}, track=True, package=True)
    approved = approve(NB, by="Ada", note="smaller forest")
    records, _ = training_records(here, 3 * N)
    with Served(here, "--shadow", stop=signal.SIGTERM) as served:
        answers = [served.predict(r) for r in records]
        proba = httpx.post(f"{served.url}/predict_proba", json={"records": records[:2]}, timeout=30)
        state = served.state()
        drift = httpx.get(f"{served.url}/drift/", timeout=10).json()  # the reviewed drift watch goes on
        metrics = httpx.get(f"{served.url}/metrics", timeout=10).text
        [passed] = _wait_for_event(here, "canary-passed")
        logged = _wait_for_lines(here / ".nbprod/serving/classifier_canary", 3 * N + 1)
    assert {(code, model) for code, model, _ in answers} == {(200, "champion")}
    assert {tuple(body) for _, _, body in answers} <= {("stay",), ("churn",)}
    assert state["mode"] == "shadow" and not state["rolled_back"] and state["decision"] == "holding"
    assert proba.status_code == 200 and proba.headers["x-nbprod-model"] == "champion"
    assert [sorted(p) for p in proba.json()] == [["0", "1"], ["0", "1"]]
    assert state["models"]["candidate"]["requests"] == state["models"]["champion"]["requests"] == 3 * N + 1
    assert state["models"]["candidate"]["rows"] == 3 * N  # probabilities are not in the label distribution
    assert state["shift"] < 0.2
    assert drift["rows_in_window"] == 3 * N and "tenure_months" in drift["features"]
    assert f'nbprod_canary_requests_total{{model="candidate",outcome="ok"}} {3 * N + 1}.0' in metrics
    assert 'nbprod_canary_latency_seconds_count{model="champion"}' in metrics
    assert 'nbprod_canary_predictions_total{label="0",model="candidate"}' in metrics
    assert passed["candidate_model_version"] == str(approved["digests"]["release"]["model_version"]) == "2"
    assert passed["champion_model_version"] == "1" and passed["models"]["candidate"]["requests"] == N
    assert not [e for e in history(here, "classifier") if e.get("action") == "auto-rollback"]
    assert len(logged) == 3 * N + 1  # the canary's requests are in its own prediction log


def _bad_candidate(path):
    """A model that passes its gates on the held-out batch but fails on every single-record request: np.squeeze
    turns a one-row frame into a Series, which the forest refuses."""
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        if src.startswith("model = RandomForestClassifier("):
            src = (
                "from sklearn.pipeline import make_pipeline\nfrom sklearn.preprocessing import FunctionTransformer\n"
                + (
                    src.replace(
                        "= RandomForestClassifier(",
                        "= make_pipeline(FunctionTransformer(np.squeeze), RandomForestClassifier(",
                    ).replace(")\nmodel.fit", "))\nmodel.fit")
                )
            )
        cell["source"] = src.replace("model.feature_importances_", "model[-1].feature_importances_")
    path.write_text(json.dumps(nb))


def test_3_a_bad_candidate_is_rolled_back_after_n_requests_and_recorded(here, capsys):
    _bad_candidate(here / NB)
    result = run(NB, track=True, package=True)
    assert result.metrics["accuracy"] >= 0.8  # it passed its evaluation gates
    approve(NB, by="Ada", note="pipeline with a transformer")
    records, _ = training_records(here)
    router = Router(10)
    to_candidate = [r for r in records if router.answering(route_key(None, [r])) == CANDIDATE]
    with Served(here, "--canary", "10") as served:
        answers = [served.predict(r) for r in records[: 15 * N]]
        state = served.state()
        assert state["rolled_back"] and state["models"]["candidate"]["requests"] == N
        # all traffic is back with the champion: requests the split sends to the candidate are not scored by it
        after = [served.predict(r) for r in to_candidate[-10:]]
        assert served.state()["models"]["candidate"]["requests"] == N
        [event] = _wait_for_event(here, "auto-rollback")
    assert {(code, model) for code, model, _ in answers + after} == {(200, "champion")}  # no user saw the failure
    assert event["models"]["candidate"] == {"requests": N, "errors": N, "rows": 0, "labels": {}, "error_rate": 1.0}
    assert "error rate 100.0%" in event["reason"] and event["candidate_model_version"] == "3"
    assert event["mode"] == "split" and event["percent"] == 10.0
    capsys.readouterr()
    assert main(["status", NB]) == 0  # the nbprod status command, in-process
    shown = capsys.readouterr().out
    assert "canary:    automatic rollback of Bento " + event["candidate_bento"] in shown
    assert "canary:    canary passed" in shown
    summary = review(NB).summary_text()
    assert (
        "canary: automatic rollback" in summary
        and "<h2>Canary</h2>" in (here / ".nbprod/review/classifier.html").read_text()
    )
    with pytest.raises(ReleaseError, match="the canary rolled this candidate back automatically"):
        release(NB)
    with pytest.raises(ReleaseError, match=r"nothing to roll back to: 1 release\(s\)"):  # the events are no releases
        rollback(NB)
    assert "candidate failed on 1 record(s)" in served.log_path.read_text()
