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
        with _kernel_streams():
            yield
    finally:
        pd.set_option("display.max_columns", before)


class _Stream:
    """One ``sys.stdout`` (or ``sys.stderr``) for every cell, as a kernel has: writes go to the cell running now."""

    def __init__(self, target: Any) -> None:
        self.target = target

    def write(self, s: str) -> int:
        return self.target.write(s)

    def flush(self) -> None:
        self.target.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)


@contextlib.contextmanager
def _kernel_streams() -> Iterator[None]:
    """ploomber-engine captures each cell's output in a new ``sys.stdout`` object, so what keeps the object it saw
    (``logging.basicConfig(stream=sys.stdout)`` in one cell) writes into a finished cell's capture, lost: the lines a
    later step logs are missing from its notebook. Each cell's capture is reached through one stream instead."""
    import sys

    from ploomber_engine import ipython as engine

    original = engine.patch_sys_std_out_err
    out, err = _Stream(sys.stdout), _Stream(sys.stderr)

    @contextlib.contextmanager
    def captured(display_output: bool) -> Iterator[Any]:
        outside = out.target, err.target
        with original(display_output) as (cell_out, cell_err):
            out.target, err.target = cell_out, cell_err
            sys.stdout, sys.stderr = out, err
            try:
                yield cell_out, cell_err
            finally:
                out.target, err.target = outside

    engine.patch_sys_std_out_err = captured
    try:
        yield
    finally:
        engine.patch_sys_std_out_err = original
