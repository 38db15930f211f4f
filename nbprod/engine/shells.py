"""In-process steps: the IPython shells ploomber-engine makes for them, closed when the build ends, and the display
defaults of a Jupyter kernel while they run."""

from __future__ import annotations

import atexit
import contextlib
import logging
from typing import Any, Iterator

__all__ = ["closing_shells", "kernel_display"]

log = logging.getLogger(__name__)


@contextlib.contextmanager
def closing_shells() -> Iterator[None]:
    """ploomber-engine makes one IPython shell per in-process step, and each registers an exit handler whose
    ``reset()`` runs ``gc.collect()``: paid when the process exits, once per step run (1.2 s for the classifier's
    four steps here; minutes in a long-lived process that ran many builds). The shells are closed when the build
    ends instead: their history thread stopped, their exit handlers unregistered."""
    from ploomber_engine.ipython import PloomberShell

    shells: list[Any] = []
    original = PloomberShell.__init__

    def init(self: Any) -> None:
        original(self)
        shells.append(self)

    PloomberShell.__init__ = init
    try:
        yield
    finally:
        PloomberShell.__init__ = original
        for shell in shells:
            atexit.unregister(shell.atexit_operations)
            thread = getattr(shell.history_manager, "save_thread", None)
            if thread is not None:
                atexit.unregister(thread.stop)
                thread.stop()
        log.debug("closed %d in-process IPython shells", len(shells))


@contextlib.contextmanager
def kernel_display() -> Iterator[None]:
    """pandas chooses ``display.max_columns`` when it is imported: 20 in a Jupyter kernel (wide frames wrap at
    ``display.width``), 0 outside one, which fits frames to the terminal and drops the middle columns ("...").
    An in-process step is not a kernel, yet it must print what the notebook printed: the kernel's value while the
    build runs, the caller's afterwards."""
    import pandas as pd

    before = pd.get_option("display.max_columns")
    pd.set_option("display.max_columns", 20)
    try:
        yield
    finally:
        pd.set_option("display.max_columns", before)
