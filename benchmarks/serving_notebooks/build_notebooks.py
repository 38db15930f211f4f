"""Write the two serving-benchmark notebooks (cells and tags only, no outputs): ``linear.ipynb`` and ``boosted.ipynb``.

    python benchmarks/serving_notebooks/build_notebooks.py

``benchmarks/bench_serve.py --model linear|boosted`` trains them with ``nbprod run`` in a temporary project, next to
the 200-tree forest of ``example_notebooks/classifier.ipynb``. They live here, not in ``example_notebooks/`` (the
tests iterate over that folder and compare golden files). Synthetic data from a seeded generator; no gates (no
expectation suites to ship), tags as in the examples. Cell ids are deterministic (``cell-0``, ...).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent

LINEAR = [
    (
        "markdown",
        "# Cheap linear model\n\nA logistic regression on 20 numeric columns: the model costs microseconds, "
        "so serving overhead dominates.",
        [],
    ),
    (
        "code",
        """
        import numpy as np
        import pandas as pd
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import accuracy_score
        from sklearn.model_selection import train_test_split
        """,
        ["imports"],
    ),
    (
        "code",
        """
        seed = 7
        n_rows = 4000
        n_features = 20
        target = "label"
        """,
        ["parameters"],
    ),
    (
        "code",
        """
        rng = np.random.default_rng(seed)
        values = rng.normal(0.0, 1.0, size=(n_rows, n_features)).round(4)
        weights = rng.normal(0.0, 1.0, size=n_features)
        labels = (values @ weights + rng.normal(0.0, 1.0, size=n_rows) > 0).astype(int)
        df = pd.DataFrame(values, columns=[f"x{i:02d}" for i in range(n_features)])
        df[target] = labels
        print(f"{len(df)} rows, positive share {df[target].mean():.1%}")
        """,
        ["step:load"],
    ),
    (
        "code",
        """
        X_train, X_test, y_train, y_test = train_test_split(
            df.drop(columns=[target]), df[target], test_size=0.25, random_state=seed
        )
        """,
        ["step:features"],
    ),
    (
        "code",
        """
        model = LogisticRegression(max_iter=1000)
        model.fit(X_train, y_train)
        """,
        ["step:train", "model:model"],
    ),
    ("code", "test_pred = model.predict(X_test)", ["step:evaluate"]),
    (
        "code",
        'accuracy = float(accuracy_score(y_test, test_pred))\nprint(f"accuracy={accuracy:.3f}")',
        ["metrics", "require:accuracy>=0.7"],
    ),
]

BOOSTED = [
    (
        "markdown",
        "# Boosted model in a Pipeline\n\n80 boosted trees behind a one-hot encoding of three categorical "
        "columns, all in one scikit-learn Pipeline: the service takes the raw records.",
        [],
    ),
    (
        "code",
        """
        import numpy as np
        import pandas as pd
        from sklearn.compose import ColumnTransformer
        from sklearn.ensemble import GradientBoostingClassifier
        from sklearn.metrics import roc_auc_score
        from sklearn.model_selection import train_test_split
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import OneHotEncoder
        """,
        ["imports"],
    ),
    (
        "code",
        """
        seed = 11
        n_rows = 4000
        n_estimators = 80
        target = "churned"
        """,
        ["parameters"],
    ),
    (
        "code",
        """
        rng = np.random.default_rng(seed)
        plan = rng.choice(["basic", "pro", "enterprise"], size=n_rows, p=[0.5, 0.35, 0.15])
        region = rng.choice(["north", "south", "east", "west"], size=n_rows)
        device = rng.choice(["ios", "android", "web"], size=n_rows)
        tenure = rng.integers(1, 73, size=n_rows)
        charges = np.round(rng.gamma(4.0, 15.0, size=n_rows), 2)
        calls = rng.poisson(1.5, size=n_rows)
        usage = np.round(rng.gamma(2.0, 10.0, size=n_rows), 1)
        effect = pd.Series(plan).map({"basic": 1.0, "pro": 0.0, "enterprise": -1.5}).to_numpy()
        logit = -0.08 * tenure + 1.2 * calls + 0.01 * charges - 0.02 * usage + effect + (device == "web") * 0.5
        df = pd.DataFrame(
            {
                "plan": plan,
                "region": region,
                "device": device,
                "tenure_months": tenure,
                "monthly_charges": charges,
                "support_calls": calls,
                "data_usage_gb": usage,
            }
        )
        df[target] = (rng.random(n_rows) < 1.0 / (1.0 + np.exp(-logit))).astype(int)
        print(f"{len(df)} customers, churn rate {df[target].mean():.1%}")
        """,
        ["step:load"],
    ),
    (
        "code",
        """
        X_train, X_test, y_train, y_test = train_test_split(
            df.drop(columns=[target]), df[target], test_size=0.25, random_state=seed, stratify=df[target]
        )
        """,
        ["step:features"],
    ),
    (
        "code",
        """
        categorical = ["plan", "region", "device"]
        model = Pipeline(
            [
                (
                    "encode",
                    ColumnTransformer(
                        [("onehot", OneHotEncoder(handle_unknown="ignore"), categorical)], remainder="passthrough"
                    ),
                ),
                ("boost", GradientBoostingClassifier(n_estimators=n_estimators, max_depth=3, random_state=seed)),
            ]
        )
        model.fit(X_train, y_train)
        """,
        ["step:train", "model:model"],
    ),
    ("code", "test_proba = model.predict_proba(X_test)[:, 1]", ["step:evaluate"]),
    (
        "code",
        'roc_auc = float(roc_auc_score(y_test, test_proba))\nprint(f"roc_auc={roc_auc:.3f}")',
        ["metrics", "require:roc_auc>=0.7"],
    ),
]


def notebook(cells: list[tuple[str, str, list[str]]]) -> dict:
    out = []
    for i, (kind, text, tags) in enumerate(cells):
        cell: dict = {"cell_type": kind, "id": f"cell-{i}", "metadata": {"tags": tags} if tags else {},
                      "source": textwrap.dedent(text).strip("\n").splitlines(keepends=True)}  # fmt: skip
        if kind == "code":
            cell.update(execution_count=None, outputs=[])
        out.append(cell)
    kernelspec = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    return {"cells": out, "metadata": {"kernelspec": kernelspec, "language_info": {"name": "python"}},
            "nbformat": 4, "nbformat_minor": 5}  # fmt: skip


def main() -> None:
    for name, cells in (("linear", LINEAR), ("boosted", BOOSTED)):
        (HERE / f"{name}.ipynb").write_text(json.dumps(notebook(cells), indent=1, sort_keys=True) + "\n")
        print(f"wrote {(HERE / f'{name}.ipynb').relative_to(HERE.parent.parent)}")


if __name__ == "__main__":
    main()
