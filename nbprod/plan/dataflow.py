"""Data flow between steps: what each step reads, from where, and what it must hand on.

Steps are read in notebook order. A name a step reads before assigning it resolves, in this order, to: a parameter;
a name defined by a shared cell (``imports``/``functions``/``serve``: the cell is copied into the step's script, with
the shared cells its functions need); an input, produced by the last earlier step that assigned or mutated it; an
import or function of an earlier step's cells (re-emitted in the step's script rather than pickled). Anything else is
an error (NB104). A producer outputs every name a later step takes from it, plus its ``gate:`` and ``model:``
variables.
"""

from __future__ import annotations

import ast
from typing import Collection, Optional

from nbprod.analysis.binding import BOUND, KEPT, UNBOUND, after
from nbprod.analysis.cells import BUILTINS, CellAnalysis, analyze_source
from nbprod.analysis.effects import PURE_MODULES, pure_import
from nbprod.analysis.lambdas import consumed, function_aliases, iterators, lambda_globals
from nbprod.analysis.rng import RNG_STATE, generator_objects, global_rng, handed_to_calls, seeded_generators
from nbprod.analysis.together import unpacked_together
from nbprod.notebook.findings import WARNING
from nbprod.notebook.reader import Cell
from nbprod.plan.model import Pipeline, Step
from nbprod.plan.report import Report
from nbprod.plan.scope import Scope, binds_unseen

__all__ = ["Scope", "StepResolver", "infer_dataflow", "training_inputs"]


