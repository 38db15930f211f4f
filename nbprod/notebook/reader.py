"""Reading notebooks: ``.ipynb`` (nbformat 4) and percent-format ``.py`` (jupytext), without importing nbformat.

The result is a plain :class:`Notebook` of :class:`Cell` objects with their tags parsed.
Reading never writes anything; the source notebook is never modified.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

from nbprod.errors import CellRef, NotebookReadError
from nbprod.notebook.findings import ERROR, INFO, Finding
from nbprod.notebook.tags import GRAMMAR, Tag, TagProblem, comment_tags, parse_tag

__all__ = ["Cell", "Notebook", "read_notebook", "notebook_from_cells"]

MAX_NOTEBOOK_BYTES = 512 * 1024 * 1024


@dataclass
class Cell:
    index: int
    cell_type: str
    source: str
    tags: tuple[Tag, ...] = ()
    execution_count: Optional[int] = None
    problems: list[Finding] = field(default_factory=list)

    @property
    def first_line(self) -> str:
        for line in self.source.split("\n"):
            if line.strip():
                return line.strip()
        return ""

    @property
    def ref(self) -> CellRef:
        return CellRef(self.index, self.first_line)

    def has(self, kind: str) -> bool:
        return any(t.kind == kind for t in self.tags)

    def values(self, kind: str) -> list[str]:
        return [t.value for t in self.tags if t.kind == kind and t.value is not None]

    def tagged(self, kind: str) -> list[Tag]:
        return [t for t in self.tags if t.kind == kind]

    @property
    def is_code(self) -> bool:
        return self.cell_type == "code"


@dataclass
class Notebook:
    path: str
    cells: list[Cell]
    fmt: str  # "ipynb" or "percent"
    has_execution_counts: bool = False
    abspath: Optional[str] = None  # where the file is on disk, for reading the data files it names

    @property
    def directory(self) -> Optional[Path]:
        return Path(self.abspath).parent if self.abspath else None

    @property
    def stem(self) -> str:
        return Path(self.path).stem

    @property
    def problems(self) -> list[Finding]:
        return [p for c in self.cells for p in c.problems]

    def digest(self) -> str:
        """Content fingerprint: code and markdown sources and nbprod's tags. Outputs, execution counts, metadata and
        other tools' tags are ignored, so re-running the notebook keeps it while editing a cell changes it."""
        h = hashlib.sha256()
        for c in self.cells:
            if c.cell_type in ("code", "markdown"):
                h.update(json.dumps([c.cell_type, c.source, sorted(str(t) for t in c.tags)]).encode())
        return h.hexdigest()


def _join_source(src: object, where: str, idx: int) -> str:
    if isinstance(src, str):
        return src
    if isinstance(src, list) and all(isinstance(s, str) for s in src):
        return "".join(src)
    raise NotebookReadError(
        f"cell {idx} has a 'source' of type {type(src).__name__}; nbformat 4 expects a string or a list of strings",
        path=where,
        fix="re-save the notebook from Jupyter, or repair the cell's 'source' field",
    )


def _parse_cell_tags(cell: Cell, raw: list[str]) -> None:
    seen: list[Tag] = []
    for r in raw:
        parsed = (
            parse_tag(r)
            if isinstance(r, str)
            else TagProblem(repr(r), f"tag {r!r} is not a string", "tags are strings")
        )
        if parsed is None:
            continue
        if isinstance(parsed, TagProblem):
            cell.problems.append(Finding("NB001", ERROR, parsed.message, cell.ref, parsed.fix))
            continue
        if parsed.kind == "kale-cluster":
            cell.problems.append(
                Finding(
                    "NB002", INFO, f"Kale cluster tag {parsed.raw!r} is kept but ignored when running locally", cell.ref
                )
            )
        elif GRAMMAR[parsed.kind].cell_type != cell.cell_type:
            cell.problems.append(
                Finding(
                    "NB001",
                    ERROR,
                    f"tag {parsed.raw!r} belongs on a {GRAMMAR[parsed.kind].cell_type} cell, not a {cell.cell_type} "
                    "cell",
                    cell.ref,
                    f"move the tag to a {GRAMMAR[parsed.kind].cell_type} cell",
                )
            )
            continue
        if parsed not in seen:
            seen.append(parsed)
    cell.tags = tuple(seen)


