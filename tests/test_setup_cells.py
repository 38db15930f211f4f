"""Two shapes of real notebooks the corpus found: library set-up before the first step, and ``%time x = ...``."""

from pathlib import Path

import pytest

from nbprod.convert.render import render_pipeline
from nbprod.notebook.reader import notebook_from_cells
from nbprod.plan.build import build_plan

STEPS = [
    ("code", "values = np.sort(np.arange(5))", ["step:data"]),
    ("code", "fig = plt.figure()\nplt.close(fig)\nn = len(values)", ["step:plot"]),
]


@pytest.mark.parametrize(
    "first",
    [
        "%matplotlib inline\nimport numpy as np\nimport matplotlib.pyplot as plt",
        'import matplotlib\nmatplotlib.use("Agg")\nimport matplotlib.pyplot as plt\nimport numpy as np',
        "import warnings\nimport numpy as np\nimport matplotlib.pyplot as plt\nwarnings.filterwarnings('ignore')",
    ],
)
def test_imports_with_library_set_up_before_the_first_step_are_shared(first):
    plan = build_plan(notebook_from_cells("nb.ipynb", [("code", first, []), *STEPS]))  # strict: no NB104
    assert [c.index for c in plan.shared["imports"]] == [0] and not plan.outside
    assert any("imports and set-up" in n for n in plan.notes)
    for step in plan.steps:
        assert [c.index for c in step.shared_cells] == [0]


@pytest.mark.parametrize(
    "first",
    [
        "import numpy as np\nnp.random.seed(0)",  # seeding is not set-up: replayed per step it restarts the stream
        "import numpy as np\nimport matplotlib.pyplot as plt\ndata = np.arange(3)",  # binds a value
        "import numpy as np\nimport matplotlib.pyplot as plt\nprint(np.__version__)",  # a call on a builtin
    ],
)
def test_other_code_before_the_first_step_is_not_an_imports_cell(first):
    plan = build_plan(notebook_from_cells("nb.ipynb", [("code", first, []), *STEPS]), strict=False)
    assert plan.shared["imports"] == [] and [c.index for c in plan.outside] == [0]


def test_time_magic_runs_its_statement_and_binds_its_name():
    cells = [
        ("code", "import numpy as np\nimport matplotlib.pyplot as plt", ["imports"]),
        ("code", "%time values = np.sort(np.arange(5))", ["step:data"]),
        STEPS[1],
    ]
    plan = build_plan(notebook_from_cells("nb.ipynb", cells))
    assert plan.step("data").outputs == ["values"] and plan.step("plot").inputs == {"values": "data"}
    task = render_pipeline(plan, Path("."))["tasks/data.py"]
    assert "values = np.sort(np.arange(5))  # nbprod: %time dropped, the statement runs" in task
    compile(task, "data.py", "exec")


CLASS_CELLS = {
    "shared": [
        ("code", "class Poly:\n    def __init__(self, k):\n        self.k = k", ["functions"]),
        ("code", "poly = Poly(3)", ["step:fit"]),
        ("code", "scaled = poly", ["step:relay"]),
        ("code", "k = scaled.k", ["step:evaluate"]),
    ],
    "step": [
        ("code", "class Poly:\n    def __init__(self, k):\n        self.k = k\n\n\npoly = Poly(3)", ["step:fit"]),
        ("code", "scaled = poly", ["step:relay"]),
        ("code", "k = scaled.k", ["step:evaluate"]),
    ],
}


@pytest.mark.parametrize("where", sorted(CLASS_CELLS))
def test_a_step_loading_an_instance_of_a_notebook_class_gets_the_class(where):
    """Unpickling an instance looks its class up in __main__: every step that loads one (even through another step)
    must define the class, although its code never names it."""
    plan = build_plan(notebook_from_cells("nb.ipynb", CLASS_CELLS[where]))
    for name in ("relay", "evaluate"):
        step = plan.step(name)
        copied = [c.index for c in step.shared_cells] + [i for _, i in step.extra_defs]
        assert copied == [0], (name, copied)
        task = render_pipeline(plan, Path("."))[f"tasks/{name}.py"]
        assert "class Poly:" in task.split("load_value")[0], name  # defined before the value is loaded
