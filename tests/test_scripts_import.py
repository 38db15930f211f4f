"""Scripts outside the package (the demo's client, the benchmarks, the corpus generator) import nbprod by module
path: every `from nbprod.X import Y` they contain must resolve (a moved module broke `make demo` once)."""

import ast
import importlib
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted(
    [*ROOT.glob("example_notebooks/*.py"), *ROOT.glob("benchmarks/*.py"), ROOT / "binder/start_here.ipynb"]
)


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    if path.suffix == ".ipynb":
        import json

        cells = json.loads(path.read_text())["cells"]
        source = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    else:
        source = path.read_text()
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "nbprod":
            out.append((node.module or "", [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names if a.name.split(".")[0] == "nbprod"]
    return out


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_the_nbprod_imports_of_scripts_resolve(path):
    for module, names in _imports(path):
        mod = importlib.import_module(module)
        for name in names:
            assert hasattr(mod, name) or importlib.util.find_spec(f"{module}.{name}"), f"{path.name}: {module}.{name}"
