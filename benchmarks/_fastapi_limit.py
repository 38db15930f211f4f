"""The limit line of bench_serve.py: a bare FastAPI app serving the same model (not a benchmark itself).

    NBPROD_BENCH_MODEL=<products>/<pipeline>/train/model NBPROD_BENCH_COLUMNS='["x00", ...]' \
        python -m uvicorn _fastapi_limit:app --app-dir benchmarks --host 127.0.0.1 --port P --workers 1

``POST /predict`` takes the Bento's JSON, ``{"records": [{column: value, ...}, ...]}``, with the model's own input
columns (for the forest: the processed features, since this app has no ``preprocess``), builds a DataFrame and
answers ``{"predictions": [...]}``: no validation, no drift watch, no prediction log. ``GET /ping`` is the
readiness check.
"""

from __future__ import annotations

import json
import os

import pandas as pd
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from nbprod.io import load_value

MODEL = load_value(os.environ["NBPROD_BENCH_MODEL"])
COLUMNS = json.loads(os.environ["NBPROD_BENCH_COLUMNS"])
app = FastAPI()


@app.get("/ping")
def ping() -> Response:
    return Response("ok")


@app.post("/predict")
async def predict(request: Request) -> JSONResponse:
    records = json.loads(await request.body())["records"]
    raw = MODEL.predict(pd.DataFrame(records, columns=COLUMNS))
    return JSONResponse({"predictions": [v.item() if hasattr(v, "item") else v for v in raw]})
