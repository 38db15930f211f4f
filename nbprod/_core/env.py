"""The process nbprod runs in: telemetry opt-outs set before a dependency is imported, and third-party loggers
quieted only for the duration of a call (levels are restored afterwards, so a Jupyter kernel that ran the panel
keeps its own logging)."""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Iterable, Iterator

__all__ = ["TELEMETRY_OPT_OUT", "quiet_dependencies", "quiet_loggers"]

#: Opt-out variables of nbprod's dependencies (no telemetry, no network at run time).
TELEMETRY_OPT_OUT = {
    "PLOOMBER_STATS_ENABLED": "false",
    "PLOOMBER_VERSION_CHECK_DISABLED": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "BENTOML_DO_NOT_TRACK": "true",
    "DO_NOT_TRACK": "1",
    "GX_ANALYTICS_ENABLED": "false",
}


def quiet_dependencies() -> None:
    """Set the opt-out variables (unless the user set them) before any heavy import."""
    for key, value in TELEMETRY_OPT_OUT.items():
        os.environ.setdefault(key, value)


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
