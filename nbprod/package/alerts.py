"""``bentos/<pipeline>/alerts.yaml``: Prometheus alerting rules for the drift gauges and BentoML's request metrics.

Pure generation (no I/O but reading the settings): one rule per feature and statistic, so a feature can have its own
threshold, each labelled with ``pipeline``, ``model_version``, ``feature`` and ``statistic``. The thresholds come from
``[tool.nbprod.alerts]`` in the project's ``pyproject.toml`` (all optional)::

    [tool.nbprod.alerts]
    p-value = 0.01              # KS / chi-square test vs training and vs the previous window
    psi = 0.2
    mean-shift-z = 4.0
    unseen-share = 0.05
    error-rate = 0.05           # share of 5xx answers of /predict*
    p99-latency-seconds = 1.0
    for = "5m"                  # how long a condition must hold before the alert fires
    rate-window = "5m"          # window of rate() for error rate and latency
    [tool.nbprod.alerts.features.monthly_charges]
    psi = 0.3                   # per-feature override of p-value, psi, mean-shift-z, unseen-share

Drift rules only count once the monitor's window holds ``min_rows`` rows (``nbprod_drift_window_rows``; the rules
against the previous window wait for ``nbprod_drift_previous_rows``), as ``DriftMonitor`` does, and only on the
targets (job, instance) whose BentoML metrics name this pipeline (``service_name``), so one Prometheus can scrape
several services whose features share names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Optional

import yaml

from nbprod.errors import UsageError

__all__ = ["AlertSettings", "settings_from_table", "load_settings", "render_alerts", "MIN_ROWS", "PREDICTION"]

MIN_ROWS = 200  # DriftMonitor's default min_rows, which the generated service uses
PREDICTION = "__prediction__"  # the feature label of the prediction gauges (drift.PREDICTION)
_DURATION = re.compile(r"^[1-9][0-9]*(ms|s|m|h|d)$")
_FEATURE_KEYS = ("p-value", "psi", "mean-shift-z", "unseen-share")


@dataclass(frozen=True)
class AlertSettings:
    p_value: float = 0.01
    psi: float = 0.2
    mean_shift_z: float = 4.0
    unseen_share: float = 0.05
    error_rate: float = 0.05
    p99_latency_seconds: float = 1.0
    for_: str = "5m"
    rate_window: str = "5m"
    features: dict[str, dict[str, float]] = field(default_factory=dict)

    def level(self, feature: str, key: str) -> float:
        """The threshold ``key`` (attribute name) of ``feature``: its override, else the project's."""
        return float(self.features.get(feature, {}).get(key, getattr(self, key)))

    def drift_levels(self) -> dict[str, float]:
        """The project-wide levels in ``drift.ALERT_LEVELS`` form (what the service's monitor uses)."""
        return {k: float(getattr(self, k)) for k in ("psi", "mean_shift_z", "unseen_share", "p_value")}


def _attr(key: str) -> str:
    return "for_" if key == "for" else key.replace("-", "_")


def _keys() -> list[str]:
    return [("for" if f.name == "for_" else f.name.replace("_", "-")) for f in fields(AlertSettings)]


def _bad(what: str, path: str, fix: str) -> UsageError:
    return UsageError(f"[tool.nbprod.alerts] {what}", path=path, fix=fix)


