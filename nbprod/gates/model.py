"""What a gate says: the outcome of each expectation, the result of a data gate, the outcome of an evaluation gate.

No Great Expectations here: these types are read back from ``.nbprod/gates/`` (the cache, reviews, approvals)
and built by :mod:`nbprod.gates.validate`, so they sit below both the validator and the store.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from nbprod.errors import CellRef
from nbprod.plan.model import Step

__all__ = [
    "ExpectationOutcome",
    "GateResult",
    "RequirementOutcome",
    "check_requirements",
    "jsonable",
    "short",
]


def jsonable(value: Any) -> Any:
    """A JSON-serialisable, deterministic copy of ``value``, for gate results and the model card alike.

    Dicts get string keys in sorted order; tuples become lists, sets sorted lists; array-likes and numpy scalars
    (``.tolist()``) become lists and Python numbers; other objects become their ``str``. Non-finite floats become
    their text (``"nan"``, ``"inf"``, ``"-inf"``): JSON has no NaN, ``null`` would read as "not recorded", and it is
    the policy the model card always had (``tests/golden/model_card`` stays byte-identical). Typed numeric fields
    that must be a number or nothing (``ExpectationOutcome.unexpected_percent``) use :func:`finite` instead.
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((jsonable(v) for v in value), key=repr)
    if callable(getattr(value, "tolist", None)):
        return jsonable(value.tolist())
    return str(value)


def finite(value: Any) -> Optional[float]:
    """``value`` as a finite float, or None (missing, NaN, infinite or not a number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def short(value: Any, limit: int = 120) -> str:
    """A one-line rendering of an observed value or expectation kwargs, cut at ``limit`` characters."""
    text = json.dumps(value, default=str, sort_keys=True) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass
class ExpectationOutcome:
    index: int
    type: str
    column: Optional[str]
    severity: str
    success: bool
    observed: Any = None
    unexpected_count: Optional[int] = None
    unexpected_percent: Optional[float] = None
    examples: list = field(default_factory=list)
    kwargs: dict = field(default_factory=dict)

    def describe(self) -> str:
        col = f"column {self.column!r}: " if self.column else ""
        text = f"{col}{self.type}"
        if self.unexpected_count:
            pct = f" ({self.unexpected_percent:.1f}%)" if self.unexpected_percent is not None else ""
            text += f", {self.unexpected_count} row(s) failed{pct}"
        if self.examples:
            text += f", e.g. {', '.join(repr(v) for v in self.examples)}"
        if self.observed is not None and not self.unexpected_count:
            text += f", observed {short(self.observed)}"
        expected = {k: v for k, v in self.kwargs.items() if k not in ("column", "mostly")}
        if expected:
            text += f"; expected {short(expected)}"
        return text


@dataclass
class GateResult:
    pipeline: str
    step: str
    variable: str
    suite: str
    success: bool
    rows: int
    columns: list[str]
    outcomes: list[ExpectationOutcome]
    elapsed: float = 0.0
    key: str = ""
    report_html: str = ""
    report_json: str = ""
    cached: bool = False

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity == "critical"]

    @property
    def warnings(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity != "critical"]

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("cached")
        return data

    @classmethod
    def from_dict(cls, data: dict) -> GateResult:
        outcomes = [ExpectationOutcome(**o) for o in data.pop("outcomes")]
        return cls(outcomes=outcomes, **data)


@dataclass
class RequirementOutcome:
    step: str
    requirement: str
    metric: str
    value: Optional[float]
    passed: bool
    cell: Optional[CellRef] = None

    def describe(self) -> str:
        value = "not computed" if self.value is None else f"{self.value:.6g}"
        where = f" ({self.cell})" if self.cell else ""
        return f"{self.metric} = {value}, required {self.requirement}{where}"


def check_requirements(step: Step, metrics: dict[str, float]) -> list[RequirementOutcome]:
    """Compare the metrics of ``step`` with its ``require:`` thresholds."""
    outcomes = []
    for req, cell in step.requires:
        value = metrics.get(req.metric)
        passed = value is not None and req.holds(value)
        outcomes.append(RequirementOutcome(step.name, str(req), req.metric, value, passed, cell.ref))
    return outcomes
