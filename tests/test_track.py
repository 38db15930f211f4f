"""Tracking keeps MLflow quiet without touching the process's output, and the registry lookups of `nbprod status`.

The fast tests use MLflow's own exception and logging objects with a stand-in client; the slow test logs a real run
(a tiny sklearn model) into a SQLite store.
"""

from __future__ import annotations

import logging
import os
import sys

import pytest

from nbprod.errors import NbprodError
from nbprod.track import QUIET_LOGGERS, _quiet_mlflow, alias_version


class _Model:
    def __init__(self, aliases):
        self.aliases = aliases


class _Client:
    """Stands in for MlflowClient: ``get_registered_model`` returns aliases or raises ``error``."""

    tracking_uri = "http://registry.invalid"

    def __init__(self, aliases=None, error=None):
        self._aliases, self._error = aliases or {}, error

    def get_registered_model(self, name):
        if self._error is not None:
            raise self._error
        return _Model(self._aliases)


def test_alias_version_reads_the_alias():
    client = _Client({"champion": "3", "candidate": 4})
    assert alias_version(client, "m", "champion") == "3"
    assert alias_version(client, "m", "candidate") == "4"
    assert alias_version(client, "m", "other") is None


def test_a_model_not_registered_yet_has_no_alias():
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST

    error = MlflowException("Registered Model with name=m not found", RESOURCE_DOES_NOT_EXIST)
    assert alias_version(_Client(error=error), "m", "champion") is None


@pytest.mark.parametrize("kind", ["mlflow", "connection", "sqlite"])
def test_an_unreachable_or_broken_registry_is_an_error_not_no_champion(kind):
    import sqlite3

    from mlflow.exceptions import MlflowException

    error = {
        "mlflow": MlflowException("API request to http://registry.invalid failed with exception Max retries"),
        "connection": ConnectionError("connection refused"),
        "sqlite": sqlite3.OperationalError("database is locked"),
    }[kind]
    with pytest.raises(NbprodError) as info:
        alias_version(_Client(error=error), "m", "champion")
    assert "reading model 'm' from the MLflow registry failed" in str(info.value)
    assert info.value.path == "http://registry.invalid" and "tracking URI" in info.value.fix


def test_quiet_mlflow_restores_levels_environment_and_stream(monkeypatch):
    from mlflow.utils import logging_utils
    from mlflow.utils.logging_utils import eprint

    monkeypatch.delenv("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", raising=False)
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "true")  # the user's own choice wins
    logging.getLogger("alembic").setLevel(logging.INFO)
    before = {n: logging.getLogger(n).level for n in QUIET_LOGGERS}
    stdout, stderr = sys.stdout, sys.stderr
    try:
        with _quiet_mlflow():
            assert sys.stdout is stdout and sys.stderr is stderr  # nothing is redirected
            assert logging.getLogger("mlflow").getEffectiveLevel() >= logging.ERROR
            assert logging.getLogger("alembic").getEffectiveLevel() >= logging.ERROR
            assert os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] == "true"
            assert os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] == "true"
            assert not logging_utils.MLFLOW_LOGGING_STREAM.enabled
            eprint("an MLflow event")  # silenced
        assert {n: logging.getLogger(n).level for n in QUIET_LOGGERS} == before
        assert "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT" not in os.environ
        assert logging_utils.MLFLOW_LOGGING_STREAM.enabled
    finally:
        logging.getLogger("alembic").setLevel(logging.NOTSET)


def test_quiet_mlflow_keeps_a_disabled_event_stream_disabled():
    from mlflow.utils import logging_utils

    logging_utils.disable_logging()
    try:
        with _quiet_mlflow():
            pass
        assert not logging_utils.MLFLOW_LOGGING_STREAM.enabled
    finally:
        logging_utils.enable_logging()


