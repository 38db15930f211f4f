"""Values that cannot be saved between steps (a generator, an open file, a connection): the ``## `` sections that share
one run as one step; tagged steps that hand one on are refused before anything runs (NB409)."""

from __future__ import annotations

import pytest

from nbprod.lint.report import lint_notebook
from nbprod.notebook.reader import notebook_from_cells
from nbprod.plan.build import build_plan
from nbprod.workflow.verify import verify

KINDS = [
    ("gen = (i * i for i in range(5))", "print(next(gen), list(gen))", "a generator"),
    ("def batches(n):\n    for i in range(n):\n        yield [i]\ngen = batches(3)", "print(list(gen))", "a generator"),
    ("log = open('run.log', 'w')\nlog.write('start\\n')", "log.write('end\\n')\nlog.close()", "an open file"),
    ("import sqlite3\ncon = sqlite3.connect(':memory:')", "print(con.execute('select 1').fetchall())", "a database"),
    (
        "import sqlite3\ncur = sqlite3.connect(':memory:').cursor()",
        "print(cur.execute('select 2').fetchall())",
        "a database cursor",
    ),
]


def sections(make: str, use: str) -> list:
    return [
        ("markdown", "## Make", []),
        ("code", make, []),
        ("markdown", "## Between", []),
        ("code", "x = 1", []),
        ("markdown", "## Use", []),
        ("code", use, []),
        ("markdown", "## After", []),
        ("code", "print(x + 1)", []),
    ]


@pytest.mark.parametrize("make, use, what", KINDS)
def test_sections_sharing_a_value_that_cannot_be_saved_run_as_one_step(make, use, what):
    plan = build_plan(notebook_from_cells("nb.ipynb", sections(make, use)))
    assert [s.name for s in plan.steps] == ["make", "after"]
    assert [c.index for c in plan.step("make").code_cells] == [1, 3, 5]
    assert any(what in n and "cell 1" in n and "run as one step ('make')" in n for n in plan.notes), plan.notes


@pytest.mark.parametrize("make, use, what", KINDS)
def test_tagged_steps_handing_one_on_are_refused_before_running(make, use, what):
    cells = [("code", make, ["step:make"]), ("code", use, ["step:use"])]
    report = lint_notebook(notebook_from_cells("nb.ipynb", cells))
    found = [f for f in report.errors if f.code == "NB409"]
    assert len(found) == 1 and found[0].cell.index == 0 and what in found[0].message, report.findings


@pytest.mark.parametrize(
    "make, use",
    [
        ("with open('a.txt', 'w') as f:\n    f.write('x')", "print(open('a.txt').read())"),  # closed where it is made
        ("text = open('a.txt').read()", "print(text)"),  # what the file holds, a string
        ("squares = [i * i for i in range(3)]", "print(squares)"),  # a list, not a generator
        ("gen = (i for i in range(3))\nitems = list(gen)", "print(items)"),  # the generator stays in its step
    ],
)
def test_values_that_can_be_saved_keep_their_sections(make, use):
    plan = build_plan(notebook_from_cells("nb.ipynb", sections(make, use)))
    assert [s.name for s in plan.steps] == ["make", "between", "use", "after"]
    assert not [f for f in lint_notebook(plan.notebook).errors if f.code == "NB409"]


@pytest.mark.slow
def test_a_connection_shared_by_sections_verifies_equal(tmp_path, write_nb):
    cells = [
        ("code", "import sqlite3", []),
        ("markdown", "## Connect", []),
        ("code", "con = sqlite3.connect(':memory:')\ncon.execute('create table t (r text, v real)')", []),
        ("markdown", "## Load", []),
        ("code", "con.executemany('insert into t values (?, ?)', [('n', 1.5), ('s', 2.0), ('n', 4.0)])", []),
        ("markdown", "## Query", []),
        ("code", "rows = con.execute('select r, sum(v) from t group by r order by r').fetchall()\nprint(rows)", []),
        ("markdown", "## Report", []),
        ("code", "print(len(rows), rows[0])", []),
    ]
    report = verify(write_nb(cells, "sql.ipynb", folder=tmp_path), project=tmp_path)
    assert report.equal and [s.name for s in report.steps] == ["connect", "report"], report.render()
