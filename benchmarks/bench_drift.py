"""The drift monitor measured in-process (the module the generated Bento copies as ``nbprod_drift.py``).

1. False-alarm rate on undrifted data, per test (KS for a normal feature, chi-square for a 5-category feature with a
   1% category and for Poisson(2) counts; each against training and against the previous window): 2,000 seeded monitors (window 500, training
   5,000 rows), fraction with p < 0.01 and p < 0.05 (nominal 1% and 5%; binomial sd 0.22% / 0.49%).
2. Detection delay: the service's monitor (window 1000, min_rows 200) full of undrifted single-row requests, then
   rows shifted by 0.5 or 1 sigma one at a time; the report is read after every 10 rows: the first row count at
   which KS vs training, KS vs previous, the z-score (> 4) or PSI (> 0.2) alert. Median of 20 seeds.
3. Serving overhead: ``observe`` per single-row request and per 100-row batch (6 features, as the classifier) and one
   ``report`` over a full window + previous window (the service computes it at most once per second).

Usage: python benchmarks/bench_drift.py [--quick]
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np

from nbprod.package.drift import DriftMonitor, compute_baseline

COLORS, COLOR_P = ["red", "green", "blue", "grey", "pink"], [0.5, 0.3, 0.15, 0.04, 0.01]


def rows(rng, n, shift=0.0):
    x, c, k = rng.normal(10.0 + 2.0 * shift, 2.0, n), rng.choice(COLORS, n, p=COLOR_P), rng.poisson(2.0, n)
    return [{"x": float(a), "color": str(b), "calls": int(i)} for a, b, i in zip(x, c, k)]


def baseline(rng):
    train = rows(rng, 5000)
    return compute_baseline({k: [r[k] for r in train] for k in ("x", "color", "calls")}, None)


def false_alarms(windows: int) -> None:
    base = baseline(np.random.default_rng(0))
    hits = {(f, ref, a): 0 for f in ("x", "color", "calls") for ref in ("training", "previous") for a in (0.01, 0.05)}
    for seed in range(windows):
        rng = np.random.default_rng(seed + 1)
        m = DriftMonitor(base, window=500, min_rows=200)
        m.observe(rows(rng, 1000), [0.0] * 1000)
        feats = m.report()["features"]
        for f, ref, a in hits:
            hits[(f, ref, a)] += feats[f][f"p_{ref}"] < a
    print(f"false-alarm rate on undrifted data ({windows} windows of 500 rows):")
    for (f, ref, a), k in hits.items():
        test = {"x": "KS (normal)", "color": "chi2 (5 categories)", "calls": "chi2 (Poisson(2) counts)"}[f]
        print(f"  {test:26s} vs {ref:8s} nominal {a:.0%}: {k / windows:.2%}")


def delay(shift: float, seeds: int) -> None:
    base = baseline(np.random.default_rng(0))
    found: dict[str, list[int]] = {"ks_training": [], "ks_previous": [], "z": [], "psi": []}
    for seed in range(seeds):
        rng = np.random.default_rng(100 + seed)
        m = DriftMonitor(base)  # the service's window (1000) and min_rows (200)
        m.observe(rows(rng, 2000), [0.0] * 2000)
        todo, new = set(found), rows(rng, 1000, shift)
        for i in range(0, 1000, 10):
            m.observe(new[i : i + 10], [0.0] * 10)
            x = m.report()["features"]["x"]
            hit = {"ks_training": x["p_training"] < 0.01, "ks_previous": x["p_previous"] < 0.01,
                   "z": abs(x["mean_shift_z"]) > 4, "psi": x["psi"] > 0.2}  # fmt: skip
            for k in [k for k in todo if hit[k]]:
                found[k].append(i + 10)
                todo.discard(k)
        for k in todo:
            found[k].append(10_000)  # not within 1000 rows
    text = ", ".join(f"{k} {statistics.median(v):.0f}" for k, v in found.items())
    print(f"detection delay, {shift} sigma mean shift (rows until alert, median of {seeds}): {text}")


def overhead(reps: int) -> None:
    rng = np.random.default_rng(5)
    cols = {f"n{i}": rng.normal(size=5000) for i in range(4)} | {
        "plan": rng.choice(["a", "b", "c"], 5000),
        "region": rng.choice(["n", "s", "e", "w"], 5000),
    }
    base = compute_baseline(cols, rng.integers(0, 2, 5000))
    recs = [{k: (float(v[i]) if k.startswith("n") else str(v[i])) for k, v in cols.items()} for i in range(2000)]
    m = DriftMonitor(base)
    t = time.perf_counter()
    for r in recs[:reps]:
        m.observe([r], [1])
    one = (time.perf_counter() - t) / reps
    t = time.perf_counter()
    for i in range(0, 2000, 100):
        m.observe(recs[i : i + 100], [1] * 100)
    batch = (time.perf_counter() - t) / 20
    times = []
    for _ in range(5):
        t = time.perf_counter()
        m.report()
        times.append(time.perf_counter() - t)
    print(f"observe: {one * 1e6:.1f} us per single-row request, {batch * 1e6:.0f} us per 100-row batch")
    print(
        f"report (1000-row window + 1000-row previous, 6 features + prediction): {statistics.median(times) * 1e3:.1f} ms"
    )


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    false_alarms(200 if quick else 2000)
    for s in (0.5, 1.0):
        delay(s, 3 if quick else 20)
    overhead(2000)
