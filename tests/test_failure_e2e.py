"""End to end: a failed step names the notebook cell and line it comes from (review 2.11, items 1 and 2).

Real notebooks, converted and built in-process by Ploomber in a temporary project.
"""

from __future__ import annotations

import pytest

from nbprod.errors import StepFailedError
from nbprod.workflow.run import run

pytestmark = pytest.mark.slow


def failure(notebook: str) -> str:
    with pytest.raises(StepFailedError) as info:
        run(notebook, track=False, package=False)
    return str(info.value)


def test_an_error_inside_a_called_function_is_reported_at_the_cells_line(tmp_path, monkeypatch, write_nb):
    """json.loads fails deep inside json/decoder.py: the line is the cell's, 2, not the decoder's."""
    monkeypatch.chdir(tmp_path)
    write_nb(
        [
            ("code", "import json", ["imports"]),
            ("code", "text = '{not json'", ["step:load"]),
            ("code", "# parse it\nvalue = json.loads(text)\nn = 1", ["step:parse"]),
        ],
        "nb1.ipynb",
    )
    text = failure("nb1.ipynb")
    assert text.startswith("nb1.ipynb: step 'parse' failed in cell 2 ('# parse it'), line 2: JSONDecodeError: ")
    assert "\n  raised in json/decoder.py:" in text  # the library frame, as context


def test_a_metric_cell_that_computes_an_array_on_the_way_does_not_fail_its_step(tmp_path, monkeypatch, write_nb):
    """Only numbers are metrics: 'high' is left out at plan time, the list at save time; neither fails the step."""
    monkeypatch.chdir(tmp_path)
    write_nb(
        [
            ("code", "x = 1", ["step:train"]),
            ("code", "y = x + 1", ["step:evaluate"]),
            ("code", "grade = 'high'\nproba = [x, y]\nscore = len(proba) / 4\nlabels = proba.copy()", ["metrics"]),
        ],
        "nb2.ipynb",
    )
    result = run("nb2.ipynb", track=False, package=False)
    assert result.metrics == {"score": 0.5}


def test_an_input_that_cannot_be_loaded_names_the_input_and_the_steps_first_cell(tmp_path, monkeypatch, write_nb):
    monkeypatch.chdir(tmp_path)
    cells = [("code", "x = [1, 2]", ["step:first"]), ("code", "y = x + [3]", ["step:second"])]
    write_nb(cells, "nb3.ipynb")
    assert run("nb3.ipynb", track=False, package=False).ran == ["first", "second"]
    for stored in (tmp_path / ".nbprod/products/nb3/first/x").iterdir():
        stored.write_bytes(b"not a pickle")  # the upstream product is damaged
    write_nb([cells[0], ("code", "y = x + [4]", ["step:second"])], "nb3.ipynb")  # only `second` re-runs
    text = failure("nb3.ipynb")
    assert text.startswith(
        "nb3.ipynb: step 'second' failed in cell 1 ('y = x + [4]'): "
        "could not load input 'x' (a product of step 'first')"
    )
