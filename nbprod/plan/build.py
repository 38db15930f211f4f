"""The pipeline plan: nbprod's own model of a tagged notebook (steps, data flow, order), independent of Ploomber.

``build_plan`` assigns cells to steps, infers which names flow from which step to which, orders the steps
(notebook order plus ``after:``) and collects every problem as a :class:`~nbprod.findings.Finding`.
With ``strict=True`` (convert, run) any error-level finding raises :class:`~nbprod.errors.PlanError`;
lint calls it with ``strict=False`` and reports the findings.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any, Optional

from nbprod.analysis.cells import BUILTINS, CellAnalysis, analyze_source
from nbprod.analysis.credentials import find_credentials
from nbprod.errors import PlanError
from nbprod.notebook.findings import ERROR, Finding
from nbprod.notebook.reader import Cell, Notebook
from nbprod.notebook.tags import ROLE_TAGS, validate_identifier
from nbprod.plan.model import RESERVED_NAMES, SHARED_ROLES, Pipeline, Step, pipeline_name

__all__ = ["build_plan"]


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


class _Planner:
    def __init__(self, nb: Notebook, name: str, split: str) -> None:
        self.nb = nb
        self.name = name
        self.split = split
        self.findings: list[Finding] = list(nb.problems)
        self.notes: list[str] = []
        self.analyses = {c.index: analyze_source(c.source) for c in nb.cells if c.is_code}
        self.steps: dict[str, Step] = {}
        self.param_cells: list[Cell] = []
        self.shared: dict[str, list[Cell]] = {r: [] for r in SHARED_ROLES}
        self.skipped: list[Cell] = []
        self.outside: list[Cell] = []
        self.cards: dict[str, str] = {}
        self.parameters: dict[str, Any] = {}
        self.used_headings = False

    def err(self, code: str, msg: str, cell: Optional[Cell], fix: Optional[str] = None, severity: str = ERROR) -> None:
        self.findings.append(Finding(code, severity, msg, cell.ref if cell else None, fix))

    # 1. cells -> steps
    def assign(self) -> None:
        has_steps = any(c.has("step") for c in self.nb.cells)
        headings = [c for c in self.nb.cells if c.cell_type == "markdown" and _h2(c)]
        use_headings = not has_steps and self.split in ("auto", "headings")
        if self.split == "headings" and has_steps:
            self.notes.append("--split headings ignored: the notebook has step: tags")
        if not has_steps and not (use_headings and headings):
            self.err(
                "NB010",
                "the notebook has no step: tags" + (" and no '## ' headings" if not headings else ""),
                None,
                "tag the first cell of each step with step:<name> (cell toolbar > Add Tag, or a first line "
                "'# nbprod: step:load'), or split the notebook with '## Heading' markdown cells and --split headings",
            )
            return
        self.used_headings = use_headings
        if use_headings:
            self.notes.append(f"no step: tags: split at {len(headings)} '## ' headings (soorgeon convention)")
        current: Optional[Step] = None
        closed: set[str] = set()
        for cell in self.nb.cells:
            if cell.cell_type == "markdown":
                for t in cell.tagged("card"):
                    self.cards[t.value] = (self.cards.get(t.value, "") + "\n\n" + cell.source).strip()  # type: ignore[index]
                if use_headings and _h2(cell):
                    name = _slug(_h2(cell))  # type: ignore[arg-type]
                    base, k = name, 2
                    while name in self.steps:
                        name, k = f"{base}_{k}", k + 1
                    current = self._open(name, cell, closed, current)
                elif current is not None:
                    current.cells.append(cell)
                continue
            if cell.cell_type != "code":
                continue
            roles = [t.kind for t in cell.tags if t.kind in ROLE_TAGS]
            step_tags = cell.values("step")
            if len(roles) > 1 or (roles and step_tags):
                self.err(
                    "NB011",
                    f"conflicting tags {', '.join(roles + ['step:' + s for s in step_tags])} on one cell",
                    cell,
                    "a cell is either a step cell or one of parameters/imports/functions/serve/skip: keep one",
                )
                continue
            if len(set(step_tags)) > 1:
                self.err(
                    "NB011",
                    f"cell carries {len(step_tags)} step tags ({', '.join(step_tags)})",
                    cell,
                    "a cell belongs to one step: keep one step:<name> tag",
                )
                continue
            if roles:
                role = roles[0]
                modifiers = [str(t) for t in cell.tags if t.kind in ("after", "gate", "model", "metrics", "require")]
                if modifiers:
                    self.err(
                        "NB011",
                        f"tags {', '.join(modifiers)} need a step cell, not a '{role}' cell",
                        cell,
                        "move them to the cell of the step they belong to",
                    )
                if role == "parameters":
                    self.param_cells.append(cell)
                elif role == "skip":
                    self.skipped.append(cell)
                else:
                    self.shared[role].append(cell)
                continue
            if step_tags:
                current = self._open(step_tags[0], cell, closed, current)
                if current.name != step_tags[0]:
                    continue
            elif current is None:
                a = self.analyses[cell.index]
                if not cell.source.strip():
                    continue
                if _imports_only(a):
                    self.shared["imports"].append(cell)
                    self.notes.append(
                        f"cell {cell.index} holds only imports before the first step: used as an 'imports' cell"
                    )
                    continue
                if cell.tags:
                    self.err(
                        "NB012",
                        f"tags {', '.join(str(t) for t in cell.tags)} on a cell before the first step",
                        cell,
                        "add step:<name> to this cell, or move the tags to a step cell",
                    )
                self.outside.append(cell)
                continue
            else:
                current.cells.append(cell)
            self._modifiers(current, cell)

    def _open(self, name: str, cell: Cell, closed: set[str], current: Optional[Step]) -> Step:
        if current is not None and current.name == name:
            current.cells.append(cell)
            return current
        if current is not None:
            closed.add(current.name)
        if name in self.steps:
            first = self.steps[name].first_cell
            self.err(
                "NB013",
                f"duplicate step {name!r}: it was started at cell {first.index} and again here after other steps",
                cell,
                f"a step is one run of consecutive cells: rename one of them (e.g. '{name}_2') or move the cells together",
            )
            # keep collecting into a throwaway step so later analysis still runs
            return Step(name + "\0dup", [cell])
        step = Step(name, [cell])
        self.steps[name] = step
        return step

    def _modifiers(self, step: Step, cell: Cell) -> None:
        if step.name not in self.steps:
            return
        for v in cell.values("after"):
            if v not in step.after:
                step.after.append(v)
        for v in cell.values("gate"):
            if v not in step.gates:
                step.gates.append(v)
        for v in cell.values("model"):
            if step.model and step.model != v:
                self.err(
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
            step.requires.append((t.requirement, cell))  # type: ignore[arg-type]

    # 2. parameters
    def read_parameters(self) -> None:
        for cell in self.param_cells:
            a = self.analyses[cell.index]
            if a.tree is None:
                continue
            for stmt in a.tree.body:
                if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
                    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                    if len(targets) != 1 or not isinstance(targets[0], ast.Name) or stmt.value is None:
                        self.err(
                            "NB020",
                            "parameters must be simple assignments 'name = value'",
                            cell,
                            "write one 'name = literal' per line",
                        )
                        continue
                    pname = targets[0].id
                    try:
                        value = ast.literal_eval(stmt.value)
                    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                        self.err(
                            "NB020",
                            f"parameter {pname!r} is not a literal ({ast.get_source_segment(a.cleaned, stmt.value)})",
                            cell,
                            "parameters must be literals (numbers, strings, booleans, None, lists, dicts): compute derived values in a step",
                        )
                        continue
                    if not _plain_value(value):
                        self.err(
                            "NB020",
                            f"parameter {pname!r} = {value!r} is not a plain value",
                            cell,
                            "use finite numbers, strings, booleans, None, and lists or dicts with string keys of those "
                            "(the value is written to pipeline.yaml and passed on the command line)",
                        )
                        continue
                    if pname in RESERVED_NAMES:
                        self.err(
                            "NB021",
                            f"parameter name {pname!r} is reserved by the generated task scripts",
                            cell,
                            f"rename it (e.g. '{pname}_'); reserved: {', '.join(sorted(RESERVED_NAMES))}",
                        )
                        continue
                    self.parameters[pname] = value
                elif not isinstance(stmt, ast.Expr) or not isinstance(getattr(stmt, "value", None), ast.Constant):
                    self.err(
                        "NB020", "the parameters cell may hold only assignments", cell, "move other code into a step"
                    )

    # 3. data flow
    def flow(self) -> None:
        shared_names: dict[str, Cell] = {}
        func_globals: dict[str, set[str]] = {}
        for role in SHARED_ROLES:
            for cell in self.shared[role]:
                a = self.analyses[cell.index]
                for n in a.defines:
                    shared_names.setdefault(n, cell)
                for f in a.functions.values():
                    func_globals[f.name] = f.globals_read
        producer: dict[str, str] = {}
        step_imports: dict[str, str] = {}
        step_defs: dict[str, tuple[str, int, set[str]]] = {}
        for step in self.steps.values():
            local: set[str] = set()
            needed_shared: dict[int, Cell] = {}
            pending: list[str] = []
            extra_imp: dict[str, None] = {}
            extra_def: dict[str, tuple[str, int]] = {}
            seen_fn: set[str] = set()

            def resolve(n: str, cell: Cell) -> None:
                if n in local or n in BUILTINS:
                    return
                if n in self.parameters and n not in producer:
                    if n not in step.params:
                        step.params.append(n)
                    return
                if n in shared_names and n not in producer:
                    sc = shared_names[n]
                    needed_shared[sc.index] = sc
                    if n in func_globals and n not in seen_fn:
                        seen_fn.add(n)
                        pending.extend(sorted(func_globals[n]))
                    return
                if n in producer:
                    step.inputs.setdefault(n, producer[n])
                    return
                if n in step_imports:
                    extra_imp.setdefault(step_imports[n], None)
                    return
                if n in step_defs:
                    src, idx, globs = step_defs[n]
                    if n not in extra_def:
                        extra_def[n] = (src, idx)
                        pending.extend(sorted(globs))
                    return
                self.err(
                    "NB104",
                    f"step {step.name!r} uses {n!r}, which no earlier step, parameter, import or function defines",
                    cell,
                    f"define {n!r} in this step or an earlier one, or add it to the parameters/imports cell",
                )

            local_fn_globals: list[tuple[Cell, set[str]]] = []
            for cell in step.code_cells:
                a = self.analyses[cell.index]
                if a.tree is None:
                    continue
                for n in a.uses:
                    resolve(n, cell)
                    while pending:
                        resolve(pending.pop(0), cell)
                for n in a.mutates:
                    if n not in local and n in step.inputs and n not in step.mutated_inputs:
                        step.mutated_inputs.append(n)
                local.update(a.defines)
                local_fn_globals.extend((cell, f.globals_read) for f in a.functions.values())
            # globals read by functions defined in this step resolve when the step ends (call time)
            for cell, globs in local_fn_globals:
                for g in sorted(globs):
                    resolve(g, cell)
                    while pending:
                        resolve(pending.pop(0), cell)
            for n in step.defines + [d for c in step.code_cells for d in self.analyses[c.index].defines]:
                if n not in step.defines:
                    step.defines.append(n)
            step.shared_cells = [needed_shared[i] for i in sorted(needed_shared)]
            step.extra_imports = list(extra_imp)
            step.extra_defs = [extra_def[k] for k in extra_def]
            for cell in step.code_cells:
                a = self.analyses[cell.index]
                for n, stmt in a.imports.items():
                    step_imports[n] = stmt
                for f in a.functions.values():
                    step_defs[f.name] = (f.source, cell.index, f.globals_read)
                for n in a.defines:
                    if n not in a.imports and n not in a.functions:
                        producer[n] = step.name
            for n in step.mutated_inputs:
                producer[n] = step.name
        for step in self.steps.values():
            for n, p in step.inputs.items():
                prod = self.steps[p]
                if n not in prod.outputs:
                    prod.outputs.append(n)
        for step in self.steps.values():
            defined = set(step.defines)
            for cell in step.code_cells:
                for var in cell.values("gate"):
                    if var not in defined:
                        self.err(
                            "NB110",
                            f"gate:{var} names a variable step {step.name!r} never assigns",
                            cell,
                            f"assign {var!r} in step {step.name!r}, or move the tag to the step that does",
                        )
                for var in cell.values("model"):
                    if var not in defined:
                        self.err(
                            "NB110",
                            f"model:{var} names a variable step {step.name!r} never assigns",
                            cell,
                            f"assign {var!r} in step {step.name!r}, or move the tag to the step that trains it",
                        )
            keep = [v for v in step.gates + ([step.model] if step.model else []) if v in defined]
            for v in keep:
                if v not in step.outputs:
                    step.outputs.append(v)
            step.outputs.sort()
        all_metrics = {m for s in self.steps.values() for m in s.metrics}
        for step in self.steps.values():
            for req, cell in step.requires:
                if req.metric not in all_metrics:
                    self.err(
                        "NB111",
                        f"require:{req} names metric {req.metric!r}, which no 'metrics' cell assigns",
                        cell,
                        f"assign {req.metric} = <number> in a cell tagged 'metrics', or fix the metric name"
                        + (f" (metrics: {', '.join(sorted(all_metrics))})" if all_metrics else ""),
                    )

    # 4. order
    def order(self) -> list[Step]:
        names = list(self.steps)
        pos = {n: i for i, n in enumerate(names)}
        for step in self.steps.values():
            ups = sorted(set(step.inputs.values()), key=pos.__getitem__)
            for a in step.after:
                cell = next(c for c in step.code_cells if a in c.values("after"))
                if a not in self.steps:
                    self.err(
                        "NB014",
                        f"after:{a} names an unknown step",
                        cell,
                        f"use one of the steps: {', '.join(names)}" if names else "define the step first",
                    )
                elif a == step.name:
                    self.err("NB015", f"step {step.name!r} cannot run after itself", cell, "remove the after: tag")
                elif a not in ups:
                    ups.append(a)
            step.upstream = ups
        # Kahn's algorithm, ties broken by notebook order
        indeg = {n: 0 for n in names}
        for s in self.steps.values():
            for u in s.upstream:
                if u in indeg and u != s.name:
                    indeg[s.name] += 1
        ready = [n for n in names if indeg[n] == 0]
        result: list[str] = []
        while ready:
            ready.sort(key=pos.__getitem__)
            n = ready.pop(0)
            result.append(n)
            for s in self.steps.values():
                if n in s.upstream and s.name != n:
                    indeg[s.name] -= 1
                    if indeg[s.name] == 0:
                        ready.append(s.name)
        if len(result) < len(names):
            stuck = [n for n in names if n not in result]
            cells = [c for n in stuck for c in self.steps[n].code_cells if c.values("after")]
            where = ", ".join(f"{c.ref}" for c in cells)
            self.err(
                "NB015",
                f"the steps {', '.join(stuck)} form a cycle (after: tags against the data flow; see {where})",
                cells[0] if cells else None,
                "remove the after: tag that points to a later step, or reorder the cells",
            )
            return [self.steps[n] for n in names]
        return [self.steps[n] for n in result]

    def check_names(self) -> None:
        for cell in self.nb.cells:
            a = self.analyses.get(cell.index)
            if a is None or a.tree is None or cell in self.skipped or cell in self.param_cells:
                continue
            for n in sorted(set(a.defines) & RESERVED_NAMES):
                self.err(
                    "NB021",
                    f"the name {n!r} is reserved by the generated task scripts (Ploomber passes "
                    f"'upstream' and 'product' to every task)",
                    cell,
                    f"rename the variable, e.g. '{n}_'",
                )
        for step in self.steps.values():
            why = validate_identifier(step.name, "step name")
            if why:  # names from headings are slugged; tags are validated by the parser
                self.err("NB016", why, step.first_cell, "rename the heading")

    def build(self) -> Pipeline:
        self.assign()
        self.read_parameters()
        for cell in self.nb.cells:
            a = self.analyses.get(cell.index)
            if a is not None and a.tree is not None:
                for line, what in sorted(set(find_credentials(a.tree))):
                    self.err(
                        "NB304",
                        f"hard-coded credential on line {line}: {what}",
                        cell,
                        "read it from the environment (os.environ['NAME']) or a secrets manager; nbprod will not copy "
                        "it into generated files",
                    )
            if a is not None and a.syntax_error and cell not in self.skipped:
                self.err("NB100", f"syntax error, {a.syntax_error}", cell, "fix the code so the cell runs in Jupyter")
        self.check_names()
        if self.steps:
            self.flow()
            ordered = self.order()
        else:
            ordered = []
        if self.nb.directory is not None:
            for step in ordered:
                step.input_files = _input_files(step, self.analyses, self.nb.directory)
        kale = [p for p in self.findings if p.code == "NB002"]
        if kale:
            self.notes.append(f"{len(kale)} Kale cluster tag(s) kept but ignored when running locally")
        return Pipeline(
            self.name,
            self.nb,
            ordered,
            self.parameters,
            self.param_cells,
            self.shared,
            self.skipped,
            self.outside,
            self.cards,
            self.analyses,
            "headings" if self.used_headings else "tags",
            self.findings,
            self.notes,
        )


def _plain_value(value: Any) -> bool:
    """A parameter value that YAML, JSON and ``repr`` all round-trip: finite numbers, str, bool, None, lists, str-keyed dicts."""
    if value is None or isinstance(value, (bool, int, str)):
        return True
    if isinstance(value, float):
        return value == value and value not in (float("inf"), float("-inf"))
    if isinstance(value, list):
        return all(_plain_value(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain_value(v) for k, v in value.items())
    return False


def _input_files(step: Step, analyses: dict[int, CellAnalysis], nb_dir: Path) -> list[str]:
    """Data files a step reads: string literals in its cells naming files that exist next to the notebook."""
    names: set[str] = set()
    for cell in step.code_cells + step.shared_cells:
        tree = analyses[cell.index].tree
        if tree is None:
            continue
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and 0 < len(node.value) < 260
                and "\n" not in node.value
                and "\0" not in node.value
                and not Path(node.value).is_absolute()
            ):
                try:
                    candidate = (nb_dir / node.value).resolve()
                    if candidate.is_file() and nb_dir.resolve() in candidate.parents:
                        names.add(Path(node.value).as_posix())
                except (OSError, ValueError):
                    continue
    return sorted(names)


def build_plan(nb: Notebook, *, name: Optional[str] = None, split: str = "auto", strict: bool = True) -> Pipeline:
    """Build the pipeline plan of a notebook. ``split``: "auto" (tags, else H2 headings), "tags" or "headings"."""
    pname = name or pipeline_name(nb.path)
    if name is not None:
        why = validate_identifier(name, "pipeline name")
        if why:
            raise PlanError(
                [Finding("NB016", ERROR, why, None, "use letters, digits and '_', e.g. --name churn_model")],
                path=nb.path,
            )
    plan = _Planner(nb, pname, split).build()
    if strict and plan.errors:
        raise PlanError(sorted(plan.errors, key=lambda f: f.sort_key), path=nb.path)
    return plan
