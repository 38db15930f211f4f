"""`nbprod monitor NB`: the per-feature table from a live /drift/ report, exit 1 on an alert, clear errors.

The service here is a real HTTP server on loopback answering /drift/ with a real DriftMonitor report (the served
Bento and a real Prometheus are exercised in tests/test_monitor_prometheus.py)."""

from __future__ import annotations

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import pytest

from nbprod.package.drift import DriftMonitor, compute_baseline
from nbprod.ui.cli import main
from tests.conftest import EXAMPLES


def frame(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"monthly_charges": rng.normal(70 + shift, 10, n), "plan": rng.choice(["basic", "pro"], n, p=[0.7, 0.3])}
    )


@pytest.fixture
def project(tmp_path):
    shutil.copy(EXAMPLES / "classifier.ipynb", tmp_path / "classifier.ipynb")
    train = frame(3000, 0)
    baseline = compute_baseline(train, (train["monthly_charges"] > 75).astype(int))
    (tmp_path / ".nbprod/package/classifier").mkdir(parents=True)
    (tmp_path / ".nbprod/package/classifier/drift_baseline.json").write_text(json.dumps(baseline))
    return tmp_path, baseline


@pytest.fixture
def service():
    """A loopback HTTP server whose /drift/ answers ``state["report"]``."""
    state: dict = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            body = json.dumps(state["report"]).encode() if self.path == "/drift/" else b"{}"
            self.send_response(200 if self.path == "/drift/" else 404)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", state
    server.shutdown()


def report(baseline: dict, window: pd.DataFrame) -> dict:
    monitor = DriftMonitor(baseline)
    monitor.observe(window.to_dict("records"), list((window["monthly_charges"] > 75).astype(int)))
    return monitor.report()


def run_cli(project, url, capsys) -> tuple[int, str, str]:
    code = main(["monitor", str(project / "classifier.ipynb"), "--project", str(project), "--url", url])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_undrifted_service_exits_0_with_a_row_per_feature(project, service, capsys):
    root, baseline = project
    url, state = service
    state["report"] = report(baseline, frame(600, 1))
    code, out, _ = run_cli(root, url, capsys)
    lines = out.splitlines()
    assert code == 0 and lines[-1] == "no alert", out
    assert lines[0].split() == ["feature", "status", "test", "statistic", "p", "(training)", "p", "(previous)", "PSI",
                                "baseline", "window"]  # fmt: skip
    rows = {line.split()[0]: line for line in lines[1:4]}
    assert set(rows) == {"monthly_charges", "plan", "__prediction__"}
    assert rows["monthly_charges"].split()[1:3] == ["ok", "ks"] and "mean 69.66 sd 9.94" in rows["monthly_charges"]
    assert rows["plan"].split()[1:3] == ["ok", "chi2"] and "2 categories, 'basic' 70%" in rows["plan"]
    assert rows["plan"].rstrip().endswith(" 600") and f"window: 600 rows (ready) from {url}/drift/" in out


def test_drifted_service_exits_1_and_names_the_feature(project, service, capsys):
    root, baseline = project
    url, state = service
    state["report"] = report(baseline, frame(600, 2, shift=15.0))
    code, out, _ = run_cli(root, url, capsys)
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:4]}
    assert code == 1 and out.splitlines()[-1] == "ALERT: drift or service alerts fire"
    assert rows["monthly_charges"][1] == "ALERT" and rows["plan"][1] == "ok"
    assert float(rows["monthly_charges"][4]) < 1e-6  # p vs training


def test_a_short_window_is_waiting_not_alerting(project, service, capsys):
    root, baseline = project
    url, state = service
    state["report"] = report(baseline, frame(50, 3, shift=15.0))
    code, out, _ = run_cli(root, url, capsys)
    assert code == 0 and "waiting for 200 rows" in out and " waiting " in out.splitlines()[1]


def test_unreachable_service_is_a_clear_error(project, capsys):
    root, _ = project
    code, out, err = run_cli(root, "http://127.0.0.1:9", capsys)
    assert code == 2 and out == "" and "Traceback" not in err
    assert "cannot read the service's drift report at http://127.0.0.1:9/drift/" in err and "nbprod serve" in err


def test_something_else_than_the_bento_is_a_clear_error(project, service, capsys):
    root, _ = project
    url, state = service
    state["report"] = {"status": "ok"}
    code, _, err = run_cli(root, url, capsys)
    assert code == 2 and "is not an nbprod drift report" in err and "--url" in err
