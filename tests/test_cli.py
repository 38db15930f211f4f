import json
import subprocess
import sys

import pytest

from nbprod.ui.cli import main
from tests.conftest import EXAMPLES

HEAVY = [
    "ploomber",
    "papermill",
    "pandas",
    "great_expectations",
    "mlflow",
    "bentoml",
    "sklearn",
    "nbformat",
    "jupytext",
]


def _imported_after(argv: list[str]) -> list[str]:
    code = (
        "import sys, json\nfrom nbprod.ui.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["lint", str(EXAMPLES / "classifier.ipynb")],
        ["lint", "--format", "json", str(EXAMPLES / "regression.ipynb")],
    ],
)
def test_help_and_lint_do_not_import_heavy_libraries(argv):
    assert _imported_after(argv) == []


def test_help_lists_the_commands_and_tags(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for word in ["lint", "convert", "run", "step:<name>", "require:<metric><op><number>"]:
        assert word in out
    from nbprod.notebook.tags import GRAMMAR

    for name, spec in GRAMMAR.items():  # the tag list is the grammar: every tag, with its description
        assert f"  {name}" in out and spec.doc in out, name


def test_lint_exit_codes(write_nb, capsys):
    assert main(["lint", str(EXAMPLES / "classifier.ipynb")]) == 0
    bad = write_nb([("code", "x = undefined_thing", ["step:a"])])
    assert main(["lint", str(bad)]) == 1
    assert "NB103" in capsys.readouterr().out
    assert main(["lint", str(bad.parent / "missing.ipynb")]) == 2


def test_lint_json_is_machine_readable(write_nb, capsys):
    bad = write_nb([("code", "x = undefined_thing", ["step:a"])])
    main(["lint", "--format", "json", str(bad)])
    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["errors"] >= 1
    assert data["findings"][0]["cell"]["index"] == 0


def test_cli_errors_exit_nonzero_without_traceback(tmp_path):
    bad = tmp_path / "broken.ipynb"
    bad.write_text('{"cells": [')
    for argv in (["convert", str(bad)], ["run", str(bad)], ["lint", str(bad)]):
        proc = subprocess.run([sys.executable, "-m", "nbprod", *argv], capture_output=True, text=True, cwd=tmp_path)
        assert proc.returncode == 2, proc
        assert "Traceback" not in proc.stderr
        assert proc.stderr.startswith("error: ") and "broken.ipynb" in proc.stderr and "fix:" in proc.stderr


def test_convert_command_reports_what_it_wrote(project, capsys):
    assert main(["convert", "example_notebooks/classifier.ipynb"]) == 0
    out = capsys.readouterr().out
    assert "pipelines/classifier/ written: 4 steps (load -> features -> train -> evaluate)" in out
    assert main(["convert", "example_notebooks/classifier.ipynb"]) == 0
    assert "unchanged" in capsys.readouterr().out


def test_headings_split_is_announced(project, capsys):
    from tests.conftest import FIXTURES

    assert main(["convert", str(FIXTURES / "headings.ipynb")]) == 0
    assert "note: no step: tags: split at 3 '## ' headings" in capsys.readouterr().out


@pytest.mark.parametrize(
    "param,message",
    [
        ("alpah=2", "unknown parameter 'alpah'; did you mean 'alpha'?"),
        ("alpha=abc", "parameter 'alpha' expects float"),
        ("seed=1.5", "parameter 'seed' expects int"),
        ("noequals", "is not name=value"),
    ],
)
def test_bad_parameters_are_usage_errors(project, capsys, param, message):
    assert main(["run", "example_notebooks/regression.ipynb", "-p", param]) == 2
    assert message in capsys.readouterr().err
    assert not (project / ".nbprod" / "products").exists()
