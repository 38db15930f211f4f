"""The SVG picture of the pipeline DAG: structure, layout, status colours, determinism and escaping."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from nbprod.notebook.reader import notebook_from_cells, read_notebook
from nbprod.plan.build import build_plan
from nbprod.views.dag_svg import STATUS_COLOURS, edge_label, render_svg
from tests.conftest import EXAMPLES

NS = "{http://www.w3.org/2000/svg}"
CELLS = [
    ("code", "x = 1", ["step:load"]),
    ("code", "y = x + 1", ["step:clean", "gate:y"]),
    ("code", "m = y", ["step:train", "model:m"]),
    ("code", "acc = float(m)", ["step:evaluate", "metrics", "require:acc>=0.5"]),
    ("code", "z = 1", ["step:report", "after:load"]),
]


def small_plan(cells=CELLS):
    return build_plan(notebook_from_cells("nb.ipynb", cells))


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def step_groups(root: ET.Element) -> dict[str, ET.Element]:
    return {g.get("data-step"): g for g in root.iter(NS + "g") if g.get("class") == "step"}


def edge_groups(root: ET.Element) -> list[ET.Element]:
    return [g for g in root.iter(NS + "g") if (g.get("class") or "").split()[:1] == ["edge"]]


def box(group: ET.Element) -> tuple[float, float, float, float]:
    rect = group.find(NS + "rect")
    return tuple(float(rect.get(k)) for k in ("x", "y", "width", "height"))  # type: ignore[return-value]


def rename(plan, old: str, new: str) -> None:
    """Rename a step everywhere the plan refers to it (names, upstream lists, input producers)."""
    for s in plan.steps:
        if s.name == old:
            s.name = new
        s.upstream = [new if u == old else u for u in s.upstream]
        s.inputs = {n: (new if p == old else p) for n, p in s.inputs.items()}


def test_valid_xml_with_accessible_title_and_role():
    plan = small_plan()
    root = parse(render_svg(plan))
    assert root.tag == NS + "svg"
    assert root.get("role") == "img"
    assert root.get("aria-label") == "Pipeline nb: 5 steps, 4 edges"
    assert root.find(NS + "title").text == root.get("aria-label")
    w, h = float(root.get("width")), float(root.get("height"))
    assert root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}"
    for g in step_groups(root).values():  # the canvas holds every box
        x, y, bw, bh = box(g)
        assert 0 < x and x + bw < w and 0 < y and y + bh < h


def test_one_group_per_step_with_its_name():
    plan = small_plan()
    groups = step_groups(parse(render_svg(plan)))
    assert list(groups) == [s.name for s in plan.steps]
    for name, g in groups.items():
        assert [t.text for t in g.iter(NS + "text") if t.get("class") == "step-name"] == [name]
        assert len([r for r in g.findall(NS + "rect")]) >= 1


def test_one_path_per_edge_with_labels():
    plan = small_plan()
    root = parse(render_svg(plan))
    edges = edge_groups(root)
    assert [(g.get("data-from"), g.get("data-to")) for g in edges] == [(a, b) for a, b, _ in plan.edges]
    for g, (_a, _b, names) in zip(edges, plan.edges, strict=True):
        assert len(g.findall(NS + "path")) == 1
        path = g.find(NS + "path")
        assert "C" in path.get("d") and path.get("marker-end") == "url(#nbprod-arrow)"
        assert g.find(NS + "text").text == (", ".join(names) if names else "after")
    assert len(root.findall(f".//{NS}path[@class='edge']")) == len(plan.edges) == 4
    assert root.find(f"{NS}defs/{NS}marker[@id='nbprod-arrow']") is not None


def test_after_edge_is_dashed_and_labelled_after():
    root = parse(render_svg(small_plan()))
    after = [g for g in edge_groups(root) if "after" in g.get("class").split()]
    assert [(g.get("data-from"), g.get("data-to")) for g in after] == [("load", "report")]
    assert after[0].find(NS + "path").get("stroke-dasharray")
    assert after[0].find(NS + "text").text == "after"
    data = [g for g in edge_groups(root) if g not in after]
    assert all(g.find(NS + "path").get("stroke-dasharray") is None for g in data)


def test_edge_label_shows_three_names_then_count():
    assert edge_label([]) == "after"
    assert edge_label(["a", "b"]) == "a, b"
    assert edge_label(["a", "b", "c", "d", "e"]) == "a, b, c +2"
    plan = small_plan(
        [("code", "a = b = c = d = e = 1", ["step:load"]), ("code", "f = a + b + c + d + e", ["step:use"])]
    )
    label = edge_groups(parse(render_svg(plan)))[0].find(NS + "text").text
    assert label == "a, b, c +2"


def test_badges_and_requirements():
    groups = step_groups(parse(render_svg(small_plan())))

    def texts(name: str, cls: str) -> list[str]:
        return [t.text for t in groups[name].iter(NS + "text") if t.get("class") == cls]

    assert texts("clean", "badge") == ["gate: y"]
    assert texts("train", "badge") == ["model"]
    assert texts("evaluate", "require") == ["require: acc>=0.5"]
    assert texts("load", "badge") == [] and texts("load", "require") == []
    assert box(groups["evaluate"])[3] > box(groups["load"])[3]  # taller for the extra line


def test_layered_layout_columns_increase_along_edges():
    plan = small_plan()
    groups = step_groups(parse(render_svg(plan)))
    xs = {n: box(g)[0] for n, g in groups.items()}
    for a, b, _ in plan.edges:
        assert xs[b] > xs[a] + box(groups[a])[2]
    # load | clean, report | train | evaluate: report shares clean's column, stacked below it in plan order
    assert xs["load"] < xs["clean"] == xs["report"] < xs["train"] < xs["evaluate"]
    assert box(groups["report"])[1] > box(groups["clean"])[1] + box(groups["clean"])[3]
    assert len({box(g)[2] for g in groups.values()}) == 1  # one box width


def test_edge_skipping_a_column_runs_below_it():
    plan = build_plan(read_notebook(EXAMPLES / "classifier.ipynb"))
    root = parse(render_svg(plan))
    groups = step_groups(root)
    long = [g for g in edge_groups(root) if (g.get("data-from"), g.get("data-to")) == ("features", "evaluate")]
    assert len(long) == 1
    d = long[0].find(NS + "path").get("d")
    assert " L" in d
    lane_y = float(re.search(r" L[\d.]+,([\d.]+)", d).group(1))
    _x, y, _w, h = box(groups["train"])
    assert lane_y > y + h  # passes under the train box, not through it
    assert float(root.get("height")) > lane_y


def test_status_colours():
    plan = small_plan()
    status = {"load": "ran", "clean": "skipped", "train": "failed", "evaluate": "blocked", "report": "passed"}
    groups = step_groups(parse(render_svg(plan, status=status)))
    for name, st in status.items():
        rect = groups[name].find(NS + "rect")
        assert (rect.get("fill"), rect.get("stroke")) == STATUS_COLOURS[st]
        assert groups[name].get("data-status") == st
    assert STATUS_COLOURS["ran"][1] != STATUS_COLOURS["failed"][1] != STATUS_COLOURS["blocked"][1]
    # no status: neutral and unmarked; an unrecognised status is drawn as unknown
    plain = step_groups(parse(render_svg(plan, status={"load": "weird"})))
    assert (
        plain["load"].find(NS + "rect").get("fill"),
        plain["load"].find(NS + "rect").get("stroke"),
    ) == STATUS_COLOURS["unknown"]
    assert plain["clean"].get("data-status") is None
    neutral = plain["clean"].find(NS + "rect")
    assert (neutral.get("fill"), neutral.get("stroke")) not in STATUS_COLOURS.values()


def test_deterministic():
    a = render_svg(small_plan(), status={"load": "ran"})
    b = render_svg(small_plan(), status={"load": "ran"})
    assert a.encode() == b.encode()
    example = EXAMPLES / "classifier.ipynb"
    assert render_svg(build_plan(read_notebook(example))) == render_svg(build_plan(read_notebook(example)))


HOSTILE = "<script>alert(\"x\")</script> & 'q'"


def test_hostile_names_are_escaped():
    plan = small_plan()
    rename(plan, "load", HOSTILE)
    clean = plan.step("clean")
    clean.inputs = {HOSTILE + "_var": HOSTILE}  # the name flowing on the edge
    clean.gates = [HOSTILE]
    svg = render_svg(plan, status={HOSTILE: "ran"})
    assert "<script" not in svg and "</script>" not in svg
    assert "&lt;script&gt;" in svg and "&quot;" in svg and "&#x27;" in svg and "&amp;" in svg
    root = parse(svg)
    groups = step_groups(root)
    assert HOSTILE in groups  # attribute round-trips
    assert [t.text for t in groups[HOSTILE].iter(NS + "text") if t.get("class") == "step-name"] == [HOSTILE]
    assert groups[HOSTILE].find(NS + "title").text.startswith(HOSTILE)
    edge = [g for g in edge_groups(root) if g.get("data-to") == "clean"][0]
    assert edge.get("data-from") == HOSTILE
    assert edge.find(NS + "title").text == f"{HOSTILE} \u2192 clean: {HOSTILE}_var"
    assert not root.findall(f".//{NS}script")


def test_long_names_are_clipped_in_the_box_but_kept_in_the_tooltip():
    plan = small_plan()
    long = "step_" + "x" * 80
    rename(plan, "train", long)
    groups = step_groups(parse(render_svg(plan)))
    shown = [t.text for t in groups[long].iter(NS + "text") if t.get("class") == "step-name"][0]
    assert shown == long[:39] + "\u2026"
    assert groups[long].find(NS + "title").text.startswith(long)


def test_control_characters_keep_the_xml_valid():
    plan = small_plan()
    rename(plan, "report", "re\x00po\x1brt")
    root = parse(render_svg(plan))
    assert "re\ufffdpo\ufffdrt" in step_groups(root)


def test_self_contained_no_external_references():
    svg = render_svg(build_plan(read_notebook(EXAMPLES / "classifier.ipynb")), status={"load": "ran"})
    assert re.findall(r"https?://[^\s\"'<>]*", svg) == ["http://www.w3.org/2000/svg"]
    assert re.findall(r"url\(([^)]*)\)", svg) == ["#nbprod-arrow"] * len(re.findall("marker-end", svg))
    for bad in ("<script", "<style", "<image", "href", "@import", "<foreignObject", "xlink"):
        assert bad not in svg
    parse(svg)


def test_example_notebook_renders_badges():
    plan = build_plan(read_notebook(EXAMPLES / "classifier.ipynb"))
    root = parse(render_svg(plan))
    texts = [t.text for t in root.iter(NS + "text")]
    assert "gate: df" in texts and "model" in texts and "require: accuracy>=0.8" in texts
    assert len(step_groups(root)) == len(plan.steps) and len(edge_groups(root)) == len(plan.edges)


@pytest.mark.parametrize("steps", [0, 1])
def test_tiny_plans(steps):
    cells = [("code", "x = 1", ["step:only"])][:steps] or [("code", "x = 1", [])]
    plan = build_plan(notebook_from_cells("nb.ipynb", cells), strict=False)
    root = parse(render_svg(plan))
    assert len(step_groups(root)) == len(plan.steps) == steps
    assert float(root.get("width")) > 0 and float(root.get("height")) > 0


#: sha256 (first 16 hex digits) of pictures rendered before render_svg was split into layout and drawing.
#: A layout change that is meant must update these; anything else is a regression.
PINNED = {
    "classifier": "61062527ba5eb0b9",
    "regression": "d922beb6427da60e",
    "lanes": "2f71e393c77afc6b",
}


@pytest.mark.parametrize("case", sorted(PINNED))
def test_bytes_are_pinned(case):
    import hashlib

    if case == "lanes":
        plan, status = small_plan(CELLS + [("code", "w = x + y + acc", ["step:late"])]), {"late": "weird"}
    else:
        plan = build_plan(read_notebook(EXAMPLES / f"{case}.ipynb"))
        status = {"load": "ran", "features": "failed", "train": "blocked"} if case == "classifier" else None
    svg = render_svg(plan, status=status)
    assert hashlib.sha256(svg.encode()).hexdigest()[:16] == PINNED[case]
