"""Model card: model_card.json and MODEL_CARD.md built from facts and the notebook's card: cells.

Golden files: `NBPROD_UPDATE_GOLDEN=1 .venv/bin/python -m pytest -q tests/test_card.py` rewrites
tests/golden/model_card/; review the diff.
"""

from __future__ import annotations

import copy
import json
import os

import pytest

from nbprod.notebook.tags import CARD_FIELDS, Requirement
from nbprod.package.model_card import (
    HUMAN_FIELDS,
    CardFacts,
    DriftSummary,
    GateFact,
    MetricFact,
    OutputSchema,
    TrainingData,
    build_model_card,
    card_json,
    missing_human_fields,
    parse_threshold,
)
from nbprod.package.model_card_md import card_files, render_markdown
from nbprod.package.spec import InputField
from tests.conftest import GOLDEN

GOLDEN_CARD = GOLDEN / "model_card"


def churn_facts() -> dict:
    """A realistic, fixed facts dict: the churn classifier of the examples."""
    return {
        "name": "churn",
        "version": "3",
        "mlflow_run_id": "4f1c2a9e8b7d4c3a9f0e1d2c3b4a5968",
        "tracking_uri_kind": "sqlite",
        "notebook": "notebooks/churn.ipynb",
        "notebook_digest": "sha256:9b1f0c4e7a2d",
        "git_commit": "47d9680",
        "bento_tag": "churn:v3",
        "estimator": "sklearn.ensemble.RandomForestClassifier",
        "hyperparameters": {"n_estimators": 200, "max_depth": 8, "random_state": 42, "class_weight": None},
        "task": "classification",
        "classes": [0, 1],
        "input_schema": [
            {
                "name": "tenure_months",
                "type": "integer",
                "minimum": 0,
                "maximum": 72,
                "values": None,
                "nullable": False,
            },
            {
                "name": "monthly_charges",
                "type": "number",
                "minimum": 18.25,
                "maximum": 118.75,
                "values": None,
                "nullable": False,
            },
            {
                "name": "contract",
                "type": "string",
                "minimum": None,
                "maximum": None,
                "values": ["month-to-month", "one-year", "two-year"],
                "nullable": False,
            },
            {
                "name": "paperless_billing",
                "type": "boolean",
                "minimum": None,
                "maximum": None,
                "values": None,
                "nullable": True,
            },
        ],
        "output_schema": {"type": "integer", "description": "1 when the customer is predicted to churn, else 0"},
        "training_data": {
            "rows": 5634,
            "columns": ["tenure_months", "monthly_charges", "contract", "paperless_billing"],
            "digest": "sha256:2c26b46b68ff",
            "target": "churned",
        },
        "metrics": [
            {"name": "roc_auc", "value": 0.8412345, "threshold": "roc_auc>=0.85", "passed": False, "step": "evaluate"},
            {"name": "accuracy", "value": 0.8031, "threshold": "accuracy>=0.8", "passed": True, "step": "evaluate"},
            {"name": "f1", "value": 0.61, "threshold": None, "passed": None, "step": "evaluate"},
        ],
        "gates": [
            {
                "variable": "train_df",
                "suite": "expectations/churn/train_df.json",
                "success": True,
                "expectations": 12,
                "failed": 0,
                "warnings": 1,
            }
        ],
        "drift_baseline": {
            "rows": 5634,
            "numeric": ["monthly_charges", "tenure_months"],
            "categorical": ["contract"],
            "alert_levels": {"psi": 0.25, "z": 3.0, "unseen_share": 0.05},
        },
        "environment": {
            "python": "3.11.7",
            "packages": {"scikit-learn": "1.9.1", "pandas": "3.0.0", "bentoml": "1.4.20"},
        },
    }


def churn_human() -> dict[str, str]:
    return {
        "intended-use": "Rank **existing customers** by churn risk for the retention team's weekly outreach list.",
        "users": "The retention team (analysts), through the internal CRM.",
        "out-of-scope": "Pricing decisions, credit decisions, or any decision about a single customer without review.",
        "factors": "Contract type and tenure; performance is lower for customers with under 3 months of tenure.",
        "limitations": "Trained on 2023 data from one region.\n\n- no seasonality features\n- labels lag by 30 days",
        "ethical-considerations": "No protected attributes are used; proxies (region) were reviewed.",
        "caveats": "Retrain quarterly; check drift gauges before trusting scores.",
        "owners": "<!-- nbprod: card:owners -->\nData science: Ana Ruiz (ana@example.com); MLOps: Ben Ode",
    }


