"""The pipeline plan: nbprod's own model of a tagged notebook (steps, data flow, order), independent of Ploomber.

``build_plan`` runs the planning phases in turn: cells to steps (:mod:`~nbprod.plan.segment`), parameters
(:mod:`~nbprod.plan.params`), checks of every cell, data flow (:mod:`~nbprod.plan.dataflow`), order
(:mod:`~nbprod.plan.order`) and the data files each step reads (:mod:`~nbprod.plan.datafiles`, the only phase that
looks at the disk, through a probe). Every problem is collected as a :class:`~nbprod.notebook.findings.Finding`.
With ``strict=True`` (convert, run) any error-level finding raises :class:`~nbprod.errors.PlanError`;
lint calls it with ``strict=False`` and reports the findings.
"""

from __future__ import annotations

import ast
from typing import Callable, Optional

from nbprod.analysis.cells import CellAnalysis, analyze_source
from nbprod.analysis.credentials import find_credentials
from nbprod.analysis.stateful import value_definitions
from nbprod.errors import PlanError
from nbprod.notebook.findings import ERROR, Finding
from nbprod.notebook.reader import Cell, Notebook
from nbprod.notebook.tags import validate_identifier
from nbprod.plan.datafiles import Probe, disk_probe, input_files
from nbprod.plan.dataflow import infer_dataflow, training_inputs
from nbprod.plan.model import RESERVED_NAMES, Pipeline, Step, pipeline_name
from nbprod.plan.order import order_steps
from nbprod.plan.params import derived_statements, read_parameters
from nbprod.plan.report import Report
from nbprod.plan.segment import Segments, segment
from nbprod.plan.unsaveable import sections_to_join

__all__ = ["build_plan"]


def build_plan(
    nb: Notebook,
    *,
    name: Optional[str] = None,
    split: str = "auto",
    strict: bool = True,
    probe: Optional[Probe] = None,
) -> Pipeline:
    """Build the pipeline plan of a notebook. ``split``: "auto" (tags, else H2 headings), "tags" or "headings".

    ``probe(literal) -> bool`` decides which string literals in a step's code name data files it reads
    (``Step.input_files``); by default, the files that exist next to the notebook (none for a notebook in memory).
    """
    pname = name or pipeline_name(nb.path)
    if name is not None:
        why = validate_identifier(name, "pipeline name")
        if why:
            raise PlanError(
                [Finding("NB016", ERROR, why, None, "use letters, digits and '_', e.g. --name churn_model")],
                path=nb.path,
            )
    if probe is None and nb.directory is not None:
        probe = disk_probe(nb.directory)
    plan = _plan(nb, pname, split, probe)
    if strict and plan.errors:
        raise PlanError(sorted(plan.errors, key=lambda f: f.sort_key), path=nb.path)
    return plan


def _plan(nb: Notebook, name: str, split: str, probe: Optional[Probe]) -> Pipeline:
    joined: dict[int, str] = {}  # heading cell -> why its section runs in the step before
    while True:
        plan = _plan_once(nb, name, split, probe, joined)
        more = {k: v for k, v in sections_to_join(plan).items() if k not in joined} if plan.split == "headings" else {}
        if not more:
            plan.notes.extend(dict.fromkeys(joined.values()))
            return plan
        joined.update(more)


def _plan_once(nb: Notebook, name: str, split: str, probe: Optional[Probe], joined: dict[int, str]) -> Pipeline:
    report = Report(nb.problems)
    analyses = {c.index: analyze_source(c.source) for c in nb.cells if c.is_code}
    parts = segment(nb, split, analyses, report, joined)
    in_shared = {c.index for cells in [*parts.shared.values(), *parts.composed.values()] for c in cells}
    for index, names in value_definitions(analyses).items():  # they travel as values, with their state
        if index not in in_shared:  # a shared cell runs again in every step: NB410 says so
            analyses[index].value_defs |= names
    parameters = read_parameters(parts.parameter_cells, analyses, report)
    _check_cells(nb, analyses, parts, report)
    _check_names(nb, analyses, parts, report)
    steps = list(parts.steps.values())
    if steps:
        # a parameters cell that derives values is shared code for the steps that use them (render keeps only the
        # derived statements: the literals are the step's parameters)
        deriving = [c for c in parts.parameter_cells if derived_statements(analyses[c.index])]
        flow = {**parts.shared, "functions": parts.shared["functions"] + deriving}
        infer_dataflow(steps, flow, parameters, analyses, report)
        steps = order_steps(steps, report)
    if probe is not None:
        for step in steps:
            step.input_files = input_files(step, analyses, probe)
    shared = _with_composed(parts, analyses)
    kale = [p for p in report.findings if p.code == "NB002"]
    if kale:
        report.note(f"{len(kale)} Kale cluster tag(s) kept but ignored when running locally")
    plan = Pipeline(
        name=name,
        notebook=nb,
        steps=steps,
        parameters=parameters,
        parameter_cells=parts.parameter_cells,
        shared=shared,
        skipped=parts.skipped,
        outside=parts.outside,
        cards=parts.cards,
        analyses=analyses,
        split=parts.split,
        findings=report.findings,
        notes=report.notes,
    )
    keep_for_packaging(plan, report)
    return plan


def _with_composed(parts: Segments, analyses: dict[int, CellAnalysis]) -> dict[str, list[Cell]]:
    """The shared cells by role, with the definitions of step cells that are also ``functions``/``serve`` cells.

    Those cells run in their step; later steps get their functions like any earlier step's (re-emitted), so they
    are not in the shared cells the data flow copies into steps. The service runs their definitions only.
    """
    shared = {role: list(cells) for role, cells in parts.shared.items()}
    for role, cells in parts.composed.items():
        for cell in cells:
            defs = definitions(cell, analyses[cell.index])
            if defs is not None:
                shared[role].append(defs)
        shared[role].sort(key=lambda c: c.index)
    return shared


