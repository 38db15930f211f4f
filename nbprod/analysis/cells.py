"""Static analysis of one code cell: names defined and used, imports, functions, in-place mutations.

Pure ``ast``: IPython magics (``%pip``, ``%%time``, ``!ls``, ``x = !cmd``) are neutralised first so they
never crash the parser; they are reported so lint can name them.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field
from typing import Optional, Union

from nbprod.analysis.binding import BOUND, UNBOUND, State, literal_code, merge, namespace_key, star_names
from nbprod.analysis.effects import MUTATING_METHODS, call_effects, comprehension_effects, globals_mutated, root_name
from nbprod.analysis.magics import neutralise
from nbprod.analysis.model import FunctionInfo
from nbprod.analysis.scopes import (
    Comprehension,
    Definition,
    arg_names,
    comprehension_free,
    definition_free,
    globals_written,
    scope_free,
    walrus_targets,
)

__all__ = [
    "CellAnalysis",
    "FunctionInfo",
    "analyze_source",
    "BUILTINS",
    "MUTATING_METHODS",
]

#: Names that exist in every notebook kernel without being defined.
BUILTINS = frozenset(dir(builtins)) | {"get_ipython", "display", "In", "Out", "_", "__", "___", "exit", "quit"}


@dataclass
class CellAnalysis:
    source: str
    cleaned: str
    tree: Optional[ast.Module]
    syntax_error: Optional[str] = None
    syntax_lineno: Optional[int] = None
    defines: list[str] = field(default_factory=list)
    uses: list[str] = field(default_factory=list)
    mutates: list[str] = field(default_factory=list)
    assigned: list[str] = field(default_factory=list)
    imports: dict[str, str] = field(default_factory=dict)
    functions: dict[str, FunctionInfo] = field(default_factory=dict)
    value_defs: set[str] = field(default_factory=set)  # its definitions that travel as values (plan.build)
    star_imports: list[str] = field(default_factory=list)
    magics: list[tuple[int, str]] = field(default_factory=list)
    cell_magic: bool = False
    binding: State = field(default_factory=dict)  # name -> what may have happened to it (nbprod.analysis.binding)
    builtin_uses: list[str] = field(default_factory=list)  # builtin names read before the cell assigns them
    referenced: set[str] = field(default_factory=set)  # every name the cell's module-level code reads
    calls: set[str] = field(default_factory=set)  # names the cell calls (``f(...)``), also inside exec literals
    dynamic: list[tuple[int, str]] = field(default_factory=list)  # (line, call) of exec/eval of computed code
    #: name -> the bare-name functions it is passed to (mutated unless each is a pure import; the planner decides)
    passed_to: dict[str, list[str]] = field(default_factory=dict)


_Definition = Definition


class _ModuleVisitor(ast.NodeVisitor):
    """Walks module-level code in (approximate) evaluation order, recording loads before stores."""

    def __init__(self, result: CellAnalysis) -> None:
        self.r = result
        self.defined: set[str] = set()
        self._uses: dict[str, None] = {}
        self._defs: dict[str, None] = {}
        self._mut: dict[str, None] = {}
        self._assigned: dict[str, None] = {}
        self.depth = 0  # >0 inside compound statements (if/for/with/try)
        self.state: State = {}

    # events
    def load(self, name: str) -> None:
        self.r.referenced.add(name)
        if name not in self.defined:
            self._uses.setdefault(name, None)

    def store(self, name: str) -> None:
        self.defined.add(name)
        self._defs.setdefault(name, None)
        self.state[name] = frozenset({BOUND})

    def unbind(self, name: str) -> None:
        self.state[name] = frozenset({UNBOUND})

    def _branches(self, *bodies: list[ast.stmt]) -> None:
        """Run each body from the current state; the state after is their merge."""
        start, ends = self.state, []
        for body in bodies:
            self.state = dict(start)
            self._block(body)
            ends.append(self.state)
        self.state = merge(ends)

    def mutate(self, node: ast.AST) -> None:
        name = root_name(node)
        if name:
            self.load(name)
            self._mut.setdefault(name, None)

    # statements
    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        for t in node.targets:
            key = namespace_key(t)  # globals()["rate"] = 0.5 binds rate; globals()[f"df_{k}"] = ...: unseen names
            if key is None:
                self._assign_target(t)
            elif key:
                self.store(key)
            else:
                self.r.dynamic.append((node.lineno, "globals()[...]"))

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
            self._assign_target(node.target)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.visit(node.value)
        if isinstance(node.target, ast.Name):
            self.load(node.target.id)
            self._assign_target(node.target)
        else:
            self._assign_target(node.target)

    def _assign_target(self, t: ast.AST) -> None:
        if isinstance(t, ast.Name):
            self.store(t.id)
            if self.depth == 0:
                self._assigned.setdefault(t.id, None)
        elif isinstance(t, (ast.Tuple, ast.List)):
            for e in t.elts:
                self._assign_target(e)
        elif isinstance(t, ast.Starred):
            self._assign_target(t.value)
        elif isinstance(t, (ast.Subscript, ast.Attribute)):
            self.mutate(t)
            if isinstance(t, ast.Subscript):
                self.visit(t.slice)

    def visit_Delete(self, node: ast.Delete) -> None:
        for t in node.targets:
            for e in t.elts if isinstance(t, (ast.Tuple, ast.List)) else [t]:
                if isinstance(e, ast.Name):
                    self.load(e.id)
                    self.unbind(e.id)
                else:
                    self.mutate(e)

    def visit_For(self, node: Union[ast.For, ast.AsyncFor]) -> None:
        self.visit(node.iter)
        start = dict(self.state)  # the body may run no time at all
        self._assign_target(node.target)
        self._block(node.body + node.orelse)
        self.state = merge([start, self.state])

    visit_AsyncFor = visit_For

    def visit_With(self, node: Union[ast.With, ast.AsyncWith]) -> None:
        for item in node.items:
            self.visit(item.context_expr)
            if item.optional_vars is not None:
                self._assign_target(item.optional_vars)
        self._block(node.body)

    visit_AsyncWith = visit_With

    def visit_If(self, node: ast.If) -> None:
        self.visit(node.test)
        self._branches(node.body, node.orelse)

    def visit_While(self, node: ast.While) -> None:
        self.visit(node.test)
        self._branches([], node.body + node.orelse)

    def visit_Match(self, node: ast.Match) -> None:
        self.visit(node.subject)
        start, ends = self.state, [dict(self.state)]  # no case may match
        for case in node.cases:
            self.state = dict(start)
            self.depth += 1
            self.visit(case.pattern)
            if case.guard is not None:
                self.visit(case.guard)
            self.depth -= 1
            self._block(case.body)
            ends.append(self.state)
        self.state = merge(ends)

    def visit_Try(self, node: ast.Try) -> None:  # also ast.TryStar (3.11+), which has the same fields
        start = dict(self.state)
        self._block(node.body + node.orelse)
        done = self.state
        ends = [done]
        for h in node.handlers:
            self.state = merge([start, done])  # the exception may come from any statement of the body
            if h.type is not None:
                self.visit(h.type)
            if h.name:
                self.store(h.name)
            self._block(h.body)
            if h.name:
                self.unbind(h.name)  # Python deletes the 'as' name when the handler ends
            ends.append(self.state)
        self.state = merge(ends)
        self._block(node.finalbody)

    visit_TryStar = visit_Try

    def _block(self, stmts: list[ast.stmt]) -> None:
        self.depth += 1
        for s in stmts:
            self.visit(s)
        self.depth -= 1

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            name = a.asname or a.name.split(".")[0]
            stmt = f"import {a.name}" + (f" as {a.asname}" if a.asname else "")
            self.r.imports[name] = stmt
            self.store(name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = "." * node.level + (node.module or "")
        for a in node.names:
            if a.name == "*":
                self.r.star_imports.append(module)
                for name in star_names(module) or ():
                    self.r.imports[name] = f"from {module} import {name}"
                    self.store(name)
                continue
            name = a.asname or a.name
            self.r.imports[name] = f"from {module} import {a.name}" + (f" as {a.asname}" if a.asname else "")
            self.store(name)

    def _def(self, node: _Definition, free: set[str]) -> None:
        free = free | definition_free(node)
        name = node.name
        src = ast.get_source_segment(self.r.cleaned, node) or ""
        segments = [ast.get_source_segment(self.r.cleaned, d) for d in node.decorator_list]
        decorators = [d for d in segments if d]
        if segments and len(decorators) == len(segments):  # every decorator's source was found
            src = "\n".join("@" + d for d in decorators) + "\n" + src
        written: set[str] = set()
        mutated: set[str] = set()
        args = True  # a class, or a decorated function (the wrapper may do anything): may change its arguments
        if not isinstance(node, ast.ClassDef):
            written, mutated = globals_written(node), globals_mutated(node, free - BUILTINS)
            args = bool(node.decorator_list) or bool(globals_mutated(node, arg_names(node.args)))
        self.r.functions[name] = FunctionInfo(
            name, free - BUILTINS - {name}, src, node.lineno, written, (free & BUILTINS) - {name}, mutated, args
        )
        self.store(name)

    def visit_FunctionDef(self, node: Union[ast.FunctionDef, ast.AsyncFunctionDef]) -> None:
        for d in node.decorator_list:
            self.visit(d)
        args = node.args
        for d in args.defaults + [d for d in args.kw_defaults if d is not None]:
            self.visit(d)
        self._def(node, scope_free(node.body, arg_names(args)))

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for d in node.decorator_list + node.bases + [k.value for k in node.keywords]:
            self.visit(d)
        self._def(node, scope_free(node.body, set()))

    # expressions
    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self.load(node.id)
        else:
            self.store(node.id)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        self.store(node.target.id)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        for d in node.args.defaults:
            self.visit(d)
        for n in sorted(scope_free([node.body], arg_names(node.args))):
            self.load(n)

    def _comp(self, node: Comprehension) -> None:
        free = comprehension_free(node)
        for n in sorted(free):
            self.load(n)
        self._effects(*comprehension_effects(node, free, self.r.imports))  # [rng.random() for _ in xs] runs now
        for n in walrus_targets(node):  # ``[y := f(x) for x in xs]`` binds y in the enclosing scope
            self.store(n)

    visit_ListComp = visit_SetComp = visit_GeneratorExp = visit_DictComp = _comp

    def visit_Call(self, node: ast.Call) -> None:
        self.visit(node.func)
        for a in node.args:
            self.visit(a)
        for k in node.keywords:
            self.visit(k.value)
        if isinstance(node.func, ast.Name):
            self.r.calls.add(node.func.id)
        receiver, mutated, passed = call_effects(node, self.r.imports)
        self._effects(receiver + mutated, passed, set())
        self._exec(node)

    def _effects(self, changed: list[ast.AST], passed: list[tuple[str, str]], calls: set[str]) -> None:
        for n in changed:
            self.mutate(n)
        for root, callee in passed:
            self.load(root)
            self.r.passed_to.setdefault(root, []).append(callee)
        self.r.calls |= calls

    def _exec(self, node: ast.Call) -> None:
        """``exec``/``eval`` of a string literal is analysed like the code it holds; of anything else, noted."""
        if not (isinstance(node.func, ast.Name) and node.func.id in ("exec", "eval")):
            return
        code = literal_code(node)
        if code is None:
            self.r.dynamic.append((node.lineno, node.func.id))
        elif isinstance(code, ast.Expression):
            self.visit(code.body)
        elif isinstance(code, ast.Module):
            for stmt in code.body:
                self.visit(stmt)

    def visit_MatchAs(self, node: ast.MatchAs) -> None:
        if node.pattern is not None:
            self.visit(node.pattern)
        if node.name:
            self.store(node.name)

    def visit_MatchStar(self, node: ast.MatchStar) -> None:
        if node.name:
            self.store(node.name)

    def visit_MatchMapping(self, node: ast.MatchMapping) -> None:
        for k in node.keys:
            self.visit(k)
        for p in node.patterns:
            self.visit(p)
        if node.rest:
            self.store(node.rest)

    def finish(self) -> None:
        self.r.uses = [n for n in self._uses if n not in BUILTINS]
        self.r.builtin_uses = [n for n in self._uses if n in BUILTINS]
        self.r.binding = self.state
        self.r.defines = list(self._defs)
        self.r.mutates = list(self._mut)
        self.r.assigned = list(self._assigned)


def analyze_source(source: str) -> CellAnalysis:
    """Analyse one code cell. Never raises on bad code: a syntax error is recorded in the result."""
    magics: list[tuple[int, str]] = []
    try:
        tree = ast.parse(source)
        cleaned, cell_magic = source, False
    except SyntaxError:
        cleaned, magics, cell_magic = neutralise(source)
        try:
            tree = ast.parse(cleaned)
        except SyntaxError as exc:
            return CellAnalysis(
                source,
                cleaned,
                None,
                syntax_error=f"line {exc.lineno}: {exc.msg}",
                syntax_lineno=exc.lineno,
                magics=magics,
                cell_magic=cell_magic,
            )
        except (ValueError, RecursionError, MemoryError) as exc:
            return CellAnalysis(
                source, cleaned, None, syntax_error=f"cannot parse: {type(exc).__name__}", magics=magics
            )
    except (ValueError, RecursionError, MemoryError) as exc:
        return CellAnalysis(source, source, None, syntax_error=f"cannot parse: {type(exc).__name__}")
    result = CellAnalysis(source, cleaned, tree, magics=magics, cell_magic=cell_magic)
    visitor = _ModuleVisitor(result)
    for stmt in tree.body:
        visitor.visit(stmt)
    visitor.finish()
    return result