def test_quiet_mlflow_does_not_swallow_other_output(capfd):
    import threading

    from mlflow.utils.logging_utils import eprint

    def other():
        print("printed by another thread")
        print("written to stderr by another thread", file=sys.stderr)

    with _quiet_mlflow():
        print("printed by the caller during the call")
        eprint("an MLflow event")
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    out, err = capfd.readouterr()
    assert "printed by the caller during the call" in out and "printed by another thread" in out
    assert "written to stderr by another thread" in err and "an MLflow event" not in out + err


@pytest.mark.slow
def test_track_logs_a_run_quietly_and_restores_logging(tmp_path, monkeypatch, capfd):
    """A real run in a SQLite store: MLflow's own messages are silent, everything else is not swallowed."""
    import mlflow
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    from nbprod.convert.render import product_paths
    from nbprod.io import save_metrics, save_value
    from nbprod.notebook.reader import notebook_from_cells
    from nbprod.plan.build import build_plan
    from nbprod.track import registry_client, track

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cells = [
        ("code", "import pandas as pd\nfrom sklearn.linear_model import LinearRegression", ["imports"]),
        ("code", "X = pd.DataFrame({'a': [1.0, 2.0, 3.0]})\ny = [1.0, 2.0, 3.0]", ["step:load"]),
        ("code", "model = LinearRegression()\nmodel.fit(X, y)", ["step:train", "model:model"]),
        ("code", "score = 1.0", ["metrics"]),
    ]
    plan = build_plan(notebook_from_cells("nb.ipynb", cells))
    products = product_paths(plan, tmp_path)
    x = pd.DataFrame({"a": [1.0, 2.0, 3.0]})
    save_value(x, products["load"]["X"])
    save_value([1.0, 2.0, 3.0], products["load"]["y"])
    save_value(LinearRegression().fit(x, [1.0, 2.0, 3.0]), products["train"]["model"])
    save_metrics({"score": 1.0}, products["train"]["metrics"])

    seen = []
    real_log_params = mlflow.log_params

    def log_params(params, *args, **kwargs):  # someone else writing while MLflow works
        seen.append((sys.stdout, sys.stderr))
        print("the user's print during tracking")
        return real_log_params(params, *args, **kwargs)

    monkeypatch.setattr(mlflow, "log_params", log_params)
    logging.getLogger("alembic").setLevel(logging.INFO)
    before = {n: logging.getLogger(n).level for n in ("mlflow", "alembic", "sqlalchemy", "nbprod")}
    stdout, stderr = sys.stdout, sys.stderr
    try:
        tracked = track(
            plan,
            tmp_path,
            products,
            params={"alpha": 1},
            metrics={"score": 1.0},
            ran=["load", "train"],
            reused=[],
            gates=[],
            requirements=[],
        )
        after = {n: logging.getLogger(n).level for n in ("mlflow", "alembic", "sqlalchemy", "nbprod")}
    finally:
        logging.getLogger("alembic").setLevel(logging.NOTSET)
    assert after == before
    assert seen == [(stdout, stderr)]
    out, err = capfd.readouterr()
    assert "the user's print during tracking" in out
    assert "Successfully registered model" not in out + err and "Created version" not in out + err
    assert str(tracked.model_version) == "1" and tracked.tracking_uri.startswith("sqlite:")
    assert "MLFLOW_TRACKING_URI" not in os.environ
    client = registry_client(tmp_path)
    assert alias_version(client, plan.name, "candidate") == "1"
    assert alias_version(client, plan.name, "champion") is None
    assert alias_version(client, "never_registered", "champion") is None
    # the requirements are given, pinned to this environment (MLflow does not infer them in a fresh interpreter)
    import importlib.metadata

    (reqs,) = (tmp_path / ".nbprod" / "mlartifacts").rglob("requirements.txt")
    lines = reqs.read_text().split()
    assert f"scikit-learn=={importlib.metadata.version('scikit-learn')}" in lines
    assert f"pandas=={importlib.metadata.version('pandas')}" in lines and any(x.startswith("mlflow") for x in lines)


