"""A side process that tracks the run in MLflow, so that importing MLflow and opening its store overlap with the steps.

``nbprod run`` starts it when a build begins with tracking on: the child imports MLflow, opens the store (on first
use the SQLite database is created and migrated, seconds) and the pipeline's experiment, then waits. After the
steps the parent sends what :func:`nbprod.track.track` takes (pickled, in a file named on stdin) and prepares the
package while the child logs the run, registers
the model and answers with the :class:`~nbprod.track.TrackedRun`, or with the error as data, raised again in the
parent as the same class of :mod:`nbprod.errors`. A failure while preparing is only logged: ``track`` then meets
it again and reports it as usual. ``NBPROD_TRACK_WORKER=0`` tracks in the run's own process.
"""

from __future__ import annotations

import ast
import importlib
import logging
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any, Optional, Sequence

from nbprod._core import env
from nbprod.errors import NbprodError, RunError
from nbprod.gates.worker import error_from_json, error_to_json
from nbprod.plan.model import Pipeline

__all__ = ["TrackWorker", "enabled", "imported_modules", "main"]

log = logging.getLogger(__name__)


def enabled() -> bool:
    return os.environ.get("NBPROD_TRACK_WORKER", "1") != "0"


def imported_modules(plan: Pipeline) -> list[str]:
    """The modules the notebook's ``imports`` cells import: the worker imports them too, so that loading the model
    (its class's library) does not wait for them after the steps."""
    names: list[str] = []
    for cell in plan.shared.get("imports", []):
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.append(node.module)
    return list(dict.fromkeys(names))


class TrackWorker:
    """The parent's handle: ``with TrackWorker(log, project, name, uri) as w: ... w.track(plan, project, ...)``."""

    def __init__(
        self, log_path: Path, project: Path, experiment: str, tracking_uri: Optional[str], modules: Sequence[str] = ()
    ) -> None:
        self.log_path, self.args = log_path, [str(project), experiment, tracking_uri or "", *modules]
        self.proc: Optional[subprocess.Popen] = None
        self._log: Optional[IO[bytes]] = None

    def __enter__(self) -> "TrackWorker":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "nbprod.workflow.track_worker", *self.args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=os.environ.copy(),
        )
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.proc is not None and self.proc.poll() is None:  # not used (the build failed): nothing to keep
            self.proc.kill()
            self.proc.wait()
        if self._log is not None:
            self._log.close()

    def track(self, *args: Any, **kwargs: Any) -> Any:
        """:func:`nbprod.track.track` in the side process (same arguments, same result, same errors)."""
        self.send(*args, **kwargs)
        return self.result()

    def send(self, *args: Any, **kwargs: Any) -> None:
        """Ask for :func:`nbprod.track.track` ``(*args, **kwargs)`` without waiting (the request goes through a file
        next to the log: a pipe would block the caller until the worker has finished preparing)."""
        assert self.proc is not None and self.proc.stdin is not None
        request = self.log_path.with_suffix(".request.pickle")
        request.write_bytes(pickle.dumps((args, kwargs)))
        try:
            self.proc.stdin.write(f"{request}\n".encode())
            self.proc.stdin.close()
        except OSError:  # the worker died: result() reports it with its log
            pass

    def result(self) -> Any:
        """The :class:`~nbprod.track.TrackedRun` of the request :meth:`send` made, or its error raised."""
        assert self.proc is not None and self.proc.stdout is not None
        out = self.proc.stdout.read()
        self.proc.wait()
        if not out:
            tail = self.log_path.read_text(errors="replace")[-1500:] if self.log_path.exists() else ""
            raise RunError(
                "the MLflow tracking process stopped unexpectedly",
                path=str(self.log_path),
                fix=f"re-run the pipeline (NBPROD_TRACK_WORKER=0 tracks in nbprod's own process). Last log lines:\n{tail}",
            )
        reply = pickle.loads(out)
        if "error" in reply:
            raise error_from_json(reply["error"])
        return reply["result"]


def _answer(request: Path) -> dict[str, Any]:
    from nbprod.track import track

    try:
        args, kwargs = pickle.loads(request.read_bytes())
        return {"result": track(*args, **kwargs)}
    except NbprodError as exc:
        return {"error": error_to_json(exc)}
    except Exception as exc:  # reported to the parent, which raises it
        return {"error": error_to_json(RunError(f"tracking the run failed: {type(exc).__name__}: {exc}"))}


#: what tracking imports only when it logs and registers the model (measured: 0.3-0.6 s after the steps otherwise):
#: the model registry's store, the pyfunc flavour's serving helpers, the tracing processors, parquet reading (the
#: input example), GitPython (the source commit tag), IPython (MLflow's notebook detection)
_TRACK_MODULES = (
    "mlflow.store.model_registry.sqlalchemy_store",
    "mlflow.pyfunc.scoring_server",
    "mlflow.models.display_utils",
    "mlflow.tracing.processor.otel",
    "mlflow.tracing.export.utils",
    "pyarrow.parquet",
    "pyarrow.dataset",
    "narwhals.stable.v2",
    "git",
    "IPython",
)


def _head_start(names: Sequence[str]) -> None:
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # only a head start: the step or the tracking that imports it reports its failure
            sys.stderr.write(f"importing {name} failed: {type(exc).__name__}: {exc}\n")


def main() -> None:
    from nbprod.track import prepare_store

    env.quiet_dependencies()
    project, experiment, uri, *modules = sys.argv[1:]
    t0 = time.perf_counter()
    _head_start(modules)
    try:
        prepare_store(Path(project), experiment, uri or None)
        sys.stderr.write(f"MLflow imported and store opened in {time.perf_counter() - t0:.2f} s\n")
    except Exception as exc:  # track() meets it again and reports it to the user
        sys.stderr.write(f"preparing the MLflow store failed: {type(exc).__name__}: {exc}\n")
    _head_start(_TRACK_MODULES)
    request = sys.stdin.readline().strip()
    if request:
        t1 = time.perf_counter()
        sys.stdout.buffer.write(pickle.dumps(_answer(Path(request))))
        sys.stderr.write(f"waited {t1 - t0:.2f} s in all; tracked in {time.perf_counter() - t1:.2f} s\n")
    env.exit_now(0)


if __name__ == "__main__":
    main()
