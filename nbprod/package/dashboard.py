"""``bentos/<pipeline>/dashboard.json``: a Grafana dashboard for the service's drift gauges and request metrics.

Pure generation. Import it in Grafana (Dashboards > New > Import) and pick the Prometheus data source that scrapes the
service (the ``datasource`` variable). Rows: the service (traffic, errors, p99 latency, window sizes, firing
alerts), drift against training (PSI, mean-shift z, test p-values, unseen-category share), drift against the
previous window, and the predictions. Threshold lines are the levels of ``alerts.yaml``; the ``feature`` variable
filters the per-feature panels. Grafana's JSON model, ``schemaVersion`` 39 (Grafana 10.4 / 11).
"""

from __future__ import annotations

import json
from typing import Any, Optional

from nbprod.package.alerts import PREDICTION, AlertSettings

__all__ = ["render_dashboard", "SCHEMA_VERSION"]

SCHEMA_VERSION = 39
_DS = {"type": "prometheus", "uid": "${datasource}"}
_INSTANCE = 'instance=~"$instance"'  # the targets serving this pipeline (drift gauges carry no pipeline label)
_FEATURE = '{feature=~"$feature", ' + _INSTANCE + "}"


def _target(expr: str, legend: str, ref: str) -> dict[str, Any]:
    return {"datasource": _DS, "refId": ref, "expr": expr, "legendFormat": legend, "range": True}


def _thresholds(level: Optional[float], *, below: bool = False, unit: str = "short") -> dict[str, Any]:
    """Field defaults: a red threshold line at ``level`` (``below``: red under it, e.g. a p-value)."""
    good, bad = ("red", "green") if below else ("green", "red")
    steps: list[dict[str, Any]] = [{"color": good, "value": None}]
    if level is not None:
        steps.append({"color": bad, "value": level})
    custom = {"thresholdsStyle": {"mode": "line" if level is not None else "off"}}
    return {
        "defaults": {"unit": unit, "custom": custom, "thresholds": {"mode": "absolute", "steps": steps}},
        "overrides": [],
    }


class _Layout:
    """Panels with unique ids placed on Grafana's 24-column grid, row by row."""

    def __init__(self) -> None:
        self.panels: list[dict[str, Any]] = []
        self.x = self.y = self.h = 0

    def row(self, title: str) -> None:
        self.y, self.x, self.h = self.y + self.h, 0, 1
        self.panels.append({"id": len(self.panels) + 1, "type": "row", "title": title, "collapsed": False,
                            "gridPos": {"x": 0, "y": self.y, "w": 24, "h": 1}, "panels": []})  # fmt: skip
        self.y, self.h = self.y + 1, 0

    def add(self, kind: str, title: str, targets: list[tuple[str, str]], field: dict, *, w: int, h: int, **extra: Any):
        if self.x + w > 24:
            self.y, self.x, self.h = self.y + self.h, 0, 0
        refs = "ABCDEFGH"
        self.panels.append(
            {
                "id": len(self.panels) + 1,
                "type": kind,
                "title": title,
                "datasource": _DS,
                "gridPos": {"x": self.x, "y": self.y, "w": w, "h": h},
                "targets": [_target(e, legend, refs[i]) for i, (e, legend) in enumerate(targets)],
                "fieldConfig": field,
                **extra,
            }
        )
        self.x, self.h = self.x + w, max(self.h, h)


def _query_variable(name: str, query: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": name,
        "type": "query",
        "datasource": _DS,
        "query": {"query": query, "refId": name},
        "refresh": 2,
        "multi": True,
        "includeAll": True,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
    }


def _variables(pipeline: str) -> dict[str, Any]:
    instance = _query_variable(
        "instance", f'label_values(bentoml_service_request_total{{service_name="{pipeline}"}}, instance)'
    )
    feature = _query_variable("feature", 'label_values(nbprod_drift_psi{instance=~"$instance"}, feature)')
    source = {
        "name": "datasource",
        "label": "Prometheus",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "refresh": 1,
    }
    return {"list": [source, instance, feature]}


def _service(g: _Layout, pipeline: str, s: AlertSettings) -> None:
    sel = f'service_name="{pipeline}", endpoint=~"/predict.*"'
    win = s.rate_window
    total = f"sum(rate(bentoml_service_request_total{{{sel}}}[{win}]))"
    errors = f'sum(rate(bentoml_service_request_total{{{sel}, http_response_code=~"5.."}}[{win}]))'
    p99 = (
        f"histogram_quantile(0.99, sum by (le) (rate(bentoml_service_request_duration_seconds_bucket{{{sel}}}[{win}])))"
    )
    stat = {
        "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}, "colorMode": "value"}
    }
    g.row("Service")
    g.add("stat", "Predictions requests/s", [(total, "requests/s")], _thresholds(None, unit="reqps"), w=6, h=4, **stat)
    g.add("stat", "Error rate (5xx)", [(f"{errors} / {total}", "errors")], _thresholds(s.error_rate, unit="percentunit"),
          w=6, h=4, **stat)  # fmt: skip
    g.add("stat", "p99 latency", [(p99, "p99")], _thresholds(s.p99_latency_seconds, unit="s"), w=6, h=4, **stat)
    windows = (("window", "window"), ("previous", "previous window"))
    rows = [(f"nbprod_drift_{w}_rows{{{_INSTANCE}}}", label + " {{instance}}") for w, label in windows]
    g.add("stat", "Rows in the drift windows", rows, _thresholds(None), w=6, h=4, **stat)
    firing = f'sum by (alertname, feature) (ALERTS{{pipeline="{pipeline}", alertstate="firing"}})'
    g.add("timeseries", "Firing alerts (alerts.yaml)", [(firing, "{{alertname}} {{feature}}")], _thresholds(None),
          w=24, h=6)  # fmt: skip


