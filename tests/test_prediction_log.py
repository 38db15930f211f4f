"""The prediction log: bounded rotation, the sampled fraction of inputs, request ids, what a line holds, settings.

The middleware is driven through the ASGI protocol (as uvicorn calls it) in front of a real Starlette app."""

from __future__ import annotations

import asyncio
import json
import math

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from nbprod.errors import UsageError
from nbprod.package.log_settings import load_log_settings, log_settings_from_table
from nbprod.package.prediction_log import (
    DEFAULTS,
    PredictionLog,
    PredictionLogMiddleware,
    RotatingLog,
    log_files,
    read_log,
)
from nbprod.workflow.config import load_config


async def _predict(request: Request):
    body = await request.json()
    records = body["records"]
    if any("x" not in r for r in records):
        return JSONResponse({"error": "x is required"}, status_code=400)
    return JSONResponse([r["x"] * 2 for r in records])


APP = Starlette(routes=[Route("/predict", _predict, methods=["POST"]), Route("/other", _predict, methods=["POST"])])


def call(app, path: str, body: bytes, headers: list[tuple[bytes, bytes]] = ()) -> tuple[int, dict, bytes]:
    """One HTTP request through the ASGI app: (status, response headers, body)."""
    sent: list[dict] = []
    chunks = [{"type": "http.request", "body": body[:7], "more_body": True},
              {"type": "http.request", "body": body[7:], "more_body": False}]  # fmt: skip

    async def receive():
        return chunks.pop(0) if chunks else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "headers": [(b"content-type", b"application/json"),
             *headers], "query_string": b"", "http_version": "1.1", "scheme": "http", "server": ("t", 80),
             "root_path": ""}  # fmt: skip
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body_out = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, body_out


def calls(app, bodies: list[bytes]) -> None:
    async def many():
        for body in bodies:
            chunks = [{"type": "http.request", "body": body, "more_body": False}]

            async def receive(chunks=chunks):
                return chunks.pop(0) if chunks else {"type": "http.disconnect"}

            async def send(message):
                pass

            scope = {"type": "http", "method": "POST", "path": "/predict", "headers": [], "query_string": b"",
                     "http_version": "1.1", "scheme": "http", "server": ("t", 80), "root_path": ""}  # fmt: skip
            await app(scope, receive, send)

    asyncio.run(many())


def logged_app(tmp_path, **kwargs):
    plog = PredictionLog(tmp_path / "log" / "m-v1.jsonl", model="m:v1", bento="m:b1", **kwargs)
    return PredictionLogMiddleware(APP, paths=["/predict"], opener=lambda: plog), plog


def test_a_line_per_request_with_id_model_latency_outputs_and_sampled_inputs(tmp_path):
    app, plog = logged_app(tmp_path, sample=1.0)
    body = json.dumps({"records": [{"x": 1.5}, {"x": 2}]}, indent=1).encode()  # spans lines: re-encoded on one
    status, headers, out = call(app, "/predict", body, [(b"X-Request-ID", b"client-42")])
    assert status == 200 and json.loads(out) == [3.0, 4] and headers["x-request-id"] == "client-42"
    status, headers, _ = call(app, "/predict", b'{"records": [{"y": 1}]}')  # refused: no outputs, no inputs
    assert status == 400 and len(headers["x-request-id"]) == 32
    call(app, "/other", b'{"records": [{"x": 1}]}')  # not an API of the service: not logged
    plog.flush()
    lines = list(read_log(tmp_path / "log"))
    assert len(lines) == 2
    first, refused = lines
    assert list(first) == ["time", "request_id", "model", "bento", "endpoint", "status", "latency_ms", "outputs",
                           "inputs"]  # fmt: skip
    assert first["request_id"] == "client-42" and first["model"] == "m:v1" and first["bento"] == "m:b1"
    assert first["endpoint"] == "/predict" and first["status"] == 200 and 0 < first["latency_ms"] < 5000
    assert first["outputs"] == [3.0, 4] and first["inputs"] == {"records": [{"x": 1.5}, {"x": 2}]}
    assert refused["status"] == 400 and refused["outputs"] is None and "inputs" not in refused
    assert refused["request_id"] == headers["x-request-id"]
    text = (tmp_path / "log/m-v1.jsonl").read_text()
    assert text.count("\n") == 2 and "content-type" not in text  # one line each; nothing of the request but its body


def test_an_unusable_request_id_is_replaced(tmp_path):
    app, plog = logged_app(tmp_path, sample=0.0)
    _, headers, _ = call(app, "/predict", b'{"records": [{"x": 1}]}', [(b"x-request-id", b"a" * 500)])
    assert len(headers["x-request-id"]) == 32 and headers["x-request-id"] != "a" * 500


def test_sample_0_logs_no_inputs_and_the_sampled_fraction_is_binomial(tmp_path):
    body = b'{"records": [{"x": 1}]}'
    app, plog = logged_app(tmp_path / "none", sample=0.0)
    calls(app, [body] * 500)
    plog.flush()
    lines = list(read_log(tmp_path / "none/log"))
    assert len(lines) == 500 and not any("inputs" in line for line in lines)
    assert all(line["outputs"] == [2] for line in lines)
    n, p = 4000, 0.1
    app, plog = logged_app(tmp_path / "tenth", sample=p, seed=7)
    calls(app, [body] * n)
    plog.flush()
    kept = sum("inputs" in line for line in read_log(tmp_path / "tenth/log"))
    assert abs(kept - n * p) < 4 * math.sqrt(n * p * (1 - p)), kept  # 4 standard deviations: 1 in 15,000 fails
    assert all(PredictionLog(tmp_path / f"all{i}.jsonl", model="m", sample=1.0).sampled() for i in range(3))


