"""Champion/challenger in one served Bento: the router, the rollback rule, the per-model metrics.

Copied into the canary Bento as ``nbprod_canary.py``: it imports nothing of nbprod (``prometheus_client`` lazily).

- :class:`Router`: which model answers a request. A request's key (its ``x-request-id`` header, else the canonical
  JSON of its records) is hashed (SHA-256) into one of 10,000 buckets; buckets below ``percent`` x 100 go to the
  candidate, so the same request always goes to the same model. In shadow mode the champion always answers and the
  candidate only scores. After a rollback every request goes to the champion.
- :func:`decide`: the rollback rule, pure. Once both models have scored ``min_requests`` requests, the candidate is
  rolled back when its error rate exceeds the champion's by more than ``error_margin``, or when its predictions moved
  away from the champion's by more than ``shift_margin`` (classification: total variation distance between the two
  predicted-label distributions, 0..1; regression: difference of the mean predictions in champion standard deviations).
- :class:`Canary`: counts per model (thread-safe), the decision after each request, the events it writes (one JSON
  file each, written atomically into the state folder the parent ``nbprod serve --canary`` watches): ``passed.json``
  when the candidate first holds over ``min_requests``, ``rollback.json`` when the rule fires. A worker that restarts
  finds ``rollback.json`` and stays rolled back.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import math
import os
import tempfile
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

__all__ = [
    "CHAMPION",
    "CANDIDATE",
    "BUCKETS",
    "RuleSettings",
    "ModelStats",
    "Decision",
    "Router",
    "Canary",
    "route_key",
    "bucket",
    "prediction_shift",
    "decide",
    "prometheus_metrics",
    "record_metrics",
]

CHAMPION, CANDIDATE = "champion", "candidate"
BUCKETS = 10_000
ROLLBACK_FILE, PASSED_FILE = "rollback.json", "passed.json"


@dataclass(frozen=True)
class RuleSettings:
    """``[tool.nbprod.canary]``: ``min-requests``, ``error-margin``, ``shift-margin``."""

    min_requests: int = 100
    error_margin: float = 0.05
    shift_margin: float = 0.2


def route_key(request_id: Optional[str], records: Iterable[Mapping[str, Any]]) -> str:
    """What a request is routed by: its request id when the client sends one, else its records."""
    if request_id:
        return "id:" + request_id
    return "rows:" + json.dumps(list(records), sort_keys=True, default=str, separators=(",", ":"))


def bucket(key: str) -> int:
    """A stable bucket in ``0..BUCKETS-1`` (SHA-256: the same on every machine and every Python)."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") % BUCKETS


class Router:
    """Which model answers: the candidate for ``percent`` % of the request keys (never in shadow mode)."""

    def __init__(self, percent: float, shadow: bool = False) -> None:
        if not 0 <= percent <= 100:
            raise ValueError(f"the canary percentage must be between 0 and 100, not {percent!r}")
        self.percent, self.shadow, self.rolled_back = float(percent), shadow, False

    def answering(self, key: str) -> str:
        if self.shadow or self.rolled_back:
            return CHAMPION
        return CANDIDATE if bucket(key) < round(self.percent * BUCKETS / 100) else CHAMPION

    def scoring(self, key: str) -> list[str]:
        """The models that score this request, the answering one first."""
        first = self.answering(key)
        return [CHAMPION, CANDIDATE] if self.shadow and not self.rolled_back else [first]


@dataclass
class ModelStats:
    """What one model did: requests scored, requests that raised, and its predictions' distribution."""

    requests: int = 0
    errors: int = 0
    rows: int = 0
    labels: dict[str, int] = field(default_factory=dict)  # classification: predicted label -> rows
    total: float = 0.0  # regression: sum and sum of squares of the predictions
    total_sq: float = 0.0

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def observe(self, predictions: Iterable[Any], task: str) -> None:
        self.requests += 1
        for p in predictions:
            self.rows += 1
            if task == "classification":
                self.labels[str(p)] = self.labels.get(str(p), 0) + 1
            else:
                value = float(p)
                self.total += value
                self.total_sq += value * value

    def observe_error(self) -> None:
        self.requests += 1
        self.errors += 1

    def mean_sd(self) -> tuple[float, float]:
        if not self.rows:
            return 0.0, 0.0
        mean = self.total / self.rows
        return mean, math.sqrt(max(self.total_sq / self.rows - mean * mean, 0.0))


def prediction_shift(champion: ModelStats, candidate: ModelStats, task: str) -> Optional[float]:
    """How far the candidate's predictions are from the champion's (None until both predicted something)."""
    if not champion.rows or not candidate.rows:
        return None
    if task == "classification":
        labels = set(champion.labels) | set(candidate.labels)
        return 0.5 * sum(
            abs(champion.labels.get(k, 0) / champion.rows - candidate.labels.get(k, 0) / candidate.rows) for k in labels
        )
    (m_a, sd_a), (m_b, _) = champion.mean_sd(), candidate.mean_sd()
    if sd_a == 0:
        return 0.0 if m_a == m_b else math.inf
    return abs(m_b - m_a) / sd_a


@dataclass(frozen=True)
class Decision:
    state: str  # collecting | holding | rollback
    reason: str = ""
    shift: Optional[float] = None


