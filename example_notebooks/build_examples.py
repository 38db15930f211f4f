"""Build (and execute) the two example notebooks shipped with nbprod.

    python example_notebooks/build_examples.py                 # build + execute both
    python example_notebooks/build_examples.py classifier      # just one
    python example_notebooks/build_examples.py --no-execute    # cells and metadata only

The notebooks' cells and metadata are defined here so they can be regenerated. Cell ids are
deterministic (``cell-0``, ``cell-1``, ...). Execution uses papermill with the notebook's own folder
as working directory (the regression example reads ``data/houses.csv`` relative to it). After
execution the papermill/nbclient bookkeeping (absolute input/output paths, timestamps) is stripped,
so the committed notebooks carry only their outputs and execution counts 1..N.

Tags are written as cell-metadata tags; the regression example also uses the first-line comment form
``# nbprod: step:train model:model`` on some cells, to show both forms of the tag grammar.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def _src(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


def md(text: str, *tags: str) -> dict:
    return {"cell_type": "markdown", "source": _src(text), "tags": list(tags)}


def code(text: str, *tags: str) -> dict:
    return {"cell_type": "code", "source": _src(text), "tags": list(tags)}


def build(cells: list[dict]) -> nbformat.NotebookNode:
    nb_cells = []
    for i, spec in enumerate(cells):
        metadata = {"tags": spec["tags"]} if spec["tags"] else {}
        make = new_code_cell if spec["cell_type"] == "code" else new_markdown_cell
        nb_cells.append(make(source=spec["source"], metadata=metadata, id=f"cell-{i}"))
    nb = new_notebook(
        cells=nb_cells,
        metadata={"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}},
    )
    nb.nbformat, nb.nbformat_minor = 4, 5
    nbformat.validate(nb)
    return nb


# --------------------------------------------------------------------------------------------
# classifier.ipynb: synthetic customer churn, binary classification
# --------------------------------------------------------------------------------------------

CLASSIFIER = [
    md(
        """
        # Customer churn classifier

        Predicts whether a subscription customer cancels (churns) at the end of the current billing
        cycle, from plan, region, tenure, charges, support calls and data usage. The retention team uses
        the churn probability to decide whom to call first.

        The notebook is tagged for **nbprod**: `imports`, `parameters`, `functions` and `serve` cells hold
        shared code, `step:` tags split the work into `load` -> `features` -> `train` -> `evaluate`,
        `gate:df` puts a data contract on the cleaned frame, `model:model` names the model to package,
        and the `metrics` cell carries the evaluation gates (`require:`).
        """
    ),
    code(
        """
        import numpy as np
        import pandas as pd
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
        from sklearn.model_selection import train_test_split
        """,
        "imports",
    ),
    md(
        """
        ## Parameters

        Papermill-style parameters: nbprod turns them into pipeline parameters that can be overridden
        from the command line. `seed` drives every source of randomness in the notebook.
        """
    ),
    code(
        """
        seed = 42
        n_rows = 2000
        test_size = 0.25
        n_estimators = 200
        max_depth = 6
        min_samples_leaf = 5
        target = "churned"
        """,
        "parameters",
    ),
    code(
        '''
        def split_features_target(frame, target_column):
            """Split a frame into its feature columns and its target column."""
            return frame.drop(columns=[target_column]), frame[target_column]
        ''',
        "functions",
    ),
    md(
        """
        The serving code: `preprocess` turns raw customer records (the columns of the cleaned frame,
        without the target) into the model's numeric features. The `features` step uses it for training
        and nbprod copies it into the prediction service, so training and serving cannot drift apart.
        Categories are fixed, so a single record gets the same columns as the training set.
        """
    ),
    code(
        '''
        def preprocess(df):
            """Encode raw customer records as the model's numeric feature matrix."""
            plans = ["basic", "pro", "enterprise"]
            regions = ["north", "south", "east", "west"]
            out = df.assign(
                plan=pd.Categorical(df["plan"], categories=plans),
                region=pd.Categorical(df["region"], categories=regions),
                charges_per_tenure_month=df["monthly_charges"] / df["tenure_months"].clip(lower=1),
            )
            return pd.get_dummies(out, columns=["plan", "region"], dtype=float)


        def postprocess(pred):
            """Map predicted class labels to readable outcomes."""
            return ["churn" if int(p) == 1 else "stay" for p in pred]
        ''',
        "serve",
    ),
    md(
        """
        ## Load

        A synthetic extract of the customer table, generated with a seeded generator so every run sees
        the same rows. About 2% of the data-usage readings are missing (metering outages), as in the
        real extract.
        """
    ),
    code(
        """
        rng = np.random.default_rng(seed)
        plan = rng.choice(["basic", "pro", "enterprise"], size=n_rows, p=[0.5, 0.35, 0.15])
        region = rng.choice(["north", "south", "east", "west"], size=n_rows)
        tenure_months = rng.integers(1, 73, size=n_rows)
        list_price = pd.Series(plan).map({"basic": 30.0, "pro": 65.0, "enterprise": 110.0}).to_numpy()
        monthly_charges = np.round(list_price + rng.normal(0.0, 8.0, size=n_rows), 2)
        support_calls = rng.poisson(1.5, size=n_rows)
        data_usage_gb = np.round(rng.gamma(2.0, 10.0, size=n_rows), 1)
        """,
        "step:load",
    ),
    code(
        """
        plan_effect = pd.Series(plan).map({"basic": 1.5, "pro": 0.0, "enterprise": -2.0}).to_numpy()
        region_effect = pd.Series(region).map({"north": 0.0, "south": 0.3, "east": -0.2, "west": 0.1}).to_numpy()
        logit = (
            -0.16 * tenure_months
            + 1.8 * support_calls
            + 0.08 * (monthly_charges - list_price)
            - 0.02 * data_usage_gb
            + plan_effect
            + region_effect
        )
        churned = (rng.random(n_rows) < 1.0 / (1.0 + np.exp(-logit))).astype(int)
        usage_reported = np.where(rng.random(n_rows) < 0.02, np.nan, data_usage_gb)

        raw = pd.DataFrame(
            {
                "customer_id": [f"C{i:05d}" for i in range(n_rows)],
                "plan": plan,
                "region": region,
                "tenure_months": tenure_months,
                "monthly_charges": monthly_charges,
                "support_calls": support_calls,
                "data_usage_gb": usage_reported,
                target: churned,
            }
        )
        print(f"{len(raw)} customers, churn rate {raw[target].mean():.1%}")
        """
    ),
    md("Exploration only (tagged `skip`, never part of the pipeline): a summary of the raw columns."),
    code(
        """
        print(raw.describe().round(2).to_string())
        print(raw.groupby("plan")[target].mean().round(3).to_string())
        print(raw.isna().sum().to_string())
        """,
        "skip",
    ),
    md(
        """
        ## Features

        Clean the raw table into the modelling frame `df`: drop the identifier, fill missing usage with
        the median. `df` is gated (`gate:df`): after this step it must pass the expectation suite
        `expectations/classifier/df.json`. Then split (stratified, seeded) and encode with `preprocess`.
        """
    ),
    code(
        """
        df = raw.drop(columns=["customer_id"])
        df = df.assign(data_usage_gb=df["data_usage_gb"].fillna(df["data_usage_gb"].median()))
        df = df[df["tenure_months"] > 0].reset_index(drop=True)
        """,
        "step:features",
        "gate:df",
    ),
    code(
        """
        X, y = split_features_target(df, target)
        X_train_raw, X_test_raw, y_train, y_test = train_test_split(
            X, y, test_size=test_size, random_state=seed, stratify=y
        )
        X_train = preprocess(X_train_raw)
        X_test = preprocess(X_test_raw)
        print(f"train {X_train.shape}, test {X_test.shape}")
        """
    ),
    md(
        """
        ## Train

        A random forest with shallow trees: robust to the mixed feature scales, no tuning needed for a
        first version. `n_jobs=1` and `random_state=seed` keep it reproducible.
        """
    ),
    code(
        """
        model = RandomForestClassifier(
            n_estimators=n_estimators,
            max_depth=max_depth,
            min_samples_leaf=min_samples_leaf,
            random_state=seed,
            n_jobs=1,
        )
        model.fit(X_train, y_train)
        print(f"train accuracy {model.score(X_train, y_train):.3f}")
        """,
        "step:train",
        "model:model",
    ),
    code(
        """
        importances = pd.Series(model.feature_importances_, index=X_train.columns)
        print(importances.sort_values(ascending=False).head(5).round(3).to_string())
        """
    ),
    md(
        """
        ## Evaluate

        Held-out metrics on the test split. The `require:` tags on the metrics cell are evaluation
        gates: nbprod does not package a model that misses them.
        """
    ),
    code(
        """
        test_pred = model.predict(X_test)
        test_proba = model.predict_proba(X_test)[:, 1]
        """,
        "step:evaluate",
    ),
    code(
        """
        accuracy = float(accuracy_score(y_test, test_pred))
        roc_auc = float(roc_auc_score(y_test, test_proba))
        f1 = float(f1_score(y_test, test_pred))
        print(f"accuracy={accuracy:.3f} roc_auc={roc_auc:.3f} f1={f1:.3f}")
        """,
        "metrics",
        "require:accuracy>=0.8",
        "require:roc_auc>=0.85",
    ),
    md("Sanity check of the serving path (exploration only): raw records -> `preprocess` -> model -> `postprocess`."),
    code(
        """
        print(postprocess(model.predict(preprocess(X_test_raw.head(5)))))
        """,
        "skip",
    ),
    md(
        """
        ## Model card

        The cells below are tagged `card:<field>`; nbprod copies their text into the model card.
        """
    ),
    md(
        """
        Rank active subscription customers by their probability of cancelling at the end of the current
        billing cycle, so that the retention team can prioritise outreach (calls, loyalty offers).
        The score supports a human decision; it does not trigger any action on its own.
        """,
        "card:intended-use",
    ),
    md(
        """
        Retention and customer-success analysts, through the weekly outreach list and the CRM integration
        that calls the prediction service. MLOps engineers operate the service.
        """,
        "card:users",
    ),
    md(
        """
        Not for pricing, credit, collections or any decision that restricts a customer's service. Not for
        customers outside the three consumer plans (basic, pro, enterprise) or the four sales regions it
        was trained on, and not for B2B contracts negotiated outside the standard plans.
        """,
        "card:out-of-scope",
    ),
    md(
        """
        Performance is reported overall; it can differ by plan, region and tenure band. Short-tenure
        customers and the enterprise plan (about 15% of customers) are the least represented groups and
        should be checked separately before relying on the score for them.
        """,
        "card:factors",
    ),
    md(
        """
        Trained on a snapshot of about 2,000 customers; behaviour changes (new plans, price changes,
        seasonality) are not captured until the model is retrained. Probabilities are not calibrated:
        use them for ranking, not as exact likelihoods. Missing usage readings are filled with the
        training median.
        """,
        "card:limitations",
    ),
    md(
        """
        Region can act as a proxy for demographic attributes. Offers driven by the score should be
        reviewed so that no region or customer group is systematically excluded from retention benefits.
        No personal identifiers are used as features; the customer id is dropped before training.
        """,
        "card:ethical-considerations",
    ),
    md(
        """
        The example data is synthetic and generated in the notebook; the metrics describe this data set
        only. Metrics come from a single stratified hold-out split (25%), so expect a few points of
        variation between seeds.
        """,
        "card:caveats",
    ),
    md(
        """
        Customer Analytics data science team (churn-model@example.com); MLOps review and release by the
        ML platform team (mlops@example.com).
        """,
        "card:owners",
    ),
]


# --------------------------------------------------------------------------------------------
# regression.ipynb: house prices from data/houses.csv, ridge regression
# --------------------------------------------------------------------------------------------

REGRESSION = [
    md(
        """
        # House price regression

        Estimates the sale price of a house (in dollars) from its size, rooms, age, lot, garage,
        distance to the city centre and neighbourhood. The data is `data/houses.csv`, a synthetic
        extract of past sales shipped with the example (re-made by `data/make_houses.py`).

        Tags are a mix of cell-metadata tags and first-line comments (`# nbprod: step:clean gate:df`):
        both forms mean the same to nbprod. Steps: `load` -> `clean` -> `train` -> `evaluate`.
        """
    ),
    code(
        """
        import numpy as np
        import pandas as pd
        from sklearn.linear_model import Ridge
        from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
        from sklearn.model_selection import train_test_split
        """,
        "imports",
    ),
    code(
        """
        alpha = 1.0
        test_size = 0.2
        seed = 7
        min_sqft = 300
        """,
        "parameters",
    ),
    code(
        '''
        def fill_median(frame, columns):
            """Fill the missing values of the given numeric columns with each column's median."""
            return frame.assign(**{column: frame[column].fillna(frame[column].median()) for column in columns})
        ''',
        "functions",
    ),
    md(
        """
        Serving code, shared by training (the `clean` step) and the prediction service: `preprocess`
        encodes raw house records, `postprocess` rounds predicted prices.
        """
    ),
    code(
        '''
        def preprocess(df):
            """Encode raw house records as the model's numeric features."""
            neighborhoods = ["downtown", "midtown", "suburb", "riverside", "rural"]
            out = df.assign(
                age=2024 - df["year_built"],
                neighborhood=pd.Categorical(df["neighborhood"], categories=neighborhoods),
            ).drop(columns=["year_built"])
            return pd.get_dummies(out, columns=["neighborhood"], dtype=float)


        def postprocess(pred):
            """Round predicted prices to the nearest 100 dollars, never below zero."""
            return [max(0.0, round(float(p), -2)) for p in pred]
        ''',
        "serve",
    ),
    md(
        """
        ## Load

        The path is relative to the notebook's folder.
        """
    ),
    code(
        """
        raw = pd.read_csv("data/houses.csv")
        print(f"{len(raw)} sales, {int(raw['price'].isna().sum())} without a price")
        """,
        "step:load",
    ),
    md("Exploration only (tagged `skip`): ranges and missing values of the raw columns."),
    code(
        """
        print(raw.describe().round(1).to_string())
        print(raw.isna().sum().to_string())
        print(raw["neighborhood"].value_counts().to_string())
        """,
        "skip",
    ),
    md(
        """
        ## Clean

        Drop sales without a price and data-entry errors (zero or tiny floor area), fill missing lot sizes
        with the median and missing garage counts with 0. The cleaned frame `df` is gated (`gate:df`).
        Then split (seeded) and encode with `preprocess`.
        """
    ),
    code(
        """
        # nbprod: step:clean gate:df
        df = raw.dropna(subset=["price"])
        df = df[df["sqft"] >= min_sqft]
        df = fill_median(df, ["lot_size_sqft"])
        df = df.assign(garage_spaces=df["garage_spaces"].fillna(0).astype(int)).reset_index(drop=True)
        print(f"{len(df)} clean rows of {len(raw)}")
        """
    ),
    code(
        """
        X_train_raw, X_test_raw, y_train, y_test = train_test_split(
            df.drop(columns=["price"]), df["price"], test_size=test_size, random_state=seed
        )
        X_train = preprocess(X_train_raw)
        X_test = preprocess(X_test_raw)
        print(f"train {X_train.shape}, test {X_test.shape}")
        """
    ),
    md(
        """
        ## Train

        Ridge regression on the encoded features; `alpha` is the regularisation strength.
        """
    ),
    code(
        """
        # nbprod: step:train model:model
        model = Ridge(alpha=alpha, random_state=seed)
        model.fit(X_train, y_train)
        coefficients = pd.Series(model.coef_, index=X_train.columns)
        print(coefficients.round(1).to_string())
        """
    ),
    md(
        """
        ## Evaluate

        Held-out metrics; `require:r2>=0.85` and `require:rmse<=60000` are the evaluation gates.
        """
    ),
    code(
        """
        test_pred = model.predict(X_test)
        """,
        "step:evaluate",
    ),
    code(
        """
        # nbprod: metrics require:r2>=0.85 require:rmse<=60000
        r2 = float(r2_score(y_test, test_pred))
        rmse = float(np.sqrt(mean_squared_error(y_test, test_pred)))
        mae = float(mean_absolute_error(y_test, test_pred))
        print(f"r2={r2:.3f} rmse={rmse:,.0f} mae={mae:,.0f}")
        """
    ),
    md("Sanity check of the serving path (exploration only)."),
    code(
        """
        print(postprocess(model.predict(preprocess(X_test_raw.head(3)))))
        """,
        "skip",
    ),
    md(
        """
        ## Model card

        The cells below are tagged `card:<field>`; nbprod copies their text into the model card.
        """
    ),
    md(
        """
        Give agents a first estimate of a house's sale price for listing discussions and sanity checks of
        asking prices. The estimate is a starting point for a human valuation, not a valuation itself.
        """,
        "card:intended-use",
    ),
    md(
        """
        Sales agents and pricing analysts, through the listing tool that calls the prediction service.
        """,
        "card:users",
    ),
    md(
        """
        Not for mortgage underwriting, insurance, tax assessment or any lending decision. Not for property
        types other than single-family houses, for neighbourhoods outside the five it was trained on, or
        for houses far outside the training ranges (for example above 5,000 sq ft).
        """,
        "card:out-of-scope",
    ),
    md(
        """
        Errors differ by neighbourhood and price band: riverside sales (about 10% of the data) and the most
        expensive houses are the least represented. Check per-neighbourhood errors before relying on it
        in a new area.
        """,
        "card:factors",
    ),
    md(
        """
        A linear model: it cannot capture interactions such as a price per square foot that differs by
        neighbourhood, and it extrapolates linearly outside the training ranges. Trained on about 1,500
        past sales; market movements after the data was collected are not reflected.
        """,
        "card:limitations",
    ),
    md(
        """
        Neighbourhood and distance to the centre can correlate with the demographics of residents;
        estimates must not be used in a way that steers buyers or sellers by neighbourhood. No personal
        data about buyers or sellers is used.
        """,
        "card:ethical-considerations",
    ),
    md(
        """
        The data is synthetic. Metrics come from a single 80/20 split of one file; prices are rounded to
        100 dollars by `postprocess`.
        """,
        "card:caveats",
    ),
    md(
        """
        Pricing analytics team (pricing-ds@example.com); MLOps review and release by the ML platform team
        (mlops@example.com).
        """,
        "card:owners",
    ),
]


NOTEBOOKS = {"classifier": CLASSIFIER, "regression": REGRESSION}


# --------------------------------------------------------------------------------------------
# execution
# --------------------------------------------------------------------------------------------


def _strip_bookkeeping(nb: nbformat.NotebookNode) -> None:
    """Drop papermill/nbclient metadata: absolute paths, timestamps, durations."""
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if cell.metadata.get("tags") == []:
            del cell.metadata["tags"]


def _check_executed(name: str, nb: nbformat.NotebookNode) -> None:
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
    if counts != list(range(1, len(counts) + 1)):
        raise SystemExit(f"{name}: execution counts not 1..N: {counts}")
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "error" or (out.output_type == "stream" and out.name == "stderr"):
                raise SystemExit(f"{name}: cell {cell.id} wrote an error or a warning: {out}")
    text = json.dumps(nb)
    for needle in {str(HERE.parent), str(Path.home()), "/tmp/"}:
        if needle and needle != "/" and needle in text:
            raise SystemExit(f"{name}: an absolute path ({needle}) leaked into the notebook")


def execute(name: str, nb: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, float]:
    import papermill

    start = time.perf_counter()
    executed = papermill.execute_notebook(
        nb, None, kernel_name="python3", cwd=str(HERE), progress_bar=False, log_output=False
    )
    elapsed = time.perf_counter() - start
    _strip_bookkeeping(executed)
    _check_executed(name, executed)
    return executed, elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"notebooks to build: {', '.join(NOTEBOOKS)} (default: all)"
    )
    parser.add_argument("--no-execute", action="store_true", help="write cells and metadata without outputs")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(NOTEBOOKS))
    if unknown:
        parser.error(f"unknown notebook(s): {', '.join(unknown)}")
    for name in args.names or list(NOTEBOOKS):
        nb = build(NOTEBOOKS[name])
        path = HERE / f"{name}.ipynb"
        if args.no_execute:
            nbformat.write(nb, path)
            print(f"wrote {path.name} (not executed)")
            continue
        executed, elapsed = execute(name, nb)
        nbformat.validate(executed)
        nbformat.write(executed, path)
        print(f"wrote {path.name}: executed in {elapsed:.1f}s (papermill, wall time)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
