"""The canary Bento: the champion's and the candidate's models in one service (``nbprod serve NB --canary PCT``).

Its build context (``.nbprod/canary/<pipeline>/bento/``, written atomically) holds the candidate Bento's own files as
they were reviewed (its ``service.py`` renamed ``nbprod_model_service.py``, the ``nbprod_*.py`` helpers, the model
card), ``nbprod_canary.py`` (:mod:`nbprod.package.canary`) and a generated ``service.py`` whose API calls the
reviewed ``predict`` with either model, so both models take the same requests through the same serving code. The two
Bentos must therefore share the serving code and the request schema (checked: :func:`serving_contract`).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import yaml

from nbprod.errors import ServeError
from nbprod.package.canary import RuleSettings
from nbprod.package.templates import service_class_name

__all__ = ["BentoFiles", "bento_files", "serving_contract", "canary_files", "render_canary_service"]

#: the part of a generated service.py both models must share: from the serve cells to the request class's end
_CONTRACT = re.compile(
    r"^# (--- the notebook's `serve` cells|\(the notebook has no `serve` cells\)).*?\n(?=def _frame)", re.S | re.M
)


@dataclass(frozen=True)
class BentoFiles:
    """A built Bento's build context as stored (``BENTOML_HOME/bentos/<name>/<version>/src``)."""

    tag: str
    model_tag: str
    task: str
    files: dict[str, str]


def bento_files(bentoml_home: Path, tag: str) -> BentoFiles:
    """The source files of the built Bento ``tag`` and the model its service loads."""
    name, _, version = tag.partition(":")
    src = bentoml_home / "bentos" / name / version / "src"
    if not (src / "service.py").is_file():
        raise ServeError(
            f"Bento {tag} is not in the project's BentoML store",
            path=str(src),
            fix="run the pipeline again to rebuild it (nbprod run NB), or release a Bento that exists",
        )
    kinds = (".py", ".md", ".json", ".yaml")
    files = {p.name: p.read_text() for p in sorted(src.iterdir()) if p.is_file() and p.suffix in kinds}
    found = re.search(r"^MODEL_TAG = '([^']+)'$", files["service.py"], re.M)
    if not found:
        raise ServeError(f"Bento {tag}: its service.py names no MODEL_TAG", path=str(src / "service.py"))
    task = "classification" if "def predict_proba" in files["service.py"] else "regression"
    return BentoFiles(tag, found.group(1), task, files)


def serving_contract(bento: BentoFiles) -> str:
    """The serve cells and the request class of a Bento's service.py."""
    found = _CONTRACT.search(bento.files["service.py"])
    return found.group(0) if found else ""


def _check_pair(champion: BentoFiles, candidate: BentoFiles) -> None:
    if serving_contract(champion) != serving_contract(candidate):
        raise ServeError(
            f"the champion (Bento {champion.tag}) and the candidate (Bento {candidate.tag}) differ in their serving "
            "code or request schema: a canary sends both the same requests",
            fix="release the candidate after review instead (nbprod release NB), or keep the notebook's serve cells "
            "and training columns as the champion had them",
        )
    if champion.model_tag == candidate.model_tag:
        raise ServeError(
            f"the candidate (Bento {candidate.tag}) holds the champion's model {champion.model_tag}: nothing to compare",
            fix="train a new model (nbprod run NB with changed code, data or parameters) to make a candidate",
        )


def _description(pipeline: str, champion: BentoFiles, candidate: BentoFiles) -> str:
    # not "file:./MODEL_CARD.md": BentoML refuses description files under a hidden folder (.nbprod/canary/)
    return (
        f"Canary of pipeline {pipeline}: champion Bento {champion.tag}, candidate Bento {candidate.tag}. "
        "The candidate's model card is MODEL_CARD.md in this Bento."
    )


