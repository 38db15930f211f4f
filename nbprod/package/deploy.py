"""Kubernetes manifests for the Bento: ``bentos/<pipeline>/deploy/`` (pure text generation, no cluster needed).

Four files, one object each, so ``kubectl apply -f bentos/<pipeline>/deploy/`` applies them all and a reviewer
diffs them one by one:

- ``deployment.yaml``: the image ``bentoml containerize <bento tag>`` builds (it names the image after the tag),
  port 3000, readiness on ``/readyz``, liveness on ``/livez``, a startup probe while the model loads, resources;
- ``service.yaml``: a ClusterIP Service, port ``http`` (3000);
- ``hpa.yaml``: an ``autoscaling/v2`` HorizontalPodAutoscaler on CPU utilisation;
- ``servicemonitor.yaml``: a Prometheus Operator ``ServiceMonitor`` (``monitoring.coreos.com/v1``) scraping
  the service's ``/metrics`` (BentoML's own metrics and nbprod's drift gauges).

Replicas and resources have defaults and can be set in the project's ``pyproject.toml``:

```toml
[tool.nbprod.deploy]
replicas = 2              # the HPA's minimum (and the Deployment's initial count)
max-replicas = 5
target-cpu-percent = 70
cpu = "250m"              # requests
memory = "512Mi"
cpu-limit = "1"
memory-limit = "1Gi"
```

The text is deterministic (same name, version and settings give the same bytes) and holds no paths.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import yaml

from nbprod.errors import UsageError

__all__ = ["DeploySettings", "deploy_settings", "render_deploy", "k8s_name", "PORT", "DEPLOY_FILES"]

PORT = 3000  # bentoml serve's default, and the port of the image bentoml containerize builds
DEPLOY_FILES = ("deployment.yaml", "service.yaml", "hpa.yaml", "servicemonitor.yaml")
# a Kubernetes resource.Quantity (k8s.io/apimachinery), e.g. 250m, 1, 0.5, 512Mi, 1G
_QUANTITY = re.compile(r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?[0-9]+))?$")


@dataclass(frozen=True)
class DeploySettings:
    replicas: int = 2
    max_replicas: int = 5
    target_cpu_percent: int = 70
    cpu: str = "250m"
    memory: str = "512Mi"
    cpu_limit: str = "1"
    memory_limit: str = "1Gi"


_KEYS = {f.name.replace("_", "-"): f.name for f in fields(DeploySettings)}


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


def _check(key: str, value: Any, path: Path) -> Any:
    where = f"[tool.nbprod.deploy] {key}"
    if key in ("replicas", "max-replicas", "target-cpu-percent"):
        top = 100 if key == "target-cpu-percent" else 1000
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
            raise UsageError(
                f"{where} must be a whole number from 1 to {top}, not {value!r}",
                path=str(path),
                fix=f"e.g. {key} = {getattr(DeploySettings(), _KEYS[key])}",
            )
        return value
    if not isinstance(value, str) or not _QUANTITY.match(value):
        raise UsageError(
            f"{where} must be a Kubernetes quantity string, not {value!r}",
            path=str(path),
            fix=f'e.g. {key} = "{getattr(DeploySettings(), _KEYS[key])}" (CPU: "250m", "1"; memory: "512Mi")',
        )
    return value


def deploy_settings(project: Path) -> DeploySettings:
    """The ``[tool.nbprod.deploy]`` settings of ``project`` (defaults without a pyproject.toml or the table)."""
    path = Path(project) / "pyproject.toml"
    if not path.is_file():
        return DeploySettings()
    table = _toml(path).get("tool", {}).get("nbprod", {}).get("deploy", {})
    if not isinstance(table, dict):
        raise UsageError("[tool.nbprod] deploy must be a table", path=str(path), fix="write it as [tool.nbprod.deploy]")
    unknown = sorted(set(table) - set(_KEYS))
    if unknown:
        raise UsageError(
            f"[tool.nbprod.deploy]: unknown setting {unknown[0]!r}", path=str(path), fix=f"settings: {', '.join(_KEYS)}"
        )
    settings = replace(DeploySettings(), **{_KEYS[k]: _check(k, v, path) for k, v in table.items()})
    if settings.max_replicas < settings.replicas:
        raise UsageError(
            f"[tool.nbprod.deploy] max-replicas ({settings.max_replicas}) is below replicas ({settings.replicas})",
            path=str(path),
            fix="raise max-replicas or lower replicas",
        )
    return settings


def k8s_name(pipeline: str) -> str:
    """The pipeline's name as a Kubernetes object name (RFC 1123 label: lower case, digits, '-'; 63 at most)."""
    name = re.sub(r"[^a-z0-9-]+", "-", pipeline.lower()).strip("-")[:63].rstrip("-")
    return name or "bento"


def _dump(header: str, obj: dict[str, Any]) -> str:
    plain = json.loads(json.dumps(obj))  # no shared sub-objects, hence no YAML anchors
    return header + yaml.safe_dump(plain, sort_keys=False, default_flow_style=False, width=1000)


def _probe(path: str, *, delay: int, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "initialDelaySeconds": delay,
        "periodSeconds": period,
        "timeoutSeconds": 5,
        "failureThreshold": failures,
    }


def _deployment(name: str, image: str, labels: dict[str, str], s: DeploySettings) -> dict[str, Any]:
    container = {
        "name": "bento",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "env": [{"name": "BENTOML_DO_NOT_TRACK", "value": "true"}],
        "resources": {
            "requests": {"cpu": s.cpu, "memory": s.memory},
            "limits": {"cpu": s.cpu_limit, "memory": s.memory_limit},
        },
        # the model loads before /livez answers: up to 5 minutes, then the usual liveness rules apply
        "startupProbe": _probe("/livez", delay=0, period=5, failures=60),
        "livenessProbe": _probe("/livez", delay=0, period=20, failures=3),
        "readinessProbe": _probe("/readyz", delay=0, period=10, failures=3),
        "securityContext": {"allowPrivilegeEscalation": False},
    }
    selector = {"app.kubernetes.io/name": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": s.replicas,
            "selector": {"matchLabels": selector},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }


def render_deploy(pipeline: str, bento_version: str, settings: DeploySettings = DeploySettings()) -> dict[str, str]:
    """``deploy/<file>`` -> text for the Bento ``<pipeline>:<bento_version>`` (see the module docstring)."""
    name = k8s_name(pipeline)
    image = f"{pipeline.lower()}:{bento_version}"  # bentoml containerize tags the image with the Bento tag
    labels = {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/version": bento_version,
        "app.kubernetes.io/component": "model-service",
        "app.kubernetes.io/part-of": "nbprod",
    }
    header = (
        f"# Kubernetes manifest for the Bento {pipeline}:{bento_version}, generated by nbprod package.\n"
        f"# Edit the notebook or [tool.nbprod.deploy] in pyproject.toml, not this file. Apply the folder after\n"
        f"# `bentoml containerize {pipeline}:{bento_version}` (image {image}): kubectl apply -f bentos/{pipeline}/deploy/\n"
    )
    selector = {"app.kubernetes.io/name": name}
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": [{"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": settings.replicas,
            "maxReplicas": settings.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": settings.target_cpu_percent},
                    },
                }
            ],
        },
    }
    monitor = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "selector": {"matchLabels": selector},
            "endpoints": [{"port": "http", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s"}],
        },
    }
    objects = (_deployment(name, image, labels, settings), service, hpa, monitor)
    return {f"deploy/{file}": _dump(header, obj) for file, obj in zip(DEPLOY_FILES, objects)}
