"""Validating a DataFrame against an expectation suite with Great Expectations: the only module that imports GX.

Great Expectations is imported at most once per process (:func:`_gx`), only when a gate actually has to be
validated: :mod:`nbprod.gates.store` reuses a result for the same suite and the same data without calling here.
Critical expectations fail a gate; warnings are reported.
"""

from __future__ import annotations

import hashlib
import os
import time
from functools import lru_cache
from typing import Any

from nbprod._core.env import quiet_loggers
from nbprod.errors import SuiteError
from nbprod.gates.model import ExpectationOutcome, finite, jsonable
from nbprod.gates.suites import Suite

__all__ = ["validate_frame", "EXAMPLES"]

EXAMPLES = 5


_GX_LOGGERS = ("great_expectations",)


@lru_cache(maxsize=1)
def _gx() -> tuple[Any, Any, Any]:
    """The Great Expectations module and one ephemeral context with a pandas batch definition, once per process."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    with quiet_loggers(_GX_LOGGERS):
        return _load_gx()


def _load_gx() -> tuple[Any, Any, Any]:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_def = (
        ctx.data_sources.add_pandas("nbprod").add_dataframe_asset("frame").add_batch_definition_whole_dataframe("all")
    )
    return gx, ctx, batch_def


def _columns_named(kwargs: dict) -> list[str]:
    cols = [kwargs[k] for k in ("column", "column_A", "column_B") if isinstance(kwargs.get(k), str)]
    if isinstance(kwargs.get("column_list"), list):
        cols += [c for c in kwargs["column_list"] if isinstance(c, str)]
    return cols


def _build_gx_suite(suite: Suite, indexes: list[int]) -> Any:
    gx, ctx, _ = _gx()
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    for i, exp in zip(indexes, suite.expectations, strict=True):
        try:
            ExpectationConfiguration(
                type=exp["type"], kwargs=exp.get("kwargs", {}), severity=exp.get("severity", "critical")
            ).to_domain_obj()
        except Exception as exc:  # GX raises several unrelated types for bad configurations
            kind = (
                "is not a known Great Expectations expectation type"
                if "not found" in str(exc)
                else "has invalid kwargs"
            )
            detail = str(exc).replace("\n", " ")[:200]
            raise SuiteError(
                f"expectation {i} ({exp['type']}) {kind}: {detail}",
                path=suite.path,
                fix="use an expectation from the GX gallery with its documented kwargs "
                "(e.g. expect_column_values_to_not_be_null with column=...)",
            ) from exc
    name = f"{suite.name}-{hashlib.sha1(suite.path.encode()).hexdigest()[:8]}-{time.perf_counter_ns()}"
    return ctx.suites.add(gx.ExpectationSuite(**{**suite.to_gx(), "name": name}))


def _missing_columns(df: Any, suite: Suite) -> dict[int, list[str]]:
    """Expectation index -> the columns it names that ``df`` does not have."""
    present = {str(c) for c in df.columns}
    missing: dict[int, list[str]] = {}
    for i, exp in enumerate(suite.expectations):
        absent = [c for c in _columns_named(exp.get("kwargs", {})) if c not in present]
        if absent:
            missing[i] = absent
    return missing


def _run_gx(df: Any, suite: Suite, indexes: list[int]) -> list[Any]:
    """GX's results for the expectations ``indexes`` of ``suite``, in that order."""
    if not indexes:
        return []
    runnable = Suite(suite.name, [suite.expectations[i] for i in indexes], suite.meta, suite.path)
    gx_suite = _build_gx_suite(runnable, indexes)
    _, ctx, batch_def = _gx()
    try:
        res = batch_def.get_batch(batch_parameters={"dataframe": df}).validate(gx_suite, result_format="SUMMARY")
    finally:
        ctx.suites.delete(gx_suite.name)
    return list(res.results)


def _outcome(i: int, exp: dict[str, Any], r: Any) -> ExpectationOutcome:
    kwargs = exp.get("kwargs", {})
    result = r.result or {}
    return ExpectationOutcome(
        index=i,
        type=exp["type"],
        column=kwargs.get("column"),
        severity=exp.get("severity", "critical"),
        success=bool(r.success),
        observed=jsonable(result.get("observed_value")),
        unexpected_count=result.get("unexpected_count"),
        unexpected_percent=finite(result.get("unexpected_percent")),
        examples=[jsonable(v) for v in (result.get("partial_unexpected_list") or [])[:EXAMPLES]],
        kwargs=jsonable(kwargs),
    )


def _missing_outcome(i: int, exp: dict[str, Any], absent: list[str]) -> ExpectationOutcome:
    kwargs = exp.get("kwargs", {})
    return ExpectationOutcome(
        i,
        exp["type"],
        kwargs.get("column"),
        exp.get("severity", "critical"),
        False,
        observed=f"column(s) {', '.join(absent)} missing from the data",
        kwargs=jsonable(kwargs),
    )


def validate_frame(df: Any, suite: Suite) -> list[ExpectationOutcome]:
    """Validate DataFrame ``df`` against ``suite`` with Great Expectations.

    An expectation on a column the data does not have fails (it is a data problem: a dropped column), with the
    column named; every other expectation is validated by GX.
    """
    missing = _missing_columns(df, suite)
    with quiet_loggers(_GX_LOGGERS):  # GX's own warnings, only for this call: the levels come back afterwards
        results = iter(_run_gx(df, suite, [i for i in range(len(suite.expectations)) if i not in missing]))
    return [
        _missing_outcome(i, exp, missing[i]) if i in missing else _outcome(i, exp, next(results))
        for i, exp in enumerate(suite.expectations)
    ]
