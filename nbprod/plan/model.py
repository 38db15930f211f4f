"""nbprod's pipeline model: a :class:`Pipeline` of :class:`Step` s, independent of Ploomber.

A step holds what the author declared in tags (cells, ``after:``, gates, model, metrics, thresholds) and what the
planner inferred from the code (inputs and their producers, outputs, parameters, the shared cells and definitions
copied into it, upstream steps, data files read).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from nbprod.analysis.cells import CellAnalysis
from nbprod.notebook.findings import ERROR, Finding
from nbprod.notebook.reader import Cell, Notebook
from nbprod.notebook.tags import Requirement

__all__ = ["Step", "Pipeline", "pipeline_name", "RESERVED_NAMES", "SHARED_ROLES"]

SHARED_ROLES = ("imports", "functions", "serve")


@dataclass
class Step:
    name: str
    cells: list[Cell] = field(default_factory=list)
    after: list[str] = field(default_factory=list)
    gates: list[str] = field(default_factory=list)
    model: Optional[str] = None
    metrics: list[str] = field(default_factory=list)
    requires: list[tuple[Requirement, Cell]] = field(default_factory=list)
    inputs: dict[str, str] = field(default_factory=dict)  # name -> producing step
    outputs: list[str] = field(default_factory=list)
    params: list[str] = field(default_factory=list)
    shared_cells: list[Cell] = field(default_factory=list)
    extra_imports: list[str] = field(default_factory=list)
    extra_defs: list[tuple[str, int]] = field(default_factory=list)  # (source, cell index)
    settings: list[tuple[str, int]] = field(default_factory=list)  # earlier steps' library settings to replay
    upstream: list[str] = field(default_factory=list)
    defines: list[str] = field(default_factory=list)
    mutated_inputs: list[str] = field(default_factory=list)
    input_files: list[str] = field(default_factory=list)  # data files read, relative to the notebook
    package_outputs: dict[str, str] = field(default_factory=dict)  # outputs kept for packaging: name -> what it is
    maybe_bound: list[str] = field(default_factory=list)  # names the step may or may not leave bound (a branch...)
    unbound: list[str] = field(default_factory=list)  # names the step leaves unbound (``del``, ``except ... as``)
    function_writes: list[str] = field(default_factory=list)  # globals written by notebook functions it calls
    defs_after_inputs: bool = False  # a copied definition reads an input (a default, a decorator...): load first
    inputs_first: bool = False  # a shared cell copied into the step reads an input: load inputs before shared cells
    together: list[list[str]] = field(default_factory=list)  # names unpacked from one value, saved/loaded together

    @property
    def first_cell(self) -> Cell:
        return self.cells[0]

    @property
    def code_cells(self) -> list[Cell]:
        return [c for c in self.cells if c.is_code]


@dataclass
class Pipeline:
    name: str
    notebook: Notebook
    steps: list[Step]
    parameters: dict[str, Any]
    parameter_cells: list[Cell]
    shared: dict[str, list[Cell]]
    skipped: list[Cell]
    outside: list[Cell]
    cards: dict[str, str]
    analyses: dict[int, CellAnalysis]
    split: str
    findings: list[Finding]
    notes: list[str]

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)

    @property
    def edges(self) -> list[tuple[str, str, list[str]]]:
        """(producer, consumer, names) for every data edge, plus ordering-only ``after:`` edges with no names."""
        out = []
        for s in self.steps:
            for up in s.upstream:
                names = sorted(n for n, p in s.inputs.items() if p == up)
                out.append((up, s.name, names))
        return out

    @property
    def models(self) -> list[tuple[str, str]]:
        return [(s.name, s.model) for s in self.steps if s.model]

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]


def pipeline_name(notebook_path: str) -> str:
    stem = Path(notebook_path).stem
    name = re.sub(r"[^0-9A-Za-z_]+", "_", stem).strip("_").lower() or "pipeline"
    return ("p_" + name) if name[0].isdigit() else name


#: Names the generated task scripts use themselves: a notebook variable of that name would clobber them.
RESERVED_NAMES = frozenset(
    {
        "upstream",
        "product",
        "load_value",
        "save_value",
        "load_together",
        "save_together",
        "save_metrics",
        "nbprod_inputs",
    }
)