class StepResolver:
    """Resolves the names one step reads against the step's own earlier code and the :class:`Scope` before it.

    Call :meth:`read` for each code cell of the step in order, then :meth:`finish`. Reading fills the step's
    ``params``, ``inputs`` (name -> producing step) and ``mutated_inputs``; finishing resolves the globals of the
    functions the step defines (they are read when called, after the step's code) and sets the step's ``defines``,
    ``shared_cells``, ``extra_imports`` and ``extra_defs``. A name nothing defines is reported as NB104.
    """

    def __init__(self, step: Step, scope: Scope, report: Report) -> None:
        self.step = step
        self.scope = scope
        self.report = report
        self.local: set[str] = set()  # names the step's cells read so far have assigned
        self.shared_cells: dict[int, Cell] = {}  # cell index -> shared cell to copy into the step
        self.imports: dict[str, None] = {}  # earlier steps' import statements to re-emit, in order of first use
        self.functions: dict[str, tuple[str, int]] = {}  # earlier steps' functions to re-emit: (source, cell index)
        self._defines: dict[str, None] = {}
        self._deferred: list[tuple[Cell, str, set[str]]] = []  # (cell, function it defines, globals it reads)
        self._followed: set[str] = set()  # shared functions whose globals are already queued
        self._pending: list[str] = []  # globals of copied functions, still to resolve
        self._unseen = False  # a cell of the step may bind names nbprod cannot see
        self._late: list[tuple[str, Cell]] = []  # globals of copied functions the step may assign after the copy
        self._state: dict[str, frozenset[str]] = {}  # name -> bound / unbound at the end of the cells read so far
        self._referenced: set[str] = set()  # every name the step's cells read
        self._writes: set[str] = set()  # globals written by notebook functions the step calls
        self._handed: set[str] = set()  # ... by functions it hands to a library (s.map(f)): written if they run
        self._imports_here: dict[str, str] = {}  # the step's own imports
        self.prior: dict[str, str] = {}  # name the step may leave untouched -> its producer before the step

    def read(self, cell: Cell, analysis: CellAnalysis) -> None:
        """Resolve what one code cell of the step reads, then note what it assigns."""
        self._defines.update(dict.fromkeys(analysis.defines))
        if analysis.tree is None:
            return
        step, scope = self.step, self.scope
        for f in analysis.functions.values():
            scope.note_function(f.name, f.globals_read | f.builtins_read, f.globals_written, f.globals_mutated)
            scope.arg_mutators[f.name] = f.mutates_args
        self._imports_here.update(analysis.imports)
        self._referenced |= analysis.referenced
        self._unseen = self._unseen or binds_unseen(analysis)
        # a notebook function the cell calls, or hands to a library that calls it (df["a"].map(parse)), runs here
        may_run = analysis.calls | analysis.referenced
        self._writes |= scope.written_by(analysis.calls)
        self._handed |= scope.written_by(analysis.referenced - analysis.calls)
        for n in analysis.uses + analysis.builtin_uses:
            self.resolve(n, cell)
        for n in analysis.uses:  # a lambda loaded here reads the globals of this moment when it is called
            if n in step.inputs:
                for g in sorted(scope.reads_when_called.get(n, set()) - self.local):
                    self.resolve(g, cell, quiet=True)
        self._note_values(analysis)  # first: a change through the cell's loop variable is a change of what it holds
        self._note_changes(cell, analysis, may_run)
        for n, what in analysis.binding.items():
            if KEPT in what and n not in self.local and n not in step.inputs and n in scope.producer:
                self.prior[n] = scope.producer[n]
            before = self._state.get(n) or self._before(n)
            self._state[n] = after(before, what)
        self.local.update(analysis.defines)
        self._deferred.extend((cell, f.name, f.globals_read | f.builtins_read) for f in analysis.functions.values())

    def _note_changes(self, cell: Cell, analysis: CellAnalysis, may_run: set[str]) -> None:
        """The inputs (and shared values) the cell changes in place become the step's ``mutated_inputs``."""
        step, scope = self.step, self.scope
        changed = [n for n, fs in analysis.passed_to.items() if not all(map(self._pure, fs))]
        changed += sorted(scope.mutated_by(may_run))  # globals the notebook functions it runs change
        changed += sorted(scope.values_reached(may_run))  # ... and the stateful definitions they call
        # a value called like a function may change itself: a closure with nonlocal state, an instance's __call__
        changed += sorted(n for n in analysis.calls - scope.aliases if n in step.inputs and n not in self.local)
        changed += sorted(consumed(analysis.tree) & scope.iterators)  # a zip run through is used up
        changed += sorted(handed_to_calls(analysis.tree) & scope.generators)  # KMeans(random_state=rs).fit draws
        for n in analysis.mutates + changed:
            if n in self.local or n in analysis.defines:  # changed through a name of its own: what that holds
                self._hand_on_mates(n, cell)
                continue
            if n in step.mutated_inputs:
                continue
            if n in step.inputs or (
                n in scope.shared and n not in scope.shared_functions and n not in scope.shared_imports
            ):
                step.mutated_inputs.append(n)
                if n not in scope.iterators:  # a used-up zip changes no loop variable bound from it
                    self._hand_on_mates(n, cell)

    def _note_values(self, analysis: CellAnalysis) -> None:
        """What the cell's values hold: names bound to one object or its parts, lambdas and the globals they read."""
        scope = self.scope
        imported = set(scope.imports) | set(scope.shared_imports) | set(self._imports_here) | PURE_MODULES
        groups = [tuple(n for n in g if n not in imported) for g in unpacked_together(analysis.tree)]
        scope.bind_together(analysis.defines, [g for g in groups if len(g) > 1])  # a module is no part of a value
        scope.iterators -= set(analysis.defines)
        scope.iterators |= iterators(analysis.tree)
        scope.generators = (scope.generators - set(analysis.defines)) | generator_objects(analysis.tree)
        known = set(scope.functions) | set(scope.shared_functions) | set(analysis.functions)
        scope.aliases = (scope.aliases - set(analysis.defines)) | function_aliases(analysis.tree, known)
        for n in analysis.defines:
            scope.reads_when_called.pop(n, None)
        for n, free in lambda_globals(analysis.tree).items():
            scope.reads_when_called[n] = free - imported

    def _hand_on_mates(self, n: str, cell: Cell) -> None:
        """``n``, loaded and changed here, was unpacked with other names from one value (``fig, ax``): the step
        loads them too and hands them on with it, so that a later step still sees one object through both."""
        for m in sorted(self.scope.together.get(n, set()) - self.scope.maybe):  # a maybe-unbound one is not saved
            if m not in self.local and m not in self.step.mutated_inputs and m in self.scope.producer:
                self.resolve(m, cell, quiet=True)
                if m in self.step.inputs:
                    self.step.mutated_inputs.append(m)

    def replay_settings(self) -> None:
        """The library settings earlier steps made (pd.set_option, warnings.filterwarnings...) run again first."""
        self.step.settings = list(self.scope.settings)
        for src, _ in self.step.settings:
            a = analyze_source(src)  # a replayed accessor class: what its methods read too
            for n in a.uses + sorted(set().union(*(f.globals_read for f in a.functions.values()))):
                self.resolve(n, self.step.first_cell, quiet=True)

    def _pure(self, f: str) -> bool:
        """A bare-name callee imported from a value library does not change its arguments, nor does a notebook
        function whose body changes none of its parameters in place."""
        if self.scope.arg_mutators.get(f) is False:
            return True
        stmt = self.scope.shared_imports.get(f) or self.scope.imports.get(f) or self._imports_here.get(f)
        return f not in self.local and stmt is not None and pure_import(stmt)

    def _before(self, n: str) -> Optional[frozenset[str]]:
        """The state of ``n`` before the step's first cell that binds or deletes it."""
        if n in self.step.inputs:
            return frozenset({BOUND, UNBOUND}) if n in self.scope.maybe else frozenset({BOUND})
        return frozenset({BOUND}) if n in self.local else None

    def resolve(self, name: str, cell: Cell, quiet: bool = False) -> None:
        """Resolve ``name``, read in ``cell``, and then the globals of any function it brought into the step."""
        self._resolve(name, cell, quiet)
        while self._pending:
            n = self._pending.pop(0)
            if not self._resolve(n, cell, True):
                self._late.append((n, cell))

    def finish(self) -> None:
        """Resolve the globals of the step's own functions and write the result to the step."""
        scope = self.scope
        for producer in sorted(set(self.step.inputs.values())):  # classes the loaded values may be instances of
            for c in sorted(scope.carried.get(producer, set()) - self.local):
                self.resolve(c, self.step.first_cell, quiet=True)
        for cell, fname, globs in self._deferred:
            called = fname in self._referenced  # a function the step never calls reads its globals later, if ever
            for g in sorted(globs):
                # quiet only for a global a later step assigns: the step that calls the function copies it
                self.resolve(g, cell, quiet=not called and g in scope.defined_later)
        writes, self._writes = self._writes, set()  # not a global a function called only in a later cell assigns
        for n, cell in self._late:
            self._resolve(n, cell)
        self._writes = writes
        step, scope = self.step, self.scope
        for n in self._defines:
            if n not in step.defines:
                step.defines.append(n)
        copied_reads = set().union(*(scope.functions[f][2] for f in self.functions if f in scope.functions))
        step.defs_after_inputs = bool(copied_reads & set(step.inputs))
        # a function handed to a library may not run: what it writes is handed on only when already bound
        handed = {n for n in self._handed if n in scope.producer or n in step.inputs}
        step.function_writes = sorted((self._writes | handed) - set(self._defines))
        for n in step.function_writes:
            self._state[n] = after(self._state.get(n), frozenset({BOUND, KEPT}))
        for n, what in sorted(self._state.items()):
            if what == {UNBOUND}:
                step.unbound.append(n)
            elif UNBOUND in what and n not in scope.imports:
                step.maybe_bound.append(n)
        step.together = scope.groups()
        step.shared_cells = [self.shared_cells[i] for i in sorted(self.shared_cells)]
        step.extra_imports = list(self.imports)
        # in the notebook's order: a decorator or base class is defined before what uses it
        order = sorted(self.functions, key=lambda f: (self.functions[f][1], scope.function_lines.get(f, 0)))
        step.extra_defs = [self.functions[f] for f in order]

    def _resolve(self, n: str, cell: Cell, quiet: bool = False) -> bool:
        """Resolve one name; False when nothing defines it (reported as NB104 unless ``quiet``)."""
        scope, step = self.scope, self.step
        if n in self.local:
            return True
        produced = n in scope.producer  # a step's value shadows a parameter or shared name of the same name
        if n in BUILTINS and not (produced or n in scope.shared or n in scope.imports or n in scope.functions):
            return True
        if n in scope.parameters and not produced:
            if n not in step.params:
                step.params.append(n)
        elif n in scope.shared and not produced:
            self._use_shared(n)
        elif produced:
            step.inputs.setdefault(n, scope.producer[n])
        elif n in scope.imports:
            self.imports.setdefault(scope.imports[n], None)
        elif n in scope.functions:
            self._use_function(n)
        elif n in self._writes:
            return True  # assigned by a function the step calls, and by nothing else
        elif quiet:
            return False
        elif self._unseen:
            return True  # an earlier cell of this step may have bound it (globals()[k] = ...)
        elif scope.dynamic_writer:  # globals()[f"df_{k}"] = ... bound it, or nothing did: saved there if bound
            step.inputs.setdefault(n, scope.dynamic_writer)
            self.report.add_finding(
                "NB403",
                f"step {step.name!r} takes {n!r} from step {scope.dynamic_writer!r}, which binds names nbprod cannot "
                f"see (globals()[...], exec): if it does not bind {n!r}, this step fails, as the notebook would",
                cell,
                f"bind {n!r} by name (or keep such values in a dict) so nbprod can follow it",
                severity=WARNING,
            )
        else:
            self.report.add_finding(
                "NB104",
                f"step {step.name!r} uses {n!r}, which no earlier step, parameter, import or function defines",
                cell,
                f"define {n!r} in this step or an earlier one, or add it to the parameters/imports cell",
            )
            return False
        return True

    def _use_shared(self, n: str) -> None:
        cell = self.scope.shared[n]
        if cell.index not in self.shared_cells:
            self.shared_cells[cell.index] = cell
            for u in self.scope.shared_uses.get(cell.index, ()):  # what the shared cell itself reads
                if (
                    u in self.scope.shared
                    and self.scope.shared[u].index == cell.index
                    and u not in self.scope.parameters
                ):
                    continue  # the cell's own names (a parameters cell's literals are the step's parameters)
                known = (len(self.step.inputs), len(self.imports), len(self.functions))
                self._resolve(u, cell)
                if (len(self.step.inputs), len(self.imports), len(self.functions)) != known:
                    self.step.inputs_first = True  # shared cells run before the load block: load first
        if n in self.scope.shared_functions and n not in self._followed:
            self._followed.add(n)
            self._pending.extend(sorted(self.scope.shared_functions[n]))

    def _use_function(self, n: str) -> None:
        source, index, globs = self.scope.functions[n]
        if n not in self.functions:
            self.functions[n] = (source, index)
            self._pending.extend(sorted(globs))


