"""``nbprod monitor NB --retrain``: when drift fires, run the pipeline on new data; the result is a candidate.

The new data replaces the notebook's data file through a parameter: ``--data-param NAME`` names the parameter that
holds the data file's path (default: the only parameter whose value is such a path). The data is either ``--data
FILE`` (shaped like the notebook's file), or the prediction log's logged inputs joined with ``--labels FILE``: a CSV
(or parquet) with a ``request_id`` column (the ``X-Request-ID`` the service answered with), a ``row`` column when a
request held several records (the record's index in it), and the label column(s). Either way the data is copied to
``.nbprod/retrain/<pipeline>/<param>-<digest>.<ext>`` (what the candidate was trained on stays there) and the normal
``nbprod run`` runs with ``-p NAME=<that file>``: the gates check it, MLflow tracks it and registers a model version
with alias ``candidate``, a Bento is built. Nothing is released: the candidate needs review, approval and
``nbprod release`` like any run.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

from nbprod.errors import UsageError
from nbprod.events import EventSink
from nbprod.workflow.incremental import RunResult
from nbprod.workflow.workspace import Workspace

__all__ = ["DATA_SUFFIXES", "RetrainResult", "data_param", "retrain"]

DATA_SUFFIXES = (".csv", ".tsv", ".parquet", ".json", ".jsonl", ".feather", ".xlsx", ".pkl", ".txt")
_LABEL_FORMATS = (".csv", ".parquet")


@dataclass
class RetrainResult:
    param: str
    data_file: str  # relative to the project
    rows: Optional[int]  # rows joined from the log (None: --data was given as it is)
    run: RunResult


def data_param(ws: Workspace, name: Optional[str]) -> str:
    """The notebook parameter that holds the data file's path (``name``, checked, or the only candidate)."""
    params, path = ws.plan.parameters, ws.nb.path
    paths = [k for k, v in params.items() if isinstance(v, str) and Path(v).suffix.lower() in DATA_SUFFIXES]
    if name is not None:
        if name not in params:
            known = ", ".join(params) or "(none: the notebook has no cell tagged 'parameters')"
            raise UsageError(
                f"--data-param {name!r} is not a parameter of the notebook",
                path=path,
                fix=f"name the parameter that holds the data file's path; the notebook's parameters: {known}",
            )
        if not isinstance(params[name], str):
            raise UsageError(
                f"--data-param {name}: its value {params[name]!r} is not a file path",
                path=path,
                fix='name the parameter whose value is the data file\'s path, e.g. data_file = "data/train.csv"',
            )
        return name
    if len(paths) == 1:
        return paths[0]
    literals = sorted({f for s in ws.plan.steps for f in s.input_files})
    if not paths:
        read = f" (it reads {', '.join(literals)} as a literal path in a step)" if literals else ""
        raise UsageError(
            f"--retrain: no parameter of the notebook names its data file{read}",
            path=path,
            fix='put the path in the parameters cell (data_file = "data/train.csv"), read the data from it '
            "(pd.read_csv(data_file)), and pass --data-param data_file",
        )
    raise UsageError(
        f"--retrain: several parameters name data files ({', '.join(paths)})",
        path=path,
        fix=f"choose the one to replace: --data-param {paths[0]}",
    )


def _labels(file: Path, nb: str) -> Any:
    import pandas as pd

    fix = (
        "a labels file holds request_id (the X-Request-ID the service answered with), row (the record's index in "
        "a request of several records; may be left out when each request had one) and the label column(s), "
        "e.g. request_id,price"
    )
    if not file.is_file():
        raise UsageError(f"--labels {file}: no such file", path=nb, fix=fix)
    if file.suffix.lower() not in _LABEL_FORMATS:
        raise UsageError(f"--labels {file}: a labels file is a .csv or .parquet file", path=nb, fix=fix)
    frame = pd.read_parquet(file) if file.suffix.lower() == ".parquet" else pd.read_csv(file)
    if "request_id" not in frame.columns or not [c for c in frame.columns if c not in ("request_id", "row")]:
        raise UsageError(f"--labels {file}: columns {list(frame.columns)} lack request_id or a label", path=nb, fix=fix)
    return frame.assign(request_id=frame["request_id"].astype(str))


