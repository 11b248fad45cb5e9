"""A real browser on the MLflow UI: `vi2clr ui --table 6` prints the compare-runs URL of the
Table 6 runs, headless Chromium opens it, and their metrics are on the page; a pretraining run's
page draws its per-epoch metric charts; the registered encoder's page lists its versions
(screenshots saved in test-artifacts/)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from _support import REPO, VI2CLR, free_port, tiny_pipeline_params

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
ARTIFACTS = Path(os.environ.get("VI2CLR_TEST_ARTIFACTS", REPO / "test-artifacts"))

pytestmark = [pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                 reason="Debian packages chromium + chromium-driver not installed (.ci/run installs them)"),
              pytest.mark.xdist_group("repro")]  # the worker that runs the session's `dvc repro`


@pytest.fixture(scope="module")
def ui(repro):
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.Popen([VI2CLR, "ui", "--table", "6", "--port", str(port)], cwd=repro, env=env,
                            start_new_session=True,  # its own process group: teardown stops the server's workers too
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
        yield url, f"http://127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--window-size=1600,1200"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def _wait_for(driver, wanted: list[str], seconds: float = 90) -> str:
    """The page source once every string of ``wanted`` is on it (or at the deadline)."""
    deadline = time.monotonic() + seconds
    page = ""
    while time.monotonic() < deadline:
        page = driver.page_source
        if all(w in page for w in wanted):
            break
        time.sleep(1)
    return page


def test_compare_page_of_table6_shows_their_metrics(ui):
    driver = _driver()
    try:
        driver.get(ui[0])
        wanted = ["image_linear/top1", "voc07_svm/map", "eval:center_only:image-linear:imagenet",
                  "eval:image_only:voc-svm:voc2007"]
        page = _wait_for(driver, wanted)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "mlflow_compare_table6.png"))
        missing = [w for w in wanted if w not in page]
        assert not missing, f"not on the compare page: {missing}"
        assert "Comparing" in page
    finally:
        driver.quit()


def test_pretraining_run_page_draws_its_epoch_charts(ui, repro):
    from mlflow.tracking import MlflowClient
    from selenium.webdriver.common.by import By

    client = MlflowClient(f"sqlite:///{repro / 'mlflow.db'}")
    exp = client.get_experiment_by_name("vi2clr")
    run = client.search_runs([exp.experiment_id], "tags.`dvc.stage` = 'pretrain@full' and params.`pretrain.seed` = '0'")[0]
    epochs = tiny_pipeline_params()["pretrain"]["epochs"]
    assert len(client.get_metric_history(run.info.run_id, "epoch/loss_total")) == epochs
    driver = _driver()
    try:
        driver.get(f"{ui[1]}/#/experiments/{exp.experiment_id}/runs/{run.info.run_id}/model-metrics")
        _wait_for(driver, ["Search metric charts"])
        # charts are grouped by prefix (cluster/, epoch/, ...) and drawn lazily: filter to the epoch losses
        driver.find_element(By.CSS_SELECTOR, "input[placeholder*='Search metric charts']").send_keys("loss_")
        page = _wait_for(driver, ["epoch/loss_total", "epoch/loss_center"])
        deadline = time.monotonic() + 60
        plots = []
        while time.monotonic() < deadline and not plots:  # the charts draw after their data arrives
            plots = driver.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .scatterlayer .trace")
            time.sleep(1)
        page = driver.page_source
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "mlflow_pretrain_run_charts.png"))
        missing = [w for w in ("epoch/loss_total", "epoch/loss_center") if w not in page]
        assert not missing, f"no chart titled {missing} on the run page"
        assert plots, "the run page shows chart titles but draws no line"
    finally:
        driver.quit()


def test_registered_video_encoder_page_lists_its_versions(ui, repro):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{repro / 'mlflow.db'}")
    versions = client.search_model_versions("name = 'vi2clr-video-encoder'")
    assert versions, "pretraining registered no vi2clr-video-encoder"
    driver = _driver()
    try:
        driver.get(f"{ui[1]}/#/models/vi2clr-video-encoder")
        newest = max(int(v.version) for v in versions)
        page = _wait_for(driver, ["vi2clr-video-encoder", f"Version {newest}"])
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "mlflow_registered_video_encoder.png"))
        assert f"Version {newest}" in page, "the registered model page lists no versions"
        assert "vi2clr encoder exported by pretraining" in page
    finally:
        driver.quit()
