"""Property-based tests: random tagged notebooks in memory -> plan -> rendered pipeline.

Invariants (see the docstring of each test):
1. ``render_pipeline(build_plan(nb))`` raises nothing but ``NbprodError``.
2. Conversion is deterministic.
3. Every name a step uses resolves (earlier in the step, builtin, parameter, shared cell, re-emitted
   import/def, or an input produced by exactly one upstream step that outputs it).
4. Generated files are well formed: task scripts compile, pipeline.yaml parses and names the plan's steps,
   hostile (non-identifier) names make the build fail and never reach generated files as code.
5. Each generated task script is self-consistent: every name its top-level code reads (and every global its
   functions read) is bound earlier in the script, and the user's code never rebinds the names the
   generated prologue/epilogue relies on (``upstream``, ``product``, ``load_value``, ``save_value``, ...).
"""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import yaml
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from nbprod.analysis.cells import BUILTINS, analyze_source
from nbprod.convert.render import render_pipeline
from nbprod.errors import NbprodError
from nbprod.notebook.reader import notebook_from_cells
from nbprod.notebook.tags import validate_identifier
from nbprod.plan.build import build_plan

PROJECT = Path("/tmp/proj")
_HC = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
FAST = settings(max_examples=200, deadline=None, database=None, suppress_health_check=_HC)
#: for the properties that carry explicit @examples of fixed bugs: few examples, no shrinking, so CI stays fast
KNOWN_BUG = settings(
    max_examples=30, deadline=None, database=None, suppress_health_check=_HC, phases=[Phase.explicit, Phase.generate]
)

# ---------------------------------------------------------------------------------------------------------------
# generators

#: a small pool so that cells read what other cells assign (data flow actually happens)
VAR_NAMES = ["a", "b", "df", "x", "model", "acc", "f1", "data", "print", "os", "np"]
STEP_NAMES = ["load", "clean", "train", "evaluate", "s1", "s2", "print", "data"]
HOSTILE = [
    "../evil",
    "a/b",
    "a\\b",
    "..",
    ".",
    "x y",
    "it's",
    'q"uote',
    "a\nb",
    "é",
    "ñame",
    "名前",
    "$(rm -rf ~)",
    ";ls",
    "`id`",
    "a|b",
    "a&b",
    "a>b",
    "class",
    "def",
    "None",
    "True",
    "import",
    "1abc",
    "a-b",
    "a.b",
    "a:b",
    "{{x}}",
    "${HOME}",
    "# c",
    "\x00",
    "a\tb",
    "CON",
    "ｆｕｌｌ",
    "x\u200b",
]
ALL_NAMES = VAR_NAMES + STEP_NAMES + HOSTILE

valid_var = st.sampled_from(VAR_NAMES)
valid_step = st.sampled_from(STEP_NAMES)
any_name = st.sampled_from(ALL_NAMES) | st.text(min_size=1, max_size=6)

JUNK_TAGS = [
    "hide-input",
    "remove-cell",
    "foo",
    "todo",
    "stpe:load",
    "step=load",
    "paramters",
    "metrix",
    "Step:load",
    "STEP:train",
    "block:train",
    "prev:load",
    "limit:nvidia.com/gpu:1",
    "imports:x",
    "step:",
    "after",
    "require:acc>=",
    "require:acc=>0.5",
    "card:owners",
    "card:bogus",
    "skip ",
    " imports",
    "gate:",
    "model",
]


def tag_strategy(names: st.SearchStrategy[str], steps: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        steps.map(lambda n: f"step:{n}"),
        steps.map(lambda n: f"after:{n}"),
        names.map(lambda n: f"gate:{n}"),
        names.map(lambda n: f"model:{n}"),
        st.sampled_from(["imports", "functions", "skip", "parameters", "metrics", "serve"]),
        names.map(lambda n: f"require:{n}>=0.5"),
        st.sampled_from(JUNK_TAGS),
    )


