"""The text protocol between generated task scripts and the code that reads them back.

``convert`` writes these comments and lines into every task; the engine reads them to map a failure to the
notebook cell it came from, and the build record reads ``upstream = [...]`` to chain fingerprints. Both sides
use this module, so changing one side cannot silently break the other.
"""

from __future__ import annotations

import ast
import re
from typing import Optional

__all__ = [
    "cell_marker",
    "parse_cell_marker",
    "LOAD_BLOCK",
    "SAVE_BLOCK",
    "parse_block",
    "UPSTREAM_PREFIX",
    "read_upstream",
]

_CELL_MARK = re.compile(r"^# nbprod: (?:step \w+|shared \w+), cell (\d+) of the notebook")

#: First comment of the generated block that loads a step's inputs.
LOAD_BLOCK = "# nbprod: load this step's inputs from upstream products"
#: First comment of the generated block that saves a step's outputs and metrics.
SAVE_BLOCK = "# nbprod: save this step's outputs as products"

UPSTREAM_PREFIX = "upstream = "


def cell_marker(label: str, index: int) -> str:
    """The comment that opens the copy of notebook cell ``index`` (``label``: "step NAME" or "shared ROLE")."""
    return f"# nbprod: {label}, cell {index} of the notebook"


def parse_cell_marker(source: str) -> Optional[int]:
    """The notebook cell index of a generated cell, or None when it is not a copy of a notebook cell."""
    m = _CELL_MARK.match(source)
    return int(m.group(1)) if m else None


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
