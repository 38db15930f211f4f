"""The deferred rfc3987_syntax: importing jsonschema (nbformat, Ploomber, Great Expectations) no longer builds its
lark parsers, and jsonschema's ``iri`` format checker still answers, with the real module imported on first use."""

from __future__ import annotations

import subprocess
import sys
import textwrap

_SCRIPT = textwrap.dedent(
    """
    import sys
    from nbprod._core.env import quiet_dependencies

    quiet_dependencies()
    import jsonschema
    import nbformat

    print("parsers built at import:", "rfc3987_syntax.syntax_helpers" in sys.modules)
    checker = jsonschema.FormatChecker()
    print("valid iri:", checker.conforms("http://example.com/caf\\u00e9", "iri"))
    print("invalid iri:", checker.conforms("no spaces in an iri", "iri"))
    print("real module now:", "rfc3987_syntax.syntax_helpers" in sys.modules)
    import rfc3987_syntax
    print("attribute:", callable(rfc3987_syntax.is_valid_syntax_iri))
    """
)


def test_rfc3987_syntax_is_imported_on_first_use_only():
    out = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == [
        "parsers built at import: False",
        "valid iri: True",
        "invalid iri: False",
        "real module now: True",
        "attribute: True",
    ]


def test_an_already_imported_module_is_left_alone():
    script = "import rfc3987_syntax as r\nfrom nbprod._core.lazy_imports import defer_rfc3987_syntax\n"
    script += "defer_rfc3987_syntax()\nimport sys\nprint(sys.modules['rfc3987_syntax'] is r)"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"


def test_a_package_without_its_init_imports_one_submodule_and_completes_on_first_use():
    script = textwrap.dedent(
        """
        import sys
        from nbprod._core.lazy_imports import package_without_init

        package_without_init("jupytext")
        from jupytext.jupytext import reads

        print("contents manager:", "jupytext.sync_contentsmanager" in sys.modules)
        print("cells:", len(reads("# %%\\nx = 1\\n# %%\\ny = 2\\n", fmt="py:percent").cells))
        import jupytext

        print("completed:", jupytext.reads is reads, "jupytext.sync_contentsmanager" in sys.modules)
        package_without_init("ploomber_engine")
        import ploomber_engine

        from importlib.metadata import version

        print("version:", ploomber_engine.__version__ == version("ploomber-engine"), callable(ploomber_engine.execute_notebook))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["contents manager: False", "cells: 2", "completed: True True", "version: True True"]
