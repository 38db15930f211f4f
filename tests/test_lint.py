import json

import pytest

from nbprod.lint import CHECKS, lint, render_json, render_text
from tests.conftest import EXAMPLES, FIXTURES

MESSY = [
    (
        "code",
        "import numpy as np\nimport random\nfrom sklearn.model_selection import train_test_split, KFold\n"
        "from sklearn.ensemble import RandomForestClassifier",
        ["imports"],
        1,
    ),
    ("code", "leftover = 1", [], 2),  # 1 outside every step
    ("code", "df = load(DATA)\nnoise = np.random.rand(3)\npick = random.choice([1, 2])", ["step:load"], 5),  # 2
    ("code", "DATA = '/Users/alice/data.csv'\nhome = '~/data'\nwin = 'C:\\\\data\\\\x.csv'", [], 3),  # 3 out of order
    ("code", "%pip install xgboost\n!ls\nrng = np.random.default_rng()", [], None),  # 4 never executed
    (
        "code",
        "X_tr, X_te = train_test_split(df)\nclf = RandomForestClassifier(n_estimators=10)\n"
        "cv = KFold(5, shuffle=True)\ndf['new'] = 1",
        ["step:train", "model:model"],
        6,
    ),  # 5
    ("code", "from os.path import *\nscore = ghost + 1", ["step:evaluate", "require:auc>=0.8"], 7),  # 6
    ("code", "df.describe()\n%matplotlib inline", ["skip"], 8),  # 7 skip: no findings
]


@pytest.fixture
def messy(write_nb):
    return lint(write_nb(MESSY, "messy.ipynb"))


def codes_at(report, index):
    return sorted({f.code for f in report.findings if f.cell and f.cell.index == index})


def test_every_check_fires_on_the_messy_notebook(messy):
    found = {f.code for f in messy.findings}
    expected = {
        "NB101",
        "NB102",
        "NB103",
        "NB110",
        "NB111",
        "NB201",
        "NB202",
        "NB203",
        "NB204",
        "NB205",
        "NB301",
        "NB302",
        "NB303",
        "NB401",
        "NB402",
    }
    assert expected <= found, expected - found


def test_findings_name_their_cells(messy):
    assert codes_at(messy, 1) == ["NB401"]
    assert "NB102" in codes_at(messy, 2) and "NB201" in codes_at(messy, 2) and "NB202" in codes_at(messy, 2)
    assert codes_at(messy, 3) == ["NB101", "NB301"]
    assert {"NB101", "NB205", "NB302"} <= set(codes_at(messy, 4))
    assert {"NB110", "NB203", "NB204", "NB402"} <= set(codes_at(messy, 5))
    assert {"NB103", "NB111", "NB303"} <= set(codes_at(messy, 6))
    assert codes_at(messy, 7) == []


def test_three_paths_found(messy):
    paths = [f.message for f in messy.findings if f.code == "NB301"]
    assert len(paths) == 3 and any("/Users/alice" in m for m in paths)


def test_an_install_is_an_error_and_a_shell_command_a_warning(messy):
    installs = [f.message for f in messy.findings if f.code == "NB302"]
    shells = [f.message for f in messy.findings if f.code == "NB306"]
    assert len(installs) == 1 and "package install" in installs[0]
    assert len(shells) == 1 and "'!ls' runs in the pipeline" in shells[0]


def test_each_finding_has_severity_from_the_table_and_a_fix(messy):
    for f in messy.findings:
        assert f.severity == CHECKS[f.code][0]
        assert f.fix