def _number(key: str, value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise _bad(f"{key} must be a non-negative number, not {value!r}", path, f"e.g. {key} = 0.2")
    if key == "p-value" and not 0 < value < 1:
        raise _bad(f"p-value must be between 0 and 1, not {value!r}", path, "e.g. p-value = 0.01")
    return float(value)


def _unknown(key: str, allowed: list[str], where: str, path: str) -> UsageError:
    import difflib

    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return _bad(f"{where}unknown setting {key!r}", path, f"{hint}settings: {', '.join(allowed)}")


def settings_from_table(table: Optional[Any], path: str = "pyproject.toml") -> AlertSettings:
    """``AlertSettings`` from the ``[tool.nbprod.alerts]`` table (None: the defaults); bad values are a
    ``UsageError`` naming the key and the fix."""
    if table is None:
        return AlertSettings()
    if not isinstance(table, dict):
        raise _bad("must be a table", path, "write it as [tool.nbprod.alerts]")
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in _keys():
            raise _unknown(key, _keys(), "", path)
        if key in ("for", "rate-window"):
            if not isinstance(value, str) or not _DURATION.match(value):
                raise _bad(f'{key} must be a Prometheus duration like "5m", not {value!r}', path, f'{key} = "5m"')
            values[_attr(key)] = value
        elif key == "features":
            values["features"] = _features(value, path)
        else:
            values[_attr(key)] = _number(key, value, path)
    return replace(AlertSettings(), **values)


def _features(value: Any, path: str) -> dict[str, dict[str, float]]:
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise _bad("features must be a table of tables", path, "e.g. [tool.nbprod.alerts.features.age] psi = 0.3")
    out: dict[str, dict[str, float]] = {}
    for feature, table in sorted(value.items()):
        for key in table:
            if key not in _FEATURE_KEYS:
                raise _unknown(key, list(_FEATURE_KEYS), f"features.{feature}: ", path)
        out[feature] = {_attr(k): _number(k, v, path) for k, v in sorted(table.items())}
    return out


def nbprod_table(project: Path) -> tuple[Optional[dict], Path]:
    """``[tool.nbprod]`` of ``project``'s pyproject.toml (None without the file or the table) and the file's path."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    path = project / "pyproject.toml"
    if not path.is_file():
        return None, path
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"pyproject.toml is not valid TOML: {exc}", path=str(path), fix="fix the TOML syntax"
        ) from None
    nbprod = data.get("tool", {}).get("nbprod", {})
    return (nbprod if isinstance(nbprod, dict) else None), path


def load_settings(project: Path) -> AlertSettings:
    """The alert settings of ``project`` (defaults without pyproject.toml or without the table)."""
    nbprod, path = nbprod_table(project)
    return settings_from_table(nbprod.get("alerts") if nbprod is not None else None, str(path))


def _q(value: str) -> str:
    """A PromQL string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _num(value: float) -> str:
    return repr(float(value)).removesuffix(".0") if float(value).is_integer() else repr(float(value))


# statistic -> (alert name suffix, gauge expression with {sel}, comparison, settings key, rows gauge, summary)
_STATS = {
    "mean_shift_z": ("MeanShift", "abs(nbprod_drift_mean_shift_z{sel})", ">", "mean_shift_z", "window", "mean shift z"),
    "psi": ("PSI", "nbprod_drift_psi{sel}", ">", "psi", "window", "PSI"),
    "unseen_share": (
        "UnseenCategories",
        "nbprod_drift_unseen_share{sel}",
        ">",
        "unseen_share",
        "window",
        "unseen share",
    ),
    "p_training": (
        "DriftVsTraining",
        'nbprod_drift_p_value{sel, reference="training"}',
        "<",
        "p_value",
        "window",
        "drift test p-value vs training",
    ),
    "p_previous": (
        "DriftVsPrevious",
        'nbprod_drift_p_value{sel, reference="previous"}',
        "<",
        "p_value",
        "previous",
        "drift test p-value vs the previous window",
    ),
}


def _this_service(pipeline: str) -> str:
    """The targets that serve this pipeline: the drift gauges carry no pipeline label, BentoML's metrics do."""
    return f"count by (job, instance) (bentoml_service_request_total{{service_name={_q(pipeline)}}})"


def _drift_rule(pipeline: str, version: str, feature: str, stat: str, s: AlertSettings) -> dict[str, Any]:
    suffix, gauge, op, key, rows, what = _STATS[stat]
    level = s.level(feature, key)
    sel = "{feature=" + _q(feature)
    expr = gauge.replace("{sel}", sel + "}").replace("{sel,", sel + ",")
    who = "the predictions" if feature == PREDICTION else f"feature {feature}"
    return {
        "alert": ("NbprodPrediction" if feature == PREDICTION else "NbprodFeature") + suffix,
        "expr": f"{expr} {op} {_num(level)} and on(job, instance) nbprod_drift_{rows}_rows >= {MIN_ROWS}"
        f" and on(job, instance) {_this_service(pipeline)}",
        "for": s.for_,
        "labels": {
            "severity": "warning",
            "pipeline": pipeline,
            "model_version": version,
            "feature": feature,
            "statistic": stat,
        },
        "annotations": {
            "summary": f"{pipeline}: {who} drifted ({what} {op} {_num(level)})",
            "description": f"{what} of {who} is {{{{ $value }}}} (threshold {_num(level)}) for {s.for_}; "
            "see the service's /drift/ report",
        },
    }


def _service_rules(pipeline: str, version: str, s: AlertSettings) -> list[dict[str, Any]]:
    sel = f"service_name={_q(pipeline)}, endpoint=~" + _q("/predict.*")
    total = f"sum(rate(bentoml_service_request_total{{{sel}}}[{s.rate_window}]))"
    errors = f'sum(rate(bentoml_service_request_total{{{sel}, http_response_code=~"5.."}}[{s.rate_window}]))'
    buckets = f"sum by (le) (rate(bentoml_service_request_duration_seconds_bucket{{{sel}}}[{s.rate_window}]))"
    labels = {"severity": "critical", "pipeline": pipeline, "model_version": version}
    return [
        {
            "alert": "NbprodErrorRate",
            "expr": f"{errors} / {total} > {_num(s.error_rate)}",
            "for": s.for_,
            "labels": {**labels, "statistic": "error_rate"},
            "annotations": {
                "summary": f"{pipeline}: more than {_num(s.error_rate * 100)}% of predictions fail (5xx)",
                "description": "error rate {{ $value | humanizePercentage }} over " + s.rate_window,
            },
        },
        {
            "alert": "NbprodLatencyP99",
            "expr": f"histogram_quantile(0.99, {buckets}) > {_num(s.p99_latency_seconds)}",
            "for": s.for_,
            "labels": {**labels, "statistic": "p99_latency"},
            "annotations": {
                "summary": f"{pipeline}: p99 latency of predictions above {_num(s.p99_latency_seconds)} s",
                "description": "p99 latency {{ $value | humanizeDuration }} over " + s.rate_window,
            },
        },
    ]


def render_alerts(pipeline: str, model_tag: str, baseline: dict[str, Any], settings: AlertSettings) -> str:
    """The ``alerts.yaml`` text for the features of a drift ``baseline`` (``drift.compute_baseline``)."""
    version = model_tag.partition(":")[2] or model_tag
    known = {*baseline.get("numeric", {}), *baseline.get("categorical", {}), PREDICTION}
    unknown = sorted(set(settings.features) - known)
    if unknown:
        raise UsageError(
            f"[tool.nbprod.alerts.features] names no feature of pipeline {pipeline!r}: {', '.join(unknown)}",
            path="pyproject.toml",
            fix=f"the monitored features are: {', '.join(sorted(known))}",
        )
    rules: list[dict[str, Any]] = []
    for name in sorted(baseline.get("numeric", {})):
        rules += [_drift_rule(pipeline, version, name, s, settings) for s in ("mean_shift_z", "psi", "p_training")]
        rules.append(_drift_rule(pipeline, version, name, "p_previous", settings))
    for name in sorted(baseline.get("categorical", {})):
        rules += [_drift_rule(pipeline, version, name, s, settings) for s in ("psi", "unseen_share", "p_training")]
        rules.append(_drift_rule(pipeline, version, name, "p_previous", settings))
    prediction = baseline.get("prediction")
    if prediction:
        stats = ["mean_shift_z"] if prediction["kind"] == "numeric" else []
        rules += [_drift_rule(pipeline, version, PREDICTION, s, settings) for s in [*stats, "psi", "p_training"]]
        rules.append(_drift_rule(pipeline, version, PREDICTION, "p_previous", settings))
    rules += _service_rules(pipeline, version, settings)
    header = (
        f"# Prometheus alerting rules for pipeline `{pipeline}` (model {model_tag}), generated by nbprod.\n"
        "# Edit the thresholds in [tool.nbprod.alerts] of pyproject.toml, not this file; load it with\n"
        "# `rule_files: [alerts.yaml]` in prometheus.yml and scrape the service's /metrics.\n"
    )
    data = {"groups": [{"name": f"nbprod-{pipeline}", "rules": rules}]}
    return header + yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=1000, allow_unicode=True)
