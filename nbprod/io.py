"""Saving and loading step products, used by the generated task scripts at run time.

A product is a folder holding one ``value.*`` file whose format follows the type: DataFrames as parquet,
Series as parquet (one column), numpy arrays as ``.npy``, anything else with joblib, or cloudpickle for what pickle
cannot store by name (lambdas, local functions). Writes are atomic (temporary folder, then rename), so a killed run
never leaves a half-written product behind.

Values that may share objects (``fig, ax = plt.subplots()``: ``ax`` is part of ``fig``) are saved and loaded
together (:func:`save_together`, :func:`load_together`): pickle keeps shared references only within one file, so
two separately pickled values would come back as two separate copies, and a change through one name would no longer
show through the other, as it does in the notebook's kernel.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import numbers
import os
import shutil
import sys
import tempfile
import types
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Union

__all__ = ["save_value", "load_value", "save_together", "load_together", "save_metrics", "load_metrics"]

PathLike = Union[str, os.PathLike]


def _write_into(tmp: Path, obj: Any) -> None:
    import numpy as np

    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        pd = None
    if pd is not None and getattr(getattr(obj, "index", None), "freq", None) is not None:
        pass  # parquet drops a DatetimeIndex's freq (shift, asfreq, resample read it): pickled below
    elif pd is not None and isinstance(obj, pd.DataFrame):
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
    elif type(obj) is np.ndarray and obj.dtype != object:  # not a subclass: np.matrix, a masked array are pickled
        np.save(tmp / "value.npy", obj, allow_pickle=False)
        return
    # joblib stores an ndarray subclass as a plain array: np.matrix would come back element-wise under `*`
    _pickle_into(tmp, obj, "value", joblib=not isinstance(obj, np.ndarray))


def _pickle_into(tmp: Path, obj: Any, stem: str, joblib: bool = True) -> str:
    """Pickle ``obj`` as ``<stem>.joblib`` (``<stem>.pickle`` without ``joblib``), or ``<stem>.cloudpickle`` when it
    holds something of the notebook's own (``__main__``): pickle stores a notebook function by its name, and the step
    that loads it may have no function of that name (``FUNCS = {"double": double}``, ``partial(label, "job")``), or
    another one (``first = clean`` before ``clean`` is redefined). cloudpickle stores the notebook's functions by value
    (:func:`_main_function`); a notebook class goes by name when the loading step defines it, by value otherwise
    (:func:`_main_class`). Returns the file's name."""
    import pickle

    file = tmp / f"{stem}.{'joblib' if joblib else 'pickle'}"
    try:
        if joblib:
            import joblib as _joblib

            _joblib.dump(obj, file)
        else:
            file.write_bytes(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))
    except (pickle.PicklingError, AttributeError, TypeError):
        file.unlink(missing_ok=True)
        (tmp / f"{stem}.cloudpickle").write_bytes(_by_value(obj))
        return f"{stem}.cloudpickle"
    if not _names_main(file):
        return file.name
    try:
        data = _by_value(obj)
    except Exception:  # what a notebook function reads cannot be pickled (a connection): by name, as pickle did
        return file.name
    file.unlink()
    (tmp / f"{stem}.cloudpickle").write_bytes(data)
    return f"{stem}.cloudpickle"


