"""Unit tests of nbprod/drift.py: baseline, sliding-window drift report, alerts, Prometheus gauges, self-containment."""

from __future__ import annotations

import ast
import json
import logging
import math
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from prometheus_client import REGISTRY

from nbprod.package import drift
from nbprod.package.drift import ALERT_LEVELS, DriftMonitor, compute_baseline, prometheus_gauges, update_gauges

DRIFT_PY = Path(drift.__file__)
COLORS = ["red", "green", "blue"]
COLOR_P = [0.5, 0.3, 0.2]


def make_frame(n: int, seed: int, *, x_shift: float = 0.0, colors=COLORS, color_p=COLOR_P) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(10.0 + x_shift, 2.0, n),
            "k": rng.integers(0, 5, n),
            "color": rng.choice(colors, n, p=color_p),
            "flag": rng.random(n) < 0.3,
        }
    )


def predict(frame: pd.DataFrame) -> np.ndarray:
    return 3.0 * frame["x"].to_numpy() + frame["k"].to_numpy()


def records(frame: pd.DataFrame) -> list[dict]:
    return frame.to_dict("records")


@pytest.fixture(scope="module")
def baseline() -> dict:
    train = make_frame(5000, seed=0)
    return compute_baseline(train, predict(train))


def monitor_with(baseline: dict, frame: pd.DataFrame, predictions=None, **kwargs) -> DriftMonitor:
    monitor = DriftMonitor(baseline, **kwargs)
    monitor.observe(records(frame), list(predict(frame) if predictions is None else predictions))
    return monitor


def test_baseline_structure():
    rng = np.random.default_rng(1)
    n = 400
    frame = make_frame(n, seed=1)
    frame["with_nan"] = np.where(rng.random(n) < 0.25, np.nan, rng.normal(0.0, 1.0, n))
    frame["ident"] = [f"id-{i}" for i in range(n)]  # high cardinality: skipped
    frame["when"] = pd.Timestamp("2024-01-01")  # neither numeric nor categorical: skipped
    frame["cat"] = pd.Categorical(rng.choice(["a", "b"], n))
    frame["sparse"] = pd.Series(rng.choice(["u", "v"], n)).where(rng.random(n) < 0.5)  # str dtype with NaNs
    base = compute_baseline(frame, rng.choice(["yes", "no"], n), bins=10, max_categories=50)
    json.dumps(base, allow_nan=False)
    assert base["version"] == 1 and base["rows"] == n
    assert sorted(base["numeric"]) == ["k", "with_nan", "x"]
    assert sorted(base["categorical"]) == ["cat", "color", "flag", "sparse"]
    x = base["numeric"]["x"]
    assert x["mean"] == pytest.approx(frame["x"].mean()) and x["std"] == pytest.approx(frame["x"].std())
    assert len(x["edges"]) == 9 and x["edges"] == sorted(x["edges"]) and len(x["shares"]) == 10
    assert sum(x["shares"]) == pytest.approx(1.0) and all(s == pytest.approx(0.1, abs=0.01) for s in x["shares"])
    k = base["numeric"]["k"]  # 5 integer values: quantile edges are deduplicated
    assert len(k["edges"]) == len(set(k["edges"])) < 9 and len(k["shares"]) == len(k["edges"]) + 1
    nan_col = base["numeric"]["with_nan"]
    assert math.isfinite(nan_col["mean"]) and nan_col["mean"] == pytest.approx(frame["with_nan"].mean())
    assert sum(nan_col["shares"]) == pytest.approx(1.0)
    assert set(base["categorical"]["flag"]["shares"]) == {"True", "False"}
    assert base["categorical"]["flag"]["shares"]["True"] == pytest.approx(frame["flag"].mean())
    sparse = base["categorical"]["sparse"]["shares"]
    assert set(sparse) == {"u", "v"} and sum(sparse.values()) == pytest.approx(1.0)
    assert set(base["categorical"]["color"]["shares"]) == set(COLORS)
    assert sum(base["categorical"]["color"]["shares"].values()) == pytest.approx(1.0)
    assert base["prediction"]["kind"] == "categorical" and set(base["prediction"]["shares"]) == {"yes", "no"}


