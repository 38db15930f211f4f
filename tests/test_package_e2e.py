"""End to end: run the classifier with MLflow tracking and packaging, serve the built Bento on 127.0.0.1, call it."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from nbprod.workflow.run import run
from tests.conftest import EXAMPLES, GOLDEN, ROOT

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def packaged(tmp_path_factory):
    project = tmp_path_factory.mktemp("pkg")
    shutil.copytree(EXAMPLES, project / "example_notebooks")
    shutil.copytree(ROOT / "expectations", project / "expectations")
    old = os.environ.get("NBPROD_GATE_WORKER")
    os.environ["NBPROD_GATE_WORKER"] = "0"
    try:
        result = run(project / "example_notebooks/classifier.ipynb", project=project, track=True, package=True)
    finally:
        if old is None:
            os.environ.pop("NBPROD_GATE_WORKER", None)
        else:
            os.environ["NBPROD_GATE_WORKER"] = old
    return project, result


@pytest.fixture(scope="module")
def server(packaged):
    from nbprod.workflow.serve import serve_command

    project, result = packaged
    port = free_port()
    cmd, env = serve_command(project, result.bento_tag, port)
    log = open(project / "serve.log", "wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                raise AssertionError((project / "serve.log").read_text()[-3000:])
            time.sleep(0.5)
        else:
            raise AssertionError("the Bento did not become ready: " + (project / "serve.log").read_text()[-3000:])
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def training_records(project, n=None):
    from nbprod.io import load_value

    df = load_value(project / ".nbprod/products/classifier/features/df").drop(columns=["churned"])
    df = df if n is None else df.head(n)
    return json.loads(df.to_json(orient="records")), df


def in_process_predictions(project, frame):
    from nbprod.io import load_value

    ns = {}
    code = (project / "bentos/classifier/service.py").read_text()
    serve_part = code[code.index("# --- the notebook's `serve` cells") : code.index("class Record(BaseModel)")]
    exec(serve_part, ns)
    model = load_value(project / ".nbprod/products/classifier/train/model")
    return ns["postprocess"](model.predict(ns["preprocess"](frame)))


def test_mlflow_run_holds_params_metrics_model_and_artifacts(packaged):
    from mlflow.tracking import MlflowClient

    project, result = packaged
    client = MlflowClient(result.tracked["tracking_uri"])
    assert result.tracked["tracking_uri"] == f"sqlite:///{project / '.nbprod/mlflow.db'}"
    r = client.get_run(result.tracked["run_id"])
    assert r.data.params["n_estimators"] == "200" and r.data.params["seed"] == "42"
    assert r.data.metrics["accuracy"] == pytest.approx(result.metrics["accuracy"])
    assert r.data.tags["nbprod.notebook"] == "example_notebooks/classifier.ipynb"
    assert (
        r.data.tags["nbprod.steps_ran"] == "load,features,train,evaluate" and r.data.tags["nbprod.gate.df"] == "passed"
    )
    mv = client.get_model_version_by_alias("classifier", "candidate")
    assert mv.run_id == r.info.run_id and mv.version == result.tracked["model_version"]
    artifacts = {a.path for a in client.list_artifacts(r.info.run_id)}
    assert {"notebooks", "gates", "pipeline"} <= artifacts
    assert {a.path for a in client.list_artifacts(r.info.run_id, "notebooks")} == {
        f"notebooks/{s}.ipynb" for s in ("load", "features", "train", "evaluate")
    }
    assert {a.path for a in client.list_artifacts(r.info.run_id, "gates")} == {"gates/df.json", "gates/df.html"}
    # the registered model loads back and predicts
    import mlflow

    from nbprod.io import load_value

    X = load_value(project / ".nbprod/products/classifier/features/X_test").head(5)
    mlflow.set_tracking_uri(result.tracked["tracking_uri"])
    try:
        loaded = mlflow.pyfunc.load_model("models:/classifier@candidate")
    finally:
        mlflow.set_tracking_uri(None)  # leave no MLFLOW_TRACKING_URI behind for the other tests
    assert list(loaded.predict(X)) == list(load_value(project / ".nbprod/products/classifier/train/model").predict(X))


def test_a_rerun_with_skipped_steps_is_tracked_as_reused(packaged):
    from mlflow.tracking import MlflowClient

    project, first = packaged
    shutil.rmtree(project / ".nbprod/state")  # force the Ploomber path (all steps up to date)
    os.environ["NBPROD_GATE_WORKER"] = "0"
    again = run(project / "example_notebooks/classifier.ipynb", project=project, track=True, package=False)
    r = MlflowClient(again.tracked["tracking_uri"]).get_run(again.tracked["run_id"])
    assert (
        r.data.tags["nbprod.steps_ran"] == "-" and r.data.tags["nbprod.steps_reused"] == "load,features,train,evaluate"
    )
    assert r.data.metrics["accuracy"] == pytest.approx(first.metrics["accuracy"])
    assert int(again.tracked["model_version"]) == int(first.tracked["model_version"]) + 1


def _normalise(text: str) -> str:
    text = re.sub(r"classifier:[0-9a-f]{12}", "classifier:<version>", text)
    text = re.sub(r"model_version: [0-9a-f]{12}", "model_version: <version>", text)
    return re.sub(r"==[0-9][^\s']*", "==<version>", text)


def test_generated_service_and_bentofile_match_golden_files(packaged):
    project, _ = packaged
    for name in ("service.py", "bentofile.yaml", "alerts.yaml", "dashboard.json"):
        got = _normalise((project / "bentos/classifier" / name).read_text())
        golden = GOLDEN / "bento_classifier" / name
        if os.environ.get("NBPROD_UPDATE_GOLDEN") == "1":
            golden.write_text(got)
        assert got == golden.read_text(), name


def test_the_deploy_manifests_name_the_image_of_the_built_bento(packaged):
    """deploy/ of a real build: the image is the built Bento's tag (what `bentoml containerize` names it)."""
    project, result = packaged
    deployment = (project / "bentos/classifier/deploy/deployment.yaml").read_text()
    assert f"image: {result.bento_tag}\n" in deployment
    version = result.bento_tag.split(":")[1]
    assert deployment.replace(version, "<version>") == (GOLDEN / "deploy_classifier" / "deployment.yaml").read_text()


