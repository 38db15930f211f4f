"""``nbprod serve``: serve the built Bento of a pipeline on 127.0.0.1 with ``bentoml serve``."""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path
from typing import Callable, Optional, Union

from nbprod._core.layout import ProjectLayout
from nbprod.errors import ServeError
from nbprod.package import bentoml_child, prediction_log
from nbprod.workflow.workspace import Workspace

__all__ = ["serve", "serve_command", "last_bento", "bento_to_serve"]

log = logging.getLogger(__name__)


def last_bento(project: Path, pipeline: str) -> Optional[str]:
    try:
        return json.loads(ProjectLayout(project).last_bento(pipeline).read_text())["bento_tag"]
    except (OSError, ValueError, KeyError):
        return None


def serve_command(project: Path, bento_tag: str, port: int) -> tuple[list[str], dict[str, str]]:
    layout = ProjectLayout(project)
    cmd, env = bentoml_child.serve_command(layout.bentoml_home, bento_tag, port)
    # the prediction log goes to .nbprod/serving/<pipeline>/ (nbprod monitor --log reads it there), unless set
    env.setdefault(prediction_log.ENV_DIR, str(layout.prediction_log_dir(bento_tag.partition(":")[0]).resolve()))
    return cmd, env


def bento_to_serve(ws: Workspace, bento_tag: Optional[str] = None) -> str:
    """``bento_tag``, else the Bento the last run or ``nbprod package`` built for this pipeline."""
    tag = bento_tag or last_bento(ws.project, ws.pipeline)
    if not tag:
        raise ServeError(
            f"no Bento has been built for pipeline {ws.pipeline!r}",
            path=ws.nb.path,
            fix=f"run the pipeline (nbprod run {ws.nb.path}) or package it (nbprod package {ws.nb.path}) first",
        )
    return tag


def serve(
    notebook: Union[str, Path],
    *,
    project: Union[str, Path] = ".",
    name: Optional[str] = None,
    split: str = "auto",
    port: int = 3000,
    bento_tag: Optional[str] = None,
    announce: Optional[Callable[[str], None]] = None,
) -> int:
    """Run ``bentoml serve`` on 127.0.0.1 until it stops; returns its exit code (130 on Ctrl+C). ``announce`` gets
    the Bento tag just before the server starts (the CLI prints it)."""
    ws = Workspace(notebook, project=project, name=name, split=split)
    tag = bento_to_serve(ws, bento_tag)
    cmd, env = serve_command(ws.project, tag, port)
    log.info("serving %s on http://127.0.0.1:%d", tag, port)
    if announce is not None:
        announce(tag)
    try:
        return subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        return 130
