"""Robustness under load: the classifier Bento served on loopback, hit by a deterministic mix of good and bad requests.

Set-up exactly as bench_serve.py (its helpers are imported): in a temporary copy of example_notebooks/ and
expectations/, ``nbprod run example_notebooks/classifier.ipynb --project <tmp>`` builds the Bento (tag from
.nbprod/package/classifier/last_bento.json), served with ``bentoml serve <tag> --host 127.0.0.1 --port P``
(BENTOML_HOME=<tmp>/.nbprod/bentoml, its own session, stopped by process group), warmed up like bench_serve.

Load: 10,000 ``POST /predict`` requests (2,000 with --quick) from 16 concurrent clients (threads, one keep-alive
``httpx.Client(trust_env=False)`` each), stopped early after 180 s (90 s with --quick; reported). The mix is drawn
with a seeded ``random.Random``: about 70% good requests (1-20 raw training records from
products/classifier/features/df minus ``churned``) and 30% bad ones cycling through the kinds in BAD_KINDS. All
bodies are serialised before the clock starts.

Reported per kind: count, status codes, p50/p99 latency. Verdicts (printed PASS/MISS, never asserted): zero 5xx,
zero dropped connections (transport errors and timeouts), every good request 200 (with one prediction per record),
every bad request 4xx. Memory: RSS of the server's process tree (psutil) after the warm-up, at the end, and the
max sampled every second during the load. Throughput (requests/s) and p50/p99 latency over all requests.
Only loopback traffic (127.0.0.1). Results: benchmarks/out/bench_load.json.
Usage: python benchmarks/bench_load.py [--quick] [--keep]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import re
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _benchlib as B  # noqa: E402
from bench_serve import JSON_HEADERS, NB_REL, PIPELINE, Server, free_port, percentile, warm_up  # noqa: E402

N_REQUESTS = 10_000
N_QUICK = 2_000
CLIENTS = 16
MAX_S = 300.0
MAX_S_QUICK = 90.0
GOOD_SHARE = 0.70
SEED = 20240611
CLIENT_TIMEOUT_S = 60.0
MAX_BATCH = 1000  # the service's max_batch_size (MAX_BATCH in the generated service.py)
NEST_DEPTH = 3000
BAD_KINDS = (
    "missing_field",
    "wrong_type",
    "out_of_range",
    "unknown_category",
    "extra_field",
    "empty_list",
    "too_many_records",
    "nan",
    "non_json",
    "deep_nesting",
    "json_string",
)
VARIANTS = 16  # distinct bodies per bad kind (different base records)


# --------------------------------------------------------------------------------------------- schema
def record_schema(bento_path: Path) -> dict:
    """Fields of the generated ``Record`` class: {name: {"kind": literal|int|float|str|bool, "values", "ge", "le"}}."""
    text = (bento_path / "src" / "service.py").read_text()
    m = re.search(r"^class Record\(BaseModel\):\n(.*?)(?=^\S)", text, re.M | re.S)
    fields: dict = {}
    for line in (m.group(1) if m else "").splitlines():
        fm = re.match(r"^    (\w+): (.+?)(?: = Field\(alias=(['\"])(.+?)\3\))?$", line)
        if not fm or fm.group(1) == "model_config":
            continue
        name, ann = fm.group(4) or fm.group(1), fm.group(2)
        f: dict = {"annotation": ann}
        if "Literal[" in ann:
            f["kind"] = "literal"
            f["values"] = re.findall(r"'([^']*)'", ann.split("Literal[", 1)[1])
        elif "float" in ann:
            f["kind"] = "float"
        elif "int" in ann:
            f["kind"] = "int"
        elif "bool" in ann:
            f["kind"] = "bool"
        else:
            f["kind"] = "str"
        for bound in ("ge", "le"):
            bm = re.search(rf"\b{bound}=(-?[\d.eE+]+)", ann)
            if bm:
                f[bound] = float(bm.group(1))
        fields[name] = f
    return fields


def build_bodies(
    records: list[dict], schema: dict, n: int, rng: random.Random
) -> tuple[list[str], dict[str, list[bytes]]]:
    """The request plan (one kind per request, in order) and the body pool per kind."""
    numeric = [k for k, f in schema.items() if f["kind"] in ("int", "float")] or [
        k for k, v in records[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)
    ]
    bounded = [k for k in numeric if "le" in schema.get(k, {})] or numeric
    floats = [k for k in numeric if schema.get(k, {}).get("kind") == "float"] or numeric
    literals = [k for k, f in schema.items() if f["kind"] == "literal"] or [
        k for k, v in records[0].items() if isinstance(v, str)
    ]

    def some(k: int) -> list[dict]:
        return [dict(r) for r in rng.sample(records, k)]

    def body(obj) -> bytes:
        return json.dumps(obj).encode()  # allow_nan=True (the default): float("nan") is written as NaN

    def bad(kind: str, i: int) -> bytes:
        recs = some(rng.randint(1, 3))
        target = recs[rng.randrange(len(recs))]
        if kind == "missing_field":
            del target[rng.choice(sorted(target))]
        elif kind == "wrong_type":
            col = numeric[i % len(numeric)]
            target[col] = str(target[col])  # "12" for 12: the Record model is strict
        elif kind == "out_of_range":
            col = bounded[i % len(bounded)]
            hi = schema.get(col, {}).get("le", max(abs(r[col]) for r in records))
            target[col] = (int(hi) + 1000) if schema.get(col, {}).get("kind") == "int" else float(hi) * 10 + 1000.5
        elif kind == "unknown_category":
            target[literals[i % len(literals)]] = f"unknown-category-{i}"
        elif kind == "extra_field":
            target["not_a_field"] = i
        elif kind == "empty_list":
            return body({"records": []})
        elif kind == "too_many_records":
            return body({"records": [dict(records[(i * 7 + j) % len(records)]) for j in range(MAX_BATCH + 1)]})
        elif kind == "nan":
            target[floats[i % len(floats)]] = float("nan")
            text = json.dumps({"records": recs})
            assert "NaN" in text
            return text.encode()
        elif kind == "non_json":
            return f"this is not JSON {{records: [{i}".encode()
        elif kind == "deep_nesting":
            return ("[" * NEST_DEPTH + "]" * NEST_DEPTH).encode()
        elif kind == "json_string":
            return body(f"records {i}")
        return body({"records": recs})

    pools: dict[str, list[bytes]] = {k: [bad(k, i) for i in range(VARIANTS)] for k in BAD_KINDS}
    plan: list[str] = []
    good_bodies: list[bytes] = []
    bad_i = 0
    for _ in range(n):
        if rng.random() < GOOD_SHARE:
            plan.append("good")
            good_bodies.append(body({"records": some(rng.randint(1, 20))}))
        else:
            plan.append(BAD_KINDS[bad_i % len(BAD_KINDS)])
            bad_i += 1
    pools["good"] = good_bodies
    return plan, pools


# --------------------------------------------------------------------------------------------- memory
def tree_pids(pid: int) -> list[int]:
    try:
        import psutil

        root = psutil.Process(pid)
        return [root.pid] + [c.pid for c in root.children(recursive=True)]
    except ImportError:
        pass
    except Exception:
        return []
    out = []  # no psutil: every process of the server's process group (it leads its own session)
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[2]) == pid:
                    out.append(int(d.name))
            except (OSError, ValueError, IndexError):
                pass
    return out


def rss_tree(pid: int) -> tuple[int, int]:
    """(total RSS in bytes, process count) of the server's process tree."""
    total, n = 0, 0
    for p in tree_pids(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
                    n += 1
                    break
        except (OSError, ValueError):
            pass
    return total, n


class RssSampler(threading.Thread):
    def __init__(self, pid: int, every_s: float = 1.0):
        super().__init__(daemon=True)
        self.pid, self.every_s, self.samples = pid, every_s, []
        self._halt = threading.Event()
        self.t0 = time.perf_counter()

    def run(self) -> None:
        while not self._halt.is_set():
            rss, n = rss_tree(self.pid)
            self.samples.append((round(time.perf_counter() - self.t0, 2), rss, n))
            self._halt.wait(self.every_s)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)


