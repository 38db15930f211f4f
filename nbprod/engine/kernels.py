"""Isolated steps: the kernel manager papermill starts their kernels with, so a kernel's own log goes to a file.

A kernel process writes to its standard error what is not the notebook's output: ipykernel's start-up warnings
("Kernel is running over TCP without encryption") and, now and then, a traceback from a race in its shutdown
(``zmq.error.ZMQError: Socket operation on non-socket``) after the step has finished. Inherited, that would land in
the user's terminal in the middle of nbprod's report; the notebook's own output (``print``, warnings, errors) goes
through the kernel's messages into the executed notebook either way. Every step's kernel also gets one string-hash
seed (:func:`nbprod._core.env.step_kernel_env`), so that a set of strings iterates in one order in all steps."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional

from nbprod._core.env import step_kernel_env

__all__ = ["step_kernel_manager"]

log = logging.getLogger(__name__)


def step_kernel_manager(path: Optional[Path]) -> type:
    """A subclass of jupyter_client's ``AsyncKernelManager`` (nbclient's default) whose kernels get the steps' hash
    seed and append their standard error to ``path`` (None: inherited); for papermill's ``kernel_manager_class``."""
    from jupyter_client import AsyncKernelManager

    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)

    class StepKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]  # AsyncKernelManager's start_kernel is _async_start_kernel
            kw["env"] = step_kernel_env(kw.get("env"))
            if "stderr" in kw or path is None:
                return await super().start_kernel(**kw)
            with path.open("ab") as stderr:  # the kernel holds its own copy of the descriptor
                log.debug("kernel %s: its standard error goes to %s", self.kernel_name, path)
                return await super().start_kernel(stderr=stderr, **kw)

    return StepKernelManager
