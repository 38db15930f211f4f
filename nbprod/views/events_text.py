"""One line of text per :class:`~nbprod.events.StepEvent`: the same words in the terminal and in the panel."""

from __future__ import annotations

from nbprod.events import EventKind, StepEvent

__all__ = ["event_text"]


def event_text(e: StepEvent, *, with_cause: bool = False) -> str:
    """The event as one line (no indentation). ``with_cause`` appends a failed step's root cause (the CLI prints
    the full error afterwards instead)."""
    kind = EventKind(e.kind)
    if kind is EventKind.PLAN:
        return f"nbprod run: {e.message}"
    if kind is EventKind.START:
        return f"▶ {e.step} ..."
    if kind is EventKind.DONE:
        return f"✓ {e.step} ({e.elapsed:.2f} s)"
    if kind is EventKind.SKIPPED:
        return f"· {e.step} up to date (skipped)"
    if kind is EventKind.FAILED:
        return f"✗ {e.step} failed after {e.elapsed:.2f} s" + (f": {e.message}" if with_cause and e.message else "")
    if kind is EventKind.ABORTED:
        return f"- {e.step} not run: {e.message}"
    if kind is EventKind.GATE:
        return f"✓ {e.step}: {e.message}"
    if kind is EventKind.GATE_FAILED:
        return f"✗ {e.step}: {e.message}"
    return e.message
