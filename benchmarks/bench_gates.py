"""What Great Expectations gates cost: in a full ``nbprod run``, and per validation as the data grows.

1. Full runs (subprocesses, wall time), for ``classifier.ipynb`` and ``regression.ipynb``. Two temporary
   projects, each a copy of example_notebooks/ plus expectations/:

     * gated:   the notebooks as they are (``gate:df``, ``require:...`` tags, suites in expectations/)
     * ungated: the same notebooks (same folder and file names, so the same pipeline names) with every
                ``gate:`` and ``require:`` tag removed, from the cell metadata and from ``# nbprod:`` first-line
                comments                                                          (the baseline, same run)

   ``nbprod run example_notebooks/<nb>.ipynb --project <tmp> --no-track --no-package`` from clean (<tmp>/.nbprod
   and <tmp>/pipelines deleted before every run; the pipeline itself, without the MLflow tracking and the Bento
   build that follow the gates). Ratio gated / ungated per notebook              target: <= 1.20x
   The order alternates between repetitions; 3 repetitions after an untimed warm-up (1, no warm-up, with --quick).
   A breakdown (fresh interpreter with pandas, scikit-learn and nbprod already imported, as in a run) shows
   where the extra time goes: ``import great_expectations``, the ephemeral GX context, the first and a warm
   validation of the real gated frame; and ``import great_expectations`` in a bare interpreter (timed, and
   ``-X importtime`` by package), plus the wall time of a fresh process made ready to validate
   (``python -c "from nbprod.gates.validate import _gx; _gx()"``: what a side process validating gates pays first).

2. One gate in-process: a synthetic DataFrame (8 columns: 5 floats, two with ~1% nulls, a 5-value string
   category, two int columns) at 10,000 and 1,000,000 rows. A starter suite is proposed from a 10,000-row
   sample (``nbprod.gates.propose.propose_suite``; its row-count range is widened to cover both sizes, so every
   expectation passes), written with ``dump_suite`` and read with ``load_suite``. The first
   ``validate_frame`` call pays the GX import and context (reported as "first call incl. import"); then the
   median of 3 calls per size (1 with --quick): seconds, rows/s, growth 1M vs 10k (100x the rows).

Usage: python benchmarks/bench_gates.py [--quick] [--keep]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _benchlib as B  # noqa: E402

NOTEBOOKS = ("classifier", "regression")
TARGET_RATIO = 1.20
SIZES = (10_000, 1_000_000)
SAMPLE_ROWS = 10_000
EXPECTATIONS = B.REPO / "expectations"
#: the pipeline run only: no MLflow tracking, no Bento build (both come after the gates and cost far more than them)
RUN_FLAGS = ("--no-track", "--no-package")
_DONE = re.compile(r"^done: (\d+) ran \(([\d.]+) s\), (\d+) up to date", re.M)
_COMMENT = {
    "code": re.compile(r"^(\s*#\s*nbprod\s*:)(.*)$"),
    "markdown": re.compile(r"^(\s*<!--\s*nbprod\s*:)(.*?)(-->\s*)$"),
}
_GATE_PREFIXES = ("gate:", "require:")
#: environment of every subprocess (B.bench_env(), plus a private bytecode cache with --bytecode-cache)
ENV: dict = B.bench_env()


def cache_env(base: dict, prefix: Path) -> dict:
    """``base`` with bytecode writing on and .pyc files kept in ``prefix`` (the venv is never written to)."""
    env = {k: v for k, v in base.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(prefix)
    return env


# --------------------------------------------------------------------------------------------- part 1
def _is_gate_tag(tag: str) -> bool:
    return tag.strip().lower().startswith(_GATE_PREFIXES)


def strip_gate_tags(text: str) -> tuple[str, list[str]]:
    """The notebook JSON ``text`` without ``gate:`` / ``require:`` tags (metadata and first-line comments)."""
    nb = json.loads(text)
    removed: list[str] = []
    for cell in nb["cells"]:
        meta = cell.get("metadata") or {}
        tags = meta.get("tags")
        if isinstance(tags, list):
            removed += [t for t in tags if _is_gate_tag(t)]
            meta["tags"] = [t for t in tags if not _is_gate_tag(t)]
        rx = _COMMENT.get(cell.get("cell_type"))
        src = cell.get("source", "")
        src = "".join(src) if isinstance(src, list) else src
        lead = len(src) - len(src.lstrip("\n"))
        first, sep, rest = src[lead:].partition("\n")
        m = rx.match(first) if rx else None
        if not m:
            continue
        tokens = [t for t in re.split(r"[\s,]+", m.group(2).strip()) if t]
        kept = [t for t in tokens if not _is_gate_tag(t)]
        if len(kept) == len(tokens):
            continue
        removed += [t for t in tokens if _is_gate_tag(t)]
        if kept:
            close = m.group(3) if m.lastindex and m.lastindex >= 3 else ""
            new_first = f"{m.group(1)} {' '.join(kept)}" + (f" {close.strip()}" if close else "")
            cell["source"] = src[:lead] + new_first + sep + rest
        else:  # nothing left on the comment line: drop it
            cell["source"] = src[:lead] + rest
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n", removed


def make_project(keep: bool, ungated: bool) -> tuple[B.TempProject, dict[str, list[str]]]:
    proj = B.TempProject(keep=keep)
    if not (proj.root / "expectations").exists():  # TempProject may already copy them
        shutil.copytree(EXPECTATIONS, proj.root / "expectations")
    removed: dict[str, list[str]] = {}
    if ungated:
        for name in NOTEBOOKS:
            p = proj.root / "example_notebooks" / f"{name}.ipynb"
            text, removed[name] = strip_gate_tags(p.read_text())
            p.write_text(text)
    return proj, removed


def load1() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def run_once(nbprod: str, proj: B.TempProject, name: str, env: dict | None = None) -> dict:
    proj.clean_outputs()
    load = load1()
    t, proc = B.time_cmd(
        [nbprod, "run", f"example_notebooks/{name}.ipynb", "--project", str(proj.root), *RUN_FLAGS],
        proj.root,
        env or ENV,
    )
    m = _DONE.search(proc.stdout)
    gates = {}
    gdir = proj.root / ".nbprod" / "gates" / name
    for f in sorted(gdir.glob("*.json")) if gdir.is_dir() else []:
        try:
            gates[f.stem] = float(json.loads(f.read_text()).get("elapsed"))
        except (ValueError, TypeError, OSError):
            pass
    pdir = proj.root / ".nbprod" / "products" / name
    return {
        "wall_s": t,
        "load1_before": load,
        "steps_s": float(m.group(2)) if m else None,
        "ran": int(m.group(1)) if m else None,
        "gate_lines": sum(1 for line in proc.stdout.splitlines() if line.strip().startswith(("✓ gate", "✗ gate"))),
        "require_lines": sum(
            1 for line in proc.stdout.splitlines() if line.strip().startswith(("✓ require", "✗ require"))
        ),
        "gate_elapsed_s": gates,
        "product_files": sum(1 for p in pdir.rglob("*") if p.is_file() and not p.name.startswith("."))
        if pdir.is_dir()
        else 0,
    }


_BREAKDOWN = r"""
import json, sys, time
t = time.perf_counter()
import numpy, pandas, sklearn.ensemble, sklearn.linear_model, sklearn.metrics  # what the steps already imported
import nbprod.ui.cli, nbprod.gates.suites, nbprod.io
pre = time.perf_counter() - t
from pathlib import Path
from nbprod.gates.validate import _gx, validate_frame
from nbprod.io import load_value
from nbprod.gates.suites import load_suite
df = load_value(Path(sys.argv[1]))
suite = load_suite(sys.argv[2])
out = {"preimported_s": pre, "rows": len(df), "columns": len(df.columns)}
t = time.perf_counter(); import great_expectations; out["import_gx_s"] = time.perf_counter() - t
t = time.perf_counter(); _gx(); out["context_s"] = time.perf_counter() - t
t = time.perf_counter(); validate_frame(df, suite); out["first_validation_s"] = time.perf_counter() - t
t = time.perf_counter(); validate_frame(df, suite); out["warm_validation_s"] = time.perf_counter() - t
print(json.dumps(out))
"""


def breakdown(proj: B.TempProject, name: str, reps: int, errors: list[str]) -> dict:
    """Where the gate time goes, in a fresh interpreter on the real gated frame of ``name`` (products must exist)."""
    suites = sorted((proj.root / "expectations" / name).glob("*.json"))
    if not suites:
        return {}
    var = suites[0].stem
    products = [p for p in (proj.root / ".nbprod" / "products" / name).glob(f"*/{var}") if p.is_dir()]
    if not products:
        errors.append(f"breakdown {name}: no product folder for gated variable {var!r}")
        return {}
    runs = []
    for _ in range(reps):
        try:
            _, proc = B.time_cmd([B.PYTHON, "-c", _BREAKDOWN, str(products[0]), str(suites[0])], proj.root, ENV)
            runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        except (B.CommandFailed, ValueError, IndexError) as exc:
            errors.append(f"breakdown {name}: {exc}")
            break
    if not runs:
        return {}
    keys = [k for k in runs[0] if k.endswith("_s")]
    return {
        "variable": var,
        "rows": runs[0]["rows"],
        "columns": runs[0]["columns"],
        "median_s": {k: B.median([r[k] for r in runs]) for k in keys},
        "raw": runs,
    }


def gx_import_diagnostics(cwd: Path, reps: int, cache_dir: Path) -> dict:
    """``import great_expectations`` in a fresh interpreter: timed (median) and ``-X importtime`` by package; and the
    wall time of ``python -c "from nbprod.gates.validate import _gx; _gx()"`` (a fresh process ready to validate)."""
    code = "import time; t = time.perf_counter(); import great_expectations; print(time.perf_counter() - t)"

    def timed_imports(env: dict) -> list[float]:
        times = []
        for _ in range(reps):
            try:
                times.append(float(B.time_cmd([B.PYTHON, "-c", code], cwd, env)[1].stdout.strip().splitlines()[-1]))
            except (B.CommandFailed, ValueError, IndexError):
                break
        return times

    times = timed_imports(ENV)
    # the same with a warm bytecode cache of our own (primed by one untimed import): how much is compiling .py files
    cached = cache_env(ENV, cache_dir)
    subprocess.run([B.PYTHON, "-c", "import great_expectations"], cwd=str(cwd), env=cached, capture_output=True)
    times_cached = timed_imports(cached)
    # what a side process validating gates pays before it can answer: interpreter + nbprod.gates + GX + context
    ready = []
    for _ in range(reps):
        try:
            ready.append(B.time_cmd([B.PYTHON, "-c", "from nbprod.gates.validate import _gx; _gx()"], cwd, ENV)[0])
        except B.CommandFailed:
            break
    proc = subprocess.run(
        [B.PYTHON, "-X", "importtime", "-c", "import great_expectations"],
        cwd=str(cwd),
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    total, top = B.importtime_top(proc.stderr, 8)
    gx_dir = Path(B.PYTHON).parent.parent  # the venv; the package folder is found without importing it
    pkg = next(iter(gx_dir.glob("lib/python*/site-packages/great_expectations")), None)
    return {
        "timed_import_s": B.median(times),
        "timed_raw_s": times,
        "timed_import_cached_bytecode_s": B.median(times_cached),
        "timed_cached_raw_s": times_cached,
        "PYTHONDONTWRITEBYTECODE": ENV.get("PYTHONDONTWRITEBYTECODE"),
        "PYTHONPYCACHEPREFIX": ENV.get("PYTHONPYCACHEPREFIX"),
        "venv_gx_pyc_files": sum(1 for _ in pkg.rglob("*.pyc")) if pkg else None,
        "fresh_ready_s": B.median(ready),
        "fresh_ready_raw_s": ready,
        "importtime_total_s": total,
        "importtime_top_s": dict(top),
    }


# --------------------------------------------------------------------------------------------- part 2
def synthetic_frame(rows: int, seed: int = 0):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "amount": rng.uniform(0.0, 500.0, rows),
            "score": rng.uniform(-1.0, 1.0, rows),
            "ratio": rng.uniform(0.0, 1.0, rows),
            "weight": rng.uniform(40.0, 120.0, rows),
            "latency_ms": rng.uniform(1.0, 250.0, rows),
            "segment": rng.choice(["alpha", "beta", "gamma", "delta", "epsilon"], rows),
            "visits": rng.integers(0, 100, rows, dtype="int64"),
            "age": rng.integers(18, 90, rows, dtype="int64"),
        }
    )
    for col in ("amount", "ratio"):  # a few nulls (~1%)
        df.loc[rng.random(rows) < 0.01, col] = np.nan
    return df


def part2(reps: int, tmp: Path, errors: list[str]) -> dict:
    t = time.perf_counter()
    import numpy  # noqa: F401
    import pandas  # noqa: F401

    from nbprod.gates.propose import propose_suite
    from nbprod.gates.suites import dump_suite, load_suite
    from nbprod.gates.validate import validate_frame

    pre_s = time.perf_counter() - t
    gx_loaded_before = "great_expectations" in sys.modules

    frames = {n: synthetic_frame(n, seed=i + 1) for i, n in enumerate(SIZES)}
    sample = synthetic_frame(SAMPLE_ROWS, seed=99)
    t = time.perf_counter()
    suite_dict = propose_suite(sample, "synthetic")
    propose_s = time.perf_counter() - t
    for exp in suite_dict["expectations"]:  # the starter range is n/2..2n of the sample: widen it to cover 1M rows
        if exp["type"] == "expect_table_row_count_to_be_between":
            exp["kwargs"] = {"min_value": 1, "max_value": 2 * max(SIZES)}
    spath = tmp / "expectations" / "synthetic" / "df.json"
    spath.parent.mkdir(parents=True, exist_ok=True)
    spath.write_text(dump_suite(suite_dict))
    suite = load_suite(spath)
    n_exp = len(suite.expectations)

    gc.collect()
    t = time.perf_counter()
    first = validate_frame(frames[SIZES[0]], suite)
    first_s = time.perf_counter() - t
    res: dict = {
        "preimports_s": pre_s,
        "gx_loaded_before_first_call": gx_loaded_before,
        "propose_s": propose_s,
        "expectations": n_exp,
        "first_call_incl_import_s": first_s,
        "first_call_failed": sum(1 for o in first if not o.success),
        "sizes": {},
    }
    for n in SIZES:
        ts, failed = [], 0
        for _ in range(reps):
            gc.collect()
            t = time.perf_counter()
            outcomes = validate_frame(frames[n], suite)
            ts.append(time.perf_counter() - t)
            failed = sum(1 for o in outcomes if not o.success)
        med = B.median(ts)
        res["sizes"][str(n)] = {
            "median_s": med,
            "raw_s": ts,
            "rows_per_s": n / med if med else float("nan"),
            "failed": failed,
        }
        print(f"  {n:>9,} rows: {B.fmt_s(med)} (median of {reps}), {failed} of {n_exp} expectations failed", flush=True)
        if failed:
            errors.append(f"synthetic {n} rows: {failed} expectation(s) failed (timings include failure details)")
    small, big = (res["sizes"][str(n)]["median_s"] for n in SIZES)
    growth = B.ratio(big, small)
    rows_factor = SIZES[1] / SIZES[0]
    per_row = growth / rows_factor
    res.update(
        {
            "growth_1m_vs_10k": growth,
            "rows_factor": rows_factor,
            "per_row_cost_ratio": per_row,
            "growth_kind": "sub-linear" if per_row < 0.8 else ("linear" if per_row <= 1.25 else "super-linear"),
        }
    )
    return res


# --------------------------------------------------------------------------------------------- main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke test of the benchmark)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary project folders and print their paths")
    ap.add_argument(
        "--bytecode-cache",
        action="store_true",
        help="run everything with a private warm bytecode cache (PYTHONPYCACHEPREFIX in a temporary folder, "
        "bytecode writing on), as in an installation with .pyc files; results go to bench_gates-bytecode-cache.json",
    )
    ap.add_argument(
        "--in-process",
        action="store_true",
        help="also time the gated notebooks with NBPROD_GATE_WORKER=0 (gates validated in the run's own "
        "process, no side worker): a diagnostic row, same project as 'gated'",
    )
    args = ap.parse_args()
    reps = 1 if args.quick else 3
    warmup = not args.quick or args.bytecode_cache  # the cache must be primed before anything is timed
    cache_dir = Path(tempfile.mkdtemp(prefix="nbprod-bench-pycache-"))
    global ENV
    if args.bytecode_cache:
        ENV = cache_env(ENV, cache_dir)
        sys.dont_write_bytecode = False  # part 2 runs in this process: use (and fill) the same cache
        sys.pycache_prefix = str(cache_dir)
    nbprod = B.tool("nbprod")
    errors: list[str] = []
    kinds = ["gated", "ungated"] + (["gated_inproc"] if args.in_process else [])
    runs: dict[str, dict[str, list[dict]]] = {n: {k: [] for k in kinds} for n in NOTEBOOKS}
    bd: dict[str, dict] = {}
    gx_imp: dict = {}
    print(
        f"bench_gates: {reps} repetition(s){' after an untimed warm-up' if warmup else ''}; python = {B.PYTHON}; "
        f"bytecode: {'private warm cache ' + str(cache_dir) if args.bytecode_cache else 'as configured (PYTHONDONTWRITEBYTECODE=' + str(ENV.get('PYTHONDONTWRITEBYTECODE')) + ')'}"
    )

    print("\n[1] nbprod run from clean, gated vs ungated (subprocess wall time)", flush=True)
    gated, _ = make_project(args.keep, ungated=False)
    ungated, removed = make_project(args.keep, ungated=True)
    for name, tags in removed.items():
        print(f"  ungated copy of {name}.ipynb: removed {', '.join(tags) if tags else 'NOTHING'}")
        if not tags:
            errors.append(f"{name}: no gate:/require: tag found to remove")
    projects = {"gated": gated, "ungated": ungated, "gated_inproc": gated}
    envs = {"gated": ENV, "ungated": ENV, "gated_inproc": {**ENV, "NBPROD_GATE_WORKER": "0"}}
    with gated, ungated:
        try:
            if warmup:  # warm-up: file-system cache, .pyc files
                for name in NOTEBOOKS:
                    for kind in kinds:
                        run_once(nbprod, projects[kind], name, envs[kind])
            for rep in range(reps):
                order = kinds[rep % len(kinds) :] + kinds[: rep % len(kinds)]  # rotate: each kind goes first in turn
                for name in NOTEBOOKS:
                    for kind in order:
                        runs[name][kind].append(run_once(nbprod, projects[kind], name, envs[kind]))
                    g, u = runs[name]["gated"][-1], runs[name]["ungated"][-1]
                    extra = (
                        f", gated in-process {B.fmt_s(runs[name]['gated_inproc'][-1]['wall_s'])}"
                        if "gated_inproc" in runs[name]
                        else ""
                    )
                    print(
                        f"  rep {rep + 1} {name}: gated {B.fmt_s(g['wall_s'])} ({g['gate_lines']} gate(s), "
                        f"{g['require_lines']} require(s)), ungated {B.fmt_s(u['wall_s'])} "
                        f"({u['gate_lines']} gate(s), {u['require_lines']} require(s)){extra}; "
                        f"load avg before: {max(runs[name][k][-1]['load1_before'] for k in order):.2f}",
                        flush=True,
                    )
                    if u["gate_lines"] or u["require_lines"] or not g["gate_lines"]:
                        errors.append(
                            f"{name} rep {rep + 1}: unexpected gate output (gated {g['gate_lines']}, ungated "
                            f"{u['gate_lines']})"
                        )
            print(
                "  breakdown of the gate cost (fresh interpreter, pandas/scikit-learn/nbprod pre-imported) ...",
                flush=True,
            )
            for name in NOTEBOOKS:
                run_once(nbprod, gated, name)  # products of the gated run for the breakdown
                bd[name] = breakdown(gated, name, reps, errors)
            gx_imp = gx_import_diagnostics(gated.root, reps, cache_dir)
        except B.CommandFailed as exc:
            errors.append(str(exc))
            print(f"  ! {exc}", file=sys.stderr)

        print(
            f"\n[2] validate_frame in-process, synthetic 8-column frame, suite proposed from {SAMPLE_ROWS:,} rows",
            flush=True,
        )
        try:
            syn = part2(reps, gated.root, errors)
        except Exception as exc:  # report, never crash: the JSON still gets written
            errors.append(f"part 2: {type(exc).__name__}: {exc}")
            syn = {}

    # ------------------------------------------------------------------ report
    def med(name: str, kind: str, key: str) -> float:
        vals = [r[key] for r in runs[name][kind] if r.get(key) is not None]
        return B.median(vals)

    summary: dict[str, dict] = {}
    rows = []
    for name in NOTEBOOKS:
        g, u = med(name, "gated", "wall_s"), med(name, "ungated", "wall_s")
        gsteps, usteps = med(name, "gated", "steps_s"), med(name, "ungated", "steps_s")
        gel = B.median([sum(r["gate_elapsed_s"].values()) for r in runs[name]["gated"] if r["gate_elapsed_s"]])
        r = B.ratio(g, u)
        summary[name] = {
            "gated_s": g,
            "ungated_s": u,
            "ratio": r,
            "extra_s": g - u,
            "gated_steps_s": gsteps,
            "ungated_steps_s": usteps,
            "gate_validation_in_run_s": gel,
            "result": B.verdict(r, TARGET_RATIO),
            "product_files": {k: (runs[name][k][-1]["product_files"] if runs[name][k] else None) for k in runs[name]},
            "max_load1_before": max((x["load1_before"] for k in runs[name] for x in runs[name][k]), default=None),
        }
        rows.append(
            [
                f"{name}.ipynb",
                B.fmt_s(u),
                B.fmt_s(g),
                B.fmt_s(g - u),
                f"{r:.2f}x",
                f"<= {TARGET_RATIO:.2f}x",
                summary[name]["result"],
                B.fmt_s(gel),
                f"{B.fmt_s(usteps)} / {B.fmt_s(gsteps)}",
            ]
        )
        if "gated_inproc" in runs[name]:
            gi = med(name, "gated_inproc", "wall_s")
            ri = B.ratio(gi, u)
            summary[name].update(
                {"gated_inproc_s": gi, "inproc_ratio": ri, "inproc_result": B.verdict(ri, TARGET_RATIO)}
            )
            gel_i = B.median(
                [sum(x["gate_elapsed_s"].values()) for x in runs[name]["gated_inproc"] if x["gate_elapsed_s"]]
            )
            rows.append(
                [
                    "  same, NBPROD_GATE_WORKER=0",
                    B.fmt_s(u),
                    B.fmt_s(gi),
                    B.fmt_s(gi - u),
                    f"{ri:.2f}x",
                    "(diagnostic)",
                    summary[name]["inproc_result"],
                    B.fmt_s(gel_i),
                    f"{B.fmt_s(usteps)} / {B.fmt_s(med(name, 'gated_inproc', 'steps_s'))}",
                ]
            )
    print("\n[1] nbprod run from clean (median wall time)")
    print(
        B.table(
            rows,
            [
                "notebook",
                "ungated",
                "gated",
                "extra",
                "ratio",
                "target",
                "result",
                "gate validate (in run)",
                "steps ungated/gated",
            ],
        )
    )
    if bd:
        print("\nwhere the gate time goes (fresh interpreter; pandas, scikit-learn, nbprod already imported):")
        brow = []
        for name, b in bd.items():
            if not b:
                continue
            m = b["median_s"]
            total = m["import_gx_s"] + m["context_s"] + m["first_validation_s"]
            brow.append(
                [
                    f"{name} ({b['variable']}, {b['rows']:,}x{b['columns']})",
                    B.fmt_s(m["import_gx_s"]),
                    B.fmt_s(m["context_s"]),
                    B.fmt_s(m["first_validation_s"]),
                    B.fmt_s(m["warm_validation_s"]),
                    B.fmt_s(total),
                    B.fmt_s(summary[name]["extra_s"]),
                ]
            )
        print(
            B.table(
                brow,
                [
                    "gated frame",
                    "import GX (pandas loaded)",
                    "GX context",
                    "1st validation",
                    "warm validation",
                    "sum (in-process cost)",
                    "run extra (measured)",
                ],
            )
        )
    if gx_imp:
        print(
            f"\n`import great_expectations` alone (fresh interpreter): {B.fmt_s(gx_imp['timed_import_s'])} (median); "
            f"with a warm private bytecode cache: {B.fmt_s(gx_imp['timed_import_cached_bytecode_s'])} "
            f"(PYTHONDONTWRITEBYTECODE={gx_imp['PYTHONDONTWRITEBYTECODE']}, {gx_imp['venv_gx_pyc_files']} .pyc files "
            f"in the venv's great_expectations)"
        )
        print(f"  -X importtime total {B.fmt_s(gx_imp['importtime_total_s'])}, self time by package:")
        print("  " + ", ".join(f"{k} {B.fmt_s(v)}" for k, v in gx_imp["importtime_top_s"].items()))
        print(
            f'a fresh process ready to validate (python -c "from nbprod.gates.validate import _gx; _gx()", wall): '
            f"{B.fmt_s(gx_imp['fresh_ready_s'])} (median); compare with the run extra: "
            + ", ".join(f"{n} {B.fmt_s(summary[n]['extra_s'])}" for n in NOTEBOOKS)
        )

    if syn.get("sizes"):
        print(
            f"\n[2] validate_frame on a synthetic 8-column frame ({syn['expectations']} expectations proposed from "
            f"{SAMPLE_ROWS:,} rows; propose_suite {B.fmt_s(syn['propose_s'])})"
        )
        print(
            f"  first call incl. GX import and context (10,000 rows): {B.fmt_s(syn['first_call_incl_import_s'])}"
            f"{'' if not syn['gx_loaded_before_first_call'] else ' (GX was already imported!)'}"
        )
        srows = [
            [f"{int(n):,} rows", B.fmt_s(s["median_s"]), f"{s['rows_per_s']:,.0f}", str(s["failed"])]
            for n, s in syn["sizes"].items()
        ]
        print(B.table(srows, ["frame", "median", "rows/s", "failed"]))
        print(
            f"  growth 1M vs 10k: {syn['growth_1m_vs_10k']:.1f}x for {syn['rows_factor']:.0f}x the rows "
            f"(per-row cost ratio {syn['per_row_cost_ratio']:.2f}): {syn['growth_kind']}"
        )

    verdicts = {f"{n}_gated_vs_ungated": summary[n]["result"] for n in NOTEBOOKS}
    print("\n" + "\n".join(f"{k}: {v}" for k, v in verdicts.items()))
    for e in errors:
        print(f"ERROR: {e}")
    if not args.keep:
        shutil.rmtree(cache_dir, ignore_errors=True)
    out = B.write_json(
        "bench_gates-bytecode-cache" if args.bytecode_cache else "bench_gates",
        {
            "quick": args.quick,
            "repetitions": reps,
            "warmup": warmup,
            "bytecode_cache": args.bytecode_cache,
            "target_ratio": TARGET_RATIO,
            "results": verdicts,
            "full_runs": summary,
            "runs": runs,
            "removed_tags": removed,
            "breakdown": bd,
            "gx_import": gx_imp,
            "synthetic": syn,
            "errors": errors,
            "command": "nbprod run example_notebooks/<nb>.ipynb --project <tmp> --no-track --no-package (from clean)",
        },
    )
    print(f"\nwritten {out.relative_to(B.REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
