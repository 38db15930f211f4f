"""Cells to steps: which cells form which step, and which are parameters, shared code, skipped or outside any step.

A step is one run of consecutive cells, opened by a ``step:<name>`` tag (or, in a notebook without step tags, by a
``## Heading`` markdown cell) and extended by the untagged cells after it. The tags on a step's cells (``after:``,
``gate:``, ``model:``, ``metrics``, ``require:``) are collected on the step.

Tags compose as the grammar says (:func:`~nbprod.notebook.tags.conflict`): a step cell (``step:`` or a step
modifier) that is also a ``functions`` or ``serve`` cell runs in its step, and is also listed in ``composed`` (its
definitions are shared with the service and with the later steps that use them); ``imports``/``functions``/``serve``
together make one shared cell of each role. Two tags that cannot both hold are NB011, naming the cell and both tags.
A step with no code (a ``## `` section of markdown only) is dropped with a note: Ploomber refuses empty tasks.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Collection, Optional

from nbprod.analysis.cells import CellAnalysis
from nbprod.notebook.findings import WARNING
from nbprod.notebook.reader import Cell, Notebook
from nbprod.notebook.tags import GRAMMAR, ROLE_TAGS, STEP_MODIFIERS, conflict
from nbprod.plan.model import SHARED_ROLES, Step
from nbprod.plan.report import Report

__all__ = ["Segments", "segment"]


@dataclass
class Segments:
    """The notebook's cells sorted by what they are for."""

    steps: dict[str, Step] = field(default_factory=dict)  # in notebook order
    parameter_cells: list[Cell] = field(default_factory=list)
    shared: dict[str, list[Cell]] = field(default_factory=lambda: {r: [] for r in SHARED_ROLES})
    composed: dict[str, list[Cell]] = field(default_factory=lambda: {r: [] for r in SHARED_ROLES})  # step cells
    skipped: list[Cell] = field(default_factory=list)
    outside: list[Cell] = field(default_factory=list)  # code before the first step
    cards: dict[str, str] = field(default_factory=dict)  # model-card field -> markdown
    split: str = "tags"  # how steps were found: "tags" or "headings"


#: the step made of the code before the first ``## `` heading, when it is more than imports
BEFORE_FIRST_HEADING = "setup"


def _slug(text: str) -> str:
    name = re.sub(r"[^0-9A-Za-z]+", "_", text).strip("_").lower() or "step"
    return ("s_" + name) if name[0].isdigit() else name


def _h2(cell: Cell) -> Optional[str]:
    for line in cell.source.split("\n"):
        m = re.match(r"^##\s+(.+?)\s*#*\s*$", line)
        if m:
            return m.group(1)
    return None


def _imported_names(body: list[ast.stmt]) -> set[str]:
    names: set[str] = set()
    for s in body:
        if isinstance(s, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in s.names)
    return names


def _library_setup(s: ast.stmt, imported: set[str]) -> bool:
    """``matplotlib.use("Agg")``, ``pd.set_option(...)``, ``warnings.filterwarnings(...)``: a call on a module this
    cell imports, binding nothing. Seeding a global generator is not set-up: replayed in every step, it would restart
    the random stream that the notebook draws from once (the planner hands the state on: analysis.rng)."""
    if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Call)):
        return False
    func = s.value.func
    parts = []
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    return isinstance(func, ast.Name) and func.id in imported and bool(parts) and "seed" not in parts[0].lower()


def _imports_only(a: CellAnalysis) -> bool:
    """Imports, IPython magics (neutralised to ``pass``) and library set-up calls: safe to run in every step."""
    if a.tree is None or not a.tree.body:
        return False
    body = a.tree.body
    imported = _imported_names(body)
    return bool(imported) and all(
        isinstance(s, (ast.Import, ast.ImportFrom, ast.Pass)) or _library_setup(s, imported) for s in body
    )


def _use_headings(nb: Notebook, split: str, report: Report) -> Optional[bool]:
    """Whether steps start at ``## `` headings (True) or at step tags (False); None when there is nothing to split."""
    has_steps = any(c.has("step") for c in nb.cells)
    headings = [c for c in nb.cells if c.cell_type == "markdown" and _h2(c)]
    use_headings = not has_steps and split in ("auto", "headings")
    if split == "headings" and has_steps:
        report.note("--split headings ignored: the notebook has step: tags")
    if not has_steps and not (use_headings and headings):
        report.add_finding(
            "NB010",
            "the notebook has no step: tags" + (" and no '## ' headings" if not headings else ""),
            None,
            "tag the first cell of each step with step:<name> (cell toolbar > Add Tag, or a first line "
            "'# nbprod: step:load'), or split the notebook with '## Heading' markdown cells and --split headings",
        )
        return None
    if use_headings:
        report.note(f"no step: tags: split at {len(headings)} '## ' headings (soorgeon convention)")
    return use_headings