def test_prediction_kind_detection(baseline):
    assert baseline["prediction"]["kind"] == "numeric" and len(baseline["prediction"]["edges"]) == 9
    frame = make_frame(100, seed=2)
    assert compute_baseline(frame, [0, 1] * 50)["prediction"]["kind"] == "categorical"
    assert compute_baseline(frame, [0, 1] * 50, prediction_kind="numeric")["prediction"]["kind"] == "numeric"
    assert compute_baseline(frame, None)["prediction"] is None


def test_same_distribution_no_alert(baseline):
    report = monitor_with(baseline, make_frame(1000, seed=3)).report()
    assert report["ready"] and report["rows_in_window"] == 1000 and not report["alert"]
    for name, feature in report["features"].items():
        assert feature["psi"] < 0.1 and not feature["alert"], name
    assert abs(report["features"]["x"]["mean_shift_z"]) < ALERT_LEVELS["mean_shift_z"]
    assert report["features"]["color"]["unseen_share"] == 0.0
    assert report["prediction"]["psi"] < 0.1 and not report["prediction"]["alert"]


def test_mean_shift_alerts(baseline):
    report = monitor_with(baseline, make_frame(500, seed=4, x_shift=1.5)).report()
    x = report["features"]["x"]
    assert x["kind"] == "numeric" and x["mean"] == pytest.approx(11.5, abs=0.3)
    assert x["mean_shift_z"] > 4 and x["psi"] > 0.2 and x["alert"]
    assert not report["features"]["color"]["alert"] and report["alert"]


def test_unseen_categories_alert(baseline):
    window = make_frame(1000, seed=5, colors=COLORS + ["purple"], color_p=[0.4, 0.24, 0.16, 0.2])
    color = monitor_with(baseline, window).report()["features"]["color"]
    assert color["kind"] == "categorical" and color["unseen_share"] == pytest.approx(0.2, abs=0.03)
    assert color["psi"] > 0.2 and color["alert"]


def test_each_alert_level_alerts_on_its_own(baseline, monkeypatch):
    monkeypatch.setitem(ALERT_LEVELS, "psi", 1e9)
    monkeypatch.setitem(ALERT_LEVELS, "p_value", 0.0)
    unseen = make_frame(400, seed=16, colors=COLORS + ["purple"], color_p=[0.45, 0.27, 0.18, 0.1])
    color = monitor_with(baseline, unseen).report()["features"]["color"]
    assert color["unseen_share"] > 0.05 and color["alert"]
    x = monitor_with(baseline, make_frame(400, seed=17, x_shift=0.6)).report()["features"]["x"]
    assert x["mean_shift_z"] > 4 and x["alert"]
    monkeypatch.setitem(ALERT_LEVELS, "mean_shift_z", 1e9)
    monkeypatch.setitem(ALERT_LEVELS, "unseen_share", 1e9)
    assert not monitor_with(baseline, unseen).report()["alert"]
    monkeypatch.setitem(ALERT_LEVELS, "psi", 0.2)
    assert monitor_with(baseline, unseen).report()["features"]["color"]["alert"]
    monkeypatch.setitem(ALERT_LEVELS, "psi", 1e9)
    monkeypatch.setitem(ALERT_LEVELS, "p_value", 0.01)  # the chi-square test alone
    assert monitor_with(baseline, unseen).report()["features"]["color"]["alert"]
    assert not monitor_with(baseline, unseen, levels={"p_value": 0.0}).report()["alert"]


