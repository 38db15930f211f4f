"""Everything that talks to BentoML, in a child process with the project's own ``BENTOML_HOME``.

A separate process keeps BentoML's store singletons bound to the project's ``.nbprod/bentoml`` and keeps BentoML
out of nbprod's process. The parent side (no BentoML import) is :func:`build`, :func:`label` and
:func:`serve_command`; the child side is ``python -m nbprod.package.bentoml_child VERB ARGS...``, whose stdout is
the protocol (one JSON line):

- ``build REQUEST.json``: save the model into the store (unless it is there) and build the Bento (unless it is
  there); prints ``{"model_tag", "bento_tag", "bento_path"}``. ``python -m nbprod.package.bentoml_child
  REQUEST.json`` (no verb) still means ``build``.
- ``wait [MODULE...]``: import BentoML (and the modules), then read a request file and a build context (two lines
  on stdin) and ``build`` it (what :class:`Builder` starts ahead of time).
- ``label BENTO_TAG LABELS_JSON``: add labels to a built Bento's ``bento.yaml``; prints ``{"bento_tag"}``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from nbprod._core.env import TELEMETRY_OPT_OUT
from nbprod._core.fsutil import atomic_write_text
from nbprod.errors import NbprodError, RunError

__all__ = ["build", "Builder", "label", "serve_command", "child_env", "main"]


# --- parent side -------------------------------------------------------------------------------------------------


def child_env(bentoml_home: Path) -> dict[str, str]:
    """The environment of a BentoML child process: nbprod's telemetry opt-outs and the project's store."""
    return dict(os.environ, **TELEMETRY_OPT_OUT, BENTOML_HOME=str(bentoml_home))


def _run(verb: str, args: list[str], bentoml_home: Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nbprod.package.bentoml_child", verb, *args],
        capture_output=True,
        text=True,
        env=child_env(bentoml_home),
        cwd=None if cwd is None else str(cwd),
    )


def build(bentoml_home: Path, request: dict[str, Any], request_file: Path, build_ctx: Path) -> dict[str, str]:
    """Save the model and build the Bento described by ``request`` (written to ``request_file``) from the build
    context ``build_ctx``; returns the tags and the Bento's path. Raises RunError with BentoML's last lines."""
    atomic_write_text(request_file, json.dumps(request))
    proc = _run("build", [str(request_file)], bentoml_home, cwd=build_ctx)
    return _built(proc.returncode, proc.stdout, proc.stderr, build_ctx)


def _built(returncode: int, stdout: str, stderr: str, build_ctx: Path) -> dict[str, str]:
    if returncode != 0 or not stdout.strip():
        tail = "\n".join(stderr.strip().splitlines()[-8:])
        raise RunError(
            f"building the Bento failed:\n{tail}",
            path=str(build_ctx / "bentofile.yaml"),
            fix="read the error above; the previous Bento in .nbprod/bentoml is untouched",
        )
    return json.loads(stdout.strip().splitlines()[-1])


class Builder:
    """A BentoML child started ahead of time (verb ``wait``): it imports BentoML while something else runs (the
    MLflow tracking, in ``nbprod run``), then builds the one request :meth:`build` sends it. ``with Builder(home)
    as b: b.build(...)``; :meth:`build` takes the arguments of :func:`build` and returns the same."""

    def __init__(self, bentoml_home: Path, modules: Sequence[str] = ()) -> None:
        self.bentoml_home, self.modules = bentoml_home, list(modules)
        self.proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> "Builder":
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "nbprod.package.bentoml_child", "wait", *self.modules],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(self.bentoml_home),
        )
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.proc is not None and self.proc.poll() is None:  # not used: nothing to keep
            self.proc.kill()
            self.proc.communicate()

    def build(self, bentoml_home: Path, request: dict[str, Any], request_file: Path, build_ctx: Path) -> dict[str, str]:
        assert self.proc is not None and bentoml_home == self.bentoml_home
        atomic_write_text(request_file, json.dumps(request))
        out, err = self.proc.communicate(f"{request_file}\n{build_ctx.resolve()}\n")
        return _built(self.proc.returncode, out, err, build_ctx)


def label(bentoml_home: Path, bento_tag: str, labels: dict[str, str]) -> None:
    """Add ``labels`` to the built Bento ``bento_tag``."""
    proc = _run("label", [bento_tag, json.dumps(labels)], bentoml_home)
    if proc.returncode != 0:
        raise NbprodError(
            f"labelling Bento {bento_tag} failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr else ''}",
            fix="check that the Bento exists: bentoml list (with BENTOML_HOME=.nbprod/bentoml)",
        )


def serve_command(bentoml_home: Path, bento_tag: str, port: int) -> tuple[list[str], dict[str, str]]:
    """The ``bentoml serve`` command (on 127.0.0.1) and its environment."""
    bentoml = str(Path(sys.executable).with_name("bentoml"))
    return [bentoml, "serve", bento_tag, "--host", "127.0.0.1", "--port", str(port)], child_env(bentoml_home)


# --- child side --------------------------------------------------------------------------------------------------


def _build(request_file: str) -> dict[str, str]:
    req = json.loads(Path(request_file).read_text())
    import bentoml
    from bentoml.exceptions import NotFound

    model_tag = req["model_tag"]
    try:
        bentoml.models.get(model_tag)
    except NotFound:
        with bentoml.models.create(model_tag, labels=req["model_labels"], metadata=req["model_metadata"]) as model:
            for name, src in req["model_files"].items():
                shutil.copyfile(src, model.path_of(name))
    bento_tag = f"{req['name']}:{req['bento_version']}"
    try:
        bento = bentoml.bentos.get(bento_tag)
    except NotFound:
        bento = bentoml.bentos.build_bentofile(
            "bentofile.yaml",
            build_ctx=req["build_ctx"],
            version=req["bento_version"],
            labels=req.get("bento_labels") or None,
        )
    return {"model_tag": model_tag, "bento_tag": str(bento.tag), "bento_path": str(bento.path)}


def _label(bento_tag: str, labels_json: str) -> dict[str, str]:
    import bentoml
    import yaml

    path = bentoml.bentos.get(bento_tag).path_of("bento.yaml")
    with open(path) as fh:
        data = yaml.safe_load(fh)
    data.setdefault("labels", {}).update(json.loads(labels_json))
    with open(path, "w") as fh:
        fh.write(yaml.safe_dump(data, sort_keys=False))
    return {"bento_tag": bento_tag}


#: what building a Bento imports besides BentoML: the generated service.py is imported to check it
_SERVICE_MODULES = ("_bentoml_sdk", "numpy", "pandas", "pydantic", "joblib")
#: what ``build_bentofile`` imports only when it builds (its Dockerfile templates, requirement parsing, OpenAPI):
#: 0.2-0.3 s after the tracking otherwise
_BUILD_MODULES = (
    "_bentoml_impl.docker",
    "_bentoml_sdk.service.openapi",
    "bentoml._internal.configuration.v2",
    "bentoml._internal.container.frontend.dockerfile.templates",
    "jinja2.ext",
    "packaging.requirements",
    "packaging.tags",
    "pip_requirements_parser",
    "tomli_w",
)


def _wait(*modules: str) -> dict[str, str]:
    """BentoML, what the service imports and ``modules`` (the notebook's imports) imported now; then build the
    request whose file and build context arrive on stdin (two lines)."""
    import importlib

    import bentoml.bentos  # noqa: F401
    import bentoml.models  # noqa: F401

    for name in (*_SERVICE_MODULES, *modules, *_BUILD_MODULES):
        try:
            importlib.import_module(name)
        except Exception as exc:  # only a head start: the build reports what really fails
            print(f"importing {name} failed: {type(exc).__name__}: {exc}", file=sys.stderr)

    request_file, build_ctx = (sys.stdin.readline().strip(), sys.stdin.readline().strip())
    if not request_file:  # the parent did not need a build after all
        sys.exit(0)
    os.chdir(build_ctx)
    return _build(request_file)


def main(argv: list[str]) -> int:
    if argv and argv[0].endswith(".json"):  # the verb-less form of earlier releases
        argv = ["build", *argv]
    #: verb -> (function, number of arguments; None: any number)
    verbs: dict[str, tuple[Callable[..., dict[str, str]], int | None]] = {
        "build": (_build, 1),
        "label": (_label, 2),
        "wait": (_wait, None),
    }
    arity = verbs[argv[0]][1] if argv and argv[0] in verbs else -1
    if arity == -1 or (arity is not None and len(argv) != arity + 1):
        usage = "usage: python -m nbprod.package.bentoml_child build REQUEST.json | label BENTO_TAG LABELS_JSON"
        print(usage + " | wait [MODULE...]", file=sys.stderr)
        return 2
    verb, _ = verbs[argv[0]]
    print(json.dumps(verb(*argv[1:])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
