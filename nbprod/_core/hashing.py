"""SHA-256 digests of text, files and JSON data: the fingerprints behind incremental runs and approvals."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterable, Union

__all__ = ["sha256", "file_sha256", "files_digest", "json_sha256"]


def sha256(data: Union[str, bytes]) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def files_digest(root: Path, files: Iterable[str]) -> str:
    """One digest over the names and contents of ``files`` (relative to ``root``)."""
    h = hashlib.sha256()
    for rel in files:
        h.update(rel.encode())
        with open(root / rel, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def json_sha256(data: Any) -> str:
    """Digest of canonical JSON (sorted keys, no whitespace variation)."""
    return sha256(json.dumps(data, sort_keys=True))
