"""Input and prediction drift monitoring for the generated prediction service.

Self-contained on purpose: this file is copied verbatim into the Bento build context (as ``nbprod_drift.py``)
and imported by the generated service, so it imports only the standard library and numpy at import time
(``prometheus_client`` lazily, pandas never: DataFrames are accepted duck-typed).

``compute_baseline`` summarises the training inputs and predictions (mean/std and training-quantile bins for
numeric columns, category shares for categorical ones) into a JSON-serialisable dict. ``DriftMonitor`` keeps
a sliding window of served rows and compares it with the baseline: mean-shift z-score, PSI, unseen-category
share. PSI needs hundreds of rows, so nothing alerts until the window holds ``min_rows`` rows.

``one_line_bad_requests`` makes BentoML log a refused request (a field that failed validation) as one line with its
status and field, instead of an ERROR with a traceback.
"""

from __future__ import annotations

import collections
import functools
import logging
import math
import os
import threading
from collections.abc import Iterable, Mapping
from typing import Any, Optional

import numpy as np

__all__ = [
    "ALERT_LEVELS",
    "compute_baseline",
    "DriftMonitor",
    "prometheus_gauges",
    "update_gauges",
    "one_line_bad_requests",
    "bad_request_line",
]

ALERT_LEVELS = {"psi": 0.2, "mean_shift_z": 4.0, "unseen_share": 0.05}
PREDICTION = "__prediction__"  # feature label of the prediction in the gauges
_EPS = 1e-4  # shares are clipped at this value before the log in PSI
_NUMERIC = frozenset("iuf")  # numpy dtype kinds of numeric columns
_CATEGORICAL = frozenset("bOUS")  # bool, object (str, category, pandas strings), numpy str/bytes


def _is_missing(value: Any) -> bool:
    """None, NaN, NaT and pandas.NA (whose comparison is ambiguous) count as missing."""
    if value is None:
        return True
    try:
        return bool(value != value)
    except (TypeError, ValueError):
        return True


