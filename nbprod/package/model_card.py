"""The model card: ``model_card.json`` and its rendering ``MODEL_CARD.md`` (the Bento's README and OpenAPI description).

Fields follow Google's Model Card Toolkit (``model_details``, ``model_parameters``, ``quantitative_analysis``,
``considerations``) and the sections of Mitchell et al. 2019. Machine facts (run, data, metrics, gates, schema,
environment) come from nbprod; the human fields come from the notebook's ``card:<field>`` markdown cells and are
kept as the author wrote them. A missing human field is listed in ``missing_human_fields`` and rendered as a TODO
that names the tag to add. Deterministic: the same inputs give the same bytes (no timestamps, sorted keys).
Standard library only.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Optional

from nbprod.notebook.tags import CARD_FIELDS

__all__ = [
    "SCHEMA_VERSION",
    "HUMAN_FIELDS",
    "build_model_card",
    "missing_human_fields",
    "render_markdown",
    "card_json",
    "card_files",
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

_TODO = "**TODO** - fill this in the notebook: add a markdown cell tagged `card:{field}`"
_REQ_RE = re.compile(r"^\s*(?:[A-Za-z_][A-Za-z0-9_]*)?\s*(>=|<=|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")
_TAG_COMMENT_RE = re.compile(r"^\s*<!--\s*nbprod\s*:.*?-->\s*$")
_HEADING_RE = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_OPS = {">=": lambda v, t: v >= t, ">": lambda v, t: v > t, "<=": lambda v, t: v <= t, "<": lambda v, t: v < t}
_OP_SHOWN = {">=": "≥", "<=": "≤", ">": "&gt;", "<": "&lt;"}


def _key(field: str) -> str:
    """``ethical-considerations`` -> ``ethical_considerations`` (the JSON key under ``considerations``)."""
    return field.replace("-", "_")


def _jsonable(value: Any) -> Any:
    """A JSON-serialisable, deterministic copy: tuples and sets become lists, non-finite floats and
    unknown objects become strings, array-likes (``.tolist()``) become lists."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_jsonable(v) for v in value), key=repr)
    if callable(getattr(value, "tolist", None)):
        return _jsonable(value.tolist())
    return repr(value)


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
        field = str(raw).strip().lower().replace("_", "-")
        if field not in out:
            raise ValueError(f"unknown model-card field {raw!r}; known fields: {', '.join(CARD_FIELDS)}")
        out[field] = _human_text(text)
    return out


def _threshold_passed(threshold: Optional[str], value: Any) -> Optional[bool]:
    """Evaluate ``accuracy>=0.8`` (or ``>=0.8``) against ``value``; None when it cannot be evaluated."""
    m = _REQ_RE.match(threshold or "")
    if not m or not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return None
    return bool(_OPS[m.group(1)](float(value), float(m.group(2))))


def _metric(m: dict) -> dict:
    threshold = m.get("threshold") or None
    passed = m.get("passed")
    if passed is None and threshold:
        passed = _threshold_passed(threshold, m.get("value"))
    return {
        "name": str(m["name"]),
        "value": _jsonable(m.get("value")),
        "threshold": threshold,
        "passed": None if passed is None else bool(passed),
        "step": m.get("step"),
    }


def _gate(g: dict) -> dict:
    return {
        "variable": str(g["variable"]),
        "suite": g.get("suite"),
        "success": bool(g.get("success")),
        "expectations": int(g.get("expectations") or 0),
        "failed": int(g.get("failed") or 0),
        "warnings": int(g.get("warnings") or 0),
    }


def _field(f: dict) -> dict:
    values = f.get("values")
    return {
        "name": str(f["name"]),
        "type": f.get("type"),
        "minimum": _jsonable(f.get("minimum")),
        "maximum": _jsonable(f.get("maximum")),
        "values": None if values is None else _jsonable(list(values)),
        "nullable": bool(f.get("nullable", False)),
    }


