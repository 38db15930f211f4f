"""The whole journey a user gets by default, against papermill running the same notebook, in the same run.

For each example (example_notebooks/classifier.ipynb and regression.ipynb), in a temporary project copy:

  * baseline: ``papermill <nb> out.ipynb --cwd example_notebooks -k python3``
  * full:     ``nbprod run <nb>`` from clean (fresh .nbprod/, so a fresh MLflow store, no pipelines/, no bentos/):
              steps, gates, MLflow tracking and the Bento build                 target: <= 1.5x papermill
  * tail:     wall time from the last step's "done" line to the process's exit (tracking + packaging)
                                                                                  target: <= 2 s
  * no-op:    ``nbprod run`` again, nothing changed                             target: <= 0.05x full
  * edit last: after appending ``_bench_edit = <n>`` to the last step's last cell  target: <= 0.3x full
  * edit first: after appending it to the first step's first cell              target: <= 1.0x full
  * gates:    ``nbprod run --no-track --no-package`` from clean, gated notebook vs the same notebook with every
              ``gate:``/``require:`` tag removed (a second temporary project)   target: <= 1.10x

Pairs alternate their order between repetitions (papermill first, then nbprod first; gated first, then ungated
first). Medians of 3 repetitions (1 with --quick) after an untimed warm-up of every command, which also primes
a private bytecode cache: every subprocess runs with ``PYTHONPYCACHEPREFIX`` in a temporary folder (the venv is
never written to), as an installation with .pyc files behaves. ``--no-bytecode-cache`` runs as configured.
Usage: python benchmarks/bench_journey.py [--quick] [--keep] [--no-bytecode-cache] [--only classifier]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _benchlib as B  # noqa: E402
from bench_gates import cache_env, strip_gate_tags  # noqa: E402

NOTEBOOKS = ("classifier", "regression")
TARGETS = {
    "full_vs_papermill": 1.5,
    "tail_s": 2.0,
    "noop_vs_full": 0.05,
    "edit_last_vs_full": 0.3,
    "edit_first_vs_full": 1.0,
    "gated_vs_ungated": 1.10,
}
GATE_FLAGS = ["--no-track", "--no-package"]
_STEP_DONE = re.compile(r"^\s*✓ (\w+) \([\d.]+ s\)\s*$")
_DONE = re.compile(r"^done: (\d+) ran \(([\d.]+) s\), (\d+) up to date", re.M)
_STEP_TAG = re.compile(r"(^|[\s,])step:\w+")


def _children_cpu() -> float:
    """User + system CPU seconds of every finished child process and its waited-for descendants (the side
    processes, papermill's kernel): on a shared machine far steadier than wall time, reported next to it."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def timed_stream(cmd: list[str], cwd: Path, env: dict) -> dict:
    """Run ``cmd``, timestamping its stdout lines as they arrive: wall time, and the time after the last step's
    "done" line (what runs after the steps: tracking and packaging). Raises CommandFailed on a non-zero exit."""
    c0, t0 = _children_cpu(), time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=str(cwd), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
    )
    assert proc.stdout is not None and proc.stderr is not None
    lines: list[tuple[float, str]] = []
    for line in proc.stdout:
        lines.append((time.perf_counter() - t0, line.rstrip("\n")))
    err = proc.stderr.read()
    rc = proc.wait()
    wall, cpu = time.perf_counter() - t0, _children_cpu() - c0
    if rc != 0:
        tail = "\n".join((err or "\n".join(x for _, x in lines)).strip().splitlines()[-15:])
        raise B.CommandFailed(f"{' '.join(cmd)} exited {rc} (cwd {cwd}):\n{tail}")
    last_done = max((t for t, x in lines if _STEP_DONE.match(x)), default=None)
    out = "\n".join(x for _, x in lines)
    m = _DONE.search(out)
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "tail_s": None if last_done is None else wall - last_done,
        "ran": int(m.group(1)) if m else None,
        "steps_s": float(m.group(2)) if m else None,
        "lines": [[round(t, 3), x] for t, x in lines],
    }


