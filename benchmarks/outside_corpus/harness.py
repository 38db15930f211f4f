"""Outside harness: nbprod vs papermill vs soorgeon 0.0.20 on the notebooks of this folder.

Run with .venv/bin/python benchmarks/outside_corpus/harness.py [NAMES...] [--jobs 2] [--only pm,iso,inproc,verify,soorgeon]
Each notebook runs in fresh project folders under runs/<name>/<tool>/ (nothing is shared between tools).
Results are merged into results.json as each notebook finishes; `python harness.py --report` rewrites results.md.

Printed output = stream outputs (stdout and stderr) plus execute_result / display_data text/plain, cell by cell.
Normalisation: trailing whitespace of each line, consecutive stream chunks of one cell merged, and lines of the
%time / %%time magics ("CPU times:", "Wall time:") dropped (they are timings, never deterministic).
For tagged notebooks the reference leaves out cells tagged `skip` (the user asked for them to be left out);
the unfiltered comparison is recorded too (`iso_vs_pm_all`).
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import difflib
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import threading
import time

import nbformat
import yaml

HERE = pathlib.Path(__file__).resolve().parent
NBDIR = pathlib.Path(os.environ.get("EXTCORPUS_NBDIR", HERE / "notebooks"))
RUNS = pathlib.Path(os.environ.get("EXTCORPUS_RUNS", HERE / "runs"))
REPO = pathlib.Path(__file__).resolve().parents[2]
MAIN_BIN = REPO / ".venv" / "bin"
SV_BIN = HERE / "svenv" / "bin"
RESULTS = pathlib.Path(os.environ.get("EXTCORPUS_RESULTS", HERE / "results.json"))
LOCK = threading.Lock()
TIMING = re.compile(r"^(CPU times:|Wall time:)")


# ------------------------------------------------------------------ output collection
ZMQ_NOISE = re.compile(r"ERROR:tornado\.general:Uncaught exception in ZMQStream callback\n.*?ValueError: DELIM not in msg_list\n",
                       re.S)


KERNEL_FILE = re.compile(r"/tmp/ipykernel_\d+/\d+\.py|<ipython-input-\d+-[0-9a-f]+>")


def cell_outputs(cell) -> str:
    """The printed text of one code cell, normalised (kernel-infrastructure noise under load removed)."""
    pieces: list[list[str]] = []  # [kind, text]
    for o in cell.get("outputs", []):
        t = o.get("output_type")
        if t == "stream":
            kind, text = "stream:" + o.get("name", "stdout"), o.get("text", "")
        elif t in ("execute_result", "display_data"):
            kind, text = "data", o.get("data", {}).get("text/plain", "")
            if isinstance(text, list):
                text = "".join(text)
            text = text + "\n"
        elif t == "error":
            kind, text = "error", f"ERROR {o.get('ename')}: {o.get('evalue')}\n"
        else:
            continue
        if isinstance(text, list):
            text = "".join(text)
        if pieces and pieces[-1][0] == kind and kind.startswith("stream"):
            pieces[-1][1] += text
        else:
            pieces.append([kind, text])
    lines = []
    for kind, text in pieces:
        if kind == "stream:stderr":
            text = ZMQ_NOISE.sub("", text)
            # the kernel's PID / per-source hash in warning locations differ between any two runs
            text = KERNEL_FILE.sub("<cell>", text)
        for line in text.splitlines():
            line = line.rstrip()
            if TIMING.match(line):
                continue
            lines.append(("[stderr] " if kind == "stream:stderr" else "") + line)
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines)


def stdout_only(block: str) -> str:
    return "\n".join(l for l in block.splitlines() if not l.startswith("[stderr] "))


INJECTED = re.compile(r"^# nbprod: (save|load) |pickle\.(loads|dumps)\(|^# Parameters|^upstream = |^product = ", re.M)


def is_injected(src: str) -> bool:
    """A cell the tool wrote (parameters, load/save of products), not one of the user's."""
    return bool(INJECTED.search(src)) and "of the notebook" not in src.split("\n", 1)[0]


