"""Serve the classifier's built Bento on a free loopback port, call /predict once, print the answer, stop.

Used by `make demo` after `nbprod run` to show that the Bento is servable; run it from the repository root.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from nbprod.workflow.serve import last_bento, serve_command

RECORD = {
    "plan": "basic",
    "region": "north",
    "tenure_months": 3,
    "monthly_charges": 70.5,
    "support_calls": 4,
    "data_usage_gb": 10.0,
}


def main() -> int:
    project = Path(".")
    tag = last_bento(project, "classifier")
    if not tag:
        print("no Bento yet: run `nbprod run example_notebooks/classifier.ipynb` first", file=sys.stderr)
        return 1
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd, env = serve_command(project, tag, port)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        body = json.dumps({"records": [RECORD]}).encode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/predict", data=body, headers={"content-type": "application/json"}
        )
        answer = urllib.request.urlopen(req, timeout=30).read().decode()
        print(f"served {tag} on 127.0.0.1:{port}")
        print(f"POST /predict {json.dumps({'records': [RECORD]})}\n  -> {answer}")
        return 0
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