@pytest.fixture
def full_card() -> dict:
    return build_model_card(churn_facts(), churn_human())


def test_full_card_has_no_missing_fields_and_canonical_sections(full_card):
    assert full_card["missing_human_fields"] == [] == missing_human_fields(full_card)
    assert set(full_card) == {
        "schema_version",
        "model_details",
        "model_parameters",
        "data",
        "quantitative_analysis",
        "considerations",
        "monitoring",
        "environment",
        "missing_human_fields",
    }
    assert set(full_card["considerations"]) == {
        "intended_use",
        "users",
        "out_of_scope",
        "factors",
        "limitations",
        "ethical_considerations",
        "caveats",
    }
    # the owners cell's tag comment is not part of the text
    assert full_card["model_details"]["owners"] == "Data science: Ana Ruiz (ana@example.com); MLOps: Ben Ode"
    assert full_card["model_details"]["mlflow_run_id"] == "4f1c2a9e8b7d4c3a9f0e1d2c3b4a5968"
    assert full_card["model_parameters"]["estimator"] == "sklearn.ensemble.RandomForestClassifier"
    assert full_card["data"]["training"]["rows"] == 5634
    # metrics ordered by name; summary counts the failed threshold
    assert [m["name"] for m in full_card["quantitative_analysis"]["metrics"]] == ["accuracy", "f1", "roc_auc"]
    summary = full_card["quantitative_analysis"]["summary"]
    assert summary["thresholds_checked"] == 2 and summary["thresholds_failed"] == 1 and summary["all_passed"] is False


def test_human_fields_cover_card_fields_with_titles():
    assert tuple(HUMAN_FIELDS) == CARD_FIELDS
    assert HUMAN_FIELDS["intended-use"] == "Intended use"
    assert HUMAN_FIELDS["out-of-scope"] == "Out-of-scope uses"
    assert HUMAN_FIELDS["caveats"] == "Caveats and recommendations"


def test_markdown_metrics_table_with_thresholds_and_results(full_card):
    md = render_markdown(full_card)
    assert md.startswith("# Model card: churn\n")
    assert "Generated by nbprod from `notebooks/churn.ipynb`" in md
    assert "| metric | value | threshold | result |" in md
    assert "| `accuracy` | 0.8031 | ≥ 0.8 | PASS |" in md
    assert "| `roc_auc` | 0.841234 | ≥ 0.85 | FAIL |" in md
    assert "| `f1` | 0.61 | - | - |" in md
    assert "| `train_df` | `expectations/churn/train_df.json` | PASS | 12 | 0 | 1 |" in md


def test_markdown_carries_human_texts_and_schema_rows(full_card):
    md = render_markdown(full_card)
    for text in churn_human().values():
        assert text.split("\n")[-1] in md
    assert "<!-- nbprod" not in md
    assert "TODO" not in md
    assert "| `tenure_months` | `integer` | 0 to 72 | no |" in md
    assert "| `monthly_charges` | `number` | 18.25 to 118.75 | no |" in md
    assert "| `contract` | `string` | `month-to-month`, `one-year`, `two-year` | no |" in md
    assert "| `paperless_billing` | `boolean` | - | yes |" in md
    titles = [
        "Model details",
        "Intended use",
        "Users",
        "Out-of-scope uses",
        "Factors",
        "Metrics",
        "Data gates",
        "Training data",
        "Input schema",
        "Output",
        "Limitations",
        "Ethical considerations",
        "Caveats and recommendations",
        "Monitoring (drift)",
        "Environment",
    ]
    positions = [md.index(f"\n## {t}\n") for t in titles]
    assert positions == sorted(positions), "sections out of order"


def test_missing_human_fields_listed_and_rendered_as_todo():
    human = churn_human()
    del human["limitations"], human["owners"]
    human["users"] = "   \n"  # blank counts as missing
    card = build_model_card(churn_facts(), human)
    assert card["missing_human_fields"] == ["limitations", "owners", "users"] == missing_human_fields(card)
    assert card["considerations"]["limitations"] is None and card["model_details"]["owners"] is None
    md = render_markdown(card)
    for field in ("limitations", "owners", "users"):
        assert f"**TODO** - fill this in the notebook: add a markdown cell tagged `card:{field}`" in md
    assert "`card:intended-use`" not in md
    assert md.count("**TODO**") == 3
    section = md.split("\n## Limitations\n", 1)[1].split("\n## ", 1)[0]
    assert "`card:limitations`" in section