def test_seeded_code_is_clean(write_nb):
    report = lint(
        write_nb(
            [
                (
                    "code",
                    "import numpy as np\nfrom sklearn.model_selection import train_test_split\n"
                    "from sklearn.linear_model import LogisticRegression",
                    ["imports"],
                    1,
                ),
                ("code", "seed = 3", ["parameters"], 2),
                (
                    "code",
                    "np.random.seed(seed)\nx = np.random.rand(10)\nrng = np.random.default_rng(seed)",
                    ["step:a"],
                    3,
                ),
                (
                    "code",
                    "a, b = train_test_split(x, random_state=seed)\nm = LogisticRegression(random_state=seed)\n"
                    "c, d = train_test_split(x, shuffle=False)",
                    ["step:b"],
                    4,
                ),
            ]
        )
    )
    assert report.findings == []


def test_examples_and_fixtures_lint_clean():
    for path in [
        EXAMPLES / "classifier.ipynb",
        EXAMPLES / "regression.ipynb",
        FIXTURES / "percent_format.py",
        FIXTURES / "headings.ipynb",
    ]:
        assert lint(path).errors == [], path


def test_text_and_json_rendering(messy):
    text = render_text(messy)
    assert "messy.ipynb:3 (\"DATA = '/Users/alice/data.csv'\")" in text
    assert "fix:" in text and "error(s)" in text
    data = json.loads(render_json(messy))
    assert data["summary"]["errors"] == len(messy.errors)
    assert {"code", "severity", "message", "cell", "fix"} <= set(data["findings"][0])


def test_kale_cluster_tags_reported_as_info():
    report = lint(FIXTURES / "kale_dialect.ipynb")
    assert report.errors == []
    assert sum(f.code == "NB002" for f in report.findings) == 2


@pytest.mark.parametrize(
    "code,what",
    [
        ("db_password = 'hunter2'", "a literal assigned to 'db_password'"),
        ("API_KEY = 'abc123def456'", "a literal assigned to 'API_KEY'"),
        ("client = connect(token='tok-123456')", "a literal passed as token="),
        ("key = 'AKIAIOSFODNN7EXAMPLE'", "an AWS access key"),
        ("url = 'postgres://admin:s3cret@db:5432/x'", "a password in a URL"),
        ("gh = 'ghp_" + "a" * 36 + "'", "a GitHub token"),
    ],
)
def test_hard_coded_credentials_are_errors_and_never_reach_generated_files(tmp_path, monkeypatch, write_nb, code, what):
    from nbprod.convert.render import convert
    from nbprod.errors import PlanError

    nb = write_nb([("code", "x = 1", ["step:a"]), ("code", code, ["step:b"])])
    report = lint(nb)
    [finding] = [f for f in report.findings if f.code == "NB304"]
    assert what in finding.message and finding.cell.index == 1 and finding.severity == "error"
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PlanError, match="hard-coded credential"):
        convert(nb)
    assert not (tmp_path / "pipelines").exists()


def test_reading_credentials_from_the_environment_is_fine(write_nb):
    report = lint(
        write_nb(
            [
                ("code", "import os", ["imports"]),
                ("code", "password = os.environ['DB_PASSWORD']\ntoken = None\napi_key = ''", ["step:a"]),
            ]
        )
    )
    assert [f for f in report.findings if f.code == "NB304"] == []


CROSS_STEP = [
    # (cells as (source, step), code, index of the cell it is reported at, index of the other cell it names)
    ([("code_ = 'x = 1'\nexec(code_)", "a"), ("print(1)", "b")], "NB403", 0, None),
    ([("import os\nos.chdir('data')", "a"), ("print(open('f.csv').read())", "b")], "NB404", 0, 1),
    ([("import matplotlib.pyplot as plt\nplt.plot([1, 2])", "a"), ("plt.savefig('f.png')", "b")], "NB405", 1, 0),
    ([("from nbprod_nowhere import *", "a"), ("print(1)", "b")], "NB407", 0, None),
]


@pytest.mark.parametrize("rows, code, at, other", CROSS_STEP)
def test_cross_step_state_is_flagged_naming_both_cells(rows, code, at, other, write_nb):
    report = lint(write_nb([("code", src, [f"step:{s}"]) for src, s in rows], "cross.ipynb"))
    found = [f for f in report.findings if f.code == code]
    assert found and found[0].cell.index == at, [f.code for f in report.findings]
    assert found[0].severity == CHECKS[code][0]
    if other is not None:
        assert f"cell {other}" in found[0].message


