"""Data flow that must match running the notebook top to bottom: one table per class of behaviour (issue "faithful").

Each row is a tiny notebook of two or three steps (a cell per step, ``(source, step)``) and what the plan must infer
for some of its steps: ``inputs`` (name -> producer), ``outputs``, ``maybe`` (outputs saved only if bound),
``unbound``, ``params``; ``errors`` lists the error codes the plan must report (none by default). Every generated
task script must compile. The slow end-to-end check is ``test_isolated_run_matches_top_to_bottom``.
"""

from __future__ import annotations

import pytest

from nbprod.convert.render import render_pipeline
from nbprod.notebook.reader import notebook_from_cells
from nbprod.plan import build_plan


def plan_of(rows):
    cells = [("code", src, [f"step:{tag}"] if isinstance(tag, str) else list(tag)) for src, tag in rows]
    return build_plan(notebook_from_cells("nb.ipynb", cells), strict=False)


def check(rows, expect, tmp_path, errors=()):
    plan = plan_of(rows)
    assert sorted(f.code for f in plan.errors) == sorted(errors), [f.message for f in plan.findings]
    for step_name, fields in expect.items():
        step = plan.step(step_name)
        for key, value in fields.items():
            attr = {"maybe": "maybe_bound"}.get(key, key)
            assert getattr(step, attr) == value, (step_name, key, getattr(step, attr))
    if not errors:
        for path, text in render_pipeline(plan, tmp_path).items():
            if path.endswith(".py"):
                compile(text, path, "exec")
    return plan


MUTATION = [
    # a comprehension runs where it stands: a generator it draws from is advanced by the step
    (
        [
            ("import numpy as np\nrng = np.random.default_rng(0)", "a"),
            ("xs = [rng.normal() for _ in range(3)]\nnames = [v.upper() for v in ['a']]", "b"),
            ("y = rng.normal()", "c"),
        ],
        {"b": {"outputs": ["rng"]}, "c": {"inputs": {"rng": "b"}}},
    ),
    # a notebook function whose body changes none of its parameters leaves its arguments as they were
    (
        [
            ("def mean(xs):\n    return sum(xs) / len(xs)\ndata = [1, 2]", "a"),
            ("m = mean(data)", "b"),
            ("print(data)", "c"),
        ],
        {"b": {"mutated_inputs": []}, "c": {"inputs": {"data": "a"}}},
    ),
    # one that changes a parameter in place changes the argument
    (
        [("def add(xs):\n    xs.append(0)\ndata = [1]", "a"), ("add(data)", "b"), ("print(data)", "c")],
        {"c": {"inputs": {"data": "b"}}},
    ),
    # a name passed to a call that is not known pure may be mutated: the next step takes it from the mutator
    ([("import heapq\nh = []", "a"), ("heapq.heappush(h, 3)", "b"), ("print(h)", "c")], {"c": {"inputs": {"h": "b"}}}),
    (
        [("def fill(l):\n    l.append(1)\nlst = []", "a"), ("fill(lst)", "b"), ("n = len(lst)", "c")],
        {"c": {"inputs": {"lst": "b"}}},
    ),
    # a method not known pure may change its receiver: the advanced generator flows from the step that drew from it
    (
        [
            ("import numpy as np\nrng = np.random.default_rng(0)", "a"),
            ("x = rng.normal()", "b"),
            ("y = rng.normal()", "c"),
        ],
        {"b": {"inputs": {"rng": "a"}, "outputs": ["rng"]}, "c": {"inputs": {"rng": "b"}}},
    ),
    # known pure: builtins, str methods, numpy/pandas module functions, functions imported from value libraries
    (
        [
            ("import numpy as np\nxs = [3, 1]\nname = 'a'", "a"),
            ("m = np.mean(xs)\nk = len(xs)\nu = name.upper()", "b"),
            ("print(xs, name)", "c"),
        ],
        {"c": {"inputs": {"xs": "a", "name": "a"}}, "b": {"outputs": []}},
    ),
    (
        [("from statistics import mean\nxs = [1, 2]", "a"), ("m = mean(xs)", "b"), ("print(xs, m)", "c")],
        {"c": {"inputs": {"xs": "a", "m": "b"}}},
    ),
    # mutated through a subscript or attribute still counts for the root name
    ([("d = {'k': []}", "a"), ("d['k'].append(1)", "b"), ("print(d)", "c")], {"c": {"inputs": {"d": "b"}}}),
]


