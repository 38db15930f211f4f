"""The drift picture: for each feature that drifted, its training distribution against the live one (SVG or PNG).

Numeric features: densities over the training-quantile bins of the drift baseline (the outer bins reach the smallest
and largest value seen); categorical ones: the share of each category (categories unseen in training included).
matplotlib (the Agg backend, its object API: no pyplot state) is imported here only, inside :func:`draw_picture`.
The SVG is deterministic: fixed ``svg.hashsalt``, no date, text kept as text; written atomically.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

from nbprod._core.fsutil import atomic_write_text
from nbprod.errors import UsageError
from nbprod.workflow.monitor import PREDICTION, FeatureStatus, MonitorResult

__all__ = ["default_picture", "drifted_features", "draw_picture"]

_TRAIN, _LIVE = "#4c72b0", "#dd8452"


def default_picture(result: MonitorResult) -> Path:
    """``drift.svg`` in the prediction log's folder."""
    log = Path(result.log or ".")
    return (log if log.is_dir() else log.parent) / "drift.svg"


def drifted_features(result: MonitorResult) -> list[FeatureStatus]:
    """The input features that alert (the prediction has no values in the log)."""
    return [f for f in result.features if f.status == "ALERT" and f.feature != PREDICTION]


def _floats(values: list[Any]) -> list[float]:
    out = []
    for v in values:
        try:
            x = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(x):
            out.append(x)
    return out


def _numeric(ax: Any, base: dict[str, Any], live: list[float]) -> None:
    import numpy as np

    inner = [float(e) for e in base["edges"]]
    cdf = base.get("cdf") or []
    seen = [float(cdf[0][0]), float(cdf[-1][0])] if cdf else []  # the smallest and largest training values
    lo, hi = min([*seen, *inner, *live], default=0.0), max([*seen, *inner, *live], default=1.0)
    edges = np.array([lo, *inner, hi], dtype=float)
    widths = np.diff(edges)
    safe = np.where(widths > 0, widths, 1.0)
    train = np.asarray(base["shares"], dtype=float)
    counts = np.bincount(np.searchsorted(np.asarray(inner, dtype=float), live, side="right"), minlength=len(widths))
    shares = counts / max(len(live), 1)
    ax.stairs(train / safe, edges, label=f"training (n={base.get('count', '?')})", color=_TRAIN, linewidth=1.6)
    ax.stairs(shares / safe, edges, label=f"live (n={len(live)})", color=_LIVE, linewidth=1.6, fill=True, alpha=0.35)
    ax.set_ylabel("density")


def _categorical(ax: Any, base: dict[str, Any], live: list[Any]) -> None:
    shares = base["shares"]
    values = [str(v) for v in live if v is not None]
    cats = list(shares) + sorted({v for v in values if v not in shares})
    live_shares = [values.count(c) / max(len(values), 1) for c in cats]
    xs = list(range(len(cats)))
    ax.bar([x - 0.2 for x in xs], [shares.get(c, 0.0) for c in cats], width=0.4, color=_TRAIN,
           label=f"training (n={base.get('count', '?')})")  # fmt: skip
    ax.bar([x + 0.2 for x in xs], live_shares, width=0.4, color=_LIVE, label=f"live (n={len(values)})")
    ax.set_xticks(xs, [c if c in shares else f"{c} (unseen)" for c in cats])
    ax.set_ylabel("share")


def _title(f: FeatureStatus) -> str:
    p = "-" if f.p_training is None else f"{f.p_training:.2g}"
    return f"{f.feature}: {f.test} p={p} vs training, PSI {f.psi:.2f}, window {f.window}"


def draw_picture(result: MonitorResult, out: Path) -> list[str]:
    """Draw the drifted features of ``result`` (from the prediction log: it holds the values) into ``out`` (.svg or
    .png); returns the features drawn (none drifted: nothing is written)."""
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in ("svg", "png"):
        raise UsageError(f"--picture {out}: the picture is an .svg or a .png file", fix="e.g. --picture drift.svg")
    features = drifted_features(result)
    if not features:
        return []
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    with matplotlib.rc_context({"svg.hashsalt": "nbprod", "svg.fonttype": "none", "font.size": 9}):
        fig = Figure(figsize=(7.0, 2.6 * len(features)), layout="constrained")
        axes = fig.subplots(len(features), 1, squeeze=False)[:, 0]
        for ax, f in zip(axes, features):
            live = [r.get(f.feature) for r in result.window_records]
            if f.kind == "numeric":
                _numeric(ax, result.baseline["numeric"][f.feature], _floats(live))
            else:
                _categorical(ax, result.baseline["categorical"][f.feature], live)
            ax.set_title(_title(f), loc="left")
            ax.legend(loc="upper right", frameon=False)
        fig.suptitle(f"drift: training vs live ({Path(result.log or '-').name})", x=0.01, ha="left")
        buf = io.BytesIO() if fmt == "png" else io.StringIO()
        fig.savefig(buf, format=fmt, metadata={"Date": None} if fmt == "svg" else {"Software": None})
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "svg":
        atomic_write_text(out, buf.getvalue())  # type: ignore[arg-type]
    else:
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_bytes(buf.getvalue())  # type: ignore[arg-type]
        tmp.replace(out)
    return [f.feature for f in features]
