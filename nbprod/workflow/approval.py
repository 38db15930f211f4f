"""Approval records: ``approvals/<pipeline>.json``, a reviewer's decision bound to content digests.

The record holds the decision, who, when, the note, and the digests of what was approved: the notebook's content
fingerprint (sources and nbprod tags; outputs, execution counts and widget state ignored), every generated file of
``pipelines/<name>/`` and ``bentos/<name>/``, the gate suites, and for a release approval the MLflow model version
and the Bento tag; plus one digest over all of it, so an edited record is detected.
"""

from __future__ import annotations

import datetime as _dt
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from nbprod._core.fsutil import atomic_write_text
from nbprod._core.hashing import file_sha256, json_sha256
from nbprod._core.layout import ProjectLayout
from nbprod.errors import ApprovalError, ApprovalRefused
from nbprod.gates.model import check_requirements
from nbprod.workflow.workspace import Workspace

__all__ = [
    "ApprovalRefused",
    "ApprovalCheck",
    "approve",
    "check",
    "current_digests",
    "record_path",
    "load_record",
    "readiness",
    "card_warnings",
]

SCHEMA = 1


@dataclass
class ApprovalCheck:
    state: str  # approved | stale | rejected | none | tampered
    record: Optional[dict] = None
    changed: list[str] = field(default_factory=list)
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.state == "approved"


def record_path(project: Path, pipeline: str) -> Path:
    return ProjectLayout(project).approval(pipeline)


def _files(ws: Workspace) -> list[Path]:
    """Every reviewed file: the pipeline folder, the Bento folder, the gate suites."""
    out: list[Path] = []
    for folder in (ws.layout.pipeline_dir(ws.pipeline), ws.layout.bento_dir(ws.pipeline)):
        if folder.is_dir():
            out += sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for step in ws.plan.steps:
        for var in step.gates:
            suite = ws.layout.suite(ws.pipeline, var)
            if suite.exists():
                out.append(suite)
    return out


def current_digests(ws: Workspace) -> dict[str, Any]:
    """The digests of what is here now: notebook content, reviewed files, and the model/Bento to release."""
    plan = ws.plan
    digests: dict[str, Any] = {
        "notebook": {
            "path": ws.layout.relpath(plan.notebook.abspath or plan.notebook.path),
            "fingerprint": plan.notebook.digest(),
        },
        "files": {ws.layout.relpath(p): file_sha256(p) for p in _files(ws)},
    }
    if any(s.model for s in plan.steps):
        record = ws.record
        tracked = (record.tracked if record else None) or {}
        digests["release"] = {
            "model_name": plan.name if tracked.get("model_version") else None,
            "model_version": tracked.get("model_version"),
            "bento_tag": record.bento_tag if record else None,
        }
    return digests


def _record_digest(record: dict) -> str:
    return json_sha256({k: v for k, v in record.items() if k != "digest"})


def _gate_reasons(ws: Workspace) -> list[str]:
    reasons = []
    for step in ws.plan.steps:
        for var in step.gates:
            result = ws.last_gate_result(var)
            if result is None:
                reasons.append(f"gate {var} has no result: run the pipeline")
            elif not result.success:
                reasons.append(f"gate {var} failed on the last run ({result.report_html})")
        if step.requires:
            outcomes = check_requirements(step, ws.metrics(step.name))
            reasons += [f"evaluation gate failed: {o.describe()}" for o in outcomes if not o.passed]
    return reasons


def _card_reasons(ws: Workspace) -> list[str]:
    """Missing model-card fields that block approval: those ``[tool.nbprod] approval-card-fields`` requires."""
    if not any(s.model for s in ws.plan.steps):
        return []
    card = ws.model_card()
    if card is None:
        return [f"no model card: package the model first (nbprod package {ws.plan.notebook.path})"]
    required = set(ws.config.approval_card_fields)
    missing = [m for m in card.get("missing_human_fields") or [] if m in required]
    if not missing:
        return []
    fields = ", ".join(f"card:{m}" for m in missing)
    return [f"the model card misses human fields: {fields} (add markdown cells with these tags to the notebook)"]


def card_warnings(ws: Workspace) -> list[str]:
    """Missing model-card fields that do not block approval (not in ``approval-card-fields``)."""
    card = ws.model_card() or {}
    required = set(ws.config.approval_card_fields)
    return [m for m in card.get("missing_human_fields") or [] if m not in required]