@pytest.mark.parametrize("rows, expect", MUTATION)
def test_mutation_through_calls_and_receivers(rows, expect, tmp_path):
    check(rows, expect, tmp_path)


DELETION = [
    # del makes the name unbound: a later step that reads it fails at plan time, as it would top to bottom
    ([("x = 1", "a"), ("del x", "b"), ("print(x)", "c")], {"b": {"unbound": ["x"], "outputs": []}}, ["NB104"]),
    # a name deleted and re-bound is bound again
    ([("x = 1", "a"), ("del x\nx = 2", "b"), ("print(x)", "c")], {"c": {"inputs": {"x": "b"}}}, []),
    # a temporary deleted in its own step is not a product
    (
        [("tmp = 1\nkeep = tmp + 1\ndel tmp", "a"), ("print(keep)", "b")],
        {"a": {"outputs": ["keep"], "unbound": ["tmp"]}},
        [],
    ),
    # conditional deletion: the step hands on exactly what it leaves
    (
        [("x = 1", "a"), ("import os\nif os.sep == '?':\n    del x", "b"), ("print(x)", "c")],
        {"b": {"maybe": ["x"]}},
        [],
    ),
]


@pytest.mark.parametrize("rows, expect, errors", DELETION)
def test_deletion(rows, expect, errors, tmp_path):
    check(rows, expect, tmp_path, errors)


MAYBE_BOUND = [
    # bound only on one path: saved only if bound, and the consumer deletes it when the producer did not bind it
    (
        [("import os\nif os.sep == '?':\n    x = 1", "a"), ("y = 'x' in globals()", "b"), ("print(x)", "c")],
        {"a": {"maybe": ["x"], "outputs": ["x"]}, "c": {"inputs": {"x": "a"}}},
    ),
    # bound on every path of an if/else or a try/except: definitely bound (today's generated text)
    ([("import os\nif os.sep:\n    x = 1\nelse:\n    x = 2", "a"), ("print(x)", "b")], {"a": {"maybe": []}}),
    ([("try:\n    x = int('a')\nexcept ValueError:\n    x = 0", "a"), ("print(x)", "b")], {"a": {"maybe": []}}),
    # 'except ... as e' is deleted when the handler ends; what the handler binds is maybe-bound
    (
        [("try:\n    1 / 0\nexcept ZeroDivisionError as e:\n    msg = str(e)", "a"), ("print(msg)", "b")],
        {"a": {"maybe": ["msg"], "unbound": ["e"]}},
    ),
    # a loop body may run no time
    ([("for i in range(0):\n    last = i", "a"), ("print(last)", "b")], {"a": {"maybe": ["i", "last"]}}),
    # a step that may leave an earlier step's value untouched loads it first, and hands on a bound value
    (
        [("x = 1", "a"), ("import os\nif os.sep == '?':\n    x = 2", "b"), ("print(x)", "c")],
        {"b": {"inputs": {"x": "a"}, "maybe": []}, "c": {"inputs": {"x": "b"}}},
    ),
]


@pytest.mark.parametrize("rows, expect", MAYBE_BOUND)
def test_maybe_bound_names_are_saved_only_if_bound(rows, expect, tmp_path):
    plan = check(rows, expect, tmp_path)
    files = render_pipeline(plan, tmp_path)
    for step in plan.steps:
        text = files[f"tasks/{step.name}.py"]
        for name in step.outputs:
            guarded = f"save_value(globals().get({name!r}, " in text
            assert guarded == (name in step.maybe_bound), (step.name, name)


