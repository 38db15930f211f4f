"""``nbprod monitor NB --log [PATH]``: the per-feature drift table from the service's prediction log, offline.

The logged inputs (the sampled requests' records, oldest first, rotated files too) go through the service's own
``DriftMonitor`` (``nbprod/package/drift.py``) with the project's alert levels: the last ``window`` rows are the window,
the ``window`` rows before them the rolling baseline, as in the live ``/drift/`` report. The training baseline is the
one of the model the log names last (read from the Bento store), else the last packaged one. The prediction has no row
here: the log holds the service's answers after the notebook's ``postprocess``, not the model's raw predictions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional, Union

from nbprod.errors import ServeError, UsageError
from nbprod.package.alerts import load_settings
from nbprod.package.prediction_log import read_log
from nbprod.workflow.monitor import MonitorResult, feature_rows
from nbprod.workflow.workspace import Workspace

__all__ = ["monitor_log", "logged_records"]


def logged_records(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The request records of the lines that kept their inputs (``{"records": [...]}`` or a bare list), in order,
    each with ``request_id`` and its ``row`` in the request (the keys a labels file joins on)."""
    out: list[dict[str, Any]] = []
    for line in lines:
        inputs = line.get("inputs")
        records = inputs.get("records") if isinstance(inputs, dict) else inputs
        if not isinstance(records, list):
            continue
        for i, record in enumerate(records):
            if isinstance(record, dict):
                out.append({"request_id": line.get("request_id"), "row": i, "record": record})
    return out


def _baseline(ws: Workspace, model_tag: Optional[str]) -> dict[str, Any]:
    """The drift baseline of ``model_tag`` in the project's Bento store, else of the last packaged model."""
    candidates = []
    if model_tag and ":" in model_tag:
        name, version = model_tag.split(":", 1)
        candidates.append(ws.layout.bentoml_home / "models" / name / version / "drift_baseline.json")
    candidates.append(ws.layout.package_work_dir(ws.pipeline) / "drift_baseline.json")
    for path in candidates:
        if path.is_file():
            return json.loads(path.read_text())
    raise ServeError(
        f"no drift baseline for pipeline {ws.pipeline!r}: the training side of the comparison is missing",
        path=str(ws.nb.path),
        fix=f"package the model first (nbprod run {ws.nb.path}, or nbprod package {ws.nb.path})",
    )


def monitor_log(
    notebook: Union[str, Path],
    *,
    project: Union[str, Path] = ".",
    name: Optional[str] = None,
    split: str = "auto",
    log: Union[None, str, Path] = None,
    window: int = 1000,
    min_rows: int = 200,
) -> MonitorResult:
    """The drift of the rows in the prediction log at ``log`` (a file or a folder; default: where ``nbprod serve``
    logs, ``.nbprod/serving/<pipeline>/``) against the training baseline (see the module docstring)."""
    from nbprod.package.drift import DriftMonitor

    ws = Workspace(notebook, project=project, name=name, split=split)
    if window < 1 or min_rows < 1:
        raise UsageError(f"--window {window}: the drift window holds at least one row", fix="e.g. --window 1000")
    path = Path(log) if log else ws.layout.prediction_log_dir(ws.pipeline)
    if not path.exists():
        raise ServeError(
            f"no prediction log at {path}",
            path=str(ws.nb.path),
            fix="pass --log with the service's log folder or file (nbprod serve logs into "
            f"{ws.layout.prediction_log_dir(ws.pipeline)}; a Bento served otherwise into $NBPROD_PREDICTION_LOG_DIR)",
        )
    try:
        lines = list(read_log(path))
    except OSError as exc:
        raise ServeError(
            f"cannot read the prediction log {path}: {exc}", path=str(ws.nb.path), fix="check its permissions"
        ) from None
    rows = logged_records(lines)
    model = next((str(line["model"]) for line in reversed(lines) if line.get("model")), None)
    baseline = _baseline(ws, model)
    levels = load_settings(ws.project).drift_levels()
    monitor = DriftMonitor({**baseline, "prediction": None}, window=window, min_rows=min_rows, levels=levels)
    records = [r["record"] for r in rows]
    monitor.observe(records, [None] * len(records))
    report = monitor.report()
    return MonitorResult(
        url="",
        rows_in_window=int(report["rows_in_window"]),
        min_rows=min_rows,
        ready=bool(report["ready"]),
        features=feature_rows(report, baseline),
        log=str(path),
        requests=len(lines),
        sampled=sum(1 for line in lines if "inputs" in line),
        window_records=records[-window:],
        baseline=baseline,
    )
