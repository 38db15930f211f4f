"""IPython's additions to Python in a notebook cell, as one grammar.

A cell may start with a cell magic (``%%time``, ``%%bash``); any line may be a line magic or a shell line
(``%pip install x``, ``!ls``), a shell assignment (``files = !ls``) or a help request (``df?``). Two readers use this
grammar: :func:`neutralise` turns such a cell into plain Python with the same line numbers, for the analysis; the
converter (``nbprod.convert.render``) comments the same lines out of the generated task scripts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Sequence

__all__ = [
    "RUNNING_CELL_MAGICS",
    "SHELL_ASSIGN",
    "MAGIC",
    "SHELL_ASSIGNMENT",
    "HELP",
    "TIMED",
    "CellMagic",
    "LineMagic",
    "cell_magic",
    "line_magic",
    "neutralise",
    "is_install",
]

#: Cell magics whose body is Python that still runs (the task script keeps the body).
RUNNING_CELL_MAGICS = frozenset({"%%time", "%%timeit", "%%capture"})

#: ``files = !ls``, ``a, b = %sx ls``: group 1 is the target with its ``=`` (and indentation), group 2 the command.
SHELL_ASSIGN = re.compile(r"^(\s*[A-Za-z_][\w\s,]*=\s*)([!%].*)$")

_INSTALL = re.compile(r"^(?:%|!)\s*(?:pip|conda|mamba|apt|apt-get|uv)\b")


def is_install(magic: str) -> bool:
    """``!pip install x``, ``%conda install y``...: a package install (it belongs in the requirements)."""
    return _INSTALL.match(magic) is not None


_HELP = re.compile(r"^[\w.\[\]'\"()]+\?{1,2}$")

#: kinds of :class:`LineMagic`
MAGIC, SHELL_ASSIGNMENT, HELP, TIMED = "magic", "shell-assignment", "help", "timed"

#: ``%time x = f()``: the statement runs (and binds) in the notebook; only the timing is IPython's.
_TIMED = re.compile(r"^%time\s+(\S.*)$")


@dataclass(frozen=True)
class CellMagic:
    """The ``%%`` line that opens a cell: the cell's first non-blank line."""

    line: int  # 0-based index of the magic line in the cell
    text: str  # the line without surrounding whitespace, e.g. "%%time -n1"

    @property
    def name(self) -> str:
        return self.text.split()[0]

    @property
    def runs(self) -> bool:
        """True when the body is ordinary Python that runs in the pipeline (``%%time`` and friends)."""
        return self.name in RUNNING_CELL_MAGICS

    @property
    def capture(self) -> Optional[tuple[str, str]]:
        """For ``%%capture [--no-stdout] [--no-stderr] [--no-display] [name]``: (the keyword arguments of IPython's
        ``capture_output`` it means, the name it binds or ""); None for another magic."""
        if self.name != "%%capture":
            return None
        words = self.text.split()[1:]
        off = [w[5:] for w in words if w in ("--no-stdout", "--no-stderr", "--no-display")]
        kwargs = ", ".join(f"{k}={k not in off}" for k in ("stdout", "stderr", "display"))
        names = [w for w in words if not w.startswith("-")]
        return kwargs, names[0] if names and names[0].isidentifier() else ""


@dataclass(frozen=True)
class LineMagic:
    """One line that is not Python: a line magic or shell line, a shell assignment, or a help request."""

    kind: str  # MAGIC | SHELL_ASSIGNMENT | HELP
    indent: str  # the line's leading whitespace
    text: str  # the line without its leading whitespace
    target: str = ""  # SHELL_ASSIGNMENT: "files = " (with the indentation)
    command: str = ""  # SHELL_ASSIGNMENT: "!ls"; TIMED: the statement that runs


def cell_magic(lines: Sequence[str]) -> Optional[CellMagic]:
    """The cell magic opening a cell given as lines, or None."""
    for index, line in enumerate(lines):
        text = line.strip()
        if text:
            return CellMagic(index, text) if text.startswith("%%") else None
    return None


def line_magic(line: str) -> Optional[LineMagic]:
    """What kind of IPython line ``line`` is, or None for a line of Python."""
    stripped = line.lstrip()
    indent = line[: len(line) - len(stripped)]
    timed = _TIMED.match(stripped)
    if timed:
        return LineMagic(TIMED, indent, stripped, command=timed.group(1))
    if stripped.startswith(("!", "%")):
        return LineMagic(MAGIC, indent, stripped)
    m = SHELL_ASSIGN.match(line)
    if m:
        return LineMagic(SHELL_ASSIGNMENT, indent, stripped, m.group(1), m.group(2))
    if _HELP.match(stripped):
        return LineMagic(HELP, indent, stripped)
    return None


def neutralise(source: str) -> tuple[str, list[tuple[int, str]], bool]:
    """Replace magic and shell lines with ``pass`` (keeping line numbers). Returns (code, magics, is_cell_magic).

    A cell magic whose body does not run (``%%bash``) comments out the whole cell; ``%%time`` and friends comment
    out only their own line. ``magics`` lists (line number, line) of every line replaced.
    """
    lines = source.split("\n")
    opening = cell_magic(lines)
    if opening is not None and not opening.runs:
        return "\n".join("#" + ln for ln in lines), [(1, opening.text)], True
    magics: list[tuple[int, str]] = []
    out = []
    for no, line in enumerate(lines, 1):
        if opening is not None and no - 1 == opening.line:
            magics.append((no, opening.text))
            captured = opening.capture
            if captured is not None and captured[1]:  # ``%%capture cap`` binds cap (what the body printed)
                out.append(f"{captured[1]} = None")
                continue
            out.append("#" + line)  # %%time and friends: the body below is ordinary Python and runs in the pipeline
            continue
        found = line_magic(line)
        if found is None:
            out.append(line)
            continue
        if found.kind == TIMED:  # the statement is ordinary Python: analysed like the rest of the cell
            out.append(found.indent + found.command)
            continue
        magics.append((no, found.text))
        out.append(found.target + "None" if found.kind == SHELL_ASSIGNMENT else found.indent + "pass")
    return "\n".join(out), magics, False