def _to_float(value: Any) -> float:
    """A finite float, or NaN when the value is missing (None, NaN, pandas.NA) or not a number."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out if math.isfinite(out) else math.nan


def _plain(value: float) -> float:
    """A JSON-friendly float: rounded to 6 digits, 0.0 instead of NaN/inf."""
    value = float(value)
    return round(value, 6) if math.isfinite(value) else 0.0


def _columns(frame: Any) -> dict[str, Any]:
    """Column name -> column values for a DataFrame-like object, a mapping of columns or a list of records."""
    if hasattr(frame, "columns") and hasattr(frame, "__getitem__"):
        return {str(c): frame[c] for c in frame.columns}
    if isinstance(frame, Mapping):
        return {str(c): v for c, v in frame.items()}
    records = list(frame)
    names = list(dict.fromkeys(str(k) for r in records for k in r))
    return {c: [r.get(c) for r in records] for c in names}


def _kind(column: Any) -> str:
    """numpy dtype kind of a column ('f', 'i', 'u', 'b', 'O', ...); inferred from the values without a dtype."""
    kind = getattr(getattr(column, "dtype", None), "kind", None)
    if kind is not None:
        return str(kind)
    values = [v for v in column if not _is_missing(v)]
    if values and all(isinstance(v, (int, float, np.number)) and not isinstance(v, (bool, np.bool_)) for v in values):
        return "i" if all(isinstance(v, (int, np.integer)) for v in values) else "f"
    return "O"


def _numeric_values(column: Any) -> np.ndarray:
    """The finite values of a column as float64 (NaN, None, pandas.NA and infinities dropped)."""
    try:  # pandas (nullable dtypes too): fast path
        arr = np.asarray(column.to_numpy(dtype=float, na_value=np.nan), dtype=float)
    except (AttributeError, TypeError, ValueError):
        arr = np.array([_to_float(v) for v in column], dtype=float)
    return arr[np.isfinite(arr)]


def _category_values(column: Any) -> list[str]:
    """The non-missing values of a column as strings (the keys of the category shares)."""
    values = column.tolist() if hasattr(column, "tolist") else list(column)
    return [str(v) for v in values if not _is_missing(v)]


def _bin_shares(values: np.ndarray, edges: list[float]) -> np.ndarray:
    """Share of the values in each of the len(edges)+1 bins delimited by the inner edges."""
    counts = np.bincount(
        np.searchsorted(np.asarray(edges, dtype=float), values, side="right"), minlength=len(edges) + 1
    )
    return counts / max(len(values), 1)


def _numeric_summary(values: np.ndarray, bins: int) -> dict[str, Any]:
    """Mean, sample std, deduplicated inner quantile edges and the share of values per bin."""
    inner = np.quantile(values, np.linspace(0.0, 1.0, bins + 1)[1:-1]) if bins > 1 else np.array([])
    edges = sorted({float(e) for e in inner})
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return {
        "mean": float(np.mean(values)),
        "std": std,
        "edges": edges,
        "shares": [float(s) for s in _bin_shares(values, edges)],
    }


def _category_shares(values: list[str]) -> dict[str, float]:
    """Share of each category, keys sorted for a deterministic baseline."""
    counts = collections.Counter(values)
    return {k: counts[k] / len(values) for k in sorted(counts)}


def compute_baseline(
    frame: Any, predictions: Any, *, bins: int = 10, max_categories: int = 50, prediction_kind: Optional[str] = None
) -> dict[str, Any]:
    """Summarise the training inputs and the model's predictions on them (see the module docstring).

    ``frame``: a pandas DataFrame (duck-typed; a mapping of columns or a list of records also work).
    Numeric columns (int/uint/float dtypes) get mean, std, ``bins - 1`` deduplicated inner quantile edges and
    the share per bin; object/string/category/bool columns with at most ``max_categories`` categories get
    their category shares (keys are ``str(value)``). Other columns, and columns without any value, are
    skipped; NaNs are ignored. ``predictions``: numbers or class labels (None: no prediction baseline).
    ``prediction_kind`` forces "numeric" or "categorical"; by default float predictions are numeric, strings
    and bools categorical, integers categorical when they take at most ``max_categories`` values.
    """
    numeric: dict[str, Any] = {}
    categorical: dict[str, Any] = {}
    rows = 0
    for name, column in _columns(frame).items():
        rows = max(rows, len(column))
        kind = _kind(column)
        if kind in _NUMERIC:
            values = _numeric_values(column)
            if len(values):
                numeric[name] = _numeric_summary(values, bins)
        elif kind in _CATEGORICAL:
            cats = _category_values(column)
            if cats and len(set(cats)) <= max_categories:
                categorical[name] = {"shares": _category_shares(cats)}
    prediction: Optional[dict[str, Any]] = None
    if predictions is not None:
        preds = predictions if hasattr(predictions, "dtype") else list(predictions)
        kind = _kind(preds)
        if prediction_kind is None:
            few = kind in ("i", "u") and len(set(_category_values(preds))) <= max_categories
            prediction_kind = "categorical" if kind in _CATEGORICAL or few else "numeric"
        if prediction_kind == "categorical":
            labels = _category_values(preds)
            prediction = {"kind": "categorical", "shares": _category_shares(labels)} if labels else None
        elif prediction_kind == "numeric":
            values = _numeric_values(preds)
            prediction = {"kind": "numeric", **_numeric_summary(values, bins)} if len(values) else None
        else:
            raise ValueError(f"prediction_kind must be 'numeric', 'categorical' or None, not {prediction_kind!r}")
    return {"version": 1, "rows": int(rows), "numeric": numeric, "categorical": categorical, "prediction": prediction}


def _psi(window: np.ndarray, base: np.ndarray) -> float:
    """Population stability index, shares clipped at 1e-4 to avoid log(0)."""
    w, b = np.clip(window, _EPS, None), np.clip(base, _EPS, None)
    return float(np.sum((w - b) * np.log(w / b)))


def _numeric_drift(values: list[Any], base: Mapping[str, Any]) -> dict[str, Any]:
    """Window mean, mean-shift z-score and PSI of one numeric feature against its baseline."""
    arr = np.array([_to_float(v) for v in values], dtype=float)
    arr = arr[np.isfinite(arr)]
    n = len(arr)
    mean = float(np.mean(arr)) if n else 0.0
    stderr = float(base["std"]) / math.sqrt(n) if n else 0.0
    z = (mean - float(base["mean"])) / stderr if stderr > 0 else 0.0
    psi = _psi(_bin_shares(arr, base["edges"]), np.asarray(base["shares"], dtype=float)) if n else 0.0
    return {"kind": "numeric", "values": n, "mean": _plain(mean), "mean_shift_z": _plain(z), "psi": _plain(psi)}


def _categorical_drift(values: list[Any], base: Mapping[str, Any]) -> dict[str, Any]:
    """PSI (unseen categories in an extra bucket) and unseen-category share of one categorical feature."""
    shares = base["shares"]
    counts = collections.Counter(str(v) for v in values if not _is_missing(v))
    n = sum(counts.values())
    unseen = sum(c for k, c in counts.items() if k not in shares)
    psi = 0.0
    if n:
        window = np.array([counts.get(k, 0) / n for k in shares] + [unseen / n])
        psi = _psi(window, np.array([float(s) for s in shares.values()] + [0.0]))
    return {"kind": "categorical", "values": n, "psi": _plain(psi), "unseen_share": _plain(unseen / n if n else 0.0)}


def _alert(drift: Mapping[str, Any]) -> bool:
    """Whether any statistic of one feature's drift passes its level in ALERT_LEVELS."""
    return bool(
        drift["psi"] > ALERT_LEVELS["psi"]
        or abs(drift.get("mean_shift_z", 0.0)) > ALERT_LEVELS["mean_shift_z"]
        or drift.get("unseen_share", 0.0) > ALERT_LEVELS["unseen_share"]
    )


