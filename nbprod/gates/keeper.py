"""The gatekeeper: decides, during a build, whether a step may run given the gates of the steps before it.

After a step with ``gate:`` or ``require:`` runs, its gates are checked at once. Before any step runs, the gates
of all its ancestors must have passed (checked in this run, or reused for the same suite and data). At the end,
every gate of the pipeline has a result, so a failed gate always fails the run, even when nothing had to re-run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from nbprod.errors import GateFailedError
from nbprod.events import EventKind, EventSink, StepEvent
from nbprod.gates.model import GateResult, RequirementOutcome, check_requirements
from nbprod.gates.store import cached_gate, run_gate
from nbprod.io import load_metrics
from nbprod.plan.model import Pipeline, Step
from nbprod.plan.order import ancestors

__all__ = ["GateKeeper"]


class GateKeeper:
    def __init__(
        self,
        plan: Pipeline,
        project: Path,
        products: dict[str, dict[str, Path]],
        notebook: str,
        emit: EventSink,
        validator: Callable[..., GateResult] = run_gate,
    ) -> None:
        self.plan = plan
        self.validator = validator
        self.project = project
        self.products = products
        self.notebook = notebook
        self.emit = emit
        self.gates: dict[tuple[str, str], GateResult] = {}
        self.requirements: dict[str, list[RequirementOutcome]] = {}
        self._checked: set[str] = set()
        self._ancestors = ancestors(plan)

    @property
    def needs_validation(self) -> bool:
        """True unless every gate already has a result for its current suite and data."""
        for step in self.plan.steps:
            for var in step.gates:
                product = self.products[step.name][var]
                if not product.exists() or cached_gate(self.project, self.plan.name, var, product) is None:
                    return True
        return False

    def check(self, step_name: str) -> None:
        """Check the gates and thresholds of ``step_name`` (once per run)."""
        if step_name in self._checked:
            return
        self._checked.add(step_name)
        step = self.plan.step(step_name)
        for var in step.gates:
            self._check_gate(step, var)
        if step.requires:
            self._check_requirements(step)

    def _check_gate(self, step: Step, var: str) -> None:
        product = self.products[step.name][var]
        result = cached_gate(self.project, self.plan.name, var, product) if product.exists() else None
        if result is None:
            result = self.validator(self.project, self.plan.name, step.name, var, product, notebook=self.notebook)
        self.gates[(step.name, var)] = result
        state = "passed" if result.success else "FAILED"
        warn = f", {len(result.warnings)} warning(s)" if result.warnings else ""
        reused = " (same data and suite as before)" if result.cached else ""
        self.emit(
            StepEvent(
                EventKind.GATE if result.success else EventKind.GATE_FAILED,
                step.name,
                result.elapsed,
                f"gate {var}: {state}, {len(result.outcomes)} expectations, {len(result.failed)} failed{warn}{reused}",
            )
        )

    def _check_requirements(self, step: Step) -> None:
        mpath = self.products[step.name].get("metrics")
        metrics = load_metrics(mpath) if mpath is not None and mpath.exists() else {}
        outcomes = check_requirements(step, metrics)
        self.requirements[step.name] = outcomes
        for o in outcomes:
            self.emit(
                StepEvent(
                    EventKind.GATE if o.passed else EventKind.GATE_FAILED,
                    step.name,
                    0.0,
                    f"require {o.requirement}: {'passed' if o.passed else 'FAILED'} ({o.metric} = "
                    f"{'missing' if o.value is None else format(o.value, '.4g')})",
                )
            )

    def after(self, step_name: str) -> None:
        """The engine's hook after a step ran: check its gates at once."""
        self.check(step_name)

    def blocked(self, step_name: str) -> Optional[str]:
        """Why ``step_name`` must not run (a failed gate upstream), or None."""
        for anc in self._ancestors[step_name]:
            step = self.plan.step(anc)
            if not (step.gates or step.requires):
                continue
            self.check(anc)
            for var in step.gates:
                if not self.gates[(anc, var)].success:
                    return f"gate {var} after step {anc!r} failed"
            for o in self.requirements.get(anc, []):
                if not o.passed:
                    return f"require {o.requirement} of step {anc!r} failed"
        return None

    def finish(self) -> None:
        """Check every remaining gate; raise :class:`GateFailedError` if any failed."""
        for step in self.plan.steps:
            if step.gates or step.requires:
                self.check(step.name)
        failed_gates = [r for r in self.gates.values() if not r.success]
        failed_reqs = [o for outs in self.requirements.values() for o in outs if not o.passed]
        if failed_gates or failed_reqs:
            raise GateFailedError(
                self.summary(failed_gates, failed_reqs),
                path=self.plan.notebook.path,
                fix=self._fix(failed_gates, failed_reqs),
            )

    def summary(self, failed_gates: list[GateResult], failed_reqs: list[RequirementOutcome]) -> str:
        lines = []
        for r in failed_gates:
            lines.append(
                f"gate {r.variable} after step {r.step!r} failed ({len(r.failed)} of {len(r.outcomes)} expectations, "
                f"suite {r.suite}):"
            )
            lines += [f"    - {o.describe()}" for o in r.failed]
            lines.append(f"    report: {r.report_html}")
        for o in failed_reqs:
            lines.append(f"evaluation gate failed in step {o.step!r}: {o.describe()}")
        downstream = self._downstream({r.step for r in failed_gates} | {o.step for o in failed_reqs})
        if downstream:
            lines.append(
                f"not run: {', '.join(downstream)} "
                "(downstream of the failed gate; their previous products are untouched)"
            )
        return "\n".join(lines)

    def _downstream(self, failed_steps: set[str]) -> list[str]:
        return [s.name for s in self.plan.steps if set(self._ancestors[s.name]) & failed_steps]

    def _fix(self, failed_gates: list[GateResult], failed_reqs: list[RequirementOutcome]) -> str:
        if failed_gates:
            return (
                "fix the data or the step that produces it; if the data is right and the contract is wrong, edit "
                f"{failed_gates[0].suite} (review the change), then re-run `nbprod run {self.notebook}`"
            )
        return (
            "improve the model or review the threshold in the notebook's require: tag, "
            f"then re-run `nbprod run {self.notebook}`"
        )
