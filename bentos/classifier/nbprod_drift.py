"""Input and prediction drift monitoring for the generated prediction service.

Self-contained on purpose: this file is copied verbatim into the Bento build context (as ``nbprod_drift.py``)
and imported by the generated service, so it imports only the standard library and numpy at import time
(``prometheus_client`` lazily, pandas never: DataFrames are accepted duck-typed).

``compute_baseline`` summarises the training inputs and predictions (mean/std, training-quantile bins and ECDF for
numeric columns, category shares for categorical ones) into a JSON-serialisable dict. ``DriftMonitor`` keeps a
sliding window of served rows and compares it with the baseline: mean-shift z-score, PSI, unseen-category share;
and, against the training data and against the ``window`` rows served before (a rolling baseline: sudden drift shows
against training, slow drift against the previous window), a standard two-sample test: Kolmogorov-Smirnov for
numeric features, chi-square of homogeneity for categorical ones and numeric ones with few values (categories
expected under 5 times pooled); asymptotic p-values (``scipy.special``, lazily). Nothing alerts until the window
holds ``min_rows`` rows (PSI needs hundreds).
"""

from __future__ import annotations

import collections
import functools
import math
import os
import threading
from collections.abc import Iterable, Mapping
from typing import Any, Optional

import numpy as np

__all__ = ["ALERT_LEVELS", "compute_baseline", "DriftMonitor", "prometheus_gauges", "update_gauges"]

ALERT_LEVELS = {"psi": 0.2, "mean_shift_z": 4.0, "unseen_share": 0.05, "p_value": 0.01}
PREDICTION = "__prediction__"  # feature label of the prediction in the gauges
_EPS = 1e-4  # shares are clipped at this value before the log in PSI
_NUMERIC = frozenset("iuf")  # numpy dtype kinds of numeric columns
_CATEGORICAL = frozenset("bOUS")  # bool, object (str, category, pandas strings), numpy str/bytes
_CDF_POINTS = 101  # training ECDF kept at (at most) this many quantiles for the KS test
_MIN_EXPECTED = 5.0  # chi-square: categories expected fewer times than this in a sample are pooled
_DISCRETE = 20  # a numeric feature with at most this many distinct training quantiles gets the chi-square test


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
    """Mean, sample std, deduplicated inner quantile edges, the share of values per bin, the value count and the
    ECDF at the distinct quantiles (exact at every value of a column with few distinct values)."""
    inner = np.quantile(values, np.linspace(0.0, 1.0, bins + 1)[1:-1]) if bins > 1 else np.array([])
    edges = sorted({float(e) for e in inner})
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    points = np.unique(np.quantile(values, np.linspace(0.0, 1.0, _CDF_POINTS)))
    cdf = np.searchsorted(np.sort(values), points, side="right") / len(values)
    return {
        "mean": float(np.mean(values)),
        "std": std,
        "edges": edges,
        "shares": [float(s) for s in _bin_shares(values, edges)],
        "count": int(len(values)),
        "cdf": [[float(t), float(f)] for t, f in zip(points, cdf)],
    }


def _category_shares(values: list[str]) -> dict[str, float]:
    """Share of each category, keys sorted for a deterministic baseline."""
    counts = collections.Counter(values)
    return {k: counts[k] / len(values) for k in sorted(counts)}


def compute_baseline(
    frame: Any, predictions: Any, *, bins: int = 10, max_categories: int = 50, prediction_kind: Optional[str] = None
) -> dict[str, Any]:
    """Summarise the training inputs and the model's predictions on them (see the module docstring).

    ``frame``: a pandas DataFrame (duck-typed; a mapping of columns or a list of records also work). Numeric
    columns (int/uint/float) get ``_numeric_summary``; object/string/category/bool columns with at most
    ``max_categories`` categories their category shares (keys ``str(value)``) and count. Other columns, and columns
    without any value, are skipped; NaNs are ignored. ``predictions``: numbers or class labels (None: no prediction
    baseline). ``prediction_kind`` forces "numeric" or "categorical"; by default float predictions are numeric,
    strings and bools categorical, integers categorical when they take at most ``max_categories`` values.
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
                categorical[name] = {"shares": _category_shares(cats), "count": len(cats)}
    prediction: Optional[dict[str, Any]] = None
    if predictions is not None:
        preds = predictions if hasattr(predictions, "dtype") else list(predictions)
        kind = _kind(preds)
        if prediction_kind is None:
            few = kind in ("i", "u") and len(set(_category_values(preds))) <= max_categories
            prediction_kind = "categorical" if kind in _CATEGORICAL or few else "numeric"
        if prediction_kind == "categorical":
            labels = _category_values(preds)
            prediction = {"kind": "categorical", "shares": _category_shares(labels), "count": len(labels)}
            prediction = prediction if labels else None
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


def _ks_p(d: float, n: int, m: int) -> float:
    """Asymptotic p-value of the two-sample Kolmogorov-Smirnov statistic ``d`` for samples of ``n`` and ``m``, with
    Stephens' finite-sample correction (the bare limit is conservative for small samples)."""
    from scipy.special import kolmogorov

    en = math.sqrt(n * m / (n + m))
    return float(kolmogorov((en + 0.12 + 0.11 / en) * d))


