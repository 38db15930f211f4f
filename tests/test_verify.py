"""``nbprod verify``: the notebook top to bottom against the pipeline step by step."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nbprod.notebook.reader import read_notebook
from nbprod.plan.build import build_plan
from nbprod.workflow.verify import verify
from nbprod.workflow.verify_compare import compare_objects, compare_products, same_printed
from nbprod.workflow.verify_notebook import notebook_json

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"

FILL = """\
# %% tags=["functions"]
def fill(items):
    items.extend([1, 2, 3])

# %% tags=["step:make"]
lst = []
base = 10

# %% tags=["step:grow"]
fill(lst)
print(len(lst))

# %% tags=["step:use", "metrics"]
total = float(base + sum(lst))
print(total)
"""

ALIAS = """\
# %% tags=["step:make"]
def wrap(items):
    return {"items": items}


lst = []
holder = wrap(lst)  # one list, two names, made by a call nbprod does not look into

# %% tags=["step:grow"]
holder["items"].append(5.0)
print(len(holder["items"]))

# %% tags=["step:use", "metrics"]
total = float(sum(lst))
print(total)
"""

SEEDED_ONCE = """\
# %% tags=["imports"]
import numpy as np

# %% tags=["step:first"]
np.random.seed(0)
a = np.random.rand(3)

# %% tags=["step:second"]
b = np.random.rand(3)

# %% tags=["step:third"]
c = a + b
print(c.round(3))
"""


ENV_SET_ELSEWHERE = """\
# %% tags=["imports"]
import os

# %% tags=["step:configure"]
os.environ["NBPROD_CORPUS_MODE"] = "fast"
n = 3

# %% tags=["step:use"]
mode = os.environ["NBPROD_CORPUS_MODE"]
print(mode, n)
"""

#: state that is neither a variable nor a setting nbprod knows: an attribute set on an imported module
MODULE_ATTRIBUTE_ELSEWHERE = """\
# %% tags=["imports"]
import string

# %% tags=["step:configure"]
string.house_style = "fast"
n = 3

