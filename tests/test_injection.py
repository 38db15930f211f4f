"""Nothing from a notebook can inject code into generated files or write outside the project.

Hostile names are rejected when tags are parsed; hostile values (parameters, card text, served column names)
are carried as data (Python string constants, YAML scalars, escaped HTML), never as code.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from nbprod.convert.render import convert
from nbprod.errors import NbprodError
from nbprod.notebook.tags import TagProblem, parse_tag
from tests.conftest import ROOT, nb_json, tree_snapshot

PAYLOAD = "__import__('os').system('touch pwned')"

HOSTILE_NAMES = [
    "a'b",
    'a"b',
    'a"""b',
    "a\nimport os",
    "a;rm -rf ~",
    "a|b",
    "a&b",
    "$(whoami)",
    "`id`",
    "a b",
    "../../evil",
    "..",
    "a/b",
    "a\\b",
    "x')\n" + PAYLOAD + "\n#",
    "__import__('os')",
    "a\x00b",
    "a\rb",
    "{{a}}",
    "a:b",
]


def _files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def _calls_to_import(tree: ast.AST) -> list[str]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            if name in ("__import__", "system", "exec", "eval"):
                out.append(ast.unparse(node))
    return out


def _string_constants(tree: ast.AST) -> set[str]:
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


# --- hostile names are rejected at parse time -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["step", "after", "gate", "model"])
@pytest.mark.parametrize("value", HOSTILE_NAMES, ids=[repr(v) for v in HOSTILE_NAMES])
def test_hostile_names_in_tags_are_rejected_by_the_parser(kind, value):
    parsed = parse_tag(f"{kind}:{value}")
    assert isinstance(parsed, TagProblem), parsed
    assert parsed.message.startswith(f"tag {f'{kind}:{value.strip()}'!r}") or parsed.message.startswith(
        f"tag {f'{kind}:{value}'!r}"
    )
    assert any(
        why in parsed.message
        for why in ("is not a Python identifier", "contains a path separator", "is a Python keyword")
    )
    # the suggested fix is itself a safe name
    suggestion = parsed.fix.split(f"'{kind}:", 1)[1].split("'", 1)[0]
    assert suggestion.isidentifier() and suggestion.isascii()


@pytest.mark.parametrize("value", ["../../evil", "..", "a/../../b", "x\n" + PAYLOAD, "a'b", "$(id)"])
def test_hostile_step_names_write_nothing(tmp_path, monkeypatch, value):
    outer = tmp_path / "outer"
    project = outer / "proj"
    project.mkdir(parents=True)
    monkeypatch.chdir(project)
    (project / "nb.ipynb").write_text(
        json.dumps(nb_json([("code", "x = 1", [f"step:{value}"]), ("code", "y = x", ["step:b"])]))
    )
    with pytest.raises(NbprodError) as info:
        convert("nb.ipynb")
    assert repr(value) in str(info.value) or repr(value.strip()) in str(info.value)
    assert _files_under(outer) == {"proj", "proj/nb.ipynb"}


@pytest.mark.parametrize("name", ["pa'ram", "x;y", "__import__('os')"])
def test_hostile_parameter_names_cannot_exist(tmp_path, monkeypatch, name):
    """A parameter is a Python assignment target: anything but an identifier is a syntax error, reported as such."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nb.ipynb").write_text(
        json.dumps(nb_json([("code", f"{name} = 1", ["parameters"]), ("code", "y = 1", ["step:a"])]))
    )
    with pytest.raises(
        NbprodError,
        match="syntax error|parameters must be simple assignments|the parameters cell may hold only assignments",
    ):
        convert("nb.ipynb")
    assert not (tmp_path / "pipelines").exists()


def test_heading_step_names_are_slugged_into_safe_file_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cells = [
        ("markdown", "## ../../etc/passwd; rm -rf ~", []),
        ("code", "x = 1", []),
        ("markdown", '## $(whoami) `id` """', []),
        ("code", "y = x", []),
    ]
    (tmp_path / "nb.ipynb").write_text(json.dumps(nb_json(cells)))
    result = convert("nb.ipynb")
    names = [s.name for s in result.plan.steps]
    assert all(n.isidentifier() and n.isascii() for n in names), names
    assert _files_under(tmp_path) - {"nb.ipynb"} == {
        "pipelines",
        "pipelines/nb",
        "pipelines/nb/tasks",
        "pipelines/nb/README.md",
        "pipelines/nb/pipeline.yaml",
    } | {f"pipelines/nb/tasks/{n}.py" for n in names}