def _tiny_run(tmp_path):
    """A tiny trained pipeline's plan and products (a LinearRegression), as a build leaves them."""
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    from nbprod.convert.render import product_paths
    from nbprod.io import save_metrics, save_value
    from nbprod.notebook.reader import notebook_from_cells
    from nbprod.plan.build import build_plan

    cells = [
        ("code", "import pandas as pd\nfrom sklearn.linear_model import LinearRegression", ["imports"]),
        ("code", "X = pd.DataFrame({'a': [1.0, 2.0, 3.0]})\ny = [1.0, 2.0, 3.0]", ["step:load"]),
        ("code", "model = LinearRegression()\nmodel.fit(X, y)", ["step:train", "model:model"]),
        ("code", "score = 1.0", ["metrics"]),
    ]
    plan = build_plan(notebook_from_cells("nb.ipynb", cells))
    products = product_paths(plan, tmp_path)
    x = pd.DataFrame({"a": [1.0, 2.0, 3.0]})
    save_value(x, products["load"]["X"])
    save_value([1.0, 2.0, 3.0], products["load"]["y"])
    save_value(LinearRegression().fit(x, [1.0, 2.0, 3.0]), products["train"]["model"])
    save_metrics({"score": 1.0}, products["train"]["metrics"])
    return plan, products


@pytest.mark.slow
def test_the_track_worker_prepares_the_store_then_tracks_like_track(tmp_path, monkeypatch):
    """The side process opens the store while the caller works, then logs and registers the same run; a second
    run in the same store gets version 2."""
    from nbprod.track import registry_client
    from nbprod.workflow.track_worker import TrackWorker, imported_modules

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    plan, products = _tiny_run(tmp_path)
    assert imported_modules(plan) == ["pandas", "sklearn.linear_model"]
    kwargs = dict(params={"alpha": 1}, metrics={"score": 1.0}, ran=["load", "train"], reused=[], gates=[])
    versions = []
    for i in range(2):
        log = tmp_path / f"worker{i}.log"
        with TrackWorker(log, tmp_path, plan.name, None, imported_modules(plan)) as worker:
            tracked = worker.track(plan, tmp_path, products, requirements=[], **kwargs)
        versions.append(tracked.model_version)
        assert "MLflow imported and store opened" in log.read_text() and "tracked in" in log.read_text()
    assert [str(v) for v in versions] == ["1", "2"] and tracked.tracking_uri.startswith("sqlite:")
    client = registry_client(tmp_path)
    assert alias_version(client, plan.name, "candidate") == "2"
    assert client.get_run(tracked.run_id).data.metrics == {"score": 1.0}


@pytest.mark.slow
def test_a_tracking_failure_in_the_worker_is_the_same_error_as_in_process(tmp_path, monkeypatch):
    from nbprod.errors import RunError
    from nbprod.track import track
    from nbprod.workflow.track_worker import TrackWorker

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    plan, products = _tiny_run(tmp_path)
    (tmp_path / "file").write_text("not a folder")
    uri = f"sqlite:///{tmp_path / 'file' / 'mlflow.db'}"  # a store inside a file: cannot be created
    kwargs = dict(params={}, metrics={}, ran=[], reused=[], gates=[], requirements=[], tracking_uri=uri)
    with pytest.raises(RunError) as in_process:
        track(plan, tmp_path, products, **kwargs)
    with TrackWorker(tmp_path / "w.log", tmp_path, plan.name, uri) as worker:
        with pytest.raises(RunError) as side:
            worker.track(plan, tmp_path, products, **kwargs)
    assert side.value.message == in_process.value.message and "tracking the run in MLflow failed" in side.value.message
    assert side.value.path == uri and side.value.fix == in_process.value.fix
    assert "preparing the MLflow store failed" in (tmp_path / "w.log").read_text()


def test_a_worker_that_is_not_asked_stops_with_its_block(tmp_path):
    from nbprod.workflow.track_worker import TrackWorker

    with TrackWorker(tmp_path / "w.log", tmp_path, "nb", None) as worker:
        proc = worker.proc
    assert proc is not None and proc.poll() is not None