def _ks(a: np.ndarray, b: np.ndarray) -> Optional[tuple[float, float]]:
    """Two-sample KS statistic and p-value (exact statistic, ties included); None when a sample is empty."""
    if not len(a) or not len(b):
        return None
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    d = float(np.max(np.abs(np.searchsorted(a, grid, "right") / len(a) - np.searchsorted(b, grid, "right") / len(b))))
    return d, _ks_p(d, len(a), len(b))


def _ks_training(arr: np.ndarray, base: Mapping[str, Any]) -> Optional[tuple[float, float]]:
    """KS statistic and p-value of the window against the training ECDF of the baseline (None: no ECDF in it)."""
    if not len(arr) or not base.get("cdf") or not base.get("count"):
        return None
    points, cdf = np.array(base["cdf"], dtype=float).T
    d = float(np.max(np.abs(np.searchsorted(np.sort(arr), points, "right") / len(arr) - cdf)))
    return d, _ks_p(d, len(arr), int(base["count"]))


def _chi2(a: Mapping[str, float], b: Mapping[str, float]) -> Optional[tuple[float, float]]:
    """Chi-square test of homogeneity of two category count tables; categories expected fewer than 5 times in
    the smaller sample are pooled into one column. None when fewer than two columns remain."""
    na, nb = sum(a.values()), sum(b.values())
    if na <= 0 or nb <= 0:
        return None
    cats = sorted(set(a) | set(b))
    small = min(na, nb) / (na + nb)
    keep = [k for k in cats if (a.get(k, 0) + b.get(k, 0)) * small >= _MIN_EXPECTED]
    rest = [k for k in cats if k not in keep]
    table = np.array([[s.get(k, 0) for k in keep] + [sum(s.get(k, 0) for k in rest)] for s in (a, b)], dtype=float)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return None
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    stat = float(np.sum((table - expected) ** 2 / expected))
    from scipy.special import chdtrc

    return stat, float(chdtrc(table.shape[1] - 1, stat))


def _with_tests(out: dict[str, Any], training: Any, previous: Any) -> dict[str, Any]:
    """Add the statistic and p-value against training and against the previous window (None when unavailable)."""
    for ref, res in (("training", training), ("previous", previous)):
        out[f"statistic_{ref}"] = None if res is None else _plain(res[0])
        out[f"p_{ref}"] = None if res is None else _plain(res[1])
    return out


def _numeric_drift(values: list[Any], base: Mapping[str, Any], previous: Optional[list[Any]] = None) -> dict[str, Any]:
    """Window mean, mean-shift z-score, PSI and KS tests of one numeric feature (``previous``: the rows before)."""
    arr = _numeric_values(values)
    n = len(arr)
    mean = float(np.mean(arr)) if n else 0.0
    stderr = float(base["std"]) / math.sqrt(n) if n else 0.0
    z = (mean - float(base["mean"])) / stderr if stderr > 0 else 0.0
    psi = _psi(_bin_shares(arr, base["edges"]), np.asarray(base["shares"], dtype=float)) if n else 0.0
    out = {"kind": "numeric", "values": n, "mean": _plain(mean), "mean_shift_z": _plain(z), "psi": _plain(psi)}
    prev, cdf = _numeric_values(previous or []), base.get("cdf") or []
    if not 0 < len(cdf) <= _DISCRETE or not base.get("count"):
        return _with_tests({**out, "test": "ks"}, _ks_training(arr, base), _ks(arr, prev))
    points, below = np.array(cdf, dtype=float).T  # few values: chi-square over them (KS is far too conservative)
    train = {str(i): float(s) * base["count"] for i, s in enumerate(np.diff(below, prepend=0.0))}
    window = _value_counts(arr, points)
    return _with_tests({**out, "test": "chi2"}, _chi2(window, train), _chi2(window, _value_counts(prev, points)))


def _value_counts(arr: np.ndarray, points: np.ndarray) -> dict[str, float]:
    """Counts per training value (bin j holds the values in (points[j-1], points[j]]; above the last: a new bin)."""
    bins, counts = np.unique(np.searchsorted(points, arr, side="left"), return_counts=True)
    return {str(b): float(c) for b, c in zip(bins, counts)}


def _categorical_drift(
    values: list[Any], base: Mapping[str, Any], previous: Optional[list[Any]] = None
) -> dict[str, Any]:
    """PSI (unseen categories in an extra bucket), unseen-category share and chi-square tests of one categorical
    feature (``previous``: the rows before the window)."""
    shares = base["shares"]
    counts = collections.Counter(str(v) for v in values if not _is_missing(v))
    n = sum(counts.values())
    unseen = sum(c for k, c in counts.items() if k not in shares)
    psi = 0.0
    if n:
        window = np.array([counts.get(k, 0) / n for k in shares] + [unseen / n])
        psi = _psi(window, np.array([float(s) for s in shares.values()] + [0.0]))
    out = {"kind": "categorical", "values": n, "psi": _plain(psi), "unseen_share": _plain(unseen / n if n else 0.0)}
    training = {k: float(s) * base["count"] for k, s in shares.items()} if base.get("count") else {}
    prev = collections.Counter(str(v) for v in previous or [] if not _is_missing(v))
    return _with_tests({**out, "test": "chi2"}, _chi2(counts, training), _chi2(counts, prev))


