"""Project settings: the ``[tool.nbprod]`` table of the project's ``pyproject.toml`` (all optional).

```toml
[tool.nbprod]
# model-card fields an approval requires (the others missing are warnings); default below
approval-card-fields = ["intended-use", "limitations", "owners"]

# nbprod serve NB --canary PCT: roll the candidate back once both models scored min-requests requests and the
# candidate's error rate is above the champion's by error-margin, or its predictions moved more than shift-margin
[tool.nbprod.canary]
min-requests = 100
error-margin = 0.05
shift-margin = 0.2
```
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbprod.errors import UsageError
from nbprod.notebook.tags import CARD_FIELDS
from nbprod.package.alerts import AlertSettings, settings_from_table
from nbprod.package.canary import RuleSettings
from nbprod.package.log_settings import log_settings_from_table

__all__ = ["ProjectConfig", "load_config", "DEFAULT_APPROVAL_CARD_FIELDS"]

DEFAULT_APPROVAL_CARD_FIELDS = ("intended-use", "limitations", "owners")
_KEYS: tuple[str, ...] = ("approval-card-fields", "alerts", "deploy")  # alerts, deploy: nbprod.package.alerts, .deploy
_KEYS = (*_KEYS, "prediction-log")  # nbprod.package.log_settings
_KEYS = (*_KEYS, "canary")  # nbprod.package.canary (the rule), parsed here


@dataclass(frozen=True)
class ProjectConfig:
    approval_card_fields: tuple[str, ...] = DEFAULT_APPROVAL_CARD_FIELDS
    alerts: AlertSettings = AlertSettings()  # [tool.nbprod.alerts]: thresholds of bentos/<name>/alerts.yaml
    canary: RuleSettings = RuleSettings()  # [tool.nbprod.canary]: the rollback rule of nbprod serve --canary


def _toml(path: Path) -> dict[str, Any]:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(
            f"pyproject.toml is not valid TOML: {exc}", path=str(path), fix="fix the TOML syntax"
        ) from None


def _card_fields(value: Any, path: Path) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(
            "[tool.nbprod] approval-card-fields must be a list of card field names",
            path=str(path),
            fix=f"e.g. approval-card-fields = {list(DEFAULT_APPROVAL_CARD_FIELDS)!r}".replace("'", '"'),
        )
    for v in value:
        if v not in CARD_FIELDS:
            close = difflib.get_close_matches(v, CARD_FIELDS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise UsageError(
                f"[tool.nbprod] approval-card-fields: unknown card field {v!r}",
                path=str(path),
                fix=f"{hint}the fields are: {', '.join(CARD_FIELDS)}",
            )
    return tuple(value)


_CANARY_KEYS = {"min-requests": "min_requests", "error-margin": "error_margin", "shift-margin": "shift_margin"}


def _canary_settings(table: Any, path: Path) -> RuleSettings:
    if table is None:
        return RuleSettings()
    example = "[tool.nbprod.canary] min-requests = 100, error-margin = 0.05, shift-margin = 0.2"
    if not isinstance(table, dict):
        raise UsageError("[tool.nbprod.canary] must be a table", path=str(path), fix=f"e.g. {example}")
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in _CANARY_KEYS:
            close = difflib.get_close_matches(key, _CANARY_KEYS, n=1)
            raise UsageError(
                f"[tool.nbprod.canary]: unknown setting {key!r}",
                path=str(path),
                fix=(f"did you mean {close[0]!r}? " if close else "") + f"settings: {', '.join(_CANARY_KEYS)}",
            )
        integer = key == "min-requests"
        ok = isinstance(value, int) if integer else isinstance(value, (int, float))
        if not ok or isinstance(value, bool) or value < (1 if integer else 0):
            want = "a whole number >= 1" if integer else "a number >= 0"
            raise UsageError(
                f"[tool.nbprod.canary] {key} must be {want}, not {value!r}", path=str(path), fix=f"e.g. {example}"
            )
        values[_CANARY_KEYS[key]] = int(value) if integer else float(value)
    return RuleSettings(**values)


def load_config(project: Path) -> ProjectConfig:
    """The settings of ``project`` (defaults when there is no pyproject.toml or no ``[tool.nbprod]`` table)."""
    path = project / "pyproject.toml"
    if not path.is_file():
        return ProjectConfig()
    table = _toml(path).get("tool", {}).get("nbprod", {})
    if not isinstance(table, dict):
        raise UsageError("[tool.nbprod] must be a table", path=str(path), fix="write it as [tool.nbprod]")
    for key in table:
        if key not in _KEYS:
            close = difflib.get_close_matches(key, _KEYS, n=1)
            raise UsageError(
                f"[tool.nbprod]: unknown setting {key!r}",
                path=str(path),
                fix=(f"did you mean {close[0]!r}? " if close else "") + f"settings: {', '.join(_KEYS)}",
            )
    log_settings_from_table(table.get("prediction-log"), str(path))  # checked here too: a bad value is named early
    fields = table.get("approval-card-fields")
    return ProjectConfig(
        DEFAULT_APPROVAL_CARD_FIELDS if fields is None else _card_fields(fields, path),
        settings_from_table(table.get("alerts"), str(path)),
        _canary_settings(table.get("canary"), path),
    )