def transcript_of(nb_path: pathlib.Path, drop_skip=False, injected=None) -> list[dict]:
    nb = nbformat.read(str(nb_path), as_version=4)
    out = []
    for i, c in enumerate(nb.cells):
        if c.cell_type != "code":
            continue
        tags = c.metadata.get("tags", []) or []
        first = c.source.splitlines()[0] if c.source else ""
        if drop_skip and ("skip" in tags or re.match(r"#\s*nbprod:.*\bskip\b", first)):
            continue
        text = cell_outputs(c)
        if injected and is_injected(c.source):
            if text:
                injected.append(text)
            continue
        if text:
            m = re.search(r"cell (\d+) of the notebook", c.source.split("\n", 1)[0])
            out.append({"cell": i, "origin": int(m.group(1)) if m else None, "first": first[:80], "text": text})
    return out


def flat(tr: list[dict], stdout=False) -> list[str]:
    blocks = [stdout_only(b["text"]) if stdout else b["text"] for b in tr]
    return [b for b in blocks if b]


def compare(ref: list[dict], got: list[dict]) -> dict:
    a, b = flat(ref), flat(got)
    same = a == b
    same_stdout = flat(ref, True) == flat(got, True)
    diff = ""
    if not same:
        diff = "\n".join(difflib.unified_diff("\n".join(a).splitlines(), "\n".join(b).splitlines(),
                                              "papermill", "tool", lineterm="", n=1))
        if len(diff) > 4000:
            diff = diff[:4000] + "\n... (diff cut)"
    return {"same": same, "same_stdout": same_stdout, "diff": diff}


# ------------------------------------------------------------------ running
def sh(cmd, cwd, timeout, env=None):
    t0 = time.time()
    try:
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
        rc, so, se = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        rc, so, se = "timeout", (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or ""), \
            ((e.stderr or b"").decode() if isinstance(e.stderr, bytes) else (e.stderr or "")) + "\nTIMEOUT"
    return rc, so, se, round(time.time() - t0, 2)


NOISE = re.compile(r"Kernel is running over TCP|KeyboardInterrupt caught in kernel|^\s*$|it/s\]|cell/s\]|Executing:|"
                   r"Building task|Loading pipeline")


def first_error(text: str) -> str:
    lines = [l for l in text.splitlines() if not NOISE.search(l)]
    for l in lines:
        if re.match(r"\s*(error|Error|ERROR)\b", l) or "Error:" in l or "error:" in l:
            return l.strip()[:300]
    return (lines[-1].strip()[:300]) if lines else ""


def fresh(name: str, tool: str) -> pathlib.Path:
    d = RUNS / name / tool
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    shutil.copy(NBDIR / f"{name}.ipynb", d / f"{name}.ipynb")
    return d


def clean_env():
    env = dict(os.environ)
    for k in list(env):
        if k.startswith(("JUPYTER", "PYTHONPATH", "VIRTUAL_ENV", "MPLBACKEND")):
            env.pop(k)
    if os.environ.get("NBPROD_WT"):  # measure the nbprod of another checkout (a worktree) with this venv
        env["PYTHONPATH"] = os.environ["NBPROD_WT"]
    return env


def step_notebooks_nbprod(proj: pathlib.Path, name: str) -> list[pathlib.Path]:
    d = proj / ".nbprod" / "products" / name
    nbs = sorted(d.glob("*.ipynb")) if d.exists() else []

    def key(p):
        nb = nbformat.read(str(p), as_version=4)
        # the cell a step's code copies: in the cell's title (jupytext keeps the `# %% nbprod: ...` text there)
        cells = [int(m.group(1)) for c in nb.cells if c.cell_type == "code"
                 for m in [re.search(r"nbprod: step .*cell (\d+) of the notebook",
                                     c.metadata.get("title", "") + "\n" + c.source)] if m]
        return (min(cells) if cells else 10 ** 6, p.name)
    return sorted(nbs, key=key)


def nbprod_transcript(proj, name):
    tr = []
    steps = step_notebooks_nbprod(proj, name)
    noise: list[str] = [""]
    for p in steps:
        for b in transcript_of(p, injected=noise):
            b["step"] = p.stem
            tr.append(b)
    return tr, [p.stem for p in steps], [t for t in noise if t][:5]


def cls_from_cmp(cmp):
    if cmp["same"]:
        return "same"
    return "different (stderr only)" if cmp["same_stdout"] else "different"


