"""How ``nbprod verify`` compares two saved values (product folders of :func:`nbprod.io.save_value`).

Byte-identical files are equal. Otherwise both are loaded and compared by type: DataFrames and Series with
``pandas.testing`` (relative tolerance ``RTOL``), numpy arrays by shape and (for numbers) ``allclose``, numbers with
the same tolerance, strings/bytes/None by equality, lists/tuples/dicts element by element, sets by equality, other
objects by ``==`` when their class defines it, else attribute by attribute (a fitted estimator: its arrays within
the tolerance, since the same fit in another kernel can differ in the last bits; private ``*_id`` integers, object
identities, are skipped), matplotlib figures and axes by their drawings, else by a joblib digest. A value that cannot be
loaded here (e.g. an instance of a class defined in the notebook) and whose files differ is "not comparable".
"""

from __future__ import annotations

import cmath
import numbers
import re
import types
from pathlib import Path
from typing import Any, Optional

__all__ = ["RTOL", "ATOL", "compare_products", "compare_metric", "compare_objects", "same_printed"]

RTOL = 1e-9
ATOL = 1e-12
_MAX_DEPTH = 12
_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")
#: what IPython's %time / %%time print: measurements of this run, not the notebook's output
_TIMING = re.compile(r"^(?:CPU times: .*|Wall time: .*)$\n?", re.M)


class _NotComparable(Exception):
    pass


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()} if folder.is_dir() else {}


def compare_products(a: Path, b: Path) -> tuple[str, str]:
    """("equal" | "different" | "not comparable", detail) for two product folders."""
    fa, fb = _files(a), _files(b)
    if not fa or not fb:
        return "not comparable", f"no saved value at {a if not fa else b}"
    if fa == fb:
        return "equal", "identical files"
    from nbprod.io import load_value

    try:
        va, vb = load_value(a), load_value(b)
    except Exception as exc:  # a class of the notebook's own, a library missing here
        return "not comparable", f"cannot be loaded here to compare ({type(exc).__name__}: {exc}); the files differ"
    return compare_objects(va, vb)


def compare_metric(a: Path, pipeline_value: Optional[float]) -> tuple[str, str]:
    """A metric: the notebook's saved value against the number in the pipeline's ``metrics.json``."""
    if pipeline_value is None:
        return "not comparable", "the pipeline saved no such metric"
    from nbprod.io import load_value

    try:
        value = float(load_value(a))
    except Exception as exc:
        return "not comparable", f"the notebook's value is not a number ({type(exc).__name__}: {exc})"
    return compare_objects(value, float(pipeline_value))


def compare_objects(a: Any, b: Any) -> tuple[str, str]:
    """``a`` from the notebook, ``b`` from the pipeline."""
    try:
        why = _diff(a, b, "")
    except _NotComparable as exc:
        return "not comparable", str(exc)
    return ("equal", "") if why is None else ("different", why)


def _is_number(x: Any) -> bool:
    import numpy as np

    return isinstance(x, (int, float, complex, np.number)) and not isinstance(x, bool)


def _numbers(a: Any, b: Any, at: str) -> Optional[str]:
    if a == b:
        return None
    why = f"{at}{a!r} in the notebook, {b!r} in the pipeline"
    if isinstance(a, numbers.Integral) and isinstance(b, numbers.Integral):
        return why
    try:
        fa, fb = complex(a), complex(b)
    except (OverflowError, TypeError, ValueError):
        return why
    if (cmath.isnan(fa) and cmath.isnan(fb)) or abs(fa - fb) <= ATOL + RTOL * abs(fb):
        return None
    return why