def stmt_strategy(names: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    n = names
    return st.one_of(
        st.tuples(n, n).map(lambda t: f"{t[0]} = {t[1]} + 1"),
        n.map(lambda t: f"{t} = 1"),
        n.map(lambda t: f"{t} = [1, 2, 3]"),
        n.map(lambda t: f"{t} += 1"),
        n.map(lambda t: f"{t}.append(1)"),
        n.map(lambda t: f'{t}["c"] = 1'),
        n.map(lambda t: f"{t}.fit({t})"),
        st.tuples(n, n).map(lambda t: f"def {t[0]}():\n    return {t[1]}"),
        st.tuples(n, n, n).map(lambda t: f"def {t[0]}(v={t[1]}):\n    return v + {t[2]}"),
        st.tuples(n, n).map(lambda t: f"class {t[0]}:\n    attr = {t[1]}"),
        st.tuples(n, n).map(lambda t: f"{t[0]} = {t[1]}()"),
        st.tuples(n, n).map(lambda t: f"{t[0]} = [{t[1]} for _i in range(3)]"),
        st.tuples(n, n).map(lambda t: f"{t[0]} = lambda: {t[1]}"),
        st.tuples(n, n).map(lambda t: f"if ({t[0]} := {t[1]}):\n    pass"),
        st.tuples(n, n).map(lambda t: f"for {t[0]} in {t[1]}:\n    pass"),
        st.tuples(n, n).map(lambda t: f"def g_{t[0]}():\n    global {t[1]}\n    {t[1]} = 2"),
        n.map(lambda t: f"{t}: int = 3"),
        n.map(lambda t: f"del {t}"),
        n.map(lambda t: f"print({t})"),
        n.map(lambda t: f"import numpy as {t}"),
        n.map(lambda t: f"from math import pi as {t}"),
        st.sampled_from(["import os", "import os.path", "from math import *", "import json, re"]),
        n.map(lambda t: f"{t} = !ls"),
        st.sampled_from(
            [
                "%pip install pandas",
                "!ls -la",
                "%matplotlib inline",
                "%%time\nx = 1",
                "%%bash\necho hi",
                "x = = 1",
                "def (:",
                "  indented = 1",
                "'''unterminated",
                "pass",
                "",
                "# just a comment",
                "x = '../evil'",
                "s = 'a\\nb'",
            ]
        ),
    )


def code_source(names: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.lists(stmt_strategy(names), min_size=0, max_size=4).map("\n".join)


#: parameter literals that trigger the known bugs reported in the module docstring (BUG-A, BUG-B, BUG-C)
KNOWN_BUG_LITERALS = ["1j", "{(1, 2): 3}", "1e999", "-1e999", "[1e999]"]
_RAW_LITERALS = [
    "b'x'",
    "'../evil'",
    "'a\\nb'",
    "'${HOME}'",
    "'# c'",
    "{1, 2}",
    "(1, 2)",
    "{1: 2}",
    "float('nan')",
    "-0.0",
]


def literals(known_bugs: bool) -> st.SearchStrategy:
    raw = _RAW_LITERALS + (KNOWN_BUG_LITERALS if known_bugs else [])
    return st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(10**20), 10**20)
        | st.floats(allow_nan=True)
        | st.text(max_size=8)
        | st.sampled_from(raw).map(lambda s: ("raw", s)),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
        max_leaves=5,
    )


def _lit_src(v: object) -> str:
    if isinstance(v, tuple):  # ("raw", source text used verbatim)
        return v[1]
    if isinstance(v, list):
        return "[" + ", ".join(_lit_src(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k!r}: {_lit_src(x)}" for k, x in v.items()) + "}"
    return repr(v)


def param_source(known_bugs: bool) -> st.SearchStrategy[str]:
    return st.lists(
        st.tuples(
            valid_var | st.sampled_from(["upstream", "product", "nbprod_inputs", "load_value"]), literals(known_bugs)
        ),
        min_size=1,
        max_size=3,
    ).map(lambda ps: "\n".join(f"{k} = {_lit_src(v)}" for k, v in ps))