def after_expect(rc, so, se, wall, d, nbfile, env, argv):
    """A gate: without its suite: do what the error says (nbprod expect NB), then run the same command again."""
    if rc == 0 or "suite does not exist" not in so + se:
        return rc, so, se, wall, False
    erc, eso, ese, ewall = sh([str(MAIN_BIN / "nbprod"), "expect", nbfile], d, 600, env)
    rc, so2, se2, wall2 = sh([str(MAIN_BIN / "nbprod"), *argv], d, 600, env)
    note = f"[harness: first run stopped at the missing suite; ran `nbprod expect` (rc {erc}) and ran again]\n"
    return rc, note + so2, se2, round(wall + ewall + wall2, 2), True


def classify_nbprod(rc, so, se, cmp, lint_rc):
    if rc == 0:
        return cls_from_cmp(cmp)
    started = "▶" in so or "✓" in so
    if "Traceback (most recent call last)" in se and f'File "{REPO / "nbprod"}/' in se:
        return "failed (nbprod crash)"
    if not started or "suite does not exist" in so + se:
        return "refused"
    return "failed"


def run_one(name: str, only: set[str]) -> dict:
    rec: dict = {"name": name, "started": time.strftime("%H:%M:%S", time.gmtime()),
                 "nbprod_commit": subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                                                 capture_output=True, text=True).stdout.strip()}
    env = clean_env()
    nbfile = f"{name}.ipynb"
    nb = nbformat.read(str(NBDIR / nbfile), as_version=4)
    rec["cells"] = len(nb.cells)
    rec["sections"] = sum(1 for c in nb.cells if c.cell_type == "markdown"
                          and any(l.startswith("## ") for l in c.source.splitlines()))
    tagged = any(t.startswith(("step:", "block:")) for c in nb.cells for t in (c.metadata.get("tags") or [])) or \
        any(re.match(r"#\s*nbprod:.*step:", c.source) for c in nb.cells if c.cell_type == "code")
    rec["shape"] = "tagged" if tagged else "untagged"

    # a) papermill reference
    d = fresh(name, "pm")
    rc, so, se, wall = sh([str(MAIN_BIN / "papermill"), nbfile, "out.ipynb", "--cwd", ".", "-k", "python3",
                           "--no-progress-bar"], d, 180, env)
    rec["pm"] = {"rc": rc, "wall": wall, "error": first_error(se) if rc != 0 else ""}
    ref_all = ref = []
    if (d / "out.ipynb").exists():
        ref_all = transcript_of(d / "out.ipynb")
        ref = transcript_of(d / "out.ipynb", drop_skip=True)
    rec["pm"]["blocks"] = len(ref)

    # b) nbprod lint + isolated
    if "iso" in only:
        d = fresh(name, "iso")
        lrc, lso, lse, lwall = sh([str(MAIN_BIN / "nbprod"), "lint", nbfile], d, 120, env)
        findings = [l for l in (lso + lse).splitlines() if re.search(r"\b(error|warning|note) NB\d+", l)]
        rec["lint"] = {"rc": lrc, "wall": lwall, "findings": findings,
                       "summary": (lso + lse).strip().splitlines()[-1] if (lso + lse).strip() else ""}
        rc, so, se, wall = sh([str(MAIN_BIN / "nbprod"), "run", nbfile, "--isolated", "--no-track", "--no-package"],
                              d, 600, env)
        rc, so, se, wall, expected = after_expect(rc, so, se, wall, d, nbfile, env,
                                                  ["run", nbfile, "--isolated", "--no-track", "--no-package"])
        tr, steps, noise = nbprod_transcript(d, name)
        cmp = compare(ref, tr) if rc == 0 else None
        rec["iso"] = {"injected_cell_output": noise, "rc": rc, "wall": wall, "steps": steps, "stdout": so[-3000:], "stderr_head": "\n".join(
            l for l in se.splitlines() if not NOISE.search(l))[:3000], "error": first_error(se + "\n" + so) if rc else "",
            "cmp": cmp, "class": classify_nbprod(rc, so, se, cmp, lrc)}
        if rc == 0:
            rec["iso"]["cmp_all"] = compare(ref_all, tr)["same"]
        rec["iso"]["per_cell"] = per_cell_diff(ref, tr)

    # nbprod in-process
    if "inproc" in only:
        d = fresh(name, "inproc")
        rc, so, se, wall = sh([str(MAIN_BIN / "nbprod"), "run", nbfile, "--no-track", "--no-package"], d, 600, env)
        rc, so, se, wall, expected = after_expect(rc, so, se, wall, d, nbfile, env,
                                                  ["run", nbfile, "--no-track", "--no-package"])
        tr, steps, noise = nbprod_transcript(d, name)
        cmp = compare(ref, tr) if rc == 0 else None
        rec["inproc"] = {"injected_cell_output": noise, "rc": rc, "wall": wall, "steps": steps, "stdout": so[-3000:], "stderr_head": "\n".join(
            l for l in se.splitlines() if not NOISE.search(l))[:3000], "error": first_error(se + "\n" + so) if rc else "",
            "cmp": cmp, "class": classify_nbprod(rc, so, se, cmp, None)}
        rec["inproc"]["per_cell"] = per_cell_diff(ref, tr)

    # nbprod verify
    if "verify" in only:
        d = fresh(name, "verify")
        rc, so, se, wall = sh([str(MAIN_BIN / "nbprod"), "verify", nbfile], d, 600, env)
        if "suite does not exist" in so + se:  # as a user would: propose the suites from a good run, then verify
            sh([str(MAIN_BIN / "nbprod"), "run", nbfile, "--no-track", "--no-package"], d, 600, env)
            rc, so, se, wall, _ = after_expect(rc, so, se, wall, d, nbfile, env, ["verify", nbfile])
        body = [l for l in (so + "\n" + se).splitlines() if not NOISE.search(l)]
        rec["verify"] = {"rc": rc, "wall": wall, "output": "\n".join(body)[-3000:],
                         "verdict": "equal" if rc == 0 else ("divergence" if rc == 1 else f"rc={rc}"),
                         "first": next((l.strip() for l in body if re.search(r"^\s*(DIFF|diff|differ|FAIL|x |✗)", l)
                                        or "diverge" in l.lower()), body[-1].strip() if body else "")[:300]}

    # c) soorgeon 0.0.20 + ploomber build
    if "soorgeon" in only:
        d = fresh(name, "soorgeon")
        senv = dict(env)
        senv["PATH"] = f"{SV_BIN}:{senv.get('PATH', '')}"
        senv["PLOOMBER_STATS_ENABLED"] = "false"
        rc1, so1, se1, w1 = sh([str(SV_BIN / "soorgeon"), "refactor", nbfile], d, 180, senv)
        srec = {"refactor_rc": rc1, "wall": w1}
        if rc1 != 0:
            srec.update(rc=rc1, **{"class": "failed", "error": "refactor: " + first_error(se1 + "\n" + so1)})
        else:
            rc, so, se, w2 = sh([str(SV_BIN / "ploomber"), "build"], d, 600, senv)
            srec["wall"] = round(w1 + w2, 2)
            tr = []
            noise: list[str] = [""]
            try:
                spec = yaml.safe_load((d / "pipeline.yaml").read_text())
                for t in spec.get("tasks", []):
                    prod = t.get("product")
                    nbp = prod.get("nb") if isinstance(prod, dict) else prod
                    if nbp and (d / nbp).exists():
                        tr.extend(transcript_of(d / nbp, injected=noise))
            except Exception as e:  # noqa: BLE001
                srec["collect_error"] = repr(e)
            cmp = compare(ref, tr) if rc == 0 else None
            srec.update(rc=rc, error=first_error(se + "\n" + so) if rc else "", cmp=cmp,
                        injected_cell_output=[t for t in noise if t][:5])
            srec["class"] = cls_from_cmp(cmp) if rc == 0 else "failed"
        rec["soorgeon"] = srec
    return rec


