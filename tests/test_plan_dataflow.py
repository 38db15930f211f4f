"""Unit tests for the seams of the planner: the step resolver, the graph walks, the data-file probe, duplicates."""

import os

import pytest

from nbprod.analysis.cells import analyze_source
from nbprod.notebook.reader import notebook_from_cells, read_notebook
from nbprod.plan import build_plan
from nbprod.plan.datafiles import disk_probe, input_files
from nbprod.plan.dataflow import Scope, StepResolver, training_inputs
from nbprod.plan.model import Step
from nbprod.plan.order import ancestors, depths
from nbprod.plan.report import Report
from tests.conftest import EXAMPLES


def plan_of(cells, **kw):
    return build_plan(notebook_from_cells("nb.ipynb", cells), **kw)


# ---------------------------------------------------------------------------------------------------------------
# StepResolver: one step against a hand-made Scope


def cells_of(*sources):
    return notebook_from_cells("nb.ipynb", [("code", s, []) for s in sources]).cells


def resolve_step(scope, *sources):
    """Run a resolver over one step made of ``sources``; returns (step, report)."""
    cells = cells_of(*sources)
    step, report = Step("s", list(cells)), Report()
    resolver = StepResolver(step, scope, report)
    for cell in cells:
        resolver.read(cell, analyze_source(cell.source))
    resolver.finish()
    return step, report


def shared_scope(*sources, parameters=()):
    """A Scope whose shared cells are ``sources`` (as 'functions' cells), with those cells."""
    cells = cells_of(*sources)
    analyses = {c.index: analyze_source(c.source) for c in cells}
    return Scope.before_steps({"functions": list(cells)}, analyses, parameters), cells


def test_resolver_turns_names_into_params_inputs_and_errors_in_first_use_order():
    scope = Scope(parameters={"lr", "n"}, producer={"df": "load", "y": "split"})
    step, report = resolve_step(scope, "model = fit(df, y, lr)\nm2 = lr * n", "score = model.score(df) + ghost")
    assert step.params == ["lr", "n"]
    assert step.inputs == {"df": "load", "y": "split"}
    assert step.defines == ["model", "m2", "score"]
    # 'fit' and 'ghost' are defined nowhere: one NB104 each, pointing at the cell that reads them
    assert [(f.code, f.cell.index) for f in report.findings] == [("NB104", 0), ("NB104", 1)]
    assert "uses 'fit'" in report.findings[0].message and "uses 'ghost'" in report.findings[1].message


def test_resolver_local_names_and_builtins_need_nothing():
    step, report = resolve_step(Scope(producer={"x": "a"}), "x = 1\ny = len([x])", "z = x + y")
    assert step.inputs == {} and step.params == [] and report.findings == []


def test_resolver_read_before_assignment_is_an_input():
    step, _ = resolve_step(Scope(producer={"x": "a"}), "x = x + 1")
    assert step.inputs == {"x": "a"} and step.defines == ["x"]


def test_resolver_a_step_value_shadows_a_parameter_or_shared_name_of_the_same_name():
    scope, _ = shared_scope("helper = 1", parameters={"n"})
    scope.producer.update({"n": "early", "helper": "early"})
    step, _ = resolve_step(scope, "out = n + helper")
    assert step.inputs == {"n": "early", "helper": "early"}
    assert step.params == [] and step.shared_cells == []


def test_resolver_copies_the_shared_cells_a_shared_function_needs_transitively():
    scope, _ = shared_scope(
        "def double(v):\n    return v * factor",
        "def quad(v):\n    return double(double(v))",
        "factor = 2",
        "unused = 0",
    )
    step, report = resolve_step(scope, "out = quad(3)")
    # quad (cell 1) calls double (cell 0), which reads factor (cell 2); cell 3 is not needed
    assert [c.index for c in step.shared_cells] == [0, 1, 2]
    assert report.findings == []


def test_resolver_follows_the_globals_of_a_shared_function_into_parameters_and_inputs():
    scope, _ = shared_scope("def scale(v):\n    return v * lr + offset", parameters={"lr"})
    scope.producer["offset"] = "prep"
    step, _ = resolve_step(scope, "out = scale(1)")
    assert step.params == ["lr"] and step.inputs == {"offset": "prep"}


def test_resolver_reemits_earlier_imports_and_functions_with_their_globals():
    scope = Scope(
        parameters={"k"},
        producer={"table": "load"},
        imports={"math": "import math"},
        functions={"sq": ("def sq(v):\n    return v * k + len(table)", 3, {"k", "table"})},
    )
    step, report = resolve_step(scope, "a = math.sqrt(sq(2))", "b = sq(a)")
    assert step.extra_imports == ["import math"]
    assert step.extra_defs == [("def sq(v):\n    return v * k + len(table)", 3)]  # once, though used twice
    assert step.params == ["k"] and step.inputs == {"table": "load"}
    assert report.findings == []


