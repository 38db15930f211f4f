"""alerts.yaml: generation (golden), thresholds from [tool.nbprod.alerts], `promtool check rules` and `promtool test rules`."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

from nbprod.errors import UsageError
from nbprod.package.alerts import AlertSettings, load_settings, render_alerts, settings_from_table
from nbprod.workflow.config import load_config
from tests.conftest import GOLDEN

BASELINE = {  # the shape drift.compute_baseline gives (only the keys render_alerts reads)
    "version": 1,
    "numeric": {"age": {}, "income": {}},
    "categorical": {"plan": {}},
    "prediction": {"kind": "numeric"},
}


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool is missing: `make test` installs Debian's prometheus package (make prometheus)"
    return path


def render(settings: AlertSettings | None = None) -> str:
    return render_alerts("churn", "churn:0123456789ab", BASELINE, settings or AlertSettings())


def rules(text: str) -> list[dict]:
    return yaml.safe_load(text)["groups"][0]["rules"]


def test_alerts_match_the_golden_file():
    got, golden = render(), GOLDEN / "monitoring" / "alerts.yaml"
    if os.environ.get("NBPROD_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(got)
    assert got == golden.read_text()


def test_one_rule_per_feature_and_statistic_with_labels():
    got = rules(render())
    drift = [(r["labels"]["feature"], r["labels"]["statistic"]) for r in got if "feature" in r["labels"]]
    assert len(drift) == len(set(drift)) == 2 * 4 + 4 + 4  # numeric: z, psi, vs training, vs previous ...
    assert ("plan", "unseen_share") in drift and ("age", "unseen_share") not in drift
    assert ("__prediction__", "mean_shift_z") in drift and ("__prediction__", "p_previous") in drift
    assert {r["alert"] for r in got} >= {"NbprodErrorRate", "NbprodLatencyP99", "NbprodPredictionPSI"}
    for r in got:
        assert r["labels"]["pipeline"] == "churn" and r["labels"]["model_version"] == "0123456789ab", r
        assert r["for"] == "5m" and r["annotations"]["summary"].startswith("churn: ")


def test_thresholds_and_durations_come_from_the_settings():
    s = settings_from_table(
        {"psi": 0.3, "p-value": 0.001, "for": "1s", "rate-window": "30s", "features": {"age": {"psi": 0.5}}}
    )
    by = {(r["labels"].get("feature"), r["labels"]["statistic"]): r for r in rules(render(s))}
    assert by[("age", "psi")]["expr"].startswith('nbprod_drift_psi{feature="age"} > 0.5 ')
    assert by[("income", "psi")]["expr"].startswith('nbprod_drift_psi{feature="income"} > 0.3 ')
    assert "< 0.001 " in by[("plan", "p_training")]["expr"] and by[("plan", "p_training")]["for"] == "1s"
    assert "nbprod_drift_previous_rows >= 200" in by[("plan", "p_previous")]["expr"]
    assert "[30s]" in by[(None, "error_rate")]["expr"]
    assert s.drift_levels() == {"psi": 0.3, "mean_shift_z": 4.0, "unseen_share": 0.05, "p_value": 0.001}


@pytest.mark.parametrize(
    "table,needle",
    [
        ({"psy": 0.2}, "did you mean 'psi'"),
        ({"for": "5 minutes"}, "Prometheus duration"),
        ({"p-value": 1.5}, "between 0 and 1"),
        ({"psi": "high"}, "non-negative number"),
        ({"features": {"age": {"error-rate": 0.1}}}, "features.age: unknown setting 'error-rate'"),
        ({"features": ["age"]}, "table of tables"),
    ],
)
def test_bad_settings_are_usage_errors(table, needle):
    with pytest.raises(UsageError) as info:
        settings_from_table(table)
    assert needle in str(info.value) and info.value.fix


def test_thresholds_for_an_unknown_feature_are_an_error():
    with pytest.raises(UsageError) as info:
        render(settings_from_table({"features": {"agee": {"psi": 0.3}}}))
    assert "names no feature of pipeline 'churn': agee" in str(info.value)
    assert "__prediction__, age, income, plan" in info.value.fix


def test_project_config_reads_the_alerts_table(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.nbprod.alerts]\npsi = 0.25\nfor = "2m"\n')
    assert load_config(tmp_path).alerts == load_settings(tmp_path) == AlertSettings(psi=0.25, for_="2m")
    (tmp_path / "pyproject.toml").write_text('[tool.nbprod.alerts]\nfor = "2 m"\n')
    with pytest.raises(UsageError, match="pyproject.toml"):
        load_config(tmp_path)
    assert load_settings(tmp_path / "nowhere") == AlertSettings()


def test_promtool_checks_the_rules(tmp_path):
    (tmp_path / "alerts.yaml").write_text(render())
    out = subprocess.run([promtool(), "check", "rules", "alerts.yaml"], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0 and "SUCCESS: 18 rules found" in out.stdout, out.stdout + out.stderr


def _series(name: str, values: str, **labels: str) -> dict:
    text = ", ".join(f'{k}="{v}"' for k, v in {"job": "bento", "instance": "svc:3000", **labels}.items())
    return {"series": f"{name}{{{text}}}", "values": values}


def _expected(rule: dict, value: str, **extra: str) -> dict:
    return {
        "exp_labels": {**rule["labels"], **extra, "job": "bento", "instance": "svc:3000"},
        "exp_annotations": {k: v.replace("{{ $value }}", value) for k, v in rule["annotations"].items()},
    }


def test_promtool_unit_tests_the_rules(tmp_path):
    """Drifted gauges fire the right feature's alert after `for`, not before, and not while the window is short."""
    text = render()
    (tmp_path / "alerts.yaml").write_text(text)
    by = {(r["labels"].get("feature"), r["labels"]["statistic"]): r for r in rules(text)}
    series = [
        _series("bentoml_service_request_total", "0+60x25", service_name="churn", endpoint="/predict"),
        _series("nbprod_drift_window_rows", "100x5 500x20"),
        # another service (another pipeline) on the same Prometheus: its drifted gauges are not this pipeline's
        _series("bentoml_service_request_total", "0+60x25", service_name="other", endpoint="/predict", instance="o:1"),
        _series("nbprod_drift_window_rows", "500x25", instance="o:1"),
        _series("nbprod_drift_psi", "0.9x25", feature="age", instance="o:1"),
        _series("nbprod_drift_previous_rows", "0x25"),
        _series("nbprod_drift_psi", "0.05x5 0.45x20", feature="income"),  # drifts at 5m
        _series("nbprod_drift_psi", "0.05x25", feature="age"),
        _series("nbprod_drift_mean_shift_z", "9x5 1x20", feature="age"),  # high only while the window is short
        _series("nbprod_drift_p_value", "0.5x5 0.0001x20", feature="plan", reference="training", test="chi2"),
        _series("nbprod_drift_p_value", "0.0001x25", feature="plan", reference="previous", test="chi2"),
    ]
    chi2 = {"reference": "training", "test": "chi2"}
    tests = {
        "rule_files": ["alerts.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {"eval_time": "8m", "alertname": "NbprodFeaturePSI", "exp_alerts": []},  # pending (for: 5m)
                    {
                        "eval_time": "11m",
                        "alertname": "NbprodFeaturePSI",
                        "exp_alerts": [_expected(by[("income", "psi")], "0.45", feature="income")],
                    },
                    {"eval_time": "11m", "alertname": "NbprodFeatureMeanShift", "exp_alerts": []},
                    {
                        "eval_time": "11m",
                        "alertname": "NbprodFeatureDriftVsTraining",
                        "exp_alerts": [_expected(by[("plan", "p_training")], "0.0001", feature="plan", **chi2)],
                    },
                    {"eval_time": "11m", "alertname": "NbprodFeatureDriftVsPrevious", "exp_alerts": []},
                ],
            }
        ],
    }
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    out = subprocess.run([promtool(), "test", "rules", "tests.yaml"], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0 and "SUCCESS" in out.stdout, out.stdout + out.stderr


def test_promtool_unit_tests_error_rate_and_latency(tmp_path):
    """Error rate and p99 latency of this service's /predict* only (another service's errors are ignored)."""
    text = render()
    (tmp_path / "alerts.yaml").write_text(text)
    svc = {"service_name": "churn", "endpoint": "/predict"}
    le = [("0.5", "0+60x5 300+0x15"), ("5.0", "0+60x20"), ("+Inf", "0+60x20")]  # from 5m on, every answer > 0.5 s
    series = [
        _series("bentoml_service_request_total", "0+60x20", http_response_code="200", **svc),  # 1 request/s
        _series("bentoml_service_request_total", "0+1x5 5+30x15", http_response_code="500", **svc),  # then 0.5/s fail
        _series(
            "bentoml_service_request_total",
            "0+600x20",
            http_response_code="500",
            service_name="other",
            endpoint="/predict",
        ),
        *[
            _series("bentoml_service_request_duration_seconds_bucket", v, le=b, http_response_code="200", **svc)
            for b, v in le
        ],
    ]
    by = {r["alert"]: r for r in rules(text)}

    def case(at: str, alert: str, description: str = "") -> dict:
        fired = [
            {
                "exp_labels": by[alert]["labels"],
                "exp_annotations": {"summary": by[alert]["annotations"]["summary"], "description": description},
            }
        ]
        return {"eval_time": at, "alertname": alert, "exp_alerts": fired if description else []}

    tests = {
        "rule_files": ["alerts.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    case("4m", "NbprodErrorRate"),
                    case("4m", "NbprodLatencyP99"),
                    case("18m", "NbprodErrorRate", "error rate 33.33% over 5m"),  # 0.5 / (1 + 0.5)
                    case("18m", "NbprodLatencyP99", "p99 latency 4.955s over 5m"),  # interpolated in the 0.5-5 s bucket
                ],
            }
        ],
    }
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    out = subprocess.run([promtool(), "test", "rules", "tests.yaml"], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0 and "SUCCESS" in out.stdout, out.stdout + out.stderr
