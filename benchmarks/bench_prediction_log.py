"""The prediction log's cost per request: the same Starlette app called through the ASGI protocol (as uvicorn calls
it) bare and behind ``PredictionLogMiddleware``, for 1-record and 100-record requests, inputs kept for 0%, 10% and
100% of them. Prints microseconds per request (median of 5 rounds) and the overhead against the bare app.

    .venv/bin/python benchmarks/bench_prediction_log.py [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402

from nbprod.package.prediction_log import PredictionLog, PredictionLogMiddleware  # noqa: E402


async def _predict(request: Request) -> JSONResponse:
    body = await request.json()
    return JSONResponse([r["x"] for r in body["records"]])


APP = Starlette(routes=[Route("/predict", _predict, methods=["POST"])])


def per_request_us(app, body: bytes, n: int) -> float:
    scope = {"type": "http", "method": "POST", "path": "/predict", "headers": [], "query_string": b"",
             "http_version": "1.1", "scheme": "http", "server": ("b", 80), "root_path": ""}  # fmt: skip

    async def send(message):
        pass

    async def many() -> float:
        start = time.perf_counter()
        for _ in range(n):
            chunks = [{"type": "http.request", "body": body, "more_body": False}]

            async def receive(chunks=chunks):
                return chunks.pop(0) if chunks else {"type": "http.disconnect"}

            await app(scope, receive, send)
        return (time.perf_counter() - start) / n * 1e6

    return asyncio.run(many())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    n = parser.parse_args().requests
    with tempfile.TemporaryDirectory() as tmp:
        for rows in (1, 100):
            row = {"x": 1.5, "plan": "basic", "region": "north", "tenure_months": 12, "monthly_charges": 70.2}
            body = json.dumps({"records": [row] * rows}).encode()
            bare = statistics.median(per_request_us(APP, body, n) for _ in range(5))
            print(f"{rows:>3}-record requests: bare app {bare:.1f} us/request")
            for sample in (0.0, 0.1, 1.0):
                plog = PredictionLog(Path(tmp) / f"{rows}-{sample}.jsonl", model="m:v", sample=sample)
                app = PredictionLogMiddleware(APP, paths=["/predict"], opener=lambda plog=plog: plog)
                logged = statistics.median(per_request_us(app, body, n) for _ in range(5))
                plog.flush()
                with open(Path(tmp) / f"{rows}-{sample}.jsonl", "rb") as fh:
                    size = statistics.mean(len(line) for line in fh)
                print(f"    sample {sample:.1f}: {logged:.1f} us/request (+{logged - bare:.1f} us), "
                      f"{size:.0f} bytes/line, {plog.dropped} dropped")  # fmt: skip
                plog.close()


if __name__ == "__main__":
    main()