@st.composite
def cell_strategy(draw, names, steps, hostile: bool, known_bugs: bool):
    kind = draw(st.sampled_from(["code"] * 6 + ["markdown", "raw"]))
    tags = draw(st.lists(tag_strategy(names, steps), max_size=3))
    if kind == "markdown":
        heading = draw(any_name if hostile else valid_step)
        src = draw(st.sampled_from([f"## {heading}", f"# Title {heading}", f"notes about {heading}", ""]))
        return ("markdown", src, tags)
    if kind == "raw":
        return ("raw", draw(st.text(max_size=10)), tags)
    if "parameters" in tags or draw(st.integers(0, 9)) == 0:
        src = draw(param_source(known_bugs))
    else:
        src = draw(code_source(names))
    if draw(st.integers(0, 6)) == 0 and tags:  # tags written as a first-line comment instead of metadata
        src = "# nbprod: " + " ".join(tags) + "\n" + src
        tags = []
    return ("code", src, tags)


@st.composite
def notebooks(draw, hostile: bool = True, known_bugs: bool = True):
    names = any_name if hostile else valid_var
    steps = any_name if hostile else valid_step
    cells = draw(st.lists(cell_strategy(names, steps, hostile, known_bugs), min_size=0, max_size=8))
    # most of the time start with a step so that plans succeed often enough to exercise properties 3-5
    if draw(st.booleans()):
        cells.insert(0, ("code", draw(code_source(names)), [f"step:{draw(steps)}"]))
    return cells


def _valid_notebooks(known_bugs: bool = True):
    return st.one_of(wellformed_notebooks(known_bugs), wellformed_notebooks(known_bugs), notebooks(False, known_bugs))


def _any_notebooks(known_bugs: bool = True):
    return st.one_of(notebooks(True, known_bugs), notebooks(False, known_bugs), wellformed_notebooks(known_bugs))


PARAM_NAMES = ["lr", "n", "seed", "path", "a"]
FUNC_NAMES = ["helper", "prep", "score"]


@st.composite
def valid_stmt(draw, defined: list[str], funcs: list[str], known_bugs: bool = True):
    """A statement that only reads names bound so far (``defined``); returns (source, names it binds)."""
    d = draw(st.sampled_from(defined)) if defined else "1"
    t = draw(st.sampled_from(VAR_NAMES[:8] + (["product", "upstream"] if known_bugs else [])))
    f = draw(st.sampled_from(funcs)) if funcs else None
    options = [
        (f"{t} = {d} + 1", [t]),
        (f"{t} = [1, 2, 3]", [t]),
        (f"{t} = {{'c': {d}}}", [t]),
        (f"{t} = [{d} for _i in range(3)]", [t]),
        (f"{t} = lambda: {d}", [t]),
        (f"if ({t} := {d}):\n    pass", [t]),
        (f"{t}: int = 3", [t]),
        (f"print({d})", []),
        (f"import math as {t}", [t]),
        (f"from math import pi as {t}", [t]),
        ("import os", ["os"]),
        (f"def fn_{t}(v=1):\n    return v + {d}", [f"fn_{t}"]),
        (f"class K_{t}:\n    attr = {d}", [f"K_{t}"]),
        (f"def g_{t}():\n    global {t}\n    {t} = 2", [f"g_{t}"]),
        ("%pip install pandas", []),
        ("!ls -la", []),
        (f"{t} = !ls", [t]),
        ("# a comment", []),
    ]
    if known_bugs:
        options.append((f"%%time\n{t} = {d} + 1", [t]))
    if defined:
        options += [(f"{d}.append(1)", []), (f'{d}["c"] = 1', []), (f"{d} += 1", []), (f"{d}.fit({d})", [])]
    if f:
        options += [(f"{t} = {f}({d})", [t]), (f"{t} = {f}()", [t])]
    return draw(st.sampled_from(options))