#: calls whose result is not a number (predictions, arrays, frames, reports)
_NOT_NUMBER_CALLS = frozenset(
    {
        "predict",
        "predict_proba",
        "predict_log_proba",
        "decision_function",
        "transform",
        "fit_transform",
        "array",
        "asarray",
        "zeros",
        "ones",
        "arange",
        "linspace",
        "concatenate",
        "DataFrame",
        "Series",
        "list",
        "dict",
        "set",
        "tuple",
        "str",
        "repr",
        "confusion_matrix",
        "classification_report",
        "roc_curve",
        "precision_recall_curve",
    }
)
_NOT_NUMBER_NODES = {
    ast.List: "a list",
    ast.Tuple: "a tuple",
    ast.Dict: "a dict",
    ast.Set: "a set",
    ast.ListComp: "a list",
    ast.SetComp: "a set",
    ast.DictComp: "a dict",
    ast.GeneratorExp: "a generator",
    ast.JoinedStr: "a string",
    ast.Lambda: "a function",
}


def _not_number(value: ast.expr) -> Optional[str]:
    """What ``value`` evaluates to when the code alone shows it is not a number, else None."""
    for kind, what in _NOT_NUMBER_NODES.items():
        if isinstance(value, kind):
            return what
    if isinstance(value, ast.Constant) and not isinstance(value.value, (int, float)):
        return type(value.value).__name__
    if isinstance(value, ast.Subscript) and any(isinstance(n, ast.Slice) for n in ast.walk(value.slice)):
        return "an array slice"
    if isinstance(value, ast.Call):
        func = value.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
        if name in _NOT_NUMBER_CALLS:
            return f"the result of {name}()"
    return None


def _not_numbers(tree: ast.Module) -> dict[str, str]:
    """Top-level names a metrics cell last assigns a value that is not a number: name -> what it is."""
    out: dict[str, str] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign):
            targets, value = stmt.targets, stmt.value
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            targets, value = [stmt.target], stmt.value
        else:
            continue
        what = _not_number(value)
        for t in targets:
            if isinstance(t, ast.Name):
                if what is None:
                    out.pop(t.id, None)
                else:
                    out[t.id] = what
            elif isinstance(t, (ast.Tuple, ast.List)):  # a, b = roc_curve(...)-style unpacking: unknown, keep
                for e in t.elts:
                    if isinstance(e, ast.Name):
                        out.pop(e.id, None)
    return out


def segment(
    nb: Notebook, split: str, analyses: dict[int, CellAnalysis], report: Report, joined: Collection[int] = ()
) -> Segments:
    """Sort the cells of ``nb``. ``split``: "auto" (tags, else H2 headings), "tags" or "headings". The ``## ``
    headings at the cell indices ``joined`` open no step: their section runs in the step before."""
    use_headings = _use_headings(nb, split, report)
    if use_headings is None:
        return Segments()
    segmenter = _Segmenter(analyses, report, use_headings)
    segmenter.joined = set(joined)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            segmenter.markdown(cell)
        elif cell.cell_type == "code":
            segmenter.code(cell)
    segmenter.drop_empty_steps()
    return segmenter.out


