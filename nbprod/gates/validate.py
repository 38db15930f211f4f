"""Gates: Great Expectations data contracts (``gate:<var>``) and evaluation thresholds (``require:``).

Great Expectations is imported at most once per process, only when a gate actually has to be validated
(a result for the same suite and the same data is reused). Critical expectations fail a gate; warnings are
reported. Every validation writes a JSON summary and a self-contained HTML report under ``.nbprod/gates/``.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

from nbprod.errors import CellRef, RunError
from nbprod.gates.suites import Suite, SuiteError, load_suite

__all__ = [
    "ExpectationOutcome",
    "GateResult",
    "RequirementOutcome",
    "GateFailedError",
    "validate_frame",
    "run_gate",
    "cached_gate",
    "check_requirements",
    "gates_dir",
]

EXAMPLES = 5


class GateFailedError(RunError):
    """A data gate or an evaluation gate failed; nothing downstream ran."""

    exit_code = 1


@dataclass
class ExpectationOutcome:
    index: int
    type: str
    column: Optional[str]
    severity: str
    success: bool
    observed: Any = None
    unexpected_count: Optional[int] = None
    unexpected_percent: Optional[float] = None
    examples: list = field(default_factory=list)
    kwargs: dict = field(default_factory=dict)

    def describe(self) -> str:
        col = f"column {self.column!r}: " if self.column else ""
        text = f"{col}{self.type}"
        if self.unexpected_count:
            pct = f" ({self.unexpected_percent:.1f}%)" if self.unexpected_percent is not None else ""
            text += f", {self.unexpected_count} row(s) failed{pct}"
        if self.examples:
            text += f", e.g. {', '.join(repr(v) for v in self.examples)}"
        if self.observed is not None and not self.unexpected_count:
            text += f", observed {_short(self.observed)}"
        expected = {k: v for k, v in self.kwargs.items() if k not in ("column", "mostly")}
        if expected:
            text += f"; expected {_short(expected)}"
        return text


@dataclass
class GateResult:
    pipeline: str
    step: str
    variable: str
    suite: str
    success: bool
    rows: int
    columns: list[str]
    outcomes: list[ExpectationOutcome]
    elapsed: float = 0.0
    key: str = ""
    report_html: str = ""
    report_json: str = ""
    cached: bool = False

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity == "critical"]

    @property
    def warnings(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity != "critical"]

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("cached")
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "GateResult":
        outcomes = [ExpectationOutcome(**o) for o in data.pop("outcomes")]
        return cls(outcomes=outcomes, **data)


@dataclass
class RequirementOutcome:
    step: str
    requirement: str
    metric: str
    value: Optional[float]
    passed: bool
    cell: Optional[CellRef] = None

    def describe(self) -> str:
        value = "not computed" if self.value is None else f"{self.value:.6g}"
        where = f" ({self.cell})" if self.cell else ""
        return f"{self.metric} = {value}, required {self.requirement}{where}"


def _short(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, default=str, sort_keys=True) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    try:
        return _jsonable(value.item())  # numpy scalars
    except AttributeError:
        return str(value)


def gates_dir(project: Path, pipeline: str) -> Path:
    return project / ".nbprod" / "gates" / pipeline


@lru_cache(maxsize=1)
def _gx():
    """The Great Expectations module and one ephemeral context with a pandas batch definition, once per process."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import logging

    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
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

    for i, exp in zip(indexes, suite.expectations):
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


def validate_frame(df: Any, suite: Suite) -> list[ExpectationOutcome]:
    """Validate DataFrame ``df`` against ``suite`` with Great Expectations.

    An expectation on a column the data does not have fails (it is a data problem: a dropped column), with the
    column named; every other expectation is validated by GX.
    """
    present = {str(c) for c in df.columns}
    missing: dict[int, list[str]] = {}
    for i, exp in enumerate(suite.expectations):
        absent = [c for c in _columns_named(exp.get("kwargs", {})) if c not in present]
        if absent:
            missing[i] = absent
    runnable = Suite(
        suite.name, [e for i, e in enumerate(suite.expectations) if i not in missing], suite.meta, suite.path
    )
    gx_results: list[Any] = []
    if runnable.expectations:
        gx_suite = _build_gx_suite(runnable, [i for i in range(len(suite.expectations)) if i not in missing])
        _, ctx, batch_def = _gx()
        try:
            res = batch_def.get_batch(batch_parameters={"dataframe": df}).validate(gx_suite, result_format="SUMMARY")
        finally:
            ctx.suites.delete(gx_suite.name)
        gx_results = list(res.results)
    outcomes = []
    results = iter(gx_results)
    for i, exp in enumerate(suite.expectations):
        kwargs = exp.get("kwargs", {})
        severity = exp.get("severity", "critical")
        if i in missing:
            outcomes.append(
                ExpectationOutcome(
                    i,
                    exp["type"],
                    kwargs.get("column"),
                    severity,
                    False,
                    observed=f"column(s) {', '.join(missing[i])} missing from the data",
                    kwargs=_jsonable(kwargs),
                )
            )
            continue
        r = next(results)
        result = r.result or {}
        examples = [_jsonable(v) for v in (result.get("partial_unexpected_list") or [])[:EXAMPLES]]
        outcomes.append(
            ExpectationOutcome(
                index=i,
                type=exp["type"],
                column=kwargs.get("column"),
                severity=severity,
                success=bool(r.success),
                observed=_jsonable(result.get("observed_value")),
                unexpected_count=result.get("unexpected_count"),
                unexpected_percent=_jsonable(result.get("unexpected_percent")),
                examples=examples,
                kwargs=_jsonable(kwargs),
            )
        )
    return outcomes


