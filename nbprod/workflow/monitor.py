"""``nbprod monitor NB``: the live service's drift, feature by feature, and whether an alert fires.

Reads the served Bento's ``/drift/`` report (``--url``, default http://127.0.0.1:3000) and, with ``--prometheus URL``,
the alerts Prometheus fires for the pipeline (``ALERTS{pipeline=...}`` from the generated ``alerts.yaml``). The
baseline column comes from the drift baseline of the last packaged model (``.nbprod/package/<name>/``). Standard
library HTTP only; the CLI prints the table and exits 1 when an alert fires.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from nbprod.errors import ServeError
from nbprod.workflow.workspace import Workspace

__all__ = ["FeatureStatus", "MonitorResult", "feature_rows", "monitor", "render_table"]

PREDICTION = "__prediction__"


@dataclass(frozen=True)
class FeatureStatus:
    feature: str
    kind: str
    status: str  # "ok", "ALERT" or "waiting" (fewer rows than min_rows)
    test: str
    statistic: Optional[float]
    p_training: Optional[float]
    p_previous: Optional[float]
    psi: float
    baseline: str
    window: int


@dataclass
class MonitorResult:
    url: str
    rows_in_window: int
    min_rows: int
    ready: bool
    features: list[FeatureStatus]
    firing: list[str] = field(default_factory=list)  # "alertname feature" of the alerts Prometheus fires
    prometheus: Optional[str] = None
    log: Optional[str] = None  # the prediction log read offline (nbprod.workflow.monitor_log), instead of url
    requests: int = 0  # lines in the log
    sampled: int = 0  # of them, the requests that kept their inputs
    window_records: list[dict[str, Any]] = field(default_factory=list, repr=False)  # the window's rows (the picture)
    baseline: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def alert(self) -> bool:
        return any(f.status == "ALERT" for f in self.features) or bool(self.firing)


def _get(url: str, what: str, fix: str, path: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 (a URL the user gave)
            return json.loads(resp.read().decode())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ServeError(f"cannot read {what} at {url}: {exc}", path=path, fix=fix) from None


def _baseline_text(base: Optional[dict[str, Any]]) -> str:
    if not base:
        return "-"
    if "mean" in base:
        return f"mean {base['mean']:.4g} sd {base['std']:.3g}"
    shares = base.get("shares", {})
    if not shares:
        return "-"
    top = max(shares, key=lambda k: shares[k])
    return f"{len(shares)} categories, {top!r} {shares[top]:.0%}"


def _status(drift: dict[str, Any], ready: bool) -> str:
    return "waiting" if not ready else ("ALERT" if drift.get("alert") else "ok")


def feature_rows(report: dict[str, Any], baseline: dict[str, Any]) -> list[FeatureStatus]:
    """One row per feature (and the prediction) of a ``DriftMonitor.report()``."""
    bases = {**baseline.get("numeric", {}), **baseline.get("categorical", {})}
    if baseline.get("prediction"):
        bases[PREDICTION] = baseline["prediction"]
    items = list(report.get("features", {}).items())
    if report.get("prediction"):
        items.append((PREDICTION, report["prediction"]))
    ready = bool(report.get("ready"))
    return [
        FeatureStatus(
            feature=name,
            kind=d.get("kind", "?"),
            status=_status(d, ready),
            test=d.get("test", "-"),
            statistic=d.get("statistic_training"),
            p_training=d.get("p_training"),
            p_previous=d.get("p_previous"),
            psi=float(d.get("psi", 0.0)),
            baseline=_baseline_text(bases.get(name)),
            window=int(d.get("values", 0)),
        )
        for name, d in items
    ]


def _firing(prometheus: str, pipeline: str, path: str) -> list[str]:
    query = urllib.parse.urlencode({"query": f'ALERTS{{pipeline="{pipeline}", alertstate="firing"}}'})
    data = _get(
        f"{prometheus.rstrip('/')}/api/v1/query?{query}",
        "Prometheus's alerts",
        "check the Prometheus URL (e.g. http://127.0.0.1:9090) and that it loads bentos/<name>/alerts.yaml",
        path,
    )
    results = data.get("data", {}).get("result", []) if isinstance(data, dict) else []
    names = {f"{r['metric'].get('alertname', '?')} {r['metric'].get('feature', '')}".strip() for r in results}
    return sorted(names)


def monitor(
    notebook: Union[str, Path],
    *,
    project: Union[str, Path] = ".",
    name: Optional[str] = None,
    split: str = "auto",
    url: str = "http://127.0.0.1:3000",
    prometheus: Optional[str] = None,
) -> MonitorResult:
    """The drift of the live service of ``notebook``'s pipeline (see the module docstring)."""
    ws = Workspace(notebook, project=project, name=name, split=split)
    path = str(ws.notebook)
    report = _get(
        f"{url.rstrip('/')}/drift/",
        "the service's drift report",
        f"serve the Bento (nbprod serve {path} --port PORT) and pass --url http://127.0.0.1:PORT",
        path,
    )
    if not isinstance(report, dict) or "rows_in_window" not in report:
        raise ServeError(
            f"{url}/drift/ is not an nbprod drift report", path=path, fix="point --url at the nbprod Bento"
        )
    baseline_file = ws.layout.package_work_dir(ws.pipeline) / "drift_baseline.json"
    baseline = json.loads(baseline_file.read_text()) if baseline_file.is_file() else {}
    result = MonitorResult(
        url=url,
        rows_in_window=int(report["rows_in_window"]),
        min_rows=int(report.get("min_rows", 0)),
        ready=bool(report.get("ready")),
        features=feature_rows(report, baseline),
        prometheus=prometheus,
    )
    if prometheus:
        result.firing = _firing(prometheus, ws.pipeline, path)
    return result


def _num(value: Optional[float], spec: str) -> str:
    return "-" if value is None else format(value, spec)


def render_table(result: MonitorResult) -> str:
    """The per-feature table and a summary line (what the CLI prints)."""
    head = ("feature", "status", "test", "statistic", "p (training)", "p (previous)", "PSI", "baseline", "window")
    rows = [
        (
            f.feature,
            f.status,
            f.test,
            _num(f.statistic, ".4g"),
            _num(f.p_training, ".3g"),
            _num(f.p_previous, ".3g"),
            format(f.psi, ".3f"),
            f.baseline,
            str(f.window),
        )  # fmt: skip
        for f in result.features
    ]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head, *rows]]
    state = "ready" if result.ready else f"waiting for {result.min_rows} rows"
    source = f"{result.url}/drift/" if result.log is None else f"the prediction log {result.log}"
    lines.append(f"window: {result.rows_in_window} rows ({state}) from {source}")
    if result.log is not None:
        lines.append(f"log: {result.requests} requests, {result.sampled} with their inputs (the sampled ones)")
    if result.prometheus:
        fired = ", ".join(result.firing) if result.firing else "none"
        lines.append(f"Prometheus {result.prometheus}: firing alerts: {fired}")
    lines.append("ALERT: drift or service alerts fire" if result.alert else "no alert")
    return "\n".join(lines)