def _cell_text(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _tags(cell: dict) -> str:
    """The cell's tags as text: metadata tags and an ``# nbprod:`` first-line comment."""
    tags = " ".join((cell.get("metadata") or {}).get("tags") or [])
    first = _cell_text(cell).lstrip("\n").split("\n", 1)[0]
    return tags + (" " + first.split(":", 1)[1] if re.match(r"^\s*#\s*nbprod\s*:", first) else "")


def edit_cell(nb_path: Path, original: str, which: str, counter: int) -> int:
    """Append ``_bench_edit = <counter>`` to the first step's first cell (``which="first"``) or to the last step's
    last code cell (``"last"``: the last code cell not tagged ``skip``); returns the cell's index."""
    nb = json.loads(original)
    code = [(i, c) for i, c in enumerate(nb["cells"]) if c.get("cell_type") == "code"]
    if which == "first":
        idx = next(i for i, c in code if _STEP_TAG.search(_tags(c)))
    else:
        idx = [i for i, c in code if "skip" not in _tags(c).replace(",", " ").split()][-1]
    cell = nb["cells"][idx]
    cell["source"] = _cell_text(cell).rstrip("\n") + f"\n_bench_edit = {counter}"
    nb_path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return idx


def clean(proj: B.TempProject) -> None:
    proj.clean_outputs()
    shutil.rmtree(proj.root / "bentos", ignore_errors=True)


class Journey:
    """The measurements of one notebook: a gated project and an ungated copy."""

    def __init__(self, name: str, env: dict, keep: bool) -> None:
        self.name, self.env = name, env
        self.rel = f"example_notebooks/{name}.ipynb"
        self.gated, self.ungated = B.TempProject(keep=keep), B.TempProject(keep=keep)
        self.nb_path = self.gated.root / self.rel
        self.original = self.nb_path.read_text()
        ungated_nb = self.ungated.root / self.rel
        ungated_nb.write_text(strip_gate_tags(ungated_nb.read_text())[0])
        self.raw: dict[str, list[dict]] = {}

    def close(self) -> None:
        self.gated.__exit__()
        self.ungated.__exit__()

    def _nbprod(self, proj: B.TempProject, flags: list[str]) -> list[str]:
        return [B.tool("nbprod"), "run", self.rel, "--project", str(proj.root), *flags]

    def papermill(self) -> dict:
        cmd = [B.tool("papermill"), self.rel, "out.ipynb", "--cwd", "example_notebooks", "-k", "python3"]
        c0 = _children_cpu()
        t, _ = B.time_cmd(cmd, self.gated.root, self.env)
        return {"wall_s": t, "cpu_s": _children_cpu() - c0}

    def full(self) -> dict:
        self.nb_path.write_text(self.original)
        clean(self.gated)
        return timed_stream(self._nbprod(self.gated, []), self.gated.root, self.env)

    def again(self) -> dict:
        return timed_stream(self._nbprod(self.gated, []), self.gated.root, self.env)

    def edit(self, which: str, counter: int) -> dict:
        edit_cell(self.nb_path, self.original, which, counter)
        return self.again()

    def gates(self, gated: bool) -> dict:
        proj = self.gated if gated else self.ungated
        self.nb_path.write_text(self.original)
        clean(proj)
        return timed_stream(self._nbprod(proj, GATE_FLAGS), proj.root, self.env)

    def record(self, kind: str, fn) -> Optional[dict]:
        res = fn()
        self.raw.setdefault(kind, []).append({k: v for k, v in res.items() if k != "lines"})
        if kind == "full":
            self.raw.setdefault("full_lines", []).append(res.get("lines"))
        return res

    def warm_up(self) -> None:
        """Every command once, untimed: file-system cache, kernel spec lookup, the bytecode cache."""
        self.papermill()
        self.full()
        self.gates(True)
        self.gates(False)

    def rep(self, i: int) -> None:
        """One repetition; papermill runs before the nbprod runs in even repetitions, after them in odd ones, and
        gated/ungated alternate the same way."""
        if i % 2 == 0:
            self.record("papermill", self.papermill)
        self.record("full", self.full)
        self.record("noop", self.again)
        self.record("edit_last", lambda: self.edit("last", i + 1))
        self.record("edit_first", lambda: self.edit("first", i + 1))
        if i % 2 == 1:
            self.record("papermill", self.papermill)
        gpair = [("gated", lambda: self.gates(True)), ("ungated", lambda: self.gates(False))]
        for kind, fn in gpair if i % 2 == 0 else gpair[::-1]:
            self.record(kind, fn)

    def med(self, kind: str, key: str = "wall_s") -> float:
        vals = [r[key] for r in self.raw.get(kind, []) if r.get(key) is not None]
        return B.median(vals)

    def results(self) -> dict:
        full = self.med("full")
        ratios = {
            "full_vs_papermill": B.ratio(full, self.med("papermill")),
            "tail_s": self.med("full", "tail_s"),
            "noop_vs_full": B.ratio(self.med("noop"), full),
            "edit_last_vs_full": B.ratio(self.med("edit_last"), full),
            "edit_first_vs_full": B.ratio(self.med("edit_first"), full),
            "gated_vs_ungated": B.ratio(self.med("gated"), self.med("ungated")),
        }
        cpu = {
            "full_vs_papermill": B.ratio(self.med("full", "cpu_s"), self.med("papermill", "cpu_s")),
            "edit_last_vs_full": B.ratio(self.med("edit_last", "cpu_s"), self.med("full", "cpu_s")),
            "edit_first_vs_full": B.ratio(self.med("edit_first", "cpu_s"), self.med("full", "cpu_s")),
            "gated_vs_ungated": B.ratio(self.med("gated", "cpu_s"), self.med("ungated", "cpu_s")),
        }
        verdicts = {k: B.verdict(v, TARGETS[k]) for k, v in ratios.items()}
        return {"ratios": ratios, "verdicts": verdicts, "cpu_ratios": cpu, "load": os.getloadavg()[0]}


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 repetition (a smoke test of the benchmark)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary projects and print their paths")
    ap.add_argument("--no-bytecode-cache", action="store_true", help="no private bytecode cache (as configured)")
    ap.add_argument("--only", choices=NOTEBOOKS, help="one example only")
    return ap.parse_args()


ROWS = [
    ("papermill", "papermill (baseline)", None),
    ("full", "nbprod run, from clean", "full_vs_papermill"),
    ("full:tail", "  of which after the last step", "tail_s"),
    ("noop", "no-op re-run", "noop_vs_full"),
    ("edit_last", "after editing the last step", "edit_last_vs_full"),
    ("edit_first", "after editing the first step", "edit_first_vs_full"),
    ("ungated", "--no-track --no-package, gate tags removed", None),
    ("gated", "--no-track --no-package, gated", "gated_vs_ungated"),
]


def report(j: Journey, res: dict) -> str:
    rows = []
    for kind, label, key in ROWS:
        base, _, sub = kind.partition(":")
        value = j.med(base, "tail_s") if sub else j.med(base)
        ran = [r.get("ran") for r in j.raw.get(base, [])]
        extra = f"{ran[-1]} ran, steps {B.fmt_s(j.med(base, 'steps_s'))}" if ran and ran[-1] is not None else ""
        cpu = "" if sub else B.fmt_s(j.med(base, "cpu_s"))
        cpu_ratio = res["cpu_ratios"].get(key or "")
        cpu += f" ({cpu_ratio:.2f}x)" if cpu_ratio is not None else ""
        if key is None:
            rows.append([label, B.fmt_s(value), "", "", "", cpu, extra if not sub else ""])
            continue
        r = res["ratios"][key]
        shown = B.fmt_s(r) if key == "tail_s" else f"{r:.2f}x"
        target = f"<= {TARGETS[key]:g} s" if key == "tail_s" else f"<= {TARGETS[key]:g}x"
        rows.append([label, B.fmt_s(value), shown, target, res["verdicts"][key], cpu, "" if sub else extra])
    head = [j.name, "median", "ratio", "target", "result", "CPU (ratio)", "steps (nbprod's count)"]
    return B.table(rows, head) + f"\n(1-minute load average at the end: {res['load']:.1f} on {os.cpu_count()} cores)"


def main() -> int:
    args = parse_args()
    reps = 1 if args.quick else 3
    env = dict(B.tracking_env(), PYTHONUNBUFFERED="1")
    cache = Path(tempfile.mkdtemp(prefix="nbprod-bench-pyc-"))
    if not args.no_bytecode_cache:
        env = cache_env(env, cache)
    names = [args.only] if args.only else list(NOTEBOOKS)
    print(
        f"bench_journey: {reps} repetition(s) after an untimed warm-up; python = {B.PYTHON}; bytecode: "
        + ("as configured" if args.no_bytecode_cache else f"private cache {cache}")
    )
    errors: list[str] = []
    out: dict = {}
    try:
        for name in names:
            j = Journey(name, env, args.keep)
            try:
                j.warm_up()
                for i in range(reps):
                    j.rep(i)
                    print(
                        f"  {name} rep {i + 1}: "
                        + ", ".join(
                            f"{k} {B.fmt_s(j.raw[k][-1]['wall_s'])}"
                            for k in ("papermill", "full", "noop", "edit_last", "edit_first", "gated", "ungated")
                        ),
                        flush=True,
                    )
            except (B.CommandFailed, RuntimeError, StopIteration, IndexError) as exc:
                errors.append(f"{name}: {exc}")
                print(f"  ! {name}: {exc}", file=sys.stderr)
            finally:
                j.close()
            res = j.results()
            out[name] = {"median_s": {k: j.med(k) for k in j.raw if k != "full_lines"}, **res, "raw": j.raw}
            print()
            print(report(j, res))
            print()
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    for name in names:
        for key, verdict in out.get(name, {}).get("verdicts", {}).items():
            print(
                f"{verdict.split()[0]:4}  {name}: {key} = {out[name]['ratios'][key]:.3g} (target <= {TARGETS[key]:g})"
            )
    for e in errors:
        print(f"ERROR: {e}")
    path = B.write_json(
        "bench_journey",
        {
            "quick": args.quick,
            "repetitions": reps,
            "bytecode_cache": not args.no_bytecode_cache,
            "targets": TARGETS,
            "errors": errors,
            **out,
        },
    )
    print(f"\nwritten {path.relative_to(B.REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
