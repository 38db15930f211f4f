"""``bentos/<name>/deploy/``: golden manifests for both examples, validated offline against the Kubernetes 1.37 schemas
(``kubernetes-validate``, strict: unknown fields fail) and the ServiceMonitor against a JSON schema written from the
prometheus-operator CRD (``tests/schemas/servicemonitor-v1.json``); broken manifests fail both validators; the
``[tool.nbprod.deploy]`` settings and their errors; the packager writes the folder next to the build context."""

from __future__ import annotations

import json
import os
import re

import jsonschema
import kubernetes_validate
import pytest
import yaml

from nbprod.errors import UsageError
from nbprod.notebook.reader import read_notebook
from nbprod.package.deploy import DEPLOY_FILES, DeploySettings, deploy_settings, k8s_name, render_deploy
from nbprod.plan.build import build_plan
from nbprod.ui.cli import main
from nbprod.workflow.config import load_config
from tests.conftest import EXAMPLES, GOLDEN

K8S = "1.37.0"
VERSION = "0123456789ab"
MONITOR_SCHEMA = json.loads((GOLDEN.parent / "schemas" / "servicemonitor-v1.json").read_text())


def validate(obj: dict) -> None:
    """One manifest: the ServiceMonitor (a CRD) against the vendored schema, the rest against Kubernetes' own."""
    if obj["kind"] == "ServiceMonitor":
        jsonschema.validate(obj, MONITOR_SCHEMA, cls=jsonschema.Draft7Validator)
    else:
        kubernetes_validate.validate(obj, K8S, strict=True)


def normalise(text: str, version: str) -> str:
    return text.replace(version, "<version>")


def manifests(files: dict[str, str]) -> dict[str, dict]:
    return {path: yaml.safe_load(text) for path, text in files.items()}


