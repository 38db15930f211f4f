"""End to end on loopback: the regression example (its data file made a parameter) is run, tracked and packaged; the
real Bento is served and called; its prediction log is read by `nbprod monitor --log`: undrifted traffic exits 0,
drifted traffic exits 1 and draws the picture; `--retrain` with labels joined to the logged inputs makes a new MLflow
model version (alias candidate) and a new Bento, and releases nothing."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest

from nbprod.workflow.run import run
from tests.conftest import EXAMPLES, ROOT

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def data_file_parameter(nb: Path) -> None:
    """The regression notebook reading its data through a parameter, ``data_file`` (what --retrain replaces)."""
    data = json.loads(nb.read_text())
    for cell in data["cells"]:
        text = "".join(cell["source"])
        if "parameters" in cell["metadata"].get("tags", []):
            text += '\ndata_file = "data/houses.csv"'
        cell["source"] = text.replace('pd.read_csv("data/houses.csv")', "pd.read_csv(data_file)")
    nb.write_text(json.dumps(data, indent=1))


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from nbprod.workflow.serve import serve_command

    root = tmp_path_factory.mktemp("retrain")
    shutil.copytree(EXAMPLES, root / "example_notebooks", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "expectations", root / "expectations")
    nb = root / "example_notebooks/regression.ipynb"
    data_file_parameter(nb)
    result = run(nb, project=root, track=True, package=True)
    port = free_port()
    cmd, env = serve_command(root, result.bento_tag, port)
    env["NBPROD_PREDICTION_LOG_SAMPLE"] = "1"  # every request's inputs: they are joined with labels below
    proc = subprocess.Popen(cmd, env=env, stdout=(root / "serve.log").open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            raise AssertionError("the Bento did not become ready: " + (root / "serve.log").read_text()[-3000:])
        yield root, nb, base, result
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def clean_frame(root: Path):
    from nbprod.io import load_value

    return load_value(root / ".nbprod/products/regression/clean/df")


def send(base: str, frame, prefix: str) -> list[str]:
    """The frame's rows (without the price) in requests of 25 records; returns the request ids."""
    records = json.loads(frame.drop(columns=["price"]).to_json(orient="records"))
    ids = []
    for k, i in enumerate(range(0, len(records), 25)):
        rid = f"{prefix}-{k}"
        resp = httpx.post(f"{base}/predict", json={"records": records[i : i + 25]}, headers={"X-Request-ID": rid},
                          timeout=60)  # fmt: skip
        assert resp.status_code == 200 and resp.headers["x-request-id"] == rid, resp.text
        ids.append(rid)
    return ids


def logged(root: Path, n: int) -> list[dict]:
    from nbprod.package.prediction_log import read_log

    folder = root / ".nbprod/serving/regression"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        lines = list(read_log(folder)) if folder.exists() else []
        if len(lines) >= n:
            return lines
        time.sleep(0.2)
    raise AssertionError(f"{n} lines expected in the prediction log, found {len(lines)}")


def monitor(nb: Path, root: Path, *extra: str) -> int:
    from nbprod.ui.cli import main

    return main(["monitor", str(nb), "--project", str(root), "--log", *extra])


def test_the_log_shows_drift_and_retrain_makes_an_unreleased_candidate(served, capsys, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("NBPROD_TRACK", "1")  # the retrain is a normal run: tracked and packaged (tests turn it off)
    monkeypatch.setenv("NBPROD_PACKAGE", "1")

    root, nb, base, first = served
    df = clean_frame(root)
    send(base, df.sample(1000, random_state=1, replace=True), "u")
    lines = logged(root, 40)
    line = lines[0]
    assert line["model"].startswith("regression:") and line["bento"] == first.bento_tag and line["status"] == 200
    assert len(line["outputs"]) == 25 and len(line["inputs"]["records"]) == 25 and line["latency_ms"] > 0
    assert "price" not in line["inputs"]["records"][0]
    assert not list((root / ".nbprod/bentoml").rglob("prediction_log"))  # nothing written into the Bento store
    capsys.readouterr()
    assert monitor(nb, root) == 0, capsys.readouterr().out
    capsys.readouterr()

    # drifted traffic: more riverside and midtown houses, no downtown or rural ones (still within the data contract)
    weights = df["neighborhood"].map({"riverside": 0.4 / 150, "midtown": 0.3 / 379, "suburb": 0.3 / 537}).fillna(0)
    drifted = df.sample(1000, replace=True, weights=weights, random_state=2)
    ids = send(base, drifted, "d")
    logged(root, 80)
    picture = root / "drift.svg"
    assert monitor(nb, root, "--picture", str(picture)) == 1
    out = capsys.readouterr().out
    table = {row.split()[0]: row.split()[1] for row in out.splitlines()[1:9]}
    assert table["neighborhood"] == "ALERT" and table["distance_km"] == "ALERT", out
    drawn = ET.parse(picture).getroot()
    texts = " ".join(t.text or "" for t in drawn.iter("{http://www.w3.org/2000/svg}text"))
    assert "neighborhood: chi2" in texts and "distance_km: ks" in texts

    labels = root / "labels.csv"
    rows = [f"{rid},{i},{price}" for k, rid in enumerate(ids) for i, price in
            enumerate(drifted["price"].iloc[k * 25 : (k + 1) * 25])]  # fmt: skip
    labels.write_text("request_id,row,price\n" + "\n".join(rows) + "\n")
    code = monitor(nb, root, "--retrain", "--data-param", "data_file", "--labels", str(labels))
    out = capsys.readouterr().out
    assert code == 1, out  # the alert still fires: the candidate is not serving
    assert "(1000 labelled rows from the log)" in out and "not released" in out
    client = MlflowClient(first.tracked["tracking_uri"])
    candidate = client.get_model_version_by_alias("regression", "candidate")
    assert int(candidate.version) == int(first.tracked["model_version"]) + 1
    assert f"candidate: MLflow model version {candidate.version} (alias candidate)" in out
    params = client.get_run(candidate.run_id).data.params
    staged = root / "example_notebooks" / params["data_file"]
    assert staged.resolve().parent == (root / ".nbprod/retrain/regression").resolve()
    assert len(staged.read_text().splitlines()) == 1001  # the 1000 labelled records and the header
    assert "champion" not in client.get_registered_model("regression").aliases
    assert not (root / ".nbprod/releases").exists()
    last = json.loads((root / ".nbprod/package/regression/last_bento.json").read_text())["bento_tag"]
    assert last != first.bento_tag and f"Bento {last}" in out