@st.composite
def wellformed_notebooks(draw, known_bugs: bool = True):
    """Notebooks that are mostly valid (so the plan succeeds often) but still exercise every feature."""
    defined: list[str] = []
    funcs: list[str] = []
    shared: list[tuple] = []
    params = draw(
        st.lists(st.tuples(st.sampled_from(PARAM_NAMES), literals(known_bugs)), max_size=3, unique_by=lambda p: p[0])
    )
    if params:
        shared.append(("code", "\n".join(f"{k} = {_lit_src(v)}" for k, v in params), ["parameters"]))
        defined += [k for k, _ in params]
    if draw(st.booleans()):
        shared.append(("code", "import json\nimport os as operating_system", ["imports"]))
        defined += ["json", "operating_system"]
    if draw(st.booleans()):
        fname = draw(st.sampled_from(FUNC_NAMES))
        glob = draw(st.sampled_from(defined + VAR_NAMES[:4] if defined else VAR_NAMES[:4]))
        shared.append(("code", f"def {fname}(v=0):\n    return v + {glob}", ["functions"]))
        funcs.append(fname)
    steps = draw(st.lists(st.sampled_from(STEP_NAMES), min_size=1, max_size=4, unique=True))
    body: list[tuple] = []
    metric_step = None
    for i, s in enumerate(steps):
        assigned: list[str] = []
        for j in range(draw(st.integers(1, 3))):
            lines = []
            for _ in range(draw(st.integers(1, 4))):
                src, binds = draw(valid_stmt(defined, funcs, known_bugs))
                lines.append(src)
                defined += [b for b in binds if b not in defined]
                assigned += binds
            tags = [f"step:{s}"] if j == 0 or draw(st.booleans()) else []
            if i and j == 0 and draw(st.integers(0, 3)) == 0:
                tags.append(f"after:{draw(st.sampled_from(steps[:i]))}")
            if assigned and draw(st.integers(0, 4)) == 0:
                tags.append(f"{draw(st.sampled_from(['gate', 'model']))}:{draw(st.sampled_from(assigned))}")
            if draw(st.integers(0, 5)) == 0:
                tags.append(draw(st.sampled_from(["hide-input", "remove-cell", "limit:nvidia.com/gpu:1"])))
            body.append(("code", "\n".join(lines), tags))
            if draw(st.integers(0, 4)) == 0:
                body.append(
                    ("markdown", draw(st.sampled_from(["## Notes", "text", "<!-- nbprod: card:owners -->\nme"])), [])
                )
        if metric_step is None and draw(st.integers(0, 3)) == 0:
            body.append(("code", "acc = 0.9\nf1 = 0.8", ["metrics"] + ([f"step:{s}"] if draw(st.booleans()) else [])))
            defined += ["acc", "f1"]
            metric_step = s
    if metric_step is not None and draw(st.booleans()):
        where = draw(st.sampled_from([k for k, c in enumerate(body) if c[0] == "code"]))
        ctype, src, tags = body[where]
        body[where] = (ctype, src, tags + [draw(st.sampled_from(["require:acc>=0.5", "require:f1<0.99"]))])
    # shared / skip cells go anywhere; parameters/imports/functions usually before the steps
    cells = body
    for c in shared:
        pos = 0 if draw(st.integers(0, 3)) else draw(st.integers(0, len(cells)))
        cells.insert(pos, c)
    for _ in range(draw(st.integers(0, 2))):
        cells.insert(draw(st.integers(0, len(cells))), ("code", draw(code_source(valid_var)), ["skip"]))
    if draw(st.integers(0, 3)) == 0:  # tags as a first-line comment
        k = draw(st.integers(0, len(cells) - 1))
        ctype, src, tags = cells[k]
        if ctype == "code" and tags:
            cells[k] = (ctype, "# nbprod: " + " ".join(tags) + "\n" + src, [])
    return cells


