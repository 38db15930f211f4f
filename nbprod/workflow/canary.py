"""``nbprod serve NB --canary PCT [--shadow]``: champion and candidate in one Bento, with automatic rollback.

The champion is the released Bento (``nbprod release``: the MLflow alias ``champion`` and the release history). The
candidate is the Bento the last run built (its gates passed, or it would not have been packaged), and it must be
covered by a valid approval (``nbprod approve``): live traffic only reaches a model a reviewer approved. The canary
Bento (:mod:`nbprod.package.canary_bento`) is built into the project's store and served on 127.0.0.1; while it
runs, the events its rule writes (``passed.json``, ``rollback.json`` in ``.nbprod/canary/<pipeline>/state/``)
become release-history entries ``{"action": "canary-passed" | "auto-rollback", ...}`` that ``nbprod status`` and the
review report show. A candidate rolled back this way cannot be released until it is approved again.
"""

from __future__ import annotations

import json
import logging
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Union

from nbprod._core.fsutil import atomic_write_text
from nbprod.convert.render import write_atomically
from nbprod.errors import ServeError, UsageError
from nbprod.package import bentoml_child
from nbprod.package.canary import PASSED_FILE, ROLLBACK_FILE
from nbprod.package.canary_bento import bento_files, canary_files, canary_version
from nbprod.workflow.approval import check_workspace
from nbprod.workflow.release import history, record_event, status
from nbprod.workflow.serve import last_bento, serve_command
from nbprod.workflow.workspace import Workspace

__all__ = ["CanaryPlan", "prepare_canary", "collect_events", "serve_canary"]

log = logging.getLogger(__name__)


@dataclass
class CanaryPlan:
    """What ``serve --canary`` serves: the built canary Bento and where its events land."""

    project: Path
    pipeline: str
    bento_tag: str
    state_dir: Path
    facts: dict = field(default_factory=dict)  # added to every history entry: versions, approval digest
    share: str = ""  # how the traffic is split, for people

    def describe(self, port: int) -> str:
        f = self.facts
        return (
            f"{self.bento_tag} on http://127.0.0.1:{port}: champion model version {f.get('champion_model_version')}, "
            f"candidate {f.get('candidate_model_version')}, {self.share}; live state at /canary/"
        )


def _candidate(ws: Workspace) -> tuple[str, dict]:
    """The last built Bento, and the approval record that covers it."""
    tag = last_bento(ws.project, ws.pipeline)
    nb = ws.nb.path
    if not tag:
        raise ServeError(f"no candidate: no Bento has been built for {ws.pipeline!r}", path=nb, fix=f"nbprod run {nb}")
    verdict = check_workspace(ws)
    release = ((verdict.record or {}).get("digests") or {}).get("release") or {}
    if not verdict.ok or release.get("bento_tag") != tag:
        why = verdict.message if not verdict.ok else f"the approval covers Bento {release.get('bento_tag')}"
        raise ServeError(
            f"the candidate (Bento {tag}) needs a valid approval before it takes live traffic: {why}",
            path=nb,
            fix=f"review it (nbprod review {nb}) and approve it (nbprod approve {nb} --by NAME), then serve the canary",
        )
    record = verdict.record or {}
    for e in history(ws.project, ws.pipeline):
        if e.get("action") == "auto-rollback" and e.get("approval_digest") == record.get("digest"):
            raise ServeError(
                f"the candidate (Bento {tag}) was rolled back automatically at {e.get('at')}: {e.get('reason')}",
                path=nb,
                fix=f"fix it and run again, or approve it again (nbprod approve {nb} --by NAME) to retry the canary",
            )
    return tag, record


