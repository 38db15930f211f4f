"""The checks of ``nbprod lint`` over a notebook and its plan (state and names, portability, step boundaries);
reproducibility lives in :mod:`nbprod.lint.randomness`."""

from __future__ import annotations

import ast
import re
from typing import Optional

from nbprod.analysis.cells import BUILTINS
from nbprod.analysis.magics import SHELL_ASSIGN, is_install
from nbprod.lint.boundaries import check_boundaries
from nbprod.lint.codes import CHECKS
from nbprod.lint.crossstep import check_cross_step
from nbprod.lint.definitions import check_definitions
from nbprod.lint.randomness import check_randomness, dotted
from nbprod.notebook.findings import Finding
from nbprod.notebook.reader import Cell, Notebook
from nbprod.plan.model import Pipeline
from nbprod.plan.scope import binds_unseen

__all__ = ["Linter"]

_PATH_RE = re.compile(
    r"^(?:/(?:Users|home|root|mnt|Volumes|tmp|var|opt|data|srv)(?:/|$)|[A-Za-z]:[\\/]|~(?:[\\/]|$)|\\\\[^\\])"
)
_ABS_FILE_RE = re.compile(r"^/[^/\s]+/[^\s]+$|^/[^/\s]+\.\w{1,5}$")
#: display set-up and timing: the code around them runs the same without them (%%time's body still runs)
_HARMLESS_RE = re.compile(r"^%%?(?:matplotlib|config|load_ext|reload_ext|autoreload|time|timeit)\b")