# ---------------------------------------------------------------------------------------------------------------
# helpers


def _convert(cells):
    nb = notebook_from_cells("nb.ipynb", cells)
    plan = build_plan(nb)
    return plan, render_pipeline(plan, PROJECT)


def _try_convert(cells):
    try:
        return _convert(cells)
    except NbprodError:
        return None, None


def _names_bound_by_source(src: str) -> set[str]:
    a = analyze_source(src)
    return set(a.defines) | set(a.imports) | set(a.functions)


def _is_ident(n: str) -> bool:
    return validate_identifier(n, "name") is None


# ---------------------------------------------------------------------------------------------------------------
# minimal failing examples of the known bugs (kept as explicit examples of the xfail properties)

BUG_A = [("code", "p = 1j", ["parameters"]), ("code", "x = p", ["step:load"])]
BUG_B = [("code", "lr = 1e999", ["parameters"]), ("code", "a = lr", ["step:load"])]
BUG_C = [("code", "p = {(1, 2): 3}", ["parameters"]), ("code", "x = p", ["step:load"])]
BUG_E = [("code", "x = 1", ["step:load"]), ("code", "%%time\ny = x", ["step:train"])]
BUG_D = [("code", "product = 1", ["step:load"]), ("code", "x = product", ["step:train"])]


# 1. only NbprodError


def check_only_nbprod_errors(cells):
    """Building and rendering any notebook either succeeds or raises NbprodError (never another exception)."""
    try:
        _convert(cells)
    except NbprodError:
        pass


@KNOWN_BUG
@given(_any_notebooks())
@example(cells=BUG_A)
def test_only_nbprod_errors(cells):
    check_only_nbprod_errors(cells)


@FAST
@given(_any_notebooks(known_bugs=False))
def test_only_nbprod_errors_without_known_bugs(cells):
    """Same property on notebooks without the parameter literals of the known bugs (keeps the rest covered)."""
    check_only_nbprod_errors(cells)


# 2. determinism


@FAST
@given(_any_notebooks())
def test_deterministic(cells):
    """The same notebook renders to identical files twice (separately built notebooks and plans); a notebook that
    fails, fails the same way both times."""

    def outcome():
        try:
            return _convert(cells)[1]
        except Exception as exc:  # noqa: BLE001 - comparing outcomes; property 1 judges the exception type
            return (type(exc).__name__, str(exc))

    assert outcome() == outcome()


# 3. every used name resolves


def _function_globals(plan, step):
    """name -> globals read, for functions visible to the step (shared cells, extra defs, its own cells)."""
    out: dict[str, set[str]] = {}
    for cell in step.shared_cells:
        for f in plan.analyses[cell.index].functions.values():
            out.setdefault(f.name, f.globals_read)
    for src, _idx in step.extra_defs:
        for f in analyze_source(src).functions.values():
            out.setdefault(f.name, f.globals_read)
    for cell in step.code_cells:
        for f in plan.analyses[cell.index].functions.values():
            out[f.name] = f.globals_read
    return out