def readiness(ws: Workspace) -> list[str]:
    """Why this pipeline cannot be approved yet (empty when it can)."""
    reasons = [f"lint error {f.code} in {f.cell or 'the notebook'}: {f.message}" for f in ws.lint_report.errors]
    if ws.record is None:
        reasons.append(f"the pipeline has no successful run: nbprod run {ws.plan.notebook.path}")
    return reasons + _gate_reasons(ws) + _card_reasons(ws)


def load_record(project: Path, pipeline: str) -> Optional[dict]:
    path = record_path(project, pipeline)
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise ApprovalError(
            f"the approval record is not valid JSON ({exc})",
            path=str(path),
            fix="restore it from version control, or record a new decision with nbprod approve",
        ) from None


def approve(
    notebook: Union[str, Path],
    *,
    by: str,
    note: str = "",
    reject: bool = False,
    project: Union[str, Path] = ".",
    name: Optional[str] = None,
    split: str = "auto",
) -> dict:
    """Record an approval (or, with ``reject=True``, a rejection) of what was generated from ``notebook``."""
    ws = Workspace(notebook, project=project, name=name, split=split)
    project, plan = ws.project, ws.plan
    if not by.strip():
        raise ApprovalError("an approval needs the reviewer's name", path=plan.notebook.path, fix="pass --by NAME")
    if reject and not note.strip():
        raise ApprovalError("a rejection needs a note saying why", path=plan.notebook.path, fix="pass --note TEXT")
    if not reject:
        reasons = readiness(ws)
        if reasons:
            raise ApprovalRefused(
                "approval refused:\n" + "\n".join(f"  - {r}" for r in reasons),
                path=plan.notebook.path,
                fix="fix the items above, re-run the pipeline, then approve again (or --reject with a note)",
            )
    digests = current_digests(ws)
    record = {
        "schema": SCHEMA,
        "pipeline": plan.name,
        "decision": "rejected" if reject else "approved",
        "by": by.strip(),
        "at": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "note": note,
        "kind": "release" if "release" in digests else "pipeline",
        "digests": digests,
    }
    record["digest"] = _record_digest(record)
    atomic_write_text(ws.layout.approval(plan.name), json.dumps(record, sort_keys=True, indent=2) + "\n")
    _snapshot(ws, record)
    return record


def _snapshot(ws: Workspace, record: dict) -> None:
    """Keep a local copy of the approved files, so the review can show a diff against them."""
    project = ws.project
    root = ws.layout.approved_copy(ws.pipeline)
    shutil.rmtree(root, ignore_errors=True)
    for rel in record["digests"]["files"]:
        dst = root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(project / rel, dst)


def check(
    notebook: Union[str, Path], *, project: Union[str, Path] = ".", name: Optional[str] = None, split: str = "auto"
) -> ApprovalCheck:
    """Is there a valid approval for exactly what is here now?"""
    return check_workspace(Workspace(notebook, project=project, name=name, split=split))


def check_workspace(ws: Workspace) -> ApprovalCheck:
    """:func:`check` for a workspace the caller already has (its plan is not built again)."""
    record = load_record(ws.project, ws.pipeline)
    if record is None:
        return ApprovalCheck(
            "none", message=f"no approval record ({ws.layout.relpath(ws.layout.approval(ws.pipeline))})"
        )
    if record.get("digest") != _record_digest(record):
        return ApprovalCheck(
            "tampered",
            record,
            message="the approval record was edited after it was written (its digest does not match)",
        )
    if record.get("decision") != "approved":
        return ApprovalCheck("rejected", record, message=f"rejected by {record.get('by')}: {record.get('note')}")
    now = current_digests(ws)
    then = record.get("digests", {})
    changed: list[str] = []
    if now["notebook"]["fingerprint"] != then.get("notebook", {}).get("fingerprint"):
        changed.append(now["notebook"]["path"] + " (notebook content)")
    old_files, new_files = then.get("files", {}), now["files"]
    for rel in sorted(set(old_files) | set(new_files)):
        if old_files.get(rel) != new_files.get(rel):
            what = "added" if rel not in old_files else "removed" if rel not in new_files else "changed"
            changed.append(f"{rel} ({what})")
    if then.get("release") != now.get("release"):
        changed.append(f"model/Bento (approved {then.get('release')}, now {now.get('release')})")
    if changed:
        return ApprovalCheck("stale", record, changed, "changed since the approval: " + ", ".join(changed))
    return ApprovalCheck("approved", record, message=f"approved by {record['by']} at {record['at']}")