GLOBALS = [
    # a notebook function that assigns a global: the step that calls it produces the global
    (
        [("def bump():\n    global count\n    count = 5", "a"), ("bump()", "b"), ("print(count)", "c")],
        {"b": {"function_writes": ["count"]}, "c": {"inputs": {"count": "b"}}},
    ),
    # followed through the functions it calls
    (
        [
            ("def inner():\n    global seen\n    seen = 1\ndef outer():\n    inner()", "a"),
            ("outer()", "b"),
            ("print(seen)", "c"),
        ],
        {"c": {"inputs": {"seen": "b"}}},
    ),
    # a function whose global is assigned after its definition, before the call: not refused (was NB104)
    ([("def f():\n    return k", "a"), ("k = 3\nprint(f())", "b")], {"b": {"inputs": {}}}),
    ([("def f():\n    return k", "a"), ("k = 3", "b"), ("print(f())", "c")], {"c": {"inputs": {"k": "b"}}}),
    # a global a called function changes in place comes from the step that called it
    (
        [
            ("history = []\ndef log(x):\n    history.append(x)", "a"),
            ("log(1)", "b"),
            ("print(history)", "c"),
        ],
        {"b": {"mutated_inputs": ["history"]}, "c": {"inputs": {"history": "b"}}},
    ),
    # a function handed to a library that calls it (Series.map, apply, sorted(key=...)) runs in that step
    (
        [
            (
                "bad = 0\ndef parse(v):\n    global bad\n    bad += 1\n    return v\nimport pandas as pd\ns = pd.Series([1])",
                "a",
            ),
            ("t = s.map(parse)", "b"),
            ("print(bad)", "c"),
        ],
        {"b": {"function_writes": ["bad"]}, "c": {"inputs": {"bad": "b"}}},
    ),
    # ... also through a decorator's wrapper, and from a shared cell
    (
        [
            (
                "CALLS = {}\ndef counted(fn):\n    def w(*a):\n        CALLS[fn.__name__] = 1\n        return fn(*a)\n"
                "    return w\n@counted\ndef rmse(a):\n    return a",
                "a",
            ),
            ("r = rmse(2)", "b"),
            ("print(CALLS)", "c"),
        ],
        {"c": {"inputs": {"CALLS": "b"}}},
    ),
    (
        [
            ("cache = {}\ndef remember(k, v):\n    cache[k] = v", ["functions"]),
            ("remember('a', 1)", "b"),
            ("print(cache)", "c"),
        ],
        {"c": {"inputs": {"cache": "b"}}},
    ),
]


@pytest.mark.parametrize("rows, expect", GLOBALS)
def test_globals_written_and_read_by_called_functions(rows, expect, tmp_path):
    check(rows, expect, tmp_path)


COPIED_DEFINITIONS = [
    # a copied function needs what its defaults, decorators and closures read, a copied class its bases
    # (the default is read when the copy runs: the copy follows the load block)
    (
        [("K = 3\ndef f(x, k=K):\n    return x * k", "a"), ("print(f(2))", "b")],
        {"b": {"inputs": {"K": "a"}, "defs_after_inputs": True}},
    ),
    (
        [("import functools\n@functools.lru_cache()\ndef f(x):\n    return x", "a"), ("print(f(2))", "b")],
        {"b": {"extra_imports": ["import functools"]}},
    ),
    (
        [("from collections import OrderedDict\nclass D(OrderedDict):\n    pass", "a"), ("print(D())", "b")],
        {"b": {"extra_imports": ["from collections import OrderedDict"]}},
    ),
    (
        [
            ("import math\ndef make(n):\n    def inner(x):\n        return math.sqrt(x) * n\n    return inner", "a"),
            ("print(make(2)(4))", "b"),
        ],
        {"b": {"extra_imports": ["import math"]}},
    ),
    ([("def f(x: 'T' = None) -> int:\n    return 1\nT = int", "a"), ("print(f())", "b")], {"b": {"inputs": {}}}),
]


