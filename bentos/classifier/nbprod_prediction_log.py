"""The served Bento's prediction log: one JSON line per request, in bounded, rotating files.

Self-contained on purpose: this file is copied verbatim into the Bento build context (as ``nbprod_prediction_log.py``)
and imported by the generated service, so it imports only the standard library. ``nbprod monitor --log`` reads the
same files offline with :func:`read_log`.

A line (keys in this order)::

    {"time": "2026-12-01T20:00:00.123Z", "request_id": "...", "model": "churn:3f2a...", "bento": "churn:9c1d...",
     "endpoint": "/predict", "status": 200, "latency_ms": 4.21, "outputs": [...], "inputs": {"records": [...]}}

``inputs`` (the request body as the service accepted it: only the request fields, nothing else of the request such
as the client's address or headers) is kept for a sampled fraction of requests (``sample``; 0 keeps none), ``outputs``
(the response body) for every answered request. The request id is the client's ``X-Request-ID`` header when it sends
a usable one, else a generated one; the response carries it back, so the client can join labels to the log later.

Off the request path: a request only puts its line on a bounded queue (a full queue drops the line and counts it);
a writer thread appends the lines to ``<dir>/<model name>-<model version>.jsonl`` and rotates it before it passes
``max_bytes`` into ``.1`` ... ``.<backups>`` (the oldest is deleted): the log never holds more than
``max_bytes * (backups + 1)`` bytes.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import random
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, Optional, Union

__all__ = [
    "DEFAULTS",
    "ENV_DIR",
    "ENV_ENABLED",
    "ENV_SAMPLE",
    "PredictionLog",
    "PredictionLogMiddleware",
    "RotatingLog",
    "install",
    "log_files",
    "read_log",
]

#: the settings of ``[tool.nbprod.prediction-log]`` and their defaults (``dir`` is relative to the serving folder)
DEFAULTS: dict[str, Any] = {"enabled": True, "dir": "prediction_log", "sample": 0.1, "max_bytes": 10_000_000,
                            "backups": 5}  # fmt: skip
ENV_DIR = "NBPROD_PREDICTION_LOG_DIR"  # moves the log (nbprod serve sets it to .nbprod/serving/<pipeline>/)
ENV_SAMPLE = "NBPROD_PREDICTION_LOG_SAMPLE"  # overrides the sampled fraction without rebuilding the Bento
ENV_ENABLED = "NBPROD_PREDICTION_LOG_ENABLED"  # 0: no prediction log (1: one even when the settings turned it off)
REQUEST_ID_HEADER = b"x-request-id"
_QUEUE_SIZE = 10_000
_OPEN: dict[Path, "PredictionLog"] = {}
log = logging.getLogger("nbprod.prediction_log")


class RotatingLog:
    """Append-only text file of at most ``max_bytes`` bytes, rotated into ``path.1`` ... ``path.<backups>``."""

    def __init__(self, path: Union[str, Path], *, max_bytes: int, backups: int) -> None:
        if max_bytes < 1 or backups < 0:
            raise ValueError("max_bytes must be positive and backups non-negative")
        self.path, self.max_bytes, self.backups = Path(path), int(max_bytes), int(backups)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "ab")  # noqa: SIM115 (kept open while the service runs)
        self._size = self._fh.tell()

    def write(self, lines: list[str]) -> None:
        """Append ``lines`` (each ending with a newline), rotating first when one would pass ``max_bytes``; a line
        longer than ``max_bytes`` alone is written into a file of its own."""
        for line in lines:
            data = line.encode()
            if self._size and self._size + len(data) > self.max_bytes:
                self._rotate()
            self._fh.write(data)
            self._size += len(data)
        self._fh.flush()

    def _rotate(self) -> None:
        self._fh.close()
        if self.backups == 0:
            self.path.unlink()
        else:
            for i in range(self.backups - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{i}")
                if older.exists():
                    os.replace(older, self.path.with_name(f"{self.path.name}.{i + 1}"))
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        self._fh = open(self.path, "ab")  # noqa: SIM115
        self._size = 0

    def close(self) -> None:
        self._fh.close()


def _fragment(body: bytes) -> Optional[str]:
    """A JSON body as one line of JSON text (None when it is not JSON)."""
    try:
        text = body.decode()
        if "\n" in text or "\r" in text:  # pretty-printed: re-encoded on one line
            text = json.dumps(json.loads(text), separators=(",", ":"))
        elif not text.strip():
            return None
        return text
    except (UnicodeDecodeError, ValueError):
        return None


def _now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


class PredictionLog:
    """The queue and writer thread in front of a :class:`RotatingLog` (see the module docstring)."""

    def __init__(
        self,
        path: Union[str, Path],
        *,
        model: str,
        bento: str = "",
        sample: float = DEFAULTS["sample"],
        max_bytes: int = DEFAULTS["max_bytes"],
        backups: int = DEFAULTS["backups"],
        seed: Optional[int] = None,
        queue_size: int = _QUEUE_SIZE,
    ) -> None:
        if not 0.0 <= sample <= 1.0:
            raise ValueError(f"sample must be between 0 and 1, not {sample!r}")
        self.file = RotatingLog(path, max_bytes=max_bytes, backups=backups)
        self.sample, self.dropped = float(sample), 0
        self._head = f',"model":{json.dumps(model)},"bento":{json.dumps(bento)}'
        self._random = random.Random(seed)
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._thread = threading.Thread(target=self._drain, name="nbprod-prediction-log", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def sampled(self) -> bool:
        """Whether this request's inputs are kept (a Bernoulli draw with probability ``sample``)."""
        return self.sample > 0.0 and (self.sample >= 1.0 or self._random.random() < self.sample)

    def log(
        self,
        *,
        request_id: str,
        endpoint: str,
        status: int,
        latency_ms: float,
        outputs: Optional[bytes] = None,
        inputs: Optional[bytes] = None,
    ) -> None:
        """Queue one line; the JSON bodies are embedded as they are (re-encoded only when they span lines)."""
        out = _fragment(outputs) if outputs is not None else None
        line = (
            f'{{"time":"{_now()}","request_id":{json.dumps(request_id)}{self._head},"endpoint":{json.dumps(endpoint)},'
            f'"status":{int(status)},"latency_ms":{round(latency_ms, 3)},"outputs":{out or "null"}'
        )
        fragment = _fragment(inputs) if inputs is not None else None
        line += f',"inputs":{fragment}}}\n' if fragment else "}\n"
        try:
            self._queue.put_nowait(line)
        except queue.Full:
            self.dropped += 1

    def _drain(self) -> None:
        while True:
            lines = [self._queue.get()]
            while len(lines) < 1000:
                try:
                    lines.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = None in lines
            try:
                self.file.write([line for line in lines if line is not None])
            except OSError as exc:  # a full disk must not stop the service
                self.dropped += len(lines)
                log.warning("prediction log %s: %s", self.file.path, exc)
            for _ in lines:
                self._queue.task_done()
            if stop:
                return

    def flush(self) -> None:
        """Wait until every queued line is written."""
        self._queue.join()

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=5)
        self.file.close()