def infer_dataflow(
    steps: list[Step],
    shared: dict[str, list[Cell]],
    parameters: Collection[str],
    analyses: dict[int, CellAnalysis],
    report: Report,
) -> None:
    """Fill in the inputs, outputs, parameters, defines and copied code of ``steps`` (in notebook order)."""
    scope = Scope.before_steps(shared, analyses, parameters)
    priors: dict[str, dict[str, str]] = {}
    # a generator the notebook seeds is one stream across the steps: its state is handed on like a value
    seeded = set().union(*(seeded_generators(analyses[c.index].tree) for s in steps for c in s.code_cells))
    for i, step in enumerate(steps):
        scope.defined_later = {
            n for later in steps[i + 1 :] for c in later.code_cells for n in analyses[c.index].defines
        }
        resolver = StepResolver(step, scope, report)
        resolver.replay_settings()
        for cell in step.code_cells:
            resolver.read(cell, analyses[cell.index])
        resolver.finish()
        scope.record(step, analyses)
        _hand_on_rng_state(step, scope, analyses, seeded)
        priors[step.name] = resolver.prior
    by_name = {s.name: s for s in steps}
    changed = {n for s in steps for n in s.mutated_inputs}
    for step in steps:  # only a group one of whose names a step changes needs to travel as one
        step.together = [g for g in step.together if changed & set(g)]
    _settle_maybe(steps, by_name, priors)
    for step in steps:
        for n, p in step.inputs.items():
            producer = by_name[p]
            if n not in producer.outputs:
                producer.outputs.append(n)
            known = {*producer.defines, *producer.mutated_inputs, *producer.function_writes} - set(producer.unbound)
            if n not in known and n not in producer.inputs and n not in producer.maybe_bound:
                producer.maybe_bound.append(n)  # bound where nbprod cannot see (globals()[k] = ...): if it is
    for step in steps:
        _declared_outputs(step, report)
    _check_requirements(steps, report)