def test_model_card_has_metrics_and_human_fields(packaged):
    project, result = packaged
    card = (project / "bentos/classifier/MODEL_CARD.md").read_text()
    data = json.loads((project / "bentos/classifier/model_card.json").read_text())
    assert result.missing_card_fields == [] and data["missing_human_fields"] == []
    assert "accuracy" in card and "TODO" not in card
    assert data["model_details"]["mlflow_run_id"] == result.tracked["run_id"]
    nb = json.loads((EXAMPLES / "classifier.ipynb").read_text())
    intended = next(
        "".join(c["source"]) for c in nb["cells"] if "card:intended-use" in c.get("metadata", {}).get("tags", [])
    )
    assert intended.strip().splitlines()[-1].strip()[:40] in card
    # the card names the Bento it ships in, and the estimator's own settings, readably
    assert f"- Bento: `{result.bento_tag}`" in card and data["model_details"]["bento_tag"] == result.bento_tag
    assert "| `model.n_estimators` | `200` |" in card and "&lt;" not in card


def test_good_records_get_the_in_process_predictions(packaged, server):
    project, _ = packaged
    records, frame = training_records(project, 40)
    resp = httpx.post(f"{server}/predict", json={"records": records}, timeout=30)
    assert resp.status_code == 200, resp.text
    assert resp.json() == in_process_predictions(project, frame)
    proba = httpx.post(f"{server}/predict_proba", json={"records": records[:3]}, timeout=30).json()
    assert len(proba) == 3 and all(abs(sum(p.values()) - 1) < 1e-9 for p in proba)


def _bad(records):
    return {"records": records}


@pytest.mark.parametrize(
    "label,mutate,field",
    [
        ("missing field", lambda r: {k: v for k, v in r.items() if k != "plan"}, "plan"),
        ("wrong type", lambda r: {**r, "tenure_months": "abc"}, "tenure_months"),
        ("float for int", lambda r: {**r, "tenure_months": 3.5}, "tenure_months"),
        ("out of range", lambda r: {**r, "monthly_charges": 1e6}, "monthly_charges"),
        ("unknown category", lambda r: {**r, "region": "mars"}, "region"),
        ("extra field", lambda r: {**r, "favourite_colour": "blue"}, "favourite_colour"),
        ("null in a required field", lambda r: {**r, "support_calls": None}, "support_calls"),
    ],
)
def test_bad_records_get_4xx_naming_the_field(packaged, server, label, mutate, field):
    project, _ = packaged
    records, _ = training_records(project, 2)
    resp = httpx.post(f"{server}/predict", json=_bad([records[0], mutate(records[1])]), timeout=30)
    assert 400 <= resp.status_code < 500, (label, resp.status_code, resp.text)
    assert field in resp.text