def build_model_card(facts: dict, human: dict[str, str]) -> dict:
    """Build the canonical model card (a deterministic, JSON-serialisable dict) from nbprod's facts and the
    notebook's ``card:<field>`` texts. Every fact is optional except ``name``; see the module docstring of
    :mod:`nbprod.card` and ``tests/test_card.py`` for the shape of ``facts``. Metrics are ordered by (name, step),
    gates by variable; a metric with a threshold but no ``passed`` is evaluated here. Raises ValueError for a
    missing name or an unknown human field."""
    name = str(facts.get("name") or "").strip()
    if not name:
        raise ValueError("the model card needs facts['name']")
    texts = _normalise_human(human)
    metrics = sorted((_metric(m) for m in facts.get("metrics") or []), key=lambda m: (m["name"], str(m["step"])))
    gates = sorted((_gate(g) for g in facts.get("gates") or []), key=lambda g: g["variable"])
    checked = [m for m in metrics if m["passed"] is not None]
    td = facts.get("training_data")
    env = facts.get("environment") or {}
    baseline = facts.get("drift_baseline")
    card = {
        "schema_version": SCHEMA_VERSION,
        "model_details": {
            "name": name,
            "version": facts.get("version"),
            "mlflow_run_id": facts.get("mlflow_run_id"),
            "tracking_uri_kind": facts.get("tracking_uri_kind"),
            "notebook": facts.get("notebook"),
            "notebook_digest": facts.get("notebook_digest"),
            "git_commit": facts.get("git_commit"),
            "bento_tag": facts.get("bento_tag"),
            "owners": texts["owners"],
        },
        "model_parameters": {
            "estimator": facts.get("estimator"),
            "hyperparameters": _jsonable(dict(facts.get("hyperparameters") or {})),
            "task": facts.get("task"),
            "classes": None if facts.get("classes") is None else _jsonable(list(facts["classes"])),
            "input_schema": [_field(f) for f in facts.get("input_schema") or []],
            "output_schema": _jsonable(facts.get("output_schema")),
        },
        "data": {
            "training": None
            if td is None
            else {
                "rows": td.get("rows"),
                "columns": _jsonable(list(td.get("columns") or [])),
                "digest": td.get("digest"),
                "target": td.get("target"),
            },
        },
        "quantitative_analysis": {
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
        },
        "considerations": {_key(f): texts[f] for f in CARD_FIELDS if f != "owners"},
        "monitoring": {"drift_baseline": None if baseline is None else _jsonable(baseline)},
        "environment": {"python": env.get("python"), "packages": _jsonable(dict(env.get("packages") or {}))},
    }
    card["missing_human_fields"] = missing_human_fields(card)
    return _jsonable(card)


def missing_human_fields(card: dict) -> list[str]:
    """The ``CARD_FIELDS`` keys whose text is missing or blank in ``card``, sorted."""
    considerations = card.get("considerations") or {}
    owners = (card.get("model_details") or {}).get("owners")
    texts = {f: owners if f == "owners" else considerations.get(_key(f)) for f in CARD_FIELDS}
    return sorted(f for f, t in texts.items() if not (isinstance(t, str) and t.strip()))


def card_json(card: dict) -> str:
    """``model_card.json``: canonical JSON (sorted keys, 2-space indent, trailing newline)."""
    return json.dumps(card, sort_keys=True, indent=2) + "\n"


def card_files(card: dict) -> dict[str, str]:
    """The two files of a model card, by file name."""
    return {"model_card.json": card_json(card), "MODEL_CARD.md": render_markdown(card)}


# --- rendering -----------------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    """A fact as inline Markdown text: no raw HTML, no table breaks, no accidental emphasis or code."""
    s = str(value).replace("\\", "\\\\")
    for ch in "*_[]|":
        s = s.replace(ch, "\\" + ch)
    return s.replace("<", "&lt;").replace(">", "&gt;").replace("`", "'").replace("\r", " ").replace("\n", " ")


def _code(value: Any) -> str:
    """A fact as a code span, or as escaped text when it holds characters a code span cannot carry safely."""
    s = str(value)
    if not s or any(ch in s for ch in "<>`\r\n"):
        return _text(s) if s else "-"
    return "`" + s.replace("|", "\\|") + "`"


