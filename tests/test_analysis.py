from nbprod.analysis.cells import analyze_source


def test_defines_uses_in_evaluation_order():
    a = analyze_source("y = x + 1\nx = 2\nz = y * x")
    assert a.defines == ["y", "x", "z"]
    assert a.uses == ["x"]  # x is read before the cell assigns it; the later read is local


def test_imports_functions_and_their_globals():
    a = analyze_source(
        "import pandas as pd\nfrom os import path as p\n\ndef f(a, b=DEFAULT):\n    return a + THRESH + pd.x\n"
    )
    assert a.imports == {"pd": "import pandas as pd", "p": "from os import path as p"}
    # a default is read when the definition runs: a copy of f in another step needs it as much as THRESH
    assert a.functions["f"].globals_read == {"DEFAULT", "THRESH", "pd"}
    assert "DEFAULT" in a.uses and "THRESH" not in a.uses
    assert a.functions["f"].source.startswith("def f(a, b=DEFAULT):")


def test_class_definition_globals():
    a = analyze_source("class Model(Base):\n    k = K\n    def fit(self):\n        return helper(self.k)\n")
    assert a.uses == ["Base"]
    assert a.functions["Model"].globals_read == {"Base", "K", "helper"}  # a copy of the class needs its base


def test_comprehension_and_lambda_scopes():
    a = analyze_source("out = [v * k for v in values if v > lo]\nf = lambda t: t + off\n")
    assert set(a.uses) == {"k", "values", "lo", "off"}
    assert "v" not in a.defines and "t" not in a.defines


def test_in_place_mutations():
    a = analyze_source(
        'df["x"] = 1\nframe.loc[0, "a"] = 2\nobj.attr = 3\ndf2.drop(columns=["a"], inplace=True)\n'
        "items.append(1)\nmodel.fit(X, y)\nnp.random.shuffle(arr)\ndel cache['k']\n"
    )
    assert set(a.mutates) == {"df", "frame", "obj", "df2", "items", "model", "arr", "cache"}
    assert {"df", "frame", "obj", "df2", "items", "model", "arr", "cache"} <= set(a.uses)


def test_not_a_mutation_when_result_is_reassigned():
    a = analyze_source("df = df.drop(columns=['a'])\n")
    assert a.mutates == [] and a.uses == ["df"] and a.defines == ["df"]


def test_magics_and_shell_do_not_crash_the_parser():
    a = analyze_source("%matplotlib inline\n!pip install x\nfiles = !ls\nimport os\nresult = os.getcwd()\ndf?\n")
    assert a.syntax_error is None
    assert [m for _, m in a.magics] == ["%matplotlib inline", "!pip install x", "files = !ls", "df?"]
    assert "os" in a.defines and "result" in a.defines


def test_cell_magic():
    a = analyze_source("%%bash\necho hi\n")
    assert a.cell_magic and a.syntax_error is None and a.uses == []


def test_syntax_error_is_recorded_not_raised():
    a = analyze_source("def f(:\n  pass")
    assert a.tree is None and a.syntax_error.startswith("line 1")


def test_star_imports_recorded():
    assert analyze_source("from pandas import *").star_imports == ["pandas"]


def test_top_level_assigned_names_for_metrics():
    a = analyze_source("acc = 0.9\nif True:\n    inner = 1\nf1, auc = 0.1, 0.2\n")
    assert a.assigned == ["acc", "f1", "auc"]


def test_walrus_for_with_except():
    a = analyze_source(
        "if (n := len(xs)) > 0:\n    pass\nfor i, j in pairs:\n    pass\nwith open(p) as fh:\n    pass\n"
        "try:\n    pass\nexcept ValueError as err:\n    pass\n"
    )
    assert {"n", "i", "j", "fh", "err"} <= set(a.defines)
    assert set(a.uses) == {"xs", "pairs", "p"}


# the magic grammar (analysis.magics), shared with the converter's task code


def test_line_magic_kinds():
    from nbprod.analysis.magics import HELP, MAGIC, SHELL_ASSIGNMENT, line_magic

    assert line_magic("x = 1") is None and line_magic("d = {'a': 1}") is None and line_magic("x = a % b") is None
    shell = line_magic("    !ls -la")
    assert (shell.kind, shell.indent, shell.text) == (MAGIC, "    ", "!ls -la")
    assert line_magic("%pip install x").kind == MAGIC
    out = line_magic("  a, b = %sx ls")
    assert (out.kind, out.target, out.command, out.text) == (SHELL_ASSIGNMENT, "  a, b = ", "%sx ls", "a, b = %sx ls")
    assert line_magic("df.head??").kind == HELP and line_magic("obj[0]?").kind == HELP


def test_cell_magic_is_the_first_non_blank_line():
    from nbprod.analysis.magics import cell_magic

    found = cell_magic(["", "  ", "  %%time -n1", "x = 1"])
    assert (found.line, found.text, found.name, found.runs) == (2, "%%time -n1", "%%time", True)
    assert cell_magic(["%%bash", "echo hi"]).runs is False
    assert cell_magic(["x = 1", "%%time"]) is None and cell_magic(["", ""]) is None


def test_neutralise_keeps_line_numbers():
    from nbprod.analysis.magics import neutralise

    code, magics, whole = neutralise("%%time\nfiles = !ls\nif x:\n    !echo\ny = 1")
    assert code == "#%%time\nfiles = None\nif x:\n    pass\ny = 1" and not whole
    assert magics == [(1, "%%time"), (2, "files = !ls"), (4, "!echo")]
    code, magics, whole = neutralise("%%bash\necho hi")
    assert code == "#%%bash\n#echo hi" and magics == [(1, "%%bash")] and whole


def test_magics_inside_a_timed_cell_are_neutralised_too():
    a = analyze_source("%%time\n!ls\nx = 1\n")
    assert a.syntax_error is None and a.defines == ["x"] and [m for _, m in a.magics] == ["%%time", "!ls"]


def test_walrus_in_a_comprehension_binds_in_the_enclosing_scope():
    a = analyze_source("ys = [y := v for v in vs]\ndef f(xs):\n    return [t := x for x in xs] and t\n")
    assert "y" in a.defines and a.uses == ["vs"]
    assert a.functions["f"].globals_read == set()


def test_case_mapping_rest_and_except_names():
    a = analyze_source("match d:\n    case {'a': 1, **rest}:\n        pass\ntry:\n    pass\nexcept E as e:\n    pass\n")
    assert "rest" in a.defines
    assert a.binding["e"] == frozenset({"kept", "unbound"})  # Python deletes the 'as' name after the handler


def test_exec_literals_are_analysed_and_computed_ones_noted():
    a = analyze_source("exec('z = w + 1')\nv = eval('z * 2')\nexec(src)")
    assert "z" in a.defines and "w" in a.uses and "src" in a.uses
    assert a.dynamic == [(3, "exec")]


def test_calls_mutate_their_arguments_unless_known_pure():
    a = analyze_source("import heapq\nheapq.heappush(h, 1)\nrng.normal()\nn = len(xs)\ns.upper()\nfill(lst)")
    assert a.mutates == ["h", "rng"]  # heappush changes h, rng advances; len and str methods do not
    assert a.passed_to == {"lst": ["fill"]}  # a bare function: the planner knows whether it is a pure import