def _key(suite_file: Path, product: Path) -> str:
    h = hashlib.sha256(suite_file.read_bytes())
    for p in sorted(product.rglob("*")) if product.is_dir() else [product]:
        st = p.stat()
        h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


def _paths(project: Path, pipeline: str, variable: str) -> tuple[Path, str, Path, Path]:
    spath = project / "expectations" / pipeline / f"{variable}.json"
    out = gates_dir(project, pipeline)
    return spath, f"expectations/{pipeline}/{variable}.json", out / f"{variable}.json", out / f"{variable}.html"


def cached_gate(
    project: Path, pipeline: str, variable: str, product: Path, key: Optional[str] = None
) -> Optional[GateResult]:
    """The last result of this gate when neither the suite nor the data changed since (no GX import)."""
    spath, _, report_json, report_html = _paths(project, pipeline, variable)
    try:
        cached = GateResult.from_dict(json.loads(report_json.read_text()))
        if cached.key == (key or _key(spath, product)) and report_html.exists():
            cached.cached = True
            return cached
    except (OSError, ValueError, TypeError, KeyError):
        pass
    return None


def run_gate(
    project: Path, pipeline: str, step: str, variable: str, product: Path, *, notebook: str = ""
) -> GateResult:
    """Validate the product ``variable`` of ``step`` against its suite; reuse the last result for the same suite and data."""
    spath, shown, report_json, report_html = _paths(project, pipeline, variable)
    suite = load_suite(
        spath,
        shown=shown,
        run_hint=f"create it from a good run: nbprod expect {notebook or '<notebook>'}, then review the proposed suite",
    )
    out = report_json.parent
    key = _key(spath, product)
    previous = cached_gate(project, pipeline, variable, product, key)
    if previous is not None:
        return previous
    from nbprod.io import load_value

    df = load_value(product)
    if not hasattr(df, "columns"):
        raise SuiteError(
            f"gate:{variable} got a {type(df).__name__}, not a pandas DataFrame",
            path=shown,
            fix=f"gate a DataFrame: step {step!r} must assign a DataFrame to {variable!r}",
        )
    t0 = time.perf_counter()
    outcomes = validate_frame(df, suite)
    success = not any(not o.success and o.severity == "critical" for o in outcomes)
    result = GateResult(
        pipeline,
        step,
        variable,
        shown,
        success,
        int(len(df)),
        [str(c) for c in df.columns],
        outcomes,
        time.perf_counter() - t0,
        key,
        str(report_html.relative_to(project)),
        str(report_json.relative_to(project)),
    )
    out.mkdir(parents=True, exist_ok=True)
    _atomic_write(report_html, render_html(result))
    _atomic_write(report_json, json.dumps(result.to_dict(), indent=2, sort_keys=True, default=str))
    return result


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def check_requirements(step: Any, metrics: dict[str, float]) -> list[RequirementOutcome]:
    """Compare the metrics of ``step`` (a plan Step) with its ``require:`` thresholds."""
    outcomes = []
    for req, cell in step.requires:
        value = metrics.get(req.metric)
        passed = value is not None and req.holds(value)
        outcomes.append(RequirementOutcome(step.name, str(req), req.metric, value, passed, cell.ref))
    return outcomes


def render_html(result: GateResult) -> str:
    e = html.escape
    status = "passed" if result.success else "FAILED"
    rows = []
    for o in result.outcomes:
        state = "pass" if o.success else ("fail" if o.severity == "critical" else "warn")
        rows.append(
            f"<tr class='{state}'><td>{o.index}</td><td>{e(state)}</td><td>{e(o.severity)}</td><td>{e(o.column or '')}</td>"
            f"<td><code>{e(o.type)}</code></td><td><code>{e(_short(o.kwargs, 300))}</code></td>"
            f"<td>{e(_short(o.observed, 200)) if o.observed is not None else ''}</td>"
            f"<td>{'' if o.unexpected_count is None else e(str(o.unexpected_count))}</td>"
            f"<td>{e(', '.join(repr(v) for v in o.examples))}</td></tr>"
        )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Gate {e(result.variable)}: {status}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2rem;color:#222}} table{{border-collapse:collapse;width:100%}}
td,th{{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top;font-size:.9rem}}
tr.fail{{background:#fde2e2}} tr.warn{{background:#fff4d6}} tr.pass{{background:#eef9ee}} code{{font-size:.85rem}}
.status{{font-weight:bold;color:{"#1a7f37" if result.success else "#b42318"}}}
</style></head><body>
<h1>Gate <code>{e(result.variable)}</code> after step <code>{e(result.step)}</code>: <span class="status">{status}</span></h1>
<p>Pipeline <code>{e(result.pipeline)}</code>, suite <code>{e(result.suite)}</code>, {result.rows} rows,
columns: {e(", ".join(result.columns))}.</p>
<p>{len(result.failed)} critical failure(s), {len(result.warnings)} warning(s), {len(result.outcomes)} expectation(s).</p>
<table><tr><th>#</th><th>result</th><th>severity</th><th>column</th><th>expectation</th><th>expected</th><th>observed</th>
<th>failed rows</th><th>examples</th></tr>
{"".join(rows)}
</table></body></html>
"""
