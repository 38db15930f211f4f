"""``nbprod expect``: propose a starter expectation suite per gated variable from the data of a good run.

The proposal itself is :func:`nbprod.gates.propose.propose_suite`. A suite a person edited is never overwritten
silently: the difference is shown and ``--force`` is required.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from nbprod._core.layout import ProjectLayout
from nbprod.convert.render import product_paths
from nbprod.errors import NbprodError, StepFailedError
from nbprod.gates.propose import propose_suite, was_edited
from nbprod.gates.suites import dump_suite, write_suite
from nbprod.io import load_value
from nbprod.notebook.reader import read_notebook
from nbprod.plan.build import build_plan
from nbprod.plan.model import Pipeline, Step
from nbprod.workflow.run import build_ungated

__all__ = ["expect", "ExpectResult"]


@dataclass
class ExpectResult:
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # path -> unified diff
    built: list[str] = field(default_factory=list)  #: steps run first because their gated data did not exist yet


def _frame(plan: Pipeline, step: Step, var: str, product: Path) -> Any:
    """The DataFrame the last run saved for ``gate:<var>``."""
    nb = plan.notebook
    if not product.exists():
        raise NbprodError(
            f"no data for gate:{var}: step {step.name!r} has not run yet",
            path=nb.path,
            fix=f"run the pipeline up to the gated step first: nbprod run {nb.path}",
        )
    df = load_value(product)
    if not hasattr(df, "columns"):
        raise NbprodError(
            f"gate:{var} names a {type(df).__name__}, not a pandas DataFrame",
            path=nb.path,
            cell=step.first_cell.ref,
            fix="gate a DataFrame variable",
        )
    return df


def _build_first(
    notebook: Union[str, Path], layout: ProjectLayout, *, name: Optional[str], split: str, plan: Pipeline
) -> list[str]:
    """A first checkout has no products yet: build the steps once, without gates (there is no suite to check)."""
    try:
        return build_ungated(notebook, project=layout.root, name=name, split=split).ran
    except StepFailedError:  # a later step may fail; the gated data may exist all the same
        products = product_paths(plan, layout.root)
        if all(products[s.name][v].exists() for s in plan.steps for v in s.gates):
            return [s.name for s in plan.steps if products[s.name]["nb"].exists()]
        raise


def _refusal(target: Path, proposal: str, shown: str, force: bool) -> Optional[str]:
    """None when ``proposal`` may be written over ``target``; else the diff that shows what a person changed."""
    current = target.read_text(encoding="utf-8")
    try:
        edited = was_edited(json.loads(current))
    except (ValueError, AttributeError):
        edited = True
    if not edited or force:
        return None
    return "".join(
        difflib.unified_diff(
            current.splitlines(True), proposal.splitlines(True), f"{shown} (yours)", f"{shown} (proposed)"
        )
    )


def expect(
    notebook: Union[str, Path],
    *,
    project: Union[str, Path] = ".",
    name: Optional[str] = None,
    force: bool = False,
    split: str = "auto",
) -> ExpectResult:
    """Propose ``expectations/<pipeline>/<var>.json`` for every ``gate:`` from the products of the last good run."""
    layout = ProjectLayout(project)
    nb = read_notebook(notebook, display_path=layout.relpath(notebook))
    plan = build_plan(nb, name=name, split=split)
    gates = [(s, g) for s in plan.steps for g in s.gates]
    if not gates:
        raise NbprodError(
            "the notebook has no gate:<variable> tags, so there is nothing to propose a suite for",
            path=nb.path,
            fix="tag the step that produces a DataFrame with gate:<variable> (e.g. '# nbprod: step:clean gate:df')",
        )
    products = product_paths(plan, layout.root)
    result = ExpectResult()
    if not all(products[s.name][v].exists() for s, v in gates):
        result.built = _build_first(notebook, layout, name=name, split=split, plan=plan)
    for step, var in gates:
        df = _frame(plan, step, var, products[step.name][var])
        proposal = dump_suite(propose_suite(df, f"{plan.name}.{var}"))
        target = layout.suite(plan.name, var)
        shown = layout.relpath(target)
        if target.exists() and target.read_text(encoding="utf-8") == proposal:
            result.unchanged.append(shown)
            continue
        refusal = _refusal(target, proposal, shown, force) if target.exists() else None
        if refusal is not None:
            result.refused[shown] = refusal
            continue
        write_suite(target, proposal)
        result.written.append(shown)
    return result
