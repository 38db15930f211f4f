"""``nbprod run`` on the classifier example, against papermill running the same notebook, in the same run.

In a temporary copy of example_notebooks/ (commands run there, ``--project <tmp>``):

  * baseline: ``papermill example_notebooks/classifier.ipynb out.ipynb --cwd example_notebooks -k python3``
  * full:   ``nbprod run --no-track --no-package`` from clean (<tmp>/.nbprod and <tmp>/pipelines deleted first)
                                                                                         target: <= 1.5x papermill
  * no-op:  ``nbprod run`` again, nothing changed                                       target: <= 0.25x full
  * edit:   ``nbprod run`` after a harmless edit of the last step (a line ``_bench_edit = <n>``
            appended to the cell tagged ``metrics``, step evaluate)                       target: <= 0.5x full

Each is a subprocess (wall time); each repetition runs all four in that order, on the original notebook
(restored first). Every one of these ``nbprod run`` commands takes ``--no-track --no-package``: they compare the
pipeline run itself. Medians of 3 repetitions (1 with --quick, without the untimed warm-up). The full mode also
reports what ``nbprod run`` imports (``python -X importtime``). Last, one ``nbprod run`` from clean WITH MLflow
tracking and the Bento build (the default), and its extra cost over the plain full run (informational, no target).
Usage: python benchmarks/bench_run.py [--quick]
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _benchlib as B  # noqa: E402

NB_REL = "example_notebooks/classifier.ipynb"
TARGETS = {"full_vs_papermill": 1.5, "noop_vs_full": 0.25, "edit_vs_full": 0.5}
#: the pipeline run only: no MLflow tracking, no Bento build (measured once, separately, at the end)
RUN_FLAGS = ["--no-track", "--no-package"]
_DONE = re.compile(r"^done: (\d+) ran \(([\d.]+) s\), (\d+) up to date", re.M)


def edit_metrics_cell(nb_path: Path, original: str, counter: int) -> int:
    """Append ``_bench_edit = <counter>`` to the cell tagged ``metrics``; returns that cell's index."""
    nb = json.loads(original)
    for i, cell in enumerate(nb["cells"]):
        if cell.get("cell_type") == "code" and "metrics" in (cell.get("metadata", {}).get("tags") or []):
            src = cell["source"]
            text = "".join(src) if isinstance(src, list) else src
            cell["source"] = text.rstrip("\n") + f"\n_bench_edit = {counter}"
            nb_path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
            return i
    raise RuntimeError(f"no cell tagged 'metrics' in {nb_path}")


def parse_done(stdout: str) -> dict:
    m = _DONE.search(stdout)
    if not m:
        return {"ran": None, "steps_s": None, "up_to_date": None}
    return {"ran": int(m.group(1)), "steps_s": float(m.group(2)), "up_to_date": int(m.group(3))}