@pytest.mark.parametrize("example", ["regression", "classifier"])
def test_the_manifests_of_each_example_match_their_golden_files_and_validate(example):
    plan = build_plan(read_notebook(EXAMPLES / f"{example}.ipynb", display_path=f"example_notebooks/{example}.ipynb"))
    files = render_deploy(plan.name, VERSION)
    assert sorted(files) == sorted(f"deploy/{f}" for f in DEPLOY_FILES)
    for path, text in files.items():
        golden = GOLDEN / f"deploy_{example}" / path.removeprefix("deploy/")
        if os.environ.get("NBPROD_UPDATE_GOLDEN") == "1":
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_text(normalise(text, VERSION))
        assert normalise(text, VERSION) == golden.read_text(), path
        assert "/tmp" not in text and "/work" not in text  # no absolute paths
    assert render_deploy(plan.name, VERSION) == files  # deterministic
    objs = manifests(files)
    for obj in objs.values():
        validate(obj)
    deployment = objs["deploy/deployment.yaml"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"{example}:{VERSION}"  # what `bentoml containerize example:VERSION` builds
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
    assert container["ports"] == [{"name": "http", "containerPort": 3000, "protocol": "TCP"}]
    pods = deployment["spec"]["template"]["metadata"]["labels"]
    # the Service, the Deployment's selector and the ServiceMonitor all select the pods of the template
    for selector in (
        objs["deploy/service.yaml"]["spec"]["selector"],
        deployment["spec"]["selector"]["matchLabels"],
        objs["deploy/servicemonitor.yaml"]["spec"]["selector"]["matchLabels"],
    ):
        assert selector.items() <= pods.items()
    assert (
        objs["deploy/servicemonitor.yaml"]["spec"]["endpoints"][0] | {"port": "http", "path": "/metrics"}
        == (objs["deploy/servicemonitor.yaml"]["spec"]["endpoints"][0])
    )
    assert (
        objs["deploy/service.yaml"]["metadata"]["labels"].items()
        >= objs["deploy/servicemonitor.yaml"]["spec"]["selector"]["matchLabels"].items()
    )  # the ServiceMonitor selects the Service by its labels
    assert objs["deploy/hpa.yaml"]["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]


def _broken(kind: str, mutate) -> dict:
    objs = {o["kind"]: o for o in manifests(render_deploy("classifier", VERSION)).values()}
    obj = objs[kind]
    mutate(obj)
    return obj


@pytest.mark.parametrize(
    "kind, mutate, needle",
    [
        (  # a probe port that is neither a number nor a port name
            "Deployment",
            lambda o: o["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"].update(port=3000.5),
            "readinessProbe",
        ),
        ("Deployment", lambda o: o["spec"].update(replicas="two"), "replicas"),
        ("Service", lambda o: o["spec"]["ports"][0].update(port="3000"), "port"),
        ("Service", lambda o: o["spec"].update(selectr={"a": "b"}), "selectr"),  # strict: unknown field
        ("HorizontalPodAutoscaler", lambda o: o["spec"].pop("maxReplicas"), "maxReplicas"),
        ("ServiceMonitor", lambda o: o["spec"]["endpoints"][0].update(interval="30 seconds"), "30 seconds"),
        ("ServiceMonitor", lambda o: o["spec"].pop("selector"), "selector"),
        ("ServiceMonitor", lambda o: o["spec"]["endpoints"][0].update(pth="/metrics"), "pth"),
    ],
)
def test_a_broken_manifest_fails_validation(kind, mutate, needle):
    with pytest.raises((kubernetes_validate.ValidationError, jsonschema.ValidationError)) as info:
        validate(_broken(kind, mutate))
    assert needle in str(info.value)


def test_kubernetes_validate_has_no_schema_for_the_crd():
    """Why the ServiceMonitor needs the vendored schema: the Kubernetes schemas do not know it."""
    monitor = next(o for o in manifests(render_deploy("x", VERSION)).values() if o["kind"] == "ServiceMonitor")
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        kubernetes_validate.validate(monitor, K8S, strict=True)


def test_settings_from_pyproject_reach_the_manifests(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.nbprod]\napproval-card-fields = ["owners"]\n\n[tool.nbprod.deploy]\nreplicas = 3\nmax-replicas = 9\n'
        'target-cpu-percent = 55\ncpu = "500m"\nmemory = "2Gi"\ncpu-limit = "2"\nmemory-limit = "4Gi"\n'
    )
    settings = deploy_settings(tmp_path)
    assert settings == DeploySettings(3, 9, 55, "500m", "2Gi", "2", "4Gi")
    assert load_config(tmp_path).approval_card_fields == ("owners",)  # the rest of [tool.nbprod] still reads
    objs = {o["kind"]: o for o in manifests(render_deploy("churn_model", VERSION, settings)).values()}
    for obj in objs.values():
        validate(obj)
    container = objs["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"] == {
        "requests": {"cpu": "500m", "memory": "2Gi"},
        "limits": {"cpu": "2", "memory": "4Gi"},
    }
    assert objs["Deployment"]["spec"]["replicas"] == 3
    hpa = objs["HorizontalPodAutoscaler"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 9)
    assert hpa["metrics"][0]["resource"]["target"]["averageUtilization"] == 55
    assert objs["Service"]["metadata"]["name"] == "churn-model"  # an RFC 1123 name; the image keeps the Bento's
    assert container["image"] == f"churn_model:{VERSION}"
    assert deploy_settings(tmp_path / "nowhere") == DeploySettings()


@pytest.mark.parametrize(
    "table, needle",
    [
        ("replicas = 0", "replicas must be a whole number from 1 to 1000, not 0"),
        ("replicas = true", "replicas must be a whole number"),
        ("target-cpu-percent = 150", "target-cpu-percent must be a whole number from 1 to 100"),
        ('memory = "lots"', "memory must be a Kubernetes quantity string, not 'lots'"),
        ("cpu = 1", "cpu must be a Kubernetes quantity string, not 1"),
        ("replica = 2", "unknown setting 'replica'"),
        ("replicas = 4\nmax-replicas = 2", "max-replicas (2) is below replicas (4)"),
    ],
)
def test_bad_settings_are_clear_errors_naming_pyproject(tmp_path, table, needle):
    (tmp_path / "pyproject.toml").write_text(f"[tool.nbprod.deploy]\n{table}\n")
    with pytest.raises(UsageError) as info:
        deploy_settings(tmp_path)
    assert needle in str(info.value) and str(tmp_path / "pyproject.toml") in str(info.value)
    assert info.value.fix


def test_kubernetes_names():
    assert k8s_name("classifier") == "classifier"
    assert k8s_name("Churn_Model.v2") == "churn-model-v2"
    assert k8s_name("_x_") == "x" and k8s_name("___") == "bento"
    assert len(k8s_name("a" * 80)) == 63


def test_package_writes_deploy_next_to_the_build_context(tmp_path, write_nb, monkeypatch, capsys):
    """``nbprod package --no-build`` on products written by hand: deploy/ is in the folder it swaps in, and the
    image is the Bento tag the build would give (the version is a digest of the other files)."""
    from nbprod.package.packager import bento_version
    from tests.test_package import _project

    monkeypatch.chdir(tmp_path)
    _project(tmp_path, write_nb, "def preprocess(raw):\n    return raw[['a']]\n")
    (tmp_path / "pyproject.toml").write_text("[tool.nbprod.deploy]\nreplicas = 4\nmax-replicas = 4\n")
    assert main(["package", "nb.ipynb", "--no-build"]) == 0
    assert "deploy/deployment.yaml" in capsys.readouterr().out
    bento = tmp_path / "bentos/nb"
    context = {p.relative_to(bento).as_posix(): p.read_text() for p in bento.rglob("*") if p.is_file()}
    deploy = {k: v for k, v in context.items() if k.startswith("deploy/")}
    version = bento_version({k: v for k, v in context.items() if not k.startswith("deploy/")})
    assert deploy == render_deploy("nb", version, deploy_settings(tmp_path))
    assert (
        f"image: nb:{version}" in deploy["deploy/deployment.yaml"] and "replicas: 4" in deploy["deploy/deployment.yaml"]
    )
    assert re.search(r"^- deploy", context["bentofile.yaml"], re.M) is None  # the manifests stay out of the Bento
    (tmp_path / "pyproject.toml").write_text("[tool.nbprod.deploy]\nreplicas = -1\n")
    assert main(["package", "nb.ipynb", "--no-build"]) != 0
    assert "replicas must be a whole number" in capsys.readouterr().err
    assert (bento / "deploy/deployment.yaml").read_text() == deploy["deploy/deployment.yaml"]  # the last one stays
