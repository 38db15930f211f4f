"""A side process that validates gates, so that importing Great Expectations overlaps with the pipeline's steps.

``nbprod run`` starts it as soon as it knows the pipeline has gates; the worker imports GX once (seconds, on the
other core) while the steps run, then answers validation requests as JSON lines on stdin/stdout. Errors travel
back as data (class name, message, file, cell, fix, exit code) and are raised again in the parent as the same
class of :mod:`nbprod.errors`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import IO, Any, Optional

from nbprod import errors
from nbprod.errors import CellRef, NbprodError, RunError
from nbprod.gates.model import GateResult
from nbprod.gates.store import run_gate

__all__ = ["GateWorker", "main", "error_to_json", "error_from_json"]


def error_to_json(exc: NbprodError) -> dict[str, Any]:
    """An nbprod error as data that :func:`error_from_json` turns back into the same error."""
    cell = None if exc.cell is None else {"index": exc.cell.index, "first_line": exc.cell.first_line}
    return {
        "type": type(exc).__name__,
        "message": exc.message,
        "path": exc.path,
        "cell": cell,
        "fix": exc.fix,
        "exit_code": exc.exit_code,
    }


def error_from_json(data: dict[str, Any]) -> NbprodError:
    """The error :func:`error_to_json` described: the same class of :mod:`nbprod.errors` (NbprodError for a class
    this process does not know), with its message, path, cell, fix and exit code."""
    cls = getattr(errors, str(data.get("type")), None)
    if not (isinstance(cls, type) and issubclass(cls, NbprodError)):
        cls = NbprodError
    cell = data.get("cell")
    ref = CellRef(int(cell["index"]), str(cell["first_line"])) if isinstance(cell, dict) else None
    exc = cls.__new__(cls)  # not cls(...): subclasses such as PlanError take other constructor arguments
    NbprodError.__init__(exc, data["message"], path=data.get("path"), cell=ref, fix=data.get("fix"))
    if isinstance(data.get("exit_code"), int) and data["exit_code"] != exc.exit_code:
        exc.exit_code = data["exit_code"]
    return exc


class GateWorker:
    """The parent's handle: ``with GateWorker(log) as w: w.run_gate(...)``."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.proc: Optional[subprocess.Popen] = None
        self._log: Optional[IO[bytes]] = None

    def __enter__(self) -> "GateWorker":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "nbprod.gates.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=os.environ.copy(),
        )
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.proc is not None:
            try:
                if self.proc.stdin:
                    self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        if self._log is not None:
            self._log.close()

    def run_gate(
        self, project: Path, pipeline: str, step: str, variable: str, product: Path, *, notebook: str = ""
    ) -> GateResult:
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        request = {
            "project": str(project),
            "pipeline": pipeline,
            "step": step,
            "variable": variable,
            "product": str(product),
            "notebook": notebook,
        }
        try:
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        except OSError:
            line = b""
        if not line:
            tail = self.log_path.read_text(errors="replace")[-1500:] if self.log_path.exists() else ""
            raise RunError(
                f"the gate validation process stopped unexpectedly while checking gate:{variable}",
                path=str(self.log_path),
                fix=f"see the log above; re-run the pipeline. Last log lines:\n{tail}",
            )
        reply = json.loads(line)
        if "error" in reply:
            raise error_from_json(reply["error"])
        return GateResult.from_dict(reply["result"])


def _answer(req: dict[str, Any]) -> dict[str, Any]:
    """The reply to one validation request: the result, or the error as data."""
    try:
        result = run_gate(
            Path(req["project"]),
            req["pipeline"],
            req["step"],
            req["variable"],
            Path(req["product"]),
            notebook=req.get("notebook", ""),
        )
        return {"result": result.to_dict()}
    except NbprodError as exc:
        return {"error": error_to_json(exc)}
    except Exception as exc:  # reported to the parent, which raises it with the gate named
        failure = RunError(f"validating gate:{req.get('variable')} failed: {type(exc).__name__}: {exc}")
        return {"error": error_to_json(failure)}


def main() -> None:
    from nbprod._core.env import exit_now, quiet_dependencies
    from nbprod.gates.validate import _gx

    quiet_dependencies()
    _gx()  # pay the import now, while the parent runs the steps
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        if not line.strip():
            continue
        reply = _answer(json.loads(line))
        out.write((json.dumps(reply, default=str) + "\n").encode())
        out.flush()
    exit_now(0)  # the parent waits for this exit: GX's interpreter teardown would take seconds


if __name__ == "__main__":
    main()