class _Segmenter:
    def __init__(self, analyses: dict[int, CellAnalysis], report: Report, use_headings: bool) -> None:
        self.analyses = analyses
        self.report = report
        self.use_headings = use_headings
        self.out = Segments(split="headings" if use_headings else "tags")
        self.current: Optional[Step] = None  # the run of cells being collected
        self.joined: set[int] = set()  # headings that open no step

    def markdown(self, cell: Cell) -> None:
        cards = self.out.cards
        for key in cell.values("card"):
            cards[key] = (cards.get(key, "") + "\n\n" + cell.source).strip()
        heading = _h2(cell) if self.use_headings and cell.index not in self.joined else None
        if heading:
            name = base = _slug(heading)
            k = 2
            while name in self.out.steps:
                name, k = f"{base}_{k}", k + 1
            self.current = self._open(name, cell)
        elif self.current is not None:
            self.current.cells.append(cell)

    def code(self, cell: Cell) -> None:
        step_tags = cell.values("step")
        conflicting = self._conflicting(cell, step_tags)
        kinds = [t.kind for t in cell.tags]
        roles = [k for k in dict.fromkeys(kinds) if k in ROLE_TAGS]
        in_step = bool(step_tags) or any(k in STEP_MODIFIERS for k in kinds)
        if conflicting and not step_tags:
            return  # reported; a cell with step: still opens its step, so the cells after it land there
        if roles and not in_step:
            self._role_cell(cell, roles)
            return
        if step_tags:
            self.current = self._open(step_tags[0], cell)
        elif self.current is None:
            self._before_first_step(cell)
            return
        else:
            self.current.cells.append(cell)
        if self.current is not None:
            self._modifiers(self.current, cell)
            for role in roles:  # step + functions/serve: the step's cell, its definitions also shared
                if role in SHARED_ROLES and not conflicting:
                    self.out.composed[role].append(cell)

    def _conflicting(self, cell: Cell, step_tags: list[str]) -> bool:
        """Report every pair of tags on ``cell`` that cannot both hold (NB011); True when there is one."""
        found = False
        tags = [t for t in cell.tags if t.kind in GRAMMAR]
        for i, a in enumerate(tags):
            for b in tags[i + 1 :]:
                why = conflict(a.kind, b.kind)
                if why is None:
                    continue
                first, second = (a, b) if GRAMMAR[a.kind].excludes else (b, a)
                self.report.add_finding(
                    "NB011",
                    f"conflicting tags {first}, {second} on one cell: {why}",
                    cell,
                    f"keep one of {first} and {second}, or split the cell in two",
                )
                found = True
        if len(set(step_tags)) > 1:
            self.report.add_finding(
                "NB011",
                f"cell carries {len(step_tags)} step tags ({', '.join(step_tags)})",
                cell,
                "a cell belongs to one step: keep one step:<name> tag",
            )
            found = True
        return found

    def _role_cell(self, cell: Cell, roles: list[str]) -> None:
        if roles[0] == "parameters":
            self.out.parameter_cells.append(cell)
        elif roles[0] == "skip":
            self.out.skipped.append(cell)
        else:
            for role in roles:  # imports, functions and serve compose: the cell is shared in each role
                self.out.shared[role].append(cell)

    def _before_first_step(self, cell: Cell) -> None:
        if not cell.source.strip():
            return
        if _imports_only(self.analyses[cell.index]):
            self.out.shared["imports"].append(cell)
            body = self.analyses[cell.index].tree.body  # type: ignore[union-attr]  # _imports_only: parsed
            what = "imports" if all(isinstance(s, (ast.Import, ast.ImportFrom)) for s in body) else "imports and set-up"
            self.report.note(f"cell {cell.index} holds only {what} before the first step: used as an 'imports' cell")
            return
        if self.use_headings and not cell.tags:
            # code before the first '## ' heading that is more than imports (loading the data, say): the first step
            self.current = self._open(BEFORE_FIRST_HEADING, cell)
            self.report.note(f"cell {cell.index} comes before the first '## ' heading: it starts step 'setup'")
            return
        if cell.tags:
            self.report.add_finding(
                "NB012",
                f"tags {', '.join(str(t) for t in cell.tags)} on a cell before the first step",
                cell,
                "add step:<name> to this cell, or move the tags to a step cell",
            )
        self.out.outside.append(cell)

    def _open(self, name: str, cell: Cell) -> Step:
        """The step ``cell`` belongs to when it starts step ``name``: the current step, or a new one. A step name
        that comes back after other steps starts a step of its own (``name_2``), so that every cell runs in
        notebook order, as it did in the notebook (NB013 says so)."""
        if self.current is not None and self.current.name == name:
            self.current.cells.append(cell)
            return self.current
        steps = self.out.steps
        unique, k = name, 2
        while unique in steps:
            unique, k = f"{name}_{k}", k + 1
        if unique != name:
            self.report.add_finding(
                "NB013",
                f"step {name!r} comes back here after other steps (it started at cell {steps[name].first_cell.index}):"
                f" these cells run as step {unique!r}, in notebook order",
                cell,
                "a step is one run of consecutive cells: move the cells together to make one step, or give this run "
                "its own name",
                severity=WARNING,
            )
        step = Step(unique, [cell])
        steps[unique] = step
        return step

    def drop_empty_steps(self) -> None:
        """A section with no code (a ``## `` heading over markdown only) is no step: Ploomber refuses empty tasks."""
        steps = self.out.steps
        for name in [n for n, s in steps.items() if not any(c.source.strip() for c in s.code_cells)]:
            step = steps.pop(name)
            where = f"'## ' section at cell {step.first_cell.index}" if self.use_headings else f"step {name!r}"
            self.report.note(f"{where} has no code: not a step")
            for role in self.out.composed.values():
                role[:] = [c for c in role if c not in step.cells]

    def _modifiers(self, step: Step, cell: Cell) -> None:
        for v in cell.values("after"):
            if v not in step.after:
                step.after.append(v)
        for v in cell.values("gate"):
            if v not in step.gates:
                step.gates.append(v)
        for v in cell.values("model"):
            if step.model and step.model != v:
                self.report.add_finding(
                    "NB011",
                    f"step {step.name!r} names two models ({step.model}, {v})",
                    cell,
                    "keep one model:<variable> per step",
                )
            step.model = v
        if cell.has("metrics"):
            analysis = self.analyses[cell.index]
            not_numbers = _not_numbers(analysis.tree) if analysis.tree is not None else {}
            for n in analysis.assigned:
                if n in not_numbers:
                    self.report.note(
                        f"metrics cell {cell.index}: {n!r} is {not_numbers[n]}, not a number: not a metric"
                    )
                elif n not in step.metrics:
                    step.metrics.append(n)
        for t in cell.tagged("require"):
            if t.requirement is not None:  # always set for a parsed require: tag
                step.requires.append((t.requirement, cell))
