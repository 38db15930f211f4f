"""How ``convert()`` scales with notebook size, and what ``nbprod convert`` costs beyond interpreter start-up.

Synthetic tagged notebooks (nbformat 4, written with json) of 100, 1,000 and 5,000 cells: an ``imports``
cell, a ``parameters`` cell, a ``functions`` cell, then steps ``step:s1``, ``step:s2`` ... every ~10 cells
(so the number of steps grows with the cells), each step with a markdown heading and realistic code cells:
assignments that use names from earlier cells and earlier steps, function definitions, pandas-like calls
(text only: nothing is executed).

  * ``convert()`` in-process, fresh project per run (output folder removed, untimed), after an untimed
    warm-up call: median time per cell for each size; ratio per-cell 5,000 vs 100    target: <= 1.5x
  * ``nbprod convert`` of the 1,000-cell notebook (subprocess) minus ``python -c "import nbprod.ui.cli"``
    (same run, interleaved)                                                            target: < 1 s

Usage: python benchmarks/bench_convert.py [--quick]
"""

from __future__ import annotations

import gc
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _benchlib as B  # noqa: E402

SIZES = (100, 1000, 5000)
STEP_EVERY = 10
TARGET_PER_CELL_RATIO = 1.5
TARGET_CLI_EXTRA_S = 1.0


# --------------------------------------------------------------------------------------------- notebook
def _cell(cell_type: str, source: str, tags: list[str] | None = None) -> dict:
    cell: dict = {"cell_type": cell_type, "metadata": {"tags": tags} if tags else {}, "source": source}
    if cell_type == "code":
        cell["execution_count"] = None
        cell["outputs"] = []
    return cell


