"""The canary's router and rollback rule (pure), its events, its settings, and the canary Bento's files."""

import ast
import json
import os

import pytest

from nbprod.errors import ServeError, UsageError
from nbprod.package.canary import (
    BUCKETS,
    CANDIDATE,
    CHAMPION,
    Canary,
    ModelStats,
    Router,
    RuleSettings,
    bucket,
    decide,
    prediction_shift,
    route_key,
)
from nbprod.package.canary_bento import BentoFiles, bento_files, canary_files, canary_version, serving_contract
from nbprod.ui.cli import main
from nbprod.workflow.canary import CanaryPlan, collect_events
from nbprod.workflow.config import load_config
from nbprod.workflow.release import canary_line, history, releases
from tests.conftest import GOLDEN


def test_the_split_is_deterministic_and_close_to_the_percentage():
    router = Router(10)
    keys = [route_key(None, [{"customer": i, "plan": "basic"}]) for i in range(20_000)]
    first = [router.answering(k) for k in keys]
    assert first == [Router(10).answering(k) for k in keys]  # the same request goes to the same model, every time
    share = first.count(CANDIDATE) / len(keys)
    assert 0.094 <= share <= 0.106, share
    assert all(0 <= bucket(k) < BUCKETS for k in keys[:100])
    assert {Router(0).answering(k) for k in keys[:2000]} == {CHAMPION}
    assert {Router(100).answering(k) for k in keys[:2000]} == {CANDIDATE}
    with pytest.raises(ValueError, match="between 0 and 100"):
        Router(101)


def test_the_request_id_routes_and_the_records_key_ignores_key_order():
    assert route_key("abc", [{"a": 1}]) == route_key("abc", [{"b": 2}])
    assert route_key(None, [{"a": 1, "b": 2}]) == route_key(None, [{"b": 2, "a": 1}])
    assert route_key(None, [{"a": 1}]) != route_key(None, [{"a": 2}])


def test_shadow_mode_never_answers_with_the_candidate_but_scores_with_both():
    router = Router(50, shadow=True)
    keys = [route_key(str(i), []) for i in range(5000)]
    assert {router.answering(k) for k in keys} == {CHAMPION}
    assert {tuple(router.scoring(k)) for k in keys} == {(CHAMPION, CANDIDATE)}
    router.rolled_back = True
    assert {tuple(router.scoring(k)) for k in keys} == {(CHAMPION,)}


def test_after_a_rollback_every_request_goes_to_the_champion():
    router = Router(100)
    router.rolled_back = True
    assert {router.answering(route_key(str(i), [])) for i in range(1000)} == {CHAMPION}


def _feed(stats: ModelStats, labels, task="classification"):
    for label in labels:
        stats.observe([label], task)


def test_the_rule_fires_at_the_configured_n_for_a_candidate_that_errors():
    rule = RuleSettings(min_requests=30, error_margin=0.05, shift_margin=0.2)
    champion, candidate = ModelStats(), ModelStats()
    _feed(champion, [0, 1, 0] * 20)
    decisions = []
    for i in range(40):
        if i % 4 == 0:  # a quarter of the candidate's requests fail
            candidate.observe_error()
        else:
            candidate.observe([i % 3 and 0 or 1], "classification")
        decisions.append(decide(champion, candidate, rule, "classification").state)
    assert decisions[:29] == ["collecting"] * 29
    assert decisions[29] == "rollback"
    reason = decide(champion, candidate, rule, "classification").reason
    assert "error rate" in reason and "exceeds the champion's 0.0%" in reason


def test_the_rule_fires_for_a_prediction_shift_and_not_for_an_equal_candidate():
    rule = RuleSettings(min_requests=50)
    champion, same, shifted = ModelStats(), ModelStats(), ModelStats()
    _feed(champion, ["stay"] * 70 + ["churn"] * 30)
    _feed(same, ["stay", "churn", "stay", "stay", "churn", "stay", "stay", "stay", "churn", "stay"] * 10)
    _feed(shifted, ["churn"] * 100)
    held = decide(champion, same, rule, "classification")
    assert held.state == "holding" and held.shift == pytest.approx(0.0)
    gone = decide(champion, shifted, rule, "classification")
    assert gone.state == "rollback" and gone.shift == pytest.approx(0.7) and "label distribution" in gone.reason


def test_an_error_rate_just_at_the_margin_holds():
    rule = RuleSettings(min_requests=20, error_margin=0.1)
    champion, candidate = ModelStats(), ModelStats()
    _feed(champion, [0] * 20)
    _feed(candidate, [0] * 18)
    candidate.observe_error()
    candidate.observe_error()
    assert candidate.error_rate == pytest.approx(0.1)
    assert decide(champion, candidate, rule, "classification").state == "holding"
    candidate.observe_error()
    assert decide(champion, candidate, rule, "classification").state == "rollback"


