"""A real Prometheus (Debian's, on loopback) scrapes the served Bento and evaluates the generated alerts.yaml:
undrifted traffic fires nothing, drifted traffic fires the alerts of the drifted features."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
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


def wait_until(check, timeout: float, what: str, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if result := check():
                return result
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{what} within {timeout} s; log: " + log.read_text()[-3000:])


def start(cmd: list[str], log: Path, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True, **kwargs)


def stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    prometheus = shutil.which("prometheus")
    assert prometheus, "the prometheus binary is missing: `make test` installs it (make prometheus: Debian's package)"
    project = tmp_path_factory.mktemp("mon")
    shutil.copytree(EXAMPLES, project / "example_notebooks")
    shutil.copytree(ROOT / "expectations", project / "expectations")
    # the test override: alerts fire after 1 s instead of 5 minutes
    (project / "pyproject.toml").write_text('[tool.nbprod.alerts]\nfor = "1s"\nrate-window = "10s"\n')
    os.environ["NBPROD_GATE_WORKER"] = "0"
    try:
        result = run(project / "example_notebooks/classifier.ipynb", project=project, track=False, package=True)
    finally:
        os.environ.pop("NBPROD_GATE_WORKER", None)
    return project, result.bento_tag, prometheus


@pytest.fixture(scope="module")
def stack(project):
    from nbprod.workflow.serve import serve_command

    root, tag, prometheus = project
    bento_port, prom_port = free_port(), free_port()
    cmd, env = serve_command(root, tag, bento_port)
    bento = start(cmd, root / "serve.log", env=env)
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(root / "bentos/classifier/alerts.yaml")],
        "scrape_configs": [{"job_name": "bento", "static_configs": [{"targets": [f"127.0.0.1:{bento_port}"]}]}],
    }
    (root / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
    prom = start(
        [
            prometheus,
            f"--config.file={root / 'prometheus.yml'}",
            f"--storage.tsdb.path={root / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        root / "prometheus.log",
    )
    base, api = f"http://127.0.0.1:{bento_port}", f"http://127.0.0.1:{prom_port}/api/v1"
    try:
        wait_until(
            lambda: httpx.get(f"{base}/readyz", timeout=2).status_code == 200, 120, "Bento ready", root / "serve.log"
        )
        wait_until(lambda: httpx.get(f"{api}/rules", timeout=2).json()["data"]["groups"], 30, "rules loaded",
                   root / "prometheus.log")  # fmt: skip
        yield base, api, root
    finally:
        stop(prom)
        stop(bento)


def records(root: Path) -> list[dict]:
    from nbprod.io import load_value

    df = load_value(root / ".nbprod/products/classifier/features/df").drop(columns=["churned"])
    return json.loads(df.head(1000).to_json(orient="records"))


def send(base: str, rows: list[dict]) -> None:
    for i in range(0, len(rows), 250):
        assert httpx.post(f"{base}/predict", json={"records": rows[i : i + 250]}, timeout=60).status_code == 200


def alerts(api: str, base: str, row: dict, state: str) -> set[tuple[str, str]]:
    """(alert, feature) of the alerts in ``state``; one request first, so the service refreshes its gauges."""
    httpx.post(f"{base}/predict", json={"records": [row]}, timeout=30)
    data = httpx.get(f"{api}/alerts", timeout=5).json()["data"]["alerts"]
    return {(a["labels"]["alertname"], a["labels"].get("feature", "")) for a in data if a["state"] == state}


def scraped(api: str, query: str) -> bool:
    result = httpx.get(f"{api}/query", params={"query": query}, timeout=5).json()["data"]["result"]
    return bool(result)


def nbprod_monitor(root: Path, base: str, prometheus: str) -> int:
    from nbprod.ui.cli import main

    nb = root / "example_notebooks/classifier.ipynb"
    return main(["monitor", str(nb), "--project", str(root), "--url", base, "--prometheus", prometheus])


def test_undrifted_traffic_fires_nothing_and_drifted_traffic_fires_the_drifted_features(stack, capsys):
    base, api, root = stack
    rows = records(root)
    send(base, rows)
    # Prometheus has scraped a full window and evaluated the rules on it for a while (for: 1s)
    wait_until(lambda: alerts(api, base, rows[0], "firing") == set() and scraped(api, "nbprod_drift_window_rows >= 1000"),
               30, "a scrape of the full window", root / "prometheus.log")  # fmt: skip
    for _ in range(6):
        time.sleep(1)
        assert alerts(api, base, rows[0], "firing") | alerts(api, base, rows[0], "pending") == set()
    prom = api.removesuffix("/api/v1")
    assert nbprod_monitor(root, base, prom) == 0
    drifted = [{**r, "plan": "enterprise", "monthly_charges": 140.0} for r in rows]
    send(base, drifted)
    fired = wait_until(
        lambda: (got := alerts(api, base, drifted[0], "firing")) >= {("NbprodFeaturePSI", "plan")} and got,
        30,
        "the drift alerts firing",
        root / "prometheus.log",
    )
    time.sleep(3)
    fired |= alerts(api, base, drifted[0], "firing")
    features = {feature for _, feature in fired}
    assert {"plan", "monthly_charges"} <= features <= {"plan", "monthly_charges", "__prediction__"}, fired
    assert {("NbprodFeatureMeanShift", "monthly_charges"), ("NbprodFeatureDriftVsTraining", "monthly_charges"),
            ("NbprodFeatureDriftVsPrevious", "plan")} <= fired  # fmt: skip
    assert not {a for a, _ in fired} & {"NbprodErrorRate", "NbprodLatencyP99"}
    capsys.readouterr()
    assert nbprod_monitor(root, base, prom) == 1
    out = capsys.readouterr().out
    table = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:8]}
    assert table["plan"] == table["monthly_charges"] == "ALERT" and table["region"] == "ok", out
    assert "NbprodFeaturePSI plan" in out.splitlines()[-2], out
    # every query of the generated Grafana dashboard returns series from this Prometheus
    dashboard = json.loads((root / "bentos/classifier/dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs = [e.replace('=~"$feature"', '=~".+"').replace('=~"$instance"', '=~".+"') for e in exprs]
    empty = [e for e in exprs if not scraped(api, e)]
    assert len(exprs) >= 14 and empty == [], empty