def _diff(a: Any, b: Any, at: str) -> Optional[str]:
    """None when ``a`` (the notebook's) and ``b`` (the pipeline's) are equal, else how they differ."""
    import numpy as np
    import pandas as pd

    if _is_number(a) and _is_number(b):
        return _numbers(a, b, at)
    if type(a) is not type(b) and not _same_class(type(a), type(b)):
        return f"{at}a {type(a).__name__} in the notebook, a {type(b).__name__} in the pipeline"
    if isinstance(a, (pd.DataFrame, pd.Series)):
        return _frames(a, b, at)
    if isinstance(a, np.ndarray):
        return _arrays(a, b, at)
    if isinstance(a, (str, bytes, bool, type(None), np.bool_)):
        return None if a == b else f"{at}{_short(a)} in the notebook, {_short(b)} in the pipeline"
    if isinstance(a, (list, tuple, dict)):
        return _containers(a, b, at)
    if isinstance(a, (set, frozenset)):
        return None if a == b else f"{at}sets differ ({len(a ^ b)} elements in one only)"
    if isinstance(a, type):  # a notebook class handed on as a value: by its name and the data it holds
        return _diff(_class_data(a), _class_data(b), f"{at}{a.__qualname__}.")
    if type(a).__module__ == "IPython.utils.capture":  # %%capture's CapturedIO: by what it captured
        return _diff([a.stdout, a.stderr], [b.stdout, b.stderr], at + "(stdout, stderr)")
    if type(a).__module__.startswith("matplotlib.") and _figure(a) is not None:
        return _drawings(a, b, at)
    return _generic(a, b, at)


def _class_data(cls: type) -> dict[str, Any]:
    """A class's own data attributes (``Units.label``, ``Run.count``), without its methods and descriptors."""
    kinds = (staticmethod, classmethod, property, types.FunctionType)
    own = {
        k: v for k, v in vars(cls).items() if not k.startswith("__") and not isinstance(v, kinds) and not callable(v)
    }
    return {"__qualname__": cls.__qualname__, **dict(sorted(own.items()))}


def _same_class(a: type, b: type) -> bool:
    """Two copies of one notebook class (each loaded by value from its own kernel's pickle) are one class."""
    return a.__module__ == b.__module__ == "__main__" and a.__qualname__ == b.__qualname__


def _figure(x: Any) -> Any:
    """The matplotlib figure ``x`` is or is drawn in (an Axes, an Artist), or None."""
    fig = x if hasattr(x, "savefig") else getattr(x, "figure", None)
    return fig if hasattr(fig, "savefig") else None