def test_cross_step_checks_stay_quiet_when_each_step_sets_its_own_state(write_nb):
    rows = [
        ("import numpy as np\nimport matplotlib.pyplot as plt\nnp.random.seed(0)\nplt.plot([1])\nexec('y = 2')", "a"),
        ("np.random.seed(1)\nx = np.random.rand(3)\nplt.figure()\nplt.savefig('f.png')\nfrom math import *", "b"),
    ]
    report = lint(write_nb([("code", src, [f"step:{s}"]) for src, s in rows], "quiet.ipynb"))
    assert not {"NB403", "NB404", "NB405", "NB407", "NB408"} & {f.code for f in report.findings}


@pytest.mark.parametrize(
    "rows",
    [
        # changed and read in the step that made them share: one kernel, one object
        [("lst = []\nholder = {'items': lst}\nholder['items'].append(1)\nprint(lst)", "a"), ("print(1)", "b")],
        # the other name is never read after the change
        [("lst = []\nholder = {'items': lst}", "a"), ("holder['items'].append(5)\nprint(holder)", "b")],
        # a copy, not the object: {'items': list(lst)} holds a new list
        [("lst = []\nholder = {'items': list(lst)}", "a"), ("holder['items'].append(5)", "b"), ("print(lst)", "c")],
        # one object, two names, changed through one in a later step and read through the other: the step that
        # changes it hands both on, pickled together (what a display, a store or an attribute links)
        [("lst = []\nholder = {'items': lst}", "a"), ("holder['items'].append(5)", "b"), ("n = len(lst)", "c")],
        [("lst = []\nholder = {'items': lst}", "a"), ("lst.append(5)", "b"), ("n = len(holder['items'])", "c")],
        [("row = [1]\ngrid = []\ngrid.append(row)", "a"), ("row.append(2)\nprint(grid)", "b")],
        [
            ("class Box:\n    pass\nbox = Box()\nxs = [1]\nbox.xs = xs", "a"),
            ("box.xs.append(2)", "b"),
            ("print(xs)", "c"),
        ],
        # the reader takes the name from the step that changed the object (it rebinds it there)
        [
            ("lst = []\nholder = {'items': lst}", "a"),
            ("holder['items'].append(5)\nlst = holder['items']", "b"),
            ("print(lst)", "c"),
        ],
    ],
)
def test_nb408_stays_quiet_where_the_pipeline_computes_what_the_notebook_does(rows, write_nb):
    report = lint(write_nb([("code", src, [f"step:{s}"]) for src, s in rows], "alias.ipynb"))
    assert "NB408" not in {f.code for f in report.findings}, [f.message for f in report.findings]


@pytest.mark.parametrize(
    "call, fires",
    [
        ("LogisticRegression()", False),  # lbfgs, the default solver, draws nothing at random
        ("LogisticRegression(C=0.5, max_iter=500)", False),
        ("LogisticRegression(solver='newton-cg')", False),
        ("LogisticRegression(solver='saga')", True),
        ("LogisticRegression(solver='liblinear')", True),
        ("LogisticRegression(solver=chosen)", True),  # not a constant: it may be a random one
        ("LogisticRegression(solver='saga', random_state=0)", False),
        ("RandomForestClassifier()", True),
        ("KFold(5, shuffle=True)", True),
        ("KFold(5)", False),
    ],
)
def test_nb203_fires_only_where_random_state_is_used(call, fires, write_nb):
    cells = [
        (
            "code",
            "from sklearn.linear_model import LogisticRegression\nfrom sklearn.ensemble import RandomForestClassifier\n"
            "from sklearn.model_selection import KFold\nchosen = 'lbfgs'",
            ["imports"],
        ),
        ("code", f"m = {call}", ["step:train"]),
    ]
    assert ("NB203" in codes_at(lint(write_nb(cells)), 1)) is fires