def main() -> int:
    args = B.parse_args(__doc__.splitlines()[0])
    reps = 1 if args.quick else 3
    nbprod, papermill = B.tool("nbprod"), B.tool("papermill")
    errors: list[str] = []
    kinds = ["papermill", "full", "noop", "edit"]
    times: dict[str, list[float]] = {k: [] for k in kinds}
    details: dict[str, list[dict]] = {k: [] for k in kinds if k != "papermill"}
    importtime: dict = {}
    tracked: dict = {}
    print(f"bench_run: {reps} repetition(s){'' if args.quick else ' after an untimed warm-up'}; python = {B.PYTHON}")

    with B.TempProject(keep=args.keep) as proj:
        root = proj.root
        nb_path = root / NB_REL
        original = nb_path.read_text()
        pm_cmd = [papermill, NB_REL, "out.ipynb", "--cwd", "example_notebooks", "-k", "python3"]
        run_cmd = [nbprod, "run", NB_REL, "--project", str(root), *RUN_FLAGS]

        def nbprod_run(kind: str, record: bool = True) -> None:
            t, proc = B.time_cmd(run_cmd, root)
            if record:
                times[kind].append(t)
                details[kind].append({"wall_s": t, **parse_done(proc.stdout)})

        try:
            if not args.quick:  # warm-up: file-system cache, .pyc files, kernel spec lookup
                B.time_cmd(pm_cmd, root)
                proj.clean_outputs()
                nbprod_run("full", record=False)
            for rep in range(reps):
                nb_path.write_text(original)
                times["papermill"].append(B.time_cmd(pm_cmd, root)[0])
                proj.clean_outputs()
                nbprod_run("full")
                nbprod_run("noop")
                edit_metrics_cell(nb_path, original, rep + 1)
                nbprod_run("edit")
                print(f"  rep {rep + 1}: " + ", ".join(f"{k} {B.fmt_s(times[k][-1])}" for k in kinds), flush=True)
        except (B.CommandFailed, RuntimeError) as exc:
            errors.append(str(exc))
            print(f"  ! {exc}", file=sys.stderr)

        med = {k: B.median(v) for k, v in times.items()}
        ratios = {
            "full_vs_papermill": B.ratio(med["full"], med["papermill"]),
            "noop_vs_full": B.ratio(med["noop"], med["full"]),
            "edit_vs_full": B.ratio(med["edit"], med["full"]),
        }
        verdicts = {k: B.verdict(v, TARGETS[k]) for k, v in ratios.items()}

        # Diagnostics: what a full `nbprod run` imports (in-process steps: the notebook's own imports count too).
        if not args.quick or any(v != "PASS" for v in verdicts.values()):
            nb_path.write_text(original)
            proj.clean_outputs()
            proc = subprocess.run(
                [B.PYTHON, "-X", "importtime", "-m", "nbprod", "run", NB_REL, "--project", str(root), *RUN_FLAGS],
                cwd=str(root),
                env=B.bench_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            total, top = B.importtime_top(proc.stderr, 12)
            importtime = {"total_s": total, "top_s": dict(top), "returncode": proc.returncode}
            proj.clean_outputs()
            proc = subprocess.run(
                [B.PYTHON, "-X", "importtime", "-c", "import ploomber.spec, ploomber_engine"],
                cwd=str(root),
                env=B.bench_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            importtime["ploomber_alone_s"] = B.importtime_top(proc.stderr, 1)[0] if proc.returncode == 0 else None

        # Informational: one run from clean WITH tracking (MLflow, SQLite under .nbprod/) and packaging (Bento build).
        nb_path.write_text(original)
        proj.clean_outputs()
        try:
            t, proc = B.time_cmd([nbprod, "run", NB_REL, "--project", str(root)], root, B.tracking_env())
            tracked = {
                "wall_s": t,
                **parse_done(proc.stdout),
                "bento_built": (root / ".nbprod" / "package" / "classifier" / "last_bento.json").is_file(),
                "mlflow_db": (root / ".nbprod" / "mlflow.db").is_file(),
            }
            print(f"  tracked + packaged run: {B.fmt_s(t)}", flush=True)
        except B.CommandFailed as exc:
            errors.append(f"tracked + packaged run: {exc}")
            print(f"  ! tracked + packaged run failed: {exc}", file=sys.stderr)

    def med_of(kind: str, key: str):
        vals = [d[key] for d in details.get(kind, []) if d.get(key) is not None]
        return B.median(vals) if vals else float("nan")

    rows = [["papermill (baseline)", B.fmt_s(med["papermill"]), "1.00x", "", "", "", ""]]
    labels = {
        "full": ("nbprod run, from clean", "full_vs_papermill", "papermill"),
        "noop": ("nbprod run, no-op re-run", "noop_vs_full", "full"),
        "edit": ("nbprod run, after editing evaluate", "edit_vs_full", "full"),
    }
    for kind, (label, rk, vs) in labels.items():
        ran = [d["ran"] for d in details[kind]]
        rows.append(
            [
                label,
                B.fmt_s(med[kind]),
                f"{ratios[rk]:.2f}x",
                f"vs {vs}",
                f"<= {TARGETS[rk]:g}x",
                verdicts[rk],
                f"{ran[-1] if ran else '?'} ran, steps {B.fmt_s(med_of(kind, 'steps_s'))}",
            ]
        )
    print()
    print(B.table(rows, ["command", "median", "ratio", "of", "target", "result", "steps (nbprod's own count)"]))
    full_steps = med_of("full", "steps_s")
    if full_steps == full_steps:
        print(
            f"\nfull nbprod run: {B.fmt_s(med['full'])} wall = {B.fmt_s(full_steps)} inside the 4 steps "
            f"+ {B.fmt_s(med['full'] - full_steps)} outside them (interpreter, imports, convert, Ploomber DAG set-up, "
            "saving)"
        )
    if importtime:
        print(
            f"\n`nbprod run` from clean, python -X importtime (self time by package): total {B.fmt_s(importtime['total_s'])}"
        )
        print("  " + ", ".join(f"{k} {B.fmt_s(v)}" for k, v in importtime["top_s"].items()))
        if importtime.get("ploomber_alone_s") is not None:
            print(f"  `import ploomber.spec, ploomber_engine` alone: {B.fmt_s(importtime['ploomber_alone_s'])}")
    if tracked:
        extra = tracked["wall_s"] - med["full"]
        tracked.update({"extra_vs_full_s": extra, "ratio_vs_full": B.ratio(tracked["wall_s"], med["full"])})
        print(
            f"\nnbprod run from clean WITH tracking and packaging (1 run, informational): {B.fmt_s(tracked['wall_s'])} "
            f"= {tracked['ratio_vs_full']:.2f}x the plain full run ({B.fmt_s(med['full'])}), "
            f"+{B.fmt_s(extra)} for MLflow tracking + Bento build "
            f"(steps {B.fmt_s(tracked['steps_s'] if tracked.get('steps_s') is not None else float('nan'))}; "
            f"Bento {'built' if tracked['bento_built'] else 'NOT built'}, mlflow.db "
            f"{'written' if tracked['mlflow_db'] else 'MISSING'})"
        )
    for e in errors:
        print(f"ERROR: {e}")
    out = B.write_json(
        "bench_run",
        {
            "quick": args.quick,
            "repetitions": reps,
            "raw_s": times,
            "median_s": med,
            "ratios": ratios,
            "targets": TARGETS,
            "results": verdicts,
            "nbprod_runs": details,
            "importtime": importtime,
            "tracked_and_packaged": tracked,
            "errors": errors,
            "commands": {
                "papermill": "papermill " + " ".join(pm_cmd[1:]),
                "nbprod": "nbprod " + " ".join(run_cmd[1:3]) + " --project <tmp> " + " ".join(RUN_FLAGS),
                "tracked_and_packaged": "nbprod " + " ".join(run_cmd[1:3]) + " --project <tmp>",
            },
        },
    )
    print(f"\nwritten {out.relative_to(B.REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