def _request_id(headers: list[tuple[bytes, bytes]]) -> str:
    for key, value in headers:
        if key.lower() == REQUEST_ID_HEADER:
            text = value.decode("latin-1").strip()
            if 0 < len(text) <= 128 and text.isprintable():
                return text
    return uuid.uuid4().hex


class PredictionLogMiddleware:
    """ASGI middleware logging the POST requests to ``paths`` (the service's APIs) into a :class:`PredictionLog`."""

    def __init__(self, app: Any, *, paths: list[str], opener: Callable[[], Optional[PredictionLog]]) -> None:
        self.app, self.paths = app, frozenset(paths)
        self.predictions = opener()

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        plog = self.predictions
        if plog is None or scope.get("type") != "http" or scope.get("path") not in self.paths:
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = _request_id(scope.get("headers") or [])
        keep = plog.sampled()
        body: list[bytes] = []
        out: list[bytes] = []
        state = {"status": 500, "json": False}

        async def receive_logged() -> dict:
            message = await receive()
            if keep and message.get("type") == "http.request":
                body.append(message.get("body", b""))
            return message

        async def send_logged(message: dict) -> None:
            if message["type"] == "http.response.start":
                state["status"] = int(message["status"])
                headers = list(message.get("headers") or [])
                state["json"] = any(k.lower() == b"content-type" and b"json" in v for k, v in headers)
                message = {**message, "headers": [*headers, (REQUEST_ID_HEADER, request_id.encode("latin-1"))]}
            elif message["type"] == "http.response.body":
                out.append(message.get("body", b""))
                if not message.get("more_body", False):
                    ok = state["status"] == 200
                    plog.log(
                        request_id=request_id,
                        endpoint=str(scope["path"]),
                        status=int(state["status"]),
                        latency_ms=(time.perf_counter() - start) * 1000.0,
                        outputs=b"".join(out) if ok and state["json"] else None,
                        inputs=b"".join(body) if ok and keep else None,
                    )
            await send(message)

        await self.app(scope, receive_logged, send_logged)


