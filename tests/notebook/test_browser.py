"""The playground in a real browser: JupyterLab on loopback, driven by headless Chromium.

JupyterLab starts in the test on 127.0.0.1 with a random token; Debian's Chromium and
chromedriver open the example notebook, run all cells, then press the Studio's Generate
button. The test reads the page as rendered (widget DOM, images) and keeps screenshots in
``.artifacts/notebook/`` (``$CAPTIONKIT_ARTIFACTS`` moves it). Without a browser or its
driver the test skips and says why; ``.ci/run`` installs both.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("jupyterlab")
pytest.importorskip("ipywidgets")
pytest.importorskip("diffusers")
webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "examples" / "playground.ipynb"
ARTIFACTS = Path(os.environ.get("CAPTIONKIT_ARTIFACTS") or ROOT / ".artifacts") / "notebook"


def _browser() -> tuple[str, str]:
    browser = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"),
                                "/usr/lib/chromium/chromium") if p and os.path.exists(p)), None)
    driver = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver") else None)
    if browser is None or driver is None:
        pytest.skip("headless Chromium cannot start: chromium and chromedriver are not installed "
                    "(apt-get install chromium chromium-driver)")
    return browser, driver


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except OSError:
        return 0


class Lab:
    """A JupyterLab server on 127.0.0.1, isolated from the user's Jupyter settings."""

    def __init__(self, root: Path, home: Path) -> None:
        self.port = _free_port()
        self.token = secrets.token_hex(16)
        self.log = (home / "jupyterlab.log").open("wb")
        env = {
            **os.environ,
            "CAPTIONKIT_MODEL": "tiny",
            "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
            "JUPYTER_CONFIG_DIR": str(home / "config"),
            "JUPYTER_DATA_DIR": str(home / "data"),
            "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
            "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
            "IPYTHONDIR": str(home / "ipython"),
        }
        env.pop("IDEOGRAM_API_KEY", None)
        # no "get Jupyter news?" toast over the page
        news = home / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
        news.parent.mkdir(parents=True, exist_ok=True)
        news.write_text('{"fetchNews": "false"}', encoding="utf-8")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
             "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
             f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={root}",
             "--LabApp.expose_app_in_browser=True"],
            stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
        deadline = time.monotonic() + 180
        while _get(self.url("api/status")) != 200:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"JupyterLab did not start; see {home / 'jupyterlab.log'}")
            time.sleep(0.5)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}?token={self.token}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            # the server shuts its kernels down on SIGINT twice (like ctrl-c, confirm)
            self.proc.send_signal(signal.SIGINT)
            time.sleep(0.5)
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.log.close()


