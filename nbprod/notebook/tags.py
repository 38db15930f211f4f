"""The tag grammar: one closed table, parsed once.

A cell's tags come from its metadata (``metadata.tags``) or from a first-line comment
``# nbprod: step:train gate:train_df`` (``<!-- nbprod: card:owners -->`` in markdown); both mean the same.
Kale's dialect is read as it is; tags of other tools are ignored; a tag that looks like ours but is
misspelled is an error with a did-you-mean.
"""

from __future__ import annotations

import difflib
import keyword
import re
from dataclasses import dataclass
from typing import Optional, Union

__all__ = [
    "GRAMMAR",
    "CARD_FIELDS",
    "ROLE_TAGS",
    "TagSpec",
    "STEP_MODIFIERS",
    "conflict",
    "Tag",
    "Requirement",
    "TagProblem",
    "parse_tag",
    "comment_tags",
    "validate_identifier",
]


@dataclass(frozen=True)
class TagSpec:
    name: str
    value: Optional[str]  # None: a flag; "name": an identifier; "requirement"; "card-field"
    cell_type: str  # "code" or "markdown"
    role: bool  # a role says what the cell is besides (or instead of) a step cell: parameters/imports/functions/...
    doc: str
    excludes: frozenset[str] = frozenset()  # tags that cannot be on the same cell ("*": any other nbprod tag)
    why: str = ""  # why they cannot both hold


#: tags that describe a step: on a cell that also has a role but no step:, they put the cell in the current step
STEP_MODIFIERS = ("after", "gate", "model", "metrics", "require")
_NEEDS_STEP = frozenset(("step",) + STEP_MODIFIERS)

#: The grammar of PRODUCT.md. Closed: nothing else is an nbprod tag. Tags compose unless one ``excludes`` the other:
#: a step cell (step: and its modifiers) can also be the ``functions`` or ``serve`` cell (its definitions are shared
#: with the service and the later steps); ``imports``, ``functions`` and ``serve`` compose with each other.
GRAMMAR: dict[str, TagSpec] = {
    spec.name: spec
    for spec in (
        TagSpec(
            "parameters",
            None,
            "code",
            True,
            "assignments become pipeline parameters (papermill's tag)",
            frozenset({"*"}),
            "papermill injects the run's parameters after this cell, so it holds the parameters only",
        ),
        TagSpec("step", "name", "code", False, "the cell starts or extends step <name>"),
        TagSpec("after", "name", "code", False, "explicit ordering dependency on another step"),
        TagSpec(
            "imports",
            None,
            "code",
            True,
            "imports made available to every step",
            _NEEDS_STEP,
            "an 'imports' cell is copied into every step, so it cannot belong to one step (tags that need a step "
            "cell cannot go on it)",
        ),
        TagSpec("functions", None, "code", True, "shared functions made available to steps that use them"),
        TagSpec(
            "skip",
            None,
            "code",
            True,
            "exploration: never part of the pipeline",
            frozenset({"*"}),
            "a 'skip' cell is never part of the pipeline (tags that need a step cell cannot go on it)",
        ),
        TagSpec("gate", "name", "code", False, "the DataFrame <variable> must pass its expectation suite"),
        TagSpec("model", "name", "code", False, "the trained model to track and package"),
        TagSpec("metrics", None, "code", False, "numeric top-level names assigned here are metrics"),
        TagSpec("require", "requirement", "code", False, "evaluation gate: <metric><op><number>"),
        TagSpec("serve", None, "code", True, "functions copied into the service (preprocess/postprocess)"),
        TagSpec("card", "card-field", "markdown", False, "fills a human field of the model card"),
    )
}


def conflict(a: str, b: str) -> Optional[str]:
    """Why tags of kinds ``a`` and ``b`` cannot be on one cell, or None when they compose."""
    if a == b or a not in GRAMMAR or b not in GRAMMAR:
        return None
    order = list(GRAMMAR)
    for one, other in sorted(((a, b), (b, a)), key=lambda p: order.index(p[0])):
        spec = GRAMMAR[one]
        if "*" in spec.excludes or other in spec.excludes:
            return spec.why
    return None