def test_resolver_globals_of_the_steps_own_functions_resolve_at_the_end_of_the_step():
    # f reads 'later', assigned after f is defined: fine at call time; 'missing' is assigned nowhere
    step, report = resolve_step(Scope(), "def f():\n    return later + missing", "later = 1\nf()")
    assert [f.message for f in report.findings] == [
        "step 's' uses 'missing', which no earlier step, parameter, import or function defines"
    ]
    assert report.findings[0].cell.index == 0
    # a function the step never calls reads its globals when a later step calls it: a global a later step assigns
    # is resolved there (the step that calls it copies it); one nothing assigns is still refused
    _, report = resolve_step(Scope(defined_later={"missing"}), "def f():\n    return later + missing", "later = 1")
    assert report.findings == []
    _, report = resolve_step(Scope(), "def f():\n    return later + missing", "later = 1")
    assert [f.code for f in report.findings] == ["NB104"]


def test_resolver_records_mutated_inputs_but_not_mutated_locals():
    step, _ = resolve_step(Scope(producer={"data": "a", "other": "a"}), "data.append(1)\nmine = []\nmine.append(1)")
    assert step.inputs == {"data": "a"} and step.mutated_inputs == ["data"]


def test_resolver_an_input_reassigned_in_an_earlier_cell_is_local_when_mutated():
    step, _ = resolve_step(Scope(producer={"data": "a"}), "data = list(data)", "data.append(1)")
    assert step.inputs == {"data": "a"} and step.mutated_inputs == []


def test_scope_record_makes_the_last_assigning_or_mutating_step_the_producer():
    cells = cells_of("import os\nx = 1\ndef f():\n    return 1", "df.append(2)")
    analyses = {c.index: analyze_source(c.source) for c in cells}
    scope = Scope(producer={"df": "load"})
    first = Step("first", [cells[0]])
    scope.record(first, analyses)
    assert scope.producer == {"df": "load", "x": "first"}  # imports and functions are re-emitted, not produced
    assert scope.imports == {"os": "import os"} and scope.functions["f"][1] == 0
    second = Step("second", [cells[1]], mutated_inputs=["df"])
    scope.record(second, analyses)
    assert scope.producer["df"] == "second"


# ---------------------------------------------------------------------------------------------------------------
# graph walks: ancestors and depths

DIAMOND = [
    ("code", "a = 1", ["step:root"]),
    ("code", "b = a", ["step:left"]),
    ("code", "c = b", ["step:left2"]),
    ("code", "d = a", ["step:right"]),
    ("code", "e = c + d", ["step:join"]),
    ("code", "z = 0", ["step:alone"]),
]


def test_ancestors_are_transitive_and_in_plan_order():
    assert ancestors(plan_of(DIAMOND)) == {
        "root": [],
        "left": ["root"],
        "left2": ["root", "left"],
        "right": ["root"],
        "join": ["root", "left", "left2", "right"],
        "alone": [],
    }


def test_ancestors_include_after_edges():
    plan = plan_of([("code", "a = 1", ["step:one"]), ("code", "b = 2", ["step:two", "after:one"])])
    assert ancestors(plan) == {"one": [], "two": ["one"]}


def test_depths_are_the_longest_path_from_a_root():
    assert depths(plan_of(DIAMOND)) == {"root": 0, "left": 1, "left2": 2, "right": 1, "join": 3, "alone": 0}


def test_graph_walks_terminate_on_a_cyclic_plan():
    plan = plan_of(
        [("code", "x = 1", ["step:a", "after:c"]), ("code", "y = x", ["step:b"]), ("code", "z = y", ["step:c"])],
        strict=False,
    )
    assert any(f.code == "NB015" for f in plan.findings)
    assert [s.name for s in plan.steps] == ["a", "b", "c"]  # notebook order when there is no valid order
    assert ancestors(plan) == {"a": ["a", "b", "c"], "b": ["a", "b", "c"], "c": ["a", "b", "c"]}
    assert set(depths(plan).values()) <= {0, 1, 2}


# ---------------------------------------------------------------------------------------------------------------
# data files: the injected probe

READER = [
    ("code", "import pandas as pd\ndf = pd.read_csv('./data/a.csv')\nagain = 'data/a.csv'", ["step:load"]),
    ("code", "df.to_csv('./data/a.csv')", []),
    ("code", "def extra():\n    return open('lookup.txt').read()", ["functions"]),
    ("code", "out = df.join(extra())\nname = 'a.csv'\nabs_path = '/etc/passwd'\nnote = 'two\\nlines'", ["step:use"]),
]