def mib(x: float) -> str:
    return f"{x / 2**20:,.1f} MiB"


# --------------------------------------------------------------------------------------------- load
def run_mixed(url: str, plan: list[str], pools: dict[str, list[bytes]], clients: int, max_s: float) -> dict:
    """``clients`` threads send the planned requests in order (a shared counter) until all are sent or ``max_s``
    has passed. Every result: (kind, latency s, status code or transport-error name, problem with a 200 or None)."""
    import httpx

    counter = itertools.count()
    barrier = threading.Barrier(clients + 1)
    results: list[list[tuple]] = [[] for _ in range(clients)]
    samples: dict[tuple[str, str], str] = {}
    ends = [0.0] * clients
    deadline = [float("inf")]
    used = Counter()
    order = []  # the body index of each request (good bodies are one per good request; bad ones cycle their pool)
    for kind in plan:
        order.append(used[kind] % len(pools[kind]))
        used[kind] += 1

    def worker(k: int) -> None:
        out = results[k]
        with httpx.Client(trust_env=False, timeout=CLIENT_TIMEOUT_S) as c:
            barrier.wait()
            while True:
                i = next(counter)
                if i >= len(plan) or time.perf_counter() >= deadline[0]:
                    break
                kind = plan[i]
                content = pools[kind][order[i]]
                t = time.perf_counter()
                problem = None
                try:
                    resp = c.post(url, content=content, headers=JSON_HEADERS)
                    status: object = resp.status_code
                    lat = time.perf_counter() - t
                    if (kind, str(status)) not in samples:
                        samples[(kind, str(status))] = resp.text[:300]
                    if kind == "good" and status == 200:
                        try:
                            preds = resp.json()
                            preds = preds.get("predictions") if isinstance(preds, dict) else preds
                            if not isinstance(preds, list) or len(preds) != len(json.loads(content)["records"]):
                                problem = f"wrong prediction count: {resp.text[:120]}"
                        except ValueError as exc:
                            problem = f"not JSON: {exc}"
                except httpx.HTTPError as exc:
                    lat = time.perf_counter() - t
                    status = type(exc).__name__
                    samples.setdefault((kind, status), str(exc)[:300])
                out.append((kind, lat, status, problem))
        ends[k] = time.perf_counter()

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(clients)]
    for th in threads:
        th.start()
    pt0 = time.process_time()
    deadline[0] = time.perf_counter() + max_s
    barrier.wait()
    t0 = time.perf_counter()
    for th in threads:
        th.join()
    elapsed = max(ends) - t0
    flat = [r for rs in results for r in rs]
    return {
        "results": flat,
        "elapsed_s": elapsed,
        "client_cpu_cores": (time.process_time() - pt0) / elapsed if elapsed else float("nan"),
        "stopped_by": "count" if len(flat) >= len(plan) else "duration",
        "samples": samples,
    }


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--quick", action="store_true", help=f"{N_QUICK:,} requests instead of {N_REQUESTS:,} (a smoke test)"
    )
    ap.add_argument(
        "--keep", action="store_true", help="keep the temporary project folder (and the server log) and print its path"
    )
    ap.add_argument("--requests", type=int, default=None, help="request count (a soak: e.g. 30000); overrides --quick")
    return ap.parse_args()


