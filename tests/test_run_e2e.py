"""End to end: real notebooks converted and built by Ploomber (in-process and through papermill)."""

import json
import shutil
import subprocess
import sys

import pytest

from nbprod.errors import StepFailedError
from nbprod.workflow.run import run
from tests.conftest import FIXTURES

pytestmark = pytest.mark.slow

CLASSIFIER = "example_notebooks/classifier.ipynb"
REGRESSION = "example_notebooks/regression.ipynb"


def edit_cell(nb_path, needle, replacement):
    text = nb_path.read_text()
    assert needle in text
    nb_path.write_text(text.replace(needle, replacement, 1))


def test_classifier_full_then_incremental(project):
    events = []
    first = run(CLASSIFIER, on_event=events.append)
    assert first.ran == ["load", "features", "train", "evaluate"] and first.skipped == []
    assert [e.kind for e in events if e.step == "train"] == ["start", "done"]
    assert first.metrics["accuracy"] >= 0.8 and set(first.metrics) == {"accuracy", "roc_auc", "f1"}
    products = project / ".nbprod" / "products" / "classifier"
    for step in first.ran:  # each step keeps its executed notebook
        executed = json.loads((products / f"{step}.ipynb").read_text())
        assert any(c.get("outputs") for c in executed["cells"] if c["cell_type"] == "code") or step == "load"
    assert (products / "train" / "model" / "value.joblib").exists()
    assert (products / "features" / "df" / "value.parquet").exists()
    assert not (project / "pipelines" / "classifier" / ".nbprod").exists()

    # nothing changed: no step runs (answered from the build record)
    noop = run(CLASSIFIER)
    assert noop.ran == [] and noop.fast_path and noop.metrics == first.metrics

    # without the build record, Ploomber itself finds everything up to date
    shutil.rmtree(project / ".nbprod" / "state")
    again = run(CLASSIFIER)
    assert again.ran == [] and not again.fast_path and again.skipped == ["load", "features", "train", "evaluate"]

    # editing the last step re-runs only that step
    nb = project / CLASSIFIER
    edit_cell(nb, 'print(f\\"accuracy={accuracy:.3f}', 'print(f\\"ACC={accuracy:.3f}')
    edited = run(CLASSIFIER)
    assert edited.ran == ["evaluate"]

    # editing a middle step re-runs it and its downstream only
    edit_cell(nb, "    n_jobs=1,\\n", "    n_jobs=1 + 0,\\n")  # a code change (Ploomber ignores comment-only edits)
    assert run(CLASSIFIER).ran == ["train", "evaluate"]

    # a changed parameter re-runs what depends on it
    assert run(CLASSIFIER, params={"n_estimators": "50"}).ran == ["train", "evaluate"]
    assert run(CLASSIFIER, params={"n_estimators": "50"}).ran == []
    assert run(CLASSIFIER, params={"test_size": "0.3"}).ran == ["features", "train", "evaluate"]


def test_changed_input_data_file_reruns_dependents(project):
    assert run(REGRESSION).ran == ["load", "clean", "train", "evaluate"]
    assert run(REGRESSION).ran == []
    csv = project / "example_notebooks" / "data" / "houses.csv"
    lines = csv.read_text().splitlines(keepends=True)
    csv.write_text("".join(lines[:-50]))  # fewer rows
    assert run(REGRESSION).ran == ["load", "clean", "train", "evaluate"]


def test_failing_step_names_cell_line_and_resume_command(project):
    nb = project / CLASSIFIER
    edit_cell(
        nb,
        '"model.fit(X_train, y_train)\\n",',
        '"model.fit(X_train, y_train)\\n",\n    "raise ValueError(\\"bad fit\\")\\n",',
    )
    events = []
    with pytest.raises(StepFailedError) as info:
        run(CLASSIFIER, on_event=events.append)
    text = str(info.value)
    assert "step 'train' failed in cell" in text and "'model = RandomForestClassifier('" in text
    assert "ValueError: bad fit" in text and ", line 9" in text
    assert f"nbprod run {CLASSIFIER}" in info.value.fix
    assert ("aborted", "evaluate") in [(e.kind, e.step) for e in events]
    # fix the cell: finished upstream steps are not re-run
    edit_cell(nb, '    "raise ValueError(\\"bad fit\\")\\n",\n', "")
    assert run(CLASSIFIER).ran == ["train", "evaluate"]


