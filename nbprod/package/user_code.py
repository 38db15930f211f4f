"""The author's own code, run by nbprod outside a step while packaging: the ``serve`` cells, ``preprocess`` and the
model's ``predict``.

Each serve cell is compiled on its own under the name ``<cell N of NOTEBOOK>``, so that when it (or a function it
defines) raises, the traceback frame names the cell and its line numbers are the cell's. A failure becomes a
:class:`~nbprod.errors.UserCodeError` naming the notebook, the cell and the line, never a raw traceback.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Optional

from nbprod.errors import UserCodeError
from nbprod.notebook.reader import Cell
from nbprod.plan.model import Pipeline

__all__ = ["ServeCode", "user_code_error"]


def _innermost(exc: BaseException, cells: dict[str, Cell]) -> Optional[tuple[Cell, int]]:
    """The innermost traceback frame in one of ``cells`` (by compiled file name): (cell, line)."""
    if isinstance(exc, SyntaxError) and exc.filename in cells:
        return cells[exc.filename], exc.lineno or 0
    found = None
    tb: Optional[TracebackType] = exc.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if name in cells:
            found = cells[name], tb.tb_lineno
        tb = tb.tb_next
    return found


def user_code_error(
    exc: BaseException,
    what: str,
    plan: Pipeline,
    *,
    cells: Optional[dict[str, Cell]] = None,
    default: Optional[Cell] = None,
    fix: str,
) -> UserCodeError:
    """``exc``, raised by ``what`` (e.g. "the serve cell"), as an error naming the cell (found in the traceback
    among ``cells``, else ``default``) and the line."""
    where = _innermost(exc, cells or {})
    cell, line = where if where else (default, 0)
    at = f" (line {line} of the cell)" if line else ""
    return UserCodeError(
        f"{what} failed: {type(exc).__name__}: {exc}{at}",
        path=plan.notebook.path,
        cell=None if cell is None else cell.ref,
        fix=fix,
    )


class ServeCode:
    """The namespace of the notebook's ``serve`` cells, executed once (imports first, then each cell in order)."""

    def __init__(self, plan: Pipeline, imports: dict[str, Cell]) -> None:
        self.plan = plan
        self.ns: dict[str, Any] = {}
        self.cells: dict[str, Cell] = {}  # compiled file name -> cell; line numbers are the cell's
        self._imports = imports  # import statement -> the `imports` cell it comes from
        self._fix = (
            f"fix the serve cell, run it in the notebook, then package again (nbprod package {plan.notebook.path})"
        )

    def filename(self, cell: Cell) -> str:
        return f"<cell {cell.index} of {self.plan.notebook.path}>"

    def run(self) -> None:
        serve = self.plan.shared.get("serve", [])
        if not serve:
            return
        for statement, cell in self._imports.items():
            try:
                exec(compile(statement, f"<imports of the serve cells, from {self.filename(cell)}>", "exec"), self.ns)
            except Exception as exc:
                raise user_code_error(
                    exc, f"the import {statement!r} the serve cells need", self.plan, default=cell, fix=self._fix
                ) from exc
        for cell in serve:
            name = self.filename(cell)
            self.cells[name] = cell
            try:
                exec(compile(cell.source, name, "exec"), self.ns)  # the author's own serving code
            except Exception as exc:
                raise user_code_error(exc, "the serve cell", self.plan, cells=self.cells, fix=self._fix) from exc

    def has(self, name: str) -> bool:
        return callable(self.ns.get(name))

    def definer(self, name: str) -> Optional[Cell]:
        """The serve cell that defines ``name``."""
        return next((c for c in self.plan.shared.get("serve", []) if name in self.plan.analyses[c.index].defines), None)

    def call(self, name: str, *args: Any, what: str) -> Any:
        """``name(*args)`` of the serve cells; a failure names the cell and line where it was raised."""
        try:
            return self.ns[name](*args)
        except Exception as exc:
            raise user_code_error(
                exc, what, self.plan, cells=self.cells, default=self.definer(name), fix=self._fix
            ) from exc