def test_shifted_predictions_alert(baseline):
    window = make_frame(500, seed=6)
    report = monitor_with(baseline, window, predictions=predict(window) + 10.0).report()
    assert not any(f["alert"] for f in report["features"].values())
    assert report["prediction"]["psi"] > 0.2 and report["prediction"]["mean_shift_z"] > 4
    assert report["prediction"]["alert"] and report["alert"]


def test_categorical_prediction_shift():
    train = make_frame(2000, seed=7)
    base = compute_baseline(train, np.where(train["x"] > 10, "high", "low"))
    window = make_frame(400, seed=8)
    assert not monitor_with(base, window, predictions=np.where(window["x"] > 10, "high", "low")).report()["alert"]
    shifted = monitor_with(base, window, predictions=np.where(window["x"] > 8, "high", "low")).report()
    assert shifted["prediction"]["psi"] > 0.2 and shifted["prediction"]["alert"]


def test_not_ready_never_alerts(baseline):
    report = monitor_with(baseline, make_frame(150, seed=9, x_shift=5.0), min_rows=200).report()
    assert report["rows_in_window"] == 150 and report["min_rows"] == 200 and not report["ready"]
    assert report["features"]["x"]["psi"] > 0.2  # drift is measured...
    assert not report["alert"] and not report["features"]["x"]["alert"] and not report["prediction"]["alert"]


def test_sliding_window_keeps_last_rows(baseline):
    monitor = DriftMonitor(baseline, window=300, min_rows=100)
    shifted, normal = make_frame(300, seed=10, x_shift=5.0), make_frame(300, seed=11)
    monitor.observe(records(shifted), list(predict(shifted)))
    assert monitor.report()["features"]["x"]["alert"]
    monitor.observe(records(normal), list(predict(normal)))
    report = monitor.report()
    assert report["rows_in_window"] == 300
    assert report["features"]["x"]["mean"] == pytest.approx(normal["x"].mean(), abs=1e-5)
    x = report["features"]["x"]  # the window is back to training, but it differs from the window before it
    assert x["p_training"] > 0.01 and x["p_previous"] < 1e-6 and x["alert"] and report["rows_in_previous"] == 300
    monitor.observe(records(make_frame(300, seed=21)), [0.0] * 300)
    x = monitor.report()["features"]["x"]
    assert x["p_training"] > 0.01 and x["p_previous"] > 0.01 and not x["alert"]


def test_missing_fields_and_none_ignored(baseline):
    frame = make_frame(400, seed=12)
    rows = records(frame)
    for i, row in enumerate(rows):
        if i % 4 == 0:
            del row["x"]
        elif i % 4 == 1:
            row["x"] = None
            row["color"] = None
        elif i % 4 == 2:
            row["x"] = float("nan")
    rows.append({"unknown_column": 1})
    monitor = DriftMonitor(baseline, min_rows=100)
    monitor.observe(rows, list(predict(frame)) + [None])
    report = monitor.report()
    x = report["features"]["x"]
    assert report["rows_in_window"] == 401 and x["values"] == 100 and "unknown_column" not in report["features"]
    assert x["mean"] == pytest.approx(frame["x"][3::4].mean(), abs=1e-5) and not x["alert"]
    assert report["features"]["color"]["values"] == 300 and report["features"]["color"]["unseen_share"] == 0.0
    assert report["prediction"]["values"] == 400 and not report["alert"]


def test_report_json_serialisable_without_nan(baseline):
    empty = DriftMonitor(baseline).report()
    assert empty["rows_in_window"] == 0 and not empty["ready"]
    flat = compute_baseline(pd.DataFrame({"const": [1.0] * 50, "c": ["a"] * 50}), [2.0] * 50)
    constant = monitor_with(flat, pd.DataFrame({"const": [3.0] * 10, "c": [None] * 10}), predictions=[2.0] * 10)
    for report in (empty, monitor_with(baseline, make_frame(300, seed=13)).report(), constant.report()):
        text = json.dumps(report, allow_nan=False)
        assert json.loads(text) == report
        for feature in [*report["features"].values(), report["prediction"]]:
            floats = [v for v in feature.values() if type(v) is float]
            assert floats and all(round(v, 6) == v for v in floats)  # plain floats, rounded to 6 digits
    assert constant.report()["features"]["const"]["mean_shift_z"] == 0.0  # base std 0: z is 0, not inf
    for feature in empty["features"].values():
        assert feature["psi"] == 0.0 and all(type(v) in (bool, int, float, str, type(None)) for v in feature.values())


