"""What a value handed to a later step does not carry (issue 10): a numpy view's link to its base (NB408), a set's
iteration order (NB411), object identity (NB412), a named logger's configuration (replayed, else NB413), IPython's
output history (NB414). Each rule: a table of positive cases and near misses, then each shape end to end through the
real ``nbprod`` program on notebooks written with nbformat."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import nbformat
import pytest

from nbprod.analysis.settings import settings_statements
from nbprod.lint import lint_notebook
from nbprod.notebook.reader import notebook_from_cells
from tests.test_outside_cases import plan_of

IMPORTS = ("code", "import logging\nimport sys\nimport numpy as np\nimport pandas as pd", ["imports"])


def found(code: str, *steps: str) -> list[int]:
    """The cells (indices) of the ``code`` findings for a notebook of one imports cell and one step per source (a
    list: one step of several cells)."""
    cells = [IMPORTS] + [
        ("code", src, [f"step:s{i}"])
        for i, srcs in enumerate(steps)
        for src in ([srcs] if isinstance(srcs, str) else srcs)
    ]
    report = lint_notebook(notebook_from_cells("nb.ipynb", cells))
    return sorted(f.cell.index for f in report.findings if f.code == code and f.cell is not None)


VIEW = "data = np.ones((4, 3))\n"


@pytest.mark.parametrize(
    "steps, cells",
    [
        ((VIEW + "X = data[:, :2]", "X -= 1", "print(data.sum())"), [2]),  # the repro's shape
        ((VIEW + "X = data[:, :2]", "data *= 2", "print(X.sum())"), [2]),  # the base changed, the view read
        ((VIEW + "Xt = data.T", "Xt[0] = 5", "print(data)"), [2]),  # item assignment through .T
        ((VIEW + "flat = data.reshape(-1)", "flat.fill(0)", "print(data.sum())"), [2]),  # a mutating method
        ((VIEW + "V = np.asarray(data)", "np.multiply(V, 2, out=V)", "print(data.sum())"), [2]),  # out=
        ((VIEW + "head = data[:2]", "head += 1\nprint(data.sum())"), [2]),  # read in the changing step itself
        ((VIEW + "X = data[:, :2].copy()", "X -= 1", "print(data.sum())"), []),  # a copy
        ((VIEW + "X = data[:, :2]\nX -= 1", "print(data.sum())"), []),  # changed where it was bound
        ((VIEW + "X = data[:, :2]", "X -= 1", "print(X.sum())"), []),  # the base is never read after
        (
            (
                "rng = np.random.default_rng(0)\nM = rng.normal(size=(4, 2)).round(2)\nhead = M[:2]",
                "M -= 1",
                "print(head)",
            ),
            [2],
        ),
        (("lst = [1, 2, 3]\nfirst = lst[:2]", "first.append(9)", "print(lst)"), []),  # a list's slice is a copy
        ((VIEW + "lst = data.tolist()\nfirst = lst[:2]", "first.append(9)", "print(lst)"), []),  # tolist: a list
        (("df = pd.DataFrame({'c': [1, 2]})\ns = df['c']", "s += 1", "print(df)"), []),  # pandas 3 copies on write
        ((VIEW + "X = data[:, :2]", "X = X - 1", "print(data.sum())"), []),  # a new array, not a change
    ],
)
def test_a_numpy_view_changed_in_a_later_step(steps, cells):
    assert found("NB408", *steps) == cells


def test_a_numpy_view_finding_names_both_cells_and_the_copy():
    cells = [IMPORTS] + [
        ("code", s, [f"step:s{i}"]) for i, s in enumerate((VIEW + "X = data[:, :2]", "X -= 1", "data"))
    ]
    (f,) = [f for f in lint_notebook(notebook_from_cells("nb.ipynb", cells)).findings if f.code == "NB408"]
    assert "'X' is a view of 'data' since cell 1 ('data = np.ones((4, 3))')" in f.message
    assert "step 's2' (cell 3 ('data')) reads 'data'" in f.message
    assert "X = data[:, :2].copy()" in f.fix


VOCAB = "vocab = {'alpha', 'beta', 'gamma', 'delta'}\n"


@pytest.mark.parametrize(
    "steps, cells",
    [
        ((VOCAB + "order = list(vocab)", "print(list(vocab) == order)"), [2]),  # the repro's shape
        ((VOCAB + "for w in vocab:\n    print(w)", "print(', '.join(vocab))"), [2]),  # a loop, then join
        (
            ("tags = frozenset(['x', 'y'])\nfirst = next(iter(tags))", "for i, t in enumerate(tags):\n    print(i, t)"),
            [2],
        ),
        ((VOCAB + "print(vocab)", "print(f'{vocab}')"), [2]),  # a set's repr follows its order
        ((VOCAB + "order = list(vocab)", "print(sorted(vocab) == sorted(order))"), []),  # sorted: no order
        ((VOCAB + "order = list(vocab)", "print(len(vocab), 'beta' in vocab)"), []),  # len, in
        ((VOCAB, "print(list(vocab))"), []),  # the building step does not iterate: every loader sees one order
        ((VOCAB + "order = list(vocab)\nprint(list(vocab) == order)",), []),  # one step, one kernel
        (("words = ['b', 'a']\norder = list(words)", "print(list(words))"), []),  # a list keeps its order
        ((VOCAB + "order = list(vocab)", "print({w.upper() for w in vocab}, sum(len(w) for w in vocab))"), []),
    ],
)
def test_a_set_iterated_in_two_steps(steps, cells):
    assert found("NB411", *steps) == cells


X = "x = [1, 2]\n"


@pytest.mark.parametrize(
    "steps, cells",
    [
        ((X + "seen = {id(x)}\nalias = x", "print(id(x) in seen, alias is x)"), [2]),  # the repro's shape
        ((X + "alias = x", "print(alias is not x)"), [2]),
        ((X + "ids = []\nids.append(id(x))", "y = [3]\nprint(id(y) in ids)"), [2]),  # stored ids compared
        (("models = [[1], [2]]\nbest = models[0]", "for m in models:\n    print(m is best)"), [2]),
        ((X, "print(x is None, x is not True, type(x) is list, x is ...)"), []),  # singletons, literals, classes
        ((X + "alias = x\nprint(alias is x)", "print(x)"), []),  # the test in the step that makes them
        ((X, "y = x\nprint(y is x)"), []),  # bound from it in this kernel
        ((X + "seen = {id(x)}", "print(len(seen))"), []),  # stored ids not compared
        (("import matplotlib.pyplot as plt\nfig, ax = plt.subplots()", "ax.plot([1])", "print(ax.figure is fig)"), []),
    ],
)
def test_identity_on_values_a_later_step_loads(steps, cells):
    assert found("NB412", *steps) == cells


GET = "logger = logging.getLogger('etl')\n"


@pytest.mark.parametrize(
    "steps, cells",
    [
        (("logger = logging.getLogger('etl')", "logger.setLevel(logging.INFO)", "logger.info('x')"), [3]),
        ((GET + "logger.addHandler(logging.FileHandler('run.log'))", "logger.warning('x')"), [2]),  # opens a file
        ((GET + "h = logging.StreamHandler(sys.stdout)\nlogger.addHandler(h)\nh.close()", "logger.info('x')"), [2]),
        (("logging.getLogger().addHandler(logging.FileHandler('a.log'))", "logging.warning('x')"), [2]),  # root
        ((GET + "logger.setLevel(logging.INFO)\nlogger.addHandler(logging.StreamHandler(sys.stdout))", "logger.info('x')"), []),
        ((GET + "h = logging.StreamHandler(sys.stdout)\nh.setFormatter(logging.Formatter('%(message)s'))\n"
          "logger.addHandler(h)", "logger.info('x')"), []),  # replayed: the handler is only configured and added
        ((GET + "logger.addHandler(logging.FileHandler('run.log'))\nlogger.warning('x')", "print(1)"), []),  # own step
        ((GET + "logger.addHandler(logging.FileHandler('run.log'))", "logging.getLogger('other').info('x')"), []),
    ],
)  # fmt: skip
def test_a_logger_configuration_nbprod_cannot_replay(steps, cells):
    assert found("NB413", *steps) == cells


@pytest.mark.parametrize(
    "source, replayed",
    [
        (
            GET + "logger.setLevel(logging.INFO)\nlogger.info('ready')\nlogger.propagate = False",
            ["logging.getLogger('etl').setLevel(logging.INFO)", "logging.getLogger('etl').propagate = False"],
        ),
        ("logging.getLogger('a.b').setLevel(10)\nlogging.getLogger('a.b').debug('x')", ["logging.getLogger('a.b').setLevel(10)"]),
        (GET + "logger.warning('x')", []),  # a logging call prints: never replayed
        ("logger.setLevel(logging.INFO)", []),  # bound in another cell: lint says so (NB413)
        (GET + "logger = make()\nlogger.setLevel(1)", []),  # rebound to something else
        ("lg = logging.getLogger(name)\nlg.setLevel(1)", []),  # a computed name
        ("lg = logging.getLogger(__name__)\nlg.setLevel(1)", ["logging.getLogger('__main__').setLevel(1)"]),
    ],
)  # fmt: skip
def test_which_logger_statements_are_replayed(source, replayed):
    tree = ast.parse(source)
    assert settings_statements(tree, source) == replayed


def test_a_replayed_handler_is_added_once_and_only_where_the_logger_has_none_like_it():
    source = GET + "logger.addHandler(logging.StreamHandler(sys.stdout))"
    (replay,) = settings_statements(ast.parse(source), source)
    seen: dict[str, object] = {"logging": __import__("logging"), "sys": sys}
    logger = __import__("logging").getLogger("nbprod-test-replay")
    code = replay.replace("'etl'", "'nbprod-test-replay'")
    try:
        exec(code, seen)  # a fresh kernel: the handler is added
        exec(code, seen)  # in-process steps share the logger: not twice
        assert [type(h).__name__ for h in logger.handlers] == ["StreamHandler"]
        assert logger.handlers[0].stream is sys.stdout and "_nbprod_handler" not in seen
    finally:
        logger.handlers.clear()


def test_a_replayed_logger_is_loaded_and_configured_in_the_later_step():
    cells = [
        IMPORTS,
        ("code", GET + "logger.setLevel(logging.INFO)", ["step:a"]),
        ("code", "logger.info('x')", ["step:b"]),
    ]
    plan = plan_of(cells)
    assert plan.step("b").settings == [("logging.getLogger('etl').setLevel(logging.INFO)", 1)]


@pytest.mark.parametrize(
    "steps, cells",
    [
        (("3 + 4", "x = _"), [2]),  # the repro's shape
        (("df = {'a': 1}\nlen(df)", "x = _"), [2]),  # a call's value (the outside corpus's `frame.groupby(...).size()`)
        (("[1, 2]", "y = 5\nprint(y)", "x = _"), [3]),  # a print shows no value
        (("1 + 1", "x = Out[1]"), [2]),  # a step's kernel numbers its own cells
        (("print(In[0])",), [1]),
        (("3 + 4", ["y = 5\ny", "x = _"]), []),  # the value a cell of this step displayed
        (("3 + 4", "y = 5\ny", "x = _"), [3]),  # ... a cell of another step
        (("3 + 4;", "x = _"), []),  # ; shows nothing
        (("for _ in range(3):\n    pass", "x = _"), []),  # a variable named _
        (("3 + 4\nx = _\nprint(x)",), []),  # the cell's own statements display nothing
    ],
)
def test_ipython_history_read_across_a_step(steps, cells):
    assert found("NB414", *steps) == cells


def test_a_step_reading_the_value_two_displays_back():
    cells = [("code", "1 + 1", ["step:a"]), ("code", "2 + 2", ["step:b"]), ("code", "y = __", ["step:b"])]
    report = lint_notebook(notebook_from_cells("nb.ipynb", cells))
    (f,) = [f for f in report.findings if f.code == "NB414"]
    assert f.cell.index == 2 and "cell 0 ('1 + 1') (step 'a')" in f.message


# the five shapes end to end: the real `nbprod` program, notebooks written with nbformat ------------------------------


def write(tmp_path, name: str, sources: list[str]):
    """A notebook of ``## `` sections (untagged, as the outside tester wrote them), one code cell each."""
    nb = nbformat.v4.new_notebook()
    for i, src in enumerate(sources):
        nb.cells += [nbformat.v4.new_markdown_cell(f"## Part {i}"), nbformat.v4.new_code_cell(src)]
    path = tmp_path / name
    nbformat.write(nb, str(path))
    return path