def _alert(drift: Mapping[str, Any], levels: Mapping[str, float], previous_ready: bool) -> bool:
    """Whether any statistic of one feature's drift passes its level (the previous-window test only once that
    window holds ``min_rows`` rows)."""
    p_prev = drift.get("p_previous") if previous_ready else None
    return bool(
        drift["psi"] > levels["psi"]
        or abs(drift.get("mean_shift_z", 0.0)) > levels["mean_shift_z"]
        or drift.get("unseen_share", 0.0) > levels["unseen_share"]
        or min(p for p in (drift.get("p_training"), p_prev, 1.0) if p is not None) < levels["p_value"]
    )


class DriftMonitor:
    """Sliding window of served rows and predictions, compared with a baseline from ``compute_baseline`` and
    with the ``window`` rows before it; ``levels`` overrides ALERT_LEVELS."""

    def __init__(
        self, baseline: dict, *, window: int = 1000, min_rows: int = 200, levels: Optional[Mapping] = None
    ) -> None:
        if baseline.get("version") != 1:
            raise ValueError(f"unsupported drift baseline version: {baseline.get('version')!r}")
        if window < 1 or min_rows < 1:
            raise ValueError("window and min_rows must be positive")
        self.baseline = baseline
        self.window = int(window)
        self.min_rows = int(min_rows)
        self.levels = {**ALERT_LEVELS, **(levels or {})}
        self._rows: collections.deque = collections.deque(maxlen=2 * self.window)  # previous + current window
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
        old, rows = rows[: max(len(rows) - self.window, 0)], rows[-self.window :]
        n, ready, old_ready = len(rows), len(rows) >= self.min_rows, len(old) >= self.min_rows
        features: dict[str, Any] = {}
        kinds = (("numeric", _numeric_drift), ("categorical", _categorical_drift))
        for kind, fn in kinds:
            for name, base in self.baseline.get(kind, {}).items():
                features[name] = fn([r.get(name) for r, _ in rows], base, [r.get(name) for r, _ in old])
        for drift in features.values():
            drift["alert"] = ready and _alert(drift, self.levels, old_ready)
        prediction: Optional[dict[str, Any]] = None
        base_pred = self.baseline.get("prediction")
        if base_pred:
            fn = dict(kinds)[base_pred["kind"]]
            drift = fn([p for _, p in rows], base_pred, [p for _, p in old])
            prediction = {k: v for k, v in drift.items() if k not in ("mean", "unseen_share")}
            prediction["alert"] = ready and _alert(prediction, self.levels, old_ready)
        alert = ready and (any(f["alert"] for f in features.values()) or bool(prediction and prediction["alert"]))
        return {
            "rows_in_window": n,
            "rows_in_previous": len(old),
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
    f, ref = ("feature",), ("feature", "reference", "test")
    specs = {  # key: (metric name, help, labels)
        "mean_shift_z": ("nbprod_drift_mean_shift_z", "Mean-shift z-score of the window vs the baseline", f),
        "psi": ("nbprod_drift_psi", "Population stability index of the window vs the baseline", f),
        "unseen_share": ("nbprod_drift_unseen_share", "Share of window values in categories unseen in training", f),
        "prediction_psi": ("nbprod_drift_prediction_psi", "PSI of the predictions vs the baseline", ()),
        "window_rows": ("nbprod_drift_window_rows", "Rows in the drift window", ()),
        "previous_rows": ("nbprod_drift_previous_rows", "Rows in the previous window (the rolling baseline)", ()),
        "alert": ("nbprod_drift_alert", "1 when drift passes ALERT_LEVELS (predictions: __prediction__)", f),
        "p_value": ("nbprod_drift_p_value", "p-value of the drift test (ks|chi2) vs training|previous window", ref),
        "statistic": ("nbprod_drift_statistic", "Statistic of the drift test (KS D or chi-square)", ref),
    }
    return {key: Gauge(name, doc, list(labels), **extra) for key, (name, doc, labels) in specs.items()}


def update_gauges(report: Mapping[str, Any]) -> None:
    """Set the gauges from a ``DriftMonitor.report()``; the prediction uses feature="__prediction__"."""
    gauges = prometheus_gauges()
    gauges["window_rows"].set(report["rows_in_window"])
    gauges["previous_rows"].set(report.get("rows_in_previous", 0))
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
        for ref in ("training", "previous") if "test" in drift else ():  # NaN: no test yet (Prometheus ignores it)
            labels = {"feature": name, "reference": ref, "test": drift["test"]}
            for key, field in (("p_value", "p_"), ("statistic", "statistic_")):
                value = drift.get(field + ref)
                gauges[key].labels(**labels).set(math.nan if value is None else value)
