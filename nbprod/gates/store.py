"""Gate results on disk: ``.nbprod/gates/<pipeline>/<variable>.json`` and its HTML report beside it.

A result is keyed by the suite's bytes and the product's file stats, so a gate whose suite and data did not change
is answered from the last result without importing Great Expectations (:func:`cached_gate`).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from nbprod._core.fsutil import atomic_write_text
from nbprod._core.layout import ProjectLayout
from nbprod.errors import SuiteError
from nbprod.gates.model import GateResult
from nbprod.gates.report import render_html
from nbprod.gates.suites import load_suite
from nbprod.gates.validate import validate_frame
from nbprod.io import load_value

__all__ = ["GateFiles", "gates_dir", "stored_result", "cached_gate", "run_gate"]


def gates_dir(project: Path, pipeline: str) -> Path:
    """``.nbprod/gates/<pipeline>/``: the results and reports of the pipeline's gates."""
    return ProjectLayout(project).gates_dir(pipeline)


@dataclass(frozen=True)
class GateFiles:
    """The files of one gate: its suite (and how messages show it), its result and its report."""

    suite: Path
    shown: str
    result: Path
    report: Path

    @classmethod
    def of(cls, project: Path, pipeline: str, variable: str) -> GateFiles:
        layout = ProjectLayout(project)
        out = layout.gates_dir(pipeline)
        return cls(
            suite=layout.suite(pipeline, variable),
            shown=ProjectLayout().suite(pipeline, variable).as_posix(),  # relative to the project, as committed
            result=out / f"{variable}.json",
            report=out / f"{variable}.html",
        )


def _key(suite_file: Path, product: Path) -> str:
    h = hashlib.sha256(suite_file.read_bytes())
    for p in sorted(product.rglob("*")) if product.is_dir() else [product]:
        st = p.stat()
        h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


def stored_result(project: Path, pipeline: str, variable: str) -> Optional[GateResult]:
    """The last result written for this gate, whatever suite and data it was for (None: never ran, unreadable)."""
    try:
        return GateResult.from_dict(json.loads(GateFiles.of(project, pipeline, variable).result.read_text()))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def cached_gate(
    project: Path, pipeline: str, variable: str, product: Path, key: Optional[str] = None
) -> Optional[GateResult]:
    """The last result of this gate when neither the suite nor the data changed since (no GX import)."""
    files = GateFiles.of(project, pipeline, variable)
    cached = stored_result(project, pipeline, variable)
    try:
        if cached is not None and cached.key == (key or _key(files.suite, product)) and files.report.exists():
            cached.cached = True
            return cached
    except OSError:  # the suite or the product vanished
        pass
    return None


def run_gate(
    project: Path, pipeline: str, step: str, variable: str, product: Path, *, notebook: str = ""
) -> GateResult:
    """Validate the product ``variable`` of ``step`` against its suite; reuse the last result for the same suite
    and data."""
    files = GateFiles.of(project, pipeline, variable)
    suite = load_suite(
        files.suite,
        shown=files.shown,
        run_hint=f"create it from a good run: nbprod expect {notebook or '<notebook>'}, then review the proposed suite",
    )
    key = _key(files.suite, product)
    previous = cached_gate(project, pipeline, variable, product, key)
    if previous is not None:
        return previous
    df = load_value(product)
    if not hasattr(df, "columns"):
        raise SuiteError(
            f"gate:{variable} got a {type(df).__name__}, not a pandas DataFrame",
            path=files.shown,
            fix=f"gate a DataFrame: step {step!r} must assign a DataFrame to {variable!r}",
        )
    t0 = time.perf_counter()
    outcomes = validate_frame(df, suite)
    result = GateResult(
        pipeline,
        step,
        variable,
        files.shown,
        not any(not o.success and o.severity == "critical" for o in outcomes),
        int(len(df)),
        [str(c) for c in df.columns],
        outcomes,
        time.perf_counter() - t0,
        key,
        str(files.report.relative_to(project)),
        str(files.result.relative_to(project)),
    )
    atomic_write_text(files.report, render_html(result))
    atomic_write_text(files.result, json.dumps(result.to_dict(), indent=2, sort_keys=True, default=str))
    return result