def render_canary_service(
    *, pipeline: str, champion: BentoFiles, candidate: BentoFiles, percent: float, shadow: bool, rule: RuleSettings
) -> str:
    base_cls = service_class_name(pipeline)
    cls = service_class_name(pipeline + "_canary")
    log = ""
    if (
        "nbprod_prediction_log.py" in candidate.files
        and "import nbprod_prediction_log" in candidate.files["service.py"]
    ):
        log = f"""

# the canary's requests go to its own prediction log, with the candidate's [tool.nbprod.prediction-log] settings
base.nbprod_prediction_log.install({cls}, {pipeline + "_canary"!r}, base.PREDICTION_LOG, bentoml.server_context)
"""
    proba = ""
    if candidate.task == "classification":
        proba = f'''
    @bentoml.api
    def predict_proba(self, records: Annotated[list[base.Record], Field(min_length=1, max_length=base.MAX_BATCH)],
                      ctx: bentoml.Context) -> list[dict]:
        """Class probabilities for each record, by the model the split chooses (as for predict)."""
        return self._answer(base.{base_cls}.inner.predict_proba_records, records, ctx)
'''
    return f'''"""Canary service for pipeline `{pipeline}`, generated by nbprod: champion and candidate in one Bento.

The champion is Bento {champion.tag} (model {champion.model_tag}), the candidate Bento {candidate.tag}
(model {candidate.model_tag}). Both answer through the candidate's reviewed service code (nbprod_model_service.py).
`nbprod serve NB --canary PCT [--shadow]` regenerates it; the rule is [tool.nbprod.canary] (see nbprod_canary.py).
"""
from __future__ import annotations

import logging
import os
import time
from typing import Annotated, Optional

import bentoml
import joblib
from pydantic import Field
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

import nbprod_canary
import nbprod_model_service as base

CHAMPION_TAG = {champion.model_tag!r}
CANDIDATE_TAG = {candidate.model_tag!r}
PERCENT = {float(percent)!r}
SHADOW = {shadow!r}
TASK = {candidate.task!r}
RULE = nbprod_canary.RuleSettings(**{asdict(rule)!r})
FACTS = {{"champion_bento": {champion.tag!r}, "candidate_bento": {candidate.tag!r},
         "champion_model": CHAMPION_TAG, "candidate_model": CANDIDATE_TAG}}
# the reviewed predict_records() of the candidate's service, called with either model (BentoML 1.4: Service.inner)
_PREDICT = base.{base_cls}.inner.predict_records
_CANARY: dict = {{}}
log = logging.getLogger("nbprod.canary")
DESCRIPTION = {_description(pipeline, champion, candidate)!r}


async def _report(request):
    canary = _CANARY.get("canary")
    return JSONResponse(canary.report() if canary is not None else {{"ready": False}})


canary_app = Starlette(routes=[Route("/", _report)])


class _Scorer:
    """The candidate's service instance with one of the two models, and a _watch that keeps the raw predictions
    (the canary watches the answering model's). Anything else the reviewed predict() uses comes from the instance."""

    def __init__(self, service, model) -> None:
        self._service, self.model, self.raw = service, model, None

    def _watch(self, records, raw) -> None:
        self.raw = raw

    def __getattr__(self, name: str):
        return getattr(self._service, name)


@bentoml.asgi_app(base.drift_app, path="/drift")
@bentoml.asgi_app(canary_app, path="/canary")
@bentoml.service(name={pipeline + "_canary"!r}, description=DESCRIPTION,
                 labels={{"nbprod.pipeline": {pipeline!r}, "nbprod.canary": "true"}}, traffic={{"timeout": 60}}, workers=1)
class {cls}:
    champion_model = bentoml.models.BentoModel(CHAMPION_TAG)
    candidate_model = bentoml.models.BentoModel(CANDIDATE_TAG)

    def __init__(self) -> None:
        # the candidate's reviewed service, initialised as it is when served alone: its model, its drift monitor
        # (/drift/ and the gauges, against its training baseline), whatever else its predict() uses
        self.service = base.{base_cls}.inner()
        self.models = {{
            nbprod_canary.CHAMPION: joblib.load(self.champion_model.path_of("model.joblib")),
            nbprod_canary.CANDIDATE: self.service.model,
        }}
        state_dir = os.environ.get("NBPROD_CANARY_STATE")  # set by nbprod serve --canary, which records the events
        self.canary = nbprod_canary.Canary(PERCENT, shadow=SHADOW, settings=RULE, task=TASK, state_dir=state_dir,
                                           facts=FACTS)
        nbprod_canary.prometheus_metrics()  # created once per worker process, after Prometheus is set up
        _CANARY["canary"] = self.canary

    def _score(self, model: str, api, records: list) -> tuple[bool, object, Optional[list]]:
        scorer = _Scorer(self.service, self.models[model])
        start = time.perf_counter()
        try:
            answer, ok = api(scorer, records), True
        except Exception as exc:  # the model or the serving code failed on these records: counted against it
            log.warning("%s failed on %d record(s): %s: %s", model, len(records), type(exc).__name__, exc)
            answer, ok = None, False
        predictions = (scorer.raw or []) if ok else None  # predict_proba: counted, not in the label distribution
        nbprod_canary.record_metrics(model, predictions, time.perf_counter() - start, self.canary)
        self.canary.observe(model, predictions)
        return ok, answer, scorer.raw

    def _answer(self, api, records: list, ctx: bentoml.Context):
        key = nbprod_canary.route_key(ctx.request.headers.get("x-request-id"),
                                      [r.model_dump(by_alias=True) for r in records])
        order = self.canary.router.scoring(key)  # shadow: the champion, then the candidate only scores
        results = [self._score(model, api, records) for model in order]
        answered, (ok, answer, raw) = order[0], results[0]
        if not ok and answered == nbprod_canary.CANDIDATE:  # the candidate failed: the champion answers
            answered, (ok, answer, raw) = nbprod_canary.CHAMPION, self._score(nbprod_canary.CHAMPION, api, records)
        if not ok:
            raise RuntimeError("the champion failed on these records (see the log)")
        if raw is not None:  # predict (predict_proba is not watched, as in the reviewed service)
            self.service._watch(records, raw)
        ctx.response.headers["x-nbprod-model"] = answered
        return answer

    @bentoml.api
    def predict(self, records: Annotated[list[base.Record], Field(min_length=1, max_length=base.MAX_BATCH)],
                ctx: bentoml.Context) -> list:
        """Predictions for a list of records, by the champion or the candidate (header x-nbprod-model says which)."""
        return self._answer(_PREDICT, records, ctx)
{proba}{log}'''