@FAST
@given(_valid_notebooks())
def test_every_used_name_resolves(cells):
    """Every name a step's cells use (plus globals of functions it calls) is defined, builtin, a parameter,
    shared, re-emitted, or an input from exactly one upstream step that outputs it."""
    try:
        plan = build_plan(notebook_from_cells("nb.ipynb", cells))
    except NbprodError:
        return
    position = {s.name: i for i, s in enumerate(plan.steps)}
    for step in plan.steps:
        shared_defs = (
            set().union(*[set(plan.analyses[c.index].defines) for c in step.shared_cells])
            if step.shared_cells
            else set()
        )
        extra = set()
        for stmt in step.extra_imports:
            extra |= _names_bound_by_source(stmt)
        for src, _ in step.extra_defs:
            extra |= _names_bound_by_source(src)
        all_step_defs = set(step.defines)
        fglobs = _function_globals(plan, step)

        def ok(n: str, local: set[str]) -> bool:
            if n in local or n in BUILTINS or n in shared_defs or n in extra:
                return True
            if n in step.params and n in plan.parameters:
                return True
            if n in step.inputs:
                prod = step.inputs[n]
                assert prod in step.upstream, (step.name, n, prod, step.upstream)
                assert prod in position and position[prod] < position[step.name], (step.name, prod)
                assert n in plan.step(prod).outputs, (step.name, n, prod, plan.step(prod).outputs)
                return True
            return False

        local: set[str] = set()
        called: list[str] = []
        for cell in step.code_cells:
            a = plan.analyses[cell.index]
            if a.tree is None:
                continue
            for n in a.uses:
                assert ok(n, local), f"step {step.name!r}: {n!r} used in cell {cell.index} does not resolve"
                if n in fglobs:
                    called.append(n)
            local |= set(a.defines)
        # globals of functions the step calls (transitively) resolve at call time, i.e. after the step's cells
        seen: set[str] = set()
        while called:
            fn = called.pop()
            if fn in seen:
                continue
            seen.add(fn)
            for g in fglobs.get(fn, ()):
                assert ok(g, all_step_defs), (
                    f"step {step.name!r}: function {fn!r} reads global {g!r} that does not resolve"
                )
                if g in fglobs:
                    called.append(g)
        # each input maps to one producer that is upstream (a dict guarantees one; check the producer defines it, or
        # changed in place a value it loaded or a shared cell defines: lr = float(...) in a deriving parameters cell)
        for n, prod in step.inputs.items():
            p = plan.step(prod)
            assert n in p.defines or n in p.inputs or n in p.mutated_inputs, (step.name, n, prod)


# 4. well-formed files, hostile names rejected

_SAFE_FILE = re.compile(r"^(pipeline\.yaml|README\.md|tasks/[A-Za-z_][A-Za-z0-9_]*\.py)$")
_NAME_TAG = re.compile(r"^\s*(step|after|gate|model|block|prev)\s*:(.*)$", re.I | re.S)


def _code_outside_strings_and_comments(text: str) -> str:
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type not in (tokenize.COMMENT, tokenize.STRING, tokenize.NL, tokenize.NEWLINE) and tok.type != getattr(
            tokenize, "FSTRING_MIDDLE", -1
        ):
            out.append(tok.string)
    return " ".join(out)


def check_generated_files_well_formed(cells):
    """Task scripts compile, pipeline.yaml parses with the plan's step names, hostile names fail the build."""
    hostile_tag = any(
        ctype == "code" and (m := _NAME_TAG.match(t)) and m.group(2).strip() and not _is_ident(m.group(2).strip())
        for ctype, src, tags in cells
        for t in list(tags) + (src.split("\n", 1)[0].split()[2:] if src.startswith("# nbprod:") else [])
    )
    plan, files = _try_convert(cells)
    if plan is None:
        return
    assert not hostile_tag, "a step/after/gate/model tag with a non-identifier value was accepted"
    for name in [s.name for s in plan.steps] + [
        n for s in plan.steps for n in s.outputs + list(s.inputs) + s.params + s.metrics
    ]:
        assert _is_ident(name), name
    for rel, text in files.items():
        assert _SAFE_FILE.match(rel), rel
        if rel.endswith(".py"):
            compile(text, rel, "exec")
            code = _code_outside_strings_and_comments(text)
            for h in HOSTILE:
                if len(h) > 2 and h.isprintable() and re.search(r"[/\\$`;|&'\"{}]", h):
                    assert h not in code, (rel, h)
    spec = yaml.safe_load(files["pipeline.yaml"])
    assert [t["name"] for t in spec["tasks"]] == [s.name for s in plan.steps]
    assert [t["source"] for t in spec["tasks"]] == [f"tasks/{s.name}.py" for s in plan.steps]
    for t in spec["tasks"]:
        for pname, value in (t.get("params") or {}).items():
            assert _is_ident(pname)
            if pname in plan.parameters:
                assert _norm(value) == _norm(plan.parameters[pname]), (pname, value, plan.parameters[pname])


