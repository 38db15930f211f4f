"""``## `` sections that share a value which cannot be saved between steps run as one step.

A generator, an open file, a database connection (:mod:`nbprod.analysis.unsaveable`) cannot be pickled: a step that
hands one on would fail after running. In a notebook split at its ``## `` headings the sections are nbprod's choice, so
the section that makes such a value and every section up to the last one that uses it become one step (a note says
which, and why). Steps the author tagged are the author's: lint refuses the hand-off instead (NB409).
"""

from __future__ import annotations

from nbprod.analysis.unsaveable import generator_functions, unsaveable_values
from nbprod.plan.model import Pipeline

__all__ = ["sections_to_join"]


def sections_to_join(plan: Pipeline) -> dict[int, str]:
    """Heading cell index -> why the section it opens runs in the step before it."""
    makers = generator_functions(plan.analyses.values())
    steps = sorted(plan.steps, key=lambda s: s.first_cell.index)
    out: dict[int, str] = {}
    for step in steps:
        bound: dict[str, tuple[int, int, str]] = {}
        for cell in step.code_cells:
            for n, (line, what) in unsaveable_values(plan.analyses[cell.index].tree, makers).items():
                bound[n] = (cell.index, line, what)
        for n, (index, _, what) in sorted(bound.items()):
            users = [t.first_cell.index for t in steps if t.inputs.get(n) == step.name]
            if not users:
                continue
            why = (
                f"the '## ' sections from cell {step.first_cell.index} to the last that uses {n!r} run as one step "
                f"({step.name!r}): {n!r} (cell {index}) is {what}, which cannot be saved between steps"
            )
            for t in steps:
                if step.first_cell.index < t.first_cell.index <= max(users):
                    out.setdefault(t.first_cell.index, why)
    return out
