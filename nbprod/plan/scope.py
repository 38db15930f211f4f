"""What a step can use without defining it (:class:`Scope`): the parameters, the shared cells, and what the steps
before it left (values and their producers, imports, functions, what those functions read, write and change)."""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from typing import Collection

from nbprod.analysis.cells import CellAnalysis
from nbprod.analysis.settings import settings_statements
from nbprod.notebook.reader import Cell
from nbprod.plan.model import SHARED_ROLES, Step
from nbprod.plan.params import parameters_read

__all__ = ["Scope", "is_class"]


def is_class(source: str) -> bool:
    """Whether a definition's source (decorators first) is a ``class`` statement."""
    lines = [ln for ln in source.lstrip().split("\n") if not ln.startswith("@")]
    return bool(lines) and lines[0].startswith("class ")


#: a definition registered process-wide by its decorator (``@pd.api.extensions.register_dataframe_accessor("stats")``)
_REGISTERS = re.compile(r"@[\w.]*register_(?:dataframe|series|index|dataset|dataarray)_accessor\b")


def binds_unseen(a: CellAnalysis) -> bool:
    """Whether the cell may bind names nbprod cannot see: ``globals()[k] = ...``, ``exec`` of computed code (``eval``
    evaluates an expression: it binds nothing)."""
    return any(fn != "eval" for _, fn in a.dynamic)


def _quietly(source: str) -> str:
    """A registration replayed in a later step: pandas warns when the process has it already (in-process steps)."""
    body = textwrap.indent(source, "    ")
    return (
        "import warnings as _nbprod_warnings\nwith _nbprod_warnings.catch_warnings():\n"
        f'    _nbprod_warnings.simplefilter("ignore", UserWarning)\n{body}'
    )