class DriftMonitor:
    """Sliding window of served rows and predictions, compared with a baseline from ``compute_baseline``."""

    def __init__(self, baseline: dict, *, window: int = 1000, min_rows: int = 200) -> None:
        if baseline.get("version") != 1:
            raise ValueError(f"unsupported drift baseline version: {baseline.get('version')!r}")
        if window < 1 or min_rows < 1:
            raise ValueError("window and min_rows must be positive")
        self.baseline = baseline
        self.window = int(window)
        self.min_rows = int(min_rows)
        self._rows: collections.deque = collections.deque(maxlen=self.window)
        self._lock = threading.Lock()

    def observe(self, records: Iterable[Mapping[str, Any]], predictions: Iterable[Any]) -> None:
        """Append request rows (dicts column -> value, may lack columns or hold None; pydantic models are
        dumped) and their predictions to the sliding window. Thread-safe."""
        rows = [r.model_dump() if hasattr(r, "model_dump") else r for r in records]
        preds = list(predictions)
        if len(rows) != len(preds):
            raise ValueError(f"{len(rows)} records but {len(preds)} predictions")
        with self._lock:
            self._rows.extend(zip(rows, preds, strict=True))

    def report(self) -> dict[str, Any]:
        """Drift of every baseline feature and of the predictions over the current window (plain floats)."""
        with self._lock:
            rows = list(self._rows)
        n, ready = len(rows), len(rows) >= self.min_rows
        features: dict[str, Any] = {}
        for name, base in self.baseline.get("numeric", {}).items():
            features[name] = _numeric_drift([r.get(name) for r, _ in rows], base)
        for name, base in self.baseline.get("categorical", {}).items():
            features[name] = _categorical_drift([r.get(name) for r, _ in rows], base)
        for drift in features.values():
            drift["alert"] = ready and _alert(drift)
        prediction: Optional[dict[str, Any]] = None
        base_pred = self.baseline.get("prediction")
        if base_pred:
            preds = [p for _, p in rows]
            drift = (
                _numeric_drift(preds, base_pred)
                if base_pred["kind"] == "numeric"
                else _categorical_drift(preds, base_pred)
            )
            prediction = {k: drift[k] for k in ("kind", "values", "psi", "mean_shift_z") if k in drift}
            prediction["alert"] = ready and _alert(prediction)
        alert = ready and (any(f["alert"] for f in features.values()) or bool(prediction and prediction["alert"]))
        return {
            "rows_in_window": n,
            "min_rows": self.min_rows,
            "ready": ready,
            "features": features,
            "prediction": prediction,
            "alert": alert,
        }


