"""Cases found by the second outside corpus (notebooks written without reading nbprod): each silently printed
something else in the pipeline than in the notebook. The plan-level facts are fast tests; one slow test runs them
all through `nbprod verify` (the notebook in one kernel against one kernel per step)."""

from __future__ import annotations

import pytest

from nbprod.convert.render import render_pipeline
from nbprod.notebook.reader import notebook_from_cells
from nbprod.plan.build import build_plan
from nbprod.workflow.verify import verify


def plan_of(cells):
    return build_plan(notebook_from_cells("nb.ipynb", cells))


def test_a_value_called_like_a_function_is_handed_on_by_the_step_that_calls_it():
    cells = [
        (
            "code",
            "def make():\n    n = 0\n    def tick():\n        nonlocal n\n        n += 1\n        return n\n"
            "    return tick\ntick = make()",
            ["step:a"],
        ),
        ("code", "tick()", ["step:b"]),
        ("code", "print(tick())", ["step:c"]),
    ]
    plan = plan_of(cells)
    assert plan.step("c").inputs["tick"] == "b"  # not a's tick, which was never called


def test_a_step_calling_a_lambda_takes_the_globals_the_lambda_reads():
    cells = [
        ("code", "threshold = 0.5\nis_high = lambda v: v > threshold", ["step:a"]),
        ("code", "threshold = 0.9", ["step:b"]),
        ("code", "print(is_high(0.7))", ["step:c"]),
    ]
    plan = plan_of(cells)
    assert plan.step("c").inputs == {"is_high": "a", "threshold": "b"}


@pytest.mark.parametrize(
    "setting",
    [
        "np.seterr(divide='raise')",
        "getcontext().prec = 5",
        "os.environ['TZ'] = 'Asia/Tokyo'\ntime.tzset()",
        "sys.path.append('src')",
        "pd.Series.pct = lambda s: (s / s.sum() * 100).round(1)",
    ],
)
def test_process_settings_made_in_one_step_are_made_again_in_the_later_ones(setting, tmp_path):
    imports = "import os, sys, time\nimport numpy as np\nimport pandas as pd\nfrom decimal import getcontext"
    cells = [("code", imports, ["imports"]), ("code", setting + "\nx = 1", ["step:a"]), ("code", "y = x", ["step:b"])]
    task = render_pipeline(plan_of(cells), tmp_path)["tasks/b.py"]
    assert setting.split("\n")[-1] in task


OUTSIDE = [
    ("code", "import numpy as np\nfrom decimal import Decimal, getcontext", []),
    ("markdown", "## Set up", []),
    (
        "code",
        "np.seterr(divide='raise')\ngetcontext().prec = 5\nvocab = {'red', 'green', 'blue', 'cyan', 'teal', 'plum'}\n"
        "threshold = 0.5\nis_high = lambda v: v > threshold\n"
        "class Mean:\n    def __init__(self):\n        self.total, self.n = 0.0, 0\n"
        "    def __call__(self, v):\n        self.total += v\n        self.n += 1\n        return self.total / self.n\n"
        "avg = Mean()",
        [],
    ),
    ("markdown", "## Use", []),
    (
        "code",
        "try:\n    np.array([1.0]) / np.array([0.0])\nexcept FloatingPointError as e:\n    print('caught', e)\n"
        "print(Decimal(20) / Decimal(3))\norder = list(vocab)  # the columns of a model, say\navg(3.0)\n"
        "for threshold in (0.1, 0.9):\n    print(threshold, is_high(0.7))",
        [],
    ),
    ("markdown", "## Report", []),
    ("code", "print(avg(9.0), avg.n, is_high(0.8), list(vocab) == order)", []),
]


