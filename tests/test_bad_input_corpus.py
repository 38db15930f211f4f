"""A corpus of bad inputs: every one is rejected with a message naming what is wrong and where, never a traceback,
and a failed command leaves every previously generated file as it was.

One table (``CASES``): malformed notebooks, tags, expectation suites, ``-p`` parameters and approval records.
Notebook and parameter cases marked ``cli`` are also fed to ``python -m nbprod`` in a subprocess.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from nbprod.convert.render import convert
from nbprod.errors import NbprodError
from tests.conftest import ROOT, nb_json, tree_snapshot

NB = "nb.ipynb"

#: The good notebook every bad one replaces: parameters of five types, an imports cell, two steps and a model.
GOOD_CELLS = [
    ("code", "import math", ["imports"]),
    ("code", "n = 3\nrate = 0.5\nlabel = 'x'\nflag = True\nitems = [1, 2]", ["parameters"]),
    ("code", "df = [n, rate, label, flag, items]", ["step:load"]),
    ("code", "model = len(df) + math.pi", ["step:train", "model:model"]),
]


def _good_json() -> str:
    return json.dumps(nb_json(GOOD_CELLS), indent=1)


def _raw_nb(cells: list) -> bytes:
    """A notebook whose cells are given as raw JSON objects (to build what nb_json cannot)."""
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode()


def _code(source, **extra) -> dict:
    return {
        "cell_type": "code",
        "id": "c",
        "metadata": {},
        "outputs": [],
        "execution_count": None,
        "source": source,
        **extra,
    }


def _big_output_nb() -> bytes:
    data = nb_json(GOOD_CELLS)
    data["cells"][2]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "A" * (50 * 1024 * 1024)}]
    return json.dumps(data).encode()


def nb(case_id: str, content, *messages: str, cli: bool = False, marks=()):
    """A bad notebook (cells for nb_json, or raw bytes) that convert must reject with ``messages``."""
    return pytest.param("notebook", content, messages, cli, id=case_id, marks=marks)


def suite(case_id: str, content, *messages: str, outcome: str = "raise"):
    """A suite (JSON text, a dict, or None for a missing file) for the small frame; ``outcome``: raise | fail."""
    return pytest.param("suite", (content, outcome), messages, False, id=case_id)


def param(case_id: str, assignments: list[str], *messages: str, cells=None, cli: bool = False):
    """``-p`` assignments applied to the good notebook's plan (or to ``cells``)."""
    return pytest.param("param", (assignments, cells), messages, cli, id=case_id)


def approval(case_id: str, setup: str, state: str, *messages: str):
    return pytest.param("approval", setup, (state,) + messages, False, id=case_id)


def _exp(kind: str, **kwargs) -> dict:
    return {"type": kind, "kwargs": kwargs, "severity": "critical"}