def main() -> int:
    args = parse_args()
    n = args.requests or (N_QUICK if args.quick else N_REQUESTS)
    max_s = MAX_S_QUICK if args.quick else MAX_S
    nbprod = B.tool("nbprod")
    errors: list[str] = []
    setup: dict = {}
    warm: dict = {}
    load: dict = {}
    mem: dict = {}
    server_info: dict = {}
    log_counts: dict = {}
    schema: dict = {}
    plan: list[str] = []
    print(
        f"bench_load: {'quick' if args.quick else 'full'}; {n:,} requests from {CLIENTS} clients, at most {max_s:g} s; "
        f"python = {B.PYTHON}",
        flush=True,
    )

    with B.TempProject(keep=args.keep) as proj:
        root = proj.root
        products = root / ".nbprod" / "products" / PIPELINE
        server: Optional[Server] = None
        sampler: Optional[RssSampler] = None
        try:
            # ---- set-up: run, track, register, package (as bench_serve)
            t, _ = B.time_cmd([nbprod, "run", NB_REL, "--project", str(root)], root, B.tracking_env())
            bento_info = json.loads((root / ".nbprod" / "package" / PIPELINE / "last_bento.json").read_text())
            setup = {"nbprod_run_s": t, **bento_info}
            schema = record_schema(Path(bento_info["bento_path"]))
            print(
                f"  set-up: nbprod run (tracked, packaged) {B.fmt_s(t)}; Bento {bento_info['bento_tag']}; Record "
                "fields: " + ", ".join(f"{k} ({f['kind']})" for k, f in schema.items()),
                flush=True,
            )

            from nbprod.io import load_value

            df = load_value(products / "features" / "df").drop(columns=["churned"])
            records = json.loads(df.to_json(orient="records"))
            rng = random.Random(SEED)
            plan, pools = build_bodies(records, schema, n, rng)
            mix = Counter(plan)
            print(
                f"  plan: {n:,} requests, {mix['good']:,} good ({mix['good'] / n:.0%}), {n - mix['good']:,} bad over "
                f"{len(BAD_KINDS)} kinds (seed {SEED}); {len(records)} training records",
                flush=True,
            )

            # ---- server (its own session, loopback only)
            port = free_port()
            env = {
                **B.bench_env(),
                "PATH": f"{B.BIN}{os.pathsep}{os.environ.get('PATH', '')}",
                "BENTOML_HOME": str(root / ".nbprod" / "bentoml"),
            }
            server = Server(
                "bentoml serve",
                [B.tool("bentoml"), "serve", bento_info["bento_tag"], "--host", "127.0.0.1", "--port", str(port)],
                env,
                root,
                root / "bento-serve.log",
                f"http://127.0.0.1:{port}",
                "/readyz",
            )
            server_info = {
                "command": f"bentoml serve {bento_info['bento_tag']} --host 127.0.0.1 --port {port}",
                "ready_s": server.wait_ready(),
            }
            url = server.base_url + "/predict"
            print(f"  server ready in {B.fmt_s(server_info['ready_s'])}", flush=True)
            warm_bodies = {
                b: [json.dumps({"records": records[s : s + b]}).encode() for s in range(0, len(records) - b + 1, b)]
                for b in (1, 100)
            }
            warm = warm_up("bento", url, warm_bodies, server, errors)
            print(f"  warm-up: {warm}", flush=True)

            # ---- the load, RSS sampled every second
            time.sleep(1.0)
            rss0, procs0 = rss_tree(server.proc.pid)
            mem["start_bytes"], mem["start_processes"] = rss0, procs0
            print(f"  RSS after warm-up: {mib(rss0)} ({procs0} process(es))", flush=True)
            sampler = RssSampler(server.proc.pid)
            sampler.start()
            load = run_mixed(url, plan, pools, CLIENTS, max_s)
            sampler.stop()
            rss1, procs1 = rss_tree(server.proc.pid)
            mem.update(
                {
                    "end_bytes": rss1,
                    "end_processes": procs1,
                    "max_bytes": max([s[1] for s in sampler.samples] + [rss0, rss1]),
                    "samples": sampler.samples,
                }
            )
            time.sleep(3.0)
            mem["end_plus_3s_bytes"] = rss_tree(server.proc.pid)[0]
            import httpx

            try:
                server_info["readyz_after"] = httpx.get(
                    server.base_url + "/readyz", timeout=10, trust_env=False
                ).status_code
            except httpx.HTTPError as exc:
                server_info["readyz_after"] = type(exc).__name__
            server_info["alive_after"] = server.proc.poll() is None
        except Exception as exc:  # report, never crash: the server is stopped and the JSON still gets written
            errors.append(f"{type(exc).__name__}: {exc}")
            print(f"  ! {exc}", file=sys.stderr)
        finally:
            if server is not None:
                server.stop()
            if sampler is not None and sampler.is_alive():
                sampler.stop()
            if server is not None:
                text = server.log_path.read_text(errors="replace") if server.log_path.is_file() else ""
                log_counts = {
                    "traceback_lines": text.count("Traceback (most recent call last)"),
                    "status_5xx_lines": len(re.findall(r"status=5\d\d\b", text)),
                    "error_lines": len(re.findall(r"\bERROR\b", text)),
                    "bad_request_lines": len(re.findall(r"bad request POST /predict: status=4\d\d field=", text)),
                }
                tb = text.find("Traceback (most recent call last)")
                if tb >= 0:
                    log_counts["first_traceback"] = text[tb : tb + 1500]

    # ------------------------------------------------------------------ report
    res = load.get("results", [])
    by_kind: dict[str, dict] = {}
    lat_by_kind: dict[str, list[float]] = defaultdict(list)
    for kind, lat, status, problem in res:
        d = by_kind.setdefault(kind, {"count": 0, "statuses": Counter(), "wrong_200": 0})
        d["count"] += 1
        d["statuses"][str(status)] += 1
        d["wrong_200"] += problem is not None
        lat_by_kind[kind].append(lat)
    kinds = ["good"] + [k for k in BAD_KINDS if k in by_kind]
    for k in kinds:
        if k in by_kind:
            by_kind[k]["p50_ms"] = percentile(lat_by_kind[k], 0.5) * 1000
            by_kind[k]["p99_ms"] = percentile(lat_by_kind[k], 0.99) * 1000
            by_kind[k]["statuses"] = dict(sorted(by_kind[k]["statuses"].items()))
    five = [(k, lat, st) for k, lat, st, _ in res if isinstance(st, int) and st >= 500]
    dropped = [(k, st) for k, _, st, _ in res if not isinstance(st, int)]
    good = [(st, p) for k, _, st, p in res if k == "good"]
    good_bad = sum(1 for st, p in good if st != 200 or p is not None)
    bad = [st for k, _, st, _ in res if k != "good"]
    bad_not_4xx = sum(1 for st in bad if not (isinstance(st, int) and 400 <= st < 500))
    elapsed = load.get("elapsed_s", float("nan"))
    all_lat = [lat for _, lat, _, _ in res]
    summary = {
        "requests_planned": len(plan),
        "requests_sent": len(res),
        "elapsed_s": elapsed,
        "stopped_by": load.get("stopped_by"),
        "max_s": max_s,
        "max_duration_hit": load.get("stopped_by") == "duration",
        "requests_per_s": len(res) / elapsed if res and elapsed > 0 else float("nan"),
        "good_requests_per_s": sum(1 for st, p in good if st == 200 and p is None) / elapsed
        if res and elapsed > 0
        else float("nan"),
        "p50_ms": percentile(all_lat, 0.5) * 1000,
        "p99_ms": percentile(all_lat, 0.99) * 1000,
        "good_p50_ms": percentile(lat_by_kind.get("good", []), 0.5) * 1000,
        "good_p99_ms": percentile(lat_by_kind.get("good", []), 0.99) * 1000,
        "status_5xx": len(five),
        "status_5xx_by_kind": dict(Counter(f"{k} -> {st}" for k, _, st in five)),
        "dropped": len(dropped),
        "dropped_by_kind": dict(Counter(f"{k} -> {st}" for k, st in dropped)),
        "good_not_200": good_bad,
        "bad_not_4xx": bad_not_4xx,
        "client_cpu_cores": load.get("client_cpu_cores"),
    }
    verdicts = {
        "zero_5xx": "PASS" if res and not five else "MISS",
        "zero_dropped_connections": "PASS" if res and not dropped else "MISS",
        "all_good_200": "PASS" if good and not good_bad else "MISS",
        "all_bad_4xx": "PASS" if bad and not bad_not_4xx else "MISS",
        "completed_within_max_duration": "PASS" if res and load.get("stopped_by") == "count" else "MISS",
        # issue 11, target 5: every refused request is one log line (status, field), none a traceback
        "bad_request_one_log_line": "PASS"
        if bad
        and not log_counts.get("traceback_lines", 1)
        and log_counts.get("bad_request_lines", 0) == sum(1 for st in bad if isinstance(st, int) and 400 <= st < 500)
        else "MISS",
    }
    if by_kind:
        rows = [
            [
                k,
                str(by_kind[k]["count"]),
                ", ".join(f"{s}: {c}" for s, c in by_kind[k]["statuses"].items()),
                f"{by_kind[k]['p50_ms']:.1f}",
                f"{by_kind[k]['p99_ms']:.1f}",
                "200" if k == "good" else "4xx",
            ]
            for k in kinds
            if k in by_kind
        ]
        print()
        print(B.table(rows, ["kind", "count", "status codes", "p50 ms", "p99 ms", "expected"]))
        print(
            f"\n{len(res):,} of {len(plan):,} requests in {elapsed:.1f} s (stopped by {load.get('stopped_by')}, max "
            f"{max_s:g} s): {summary['requests_per_s']:,.0f} requests/s ({summary['good_requests_per_s']:,.0f} good "
            "200/s), "
            f"latency p50 {summary['p50_ms']:.1f} ms, p99 {summary['p99_ms']:.1f} ms (good: p50 "
            f"{summary['good_p50_ms']:.1f}, "
            f"p99 {summary['good_p99_ms']:.1f}); load generator {summary['client_cpu_cores']:.2f} cores"
        )
        print(
            f"5xx: {len(five)} {summary['status_5xx_by_kind'] or ''}; dropped connections: {len(dropped)} "
            f"{summary['dropped_by_kind'] or ''}; good not 200 (or wrong prediction count): {good_bad}; bad not 4xx: "
            f"{bad_not_4xx}"
        )
        interesting = {
            f"{k} -> {s}": v
            for (k, s), v in load.get("samples", {}).items()
            if k == "good" and s != "200" or k != "good" and not (s.isdigit() and 400 <= int(s) < 500)
        }
        for key, v in interesting.items():
            print(f"  sample response {key}: {v[:200]!r}")
    if mem.get("start_bytes"):
        print(
            f"server RSS (process tree): start {mib(mem['start_bytes'])} ({mem['start_processes']} proc.), end "
            f"{mib(mem['end_bytes'])} ({mem['end_processes']} proc.), max {mib(mem['max_bytes'])} (sampled every 1 s, "
            f"{len(mem['samples'])} samples), 3 s after the end {mib(mem['end_plus_3s_bytes'])}; growth "
            f"{(mem['end_bytes'] - mem['start_bytes']) / 2**20:+,.1f} MiB"
        )
        mem["growth_bytes"] = mem["end_bytes"] - mem["start_bytes"]
    if server_info.get("alive_after") is not None:
        print(
            f"server after the load: alive {server_info['alive_after']}, GET /readyz -> "
            f"{server_info.get('readyz_after')}"
        )
    if log_counts:
        print(
            f"server log: {log_counts['traceback_lines']} traceback(s), {log_counts['status_5xx_lines']} status=5xx "
            "line(s), "
            f"{log_counts['error_lines']} ERROR line(s), {log_counts.get('bad_request_lines', 0)} one-line bad request(s)"
        )
    print("\n" + "\n".join(f"{k}: {v}" for k, v in verdicts.items()))
    for e in errors:
        print(f"ERROR: {e}")
    out = B.write_json(
        "bench_load",
        {
            "quick": args.quick,
            "clients": CLIENTS,
            "seed": SEED,
            "good_share": GOOD_SHARE,
            "bad_kinds": list(BAD_KINDS),
            "verdicts": verdicts,
            "summary": summary,
            "by_kind": by_kind,
            "memory": mem,
            "setup": setup,
            "record_schema": schema,
            "server": server_info,
            "warm_up": warm,
            "server_log": log_counts,
            "response_samples": {f"{k} -> {s}": v for (k, s), v in load.get("samples", {}).items()},
            "errors": errors,
            "commands": {
                "setup": f"nbprod run {NB_REL} --project <tmp>",
                "serve": "bentoml serve <bento_tag> --host 127.0.0.1 --port <P> (BENTOML_HOME=<tmp>/.nbprod/bentoml)",
            },
        },
    )
    print(f"\nwritten {out.relative_to(B.REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