def prepare_canary(
    notebook: Union[str, Path],
    *,
    percent: float,
    shadow: bool = False,
    project: Union[str, Path] = ".",
    name: Optional[str] = None,
    split: str = "auto",
    tracking_uri: Optional[str] = None,
) -> CanaryPlan:
    """Check champion and candidate, write the canary build context and build the canary Bento."""
    if shadow:
        percent = 0.0  # the candidate only scores
    elif not 0 < percent <= 100:
        raise UsageError(f"--canary takes a percentage between 0 and 100, not {percent:g}", fix="e.g. --canary 10")
    ws = Workspace(notebook, project=project, name=name, split=split)
    st = status(notebook, project=ws.project, name=name, split=split, tracking_uri=tracking_uri)
    if not st.champion_bento:
        nb = ws.nb.path
        raise ServeError("a canary needs a champion: nothing is released yet", path=nb, fix=f"nbprod release {nb}")
    candidate_tag, record = _candidate(ws)
    home = ws.layout.bentoml_home
    champion, candidate = bento_files(home, st.champion_bento), bento_files(home, candidate_tag)
    files = canary_files(ws.pipeline, champion, candidate, percent=percent, shadow=shadow, rule=ws.config.canary)
    root = (ws.layout.state_root / "canary" / ws.pipeline).resolve()
    write_atomically(root / "bento", files)
    version = canary_version(files)
    request = {
        "model_tag": candidate.model_tag,  # in the store already (both models are): nothing is saved
        "name": f"{ws.pipeline}_canary",
        "bento_version": version,
        "build_ctx": str((root / "bento").resolve()),
        "model_labels": {},
        "model_metadata": {},
        "model_files": {},
        "bento_labels": {"nbprod.pipeline": ws.pipeline, "nbprod.canary": "true"},
    }
    for tag in (champion.model_tag, candidate.model_tag):
        model_name, _, model_version = tag.partition(":")
        if not (home / "models" / model_name / model_version).is_dir():
            raise ServeError(f"model {tag} is not in the project's BentoML store", path=str(home), fix="nbprod run NB")
    info = bentoml_child.build(home, request, root / "build_request.json", root / "bento")
    facts = {
        "champion_model_version": st.champion,
        "candidate_model_version": str(record["digests"]["release"].get("model_version")),
        "approval_digest": record.get("digest"),
        "canary_bento": info["bento_tag"],
    }
    share = "shadow: the candidate only scores" if shadow else f"{percent:g}% of the requests to the candidate"
    return CanaryPlan(ws.project, ws.pipeline, info["bento_tag"], root / "state", facts, share)


def collect_events(plan: CanaryPlan, seen: set[str]) -> list[dict]:
    """The new events the served canary wrote, each appended once to the release history; returns them."""
    out = []
    for filename in (PASSED_FILE, ROLLBACK_FILE):
        path = plan.state_dir / filename
        if filename in seen or not path.exists():
            continue
        try:
            event = {**json.loads(path.read_text()), **plan.facts}
        except ValueError:  # written atomically: only a foreign file can be half-written
            continue
        event.pop("events", None)
        record_event(plan.project, plan.pipeline, event)
        seen.add(filename)
        out.append(event)
    return out


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def serve_canary(
    plan: CanaryPlan,
    *,
    port: int = 3000,
    on_event: Optional[Callable[[dict], None]] = None,
    poll_s: float = 0.5,
) -> int:
    """Serve the canary Bento on 127.0.0.1 until it stops, turning its events into history entries."""
    shutil.rmtree(plan.state_dir, ignore_errors=True)
    plan.state_dir.mkdir(parents=True)
    atomic_write_text(plan.state_dir / "serving.json", json.dumps({"bento_tag": plan.bento_tag, "port": port}))
    cmd, env = serve_command(plan.project, plan.bento_tag, port)  # its prediction log: .nbprod/serving/<name>_canary/
    env["NBPROD_CANARY_STATE"] = str(plan.state_dir.resolve())
    seen: set[str] = set()
    if threading.current_thread() is threading.main_thread():  # SIGTERM (systemd, kill) stops the server too
        signal.signal(signal.SIGTERM, _interrupt)
    proc = subprocess.Popen(cmd, env=env)
    try:
        while proc.poll() is None:
            for event in collect_events(plan, seen):
                if on_event is not None:
                    on_event(event)
            time.sleep(poll_s)
        return proc.returncode
    except KeyboardInterrupt:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        return 130
    finally:
        for event in collect_events(plan, seen):
            if on_event is not None:
                on_event(event)