def per_cell_diff(ref, tr):
    """Map tool blocks to notebook cells via nbprod's 'cell N of the notebook' comment; list differing cells."""
    by_ref = {b["cell"]: b["text"] for b in ref}
    by_tool: dict[int, list[str]] = {}
    extra = []
    for b in tr:
        if b.get("origin") is None:
            extra.append({"step": b.get("step"), "first": b["first"], "text": b["text"][:500]})
        else:
            by_tool.setdefault(b["origin"], []).append(b["text"])
    out = []
    for cell in sorted(set(by_ref) | set(by_tool)):
        r = by_ref.get(cell, "")
        t = "\n".join(by_tool.get(cell, []))
        if r != t:
            out.append({"cell": cell, "papermill": r[:600], "nbprod": t[:600]})
    return {"cells": out[:10], "extra_blocks": extra[:5]}


def soorgeon_transcript(d):
    tr, noise = [], [""]
    spec = yaml.safe_load((d / "pipeline.yaml").read_text())
    for t in spec.get("tasks", []):
        prod = t.get("product")
        nbp = prod.get("nb") if isinstance(prod, dict) else prod
        if nbp and (d / nbp).exists():
            tr.extend(transcript_of(d / nbp, injected=noise))
    return tr, [t for t in noise if t][:5]


