"""The corpus: notebooks shaped like real ones (``tests/corpus/make_corpus.py``) through lint, convert, run, verify.

Fast: every notebook lints (with the error codes recorded below) and converts into the steps recorded below.
Slow: every notebook runs in-process (``run()``: one Ploomber import for all of them), and a representative subset
(nine notebooks, ``VERIFIED``) is verified (``verify``: papermill kernels, seconds per step), to keep the slow corpus
run to a few minutes on two cores.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from nbprod.lint import lint
from nbprod.notebook.reader import read_notebook
from nbprod.plan.build import build_plan

CORPUS = Path(__file__).resolve().parent / "corpus"
NOTEBOOKS = CORPUS / "notebooks"

#: notebook -> (shape, steps, lint error codes). NB203: an estimator that takes random_state gets none.
EXPECTED: dict[str, tuple[str, list[str], list[str]]] = {
    "kaggle_passengers.ipynb": ("kaggle", ["load", "clean", "train", "evaluate"], []),
    "kaggle_house_prices.ipynb": ("kaggle", ["make_data", "features", "fit", "score"], []),
    "kaggle_churn.ipynb": ("kaggle", ["load", "prepare", "train", "evaluate"], []),
    "kaggle_wine.ipynb": ("kaggle", ["load", "split", "scale", "train", "evaluate"], []),
    "kaggle_sales.ipynb": ("kaggle", ["series", "lags", "fit", "backtest"], []),
    "kaggle_iris_eda.py": ("kaggle", ["load", "model"], []),
    "gallery_classifier_comparison.ipynb": ("gallery", ["datasets", "classifiers", "scores"], []),
    "gallery_pca_digits.ipynb": ("gallery", ["load_the_digits", "project", "classify"], []),
    "gallery_ridge_path.ipynb": ("gallery", ["data", "compute_the_path", "shrinkage"], []),
    "gallery_kmeans_blobs.ipynb": ("gallery", ["generate_blobs", "fit_several_k", "best_k"], []),
    "gallery_cross_validation.ipynb": ("gallery", ["data", "scores", "summary"], []),
    "gallery_scaling.ipynb": ("gallery", ["split", "unscaled_vs_scaled", "report"], []),
    "gallery_iris_tree.py": ("gallery", ["load", "fit", "rules"], []),
    "gallery_isotonic.ipynb": ("gallery", ["noisy_increasing_data", "fit_both_models", "compare_the_errors"], []),
    "kale_iris.ipynb": ("kale", ["load", "split", "train", "evaluate"], []),
    "kale_diabetes.ipynb": ("kale", ["data", "model", "evaluate"], []),
    "kale_breast_cancer.ipynb": ("kale", ["ingest", "preprocess", "train", "evaluate"], ["NB203"]),
    "kale_text_counts.ipynb": ("kale", ["corpus", "vectorize", "train", "check"], []),
    "kale_blobs.ipynb": ("kale", ["generate", "cluster", "report"], []),
    "kale_wine_steps.ipynb": ("kale", ["load", "reduce", "classify"], []),
    "comments_regression.py": ("comments", ["load", "fit", "evaluate"], []),
    "comments_classification.ipynb": ("comments", ["data", "train", "evaluate"], []),
    "comments_gated.ipynb": ("comments", ["table", "train", "evaluate"], []),
    "comments_after.ipynb": ("comments", ["prices", "volumes", "report"], []),
    "comments_kfold.ipynb": ("comments", ["data", "folds", "summary"], []),
    "messy_helpers.ipynb": ("messy", ["raw", "clean", "summary", "extra"], []),
    "messy_mutations.ipynb": ("messy", ["load", "fix", "drop", "describe"], []),
    "messy_results_dict.ipynb": ("messy", ["data", "tree", "logistic", "compare"], []),
    "messy_config_dict.ipynb": ("messy", ["settings", "data", "normalise", "outliers"], []),
    "plots_eda.ipynb": ("plots", ["load", "explore", "model", "evaluate"], []),
    "plots_residuals.py": ("plots", ["data", "fit", "plot", "check"], []),
    "plots_confusion.ipynb": ("plots", ["data", "train", "confusion"], []),
    "models_stacking.ipynb": ("models", ["data", "base", "blend", "evaluate"], []),
    "models_per_segment.ipynb": ("models", ["data", "fit", "score"], []),
    "models_voting.ipynb": ("models", ["data", "members", "vote", "evaluate"], []),
    "params_papermill.ipynb": ("params", ["data", "split", "train", "evaluate"], []),
    "params_grid.ipynb": ("params", ["data", "grid", "choose"], []),
    # metrics cells that compute non-numbers on the way (pred, flags, a dict of candidates, a decision array)
    "comments_params.py": ("comments", ["signal", "smooth", "flag"], []),
    "kaggle_credit.ipynb": ("kaggle", ["applicants", "encode", "train", "evaluate"], []),
    "models_selection.ipynb": ("models", ["data", "logistic", "forest", "knn", "select"], []),
    "params_threshold.ipynb": ("params", ["fit", "decide"], []),
    # '%matplotlib inline' + imports, matplotlib.use(...) + imports before the first step; '%time x = ...'
    "messy_magics.ipynb": ("messy", ["data", "plot", "report"], []),
    "plots_between_steps.ipynb": ("plots", ["simulate", "returns", "stats"], []),
    # an instance of a class from the functions cell, loaded by a step that never names the class
    "messy_custom_class.ipynb": ("messy", ["setup", "features", "train", "evaluate"], []),
    # a registry filled by a decorator, a class attribute set from outside, a mutable default, namedtuple rows, a partial
    "messy_registry.ipynb": ("messy", ["helpers", "data", "more_metrics", "score"], []),
    # a SQL connection shared by sections (run as one step), %%capture of a fit, a generator consumed a section later
    "kaggle_sqlite.ipynb": ("kaggle", ["load_into_sql", "fit_quietly", "predict_in_batches"], []),
    # frames bound under computed names (globals()[...]), a RandomState given to KMeans and drawn from later
    "gallery_computed_frames.ipynb": ("gallery", ["points", "cluster", "sizes"], []),
}

#: verified end to end (papermill kernels: ~25 s each on two cores), one per shape that exercises the most kinds of
#: values (frames, arrays, estimators, headings, Kale tags, percent scripts, in-place changes, plots); the others run
#: in-process only here (all were verified equal by hand when they were added; messy_magics needs %time's timing lines
#: ignored, which verify does)
VERIFIED = [
    "messy_registry.ipynb",
    "kaggle_sqlite.ipynb",
    "kaggle_passengers.ipynb",
    "gallery_ridge_path.ipynb",
    "kale_iris.ipynb",
    "comments_regression.py",
    "messy_mutations.ipynb",
    "plots_residuals.py",
    "kaggle_credit.ipynb",  # a metrics cell that also computes an array and a frame
]


def _generator():
    spec = importlib.util.spec_from_file_location("make_corpus", CORPUS / "make_corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_corpus_is_what_the_generator_writes_and_the_table_names_every_notebook():
    gen = _generator()
    for rel, text in gen.files().items():
        assert (NOTEBOOKS / rel).read_text(encoding="utf-8") == text, f"{rel}: run python tests/corpus/make_corpus.py"
    on_disk = sorted(p.name for p in NOTEBOOKS.iterdir() if p.is_file())
    assert on_disk == sorted(gen.NOTEBOOKS) == sorted(EXPECTED)
    assert len(EXPECTED) >= 30
    assert {shape for shape, _, _ in EXPECTED.values()} == set(
        "kaggle gallery kale comments messy plots models params".split()
    )
    assert all(shape == gen.NOTEBOOKS[n][0] for n, (shape, _, _) in EXPECTED.items())
    assert set(VERIFIED) <= set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_notebook_lints_and_plans_into_its_steps(name):
    _, steps, errors = EXPECTED[name]
    report = lint(NOTEBOOKS / name)
    assert sorted({f.code for f in report.errors}) == errors, [f.render(name) for f in report.errors]
    plan = build_plan(read_notebook(NOTEBOOKS / name))
    assert [s.name for s in plan.steps] == steps


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_notebook_converts(name, tmp_path):
    from nbprod.convert import convert

    result = convert(NOTEBOOKS / name, project=tmp_path)
    assert sorted(result.files) == sorted(["pipeline.yaml", "README.md", *(f"tasks/{s}.py" for s in EXPECTED[name][1])])


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_notebook_runs(name, tmp_path, monkeypatch):
    from nbprod.workflow.run import run

    monkeypatch.setenv("MPLBACKEND", "Agg")
    result = run(NOTEBOOKS / name, project=tmp_path, track=False, package=False)
    assert sorted(result.ran) == sorted(EXPECTED[name][1])
    for step in result.plan.steps:
        for key, rel in result.products[step.name].items():
            assert (tmp_path / rel).exists(), f"{step.name}: no product {key}"


@pytest.mark.slow
@pytest.mark.parametrize("name", VERIFIED)
def test_corpus_notebook_verifies_equal(name, tmp_path):
    from nbprod.workflow.verify import verify

    report = verify(NOTEBOOKS / name, project=tmp_path)
    assert report.equal, report.render()
    assert not any(s.not_comparable for s in report.steps), report.render()
