"""Small helpers shared by the benchmark scripts (not a benchmark itself).

Every script measures its own baseline in the same run, repeats each measurement and reports medians
and ratios; nothing here asserts. Commands run in a temporary copy of ``example_notebooks/`` so the
repository is never touched.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO / "benchmarks"
OUT_DIR = BENCH_DIR / "out"
EXAMPLES = REPO / "example_notebooks"

#: The interpreter running the benchmark (``make bench`` uses .venv/bin/python); its bin/ holds nbprod and papermill.
PYTHON = sys.executable
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    """A console script of the interpreter's environment (nbprod, papermill), falling back to the PATH."""
    p = BIN / name
    if p.exists():
        return str(p)
    found = shutil.which(name)
    if not found:
        raise SystemExit(f"benchmark: cannot find {name!r} next to {PYTHON} nor on the PATH")
    return found


def bench_env() -> dict[str, str]:
    """The environment for timed subprocesses: nbprod's telemetry opt-outs (no network while measuring)."""
    from nbprod._core.env import TELEMETRY_OPT_OUT

    env = dict(os.environ)
    env.update(TELEMETRY_OPT_OUT)
    return env


def tracking_env() -> dict[str, str]:
    """:func:`bench_env` without ``MLFLOW_TRACKING_URI``: a tracked ``nbprod run`` logs to its project's own
    SQLite store (``<project>/.nbprod/mlflow.db``), never to a tracking server set in the caller's environment."""
    env = bench_env()
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def parse_args(description: str) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke test of the benchmark)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary project folder and print its path")
    return ap.parse_args()


class TempProject:
    """A temporary copy of example_notebooks/ and expectations/, removed on exit unless kept."""

    def __init__(self, keep: bool = False) -> None:
        self.keep = keep
        self.root = Path(tempfile.mkdtemp(prefix="nbprod-bench-"))
        shutil.copytree(
            EXAMPLES,
            self.root / "example_notebooks",
            ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"),
        )
        # the examples' gates need their committed expectation suites
        shutil.copytree(EXAMPLES.parent / "expectations", self.root / "expectations")

    def __enter__(self) -> "TempProject":
        return self

    def __exit__(self, *exc) -> None:
        if self.keep:
            print(f"(kept temporary project {self.root})")
        else:
            shutil.rmtree(self.root, ignore_errors=True)

    def clean_outputs(self) -> None:
        shutil.rmtree(self.root / ".nbprod", ignore_errors=True)
        shutil.rmtree(self.root / "pipelines", ignore_errors=True)


class CommandFailed(RuntimeError):
    pass


def time_cmd(cmd: Sequence[str], cwd: Path, env: Optional[dict] = None) -> tuple[float, subprocess.CompletedProcess]:
    """Wall time of one subprocess (output captured). Raises CommandFailed on a non-zero exit."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        list(cmd), cwd=str(cwd), env=env or bench_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise CommandFailed(f"{' '.join(cmd)} exited {proc.returncode} (cwd {cwd}):\n{tail}")
    return elapsed, proc


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def ratio(a: float, b: float) -> float:
    return a / b if b and b == b and a == a else float("nan")


def verdict(value: float, target: float, op: str = "<=") -> str:
    if value != value:  # nan
        return "MISS (no measurement)"
    ok = value <= target if op == "<=" else value < target
    return "PASS" if ok else "MISS"


def fmt_s(x: float) -> str:
    if x != x:
        return "n/a"
    return f"{x * 1000:.1f} ms" if x < 1 else f"{x:.2f} s"


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    line = lambda r: "  ".join(
        str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths))
    )
    return "\n".join([line(header), "  ".join("-" * w for w in widths)] + [line(r) for r in rows])


def machine_info() -> dict:
    return {
        "python": PYTHON,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def write_json(script: str, data: dict) -> Path:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / f"{script}.json"
    data = {"script": script, "machine": machine_info(), **data}
    path.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    return path


def importtime_top(stderr: str, n: int = 10) -> tuple[float, list[tuple[str, float]]]:
    """From ``python -X importtime`` output: total import time (s) and the packages that cost most.

    Each module's *self* time is charged to its top-level package, so a package's figure is what its own
    modules cost, wherever it was imported from (nbprod's figure excludes yaml, yaml's excludes nbprod).
    """
    per_pkg: dict[str, float] = {}
    total = 0.0
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = line[len("import time:") :].split("|")
        if len(parts) < 3:
            continue
        try:
            self_us = int(parts[0].strip())
        except ValueError:
            continue
        pkg = parts[2].strip().split(".")[0]
        total += self_us
        per_pkg[pkg] = per_pkg.get(pkg, 0.0) + self_us
    top = sorted(per_pkg.items(), key=lambda kv: -kv[1])[:n]
    return total / 1e6, [(k, v / 1e6) for k, v in top]


def run_safely(label: str, fn: Callable[[], float], errors: list[str]) -> Optional[float]:
    try:
        return fn()
    except CommandFailed as exc:
        errors.append(f"{label}: {exc}")
        print(f"  ! {label} failed: {exc}", file=sys.stderr)
        return None