# --- hostile parameter values stay string data -------------------------------------------------------------------

HOSTILE_VALUES = [
    "it's",
    'say "hi"',
    'a """ b',
    "a ''' b",
    "line1\nline2",
    "\n" + PAYLOAD,
    "'\n" + PAYLOAD + "\n'",
    '"""\n' + PAYLOAD + '\n"""',
    "x\\",
    "\\'; " + PAYLOAD + " #",
    '# %% tags=["parameters"]\nimport os',
    "\r\n\t\x00\x0b\u2028\u2029\x85 end",
    "{{ jinja }} {% raw %} ${HOME} $(id) `id`",
    "- yaml: [list]\nkey: value",
]


def _parameters_cell(script: str) -> str:
    marker = '# %% tags=["parameters"]\n'
    assert script.count(marker) == 1
    return script.split(marker, 1)[1].split("\n# %%", 1)[0]


@pytest.mark.parametrize("value", HOSTILE_VALUES, ids=[f"v{i}" for i in range(len(HOSTILE_VALUES))])
def test_hostile_parameter_values_are_assigned_as_exactly_that_string(tmp_path, monkeypatch, value):
    monkeypatch.chdir(tmp_path)
    nested = {"k'\n": [value]}
    src = f"s = {value!r}\nnested = {nested!r}"
    cells = [("code", src, ["parameters"]), ("code", "y = len(s) + len(nested)", ["step:a"])]
    (tmp_path / "nb.ipynb").write_text(json.dumps(nb_json(cells)))
    result = convert("nb.ipynb")
    assert result.plan.parameters == {"s": value, "nested": nested}
    script = (tmp_path / "pipelines/nb/tasks/a.py").read_text()
    cell = ast.parse(_parameters_cell(script))
    assert [type(s).__name__ for s in cell.body] == ["Assign"] * 4
    targets = [s.targets[0].id for s in cell.body]
    assert targets == ["upstream", "product", "s", "nested"]
    assert ast.literal_eval(cell.body[2].value) == value
    assert ast.literal_eval(cell.body[3].value) == nested
    whole = ast.parse(script)
    assert not _calls_to_import(whole)
    assert [ast.unparse(s) for s in whole.body if not isinstance(s, ast.Assign)] == []
    spec = yaml.safe_load((tmp_path / "pipelines/nb/pipeline.yaml").read_text())
    assert set(spec) == {"meta", "tasks"}
    [task] = spec["tasks"]
    assert task["params"] == {"s": value, "nested": nested}
    assert set(task) == {"source", "name", "executor", "static_analysis", "product", "params"}


@pytest.mark.parametrize("raw", ["__import__('os').system('x')", "[1, __import__('os')]", "(lambda: 1)()"])
def test_override_values_are_never_evaluated_as_code(tmp_path, monkeypatch, raw):
    from nbprod.notebook.reader import read_notebook
    from nbprod.plan.build import build_plan
    from nbprod.plan.params import apply_overrides

    monkeypatch.chdir(tmp_path)
    (tmp_path / "nb.ipynb").write_text(
        json.dumps(
            nb_json([("code", "items = [1]\nlabel = 'a'", ["parameters"]), ("code", "y = items, label", ["step:a"])])
        )
    )
    plan = build_plan(read_notebook("nb.ipynb"))
    with pytest.raises(NbprodError, match="parameter 'items' expects list"):
        apply_overrides(plan, {"items": raw})
    assert apply_overrides(plan, {"label": raw}) == {"label": raw}  # a str parameter takes the text as it is
    assert not (tmp_path / "pwned").exists()


# --- card text with <script> ---------------------------------------------------------------------------------------

SCRIPT = "<script>alert('x')</script><img src=x onerror=alert(1)>"


