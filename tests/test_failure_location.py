"""Where a failed step is reported: read back from executed step notebooks written here (no Ploomber, no kernel).

The tracebacks are what IPython records (ANSI colours included): frames outermost first, the executed cell's own
frame headed ``Cell In[N], line L``.
"""

from __future__ import annotations

import json
from pathlib import Path

import jupytext
import pytest

from nbprod.convert.render import render_task
from nbprod.engine.ploomber import _Build, _executed_line, _raise_step_failed, _read_failure
from nbprod.errors import StepFailedError
from nbprod.notebook.reader import notebook_from_cells
from nbprod.plan.build import build_plan

RED, RESET = "\x1b[0;31m", "\x1b[0m"


def ipython_traceback(cell_line: int, code: str, inner: list[tuple[str, int]] = ()) -> list[str]:
    """An IPython traceback: the executed cell's frame stopped at ``cell_line``, then the ``inner`` frames."""
    frames = [f"{RED}---------------------------------------------------------------------------{RESET}"]
    frames.append(f"Cell In[1], line {cell_line}\n      1 # a comment\n{RED}----> {cell_line} {code}\n")
    for path, line in inner:
        frames.append(f"File {path}:{line}, in f(x)\n    {line - 1} pass\n{RED}--> {line} return g(x)\n")
    return frames


def executed(tmp_path: Path, plan, step: str, failing: int, traceback: list[str], exc=("ValueError", "bad")) -> Path:
    """The step's generated task as an executed notebook whose generated cell number ``failing`` raised."""
    order = {s.name: i for i, s in enumerate(plan.steps)}
    text = render_task(plan, plan.step(step), "nb.ipynb", order)
    read = [c for c in jupytext.reads(text, fmt="py:percent").cells if c.cell_type == "code"]  # as Ploomber reads it
    cells = []
    for i, c in enumerate(read):
        cell = {"cell_type": "code", "metadata": dict(c.metadata), "source": c.source, "outputs": []}
        if i == failing:
            cell["outputs"] = [{"output_type": "error", "ename": exc[0], "evalue": exc[1], "traceback": traceback}]
        cells.append(cell)
    path = tmp_path / f"{step}.ipynb"
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


def index_of(path: Path, needle: str) -> int:
    cells = json.loads(path.read_text())["cells"]
    return next(i for i, c in enumerate(cells) if needle in c["source"] or needle in c["metadata"].get("title", ""))


def message(tmp_path: Path, plan, step: str, nb: Path) -> str:
    spec = {"tasks": [{"name": s.name, "product": {"nb": f"{s.name}.ipynb"}} for s in plan.steps]}
    b = _Build(spec, tmp_path, tmp_path, plan, "nb.ipynb", lambda event: None, None)
    with pytest.raises(StepFailedError) as info:
        _raise_step_failed(b, step, RuntimeError("the task failed"))
    assert info.value.fix.startswith("fix the cell in the notebook")
    return str(info.value)


CELLS = [
    ("code", "import json", ["imports"]),
    ("code", "def parse(t):\n    return json.loads(t)", ["functions"]),
    ("code", "text = '{not json'\nn = 3", ["step:load"]),
    ("code", "# parse it\nvalue = parse(text)\nk = value", ["step:parse"]),
    ("code", "score = n * 'high'\nratio = n / 2", ["step:evaluate", "metrics"]),
]


@pytest.fixture
def plan():
    return build_plan(notebook_from_cells("nb.ipynb", CELLS))


def test_the_line_is_the_executed_cells_frame_not_the_innermost(tmp_path, plan):
    tb = ipython_traceback(2, "value = parse(text)", [("/usr/lib/python3.11/json/decoder.py", 353)])
    tb.insert(2, "Cell In[1], line 2, in parse(t)\n----> 2 return json.loads(t)\n")  # the functions cell's frame
    assert _executed_line("\n".join(tb)) == 2
    nb = executed(tmp_path, plan, "parse", 0, [])
    failing = index_of(nb, "nbprod: step parse, cell 3")
    assert json.loads(nb.read_text())["cells"][failing]["source"].split("\n")[1] == "value = parse(text)"
    nb = executed(tmp_path, plan, "parse", failing, tb, ("JSONDecodeError", "Expecting property name"))
    text = message(tmp_path, plan, "parse", nb)
    assert "step 'parse' failed in cell 3 ('# parse it'), line 2: JSONDecodeError: Expecting property name" in text
    head = text.split("executed notebook")[0]
    assert "line 353" not in head  # the reported line is the cell's ...
    assert "\n  raised in json/decoder.py:353, in f" in head  # ... the library frame is context