@dataclass
class Scope:
    """What a step can use without defining it: parameters, shared cells, and what the steps before it left."""

    parameters: Collection[str] = ()
    shared: dict[str, Cell] = field(default_factory=dict)  # name -> first shared cell that defines it
    shared_functions: dict[str, set[str]] = field(default_factory=dict)  # shared function -> globals it reads
    producer: dict[str, str] = field(default_factory=dict)  # name -> last step that assigned or mutated it
    imports: dict[str, str] = field(default_factory=dict)  # name -> an earlier step's import statement
    functions: dict[str, tuple[str, int, set[str]]] = field(default_factory=dict)  # (source, cell, globals read)
    function_lines: dict[str, int] = field(default_factory=dict)  # function -> its line in its cell
    settings: list[tuple[str, int]] = field(default_factory=list)  # library settings earlier steps made (source, cell)
    maybe: set[str] = field(default_factory=set)  # produced names their producer may leave unbound
    writes: dict[str, set[str]] = field(default_factory=dict)  # notebook function -> globals it assigns
    mutates: dict[str, set[str]] = field(default_factory=dict)  # notebook function -> globals it changes in place
    arg_mutators: dict[str, bool] = field(default_factory=dict)  # notebook function -> may change its arguments
    reads: dict[str, set[str]] = field(default_factory=dict)  # notebook function -> globals it reads
    shared_uses: dict[int, list[str]] = field(default_factory=dict)  # shared cell -> the names it reads
    shared_imports: dict[str, str] = field(default_factory=dict)  # name -> a shared cell's import statement
    defined_later: set[str] = field(default_factory=set)  # names the steps after the current one assign
    classes: set[str] = field(default_factory=set)  # classes the notebook defines (shared cells, steps)
    carried: dict[str, set[str]] = field(default_factory=dict)  # step -> notebook classes its values may be made of
    together: dict[str, set[str]] = field(default_factory=dict)  # name -> names unpacked with it from one value
    reads_when_called: dict[str, set[str]] = field(default_factory=dict)  # a lambda value -> the globals it reads
    iterators: set[str] = field(default_factory=set)  # names bound to one-shot iterators (zip, map, itertools)
    aliases: set[str] = field(default_factory=set)  # names bound to a notebook function or a partial of one
    value_defs: set[str] = field(default_factory=set)  # stateful definitions handed on as values
    dynamic_writer: str = ""  # the last step that may bind names nbprod cannot see (globals()[k] = ..., exec)
    generators: set[str] = field(default_factory=set)  # names bound to random generator objects (RandomState, ...)

    def bind_together(self, defines: Collection[str], groups: Collection[tuple[str, ...]]) -> None:
        """A cell rebinds ``defines`` (each leaves its group) and unpacks ``groups`` from single values."""
        for n in defines:
            for mate in self.together.pop(n, set()):
                self.together.get(mate, set()).discard(n)
        for group in groups:  # joined with the groups its names are already in (``ax = fig.add_subplot()``)
            members = set(group).union(*(self.together.get(n, set()) for n in group))
            for n in members:
                self.together[n] = members - {n}

    def groups(self) -> list[list[str]]:
        """The groups of names handed on together, each sorted."""
        return [list(g) for g in sorted({tuple(sorted({n} | mates)) for n, mates in self.together.items() if mates})]

    @classmethod
    def before_steps(
        cls, shared: dict[str, list[Cell]], analyses: dict[int, CellAnalysis], parameters: Collection[str]
    ) -> Scope:
        """The scope of the first step: the parameters and the shared cells."""
        scope = cls(parameters)
        for role in SHARED_ROLES:
            for cell in shared.get(role, ()):
                a = analyses[cell.index]
                for n in a.defines:
                    scope.shared.setdefault(n, cell)
                for f in a.functions.values():
                    scope.shared_functions[f.name] = f.globals_read | f.builtins_read
                    scope.note_function(f.name, f.globals_read | f.builtins_read, f.globals_written, f.globals_mutated)
                    scope.arg_mutators[f.name] = f.mutates_args
                    if is_class(f.source):
                        scope.classes.add(f.name)
                scope.shared_uses[cell.index] = a.uses + a.builtin_uses + parameters_read(cell, a, parameters)
                if role == "imports":  # its set-up (pd.set_option) holds in every step, not only those using pd
                    scope.settings += [(src, cell.index) for src in settings_statements(a.tree, a.cleaned)]
                for n, stmt in a.imports.items():
                    scope.shared_imports.setdefault(n, stmt)
        return scope

    def note_function(self, name: str, reads: set[str], writes: set[str], mutates: Collection[str] = ()) -> None:
        self.reads[name] = reads
        self.writes[name] = writes
        self.mutates[name] = set(mutates)

    def written_by(self, names: Collection[str]) -> set[str]:
        """Globals the notebook functions among ``names`` assign when called, following the functions they call."""
        return self._through_calls(names, self.writes)

    def values_reached(self, names: Collection[str]) -> set[str]:
        """The stateful definitions travelling as values that the notebook functions among ``names`` use when called
        (``process`` calls ``record``, which fills its default), following the functions they call."""
        return self._through_calls(names, {f: reads & self.value_defs for f, reads in self.reads.items()})

    def mutated_by(self, names: Collection[str]) -> set[str]:
        """Globals the notebook functions among ``names`` may change in place when called (``history.append``),
        following the functions they call."""
        return self._through_calls(names, self.mutates)

    def _through_calls(self, names: Collection[str], table: dict[str, set[str]]) -> set[str]:
        out: set[str] = set()
        seen: set[str] = set()
        todo = [n for n in names if n in self.reads]
        while todo:
            f = todo.pop()
            if f in seen:
                continue
            seen.add(f)
            out |= table.get(f, set())
            todo.extend(g for g in self.reads.get(f, ()) if g in self.reads)
        return out

    def record(self, step: Step, analyses: dict[int, CellAnalysis]) -> None:
        """Add what ``step`` leaves for the steps after it: its imports, functions and values (it becomes their
        producer, also of the inputs it mutated)."""
        for cell in step.code_cells:
            a = analyses[cell.index]
            if binds_unseen(a):
                self.dynamic_writer = step.name
            self.settings += [(src, cell.index) for src in settings_statements(a.tree, a.cleaned)]
            self.imports.update(a.imports)
            for f in a.functions.values():
                if f.name in a.value_defs:  # handed on as a value; a step that calls it takes what it reads then
                    self.value_defs.add(f.name)
                    self.reads_when_called[f.name] = f.globals_read - {f.name}
                    self.functions.pop(f.name, None)
                    continue
                self.value_defs.discard(f.name)
                self.functions[f.name] = (f.source, cell.index, f.globals_read | f.builtins_read)
                self.function_lines[f.name] = f.lineno
                if is_class(f.source):
                    self.classes.add(f.name)
                if _REGISTERS.match(f.source):  # a pandas accessor: every later step's DataFrames have it
                    self.settings.append((_quietly(f.source), cell.index))
            for n in a.defines:
                if n not in a.imports and (n not in a.functions or n in a.value_defs):
                    self.producer[n] = step.name
        # an instance of a notebook class handed on needs the class where it is loaded (unpickling looks it up)
        referenced = set().union(*(analyses[c.index].referenced for c in step.code_cells))
        carried = referenced & self.classes
        for producer in set(step.inputs.values()):
            carried |= self.carried.get(producer, set())
        self.carried[step.name] = carried
        for n in step.mutated_inputs + step.function_writes:
            self.producer[n] = step.name
        for n in step.unbound:
            for table in (self.producer, self.imports, self.functions):
                table.pop(n, None)
        for n, p in self.producer.items():
            if p == step.name:
                (self.maybe.add if n in step.maybe_bound else self.maybe.discard)(n)