ROLE_TAGS = frozenset(n for n, s in GRAMMAR.items() if s.role)

#: Human fields of the model card (Mitchell et al. 2019), with accepted aliases.
CARD_FIELDS = (
    "intended-use",
    "users",
    "out-of-scope",
    "factors",
    "limitations",
    "ethical-considerations",
    "caveats",
    "owners",
)
_CARD_ALIASES = {
    "out-of-scope-uses": "out-of-scope",
    "caveats-and-recommendations": "caveats",
    "intended-users": "users",
    "ethics": "ethical-considerations",
    "owner": "owners",
}

#: Kale's dialect, read as it is.
_KALE_VALUE_ALIASES = {"block": "step", "prev": "after"}
_KALE_FLAG_ALIASES = {"pipeline-parameters": "parameters", "pipeline-metrics": "metrics"}
#: Kale's cluster tags: kept, reported as ignored when running locally.
KALE_CLUSTER_PREFIXES = ("limit", "annotation", "label", "image", "cache", "volume")

#: Tags of other tools we know about, never mistaken for misspellings of ours.
FOREIGN_TAGS = frozenset(
    {
        "injected-parameters",
        "hide-input",
        "hide-output",
        "hide-cell",
        "remove-cell",
        "remove-input",
        "remove-output",
        "remove_cell",
        "remove_input",
        "remove_output",
        "raises-exception",
        "full-width",
        "margin",
        "output_scroll",
        "scroll-output",
        "thebe-init",
        "popout",
        "toggle",
        "hide_input",
        "hide_output",
    }
)

_VALUE_TAGS = tuple(n for n, s in GRAMMAR.items() if s.value is not None)
_FLAG_TAGS = tuple(n for n, s in GRAMMAR.items() if s.value is None)
_REQ_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")
_COMMENT_RE = re.compile(r"^\s*#\s*nbprod\s*:(.*)$")
_MD_COMMENT_RE = re.compile(r"^\s*<!--\s*nbprod\s*:(.*?)-->\s*$")


@dataclass(frozen=True)
class Requirement:
    metric: str
    op: str
    threshold: float

    def holds(self, value: float) -> bool:
        return {
            ">=": value >= self.threshold,
            ">": value > self.threshold,
            "<=": value <= self.threshold,
            "<": value < self.threshold,
        }[self.op]

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.threshold:g}"


@dataclass(frozen=True)
class Tag:
    """A parsed nbprod tag. ``kind`` is a key of :data:`GRAMMAR`, or ``"kale-cluster"``."""

    kind: str
    value: Optional[str]
    raw: str
    requirement: Optional[Requirement] = None

    def __str__(self) -> str:
        return self.kind if self.value is None else f"{self.kind}:{self.value}"


@dataclass(frozen=True)
class TagProblem:
    raw: str
    message: str
    fix: str


def validate_identifier(value: str, what: str) -> Optional[str]:
    """Return why ``value`` cannot be a step/variable name, or None when it is fine."""
    if not value:
        return f"{what} is empty"
    if any(sep in value for sep in ("/", "\\")) or value in (".", ".."):
        return f"{what} {value!r} contains a path separator"
    if not value.isidentifier() or not value.isascii():
        return f"{what} {value!r} is not a Python identifier"
    if keyword.iskeyword(value):
        return f"{what} {value!r} is a Python keyword"
    return None


def _suggest_identifier(value: str) -> str:
    cleaned = re.sub(r"[^0-9A-Za-z_]+", "_", value).strip("_").lower() or "step_1"
    if cleaned[0].isdigit():
        cleaned = "s_" + cleaned
    if keyword.iskeyword(cleaned):
        cleaned += "_"
    return cleaned


def _close(word: str, options: tuple[str, ...], cutoff: float) -> Optional[str]:
    match = difflib.get_close_matches(word.lower(), options, n=1, cutoff=cutoff)
    return match[0] if match else None