@pytest.mark.parametrize("rows, expect", COPIED_DEFINITIONS)
def test_copied_definitions_bring_what_they_need(rows, expect, tmp_path):
    check(rows, expect, tmp_path)


BUILTINS_REDEFINED = [
    ([("sum = lambda xs: 42", "a"), ("print(sum([1]))", "b")], {"b": {"inputs": {"sum": "a"}}}),
    ([("def list(x):\n    return 'mine'", "a"), ("print(list(1))", "b")], {"b": {"inputs": {}}}),
    ([("def len(x):\n    return 0", "a"), ("def g(v):\n    return len(v)\nprint(g([1]))", "b")], {"b": {"inputs": {}}}),
    # not redefined: a builtin needs nothing
    ([("x = [1]", "a"), ("print(sum(x))", "b")], {"b": {"inputs": {"x": "a"}}}),
]


@pytest.mark.parametrize("rows, expect", BUILTINS_REDEFINED)
def test_the_notebooks_own_builtins(rows, expect, tmp_path):
    plan = check(rows, expect, tmp_path)
    if rows[0][0].startswith("def "):
        assert plan.step("b").extra_defs, "the notebook's own definition is copied into the step"


OTHER = [
    # walrus inside a comprehension binds in the enclosing scope
    ([("ys = [y := v for v in range(3)]", "a"), ("print(y)", "b")], {"b": {"inputs": {"y": "a"}}}),
    # exec/eval of a string literal are analysed like code
    ([("exec('z = 4')", "a"), ("print(eval('z + 1'))", "b")], {"a": {"outputs": ["z"]}, "b": {"inputs": {"z": "a"}}}),
    # a star import of a module nbprod can list binds its names
    ([("from math import *", "a"), ("print(sqrt(4))", "b")], {"b": {"extra_imports": ["from math import sqrt"]}}),
    # case {..., **rest} binds rest
    (
        [("d = {'a': 1, 'b': 2}\nmatch d:\n    case {'a': 1, **rest}:\n        pass", "a"), ("print(rest)", "b")],
        {"b": {"inputs": {"rest": "a"}}},
    ),
    # a shared cell's own reads are resolved (a parameter here)
    (
        [("base = 2", ["parameters"]), ("SCALE = base * 3", ["functions"]), ("print(SCALE)", "a")],
        {"a": {"params": ["base"]}},
    ),
]


@pytest.mark.parametrize("rows, expect", OTHER)
def test_other_binding_forms(rows, expect, tmp_path):
    check(rows, expect, tmp_path)


def test_a_shared_cell_that_reads_an_input_is_copied_after_the_load_block(tmp_path):
    plan = check(
        [("base = 2", "a"), ("SCALE = base * 3", ["functions"]), ("print(SCALE)", "b")],
        {"b": {"inputs": {"base": "a"}, "inputs_first": True}},
        tmp_path,
    )
    text = render_pipeline(plan, tmp_path)["tasks/b.py"]
    assert text.index("base = load_value") < text.index("SCALE = base * 3")


MAGICS = [
    "%%time\nx = 1\n%ls\ny = 2",  # a line magic inside a %%time body
    "df = 1\ndf?",  # a help request
    "%%time\nx = 1\nx??",
]


@pytest.mark.parametrize("source", MAGICS)
def test_magics_and_help_lines_never_reach_task_code(source, tmp_path):
    plan = plan_of([(source, "a"), ("print(1)", "b")])
    text = render_pipeline(plan, tmp_path)["tasks/a.py"]
    compile(text, "a.py", "exec")
    assert "nbprod: " in text


# ---------------------------------------------------------------------------------------------------------------
# End to end: each step in its own kernel gives what running the cells top to bottom in one namespace gives

