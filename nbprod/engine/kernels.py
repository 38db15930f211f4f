"""Isolated steps: the kernel manager papermill starts their kernels with, so a kernel's own log goes to a file.

A kernel process writes to its standard error what is not the notebook's output: ipykernel's start-up warnings
("Kernel is running over TCP without encryption") and, now and then, a traceback from a race in its shutdown
(``zmq.error.ZMQError: Socket operation on non-socket``) after the step has finished. Inherited, that would land in
the user's terminal in the middle of nbprod's report; the notebook's own output (``print``, warnings, errors) goes
through the kernel's messages into the executed notebook either way."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

__all__ = ["logged_kernel_manager"]

log = logging.getLogger(__name__)


def logged_kernel_manager(path: Path) -> type:
    """A subclass of jupyter_client's ``AsyncKernelManager`` (nbclient's default) whose kernels append their standard
    error to ``path``; for papermill's ``kernel_manager_class``."""
    from jupyter_client import AsyncKernelManager

    path.parent.mkdir(parents=True, exist_ok=True)

    class LoggedKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]  # AsyncKernelManager's start_kernel is _async_start_kernel
            if "stderr" in kw:
                return await super().start_kernel(**kw)
            with path.open("ab") as stderr:  # the kernel holds its own copy of the descriptor
                log.debug("kernel %s: its standard error goes to %s", self.kernel_name, path)
                return await super().start_kernel(stderr=stderr, **kw)

    return LoggedKernelManager
