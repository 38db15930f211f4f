"""``nbprod verify``: does the pipeline compute what the notebook computes when run top to bottom?

Two runs, then a comparison step by step:

- the notebook in one kernel (``python -m papermill`` in a child process, working directory the notebook's folder).
  It runs the code cells the plan puts in the pipeline, in notebook order: the parameters cell, the shared cells
  (imports, functions, serve) and every step's code cells; ``skip`` cells, code before the first step and cells of
  a dropped duplicate step are left out, as the pipeline leaves them out. Cells run as the author wrote them
  (magics included). Before a step's first cell a generated cell saves the step's inputs, after its last cell one
  saves its outputs and metrics, with :func:`nbprod.io.save_value`, into a temporary folder;
- the pipeline with each step in its own kernel (``run(isolated=True, force=True)``, no tracking, no packaging)
  into a scratch project (a temporary folder with a copy of ``expectations/``): the user's ``pipelines/`` and
  ``.nbprod/`` are untouched. The two runs overlap (the notebook's kernel works while the steps run).

The notebook is built by :mod:`nbprod.workflow.verify_notebook`. Values are compared by content
(:mod:`nbprod.workflow.verify_compare`), printed output (stdout) cell by cell, matched by the cells' markers. The
first divergence names the step, the value, the cells that produce it and a likely cause. A step that fails in the
pipeline while the notebook ran is a divergence (exit 1); a notebook that fails top to bottom is a
:class:`~nbprod.errors.VerifyError` (exit 2): there is nothing to compare against.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from nbprod.analysis.rng import is_rng_state
from nbprod.errors import CellRef, StepFailedError, VerifyError
from nbprod.plan.model import Pipeline, Step
from nbprod.workflow.verify_compare import compare_metric, compare_products, same_printed
from nbprod.workflow.verify_notebook import outputs_by_cell, start_notebook
from nbprod.workflow.workspace import Workspace

__all__ = ["VerifyReport", "StepReport", "Divergence", "verify"]

log = logging.getLogger(__name__)

_STEP_FAILED = re.compile(r"step '(\w+)' failed")


@dataclass
class Divergence:
    """Where the pipeline first computes something else than the notebook."""

    step: str
    name: Optional[str]  # the value; None for printed output or a failed step
    cells: list[CellRef]
    detail: str
    likely_cause: str

    def render(self) -> str:
        what = f"step {self.step!r}" + (f", value {self.name!r}" if self.name else "")
        cells = ", ".join(str(c) for c in self.cells)
        return (
            f"{what}"
            + (f" (made in {cells})" if cells else "")
            + f": {self.detail}\n  likely cause: {self.likely_cause}"
        )


@dataclass
class StepReport:
    """One step: the values it hands on (outputs and metrics) and the stdout of its cells, notebook vs pipeline."""

    name: str
    compared: list[str] = field(default_factory=list)
    equal: list[str] = field(default_factory=list)
    different: dict[str, str] = field(default_factory=dict)  # name -> how
    not_comparable: dict[str, str] = field(default_factory=dict)  # name -> why
    printed_equal: list[int] = field(default_factory=list)  # notebook cell indices
    printed_different: dict[int, tuple[str, str]] = field(default_factory=dict)  # cell -> (notebook, pipeline)
    changed_inputs: list[str] = field(default_factory=list)  # changed in the notebook after their producer ended
    failed: Optional[str] = None  # the pipeline step raised
    ran: bool = True

    @property
    def ok(self) -> bool:
        return self.ran and not (self.different or self.printed_different or self.failed)


@dataclass
class VerifyReport:
    notebook: str
    pipeline: str
    steps: list[StepReport]
    first_divergence: Optional[Divergence]
    printed: bool = True  # whether printed output counts as a difference

    @property
    def equal(self) -> bool:
        return self.first_divergence is None

    def render(self) -> str:
        lines = [f"verify {self.notebook}: the notebook in one kernel vs the pipeline, one kernel per step"]
        for s in self.steps:
            if not s.ran:
                lines.append(f"  {s.name}: not run" + (f" ({s.failed})" if s.failed else ""))
                continue
            parts = [f"{len(s.equal)} equal"]
            if s.different:
                parts.append(f"{len(s.different)} different ({', '.join(s.different)})")
            if s.not_comparable:
                parts.append(f"{len(s.not_comparable)} not comparable ({', '.join(s.not_comparable)})")
            printed = f"printed output: {len(s.printed_equal)} cell(s) equal"
            if s.printed_different:
                printed += f", {len(s.printed_different)} different (cells {', '.join(map(str, s.printed_different))})"
            lines.append(f"  {'ok ' if s.ok else 'DIFF'} {s.name}: {', '.join(parts)}; {printed}")
        for s in self.steps:
            for name, why in s.not_comparable.items():
                lines.append(f"  not comparable: {s.name}.{name}: {why}")
        if self.first_divergence is None:
            lines.append("equal: every value the steps hand on and every printed output match the notebook")
        else:
            lines.append("first divergence: " + self.first_divergence.render())
        return "\n".join(lines)


def _run_pipeline(ws: Workspace, scratch: Path) -> tuple[Optional[Any], Optional[StepFailedError]]:
    from nbprod.workflow.run import run

    suites = ws.layout.suites_dir(ws.pipeline)
    if suites.is_dir():
        shutil.copytree(suites, scratch / suites.relative_to(ws.layout.root))
    try:
        result = run(
            ws.notebook,
            project=scratch,
            name=ws.name,
            split=ws.split,
            isolated=True,
            force=True,
            track=False,
            package=False,
        )
    except StepFailedError as exc:
        return None, exc
    return result, None


def verify(
    notebook: Union[str, Path],
    *,
    project: Union[str, Path] = ".",
    name: Optional[str] = None,
    split: str = "auto",
    printed: bool = True,
    keep: Optional[Union[str, Path]] = None,
) -> VerifyReport:
    """Run the notebook top to bottom and the pipeline step by step, and compare what each step hands on.

    ``printed``: count differences in printed output (stdout) as differences. ``keep``: a folder to keep both runs
    in (default: a temporary folder, removed). Raises :class:`VerifyError` when the notebook itself fails."""
    ws = Workspace(notebook, project=project, name=name, split=split)
    if not Path(notebook).is_file():
        raise VerifyError("no such notebook", path=str(notebook), fix="check the path to the notebook")
    plan = ws.plan
    tmp = Path(keep) if keep is not None else Path(tempfile.mkdtemp(prefix="nbprod-verify-"))
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        proc = start_notebook(Path(ws.notebook), plan, tmp)
        try:
            result, failure = _run_pipeline(ws, tmp / "project")
        finally:
            _, stderr = proc.communicate()
        nb_printed, nb_error = outputs_by_cell(tmp / "notebook.out.ipynb", marker=False)
        if proc.returncode != 0 or nb_error is not None:
            raise _notebook_failed(plan, nb_error, stderr, str(notebook))
        steps = _compare(plan, tmp, result, failure, nb_printed)
        return VerifyReport(ws.layout.relpath(notebook), plan.name, steps, _first(plan, steps, printed), printed)
    finally:
        if keep is None:
            shutil.rmtree(tmp, ignore_errors=True)


def _notebook_failed(plan: Pipeline, error: Optional[tuple[Any, str]], stderr: str, path: str) -> VerifyError:
    if error is None:
        tail = (stderr or "").strip().splitlines()[-3:]
        return VerifyError("the notebook could not be run top to bottom: " + " | ".join(tail), path=path)
    meta, text = error
    cell = next((c for c in plan.notebook.cells if c.index == meta.get("cell")), None)
    return VerifyError(
        f"the notebook itself fails when run top to bottom: {text}",
        path=path,
        cell=cell.ref if cell else None,
        fix="make the notebook run top to bottom in a fresh kernel (Kernel > Restart and Run All), then verify",
    )


def _compare(
    plan: Pipeline, tmp: Path, result: Any, failure: Optional[StepFailedError], nb_printed: dict[Any, str]
) -> list[StepReport]:
    root = tmp / "project"
    failed_step = None
    if failure is not None:
        found = _STEP_FAILED.search(failure.message)
        failed_step = found.group(1) if found else None
    products = _product_dirs(plan, root)
    out = []
    for step in plan.steps:
        rep = StepReport(step.name)
        out.append(rep)
        prods = products[step.name]
        if result is None and (step.name == failed_step or not all(p.exists() for p in prods.values())):
            rep.ran = False
            rep.failed = failure.message.split("\n")[0] if failure is not None and step.name == failed_step else None
            continue
        nb_out = tmp / "values" / "out" / step.name
        problems = _problems(nb_out)
        for n in step.outputs:
            if is_rng_state(n):  # a generator's state: what it draws is compared in the values that use it
                continue
            rep.compared.append(n)
            status, detail = (
                ("not comparable", problems[n]) if n in problems else compare_products(nb_out / n, prods[n])
            )
            _record(rep, n, status, detail)
        if step.metrics:
            metrics = json.loads(prods["metrics"].read_text()) if prods["metrics"].exists() else {}
            for m in step.metrics:
                if m in step.outputs:
                    continue
                rep.compared.append(m)
                status, detail = (
                    ("not comparable", problems[m]) if m in problems else compare_metric(nb_out / m, metrics.get(m))
                )
                _record(rep, m, status, detail)
        _compare_printed(rep, step, nb_printed, root, plan)
        rep.changed_inputs = _changed_inputs(plan, step, tmp / "values")
    return out


def _product_dirs(plan: Pipeline, root: Path) -> dict[str, dict[str, Path]]:
    from nbprod.convert.render import product_paths

    return product_paths(plan, root)


def _problems(folder: Path) -> dict[str, str]:
    try:
        return dict(json.loads((folder / "_problems.json").read_text()))
    except (OSError, ValueError):
        return {"*": "the notebook did not reach this step's end"}


def _record(rep: StepReport, name: str, status: str, detail: str) -> None:
    if status == "equal":
        rep.equal.append(name)
    elif status == "different":
        rep.different[name] = detail
    else:
        rep.not_comparable[name] = detail


def _compare_printed(rep: StepReport, step: Step, nb_printed: dict[Any, str], root: Path, plan: Pipeline) -> None:
    pipe_printed, _ = outputs_by_cell(_product_dirs(plan, root)[step.name]["nb"], marker=True)
    for c in step.code_cells:
        a, b = nb_printed.get(c.index, ""), pipe_printed.get(c.index, "")
        if same_printed(a, b):
            rep.printed_equal.append(c.index)
        else:
            rep.printed_different[c.index] = (a, b)


def _changed_inputs(plan: Pipeline, step: Step, values: Path) -> list[str]:
    """Inputs whose notebook value at the step's start is not what their producer had at its end."""
    changed = []
    for n, producer in sorted(step.inputs.items()):
        if is_rng_state(n):
            continue
        status, _ = compare_products(values / "in" / step.name / n, values / "out" / producer / n)
        if status == "different":
            changed.append(n)
    return changed