def test_minimal_facts_all_human_missing():
    card = build_model_card({"name": "tiny"}, {})
    assert card["missing_human_fields"] == sorted(CARD_FIELDS)
    md = render_markdown(card)
    assert md.count("**TODO**") == len(CARD_FIELDS)
    assert "- (no metrics recorded)" in md
    json.loads(card_json(card))


def test_name_required_and_unknown_field_rejected():
    with pytest.raises(ValueError, match="name"):
        build_model_card({"name": " "}, {})
    with pytest.raises(ValueError, match="unknown model-card field"):
        build_model_card({"name": "churn"}, {"intended-uses": "x"})


def test_threshold_evaluated_when_passed_not_given():  # with Requirement.holds, as the require: tag
    facts = {
        "name": "m",
        "metrics": [{"name": "rmse", "value": 3.5, "threshold": "rmse<=3", "passed": None, "step": "e"}],
    }
    card = build_model_card(facts, {})
    assert card["quantitative_analysis"]["metrics"][0]["passed"] is False
    assert "| `rmse` | 3.5 | ≤ 3 | FAIL |" in render_markdown(card)


def test_deterministic_bytes():
    a = build_model_card(churn_facts(), churn_human())
    facts = churn_facts()
    facts["metrics"].reverse()
    facts["hyperparameters"] = dict(reversed(list(facts["hyperparameters"].items())))
    b = build_model_card(facts, dict(reversed(list(churn_human().items()))))
    assert card_json(a) == card_json(b)
    assert render_markdown(a) == render_markdown(b) == render_markdown(copy.deepcopy(a))
    assert card_files(a) == {"model_card.json": card_json(a), "MODEL_CARD.md": render_markdown(a)}


def test_facts_are_escaped_in_markdown_human_text_is_not():
    facts = churn_facts()
    facts["name"] = "churn<script>alert(1)</script>"
    facts["input_schema"][0]["name"] = "a|b"
    facts["input_schema"][2]["values"] = ["x|y", "<script>"]
    facts["output_schema"]["description"] = "<b>bold</b> | pipe"
    facts["hyperparameters"]["criterion"] = "<img src=x>"
    facts["metrics"][0]["name"] = "auc|<script>"
    human = churn_human()
    human["caveats"] = "Keep <kbd>this</kbd> markdown as written."
    md = render_markdown(build_model_card(facts, human))
    assert "<script>" not in md and "<b>" not in md and "<img" not in md
    assert "&lt;script&gt;" in md
    assert "| `a\\|b` | `integer` |" in md
    assert "`x\\|y`, &lt;script&gt;" in md
    assert "&lt;b&gt;bold&lt;/b&gt; \\| pipe" in md
    assert "Keep <kbd>this</kbd> markdown as written." in md
    # every table row still has exactly its columns (no unescaped '|')
    for line in md.splitlines():
        if line.startswith("| `a\\|b`"):
            assert len(line.replace("\\|", "").split("|")) == 6


def test_card_json_round_trips(full_card):
    text = card_json(full_card)
    assert text.endswith("\n") and text == json.dumps(full_card, sort_keys=True, indent=2) + "\n"
    loaded = json.loads(text)
    assert loaded == full_card
    assert card_json(loaded) == text
    assert render_markdown(loaded) == render_markdown(full_card)
    assert missing_human_fields(loaded) == []


def test_non_json_values_are_made_serialisable():
    facts = {"name": "m", "hyperparameters": {"alpha": float("nan"), "layers": (64, 32), "kernel": object}}
    card = build_model_card(facts, {})
    hp = json.loads(card_json(card))["model_parameters"]["hyperparameters"]
    assert hp == {"alpha": "nan", "kernel": "<class 'object'>", "layers": [64, 32]}
    assert "&lt;class 'object'&gt;" in render_markdown(card)


def test_golden_files():
    card = build_model_card(churn_facts(), churn_human())
    files = card_files(card)
    if os.environ.get("NBPROD_UPDATE_GOLDEN") == "1":
        GOLDEN_CARD.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (GOLDEN_CARD / name).write_bytes(text.encode())
    for name, text in files.items():
        golden = (GOLDEN_CARD / name).read_bytes()
        assert text.encode() == golden, (
            f"{name} differs from tests/golden/model_card/{name} "
            "(NBPROD_UPDATE_GOLDEN=1 pytest tests/test_card.py, then review the diff)"
        )