def decide(champion: ModelStats, candidate: ModelStats, settings: RuleSettings, task: str) -> Decision:
    """The rollback rule (see the module docstring)."""
    n = settings.min_requests
    if champion.requests < n or candidate.requests < n:
        return Decision("collecting")
    shift = prediction_shift(champion, candidate, task)
    delta = candidate.error_rate - champion.error_rate
    if delta > settings.error_margin:
        return Decision(
            "rollback",
            f"the candidate's error rate {candidate.error_rate:.1%} ({candidate.errors} of {candidate.requests} "
            f"requests) exceeds the champion's {champion.error_rate:.1%} by more than {settings.error_margin:.1%}",
            shift,
        )
    if shift is not None and shift > settings.shift_margin:
        what = "label distribution" if task == "classification" else "mean prediction"
        return Decision(
            "rollback",
            f"the candidate's {what} moved {shift:.3f} from the champion's (margin {settings.shift_margin}) over "
            f"{candidate.requests} requests",
            shift,
        )
    return Decision("holding", "", shift)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, sort_keys=True, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Canary:
    """The router, the counts per model, the rule and its events; ``state_dir`` None keeps events in memory."""

    def __init__(
        self,
        percent: float,
        *,
        shadow: bool = False,
        settings: RuleSettings = RuleSettings(),
        task: str = "classification",
        state_dir: Optional[str] = None,
        facts: Optional[Mapping[str, Any]] = None,
    ) -> None:
        self.router, self.settings, self.task = Router(percent, shadow), settings, task
        self.stats = {CHAMPION: ModelStats(), CANDIDATE: ModelStats()}
        self.state_dir = Path(state_dir) if state_dir else None
        self.facts = dict(facts or {})
        self.events: dict[str, dict[str, Any]] = {}
        self.decision = Decision("collecting")
        self._lock = threading.Lock()
        if self.state_dir is not None and (self.state_dir / ROLLBACK_FILE).exists():
            self.router.rolled_back = True  # a restarted worker stays rolled back
            self.events["auto-rollback"] = json.loads((self.state_dir / ROLLBACK_FILE).read_text())

    def observe(self, model: str, predictions: Optional[list[Any]]) -> Decision:
        """Count one request scored by ``model`` (``predictions`` None: it raised); returns the decision."""
        with self._lock:
            stats = self.stats[model]
            if predictions is None:
                stats.observe_error()
            else:
                stats.observe(predictions, self.task)
            if self.router.rolled_back:
                return self.decision
            self.decision = decide(self.stats[CHAMPION], self.stats[CANDIDATE], self.settings, self.task)
            if self.decision.state == "rollback":
                self.router.rolled_back = True
                self._event("auto-rollback", ROLLBACK_FILE)
            elif self.decision.state == "holding" and "canary-passed" not in self.events:
                self._event("canary-passed", PASSED_FILE)
            return self.decision

    def _event(self, action: str, filename: str) -> None:
        event = {"action": action, "at": _now(), **self.report_unlocked(), **self.facts}
        self.events[action] = event
        if self.state_dir is not None:
            _write_json(self.state_dir / filename, event)

    def report_unlocked(self) -> dict[str, Any]:
        return {
            "mode": "shadow" if self.router.shadow else "split",
            "percent": self.router.percent,
            "rolled_back": self.router.rolled_back,
            "decision": self.decision.state,
            "reason": self.decision.reason,
            "shift": self.decision.shift,
            "rule": asdict(self.settings),
            "models": {name: self._stats(s) for name, s in self.stats.items()},
        }

    def _stats(self, stats: ModelStats) -> dict[str, Any]:
        out = {**asdict(stats), "error_rate": stats.error_rate}
        if self.task == "classification":
            del out["total"], out["total_sq"]
        else:
            del out["labels"]
            out["mean"], out["sd"] = stats.mean_sd()
        return out

    def report(self) -> dict[str, Any]:
        """What ``/canary/`` shows: mode, counts per model, the decision and the events so far."""
        with self._lock:
            return {**self.report_unlocked(), "events": sorted(self.events), **self.facts}


@functools.lru_cache(maxsize=None)
def prometheus_metrics() -> dict[str, Any]:
    """Per-model metrics (label ``model="champion"|"candidate"``), created once per process (lazily: BentoML workers
    set PROMETHEUS_MULTIPROC_DIR after importing the service module)."""
    from prometheus_client import Counter, Gauge, Histogram

    extra: dict[str, Any] = {"multiprocess_mode": "livemax"} if os.environ.get("PROMETHEUS_MULTIPROC_DIR") else {}
    m = ["model"]
    return {
        "requests": Counter("nbprod_canary_requests", "Requests scored, by model and outcome", [*m, "outcome"]),
        "latency": Histogram("nbprod_canary_latency_seconds", "Scoring time per request, by model", m),
        "labels": Counter("nbprod_canary_predictions", "Predicted labels (classification), by model", [*m, "label"]),
        "mean": Gauge("nbprod_canary_prediction_mean", "Mean prediction so far (regression), by model", m, **extra),
        "rolled_back": Gauge("nbprod_canary_rolled_back", "1 once the candidate was rolled back", **extra),
        "percent": Gauge("nbprod_canary_candidate_percent", "Share of the traffic the candidate answers", **extra),
    }


def record_metrics(model: str, predictions: Optional[list[Any]], seconds: float, canary: Canary) -> None:
    """One scored request in the Prometheus metrics."""
    task = canary.task
    metrics = prometheus_metrics()
    metrics["requests"].labels(model=model, outcome="error" if predictions is None else "ok").inc()
    metrics["latency"].labels(model=model).observe(seconds)
    if task == "classification":
        for p in predictions or ():
            metrics["labels"].labels(model=model, label=str(p)).inc()
    else:
        metrics["mean"].labels(model=model).set(canary.stats[model].mean_sd()[0])
    metrics["rolled_back"].set(1 if canary.router.rolled_back else 0)
    metrics["percent"].set(0 if canary.router.rolled_back or canary.router.shadow else canary.router.percent)
