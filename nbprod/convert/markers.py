"""The text protocol between generated task scripts and the code that reads them back.

``convert`` writes these comments and lines into every task; the engine reads them to map a failure to the
notebook cell it came from, and the build record reads ``upstream = [...]`` to chain fingerprints. Both sides
use this module, so changing one side cannot silently break the other.

A copied notebook cell is marked in its ``# %%`` line, not in its body: jupytext keeps the text after ``# %%`` as the
cell's ``title`` metadata, so the code runs with the notebook cell's own line numbers (a warning or a traceback in a
step names the line the notebook names) and the executed step notebook still says which cell each cell copies.
"""

from __future__ import annotations

import ast
import re
from typing import Optional

__all__ = [
    "cell_header",
    "parse_cell_marker",
    "cell_index",
    "LOAD_BLOCK",
    "SAVE_BLOCK",
    "parse_block",
    "UPSTREAM_PREFIX",
    "read_upstream",
]

_CELL_MARK = re.compile(r"^nbprod: (?:step \w+|shared \w+), cell (\d+) of the notebook")

#: First comment of the generated block that loads a step's inputs.
LOAD_BLOCK = "# nbprod: load this step's inputs from upstream products"
#: First comment of the generated block that saves a step's outputs and metrics.
SAVE_BLOCK = "# nbprod: save this step's outputs as products"

UPSTREAM_PREFIX = "upstream = "


def cell_header(label: str, index: int) -> str:
    """The ``# %%`` line that opens the copy of notebook cell ``index`` (``label``: "step NAME" or "shared ROLE")."""
    return f"# %% nbprod: {label}, cell {index} of the notebook"


def parse_cell_marker(title: str) -> Optional[int]:
    """The notebook cell index in a generated cell's title, or None when it is not a copy of a notebook cell."""
    m = _CELL_MARK.match(title or "")
    return int(m.group(1)) if m else None


def cell_index(cell: dict) -> Optional[int]:
    """The notebook cell index a cell of an executed step notebook copies (from its jupytext title), or None."""
    title = (cell.get("metadata") or {}).get("title")
    return parse_cell_marker(title) if isinstance(title, str) else None


def parse_block(source: str) -> Optional[str]:
    """ "load" or "save" when ``source`` is one of the generated load/save blocks, else None."""
    first = source.split("\n", 1)[0].strip()
    if first == LOAD_BLOCK:
        return "load"
    if first == SAVE_BLOCK:
        return "save"
    return None


def read_upstream(source: str) -> list[str]:
    """The step names of the ``upstream = [...]`` line of a generated task."""
    for line in source.split("\n"):
        if line.startswith(UPSTREAM_PREFIX):
            value = ast.literal_eval(line[len(UPSTREAM_PREFIX) :])
            return list(value or [])
    return []