def _num(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-" if value is None else _text(value)
    return str(value) if isinstance(value, int) else f"{value:.6g}"


def _or(value: Any, missing: str = "(not recorded)") -> str:
    return missing if value is None or value == "" else _code(value)


def _threshold(threshold: Optional[str]) -> str:
    if not threshold:
        return "-"
    m = _REQ_RE.match(threshold)
    return f"{_OP_SHOWN[m.group(1)]} {m.group(2)}" if m else _text(threshold)


def _human(field: str, text: Optional[str]) -> list[str]:
    """The author's markdown for a section: a leading heading repeating the section title is dropped and
    headings are demoted below the card's own (## sections), outside fenced code; otherwise kept as is."""
    if not text:
        return [_TODO.format(field=field)]
    lines = text.split("\n")
    first = _HEADING_RE.match(lines[0])
    if first and first.group(2).strip().lower() in (HUMAN_FIELDS[field].lower(), field.replace("-", " ")):
        lines = lines[1:]
    out, fenced = [], False
    for ln in lines:
        if ln.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        h = None if fenced else _HEADING_RE.match(ln)
        out.append(f"{'#' * max(3, len(h.group(1)))} {h.group(2)}" if h else ln)
    body = "\n".join(out).strip()
    return [body] if body else [_TODO.format(field=field)]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


def _range(f: dict) -> str:
    if f.get("values") is not None:
        vals = f["values"]
        shown = ", ".join(_code(v) for v in vals[:20])
        return (shown + (f", +{len(vals) - 20} more" if len(vals) > 20 else "")) or "(none)"
    lo, hi = f.get("minimum"), f.get("maximum")
    if lo is not None and hi is not None:
        return f"{_num(lo)} to {_num(hi)}"
    if lo is not None:
        return f"≥ {_num(lo)}"
    return f"≤ {_num(hi)}" if hi is not None else "-"


def render_markdown(card: dict) -> str:
    """``MODEL_CARD.md`` for a card from :func:`build_model_card`. Deterministic; facts are escaped (no raw
    HTML, '|' escaped in tables); human text is the author's markdown, with a TODO naming the tag when missing."""
    md = card.get("model_details") or {}
    mp = card.get("model_parameters") or {}
    qa = card.get("quantitative_analysis") or {}
    cons = card.get("considerations") or {}
    missing = missing_human_fields(card)
    nb = md.get("notebook")

    def human(field: str) -> list[str]:
        return ["", f"## {HUMAN_FIELDS[field]}", ""] + _human(field, cons.get(_key(field)))

    out = [
        f"# Model card: {_text(md.get('name'))}",
        "",
        f"Generated by nbprod from {_code(nb) if nb else 'the notebook'}. Do not edit this file: edit the "
        "notebook's `card:` cells (markdown cells tagged `card:<field>`) and package again.",
        "",
    ]
    out.append(
        f"Human fields: {len(CARD_FIELDS) - len(missing)} of {len(CARD_FIELDS)} filled"
        + (f"; missing: {', '.join(f'`card:{f}`' for f in missing)}." if missing else ".")
    )
    out += ["", "## Model details", ""]
    mlflow = _or(md.get("mlflow_run_id"))
    if md.get("mlflow_run_id") and md.get("tracking_uri_kind"):
        mlflow += f" ({_text(md['tracking_uri_kind'])} tracking store)"
    out += [
        f"- Name: {_code(md.get('name'))}",
        f"- Version: {_or(md.get('version'), '(not registered)')}",
        f"- MLflow run: {mlflow}",
        f"- Notebook: {_or(nb)}",
        f"- Notebook digest: {_or(md.get('notebook_digest'))}",
        f"- Git commit: {_or(md.get('git_commit'))}",
        f"- Bento: {_or(md.get('bento_tag'), '(not built)')}",
        f"- Estimator: {_or(mp.get('estimator'))}",
        f"- Task: {_or(mp.get('task'))}",
    ]
    if mp.get("classes") is not None:
        out.append(f"- Classes: {', '.join(_code(c) for c in mp['classes']) or '(none)'}")
    hp = mp.get("hyperparameters") or {}
    if hp:
        out += ["", "### Hyperparameters", ""]
        out += _table(
            ["name", "value"], [[_code(k), _code(json.dumps(v, sort_keys=True))] for k, v in sorted(hp.items())]
        )
    out += ["", "### Owners", ""] + _human("owners", md.get("owners"))
    for field in ("intended-use", "users", "out-of-scope", "factors"):
        out += human(field)

    out += ["", "## Metrics", ""]
    metrics = qa.get("metrics") or []
    if metrics:
        result = {True: "PASS", False: "FAIL", None: "-"}
        out += _table(
            ["metric", "value", "threshold", "result"],
            [
                [_code(m.get("name")), _num(m.get("value")), _threshold(m.get("threshold")), result[m.get("passed")]]
                for m in metrics
            ],
        )
    else:
        out.append("- (no metrics recorded)")
    out += ["", "## Data gates", ""]
    gates = qa.get("gates") or []
    if gates:
        out += _table(
            ["variable", "suite", "result", "expectations", "failed", "warnings"],
            [
                [
                    _code(g.get("variable")),
                    _or(g.get("suite"), "-"),
                    "PASS" if g.get("success") else "FAIL",
                    _num(g.get("expectations")),
                    _num(g.get("failed")),
                    _num(g.get("warnings")),
                ]
                for g in gates
            ],
        )
    else:
        out.append("- (no data gates)")

    out += ["", "## Training data", ""]
    td = (card.get("data") or {}).get("training")
    if td:
        cols = td.get("columns") or []
        out += [
            f"- Rows: {_num(td.get('rows'))}",
            f"- Target: {_or(td.get('target'), '-')}",
            f"- Digest: {_or(td.get('digest'))}",
            f"- Columns ({len(cols)}): {', '.join(_code(c) for c in cols) or '-'}",
        ]
    else:
        out.append("- (not recorded)")
    out += ["", "## Input schema", ""]
    schema = mp.get("input_schema") or []
    if schema:
        out += _table(
            ["field", "type", "range/values", "nullable"],
            [
                [_code(f.get("name")), _or(f.get("type"), "-"), _range(f), "yes" if f.get("nullable") else "no"]
                for f in schema
            ],
        )
    else:
        out.append("- (not recorded)")
    out += ["", "## Output", ""]
    output = mp.get("output_schema") or {}
    if output:
        out += [f"- Type: {_or(output.get('type'), '-')}"] + (
            [f"- Description: {_text(output['description'])}"] if output.get("description") else []
        )
    else:
        out.append("- (not recorded)")
    for field in ("limitations", "ethical-considerations", "caveats"):
        out += human(field)

    out += ["", "## Monitoring (drift)", ""]
    bl = (card.get("monitoring") or {}).get("drift_baseline")
    if bl:
        num, cat = bl.get("numeric") or [], bl.get("categorical") or []
        out += [
            f"- Baseline rows: {_num(bl.get('rows'))}",
            f"- Numeric fields ({len(num)}): {', '.join(_code(c) for c in num) or '-'}",
            f"- Categorical fields ({len(cat)}): {', '.join(_code(c) for c in cat) or '-'}",
        ]
        for k, v in sorted((bl.get("alert_levels") or {}).items()):
            out.append(f"- Alert level {_code(k)}: {_code(json.dumps(v, sort_keys=True))}")
    else:
        out.append("- (no drift baseline)")
    out += ["", "## Environment", ""]
    env = card.get("environment") or {}
    out.append(f"- Python: {_or(env.get('python'))}")
    pkgs = env.get("packages") or {}
    if pkgs:
        out += [""] + _table(["package", "version"], [[_code(k), _code(v)] for k, v in sorted(pkgs.items())])
    return "\n".join(out) + "\n"
