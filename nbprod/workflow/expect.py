"""``nbprod expect``: propose a starter expectation suite per gated variable from the data of a good run.

GX 1.x has no profiler, so the proposal is nbprod's own: exact column set, row count range, dtype of numeric
columns, not-null (with ``mostly`` where the reference has nulls), numeric ranges with a margin, value sets
for low-cardinality columns, and mean checks as ``warning``. A suite a person edited is never overwritten
silently: the difference is shown and ``--force`` is required.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from nbprod.convert.render import products_dir, project_relpath
from nbprod.errors import NbprodError
from nbprod.gates.suites import dump_suite, suite_path, write_suite
from nbprod.notebook.reader import read_notebook
from nbprod.plan.build import build_plan

__all__ = ["propose_suite", "expect", "ExpectResult"]

MAX_CATEGORIES = 20
RANGE_MARGIN = 0.1  # of the observed range, on each side
MEAN_TOLERANCE = 0.5  # standard deviations either side of the reference mean (warning)


def _number(x: Any) -> Union[int, float]:
    value = float(x)
    if value.is_integer() and abs(value) < 2**53:
        return int(value)
    return float(f"{value:.6g}")


def _expectations_digest(expectations: list) -> str:
    return hashlib.sha256(json.dumps(expectations, sort_keys=True).encode()).hexdigest()


def propose_suite(df: Any, name: str) -> dict[str, Any]:
    """A starter suite (canonical dict) for DataFrame ``df``."""
    import pandas as pd
    from pandas.api import types as ptypes

    exps: list[dict[str, Any]] = []

    def add(kind: str, severity: str = "critical", **kwargs: Any) -> None:
        exps.append({"type": kind, "kwargs": kwargs, "severity": severity})

    n = int(len(df))
    add("expect_table_columns_to_match_set", column_set=sorted(str(c) for c in df.columns), exact_match=True)
    add("expect_table_row_count_to_be_between", min_value=max(1, n // 2), max_value=n * 2)
    for col in df.columns:
        s = df[col]
        cname = str(col)
        nulls = int(s.isna().sum())
        if nulls == 0:
            add("expect_column_values_to_not_be_null", column=cname)
        elif nulls < n:
            mostly = math.floor((1 - nulls / n) * 0.95 * 100) / 100
            add("expect_column_values_to_not_be_null", column=cname, mostly=mostly)
        values = s.dropna()
        if ptypes.is_bool_dtype(s):
            add("expect_column_values_to_be_in_set", column=cname, value_set=[False, True])
        elif ptypes.is_numeric_dtype(s) and len(values):
            add(
                "expect_column_values_to_be_in_type_list",
                column=cname,
                type_list=sorted({str(s.dtype), "float64"} if ptypes.is_integer_dtype(s) else {str(s.dtype)}),
            )
            lo, hi = float(values.min()), float(values.max())
            margin = (hi - lo) * RANGE_MARGIN or abs(hi) * RANGE_MARGIN or 1.0
            low = lo - margin
            if lo >= 0 and low < 0:
                low = 0  # a non-negative column stays non-negative
            add(
                "expect_column_values_to_be_between",
                column=cname,
                min_value=_number(low),
                max_value=_number(hi + margin),
            )
            if values.nunique() <= MAX_CATEGORIES and ptypes.is_integer_dtype(s) and values.nunique() <= 5:
                add(
                    "expect_column_distinct_values_to_be_in_set",
                    column=cname,
                    value_set=sorted(_number(v) for v in values.unique()),
                )
            mean, std = float(values.mean()), float(values.std() or 0.0)
            tol = std * MEAN_TOLERANCE or abs(mean) * 0.1 or 1.0
            add(
                "expect_column_mean_to_be_between",
                severity="warning",
                column=cname,
                min_value=_number(mean - tol),
                max_value=_number(mean + tol),
            )
        elif (
            isinstance(s.dtype, pd.CategoricalDtype) or ptypes.is_object_dtype(s) or ptypes.is_string_dtype(s)
        ) and len(values):
            uniques = values.astype(str).unique()
            if len(uniques) <= MAX_CATEGORIES:
                add("expect_column_values_to_be_in_set", column=cname, value_set=sorted(str(v) for v in uniques))
    return {
        "name": name,
        "expectations": exps,
        "meta": {"nbprod": {"generated_from_rows": n, "generated_digest": _expectations_digest(exps)}},
    }


def was_edited(existing: dict[str, Any]) -> bool:
    """True when a person changed the suite since nbprod proposed it (or nbprod never wrote it)."""
    marker = existing.get("meta", {}).get("nbprod", {}) if isinstance(existing.get("meta"), dict) else {}
    return marker.get("generated_digest") != _expectations_digest(existing.get("expectations", []))


@dataclass
class ExpectResult:
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # path -> unified diff


def expect(
    notebook: Union[str, Path],
    *,
    project: Union[str, Path] = ".",
    name: Optional[str] = None,
    force: bool = False,
    split: str = "auto",
) -> ExpectResult:
    """Propose ``expectations/<pipeline>/<var>.json`` for every ``gate:`` from the products of the last good run."""
    from nbprod.io import load_value

    project = Path(project)
    nb = read_notebook(notebook, display_path=project_relpath(notebook, project))
    plan = build_plan(nb, name=name, split=split)
    gates = [(s, g) for s in plan.steps for g in s.gates]
    if not gates:
        raise NbprodError(
            "the notebook has no gate:<variable> tags, so there is nothing to propose a suite for",
            path=nb.path,
            fix="tag the step that produces a DataFrame with gate:<variable> (e.g. '# nbprod: step:clean gate:df')",
        )
    result = ExpectResult()
    for step, var in gates:
        product = products_dir(project, plan.name) / step.name / var
        if not product.exists():
            raise NbprodError(
                f"no data for gate:{var}: step {step.name!r} has not run yet",
                path=nb.path,
                fix=f"run the pipeline up to the gated step first: nbprod run {nb.path}",
            )
        df = load_value(product)
        if not hasattr(df, "columns"):
            raise NbprodError(
                f"gate:{var} names a {type(df).__name__}, not a pandas DataFrame",
                path=nb.path,
                cell=step.first_cell.ref,
                fix="gate a DataFrame variable",
            )
        proposal = dump_suite(propose_suite(df, f"{plan.name}.{var}"))
        target = suite_path(project, plan.name, var)
        shown = project_relpath(target, project)
        if target.exists():
            current = target.read_text(encoding="utf-8")
            if current == proposal:
                result.unchanged.append(shown)
                continue
            try:
                edited = was_edited(json.loads(current))
            except (ValueError, AttributeError):
                edited = True
            if edited and not force:
                diff = "".join(
                    difflib.unified_diff(
                        current.splitlines(True), proposal.splitlines(True), f"{shown} (yours)", f"{shown} (proposed)"
                    )
                )
                result.refused[shown] = diff
                continue
        write_suite(target, proposal)
        result.written.append(shown)
    return result
