"""What the engine needs from its caller (:class:`StepHooks`) and what it hands back (:class:`BuildOutcome`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Protocol

from nbprod.events import EventKind, EventSink, StepEvent

__all__ = ["BuildOutcome", "StepHooks"]


class StepHooks(Protocol):
    """Called by the engine around each step; the gatekeeper satisfies it (the engine never names it)."""

    def blocked(self, step: str) -> Optional[str]:
        """Why ``step`` must not run (e.g. a failed gate upstream), or None."""

    def after(self, step: str) -> None:
        """``step`` finished: check what has to be checked right away."""


@dataclass
class BuildOutcome:
    """The steps that ran (in order, with their wall time) and the steps that were up to date."""

    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def step_done(self, name: str, elapsed: float, emit: EventSink, hooks: Optional[StepHooks]) -> None:
        """``name`` ran in ``elapsed`` seconds: recorded, announced, and checked by the hooks."""
        self.ran.append(name)
        self.timings[name] = elapsed
        emit(StepEvent(EventKind.DONE, name, elapsed))
        if hooks is not None:
            hooks.after(name)