def test_author_headings_fit_under_the_card_sections():
    human = churn_human()
    human["limitations"] = "## Limitations\n\nSmall sample.\n\n# Data\n\n```\n# not a heading\n```"
    md = render_markdown(build_model_card(churn_facts(), human))
    section = md.split("\n## Limitations\n", 1)[1].split("\n## ", 1)[0]
    assert section.strip().startswith("Small sample.")  # the repeated title is dropped
    assert "\n### Data\n" in section and "\n# Data\n" not in md  # demoted below the card's sections
    assert "\n# not a heading\n" in section  # fenced code kept as is


def churn_card_facts() -> CardFacts:
    """The same facts as :func:`churn_facts`, typed as packaging builds them."""
    d = churn_facts()
    return CardFacts(
        name=d["name"],
        version=d["version"],
        mlflow_run_id=d["mlflow_run_id"],
        tracking_uri_kind=d["tracking_uri_kind"],
        notebook=d["notebook"],
        notebook_digest=d["notebook_digest"],
        git_commit=d["git_commit"],
        bento_tag=d["bento_tag"],
        estimator=d["estimator"],
        hyperparameters=d["hyperparameters"],
        task=d["task"],
        classes=d["classes"],
        input_schema=[InputField(**f) for f in d["input_schema"]],
        output_schema=OutputSchema("integer", "1 when the customer is predicted to churn, else 0"),
        training_data=TrainingData(5634, d["training_data"]["columns"], "sha256:2c26b46b68ff", "churned"),
        metrics=[
            MetricFact("roc_auc", 0.8412345, "evaluate", Requirement("roc_auc", ">=", 0.85)),
            MetricFact("accuracy", 0.8031, "evaluate", Requirement("accuracy", ">=", 0.8)),
            MetricFact("f1", 0.61, "evaluate"),
        ],
        gates=[GateFact("train_df", "expectations/churn/train_df.json", True, 12, 0, 1)],
        drift_baseline=DriftSummary(
            5634, ["monthly_charges", "tenure_months"], ["contract"], d["drift_baseline"]["alert_levels"]
        ),
        python="3.11.7",
        packages=d["environment"]["packages"],
    )


def test_typed_facts_give_the_golden_card():
    facts = churn_card_facts()
    assert facts == CardFacts.from_dict(churn_facts())
    files = card_files(build_model_card(facts, churn_human()))
    for name, text in files.items():
        assert text.encode() == (GOLDEN_CARD / name).read_bytes(), name


def test_thresholds_are_requirements_evaluated_with_holds():
    assert parse_threshold("accuracy>=0.8") == Requirement("accuracy", ">=", 0.8)
    assert parse_threshold(">=0.8", "accuracy") == Requirement("accuracy", ">=", 0.8)
    assert parse_threshold("about 0.8") is None
    assert MetricFact("rmse", 2.5, "e", Requirement("rmse", "<=", 3)).passed is True
    assert MetricFact("rmse", 3.5, "e", Requirement("rmse", "<=", 3)).passed is False
    assert MetricFact("rmse", 3.5, "e").passed is None
    with pytest.raises(ValueError, match="threshold 'about 0.8' does not parse"):
        build_model_card({"name": "m", "metrics": [{"name": "rmse", "value": 1.0, "threshold": "about 0.8"}]}, {})


def test_hyperparameters_of_a_composite_model_are_the_tree_of_what_was_set():
    import numpy as np
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    from nbprod.package.hyperparams import hyperparameters

    encode = ColumnTransformer(
        [("num", StandardScaler(), ["a"]), ("cat", OneHotEncoder(handle_unknown="ignore", dtype=np.float32), ["b"])]
    )
    pipe = Pipeline(
        [("prep", encode), ("log", FunctionTransformer(np.log1p)), ("gbm", GradientBoostingClassifier(n_estimators=80))]
    )
    assert hyperparameters(pipe) == {
        "model": "Pipeline",
        "model.prep": "ColumnTransformer",
        "model.prep.num": "StandardScaler",
        "model.prep.cat": "OneHotEncoder",
        "model.prep.cat.dtype": "numpy.float32",
        "model.prep.cat.handle_unknown": "ignore",
        "model.log": "FunctionTransformer",
        "model.log.func": "log1p",
        "model.gbm": "GradientBoostingClassifier",
        "model.gbm.n_estimators": 80,
    }
    assert hyperparameters(LogisticRegression()) == {"model": "LogisticRegression"}  # defaults are not repeated
    assert hyperparameters(object()) == {}
    text = render_markdown(build_model_card({"name": "m", "hyperparameters": hyperparameters(pipe)}, {}))
    assert '| `model.prep.cat.dtype` | `"numpy.float32"` |' in text and "&lt;" not in text
