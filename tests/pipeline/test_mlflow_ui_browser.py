"""A real browser on the MLflow UI: `vi2clr ui --table 6` prints the compare-runs URL of the
Table 6 runs, headless Chromium opens it, and their metrics are on the page (screenshot saved)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from _support import REPO, VI2CLR, free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
ARTIFACTS = Path(os.environ.get("VI2CLR_TEST_ARTIFACTS", REPO / "test-artifacts"))

pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="Debian packages chromium + chromium-driver not installed (.ci/run installs them)")


@pytest.fixture
def ui(repro):
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.Popen([VI2CLR, "ui", "--table", "6", "--port", str(port)], cwd=repro, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = None
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and url is None:
            line = proc.stdout.readline()
            match = re.search(r"(http://\S+/#/compare-runs\S+)", line)
            url = match.group(1) if match else None
        assert url, "vi2clr ui printed no compare-runs URL"
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_compare_page_of_table6_shows_their_metrics(ui):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--window-size=1600,1200"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(ui)
        wanted = ["image_linear/top1", "voc07_svm/map", "eval:center_only:image-linear:imagenet",
                  "eval:image_only:voc-svm:voc2007"]
        deadline = time.monotonic() + 90
        page = ""
        while time.monotonic() < deadline:
            page = driver.page_source
            if all(w in page for w in wanted):
                break
            time.sleep(1)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "mlflow_compare_table6.png"))
        missing = [w for w in wanted if w not in page]
        assert not missing, f"not on the compare page: {missing}"
        assert "Comparing" in page
    finally:
        driver.quit()
