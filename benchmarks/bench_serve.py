"""Serving load test: three notebook-trained models, each served as the Bento ``nbprod run`` builds, against
``mlflow models serve`` of the same registered model and a bare FastAPI app (the limit), in the same run.

Models (``--model linear|boosted|forest|all``, default all), trained in one temporary project (a copy of
example_notebooks/, expectations/ and benchmarks/serving_notebooks/) by ``nbprod run <notebook> --project <tmp>``
(tracked to <tmp>/.nbprod/mlflow.db, model "<pipeline>" alias "candidate"; the Bento's tag in
.nbprod/package/<pipeline>/last_bento.json):

  * linear:  serving_notebooks/linear.ipynb, LogisticRegression on 20 numeric columns (a cheap model)
  * boosted: serving_notebooks/boosted.ipynb, Pipeline(one-hot encoding of 3 categoricals, 80 boosted trees)
  * forest:  example_notebooks/classifier.ipynb, the 200-tree RandomForestClassifier (the Bento gets raw records
             and runs the notebook's preprocess; MLflow and FastAPI get the processed features)

Servers, all up at once per model, one worker each (their defaults), loopback only, stopped by process group:
  * Bento:   ``bentoml serve <bento_tag>`` (BENTOML_HOME=<tmp>/.nbprod/bentoml), POST /predict {"records": [...]}
  * mlflow:  ``mlflow models serve -m models:/<pipeline>@candidate --env-manager local``, POST /invocations
             {"dataframe_split": ...} of the model's input columns
  * fastapi: ``python -m uvicorn _fastapi_limit:app --workers 1`` (benchmarks/_fastapi_limit.py), POST /predict
             {"records": [...]} of the model's input columns: JSON -> DataFrame -> model.predict, nothing else
In-process limits, before the servers start: ``model.predict`` on 1, 100 and 1000 rows, and the Bento's own code
(pydantic validation + ``predict_records``) in a fresh interpreter.

Cells: 1 and 16 concurrent clients (threads, one keep-alive ``httpx.Client`` each) x batches of 1 and 100 rows,
until 800 (batch 1) or 300 (batch 100) requests or 15 s (a quarter and 8 s with --quick); every cell ``--rounds``
times (default 3, 1 with --quick), the three servers back to back, the first one rotating. Reported: medians over
rounds of rows/s, p50, p99 (200 responses), errors, server CPU, and the Bento's requests per model call (from
/metrics). Ratios are paired per round, then the median.

Targets (issue 11, target 4), one PASS/MISS line each: ``serve_<model>_16_clients_batch_<b>``: Bento rows/s >= 1.0x
mlflow (linear) or >= 3x (boosted, forest) at 16 clients, with Bento p99 <= mlflow p99 and no Bento errors (the
bare-FastAPI ratios printed as the limit); ``serve_linear_overhead_batch_<b>``: the Bento's p50 at 1 client minus
in-process ``model.predict``'s p50 on the same batch <= 5 ms. Results: benchmarks/out/bench_serve.json.
Usage: python benchmarks/bench_serve.py [--model M] [--rounds N] [--quick] [--keep]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _benchlib as B  # noqa: E402

NB_REL = "example_notebooks/classifier.ipynb"
PIPELINE = "classifier"
CLIENTS = (1, 16)
BATCHES = (1, 100)
REQUESTS = {1: 800, 100: 300}  # per cell; a quarter with --quick
MAX_S = 15.0  # per cell; 8 s with --quick
INPROC_CALLS = {1: 200, 100: 50, 1000: 20}  # a quarter with --quick; 1000 rows = the service's max_batch_size
ROUNDS = 3  # every cell this many times, servers alternating; 1 with --quick
READY_TIMEOUT_S = 240.0
JSON_HEADERS = {"Content-Type": "application/json"}
_OVERLOAD_WARNING = "max latency that is likely too low"


# --------------------------------------------------------------------------------------------- servers
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server subprocess in its own session (process group), output to a log file, stopped by group."""

    def __init__(self, name: str, cmd: list[str], env: dict, cwd: Path, log_path: Path, base_url: str, ready_path: str):
        self.name, self.cmd, self.base_url, self.ready_path, self.log_path = name, cmd, base_url, ready_path, log_path
        self._log = open(log_path, "w")
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            cmd, cwd=str(cwd), env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.ready_s: Optional[float] = None

    def log_tail(self, n: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").strip().splitlines()[-n:])
        except OSError:
            return ""

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> float:
        import httpx

        deadline = self.t0 + timeout
        with httpx.Client(trust_env=False, timeout=2.0) as c:
            while time.perf_counter() < deadline:
                if self.proc.poll() is not None:
                    raise B.CommandFailed(
                        f"{self.name} exited {self.proc.returncode} before it was ready:\n{self.log_tail()}"
                    )
                try:
                    if c.get(self.base_url + self.ready_path).status_code == 200:
                        self.ready_s = time.perf_counter() - self.t0
                        return self.ready_s
                except httpx.HTTPError:
                    pass
                time.sleep(0.25)
        raise B.CommandFailed(
            f"{self.name} not ready after {timeout:.0f} s (GET {self.ready_path}):\n{self.log_tail()}"
        )

    def cpu_s(self) -> float:
        """CPU seconds (user + system) of the server's live process tree."""
        import psutil

        total = 0.0
        try:
            root = psutil.Process(self.proc.pid)
            procs = [root] + root.children(recursive=True)
        except psutil.Error:
            return float("nan")
        for p in procs:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
        return total

    def stop(self) -> None:
        pgid = self.proc.pid  # start_new_session: the server leads its own process group
        for sig, wait_s in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:
                continue
            try:  # the leader is gone; anything left in the group (workers) gets the same signal next round
                os.killpg(pgid, 0)
            except ProcessLookupError:
                break
        self._log.close()


def bento_batch_metrics(base_url: str) -> dict:
    """From the Bento's /metrics: requests merged per ``predict`` call (sum and count over all workers)."""
    import httpx

    try:
        text = httpx.get(base_url + "/metrics", timeout=5.0, trust_env=False).text
    except httpx.HTTPError:
        return {}
    out = {"sum": 0.0, "count": 0.0, "workers": set()}
    pattern = r"^(?:bentoml_service_adaptive_batch_size|nbprod_merged_requests)_(sum|count)\{([^}]*)\} (\S+)$"
    for m in re.finditer(pattern, text, re.M):  # BentoML's adaptive batching, or nbprod's Coalescer
        if 'method_name="predict"' in m.group(2) or 'api="predict"' in m.group(2):
            out[m.group(1)] += float(m.group(3))
            w = re.search(r'worker_index="([^"]*)"', m.group(2))
            if w:
                out["workers"].add(w.group(1))
    return out


# --------------------------------------------------------------------------------------------- load
def percentile(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def run_load(
    url: str,
    bodies: list[bytes],
    clients: int,
    n_requests: int,
    max_s: float,
    rows: int,
    server: Optional[Server] = None,
) -> dict:
    """``clients`` threads (one keep-alive httpx.Client each) POST ``bodies`` in turn until ``n_requests`` are sent
    or ``max_s`` has passed. Latencies and rows/s count 200 responses only."""
    import httpx

    counter = itertools.count()
    barrier = threading.Barrier(clients + 1)
    results: list[list[tuple[float, object]]] = [[] for _ in range(clients)]
    ends = [0.0] * clients
    deadline = [float("inf")]

    def worker(k: int) -> None:
        out = results[k]
        with httpx.Client(trust_env=False, timeout=60.0) as c:
            barrier.wait()
            while True:
                i = next(counter)
                if i >= n_requests or time.perf_counter() >= deadline[0]:
                    break
                t = time.perf_counter()
                try:
                    status: object = c.post(url, content=bodies[i % len(bodies)], headers=JSON_HEADERS).status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                out.append((time.perf_counter() - t, status))
        ends[k] = time.perf_counter()

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(clients)]
    for th in threads:
        th.start()
    cpu0 = server.cpu_s() if server else float("nan")
    pt0 = time.process_time()
    deadline[0] = time.perf_counter() + max_s
    barrier.wait()
    t0 = time.perf_counter()
    for th in threads:
        th.join()
    elapsed = max(ends) - t0
    client_cpu = time.process_time() - pt0
    server_cpu = (server.cpu_s() - cpu0) if server else float("nan")
    flat = [r for rs in results for r in rs]
    ok = [lat for lat, st in flat if st == 200]
    errors = Counter(str(st) for _, st in flat if st != 200)
    return {
        "clients": clients,
        "batch": rows,
        "requests": len(flat),
        "ok": len(ok),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "elapsed_s": elapsed,
        "stopped_by": "count" if len(flat) >= n_requests else "duration",
        "rows_per_s": len(ok) * rows / elapsed if elapsed > 0 else float("nan"),
        "requests_per_s": len(flat) / elapsed if elapsed > 0 else float("nan"),
        "p50_ms": percentile(ok, 0.50) * 1000,
        "p99_ms": percentile(ok, 0.99) * 1000,
        "mean_ms": (sum(ok) / len(ok) * 1000) if ok else float("nan"),
        "server_cpu_cores": server_cpu / elapsed if elapsed > 0 else float("nan"),
        "client_cpu_cores": client_cpu / elapsed if elapsed > 0 else float("nan"),
    }


def check_response(name: str, resp, rows: int) -> Optional[str]:
    """None if ``resp`` is a 200 with ``rows`` predictions, else what is wrong."""
    if resp.status_code != 200:
        return f"{name}: HTTP {resp.status_code}: {resp.text[:300]}"
    body = resp.json()
    preds = body.get("predictions") if isinstance(body, dict) else body
    if not isinstance(preds, list) or len(preds) != rows:
        return f"{name}: expected {rows} predictions, got {str(body)[:200]}"
    return None


def warm_up(name: str, url: str, bodies: dict[int, list[bytes]], server: Server, errors: list[str]) -> dict:
    """Sequential requests of each batch size (checked), then a burst of 16 concurrent clients (BentoML's adaptive
    batching trains its latency model on its first requests)."""
    import httpx

    t = time.perf_counter()
    with httpx.Client(trust_env=False, timeout=60.0) as c:
        for batch, n in ((1, 40), (100, 10)):
            for i in range(n):
                problem = check_response(
                    name, c.post(url, content=bodies[batch][i % len(bodies[batch])], headers=JSON_HEADERS), batch
                )
                if problem:
                    errors.append(f"warm-up {problem}")
                    return {"failed": problem}
    burst = run_load(url, bodies[1], 16, 64, 10.0, 1, server)
    return {
        "seconds": time.perf_counter() - t,
        "burst_16_clients": {k: burst[k] for k in ("requests", "ok", "errors", "error_kinds")},
    }


# --------------------------------------------------------------------------------------------- in-process limit
def inprocess_limit(model, X, batch: int, calls: int) -> dict:
    import gc

    n = len(X)
    slices = [X.iloc[(i * batch) % n : (i * batch) % n + batch] for i in range(calls)]
    slices = [s for s in slices if len(s) == batch] or [X.iloc[:batch]]
    for s in slices[:3]:  # warm-up
        model.predict(s)
    gc.collect()
    lat = []
    t0 = time.perf_counter()
    for i in range(calls):
        t = time.perf_counter()
        model.predict(slices[i % len(slices)])
        lat.append(time.perf_counter() - t)
    total = time.perf_counter() - t0
    return {
        "batch": batch,
        "calls": calls,
        "seconds": total,
        "rows_per_s": calls * batch / total,
        "p50_ms": percentile(lat, 0.5) * 1000,
        "p99_ms": percentile(lat, 0.99) * 1000,
    }


_SERVICE_PATH = r"""
import json, statistics, sys, time
src, data_path, calls = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
sys.path.insert(0, src)
import yaml
module_name, cls_name = yaml.safe_load(open(src.rsplit("/src", 1)[0] + "/bento.yaml"))["service"].split(":")
t = time.perf_counter()
module = __import__(module_name)
import_s = time.perf_counter() - t
svc = getattr(module, cls_name)
from pydantic import TypeAdapter
adapter = TypeAdapter(list[module.Record])
inst = svc.inner()
predict = getattr(inst, "predict_records", None) or inst.predict  # the model call without the request coalescer
records = json.load(open(data_path))
out = {"import_s": import_s, "batches": {}}
for batch, n in calls.items():
    batch = int(batch)
    bodies = [json.dumps(records[i:i + batch]).encode() for i in range(0, len(records) - batch + 1, batch)]
    for b in bodies[:3]:
        predict(adapter.validate_json(b))
    val, pred = [], []
    for i in range(n):
        t0 = time.perf_counter()
        recs = adapter.validate_json(bodies[i % len(bodies)])
        t1 = time.perf_counter()
        predict(recs)
        t2 = time.perf_counter()
        val.append(t1 - t0)
        pred.append(t2 - t1)
    out["batches"][str(batch)] = {"calls": n, "validate_ms": statistics.median(val) * 1000,
                                  "predict_ms": statistics.median(pred) * 1000,
                                  "rows_per_s": n * batch / (sum(val) + sum(pred))}
print("RESULT " + json.dumps(out))
"""


def service_path_limit(
    bento_path: Path, bentoml_home: Path, records: list[dict], calls: dict[int, int], tmp: Path
) -> dict:
    """The Bento's own ``predict`` code in-process, no HTTP: the generated service.py imported in a fresh
    interpreter (BENTOML_HOME set), request JSON validated into Records (pydantic, as the server does) and
    ``predict`` called on the service instance (frame, preprocess, model.predict, drift monitor, postprocess)."""
    data = tmp / "service-path-records.json"
    data.write_text(json.dumps(records))
    t, proc = B.time_cmd(
        [
            B.PYTHON,
            "-c",
            _SERVICE_PATH,
            str(bento_path / "src"),
            str(data),
            json.dumps({str(b): n for b, n in calls.items()}),
        ],
        tmp,
        {**B.bench_env(), "BENTOML_HOME": str(bentoml_home)},
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise B.CommandFailed(f"service path: no result in the output:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return {"wall_s": t, **json.loads(line[len("RESULT ") :])}


# --------------------------------------------------------------------------------------------- main
def _setting(text: str, args: str, name: str):
    """The value of keyword ``name`` in decorator ``args``: a literal, or a module-level constant of ``text``."""
    m = re.search(rf"\b{name}\s*=\s*(\w+)", args)
    if not m:
        return None
    val = m.group(1)
    if not re.fullmatch(r"\d[\d_]*", val):
        const = re.search(rf"^{val}\s*=\s*(\d[\d_]*)\s*(?:#.*)?$", text, re.M)
        if not const:
            return val
        val = const.group(1)
    return int(val)


def service_settings(bento_path: Path) -> dict:
    """max_latency_ms / max_batch_size of ``predict`` and the worker count, from the built Bento."""
    out: dict = {"max_latency_ms": None, "max_batch_size": None, "workers": 1}
    src = bento_path / "src" / "service.py"
    text = src.read_text() if src.is_file() else ""
    m = re.search(r"@bentoml\.api\(([^)]*)\)\s*\n\s*def predict\(", text)
    if m:
        out["max_latency_ms"] = _setting(text, m.group(1), "max_latency_ms")
        out["max_batch_size"] = _setting(text, m.group(1), "max_batch_size")
    dec = re.search(r"@bentoml\.service\(([^)]*)\)", text)
    workers = _setting(text, dec.group(1), "workers") if dec else None
    if workers is not None:
        out["workers"] = workers
    try:
        import yaml

        meta = yaml.safe_load((bento_path / "bento.yaml").read_text())
        for svc in meta.get("services") or []:
            if (svc.get("config") or {}).get("workers") is not None:
                out["workers"] = svc["config"]["workers"]
    except Exception:  # best effort: a diagnostic only
        pass
    return out


# --------------------------------------------------------------------------------------------- the models
@dataclass(frozen=True)
class ModelCase:
    """One served model: the notebook that trains it, what the Bento is sent, and its targets."""

    key: str
    notebook: str  # relative to the temporary project
    pipeline: str
    target_ratio: float  # Bento rows/s over mlflow rows/s at 16 clients, each batch size
    raw_frame: Optional[tuple[str, str]] = None  # (product, target column): raw records for a Bento with preprocess
    overhead_ms: Optional[float] = None  # the served Bento's p50 over in-process model.predict, 1 client


MODELS = {
    "linear": ModelCase("linear", "serving_notebooks/linear.ipynb", "linear", 1.0, overhead_ms=5.0),
    "boosted": ModelCase("boosted", "serving_notebooks/boosted.ipynb", "boosted", 3.0),
    "forest": ModelCase("forest", NB_REL, PIPELINE, 3.0, raw_frame=("features/df", "churned")),
}
KINDS = ("bento", "mlflow", "fastapi")
LABELS = {"bento": "bento (POST /predict)", "mlflow": "mlflow (POST /invocations)", "fastapi": "bare FastAPI (limit)"}


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer requests per cell, one round (a smoke test)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary project (and the server logs)")
    ap.add_argument("--model", choices=[*MODELS, "all"], default="all", help="which model to serve (default: all)")
    ap.add_argument("--rounds", type=int, help=f"rounds of every cell, servers alternating (default {ROUNDS}; 1 quick)")
    return ap.parse_args()


def start_servers(case: ModelCase, root: Path, bento_tag: str, columns: list[str]) -> dict[str, Server]:
    """The Bento, ``mlflow models serve`` of the same registered model and the bare FastAPI app: one worker each."""
    path_env = {"PATH": f"{B.BIN}{os.pathsep}{os.environ.get('PATH', '')}"}  # mlflow execs `uvicorn` from the PATH
    model_dir = root / ".nbprod" / "products" / case.pipeline / "train" / "model"
    envs = {
        "bento": {"BENTOML_HOME": str(root / ".nbprod" / "bentoml")},
        "mlflow": {"MLFLOW_TRACKING_URI": f"sqlite:///{root / '.nbprod' / 'mlflow.db'}"},
        "fastapi": {"NBPROD_BENCH_MODEL": str(model_dir), "NBPROD_BENCH_COLUMNS": json.dumps(columns)},
    }
    servers: dict[str, Server] = {}
    for kind in KINDS:
        port = str(free_port())
        cmd, ready = {
            "bento": ([B.tool("bentoml"), "serve", bento_tag], "/readyz"),
            "mlflow": (
                [
                    B.tool("mlflow"),
                    "models",
                    "serve",
                    "-m",
                    f"models:/{case.pipeline}@candidate",
                    "--env-manager",
                    "local",
                ],
                "/ping",
            ),
            "fastapi": (
                [B.PYTHON, "-m", "uvicorn", "_fastapi_limit:app", "--app-dir", str(B.BENCH_DIR), "--workers", "1"],
                "/ping",
            ),
        }[kind]
        servers[kind] = Server(
            f"{kind} ({case.key})",
            [*cmd, "--host", "127.0.0.1", "--port", port],
            {**B.bench_env(), **path_env, **envs[kind]},
            root,
            root / f"{case.key}-{kind}-serve.log",
            f"http://127.0.0.1:{port}",
            ready,
        )
    return servers


def request_rows(case: ModelCase, products: Path) -> tuple[list[dict], "object"]:
    """(raw records the Bento takes, the model's input frame): the test split then the training split."""
    import pandas as pd

    from nbprod.io import load_value

    X = pd.concat(
        [load_value(products / "features" / "X_test"), load_value(products / "features" / "X_train")],
        ignore_index=True,
    )
    raw = X if case.raw_frame is None else load_value(products / case.raw_frame[0]).drop(columns=[case.raw_frame[1]])
    return json.loads(raw.to_json(orient="records")), X


def bodies_for(kind: str, rows: list[dict], columns: list[str], batch: int) -> list[bytes]:
    starts = range(0, len(rows) - batch + 1, batch)
    if kind == "mlflow":
        data = [[r[c] for c in columns] for r in rows]
        return [
            json.dumps({"dataframe_split": {"columns": columns, "data": data[s : s + batch]}}).encode() for s in starts
        ]
    return [json.dumps({"records": rows[s : s + batch]}).encode() for s in starts]


def measure_model(case: ModelCase, root: Path, bento_info: dict, cfg: dict, errors: list[str]) -> dict:
    """Limits in-process, then the three servers up at once and every cell ``rounds`` times, rotating which server
    goes first."""
    products = root / ".nbprod" / "products" / case.pipeline
    model = load_model(products)
    records, X = request_rows(case, products)
    model_rows = json.loads(X.to_json(orient="records"))
    columns = list(X.columns)
    bodies = {
        "bento": {b: bodies_for("bento", records, columns, b) for b in BATCHES},
        "mlflow": {b: bodies_for("mlflow", model_rows, columns, b) for b in BATCHES},
        "fastapi": {b: bodies_for("fastapi", model_rows, columns, b) for b in BATCHES},
    }
    out: dict = {"model": type(model).__name__, "settings": service_settings(Path(bento_info["bento_path"]))}
    out["limit"] = {str(b): inprocess_limit(model, X, b, cfg["calls"][b]) for b in INPROC_CALLS}
    print(
        f"  [{case.key}] {type(model).__name__}; in-process model.predict: "
        + ", ".join(
            f"batch {b}: {v['rows_per_s']:,.0f} rows/s (p50 {v['p50_ms']:.2f} ms)" for b, v in out["limit"].items()
        ),
        flush=True,
    )
    try:
        out["service_path"] = service_path_limit(
            Path(bento_info["bento_path"]), root / ".nbprod" / "bentoml", records, cfg["calls"], root
        )
    except B.CommandFailed as exc:
        errors.append(f"{case.key}: service path: {exc}")
        out["service_path"] = {}
    servers = start_servers(case, root, bento_info["bento_tag"], columns)
    urls = {k: s.base_url + ("/invocations" if k == "mlflow" else "/predict") for k, s in servers.items()}
    cells: list[dict] = []
    out["cells"], out["servers"], out["warm_up"] = cells, {}, {}
    try:
        for kind, srv in servers.items():
            out["servers"][kind] = {
                "command": " ".join([Path(srv.cmd[0]).name] + srv.cmd[1:]),
                "ready_s": srv.wait_ready(),
            }
        for kind in KINDS:
            out["warm_up"][kind] = warm_up(f"{case.key} {kind}", urls[kind], bodies[kind], servers[kind], errors)
        order = list(KINDS)
        for rnd in range(cfg["rounds"]):
            for clients in CLIENTS:
                for batch in BATCHES:
                    for kind in order:
                        cell = one_cell(kind, servers[kind], urls[kind], bodies[kind][batch], clients, batch, cfg)
                        cells.append({"model": case.key, "round": rnd, **cell})
                        print(
                            f"  [{case.key}] round {rnd + 1} {kind:8} {clients:>2} client(s) batch {batch:>3}: "
                            f"{cell['rows_per_s']:>8,.0f} rows/s, p50 {cell['p50_ms']:.1f} ms, p99 {cell['p99_ms']:.1f} "
                            f"ms, {cell['errors']} error(s) {cell['error_kinds'] or ''}, server CPU "
                            f"{cell['server_cpu_cores']:.2f} cores",
                            flush=True,
                        )
                    order = order[1:] + order[:1]
    except Exception as exc:  # report, never crash: the servers are stopped and the JSON still gets written
        errors.append(f"{case.key}: {type(exc).__name__}: {exc}")
        print(f"  ! {exc}", file=sys.stderr)
    finally:
        for srv in servers.values():
            srv.stop()
        text = servers["bento"].log_path.read_text(errors="replace") if servers["bento"].log_path.is_file() else ""
        out["bento_log"] = {
            "status_5xx_lines": len(re.findall(r"status=5\d\d\b", text)),
            "tracebacks": text.count("Traceback (most recent call last)"),
            "max_latency_warning": _OVERLOAD_WARNING in text,
        }
    return out


def load_model(products: Path):
    from nbprod.io import load_value

    return load_value(products / "train" / "model")


def one_cell(kind: str, server: Server, url: str, bodies: list[bytes], clients: int, batch: int, cfg: dict) -> dict:
    before = bento_batch_metrics(server.base_url) if kind == "bento" else {}
    try:
        load1 = os.getloadavg()[0]
    except OSError:
        load1 = float("nan")
    cell = {"server": kind, "load1_before": load1, **run_load(url, bodies, clients, cfg["requests"][batch],
                                                               cfg["max_s"], batch, server)}  # fmt: skip
    if kind == "bento":
        after = bento_batch_metrics(server.base_url)
        n = after.get("count", 0) - before.get("count", 0)
        cell["requests_per_model_call"] = (after.get("sum", 0) - before.get("sum", 0)) / n if n else float("nan")
    return cell


# --------------------------------------------------------------------------------------------- verdicts
def cells_of(res: dict, kind: str, clients: int, batch: int) -> list[dict]:
    return [c for c in res.get("cells", []) if c["server"] == kind and c["clients"] == clients and c["batch"] == batch]


def paired(res: dict, clients: int, batch: int, key: str, a: str = "bento", b: str = "mlflow") -> float:
    """Median over rounds of a/b on ``key`` (each round's cells ran back to back)."""
    xs, ys = cells_of(res, a, clients, batch), cells_of(res, b, clients, batch)
    return B.median([B.ratio(x[key], y[key]) for x, y in zip(xs, ys)])


def med(res: dict, kind: str, clients: int, batch: int, key: str) -> float:
    return B.median([c[key] for c in cells_of(res, kind, clients, batch)])


def verdicts(case: ModelCase, res: dict) -> dict:
    """PASS/MISS per target: rows/s ratio with p99 no worse and no errors at 16 clients; the p50 overhead."""
    out: dict = {}
    for batch in BATCHES:
        r = paired(res, 16, batch, "rows_per_s")
        bp99, mp99 = med(res, "bento", 16, batch, "p99_ms"), med(res, "mlflow", 16, batch, "p99_ms")
        errs = sum(c["errors"] for c in cells_of(res, "bento", 16, batch))
        ok = (
            r == r and r >= case.target_ratio and bp99 <= mp99 and errs == 0 and bool(cells_of(res, "bento", 16, batch))
        )
        out[f"rows_per_s_16_clients_batch_{batch}"] = {
            "ratio": r,
            "target": case.target_ratio,
            "bento_p99_ms": bp99,
            "mlflow_p99_ms": mp99,
            "bento_errors": errs,
            "vs_fastapi": paired(res, 16, batch, "rows_per_s", "bento", "fastapi"),
            "mlflow_vs_fastapi": paired(res, 16, batch, "rows_per_s", "mlflow", "fastapi"),
            "result": "PASS" if ok else "MISS",
        }
    for batch in BATCHES:
        over = med(res, "bento", 1, batch, "p50_ms") - res.get("limit", {}).get(str(batch), {}).get(
            "p50_ms", float("nan")
        )
        key = f"p50_overhead_1_client_batch_{batch}"
        out[key] = {"overhead_ms": over, "target_ms": case.overhead_ms,
                    "fastapi_overhead_ms": med(res, "fastapi", 1, batch, "p50_ms")
                    - res.get("limit", {}).get(str(batch), {}).get("p50_ms", float("nan"))}  # fmt: skip
        if case.overhead_ms is not None:
            out[key]["result"] = "PASS" if over == over and over <= case.overhead_ms else "MISS"
    return out


def report_model(case: ModelCase, res: dict, ver: dict) -> None:
    rows = []
    for clients in CLIENTS:
        for batch in BATCHES:
            for kind in KINDS:
                cs = cells_of(res, kind, clients, batch)
                if not cs:
                    continue
                rows.append(
                    [LABELS[kind], str(clients), str(batch), f"{med(res, kind, clients, batch, 'rows_per_s'):,.0f}",
                     f"{med(res, kind, clients, batch, 'p50_ms'):.1f}", f"{med(res, kind, clients, batch, 'p99_ms'):.1f}",
                     str(sum(c["errors"] for c in cs)), f"{med(res, kind, clients, batch, 'server_cpu_cores'):.2f}",
                     f"{med(res, kind, clients, batch, 'requests_per_model_call'):.2f}" if kind == "bento" else ""]
                )  # fmt: skip
    if rows:
        n = len({c["round"] for c in res["cells"]})
        print(f"\n[{case.key}] {res.get('model')} ({case.notebook}), medians of {n} round(s):")
        header = ["server", "clients", "batch", "rows/s", "p50 ms", "p99 ms", "errors", "server CPU", "req/model call"]
        print(B.table(rows, header))
    lim = res.get("limit", {})
    sp = res.get("service_path", {}).get("batches", {})
    if lim:
        print(
            f"[{case.key}] in-process, no HTTP: "
            + "; ".join(
                f"batch {b}: model.predict p50 {v['p50_ms']:.2f} ms ({v['rows_per_s']:,.0f} rows/s)"
                + (
                    f", the Bento's code validate {sp[b]['validate_ms']:.2f} + predict() {sp[b]['predict_ms']:.2f} ms"
                    if b in sp
                    else ""
                )  # fmt: skip
                for b, v in lim.items()
            )
        )
    for batch in BATCHES:
        v = ver[f"rows_per_s_16_clients_batch_{batch}"]
        print(
            f"serve_{case.key}_16_clients_batch_{batch}: {v['result']} (Bento {v['ratio']:.2f}x mlflow rows/s, target "
            f">= {v['target']:g}x; p99 {v['bento_p99_ms']:.0f} vs {v['mlflow_p99_ms']:.0f} ms; {v['bento_errors']} "
            f"error(s); limit: Bento {v['vs_fastapi']:.2f}x, mlflow {v['mlflow_vs_fastapi']:.2f}x bare FastAPI)"
        )
    for batch in BATCHES:
        v = ver[f"p50_overhead_1_client_batch_{batch}"]
        line = (
            f"p50 overhead over in-process model.predict, 1 client, batch {batch}: Bento {v['overhead_ms']:.1f} ms "
            f"(bare FastAPI {v['fastapi_overhead_ms']:.1f} ms)"
        )
        if "result" in v:
            print(f"serve_{case.key}_overhead_batch_{batch}: {v['result']} ({line}; target <= {v['target_ms']:g} ms)")
        else:
            print(f"[{case.key}] {line}")


def main() -> int:
    args = parse_args()
    q = 4 if args.quick else 1
    cfg = {
        "requests": {b: max(10, n // q) for b, n in REQUESTS.items()},
        "max_s": 8.0 if args.quick else MAX_S,
        "calls": {b: max(10, n // q) for b, n in INPROC_CALLS.items()},
        "rounds": args.rounds or (1 if args.quick else ROUNDS),
    }
    cases = list(MODELS.values()) if args.model == "all" else [MODELS[args.model]]
    nbprod = B.tool("nbprod")
    errors: list[str] = []
    setup: dict = {}
    results: dict = {}
    print(
        f"bench_serve: {'quick' if args.quick else 'full'}; models {', '.join(c.key for c in cases)}; "
        f"{cfg['rounds']} round(s); requests per cell {cfg['requests']} (batch: count), at most {cfg['max_s']:g} s per "
        f"cell; python = {B.PYTHON}",
        flush=True,
    )
    with B.TempProject(keep=args.keep) as proj:
        root = proj.root
        shutil.copytree(B.BENCH_DIR / "serving_notebooks", root / "serving_notebooks",
                        ignore=shutil.ignore_patterns("*.py", "__pycache__"))  # fmt: skip
        for case in cases:
            try:  # set-up: run, track, register, package
                t, _ = B.time_cmd([nbprod, "run", case.notebook, "--project", str(root)], root, B.tracking_env())
                info = json.loads((root / ".nbprod" / "package" / case.pipeline / "last_bento.json").read_text())
                setup[case.key] = {"nbprod_run_s": t, **info}
                print(f"  [{case.key}] set-up: nbprod run (tracked, packaged) {B.fmt_s(t)}; Bento {info['bento_tag']}")
                results[case.key] = measure_model(case, root, info, cfg, errors)
            except Exception as exc:  # report, never crash
                errors.append(f"{case.key}: {type(exc).__name__}: {exc}")
                print(f"  ! {case.key}: {exc}", file=sys.stderr)
    verdict: dict = {}
    for case in cases:
        res = results.get(case.key, {})
        verdict[case.key] = verdicts(case, res)
        report_model(case, res, verdict[case.key])
        log = res.get("bento_log", {})
        if log.get("status_5xx_lines") or log.get("tracebacks"):
            print(
                f"[{case.key}] the Bento's log: {log['status_5xx_lines']} 5xx line(s), {log['tracebacks']} traceback(s)"
            )
    for e in errors:
        print(f"ERROR: {e}")
    out = B.write_json(
        "bench_serve",
        {"quick": args.quick, "config": {k: v for k, v in cfg.items()}, "verdicts": verdict, "setup": setup,
         "results": results, "errors": errors},
    )  # fmt: skip
    print(f"\nwritten {out.relative_to(B.REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