def test_older_ipython_and_plain_tracebacks():
    assert _executed_line("Input In [4], in <cell line: 5>()\n----> 5 f()\nFile x.py:9, in f()\n--> 9 g()") == 5
    assert _executed_line("----> 2 f()\n--> 40 g()") == 2
    assert _executed_line("nothing to see") is None


def test_a_failing_save_metrics_names_the_metrics_cell(tmp_path, plan):
    nb = executed(tmp_path, plan, "evaluate", 0, [])
    failing = index_of(nb, "# nbprod: save this step's outputs")
    code = "save_metrics({'score': score, 'ratio': ratio}, product['metrics'])"
    line = json.loads(nb.read_text())["cells"][failing]["source"].split("\n").index(code) + 1
    tb = ipython_traceback(line, code, [("/site-packages/nbprod/io.py", 106)])
    evalue = "metric 'score' is str, not a number: assign a float in the 'metrics' cell"
    nb = executed(tmp_path, plan, "evaluate", failing, tb, ("TypeError", evalue))
    text = message(tmp_path, plan, "evaluate", nb)
    where = """nb.ipynb: step 'evaluate' failed in cell 4 ("score = n * 'high'")"""
    assert text.startswith(f"{where}: could not save metric 'score': TypeError: {evalue}")
    assert ", line" not in text.split(":")[1]  # a line of the generated block means nothing in the notebook


def test_a_failing_save_value_names_the_cell_that_assigns_the_output(tmp_path):
    cells = [
        ("code", "import threading\nlock = 1", ["step:make"]),
        ("code", "lock = threading.Lock()", []),
        ("code", "print(lock)", ["step:use"]),
    ]
    plan = build_plan(notebook_from_cells("nb.ipynb", cells))
    nb = executed(tmp_path, plan, "make", 0, [])
    failing = index_of(nb, "# nbprod: save this step's outputs")
    code = "save_value(lock, product['lock'])"
    line = json.loads(nb.read_text())["cells"][failing]["source"].split("\n").index(code) + 1
    nb = executed(tmp_path, plan, "make", failing, ipython_traceback(line, code), ("TypeError", "cannot pickle"))
    text = message(tmp_path, plan, "make", nb)
    assert "step 'make' failed in cell 1 ('lock = threading.Lock()'): could not save output 'lock': TypeError" in text


def test_a_failing_load_names_the_input_and_the_steps_first_cell(tmp_path, plan):
    nb = executed(tmp_path, plan, "parse", 0, [])
    failing = index_of(nb, "# nbprod: load this step's inputs")
    code = "text = load_value(upstream['load']['text'])"
    line = json.loads(nb.read_text())["cells"][failing]["source"].split("\n").index(code) + 1
    tb = ipython_traceback(line, code, [("/site-packages/joblib/numpy_pickle.py", 755)])
    nb = executed(tmp_path, plan, "parse", failing, tb, ("UnpicklingError", "invalid load key"))
    text = message(tmp_path, plan, "parse", nb)
    assert (
        "step 'parse' failed in cell 3 ('# parse it'): could not load input 'text' (a product of step 'load'): "
        "UnpicklingError: invalid load key" in text
    )


def test_a_block_failing_outside_any_product_blames_no_cell(tmp_path, plan):
    nb = executed(tmp_path, plan, "evaluate", 0, [])
    failing = index_of(nb, "# nbprod: save this step's outputs")
    code = "from nbprod.io import save_metrics"
    nb = executed(tmp_path, plan, "evaluate", failing, ipython_traceback(2, code), ("ModuleNotFoundError", "nbprod"))
    text = message(tmp_path, plan, "evaluate", nb)
    assert "step 'evaluate' failed: could not save the step's products: ModuleNotFoundError: nbprod" in text


def test_no_executed_notebook_falls_back_to_the_exception(tmp_path, plan):
    assert _read_failure(tmp_path / "missing.ipynb") is None
    text = message(tmp_path, plan, "parse", tmp_path / "parse.ipynb")
    assert "step 'parse' failed: RuntimeError: the task failed" in text