def _value_tag(kind: str, value: str, raw: str) -> Union[Tag, TagProblem]:
    spec = GRAMMAR[kind]
    if spec.value == "name":
        what = {"step": "step name", "after": "step name", "gate": "variable name", "model": "variable name"}[kind]
        why = validate_identifier(value, what)
        if why:
            return TagProblem(
                raw,
                f"tag {raw!r}: {why}",
                f"use letters, digits and '_' starting with a letter, e.g. '{kind}:{_suggest_identifier(value)}'",
            )
        return Tag(kind, value, raw)
    if spec.value == "requirement":
        m = _REQ_RE.match(value)
        if not m:
            return TagProblem(
                raw,
                f"tag {raw!r}: the threshold does not parse",
                "write require:<metric><op><number> with op one of >=, >, <=, <, e.g. 'require:accuracy>=0.9'",
            )
        req = Requirement(m.group(1), m.group(2), float(m.group(3)))
        return Tag(kind, str(req), raw, requirement=req)
    # card field
    field = _CARD_ALIASES.get(value.lower(), value.lower())
    if field not in CARD_FIELDS:
        guess = _close(field, CARD_FIELDS, 0.6)
        hint = f"did you mean 'card:{guess}'? " if guess else ""
        return TagProblem(
            raw, f"tag {raw!r}: unknown model-card field {value!r}", f"{hint}known fields: {', '.join(CARD_FIELDS)}"
        )
    return Tag(kind, field, raw)


def parse_tag(raw: str) -> Union[Tag, TagProblem, None]:
    """Parse one tag. Returns a :class:`Tag`, a :class:`TagProblem`, or None for another tool's tag."""
    tag = raw.strip()
    if not tag or tag in FOREIGN_TAGS:
        return None
    if ":" in tag:
        prefix, value = tag.split(":", 1)
        key = prefix.strip().lower()
        value = value.strip()
        key = _KALE_VALUE_ALIASES.get(key, key)
        if key in KALE_CLUSTER_PREFIXES:
            return Tag("kale-cluster", tag, raw)
        if key in _VALUE_TAGS:
            if not value:
                return TagProblem(raw, f"tag {raw!r} has an empty value", f"write {key}:<{GRAMMAR[key].value}>")
            return _value_tag(key, value, raw)
        if key in _FLAG_TAGS:
            return TagProblem(raw, f"tag {raw!r}: '{key}' takes no value", f"write just '{key}'")
        guess = _close(key, _VALUE_TAGS + tuple(_KALE_VALUE_ALIASES), 0.7)
        if guess:
            return TagProblem(raw, f"unknown tag {raw!r}", f"did you mean '{guess}:{value}'?")
        return None
    key = _KALE_FLAG_ALIASES.get(tag.lower(), tag.lower())
    if key in _FLAG_TAGS:
        return Tag(key, None, raw)
    if key in _VALUE_TAGS:
        return TagProblem(raw, f"tag {raw!r} needs a value", f"write {key}:<{GRAMMAR[key].value}>")
    m = re.match(r"^([A-Za-z]+)[-=](.+)$", tag)
    if m and m.group(1).lower() in _VALUE_TAGS + tuple(_KALE_VALUE_ALIASES):
        return TagProblem(raw, f"unknown tag {raw!r}", f"did you mean '{m.group(1).lower()}:{m.group(2)}'?")
    guess = _close(key, _FLAG_TAGS + tuple(_KALE_FLAG_ALIASES), 0.8)
    if guess:
        return TagProblem(raw, f"unknown tag {raw!r}", f"did you mean '{guess}'?")
    return None


def comment_tags(source: str, cell_type: str) -> list[str]:
    """Tags written on the first line of a cell: ``# nbprod: a b`` (code) or ``<!-- nbprod: a b -->`` (markdown)."""
    first = source.lstrip("\n").split("\n", 1)[0] if source else ""
    m = (_COMMENT_RE if cell_type == "code" else _MD_COMMENT_RE).match(first)
    if not m:
        return []
    return [t for t in re.split(r"[\s,]+", m.group(1).strip()) if t]
