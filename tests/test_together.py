"""Values unpacked from one result (``fig, ax = plt.subplots()``) share objects: saved, loaded and handed on together,
so a change through one name shows through the other in a later step, as in the notebook's kernel."""

from __future__ import annotations

import ast
import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from nbprod.analysis.together import unpacked_together  # noqa: E402
from nbprod.convert.render import render_pipeline  # noqa: E402
from nbprod.io import load_together, load_value, save_together, save_value  # noqa: E402
from nbprod.notebook.reader import notebook_from_cells  # noqa: E402
from nbprod.plan.build import build_plan  # noqa: E402
from nbprod.workflow.verify import verify  # noqa: E402
from nbprod.workflow.verify_compare import compare_objects  # noqa: E402


def test_what_one_assignment_unpacks_from_one_value_is_a_group():
    tree = ast.parse(
        "fig, ax = plt.subplots()\nfig2, (a1, a2) = plt.subplots(1, 2)\nx, y = 1, 2\n"
        "first, *rest = items\ndef f():\n    p, q = g()\nfor i, j in pairs: pass"
    )
    groups = unpacked_together(tree)
    assert [g for g in groups if "plt" not in g] == [
        ("fig", "ax"),
        ("fig2", "a1", "a2"),
        ("first", "rest"),
        ("i", "j", "pairs"),  # a loop variable is each element of what it runs over in turn
    ]
    assert ("fig", "ax", "plt") in groups  # a part of plt too, as far as the cell can tell: the planner drops modules


def test_a_name_bound_to_a_part_of_another_is_in_its_group():
    tree = ast.parse(
        "ax = fig.add_subplot(111)\nitems = holder['items']\nw = net.layers[0].weights\n"
        "c = df.copy()\nm = df.groupby('k').mean()\nn = len(xs)"
    )
    assert unpacked_together(tree) == [("ax", "fig"), ("items", "holder"), ("w", "net")]


def test_a_figure_whose_axes_a_later_step_draws_on_goes_on_from_that_step():
    cells = [
        ("code", "import matplotlib.pyplot as plt", ["imports"]),
        ("code", "fig = plt.figure()\nax = fig.add_subplot(111)", ["step:figure"]),
        ("code", "ax.plot([1, 2])", ["step:draw"]),
        ("code", "fig.savefig('f.png')", ["step:save"]),
    ]
    plan = build_plan(notebook_from_cells("nb.ipynb", cells))
    assert plan.step("draw").inputs == {"ax": "figure", "fig": "figure"}
    assert plan.step("save").inputs == {"fig": "draw"}  # not the figure step's, which has no line drawn


def test_saved_together_the_values_share_their_objects_again(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3])
    frame = pd.DataFrame({"a": [1, 2]})
    paths = {n: tmp_path / n for n in ("fig", "ax", "frame", "f")}
    save_together({"fig": fig, "ax": ax, "frame": frame, "f": lambda v: v + 1}, paths)
    plt.close(fig)
    assert not (tmp_path / "frame" / "value.parquet").exists()  # pickled with the others: a dict may hold it
    assert json.loads((tmp_path / "ax" / "together.json").read_text())["name"] == "ax"
    fig2, ax2, frame2, f2 = load_together(*paths.values())
    assert ax2 is fig2.axes[0] and len(ax2.lines) == 1 and f2(1) == 2
    pd.testing.assert_frame_equal(frame2, frame)
    alone = load_value(paths["ax"])  # one of them alone still loads (a copy of its own)
    assert alone is not ax2 and len(alone.lines) == 1


def test_frames_and_arrays_alone_keep_their_own_formats(tmp_path):
    paths = {n: tmp_path / n for n in ("a", "b")}
    save_together({"a": pd.DataFrame({"x": [1]}), "b": pd.Series([1.0], name="s")}, paths)
    assert (tmp_path / "a" / "value.parquet").exists() and (tmp_path / "b" / "value.series.parquet").exists()


def test_separately_saved_values_lose_what_they_shared(tmp_path):
    """Why the group exists: the same two values saved one by one come back as two figures."""
    fig, ax = plt.subplots()
    save_value(fig, tmp_path / "fig")
    save_value(ax, tmp_path / "ax")
    plt.close(fig)
    fig2, ax2 = load_together(tmp_path / "fig", tmp_path / "ax")
    assert ax2 is not fig2.axes[0]


FIGURE_ACROSS = [
    ("code", "import numpy as np\nimport matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt", []),
    ("markdown", "## Data", []),
    ("code", "x = np.linspace(0, 3, 30)", []),
    ("markdown", "## Figure", []),
    ("code", "fig, axes = plt.subplots(1, 2)\naxes[0].plot(x, x ** 2)", []),
    ("markdown", "## Right panel", []),
    ("code", "axes[1].scatter(x, -x)\naxes[1].set_title('right')\nplt.suptitle('both')", []),
    ("markdown", "## Report", []),
    (
        "code",
        "fig.savefig('both.png', dpi=40)\nprint([len(a.get_children()) > 0 for a in fig.axes])\n"
        "print(fig.axes[1].get_title(), fig._suptitle.get_text())",
        [],
    ),
]