def _check_cells(nb: Notebook, analyses: dict[int, CellAnalysis], parts: Segments, report: Report) -> None:
    """Hard-coded credentials in any code cell (NB304); syntax errors in any cell that is not skipped (NB100)."""
    for cell in nb.cells:
        a = analyses.get(cell.index)
        if a is not None and a.tree is not None:
            for line, what in sorted(set(find_credentials(a.tree))):
                report.add_finding(
                    "NB304",
                    f"hard-coded credential on line {line}: {what}",
                    cell,
                    "read it from the environment (os.environ['NAME']) or a secrets manager; nbprod will not copy "
                    "it into generated files",
                )
        if a is not None and a.syntax_error and cell not in parts.skipped:
            report.add_finding(
                "NB100", f"syntax error, {a.syntax_error}", cell, "fix the code so the cell runs in Jupyter"
            )


def _check_names(nb: Notebook, analyses: dict[int, CellAnalysis], parts: Segments, report: Report) -> None:
    """Names the generated scripts reserve (NB021), step names that are not identifiers (NB016)."""
    for cell in nb.cells:
        a = analyses.get(cell.index)
        if a is None or a.tree is None or cell in parts.skipped or cell in parts.parameter_cells:
            continue
        for n in sorted(set(a.defines) & RESERVED_NAMES):
            report.add_finding(
                "NB021",
                f"the name {n!r} is reserved by the generated task scripts (Ploomber passes "
                f"'upstream' and 'product' to every task)",
                cell,
                f"rename the variable, e.g. '{n}_'",
            )
    for step in parts.steps.values():
        why = validate_identifier(step.name, "step name")
        if why:  # names from headings are slugged; tags are validated by the parser
            report.add_finding("NB016", why, step.first_cell, "rename the heading")


def definitions(cell: Cell, analysis: CellAnalysis) -> Optional[Cell]:
    """The part of a step cell that is shared: its imports, functions and classes, and the literal constants they
    read (``PLANS = ["basic", "pro"]``), as a cell of the same index; None when it defines nothing."""
    tree = analysis.tree
    if tree is None:
        return None
    read = {g for f in analysis.functions.values() for g in f.globals_read}
    lines = cell.source.split("\n")
    parts = []
    for stmt in tree.body:
        keep = isinstance(stmt, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        if isinstance(stmt, ast.Assign) and all(isinstance(t, ast.Name) and t.id in read for t in stmt.targets):
            try:
                ast.literal_eval(stmt.value)
                keep = True
            except ValueError:
                pass
        if keep:
            first = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])])
            parts.append("\n".join(lines[first - 1 : stmt.end_lineno]))
    if not any(isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) for s in tree.body):
        return None
    return Cell(cell.index, cell.cell_type, "\n\n".join(parts), cell.tags, cell.execution_count)


def keep_for_packaging(plan: Pipeline, report: Report) -> None:
    """Save what packaging reads, whatever the layout of the steps: the frame the model is fit on and its target
    (when the model's own step makes them), and the records ``preprocess`` turns into that frame (when no gated
    DataFrame is there to try first, or when the model is fit on ``preprocess(records)`` directly). They become
    outputs of the step that assigns them (``Step.package_outputs``).
    """
    step = next((s for s in plan.steps if s.model), None)
    if step is None:
        return
    x_name, y_name = training_inputs(plan, step)
    for name, what in ((x_name, "training features"), (y_name, "training target")):
        if name is not None and name not in step.inputs:
            _keep(step, name, what, report)
    preprocess = any("preprocess" in plan.analyses[c.index].functions for c in plan.shared.get("serve", []))
    if not preprocess:
        return
    if x_name is None:  # model.fit(preprocess(records), y)
        owner, raw = step, _preprocessed(plan, step, lambda n: _is_fit(n, step.model))
    elif any(s.gates for s in plan.steps):
        return
    else:
        owner = plan.step(step.inputs[x_name]) if x_name in step.inputs else step
        raw = _preprocessed(plan, owner, lambda n: _assigns(n, x_name))
    if raw is not None and raw not in owner.inputs:
        _keep(owner, raw, "request records", report)
    elif raw is not None:
        plan.step(owner.inputs[raw]).package_outputs.setdefault(raw, "request records")


def _keep(step: Step, name: str, what: str, report: Report) -> None:
    if name not in step.defines:
        return
    step.package_outputs.setdefault(name, what)
    if name not in step.outputs:
        step.outputs.append(name)
        step.outputs.sort()
        report.note(f"step {step.name!r} saves {name!r} ({what}) for packaging")


def _assigns(node: ast.AST, name: str) -> Optional[ast.expr]:
    """The value of ``<name> = value``."""
    if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
        return node.value
    return None


def _is_fit(node: ast.AST, model: Optional[str]) -> Optional[ast.expr]:
    """The first argument of ``<model>.fit(X, ...)``."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "fit"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == model
        and node.args
    ):
        return node.args[0]
    return None


def _preprocessed(plan: Pipeline, step: Step, match: Callable[[ast.AST], Optional[ast.expr]]) -> Optional[str]:
    """``raw`` in ``preprocess(raw)`` where ``match`` finds an expression in ``step``'s code, or None."""
    for cell in step.code_cells:
        tree = plan.analyses[cell.index].tree
        for node in ast.walk(tree) if tree is not None else ():
            value = match(node)
            if (
                isinstance(value, ast.Call)
                and isinstance(value.func, ast.Name)
                and value.func.id == "preprocess"
                and value.args
                and isinstance(value.args[0], ast.Name)
            ):
                return value.args[0].id
    return None
