"""Saving the model into the BentoML store and building the Bento, in a child process with its own BENTOML_HOME.

Run as ``python -m nbprod.package.bentoml_child REQUEST.json``; prints one JSON line with the tags. A separate process keeps
BentoML's store singletons bound to the project's ``.nbprod/bentoml`` and keeps BentoML out of nbprod's process.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

__all__ = ["main"]


def main(argv: list[str]) -> int:
    req = json.loads(Path(argv[0]).read_text())
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
    print(json.dumps({"model_tag": model_tag, "bento_tag": str(bento.tag), "bento_path": str(bento.path)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