class _Names:
    """Frames and values defined so far, to write cells that use names from earlier cells."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.frames: list[str] = ["raw"]
        self.values: list[str] = []
        self.funcs: list[str] = ["clean_column"]

    def recent_frame(self) -> str:
        # mostly the last few frames (same or previous step), sometimes one from far back
        if self.rng.random() < 0.15:
            return self.rng.choice(self.frames)
        return self.rng.choice(self.frames[-6:])

    def some_value(self) -> str:
        return self.rng.choice(self.values[-8:]) if self.values else "alpha"


def _code_cell(k: int, names: _Names, rng: random.Random) -> str:
    """One realistic code cell number ``k`` (unique names: every name is assigned once)."""
    src_df = names.recent_frame()
    kind = rng.choice(["assign", "assign", "groupby", "merge", "func", "stats", "filter", "features"])
    if kind == "func":
        fn = f"transform_{k}"
        other = rng.choice(names.funcs)
        names.funcs.append(fn)
        out = f"df_{k}"
        names.frames.append(out)
        return (
            f"def {fn}(frame, factor=2.0):\n"
            f'    """Scale the value column and tag the rows (cell {k})."""\n'
            f'    result = frame.assign(v_{k}=frame["value"] * factor)\n'
            f'    result["bucket"] = (result["value"] // 10).astype(int)\n'
            f'    return {other}(result, "value")\n'
            f"\n\n"
            f"{out} = {fn}({src_df}, factor=alpha)"
        )
    if kind == "groupby":
        out = f"agg_{k}"
        names.frames.append(out)
        return (
            f'{out} = (\n    {src_df}.groupby("key")\n    .agg(value=("value", "mean"), n=("value", "size"))\n'
            f"    .reset_index()\n)\n{out}.head()"
        )
    if kind == "merge":
        left, right = src_df, names.recent_frame()
        out = f"joined_{k}"
        names.frames.append(out)
        return (
            f'{out} = {left}.merge({right}[["key", "value"]], on="key", how="left", suffixes=("", "_r{k}"))\n'
            f'{out} = {out}.fillna({{"value_r{k}": 0.0}})'
        )
    if kind == "stats":
        mean, std = f"mean_{k}", f"std_{k}"
        names.values += [mean, std]
        return (
            f'{mean} = float({src_df}["value"].mean())\n{std} = float({src_df}["value"].std())\n'
            f'print(f"cell {k}: mean={{{mean}:.3f}} std={{{std}:.3f}}")'
        )
    if kind == "filter":
        out = f"sel_{k}"
        thr = names.some_value()
        names.frames.append(out)
        return (
            f'{out} = {src_df}[{src_df}["value"] > {thr}].copy()\n'
            f'{out} = {out}.sort_values("value", ascending=False).reset_index(drop=True)'
        )
    if kind == "features":
        out = f"feat_{k}"
        names.frames.append(out)
        return (
            f'{out} = {src_df}.assign(\n    log_value=np.log1p({src_df}["value"].clip(lower=0)),\n'
            f'    scaled=({src_df}["value"] - {names.some_value()}) / (1.0 + n_rows),\n)\n'
            f'{out}["flag"] = {out}["scaled"] > threshold'
        )
    out = f"df_{k}"
    names.frames.append(out)
    return f'{out} = {src_df}.assign(value={src_df}["value"] * {rng.randint(2, 9)} + {names.some_value()})\n{out}.shape'


def make_notebook(n_cells: int, seed: int = 0) -> dict:
    """A tagged notebook of exactly ``n_cells`` cells."""
    rng = random.Random(seed)
    names = _Names(rng)
    cells = [
        _cell("markdown", f"# Synthetic pipeline ({n_cells} cells)\n\nGenerated by benchmarks/bench_convert.py."),
        _cell("code", "import numpy as np\nimport pandas as pd", ["imports"]),
        _cell("code", "seed = 42\nn_rows = 1000\nalpha = 1.5\nthreshold = 0.25", ["parameters"]),
        _cell(
            "code",
            'def clean_column(frame, column):\n    """Fill missing values of one column with its median."""\n'
            "    return frame.assign(**{column: frame[column].fillna(frame[column].median())})",
            ["functions"],
        ),
        _cell(
            "code",
            "rng = np.random.default_rng(seed)\n"
            'raw = pd.DataFrame({"key": rng.integers(0, 50, size=n_rows), "value": rng.normal(10.0, 3.0, '
            "size=n_rows)})",
            ["step:s1"],
        ),
    ]
    names.values.append("alpha")
    step = 1
    since_step = 1
    k = len(cells)
    while len(cells) < n_cells:
        if since_step >= STEP_EVERY and n_cells - len(cells) >= 3:
            step += 1
            since_step = 0
            cells.append(_cell("markdown", f"## Step s{step}\n\nWhat this part of the analysis does (cell {k})."))
            k += 1
            cells.append(_cell("code", _code_cell(k, names, rng), [f"step:s{step}"]))
        else:
            cells.append(_cell("code", _code_cell(k, names, rng)))
        since_step += 1
        k += 1
    return {
        "cells": cells[:n_cells],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


# ------------------------------------------------------------------------------------------------ timing
def time_convert(nb_path: Path, work: Path, runs: int, gc_enabled: bool = True) -> tuple[list[float], int, int]:
    """Medians of ``convert()`` into a fresh project. ``gc_enabled=False``: the same with the cyclic GC off
    (a diagnostic: how much of the time, and of any non-linear growth, is garbage collection)."""
    from nbprod.convert.render import convert

    times = []
    steps = files = 0
    for i in range(runs + 1):  # first call: untimed warm-up (lazy imports, caches)
        project = work / f"proj-{nb_path.stem}-{i}"
        project.mkdir()
        gc.collect()  # start each run from the same heap: nothing left over from the previous one
        if not gc_enabled:
            gc.disable()
        try:
            t0 = time.perf_counter()
            result = convert(nb_path, project=project)
            elapsed = time.perf_counter() - t0
        finally:
            gc.enable()
        steps, files = len(result.plan.steps), len(result.files)
        del result
        shutil.rmtree(project, ignore_errors=True)
        if i:
            times.append(elapsed)
    return times, steps, files


def main() -> int:
    args = B.parse_args(__doc__.splitlines()[0])
    runs = {100: 3, 1000: 2, 5000: 1} if args.quick else {100: 15, 1000: 7, 5000: 3}
    cli_runs = 3 if args.quick else 7
    diag_runs = {100: 3, 5000: 1} if args.quick else {100: 7, 5000: 2}
    errors: list[str] = []
    work = Path(tempfile.mkdtemp(prefix="nbprod-bench-convert-"))
    results: dict[int, dict] = {}
    nogc: dict[int, dict] = {}
    print(f"bench_convert: in-process convert(), runs per size {runs}; CLI runs {cli_runs}")
    try:
        nbs = {}
        for n in SIZES:
            nb = make_notebook(n)
            path = work / f"synth_{n}.ipynb"
            path.write_text(json.dumps(nb, indent=1))
            nbs[n] = path
        for n in SIZES:
            try:
                times, steps, files = time_convert(nbs[n], work, runs[n])
            except Exception as exc:  # report, do not assert
                errors.append(f"convert({nbs[n].name}): {type(exc).__name__}: {exc}")
                print(f"  ! convert of {n} cells failed: {exc}", file=sys.stderr)
                continue
            med = B.median(times)
            results[n] = {
                "cells": n,
                "steps": steps,
                "files": files,
                "runs_s": times,
                "median_s": med,
                "per_cell_s": med / n,
                "bytes": nbs[n].stat().st_size,
            }
        # Diagnostic: the smallest and largest size again with the cyclic garbage collector off.
        for n in (SIZES[0], SIZES[-1]):
            try:
                times, _, _ = time_convert(nbs[n], work, diag_runs[n], gc_enabled=False)
                nogc[n] = {"runs_s": times, "median_s": B.median(times), "per_cell_s": B.median(times) / n}
            except Exception as exc:
                errors.append(f"convert({nbs[n].name}, gc off): {type(exc).__name__}: {exc}")

        # CLI: nbprod convert of the 1,000-cell notebook vs `python -c "import nbprod.ui.cli"`, interleaved.
        nbprod = B.tool("nbprod")
        cli_nb = nbs[1000]
        base_cmd = [B.PYTHON, "-c", "import nbprod.ui.cli"]
        cli_times: list[float] = []
        base_times: list[float] = []
        for i in range(cli_runs + 1):
            project = work / f"cli-{i}"
            project.mkdir()
            try:
                tb = B.time_cmd(base_cmd, work)[0]
                tc = B.time_cmd([nbprod, "convert", str(cli_nb), "--project", str(project)], work)[0]
            except B.CommandFailed as exc:
                errors.append(str(exc))
                print(f"  ! {exc}", file=sys.stderr)
                break
            finally:
                shutil.rmtree(project, ignore_errors=True)
            if i:  # first pair: warm-up
                base_times.append(tb)
                cli_times.append(tc)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print()
    rows = []
    for n in SIZES:
        r = results.get(n)
        if not r:
            rows.append([f"{n:,}", "-", "-", "failed", "-", "-"])
            continue
        rows.append(
            [
                f"{n:,}",
                str(r["steps"]),
                str(len(r["runs_s"])),
                B.fmt_s(r["median_s"]),
                f"{r['per_cell_s'] * 1e6:.0f} us",
                f"{r['per_cell_s'] / results[SIZES[0]]['per_cell_s']:.2f}x" if SIZES[0] in results else "-",
            ]
        )
    print(B.table(rows, ["cells", "steps", "runs", "convert() median", "per cell", "per cell vs 100"]))
    small, big = results.get(SIZES[0]), results.get(SIZES[-1])
    per_cell_ratio = B.ratio(big["per_cell_s"], small["per_cell_s"]) if small and big else float("nan")
    v_scale = B.verdict(per_cell_ratio, TARGET_PER_CELL_RATIO)
    print(
        f"\nper-cell time 5,000 vs 100 cells: {per_cell_ratio:.2f}x   target <= {TARGET_PER_CELL_RATIO:g}x (linear)   {v_scale}"
    )
    nogc_ratio = (
        B.ratio(nogc[SIZES[-1]]["per_cell_s"], nogc[SIZES[0]]["per_cell_s"]) if len(nogc) == 2 else float("nan")
    )
    if len(nogc) == 2:
        print(
            f"  diagnostic, cyclic GC off: {nogc[SIZES[0]]['per_cell_s'] * 1e6:.0f} us/cell at 100, "
            f"{nogc[SIZES[-1]]['per_cell_s'] * 1e6:.0f} us/cell at 5,000 -> {nogc_ratio:.2f}x"
            + (
                f"; 5,000 cells: {B.fmt_s(big['median_s'])} with GC, {B.fmt_s(nogc[SIZES[-1]]['median_s'])} without"
                if big
                else ""
            )
        )

    med_cli, med_base = B.median(cli_times), B.median(base_times)
    extra = med_cli - med_base if cli_times else float("nan")
    v_cli = B.verdict(extra, TARGET_CLI_EXTRA_S, "<")
    print()
    print(
        B.table(
            [
                ['python -c "import nbprod.ui.cli" (baseline)', B.fmt_s(med_base), "1.00x"],
                ["nbprod convert synth_1000.ipynb", B.fmt_s(med_cli), f"{B.ratio(med_cli, med_base):.2f}x"],
            ],
            ["command", "median", "ratio"],
        )
    )
    print(
        f"\nnbprod convert (1,000 cells) beyond start-up: {B.fmt_s(extra)}   target < {TARGET_CLI_EXTRA_S:g} s   {v_cli}"
    )
    for e in errors:
        print(f"ERROR: {e}")
    out = B.write_json(
        "bench_convert",
        {
            "quick": args.quick,
            "runs": {str(k): v for k, v in runs.items()},
            "sizes": {str(k): v for k, v in results.items()},
            "gc_off_diagnostic": {str(k): v for k, v in nogc.items()},
            "gc_off_per_cell_ratio_5000_vs_100": nogc_ratio,
            "per_cell_ratio_5000_vs_100": per_cell_ratio,
            "target_per_cell_ratio": TARGET_PER_CELL_RATIO,
            "scaling_result": v_scale,
            "cli": {
                "notebook_cells": 1000,
                "runs": cli_runs,
                "nbprod_convert_s": cli_times,
                "import_nbprod_cli_s": base_times,
                "median_nbprod_convert_s": med_cli,
                "median_import_nbprod_cli_s": med_base,
                "ratio": B.ratio(med_cli, med_base),
                "extra_s": extra,
                "target_extra_s": TARGET_CLI_EXTRA_S,
                "result": v_cli,
            },
            "errors": errors,
        },
    )
    print(f"\nwritten {out.relative_to(B.REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