@pytest.mark.parametrize("fixture", ["kale_dialect.ipynb", "headings.ipynb", "percent_format.py"])
def test_fixture_dialects_run(project, fixture):
    shutil.copy(FIXTURES / fixture, project / fixture)
    result = run(fixture)
    assert result.ran == [s.name for s in result.plan.steps] and len(result.ran) >= 2


def test_isolated_mode_runs_each_step_in_its_own_kernel(project):
    shutil.copy(FIXTURES / "percent_format.py", project / "percent_format.py")
    result = run("percent_format.py", isolated=True)
    assert len(result.ran) == len(result.plan.steps)
    executed = json.loads((project / ".nbprod/products/percent_format" / f"{result.ran[-1]}.ipynb").read_text())
    assert "papermill" in executed["metadata"]
    # a second isolated run finds every step up to date
    assert run("percent_format.py", isolated=True).ran == []


def test_what_an_isolated_kernel_writes_to_its_own_stderr_goes_to_a_log_not_the_terminal(project, write_nb):
    """ipykernel's warnings and shutdown races are written by the kernel process, not the notebook: nbprod's report
    stays clean (they once put a zmq traceback in the middle of it) and the log keeps them."""
    cells = [
        ("code", "import os\nos.write(2, b'kernel-level noise\\n')\nx = 1\nprint('step output')", ["step:a"]),
        ("code", "print(x + 1)", ["step:b"]),
    ]
    write_nb(cells, "noisy.ipynb", folder=project)
    cmd = [sys.executable, "-m", "nbprod", "run", "noisy.ipynb", "--isolated", "--no-track", "--no-package"]
    out = subprocess.run(cmd, cwd=project, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "kernel-level noise" not in out.stderr + out.stdout and "TCP without encryption" not in out.stderr
    assert "kernel-level noise" in (project / ".nbprod" / "logs" / "noisy.kernels.log").read_text()
    executed = json.loads((project / ".nbprod/products/noisy/a.ipynb").read_text())
    assert "step output" in json.dumps(executed["cells"])  # the notebook's own output is still the notebook's


def test_two_runs_of_one_pipeline_at_once_do_not_race(project, write_nb):
    """The second run stops at once with a clear message; the first completes."""
    import subprocess
    import sys
    import time

    from nbprod.errors import RunError

    write_nb(
        [
            ("code", "import time", ["imports"]),
            ("code", "time.sleep(6)\nx = 1", ["step:slow"]),
            ("code", "y = x + 1", ["step:after_it"]),
        ],
        "slowpoke.ipynb",
        folder=project,
    )
    first = subprocess.Popen(
        [sys.executable, "-m", "nbprod", "run", "slowpoke.ipynb"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lock = project / ".nbprod/locks/slowpoke.lock"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (lock.exists() and lock.read_text().strip()):
        time.sleep(0.1)
    time.sleep(0.5)
    with pytest.raises(RunError, match=r"another `nbprod run` of pipeline 'slowpoke' is running \(pid \d+\)"):
        run("slowpoke.ipynb")
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert "2 ran" in out
    assert run("slowpoke.ipynb").ran == []  # the lock is released


def test_a_run_killed_mid_step_resumes_correctly(project, write_nb):
    """SIGKILL in the middle of a step: the re-run re-runs that step and its downstream only, and the result is right."""
    import os
    import signal
    import subprocess
    import sys
    import time

    write_nb(
        [
            ("code", "import time\nfrom pathlib import Path", ["imports"]),
            ("code", "x = 20", ["step:first"]),
            (
                "code",
                "Path('b_started').write_text('1')\ntime.sleep(0 if Path('fast').exists() else 60)\ny = x + 1",
                ["step:second"],
            ),
            ("code", "z = y * 2", ["step:third", "metrics"]),
        ],
        "killme.ipynb",
        folder=project,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "nbprod", "run", "killme.ipynb"],
        cwd=project,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    marker = project / "b_started"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not marker.exists():
        time.sleep(0.1)
    assert marker.exists()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert not (project / ".nbprod/products/killme/second/y").exists()  # nothing half-written is a product
    marker.unlink()
    (project / "fast").write_text("the re-run does not sleep; the step's code is unchanged")
    result = run("killme.ipynb")
    assert result.ran == ["second", "third"] and result.skipped == ["first"]
    assert result.metrics == {"z": 42.0}


def test_full_disk_during_a_step_is_a_clear_error_and_keeps_the_previous_products(project, monkeypatch):
    import errno

    import nbprod.io as nio

    assert run(CLASSIFIER).ran == ["load", "features", "train", "evaluate"]
    model = project / ".nbprod/products/classifier/train/model/value.joblib"
    before = model.read_bytes()
    real_rename = nio.os.rename

    def full_disk(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(nio.os, "rename", full_disk)
    with pytest.raises(StepFailedError) as info:
        run(CLASSIFIER, params={"n_estimators": "40"})
    assert "step 'train' failed" in str(info.value) and "No space left on device" in str(info.value)
    assert model.read_bytes() == before  # the product of the last good run is intact
    assert not list(model.parent.parent.glob(".model.tmp-*"))  # no half-written product left behind
    monkeypatch.setattr(nio.os, "rename", real_rename)
    assert run(CLASSIFIER, params={"n_estimators": "40"}).ran == ["train", "evaluate"]


def test_an_in_process_run_leaves_no_ipython_shell_behind(project, write_nb):
    """Each in-process step's IPython shell is closed when the build ends: no history thread left running and no
    exit handler left to reset it (each ran gc.collect() at exit: 1.2 s for the classifier's four steps)."""
    write_nb([("code", "x = 1", ["step:a"]), ("code", "y = x + 1", ["step:b"])], "shells.ipynb", folder=project)
    code = (
        "import atexit, threading, time\n"
        "from nbprod.workflow.run import run\n"
        "run('shells.ipynb', track=False, package=False)\n"
        "alive = [t.name for t in threading.enumerate() if t.name == 'IPythonHistorySavingThread']\n"
        "t0 = time.perf_counter(); atexit._run_exitfuncs()\n"
        "print(alive, round(time.perf_counter() - t0, 1))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[] 0.0"


def test_an_in_process_step_prints_a_wide_frame_as_a_kernel_does(project, write_nb):
    """pandas fits frames to the terminal outside a kernel ("..." for the middle columns); Jupyter wraps them."""
    import pandas as pd

    make = "df = pd.DataFrame([list(range(30)), list(range(30, 60))], columns=[f'column_{i}' for i in range(30)])"
    cells = [("code", "import pandas as pd", ["imports"]), ("code", make + "\nprint(df)", ["step:a"])]
    before = pd.get_option("display.max_columns")
    run(write_nb(cells, "wide.ipynb", folder=project), track=False, package=False)
    executed = json.loads((project / ".nbprod/products/wide/a.ipynb").read_text())
    printed = "".join("".join(o.get("text", "")) for c in executed["cells"] for o in c.get("outputs", []))
    namespace: dict = {"pd": pd}
    exec(make, namespace)
    with pd.option_context("display.max_columns", 20):  # what a Jupyter kernel uses
        assert printed == repr(namespace["df"]) + "\n"
    assert "column_3 " in printed and pd.get_option("display.max_columns") == before  # the caller's value is back


@pytest.mark.parametrize("isolated", [False, True])
def test_shell_lines_run_in_the_pipeline_as_in_the_notebook(project, write_nb, isolated):
    cells = [
        ("code", "!echo preparing\nfiles = !echo one two\nwords = files[0].split()", ["step:a"]),
        ("code", "print(len(words), words[-1])", ["step:b"]),
    ]
    run(write_nb(cells, "shell.ipynb", folder=project), track=False, package=False, isolated=isolated)
    printed = {}
    for step in ("a", "b"):
        executed = json.loads((project / f".nbprod/products/shell/{step}.ipynb").read_text())
        printed[step] = "".join("".join(o.get("text", "")) for c in executed["cells"] for o in c.get("outputs", []))
    assert "preparing" in printed["a"] and printed["b"] == "2 two\n"


def test_a_generator_handed_to_a_later_step_is_refused_before_any_step_runs(project, write_nb):
    from nbprod.errors import PlanError

    cells = [
        ("code", "def batches(n):\n    for i in range(n):\n        yield i\nstream = batches(3)", ["step:a"]),
        ("code", "print(next(stream))", ["step:b"]),
    ]
    with pytest.raises(PlanError) as info:
        run(write_nb(cells, "gen.ipynb", folder=project), track=False, package=False)
    assert "'stream' is a generator" in str(info.value) and "list(stream)" in str(info.value)
    assert not (project / ".nbprod/products/gen/a.ipynb").exists()  # nothing ran
