"""What one build is (:class:`BuildContext`), what it reports (:class:`RunResult`), and when it can be skipped:
the fast path that answers "up to date" from the build record, without importing Ploomber."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from nbprod._core.hashing import sha256
from nbprod._core.layout import ProjectLayout
from nbprod.engine.record import BuildRecord, product_stats
from nbprod.events import EventKind, EventSink, StepEvent
from nbprod.gates.model import GateResult, RequirementOutcome, check_requirements
from nbprod.gates.store import stored_result
from nbprod.io import load_metrics
from nbprod.plan.model import Pipeline

__all__ = [
    "RunResult",
    "BuildContext",
    "collect_metrics",
    "fast_path",
    "generator_fingerprint",
    "gate_inputs",
    "outdated_steps",
]

log = logging.getLogger(__name__)

_PACKAGE_DIR = Path(__file__).resolve().parent.parent / "package"


@dataclass
class RunResult:
    """What a run did. ``fast_path``: nothing changed, answered from the build record without Ploomber."""

    plan: Pipeline
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    products: dict[str, dict[str, str]] = field(default_factory=dict)
    fast_path: bool = False
    tracked: Optional[dict[str, Any]] = None  #: run_id, experiment, model_version, kind, tracking_uri
    bento_tag: Optional[str] = None
    missing_card_fields: list[str] = field(default_factory=list)
    gates: list[GateResult] = field(default_factory=list)
    requirements: list[RequirementOutcome] = field(default_factory=list)

    @property
    def up_to_date(self) -> bool:
        return not self.ran


@dataclass
class BuildContext:
    """Everything the phases of one run share."""

    notebook: Union[str, Path]
    layout: ProjectLayout
    plan: Pipeline
    spec: dict[str, Any]
    pdir: Path
    nb_dir: Path
    mode: str
    overrides: dict[str, Any]
    products: dict[str, dict[str, Path]]
    emit: EventSink

    @property
    def project(self) -> Path:
        return self.layout.root


def gate_inputs(plan: Pipeline, layout: ProjectLayout) -> dict[str, list[str]]:
    """What a step's gates depend on besides its products: suite contents and thresholds."""
    out: dict[str, list[str]] = {}
    for step in plan.steps:
        items = []
        for var in step.gates:
            suite = layout.suite(plan.name, var)
            items.append(sha256(suite.read_bytes()) if suite.exists() else f"missing:{var}")
        items += [str(r) for r, _ in step.requires]
        out[step.name] = items
    return out


def collect_metrics(products: dict[str, dict[str, Path]]) -> dict[str, float]:
    """The metrics every step saved (``metrics.json`` products), merged."""
    metrics: dict[str, float] = {}
    for prods in products.values():
        p = prods.get("metrics")
        if p is not None and p.exists():
            metrics.update(load_metrics(p))
    return metrics


def generator_fingerprint() -> str:
    """The code that renders the Bento: when nbprod is upgraded, a no-op run still re-packages."""
    return sha256("".join(p.read_text() for p in sorted(_PACKAGE_DIR.glob("*.py"))))[:16]


def _previous_gate_results(b: BuildContext, result: RunResult) -> None:
    """On a no-op run, report the gates of the last build (they passed then, for the same suites and data)."""
    for step in b.plan.steps:
        for var in step.gates:
            stored = stored_result(b.project, b.plan.name, var)
            if stored is not None:
                result.gates.append(stored)
        result.requirements += check_requirements(step, result.metrics)


def all_products(b: BuildContext) -> list[Path]:
    return [p for prods in b.products.values() for p in prods.values()]


def fast_path(
    b: BuildContext,
    previous: Optional[BuildRecord],
    fps: dict[str, str],
    result: RunResult,
    *,
    track: bool,
    package: bool,
) -> bool:
    """Answer from the build record when nothing changed. Returns False (and logs why) when a build is needed."""
    if previous is None:
        log.debug("full build: no build record for %s", b.plan.name)
        return False
    if track and not previous.tracked:
        log.debug("build: the last build was not tracked")
        return False
    if package and any(s.model for s in b.plan.steps):
        if not previous.bento_tag:
            log.debug("build: the last build was not packaged")
            return False
        if previous.generator != generator_fingerprint():
            log.debug("build: nbprod's packaging code changed since the last build")
            return False
    changed = sorted(s for s in set(fps) | set(previous.steps) if fps.get(s) != previous.steps.get(s))
    if changed:
        log.debug("build: fingerprints changed for steps %s", ", ".join(changed))
        return False
    stats = product_stats(all_products(b))
    if stats != previous.products or any(v is None for v in stats.values()):
        log.debug(
            "build: products changed or are missing: %s",
            ", ".join(sorted(p for p, s in stats.items() if s is None or previous.products.get(p) != s)),
        )
        return False
    log.debug("fast path: every fingerprint and product matches the build record")
    for s in b.plan.steps:
        b.emit(StepEvent(EventKind.SKIPPED, s.name, message="up to date"))
    result.skipped = [s.name for s in b.plan.steps]
    result.fast_path = True
    result.metrics = collect_metrics(b.products)
    _previous_gate_results(b, result)
    result.tracked = previous.tracked
    result.bento_tag = previous.bento_tag
    b.emit(
        StepEvent(
            EventKind.NOTE,
            message="nothing changed: no new MLflow run or Bento"
            + (f" (last run {result.tracked['run_id']})" if result.tracked else ""),
        )
    )
    return True


def outdated_steps(b: BuildContext, previous: Optional[BuildRecord], fps: dict[str, str]) -> Optional[list[str]]:
    """The steps to re-run when the build record alone decides it (run without Ploomber), or None (and why, logged)
    when Ploomber must decide: no record, another set of steps, or a product of an up-to-date step changed or missing.
    A fingerprint covers the upstream ones, so the list holds everything downstream of a change."""
    if os.environ.get("NBPROD_DIRECT", "1") == "0":
        log.debug("Ploomber decides: NBPROD_DIRECT=0")
        return None
    if previous is None or set(previous.steps) != set(fps):
        log.debug("Ploomber decides: %s", "no build record" if previous is None else "the steps changed")
        return None
    changed = [s.name for s in b.plan.steps if fps.get(s.name) != previous.steps.get(s.name)]
    kept = [p for s, prods in b.products.items() if s not in changed for p in prods.values()]
    stats = product_stats(kept)
    if any(v is None or previous.products.get(p) != v for p, v in stats.items()):
        log.debug("Ploomber decides: a product of an up-to-date step changed or is missing")
        return None
    log.debug("the build record decides: %s out of date, run without Ploomber", ", ".join(changed) or "nothing")
    return changed