CASES = [
    # --- malformed notebooks -------------------------------------------------------------------------------------
    nb("truncated_json", _good_json()[:200].encode(), "is not valid JSON", "restore it from version control", cli=True),
    nb("empty_file", b"", "is not valid JSON: Expecting value at line 1, column 1", cli=True),
    nb(
        "nbformat3",
        b'{"nbformat": 3, "nbformat_minor": 0, "worksheets": [{"cells": []}], "metadata": {}}',
        "has nbformat 3; nbprod reads nbformat 4",
        "jupyter nbconvert --to notebook --nbformat 4",
        cli=True,
    ),
    nb("nbformat_missing", b'{"cells": [], "metadata": {}}', "has nbformat None; nbprod reads nbformat 4"),
    nb("json_not_a_notebook", b"[1, 2, 3]", "is JSON but not a Jupyter notebook (no 'cells')", cli=True),
    nb("cells_not_a_list", b'{"nbformat": 4, "nbformat_minor": 5, "cells": {"a": 1}}', "'cells' is not a list"),
    nb(
        "cell_not_an_object", b'{"nbformat": 4, "nbformat_minor": 5, "cells": ["x = 1"]}', "cell 0 is not a JSON object"
    ),
    nb(
        "cell_without_source",
        _raw_nb([_code("x = 1"), {"cell_type": "code", "metadata": {}, "outputs": []}]),
        "cell 1 has no 'source'",
        cli=True,
    ),
    nb(
        "source_is_int",
        _raw_nb([_code(42)]),
        "cell 0 has a 'source' of type int",
        "a string or a list of strings",
        cli=True,
    ),
    nb("source_is_dict", _raw_nb([_code({"a": "b"})]), "cell 0 has a 'source' of type dict"),
    nb("source_list_with_number", _raw_nb([_code(["x = 1\n", 2])]), "cell 0 has a 'source' of type list"),
    nb(
        "unknown_cell_type",
        _raw_nb([{"cell_type": "heading", "metadata": {}, "source": "# T", "level": 1}]),
        "cell 0 has cell_type 'heading'; expected 'code', 'markdown' or 'raw'",
    ),
    nb(
        "tags_not_a_list", _raw_nb([_code("x = 1", metadata={"tags": "step:a"})]), "cell 0: metadata.tags is not a list"
    ),
    nb(
        "binary_garbage",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe",
        "is not UTF-8 text (byte 0: b'\\x89')",
        cli=True,
    ),
    nb(
        "latin1_text",
        _good_json().replace("math.pi", "math.pi  # caf\u00e9").encode("latin-1"),
        "is not UTF-8 text",
        "\\xe9",
    ),
    nb("utf16_text", _good_json().encode("utf-16"), "is not UTF-8 text (byte 0"),
    nb(
        "empty_notebook",
        b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}',
        "the notebook has no cells",
        cli=True,
    ),
    nb("no_step_tags", [("code", "x = 1", [])], "the notebook has no step: tags and no '## ' headings"),
    nb("syntax_error", [("code", "x = = 1", ["step:a"])], "cell 0 ('x = = 1'): syntax error, line 1", cli=True),
    nb("over_size_limit", {"limit": 1000, "content": _good_json().encode()}, "MB, over the", "Clear Outputs"),
    pytest.param("big_output", _big_output_nb, (), False, id="output_blob_50mb_converts"),
    # --- tags ----------------------------------------------------------------------------------------------------
    nb(
        "misspelled_step",
        [("code", "x = 1", ["stpe:train"])],
        "unknown tag 'stpe:train'",
        "did you mean 'step:train'?",
        cli=True,
    ),
    nb(
        "misspelled_gate",
        [("code", "x = 1", ["step:a", "gaet:x"])],
        "cell 0 ('x = 1'): unknown tag 'gaet:x'",
        "did you mean 'gate:x'?",
    ),
    nb(
        "dash_instead_of_colon",
        [("code", "df = 1", ["step:a", "gate-df"])],
        "unknown tag 'gate-df'",
        "did you mean 'gate:df'?",
    ),
    nb("misspelled_flag", [("code", "n = 1", ["paramters"])], "unknown tag 'paramters'", "did you mean 'parameters'?"),
    nb("empty_step_name", [("code", "x = 1", ["step:"])], "cell 0 ('x = 1'): tag 'step:' has an empty value", cli=True),
    nb("empty_gate_name", [("code", "x = 1", ["step:a", "gate:"])], "tag 'gate:' has an empty value"),
    nb("step_without_value", [("code", "x = 1", ["step"])], "tag 'step' needs a value", "write step:<name>"),
    nb("flag_with_value", [("code", "x = 1", ["skip:yes"])], "tag 'skip:yes': 'skip' takes no value"),
    nb("tag_not_a_string", [("code", "x = 1", ["step:a", 7])], "tag 7 is not a string"),
    nb("two_steps_one_cell", [("code", "x = 1", ["step:a", "step:b"])], "cell carries 2 step tags (a, b)"),
    nb("role_and_step", [("code", "x = 1", ["step:a", "skip"])], "conflicting tags skip, step:a on one cell"),
    nb(
        "cycle",
        [("code", "x = 1", ["step:a", "after:b"]), ("code", "y = x", ["step:b"])],
        "the steps a, b form a cycle",
        cli=True,
    ),
    nb("after_itself", [("code", "x = 1", ["step:a", "after:a"])], "step 'a' cannot run after itself"),
    nb(
        "unknown_after",
        [("code", "x = 1", ["step:a", "after:zzz"])],
        "cell 0 ('x = 1'): after:zzz names an unknown step",
        "use one of the steps: a",
        cli=True,
    ),
    nb(
        "gate_never_assigned",
        [("code", "x = 1", ["step:a", "gate:df"])],
        "gate:df names a variable step 'a' never assigns",
        cli=True,
    ),
    nb(
        "model_never_assigned",
        [("code", "x = 1", ["step:a", "model:clf"])],
        "model:clf names a variable step 'a' never assigns",
    ),
    nb(
        "threshold_bad_operator",
        [("code", "x = 1", ["step:a", "require:accuracy>>0.9"])],
        "tag 'require:accuracy>>0.9': the threshold does not parse",
        cli=True,
    ),
    nb(
        "threshold_not_a_number",
        [("code", "x = 1", ["step:a", "require:accuracy>=high"])],
        "tag 'require:accuracy>=high': the threshold does not parse",
    ),
    nb(
        "threshold_unknown_metric",
        [("code", "x = 1", ["step:a", "require:accuracy>=0.9"])],
        "names metric 'accuracy', which no 'metrics' cell assigns",
    ),
    nb(
        "step_path_separator",
        [("code", "x = 1", ["step:../../etc"])],
        "step name '../../etc' contains a path separator",
        cli=True,
    ),
    nb("step_backslash", [("code", "x = 1", ["step:a\\b"])], "contains a path separator"),
    nb("step_dotdot", [("code", "x = 1", ["step:.."])], "step name '..' contains a path separator"),
    nb("step_single_quote", [("code", "x = 1", ["step:a'b"])], 'step name "a\'b" is not a Python identifier', cli=True),
    nb("step_double_quote", [("code", "x = 1", ['step:a"b'])], "step name 'a\"b' is not a Python identifier"),
    nb(
        "step_newline",
        [("code", "x = 1", ["step:a\nimport os"])],
        "step name 'a\\nimport os' is not a Python identifier",
        cli=True,
    ),
    nb(
        "step_semicolon",
        [("code", "x = 1", ["step:a;rm -rf ~"])],
        "step name 'a;rm -rf ~' is not a Python identifier",
        cli=True,
    ),
    nb("step_pipe", [("code", "x = 1", ["step:a|b"])], "step name 'a|b' is not a Python identifier"),
    nb("step_ampersand", [("code", "x = 1", ["step:a&b"])], "step name 'a&b' is not a Python identifier"),
    nb(
        "step_command_substitution",
        [("code", "x = 1", ["step:$(whoami)"])],
        "step name '$(whoami)' is not a Python identifier",
        cli=True,
    ),
    nb("step_backtick", [("code", "x = 1", ["step:`id`"])], "step name '`id`' is not a Python identifier"),
    nb("step_keyword", [("code", "x = 1", ["step:class"])], "step name 'class' is a Python keyword"),
    nb("step_non_ascii", [("code", "x = 1", ["step:st\u00e9p"])], "step name 'st\u00e9p' is not a Python identifier"),
    nb("gate_quote", [("code", "x = 1", ["step:a", "gate:x'"])], 'variable name "x\'" is not a Python identifier'),
    nb("model_path", [("code", "x = 1", ["step:a", "model:../m"])], "variable name '../m' contains a path separator"),
    nb("after_semicolon", [("code", "x = 1", ["step:a", "after:b;c"])], "step name 'b;c' is not a Python identifier"),
    nb(
        "comment_tag_metachar",
        [("code", "# nbprod: step:a;b\nx = 1", [])],
        "cell 0 ('# nbprod: step:a;b'): tag 'step:a;b': step name 'a;b' is not a Python identifier",
        cli=True,
    ),
    nb(
        "card_on_code_cell",
        [("code", "x = 1", ["step:a", "card:owners"])],
        "tag 'card:owners' belongs on a markdown cell",
    ),
    nb(
        "card_unknown_field",
        [("markdown", "me", ["card:ownres"]), ("code", "x = 1", ["step:a"])],
        "unknown model-card field 'ownres'",
        "did you mean 'card:owners'?",
    ),
    nb(
        "parameter_cell_runs_code",
        [("code", "n = 3\nprint(n)", ["parameters"]), ("code", "x = n", ["step:a"])],
        "the parameters cell may hold only assignments (and the imports they need)",
    ),
    # --- expectation suites ---------------------------------------------------------------------------------------
    suite("suite_invalid_json", '{"expectations": [', "the suite is not valid JSON"),
    suite(
        "suite_trailing_comma",
        '{"expectations": [{"type": "expect_table_row_count_to_be_between", "kwargs": {}},]}',
        "the suite is not valid JSON",
        "a trailing comma",
    ),
    suite("suite_not_utf8", b'{"name": "caf\xe9", "expectations": []}', "the suite is not UTF-8 text"),
    suite("suite_not_an_object", "[1, 2]", "must be a JSON object with an 'expectations' list"),
    suite(
        "suite_expectation_without_type",
        {"expectations": [{"kwargs": {"column": "a"}}]},
        "expectation 0 has no valid 'type'",
    ),
    suite(
        "suite_kwargs_not_object",
        {"expectations": [{"type": "expect_column_values_to_not_be_null", "kwargs": ["a"]}]},
        "expectation 0 (expect_column_values_to_not_be_null): 'kwargs' must be an object",
    ),
    suite(
        "suite_bad_severity",
        {"expectations": [dict(_exp("expect_column_values_to_not_be_null", column="a"), severity="fatal")]},
        "on column 'a'): severity 'fatal' is not one of critical, warning, info",
    ),
    suite(
        "suite_unknown_field",
        {"expectations": [dict(_exp("expect_column_values_to_not_be_null", column="a"), id="x")]},
        "unknown field(s) id",
    ),
    suite("suite_missing_file", None, "the expectation suite does not exist", "nbprod expect"),
    suite(
        "suite_unknown_expectation_type",
        {"expectations": [_exp("expect_column_values_to_be_purple", column="a")]},
        "expectation 0 (expect_column_values_to_be_purple) is not a known Great Expectations expectation type",
    ),
    suite(
        "suite_invalid_kwargs",
        {"expectations": [_exp("expect_column_values_to_be_between", column="a", min_value="low")]},
        "expectation 0 (expect_column_values_to_be_between) has invalid kwargs",
    ),
    suite(
        "suite_missing_column_fails_gate",
        {
            "expectations": [
                _exp("expect_column_values_to_not_be_null", column="a"),
                _exp("expect_column_values_to_not_be_null", column="zzz"),
            ]
        },
        "column 'zzz': expect_column_values_to_not_be_null",
        "column(s) zzz missing from the data",
        outcome="fail",
    ),
    # --- -p parameters --------------------------------------------------------------------------------------------
    param("param_int_gets_word", ["n=abc"], "parameter 'n' expects int (default 3), got 'abc'", "-p n=3", cli=True),
    param("param_int_gets_float", ["n=1.5"], "parameter 'n' expects int (default 3), got '1.5'"),
    param("param_float_gets_nan", ["rate=nan"], "parameter 'rate' expects float (default 0.5), got 'nan'", cli=True),
    param("param_bool_gets_maybe", ["flag=maybe"], "parameter 'flag' expects bool (default True), got 'maybe'"),
    param("param_list_truncated", ["items=[1,"], "parameter 'items' expects list (default [1, 2]), got '[1,'"),
    param("param_list_gets_dict", ["items={'a': 1}"], "parameter 'items' expects list"),
    param("param_list_gets_code", ["items=__import__('os').system('x')"], "parameter 'items' expects list", cli=True),
    param(
        "param_unknown_name",
        ["rat=0.1"],
        "nb.ipynb: unknown parameter 'rat'; did you mean 'rate'?",
        "parameters of this notebook: n, rate, label, flag, items",
        cli=True,
    ),
    param(
        "param_without_parameters_cell",
        ["n=1"],
        "unknown parameter 'n'",
        "the notebook has no cell tagged 'parameters'",
        cells=[("code", "x = 1", ["step:a"])],
    ),
    param("param_not_name_value", ["n"], "-p 'n' is not name=value", cli=True),
    param("param_empty_name", ["=5"], "-p '=5' is not name=value"),
    # --- approvals ------------------------------------------------------------------------------------------------
    approval("approval_missing_file", "none", "none", "no approval record (approvals/nb.json)"),
    approval("approval_edited_digest", "edit_digest", "tampered", "its digest does not match"),
    approval("approval_edited_decision", "edit_decision", "tampered", "edited after it was written"),
    approval("approval_rejected", "rejected", "rejected", "rejected by Ada: needs more data"),
    approval("approval_stale_notebook", "stale", "stale", "nb.ipynb (notebook content)"),
    pytest.param(
        "approval", "invalid_json", ("error", "the approval record is not valid JSON"), True, id="approval_invalid_json"
    ),
]

