"""A side process that validates gates, so that importing Great Expectations overlaps with the pipeline's steps.

``nbprod run`` starts it as soon as it knows the pipeline has gates; the worker imports GX once (seconds, on the
other core) while the steps run, then answers validation requests as JSON lines on stdin/stdout. Errors travel
back as data and are raised again in the parent with the same message, file and fix.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import IO, Any, Optional

from nbprod.errors import NbprodError, RunError, SuiteError
from nbprod.gates.model import GateResult
from nbprod.gates.store import run_gate

__all__ = ["GateWorker", "main"]

_ERRORS = {"SuiteError": SuiteError, "RunError": RunError, "NbprodError": NbprodError}


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
            err = reply["error"]
            raise _ERRORS.get(err["type"], NbprodError)(err["message"], path=err.get("path"), fix=err.get("fix"))
        return GateResult.from_dict(reply["result"])


def main() -> None:
    from nbprod._core.env import quiet_dependencies
    from nbprod.gates.validate import _gx

    quiet_dependencies()
    _gx()  # pay the import now, while the parent runs the steps
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        if not line.strip():
            continue
        req = json.loads(line)
        try:
            result = run_gate(
                Path(req["project"]),
                req["pipeline"],
                req["step"],
                req["variable"],
                Path(req["product"]),
                notebook=req.get("notebook", ""),
            )
            reply: dict[str, Any] = {"result": result.to_dict()}
        except NbprodError as exc:
            reply = {"error": {"type": type(exc).__name__, "message": exc.message, "path": exc.path, "fix": exc.fix}}
        except Exception as exc:  # reported to the parent, which raises it with the gate named
            reply = {
                "error": {
                    "type": "RunError",
                    "message": f"validating gate:{req.get('variable')} failed: {type(exc).__name__}: {exc}",
                    "path": None,
                    "fix": None,
                }
            }
        out.write((json.dumps(reply, default=str) + "\n").encode())
        out.flush()


if __name__ == "__main__":
    main()
