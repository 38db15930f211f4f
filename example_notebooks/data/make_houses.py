"""Generate example_notebooks/data/houses.csv, the data set of the regression example.

The file is committed; run this script only to re-make it:

    python example_notebooks/data/make_houses.py

Output is deterministic (seeded numpy generator, fixed column order, fixed float formatting).
The data is synthetic house sales: numeric columns, one categorical column (``neighborhood``),
a target ``price`` in dollars, and a little realistic dirt for the notebook's ``clean`` step to
handle (missing values, a few zero-area data-entry errors, a few rows without a price).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20240501
N_ROWS = 1500
OUT = Path(__file__).resolve().parent / "houses.csv"

NEIGHBORHOODS = ["downtown", "midtown", "suburb", "riverside", "rural"]
NEIGHBORHOOD_P = [0.15, 0.25, 0.35, 0.10, 0.15]
PRICE_PER_SQFT = {"downtown": 260.0, "midtown": 210.0, "suburb": 170.0, "riverside": 230.0, "rural": 120.0}
DISTANCE_KM = {"downtown": (0.5, 3.0), "midtown": (2.0, 7.0), "suburb": (6.0, 18.0),
               "riverside": (3.0, 10.0), "rural": (15.0, 45.0)}


def make_houses(seed: int = SEED, n_rows: int = N_ROWS) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    neighborhood = rng.choice(NEIGHBORHOODS, size=n_rows, p=NEIGHBORHOOD_P)
    bedrooms = rng.integers(1, 6, size=n_rows)
    sqft = np.round(rng.normal(500 + 420 * bedrooms, 180)).clip(350, None)
    bathrooms = np.clip(bedrooms - rng.integers(0, 2, size=n_rows), 1, 4)
    year_built = rng.integers(1920, 2023, size=n_rows)
    lot_size_sqft = np.round(rng.lognormal(np.log(5000), 0.5, size=n_rows), -1)
    lo = np.array([DISTANCE_KM[n][0] for n in neighborhood])
    hi = np.array([DISTANCE_KM[n][1] for n in neighborhood])
    distance_km = np.round(rng.uniform(lo, hi), 1)
    garage_spaces = rng.choice([0, 1, 2, 3], size=n_rows, p=[0.2, 0.35, 0.35, 0.1])
    rate = np.array([PRICE_PER_SQFT[n] for n in neighborhood])
    price = (
        40_000
        + rate * sqft
        + 9_000 * bathrooms
        + 6.0 * lot_size_sqft
        + 7_500 * garage_spaces
        + 600 * (year_built - 1970)
        - 1_200 * distance_km
        + rng.normal(0, 30_000, size=n_rows)
    )
    df = pd.DataFrame(
        {
            "neighborhood": neighborhood,
            "sqft": sqft.astype(int),
            "bedrooms": bedrooms,
            "bathrooms": bathrooms,
            "year_built": year_built,
            "lot_size_sqft": lot_size_sqft,
            "distance_km": distance_km,
            "garage_spaces": garage_spaces,
            "price": np.round(price.clip(50_000, None), -2),
        }
    )
    # A little realistic dirt for the notebook's clean step.
    df.loc[rng.random(n_rows) < 0.03, "lot_size_sqft"] = np.nan
    df.loc[rng.random(n_rows) < 0.02, "garage_spaces"] = np.nan
    df.loc[rng.choice(n_rows, size=6, replace=False), "sqft"] = 0
    df.loc[rng.choice(n_rows, size=12, replace=False), "price"] = np.nan
    return df


def main() -> None:
    df = make_houses()
    df.to_csv(OUT, index=False, float_format="%.1f", lineterminator="\n")
    print(f"wrote {OUT.name}: {len(df)} rows, {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main()
