"""Cells to steps: which cells form which step, and which are parameters, shared code, skipped or outside any step.

A step is one run of consecutive cells, opened by a ``step:<name>`` tag (or, in a notebook without step tags, by a
``## Heading`` markdown cell) and extended by the untagged cells after it. The tags on a step's cells (``after:``,
``gate:``, ``model:``, ``metrics``, ``require:``) are collected on the step.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Optional, Union

from nbprod.analysis.cells import CellAnalysis
from nbprod.notebook.reader import Cell, Notebook
from nbprod.notebook.tags import ROLE_TAGS
from nbprod.plan.model import SHARED_ROLES, Step
from nbprod.plan.report import Report

__all__ = ["Segments", "segment"]

#: tags that describe a step, so they belong on a step cell
_STEP_MODIFIERS = ("after", "gate", "model", "metrics", "require")


@dataclass
class Segments:
    """The notebook's cells sorted by what they are for."""

    steps: dict[str, Step] = field(default_factory=dict)  # in notebook order
    parameter_cells: list[Cell] = field(default_factory=list)
    shared: dict[str, list[Cell]] = field(default_factory=lambda: {r: [] for r in SHARED_ROLES})
    skipped: list[Cell] = field(default_factory=list)
    outside: list[Cell] = field(default_factory=list)  # code before the first step
    cards: dict[str, str] = field(default_factory=dict)  # model-card field -> markdown
    split: str = "tags"  # how steps were found: "tags" or "headings"


@dataclass(frozen=True)
class _DuplicateRun:
    """A second run of cells for a step that already ended: reported (NB013), and its cells left out of the plan."""

    name: str


def _slug(text: str) -> str:
    name = re.sub(r"[^0-9A-Za-z]+", "_", text).strip("_").lower() or "step"
    return ("s_" + name) if name[0].isdigit() else name


def _h2(cell: Cell) -> Optional[str]:
    for line in cell.source.split("\n"):
        m = re.match(r"^##\s+(.+?)\s*#*\s*$", line)
        if m:
            return m.group(1)
    return None


def _imports_only(a: CellAnalysis) -> bool:
    return (
        a.tree is not None
        and bool(a.tree.body)
        and all(isinstance(s, (ast.Import, ast.ImportFrom)) for s in a.tree.body)
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


def segment(nb: Notebook, split: str, analyses: dict[int, CellAnalysis], report: Report) -> Segments:
    """Sort the cells of ``nb``. ``split``: "auto" (tags, else H2 headings), "tags" or "headings"."""
    use_headings = _use_headings(nb, split, report)
    if use_headings is None:
        return Segments()
    segmenter = _Segmenter(analyses, report, use_headings)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            segmenter.markdown(cell)
        elif cell.cell_type == "code":
            segmenter.code(cell)
    return segmenter.out


class _Segmenter:
    def __init__(self, analyses: dict[int, CellAnalysis], report: Report, use_headings: bool) -> None:
        self.analyses = analyses
        self.report = report
        self.use_headings = use_headings
        self.out = Segments(split="headings" if use_headings else "tags")
        self.current: Union[Step, _DuplicateRun, None] = None  # the run of cells being collected

    def markdown(self, cell: Cell) -> None:
        cards = self.out.cards
        for key in cell.values("card"):
            cards[key] = (cards.get(key, "") + "\n\n" + cell.source).strip()
        heading = _h2(cell) if self.use_headings else None
        if heading:
            name = base = _slug(heading)
            k = 2
            while name in self.out.steps:
                name, k = f"{base}_{k}", k + 1
            self.current = self._open(name, cell)
        elif isinstance(self.current, Step):
            self.current.cells.append(cell)

    def code(self, cell: Cell) -> None:
        roles = [t.kind for t in cell.tags if t.kind in ROLE_TAGS]
        step_tags = cell.values("step")
        if self._conflicting(cell, roles, step_tags):
            return
        if roles:
            self._role_cell(cell, roles[0])
            return
        if step_tags:
            self.current = self._open(step_tags[0], cell)
        elif self.current is None:
            self._before_first_step(cell)
            return
        elif isinstance(self.current, Step):
            self.current.cells.append(cell)
        if isinstance(self.current, Step):  # a duplicate run's cells are dropped, its tags ignored
            self._modifiers(self.current, cell)

    def _conflicting(self, cell: Cell, roles: list[str], step_tags: list[str]) -> bool:
        if len(roles) > 1 or (roles and step_tags):
            self.report.add_finding(
                "NB011",
                f"conflicting tags {', '.join(roles + ['step:' + s for s in step_tags])} on one cell",
                cell,
                "a cell is either a step cell or one of parameters/imports/functions/serve/skip: keep one",
            )
            return True
        if len(set(step_tags)) > 1:
            self.report.add_finding(
                "NB011",
                f"cell carries {len(step_tags)} step tags ({', '.join(step_tags)})",
                cell,
                "a cell belongs to one step: keep one step:<name> tag",
            )
            return True
        return False

    def _role_cell(self, cell: Cell, role: str) -> None:
        modifiers = [str(t) for t in cell.tags if t.kind in _STEP_MODIFIERS]
        if modifiers:
            self.report.add_finding(
                "NB011",
                f"tags {', '.join(modifiers)} need a step cell, not a '{role}' cell",
                cell,
                "move them to the cell of the step they belong to",
            )
        if role == "parameters":
            self.out.parameter_cells.append(cell)
        elif role == "skip":
            self.out.skipped.append(cell)
        else:
            self.out.shared[role].append(cell)

    def _before_first_step(self, cell: Cell) -> None:
        if not cell.source.strip():
            return
        if _imports_only(self.analyses[cell.index]):
            self.out.shared["imports"].append(cell)
            self.report.note(f"cell {cell.index} holds only imports before the first step: used as an 'imports' cell")
            return
        if cell.tags:
            self.report.add_finding(
                "NB012",
                f"tags {', '.join(str(t) for t in cell.tags)} on a cell before the first step",
                cell,
                "add step:<name> to this cell, or move the tags to a step cell",
            )
        self.out.outside.append(cell)

    def _open(self, name: str, cell: Cell) -> Union[Step, _DuplicateRun]:
        """The run ``cell`` belongs to when it starts step ``name``: the current step, a new step, or a duplicate."""
        if isinstance(self.current, Step) and self.current.name == name:
            self.current.cells.append(cell)
            return self.current
        steps = self.out.steps
        if name in steps:
            self.report.add_finding(
                "NB013",
                f"duplicate step {name!r}: it was started at cell {steps[name].first_cell.index} and again here "
                "after other steps",
                cell,
                f"a step is one run of consecutive cells: rename one of them (e.g. '{name}_2') or move the cells "
                "together",
            )
            return _DuplicateRun(name)
        step = Step(name, [cell])
        steps[name] = step
        return step

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
            for n in self.analyses[cell.index].assigned:
                if n not in step.metrics:
                    step.metrics.append(n)
        for t in cell.tagged("require"):
            if t.requirement is not None:  # always set for a parsed require: tag
                step.requires.append((t.requirement, cell))
