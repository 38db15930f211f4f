"""A finding: one problem found in a notebook, with a stable code, a severity, the cell and the fix.

Lint reports findings; the tag parser and the planner produce them too, and raise them as a
:class:`~nbprod.errors.PlanError` when a pipeline cannot be built.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional

from nbprod.errors import CellRef, render_problem

__all__ = ["Finding", "ERROR", "WARNING", "INFO"]

ERROR = "error"
WARNING = "warning"
INFO = "info"
_RANK = {ERROR: 0, WARNING: 1, INFO: 2}


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str
    message: str
    cell: Optional[CellRef] = None
    fix: Optional[str] = None

    def render(self, path: Optional[str] = None) -> str:
        return render_problem(self.message, path=path, cell=self.cell, fix=self.fix)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["cell"] = None if self.cell is None else {"index": self.cell.index, "first_line": self.cell.first_line}
        return data

    @property
    def sort_key(self) -> tuple:
        return (self.cell.index if self.cell else -1, _RANK.get(self.severity, 9), self.code, self.message)
