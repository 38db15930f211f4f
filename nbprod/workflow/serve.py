"""``nbprod serve``: serve the built Bento of a pipeline on 127.0.0.1 with ``bentoml serve``."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Optional, Union

from nbprod._core.layout import ProjectLayout
from nbprod.convert.render import project_relpath
from nbprod.errors import NbprodError
from nbprod.notebook.reader import read_notebook
from nbprod.package import bentoml_child
from nbprod.plan.build import build_plan

__all__ = ["serve", "serve_command", "last_bento"]


def last_bento(project: Path, pipeline: str) -> Optional[str]:
    try:
        return json.loads((project / ".nbprod" / "package" / pipeline / "last_bento.json").read_text())["bento_tag"]
    except (OSError, ValueError, KeyError):
        return None


def serve_command(project: Path, bento_tag: str, port: int) -> tuple[list[str], dict[str, str]]:
    return bentoml_child.serve_command(ProjectLayout(project).bentoml_home, bento_tag, port)


def serve(
    notebook: Union[str, Path],
    *,
    project: Union[str, Path] = ".",
    name: Optional[str] = None,
    port: int = 3000,
    bento_tag: Optional[str] = None,
) -> int:
    project = Path(project)
    nb = read_notebook(notebook, display_path=project_relpath(notebook, project))
    plan = build_plan(nb, name=name)
    tag = bento_tag or last_bento(project, plan.name)
    if not tag:
        raise NbprodError(
            f"no Bento has been built for pipeline {plan.name!r}",
            path=nb.path,
            fix=f"run the pipeline (nbprod run {nb.path}) or package it (nbprod package {nb.path}) first",
        )
    cmd, env = serve_command(project, tag, port)
    print(f"serving {tag} on http://127.0.0.1:{port} (Ctrl+C stops)", flush=True)
    try:
        return subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        return 130