def _joined(rows: list[dict[str, Any]], labels_file: Path, nb: str, log: str) -> Any:
    """The logged records with the label columns of ``labels_file`` (inner join on request_id [and row])."""
    import pandas as pd

    labels = _labels(labels_file, nb)
    inputs = pd.DataFrame([{**r["record"], "request_id": str(r["request_id"]), "row": r["row"]} for r in rows])
    if inputs.empty:
        raise UsageError(
            f"the prediction log {log} holds no request inputs to join labels with",
            path=nb,
            fix="log the inputs of the requests to label: [tool.nbprod.prediction-log] sample = 1 (or "
            "NBPROD_PREDICTION_LOG_SAMPLE=1 for the served Bento), or pass the new data with --data FILE",
        )
    on = ["request_id", "row"] if "row" in labels.columns else ["request_id"]
    if on == ["request_id"] and inputs["request_id"].duplicated().any():
        raise UsageError(
            f"--labels {labels_file}: requests in the log hold several records, so the labels need a row column",
            path=nb,
            fix="add a column row: the record's index (0, 1, ...) in its request",
        )
    merged = inputs.merge(labels, on=on, how="inner")
    if merged.empty:
        raise UsageError(
            f"--labels {labels_file}: none of its {len(labels)} request ids is among the {len(inputs)} logged records",
            path=nb,
            fix="label requests whose inputs the log kept (only the sampled requests keep them)",
        )
    return merged.drop(columns=["request_id", "row"])


def _encode(frame: Any, suffix: str, nb: str, param: str) -> bytes:
    if suffix == ".parquet":
        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
        return buf.getvalue()
    if suffix == ".csv":
        return str(frame.to_csv(index=False)).encode()
    raise UsageError(
        f"--labels: the notebook's data file ({param}) is a {suffix or 'suffix-less'} file; joined data is written "
        "as .csv or .parquet only",
        path=nb,
        fix="pass the new data as a file of that format: --data FILE",
    )


def _stage(ws: Workspace, param: str, content: bytes, suffix: str) -> Path:
    """``content`` at ``.nbprod/retrain/<pipeline>/<param>-<digest><suffix>`` (written atomically)."""
    folder = ws.layout.retrain_dir(ws.pipeline)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{param}-{hashlib.sha256(content).hexdigest()[:12]}{suffix}"
    if not target.is_file():
        tmp = folder / f".{target.name}.tmp"
        tmp.write_bytes(content)
        os.replace(tmp, target)
    return target


def retrain(
    notebook: Union[str, Path],
    *,
    project: Union[str, Path] = ".",
    name: Optional[str] = None,
    split: str = "auto",
    param: Optional[str] = None,
    data: Union[None, str, Path] = None,
    labels: Union[None, str, Path] = None,
    log_rows: Optional[list[dict[str, Any]]] = None,
    log: str = "",
    on_event: Optional[EventSink] = None,
) -> RetrainResult:
    """Run the pipeline of ``notebook`` on new data (see the module docstring); ``log_rows``: the prediction log's
    records (``monitor_log.logged_records``), needed with ``labels``."""
    from nbprod.workflow.run import run

    ws = Workspace(notebook, project=project, name=name, split=split)
    nb = ws.nb.path
    key = data_param(ws, param)
    default = str(ws.plan.parameters[key])
    if data is not None and labels is not None:
        raise UsageError("--data and --labels exclude each other", path=nb, fix="pass one of them")
    rows: Optional[int] = None
    if data is not None:
        file = Path(data)
        if not file.is_file():
            raise UsageError(
                f"--data {file}: no such file", path=nb, fix=f"pass the new training data, a file shaped like {default}"
            )
        staged = _stage(ws, key, file.read_bytes(), file.suffix)
    elif labels is not None:
        if log_rows is None:
            raise UsageError("--labels needs the prediction log", path=nb, fix="add --log [PATH]")
        frame = _joined(log_rows, Path(labels), nb, log)
        rows = len(frame)
        suffix = Path(default).suffix.lower()
        staged = _stage(ws, key, _encode(frame, suffix, nb, key), suffix)
    else:
        raise UsageError(
            "--retrain needs the new data",
            path=nb,
            fix=f"pass --data FILE (shaped like {default}), or --log [PATH] --labels FILE to join labels with the "
            "logged inputs",
        )
    nb_dir = Path(notebook).resolve().parent
    value = Path(os.path.relpath(staged.resolve(), nb_dir)).as_posix()
    result = run(notebook, project=project, name=name, split=split, params={key: value}, on_event=on_event)
    return RetrainResult(key, ws.layout.relpath(staged), rows, result)