def test_probe_decides_which_literals_are_data_files():
    asked = []

    def probe(literal):
        asked.append(literal)
        return literal.endswith((".csv", ".txt"))

    plan = plan_of(READER, probe=probe)
    # as POSIX paths relative to the notebook, sorted, one entry for './data/a.csv' and 'data/a.csv'
    assert plan.step("load").input_files == ["data/a.csv"]
    # the shared cell 'extra' comes with the step, and so does the file it reads
    assert plan.step("use").input_files == ["a.csv", "lookup.txt"]
    # the probe sees literals as written, each once per step; absolute paths and multi-line strings are never asked
    assert "/etc/passwd" not in asked and "two\nlines" not in asked
    assert asked.count("./data/a.csv") == 1


def test_a_notebook_in_memory_is_not_probed_by_default():
    assert [s.input_files for s in plan_of(READER).steps] == [[], []]


def test_probe_overrides_the_disk_next_to_the_notebook():
    nb = read_notebook(EXAMPLES / "regression.ipynb")
    assert build_plan(nb).step("load").input_files == ["data/houses.csv"]  # default: the disk
    assert build_plan(nb, probe=lambda literal: False).step("load").input_files == []


def test_disk_probe_accepts_only_regular_files_inside_the_folder(tmp_path):
    folder = tmp_path / "nb"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "a.csv").write_text("x")
    (folder / "subdir").mkdir()
    (tmp_path / "outside.csv").write_text("x")
    probe = disk_probe(folder)
    assert probe("data/a.csv") and probe("./data/../data/a.csv")
    assert not probe("subdir") and not probe("missing.csv") and not probe("../outside.csv")
    os.symlink(tmp_path / "outside.csv", folder / "link.csv")
    assert not probe("link.csv")  # a link that leaves the folder is not the notebook's data
    os.symlink(folder / "data" / "a.csv", folder / "inside.csv")
    assert probe("inside.csv")


def test_input_files_uses_the_probe_it_is_given():
    plan = plan_of(READER)
    step = plan.step("load")
    assert input_files(step, plan.analyses, lambda literal: literal == "data/a.csv") == ["data/a.csv"]
    assert input_files(step, plan.analyses, lambda literal: False) == []


# ---------------------------------------------------------------------------------------------------------------
# duplicate steps


def test_a_step_name_that_comes_back_is_a_step_of_its_own_in_notebook_order():
    plan = plan_of(
        [
            ("code", "x = 1", ["step:a"]),
            ("code", "y = x", ["step:b"]),
            ("code", "z = 2 + y", ["step:a", "gate:z"]),  # 'a' again after b: runs as a_2, after b, as in the notebook
            ("code", "w = 3", []),
            ("markdown", "more about a", []),
            ("code", "v = y + z + w", ["step:c"]),
        ],
        strict=False,
    )
    assert [f.code for f in plan.findings] == ["NB013"] and plan.findings[0].severity == "warning"
    assert "run as step 'a_2'" in plan.findings[0].message and plan.findings[0].cell.index == 2
    assert [s.name for s in plan.steps] == ["a", "b", "a_2", "c"]
    assert [c.index for c in plan.step("a").cells] == [0] and plan.step("a").gates == []
    assert [c.index for c in plan.step("a_2").code_cells] == [2, 3] and plan.step("a_2").gates == ["z"]
    assert plan.step("a_2").inputs == {"y": "b"}
    assert plan.outside == [] and plan.step("c").inputs == {"y": "b", "z": "a_2", "w": "a_2"}


# ---------------------------------------------------------------------------------------------------------------
# training inputs


def test_training_inputs_are_the_names_passed_to_the_model_fit():
    plan = plan_of(
        [
            ("code", "X, y, w = [1], [2], [3]", ["step:prep"]),
            ("code", "other.fit(w, w)\nclf = make()\nclf.fit(X, y)", ["step:train", "model:clf"]),
        ],
        strict=False,
    )
    assert training_inputs(plan, plan.step("train")) == ("X", "y")
    assert training_inputs(plan, plan.step("prep")) == (None, None)


@pytest.mark.parametrize("call,expected", [("clf.fit(X)", ("X", None)), ("clf.fit(X[0], y)", (None, "y"))])
def test_training_inputs_that_are_not_plain_names(call, expected):
    plan = plan_of([("code", f"X, y = [1], [2]\nclf = make()\n{call}", ["step:train", "model:clf"])], strict=False)
    assert training_inputs(plan, plan.step("train")) == expected
