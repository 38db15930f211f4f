"""One ``nbprod run`` per pipeline at a time: a second one stops with a clear message instead of racing."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Iterator

from nbprod.errors import RunError

__all__ = ["pipeline_lock"]


@contextlib.contextmanager
def pipeline_lock(path: Path, pipeline: str, notebook: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (released when the block ends or the process dies)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "a+")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "?"
            raise RunError(
                f"another `nbprod run` of pipeline {pipeline!r} is running (pid {holder})",
                path=notebook,
                fix="wait for it to finish, then run again; nothing was changed by this attempt",
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield
    finally:
        fh.close()  # closing releases the lock