def _wait(driver, script: str, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = driver.execute_script(script)
        except WebDriverException as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


NOTEBOOK_READY = """
const app = window.jupyterapp; if (!app) return false;
const panel = app.shell.currentWidget;
if (!panel || !panel.sessionContext || !panel.content) return false;
const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
return !!kernel && kernel.status === 'idle';
"""

ALL_RAN = """
const panel = window.jupyterapp.shell.currentWidget;
const kernel = panel.sessionContext.session.kernel;
const cells = panel.content.widgets.filter(c => c.model.type === 'code');
return kernel.status === 'idle' && cells.every(c => c.model.executionCount !== null && c.promptNode.textContent.indexOf('*') < 0);
"""

ERRORS = """
return Array.from(document.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"], .jp-RenderedText[data-mime-type="application/vnd.jupyter.error"]'))
  .map(e => e.textContent).filter(t => t.indexOf('Traceback') >= 0 || t.indexOf('Error') >= 0);
"""


def test_playground_runs_in_jupyterlab_with_chromium(tmp_path):
    browser, chromedriver = _browser()
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(NOTEBOOK, work / NOTEBOOK.name)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    lab = Lab(work, tmp_path)
    driver = None
    try:
        options = webdriver.ChromeOptions()
        options.binary_location = browser
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    "--window-size=1400,2600", "--no-first-run", f"--user-data-dir={tmp_path / 'chromium'}"):
            options.add_argument(arg)
        try:
            driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
        except WebDriverException as exc:
            pytest.skip(f"headless Chromium cannot start here: {str(exc.msg or exc).splitlines()[0]}")
        driver.set_script_timeout(60)
        driver.get(lab.url(f"lab/tree/{NOTEBOOK.name}"))
        _wait(driver, NOTEBOOK_READY, 240, "the notebook and an idle kernel")
        driver.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        _wait(driver, ALL_RAN, 600, "every cell to run")
        assert driver.execute_script(ERRORS) == []

        # the Studio panel's widgets, rendered by the ipywidgets front end
        def texts(selector):
            return [e.text.strip() for e in driver.find_elements(By.CSS_SELECTOR, selector)]

        buttons = texts(".jp-OutputArea-output button.widget-button")
        assert {"Expand", "Apply safe fixes", "Generate", "Cancel"} <= set(buttons), buttons
        editors = driver.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output .widget-textarea textarea")
        assert any('"A red kite over a green hill."' in (e.get_attribute("value") or "") for e in editors)
        assert len(driver.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output .widget-dropdown select")) >= 3
        # images: the caption preview, the generate() output and the Studio's layout preview
        rendered = driver.execute_script(
            "return Array.from(document.querySelectorAll('.jp-OutputArea-output img'))"
            ".filter(i => i.complete && i.naturalWidth > 0).map(i => [i.alt || i.className, i.naturalWidth, i.naturalHeight]);")
        alts = [alt for alt, _, _ in rendered]
        assert "layout preview" in alts and "render, seed 7" in alts, rendered
        assert any("widget-image" in alt for alt in alts), rendered
        assert driver.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output .ck-memory")

        # press Generate in the page: the click goes to the kernel, the render runs, the panel updates
        generate = next(b for b in driver.find_elements(By.CSS_SELECTOR, "button.widget-button") if b.text.strip() == "Generate")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", generate)
        generate.click()
        _wait(driver, "return Array.from(document.querySelectorAll('button.widget-button'))"
                      ".some(b => b.textContent.trim() === 'load this recipe');", 300, "the history strip after Generate")
        status = driver.execute_script(
            "return Array.from(document.querySelectorAll('.widget-html-content')).map(e => e.textContent)"
            ".filter(t => t.indexOf('s/step') >= 0);")
        assert status, "no timing line after Generate"
        widths = driver.execute_script(
            "return Array.from(document.querySelectorAll('img.widget-image')).map(i => i.naturalWidth);")
        assert 256 in widths and 150 in widths, widths  # the new 256 px image and its history thumbnail
        panel = driver.find_element(By.CSS_SELECTOR, ".jp-OutputArea-output .widget-vbox")
        driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", panel)
        time.sleep(1)
        driver.save_screenshot(str(ARTIFACTS / "studio-browser.png"))
        panel.screenshot(str(ARTIFACTS / "studio-panel.png"))
        assert (ARTIFACTS / "studio-browser.png").stat().st_size > 10_000

        # type a caption with its keys out of order: live diagnostics, then the one-click safe fix
        editor = next(e for e in driver.find_elements(By.CSS_SELECTOR, ".widget-vbox .widget-textarea textarea")
                      if '"A red kite over a green hill."' in (e.get_attribute("value") or ""))
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", editor)
        editor.click()
        editor.send_keys(Keys.CONTROL, "a")
        editor.send_keys(Keys.DELETE)
        editor.send_keys('{"compositional_deconstruction":{"elements":[],"background":"A calm lake."}}')
        badges = "return Array.from(document.querySelectorAll('.widget-vbox .ck-badge')).map(b => b.textContent)"
        _wait(driver, badges + ".includes('✗ 1 error');", 120, "the live diagnostics to show the error")
        _wait(driver, "return Array.from(document.querySelectorAll('button.widget-button'))"
                      ".some(b => b.textContent.trim() === 'Apply safe fixes' && !b.disabled);", 60, "the fix button")
        fix = next(b for b in driver.find_elements(By.CSS_SELECTOR, "button.widget-button") if b.text.strip() == "Apply safe fixes")
        fix.click()
        _wait(driver, badges + ".includes('✓ verified');", 120, "the fixed caption to verify")
        fixed = editor.get_attribute("value")
        assert fixed.index('"background"') < fixed.index('"elements"')
    finally:
        if driver is not None:
            driver.quit()
        lab.stop()
