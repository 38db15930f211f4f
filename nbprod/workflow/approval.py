"""Approval records: ``approvals/<pipeline>.json``, a reviewer's decision bound to content digests.

The record holds the decision, who, when, the note, and the digests of what was approved: the notebook's content
fingerprint (sources and nbprod tags; outputs, execution counts and widget state ignored), every generated file of
``pipelines/<name>/`` and ``bentos/<name>/``, the gate suites, and for a release approval the MLflow model version
and the Bento tag; plus one digest over all of it, so an edited record is detected.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from nbprod.convert.render import project_relpath
from nbprod.errors import NbprodError
from nbprod.notebook.reader import read_notebook
from nbprod.plan.build import build_plan
from nbprod.plan.model import Pipeline

__all__ = [
    "ApprovalRefused",
    "ApprovalCheck",
    "approve",
    "check",
    "current_digests",
    "record_path",
    "load_record",
    "readiness",
    "plan_of",
]

SCHEMA = 1


class ApprovalRefused(NbprodError):
    """Approval is refused: lint errors, a failed gate, or missing model-card fields (all listed)."""

    exit_code = 1


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
    return project / "approvals" / f"{pipeline}.json"


def _sha_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files(project: Path, plan: Pipeline) -> list[Path]:
    out: list[Path] = []
    for folder in (project / "pipelines" / plan.name, project / "bentos" / plan.name):
        if folder.is_dir():
            out += sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for step in plan.steps:
        for var in step.gates:
            suite = project / "expectations" / plan.name / f"{var}.json"
            if suite.exists():
                out.append(suite)
    return out


def _state(project: Path, pipeline: str) -> dict:
    try:
        return json.loads((project / ".nbprod" / "state" / f"{pipeline}.json").read_text())
    except (OSError, ValueError):
        return {}


def current_digests(project: Path, plan: Pipeline) -> dict[str, Any]:
    nb_path = project_relpath(plan.notebook.abspath or plan.notebook.path, project)
    digests: dict[str, Any] = {
        "notebook": {"path": nb_path, "fingerprint": plan.notebook.digest()},
        "files": {project_relpath(p, project): _sha_file(p) for p in _files(project, plan)},
    }
    if any(s.model for s in plan.steps):
        state = _state(project, plan.name)
        tracked = state.get("tracked") or {}
        digests["release"] = {
            "model_name": plan.name if tracked.get("model_version") else None,
            "model_version": tracked.get("model_version"),
            "bento_tag": state.get("bento_tag"),
        }
    return digests


def _record_digest(record: dict) -> str:
    body = {k: v for k, v in record.items() if k != "digest"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def readiness(project: Path, plan: Pipeline) -> list[str]:
    """Why this pipeline cannot be approved yet (empty when it can)."""
    from nbprod.gates.model import check_requirements
    from nbprod.gates.store import gates_dir
    from nbprod.lint import lint_notebook

    reasons = [
        f"lint error {f.code} in {f.cell or 'the notebook'}: {f.message}" for f in lint_notebook(plan.notebook).errors
    ]
    state = _state(project, plan.name)
    if not state:
        reasons.append(f"the pipeline has no successful run: nbprod run {plan.notebook.path}")
    for step in plan.steps:
        for var in step.gates:
            try:
                res = json.loads((gates_dir(project, plan.name) / f"{var}.json").read_text())
                if not res.get("success"):
                    reasons.append(f"gate {var} failed on the last run ({res.get('report_html')})")
            except (OSError, ValueError):
                reasons.append(f"gate {var} has no result: run the pipeline")
        if step.requires:
            mfile = project / ".nbprod" / "products" / plan.name / step.name / "metrics.json"
            metrics = json.loads(mfile.read_text()) if mfile.exists() else {}
            reasons += [
                f"evaluation gate failed: {o.describe()}" for o in check_requirements(step, metrics) if not o.passed
            ]
    if any(s.model for s in plan.steps):
        card = project / "bentos" / plan.name / "model_card.json"
        if not card.exists():
            reasons.append(f"no model card: package the model first (nbprod package {plan.notebook.path})")
        else:
            missing = json.loads(card.read_text()).get("missing_human_fields") or []
            if missing:
                reasons.append(
                    "the model card misses human fields: "
                    + ", ".join(f"card:{m}" for m in missing)
                    + " (add markdown cells with these tags to the notebook)"
                )
    return reasons


def plan_of(notebook: Union[str, Path], project: Path, name: Optional[str]) -> Pipeline:
    nb = read_notebook(notebook, display_path=project_relpath(notebook, project))
    return build_plan(nb, name=name)


def load_record(project: Path, pipeline: str) -> Optional[dict]:
    path = record_path(project, pipeline)
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise NbprodError(
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
) -> dict:
    """Record an approval (or, with ``reject=True``, a rejection) of what was generated from ``notebook``."""
    project = Path(project)
    plan = plan_of(notebook, project, name)
    if not by.strip():
        raise NbprodError("an approval needs the reviewer's name", path=plan.notebook.path, fix="pass --by NAME")
    if reject and not note.strip():
        raise NbprodError("a rejection needs a note saying why", path=plan.notebook.path, fix="pass --note TEXT")
    if not reject:
        reasons = readiness(project, plan)
        if reasons:
            raise ApprovalRefused(
                "approval refused:\n" + "\n".join(f"  - {r}" for r in reasons),
                path=plan.notebook.path,
                fix="fix the items above, re-run the pipeline, then approve again (or --reject with a note)",
            )
    digests = current_digests(project, plan)
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
    path = record_path(project, plan.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, sort_keys=True, indent=2) + "\n")
    os.replace(tmp, path)
    _snapshot(project, plan, record)
    return record


def _snapshot(project: Path, plan: Pipeline, record: dict) -> None:
    """Keep a local copy of the approved files, so the review can show a diff against them."""
    root = project / ".nbprod" / "approved" / plan.name
    shutil.rmtree(root, ignore_errors=True)
    for rel in record["digests"]["files"]:
        dst = root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(project / rel, dst)


def check(notebook: Union[str, Path], *, project: Union[str, Path] = ".", name: Optional[str] = None) -> ApprovalCheck:
    """Is there a valid approval for exactly what is here now?"""
    project = Path(project)
    plan = plan_of(notebook, project, name)
    record = load_record(project, plan.name)
    if record is None:
        return ApprovalCheck(
            "none", message=f"no approval record ({project_relpath(record_path(project, plan.name), project)})"
        )
    if record.get("digest") != _record_digest(record):
        return ApprovalCheck(
            "tampered",
            record,
            message="the approval record was edited after it was written (its digest does not match)",
        )
    if record.get("decision") != "approved":
        return ApprovalCheck("rejected", record, message=f"rejected by {record.get('by')}: {record.get('note')}")
    now = current_digests(project, plan)
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