def _cells_making(step: Step, name: str, plan: Pipeline) -> list[CellRef]:
    hits = []
    for c in step.code_cells:
        a = plan.analyses.get(c.index)
        if a is not None and (name in a.defines or name in a.assigned or name in a.mutates):
            hits.append(c.ref)
    return hits or [c.ref for c in step.code_cells]


_RANDOM = re.compile(r"\b(random|rng|default_rng|RandomState|shuffle|permutation|sample|randn?|randint|normal)\b")


def _cause(plan: Pipeline, step: Step, rep: StepReport) -> str:
    if rep.changed_inputs:
        names = ", ".join(rep.changed_inputs)
        between = _cells_touching(plan, step, rep.changed_inputs)
        where = f" (by {', '.join(str(c) for c in between)})" if between else ""
        return (
            f"{names} changed in the notebook after the step that saved it{where}, in place (e.g. a function call "
            f"that modifies its argument, which nbprod cannot see): the pipeline hands step {step.name!r} the value "
            f"as it was saved. Return the new value (x = fill(x)) or change it in the step that uses it"
        )
    if any(_RANDOM.search(c.source) for c in step.code_cells):
        return (
            f"step {step.name!r} draws random numbers: in the notebook the generator's state comes from earlier "
            "cells (a seed set in another step, draws made before); in its own kernel it starts afresh. Seed it in "
            "this step (np.random.default_rng(seed), random_state=seed)"
        )
    return (
        "the step's inputs match, so the difference comes from state that is not a variable: a module-level setting, "
        "a file or the working directory, the clock, or an object changed through another name"
    )


