"""The data files a step reads: string literals in its code that name files next to the notebook.

Planning itself never touches the disk. Which literals name data files is decided by a *probe*, a function of the
literal as written (relative to the notebook); ``build_plan`` uses :func:`disk_probe` of the notebook's folder unless
it is given another one.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Callable, Iterator

from nbprod.analysis.cells import CellAnalysis
from nbprod.plan.model import Step

__all__ = ["Probe", "disk_probe", "path_literals", "input_files"]

#: ``probe(literal) -> bool``: does the relative path ``literal`` name a data file the pipeline reads?
Probe = Callable[[str], bool]


def disk_probe(directory: Path) -> Probe:
    """A probe that answers True for a regular file under ``directory`` (symlinks are followed; a path that leaves
    the folder is not a data file)."""

    def probe(literal: str) -> bool:
        try:
            candidate = (directory / literal).resolve()
            return candidate.is_file() and directory.resolve() in candidate.parents
        except (OSError, ValueError):
            return False

    return probe


def path_literals(step: Step, analyses: dict[int, CellAnalysis]) -> Iterator[str]:
    """String literals in the step's code and shared cells that could be relative file paths, as written."""
    for cell in step.code_cells + step.shared_cells:
        tree = analyses[cell.index].tree
        if tree is None:
            continue
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and 0 < len(node.value) < 260
                and "\n" not in node.value
                and "\0" not in node.value
                and not Path(node.value).is_absolute()
            ):
                yield node.value


def input_files(step: Step, analyses: dict[int, CellAnalysis], probe: Probe) -> list[str]:
    """The data files ``step`` reads according to ``probe``: sorted POSIX paths relative to the notebook."""
    literals = dict.fromkeys(path_literals(step, analyses))  # each distinct literal is probed once
    return sorted({Path(v).as_posix() for v in literals if probe(v)})
