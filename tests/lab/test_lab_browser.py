"""04-load-test.ipynb in a real browser: JupyterLab + Chromium (Playwright), Run All Cells.

Starts ``jupyter lab`` on 127.0.0.1 (a free port, a token) on a temporary copy of the
notebook, opens it in Debian's Chromium driven by Playwright, runs every cell from the
``Run`` menu, and checks that the Originator panel and the dashboard's canvas render and
that the offered counter moves. A screenshot goes to ``test-artifacts/``.

Needs ``/usr/bin/chromium`` (or ``$SWITCHIO_LAB_CHROMIUM``): without it the test fails
when ``$CI`` is set (CI installs it) and is skipped otherwise.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = "04-load-test.ipynb"
CHROMIUM = os.environ.get("SWITCHIO_LAB_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
DEADLINE = 80.0  # seconds for the whole test


def _need_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    message = (f"Chromium not found at {CHROMIUM}: install Debian's `chromium` package "
               "(the CI script does) or set SWITCHIO_LAB_CHROMIUM")
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(url: str, proc: subprocess.Popen, timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"jupyter lab not ready after {timeout:g} s")


#: a hot-swap of the notebook's Answer app whose hangup callback raises: the calls still
#: go through, and the error must show in this cell's output and on the dashboard
FAILING_APP = """%load_ext switchio_lab
%%app --id answer
class Answer:
    @switchio.callback("CHANNEL_PARK")
    def on_park(self, sess):
        if sess.is_inbound():
            sess.answer()

    @switchio.callback("CHANNEL_HANGUP")
    def on_hangup(self, sess):
        raise RuntimeError("deliberate app error")