def test_regression_shift_is_in_champion_standard_deviations():
    champion, close, far = ModelStats(), ModelStats(), ModelStats()
    _feed(champion, [float(v) for v in range(100)], "regression")  # mean 49.5, sd ~28.9
    _feed(close, [float(v) + 2 for v in range(100)], "regression")
    _feed(far, [float(v) + 20 for v in range(100)], "regression")
    assert prediction_shift(champion, close, "regression") == pytest.approx(2 / 28.866, rel=1e-3)
    rule = RuleSettings(min_requests=100, shift_margin=0.5)
    assert decide(champion, close, rule, "regression").state == "holding"
    assert decide(champion, far, rule, "regression").state == "rollback"
    assert prediction_shift(ModelStats(), far, "regression") is None


def test_the_canary_writes_its_events_once_and_a_restarted_worker_stays_rolled_back(tmp_path):
    state = tmp_path / "state"
    canary = Canary(50, settings=RuleSettings(min_requests=5), state_dir=str(state), facts={"candidate_bento": "b:2"})
    for _ in range(5):
        canary.observe(CHAMPION, [0])
        canary.observe(CANDIDATE, [0])
    passed = json.loads((state / "passed.json").read_text())
    assert passed["action"] == "canary-passed" and passed["candidate_bento"] == "b:2"
    assert passed["models"]["candidate"]["requests"] == 5 and not (state / "rollback.json").exists()
    for _ in range(5):
        canary.observe(CANDIDATE, None)
    assert canary.router.rolled_back
    event = json.loads((state / "rollback.json").read_text())
    # 1 error in 6 requests is 16.7% > 5%: the rule fired at the first failed request; the counts go on afterwards
    assert event["action"] == "auto-rollback" and event["models"]["candidate"]["errors"] == 1
    assert event["models"]["candidate"]["requests"] == 6 and canary.stats[CANDIDATE].errors == 5
    assert canary.report()["events"] == ["auto-rollback", "canary-passed"]
    restarted = Canary(50, settings=RuleSettings(min_requests=5), state_dir=str(state))
    assert restarted.router.rolled_back and restarted.router.answering("anything") == CHAMPION


def test_the_canary_settings_come_from_pyproject(tmp_path):
    assert load_config(tmp_path).canary == RuleSettings()
    (tmp_path / "pyproject.toml").write_text(
        "[tool.nbprod.canary]\nmin-requests = 40\nerror-margin = 0.02\nshift-margin = 1\n"
    )
    assert load_config(tmp_path).canary == RuleSettings(40, 0.02, 1.0)
    for body, needle in (
        ("min-request = 4", "did you mean 'min-requests'"),
        ("min-requests = 0", "min-requests must be a whole number >= 1"),
        ("min-requests = 2.5", "min-requests must be a whole number >= 1"),
        ('error-margin = "5%"', "error-margin must be a number >= 0"),
        ("shift-margin = -1", "shift-margin must be a number >= 0"),
    ):
        (tmp_path / "pyproject.toml").write_text(f"[tool.nbprod.canary]\n{body}\n")
        with pytest.raises(UsageError, match=needle) as info:
            load_config(tmp_path)
        assert str(tmp_path / "pyproject.toml") in info.value.render()


def _bento(tag: str, model_tag: str, service: str) -> BentoFiles:
    files = {
        "service.py": service.replace("MODEL_TAG = 'classifier:", f"MODEL_TAG = '{model_tag}' #"),
        "bentofile.yaml": (GOLDEN / "bento_classifier/bentofile.yaml").read_text(),
        "nbprod_drift.py": "# drift\n",
        "nbprod_prediction_log.py": "# prediction log\n",
        "MODEL_CARD.md": "# card\n",
    }
    return BentoFiles(tag, model_tag, "classification", files)


