"""``%%capture [name]`` runs in the pipeline as IPython runs it: the cell's output is kept (in ``name``), not shown."""

from __future__ import annotations

import pytest

from nbprod.convert.render import render_pipeline
from nbprod.lint.report import lint_notebook
from nbprod.notebook.reader import notebook_from_cells
from nbprod.plan.build import build_plan
from nbprod.workflow.verify import verify

CELLS = [
    ("code", "import sys", ["imports"]),
    ("code", "%%capture out\nx = 41\nprint('fitting', x)\nprint('warn', file=sys.stderr)", ["step:fit"]),
    ("code", "%%capture --no-stdout\nprint('shown', x + 1)\ny = x * 2", ["step:quiet"]),
    ("code", '%%capture kept\nnote = """two\nlines"""\nprint(note)', ["step:quoted"]),
    ("code", "print(out.stdout.strip(), '|', out.stderr.strip(), y, kept.stdout.split())", ["step:report"]),
]


def test_the_name_a_capture_binds_is_handed_on_and_the_body_runs_inside_capture_output(tmp_path):
    plan = build_plan(notebook_from_cells("nb.ipynb", CELLS))
    assert plan.step("report").inputs == {"out": "fit", "y": "quiet", "kept": "quoted"}
    tasks = render_pipeline(plan, tmp_path)
    fit = tasks["tasks/fit.py"]
    assert "capture_output(stdout=True, stderr=True, display=True) as out:  # nbprod: %%capture out\n" in fit
    assert "\n    print('fitting', x)\n" in fit
    assert (
        "capture_output(stdout=False, stderr=True, display=True):  # nbprod: %%capture --no-stdout"
        in (tasks["tasks/quiet.py"])
    )


def test_lint_says_a_capture_runs():
    findings = lint_notebook(notebook_from_cells("nb.ipynb", CELLS)).findings
    assert {f.code for f in findings if f.cell is not None and f.cell.index in (1, 2)} == {"NB305"}


@pytest.mark.parametrize("body", ['text = """a\nb"""\nprint(text)', "text = 'a\\\nb'\nprint(text)"])
def test_a_body_with_a_string_spanning_lines_runs_unindented_between_enter_and_exit(body, tmp_path):
    cells = [("code", "%%capture cap\n" + body, ["step:a"]), ("code", "print(cap.stdout)", ["step:b"])]
    task = render_pipeline(build_plan(notebook_from_cells("nb.ipynb", cells)), tmp_path)["tasks/a.py"]
    assert (
        "; cap = _nbprod_capture.__enter__()  # nbprod: %%capture cap\n" + body + "\nif _nbprod_capture.__exit__("
        in task
    )


def test_a_body_of_comments_only_still_parses(tmp_path):
    cells = [("code", "%%capture\n# nothing to run yet", ["step:a"])]
    task = render_pipeline(build_plan(notebook_from_cells("nb.ipynb", cells)), tmp_path)["tasks/a.py"]
    assert "    # nothing to run yet\n    pass\n" in task


@pytest.mark.slow
def test_captured_cells_verify_equal(tmp_path, write_nb):
    report = verify(write_nb(CELLS, "capture.ipynb", folder=tmp_path), project=tmp_path)
    assert report.equal, report.render()