def _cells_touching(plan: Pipeline, step: Step, names: list[str]) -> list[CellRef]:
    """Cells of other steps, before ``step``'s first cell in the notebook, that use the names (not their producer's)."""
    start = step.code_cells[0].index if step.code_cells else 0
    skip = {step.name} | {step.inputs[n] for n in names}
    out = []
    for other in plan.steps:
        for c in other.code_cells if other.name not in skip else []:
            a = plan.analyses.get(c.index)
            if c.index < start and a is not None and set(names) & set(a.uses + a.mutates):
                out.append(c.ref)
    return out


def _first(plan: Pipeline, steps: list[StepReport], printed: bool) -> Optional[Divergence]:
    for rep in steps:
        step = plan.step(rep.name)
        if rep.failed:
            return Divergence(
                rep.name,
                None,
                [c.ref for c in step.code_cells[:1]],
                rep.failed,
                "the step runs in the notebook but fails in its own kernel: it needs a value or state (a setting, "
                "a file, an object changed in place) that the pipeline does not hand on",
            )
        if rep.different:
            name, detail = next(iter(rep.different.items()))
            return Divergence(rep.name, name, _cells_making(step, name, plan), detail, _cause(plan, step, rep))
        if printed and rep.printed_different:
            index, (a, b) = next(iter(rep.printed_different.items()))
            cell = next(c for c in step.code_cells if c.index == index)
            detail = f"printed {_short(a)} in the notebook, {_short(b)} in the pipeline"
            return Divergence(rep.name, None, [cell.ref], detail, _cause(plan, step, rep))
    return None


def _short(text: str) -> str:
    text = text.strip()
    return repr(text if len(text) <= 80 else text[:77] + "...") if text else "nothing"
