"""The panel in a real browser: JupyterLab on 127.0.0.1, a notebook that creates the panel, headless Chromium.

Needs Debian's chromium (/usr/bin/chromium; `make test` installs it) and Playwright's Python package; Playwright's
own browser download is never used. A screenshot is kept in test-artifacts/ as the test's artifact.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import EXAMPLES, ROOT

pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    shutil.copytree(EXAMPLES, tmp_path / "example_notebooks")
    shutil.copytree(ROOT / "expectations", tmp_path / "expectations")
    cell = "import nbprod\npanel = nbprod.panel('example_notebooks/classifier.ipynb')\npanel"
    nb = {
        "cells": [
            {"cell_type": "code", "id": "c0", "metadata": {}, "execution_count": None, "outputs": [], "source": cell}
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (tmp_path / "panel_demo.ipynb").write_text(json.dumps(nb))
    cfg = tmp_path / ".jupyter"
    cfg.mkdir()
    # a temporary settings folder; Ploomber's and nbclassic's server extensions stay off
    (cfg / "jupyter_server_config.json").write_text(
        json.dumps(
            {"ServerApp": {"jpserver_extensions": {"ploomber": False, "ploomber_extension": False, "nbclassic": False}}}
        )
    )
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(cfg),
        JUPYTERLAB_SETTINGS_DIR=str(tmp_path / ".lab-settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / ".lab-ws"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / ".rt"),
        NBPROD_TRACK="0",
        NBPROD_PACKAGE="0",
    )
    port = free_port()
    jupyter = str(Path(sys.executable).with_name("jupyter"))
    log = open(tmp_path / "lab.log", "wb")
    proc = subprocess.Popen(
        [
            jupyter,
            "lab",
            "--no-browser",
            "--allow-root",
            "--ip",
            "127.0.0.1",
            "--port",
            str(port),
            "--ServerApp.token=",
            "--ServerApp.password=",
            f"--ServerApp.root_dir={tmp_path}",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/api/status", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
            assert proc.poll() is None, (tmp_path / "lab.log").read_text()[-2000:]
        yield base, tmp_path
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
        log.close()


def test_panel_renders_in_jupyterlab_and_a_button_works(lab):
    from playwright.sync_api import sync_playwright

    base, project = lab
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: `make test` installs it (apt-get install chromium)"
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{base}/lab/tree/panel_demo.ipynb")
            page.wait_for_selector(".jp-Notebook .jp-Cell .jp-InputArea-editor", timeout=90_000)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator, .jp-KernelStatus", timeout=60_000)
            time.sleep(2)
            page.click(".jp-Cell .jp-InputArea-editor")
            page.keyboard.press("Shift+Enter")
            # the panel renders: its six tabs and the Steps table of the classifier
            for title in ("Steps", "Lint", "Pipeline", "Run", "Verify", "Review"):
                page.wait_for_selector(f".lm-TabBar-tab:has-text('{title}')", timeout=120_000)
            page.wait_for_selector("text=features", timeout=30_000)
            page.click(".lm-TabBar-tab:has-text('Lint')")
            page.wait_for_selector("text=clean", timeout=30_000)
            page.click(".lm-TabBar-tab:has-text('Pipeline')")
            page.wait_for_selector(".jp-OutputArea svg", timeout=30_000)
            # a button works: Refresh review calls nbprod.review and shows its summary
            page.click(".lm-TabBar-tab:has-text('Review')")
            page.click("button:has-text('Refresh')")
            page.wait_for_selector("text=review of pipeline classifier", timeout=120_000)
            page.screenshot(path=str(ARTIFACTS / "panel_review.png"))
        finally:
            browser.close()
    assert (project / ".nbprod/review/classifier.html").exists()  # written by the click, through the kernel
    assert (ARTIFACTS / "panel_review.png").stat().st_size > 10_000