assert len(CASES) >= 40, len(CASES)
assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"


# --- helpers ------------------------------------------------------------------------------------------------------


def _write_good(project: Path) -> None:
    (project / NB).write_text(_good_json())


def _write_bad(project: Path, content) -> None:
    if isinstance(content, bytes):
        (project / NB).write_bytes(content)
    else:
        (project / NB).write_text(json.dumps(nb_json(content), indent=1))


def _frame():
    import pandas as pd

    return pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "z"]})


def _record_digest(record: dict) -> str:
    """The record digest as documented: sha256 over the canonical JSON of every field but 'digest'."""
    body = {k: v for k, v in record.items() if k != "digest"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _write_approval(project: Path, setup: str) -> None:
    if setup == "none":
        return
    path = project / "approvals" / "nb.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    if setup == "invalid_json":
        path.write_text('{"decision": "approved", ')
        return
    from nbprod.workflow.approval import current_digests
    from nbprod.workflow.workspace import Workspace

    ws = Workspace(project / NB, project=project)
    record = {
        "schema": 1,
        "pipeline": "nb",
        "decision": "approved",
        "by": "Ada",
        "at": "2024-01-01T00:00:00Z",
        "note": "ok",
        "kind": "pipeline",
        "digests": current_digests(ws),
    }
    if setup == "rejected":
        record.update(decision="rejected", note="needs more data")
    if setup == "stale":
        record["digests"]["notebook"]["fingerprint"] = "0" * 64
    record["digest"] = _record_digest(record)
    if setup == "edit_digest":
        record["digest"] = "f" * 64
    if setup == "edit_decision":
        record["decision"], record["by"] = "approved", "Mallory"
        record["note"] = "self-approved"
    path.write_text(json.dumps(record, sort_keys=True, indent=2) + "\n")


# --- the corpus, in-process ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind,payload,messages,cli", CASES)
def test_bad_input_is_rejected_with_what_and_where(kind, payload, messages, cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if kind in ("notebook", "big_output"):
        _write_good(tmp_path)
        convert(NB)
        before = tree_snapshot(tmp_path / "pipelines")
        assert before
        if kind == "big_output":
            # 50 MB of output in a valid notebook: outputs are ignored, the pipeline is the same as without them
            (tmp_path / NB).write_bytes(payload())
            result = convert(NB)
            assert not result.changed and tree_snapshot(tmp_path / "pipelines") == before
            assert all(len(text) < 10_000 for text in result.files.values())
            return
        if isinstance(payload, dict):
            import nbprod.notebook.reader

            monkeypatch.setattr(nbprod.notebook.reader, "MAX_NOTEBOOK_BYTES", payload["limit"])
            payload = payload["content"]
        _write_bad(tmp_path, payload)
        with pytest.raises(NbprodError) as info:
            convert(NB)
        text = str(info.value)
        assert NB in text, text
        for m in messages:
            assert m in text, text
        assert "fix:" in text
        assert tree_snapshot(tmp_path / "pipelines") == before
        assert sorted(p.name for p in tmp_path.iterdir()) == [NB, "pipelines"]
        # lint reports the same problem: as an error finding, or (unreadable file) as the same error
        from nbprod.lint import lint

        try:
            report = lint(NB)
        except NbprodError as exc:
            found = str(exc)
        else:
            assert report.errors
            found = "\n".join(f.render(NB) for f in report.errors)
        for m in messages:
            assert m in found, found
    elif kind == "suite":
        from nbprod.errors import SuiteError
        from nbprod.gates.suites import load_suite
        from nbprod.gates.validate import validate_frame

        content, outcome = payload
        path = tmp_path / "expectations" / "nb" / "df.json"
        path.parent.mkdir(parents=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(content)
        elif content is not None:
            path.write_text(json.dumps(dict(content, name="nb.df")))
        shown = "expectations/nb/df.json"
        if outcome == "fail":
            outcomes = validate_frame(_frame(), load_suite(path, shown=shown))
            failed = [o for o in outcomes if not o.success and o.severity == "critical"]
            assert [o.column for o in failed] == ["zzz"]
            for m in messages:
                assert m in failed[0].describe(), failed[0].describe()
            assert [o.success for o in outcomes] == [True, False]
            return
        with pytest.raises(SuiteError) as info:
            validate_frame(_frame(), load_suite(path, shown=shown))
        text = str(info.value)
        assert text.startswith(shown + ": "), text
        for m in messages:
            assert m in text, text
    elif kind == "param":
        from nbprod.notebook.reader import read_notebook
        from nbprod.plan.build import build_plan
        from nbprod.plan.params import apply_overrides, parse_assignments

        assignments, cells = payload
        if cells is None:
            _write_good(tmp_path)
        else:
            _write_bad(tmp_path, cells)
        plan = build_plan(read_notebook(NB, display_path=NB))
        with pytest.raises(NbprodError) as info:
            apply_overrides(plan, parse_assignments(assignments))
        text = str(info.value)
        for m in messages:
            assert m in text, text
        assert "fix:" in text
    elif kind == "approval":
        from nbprod.workflow.approval import check

        _write_good(tmp_path)
        convert(NB)
        _write_approval(tmp_path, payload)
        state, *texts = messages
        if state == "error":
            with pytest.raises(NbprodError) as info:
                check(NB)
            assert "approvals/nb.json" in str(info.value)
            for m in texts:
                assert m in str(info.value)
            return
        verdict = check(NB)
        assert verdict.state == state and not verdict.ok
        for m in texts:
            assert m in verdict.message, verdict.message
    else:  # pragma: no cover
        raise AssertionError(kind)


# --- a sample through the command line: exit code, stderr, no traceback, previous output untouched -----------------

CLI_CASES = [pytest.param(*c.values, id=c.id, marks=c.marks) for c in CASES if c.values[3]]
assert len(CLI_CASES) >= 20


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


@pytest.mark.parametrize("kind,payload,messages,cli", CLI_CASES)
def test_cli_rejects_bad_input_and_keeps_previous_output(kind, payload, messages, cli, tmp_path):
    _write_good(tmp_path)
    good = _nbprod(["convert", NB], tmp_path)
    assert good.returncode == 0, good.stderr
    before = tree_snapshot(tmp_path / "pipelines")
    assert "pipeline.yaml" in "".join(before)
    if kind == "notebook":
        _write_bad(tmp_path, payload)
        argv = ["convert", NB]
    elif kind == "param":
        assignments, _ = payload
        argv = ["run", NB] + [a for p in assignments for a in ("-p", p)]
        messages = messages
    elif kind == "approval":
        _write_approval(tmp_path, payload)
        argv, messages = ["approve", NB, "--check"], messages[1:]
    else:  # pragma: no cover
        raise AssertionError(kind)
    proc = _nbprod(argv, tmp_path)
    assert proc.returncode != 0
    assert proc.stderr.startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "\n  fix: " in proc.stderr
    for m in messages:
        assert m in proc.stderr, proc.stderr
    assert tree_snapshot(tmp_path / "pipelines") == before
    assert not (tmp_path / ".nbprod" / "products").exists()