@pytest.mark.parametrize(
    "label,body,needle",
    [
        ("empty list", json.dumps({"records": []}), "records"),
        ("oversized batch", None, "records"),
        ("NaN", None, "monthly_charges"),
        ("not JSON", "this is not json", "json"),
        ("deeply nested", '{"records": ' + "[" * 5000 + "]" * 5000 + "}", ""),
        ("not a list", json.dumps({"records": {"plan": "basic"}}), "records"),
    ],
)
def test_bad_bodies_get_4xx(packaged, server, label, body, needle):
    project, _ = packaged
    records, _ = training_records(project, 1)
    if label == "oversized batch":
        body = json.dumps({"records": records * 1001})
    if label == "NaN":
        body = json.dumps({"records": [{**records[0], "monthly_charges": float("nan")}]})
    resp = httpx.post(f"{server}/predict", content=body, headers={"content-type": "application/json"}, timeout=60)
    assert 400 <= resp.status_code < 500, (label, resp.status_code, resp.text[:300])
    assert needle.lower() in resp.text.lower()


def test_a_bad_request_is_one_log_line_with_status_and_field_and_no_request_logged_a_traceback(packaged, server):
    """Read the served Bento's own log: the bad requests of the tests above, and one more with a marked field."""
    project, _ = packaged
    records, _ = training_records(project, 1)
    marker = "nbprod_probe_field"
    resp = httpx.post(f"{server}/predict", json={"records": [{**records[0], marker: 1}]}, timeout=30)
    assert resp.status_code == 400
    deadline = time.monotonic() + 10
    while marker not in (project / "serve.log").read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    text = (project / "serve.log").read_text()
    lines = [line for line in text.splitlines() if marker in line]
    assert len(lines) == 1, lines
    assert "bad request POST /predict" in lines[0] and f"status=400 field=records.0.{marker}" in lines[0], lines[0]
    assert "Traceback" not in text and "ValidationError" not in text.replace(lines[0], ""), text[-3000:]


def _merged(metrics_text: str) -> tuple[float, float]:
    """(requests, model calls) of the predict API's coalescer, from /metrics."""
    found = {
        kind: float(value)
        for kind, value in re.findall(r'^nbprod_merged_requests_(sum|count)\{[^}]*api="predict"[^}]*\} (\S+)$',
                                      metrics_text, re.M)
    }  # fmt: skip
    return found.get("sum", 0.0), found.get("count", 0.0)


def test_concurrent_requests_share_model_calls_and_each_gets_its_own_answer(packaged, server):
    from concurrent.futures import ThreadPoolExecutor

    project, _ = packaged
    records, frame = training_records(project, 96)
    expected = in_process_predictions(project, frame)
    spans = [(3 * k, 3 * k + 1 + k % 3) for k in range(32)]  # 1 to 3 records each
    before = _merged(httpx.get(f"{server}/metrics", timeout=10).text)

    def call(span):
        with httpx.Client(trust_env=False, timeout=60) as client:
            return client.post(f"{server}/predict", json={"records": records[span[0] : span[1]]})

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(call, spans))
    assert [a.status_code for a in answers] == [200] * len(spans)
    assert [a.json() for a in answers] == [expected[i:j] for i, j in spans]
    after = _merged(httpx.get(f"{server}/metrics", timeout=10).text)
    requests, calls = after[0] - before[0], after[1] - before[1]
    assert requests == len(spans) and calls < requests, (requests, calls)  # some calls merged requests


def test_health_endpoints(server):
    assert httpx.get(f"{server}/healthz", timeout=5).status_code == 200
    assert httpx.get(f"{server}/readyz", timeout=5).status_code == 200