@pytest.mark.parametrize(
    "line, code",
    [
        ("%matplotlib inline", "NB305"),
        ("%config InlineBackend.figure_format = 'retina'", "NB305"),
        ("%load_ext autoreload", "NB305"),
        ("%autoreload 2", "NB305"),
        ("%time y = x + 1", None),  # the statement runs in the pipeline as it is
        ("%timeit x + 1", "NB305"),
        ("%pip install xgboost", "NB302"),
        ("!pip install xgboost", "NB302"),
        ("!echo hello", "NB306"),  # runs in the pipeline (get_ipython().system): a portability warning
        ("files = !ls", "NB306"),
        ("%cd data", "NB302"),
        ("%run other.py", "NB302"),
        ("%precision 3", "NB302"),  # changes what is printed: not harmless
    ],
)
def test_display_and_timing_magics_are_notes_other_magics_errors(line, code, write_nb):
    cells = [("code", "x = 1\n" + line, ["step:a"])]
    found = {f.code: f for f in lint(write_nb(cells)).findings if f.code in ("NB302", "NB305", "NB306")}
    assert list(found) == ([code] if code else [])
    if code:
        assert found[code].severity == CHECKS[code][0] == {"NB305": "info", "NB306": "warning"}.get(code, "error")


def test_a_timed_cell_magic_is_a_note(write_nb):
    report = lint(write_nb([("code", "%%time\nx = 1", ["step:a"])]))
    assert [f.code for f in report.findings if f.code.startswith("NB30")] == ["NB305"] and not report.errors


@pytest.mark.parametrize(
    "rows, fires",
    [
        ([("import numpy as np\nnp.random.seed(0)", "a"), ("x = np.random.rand(3)", "b")], set()),  # handed on
        ([("import random\nrandom.seed(1)", "a"), ("random.shuffle(deck := [1, 2])", "b")], set()),
        (
            [
                ("import numpy as np\nnp.random.seed(0)", "a"),
                ("from sklearn.ensemble import RandomForestClassifier\nm = RandomForestClassifier()", "b"),
            ],
            set(),  # no random_state: it draws from numpy's seeded global generator
        ),
        ([("import numpy as np\nx = np.random.rand(3)", "a"), ("np.random.seed(0)", "b")], {"NB201"}),  # too late
        ([("from sklearn.ensemble import RandomForestClassifier\nm = RandomForestClassifier()", "a")], {"NB203"}),
    ],
)
def test_a_global_generator_seeded_in_an_earlier_step_is_seeded(rows, fires, write_nb):
    report = lint(write_nb([("code", src, [f"step:{s}"]) for src, s in rows], "seeded.ipynb"))
    assert {f.code for f in report.findings if f.code.startswith("NB2")} == fires


@pytest.mark.parametrize(
    "rows, fires",
    [
        (
            [
                ("def batches(n):\n    for i in range(n):\n        yield i\nstream = batches(3)", "a"),
                ("print(next(stream))", "b"),
            ],
            True,
        ),
        ([("squares = (i * i for i in range(3))", "a"), ("print(sum(squares))", "b")], True),
        ([("squares = [i * i for i in range(3)]", "a"), ("print(sum(squares))", "b")], False),  # a list: saved
        ([("def batches(n):\n    yield 1\nstream = list(batches(3))", "a"), ("print(stream)", "b")], False),
        ([("squares = (i * i for i in range(3))\ntotal = sum(squares)", "a"), ("print(total)", "b")], False),
    ],
)
def test_a_generator_handed_to_a_later_step_is_an_error_before_running(rows, fires, write_nb):
    report = lint(write_nb([("code", src, [f"step:{s}"]) for src, s in rows], "gen.ipynb"))
    found = [f for f in report.findings if f.code == "NB409"]
    assert bool(found) is fires, [f.message for f in report.findings]
    if fires:
        assert found[0].cell.index == 0 and found[0].severity == "error" and "step 'b'" in found[0].message


