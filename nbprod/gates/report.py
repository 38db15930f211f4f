"""The HTML report of one gate result: a self-contained page (inline CSS, every value escaped)."""

from __future__ import annotations

import html

from nbprod.gates.model import ExpectationOutcome, GateResult, short

__all__ = ["render_html"]


_STYLE = """<style>
body{font-family:system-ui,sans-serif;margin:2rem;color:#222} table{border-collapse:collapse;width:100%}
td,th{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top;font-size:.9rem}
tr.fail{background:#fde2e2} tr.warn{background:#fff4d6} tr.pass{background:#eef9ee} code{font-size:.85rem}
.status{font-weight:bold;color:COLOUR}
</style>"""

_HEADER = (
    "<table><tr><th>#</th><th>result</th><th>severity</th><th>column</th><th>expectation</th><th>expected</th>"
    "<th>observed</th>\n<th>failed rows</th><th>examples</th></tr>"
)


def _row(o: ExpectationOutcome) -> str:
    e = html.escape
    state = "pass" if o.success else ("fail" if o.severity == "critical" else "warn")
    return (
        f"<tr class='{state}'><td>{o.index}</td><td>{e(state)}</td><td>{e(o.severity)}</td>"
        f"<td>{e(o.column or '')}</td>"
        f"<td><code>{e(o.type)}</code></td><td><code>{e(short(o.kwargs, 300))}</code></td>"
        f"<td>{e(short(o.observed, 200)) if o.observed is not None else ''}</td>"
        f"<td>{'' if o.unexpected_count is None else e(str(o.unexpected_count))}</td>"
        f"<td>{e(', '.join(repr(v) for v in o.examples))}</td></tr>"
    )


def render_html(result: GateResult) -> str:
    e = html.escape
    status = "passed" if result.success else "FAILED"
    title = (
        f"Gate <code>{e(result.variable)}</code> after step <code>{e(result.step)}</code>: "
        f'<span class="status">{status}</span>'
    )
    counts = (
        f"{len(result.failed)} critical failure(s), {len(result.warnings)} warning(s), "
        f"{len(result.outcomes)} expectation(s)."
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Gate {e(result.variable)}: {status}</title>
{_STYLE.replace("COLOUR", "#1a7f37" if result.success else "#b42318")}</head><body>
<h1>{title}</h1>
<p>Pipeline <code>{e(result.pipeline)}</code>, suite <code>{e(result.suite)}</code>, {result.rows} rows,
columns: {e(", ".join(result.columns))}.</p>
<p>{counts}</p>
{_HEADER}
{"".join(_row(o) for o in result.outcomes)}
</table></body></html>
"""