def _gauge(metrics_text: str, name: str, feature: str) -> float:
    m = re.search(rf'^{name}\{{[^}}]*feature="{feature}"[^}}]*\}} ([0-9.eE+-]+)$', metrics_text, re.M)
    assert m, f"{name}{{feature={feature}}} not in /metrics"
    return float(m.group(1))


def test_drift_gauges_move_only_for_shifted_data(packaged, server):
    project, _ = packaged
    records, frame = training_records(project)
    sample = records[:400]
    for i in range(0, len(sample), 100):
        assert httpx.post(f"{server}/predict", json={"records": sample[i : i + 100]}, timeout=30).status_code == 200
    report = httpx.get(f"{server}/drift/", timeout=10).json()
    assert report["ready"] and not report["alert"], report
    time.sleep(1.2)
    httpx.post(f"{server}/predict", json={"records": sample[:1]}, timeout=30)
    metrics = httpx.get(f"{server}/metrics", timeout=10).text
    assert _gauge(metrics, "nbprod_drift_psi", "plan") < 0.2
    shifted = [{**r, "plan": "enterprise", "monthly_charges": 140.0} for r in records[:1000]]
    for i in range(0, len(shifted), 250):
        assert httpx.post(f"{server}/predict", json={"records": shifted[i : i + 250]}, timeout=30).status_code == 200
    report = httpx.get(f"{server}/drift/", timeout=10).json()
    assert report["alert"] and report["features"]["plan"]["alert"] and report["features"]["monthly_charges"]["alert"]
    time.sleep(1.2)
    httpx.post(f"{server}/predict", json={"records": shifted[:1]}, timeout=30)
    metrics = httpx.get(f"{server}/metrics", timeout=10).text
    assert _gauge(metrics, "nbprod_drift_psi", "plan") > 0.2
    assert _gauge(metrics, "nbprod_drift_alert", "monthly_charges") == 1.0


def test_a_notebook_without_card_cells_lists_the_missing_fields(tmp_path, monkeypatch):
    from nbprod.package.packager import package

    monkeypatch.chdir(tmp_path)
    shutil.copytree(EXAMPLES, tmp_path / "example_notebooks")
    shutil.copytree(ROOT / "expectations", tmp_path / "expectations")
    nb_path = tmp_path / "example_notebooks/regression.ipynb"
    nb = json.loads(nb_path.read_text())
    for cell in nb["cells"]:
        tags = cell.get("metadata", {}).get("tags", [])
        cell.get("metadata", {})["tags"] = [t for t in tags if not t.startswith("card:")]
    nb_path.write_text(json.dumps(nb))
    run("example_notebooks/regression.ipynb", track=False, package=False)
    result = package("example_notebooks/regression.ipynb", build=False)
    assert result.missing_card_fields == sorted(
        [
            "intended-use",
            "users",
            "out-of-scope",
            "factors",
            "limitations",
            "ethical-considerations",
            "caveats",
            "owners",
        ]
    )
    card = (tmp_path / "bentos/regression/MODEL_CARD.md").read_text()
    assert card.count("**TODO**") == 8 and "card:intended-use" in card


def test_no_packaging_after_a_failed_evaluation_gate(tmp_path, monkeypatch):
    from nbprod.errors import GateFailedError

    monkeypatch.chdir(tmp_path)
    shutil.copytree(EXAMPLES, tmp_path / "example_notebooks")
    shutil.copytree(ROOT / "expectations", tmp_path / "expectations")
    with pytest.raises(GateFailedError):
        run("example_notebooks/regression.ipynb", params={"alpha": "1e9"}, track=False, package=True)
    assert not (tmp_path / "bentos").exists() and not (tmp_path / ".nbprod/bentoml").exists()


def test_an_untracked_run_is_packaged_and_the_record_names_its_bento(tmp_path, monkeypatch):
    """track=False: no MLflow run id, and BentoML (which refuses None metadata) still builds the Bento."""
    from nbprod.engine.record import RecordStore

    monkeypatch.chdir(tmp_path)
    shutil.copytree(EXAMPLES, tmp_path / "example_notebooks")
    shutil.copytree(ROOT / "expectations", tmp_path / "expectations")
    result = run("example_notebooks/regression.ipynb", track=False, package=True)
    assert result.tracked is None and result.bento_tag and result.bento_tag.startswith("regression:")
    record = RecordStore(tmp_path / ".nbprod/state/regression.json").load()
    assert record is not None and record.bento_tag == result.bento_tag and record.tracked is None
    request = json.loads((tmp_path / ".nbprod/package/regression/build_request.json").read_text())
    assert "mlflow_run_id" not in request["model_metadata"]