@pytest.mark.parametrize(
    "imports, call, fires",
    [
        ("from scipy import stats", "stats.ttest_ind(a, b)", False),  # a function of a value library's submodule
        ("import scipy.stats as ss", "ss.zscore(a)", False),
        ("from sklearn import metrics", "metrics.accuracy_score(a, b)", False),
        ("import heapq", "heapq.heappush(a, 3)", True),  # in place, by name
        ("import helpers_of_mine as h", "h.normalise(a)", True),  # a module nbprod does not know may change it
        ("from scipy import stats", "box.add_to(a)", True),  # a method of an object: may change its argument
    ],
)
def test_a_module_alias_call_changes_its_arguments_only_when_the_module_may(imports, call, fires, write_nb):
    cells = [
        ("code", imports, ["imports"]),
        ("code", "a = [3, 1, 2]\nb = [1, 2, 3]\nbox = set()", ["step:make"]),
        ("code", f"r = {call}", ["step:use"]),
        ("code", "print(a, r)", ["step:show"]),
    ]
    report = lint(write_nb(cells, "alias_call.ipynb"))
    assert ("NB402" in {f.code for f in report.findings}) is fires, [f.message for f in report.findings]


@pytest.mark.parametrize(
    "define, use, fires",
    [
        (
            "class Run:\n    count = 0\n    def bump(self):\n        Run.count += 1\na = Run()\na.bump()",
            "b = Run()\nb.bump()",
            True,
        ),
        (
            "from functools import lru_cache\n@lru_cache(maxsize=None)\ndef sq(n):\n    return n * n\nsq(2)",
            "print(sq(2), sq.cache_info().hits)",
            True,
        ),
        # quiet: the state lives and is read in one kernel, or there is no state
        ("class P:\n    def __init__(self):\n        self.n = 1\np = P()", "q = P()", False),
        ("def tidy(e, keep=None):\n    return [e] if keep is None else keep + [e]\ntidy(1)", "tidy(2)", False),
        (
            "class Run:\n    count = 0\n    def __init__(self):\n        Run.count += 1\na = Run()\nprint(Run.count)",
            "print(1)",
            False,
        ),
    ],
)
def test_state_a_definition_keeps_is_flagged_when_two_steps_use_it(define, use, fires, write_nb):
    cells = [("code", define, ["step:define"]), ("code", use, ["step:use"])]
    report = lint(write_nb(cells, "defs.ipynb"))
    assert ("NB410" in {f.code for f in report.findings}) is fires, [f.message for f in report.findings]


@pytest.mark.parametrize(
    "define, use, name",
    [
        ("class Run:\n    count = 0\n    def __init__(self):\n        Run.count += 1\na = Run()", "b = Run()", "Run"),
        (
            "class Reg:\n    items = []\n    def __init__(self):\n        Reg.items.append(self)\nr = Reg()",
            "Reg()",
            "Reg",
        ),
        ("def record(e, log=[]):\n    log.append(e)\n    return log\nrecord('a')", "print(record('b'))", "record"),
        ("FACTOR = 2\ndef scale(x, factor=FACTOR):\n    return x * factor", "FACTOR = 10\nprint(scale(3))", "scale"),
    ],
)
def test_a_definition_whose_state_steps_see_travels_as_a_value(define, use, name, write_nb):
    """Changed only where a step's code names it (a call of the class, its mutable default, a default of a global
    rebound later): handed on with its state, like a variable, so lint has nothing to say."""
    cells = [("code", define, ["step:define"]), ("code", use, ["step:use"])]
    report = lint(write_nb(cells, "defs.ipynb"))
    assert report.plan.step("use").inputs[name] == "define" and "NB410" not in {f.code for f in report.findings}
