"""The supported API is ``nbprod.__all__``: this test is the list, so a change to it is a deliberate one."""

import subprocess
import sys

import nbprod

EXPECTED = [
    "CellRef",
    "EventKind",
    "GateFailedError",
    "NbprodError",
    "Pipeline",
    "PlanError",
    "RunError",
    "RunResult",
    "Step",
    "StepEvent",
    "StepFailedError",
    "UsageError",
    "Workspace",
    "__version__",
    "approve",
    "build_plan",
    "check",
    "expect",
    "panel",
    "read_notebook",
    "release",
    "review",
    "rollback",
    "run",
    "serve",
    "status",
    "verify",
]


def test_all_is_the_curated_sorted_list():
    assert nbprod.__all__ == EXPECTED
    assert dir(nbprod) == EXPECTED


def test_every_public_name_resolves_and_is_what_its_module_defines():
    for name in nbprod.__all__:
        value = getattr(nbprod, name)
        assert value is not None, name
        if name != "__version__":
            assert getattr(value, "__name__", name) == name, name


def test_unknown_names_raise_attribute_error():
    try:
        nbprod.definitely_not_here  # noqa: B018
    except AttributeError as exc:
        assert "definitely_not_here" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_importing_nbprod_imports_nothing_but_the_root():
    code = "import sys, nbprod; print(sorted(m for m in sys.modules if m.startswith('nbprod')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['nbprod']"


def test_commands_named_like_their_subpackage_are_reached_through_it():
    from nbprod.convert import convert
    from nbprod.lint import lint
    from nbprod.package import package

    assert callable(convert) and callable(lint) and callable(package)