class Linter:
    """Runs every check; each method is one family of codes and appends to ``findings``."""

    def __init__(self, nb: Notebook, plan: Pipeline) -> None:
        self.nb = nb
        self.plan = plan
        self.findings: list[Finding] = list(plan.findings)
        skipped = {c.index for c in plan.skipped}
        self.pipeline_cells = [c for c in nb.cells if c.is_code and c.index not in skipped]
        self.skipped = skipped

    def add(self, code: str, cell: Optional[Cell], message: str, fix: str) -> None:
        self.findings.append(Finding(code, CHECKS[code][0], message, cell.ref if cell else None, fix))

    def execution_order(self) -> None:
        if not self.nb.has_execution_counts:
            return
        last, last_cell = 0, None
        for cell in self.nb.cells:
            if not cell.is_code or not cell.source.strip():
                continue
            if cell.execution_count is None:
                self.add(
                    "NB101",
                    cell,
                    "the cell was never executed in the saved session (no execution count)",
                    "restart the kernel and run all cells (Kernel > Restart & Run All), then save",
                )
                continue
            if cell.execution_count <= last:
                self.add(
                    "NB101",
                    cell,
                    f"executed out of order: count [{cell.execution_count}] after [{last}] in cell {last_cell}",
                    "restart the kernel and run all cells top to bottom, then save: outputs may depend on hidden state",
                )
            last, last_cell = cell.execution_count, cell.index

    def names(self) -> None:
        defined_at: dict[str, int] = {}
        order = [c for c in self.nb.cells if c.is_code]
        for cell in order:
            for n in self.plan.analyses[cell.index].defines:
                defined_at.setdefault(n, cell.index)
        defined: set[str] = set()
        fn_globals: list[tuple[Cell, str, set[str]]] = []
        unseen = False  # an earlier cell binds names nbprod cannot see (globals()[k] = ..., exec): NB403 says so
        for cell in order:
            a = self.plan.analyses[cell.index]
            if a.tree is None:
                continue
            unseen = unseen or binds_unseen(a)
            for n in a.uses:
                if n in defined or n in BUILTINS or (unseen and n not in defined_at):
                    continue
                if n in defined_at and defined_at[n] > cell.index:
                    self.add(
                        "NB102",
                        cell,
                        f"{n!r} is used before cell {defined_at[n]} defines it",
                        f"move the cell that defines {n!r} above this one: the notebook only works by running cells "
                        "out of order",
                    )
                elif n not in defined_at:
                    self.add(
                        "NB103",
                        cell,
                        f"{n!r} is not defined anywhere in the notebook",
                        f"define {n!r} (or import it) in an earlier cell; it may exist only in a kernel's hidden state",
                    )
            defined.update(a.defines)
            fn_globals.extend((cell, f.name, f.globals_read) for f in a.functions.values())
        for cell, fname, globs in fn_globals:
            for n in sorted(globs):
                if n not in defined_at and n not in BUILTINS:
                    self.add(
                        "NB103",
                        cell,
                        f"function {fname!r} reads {n!r}, which is not defined anywhere in the notebook",
                        f"pass {n!r} as an argument or define it in an earlier cell",
                    )

    def randomness(self) -> None:
        check_randomness(self.plan, self.pipeline_cells, self.add)

    def paths(self) -> None:
        for cell in self.pipeline_cells:
            tree = self.plan.analyses[cell.index].tree
            if tree is None:
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) < 500:
                    value = node.value.strip()
                    if "\n" in value or "://" in value:
                        continue
                    if _PATH_RE.match(value) or _ABS_FILE_RE.match(value):
                        self.add(
                            "NB301",
                            cell,
                            f"absolute or user-specific path {value!r} will not exist on another machine",
                            "use a path relative to the notebook's folder (e.g. 'data/file.csv'), or make it a "
                            "parameter",
                        )

    def magics(self) -> None:
        for cell in self.pipeline_cells:
            a = self.plan.analyses[cell.index]
            shown = [m for _, m in a.magics]
            if a.tree is not None:
                shown += [
                    dotted(n.func) + "(...)"
                    for n in ast.walk(a.tree)
                    if isinstance(n, ast.Call)
                    and isinstance(n.func, ast.Attribute)
                    and n.func.attr in ("system", "run_line_magic", "run_cell_magic")
                    and dotted(n.func).startswith("get_ipython")
                ]
            for magic in shown:
                assigned = SHELL_ASSIGN.match(magic)
                command = assigned.group(2) if assigned else magic
                if (command.startswith("!") or command.startswith("get_ipython")) and not is_install(command):
                    self.add(
                        "NB306",
                        cell,
                        f"shell command {magic!r} runs in the pipeline as in the notebook: the machines that run the "
                        "pipeline need the same programs and files",
                        "for production, prefer Python (subprocess.run, pathlib, shutil) or a data file",
                    )
                    continue
                if magic.startswith("%%capture"):
                    self.add(
                        "NB305",
                        cell,
                        f"{magic!r} runs in the pipeline as IPython runs it: the cell's output is kept, not shown",
                        "nothing to do",
                    )
                    continue
                if _HARMLESS_RE.match(magic):
                    self.add(
                        "NB305",
                        cell,
                        f"{magic!r} only sets up display or timing: the pipeline runs the cell's code without it",
                        "nothing to do; tag the cell 'skip' if it only explores",
                    )
                    continue
                kind = (
                    "package install"
                    if is_install(magic)
                    else ("shell command" if magic.startswith("!") or "system" in magic else "IPython magic")
                )
                self.add(
                    "NB302",
                    cell,
                    f"{kind} {magic!r} in a pipeline cell is not run in production",
                    "tag the cell 'skip' (installs belong in requirements, not in the notebook)"
                    if kind != "IPython magic"
                    else "tag the cell 'skip', or remove the magic",
                )
            for module in a.star_imports:
                self.add(
                    "NB303",
                    cell,
                    f"'from {module} import *' hides which names the cell uses",
                    f"import the names you use: from {module} import name1, name2",
                )

    def boundaries(self) -> None:
        for cell in self.plan.outside:
            self.add(
                "NB401",
                cell,
                "code cell outside every step: it will not be part of the pipeline",
                "tag it with step:<name>, 'imports', 'functions', or 'skip'",
            )
        for step in self.plan.steps:
            for name in step.mutated_inputs:
                producer = step.inputs.get(name, "the shared cells'")
                where = next((c for c in step.code_cells if name in self._mutated(c)), None)
                if where is None and any(name in group for group in step.together):
                    continue  # changed through a name unpacked with it (ax of fig, ax): handed on together
                self.add(
                    "NB402",
                    where or (step.code_cells or step.cells)[0],
                    f"step {step.name!r} changes {name!r} in place, which step {producer!r} produced"
                    if name in step.inputs
                    else f"step {step.name!r} changes {name!r} in place, which a shared cell defines",
                    f"work on a copy ({name} = {name}.copy()) or assign to a new name, so each step's product stays "
                    "what it produced",
                )

    def _mutated(self, cell: Cell) -> set[str]:
        a = self.plan.analyses[cell.index]
        return set(a.mutates) | set(a.passed_to)

    def run(self) -> list[Finding]:
        self.execution_order()
        self.names()
        self.randomness()
        self.paths()
        self.magics()
        self.boundaries()
        check_cross_step(self.plan, self.add)
        check_definitions(self.plan, self.add)
        check_boundaries(self.plan, self.add)
        return self.findings
