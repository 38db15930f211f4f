"""``nbprod lint``: checks over a notebook and its plan, each finding naming its cell and the fix."""

from nbprod.lint.codes import CHECKS
from nbprod.lint.report import LintReport, lint, lint_notebook, render_json, render_text

__all__ = ["CHECKS", "LintReport", "lint", "lint_notebook", "render_json", "render_text"]
