"""What planning tells the author: findings (a problem, the cell it is in, how to fix it) and notes."""

from __future__ import annotations

from typing import Iterable, Optional

from nbprod.notebook.findings import ERROR, Finding
from nbprod.notebook.reader import Cell

__all__ = ["Report"]


class Report:
    """Findings and notes collected by the planning phases, in the order they were found."""

    def __init__(self, findings: Iterable[Finding] = ()) -> None:
        self.findings: list[Finding] = list(findings)
        self.notes: list[str] = []

    def add_finding(
        self, code: str, message: str, cell: Optional[Cell], fix: Optional[str] = None, severity: str = ERROR
    ) -> None:
        self.findings.append(Finding(code, severity, message, cell.ref if cell else None, fix))

    def note(self, text: str) -> None:
        self.notes.append(text)
