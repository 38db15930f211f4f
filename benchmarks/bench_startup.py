"""Start-up cost of the nbprod CLI, against a bare interpreter start measured in the same run.

  * ``nbprod --help``  vs ``python -c pass``            target: ratio <= 3x
  * ``nbprod lint example_notebooks/classifier.ipynb`` vs ``python -c pass``   (reported)
  * after ``--help`` and after ``lint``: none of ploomber, papermill, pandas, great_expectations,
    mlflow, bentoml is in sys.modules                  target: none loaded

Each command is a subprocess (wall time), the runs of all commands interleaved, median of N.
Usage: python benchmarks/bench_startup.py [--quick]
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _benchlib as B  # noqa: E402

HEAVY = ["ploomber", "papermill", "pandas", "great_expectations", "mlflow", "bentoml"]
TARGET_HELP_RATIO = 3.0

PROBE = """\
import contextlib, io, json, sys
from nbprod.ui.cli import main
argv = json.loads(sys.argv[1])
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    try:
        main(argv)
    except SystemExit:
        pass
heavy = set(json.loads(sys.argv[2]))
print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))
"""


def loaded_after(argv: list[str], cwd: Path) -> list[str]:
    proc = subprocess.run(
        [B.PYTHON, "-c", PROBE, json.dumps(argv), json.dumps(HEAVY)],
        cwd=str(cwd),
        env=B.bench_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if proc.returncode != 0:
        raise B.CommandFailed(f"probe {argv} exited {proc.returncode}: {proc.stderr.strip()[-800:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    args = B.parse_args(__doc__.splitlines()[0])
    n = 5 if args.quick else 15
    nbprod = B.tool("nbprod")
    nb = "example_notebooks/classifier.ipynb"
    errors: list[str] = []
    cmds = {
        "python -c pass": [B.PYTHON, "-c", "pass"],
        "nbprod --help": [nbprod, "--help"],
        f"nbprod lint {nb}": [nbprod, "lint", nb],
    }
    times: dict[str, list[float]] = {k: [] for k in cmds}
    print(f"bench_startup: {n} runs each, interleaved; python = {B.PYTHON}")
    with B.TempProject(keep=args.keep) as proj:
        for label, cmd in cmds.items():  # warm-up: file-system cache, .pyc files
            try:
                B.time_cmd(cmd, proj.root)
            except B.CommandFailed as exc:
                errors.append(f"warm-up {label}: {exc}")
        for _ in range(n):
            for label, cmd in cmds.items():
                try:
                    times[label].append(B.time_cmd(cmd, proj.root)[0])
                except B.CommandFailed as exc:
                    errors.append(f"{label}: {exc}")
        loaded: dict[str, object] = {}
        for label, argv in (("--help", ["--help"]), ("lint", ["lint", nb])):
            try:
                loaded[label] = loaded_after(argv, proj.root)
            except B.CommandFailed as exc:
                errors.append(str(exc))
                loaded[label] = None
        # Diagnostics: what `nbprod lint` imports, by top-level package (cumulative import time).
        it = subprocess.run(
            [
                B.PYTHON,
                "-X",
                "importtime",
                "-c",
                "import sys; from nbprod.ui.cli import main; sys.exit(main(sys.argv[1:]))",
                "lint",
                nb,
            ],
            cwd=str(proj.root),
            env=B.bench_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        lint_imports_total, lint_imports_top = B.importtime_top(it.stderr, 8)

    med = {k: B.median(v) for k, v in times.items()}
    base = med["python -c pass"]
    r_help = B.ratio(med["nbprod --help"], base)
    r_lint = B.ratio(med[f"nbprod lint {nb}"], base)
    v_help = B.verdict(r_help, TARGET_HELP_RATIO)

    rows = [
        ["python -c pass (baseline)", B.fmt_s(base), "1.00x", "", ""],
        ["nbprod --help", B.fmt_s(med["nbprod --help"]), f"{r_help:.2f}x", f"<= {TARGET_HELP_RATIO:g}x", v_help],
        [f"nbprod lint {Path(nb).name}", B.fmt_s(med[f"nbprod lint {nb}"]), f"{r_lint:.2f}x", "(report)", ""],
    ]
    print()
    print(B.table(rows, ["command", "median", "ratio", "target", "result"]))
    print()
    heavy_ok = {}
    for label, mods in loaded.items():
        if mods is None:
            heavy_ok[label] = None
            print(f"heavy modules after {label:6}: probe failed  MISS")
            continue
        heavy_ok[label] = not mods
        print(f"heavy modules after {label:6}: {mods if mods else 'none'}  {'PASS' if not mods else 'MISS'}")
    print()
    print(f"`nbprod lint` imports (python -X importtime, self time by package): total {B.fmt_s(lint_imports_total)}")
    print("  " + ", ".join(f"{k} {B.fmt_s(v)}" for k, v in lint_imports_top))
    for e in errors:
        print(f"ERROR: {e}")
    out = B.write_json(
        "bench_startup",
        {
            "quick": args.quick,
            "runs": n,
            "median_s": med,
            "raw_s": times,
            "ratio_help_vs_python": r_help,
            "target_help_ratio": TARGET_HELP_RATIO,
            "help_result": v_help,
            "ratio_lint_vs_python": r_lint,
            "heavy_modules_checked": HEAVY,
            "heavy_modules_loaded": loaded,
            "heavy_modules_result": {k: ("PASS" if v else "MISS") for k, v in heavy_ok.items()},
            "lint_importtime_total_s": lint_imports_total,
            "lint_importtime_top_s": dict(lint_imports_top),
            "errors": errors,
        },
    )
    print(f"\nwritten {out.relative_to(B.REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