@pytest.mark.slow
def test_the_outside_cases_verify_equal(tmp_path, write_nb):
    """Printed output is equal in every step. A set unpickled in another kernel iterates alike in every step that
    loads it (one hash seed for all), but not necessarily as in the step that made it: ``order`` differs as a value,
    which verify reports, and nothing printed depends on it."""
    report = verify(write_nb(OUTSIDE, "outside.ipynb", folder=tmp_path), project=tmp_path)
    assert all(s.ran and not s.printed_different for s in report.steps), report.render()
    assert report.steps[0].ok and list(report.steps[1].different) == ["order"], report.render()


def test_an_iterator_a_step_runs_through_is_handed_on_used_up():
    cells = [
        ("code", "pairs = zip('ab', [1, 2])\nletters = list('ab')", ["step:a"]),
        ("code", "for n, s in pairs:\n    print(n, s)\nfor x in letters:\n    print(x)", ["step:b"]),
        ("code", "print(list(pairs), letters)", ["step:c"]),
    ]
    plan = plan_of(cells)
    assert plan.step("c").inputs == {"pairs": "b", "letters": "a"}  # a list is not used up by a loop


def test_objects_changed_through_a_loop_variable_are_handed_on_by_that_step():
    cells = [
        ("code", "from sklearn.linear_model import LogisticRegression", ["imports"]),
        ("code", "lr = LogisticRegression()\nmodels = {'lr': lr}\ntrain = [1]\ntest = [2]", ["step:define"]),
        (
            "code",
            "for name, m in models.items():\n    m.set_params(C=10.0)\nfor xs in (train, test):\n    xs.append(0)",
            ["step:fit"],
        ),
        ("code", "print(lr.C, models['lr'].C, train, test)", ["step:evaluate"]),
    ]
    plan = plan_of(cells)
    assert plan.step("evaluate").inputs == {"lr": "fit", "models": "fit", "train": "fit", "test": "fit"}


def test_pandas_calendar_resample_is_not_scikit_learns_resample(write_nb):
    from nbprod.lint import lint

    cells = [
        ("code", "import pandas as pd\nfrom sklearn.utils import resample", ["imports"]),
        (
            "code",
            "df = pd.DataFrame({'d': pd.date_range('2024-01-01', periods=3), 'v': [1, 2, 3]})\n"
            "m = df.set_index('d').resample('ME')['v'].sum()",
            ["step:a"],
        ),
        ("code", "boot = resample([1, 2, 3])", ["step:b"]),
    ]
    found = [(f.code, f.cell.index) for f in lint(write_nb(cells, "resample.ipynb")).findings if f.code == "NB203"]
    assert found == [("NB203", 2)]


LOOP_ALIASES = [
    (
        "code",
        "import pandas as pd\nfrom sklearn.linear_model import LogisticRegression\n"
        "from sklearn.datasets import load_iris",
        [],
    ),
    ("markdown", "## Define", []),
    (
        "code",
        "X, y = load_iris(return_X_y=True)\nlr = LogisticRegression(max_iter=300)\nmodels = {'lr': lr}\n"
        "train = pd.DataFrame({'a': [1.0, 2.0], 'b': [2.0, 4.0]})\nframes = {'train': train}\n"
        "pairs = zip(['x', 'y'], [1, 2])\nlst = []\nholder = {'items': lst}\nrow = [1]\ngrid = []\ngrid.append(row)",
        [],
    ),
    ("markdown", "## Fit", []),
    (
        "code",
        "for name, m in models.items():\n    m.set_params(C=10.0).fit(X, y)\nfor df in (train,):\n"
        "    df['r'] = df['a'] / df['b']\nfor k, v in pairs:\n    print(k, v)\nholder['items'].append(5)\n"
        "row.append(2)",
        [],
    ),
    ("markdown", "## Evaluate", []),
    ("code", "print(lr.C, round(lr.score(X, y), 3), list(frames['train'].columns), list(pairs), lst, grid)", []),
]


@pytest.mark.slow
def test_changes_through_loop_variables_and_used_up_iterators_verify_equal(tmp_path, write_nb):
    report = verify(write_nb(LOOP_ALIASES, "loops.ipynb", folder=tmp_path), project=tmp_path)
    assert report.equal, report.render()


