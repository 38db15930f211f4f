"""The process nbprod runs in: telemetry opt-outs set before a dependency is imported, and third-party loggers
quieted only for the duration of a call (levels are restored afterwards, so a Jupyter kernel that ran the panel
keeps its own logging)."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
import threading
from typing import Iterable, Iterator, Mapping, NoReturn, Optional

from nbprod._core.lazy_imports import defer_rfc3987_syntax

__all__ = ["TELEMETRY_OPT_OUT", "quiet_dependencies", "quiet_loggers", "exit_now", "step_kernel_env"]

#: Opt-out variables of nbprod's dependencies (no telemetry, no network at run time).
TELEMETRY_OPT_OUT = {
    "PLOOMBER_STATS_ENABLED": "false",
    "PLOOMBER_VERSION_CHECK_DISABLED": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "BENTOML_DO_NOT_TRACK": "true",
    "DO_NOT_TRACK": "1",
    "GX_ANALYTICS_ENABLED": "false",
}


def step_kernel_env(env: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    """The environment of a kernel that runs a step (or verify's notebook): ``env`` (default: this process's) with one
    string-hash seed for every kernel (the user's ``PYTHONHASHSEED``, else 0). Each kernel would draw its own, and a
    set of strings made in one step would iterate in another order in the next (``list(vocab)`` as the columns of a
    model trained in one step and used in another)."""
    out = dict(os.environ if env is None else env)
    out["PYTHONHASHSEED"] = out.get("PYTHONHASHSEED") or "0"
    return out


def quiet_dependencies() -> None:
    """Set the opt-out variables (unless the user set them) before any heavy import, and defer the optional imports
    that cost seconds for nothing (:mod:`nbprod._core.lazy_imports`)."""
    for key, value in TELEMETRY_OPT_OUT.items():
        os.environ.setdefault(key, value)
    defer_rfc3987_syntax()


@contextlib.contextmanager
def quiet_loggers(names: Iterable[str], level: int = logging.ERROR) -> Iterator[None]:
    """Raise the level of the loggers ``names`` to ``level`` inside the block, then restore what they had."""
    loggers = [logging.getLogger(n) for n in names]
    saved = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(max(level, lg.getEffectiveLevel()))
    try:
        yield
    finally:
        for lg, old in zip(loggers, saved):
            lg.setLevel(old)


def exit_now(code: int) -> NoReturn:
    """End the program as ``sys.exit(code)`` would, without the interpreter's finalization.

    After a run, the process holds pandas, scikit-learn, Ploomber, MLflow and the steps' values (half a million
    objects, thousands of modules): tearing them down one by one takes 1-3 s (7 s on a loaded machine) that nobody
    waits for. Everything that matters still happens: the other non-daemon threads are joined, the ``atexit``
    handlers run, logging and the standard streams are flushed. Only for the ``nbprod`` program, never a library
    call."""
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