def _bentofile(pipeline: str, candidate: BentoFiles, champion: BentoFiles, include: list[str]) -> str:
    packages = (yaml.safe_load(candidate.files.get("bentofile.yaml", "")) or {}).get("python") or {}
    data = {
        "service": f"service:{service_class_name(pipeline + '_canary')}",
        "name": f"{pipeline}_canary",
        "description": _description(pipeline, champion, candidate),
        "labels": {"nbprod.pipeline": pipeline, "nbprod.canary": "true"},
        "include": include,
        "exclude": ["__pycache__/", "*.pyc"],
        "models": [champion.model_tag, candidate.model_tag],
        "python": {"packages": list(packages.get("packages") or []), "lock_packages": False},
    }
    header = f"# Canary Bento of pipeline `{pipeline}`, generated by nbprod serve --canary (champion + candidate).\n"
    return header + yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=1000)


def canary_files(
    pipeline: str,
    champion: BentoFiles,
    candidate: BentoFiles,
    *,
    percent: float,
    shadow: bool,
    rule: RuleSettings,
    canary_source: Optional[str] = None,
) -> dict[str, str]:
    """The canary Bento's build context (file name -> text); deterministic."""
    from nbprod.package import canary

    _check_pair(champion, candidate)
    files = {
        name: text
        for name, text in candidate.files.items()
        if name.startswith("nbprod_") and name.endswith(".py") or name in ("MODEL_CARD.md", "model_card.json")
    }
    files["nbprod_model_service.py"] = candidate.files["service.py"]
    files["nbprod_canary.py"] = canary_source if canary_source is not None else Path(canary.__file__).read_text()
    files["service.py"] = render_canary_service(
        pipeline=pipeline, champion=champion, candidate=candidate, percent=percent, shadow=shadow, rule=rule
    )
    files["bentofile.yaml"] = _bentofile(pipeline, candidate, champion, sorted(files))
    return files


def canary_version(files: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:12]
