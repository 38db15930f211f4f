"""The git commit of the project, recorded with each tracked run (None outside a repository)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Optional

__all__ = ["git_commit"]


def git_commit(path: Path) -> Optional[str]:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None
