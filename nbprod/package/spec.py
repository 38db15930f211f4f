"""What the service takes and returns, inferred from the pipeline's products and the notebook's ``serve`` cells.

The request records are the raw columns the notebook's ``preprocess`` turns into the model's features (found by
trying it on the pipeline's DataFrames), or the training features themselves when there is no ``preprocess``.
Each field is typed from the training data; ranges and value sets come from the gate suite where there is one.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from nbprod._core.layout import ProjectLayout
from nbprod.errors import NbprodError
from nbprod.io import load_value
from nbprod.notebook.reader import Cell
from nbprod.package.user_code import ServeCode
from nbprod.plan.dataflow import training_inputs
from nbprod.plan.model import Pipeline, Step

__all__ = ["InputField", "ServingSpec", "infer_serving", "serve_source", "serve_imports"]

MAX_VALUES = 50


@dataclass
class InputField:
    name: str
    type: str  # number | integer | string | boolean
    minimum: Optional[float] = None
    maximum: Optional[float] = None
    values: Optional[list] = None
    nullable: bool = False


@dataclass
class ServingSpec:
    fields: list[InputField]
    task: str  # classification | regression
    classes: Optional[list] = None
    has_preprocess: bool = False
    has_postprocess: bool = False
    target: Optional[str] = None
    model_step: str = ""
    model_var: str = ""
    notes: list[str] = field(default_factory=list)

    def schema_json(self) -> str:
        return json.dumps([asdict(f) for f in self.fields], sort_keys=True, indent=2)


def serve_imports(plan: Pipeline) -> dict[str, Cell]:
    """The import statements the serve cells need, in notebook order, each with the ``imports`` cell it is from."""
    imports: dict[str, tuple[str, Cell]] = {}  # name -> (statement, cell)
    for cell in plan.shared.get("imports", []):
        for name, statement in plan.analyses[cell.index].imports.items():
            imports[name] = (statement, cell)
    needed: dict[str, Cell] = {}
    defined: set[str] = set()
    for cell in plan.shared.get("serve", []):
        a = plan.analyses[cell.index]
        defined.update(a.defines)
        names = set(a.uses) | {g for f in a.functions.values() for g in f.globals_read}
        for n in sorted(names):
            if n in imports and n not in defined:
                needed.setdefault(*imports[n])
    return needed


def serve_source(plan: Pipeline) -> tuple[str, str]:
    """(imports the serve cells need, the serve cells' code) in notebook order."""
    code = "\n\n".join(c.source.strip("\n") for c in plan.shared.get("serve", []))
    return "\n".join(serve_imports(plan)), code


def _model_step(plan: Pipeline) -> Step:
    steps = [s for s in plan.steps if s.model]
    if not steps:
        raise NbprodError(
            "the notebook has no model:<variable> tag, so there is no model to package",
            path=plan.notebook.path,
            fix="tag the cell that trains the model, e.g. '# nbprod: step:train model:model'",
        )
    return steps[0]


def _suite_facts(project: Path, plan: Pipeline) -> dict[str, dict[str, Any]]:
    facts: dict[str, dict[str, Any]] = {}
    for step in plan.steps:
        for var in step.gates:
            path = ProjectLayout(project).suite(plan.name, var)
            if not path.exists():
                continue
            for exp in json.loads(path.read_text()).get("expectations", []):
                kw = exp.get("kwargs", {})
                col = kw.get("column")
                if not col or exp.get("severity", "critical") != "critical":
                    continue
                f = facts.setdefault(col, {})
                if exp["type"] == "expect_column_values_to_be_between":
                    f["minimum"], f["maximum"] = kw.get("min_value"), kw.get("max_value")
                elif exp["type"] == "expect_column_values_to_be_in_set":
                    f["values"] = list(kw.get("value_set") or [])
                elif exp["type"] == "expect_column_values_to_not_be_null":
                    f["nullable"] = kw.get("mostly", 1) < 1
    return facts


def _fields(frame: Any, suite: dict[str, dict[str, Any]]) -> list[InputField]:
    from pandas.api import types as ptypes

    out = []
    for col in frame.columns:
        s = frame[col]
        facts = suite.get(str(col), {})
        nullable = bool(s.isna().any()) or bool(facts.get("nullable"))
        if ptypes.is_bool_dtype(s):
            out.append(InputField(str(col), "boolean", nullable=nullable))
        elif ptypes.is_integer_dtype(s):
            lo, hi = facts.get("minimum"), facts.get("maximum")
            out.append(
                InputField(
                    str(col),
                    "integer",
                    None if lo is None else math.floor(lo),
                    None if hi is None else math.ceil(hi),
                    nullable=nullable,
                )
            )
        elif ptypes.is_numeric_dtype(s):
            out.append(InputField(str(col), "number", facts.get("minimum"), facts.get("maximum"), nullable=nullable))
        else:
            values = facts.get("values")
            if values is None:
                uniques = sorted(str(v) for v in s.dropna().unique())
                values = uniques if len(uniques) <= MAX_VALUES else None
            out.append(InputField(str(col), "string", values=values, nullable=nullable))
    return out


def _training(
    plan: Pipeline, step: Step, products: dict[str, dict[str, Path]], serve: ServeCode
) -> tuple[Any, str, Any, Any]:
    """(model, name of the training features, the features X, the target y) of the model step."""
    import pandas as pd

    model = load_value(products[step.name][step.model])  # type: ignore[index]
    x_name, y_name = training_inputs(plan, step)
    records = [(s.name, n) for s in plan.steps for n, what in s.package_outputs.items() if what == "request records"]
    if x_name is None and records and serve.has("preprocess"):  # model.fit(preprocess(records), y)
        owner, raw = records[0]
        path = products[owner][raw]
        X = serve.call("preprocess", load_value(path), what="preprocess() on the training records")
        y_path = products[step.inputs.get(y_name, step.name)].get(y_name) if y_name else None
        y = load_value(y_path) if y_path is not None and y_path.exists() else None
        return model, f"preprocess({raw})", X, y
    if x_name is None:
        raise NbprodError(
            f"cannot find {step.model}.fit(X, y) in step {step.name!r}",
            path=plan.notebook.path,
            cell=step.first_cell.ref,
            fix=f"train the model with {step.model}.fit(X, y) in the step tagged model:{step.model}",
        )

    def product_of(name: Optional[str]) -> Any:
        if name is None:
            return None
        owner = step.inputs.get(name, step.name)
        path = products[owner].get(name)
        return load_value(path) if path is not None and path.exists() else None

    X, y = product_of(x_name), product_of(y_name)
    if not isinstance(X, pd.DataFrame):
        raise NbprodError(
            f"the model's training features {x_name!r} are a {type(X).__name__}, not a pandas DataFrame",
            path=plan.notebook.path,
            fix="train on a DataFrame so that the service can type its request fields",
        )
    return model, x_name, X, y


def _raw_frame(
    plan: Pipeline, products: dict[str, dict[str, Path]], serve: ServeCode, spec: ServingSpec, X: Any, x_name: str
) -> Any:
    """The DataFrame of the pipeline that ``preprocess`` turns into ``X`` (without the target), or None."""
    import pandas as pd

    kept = [(s.name, n) for s in plan.steps for n, what in s.package_outputs.items() if what == "request records"]
    candidates = (
        kept + [(s.name, n) for s in plan.steps for n in s.gates] + [(s.name, n) for s in plan.steps for n in s.outputs]
    )
    for owner, name in candidates:
        path = products[owner].get(name)
        frame = load_value(path) if path and path.exists() else None
        if not isinstance(frame, pd.DataFrame):
            continue
        frame = frame.drop(columns=[c for c in [spec.target] if c in frame.columns])
        try:
            features = serve.ns["preprocess"](frame.head(50))
        except Exception:  # not the raw frame preprocess expects
            continue
        if list(getattr(features, "columns", [])) == list(X.columns):
            spec.notes.append(
                f"request records are the columns of {name!r} (step {owner!r}) that preprocess() turns into {x_name!r}"
            )
            return frame
    return None


def infer_serving(
    plan: Pipeline, project: Path, products: dict[str, dict[str, Path]]
) -> tuple[ServingSpec, Any, Any, Any]:
    """Returns (spec, model, raw training frame of request records, the model's features for those records).

    Runs the notebook's serve cells once; an error in them (or in ``preprocess``) is a UserCodeError naming the cell.
    """
    step = _model_step(plan)
    serve = ServeCode(plan, serve_imports(plan))
    serve.run()
    model, x_name, X, y = _training(plan, step, products, serve)
    spec = ServingSpec(
        [],
        "classification" if hasattr(model, "predict_proba") and hasattr(model, "classes_") else "regression",
        has_preprocess=serve.has("preprocess"),
        has_postprocess=serve.has("postprocess"),
        target=getattr(y, "name", None),
        model_step=step.name,
        model_var=step.model or "",
    )
    if spec.task == "classification":
        spec.classes = [c.item() if hasattr(c, "item") else c for c in model.classes_]
    raw = X
    if spec.has_preprocess:
        raw = _raw_frame(plan, products, serve, spec, X, x_name)
        if raw is None:
            spec.has_preprocess = False
            raw = X
            spec.notes.append(
                f"preprocess() did not reproduce {x_name!r} from any DataFrame of the pipeline: "
                f"the service takes {x_name!r} as is"
            )
    spec.fields = _fields(raw, _suite_facts(project, plan))
    features = (
        serve.call("preprocess", raw, what="preprocess() on the training records") if spec.has_preprocess else raw
    )
    return spec, model, raw, features
