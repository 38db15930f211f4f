"""Release and rollback, only through approvals.

``release`` needs a valid approval: it moves the MLflow alias ``champion`` to the approved model version, tags the
version with the approval digest, labels the Bento with it, and appends to the release history
(``.nbprod/releases/<pipeline>.json``). ``rollback`` moves ``champion`` back to the previous released version and
says which Bento to serve. ``status`` shows champion, candidate and the approval state.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

from nbprod._core.fsutil import atomic_write_text
from nbprod._core.layout import ProjectLayout
from nbprod.errors import ReleaseError
from nbprod.package import bentoml_child
from nbprod.track import alias_version, registry_client
from nbprod.workflow.approval import check_workspace
from nbprod.workflow.workspace import Workspace

__all__ = ["Status", "release", "rollback", "status", "history", "releases", "record_event"]

CHAMPION = "champion"
#: history entries that are not releases carry an "action" (nbprod serve --canary: canary-passed, auto-rollback)
CANARY_ACTIONS = ("canary-passed", "auto-rollback")


def _history_path(project: Path, pipeline: str) -> Path:
    return ProjectLayout(project).releases(pipeline)


def history(project: Path, pipeline: str) -> list[dict]:
    try:
        return json.loads(_history_path(project, pipeline).read_text())
    except (OSError, ValueError):
        return []


def releases(entries: list[dict]) -> list[dict]:
    """The release entries of a history (without the canary events)."""
    return [e for e in entries if e.get("action", "release") == "release"]


def record_event(project: Path, pipeline: str, event: dict) -> None:
    """Append a canary event (``{"action": "auto-rollback", ...}``) to the release history."""
    _save_history(project, pipeline, [*history(project, pipeline), event])


def _rolled_back(entries: list[dict], approval_digest: str) -> Optional[dict]:
    return next(
        (e for e in entries if e.get("action") == "auto-rollback" and e.get("approval_digest") == approval_digest),
        None,
    )


def _save_history(project: Path, pipeline: str, entries: list[dict]) -> None:
    atomic_write_text(_history_path(project, pipeline), json.dumps(entries, indent=2, sort_keys=True))


def _client(project: Path, uri: Optional[str]):
    return registry_client(project, uri)  # MLflow is imported only by nbprod.track


def _label_bento(project: Path, bento_tag: str, labels: dict[str, str]) -> None:
    bentoml_child.label(ProjectLayout(project).bentoml_home, bento_tag, labels)


def release(
    notebook: Union[str, Path],
    *,
    project: Union[str, Path] = ".",
    name: Optional[str] = None,
    split: str = "auto",
    tracking_uri: Optional[str] = None,
) -> dict:
    """Move the alias ``champion`` to the approved model version and label the approved Bento."""
    ws = Workspace(notebook, project=project, name=name, split=split)
    project = ws.project
    verdict = check_workspace(ws)
    if not verdict.ok:
        raise ReleaseError(
            f"release refused: {verdict.message}",
            path=str(notebook),
            fix="review the changes (nbprod review), approve them (nbprod approve --by NAME), then release",
        )
    record = verdict.record or {}
    rel = record.get("digests", {}).get("release") or {}
    if not rel.get("model_version") or not rel.get("bento_tag"):
        raise ReleaseError(
            "the approval does not cover a model version and a Bento",
            path=str(notebook),
            fix="run the pipeline with tracking and packaging, then approve again",
        )
    pipeline = record["pipeline"]
    event = _rolled_back(history(project, pipeline), record["digest"])
    if event is not None:
        raise ReleaseError(
            f"release refused: the canary rolled this candidate back automatically at {event['at']}: "
            + event.get("reason", ""),
            path=str(notebook),
            fix="look at the candidate again (nbprod review); approving it again (nbprod approve) allows the release",
        )
    client = _client(project, tracking_uri)
    client.set_registered_model_alias(pipeline, CHAMPION, rel["model_version"])
    client.set_model_version_tag(pipeline, rel["model_version"], "nbprod.approval_digest", record["digest"])
    client.set_model_version_tag(pipeline, rel["model_version"], "nbprod.approved_by", record["by"])
    _label_bento(project, rel["bento_tag"], {"nbprod.approval_digest": record["digest"], "nbprod.release": "champion"})
    entry = {
        "model_version": str(rel["model_version"]),
        "bento_tag": rel["bento_tag"],
        "approval_digest": record["digest"],
        "by": record["by"],
        "at": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
    }
    entries = history(project, pipeline)
    released = releases(entries)
    if not released or str(released[-1]["model_version"]) != entry["model_version"]:
        entries.append(entry)
        _save_history(project, pipeline, entries)
    return entry


def rollback(
    notebook: Union[str, Path],
    *,
    project: Union[str, Path] = ".",
    name: Optional[str] = None,
    split: str = "auto",
    tracking_uri: Optional[str] = None,
) -> dict:
    """Move ``champion`` back to the previous release (release history under ``.nbprod/releases/``)."""
    ws = Workspace(notebook, project=project, name=name, split=split)
    project, pipeline = ws.project, ws.pipeline
    entries = history(project, pipeline)
    released = releases(entries)
    if len(released) < 2:
        raise ReleaseError(
            f"nothing to roll back to: {len(released)} release(s) of {pipeline!r} so far",
            path=str(notebook),
            fix="rollback needs an earlier release; see nbprod status",
        )
    client = _client(project, tracking_uri)
    previous = released[-2]
    client.set_registered_model_alias(pipeline, CHAMPION, previous["model_version"])
    entries.remove(released[-1])
    _save_history(project, pipeline, entries)
    return previous


def canary_line(event: dict) -> str:
    """One line for a canary event of the history (status, review)."""
    models = event.get("models") or {}
    counts = ", ".join(f"{m} {s.get('requests', 0)} requests, {s.get('errors', 0)} errors" for m, s in models.items())
    what = "automatic rollback" if event.get("action") == "auto-rollback" else "canary passed"
    head = (
        f"{what} of Bento {event.get('candidate_bento')} vs champion {event.get('champion_bento')} at {event.get('at')}"
    )
    return head + (f": {event['reason']}" if event.get("reason") else "") + (f" ({counts})" if counts else "")


@dataclass
class Status:
    pipeline: str
    champion: Optional[str] = None
    champion_bento: Optional[str] = None
    candidate: Optional[str] = None
    approval: str = "none"
    changed: list[str] = field(default_factory=list)
    message: str = ""
    canary: list[dict] = field(default_factory=list)  # the canary events of the history, oldest first

    def render(self) -> str:
        lines = [
            f"pipeline {self.pipeline}",
            f"  champion:  {('model version ' + self.champion) if self.champion else '(none released)'}"
            + (f", Bento {self.champion_bento}" if self.champion_bento else ""),
            f"  candidate: {('model version ' + self.candidate) if self.candidate else '(none)'}",
            f"  approval:  {self.approval}" + (f" - {self.message}" if self.message else ""),
        ]
        lines += [f"    changed: {c}" for c in self.changed]
        lines += [f"  canary:    {canary_line(e)}" for e in self.canary[-3:]]
        return "\n".join(lines)


def status(
    notebook: Union[str, Path],
    *,
    project: Union[str, Path] = ".",
    name: Optional[str] = None,
    split: str = "auto",
    tracking_uri: Optional[str] = None,
) -> Status:
    """Champion, candidate and approval state of the pipeline."""
    ws = Workspace(notebook, project=project, name=name, split=split)
    project, pipeline = ws.project, ws.pipeline
    verdict = check_workspace(ws)
    result = Status(
        pipeline,
        approval=verdict.state,
        changed=verdict.changed,
        message=verdict.message if verdict.state != "stale" else "",
    )
    if ws.layout.mlflow_db.exists() or tracking_uri or os.environ.get("MLFLOW_TRACKING_URI"):
        client = _client(project, tracking_uri)
        for alias in (CHAMPION, "candidate"):
            version = alias_version(client, pipeline, alias)  # None: no such alias or model yet; else errors raise
            if alias == CHAMPION:
                result.champion = version
            else:
                result.candidate = version
    entries = history(project, pipeline)
    result.canary = [e for e in entries if e.get("action") in CANARY_ACTIONS]
    if entries and result.champion:
        result.champion_bento = next(
            (e["bento_tag"] for e in reversed(releases(entries)) if str(e["model_version"]) == result.champion), None
        )
    return result