def test_observe_is_thread_safe(baseline):
    monitor = DriftMonitor(baseline, window=5000, min_rows=10)
    entered = []

    class RecordingLock:
        """The monitor's lock, counting how often it is taken."""

        def __init__(self, lock):
            self.lock = lock

        def __enter__(self):
            self.lock.acquire()
            entered.append(1)

        def __exit__(self, *exc):
            self.lock.release()

    monitor._lock = RecordingLock(threading.Lock())
    frame = make_frame(100, seed=14)
    rows, preds = records(frame), list(predict(frame))

    def worker():
        for i in range(0, 100, 5):
            monitor.observe(rows[i : i + 5], preds[i : i + 5])
        for _ in range(3):
            monitor.report()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert monitor.report()["rows_in_window"] == 800
    assert len(entered) >= 8 * (20 + 3)  # every observe() and report() takes the lock
    small = DriftMonitor(baseline, window=150, min_rows=10)
    threads = [threading.Thread(target=lambda: small.observe(rows, preds)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert small.report()["rows_in_window"] == 150


def test_observe_rejects_mismatched_lengths(baseline):
    with pytest.raises(ValueError, match="predictions"):
        DriftMonitor(baseline).observe([{"x": 1.0}], [])
    with pytest.raises(ValueError, match="version"):
        DriftMonitor({"version": 2})


def test_update_gauges(baseline):
    report = monitor_with(baseline, make_frame(500, seed=15, x_shift=1.5)).report()
    update_gauges(report)
    sample = REGISTRY.get_sample_value
    assert sample("nbprod_drift_psi", {"feature": "x"}) == report["features"]["x"]["psi"]
    assert sample("nbprod_drift_mean_shift_z", {"feature": "x"}) == report["features"]["x"]["mean_shift_z"]
    assert sample("nbprod_drift_alert", {"feature": "x"}) == 1.0
    assert sample("nbprod_drift_alert", {"feature": "color"}) == 0.0
    assert sample("nbprod_drift_unseen_share", {"feature": "color"}) == 0.0
    assert sample("nbprod_drift_psi", {"feature": "__prediction__"}) == report["prediction"]["psi"]
    assert sample("nbprod_drift_alert", {"feature": "__prediction__"}) == float(report["prediction"]["alert"])
    assert sample("nbprod_drift_prediction_psi", {}) == report["prediction"]["psi"]
    assert sample("nbprod_drift_window_rows", {}) == 500.0
    assert prometheus_gauges() is prometheus_gauges()
    assert prometheus_gauges()["psi"] is prometheus_gauges()["psi"]


def test_self_contained_imports():
    tree = ast.parse(DRIFT_PY.read_text())
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = {a.name.split(".")[0] for n in top if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module.split(".")[0] for n in top if isinstance(n, ast.ImportFrom) and n.module}
    assert all(name in sys.stdlib_module_names or name == "numpy" for name in names), names
    every = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    every |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert (
        "nbprod" not in every
        and "pandas" not in every
        and not any(isinstance(n, ast.ImportFrom) and n.level for n in ast.walk(tree))
    )
    code = (
        "import runpy, sys\n"
        f"ns = runpy.run_path({str(DRIFT_PY)!r}, run_name='nbprod_drift')\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('pandas', 'nbprod', 'prometheus_client'))\n"
        "assert not bad, bad\n"
        "assert callable(ns['compute_baseline']) and ns['ALERT_LEVELS']['psi'] == 0.2\n"
        "base = ns['compute_baseline']({'x': [1.0, 2.0, 3.0], 'c': ['a', 'b', 'a']}, [0.5, 1.5, 2.5])\n"
        "assert sorted(base['numeric']) == ['x'] and sorted(base['categorical']) == ['c']\n"
        "assert 'pandas' not in sys.modules\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=DRIFT_PY.parent, timeout=60
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_gauges_use_livemax_in_multiprocess_mode(tmp_path):
    code = (
        "import os, runpy\n"
        f"ns = runpy.run_path({str(DRIFT_PY)!r}, run_name='nbprod_drift')\n"
        f"os.environ['PROMETHEUS_MULTIPROC_DIR'] = {str(tmp_path)!r}  # set after import, as BentoML workers do\n"
        "gauges = ns['prometheus_gauges']()\n"
        "assert {g._multiprocess_mode for g in gauges.values()} == {'livemax'}\n"
        "gauges['psi'].labels(feature='x').set(0.5)\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
    assert any(p.name.startswith("gauge_livemax") for p in tmp_path.iterdir())


def _bentoml_record(exc: BaseException) -> logging.LogRecord:
    """The record BentoML's HTTP app logs for a failed request (``log_exception``), through its own logger."""
    from nbprod.package.service_log import BENTOML_HTTP_LOGGER

    logger = logging.getLogger(BENTOML_HTTP_LOGGER)
    try:
        raise exc
    except BaseException:
        return logger.makeRecord(
            logger.name, logging.ERROR, "app.py", 1, "Exception on %s [%s]", ("/predict", "POST"), sys.exc_info()
        )


def test_a_refused_request_is_one_warning_line_with_status_and_field():
    from typing import Literal

    from pydantic import BaseModel, Field, ValidationError

    from nbprod.package.service_log import BENTOML_HTTP_LOGGER, OneLineBadRequests, one_line_bad_requests

    class Record(BaseModel):
        plan: Literal["basic", "pro"]
        tenure: int = Field(ge=0)

    class Input(BaseModel):
        records: list[Record] = Field(min_length=1)

    with pytest.raises(ValidationError) as bad:
        Input.model_validate_json('{"records": [{"plan": "gold", "tenure": -1}]}')
    record = _bentoml_record(bad.value)
    assert OneLineBadRequests().filter(record) is True
    line = logging.Formatter("%(levelname)s %(message)s").format(record)
    assert "\n" not in line and record.exc_info is None
    assert line.startswith("WARNING bad request POST /predict: status=400 field=records.0.plan (literal_error: ")
    assert line.endswith("; 1 more)")
    with pytest.raises(ValidationError) as not_json:
        Input.model_validate_json(b"not json")
    body = _bentoml_record(not_json.value)
    OneLineBadRequests().filter(body)
    assert body.getMessage().startswith("bad request POST /predict: status=400 field=(body) (json_invalid: ")
    # installed once on BentoML's logger
    one_line_bad_requests()
    one_line_bad_requests()
    assert sum(isinstance(f, OneLineBadRequests) for f in logging.getLogger(BENTOML_HTTP_LOGGER).filters) == 1


def test_a_bentoml_client_error_is_one_line_and_a_server_error_keeps_its_traceback():
    from bentoml.exceptions import InvalidArgument

    from nbprod.package.service_log import OneLineBadRequests, bad_request_line

    client = _bentoml_record(InvalidArgument("records must be a list"))
    OneLineBadRequests().filter(client)
    assert client.exc_info is None and client.getMessage() == (
        "bad request POST /predict: status=400 field=- (InvalidArgument: records must be a list)"
    )
    server = _bentoml_record(RuntimeError("model exploded"))
    assert OneLineBadRequests().filter(server) is True
    assert server.exc_info is not None and server.levelno == logging.ERROR
    assert "Traceback" in logging.Formatter().format(server)
    assert bad_request_line(None) is None
