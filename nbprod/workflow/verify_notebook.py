"""The notebook side of ``nbprod verify``: the notebook to run top to bottom, and the stdout read back per cell.

The notebook holds the code cells the plan puts in the pipeline, in notebook order (parameters, shared cells, the
steps' code cells), and around each step a generated cell that saves its inputs (before its first cell) and its
outputs and metrics (after its last cell) with :func:`nbprod.io.save_value`. It runs in a child process
(``python -m papermill``): Ploomber and papermill enter nbprod only through ``engine.ploomber``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

from nbprod._core.env import step_kernel_env
from nbprod.analysis.rng import is_rng_state
from nbprod.convert.markers import cell_index
from nbprod.notebook.reader import Cell
from nbprod.plan.model import Pipeline, Step

__all__ = ["notebook_json", "start_notebook", "outputs_by_cell"]

log = logging.getLogger(__name__)

_DUMP = """# nbprod verify: save {what} of step {step!r}
def __nbprod_verify_dump(names, folder):
    import json, os
    from nbprod.io import save_value
    problems = {{}}
    for n in names:
        if n not in globals():
            problems[n] = "not defined"
            continue
        try:
            save_value(globals()[n], os.path.join(folder, n))
        except Exception as exc:
            problems[n] = f"{{type(exc).__name__}}: {{exc}}"
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "_problems.json"), "w") as fh:
        json.dump(problems, fh)
__nbprod_verify_dump({names!r}, {folder!r})
del __nbprod_verify_dump
"""


def notebook_json(plan: Pipeline, dumps: Path) -> dict[str, Any]:
    """The cells the pipeline runs, in notebook order, with the dump cells around each step."""
    keep: dict[int, Cell] = {c.index: c for c in plan.parameter_cells}
    for cells in plan.shared.values():
        keep.update((c.index, c) for c in cells)
    first: dict[int, list[Step]] = {}
    last: dict[int, list[Step]] = {}
    for step in plan.steps:
        code = step.code_cells
        if not code:
            continue
        keep.update((c.index, c) for c in code)
        first.setdefault(code[0].index, []).append(step)
        last.setdefault(code[-1].index, []).append(step)

    def cell(source: str, meta: dict[str, Any]) -> dict[str, Any]:
        return {
            "cell_type": "code",
            "metadata": {"nbprod_verify": meta},
            "source": source,
            "outputs": [],
            "execution_count": None,
        }

    out: list[dict[str, Any]] = []
    for index in sorted(keep):
        for step in first.get(index, []):
            if step.inputs:
                folder = str(dumps / "in" / step.name)
                names = sorted(n for n in step.inputs if not is_rng_state(n))  # values, not generator states
                src = _DUMP.format(what="the inputs", step=step.name, names=names, folder=folder)
                out.append(cell(src, {"dump": "in", "step": step.name}))
        out.append(cell(keep[index].source, {"cell": index}))
        for step in last.get(index, []):
            names = [n for n in dict.fromkeys(step.outputs + step.metrics) if not is_rng_state(n)]
            src = _DUMP.format(what="the outputs", step=step.name, names=names, folder=str(dumps / "out" / step.name))
            out.append(cell(src, {"dump": "out", "step": step.name}))
    return {
        "cells": out,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 4,
    }


def _child_env() -> dict[str, str]:
    """The environment of the kernels: this nbprod first on the path, so ``nbprod.io`` is the one comparing."""
    env = step_kernel_env()  # the steps' hash seed: a set of strings iterates as in the pipeline's steps
    here = str(Path(__file__).resolve().parent.parent.parent)
    env["PYTHONPATH"] = here + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def start_notebook(notebook: Path, plan: Pipeline, tmp: Path) -> subprocess.Popen:
    src, out = tmp / "notebook.ipynb", tmp / "notebook.out.ipynb"
    src.write_text(json.dumps(notebook_json(plan, tmp / "values")))
    cwd = notebook.resolve().parent
    cmd = [sys.executable, "-m", "papermill", str(src), str(out), "-k", "python3", "--cwd", str(cwd)]
    cmd += ["--no-progress-bar", "--log-level", "ERROR"]
    log.debug("running the notebook top to bottom: %s", " ".join(cmd))
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=_child_env())


def outputs_by_cell(nb_file: Path, marker: bool) -> tuple[dict[Any, str], Optional[tuple[Any, str]]]:
    """stdout per cell (by notebook cell index, or by the dump cell's meta) and the first error, if any."""
    try:
        data = json.loads(nb_file.read_text())
    except (OSError, ValueError):
        return {}, None
    texts: dict[Any, str] = {}
    error = None
    for c in data.get("cells", []):
        if c.get("cell_type") != "code":
            continue
        key: Any = cell_index(c) if marker else c.get("metadata", {}).get("nbprod_verify", {}).get("cell")
        if marker and not str(c.get("metadata", {}).get("title", "")).startswith("nbprod: step "):
            key = None
        for o in c.get("outputs", []) or []:
            if o.get("output_type") == "stream" and o.get("name") == "stdout" and key is not None:
                texts[key] = texts.get(key, "") + "".join(o.get("text", ""))
            if o.get("output_type") == "error" and error is None:
                error = (c.get("metadata", {}).get("nbprod_verify", {}), f"{o.get('ename')}: {o.get('evalue')}")
    return texts, error
