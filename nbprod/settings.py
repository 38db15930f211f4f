"""Process-wide settings nbprod applies before it imports a dependency: telemetry off, quiet progress bars."""
from __future__ import annotations

import os

__all__ = ["TELEMETRY_OPT_OUT", "quiet_dependencies"]

#: Opt-out variables of nbprod's dependencies (no telemetry, no network at run time).
TELEMETRY_OPT_OUT = {
    "PLOOMBER_STATS_ENABLED": "false",
    "PLOOMBER_VERSION_CHECK_DISABLED": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "BENTOML_DO_NOT_TRACK": "true",
    "DO_NOT_TRACK": "1",
    "GX_ANALYTICS_ENABLED": "false",
}


def quiet_dependencies() -> None:
    """Set the opt-out variables (unless the user set them) before any heavy import."""
    for key, value in TELEMETRY_OPT_OUT.items():
        os.environ.setdefault(key, value)
