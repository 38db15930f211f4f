"""A starter expectation suite for a DataFrame, from the data of a good run.

GX 1.x has no profiler, so the proposal is nbprod's own: exact column set, row count range, dtype of numeric
columns, not-null (with ``mostly`` where the reference has nulls), numeric ranges with a margin, value sets
for low-cardinality columns, and mean checks as ``warning``. The proposal records the digest of its
expectations, so that a suite a person edited is recognised (:func:`was_edited`).
"""

from __future__ import annotations

import math
from typing import Any, Union

from nbprod.gates.suites import expectations_digest

__all__ = ["propose_suite", "was_edited", "MAX_CATEGORIES", "RANGE_MARGIN", "MEAN_TOLERANCE"]

MAX_CATEGORIES = 20
RANGE_MARGIN = 0.1  # of the observed range, on each side
MEAN_TOLERANCE = 0.5  # standard deviations either side of the reference mean (warning)

Expectation = dict[str, Any]


def _number(x: Any) -> Union[int, float]:
    value = float(x)
    if value.is_integer() and abs(value) < 2**53:
        return int(value)
    return float(f"{value:.6g}")


def _exp(kind: str, severity: str = "critical", **kwargs: Any) -> Expectation:
    return {"type": kind, "kwargs": kwargs, "severity": severity}


def _not_null(cname: str, nulls: int, n: int) -> list[Expectation]:
    if nulls == 0:
        return [_exp("expect_column_values_to_not_be_null", column=cname)]
    if nulls < n:
        mostly = math.floor((1 - nulls / n) * 0.95 * 100) / 100
        return [_exp("expect_column_values_to_not_be_null", column=cname, mostly=mostly)]
    return []


def _numeric(s: Any, values: Any, cname: str, integer: bool) -> list[Expectation]:
    """Type list, range with a margin, small integer value sets, and the mean (warning) of a numeric column."""
    exps = [
        _exp(
            "expect_column_values_to_be_in_type_list",
            column=cname,
            type_list=sorted({str(s.dtype), "float64"} if integer else {str(s.dtype)}),
        )
    ]
    lo, hi = float(values.min()), float(values.max())
    margin = (hi - lo) * RANGE_MARGIN or abs(hi) * RANGE_MARGIN or 1.0
    low = lo - margin
    if lo >= 0 and low < 0:
        low = 0  # a non-negative column stays non-negative
    exps.append(
        _exp("expect_column_values_to_be_between", column=cname, min_value=_number(low), max_value=_number(hi + margin))
    )
    if values.nunique() <= MAX_CATEGORIES and integer and values.nunique() <= 5:
        exps.append(
            _exp(
                "expect_column_distinct_values_to_be_in_set",
                column=cname,
                value_set=sorted(_number(v) for v in values.unique()),
            )
        )
    mean, std = float(values.mean()), float(values.std() or 0.0)
    tol = std * MEAN_TOLERANCE or abs(mean) * 0.1 or 1.0
    exps.append(
        _exp(
            "expect_column_mean_to_be_between",
            severity="warning",
            column=cname,
            min_value=_number(mean - tol),
            max_value=_number(mean + tol),
        )
    )
    return exps


def _column(s: Any, cname: str, n: int) -> list[Expectation]:
    """The expectations of one column (pandas Series ``s``) of a frame with ``n`` rows."""
    import pandas as pd
    from pandas.api import types as ptypes

    exps = _not_null(cname, int(s.isna().sum()), n)
    values = s.dropna()
    if ptypes.is_bool_dtype(s):
        exps.append(_exp("expect_column_values_to_be_in_set", column=cname, value_set=[False, True]))
    elif ptypes.is_numeric_dtype(s) and len(values):
        exps += _numeric(s, values, cname, ptypes.is_integer_dtype(s))
    elif (isinstance(s.dtype, pd.CategoricalDtype) or ptypes.is_object_dtype(s) or ptypes.is_string_dtype(s)) and len(
        values
    ):
        uniques = values.astype(str).unique()
        if len(uniques) <= MAX_CATEGORIES:
            exps.append(
                _exp("expect_column_values_to_be_in_set", column=cname, value_set=sorted(str(v) for v in uniques))
            )
    return exps


def propose_suite(df: Any, name: str) -> dict[str, Any]:
    """A starter suite (canonical dict) for DataFrame ``df``."""
    n = int(len(df))
    exps = [
        _exp("expect_table_columns_to_match_set", column_set=sorted(str(c) for c in df.columns), exact_match=True),
        _exp("expect_table_row_count_to_be_between", min_value=max(1, n // 2), max_value=n * 2),
    ]
    for col in df.columns:
        exps += _column(df[col], str(col), n)
    return {
        "name": name,
        "expectations": exps,
        "meta": {"nbprod": {"generated_from_rows": n, "generated_digest": expectations_digest(exps)}},
    }


def was_edited(existing: dict[str, Any]) -> bool:
    """True when a person changed the suite since nbprod proposed it (or nbprod never wrote it)."""
    marker = existing.get("meta", {}).get("nbprod", {}) if isinstance(existing.get("meta"), dict) else {}
    return marker.get("generated_digest") != expectations_digest(existing.get("expectations", []))