def test_rotation_keeps_the_newest_lines_within_the_bound(tmp_path):
    path = tmp_path / "p.jsonl"
    rot = RotatingLog(path, max_bytes=1000, backups=2)
    lines = [json.dumps({"time": f"{i:06d}", "i": i}) + "\n" for i in range(400)]  # ~25 bytes each
    for i in range(0, 400, 7):
        rot.write(lines[i : i + 7])
    rot.close()
    files = log_files(path)
    assert [f.name for f in files] == ["p.jsonl.2", "p.jsonl.1", "p.jsonl"]
    assert all(f.stat().st_size <= 1000 for f in files) and sum(f.stat().st_size for f in files) <= 3000
    kept = [d["i"] for d in read_log(path)]
    assert kept == list(range(400 - len(kept), 400)) and len(kept) > 80  # the newest, in order, nothing lost between
    again = RotatingLog(path, max_bytes=1000, backups=2)  # a restart appends and keeps the bound
    again.write(lines[:50])
    again.close()
    assert len(log_files(path)) == 3 and all(f.stat().st_size <= 1000 for f in log_files(path))
    none = RotatingLog(tmp_path / "q.jsonl", max_bytes=100, backups=0)
    none.write(lines[:20])
    none.close()
    assert [f.name for f in log_files(tmp_path / "q.jsonl")] == ["q.jsonl"]
    assert (tmp_path / "q.jsonl").stat().st_size <= 100


def test_a_full_queue_drops_lines_instead_of_blocking(tmp_path):
    plog = PredictionLog(tmp_path / "d.jsonl", model="m", queue_size=1)
    plog._queue.put("held\n")  # the writer may take it at once; fill the queue again until a put fails
    for _ in range(10_000):
        plog.log(request_id="r", endpoint="/predict", status=200, latency_ms=1.0, outputs=b"[1]")
        if plog.dropped:
            break
    assert plog.dropped >= 1
    plog.close()


def test_settings_defaults_table_and_errors(tmp_path):
    assert log_settings_from_table(None) == DEFAULTS
    got = log_settings_from_table({"sample": 0, "max-bytes": 5000, "backups": 0, "dir": "logs", "enabled": False})
    assert got == {"enabled": False, "dir": "logs", "sample": 0.0, "max_bytes": 5000, "backups": 0}
    cases = [
        ({"sample": 1.5}, "sample must be a fraction between 0 and 1", "sample = 0.1"),
        ({"max-bytes": 0}, "max-bytes must be a positive integer", "max-bytes = 10000000"),
        ({"backups": -1}, "backups must be a non-negative integer", "backups = 5"),
        ({"samples": 0.2}, "unknown setting 'samples'", "did you mean 'sample'?"),
        ({"enabled": "yes"}, "enabled must be true or false", "enabled = true"),
    ]
    for table, what, fix in cases:
        with pytest.raises(UsageError, match=what) as info:
            log_settings_from_table(table, "pyproject.toml")
        assert fix in str(info.value.fix)
    (tmp_path / "pyproject.toml").write_text("[tool.nbprod.prediction-log]\nsample = 0.5\n")
    assert load_log_settings(tmp_path)["sample"] == 0.5
    load_config(tmp_path)  # a known [tool.nbprod] key
    (tmp_path / "pyproject.toml").write_text('[tool.nbprod.prediction-log]\nsample = "all"\n')
    with pytest.raises(UsageError, match=r"\[tool.nbprod.prediction-log\] sample"):
        load_config(tmp_path)


class _Service:
    """What ``install`` uses of a BentoML service: its APIs' routes and ``add_asgi_middleware`` (the served Bento
    itself is exercised in tests/test_monitor_retrain_e2e.py)."""

    def __init__(self):
        self.apis = {"predict": type("Api", (), {"route": "/predict"})()}
        self.middlewares = []

    def add_asgi_middleware(self, cls, **options):
        self.middlewares.append((cls, options))


def test_install_reads_the_settings_and_the_environment(tmp_path, monkeypatch):
    from nbprod.package.prediction_log import ENV_DIR, ENV_ENABLED, ENV_SAMPLE, install

    svc = _Service()
    monkeypatch.setenv(ENV_DIR, str(tmp_path / "moved"))
    monkeypatch.setenv(ENV_SAMPLE, "1")
    context = type("Ctx", (), {"bento_name": "churn", "bento_version": "b1", "worker_index": 2})()
    install(svc, "churn:m1", {**DEFAULTS, "sample": 0.0}, context)
    cls, options = svc.middlewares[0]
    app = cls(APP, **options)
    assert options["paths"] == ["/predict"] and app.predictions.sample == 1.0
    call(app, "/predict", b'{"records": [{"x": 1}]}')
    app.predictions.flush()
    (line,) = read_log(tmp_path / "moved" / "churn-m1.w2.jsonl")  # one file per worker process
    assert line["bento"] == "churn:b1" and line["inputs"] == {"records": [{"x": 1}]}
    monkeypatch.setenv(ENV_ENABLED, "0")
    off = _Service()
    install(off, "churn:m1", DEFAULTS, context)
    assert off.middlewares == []
    monkeypatch.delenv(ENV_ENABLED)
    install(off, "churn:m1", {**DEFAULTS, "enabled": False}, context)
    assert off.middlewares == []