def test_the_canary_bento_files_are_deterministic_and_the_service_parses():
    service = (GOLDEN / "bento_classifier/service.py").read_text()
    champion, candidate = (
        _bento("classifier:aaa", "classifier:m1", service),
        _bento("classifier:bbb", "classifier:m2", service),
    )
    files = canary_files("classifier", champion, candidate, percent=10, shadow=False, rule=RuleSettings(20))
    again = canary_files("classifier", champion, candidate, percent=10, shadow=False, rule=RuleSettings(20))
    assert files == again and canary_version(files) == canary_version(again)
    assert sorted(files) == [
        "MODEL_CARD.md",
        "bentofile.yaml",
        "nbprod_canary.py",
        "nbprod_drift.py",
        "nbprod_model_service.py",
        "nbprod_prediction_log.py",
        "service.py",
    ]
    assert files["nbprod_model_service.py"] == candidate.files["service.py"]  # the reviewed code, unchanged
    ast.parse(files["service.py"])
    assert "CHAMPION_TAG = 'classifier:m1'" in files["service.py"] and "PERCENT = 10.0" in files["service.py"]
    assert "base.ClassifierService.inner.predict_records" in files["service.py"]
    assert "base.ClassifierService.inner.predict_proba_records" in files["service.py"]  # a classifier: both APIs
    assert "- classifier:m1\n- classifier:m2\n" in files["bentofile.yaml"]
    assert "base.nbprod_prediction_log.install(ClassifierCanaryService, 'classifier_canary'" in files["service.py"]
    assert "service: service:ClassifierCanaryService" in files["bentofile.yaml"]
    other = canary_files("classifier", champion, candidate, percent=10, shadow=True, rule=RuleSettings(20))
    assert canary_version(other) != canary_version(files)
    assert "class Record(BaseModel)" in serving_contract(candidate)


def test_the_canary_refuses_a_pair_that_takes_different_requests_or_holds_one_model():
    service = (GOLDEN / "bento_classifier/service.py").read_text()
    champion = _bento("classifier:aaa", "classifier:m1", service)
    changed = _bento("classifier:bbb", "classifier:m2", service.replace("tenure_months: ", "tenure: "))
    with pytest.raises(ServeError, match="differ in their serving code or request schema"):
        canary_files("classifier", champion, changed, percent=10, shadow=False, rule=RuleSettings())
    same = _bento("classifier:bbb", "classifier:m1", service)
    with pytest.raises(ServeError, match="nothing to compare"):
        canary_files("classifier", champion, same, percent=10, shadow=False, rule=RuleSettings())


def test_a_bento_missing_from_the_store_is_a_clear_error(tmp_path):
    with pytest.raises(ServeError, match="not in the project's BentoML store"):
        bento_files(tmp_path, "classifier:nope")


def test_events_become_history_entries_once_and_releases_ignore_them(tmp_path):
    state = tmp_path / "state"
    releases_file = tmp_path / ".nbprod/releases/classifier.json"
    releases_file.parent.mkdir(parents=True)
    releases_file.write_text(json.dumps([{"model_version": "1", "bento_tag": "classifier:a", "at": "t0"}]))
    canary = Canary(10, settings=RuleSettings(min_requests=1), state_dir=str(state), facts={"candidate_bento": "c:b"})
    canary.observe(CHAMPION, [0])
    canary.observe(CANDIDATE, None)
    plan = CanaryPlan(tmp_path, "classifier", "classifier_canary:x", state, {"approval_digest": "d1"})
    seen: set[str] = set()
    [event] = collect_events(plan, seen)
    assert collect_events(plan, seen) == []  # recorded once
    entries = history(tmp_path, "classifier")
    assert [e.get("action") for e in entries] == [None, "auto-rollback"]
    assert entries[1]["approval_digest"] == "d1" and entries[1]["candidate_bento"] == "c:b"
    assert releases(entries) == entries[:1]
    line = canary_line(event)
    assert line.startswith("automatic rollback of Bento c:b") and "candidate 1 requests, 1 errors" in line


def test_cli_canary_needs_a_champion_and_a_percentage(project, capsys):
    nb = "example_notebooks/classifier.ipynb"
    assert main(["serve", nb, "--canary", "0"]) == 2
    assert "--canary takes a percentage between 0 and 100" in capsys.readouterr().err
    assert main(["serve", nb, "--canary", "10", "--champion"]) == 2
    assert "--champion and --canary exclude each other" in capsys.readouterr().err
    code = main(["serve", nb, "--canary", "10"])
    err = capsys.readouterr().err
    assert code != 0 and "a canary needs a champion: nothing is released yet" in err and "Traceback" not in err


def test_the_canary_service_and_bentofile_match_the_golden_files():
    service = (GOLDEN / "bento_classifier/service.py").read_text()
    champion, candidate = (
        _bento("classifier:aaa", "classifier:m1", service),
        _bento("classifier:bbb", "classifier:m2", service),
    )
    files = canary_files(
        "classifier", champion, candidate, percent=10, shadow=False, rule=RuleSettings(20), canary_source="# canary\n"
    )
    for name in ("service.py", "bentofile.yaml"):
        golden = GOLDEN / "canary_classifier" / name
        if os.environ.get("NBPROD_UPDATE_GOLDEN") == "1":
            golden.parent.mkdir(exist_ok=True)
            golden.write_text(files[name])
        assert files[name] == golden.read_text(), name
