"""The build record (``.nbprod/state/<pipeline>.json``): what the last successful build saw.

Per-step fingerprints (generated code, parameters, execution mode, upstream fingerprints, gate inputs), the
stat of every product, the tracked MLflow run, the Bento tag, and the fingerprint of the code that renders the
Bento. When all of them match, ``nbprod run`` answers "up to date" without importing Ploomber.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Optional

from nbprod._core.fsutil import atomic_write_json
from nbprod._core.hashing import sha256
from nbprod.convert.markers import read_upstream

__all__ = ["BuildRecord", "RecordStore", "product_stats", "step_fingerprints"]

log = logging.getLogger(__name__)

Stat = Optional[list[int]]


@dataclass(frozen=True)
class BuildRecord:
    steps: dict[str, str] = field(default_factory=dict)  #: step -> fingerprint
    products: dict[str, Stat] = field(default_factory=dict)  #: product path -> [mtime_ns, size, inode]
    tracked: Optional[dict[str, Any]] = None  #: run_id, experiment, model_version, kind, tracking_uri
    bento_tag: Optional[str] = None
    generator: Optional[str] = None  #: fingerprint of nbprod's packaging code

    @classmethod
    def from_json(cls, data: Any) -> Optional[BuildRecord]:
        if not isinstance(data, dict) or not isinstance(data.get("steps"), dict):
            return None
        return cls(
            steps=dict(data["steps"]),
            products=dict(data.get("products") or {}),
            tracked=data.get("tracked"),
            bento_tag=data.get("bento_tag"),
            generator=data.get("generator"),
        )


class RecordStore:
    """Reads and writes the build record of one pipeline; the only code that touches the file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> Optional[BuildRecord]:
        try:
            return BuildRecord.from_json(json.loads(self.path.read_text()))
        except (OSError, ValueError):
            return None

    def save(self, record: BuildRecord) -> None:
        atomic_write_json(self.path, asdict(record))

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)

    def update(self, **changes: Any) -> None:
        """Change fields of an existing record (e.g. the Bento tag after ``nbprod package``); no record, no-op."""
        record = self.load()
        if record is not None:
            self.save(replace(record, **changes))


def _stat(path: Path) -> Stat:
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_mtime_ns, st.st_size, st.st_ino]


def product_stats(paths: Iterable[Path]) -> dict[str, Stat]:
    return {str(p): _stat(p) for p in paths}


def step_fingerprints(spec: dict, pdir: Path, mode: str, gate_inputs: dict[str, list[str]]) -> dict[str, str]:
    """One fingerprint per task of the generated ``spec``; a step's fingerprint includes its upstream ones."""
    fps: dict[str, str] = {}
    for task in spec["tasks"]:
        source = (pdir / task["source"]).read_text()
        ups = read_upstream(source)
        payload = json.dumps(
            [source, task.get("params", {}), mode, [fps.get(u, "") for u in ups], gate_inputs.get(task["name"], [])],
            sort_keys=True,
            default=repr,
        )
        fps[task["name"]] = sha256(payload)
    return fps
