"""`nbprod monitor NB --log`: the drift table from a prediction log read offline (rotated files too), the drift picture,
and the errors of --picture / --retrain. The log is written by the real PredictionLog (the served Bento's writer)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from nbprod.package.drift import compute_baseline
from nbprod.package.prediction_log import PredictionLog, log_files
from nbprod.ui.cli import main
from nbprod.workflow.monitor_log import logged_records
from nbprod.workflow.retrain import _joined
from tests.conftest import EXAMPLES


def frame(n: int, seed: int, shift: float = 0.0, pro: float = 0.3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"monthly_charges": rng.normal(70 + shift, 10, n), "plan": rng.choice(["basic", "pro"], n, p=[1 - pro, pro])}
    )


@pytest.fixture
def project(tmp_path):
    shutil.copy(EXAMPLES / "classifier.ipynb", tmp_path / "classifier.ipynb")
    train = frame(3000, 0)
    baseline = compute_baseline(train, (train["monthly_charges"] > 75).astype(int))
    (tmp_path / ".nbprod/package/classifier").mkdir(parents=True)
    (tmp_path / ".nbprod/package/classifier/drift_baseline.json").write_text(json.dumps(baseline))
    return tmp_path


def write_log(folder, windows: list[pd.DataFrame], *, per_request: int = 10, **kwargs) -> None:
    """Each frame sent as requests of ``per_request`` records, every request's inputs kept (sample=1)."""
    plog = PredictionLog(folder / "classifier-abc.jsonl", model="classifier:abc", sample=1.0, **kwargs)
    k = 0
    for window in windows:
        records = json.loads(window.to_json(orient="records"))
        for i in range(0, len(records), per_request):
            chunk = records[i : i + per_request]
            plog.log(request_id=f"r{k}", endpoint="/predict", status=200, latency_ms=2.0,
                     outputs=json.dumps(["stay"] * len(chunk)).encode(),
                     inputs=json.dumps({"records": chunk}).encode())  # fmt: skip
            k += 1
    plog.close()


def run_cli(root, *extra: str, capsys) -> tuple[int, str, str]:
    code = main(["monitor", str(root / "classifier.ipynb"), "--project", str(root), *extra])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_an_undrifted_log_exits_0_with_a_row_per_input_feature(project, capsys):
    write_log(project / ".nbprod/serving/classifier", [frame(1200, 1)])
    code, out, _ = run_cli(project, "--log", capsys=capsys)  # the default folder: where nbprod serve logs
    lines = out.splitlines()
    assert code == 0 and lines[-1] == "no alert", out
    rows = {line.split()[0]: line.split() for line in lines[1:3]}
    assert set(rows) == {"monthly_charges", "plan"} and rows["plan"][1:3] == ["ok", "chi2"]  # no prediction row
    assert rows["monthly_charges"][-1] == "1000"  # the window: the last 1000 rows
    assert "window: 1000 rows (ready) from the prediction log" in out
    assert "log: 120 requests, 120 with their inputs" in out


def test_a_drifted_log_exits_1_and_draws_the_drifted_features(project, capsys, tmp_path):
    log = project / "logs"
    write_log(log, [frame(1000, 1), frame(1000, 2, shift=15.0)], max_bytes=20_000, backups=50)
    assert len(log_files(log)) > 5  # rotated: every file is read, oldest first
    picture = tmp_path / "out" / "drift.svg"
    code, out, _ = run_cli(project, "--log", str(log), "--picture", str(picture), capsys=capsys)
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:3]}
    assert code == 1 and rows["monthly_charges"][1] == "ALERT" and rows["plan"][1] == "ok", out
    assert f"drift picture: {picture} (monthly_charges)" in out
    svg = ET.parse(picture).getroot()
    texts = " ".join(t.text or "" for t in svg.iter("{http://www.w3.org/2000/svg}text"))
    assert "monthly_charges: ks p=" in texts and "training (n=3000)" in texts and "live (n=1000)" in texts
    assert "plan" not in texts.replace("prediction log", "")  # only the drifted feature
    first = picture.read_bytes()
    run_cli(project, "--log", str(log), "--picture", str(picture), capsys=capsys)
    assert picture.read_bytes() == first  # deterministic
    assert b"<dc:date>" not in first
    png = tmp_path / "drift.png"
    run_cli(project, "--log", str(log), "--picture", str(png), capsys=capsys)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_categorical_drift_is_drawn_with_its_unseen_category(project, capsys):
    log = project / ".nbprod/serving/classifier"
    drifted = frame(1000, 3).assign(plan=["enterprise"] * 300 + ["basic"] * 700)
    write_log(log, [drifted])
    code, out, _ = run_cli(project, "--log", "--picture", capsys=capsys)
    assert code == 1 and f"drift picture: {log / 'drift.svg'} (plan)" in out, out
    texts = " ".join(
        t.text or "" for t in ET.parse(log / "drift.svg").getroot().iter("{http://www.w3.org/2000/svg}text")
    )
    assert "enterprise (unseen)" in texts


def test_no_picture_when_nothing_drifted_and_errors_name_the_fix(project, capsys):
    write_log(project / ".nbprod/serving/classifier", [frame(600, 4)])
    code, out, _ = run_cli(project, "--log", "--picture", capsys=capsys)
    assert code == 0 and "no feature drifted: no drift picture" in out
    code, out, err = run_cli(project, "--picture", "x.svg", capsys=capsys)
    assert code == 2 and "--picture and --labels read the prediction log" in err and "--log" in err
    code, _, err = run_cli(project, "--log", "--window", "0", capsys=capsys)
    assert code == 2 and "--window 0" in err and "Traceback" not in err
    code, _, err = run_cli(project, "--log", "--data", "x.csv", capsys=capsys)
    assert code == 2 and "go with --retrain" in err
    code, _, err = run_cli(project, "--log", str(project / "nowhere"), capsys=capsys)
    assert code == 2 and "no prediction log at" in err and "NBPROD_PREDICTION_LOG_DIR" in err and "Traceback" not in err
    code, _, err = run_cli(project, "--log", "--picture", "x.pdf", capsys=capsys)
    assert code == 2 and "is an .svg or a .png file" in err
    shutil.rmtree(project / ".nbprod/package")
    code, _, err = run_cli(project, "--log", capsys=capsys)
    assert code == 2 and "no drift baseline" in err and "nbprod package" in err


