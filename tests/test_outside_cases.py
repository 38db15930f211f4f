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
    ],
)
def test_process_settings_made_in_one_step_are_made_again_in_the_later_ones(setting, tmp_path):
    imports = "import os, sys, time\nimport numpy as np\nfrom decimal import getcontext"
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