def recompare():
    for f in sorted(HERE.glob("results*.json")):
        if f.name != "results_all.json":
            recompare_file(f)
    if (HERE / "repro" / "repro_results.json").exists():
        recompare_file(HERE / "repro" / "repro_results.json")


def recompare_file(path):
    """Recompute every comparison from the run folders kept under runs/ (no tool is run again)."""
    data = json.loads(path.read_text())
    runs = {"results_part4.json": HERE / "runs_rerun", "results_part5.json": HERE / "runs5"}.get(path.name, HERE / "runs")
    if path.parent != HERE:
        runs = path.parent / "runs"
    for name, rec in data.items():
        d = runs / name
        if not (d / "pm" / "out.ipynb").exists():
            continue
        ref_all = transcript_of(d / "pm" / "out.ipynb")
        ref = transcript_of(d / "pm" / "out.ipynb", drop_skip=True)
        rec["pm"]["blocks"] = len(ref)
        for mode in ("iso", "inproc"):
            m = rec.get(mode)
            if not m:
                continue
            tr, steps, noise = nbprod_transcript(d / mode, name)
            m["injected_cell_output"] = noise
            if m["rc"] != 0:
                m["class"] = classify_nbprod(m["rc"], m["stdout"], m["stderr_head"], None, None)
            if m["rc"] == 0:
                m["cmp"] = compare(ref, tr)
                m["class"] = cls_from_cmp(m["cmp"])
                if mode == "iso":
                    m["cmp_all"] = compare(ref_all, tr)["same"]
            m["per_cell"] = per_cell_diff(ref, tr)
        srec = rec.get("soorgeon")
        if srec and srec.get("refactor_rc") == 0 and srec.get("rc") == 0:
            tr, noise = soorgeon_transcript(d / "soorgeon")
            srec["cmp"] = compare(ref, tr)
            srec["injected_cell_output"] = noise
            srec["class"] = cls_from_cmp(srec["cmp"])
    path.write_text(json.dumps(data, indent=1, sort_keys=True))


def save(rec):
    with LOCK:
        data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        data[rec["name"]] = rec
        RESULTS.write_text(json.dumps(data, indent=1, sort_keys=True))


# ------------------------------------------------------------------ report
def load_all():
    data = {}
    for f in sorted(HERE.glob("results*.json")):
        if f.name == "results_all.json":
            continue
        for name, rec in json.loads(f.read_text()).items():
            merged = {**data.get(name, {}), **rec}
            if name in data:
                merged["rerun_from"] = merged.get("rerun_from", []) + [f.name]
            data[name] = merged
    return data