WRITE = "import json\nopen(OUT, 'w').write(json.dumps(out, default=repr))"

E2E = {
    "mutation": [
        (
            "import heapq\nimport numpy as np\nh = []\nlst = []\nrng = np.random.default_rng(0)\n"
            "def fill(l):\n    l.append(1)",
            "a",
        ),
        ("heapq.heappush(h, 3)\nfill(lst)\nfirst = float(rng.normal())", "b"),
        ("second = float(rng.normal())\nout = [h, lst, first, second]\n" + WRITE, "c"),
    ],
    "binding": [
        (
            "x = 1\ntmp = 2\nimport os\nif os.sep == '?':\n    maybe = 1\nif os.sep != '?':\n    sure = 1\n"
            "try:\n    1 / 0\nexcept ZeroDivisionError as e:\n    msg = str(e)",
            "a",
        ),
        ("del tmp\ntry:\n    maybe\n    has = True\nexcept NameError:\n    has = False", "b"),
        ("out = [has, sure, msg, x]\n" + WRITE, "c"),
    ],
    "functions": [
        (
            "K = 3\ndef f(x, k=K):\n    return x * k\ndef bump():\n    global count\n    count = 5\n"
            "def sum(xs):\n    return 42",
            "a",
        ),
        ("bump()\nv = f(2)", "b"),
        ("out = [count, v, sum([1])]\n" + WRITE, "c"),
    ],
    "shared": [
        ("base = 2", "a"),
        ("SCALE = base * 3", ["functions"]),
        ("def total(xs):\n    return [t := x for x in xs] and t\nout = [SCALE, total([1, 5])]\n" + WRITE, "b"),
    ],
    "forms": [
        (
            "ys = [y := v for v in range(3)]\nexec('z = 4')\nfrom math import *\nd = {'a': 1, 'b': 2}\n"
            "match d:\n    case {'a': 1, **rest}:\n        pass",
            "a",
        ),
        ("out = [y, eval('z + 1'), sqrt(4), rest]\n" + WRITE, "b"),
    ],
    # a global generator seeded once continues one stream across the steps (its state is handed on)
    "global_rng": [
        ("import numpy as np\nimport random\nnp.random.seed(42)\nrandom.seed(7)", "a"),
        ("x = float(np.random.normal())\ndeck = list(range(10))\nrandom.shuffle(deck)", "b"),
        ("keep = 1", "c"),  # uses neither: the stream passes it by
        (
            "from sklearn.model_selection import train_test_split\n"
            "tr, te = train_test_split(list(range(10)), test_size=3)\n"
            "out = [x, float(np.random.rand()), deck, random.random(), sorted(te)]\n" + WRITE,
            "d",
        ),
    ],
    # globals changed in place by the notebook's functions, through a decorator too
    "function_effects": [
        (
            "import functools\nhistory = []\nbest = [9.0]\nCALLS = {}\n"
            "def counted(fn):\n    @functools.wraps(fn)\n    def w(*a):\n        CALLS[fn.__name__] = CALLS.get(fn.__name__, 0) + 1\n"
            "        return fn(*a)\n    return w\n"
            "@counted\ndef step(x):\n    history.append(x)\n    best[0] = min(best[0], x)\n    return x",
            "a",
        ),
        ("for v in (3.0, 1.0, 2.0):\n    step(v)", "b"),
        ("out = [history, best, CALLS]\n" + WRITE, "c"),
    ],
    # library settings (display options, print options, warning filters) hold for the rest of the notebook
    "settings": [
        (
            "import numpy as np\nimport pandas as pd\nimport warnings\npd.set_option('display.precision', 2)\n"
            "np.set_printoptions(precision=2)\nwarnings.filterwarnings('ignore', category=UserWarning)",
            "a",
        ),
        ("frame = repr(pd.DataFrame({'a': [1.23456]}))", "b"),
        (
            "with warnings.catch_warnings(record=True) as caught:\n    warnings.warn('x', UserWarning)\n"
            "out = [frame, repr(np.array([1.23456])), pd.get_option('display.precision'), len(caught)]\n" + WRITE,
            "c",
        ),
    ],
    # lambdas and closures pickle cannot find by name travel by value (cloudpickle)
    "lambdas": [
        (
            "ops = {'double': lambda v: v * 2, 'neg': lambda v: -v}\nsquare = lambda v: v * v\n"
            "def make_adder(n):\n    return lambda v: v + n\nadd3 = make_adder(3)",
            "a",
        ),
        ("out = [ops['double'](3), ops['neg'](2), square(4), add3(1)]\n" + WRITE, "b"),
    ],
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(E2E))
def test_isolated_run_matches_top_to_bottom(case, tmp_path, monkeypatch):
    import json
    import subprocess
    import sys

    from nbprod.workflow.run import run
    from tests.conftest import nb_json

    rows = E2E[case]
    expected_out, actual_out = tmp_path / "expected.json", tmp_path / "actual.json"
    # the notebook run top to bottom in one fresh interpreter, as a kernel would (importing scikit-learn, say,
    # draws from Python's random module: in this test process it was imported long ago)
    code = f"OUT = {str(expected_out)!r}\n" + "\n".join(src for src, _ in rows)
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    cells = [("code", f"OUT = {str(actual_out)!r}", ["parameters"])]
    cells += [("code", src, [f"step:{tag}"] if isinstance(tag, str) else tag) for src, tag in rows]
    (project / "nb.ipynb").write_text(json.dumps(nb_json(cells)))
    run("nb.ipynb", project=project, isolated=True, track=False, package=False)
    assert json.loads(actual_out.read_text()) == json.loads(expected_out.read_text())


