"""When the build record alone decides which steps re-run (without Ploomber), and when Ploomber must decide."""

import pytest

from nbprod._core.layout import ProjectLayout
from nbprod.engine.record import BuildRecord, product_stats, step_fingerprints
from nbprod.workflow.incremental import all_products, gate_inputs, outdated_steps
from nbprod.workflow.run import _prepare

CELLS = [
    ("code", "import math", ["imports"]),
    ("code", "a = 1", ["step:first"]),
    ("code", "b = a + 1", ["step:middle"]),
    ("code", "c = b * 2", ["step:last"]),
]


@pytest.fixture
def built(tmp_path, write_nb, monkeypatch):
    """A converted three-step pipeline whose products exist, and the build record of that build."""
    monkeypatch.chdir(tmp_path)
    nb = write_nb(CELLS)

    def prepare(cells=CELLS):
        write_nb(cells)
        b = _prepare(nb, ProjectLayout(tmp_path), name=None, params={}, isolated=False, split="auto", emit=print)
        return b, step_fingerprints(b.spec, b.pdir, b.mode, gate_inputs(b.plan, b.layout))

    b, fps = prepare()
    for p in all_products(b):
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x")
    record = BuildRecord(steps=fps, products=product_stats(all_products(b)))
    return prepare, b, record


def test_an_edited_step_and_what_follows_it_re_run_without_ploomber(built):
    prepare, b, record = built
    assert outdated_steps(b, record, step_fingerprints(b.spec, b.pdir, b.mode, {})) == []
    edited, fps = prepare([*CELLS[:2], ("code", "b = a + 2", ["step:middle"]), CELLS[3]])
    assert outdated_steps(edited, record, fps) == ["middle", "last"]
    edited, fps = prepare([*CELLS[:3], ("code", "c = b * 3", ["step:last"])])
    assert outdated_steps(edited, record, fps) == ["last"]


def test_ploomber_decides_without_a_record_with_other_steps_or_a_changed_product(built):
    prepare, b, record = built
    edited, fps = prepare([*CELLS[:3], ("code", "c = b * 3", ["step:last"])])
    assert outdated_steps(edited, None, fps) is None
    other = BuildRecord(steps={**record.steps, "gone": "x"}, products=record.products)
    assert outdated_steps(edited, other, fps) is None
    first_product = next(p for p in all_products(edited) if "/first/" in p.as_posix())
    first_product.write_text("changed by hand")  # a product of an up-to-date step: only Ploomber can judge it
    assert outdated_steps(edited, record, fps) is None
    first_product.unlink()
    assert outdated_steps(edited, record, fps) is None


def test_a_changed_product_of_an_out_of_date_step_does_not_matter_and_the_switch_turns_it_off(built, monkeypatch):
    prepare, b, record = built
    edited, fps = prepare([*CELLS[:3], ("code", "c = b * 3", ["step:last"])])
    next(p for p in all_products(edited) if p.name == "last.ipynb").unlink()  # its executed notebook
    assert outdated_steps(edited, record, fps) == ["last"]
    monkeypatch.setenv("NBPROD_DIRECT", "0")
    assert outdated_steps(edited, record, fps) is None