def _drift(g: _Layout, s: AlertSettings, *, numeric: bool, categorical: bool) -> None:
    log = {"defaults": {"custom": {"scaleDistribution": {"type": "log", "log": 10}}}}
    g.row("Drift against training")
    g.add(
        "timeseries", "PSI per feature", [(f"nbprod_drift_psi{_FEATURE}", "{{feature}}")], _thresholds(s.psi), w=12, h=8
    )
    if numeric:
        z = f"nbprod_drift_mean_shift_z{_FEATURE}"
        g.add("timeseries", "Mean-shift z-score (numeric features)", [(z, "{{feature}}")], _thresholds(s.mean_shift_z),
              w=12, h=8)  # fmt: skip
    p = 'nbprod_drift_p_value{feature=~"$feature", reference="training", ' + _INSTANCE + "}"
    field = _thresholds(s.p_value, below=True)
    field["defaults"]["custom"].update(log["defaults"]["custom"])
    g.add("timeseries", "Test p-value vs training (KS / chi-square)", [(p, "{{feature}} ({{test}})")], field, w=12, h=8)
    if categorical:
        unseen = f"nbprod_drift_unseen_share{_FEATURE}"
        g.add("timeseries", "Unseen-category share", [(unseen, "{{feature}}")],
              _thresholds(s.unseen_share, unit="percentunit"), w=12, h=8)  # fmt: skip
    g.row("Drift against the previous window (slow drift)")
    prev = 'nbprod_drift_p_value{feature=~"$feature", reference="previous", ' + _INSTANCE + "}"
    field = _thresholds(s.p_value, below=True)
    field["defaults"]["custom"].update(log["defaults"]["custom"])
    g.add("timeseries", "Test p-value vs the previous window", [(prev, "{{feature}} ({{test}})")], field, w=12, h=8)
    stat = 'nbprod_drift_statistic{feature=~"$feature", reference="previous", ' + _INSTANCE + "}"
    g.add("timeseries", "Test statistic vs the previous window", [(stat, "{{feature}} ({{test}})")], _thresholds(None),
          w=12, h=8)  # fmt: skip


def _prediction(g: _Layout, s: AlertSettings, kind: str) -> None:
    sel = f'feature="{PREDICTION}", {_INSTANCE}'
    g.row("Predictions")
    shifts = [(f"nbprod_drift_psi{{{sel}}}", "PSI")]
    if kind == "numeric":  # class labels have no mean
        shifts.append((f"nbprod_drift_mean_shift_z{{{sel}}}", "mean-shift z"))
    g.add("timeseries", "Prediction shift vs training", shifts, _thresholds(s.psi), w=12, h=8)
    p = [(f"nbprod_drift_p_value{{{sel}}}", "vs {{reference}} ({{test}})")]
    g.add("timeseries", "Prediction test p-values", p, _thresholds(s.p_value, below=True), w=12, h=8)


def render_dashboard(pipeline: str, model_tag: str, baseline: dict[str, Any], settings: AlertSettings) -> str:
    """The ``dashboard.json`` text for the features of a drift ``baseline`` (deterministic: fixed ids, uid from the
    pipeline name, no timestamps). Panels without a series to show (no numeric feature, ...) are left out."""
    g = _Layout()
    _service(g, pipeline, settings)
    _drift(g, settings, numeric=bool(baseline.get("numeric")), categorical=bool(baseline.get("categorical")))
    if baseline.get("prediction"):
        _prediction(g, settings, baseline["prediction"]["kind"])
    dashboard = {
        "uid": f"nbprod-{pipeline}"[:40],
        "title": f"nbprod: {pipeline}",
        "description": f"Drift and service health of the Bento of pipeline {pipeline} (model {model_tag}), generated "
        "by nbprod: edit the notebook and [tool.nbprod.alerts], not this file.",
        "tags": ["nbprod", pipeline],
        "editable": True,
        "timezone": "browser",
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "graphTooltip": 1,
        "templating": _variables(pipeline),
        "annotations": {"list": []},
        "links": [],
        "panels": g.panels,
    }
    return json.dumps(dashboard, indent=2) + "\n"