def _hand_on_rng_state(step: Step, scope: Scope, analyses: dict[int, CellAnalysis], seeded: set[str]) -> None:
    """A step that uses a seeded global generator starts from the state the last step using it left, and hands its
    own state on (a pseudo-value, :data:`~nbprod.analysis.rng.RNG_STATE`)."""
    used: set[str] = set().union(*(global_rng(analyses[c.index].tree) for c in step.code_cells))
    runs = set().union(*(analyses[c.index].calls | analyses[c.index].referenced for c in step.code_cells))
    for f in sorted(runs & set(scope.functions)):  # a notebook function of an earlier step that draws
        used |= set(global_rng(ast.parse(scope.functions[f][0])))
    for f in sorted(runs & set(scope.shared_functions)):  # ... or of a shared cell
        used |= set(global_rng(analyses[scope.shared[f].index].tree))
    for generator in sorted(used & seeded):
        state = RNG_STATE[generator]
        if state in scope.producer:
            step.inputs.setdefault(state, scope.producer[state])
        scope.producer[state] = step.name  # an output of the step when a later step takes it


def _settle_maybe(steps: list[Step], by_name: dict[str, Step], priors: dict[str, dict[str, str]]) -> None:
    """A step that may leave a name untouched which an earlier step produced, and whose value a later step takes,
    loads the earlier value first: what it hands on is then bound either way."""
    for step in steps:
        for n, p in list(step.inputs.items()):
            producer = by_name[p]
            earlier = priors[p].get(n)
            if n in producer.maybe_bound and earlier is not None and n not in producer.inputs:
                producer.inputs[n] = earlier
                producer.maybe_bound.remove(n)


