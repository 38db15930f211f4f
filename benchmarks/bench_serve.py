"""Serving load test: the Bento ``nbprod run`` builds, against ``mlflow models serve`` of the same model, same run.

Set-up, in a temporary copy of example_notebooks/ and expectations/ (commands run there):
``nbprod run example_notebooks/classifier.ipynb --project <tmp>`` tracks the run to <tmp>/.nbprod/mlflow.db,
registers model "classifier" (alias "candidate") and builds a Bento (tag in .nbprod/package/classifier/last_bento.json).

  * Bento:    ``bentoml serve <bento_tag> --host 127.0.0.1 --port P`` (BENTOML_HOME=<tmp>/.nbprod/bentoml), POST /predict
              with raw records ``{"records": [{plan, region, tenure_months, ...}, ...]}`` (the service validates and
              preprocesses them); rows from the gated training frame (products/classifier/features/df, minus ``churned``)
  * baseline: ``mlflow models serve -m models:/classifier@candidate --env-manager local --host 127.0.0.1 --port Q``
              (MLFLOW_TRACKING_URI=sqlite:///<tmp>/.nbprod/mlflow.db), POST /invocations with the processed features
              ``{"dataframe_split": {"columns": [...], "data": [...]}}`` (features/X_test then X_train)
  * limit:    ``model.predict`` in-process (the trained model, products/classifier/train/model) on the processed
              features, batches of 1 and 100 rows

Both servers run at the same time (one worker each, their defaults) and are warmed up first; the cells alternate
between them. Each cell: 1 or 16 concurrent clients (threads, one ``httpx.Client`` each, keep-alive) sending batches
of 1 or 100 rows, until a request count (800 for batch 1, 300 for batch 100; a quarter with --quick) or a duration
(15 s; 8 s with --quick) is reached. Reported per cell: throughput (rows/s of 200 responses), p50 and p99 latency
(ms, 200 responses), errors (non-200 or transport errors), the server's CPU use (cores, its whole process tree) and
the client's. For the Bento, BentoML's /metrics ``bentoml_service_adaptive_batch_size`` (requests merged into one
model call) shows whether adaptive batching kicked in.

Target, at 16 clients and for each batch size: Bento rows/s >= 2x mlflow rows/s, with Bento p99 <= mlflow p99 and
no Bento errors. Only loopback traffic (127.0.0.1); both servers are stopped (process group) at the end.
``--diag-max-latency-ms MS`` adds a third server, a copy of the Bento with ``max_latency_ms=MS`` on its batchable
APIs (a diagnostic: what the dispatcher's latency budget costs; not in the verdict).
Usage: python benchmarks/bench_serve.py [--quick] [--keep] [--diag-max-latency-ms MS]
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
TARGET_RATIO = 2.0
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
    for m in re.finditer(r"^bentoml_service_adaptive_batch_size_(sum|count)\{([^}]*)\} (\S+)$", text, re.M):
        if 'method_name="predict"' in m.group(2):
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
records = json.load(open(data_path))
out = {"import_s": import_s, "batches": {}}
for batch, n in calls.items():
    batch = int(batch)
    bodies = [json.dumps(records[i:i + batch]).encode() for i in range(0, len(records) - batch + 1, batch)]
    for b in bodies[:3]:
        inst.predict(adapter.validate_json(b))
    val, pred = [], []
    for i in range(n):
        t0 = time.perf_counter()
        recs = adapter.validate_json(bodies[i % len(bodies)])
        t1 = time.perf_counter()
        inst.predict(recs)
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


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer requests per cell, shorter cells (a smoke test)")
    ap.add_argument(
        "--keep", action="store_true", help="keep the temporary project folder (and the server logs) and print its path"
    )
    ap.add_argument(
        "--diag-max-latency-ms",
        type=int,
        metavar="MS",
        help="diagnostic: also serve a copy of the Bento whose predict API has max_latency_ms=MS (the "
        "generated service.py patched; everything else identical) and load it like the others (not in "
        "the verdict)",
    )
    return ap.parse_args()


def patched_bento(bento_path: Path, dest: Path, max_latency_ms: int) -> Path:
    """A copy of the built Bento with every ``max_latency_ms=<n>`` in src/service.py set to ``max_latency_ms``."""
    shutil.copytree(bento_path, dest)
    src = dest / "src" / "service.py"
    text = src.read_text()
    names = set(re.findall(r"\bmax_latency_ms\s*=\s*([A-Za-z_]\w*)", text))  # a constant, e.g. MAX_LATENCY_MS
    text, n = re.subn(r"\bmax_latency_ms\s*=\s*\d[\d_]*", f"max_latency_ms={max_latency_ms}", text)
    for name in names:
        text, k = re.subn(rf"^({name}\s*=\s*)\d[\d_]*", rf"\g<1>{max_latency_ms}", text, flags=re.M)
        n += k
    if not n:
        raise RuntimeError(f"no max_latency_ms setting found in {src}")
    src.write_text(text)
    return dest


def main() -> int:
    args = parse_args()
    q = 4 if args.quick else 1
    requests = {b: max(10, n // q) for b, n in REQUESTS.items()}
    max_s = 8.0 if args.quick else MAX_S
    calls = {b: max(10, n // q) for b, n in INPROC_CALLS.items()}
    nbprod = B.tool("nbprod")
    errors: list[str] = []
    cells: list[dict] = []
    setup: dict = {}
    limit: dict = {}
    svc_path: dict = {}
    warm: dict = {}
    settings: dict = {}
    server_info: dict = {}
    log_counts: dict = {}
    diag = args.diag_max_latency_ms
    kinds = ["bento", "mlflow"] + (["bento_diag"] if diag else [])
    labels = {
        "bento": "bento (POST /predict)",
        "mlflow": "mlflow (POST /invocations)",
        "bento_diag": f"bento, max_latency_ms={diag} (diag.)",
    }
    print(
        f"bench_serve: {'quick' if args.quick else 'full'}; requests per cell {requests} (batch: count), at most "
        f"{max_s:g} s per cell; python = {B.PYTHON}",
        flush=True,
    )

    with B.TempProject(keep=args.keep) as proj:
        root = proj.root
        products = root / ".nbprod" / "products" / PIPELINE
        servers: dict[str, Server] = {}
        try:
            # ---- set-up: run, track, register, package
            env = B.tracking_env()  # tracks to <tmp>/.nbprod/mlflow.db
            t, proc = B.time_cmd([nbprod, "run", NB_REL, "--project", str(root)], root, env)
            bento_info = json.loads((root / ".nbprod" / "package" / PIPELINE / "last_bento.json").read_text())
            setup = {"nbprod_run_s": t, **bento_info}
            settings = service_settings(Path(bento_info.get("bento_path", "")))
            print(
                f"  set-up: nbprod run (tracked, packaged) {B.fmt_s(t)}; Bento {bento_info['bento_tag']}; "
                f"predict: max_latency_ms={settings['max_latency_ms']}, max_batch_size={settings['max_batch_size']}, "
                f"workers={settings['workers']}",
                flush=True,
            )

            import pandas as pd

            from nbprod.io import load_value

            df = load_value(products / "features" / "df").drop(columns=["churned"])
            records = json.loads(df.to_json(orient="records"))
            X = pd.concat(
                [load_value(products / "features" / "X_test"), load_value(products / "features" / "X_train")],
                ignore_index=True,
            )
            model = load_value(products / "train" / "model")
            split = json.loads(X.to_json(orient="split", index=False))
            columns, data = split["columns"], split["data"]

            def bodies_for(kind: str, batch: int) -> list[bytes]:
                n = len(records) if kind == "bento" else len(data)
                starts = range(0, n - batch + 1, batch)
                if kind == "bento":
                    return [json.dumps({"records": records[s : s + batch]}).encode() for s in starts]
                return [
                    json.dumps({"dataframe_split": {"columns": columns, "data": data[s : s + batch]}}).encode()
                    for s in starts
                ]

            bodies = {kind: {b: bodies_for(kind, b) for b in BATCHES} for kind in ("bento", "mlflow")}
            bodies["bento_diag"] = bodies["bento"]
            print(
                f"  request rows: {len(records)} raw records (Bento), {len(data)} x {len(columns)} processed features "
                f"(mlflow); model {type(model).__name__}",
                flush=True,
            )

            # ---- the limit: model.predict in this process (before the servers start: no contention)
            for b in INPROC_CALLS:
                limit[str(b)] = inprocess_limit(model, X, b, calls[b])
            print(
                "  in-process model.predict: "
                + ", ".join(
                    f"batch {b}: {limit[str(b)]['rows_per_s']:,.0f} rows/s (p50 {limit[str(b)]['p50_ms']:.1f} ms)"
                    for b in INPROC_CALLS
                ),
                flush=True,
            )
            svc_path = service_path_limit(
                Path(bento_info["bento_path"]), root / ".nbprod" / "bentoml", records, calls, root
            )
            print(
                "  in-process Bento predict() (validate + service code): "
                + ", ".join(
                    f"batch {b}: {v['rows_per_s']:,.0f} rows/s (validate {v['validate_ms']:.1f} ms + predict "
                    f"{v['predict_ms']:.1f} ms)"
                    for b, v in svc_path["batches"].items()
                ),
                flush=True,
            )

            # ---- servers (all up at once, one worker each: their defaults)
            path_env = {
                "PATH": f"{B.BIN}{os.pathsep}{os.environ.get('PATH', '')}"
            }  # mlflow execs `uvicorn` from the PATH
            benv = {**B.bench_env(), **path_env, "BENTOML_HOME": str(root / ".nbprod" / "bentoml")}
            menv = {**B.bench_env(), **path_env, "MLFLOW_TRACKING_URI": f"sqlite:///{root / '.nbprod' / 'mlflow.db'}"}
            targets = {"bento": bento_info["bento_tag"]}
            if diag:
                targets["bento_diag"] = str(patched_bento(Path(bento_info["bento_path"]), root / "bento-diag", diag))
            for kind in kinds:
                port = free_port()
                if kind == "mlflow":
                    servers[kind] = Server(
                        "mlflow models serve",
                        [
                            B.tool("mlflow"),
                            "models",
                            "serve",
                            "-m",
                            f"models:/{PIPELINE}@candidate",
                            "--env-manager",
                            "local",
                            "--host",
                            "127.0.0.1",
                            "--port",
                            str(port),
                        ],
                        menv,
                        root,
                        root / "mlflow-serve.log",
                        f"http://127.0.0.1:{port}",
                        "/ping",
                    )
                else:
                    servers[kind] = Server(
                        f"bentoml serve ({kind})",
                        [B.tool("bentoml"), "serve", targets[kind], "--host", "127.0.0.1", "--port", str(port)],
                        benv,
                        root,
                        root / f"{kind}-serve.log",
                        f"http://127.0.0.1:{port}",
                        "/readyz",
                    )
            urls = {k: s.base_url + ("/invocations" if k == "mlflow" else "/predict") for k, s in servers.items()}
            for kind, srv in servers.items():
                server_info[kind] = {
                    "command": " ".join([Path(srv.cmd[0]).name] + srv.cmd[1:]),
                    "port": srv.base_url.rsplit(":", 1)[1],
                    "ready_s": srv.wait_ready(),
                }
            print(
                "  servers ready: " + ", ".join(f"{k} {B.fmt_s(v['ready_s'])}" for k, v in server_info.items()),
                flush=True,
            )
            for kind in kinds:
                warm[kind] = warm_up(kind, urls[kind], bodies[kind], servers[kind], errors)
                print(f"  warm-up {kind}: {warm[kind]}", flush=True)

            # ---- the cells, rotating the server that goes first
            order = list(kinds)
            for clients in CLIENTS:
                for batch in BATCHES:
                    for kind in order:
                        is_bento = kind != "mlflow"
                        before = bento_batch_metrics(servers[kind].base_url) if is_bento else {}
                        try:
                            load1 = os.getloadavg()[0]
                        except OSError:
                            load1 = float("nan")
                        cell = {
                            "server": kind,
                            "load1_before": load1,
                            **run_load(
                                urls[kind], bodies[kind][batch], clients, requests[batch], max_s, batch, servers[kind]
                            ),
                        }
                        if is_bento:
                            after = bento_batch_metrics(servers[kind].base_url)
                            calls_n = after.get("count", 0) - before.get("count", 0)
                            merged = after.get("sum", 0) - before.get("sum", 0)
                            cell.update(
                                {
                                    "model_calls": calls_n,
                                    "requests_per_model_call": merged / calls_n if calls_n else float("nan"),
                                    "workers_seen": len(after.get("workers", ())),
                                }
                            )
                        cells.append(cell)
                        extra = f", {cell['requests_per_model_call']:.2f} requests/model call" if is_bento else ""
                        print(
                            f"  {kind:10} {clients:>2} client(s) batch {batch:>3}: {cell['rows_per_s']:>8,.0f} rows/s, "
                            f"p50 {cell['p50_ms']:.1f} ms, p99 {cell['p99_ms']:.1f} ms, {cell['errors']} error(s) "
                            f"{cell['error_kinds'] or ''}, {cell['requests']} requests in {cell['elapsed_s']:.1f} s "
                            f"(by {cell['stopped_by']}), server CPU {cell['server_cpu_cores']:.2f} cores{extra}",
                            flush=True,
                        )
                    order = order[1:] + order[:1]
        except Exception as exc:  # report, never crash: the servers are stopped and the JSON still gets written
            errors.append(f"{type(exc).__name__}: {exc}")
            print(f"  ! {exc}", file=sys.stderr)
        finally:
            for kind, srv in servers.items():
                srv.stop()
                if kind != "mlflow":
                    text = srv.log_path.read_text(errors="replace") if srv.log_path.is_file() else ""
                    log_counts[kind] = {
                        "status_503_lines": len(re.findall(r"status=503\b", text)),
                        "overloaded_errors": len(re.findall(r"ServiceUnavailable: process is overloaded", text)),
                        "max_latency_warning": _OVERLOAD_WARNING in text,
                    }

    # ------------------------------------------------------------------ report
    def cell_of(kind: str, clients: int, batch: int) -> dict:
        return next((c for c in cells if c["server"] == kind and c["clients"] == clients and c["batch"] == batch), {})

    rows = []
    for clients in CLIENTS:
        for batch in BATCHES:
            for kind in kinds:
                c = cell_of(kind, clients, batch)
                if not c:
                    continue
                rows.append(
                    [
                        labels[kind],
                        str(clients),
                        str(batch),
                        f"{c['ok']}/{c['requests']}",
                        f"{c['rows_per_s']:,.0f}",
                        f"{c['p50_ms']:.1f}",
                        f"{c['p99_ms']:.1f}",
                        str(c["errors"]),
                        f"{c['server_cpu_cores']:.2f}",
                        f"{c['requests_per_model_call']:.2f}" if kind != "mlflow" else "",
                    ]
                )
    if rows:
        print()
        print(
            B.table(
                rows,
                [
                    "server",
                    "clients",
                    "batch",
                    "ok/sent",
                    "rows/s",
                    "p50 ms",
                    "p99 ms",
                    "errors",
                    "server CPU (cores)",
                    "requests/model call",
                ],
            )
        )
    if limit:
        sp = svc_path.get("batches", {})
        print(
            "\nin-process limit, 1 thread, no HTTP (batch 1000 = the most adaptive batching may merge into one call):\n"
            "  model.predict on processed features (the limit), and the Bento's own code: request JSON validated into\n"
            "  Records + the service's predict() (frame, preprocess, model.predict, drift monitor, postprocess)"
        )
        print(
            B.table(
                [
                    [
                        f"batch {b}",
                        str(v["calls"]),
                        f"{v['rows_per_s']:,.0f}",
                        f"{v['p50_ms']:.2f}",
                        f"{v['p99_ms']:.2f}",
                        f"{sp[b]['rows_per_s']:,.0f}" if b in sp else "n/a",
                        f"{sp[b]['validate_ms']:.2f} + {sp[b]['predict_ms']:.2f}" if b in sp else "n/a",
                    ]
                    for b, v in limit.items()
                ],
                [
                    "",
                    "calls",
                    "model rows/s",
                    "p50 ms",
                    "p99 ms",
                    "Bento code rows/s",
                    "validate + predict() ms (median)",
                ],
            )
        )

    def compare(kind: str, batch: int) -> dict:
        bc, mc = cell_of(kind, 16, batch), cell_of("mlflow", 16, batch)
        if not bc or not mc:
            return {}
        r = B.ratio(bc["rows_per_s"], mc["rows_per_s"])
        ok_ratio, ok_p99, ok_err = r == r and r >= TARGET_RATIO, bc["p99_ms"] <= mc["p99_ms"], bc["errors"] == 0
        lim = limit.get(str(batch), {}).get("rows_per_s", float("nan"))
        return {
            "ratio_rows_per_s": r,
            "bento_p99_ms": bc["p99_ms"],
            "mlflow_p99_ms": mc["p99_ms"],
            "bento_errors": bc["errors"],
            "mlflow_errors": mc["errors"],
            "ratio_ok": ok_ratio,
            "p99_ok": ok_p99,
            "no_errors": ok_err,
            "result": "PASS" if ok_ratio and ok_p99 and ok_err else "MISS",
            "bento_vs_limit": B.ratio(bc["rows_per_s"], lim),
        }

    summary: dict = {}
    diag_summary: dict = {}
    srows = []
    for kind in [k for k in kinds if k != "mlflow"]:
        for batch in BATCHES:
            s = compare(kind, batch)
            if not s:
                continue
            (summary if kind == "bento" else diag_summary)[f"batch_{batch}"] = s
            srows.append(
                [
                    f"{'' if kind == 'bento' else f'max_latency_ms={diag}, '}16 clients, batch {batch}",
                    f"{s['ratio_rows_per_s']:.2f}x",
                    f">= {TARGET_RATIO:g}x",
                    f"{s['bento_p99_ms']:.1f} / {s['mlflow_p99_ms']:.1f}",
                    f"{s['bento_errors']} / {s['mlflow_errors']}",
                    s["result"] if kind == "bento" else f"({s['result']})",
                    f"{s['bento_vs_limit']:.2f}x",
                ]
            )
    if srows:
        print("\nBento vs mlflow models serve (same model, same run):")
        print(
            B.table(
                srows,
                [
                    "",
                    "rows/s ratio",
                    "target",
                    "p99 ms bento / mlflow (<=)",
                    "errors bento / mlflow (0)",
                    "result",
                    "Bento vs in-process (same batch)",
                ],
            )
        )

    # what limits the Bento: worker count, adaptive batching, the dispatcher's latency budget, CPU
    notes: list[str] = []
    if settings:
        notes.append(
            f"the Bento serves with {settings['workers']} worker(s) (BentoML's default is 1) on a "
            f"{os.cpu_count()}-CPU machine; predict is batchable with max_latency_ms={settings['max_latency_ms']}, "
            f"max_batch_size={settings['max_batch_size']}"
        )
    b16 = [c for c in cells if c["server"] == "bento" and c["clients"] == 16]
    if b16:
        merged = max(
            (c["requests_per_model_call"] for c in b16 if c["requests_per_model_call"] == c["requests_per_model_call"]),
            default=float("nan"),
        )
        notes.append(
            f"adaptive batching at 16 clients: {merged:.2f} requests per model call at most "
            f"({'it kicked in' if merged > 1.05 else 'it did NOT kick in: one request per model call'})"
        )
        cpu = max(c["server_cpu_cores"] for c in b16)
        notes.append(
            f"Bento server CPU at 16 clients: up to {cpu:.2f} cores"
            + (
                " (about one core: the single worker is CPU-bound)"
                if cpu >= 0.85
                else " (below one core: the worker also waits, for its batching window or for a CPU shared with the "
                "clients and other processes)"
            )
            + f"; the load generator (this process, same machine) used up to "
            f"{max(c['client_cpu_cores'] for c in cells if c['clients'] == 16):.2f} cores"
        )
        lim = limit.get("1000", {}).get("rows_per_s")
        if lim:
            best = max(c["rows_per_s"] for c in b16)
            code = svc_path.get("batches", {}).get("1000", {}).get("rows_per_s", float("nan"))
            notes.append(
                f"on 1000-row batches in-process: model.predict alone {lim:,.0f} rows/s, the Bento's own code "
                f"(record validation + its predict(): frame, preprocess, model, drift monitor) {code:,.0f} rows/s; "
                f"the Bento's best cell over HTTP is {best:,.0f} rows/s ({B.ratio(best, code):.2f}x of its own "
                f"code): the rest is HTTP, JSON and BentoML's dispatcher, in one Python worker"
            )
    lc = log_counts.get("bento", {})
    if lc.get("status_503_lines") or lc.get("max_latency_warning"):
        one = cell_of("bento", 1, 1)
        notes.append(
            f"the Bento answered {lc['status_503_lines']} request(s) with 503 'process is overloaded' (warm-up "
            f"included)"
            + (", after BentoML's warning that the max latency is likely too low" if lc["max_latency_warning"] else "")
            + f": its batching dispatcher cancels a queued request as soon as the estimated latency (wait + "
            f"learned cost of one model call) reaches max_latency_ms={settings.get('max_latency_ms')}; one call costs "
            f"{limit.get('1', {}).get('p50_ms', float('nan')):.1f} ms of model.predict alone in-process, "
            f"{one.get('p50_ms', float('nan')):.1f} ms end to end for a 1-row request at 1 client"
        )
    ds = diag_summary.get(f"batch_{BATCHES[0]}")
    if ds:
        notes.append(
            f"with max_latency_ms={diag} (diagnostic copy): "
            + ", ".join(
                f"batch {b}: {diag_summary[f'batch_{b}']['ratio_rows_per_s']:.2f}x mlflow, p99 "
                f"{diag_summary[f'batch_{b}']['bento_p99_ms']:.0f} ms, {diag_summary[f'batch_{b}']['bento_errors']} "
                "error(s)"
                for b in BATCHES
                if f"batch_{b}" in diag_summary
            )
        )
    if notes:
        print("\nwhat limits the Bento:\n" + "\n".join(f"  - {n}" for n in notes))
    results = {k: v["result"] for k, v in summary.items()}
    print("\n" + "\n".join(f"bento_vs_mlflow_16_clients_{k}: {v}" for k, v in results.items()))
    for e in errors:
        print(f"ERROR: {e}")
    out = B.write_json(
        "bench_serve",
        {
            "quick": args.quick,
            "requests_per_cell": requests,
            "max_s_per_cell": max_s,
            "target_ratio": TARGET_RATIO,
            "results": results,
            "summary": summary,
            "diag_max_latency_ms": diag,
            "diag_summary": diag_summary,
            "cells": cells,
            "inprocess_limit": limit,
            "inprocess_service_path": svc_path,
            "setup": setup,
            "bento_settings": settings,
            "servers": server_info,
            "warm_up": warm,
            "bento_logs": log_counts,
            "notes": notes,
            "errors": errors,
            "commands": {
                "setup": f"nbprod run {NB_REL} --project <tmp>",
                "bento": "bentoml serve <bento_tag> --host 127.0.0.1 --port <P> (BENTOML_HOME=<tmp>/.nbprod/bentoml)",
                "mlflow": f"mlflow models serve -m models:/{PIPELINE}@candidate --env-manager local --host 127.0.0.1 "
                "--port <Q> (MLFLOW_TRACKING_URI=sqlite:///<tmp>/.nbprod/mlflow.db)",
            },
        },
    )
    print(f"\nwritten {out.relative_to(B.REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