# ---------------------------------------------------------------------------------------------------------------
# Parameters cells that derive values (and import what they need for that)

DERIVING = (
    "n_rows = 40\ntest_fraction = 0.25\nfrom pathlib import Path\nn_test = int(n_rows * test_fraction)\n"
    "name = 'runs'\nfolder = Path('data') / name"
)


def test_a_parameters_cell_may_derive_values(tmp_path):
    cells = [
        ("code", DERIVING, ["parameters"]),
        ("code", "xs = list(range(n_rows))[-n_test:]", ["step:a"]),
        ("code", "where = str(folder)\ncount = len(xs)", ["step:b"]),
    ]
    plan = build_plan(notebook_from_cells("nb.ipynb", cells))
    assert plan.parameters == {"n_rows": 40, "test_fraction": 0.25, "name": "runs"}  # the literals only
    assert sorted(plan.step("a").params) == ["n_rows", "name", "test_fraction"]  # what the derived statements read
    assert [c.index for c in plan.step("a").shared_cells] == [0] and plan.step("b").inputs == {"xs": "a"}
    text = render_pipeline(plan, tmp_path)["tasks/a.py"]
    assert (
        "\n# n_rows = 40\n# test_fraction = 0.25\nfrom pathlib import Path\nn_test = int(n_rows * test_fraction)\n"
        in text
    )
    assert "# %% nbprod: shared parameters, cell 0 of the notebook\n" in text


def test_a_parameters_cell_still_refuses_code_that_is_not_an_assignment():
    cells = [("code", "n = 1\nprint(n)", ["parameters"]), ("code", "x = n", ["step:a"])]
    assert [f.code for f in plan_of_cells(cells).errors] == ["NB020"]


def plan_of_cells(cells):
    return build_plan(notebook_from_cells("nb.ipynb", cells), strict=False)