def test_values_keep_what_their_plain_format_would_drop(tmp_path):
    import numpy as np
    import pandas as pd

    from nbprod.io import load_value, save_value

    daily = pd.Series([1, 2, 3], index=pd.date_range("2024-01-01", periods=3, freq="D"))
    save_value(daily, tmp_path / "daily")
    assert load_value(tmp_path / "daily").index.freq == "D"  # parquet would drop it: shift(1) then moves values
    matrix = np.matrix([[1, 2], [3, 4]])
    save_value(matrix, tmp_path / "matrix")
    loaded = load_value(tmp_path / "matrix")
    assert type(loaded) is np.matrix and (loaded * loaded).tolist() == [[7, 10], [15, 22]]  # a matrix product
    masked = np.ma.masked_array([1.0, -999.0, 3.0], mask=[0, 1, 0])
    save_value(masked, tmp_path / "masked")  # np.save cannot write it at all
    assert load_value(tmp_path / "masked").mean() == 2.0
    save_value(np.arange(3), tmp_path / "plain")
    assert (tmp_path / "plain" / "value.npy").exists()


def test_a_change_inside_a_called_function_is_reported_at_a_code_cell(write_nb):
    from nbprod.lint import lint

    cells = [
        ("markdown", "## First", []),
        ("code", "cache = {}\ndef remember(k):\n    cache[k] = 1", []),
        ("markdown", "## Second", []),
        ("code", "remember('a')", []),
    ]
    found = [f for f in lint(write_nb(cells, "called.ipynb")).findings if f.code == "NB402"]
    assert found and {f.cell.index for f in found} == {3}  # the call, not the heading of its section


@pytest.mark.slow
def test_a_log_handler_on_stdout_writes_into_the_later_steps_notebooks_in_process(tmp_path, write_nb):
    """In one kernel sys.stdout is one stream; in-process steps see one too, so a handler made in an earlier cell
    or step writes into the cell that is running."""
    import json

    from nbprod.workflow.run import run

    cells = [
        ("markdown", "## Setup", []),
        (
            "code",
            "import logging\nimport sys\nlogging.basicConfig(level=logging.INFO, format='%(message)s', "
            "stream=sys.stdout, force=True)\nlogging.getLogger('a').info('one')",
            [],
        ),
        ("markdown", "## Later", []),
        ("code", "logging.getLogger('a').info('two')\nprint('three')", []),
    ]
    run(write_nb(cells, "logs.ipynb", folder=tmp_path), project=tmp_path, track=False, package=False)
    later = json.loads((tmp_path / ".nbprod/products/logs/later.ipynb").read_text())
    printed = "".join("".join(o.get("text", "")) for c in later["cells"] for o in c.get("outputs", []))
    assert printed.endswith("two\nthree\n"), printed


def test_replayed_settings_show_nothing_and_steps_run_in_the_notebooks_order(tmp_path):
    import json

    from nbprod.workflow.run import run

    cells = [
        ("code", "import numpy as np\nfrom pathlib import Path", ["imports"]),
        ("code", "np.seterr(divide='raise')\nPath('v.txt').write_text('v0')", ["step:setup"]),
        ("code", "Path('v.txt').write_text('v3')", ["step:zz_overwrite"]),  # shares only a file with the next step
        ("code", "print(Path('v.txt').read_text())", ["step:aa_read"]),
    ]
    nb = tmp_path / "order.ipynb"
    from tests.conftest import nb_json

    nb.write_text(json.dumps(nb_json(cells)))
    result = run(nb, project=tmp_path, track=False, package=False)
    assert result.ran == ["setup", "zz_overwrite", "aa_read"]
    executed = json.loads((tmp_path / ".nbprod/products/order/aa_read.ipynb").read_text())
    shown = [o for cell in executed["cells"] for o in cell.get("outputs", [])]
    assert [o.get("text") for o in shown] == [["v3\n"]]  # no {'divide': ...} from the replayed np.seterr