def nbprod(tmp_path, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nbprod", *argv], capture_output=True, text=True, cwd=tmp_path)


SHAPES = {
    "NB408": ["import numpy as np\ngrid = np.arange(12.0).reshape(3, 4)\nrow = grid[0, :]", "row *= 10", "print(grid)"],
    "NB411": ["labels = set('spam eggs ham'.split())\ncolumns = list(labels)", "print(columns == list(labels))"],
    "NB412": ["import pandas as pd\nframe = pd.DataFrame({'a': [1]})\nkeep = frame", "print(keep is frame)"],
    "NB414": ["21 * 2", "answer = _\nprint(answer)"],
}


@pytest.mark.parametrize("code", sorted(SHAPES))
def test_lint_names_the_shape_before_running(tmp_path, code):
    path = write(tmp_path, "shape.ipynb", SHAPES[code])
    proc = nbprod(tmp_path, "lint", path.name, "--format", "json")
    assert proc.returncode == 0, proc.stderr  # warnings: the pipeline still runs
    findings = [f for f in json.loads(proc.stdout)["findings"] if f["code"] == code]
    at = 3 if code == "NB408" else 2 * len(SHAPES[code]) - 1  # the cell that changes the view, else the reader
    assert len(findings) == 1 and findings[0]["cell"]["index"] == at, proc.stdout
    assert findings[0]["fix"]


LOGGER = [
    "import logging\nimport sys\nlog = logging.getLogger('pipeline.etl')\nlog.setLevel(logging.DEBUG)\n"
    "out = logging.StreamHandler(sys.stdout)\nout.setFormatter(logging.Formatter('%(levelname)s %(message)s'))\n"
    "log.addHandler(out)\nlog.debug('set up')",
    "rows = [3, 4]\nlog.info('read %d rows', len(rows))",
]


def printed(tmp_path, step: str) -> str:
    executed = json.loads((tmp_path / f".nbprod/products/logs/{step}.ipynb").read_text())
    return "".join("".join(o.get("text", "")) for c in executed["cells"] for o in c.get("outputs", []))


@pytest.mark.slow
@pytest.mark.parametrize("mode", [["--isolated"], []])
def test_a_logger_configured_in_one_step_logs_in_the_next(tmp_path, mode):
    """Replayed, the later step's log line is printed as in the notebook, once also in-process (one logging module)."""
    write(tmp_path, "logs.ipynb", LOGGER)
    assert "NB413" not in nbprod(tmp_path, "lint", "logs.ipynb").stdout
    proc = nbprod(tmp_path, "run", "logs.ipynb", *mode, "--no-track", "--no-package")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert printed(tmp_path, "part_0") == "DEBUG set up\n"
    assert printed(tmp_path, "part_1") == "INFO read 2 rows\n"


@pytest.mark.slow
def test_run_warns_of_a_history_read_before_any_step_runs(tmp_path):
    write(tmp_path, "hist.ipynb", SHAPES["NB414"])
    proc = nbprod(tmp_path, "run", "hist.ipynb", "--no-track", "--no-package")
    out = proc.stdout + proc.stderr
    warning = "warning: hist.ipynb, cell 3 ('answer = _'): '_' is the value cell 1 ('21 * 2') (step 'part_0')"
    assert proc.returncode == 0 and warning in out, out
    assert out.index(warning) < out.index("part_0 ..."), out
