"""Saving and loading step products, used by the generated task scripts at run time.

A product is a folder holding one ``value.*`` file whose format follows the type: DataFrames as parquet,
Series as parquet (one column), numpy arrays as ``.npy``, anything else with joblib, or cloudpickle for what pickle
cannot store by name (lambdas, local functions). Writes are atomic (temporary folder, then rename), so a killed run
never leaves a half-written product behind.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any, Optional, Union

__all__ = ["save_value", "load_value", "save_metrics", "load_metrics"]

PathLike = Union[str, os.PathLike]


def _write_into(tmp: Path, obj: Any) -> None:
    import numpy as np

    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        pd = None
    if pd is not None and isinstance(obj, pd.DataFrame):
        try:
            obj.to_parquet(tmp / "value.parquet")
            return
        except Exception:  # non-string column names, mixed object columns: fall back to joblib
            (tmp / "value.parquet").unlink(missing_ok=True)
    elif pd is not None and isinstance(obj, pd.Series):
        try:
            name = obj.name
            obj.to_frame(name="__value__").to_parquet(tmp / "value.series.parquet")
            (tmp / "series.json").write_text(json.dumps({"name": name}))
            return
        except Exception:
            for f in ("value.series.parquet", "series.json"):
                (tmp / f).unlink(missing_ok=True)
    elif isinstance(obj, np.ndarray) and obj.dtype != object:
        np.save(tmp / "value.npy", obj, allow_pickle=False)
        return
    import pickle

    import joblib

    try:
        joblib.dump(obj, tmp / "value.joblib")
    except (pickle.PicklingError, AttributeError, TypeError):
        # lambdas and functions or classes pickle cannot find by name: cloudpickle stores them by value
        (tmp / "value.joblib").unlink(missing_ok=True)
        import cloudpickle

        (tmp / "value.cloudpickle").write_bytes(cloudpickle.dumps(obj))


def save_value(obj: Any, path: PathLike) -> None:
    """Save ``obj`` as the product folder ``path``, atomically."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    backup = None
    try:
        _write_into(tmp, obj)
        if target.exists():  # move the old product aside first: it comes back if anything below fails
            backup = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.rename(target, backup)
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if backup is not None and backup.exists() and not target.exists():
            os.rename(backup, target)
        raise
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True) if backup.is_dir() else backup.unlink()


def load_value(path: PathLike) -> Any:
    """Load a product folder written by :func:`save_value`."""
    folder = Path(path)
    if (folder / "value.parquet").exists():
        import pandas as pd

        return pd.read_parquet(folder / "value.parquet")
    if (folder / "value.series.parquet").exists():
        import pandas as pd

        meta = json.loads((folder / "series.json").read_text())
        series = pd.read_parquet(folder / "value.series.parquet")["__value__"]
        series.name = meta["name"]
        return series
    if (folder / "value.npy").exists():
        import numpy as np

        return np.load(folder / "value.npy", allow_pickle=False)
    if (folder / "value.joblib").exists():
        import joblib

        return joblib.load(folder / "value.joblib")
    if (folder / "value.cloudpickle").exists():
        import pickle

        return pickle.loads((folder / "value.cloudpickle").read_bytes())
    raise FileNotFoundError(f"no product at {folder}: run the upstream step first (nbprod run)")


def _number(value: Any) -> Optional[float]:
    """``value`` as a float when it is a real number (int, float, bool, a numpy scalar or 0-d array), else None."""
    if isinstance(value, (str, bytes)):
        return None
    dtype = getattr(value, "dtype", None)
    if dtype is not None:  # numpy scalars and arrays: only 0-d arrays of bool, int or float kinds
        if getattr(value, "ndim", 0) != 0 or getattr(dtype, "kind", "") not in "biuf":
            return None
        value = value.item()
    if isinstance(value, numbers.Real):
        return float(value)
    return None


def save_metrics(metrics: dict[str, Any], path: PathLike) -> None:
    """Save the numeric metrics of a ``metrics`` cell as JSON (sorted keys), atomically.

    Numbers are int, float, bool (as 0/1), numpy scalars and 0-d numeric arrays. Anything else (arrays, frames,
    strings, None) and non-finite numbers (NaN, infinity: JSON cannot hold them) are not metrics: they are left out
    with a warning, never failing the step. A ``require:`` on a metric left out fails its gate as "not computed".
    """
    clean: dict[str, float] = {}
    for name, value in metrics.items():
        number = _number(value)
        if number is None:
            warnings.warn(f"metric {name!r} is {type(value).__name__}, not a number: not logged", stacklevel=2)
        elif not math.isfinite(number):
            warnings.warn(f"metric {name!r} is {number}, not a finite number: not logged", stacklevel=2)
        else:
            clean[name] = number
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    with os.fdopen(fd, "w") as fh:
        json.dump(clean, fh, sort_keys=True, indent=2)
    os.replace(tmp, target)


def load_metrics(path: PathLike) -> dict[str, float]:
    return json.loads(Path(path).read_text())