def _settings(settings: dict[str, Any]) -> dict[str, Any]:
    out = {**DEFAULTS, **settings}
    if os.environ.get(ENV_DIR):
        out["dir"] = os.environ[ENV_DIR]
    if os.environ.get(ENV_SAMPLE):
        out["sample"] = float(os.environ[ENV_SAMPLE])
    if os.environ.get(ENV_ENABLED):
        out["enabled"] = os.environ[ENV_ENABLED] != "0"
    return out


def install(service: Any, model: str, settings: dict[str, Any], context: Any = None) -> None:
    """Log the requests of the BentoML ``service``'s APIs (``settings``: ``DEFAULTS``' keys; ``context``:
    ``bentoml.server_context``, read when the worker builds its app, for the Bento's tag and the worker index)."""
    conf = _settings(settings)
    if not conf["enabled"]:
        return
    apis = getattr(service, "apis", {})
    paths = sorted({"/" + str(getattr(api, "route", name)).lstrip("/") for name, api in apis.items()}) or ["/predict"]

    def opener() -> Optional[PredictionLog]:
        name, version = model.partition(":")[::2]
        worker = getattr(context, "worker_index", None)
        suffix = f".w{worker}" if isinstance(worker, int) and worker > 1 else ""
        path = Path(conf["dir"]).resolve() / f"{name}-{version or 'latest'}{suffix}.jsonl"
        if path in _OPEN:  # one writer per file and process
            return _OPEN[path]
        bento = f"{getattr(context, 'bento_name', '')}:{getattr(context, 'bento_version', '')}".strip(":")
        try:
            _OPEN[path] = PredictionLog(path, model=model, bento=bento, sample=float(conf["sample"]),
                                        max_bytes=int(conf["max_bytes"]), backups=int(conf["backups"]))  # fmt: skip
            return _OPEN[path]
        except (OSError, ValueError) as exc:
            log.error("no prediction log (%s): %s; set %s to a writable folder", path, exc, ENV_DIR)
            return None

    service.add_asgi_middleware(PredictionLogMiddleware, paths=paths, opener=opener)


def log_files(path: Union[str, Path]) -> list[Path]:
    """The files of a prediction log: ``path`` and its rotations (oldest first), or every ``*.jsonl`` log in the
    folder ``path``."""
    path = Path(path)
    bases = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    out: list[Path] = []
    for base in bases:
        rotated = [p for p in base.parent.glob(base.name + ".*") if p.suffix[1:].isdigit()]
        out += sorted(rotated, key=lambda p: -int(p.suffix[1:])) + ([base] if base.is_file() else [])
    return out


def read_log(path: Union[str, Path]) -> Iterator[dict[str, Any]]:
    """The lines of the prediction log at ``path`` (see :func:`log_files`) in time order; a line that is not JSON
    (a crash mid-write) is skipped."""
    lines: list[dict[str, Any]] = []
    for file in log_files(path):
        try:
            with open(file, encoding="utf-8", errors="replace") as fh:
                texts = fh.readlines()
        except FileNotFoundError:  # rotated away while the log was read
            continue
        for text in texts:
            try:
                item = json.loads(text)
            except ValueError:
                continue
            if isinstance(item, dict):
                lines.append(item)
    lines.sort(key=lambda d: str(d.get("time", "")))
    yield from lines
