"""The one exception tree of nbprod.

Every error a user can cause is an :class:`NbprodError`. Subclasses carry the location
(notebook path, cell index, the cell's first line, the tag) so that the CLI can print
"where, what was expected, how to fix it" without a traceback. The tree::

    NbprodError                 exit 2 unless stated
    ├── NotebookReadError       the file is not a notebook nbprod can read
    ├── UsageError              bad command-line usage (-p, --name, --split)
    ├── PlanError               the tags do not describe a valid pipeline (carries every finding)
    ├── ConvertError            writing pipelines/<name>/ failed (previous output kept)
    ├── RunError                running failed before or around a step
    │   ├── StepFailedError     a step raised (exit 1): step, cell, line, resume command
    │   └── GateFailedError     a data or evaluation gate failed (exit 1)
    ├── SuiteError              an expectation suite is missing or malformed
    ├── ApprovalError           an approval cannot be recorded or read
    │   └── ApprovalRefused     lint errors, failed gates, missing card fields (exit 1)
    ├── ReleaseError            release / rollback / status cannot proceed
    ├── ServeError              no Bento to serve
    ├── UserCodeError           the notebook's own code raised while packaging (exit 1): cell and line
    └── VerifyError             ``nbprod verify`` cannot compare: the notebook itself fails top to bottom
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

__all__ = [
    "CellRef",
    "location",
    "render_problem",
    "NbprodError",
    "NotebookReadError",
    "PlanError",
    "ConvertError",
    "RunError",
    "StepFailedError",
    "GateFailedError",
    "SuiteError",
    "UserCodeError",
    "UsageError",
    "ApprovalError",
    "ApprovalRefused",
    "ReleaseError",
    "ServeError",
    "VerifyError",
]


@dataclass(frozen=True)
class CellRef:
    """Where something is in a notebook: the cell index (0-based, as in Jupyter's JSON) and its first line."""

    index: int
    first_line: str

    def __str__(self) -> str:
        line = self.first_line.strip()
        if len(line) > 60:
            line = line[:57] + "..."
        return f"cell {self.index} ({line!r})" if line else f"cell {self.index} (empty)"


def location(path: Optional[str], cell: Optional[CellRef]) -> str:
    """Where a problem is, as every message shows it: ``nb.ipynb, cell 3 ('x = 1')``, ``nb.ipynb`` or ``cell 3 (...)``."""
    return ", ".join(part for part in (path or "", str(cell) if cell is not None else "") if part)


def render_problem(message: str, *, path: Optional[str], cell: Optional[CellRef], fix: Optional[str]) -> str:
    """``<location>: <message>`` and, when there is one, ``fix: ...`` on the next line (errors and findings)."""
    where = location(path, cell)
    text = f"{where}: {message}" if where else message
    return text + (f"\n  fix: {fix}" if fix else "")


class NbprodError(Exception):
    """Base of every error nbprod raises on purpose. The CLI prints it and exits non-zero."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        path: Optional[str] = None,
        cell: Optional[CellRef] = None,
        fix: Optional[str] = None,
    ) -> None:
        self.message = message
        self.path = path
        self.cell = cell
        self.fix = fix
        super().__init__(self.render())

    def render(self) -> str:
        return render_problem(self.message, path=self.path, cell=self.cell, fix=self.fix)


class NotebookReadError(NbprodError):
    """The file is not a notebook nbprod can read (bad JSON, wrong nbformat, not UTF-8, ...)."""


class UsageError(NbprodError):
    """Bad command-line usage (unknown parameter, bad -p value, ...)."""


class PlanError(NbprodError):
    """The notebook's tags do not describe a valid pipeline. Carries every problem found."""

    def __init__(self, problems: list, *, path: Optional[str] = None) -> None:
        self.problems = list(problems)
        first = self.problems[0]
        lines = [f"{len(self.problems)} problem(s) in the notebook's pipeline tags:"] if len(self.problems) > 1 else []
        for p in self.problems:
            lines.append(p.render(path))
        NbprodError.__init__(
            self,
            "\n".join(lines) if len(self.problems) > 1 else first.message,
            path=None if len(self.problems) > 1 else path,
            cell=None if len(self.problems) > 1 else first.cell,
            fix=None if len(self.problems) > 1 else first.fix,
        )


class ConvertError(NbprodError):
    """Writing the pipeline folder failed; the previous output was left as it was."""


class RunError(NbprodError):
    """Running the pipeline failed before or around a step."""


class StepFailedError(RunError):
    """A step raised. Names the step, the source cell and line, and the command that resumes the run."""

    exit_code = 1


class ApprovalError(NbprodError):
    """An approval record cannot be written or read (missing reviewer, unreadable record, ...)."""


class ApprovalRefused(ApprovalError):
    """Approval is refused: lint errors, a failed gate, or missing model-card fields (all listed)."""

    exit_code = 1


class GateFailedError(RunError):
    """A data gate or an evaluation gate failed; nothing downstream ran."""

    exit_code = 1


class ReleaseError(NbprodError):
    """Release, rollback or status cannot proceed (no valid approval, nothing to roll back to, store errors)."""


class ServeError(NbprodError):
    """There is no Bento to serve, or the server did not start."""


class SuiteError(NbprodError):
    """An expectation suite is missing or malformed; the message names the file and the expectation."""


class UserCodeError(NbprodError):
    """The notebook's own code raised while nbprod ran it outside a step (the ``serve`` cells, ``preprocess``,
    the model's ``predict`` when packaging). Names the cell and the line, never a raw traceback."""

    exit_code = 1


class VerifyError(NbprodError):
    """``nbprod verify`` cannot compare the notebook with its pipeline: the notebook is missing or fails when run
    top to bottom in a fresh kernel (a difference between the two runs is a report, not an error)."""