def _names_main(file: Path) -> bool:
    """Whether a pickle file refers to a global of ``__main__`` (the module name is stored as a string)."""
    import mmap

    if file.stat().st_size == 0:
        return False
    with open(file, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        return m.find(b"__main__") >= 0


def _by_value(obj: Any) -> bytes:
    import io
    import pickle

    import cloudpickle

    class _Pickler(cloudpickle.Pickler):
        def reducer_override(self, o: Any) -> Any:
            if isinstance(o, (type, types.FunctionType)) and getattr(o, "__module__", None) == "__main__":
                try:
                    by_value = cloudpickle.dumps(o, protocol=pickle.HIGHEST_PROTOCOL)
                except Exception:  # it reads something no pickle can store: by name only
                    by_value = None
                if isinstance(o, type):
                    return _main_class, (o.__qualname__, by_value)
                if by_value is not None:
                    return _main_function, (by_value,)
            return super().reducer_override(o)

    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buffer.getvalue()


def _main_namespace() -> dict[str, Any]:
    """The namespace of the step's code: ``__main__`` in a step's kernel and in ploomber-engine's shell alike."""
    main = sys.modules.get("__main__")
    return vars(main) if main is not None else {}


def _main_class(qualname: str, by_value: Optional[bytes]) -> type:
    """A notebook class, when unpickled: the loading step's own class of that name if it defines one (its instances
    are then instances of the class the step's code names), else the class as it was saved (a ``namedtuple`` type the
    step never names)."""
    import pickle

    own: Any = None
    if "<locals>" not in qualname:
        own = _main_namespace()
        for part in qualname.split("."):
            own = own.get(part) if isinstance(own, dict) else getattr(own, part, None)
    if isinstance(own, type) and own.__qualname__ == qualname:
        return own
    if by_value is None:
        raise pickle.UnpicklingError(f"the notebook class {qualname!r} is not defined in this step")
    cls: type = pickle.loads(by_value)
    return cls


def _main_function(by_value: bytes) -> types.FunctionType:
    """A notebook function, when unpickled (inside a partial, a tuple, an estimator): it reads its globals from the
    step that loads it, as in the notebook's kernel it reads them when it is called (:func:`_rebound`)."""
    import pickle

    f: types.FunctionType = pickle.loads(by_value)
    namespace = _main_namespace()
    return _rebound(f, namespace) if _a_step(namespace) else f


def _a_step(namespace: dict[str, Any]) -> bool:
    """Whether ``namespace`` is a step's (its task script binds ``upstream`` and ``product``), not the program of a
    process that loads a product (nbprod's own ``__main__`` when it tracks or packages a model)."""
    return namespace.get("__name__") == "__main__" and "upstream" in namespace and "product" in namespace


def _own_format(obj: Any) -> bool:
    """Whether ``obj`` is stored in a format of its own (parquet, .npy) rather than pickled."""
    kind = type(obj).__module__.split(".")[0], type(obj).__name__
    if kind in (("pandas", "DataFrame"), ("pandas", "Series")):
        return getattr(obj.index, "freq", None) is None
    return kind == ("numpy", "ndarray") and obj.dtype != object


def save_value(obj: Any, path: PathLike) -> None:
    """Save ``obj`` as the product folder ``path``, atomically."""
    _replace_folder(Path(path), lambda tmp: _write_into(tmp, obj))


def _replace_folder(target: Path, write: Callable[[Path], None]) -> None:
    """Write the product folder ``target`` with ``write(tmp)`` into a temporary folder, then swap it in."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    backup = None
    try:
        write(tmp)
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


def save_together(values: Mapping[str, Any], product: Mapping[str, PathLike]) -> None:
    """Save ``values`` (name -> value) as their product folders (``product[name]``) so that the objects they share
    are shared again when :func:`load_together` loads them: one pickle of them all, written into each one's folder
    (each folder stands alone: an orchestrator may move products one by one) with the group's digest, by which
    :func:`load_together` unpickles it once. Numbers and strings, which share nothing, and DataFrames, Series and
    arrays when nothing else is in the group (they cannot hold one another) are saved as by :func:`save_value`."""
    shared = {n: v for n, v in values.items() if not _immutable(v)}
    # a dict holding frames shares them only if they are pickled with it: all in one file once any member is pickled
    pickled = shared if len(shared) > 1 and any(not _own_format(v) for v in shared.values()) else {}
    for name, value in values.items():
        if name not in pickled:
            save_value(value, product[name])
    if not pickled:
        return
    parent = Path(product[next(iter(pickled))]).parent
    parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=".together-", dir=parent))
    try:  # plain pickle: joblib pickles object arrays apart, losing what they share
        file = staged / _pickle_into(staged, dict(pickled), "together", joblib=False)
        group = hashlib.sha256(file.read_bytes()).hexdigest()[:16]
        for name in pickled:
            _replace_folder(Path(product[name]), functools.partial(_write_member, file, name, group))
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def _immutable(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, complex, str, bytes, numbers.Number))


def _write_member(file: Path, name: str, group: str, tmp: Path) -> None:
    shutil.copyfile(file, tmp / file.name)
    (tmp / "together.json").write_text(json.dumps({"name": name, "file": file.name, "group": group}))


def load_together(*paths: PathLike) -> tuple:
    """Load product folders saved by :func:`save_together` (or :func:`save_value`), each shared file once: the
    values share what they shared when saved."""
    files: dict[str, dict] = {}
    caller = sys._getframe(1).f_globals
    return tuple(_into(_load(Path(p), files), caller) for p in paths)


def load_value(path: PathLike) -> Any:
    """Load a product folder written by :func:`save_value` (or one value of :func:`save_together`)."""
    return _into(_load(Path(path), {}), sys._getframe(1).f_globals)


def _into(value: Any, namespace: dict[str, Any]) -> Any:
    """A function of the notebook's that travelled by value (a lambda: cloudpickle's copy, with the globals it read
    when it was saved) reads its globals from the step that loads it, as in the notebook's kernel it reads them
    when it is called: ``threshold = 0.9`` in the step is the ``threshold`` it sees. What it brought along fills in
    only names the step does not have. Functions in a dict or list the step loads too. Only for a step's own code
    (the caller's ``__name__`` is ``__main__``), never for nbprod's."""
    if namespace.get("__name__") != "__main__":
        return value
    if isinstance(value, types.FunctionType):
        return _rebound(value, namespace)
    if type(value) is dict:
        for k, v in value.items():
            if isinstance(v, types.FunctionType):
                value[k] = _rebound(v, namespace)
    elif type(value) is list:
        value[:] = [_rebound(v, namespace) if isinstance(v, types.FunctionType) else v for v in value]
    return value


def _rebound(f: types.FunctionType, namespace: dict[str, Any]) -> types.FunctionType:
    if f.__module__ != "__main__" or f.__globals__ is namespace:
        return f
    for name in _global_names(f.__code__):
        if name in f.__globals__ and name not in namespace:
            namespace[name] = f.__globals__[name]
    g = types.FunctionType(f.__code__, namespace, f.__name__, f.__defaults__, f.__closure__)
    g.__kwdefaults__, g.__qualname__, g.__doc__ = f.__kwdefaults__, f.__qualname__, f.__doc__
    g.__dict__.update(f.__dict__)
    return g


def _global_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def _load(folder: Path, files: dict[str, dict]) -> Any:
    if (folder / "together.json").exists():
        member = json.loads((folder / "together.json").read_text())
        if member["group"] not in files:
            files[member["group"]] = _unpickle(folder / member["file"])
        return files[member["group"]][member["name"]]
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
    for name in ("value.joblib", "value.pickle", "value.cloudpickle"):
        if (folder / name).exists():
            return _unpickle(folder / name)
    raise FileNotFoundError(f"no product at {folder}: run the upstream step first (nbprod run)")


def _unpickle(file: Path) -> Any:
    if file.suffix == ".joblib":
        import joblib

        return joblib.load(file)
    import pickle

    return pickle.loads(file.read_bytes())


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
