"""``[tool.nbprod.prediction-log]``: the settings of the served Bento's prediction log (all optional)::

    [tool.nbprod.prediction-log]
    enabled = true            # false: the service writes no prediction log
    dir = "prediction_log"    # relative to the serving folder; NBPROD_PREDICTION_LOG_DIR overrides it at run time
    sample = 0.1              # fraction of requests whose inputs are logged (0: none; outputs are always logged)
    max-bytes = 10000000      # a file is rotated before it passes this size ...
    backups = 5               # ... into .1 ... .5: at most max-bytes * (backups + 1) bytes on disk

They are written into the generated ``service.py`` (``PREDICTION_LOG``); :mod:`nbprod.package.prediction_log` uses them.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Optional

from nbprod.errors import UsageError
from nbprod.package.alerts import nbprod_table
from nbprod.package.prediction_log import DEFAULTS

__all__ = ["load_log_settings", "log_settings_from_table"]

_KEYS = {"enabled": "enabled", "dir": "dir", "sample": "sample", "max-bytes": "max_bytes", "backups": "backups"}


def _bad(what: str, path: str, fix: str) -> UsageError:
    return UsageError(f"[tool.nbprod.prediction-log] {what}", path=path, fix=fix)


def _check(key: str, value: Any, path: str) -> Any:
    if key == "enabled":
        if not isinstance(value, bool):
            raise _bad(f"enabled must be true or false, not {value!r}", path, "enabled = true")
    elif key == "dir":
        if not isinstance(value, str) or not value.strip():
            raise _bad(f"dir must be a folder name, not {value!r}", path, 'dir = "prediction_log"')
    elif key == "sample":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise _bad(f"sample must be a fraction between 0 and 1, not {value!r}", path, "sample = 0.1")
        value = float(value)
    elif isinstance(value, bool) or not isinstance(value, int) or value < (1 if key == "max-bytes" else 0):
        example = "max-bytes = 10000000" if key == "max-bytes" else "backups = 5"
        raise _bad(f"{key} must be a {'positive' if key == 'max-bytes' else 'non-negative'} integer, not {value!r}",
                   path, example)  # fmt: skip
    return value


def log_settings_from_table(table: Optional[Any], path: str = "pyproject.toml") -> dict[str, Any]:
    """The prediction log's settings (``prediction_log.DEFAULTS`` keys) from the table; None: the defaults."""
    if table is None:
        return dict(DEFAULTS)
    if not isinstance(table, dict):
        raise _bad("must be a table", path, "write it as [tool.nbprod.prediction-log]")
    out = dict(DEFAULTS)
    for key, value in table.items():
        if key not in _KEYS:
            close = difflib.get_close_matches(key, list(_KEYS), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise _bad(f"unknown setting {key!r}", path, f"{hint}settings: {', '.join(_KEYS)}")
        out[_KEYS[key]] = _check(key, value, path)
    return out


def load_log_settings(project: Path) -> dict[str, Any]:
    """The prediction log's settings of ``project`` (the defaults without pyproject.toml or the table)."""
    nbprod, path = nbprod_table(project)
    return log_settings_from_table(nbprod.get("prediction-log") if nbprod is not None else None, str(path))