def test_a_step_changing_one_name_of_a_group_hands_on_the_whole_group(write_nb):
    from nbprod.lint import lint

    plan = build_plan(notebook_from_cells("nb.ipynb", FIGURE_ACROSS))
    right, report = plan.step("right_panel"), plan.step("report")
    assert right.inputs == {"axes": "figure", "fig": "figure", "x": "data"}  # fig: loaded though never named
    assert report.inputs == {"fig": "right_panel"}  # the figure right_panel drew in, with what it drew
    cells = [
        ("code", "import matplotlib.pyplot as plt", ["imports"]),
        ("code", "fig, ax = plt.subplots()", ["step:make"]),
        ("code", "ax.plot([1, 2])\nplt.title('t')", ["step:draw"]),
    ]
    findings = lint(write_nb(cells, "figure.ipynb")).findings
    assert "NB405" not in {f.code for f in findings}  # plt.title: the loaded figure is pyplot's current one


def test_the_generated_steps_save_and_load_the_group_as_one(tmp_path):
    plan = build_plan(notebook_from_cells("nb.ipynb", FIGURE_ACROSS))
    files = render_pipeline(plan, tmp_path)
    assert "save_together({'axes': axes, 'fig': fig}, product)" in files["tasks/figure.py"]
    right = files["tasks/right_panel.py"]
    assert "axes, fig = load_together(upstream['figure']['axes'], upstream['figure']['fig'])" in right
    assert "save_value(fig, product['fig'])" in right  # only fig goes on: the axes drawn on are part of it
    assert "load_together" not in files["tasks/figure.py"] and "save_together" not in files["tasks/data.py"]


def test_a_group_nobody_changes_is_saved_as_before(tmp_path):
    cells = [
        ("code", "from sklearn.model_selection import train_test_split\nimport numpy as np", ["imports"]),
        (
            "code",
            "X = np.arange(20).reshape(10, 2)\ny = np.arange(10)\n"
            "X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)",
            ["step:split"],
        ),
        ("code", "print(X_train.sum(), X_test.sum())", ["step:use"]),
    ]
    plan = build_plan(notebook_from_cells("nb.ipynb", cells))
    assert plan.step("split").together == []
    assert "save_together" not in render_pipeline(plan, tmp_path)["tasks/split.py"]


def test_verify_compares_figures_by_their_drawings():
    a, ax_a = plt.subplots(figsize=(2, 2))
    b, ax_b = plt.subplots(figsize=(2, 2))
    ax_a.plot([1, 2])
    ax_b.plot([1, 2])
    assert compare_objects(a, b) == ("equal", "")
    ax_b.set_title("other")
    assert compare_objects(ax_a, ax_b)[0] == "different"
    plt.close("all")


@pytest.mark.slow
def test_a_figure_drawn_across_steps_is_the_notebooks_figure(tmp_path, write_nb):
    nb = write_nb(FIGURE_ACROSS, "figure.ipynb", folder=tmp_path)
    report = verify(nb, project=tmp_path)
    assert report.equal, report.render()
    assert report.steps[-1].printed_equal  # [True, True] / 'right both' as in the notebook


def test_a_model_saved_with_the_names_unpacked_with_it_is_staged_for_the_bento(tmp_path):
    """``model, history = fit(...)``, history changed later: the model's product folder holds the group's pickle;
    the Bento still gets a model file of its own."""
    import joblib
    from sklearn.linear_model import LinearRegression

    from nbprod.package.packager import _stage_model

    model = LinearRegression().fit([[0.0], [1.0]], [0.0, 2.0])
    paths = {"history": tmp_path / "p" / "history", "model": tmp_path / "p" / "model"}
    save_together({"history": [1.0], "model": model}, paths)
    spec = type("Spec", (), {"schema_json": lambda self: "{}"})()
    tag = _stage_model(tmp_path / "work", paths["model"], model, spec, {})
    staged = joblib.load(tmp_path / "work" / "model.joblib")
    assert staged.predict([[2.0]])[0] == pytest.approx(4.0) and len(tag) == 12


def test_each_member_folder_stands_alone_and_numbers_are_saved_apart(tmp_path):
    """An orchestrator moves products one by one (a Kubeflow artifact per product): a member's folder holds the
    group's pickle itself. A number or a string shares nothing: it keeps its own file, as do the frames it sits with."""
    import shutil

    fig, ax = plt.subplots()
    frame = pd.DataFrame({"a": [1]})
    paths = {n: tmp_path / "step" / n for n in ("fig", "ax", "n_rows", "frame")}
    save_together({"fig": fig, "ax": ax, "n_rows": 3, "frame": frame}, paths)
    plt.close(fig)
    moved = tmp_path / "elsewhere" / "ax"
    shutil.copytree(paths["ax"], moved)
    assert type(load_value(moved)).__name__ == "Axes"  # without the other folders
    assert (paths["n_rows"] / "value.joblib").exists() and not (paths["n_rows"] / "together.json").exists()
    fig2, ax2 = load_together(paths["fig"], moved)  # one group, by digest: one unpickling
    assert ax2 is fig2.axes[0]


def test_a_frames_shape_or_columns_are_not_parts_of_it():
    tree = ast.parse("n_rows, n_cols = df.shape\nfor col in df.columns:\n    pass\nfirst = df['a']")
    assert unpacked_together(tree) == [("n_rows", "n_cols"), ("first", "df")]


def test_a_name_its_producer_may_leave_unbound_is_not_pulled_into_a_group(tmp_path):
    cells = [
        ("code", "models = {}\nfor name, m in models.items():\n    pass", ["step:load"]),
        ("code", "models['x'] = 1", ["step:feat"]),
        ("code", "if 'm' in globals():\n    print(m)\nprint(models)", ["step:show"]),
    ]
    plan = build_plan(notebook_from_cells("nb.ipynb", cells))
    assert "m" not in plan.step("feat").inputs and "m" in plan.step("load").maybe_bound
    assert "save_together" not in render_pipeline(plan, tmp_path)["tasks/feat.py"]
