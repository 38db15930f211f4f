"""dashboard.json: golden file, the structure of Grafana's dashboard model, PromQL that promtool accepts, and a round
trip through the models Grafana generates from its schema (grafana-foundation-sdk, installed into a temporary folder)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from nbprod.package.alerts import AlertSettings, settings_from_table
from nbprod.package.dashboard import SCHEMA_VERSION, render_dashboard
from tests.conftest import GOLDEN

SDK = "grafana-foundation-sdk==1769699998!10.1.0"  # Grafana 10.1 schemas; no dependencies


BASELINE = {"numeric": {"age": {}}, "categorical": {"plan": {}}, "prediction": {"kind": "numeric"}}


def dashboard(settings: AlertSettings | None = None, baseline: dict | None = None) -> dict:
    text = render_dashboard("churn", "churn:0123456789ab", baseline or BASELINE, settings or AlertSettings())
    return json.loads(text)


def exprs_of(data: dict) -> list[str]:
    return [t["expr"] for p in data["panels"] for t in p.get("targets", [])]


def queries(data: dict) -> list[str]:
    """Every panel query, with the dashboard variables replaced as Grafana does for "All"."""
    exprs = [t["expr"] for p in data["panels"] for t in p.get("targets", [])]
    return [e.replace('=~"$feature"', '=~".+"').replace('=~"$instance"', '=~".+"') for e in exprs]


def test_dashboard_matches_the_golden_file():
    got = render_dashboard("churn", "churn:0123456789ab", BASELINE, AlertSettings())
    golden = GOLDEN / "monitoring" / "dashboard.json"
    if os.environ.get("NBPROD_UPDATE_GOLDEN") == "1":
        golden.write_text(got)
    assert got == golden.read_text()


def test_dashboard_structure():
    """What Grafana's dashboard model requires of an importable dashboard, checked offline."""
    data = dashboard()
    assert data["schemaVersion"] == SCHEMA_VERSION and isinstance(data["version"], int)
    assert re.fullmatch(r"[A-Za-z0-9_-]{8,40}", data["uid"]) and data["title"] == "nbprod: churn"
    panels = data["panels"]
    assert len({p["id"] for p in panels}) == len(panels) and all(isinstance(p["id"], int) for p in panels)
    variables = {v["name"]: v for v in data["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert (
        variables["instance"]["query"]["query"]
        == 'label_values(bentoml_service_request_total{service_name="churn"}, instance)'
    )
    assert all(
        'instance=~"$instance"' in e for e in exprs_of(data) if "nbprod_drift" in e
    )  # this service's gauges only
    cells: set[tuple[int, int]] = set()
    for p in panels:
        g = p["gridPos"]
        assert g["w"] > 0 and g["h"] > 0 and 0 <= g["x"] and g["x"] + g["w"] <= 24, p["title"]
        area = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not area & cells, f"panel {p['title']!r} overlaps another"
        cells |= area
        if p["type"] == "row":
            continue
        assert p["type"] in ("stat", "timeseries") and p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        refs = [t["refId"] for t in p["targets"]]
        assert refs and len(set(refs)) == len(refs) and all(t["expr"] and t["datasource"] for t in p["targets"])
        steps = p["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert steps[0]["value"] is None and all(isinstance(s["value"], float) for s in steps[1:])
    assert [p["title"] for p in panels if p["type"] == "row"] == [
        "Service",
        "Drift against training",
        "Drift against the previous window (slow drift)",
        "Predictions",
    ]


def test_threshold_lines_are_the_alert_levels():
    data = dashboard(settings_from_table({"psi": 0.3, "p-value": 0.001}))
    levels = {p["title"]: p["fieldConfig"]["defaults"]["thresholds"]["steps"][-1]["value"] for p in data["panels"]
              if p["type"] != "row"}  # fmt: skip
    assert levels["PSI per feature"] == 0.3 and levels["Test p-value vs training (KS / chi-square)"] == 0.001
    assert levels["p99 latency"] == 1.0 and levels["Error rate (5xx)"] == 0.05


def test_panels_follow_the_features_and_the_prediction_kind():
    def titles(baseline):
        return {p["title"] for p in dashboard(baseline=baseline)["panels"]}

    full = titles(BASELINE)
    assert {"Mean-shift z-score (numeric features)", "Unseen-category share", "Prediction shift vs training"} <= full
    assert "Unseen-category share" not in titles({"numeric": {"age": {}}, "prediction": None})
    assert "Predictions" not in titles({"numeric": {"age": {}}, "prediction": None})
    labels = {"numeric": {"age": {}}, "prediction": {"kind": "categorical"}}
    shift = next(p for p in dashboard(baseline=labels)["panels"] if p["title"] == "Prediction shift vs training")
    assert [t["legendFormat"] for t in shift["targets"]] == ["PSI"]  # class labels have no mean shift


def test_every_query_is_valid_promql(tmp_path):
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: `make test` installs Debian's prometheus package (make prometheus)"
    rules = [{"record": f"nbprod:dashboard_query:{i}", "expr": e} for i, e in enumerate(queries(dashboard()))]
    (tmp_path / "queries.yaml").write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    out = subprocess.run([promtool, "check", "rules", "queries.yaml"], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0 and f"SUCCESS: {len(rules)} rules found" in out.stdout, out.stdout + out.stderr


@pytest.mark.slow
def test_grafana_schema_models_keep_every_key(tmp_path):
    """Decode with the models generated from Grafana's schema and encode again: a key Grafana does not know (a typo,
    a field in the wrong place) is dropped by the round trip, so nothing may be lost."""
    uv = shutil.which("uv")
    cmd = [uv] if uv else [sys.executable, "-m", "uv"]
    subprocess.run([*cmd, "pip", "install", "-q", "--target", str(tmp_path / "sdk"), SDK], check=True, timeout=300)
    code = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(tmp_path / 'sdk')!r})\n"
        "from grafana_foundation_sdk.cog import plugins\n"
        "from grafana_foundation_sdk.cog.encoder import JSONEncoder\n"
        "from grafana_foundation_sdk.models.dashboard import Dashboard\n"
        "plugins.register_default_plugins()\n"
        "data = json.load(sys.stdin)\n"
        "print(json.dumps(Dashboard.from_json(data), cls=JSONEncoder))\n"
    )
    sent = dashboard()
    out = subprocess.run([sys.executable, "-c", code], input=json.dumps(sent), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    back = json.loads(out.stdout)

    def lost(a, b, path=""):
        if isinstance(a, dict):
            assert isinstance(b, dict), path
            return [p for k in a for p in ([f"{path}/{k}"] if k not in b else lost(a[k], b[k], f"{path}/{k}"))]
        if isinstance(a, list):
            assert isinstance(b, list) and len(a) == len(b), path
            return [p for i, (x, y) in enumerate(zip(a, b)) for p in lost(x, y, f"{path}[{i}]")]
        return [] if a == b else [f"{path}: {a!r} became {b!r}"]

    assert lost(sent, back) == []