def test_review_html_escapes_card_text_and_names(tmp_path, monkeypatch):
    from nbprod.package.model_card import build_model_card
    from nbprod.package.model_card_md import card_files
    from nbprod.workflow.review import review

    monkeypatch.chdir(tmp_path)
    cells = [
        ("markdown", f"Intended for {SCRIPT}", ["card:intended-use"]),
        ("code", "x = 1", ["step:a"]),
        ("code", "y = x", ["step:b"]),
    ]
    (tmp_path / "nb.ipynb").write_text(json.dumps(nb_json(cells)))
    convert("nb.ipynb")
    bento = tmp_path / "bentos" / "nb"
    bento.mkdir(parents=True)
    for fname, text in card_files(build_model_card({"name": "nb"}, {"intended-use": f"Intended for {SCRIPT}"})).items():
        (bento / fname).write_text(text)
    report = review("nb.ipynb")
    page = report.html_path.read_text()
    assert SCRIPT in (bento / "MODEL_CARD.md").read_text()  # shown in the diff of what changed since the approval
    assert "<script" not in page.lower() and "<img" not in page.lower()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page


def _rendered(markdown: str) -> str:
    """Markdown as a renderer that passes raw HTML through would show it."""
    markdown_it = pytest.importorskip("markdown_it")
    return markdown_it.MarkdownIt("commonmark", {"html": True}).render(markdown)


def test_pipeline_card_and_model_card_escape_facts():
    from nbprod.convert.readme import render_card
    from nbprod.notebook.reader import notebook_from_cells
    from nbprod.package.model_card import build_model_card
    from nbprod.package.model_card_md import render_markdown
    from nbprod.plan.build import build_plan

    nb = notebook_from_cells(
        "nb.ipynb",
        [
            ("markdown", SCRIPT, ["card:limitations"]),
            ("code", f"label = {SCRIPT!r}", ["parameters"]),
            ("code", "x = label", ["step:a"]),
        ],
    )
    plan = build_plan(nb)
    card = render_card(plan, f"notebooks/{SCRIPT}`.ipynb", {"a": {"nb": "p/a.ipynb", "x": "p/a/x"}})
    html = _rendered(card)
    assert "<script" not in html and "<img" not in html, html
    assert "&lt;script&gt;" in html
    md = render_markdown(build_model_card({"name": SCRIPT, "notebook": f"{SCRIPT}.ipynb"}, {}))
    html = _rendered(md)
    assert "<script" not in html and "<img" not in html, html
    assert "<script" not in md and "<img" not in md


# --- served column names ---------------------------------------------------------------------------------------------

HOSTILE_COLUMNS = [
    "a'b\n__import__('os')",
    'c"""\n__import__("os").system("x")\n"""',
    "model_config",
    "class",
    "_private",
    "x\\",
    "1st",
    "é",
]


def test_hostile_column_names_are_string_constants_in_the_service():
    from nbprod.package.spec import InputField, ServingSpec
    from nbprod.package.templates import render_service

    fields = [InputField(name=n, type="number") for n in HOSTILE_COLUMNS]
    fields.append(InputField(name="plan", type="string", values=["x'\n__import__('os')", '"""']))
    spec = ServingSpec(fields, "classification")
    src = render_service(
        spec, pipeline="p", notebook="nb.ipynb", model_tag="p:abc'\n__import__('os')#", serve_imports="", serve_code=""
    )
    tree = compile(src, "service.py", "exec", ast.PyCF_ONLY_AST)
    assert not _calls_to_import(tree), _calls_to_import(tree)
    constants = _string_constants(tree)
    for name in HOSTILE_COLUMNS:
        assert name in constants
    assert "x'\n__import__('os')" in constants
    # every hostile name is only an alias: the Record attributes are safe identifiers
    record = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Record")
    attrs = [s.target.id for s in record.body if isinstance(s, ast.AnnAssign)]
    assert all(a.isidentifier() and a.isascii() and not a.startswith("_") for a in attrs)
    assert len(set(attrs)) == len(attrs) == len(fields)


