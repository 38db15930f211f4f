"""Binder: the files in binder/ give a working environment, and the tour and both examples run in it headless.

The slow test installs a fresh virtual environment the way repo2docker does (binder/requirements.txt, then
binder/postBuild run as a script from the repository root), installs that environment's kernel, and executes
binder/start_here.ipynb and the example notebooks with that environment's papermill. It works on a copy of the
repository under tmp_path, so nothing is ever written into the repository, and it checks that the tour left the copy
as it was (the tour works in a scratch project of its own).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import pytest

from nbprod._core.env import TELEMETRY_OPT_OUT
from tests.conftest import ROOT, tree_snapshot

BINDER = ROOT / "binder"
TOUR = BINDER / "start_here.ipynb"
KERNEL = "nbprod-binder"
EXAMPLES = ("classifier.ipynb", "regression.ipynb")
# what repo2docker would not copy either, or what only a local checkout has
_TOP_LEVEL_IGNORED = {".git", ".venv", ".nbprod", ".pytest_cache", "build", "approvals"}
_IGNORED_ANYWHERE = shutil.ignore_patterns("__pycache__", "*.egg-info", ".ipynb_checkpoints")


# ---- the files themselves (fast) ----


def test_runtime_and_requirements():
    assert (BINDER / "runtime.txt").read_text().strip() == "python-3.11"
    reqs = [line.split("#")[0].strip() for line in (BINDER / "requirements.txt").read_text().splitlines()]
    names = {re.split(r"[<>=!~\[ ;]", r, maxsplit=1)[0].lower() for r in reqs if r}
    assert {"jupyterlab", "ipywidgets", "papermill", "ipykernel"} <= names
    assert "nbprod" not in names and "-e" not in " ".join(reqs), "nbprod is installed by postBuild, from pyproject.toml"


def test_post_build_and_start_are_executable_scripts():
    post = BINDER / "postBuild"
    assert os.access(post, os.X_OK) and post.read_text().startswith("#!/usr/bin/env bash\n")
    assert re.search(r"^pip install .*-e \.$", post.read_text(), re.M)
    start = BINDER / "start"
    assert os.access(start, os.X_OK)
    assert start.read_text().rstrip().endswith('exec "$@"')
    env = {k: v for k, v in os.environ.items() if k not in TELEMETRY_OPT_OUT}
    out = subprocess.run([str(start), "env"], env=env, capture_output=True, text=True, check=True).stdout
    exported = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    assert {k: exported.get(k) for k in TELEMETRY_OPT_OUT} == TELEMETRY_OPT_OUT


def test_tour_is_committed_without_outputs():
    nb = json.loads(TOUR.read_text(encoding="utf-8"))
    assert nb["nbformat"] == 4 and nb["nbformat_minor"] >= 5
    ids = [c["id"] for c in nb["cells"]]
    assert ids == [f"tour-{i:02d}" for i in range(len(ids))], "cell ids are deterministic: tour-00, tour-01, ..."
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, f"clear the outputs of {cell['id']}"
    sources = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    for call in (
        "lint(",
        "convert(",
        "run(",
        "expect(",
        "review(",
        "approve(",
        "check(",
        "release(",
        "status(",
        "panel",
    ):
        assert call in sources, f"the tour does not call {call}"
    assert not re.search(r"/(work|root)/", sources), "no paths of this machine in the tour"


# ---- the environment Binder builds (slow) ----


def _uv() -> Optional[list[str]]:
    for cmd in ([sys.executable, "-m", "uv"], [shutil.which("uv")], [shutil.which("python3"), "-m", "uv"]):
        if cmd[0] and subprocess.run([*cmd, "--version"], capture_output=True).returncode == 0:
            return cmd
    return None


def _python_for_runtime() -> str:
    """An interpreter of the version binder/runtime.txt names, else the one running the tests."""
    wanted = (BINDER / "runtime.txt").read_text().strip().removeprefix("python-")
    if f"{sys.version_info.major}.{sys.version_info.minor}" == wanted:
        return sys.executable
    return shutil.which(f"python{wanted}") or sys.executable


def _copy_repository(dest: Path) -> Path:
    def ignore(folder: str, names: list[str]) -> set[str]:
        skip = set(_IGNORED_ANYWHERE(folder, names))
        if Path(folder).resolve() == ROOT:
            skip |= _TOP_LEVEL_IGNORED & set(names)
        return skip

    shutil.copytree(ROOT, dest, ignore=ignore, symlinks=True)
    return dest


def _clean_env(tmp: Path, venv: Path) -> dict[str, str]:
    """The environment of a Binder session: the venv first on PATH, a fresh home, nothing of the test run's settings."""
    drop = (
        "NBPROD_",
        "VIRTUAL_ENV",
        "PYTHONPATH",
        "PYTHONHOME",
        "JUPYTER_",
        "IPYTHONDIR",
        "MLFLOW_",
        "BENTOML_",
        "CONDA_",
        "PIP_",
        "UV_",
        "PYTEST_",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    home, tmpdir = tmp / "home", tmp / "tmpdir"
    home.mkdir(exist_ok=True)
    tmpdir.mkdir(exist_ok=True)
    env.update(
        {
            "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
            "VIRTUAL_ENV": str(venv),
            "HOME": str(home),
            "TMPDIR": str(tmpdir),  # the tour's scratch project lands here
            "JUPYTER_PATH": str(venv / "share" / "jupyter"),
            "JUPYTER_DATA_DIR": str(tmp / "jupyter-data"),
            "JUPYTER_CONFIG_DIR": str(tmp / "jupyter-config"),
            "JUPYTER_RUNTIME_DIR": str(tmp / "jupyter-runtime"),
            "IPYTHONDIR": str(tmp / "ipython"),
            "MPLCONFIGDIR": str(tmp / "mpl"),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    return env


def _sh(cmd: list[str], *, what: str, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-40:])
        pytest.fail(f"{what} failed (exit {proc.returncode}): {' '.join(map(str, cmd))}\n{tail}")
    return proc


def _outputs(nb_path: Path) -> tuple[str, list[dict]]:
    """All the text a notebook printed, and its error outputs."""
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    text, errors = [], []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                errors.append(out)
            elif out.get("output_type") == "stream":
                text.append("".join(out["text"]))
            elif "text/plain" in out.get("data", {}):
                text.append("".join(out["data"]["text/plain"]))
    return "\n".join(text), errors


@pytest.mark.slow
def test_binder_environment_runs_the_tour_and_the_examples(tmp_path):
    t0 = time.monotonic()
    timings: dict[str, float] = {}

    def lap(name: str) -> None:
        timings[name] = round(time.monotonic() - t0 - sum(timings.values()), 1)

    repo = _copy_repository(tmp_path / "repo")
    venv, out = tmp_path / "venv", tmp_path / "out"
    out.mkdir()
    env = _clean_env(tmp_path, venv)
    python = venv / "bin" / "python"
    lap("copy")

    # 1. repo2docker: a Python of runtime.txt, `pip install -r binder/requirements.txt`, then binder/postBuild
    uv = _uv()
    reqs = repo / "binder" / "requirements.txt"
    if uv:
        # uv (warm cache) lays down the requirements and nbprod's own dependencies, with pip seeded into the venv, so
        # that postBuild's `pip install -e .` below only builds nbprod itself: the same result as repo2docker, faster
        uv_env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_PYTHON"))}
        _sh([*uv, "venv", "-q", "--seed", "-p", _python_for_runtime(), str(venv)], what="uv venv", env=uv_env)
        _sh(
            [*uv, "pip", "install", "-q", "--python", str(python), "-r", str(reqs), "-r", str(repo / "pyproject.toml")],
            what="installing binder/requirements.txt and nbprod's dependencies",
            env=uv_env,
        )
    else:
        _sh([_python_for_runtime(), "-m", "venv", str(venv)], what="python -m venv")
        _sh(
            [str(python), "-m", "pip", "install", "-q", "-r", str(reqs)],
            what="pip install -r binder/requirements.txt",
            env=env,
        )
    lap("install requirements")
    _sh([str(repo / "binder" / "postBuild")], what="binder/postBuild", env=env, cwd=str(repo))
    lap("postBuild")
    where = _sh(
        [str(python), "-c", "import nbprod, sys; print(nbprod.__file__); print(sys.prefix)"],
        what="importing nbprod",
        env=env,
        cwd=str(tmp_path),
    ).stdout.split()
    assert Path(where[0]).resolve().is_relative_to(repo.resolve()), f"nbprod is not the editable checkout: {where[0]}"
    assert Path(where[1]).resolve() == venv.resolve()

    # 2. that environment's kernel, found by that environment's papermill
    _sh(
        [
            str(python),
            "-m",
            "ipykernel",
            "install",
            "--prefix",
            str(venv),
            "--name",
            KERNEL,
            "--display-name",
            "Python 3 (nbprod Binder)",
        ],
        what="installing the kernel",
        env=env,
    )
    spec = json.loads((venv / "share" / "jupyter" / "kernels" / KERNEL / "kernel.json").read_text())
    assert Path(spec["argv"][0]).resolve() == python.resolve()
    lap("kernel")

    papermill = str(venv / "bin" / "papermill")
    before = tree_snapshot(repo)

    # 3. the tour, from the repository root; then each example from its own folder
    tour_out = out / "start_here.ipynb"
    _sh(
        [
            papermill,
            "binder/start_here.ipynb",
            str(tour_out),
            "-k",
            KERNEL,
            "--cwd",
            str(repo),
            "-p",
            "REVIEWER",
            "Binder Test",
        ],
        what="the tour (binder/start_here.ipynb)",
        env=env,
        cwd=str(repo),
    )
    lap("tour")
    for name in EXAMPLES:
        _sh(
            [
                papermill,
                f"example_notebooks/{name}",
                str(out / name),
                "-k",
                KERNEL,
                "--cwd",
                str(repo / "example_notebooks"),
            ],
            what=f"example_notebooks/{name}",
            env=env,
            cwd=str(repo),
        )
        lap(name)

    for nb in [tour_out, *(out / n for n in EXAMPLES)]:
        text, errors = _outputs(nb)
        assert not errors, f"{nb.name}: {errors[0].get('ename')}: {errors[0].get('evalue')}"
    text, _ = _outputs(tour_out)
    assert f"kernel python:   {python}" in text or f"kernel python:   {python.resolve()}" in text, text[:2000]
    for expected in (
        "example_notebooks/classifier.ipynb: clean",
        "gate df after step features: passed",
        "require accuracy>=0.8: passed",
        "approved by Binder Test",
        "approval: approved",
        "released model version",
        "champion:  model version",
    ):
        assert expected in text, f"the tour did not print {expected!r}"
    # the tour worked in a scratch project: the repository copy is exactly as it was
    assert tree_snapshot(repo) == before
    assert list((tmp_path / "tmpdir").glob("nbprod-tour-*/approvals/classifier.json"))
    print(f"binder test timings (s): {timings}, total {round(time.monotonic() - t0, 1)}")
