"""What a build says while it runs: :class:`StepEvent` with a closed set of kinds, and the sink type.

Core vocabulary: the engine, the gatekeeper and the workflow emit events; the CLI and the Jupyter panel render
them (``nbprod.views.events_text``). Keeping the words here, below all of them, is what lets the producers of
events stay independent of the orchestrator that calls them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Callable

__all__ = ["EventKind", "StepEvent", "EventSink", "ignore"]


class EventKind(str, enum.Enum):
    """The kinds of :class:`StepEvent`, in the order a run emits them."""

    PLAN = "plan"  #: the steps about to be built, once per run
    START = "start"  #: a step starts
    DONE = "done"  #: a step finished (``elapsed`` seconds)
    SKIPPED = "skipped"  #: a step is up to date and was not run
    FAILED = "failed"  #: a step raised; ``message`` is the root cause
    ABORTED = "aborted"  #: a step was not run (an upstream step or gate failed)
    GATE = "gate"  #: a data gate or a ``require:`` threshold passed
    GATE_FAILED = "gate-failed"  #: a data gate or a ``require:`` threshold failed
    NOTE = "note"  #: progress text (tracking, packaging, the fast path)
    TRACKED = "tracked"  #: the MLflow run was logged
    PACKAGED = "packaged"  #: the Bento was built

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class StepEvent:
    """Progress of a run. ``kind`` compares equal to its string value (``e.kind == "done"``)."""

    kind: EventKind
    step: str = ""
    elapsed: float = 0.0
    message: str = ""


#: Where events go: the CLI prints them, the panel appends them to its log.
EventSink = Callable[[StepEvent], None]


def ignore(event: StepEvent) -> None:
    """The sink used when the caller passed none."""