@functools.lru_cache(maxsize=None)
def prometheus_gauges() -> dict[str, Any]:
    """The drift gauges, created once per process in the default registry (lazily: BentoML workers set
    PROMETHEUS_MULTIPROC_DIR after importing the service module)."""
    from prometheus_client import Gauge

    extra: dict[str, Any] = {"multiprocess_mode": "livemax"} if os.environ.get("PROMETHEUS_MULTIPROC_DIR") else {}
    specs = {  # key: (metric name, help, per-feature label)
        "mean_shift_z": ("nbprod_drift_mean_shift_z", "Mean-shift z-score of the window vs the baseline", True),
        "psi": ("nbprod_drift_psi", "Population stability index of the window vs the baseline", True),
        "unseen_share": ("nbprod_drift_unseen_share", "Share of window values in categories unseen in training", True),
        "prediction_psi": ("nbprod_drift_prediction_psi", "PSI of the predictions vs the baseline", False),
        "window_rows": ("nbprod_drift_window_rows", "Rows in the drift window", False),
        "alert": ("nbprod_drift_alert", "1 when drift passes ALERT_LEVELS (predictions: __prediction__)", True),
    }
    return {
        key: Gauge(name, doc, ["feature"] if labelled else [], **extra) for key, (name, doc, labelled) in specs.items()
    }


def update_gauges(report: Mapping[str, Any]) -> None:
    """Set the gauges from a ``DriftMonitor.report()``; the prediction uses feature="__prediction__"."""
    gauges = prometheus_gauges()
    gauges["window_rows"].set(report["rows_in_window"])
    items = list(report["features"].items())
    if report.get("prediction"):
        items.append((PREDICTION, report["prediction"]))
        gauges["prediction_psi"].set(report["prediction"]["psi"])
    for name, drift in items:
        gauges["psi"].labels(feature=name).set(drift["psi"])
        gauges["alert"].labels(feature=name).set(1 if drift["alert"] else 0)
        if "mean_shift_z" in drift:
            gauges["mean_shift_z"].labels(feature=name).set(drift["mean_shift_z"])
        if "unseen_share" in drift:
            gauges["unseen_share"].labels(feature=name).set(drift["unseen_share"])


#: where BentoML's HTTP app logs "Exception on /predict [POST]" with the traceback, for every refused request too
BENTOML_HTTP_LOGGER = "bentoml._internal.server.http_app"


def bad_request_line(exc: Optional[BaseException]) -> Optional[str]:
    """``status=400 field=records.0.plan (literal_error: ...)`` for a request the service refuses: pydantic's
    validation error (duck-typed: ``errors()``, ``error_count()``) or a BentoML client error (4xx); None otherwise."""
    if exc is None:
        return None
    if callable(getattr(exc, "errors", None)) and callable(getattr(exc, "error_count", None)):
        try:
            errors = exc.errors(include_url=False, include_context=False, include_input=False)  # type: ignore[attr-defined]
        except TypeError:
            errors = exc.errors()  # type: ignore[attr-defined]
        first = errors[0] if errors else {}
        field = ".".join(str(p) for p in first.get("loc", ())) or "(body)"
        count = int(exc.error_count())  # type: ignore[attr-defined]
        more = f"; {count - 1} more" if count > 1 else ""
        return f"status=400 field={field} ({first.get('type', 'invalid')}: {first.get('msg', '')}{more})"
    code = getattr(getattr(exc, "error_code", None), "value", None)
    if isinstance(code, int) and 400 <= code < 500:
        text = (str(exc).splitlines() or [""])[0][:200]
        return f"status={code} field=- ({type(exc).__name__}: {text})"
    return None


class OneLineBadRequests(logging.Filter):
    """Rewrites BentoML's record of a refused request as one WARNING line (method, path, status, field); a server
    error (5xx, anything else) keeps its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        line = bad_request_line(record.exc_info[1] if record.exc_info else None)
        if line is None:
            return True
        args = record.args if isinstance(record.args, tuple) and len(record.args) == 2 else ("?", "?")
        record.msg, record.args = "bad request %s %s: %s", (args[1], args[0], line)
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def one_line_bad_requests() -> None:
    """Install :class:`OneLineBadRequests` on BentoML's HTTP logger (once per process)."""
    logger = logging.getLogger(BENTOML_HTTP_LOGGER)
    if not any(isinstance(f, OneLineBadRequests) for f in logger.filters):
        logger.addFilter(OneLineBadRequests())