# %% tags=["step:use"]
mode = string.house_style
print(mode, n)
"""


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "nbprod", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


# --- comparing values -----------------------------------------------------------------------------------------


def test_values_compare_by_content_with_a_tolerance():
    df = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    assert compare_objects(df, df.copy())[0] == "equal"
    assert compare_objects(df, df.assign(a=[1.0, 2.5]))[0] == "different"
    assert compare_objects(np.arange(3.0), np.arange(3.0) + 1e-13)[0] == "equal"
    status, detail = compare_objects(np.arange(3.0), np.arange(3.0) + 0.5)
    assert status == "different" and "max abs difference 0.5" in detail
    assert compare_objects([1, "a", {"k": 2.0}], [1, "a", {"k": 2.0}])[0] == "equal"
    status, detail = compare_objects([1, 2, 3], [1, 2])
    assert status == "different" and "3 items" in detail
    assert compare_objects(np.float64(0.1 + 0.2), 0.3)[0] == "equal"
    assert compare_objects(3, 4)[0] == "different"
    assert compare_objects(pd.Series([1, 2], name="s"), pd.Series([1, 2], name="s"))[0] == "equal"


def test_other_objects_compare_by_equality_or_a_digest():
    from sklearn.linear_model import LinearRegression

    x, y = np.arange(10.0).reshape(-1, 1), np.arange(10.0) * 2
    assert compare_objects(LinearRegression().fit(x, y), LinearRegression().fit(x, y))[0] == "equal"
    assert compare_objects(LinearRegression().fit(x, y), LinearRegression().fit(x, y + 1))[0] == "different"


def test_a_fitted_estimator_compares_its_arrays_within_the_tolerance():
    from sklearn.preprocessing import StandardScaler

    a = StandardScaler().fit(np.arange(12.0).reshape(4, 3))
    b = StandardScaler().fit(np.arange(12.0).reshape(4, 3))
    b.mean_ = b.mean_ + 1e-15  # the same fit in another kernel: the last bits differ
    assert compare_objects(a, b)[0] == "equal"
    b.mean_ = b.mean_ + 0.1
    status, detail = compare_objects(a, b)
    assert status == "different" and detail.startswith("StandardScaler.mean_: arrays differ")
    assert compare_objects({"x": 1, "y": 2}, {"y": 2, "x": 1})[0] == "equal"


def test_fitted_trees_compare_by_their_nodes_not_their_bytes():
    from sklearn.ensemble import RandomForestClassifier

    X, y = np.arange(40.0).reshape(20, 2), np.arange(20) % 2
    a = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    assert compare_objects(a, RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y))[0] == "equal"
    status, detail = compare_objects(
        a, RandomForestClassifier(n_estimators=3, random_state=0).fit(X, (y + X[:, 0] > 20))
    )
    assert status == "different" and "Tree." in detail


def test_object_identities_kept_by_an_estimator_are_not_compared():
    from sklearn.feature_extraction.text import CountVectorizer

    texts = ["a cat", "a dog", "two cats"]
    a, b = CountVectorizer().fit(texts), CountVectorizer().fit(texts)
    b._stop_words_id = a._stop_words_id + 1  # id(self.stop_words): differs between processes
    assert compare_objects(a, b)[0] == "equal"


def test_how_long_a_search_took_is_not_compared_what_it_found_is():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV

    X, y = np.arange(40.0).reshape(20, 2), np.array([0, 1] * 10)
    a, b = (GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=2).fit(X, y) for _ in range(2))
    b.cv_results_["mean_fit_time"] = a.cv_results_["mean_fit_time"] + 1.0  # the clock: differs on every run
    b.refit_time_ = a.refit_time_ + 1.0
    assert compare_objects(a, b)[0] == "equal"
    b.cv_results_["mean_test_score"] = a.cv_results_["mean_test_score"] + 0.5  # a result: compared
    assert compare_objects(a, b)[0] == "different" and "mean_test_score" in compare_objects(a, b)[1]


def test_products_that_cannot_be_loaded_here_are_not_comparable(tmp_path):
    for side, payload in (("a", b"one"), ("b", b"two")):
        (tmp_path / side).mkdir()
        (tmp_path / side / "value.joblib").write_bytes(payload)
    status, detail = compare_products(tmp_path / "a", tmp_path / "b")
    assert status == "not comparable" and "cannot be loaded" in detail
    assert compare_products(tmp_path / "a", tmp_path / "a")[0] == "equal"


def test_printed_output_ignores_memory_addresses():
    assert same_printed("<Foo at 0x7f12ab>\n", "<Foo at 0x7f99cd>")
    assert not same_printed("3\n", "0\n")


# --- the notebook run top to bottom ------------------------------------------------------------------------------


def test_the_top_to_bottom_notebook_runs_pipeline_cells_with_dumps_around_each_step(tmp_path):
    shutil.copy(FIXTURES / "kale_dialect.ipynb", tmp_path / "k.ipynb")
    plan = build_plan(read_notebook(tmp_path / "k.ipynb"))
    cells = notebook_json(plan, tmp_path / "values")["cells"]
    metas = [c["metadata"]["nbprod_verify"] for c in cells]
    indices = [m["cell"] for m in metas if "cell" in m]
    assert indices == sorted(indices)
    skipped = {c.index for c in plan.skipped}
    assert skipped and not skipped & set(indices)  # skip cells are not run
    dumps = [(m["dump"], m["step"]) for m in metas if "dump" in m]
    assert dumps == [("out", "load_data"), ("in", "train"), ("out", "train")]
    assert "save_value" in cells[-1]["source"] and "'score'" in cells[-1]["source"]


# --- bad input ---------------------------------------------------------------------------------------------------


def test_a_missing_notebook_exits_2_without_a_traceback(tmp_path):
    out = _cli("verify", "missing.ipynb", cwd=tmp_path)
    assert out.returncode == 2
    assert "no such notebook" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.slow
def test_a_notebook_that_fails_top_to_bottom_is_bad_input(tmp_path):
    nb = tmp_path / "broken.py"
    nb.write_text('# %% tags=["step:a"]\nx = 1\n\n# %% tags=["step:b"]\ny = x + 1\nraise ValueError("boom")\n')
    from nbprod.errors import VerifyError

    with pytest.raises(VerifyError, match="boom") as info:
        verify(nb, project=tmp_path)
    assert info.value.exit_code == 2 and info.value.cell is not None and info.value.cell.index == 1


# --- the two runs ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_faithful_pipeline_verifies_equal_and_leaves_the_project_alone(tmp_path):
    shutil.copy(FIXTURES / "percent_format.py", tmp_path / "p.py")
    report = verify(tmp_path / "p.py", project=tmp_path)
    assert report.equal, report.render()
    assert [s.name for s in report.steps] == ["load", "clean", "train"]
    assert all(s.ok and not s.different and not s.not_comparable for s in report.steps)
    assert report.steps[0].equal == ["x", "y"] and report.steps[2].equal == ["rmse"]
    assert 8 in report.steps[2].printed_equal  # print(rmse)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.py"]  # no pipelines/, no .nbprod/


@pytest.mark.slow
def test_a_list_filled_in_place_by_a_function_call_is_handed_on(tmp_path):
    """fill(lst) changes lst in step 'grow': the pipeline hands the filled list on (the conservative mutation rule)."""
    (tmp_path / "fill.py").write_text(FILL)
    report = verify(tmp_path / "fill.py", project=tmp_path)
    assert report.equal, report.render()
    assert report.steps[2].equal == ["total"] and report.steps[2].printed_equal == [3]


@pytest.mark.slow
def test_a_list_changed_through_an_alias_is_the_first_divergence(tmp_path):
    """holder = wrap(lst): holder['items'] is lst, made by a call static analysis does not look into; verify finds it."""
    (tmp_path / "alias.py").write_text(ALIAS)
    report = verify(tmp_path / "alias.py", project=tmp_path)
    d = report.first_divergence
    assert d is not None and not report.equal
    assert (d.step, d.name) == ("use", "total")
    assert "5.0 in the notebook, 0.0 in the pipeline" in d.detail
    assert "lst changed in the notebook" in d.likely_cause
    assert report.steps[2].changed_inputs == ["lst"]


@pytest.mark.slow
def test_a_global_generator_seeded_in_another_step_verifies_equal(tmp_path):
    """np.random.seed in one step, draws in the next: the generator's state is handed on, so the values match."""
    (tmp_path / "seeded.py").write_text(SEEDED_ONCE)
    report = verify(tmp_path / "seeded.py", project=tmp_path)
    assert report.equal, report.render()
    assert report.steps[1].equal == ["b"]