def report():
    data = load_all()
    (HERE / "results_all.json").write_text(json.dumps(data, indent=1, sort_keys=True))
    diag_path = HERE / "diagnoses.md"
    diag = diag_path.read_text() if diag_path.exists() else ""
    rows = []
    tot = {"pm_ok": 0, "iso": {}, "inproc": {}, "verify": {}, "soorgeon": {}}
    for name in sorted(data):
        r = data[name]
        pm_ok = r["pm"]["rc"] == 0
        iso = r.get("iso", {}).get("class", "-")
        inp = r.get("inproc", {}).get("class", "-")
        ver = r.get("verify", {}).get("verdict", "-")
        soo = r.get("soorgeon", {}).get("class", "-")
        lint = r.get("lint", {})
        lint_s = "rc%s/%d" % (lint.get("rc"), len([f for f in lint.get("findings", []) if " error " in f])) if lint else "-"
        if pm_ok:
            tot["pm_ok"] += 1
            for k, v in (("iso", iso), ("inproc", inp), ("verify", ver), ("soorgeon", soo)):
                tot[k][v] = tot[k].get(v, 0) + 1

        def mark(c):
            return {"different": "**DIFFERENT**"}.get(c, c)
        wall = "%s/%s/%s" % (r["pm"]["wall"], r.get("iso", {}).get("wall", "-"), r.get("soorgeon", {}).get("wall", "-"))
        commit = (r.get("nbprod_commit") or "not recorded") + (" (re-run)" if r.get("rerun_from") else "")
        rows.append(f"| {name} | {r['shape']} | {r['sections']} | {'yes' if pm_ok else 'NO'} | {lint_s} | "
                    f"{mark(iso)} | {mark(inp)} | {ver} | {mark(soo)} | {wall} | {commit} |")
    n = tot["pm_ok"]

    def fmt(d):
        return ", ".join(f"{k} {v}" for k, v in sorted(d.items()))
    lines = [
        "# Outside corpus: nbprod vs papermill vs soorgeon 0.0.20",
        "",
        f"Generated by `harness.py --report` from results.json ({len(data)} notebooks; {n} run under papermill).",
        "Printed output = stream outputs + execute_result/display_data text/plain in cell order, trailing whitespace",
        "stripped, `%time` timing lines dropped; cells tagged `skip` are left out of the reference.",
        "",
        "## Totals (over the notebooks papermill runs)",
        "",
        f"- nbprod `run --isolated`: {fmt(tot['iso'])} (of {n})",
        f"- nbprod `run` (in-process): {fmt(tot['inproc'])} (of {n})",
        f"- nbprod `verify`: {fmt(tot['verify'])} (of {n})",
        f"- soorgeon 0.0.20 + ploomber build: {fmt(tot['soorgeon'])} (of {n})",
        "",
        "## Table",
        "",
        "lint = exit code / number of lint errors; wall = seconds papermill / nbprod isolated / soorgeon.",
        "",
        "| notebook | shape | ## sections | papermill ok | lint | nbprod isolated | nbprod in-process | verify | soorgeon | wall | nbprod commit |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]
    rp = HERE / "repro" / "repro_results.json"
    if rp.exists():
        rd = json.loads(rp.read_text())
        lines += ["## The minimal reproductions (repro/, same harness, no soorgeon)", "",
                  "| repro | papermill ok | nbprod isolated | nbprod in-process | verify |", "|---|---|---|---|---|"]
        for name in sorted(rd):
            r = rd[name]
            lines.append(f"| {name} | {'yes' if r['pm']['rc'] == 0 else 'NO'} | {r.get('iso', {}).get('class', '-')} | "
                         f"{r.get('inproc', {}).get('class', '-')} | {r.get('verify', {}).get('verdict', '-')} |")
        lines.append("")
    if diag:
        lines += [diag]
    lines += ["", "## Raw details of every nbprod non-same row", ""]
    for name in sorted(data):
        r = data[name]
        for mode in ("iso", "inproc"):
            m = r.get(mode)
            if not m or m.get("class") == "same" or r["pm"]["rc"] != 0:
                continue
            lines.append(f"### {name} - {mode}: {m['class']}")
            if m.get("error"):
                lines.append(f"first error: `{m['error']}`")
            if m.get("cmp") and m["cmp"].get("diff"):
                lines += ["```diff", m["cmp"]["diff"][:2500], "```"]
            lines.append("")
        v = r.get("verify")
        if v and v.get("rc") != 0 and r["pm"]["rc"] == 0:
            lines += [f"### {name} - verify rc={v['rc']}", "```", v["output"][-1500:], "```", ""]
    (HERE / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:20]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("names", nargs="*")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", default="iso,inproc,verify,soorgeon")
    ap.add_argument("--report", action="store_true")
    ap.add_argument("--recompare", action="store_true")
    a = ap.parse_args()
    if a.recompare:
        with LOCK:
            recompare()
        report()
        return
    if a.report:
        report()
        return
    names = a.names or sorted(p.stem for p in NBDIR.glob("*.ipynb"))
    only = set(a.only.split(","))
    with cf.ThreadPoolExecutor(a.jobs) as ex:
        futs = {ex.submit(run_one, n, only): n for n in names}
        for f in cf.as_completed(futs):
            n = futs[f]
            try:
                rec = f.result()
            except Exception as e:  # noqa: BLE001
                rec = {"name": n, "harness_error": repr(e), "pm": {"rc": "harness", "wall": 0}, "shape": "?",
                       "sections": 0}
            save(rec)
            print(n, "pm", rec["pm"]["rc"], "iso", rec.get("iso", {}).get("class"), "inproc",
                  rec.get("inproc", {}).get("class"), "verify", rec.get("verify", {}).get("verdict"),
                  "soorgeon", rec.get("soorgeon", {}).get("class"), flush=True)
    report()


if __name__ == "__main__":
    sys.exit(main())