def _norm(v):
    """Compare parameter values as YAML carries them: tuples as lists, NaN equal to NaN."""
    if isinstance(v, (list, tuple)):
        return [_norm(x) for x in v]
    if isinstance(v, dict):
        return {k: _norm(x) for k, x in v.items()}
    if isinstance(v, float) and v != v:
        return "<nan>"
    return v


@KNOWN_BUG
@given(_any_notebooks())
@example(cells=BUG_C)
def test_generated_files_well_formed(cells):
    check_generated_files_well_formed(cells)


@FAST
@given(_any_notebooks(known_bugs=False))
def test_generated_files_well_formed_without_known_bugs(cells):
    check_generated_files_well_formed(cells)


# 5. task scripts are self-consistent

RESERVED = {"upstream", "product", "load_value", "save_value", "save_metrics"}


def check_task_scripts_self_consistent(cells):
    """In each generated task script every name read at top level is bound by an earlier statement, globals read by
    functions are bound by the end, and user code never rebinds names the generated code relies on."""
    plan, files = _try_convert(cells)
    if plan is None:
        return
    for step in plan.steps:
        text = files[f"tasks/{step.name}.py"]
        blocks = re.split(r"^# %%.*$", text, flags=re.M)
        bound = {"upstream", "product"} | set(plan.parameters) & set(step.params)
        user_bound: set[str] = set()
        fglobs: list[tuple[str, set[str]]] = []
        for block in blocks:
            a = analyze_source(block)
            assert a.tree is not None, block
            generated = (
                "nbprod: load this step's inputs" in block
                or "nbprod: save this step's outputs" in block
                or block.startswith("\nupstream = ")
            )
            for n in a.uses:
                assert n in bound or n in BUILTINS, f"{step.name}: {n!r} read before it is bound in:\n{block}"
            if not generated:
                user_bound |= set(a.defines)
            bound |= set(a.defines)
            fglobs += [(f.name, f.globals_read) for f in a.functions.values()]
        for fn, globs in fglobs:
            missing = globs - bound - BUILTINS
            assert not missing, f"{step.name}: function {fn} reads unbound globals {missing}"
        assert not set(step.params) & (RESERVED | {"nbprod_inputs"}), f"{step.name}: parameter shadows {step.params}"
        clash = user_bound & RESERVED
        assert not clash or not (step.inputs or step.outputs or step.metrics or step.params), (
            f"{step.name}: user code rebinds {clash}, which the generated task code relies on"
        )


@KNOWN_BUG
@given(_valid_notebooks())
@example(cells=BUG_B)
@example(cells=BUG_D)
@example(cells=BUG_E)
def test_task_scripts_self_consistent(cells):
    check_task_scripts_self_consistent(cells)


@FAST
@given(_valid_notebooks(known_bugs=False))
def test_task_scripts_self_consistent_without_known_bugs(cells):
    check_task_scripts_self_consistent(cells)


def test_a_shared_value_a_step_changes_is_its_input_for_the_next_step():
    """Found by the property above: a deriving parameters cell's value changed in place by a step (a shared value),
    then read by a later step, comes from the step that changed it, which hands it on as bound."""
    cells = [
        ("code", "# nbprod: parameters\nrates = list(range(3))", []),
        ("code", "rates.append(9)", ["step:load"]),
        ("code", "print(rates)", ["step:clean"]),
    ]
    plan = build_plan(notebook_from_cells("nb.ipynb", cells))
    load = plan.step("load")
    assert plan.step("clean").inputs == {"rates": "load"} and "rates" in load.mutated_inputs
    assert "rates" in load.outputs and "rates" not in load.maybe_bound