def _drawings(a: Any, b: Any, at: str) -> Optional[str]:
    """Figures and what is drawn in them are compared by their drawings (an Agg rendering, pixel for pixel): their
    objects hold callback registries and counters that differ between any two kernels."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    pixels = []
    for x in (a, b):
        canvas = FigureCanvasAgg(_figure(x))
        canvas.draw()
        pixels.append(np.asarray(canvas.buffer_rgba()))
    if pixels[0].shape == pixels[1].shape and np.array_equal(pixels[0], pixels[1]):
        return None
    return f"{at}the {type(a).__name__}'s drawings differ (rendered with Agg)"


def _frames(a: Any, b: Any, at: str) -> Optional[str]:
    import pandas as pd

    check = pd.testing.assert_frame_equal if isinstance(a, pd.DataFrame) else pd.testing.assert_series_equal
    try:
        check(a, b, check_exact=False, rtol=RTOL, atol=ATOL)
    except AssertionError as exc:
        return at + " ".join(str(exc).split())[:300]
    return None


def _arrays(a: Any, b: Any, at: str) -> Optional[str]:
    import numpy as np

    if a.shape != b.shape:
        return f"{at}shape {a.shape} in the notebook, {b.shape} in the pipeline"
    if a.dtype.names or b.dtype.names:  # records (a fitted tree's nodes): field by field, never the padding bytes
        if a.dtype.names != b.dtype.names:
            return f"{at}fields {a.dtype.names} in the notebook, {b.dtype.names} in the pipeline"
        return next((d for f in a.dtype.names if (d := _arrays(a[f], b[f], f"{at}[{f!r}]: "))), None)
    if a.dtype == object and b.dtype == object:  # e.g. the axes of plt.subplots(1, 2): element by element
        return next((d for i, (x, y) in enumerate(zip(a.flat, b.flat)) if (d := _diff(x, y, f"{at}[{i}]: "))), None)
    if a.dtype.kind in "fc" and b.dtype.kind in "fc":
        if np.allclose(a, b, rtol=RTOL, atol=ATOL, equal_nan=True):
            return None
        return f"{at}arrays differ (max abs difference {float(np.nanmax(np.abs(a - b))):.6g})"
    return None if np.array_equal(a, b) else f"{at}arrays differ ({int(np.sum(a != b))} elements)"


def _containers(a: Any, b: Any, at: str) -> Optional[str]:
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return f"{at}{len(a)} items in the notebook, {len(b)} in the pipeline"
        return next((d for i, (x, y) in enumerate(zip(a, b)) if (d := _diff(x, y, f"{at}[{i}]: "))), None)
    if a.keys() != b.keys():
        return f"{at}keys {sorted(map(str, a))} in the notebook, {sorted(map(str, b))} in the pipeline"
    dotted = at.endswith(".")  # attributes of an object: 'SVC.support_vectors_: ...'
    keys = [k for k in a if not _timing(k)]
    return next((d for k in keys if (d := _diff(a[k], b[k], f"{at}{k}: " if dotted else f"{at}[{k!r}]: "))), None)


#: how long fitting or scoring took (GridSearchCV.cv_results_'s mean_fit_time, refit_time_): differs on every run
_TIMING_KEYS = frozenset({"mean_fit_time", "std_fit_time", "mean_score_time", "std_score_time", "refit_time_"})


def _timing(key: Any) -> bool:
    return isinstance(key, str) and (key in _TIMING_KEYS or key.endswith(("_fit_time", "_score_time")))


def _generic(a: Any, b: Any, at: str) -> Optional[str]:
    if type(a).__eq__ is not object.__eq__:
        try:
            same = a == b
        except Exception:
            same = None
        if isinstance(same, bool):
            return None if same else f"{at}{type(a).__name__} objects differ (==)"
    if at.count(".") + at.count("[") > _MAX_DEPTH:
        raise _NotComparable(f"{at}nested too deeply to compare")
    if isinstance(getattr(a, "__dict__", None), dict) and isinstance(getattr(b, "__dict__", None), dict):
        # attribute by attribute (a fitted estimator): floats within the tolerance, not bit for bit
        da, db = (dict(sorted((k, v) for k, v in vars(o).items() if not _identity(k, v))) for o in (a, b))
        return _diff(da, db, f"{at}{type(a).__name__}.")
    sa, sb = _state(a), _state(b)
    if sa is not None and sb is not None:  # an extension type that pickles a dict (scikit-learn's Tree)
        return _diff(sa, sb, f"{at}{type(a).__name__}.")
    import joblib

    try:
        ha, hb = joblib.hash(a), joblib.hash(b)
    except Exception as exc:
        raise _NotComparable(f"{at}a {type(a).__name__} that cannot be digested ({type(exc).__name__})") from None
    return None if ha == hb else f"{at}{type(a).__name__} objects differ (content digest)"


def _state(obj: Any) -> Optional[dict]:
    try:
        state = obj.__getstate__()
    except Exception:
        return None
    return dict(sorted(state.items())) if isinstance(state, dict) and all(isinstance(k, str) for k in state) else None


def _identity(name: str, value: Any) -> bool:
    """A private attribute holding an object's ``id()`` (scikit-learn's ``CountVectorizer._stop_words_id``): it differs
    between any two processes, so it is not compared."""
    return name.startswith("_") and name.endswith("_id") and isinstance(value, int)


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def same_printed(a: str, b: str) -> bool:
    """Printed output, ignoring memory addresses (``0x7f...``), %time's timing lines and line endings."""

    def norm(t: str) -> str:
        return _TIMING.sub("", _ADDRESS.sub("0x…", t.replace("\r\n", "\n"))).rstrip()

    return norm(a) == norm(b)
