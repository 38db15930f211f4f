"""The :class:`Workspace` every command works in: one project, one notebook, one pipeline name and split.

It reads the notebook and builds the plan once per command (``review`` used to build it four times), and it
carries ``--name`` and ``--split`` to everything the command does, so findings, cell references and file
paths always describe the plan the user asked for.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

from nbprod._core.layout import ProjectLayout
from nbprod.engine.record import BuildRecord, RecordStore
from nbprod.errors import UsageError
from nbprod.notebook.reader import Notebook, read_notebook
from nbprod.notebook.tags import validate_identifier
from nbprod.plan.build import build_plan
from nbprod.plan.model import Pipeline
from nbprod.workflow.config import ProjectConfig, load_config

if TYPE_CHECKING:
    from nbprod.gates.model import GateResult
    from nbprod.lint import LintReport

__all__ = ["Workspace", "SPLITS"]

#: How cells become steps: "auto" (tags, else H2 headings), "tags" or "headings".
SPLITS = ("auto", "tags", "headings")


@dataclass(frozen=True)
class Workspace:
    """``Workspace("nb.ipynb", project=".", name=None, split="auto")``; properties are computed once."""

    notebook: Union[str, Path]
    project: Path = Path(".")
    name: Optional[str] = None
    split: str = "auto"

    def __init__(
        self,
        notebook: Union[str, Path],
        *,
        project: Union[str, Path] = ".",
        name: Optional[str] = None,
        split: str = "auto",
    ) -> None:
        object.__setattr__(self, "notebook", notebook)
        object.__setattr__(self, "project", Path(project))
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "split", split)
        if split not in SPLITS:
            raise UsageError(f"unknown split {split!r}", path=str(notebook), fix=f"use one of: {', '.join(SPLITS)}")
        if name is not None:
            why = validate_identifier(name, "pipeline name")
            if why:
                raise UsageError(why, path=str(notebook), fix="use letters, digits and '_', e.g. --name churn_model")

    @functools.cached_property
    def layout(self) -> ProjectLayout:
        return ProjectLayout(self.project)

    @functools.cached_property
    def config(self) -> ProjectConfig:
        """``[tool.nbprod]`` of the project's pyproject.toml."""
        return load_config(self.project)

    @functools.cached_property
    def nb(self) -> Notebook:
        """The notebook, shown by its path relative to the project."""
        return read_notebook(self.notebook, display_path=self.layout.relpath(self.notebook))

    @functools.cached_property
    def plan(self) -> Pipeline:
        """The plan; raises :class:`~nbprod.errors.PlanError` when it has error-level findings."""
        return build_plan(self.nb, name=self.name, split=self.split)

    @functools.cached_property
    def lint_report(self) -> LintReport:
        from nbprod.lint import lint_notebook

        return lint_notebook(self.nb, split=self.split, name=self.name)

    @property
    def pipeline(self) -> str:
        return self.plan.name

    @functools.cached_property
    def record(self) -> Optional[BuildRecord]:
        """The build record of the last successful run (None before the first one)."""
        return RecordStore(self.layout.build_record(self.pipeline)).load()

    def metrics(self, step: str) -> dict[str, float]:
        """The metrics ``step`` saved on the last run (empty when it saved none)."""
        from nbprod.io import load_metrics

        path = self.layout.metrics_file(self.pipeline, step)
        return load_metrics(path) if path.exists() else {}

    def last_gate_result(self, variable: str) -> Optional[GateResult]:
        """The stored result of the gate on ``variable`` (None when it never ran or the file is unreadable)."""
        from nbprod.gates.store import stored_result

        return stored_result(self.project, self.pipeline, variable)

    def model_card(self) -> Optional[dict[str, Any]]:
        try:
            return json.loads(self.layout.model_card_json(self.pipeline).read_text())
        except (OSError, ValueError):
            return None