def _declared_outputs(step: Step, report: Report) -> None:
    """``gate:`` and ``model:`` variables are outputs of their step, which must assign them (NB110)."""
    defined = set(step.defines)
    for cell in step.code_cells:
        for kind, what in (("gate", "does"), ("model", "trains it")):
            for var in cell.values(kind):
                if var not in defined:
                    report.add_finding(
                        "NB110",
                        f"{kind}:{var} names a variable step {step.name!r} never assigns",
                        cell,
                        f"assign {var!r} in step {step.name!r}, or move the tag to the step that {what}",
                    )
    for v in step.gates + ([step.model] if step.model else []):
        if v in defined and v not in step.outputs:
            step.outputs.append(v)
    step.outputs.sort()


def _check_requirements(steps: list[Step], report: Report) -> None:
    """Every ``require:`` names a metric some ``metrics`` cell assigns (NB111)."""
    all_metrics = {m for s in steps for m in s.metrics}
    for step in steps:
        for req, cell in step.requires:
            if req.metric not in all_metrics:
                report.add_finding(
                    "NB111",
                    f"require:{req} names metric {req.metric!r}, which no 'metrics' cell assigns",
                    cell,
                    f"assign {req.metric} = <number> in a cell tagged 'metrics', or fix the metric name"
                    + (f" (metrics: {', '.join(sorted(all_metrics))})" if all_metrics else ""),
                )


def training_inputs(plan: Pipeline, step: Step) -> tuple[Optional[str], Optional[str]]:
    """The names passed to ``<model>.fit(X, y)`` in the model's step: (features, target)."""
    for cell in step.code_cells:
        tree = plan.analyses[cell.index].tree
        if tree is None:
            continue
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "fit"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == step.model
            ):
                names: list[Optional[str]] = [a.id if isinstance(a, ast.Name) else None for a in node.args[:2]]
                return (names + [None, None])[0], (names + [None, None])[1]
    return None, None
