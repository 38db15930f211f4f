"""The order of the steps, and the walks over the step graph that other parts of nbprod need.

A step runs after the steps it takes inputs from and the steps its ``after:`` tags name (its ``upstream``); among
the steps ready to run, notebook order decides (Kahn's algorithm). :func:`ancestors` and :func:`depths` walk the
``upstream`` graph of a finished plan: for the gatekeeper (which gates must pass before a step) and the DAG picture
(which column a step is drawn in).
"""

from __future__ import annotations

from nbprod.plan.model import Pipeline, Step
from nbprod.plan.report import Report

__all__ = ["order_steps", "ancestors", "depths"]


def order_steps(steps: list[Step], report: Report) -> list[Step]:
    """Set each step's ``upstream`` and return the steps in run order (notebook order if they form a cycle)."""
    _link_upstream(steps, report)
    order = _kahn(steps)
    if len(order) < len(steps):
        _report_cycle([s for s in steps if s.name not in order], report)
        return list(steps)
    by_name = {s.name: s for s in steps}
    return [by_name[n] for n in order]


def _link_upstream(steps: list[Step], report: Report) -> None:
    """``upstream``: the producers of a step's inputs in notebook order, then the valid steps its ``after:`` names."""
    names = [s.name for s in steps]
    pos = {n: i for i, n in enumerate(names)}
    for step in steps:
        ups = sorted(set(step.inputs.values()), key=pos.__getitem__)
        for a in step.after:
            cell = next(c for c in step.code_cells if a in c.values("after"))
            if a not in pos:
                report.add_finding(
                    "NB014",
                    f"after:{a} names an unknown step",
                    cell,
                    f"use one of the steps: {', '.join(names)}" if names else "define the step first",
                )
            elif a == step.name:
                report.add_finding(
                    "NB015", f"step {step.name!r} cannot run after itself", cell, "remove the after: tag"
                )
            elif a not in ups:
                ups.append(a)
        step.upstream = ups


def _kahn(steps: list[Step]) -> list[str]:
    """Step names in topological order, ties broken by notebook order; steps on a cycle are left out."""
    names = [s.name for s in steps]
    pos = {n: i for i, n in enumerate(names)}
    indeg = {n: 0 for n in names}
    for s in steps:
        for u in s.upstream:
            if u in indeg and u != s.name:
                indeg[s.name] += 1
    ready = [n for n in names if indeg[n] == 0]
    result: list[str] = []
    while ready:
        ready.sort(key=pos.__getitem__)
        n = ready.pop(0)
        result.append(n)
        for s in steps:
            if n in s.upstream and s.name != n:
                indeg[s.name] -= 1
                if indeg[s.name] == 0:
                    ready.append(s.name)
    return result


def _report_cycle(stuck: list[Step], report: Report) -> None:
    cells = [c for s in stuck for c in s.code_cells if c.values("after")]
    where = ", ".join(f"{c.ref}" for c in cells)
    report.add_finding(
        "NB015",
        f"the steps {', '.join(s.name for s in stuck)} form a cycle (after: tags against the data flow; see {where})",
        cells[0] if cells else None,
        "remove the after: tag that points to a later step, or reorder the cells",
    )


def ancestors(plan: Pipeline) -> dict[str, list[str]]:
    """For every step, the steps it depends on directly or transitively, in plan order."""
    order = [s.name for s in plan.steps]
    ups = {s.name: set(s.upstream) for s in plan.steps}
    result: dict[str, list[str]] = {}
    for name in order:
        seen: set[str] = set()
        stack = list(ups[name])
        while stack:
            n = stack.pop()
            if n not in seen:
                seen.add(n)
                stack.extend(ups.get(n, ()))
        result[name] = [n for n in order if n in seen]
    return result


def depths(plan: Pipeline) -> dict[str, int]:
    """For every step, the length of the longest path to it from a step with no upstream (0 for those).

    Bounded passes, so a cyclic plan (``build_plan(..., strict=False)``) still terminates, with depths capped at the
    number of steps minus one.
    """
    names = [s.name for s in plan.steps]
    depth = {n: 0 for n in names}
    for _ in range(len(names)):
        changed = False
        for s in plan.steps:
            best = max((depth[u] + 1 for u in s.upstream if u in depth and u != s.name), default=0)
            best = min(best, len(names) - 1)
            if best != depth[s.name]:
                depth[s.name], changed = best, True
        if not changed:
            break
    return depth