def _make_cell(index: int, cell_type: str, source: str, meta_tags: list[str], execution_count: Optional[int]) -> Cell:
    raw = list(meta_tags)
    if cell_type in ("code", "markdown"):
        for t in comment_tags(source, cell_type):
            if t not in raw:
                raw.append(t)
    cell = Cell(index, cell_type, source, execution_count=execution_count)
    _parse_cell_tags(cell, raw)
    return cell


def notebook_from_cells(path: str, cells: list[tuple[str, str, list[str]]], fmt: str = "ipynb") -> Notebook:
    """Build a :class:`Notebook` in memory from ``(cell_type, source, tags)`` triples (tests, tools)."""
    return Notebook(path, [_make_cell(i, t, s, list(tags), None) for i, (t, s, tags) in enumerate(cells)], fmt)


def _read_bytes(path: Path, shown: str) -> str:
    if not path.exists():
        raise NotebookReadError("no such file", path=shown, fix="check the path to the notebook")
    if path.is_dir():
        raise NotebookReadError(
            "is a directory, not a notebook", path=shown, fix="pass a .ipynb or percent-format .py file"
        )
    size = path.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        raise NotebookReadError(
            f"the file is {size / 1e6:.0f} MB, over the {MAX_NOTEBOOK_BYTES / 1e6:.0f} MB nbprod reads",
            path=shown,
            fix="clear the notebook's outputs (Edit > Clear Outputs of All Cells) and save it",
        )
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotebookReadError(
            f"is not UTF-8 text (byte {exc.start}: {data[exc.start : exc.start + 1]!r})",
            path=shown,
            fix="save the notebook as UTF-8 (Jupyter always does; check the tool that wrote it)",
        ) from None


def _read_ipynb(text: str, shown: str) -> Notebook:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotebookReadError(
            f"is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
            path=shown,
            fix="the file is truncated or corrupt: restore it from version control or re-save it in Jupyter",
        ) from None
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        raise NotebookReadError(
            "is JSON but not a Jupyter notebook (no 'cells')",
            path=shown,
            fix="pass a notebook saved by Jupyter (nbformat 4)",
        )
    major = data.get("nbformat")
    if major != 4:
        raise NotebookReadError(
            f"has nbformat {major!r}; nbprod reads nbformat 4",
            path=shown,
            fix=f"convert it: jupyter nbconvert --to notebook --nbformat 4 --output upgraded.ipynb {shown}",
        )
    raw_cells = data.get("cells")
    if not isinstance(raw_cells, list):
        raise NotebookReadError("'cells' is not a list", path=shown, fix="re-save the notebook from Jupyter")
    cells: list[Cell] = []
    any_count = False
    for i, rc in enumerate(raw_cells):
        if not isinstance(rc, dict):
            raise NotebookReadError(
                f"cell {i} is not a JSON object", path=shown, fix="re-save the notebook from Jupyter"
            )
        ctype = rc.get("cell_type")
        if ctype not in ("code", "markdown", "raw"):
            raise NotebookReadError(
                f"cell {i} has cell_type {ctype!r}; expected 'code', 'markdown' or 'raw'",
                path=shown,
                fix="repair the cell's 'cell_type' or re-save the notebook from Jupyter",
            )
        if "source" not in rc:
            raise NotebookReadError(
                f"cell {i} has no 'source'",
                path=shown,
                fix='re-save the notebook from Jupyter, or add "source": "" to the cell',
            )
        source = _join_source(rc["source"], shown, i)
        meta = rc.get("metadata") or {}
        tags = meta.get("tags") or [] if isinstance(meta, dict) else []
        if not isinstance(tags, list):
            raise NotebookReadError(
                f"cell {i}: metadata.tags is not a list", path=shown, fix="set metadata.tags to a list of strings"
            )
        count = rc.get("execution_count") if ctype == "code" else None
        if not isinstance(count, int):
            count = None
        any_count = any_count or count is not None
        cells.append(_make_cell(i, ctype, source, tags, count))
    return Notebook(shown, cells, "ipynb", has_execution_counts=any_count)