@pytest.mark.slow
def test_derived_values_match_the_notebook_and_follow_an_override(tmp_path, monkeypatch):
    import json

    from nbprod.workflow.run import run
    from tests.conftest import nb_json

    out = tmp_path / "out.json"
    use = f"import json\nopen({str(out)!r}, 'w').write(json.dumps([len(xs), xs[0], str(folder)]))"
    cells = [("code", DERIVING, ["parameters"]), ("code", "xs = list(range(n_rows))[-n_test:]", ["step:a"])]
    cells.append(("code", use, ["step:b"]))
    namespace: dict = {}
    exec(DERIVING + "\nxs = list(range(n_rows))[-n_test:]\nfolder = str(folder)", namespace)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nb.ipynb").write_text(json.dumps(nb_json(cells)))
    run("nb.ipynb", project=tmp_path, isolated=True, track=False, package=False)
    assert (
        json.loads(out.read_text())
        == [len(namespace["xs"]), namespace["xs"][0], namespace["folder"]]
        == [10, 30, "data/runs"]
    )
    run("nb.ipynb", project=tmp_path, isolated=True, track=False, package=False, params={"n_rows": "80", "name": "x"})
    assert json.loads(out.read_text()) == [20, 60, "data/x"]  # derived from the overridden values


def test_the_state_of_a_seeded_global_generator_flows_from_step_to_step(tmp_path):
    plan = check([("OUT = 'out.json'", "a")] + E2E["global_rng"], {}, tmp_path)
    numpy_state, random_state = "_nbprod_rng_numpy", "_nbprod_rng_random"
    assert plan.step("b").inputs == {numpy_state: "a", random_state: "a"}
    assert plan.step("c").inputs == {}  # uses neither generator
    assert plan.step("d").inputs[numpy_state] == "b" and plan.step("d").inputs[random_state] == "b"
    assert numpy_state not in plan.step("d").outputs  # nothing after it draws
    text = render_pipeline(plan, tmp_path)["tasks/d.py"]
    assert "numpy.random.set_state(load_value(upstream['b']['_nbprod_rng_numpy']))" in text
    assert "random.setstate(load_value(upstream['b']['_nbprod_rng_random']))" in text


def test_an_unseeded_global_generator_is_not_handed_on():
    plan = plan_of([("import numpy as np\nx = np.random.rand()", "a"), ("y = np.random.rand()", "b")])
    assert plan.step("b").inputs == {}


def test_library_settings_of_earlier_steps_are_replayed(tmp_path):
    plan = check([("OUT = 'out.json'", "a")] + E2E["settings"], {}, tmp_path)
    assert [src for src, _ in plan.step("b").settings] == [
        "pd.set_option('display.precision', 2)",
        "np.set_printoptions(precision=2)",
        "warnings.filterwarnings('ignore', category=UserWarning)",
    ]
    assert plan.step("a").settings == [] and len(plan.step("c").settings) == 3
    text = render_pipeline(plan, tmp_path)["tasks/b.py"]
    assert "# nbprod: library settings made by earlier steps (cell 1 of the notebook)" in text


@pytest.mark.parametrize("where", ["step", "functions"])
def test_a_notebook_function_that_draws_takes_the_generator_where_it_runs(where):
    define = (
        "import numpy as np\ndef draw():\n    return float(np.random.rand())",
        ["functions"] if where == "functions" else "a",
    )
    rows = [define, ("np.random.seed(0)", "s"), ("x = draw()", "b"), ("y = draw()", "c")]
    plan = plan_of(rows)
    assert plan.step("b").inputs["_nbprod_rng_numpy"] == "s" and plan.step("c").inputs["_nbprod_rng_numpy"] == "b"


def test_set_up_in_the_imports_cell_is_replayed_in_every_step():
    cells = [
        ("code", "import pandas as pd\npd.set_option('display.width', 250)", ["imports"]),
        ("code", "wide = pd.DataFrame({'a': [1]})", ["step:a"]),
        ("code", "print(wide)", ["step:b"]),  # never names pd, yet prints with the option
    ]
    plan = build_plan(notebook_from_cells("nb.ipynb", cells))
    assert plan.step("b").settings == [("pd.set_option('display.width', 250)", 0)]
    assert [c.index for c in plan.step("b").shared_cells] == [0]