def test_tracking_uri_points_at_a_real_mlflow_server(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    port = free_port()
    server_dir = tmp_path / "server"
    server_dir.mkdir()
    mlflow_bin = str(Path(sys.executable).with_name("mlflow"))
    proc = subprocess.Popen(
        [
            mlflow_bin,
            "server",
            "--backend-store-uri",
            f"sqlite:///{server_dir / 'srv.db'}",
            "--artifacts-destination",
            str(server_dir / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        cwd=server_dir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env=dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true"),
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{uri}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        monkeypatch.chdir(tmp_path)
        shutil.copytree(EXAMPLES, tmp_path / "example_notebooks")
        shutil.copytree(ROOT / "expectations", tmp_path / "expectations")
        result = run("example_notebooks/regression.ipynb", track=True, package=False, tracking_uri=uri)
        assert result.tracked["kind"] == "server"
        client = MlflowClient(uri)
        r = client.get_run(result.tracked["run_id"])
        assert r.data.metrics["r2"] == pytest.approx(result.metrics["r2"])
        assert client.get_model_version_by_alias("regression", "candidate").run_id == r.info.run_id
        assert not (tmp_path / ".nbprod/mlflow.db").exists()
        assert os.environ.get("MLFLOW_TRACKING_URI") is None  # the user's environment is left as it was
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_unreachable_tracking_server_is_a_clear_error_and_products_are_kept(tmp_path, monkeypatch):
    from nbprod.errors import RunError

    monkeypatch.chdir(tmp_path)
    shutil.copytree(EXAMPLES, tmp_path / "example_notebooks")
    shutil.copytree(ROOT / "expectations", tmp_path / "expectations")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with pytest.raises(RunError) as info:
        run(
            "example_notebooks/regression.ipynb",
            track=True,
            package=False,
            tracking_uri=f"http://127.0.0.1:{free_port()}",
        )
    assert (
        "tracking the run in MLflow failed" in str(info.value) and "products under .nbprod/ are kept" in info.value.fix
    )
    assert (tmp_path / ".nbprod/products/regression/train/model").exists()


def test_a_locked_mlflow_store_is_a_clear_error_and_products_are_kept(tmp_path, monkeypatch):
    import sqlite3

    from nbprod.errors import RunError

    monkeypatch.chdir(tmp_path)
    shutil.copytree(EXAMPLES, tmp_path / "example_notebooks")
    shutil.copytree(ROOT / "expectations", tmp_path / "expectations")
    run("example_notebooks/regression.ipynb", track=True, package=False)
    con = sqlite3.connect(tmp_path / ".nbprod/mlflow.db", isolation_level=None)
    con.execute("BEGIN EXCLUSIVE")  # another process holds the store
    try:
        with pytest.raises(RunError) as info:
            run("example_notebooks/regression.ipynb", params={"alpha": "2"}, track=True, package=False)
    finally:
        con.execute("ROLLBACK")
        con.close()
    assert "database is locked" in str(info.value) and "products under .nbprod/ are kept" in info.value.fix
    assert (tmp_path / ".nbprod/products/regression/train/model").exists()
    # once the store is free again, the same run completes and is tracked
    assert run("example_notebooks/regression.ipynb", params={"alpha": "2"}, track=True, package=False).tracked["run_id"]


def test_unwritable_bento_folder_is_a_clear_error_and_the_last_bento_stays(packaged):
    from nbprod.errors import ConvertError
    from nbprod.package.packager import package

    project, result = packaged
    bentos = project / "bentos"
    shutil.move(bentos, project / "bentos.bak")
    bentos.write_text("a file where the bentos folder should be")
    store_before = sorted(p.name for p in (project / ".nbprod/bentoml/bentos/classifier").iterdir())
    try:
        with pytest.raises(ConvertError, match="cannot write"):
            package(project / "example_notebooks/classifier.ipynb", project=project)
        assert sorted(p.name for p in (project / ".nbprod/bentoml/bentos/classifier").iterdir()) == store_before
    finally:
        bentos.unlink()
        shutil.move(project / "bentos.bak", bentos)