_PERCENT_RE = re.compile(r"^# %%(?!%)(.*)$")


def _parse_percent_header(rest: str) -> tuple[str, list[str]]:
    ctype = "code"
    m = re.match(r"\s*\[(markdown|md|raw)\]", rest)
    if m:
        ctype = "raw" if m.group(1) == "raw" else "markdown"
        rest = rest[m.end() :]
    tags: list[str] = []
    m = re.search(r"tags\s*=\s*(\[.*?\])", rest)
    if m:
        try:
            parsed = json.loads(m.group(1))
            tags = [str(t) for t in parsed] if isinstance(parsed, list) else []
        except json.JSONDecodeError:
            tags = []
    return ctype, tags


def _uncomment_markdown(lines: list[str]) -> str:
    out = []
    for line in lines:
        if line.startswith("# "):
            out.append(line[2:])
        elif line.rstrip() == "#":
            out.append("")
        else:
            out.append(line)
    return "\n".join(out)


def _read_percent(text: str, shown: str) -> Notebook:
    lines = text.split("\n")
    i = 0
    if lines and lines[0].strip() == "# ---":  # jupytext YAML header
        for j in range(1, len(lines)):
            if lines[j].strip() == "# ---":
                i = j + 1
                break
    if not any(_PERCENT_RE.match(line) for line in lines[i:]):
        raise NotebookReadError(
            "is a .py file without '# %%' cell markers",
            path=shown,
            fix="use a percent-format script (jupytext --to py:percent) or an .ipynb notebook",
        )
    blocks: list[tuple[str, list[str], list[str]]] = []
    current: Optional[tuple[str, list[str], list[str]]] = None
    for line in lines[i:]:
        m = _PERCENT_RE.match(line)
        if m:
            ctype, tags = _parse_percent_header(m.group(1))
            current = (ctype, tags, [])
            blocks.append(current)
        elif current is not None:
            current[2].append(line)
    cells = []
    for idx, (ctype, tags, body) in enumerate(blocks):
        while body and not body[-1].strip():
            body.pop()
        while body and not body[0].strip():
            body.pop(0)
        source = _uncomment_markdown(body) if ctype == "markdown" else "\n".join(body)
        cells.append(_make_cell(idx, ctype, source, tags, None))
    return Notebook(shown, cells, "percent")


def read_notebook(path: Union[str, os.PathLike], display_path: Optional[str] = None) -> Notebook:
    """Read a notebook; raise :class:`NotebookReadError` naming the file and the fix when it cannot be read."""
    p = Path(path)
    shown = display_path or str(path)
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in str(path) + shown):
        raise NotebookReadError(
            "the file name contains a newline or another control character",
            path=repr(shown),
            fix="rename the notebook: its path is written into generated files",
        )
    text = _read_bytes(p, shown)
    if p.suffix == ".ipynb":
        nb = _read_ipynb(text, shown)
    elif p.suffix == ".py":
        nb = _read_percent(text, shown)
    else:
        raise NotebookReadError(
            f"unsupported file type {p.suffix or '(none)'!r}",
            path=shown,
            fix="pass a Jupyter notebook (.ipynb) or a percent-format script (.py)",
        )
    nb.abspath = str(p.resolve())
    if not nb.cells:
        raise NotebookReadError(
            "the notebook has no cells", path=shown, fix="add cells tagged with step:<name> (see `nbprod --help`)"
        )
    return nb