def test_hostile_notebook_path_stays_inside_the_service_docstring():
    from nbprod.package.spec import InputField, ServingSpec
    from nbprod.package.templates import render_service

    spec = ServingSpec([InputField(name="a", type="number")], "regression")
    src = render_service(
        spec,
        pipeline="p",
        notebook='n"""\n' + PAYLOAD + '\n"""b.ipynb',
        model_tag="p:1",
        serve_imports="",
        serve_code="",
    )
    tree = ast.parse(src)
    assert not _calls_to_import(tree), _calls_to_import(tree)


def test_hostile_notebook_file_name_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    """A newline in the notebook's file name could inject YAML keys (e.g. Ploomber's serializer:) into pipeline.yaml."""
    from nbprod.errors import NotebookReadError

    monkeypatch.chdir(tmp_path)
    name = "nb\nserializer: os.system\nclients: {}\n#.ipynb"
    (tmp_path / name).write_text(json.dumps(nb_json([("code", "x = 1", ["step:a"])])))
    with pytest.raises(NotebookReadError, match="control character") as info:
        convert(name)
    assert "rename the notebook" in info.value.fix
    assert not (tmp_path / "pipelines").exists()


# --- nothing is written outside the project -----------------------------------------------------------------------


def _nbprod(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {
        "PATH": "/usr/bin:/bin",
        "NBPROD_TRACK": "0",
        "NBPROD_PACKAGE": "0",
        "NBPROD_GATE_WORKER": "0",
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.run(
        [sys.executable, "-m", "nbprod", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120
    )


@pytest.fixture
def nested(tmp_path):
    """A project two levels down, so that ../../ from any of its folders is still inside tmp_path."""
    project = tmp_path / "outer" / "inner" / "proj"
    project.mkdir(parents=True)
    (project / "nb.ipynb").write_text(
        json.dumps(nb_json([("code", "x = 1", ["step:a"]), ("code", "y = x", ["step:b"])]))
    )
    return project


@pytest.mark.parametrize("name", ["../../evil", "../../../evil", "/tmp/evil", "a/../../evil", ".."])
def test_name_with_path_components_is_rejected_by_convert(nested, monkeypatch, name):
    monkeypatch.chdir(nested)
    with pytest.raises(NbprodError, match="pipeline name .* contains a path separator"):
        convert("nb.ipynb", name=name)
    assert _files_under(nested.parent.parent.parent) == {
        "outer",
        "outer/inner",
        "outer/inner/proj",
        "outer/inner/proj/nb.ipynb",
    }


CLI_NAME_COMMANDS = [
    pytest.param(["convert"], id="convert"),
    pytest.param(["lint"], id="lint"),
    pytest.param(["expect"], id="expect"),
    pytest.param(["review"], id="review"),
    pytest.param(["approve", "--by", "Ada"], id="approve"),
    pytest.param(["approve", "--check"], id="approve-check"),
    pytest.param(["status"], id="status"),
    pytest.param(["run"], id="run"),
]


@pytest.mark.parametrize("command", CLI_NAME_COMMANDS)
def test_cli_name_cannot_write_outside_the_project(nested, command):
    root = nested.parent.parent.parent
    before = _files_under(root)
    proc = _nbprod([command[0], "nb.ipynb", *command[1:], "--name", "../../../evil"], nested)
    assert proc.returncode != 0
    assert proc.stderr.startswith("error: nb.ipynb: pipeline name '../../../evil' contains a path separator"), (
        proc.stderr
    )
    assert "Traceback" not in proc.stderr
    outside = {p for p in _files_under(root) - before if not p.startswith("outer/inner/proj/")}
    assert outside == set(), outside
    assert not (nested / "pipelines").exists()


def test_step_names_with_dotdot_cannot_write_outside_pipelines(nested):
    root = nested.parent.parent.parent
    (nested / "nb.ipynb").write_text(json.dumps(nb_json([("code", "x = 1", ["step:../../../../evil"])])))
    before = tree_snapshot(root)
    proc = _nbprod(["convert", "nb.ipynb"], nested)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and "contains a path separator" in proc.stderr
    assert tree_snapshot(root) == before