@pytest.mark.slow
def test_the_cli_exits_1_naming_the_step_the_value_and_a_likely_cause(tmp_path):
    (tmp_path / "alias.py").write_text(ALIAS)
    out = _cli("verify", "alias.py", "--keep", "runs", cwd=tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "first divergence: step 'use', value 'total'" in out.stdout
    assert "lst changed in the notebook" in out.stdout
    assert "Traceback" not in out.stderr
    assert (tmp_path / "runs" / "notebook.out.ipynb").exists()
    assert json.loads((tmp_path / "runs" / "values" / "out" / "make" / "_problems.json").read_text()) == {}


@pytest.mark.slow
def test_a_step_that_fails_only_in_its_own_kernel_is_the_first_divergence(tmp_path):
    (tmp_path / "attr.py").write_text(MODULE_ATTRIBUTE_ELSEWHERE)
    report = verify(tmp_path / "attr.py", project=tmp_path)
    d = report.first_divergence
    assert d is not None and (d.step, d.name) == ("use", None)
    assert "AttributeError" in d.detail and "fails in its own kernel" in d.likely_cause
    assert report.steps[0].ok and not report.steps[1].ran


@pytest.mark.slow
def test_an_environment_variable_set_in_another_step_is_replayed(tmp_path, monkeypatch):
    monkeypatch.delenv("NBPROD_CORPUS_MODE", raising=False)
    (tmp_path / "env.py").write_text(ENV_SET_ELSEWHERE)
    report = verify(tmp_path / "env.py", project=tmp_path)
    assert report.equal, report.render()


def test_printed_output_ignores_the_timings_of_time_magics():
    from nbprod.workflow.verify_compare import same_printed

    notebook = "CPU times: user 876 μs, sys: 4 ms, total: 4.88 ms\nWall time: 4.88 ms\n42\n"
    assert same_printed(notebook, "42\n")
    assert not same_printed(notebook, "43\n")
