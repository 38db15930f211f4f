"""The out-of-date steps run without Ploomber (``engine.direct``): the same products as Ploomber's build, Ploomber's
own bookkeeping kept (it finds those steps up to date afterwards), failures located, and no ``import ploomber``."""

import ast
import json
import shutil
import subprocess
import sys

import pytest

from nbprod.errors import StepFailedError
from nbprod.workflow.run import run
from tests.conftest import ROOT, tree_snapshot

pytestmark = pytest.mark.slow

CLASSIFIER = "example_notebooks/classifier.ipynb"
PRODUCTS = ".nbprod/products/classifier"
STEPS = ["load", "features", "train", "evaluate"]


def edit_cell(nb_path, needle, replacement):
    text = nb_path.read_text()
    assert needle in text
    nb_path.write_text(text.replace(needle, replacement, 1))


def _injected(source: list) -> dict:
    """The injected parameters as values (Ploomber orders the upstream steps either way from one build to the next)."""
    lines = "".join(source).splitlines()
    assert lines[0] == "# Parameters"
    return {k.strip(): ast.literal_eval(v.strip()) for k, v in (line.split("=", 1) for line in lines[1:])}


def _executed(nb_bytes: bytes) -> list:
    """What an executed step notebook holds apart from timestamps and random cell ids: types, sources, outputs."""
    nb = json.loads(nb_bytes)
    out = []
    for c in nb["cells"]:
        tags = (c.get("metadata") or {}).get("tags")
        source = _injected(c["source"]) if tags == ["injected-parameters"] else c["source"]
        out.append((c["cell_type"], source, c.get("outputs"), tags))
    return out


def _compare(direct: dict[str, bytes], ploomber: dict[str, bytes]) -> None:
    assert sorted(direct) == sorted(ploomber)
    values = [p for p in direct if not p.endswith((".ipynb", ".metadata"))]
    assert {p.rsplit("/", 1)[-1] for p in values} >= {"value.parquet", "value.joblib", "metrics.json"}
    for path in values:  # the values the steps computed: byte for byte
        assert direct[path] == ploomber[path], path
    for path in (p for p in direct if p.endswith(".ipynb")):
        d, p = _executed(direct[path]), _executed(ploomber[path])
        assert len(d) == len(p), path
        for i, (dc, pc) in enumerate(zip(d, p)):
            assert dc == pc, f"{path}, cell {i}:\n{dc}\n{pc}"
    for path in (p for p in direct if p.endswith(".metadata")):  # Ploomber's bookkeeping: same source and params
        d, p = json.loads(direct[path]), json.loads(ploomber[path])
        assert (d["stored_source_code"], d["params"]) == (p["stored_source_code"], p["params"]), path
        assert isinstance(d["timestamp"], float)


def test_steps_run_without_ploomber_give_ploomber_s_products(project):
    assert run(CLASSIFIER).ran == STEPS  # no build record: Ploomber builds
    nb = project / CLASSIFIER
    edit_cell(nb, '"rng = np.random.default_rng(seed)', '"_edited = 1\\n",\n    "rng = np.random.default_rng(seed)')
    events = []
    direct = run(CLASSIFIER, on_event=events.append)  # the build record says every step is out of date
    assert direct.ran == STEPS and [e.kind for e in events if e.step == "train"] == ["start", "done"]
    direct_products = tree_snapshot(project / PRODUCTS)

    forced = run(CLASSIFIER, force=True)  # Ploomber runs the same edited pipeline
    assert forced.ran == STEPS and forced.metrics == direct.metrics
    _compare(direct_products, tree_snapshot(project / PRODUCTS))

    # after steps run without Ploomber, Ploomber itself (no build record) finds them up to date
    edit_cell(nb, 'print(f\\"accuracy={accuracy:.3f}', 'print(f\\"ACC={accuracy:.3f}')
    assert run(CLASSIFIER).ran == ["evaluate"]
    shutil.rmtree(project / ".nbprod" / "state")
    again = run(CLASSIFIER)
    assert again.ran == [] and not again.fast_path
    executed = json.loads((project / PRODUCTS / "evaluate.ipynb").read_text())
    assert any("ACC=" in "".join(o.get("text", "")) for c in executed["cells"] for o in c.get("outputs", []))


def test_a_step_failing_without_ploomber_names_its_cell_and_aborts_what_follows(project):
    assert run(CLASSIFIER).ran == STEPS
    nb = project / CLASSIFIER
    edit_cell(
        nb,
        '"model.fit(X_train, y_train)\\n",',
        '"model.fit(X_train, y_train)\\n",\n    "raise ValueError(\\"bad fit\\")\\n",',
    )
    events = []
    with pytest.raises(StepFailedError) as info:
        run(CLASSIFIER, on_event=events.append)
    text = str(info.value)
    assert "step 'train' failed in cell" in text and "'model = RandomForestClassifier('" in text
    assert "ValueError: bad fit" in text and ", line 9" in text
    assert ("failed", "train") in [(e.kind, e.step) for e in events]
    assert ("aborted", "evaluate") in [(e.kind, e.step) for e in events]
    edit_cell(nb, '    "raise ValueError(\\"bad fit\\")\\n",\n', "")
    assert run(CLASSIFIER).ran == ["train", "evaluate"]  # the finished steps are not re-run


def test_re_running_the_edited_last_step_does_not_import_ploomber(project):
    assert run(CLASSIFIER).ran == STEPS
    edit_cell(project / CLASSIFIER, 'print(f\\"accuracy={accuracy:.3f}', 'print(f\\"ACC={accuracy:.3f}')
    code = (
        "import sys\nfrom nbprod.workflow.run import run\n"
        f"r = run({CLASSIFIER!r}, track=False, package=False)\n"
        "print(r.ran, sorted(m for m in ('ploomber', 'papermill', 'ploomber_engine.ipython') if m in sys.modules))"
    )
    env = {**__import__("os").environ, "PYTHONPATH": str(ROOT), "NBPROD_GATE_WORKER": "0"}
    out = subprocess.run([sys.executable, "-c", code], cwd=project, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "['evaluate'] ['ploomber_engine.ipython']"