def test_retrain_only_on_an_alert_and_clear_errors_about_the_data(project, capsys):
    write_log(project / ".nbprod/serving/classifier", [frame(600, 5)])
    code, out, _ = run_cli(project, "--log", "--retrain", capsys=capsys)
    assert code == 0 and out.splitlines()[-1] == "no alert: nothing to retrain"
    write_log(project / ".nbprod/serving/classifier", [frame(1000, 6, shift=20.0)])
    code, _, err = run_cli(project, "--log", "--retrain", "--data", "new.csv", capsys=capsys)
    # the classifier generates its data in a step: no parameter names a data file
    assert code == 2 and "no parameter of the notebook names its data file" in err
    assert 'data_file = "data/train.csv"' in err and "--data-param data_file" in err
    code, _, err = run_cli(project, "--log", "--retrain", "--data-param", "seeds", capsys=capsys)
    assert code == 2 and "--data-param 'seeds' is not a parameter" in err and "n_estimators" in err
    code, _, err = run_cli(project, "--log", "--retrain", "--data-param", "seed", capsys=capsys)
    assert code == 2 and "its value 42 is not a file path" in err


def test_labels_join_the_logged_records_by_request_id_and_row(tmp_path):
    lines = [
        {"request_id": "a", "inputs": {"records": [{"x": 1, "c": "u"}, {"x": 2, "c": "v"}]}},
        {"request_id": "b", "outputs": [1]},  # not sampled: no inputs
        {"request_id": "c", "inputs": {"records": [{"x": 3, "c": "w"}]}},
    ]
    rows = logged_records(lines)
    assert [(r["request_id"], r["row"]) for r in rows] == [("a", 0), ("a", 1), ("c", 0)]
    labels = tmp_path / "labels.csv"
    labels.write_text("request_id,row,y\na,1,20\nc,0,30\nzzz,0,99\n")
    got = _joined(rows, labels, "nb.ipynb", "log")
    assert got.to_dict("records") == [{"x": 2, "c": "v", "y": 20}, {"x": 3, "c": "w", "y": 30}]
    labels.write_text("request_id,y\na,20\n")
    with pytest.raises(Exception, match="the labels need a row column"):
        _joined(rows, labels, "nb.ipynb", "log")
    labels.write_text("id,y\na,20\n")
    with pytest.raises(Exception, match="lack request_id or a label"):
        _joined(rows, labels, "nb.ipynb", "log")
    labels.write_text("request_id,row,y\nq,0,1\n")
    with pytest.raises(Exception, match="none of its 1 request ids is among the 3 logged records"):
        _joined(rows, labels, "nb.ipynb", "log")


def test_help_and_lint_import_no_matplotlib():
    code = (
        "import sys\nfrom nbprod.ui.cli import main\n"
        "for argv in (['--help'], ['lint', sys.argv[1]], ['monitor', '--help']):\n"
        "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'matplotlib', 'pandas', 'numpy'}))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(EXAMPLES / "classifier.ipynb")], capture_output=True,
                         text=True, check=True)  # fmt: skip
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_retrain_finds_the_data_parameter_and_checks_the_data_before_running(tmp_path):
    from nbprod.errors import UsageError
    from nbprod.workflow.retrain import _stage, data_param, retrain
    from nbprod.workflow.workspace import Workspace
    from tests.test_monitor_retrain_e2e import data_file_parameter

    shutil.copytree(EXAMPLES, tmp_path / "example_notebooks", ignore=shutil.ignore_patterns("__pycache__"))
    nb = tmp_path / "example_notebooks/regression.ipynb"
    ws = Workspace(nb, project=tmp_path)
    with pytest.raises(UsageError, match=r"reads data/houses.csv as a literal path in a step") as info:
        data_param(ws, None)  # the example reads its file as a literal: the fix says how to make it a parameter
    assert "--data-param data_file" in str(info.value.fix)
    data_file_parameter(nb)
    ws = Workspace(nb, project=tmp_path)
    assert data_param(ws, None) == "data_file"
    cases = [
        (dict(data=tmp_path / "missing.csv"), "--data .*missing.csv: no such file", "shaped like data/houses.csv"),
        (dict(data=nb, labels=nb), "--data and --labels exclude each other", "one of them"),
        (dict(labels=tmp_path / "l.csv"), "--labels needs the prediction log", "--log"),
        ({}, "--retrain needs the new data", "--labels FILE"),
    ]
    for kwargs, what, fix in cases:
        with pytest.raises(UsageError, match=what) as info:
            retrain(nb, project=tmp_path, **kwargs)
        assert fix in str(info.value.fix)
    first = _stage(ws, "data_file", b"a,b\n1,2\n", ".csv")
    assert first == _stage(ws, "data_file", b"a,b\n1,2\n", ".csv") != _stage(ws, "data_file", b"a,b\n1,3\n", ".csv")
    assert first.parent == tmp_path / ".nbprod/retrain/regression" and first.name.startswith("data_file-")
    assert not (tmp_path / ".nbprod/products").exists()  # nothing ran
