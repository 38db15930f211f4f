"""Shared fixtures: real notebook files written into tmp_path, the examples copied into a temporary project."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Optional

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "example_notebooks"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
GOLDEN = Path(__file__).resolve().parent / "golden"


def nb_json(cells: list, nbformat: int = 4) -> dict:
    """A notebook as JSON. ``cells``: (type, source, tags) or (type, source, tags, execution_count)."""
    out = []
    for i, c in enumerate(cells):
        ctype, source, tags = c[0], c[1], c[2]
        cell = {"cell_type": ctype, "id": f"c{i}", "metadata": {"tags": list(tags)} if tags else {}, "source": source}
        if ctype == "code":
            cell["execution_count"] = c[3] if len(c) > 3 else None
            cell["outputs"] = []
        out.append(cell)
    return {
        "cells": out,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": nbformat,
        "nbformat_minor": 5,
    }


@pytest.fixture(autouse=True)
def _gates_in_process(monkeypatch):
    """Validate gates in-process in tests (GX is imported once per test session instead of once per run);
    tests of the side-process worker switch it back on."""
    monkeypatch.setenv("NBPROD_GATE_WORKER", "0")
    # the pipeline tests do not need MLflow and BentoML; the packaging tests pass track=True, package=True
    monkeypatch.setenv("NBPROD_TRACK", "0")
    monkeypatch.setenv("NBPROD_PACKAGE", "0")


@pytest.fixture
def write_nb(tmp_path):
    def _write(cells: list, name: str = "nb.ipynb", folder: Optional[Path] = None) -> Path:
        path = (folder or tmp_path) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(nb_json(cells), indent=1))
        return path

    return _write


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A temporary project holding a copy of example_notebooks/, as the working directory."""
    shutil.copytree(EXAMPLES, tmp_path / "example_notebooks", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "expectations", tmp_path / "expectations")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def tree_snapshot(folder: Path) -> dict[str, bytes]:
    if not folder.exists():
        return {}
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def uv_command() -> list[str]:
    """How to call uv here (the venv's module, or the one on PATH): the slow orchestrator tests build environments."""
    import subprocess
    import sys

    for cmd in ([sys.executable, "-m", "uv"], [shutil.which("uv")], [shutil.which("python3"), "-m", "uv"]):
        if cmd[0] and subprocess.run([*cmd, "--version"], capture_output=True).returncode == 0:
            return [c for c in cmd if c]
    raise AssertionError("uv is needed to build the orchestrator environments (make venv installs it)")


#: test files whose slow tests install and run a real orchestrator (Airflow, Kubeflow Pipelines) in its own
#: environment: ``make test-engines`` runs them, ``make test`` leaves them out (CI runs both)
ENGINE_TEST_FILES = ("test_export_airflow.py", "test_export_kfp.py", "test_export_kubernetes.py")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in ENGINE_TEST_FILES and item.get_closest_marker("slow") is not None:
            item.add_marker(pytest.mark.engines)
