"""The model card's data: :class:`CardFacts` (what nbprod knows) and ``model_card.json`` (the canonical card).

Fields follow Google's Model Card Toolkit (``model_details``, ``model_parameters``, ``quantitative_analysis``,
``considerations``) and the sections of Mitchell et al. 2019. Machine facts (run, data, metrics, gates, schema,
environment) are gathered by :func:`card_facts` when packaging; the human fields come from the notebook's
``card:<field>`` markdown cells and are kept as the author wrote them. A missing human field is listed in
``missing_human_fields`` (and rendered as a TODO naming the tag to add, see :mod:`nbprod.package.model_card_md`).
Deterministic: the same inputs give the same bytes (no timestamps, sorted keys).
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Union

from nbprod._core.layout import relpath
from nbprod._core.vcs import git_commit
from nbprod.gates.model import GateResult, jsonable
from nbprod.io import load_metrics
from nbprod.notebook.tags import CARD_FIELDS, Requirement, Tag, parse_tag
from nbprod.package.hyperparams import hyperparameters
from nbprod.package.spec import InputField, ServingSpec
from nbprod.plan.model import Pipeline

__all__ = [
    "SCHEMA_VERSION",
    "HUMAN_FIELDS",
    "CardFacts",
    "MetricFact",
    "GateFact",
    "TrainingData",
    "OutputSchema",
    "DriftSummary",
    "card_facts",
    "build_model_card",
    "missing_human_fields",
    "card_json",
    "parse_threshold",
    "field_key",
]

SCHEMA_VERSION = "1.0"

#: card field (the ``card:<field>`` tag value) -> section title in MODEL_CARD.md
HUMAN_FIELDS: dict[str, str] = {
    "intended-use": "Intended use",
    "users": "Users",
    "out-of-scope": "Out-of-scope uses",
    "factors": "Factors",
    "limitations": "Limitations",
    "ethical-considerations": "Ethical considerations",
    "caveats": "Caveats and recommendations",
    "owners": "Owners",
}
assert tuple(HUMAN_FIELDS) == CARD_FIELDS, "HUMAN_FIELDS must follow tags.CARD_FIELDS"

_TAG_COMMENT_RE = re.compile(r"^\s*<!--\s*nbprod\s*:.*?-->\s*$")


def parse_threshold(text: str, metric: Optional[str] = None) -> Optional[Requirement]:
    """``accuracy>=0.8`` (or ``>=0.8`` of ``metric``) read as the ``require:`` tag reads it; None when it does not
    parse."""
    tag = parse_tag(f"require:{text}")
    if not isinstance(tag, Tag) and metric and text.lstrip()[:1] in ("<", ">"):
        tag = parse_tag(f"require:{metric}{text}")
    return tag.requirement if isinstance(tag, Tag) else None


# --- the facts ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricFact:
    name: str
    value: Any
    step: Optional[str] = None
    threshold: Optional[Requirement] = None

    @property
    def passed(self) -> Optional[bool]:
        """The threshold evaluated with :meth:`Requirement.holds`; None without a threshold or a numeric value."""
        if self.threshold is None or isinstance(self.value, bool) or not isinstance(self.value, (int, float)):
            return None
        return self.threshold.holds(float(self.value))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MetricFact:
        """``{"name", "value", "step", "threshold": "accuracy>=0.8"}``; a ``passed`` key is ignored (recomputed)."""
        name, text = str(data["name"]), data.get("threshold") or None
        threshold = None if text is None else parse_threshold(str(text), name)
        if text is not None and threshold is None:
            raise ValueError(f"metric {name!r}: threshold {text!r} does not parse (write e.g. '{name}>=0.8')")
        return cls(name, data.get("value"), data.get("step"), threshold)


@dataclass(frozen=True)
class GateFact:
    variable: str
    suite: Optional[str] = None
    success: bool = False
    expectations: int = 0
    failed: int = 0
    warnings: int = 0

    @classmethod
    def of(cls, result: GateResult) -> GateFact:
        return cls(
            result.variable,
            result.suite,
            result.success,
            len(result.outcomes),
            len(result.failed),
            len(result.warnings),
        )


@dataclass(frozen=True)
class TrainingData:
    rows: Optional[int] = None
    columns: list[str] = field(default_factory=list)
    digest: Optional[str] = None
    target: Optional[str] = None


@dataclass(frozen=True)
class OutputSchema:
    type: Optional[str] = None
    description: Optional[str] = None


@dataclass(frozen=True)
class DriftSummary:
    rows: Optional[int] = None
    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    alert_levels: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class CardFacts:
    """Everything nbprod knows about the packaged model. Only ``name`` is required."""

    name: str
    version: Optional[str] = None
    mlflow_run_id: Optional[str] = None
    tracking_uri_kind: Optional[str] = None
    notebook: Optional[str] = None
    notebook_digest: Optional[str] = None
    git_commit: Optional[str] = None
    bento_tag: Optional[str] = None
    estimator: Optional[str] = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    task: Optional[str] = None
    classes: Optional[list[Any]] = None
    input_schema: list[InputField] = field(default_factory=list)
    output_schema: Optional[OutputSchema] = None
    training_data: Optional[TrainingData] = None
    metrics: list[MetricFact] = field(default_factory=list)
    gates: list[GateFact] = field(default_factory=list)
    drift_baseline: Optional[DriftSummary] = None
    python: Optional[str] = None
    packages: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CardFacts:
        """Facts written as plain JSON-like data (``tests/test_card.py`` shows the shape): nested dicts for the
        parts, thresholds as text, ``environment`` as ``{"python", "packages"}``. Unknown keys are an error."""
        d = dict(data)
        env = d.pop("environment", None) or {}
        output, training, drift = (
            d.pop("output_schema", None),
            d.pop("training_data", None),
            d.pop("drift_baseline", None),
        )
        return cls(
            name=str(d.pop("name", "") or ""),
            metrics=[MetricFact.from_dict(m) for m in d.pop("metrics", None) or []],
            gates=[GateFact(**g) for g in d.pop("gates", None) or []],
            input_schema=[InputField(**f) for f in d.pop("input_schema", None) or []],
            output_schema=None if output is None else OutputSchema(**output),
            training_data=None if training is None else TrainingData(**training),
            drift_baseline=None if drift is None else DriftSummary(**drift),
            python=env.get("python"),
            packages=dict(env.get("packages") or {}),
            **d,
        )


def _metric_facts(plan: Pipeline, products: dict[str, dict[str, Path]]) -> list[MetricFact]:
    """Every ``metrics`` value the run saved, with the ``require:`` threshold on it (the last one of the notebook)."""
    metrics: dict[str, float] = {}
    for prods in products.values():
        p = prods.get("metrics")
        if p is not None and p.exists():
            metrics.update(load_metrics(p))
    requirements = {r.metric: r for s in plan.steps for r, _ in s.requires}
    return [
        MetricFact(m, metrics[m], s.name, requirements.get(m)) for s in plan.steps for m in s.metrics if m in metrics
    ]


def _training_data(raw: Any, spec: ServingSpec) -> TrainingData:
    digest = hashlib.sha256(raw.to_csv(index=False).encode()).hexdigest()[:16] if hasattr(raw, "to_csv") else None
    return TrainingData(int(len(raw)), [str(c) for c in raw.columns], digest, spec.target)


def _drift_summary(baseline: dict[str, Any]) -> DriftSummary:
    from nbprod.package.drift import ALERT_LEVELS  # drift imports numpy (it also runs inside the Bento)

    return DriftSummary(
        baseline.get("rows"),
        sorted(baseline.get("numeric", {})),
        sorted(baseline.get("categorical", {})),
        dict(ALERT_LEVELS),
    )


def card_facts(
    plan: Pipeline,
    project: Path,
    *,
    spec: ServingSpec,
    model: Any,
    raw: Any,
    products: dict[str, dict[str, Path]],
    gates: list[GateResult],
    baseline: dict[str, Any],
    tracked: Optional[dict[str, Any]],
    packages: dict[str, str],
) -> CardFacts:
    """The facts of the model packaged from the last good run of ``plan``."""
    run = tracked or {}
    return CardFacts(
        name=plan.name,
        version=run.get("model_version"),
        mlflow_run_id=run.get("run_id"),
        tracking_uri_kind=run.get("kind"),
        notebook=relpath(plan.notebook.abspath or plan.notebook.path, project),
        notebook_digest=plan.notebook.digest(),
        git_commit=git_commit(project),
        estimator=f"{type(model).__module__}.{type(model).__name__}",
        hyperparameters=hyperparameters(model),
        task=spec.task,
        classes=spec.classes,
        input_schema=list(spec.fields),
        output_schema=OutputSchema(
            "class label" if spec.task == "classification" else "number",
            "postprocess() of the model's prediction" if spec.has_postprocess else "the model's prediction",
        ),
        training_data=_training_data(raw, spec),
        metrics=_metric_facts(plan, products),
        gates=[GateFact.of(g) for g in gates],
        drift_baseline=_drift_summary(baseline),
        python=platform.python_version(),
        packages=packages,
    )


# --- the card ----------------------------------------------------------------------------------------------------


def field_key(field: str) -> str:
    """``ethical-considerations`` -> ``ethical_considerations`` (the JSON key under ``considerations``)."""
    return field.replace("-", "_")


def _human_text(text: Any) -> Optional[str]:
    """The author's markdown without nbprod's tag comment line; None when blank."""
    if text is None:
        return None
    lines = [ln for ln in str(text).replace("\r\n", "\n").split("\n") if not _TAG_COMMENT_RE.match(ln)]
    cleaned = "\n".join(ln.rstrip() for ln in lines).strip()
    return cleaned or None


def _normalise_human(human: dict[str, str]) -> dict[str, Optional[str]]:
    out: dict[str, Optional[str]] = {f: None for f in CARD_FIELDS}
    for raw, text in human.items():
        name = str(raw).strip().lower().replace("_", "-")
        if name not in out:
            raise ValueError(f"unknown model-card field {raw!r}; known fields: {', '.join(CARD_FIELDS)}")
        out[name] = _human_text(text)
    return out


def _metric(m: MetricFact) -> dict[str, Any]:
    threshold = None if m.threshold is None else str(m.threshold)
    return {"name": m.name, "value": jsonable(m.value), "threshold": threshold, "passed": m.passed, "step": m.step}


def _quantitative(facts: CardFacts) -> dict[str, Any]:
    """Metrics ordered by (name, step), gates by variable, and what passed."""
    metrics = sorted((_metric(m) for m in facts.metrics), key=lambda m: (m["name"], str(m["step"])))
    gates = sorted((asdict(g) for g in facts.gates), key=lambda g: g["variable"])
    checked = [m for m in metrics if m["passed"] is not None]
    return {
        "metrics": metrics,
        "gates": gates,
        "summary": {
            "metrics": len(metrics),
            "thresholds_checked": len(checked),
            "thresholds_failed": sum(1 for m in checked if not m["passed"]),
            "gates": len(gates),
            "gates_failed": sum(1 for g in gates if not g["success"]),
            "all_passed": all(m["passed"] for m in checked) and all(g["success"] for g in gates),
        },
    }


def _model_parameters(facts: CardFacts) -> dict[str, Any]:
    return {
        "estimator": facts.estimator,
        "hyperparameters": dict(facts.hyperparameters),
        "task": facts.task,
        "classes": None if facts.classes is None else list(facts.classes),
        "input_schema": [asdict(f) for f in facts.input_schema],
        "output_schema": None if facts.output_schema is None else asdict(facts.output_schema),
    }


def build_model_card(facts: Union[CardFacts, Mapping[str, Any]], human: dict[str, str]) -> dict:
    """The canonical model card (a deterministic, JSON-serialisable dict) from nbprod's facts (a
    :class:`CardFacts`, or the same as plain data, see :meth:`CardFacts.from_dict`) and the notebook's
    ``card:<field>`` texts. Raises ValueError for a missing name or an unknown human field."""
    if not isinstance(facts, CardFacts):
        facts = CardFacts.from_dict(facts)
    name = facts.name.strip()
    if not name:
        raise ValueError("the model card needs a name (CardFacts.name)")
    texts = _normalise_human(human)
    card = {
        "schema_version": SCHEMA_VERSION,
        "model_details": {
            "name": name,
            "version": facts.version,
            "mlflow_run_id": facts.mlflow_run_id,
            "tracking_uri_kind": facts.tracking_uri_kind,
            "notebook": facts.notebook,
            "notebook_digest": facts.notebook_digest,
            "git_commit": facts.git_commit,
            "bento_tag": facts.bento_tag,
            "owners": texts["owners"],
        },
        "model_parameters": _model_parameters(facts),
        "data": {"training": None if facts.training_data is None else asdict(facts.training_data)},
        "quantitative_analysis": _quantitative(facts),
        "considerations": {field_key(f): texts[f] for f in CARD_FIELDS if f != "owners"},
        "monitoring": {"drift_baseline": None if facts.drift_baseline is None else asdict(facts.drift_baseline)},
        "environment": {"python": facts.python, "packages": dict(facts.packages)},
    }
    card["missing_human_fields"] = missing_human_fields(card)
    return jsonable(card)


def missing_human_fields(card: dict) -> list[str]:
    """The ``CARD_FIELDS`` keys whose text is missing or blank in ``card``, sorted."""
    considerations = card.get("considerations") or {}
    owners = (card.get("model_details") or {}).get("owners")
    texts = {f: owners if f == "owners" else considerations.get(field_key(f)) for f in CARD_FIELDS}
    return sorted(f for f, t in texts.items() if not (isinstance(t, str) and t.strip()))


def card_json(card: dict) -> str:
    """``model_card.json``: canonical JSON (sorted keys, 2-space indent, trailing newline)."""
    return json.dumps(card, sort_keys=True, indent=2) + "\n"
