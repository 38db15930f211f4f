"""Writing files so that a crash, a full disk or a concurrent reader never sees half of them.

``atomic_write_text`` writes a temporary file beside the target, fsyncs it and renames it over the target.
``replace_dir`` does the same for a whole folder: the new content is built aside, the old folder is moved away,
the new one renamed in, and the old one comes back if anything fails.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

__all__ = ["atomic_write_text", "atomic_write_json", "replace_dir", "canonical_json"]


def canonical_json(data: Any, *, indent: int | None = 1) -> str:
    """Deterministic JSON: sorted keys, the same bytes for the same data."""
    return json.dumps(data, sort_keys=True, indent=indent)


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8, ``\\n`` newlines) in one rename; parent folders are created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, canonical_json(data))


def replace_dir(target: Path, fill: Callable[[Path], None]) -> None:
    """Make ``target`` the folder that ``fill(tmp)`` builds. On any failure the previous ``target`` is kept."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    backup = None
    try:
        fill(tmp)
        if target.exists():  # moved aside, not deleted: it comes back if the rename below fails
            backup = target.with_name(f".{target.name}.old-{os.getpid()}")
            if backup.exists():
                _remove(backup)
            os.rename(target, backup)
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if backup is not None and backup.exists() and not target.exists():
            os.rename(backup, target)
        raise
    if backup is not None:
        _remove(backup)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
