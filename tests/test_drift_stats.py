"""The drift tests' error rates, measured: false alarms on undrifted data stay near the nominal level, and a
1-sigma (training) or 0.5-sigma (slow: against the previous window) shift is detected."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nbprod.package.drift import DriftMonitor, compute_baseline

COLORS, COLOR_P = ["red", "green", "blue", "grey", "pink"], [0.5, 0.3, 0.15, 0.04, 0.01]
ALPHA, WINDOWS, N = 0.05, 400, 500


def rows(rng: np.random.Generator, n: int, *, shift: float = 0.0, color_p=COLOR_P) -> list[dict]:
    x = rng.normal(10.0 + 2.0 * shift, 2.0, n)
    color = rng.choice(COLORS, n, p=color_p)
    return [{"x": float(a), "color": str(c)} for a, c in zip(x, color)]


@pytest.fixture(scope="module")
def baseline() -> dict:
    train = rows(np.random.default_rng(0), 5000)
    return compute_baseline({k: [r[k] for r in train] for k in ("x", "color")}, None)


def binomial_bound(p: float, n: int, sigmas: float = 3.5) -> tuple[float, float]:
    sd = math.sqrt(p * (1 - p) / n)
    return p - sigmas * sd, p + sigmas * sd


def p_values(baseline: dict, seed: int, *, shift: float = 0.0, prev_shift: float = 0.0) -> dict[str, float]:
    """p-values of one monitor whose previous window is ``prev_shift`` and current window ``shift`` sigmas off."""
    rng = np.random.default_rng(seed)
    monitor = DriftMonitor(baseline, window=N, min_rows=200)
    prev, cur = rows(rng, N, shift=prev_shift), rows(rng, N, shift=shift)
    monitor.observe(prev + cur, [0.0] * (2 * N))
    report = monitor.report()["features"]
    return {f"{f}_{ref}": report[f][f"p_{ref}"] for f in ("x", "color") for ref in ("training", "previous")}


def test_false_alarm_rate_on_undrifted_data_is_near_nominal(baseline):
    runs = [p_values(baseline, seed) for seed in range(1, WINDOWS + 1)]
    low, high = binomial_bound(ALPHA, WINDOWS)
    rates = {k: sum(r[k] < ALPHA for r in runs) / WINDOWS for k in runs[0]}
    for key, rate in rates.items():
        assert low <= rate <= high, (key, rate, (low, high), rates)


def test_a_one_sigma_shift_is_detected_against_training(baseline):
    runs = [p_values(baseline, seed, shift=1.0, prev_shift=1.0) for seed in range(1000, 1050)]
    assert all(r["x_training"] < 1e-6 for r in runs)
    assert sum(r["x_previous"] < ALPHA for r in runs) <= 10  # the previous window had drifted as well


def test_slow_drift_shows_against_the_previous_window(baseline):
    """A 0.25-sigma step between windows, on top of 0.25 sigma already drifted, is seen against the previous window."""
    runs = [p_values(baseline, seed, shift=0.5, prev_shift=0.25) for seed in range(2000, 2050)]
    assert sum(r["x_previous"] < ALPHA for r in runs) >= 40


def test_a_category_share_change_is_detected(baseline):
    rng = np.random.default_rng(7)
    monitor = DriftMonitor(baseline, window=N, min_rows=200)
    monitor.observe(rows(rng, N) + rows(rng, N, color_p=[0.4, 0.4, 0.15, 0.04, 0.01]), [0.0] * (2 * N))
    color = monitor.report()["features"]["color"]
    assert color["p_training"] < 0.01 and color["p_previous"] < 0.01 and color["alert"]


def test_a_numeric_feature_with_few_values_gets_the_chi_square_test_near_nominal():
    """Counts (Poisson(2)): KS on so few values is far too conservative (0% false alarms at a nominal 1% here)."""
    rng = np.random.default_rng(11)
    train = rng.poisson(2.0, 5000)
    base = compute_baseline({"calls": train, "x": rng.normal(size=5000)}, None)

    def drift(lam: float, seed: int) -> dict:
        r = np.random.default_rng(seed)
        window = [{"calls": int(c), "x": float(x)} for c, x in zip(r.poisson(lam, 2 * N), r.normal(size=2 * N))]
        monitor = DriftMonitor(base, window=N, min_rows=200)
        monitor.observe(window, [0.0] * (2 * N))
        return monitor.report()["features"]

    runs = [drift(2.0, seed) for seed in range(3000, 3000 + WINDOWS)]
    assert runs[0]["calls"]["test"] == "chi2" and runs[0]["x"]["test"] == "ks"
    low, high = binomial_bound(ALPHA, WINDOWS)
    for ref in ("training", "previous"):
        rate = sum(r["calls"][f"p_{ref}"] < ALPHA for r in runs) / WINDOWS
        assert low <= rate <= high, (ref, rate, (low, high))
    shifted = [drift(2.4, seed) for seed in range(4000, 4020)]
    assert all(r["calls"]["p_training"] < 0.01 for r in shifted)
