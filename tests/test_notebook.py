import json

import pytest

from nbprod.errors import NotebookReadError
from nbprod.notebook.reader import read_notebook
from tests.conftest import FIXTURES, nb_json


def test_reads_ipynb_cells_tags_and_execution_counts(write_nb):
    path = write_nb(
        [
            ("markdown", "# Title", []),
            ("code", "import os", ["imports"], 1),
            ("code", "# nbprod: step:load gate:df\ndf = 1", [], 2),
        ]
    )
    nb = read_notebook(path)
    assert [c.cell_type for c in nb.cells] == ["markdown", "code", "code"]
    assert [str(t) for t in nb.cells[2].tags] == ["step:load", "gate:df"]
    assert nb.cells[1].execution_count == 1 and nb.has_execution_counts
    assert nb.cells[2].first_line == "# nbprod: step:load gate:df"


def test_metadata_and_comment_tags_are_equivalent(write_nb):
    a = read_notebook(write_nb([("code", "x = 1", ["step:load", "model:x"])], "a.ipynb"))
    b = read_notebook(write_nb([("code", "# nbprod: step:load model:x\nx = 1", [])], "b.ipynb"))
    assert [str(t) for t in a.cells[0].tags] == [str(t) for t in b.cells[0].tags]


def test_source_as_list_of_lines(tmp_path):
    data = nb_json([("code", "x = 1\ny = 2", ["step:a"])])
    data["cells"][0]["source"] = ["x = 1\n", "y = 2"]
    (tmp_path / "l.ipynb").write_text(json.dumps(data))
    assert read_notebook(tmp_path / "l.ipynb").cells[0].source == "x = 1\ny = 2"


def test_reads_percent_format_script():
    nb = read_notebook(FIXTURES / "percent_format.py")
    assert nb.fmt == "percent"
    steps = [t.value for c in nb.cells for t in c.tags if t.kind == "step"]
    assert len(steps) >= 3
    assert any(c.cell_type == "markdown" for c in nb.cells)
    assert any(c.source.startswith("# nbprod: step:") for c in nb.cells)


def test_percent_markdown_is_uncommented(tmp_path):
    p = tmp_path / "p.py"
    p.write_text('# %% [markdown] tags=["card:owners"]\n# The *ML* team\n#\n# second\n\n# %% tags=["step:a"]\nx = 1\n')
    nb = read_notebook(p)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source == "The *ML* team\n\nsecond"
    assert [str(t) for t in nb.cells[0].tags] == ["card:owners"]
    assert nb.cells[1].source == "x = 1"


def test_tag_problems_are_attached_to_their_cell(write_nb):
    nb = read_notebook(write_nb([("code", "x = 1", ["stpe:train", "hide-input"])]))
    [problem] = nb.problems
    assert problem.code == "NB001" and problem.cell.index == 0 and "step:train" in problem.fix


def test_card_tag_on_code_cell_is_an_error(write_nb):
    nb = read_notebook(write_nb([("code", "x = 1", ["card:owners"])]))
    assert "belongs on a markdown cell" in nb.problems[0].message


def test_digest_ignores_outputs_and_counts(write_nb, tmp_path):
    a = read_notebook(write_nb([("code", "x = 1", ["step:a"], 1)], "a.ipynb"))
    b = read_notebook(write_nb([("code", "x = 1", ["step:a"], 7)], "b.ipynb"))
    c = read_notebook(write_nb([("code", "x = 2", ["step:a"], 1)], "c.ipynb"))
    assert a.digest() == b.digest() != c.digest()


@pytest.mark.parametrize(
    "content,message",
    [
        (b'{"cells": [', "is not valid JSON"),
        (b"\x89PNG\r\n\x1a\n\x00\x00garbage", "is not UTF-8 text"),
        (b"\xff\xfe{}", "is not UTF-8 text"),
        (b'{"nbformat": 3, "nbformat_minor": 0, "worksheets": []}', "has nbformat 3"),
        (b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}', "has no cells"),
        (b'{"foo": 1}', "not a Jupyter notebook"),
        (b"[1, 2]", "not a Jupyter notebook"),
        (b'{"nbformat": 4, "cells": [{"cell_type": "code", "metadata": {}}]}', "cell 0 has no 'source'"),
        (b'{"nbformat": 4, "cells": [{"cell_type": "widget", "source": ""}]}', "cell 0 has cell_type 'widget'"),
        (b'{"nbformat": 4, "cells": [{"cell_type": "code", "source": 5}]}', "cell 0 has a 'source' of type int"),
    ],
)
def test_bad_notebooks_get_clear_errors(tmp_path, content, message):
    path = tmp_path / "bad.ipynb"
    path.write_bytes(content)
    with pytest.raises(NotebookReadError) as info:
        read_notebook(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)
    assert info.value.fix


def test_missing_file_and_wrong_suffix(tmp_path):
    with pytest.raises(NotebookReadError, match="no such file"):
        read_notebook(tmp_path / "nope.ipynb")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(NotebookReadError, match="unsupported file type"):
        read_notebook(tmp_path / "x.txt")
    (tmp_path / "plain.py").write_text("x = 1\n")
    with pytest.raises(NotebookReadError, match="without '# %%' cell markers"):
        read_notebook(tmp_path / "plain.py")
