"""Regenerate the golden files of the pipelines: `.venv/bin/python tests/update_golden.py`, then review the diff.

The other golden files (Bento, alerts.yaml, dashboard.json, model card) are rewritten by their tests when run with
NBPROD_UPDATE_GOLDEN=1, e.g.
`NBPROD_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_alerts.py tests/test_dashboard.py`.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nbprod.convert.render import render_pipeline  # noqa: E402
from nbprod.notebook.reader import read_notebook  # noqa: E402
from nbprod.plan.build import build_plan  # noqa: E402

#: notebook (relative to the repository) -> golden folder name
GOLDEN_SOURCES = {
    "example_notebooks/classifier.ipynb": "classifier",
    "example_notebooks/regression.ipynb": "regression",
    "tests/fixtures/kale_dialect.ipynb": "kale_dialect",
    "tests/fixtures/headings.ipynb": "headings",
    "tests/fixtures/percent_format.py": "percent_format",
}


def render(rel: str) -> dict[str, str]:
    nb = read_notebook(ROOT / rel, display_path=rel)
    return render_pipeline(build_plan(nb), ROOT)


def main() -> None:
    for rel, name in GOLDEN_SOURCES.items():
        out = ROOT / "tests" / "golden" / name
        shutil.rmtree(out, ignore_errors=True)
        for path, text in render(rel).items():
            (out / path).parent.mkdir(parents=True, exist_ok=True)
            (out / path).write_text(text)
        print(f"wrote {out.relative_to(ROOT)}")
    kfp_goldens()


def kfp_goldens() -> None:
    """tests/golden/kfp/<example>.py, and its compiled .yaml when kfp is importable (`pip install nbprod[kfp]`)."""
    import importlib.util

    from nbprod.export.kfp import _compile, render_kfp

    for name in ("regression", "classifier"):
        rel = f"example_notebooks/{name}.ipynb"
        text = render_kfp(build_plan(read_notebook(ROOT / rel, display_path=rel)), notebook=rel)
        out = ROOT / "tests" / "golden" / "kfp" / name
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".py").write_text(text)
        if importlib.util.find_spec("kfp") is not None:
            out.with_suffix(".yaml").write_text(_compile(text, name))
        print(
            f"wrote {out.relative_to(ROOT)}.py"
            + (" and .yaml" if importlib.util.find_spec("kfp") else " (no kfp: not the .yaml)")
        )


if __name__ == "__main__":
    main()