"""


def _copy_with_a_failing_app(src: Path, dst: Path) -> None:
    import json

    nb = json.loads(src.read_text())
    cells = nb["cells"]
    at = next(i for i, c in enumerate(cells) if "await lab.load_app(Answer" in "".join(
        c["source"])) + 1
    load, app = FAILING_APP.split("\n", 1)
    for k, text in enumerate((load, app)):
        cells.insert(at + k, {"cell_type": "code", "execution_count": None, "metadata": {},
                              "outputs": [], "source": text.splitlines(keepends=True)})
    dst.write_text(json.dumps(nb))


@pytest.fixture
def jupyter(tmp_path: Path):
    """A JupyterLab server on a copy of the notebook: (base url, token, log path)."""
    _need_chromium()  # before starting anything
    work = tmp_path / "notebooks"
    work.mkdir()
    _copy_with_a_failing_app(ROOT / "notebooks" / NOTEBOOK, work / NOTEBOOK)
    token = secrets.token_hex(16)
    port = _free_port()
    env = dict(os.environ, JUPYTER_PLATFORM_DIRS="1", JUPYTER_RUNTIME_DIR=str(tmp_path / "rt"),
               PYTHONUNBUFFERED="1")
    log_path = tmp_path / "jupyter.log"
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
           f"--port={port}", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
           f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
           f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
           "--LabApp.news_url=", "--LabApp.check_for_updates_class="
           "jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "getuid") and os.getuid() == 0:
        cmd.append("--allow-root")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                cwd=work, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(f"{base}/api/status?token={token}", proc, 30)
        yield base, token, log_path
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _shoot_dashboard(page, path: Path) -> None:
    """A screenshot of the dashboard (its status line and six figures), kept in
    test-artifacts/ for a person to look at."""
    output = page.locator(".jp-OutputArea-output:has(.switchio-dashboard-status)").first
    try:
        output.screenshot(path=str(path), timeout=10_000)  # scrolls it into view itself
    except Exception:  # Run All scrolls the notebook meanwhile: the page as it is
        page.screenshot(path=str(path))


def test_load_test_notebook_runs_in_jupyterlab(jupyter) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    base, token, log_path = jupyter
    start = time.monotonic()
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "04-load-test.png"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.set_default_timeout(30_000)
            page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={token}")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=45_000)
            # JupyterLab may ask which kernel to use (the notebook names python3): accept
            select = page.locator(".jp-Dialog .jp-mod-accept")
            try:
                select.wait_for(state="visible", timeout=8_000)
                select.click()
            except PlaywrightTimeout:
                pass
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator, .jp-StatusBar-TextItem"
                                   ":has-text('Idle')", timeout=30_000)
            page.click(".lm-MenuBar-itemLabel:text-is('Run')")
            page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")

            offered = page.locator(".switchio-originator-panel .switchio-offered")
            offered.first.wait_for(state="attached", timeout=40_000)
            seen: list[str] = []
            canvas_ok = during = False
            end = time.monotonic() + 30
            while time.monotonic() < end:
                text = offered.first.text_content() or ""
                if not seen or seen[-1] != text:
                    seen.append(text)
                if not canvas_ok:
                    canvas_ok = page.locator(".bk-Canvas canvas, .bk-Canvas").count() > 0
                if canvas_ok and not during and text.isdigit() and 10 <= int(text) < 60:
                    during = True  # the dashboard mid-run
                    _shoot_dashboard(page, ARTIFACTS / "04-dashboard-during.png")
                if text == "60" and canvas_ok:
                    break
                time.sleep(0.1)
            page.locator(".switchio-originator-panel").first.scroll_into_view_if_needed()
            page.wait_for_timeout(500)
            page.screenshot(path=str(shot))
            assert canvas_ok, "the dashboard's Bokeh canvas never rendered"
            assert seen and seen[-1] == "60", f"offered counter: {seen}"
            assert len(seen) >= 2, f"the offered counter did not move: {seen}"
            assert page.locator(".switchio-originator-panel .switchio-state").count() == 1
            # the notebook ran to its end: the last print shows the message counts
            page.locator(".jp-OutputArea-output", has_text="comm messages").wait_for(
                timeout=30_000)
            errors = page.locator(".jp-OutputArea-output .ansi-red-fg, "
                                  ".jp-RenderedText[data-mime-type="
                                  "'application/vnd.jupyter.error']")
            assert errors.count() == 0, errors.first.text_content()
            page.screenshot(path=str(ARTIFACTS / "04-load-test-end.png"))
            # the app's errors are in the output of the cell that loaded it ...
            app_errors = page.locator(".switchio-lab-app-errors")
            app_errors.first.wait_for(timeout=10_000)
            text = app_errors.first.text_content() or ""
            assert "deliberate app error" in text and "CHANNEL_HANGUP" in text, text
            app_errors.first.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "04-app-errors.png"))
            # ... and counted on the dashboard, whose MOS says these calls had no audio
            status = page.locator(".switchio-dashboard-status").first
            assert "app errors: " in (status.text_content() or "")
            assert "app errors: 0" not in (status.text_content() or "")
            assert "no audio" in (page.locator(".switchio-mos-status").first
                                  .text_content() or "")
            _shoot_dashboard(page, ARTIFACTS / "04-dashboard-after.png")
            # a reload of the page, same kernel: the dashboard comes back as it was
            before = status.text_content()
            page.keyboard.press("Control+s")  # the outputs (widget views) go with the file
            page.wait_for_selector(".jp-mod-dirty", state="detached", timeout=15_000)
            page.reload()
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=45_000)
            page.locator(".switchio-dashboard-status").first.wait_for(timeout=30_000)
            page.locator(".bk-Canvas").first.wait_for(timeout=30_000)
            after = page.locator(".switchio-dashboard-status").first.text_content()
            assert after == before, (before, after)
            _shoot_dashboard(page, ARTIFACTS / "04-dashboard-reloaded.png")
        except BaseException:
            try:
                page.screenshot(path=str(ARTIFACTS / "04-load-test-failure.png"),
                                full_page=True)
            finally:
                print(log_path.read_text(errors="replace")[-4000:])
            raise
        finally:
            browser.close()
    assert shot.exists()
    elapsed = time.monotonic() - start
    assert elapsed < 150, f"took {elapsed:.0f} s"  # a reload of the page included
