"""A real JupyterLab server on loopback and a page object that works a notebook like a student.

The server runs from ``.venv-lab`` (installed by ``scripts/install-browser.sh``); its ``python3``
kernel is the Python running the tests (the kit's ``.venv``), so students' code meets the same
TensorFlow, NumPy and Otter as the grader. Every Jupyter folder (config, data, runtime, settings,
workspaces) is a fresh temporary one: nothing from the machine's home leaks in.
"""

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager, suppress
from pathlib import Path

import psutil

from exercise_kit.paths import ROOT

LAB_VENV = ROOT / ".venv-lab"
CHROMIUM = "/usr/bin/chromium"
# --headless comes from Playwright; it also gives every launch a fresh profile (--user-data-dir).
CHROMIUM_FLAGS = [
    "--no-sandbox",  # the tests run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAB_SETTINGS = {
    # Render every cell, not only those in view, so that the page holds the whole notebook.
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    # No news or update pop-ups over the notebook.
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_jupyter_dirs(home: Path) -> dict:
    """Kernel spec and Lab settings in ``home``; returns the environment that points Jupyter there."""
    kernel_dir = home / "path" / "kernels" / "python3"
    kernel_dir.mkdir(parents=True)
    kernel = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    (kernel_dir / "kernel.json").write_text(json.dumps(kernel))
    for plugin, settings in LAB_SETTINGS.items():
        package, name = plugin.rsplit("/", 1)
        path = home / "settings" / package / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings))
    return {
        "JUPYTER_PATH": str(home / "path"),  # searched before every other kernel folder
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
    }


@contextmanager
def jupyter_lab(root_dir: Path, home: Path, timeout: float = 60):
    """Run JupyterLab on 127.0.0.1 with token auth; yields ``(base_url, token)``."""
    port, token = free_port(), secrets.token_hex(16)
    command = [
        str(LAB_VENV / "bin" / "jupyter"), "lab", "--no-browser",
        "--ip=127.0.0.1", f"--port={port}", "--port-retries=0", "--allow-root",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root_dir}",
        f"--LabApp.user_settings_dir={home / 'settings'}",
        f"--LabApp.workspaces_dir={home / 'workspaces'}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]  # fmt: skip
    env = {**os.environ, **write_jupyter_dirs(home)}
    log = open(home / "lab.log", "wb")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base_url}/api/status?token={token}", server, timeout)
        yield base_url, token
    finally:
        stop_server(server)
        log.close()


def stop_server(server: subprocess.Popen) -> None:
    """Stop the server and every kernel it started (kernels run in process groups of their own)."""
    kernels = []
    with suppress(psutil.NoSuchProcess):
        kernels = psutil.Process(server.pid).children(recursive=True)
    server.terminate()  # on SIGTERM the server shuts its kernels down itself
    try:
        server.wait(15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    for kernel in kernels:
        with suppress(psutil.NoSuchProcess):
            kernel.kill()


def wait_until_up(url: str, server: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with code {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"JupyterLab did not answer at {url} within {timeout} s")


class NotebookPage:
    """One notebook open in JupyterLab, worked through the page as a student does."""

    def __init__(self, page, timeout_ms: float = 300_000):
        self.page = page
        self.timeout_ms = timeout_ms
        self.notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook")
        self.cells = self.notebook.locator(".jp-Cell")

    def open(self, base_url: str, token: str, path: str, cell_count: int) -> None:
        """Open the notebook in a workspace of its own (no tabs restored from another page) and
        wait until all its cells are shown and its kernel is idle."""
        workspace = path.replace("/", "-").removesuffix(".ipynb")
        self.page.goto(f"{base_url}/lab/workspaces/{workspace}/tree/{path}?reset&token={token}")
        self.cells.nth(cell_count - 1).wait_for(timeout=60_000)
        self.page.locator("#jp-main-statusbar", has_text="Idle").wait_for(timeout=60_000)

    def replace_source(self, index: int, source: str) -> None:
        """Select all the text of cell ``index`` and paste ``source`` over it."""
        cell = self.cells.nth(index)
        cell.scroll_into_view_if_needed()
        if "jp-MarkdownCell" in cell.get_attribute("class"):
            cell.locator(".jp-MarkdownOutput").dblclick()  # a rendered Markdown cell opens its editor
        cell.locator(".cm-content").click()
        self.page.keyboard.press("Control+a")
        self.page.keyboard.insert_text(source)  # like a paste: no auto-indent, no closed brackets
        self.page.keyboard.press("Control+Home")  # back to the top left, as the screenshot shows it

    def menu(self, *labels: str) -> None:
        """Click through the menu bar, e.g. ``menu("Run", "Run All Cells")``."""
        self.page.locator("#jp-menu-panel .lm-MenuBar-itemLabel", has_text=labels[0]).click()
        for label in labels[1:]:
            self.page.locator(".lm-Menu .lm-Menu-itemLabel").get_by_text(label, exact=True).click()

    def save(self) -> None:
        self.page.keyboard.press("Control+s")
        self.page.locator(".lm-TabBar-tab.jp-mod-current:not(.jp-mod-dirty)").wait_for(timeout=30_000)

    def run_all(self) -> None:
        """Run every cell and wait until none is running or queued (Lab stops at an error)."""
        self.menu("Run", "Run All Cells")
        self.page.wait_for_function(
            """() => [...document.querySelectorAll('.jp-InputPrompt')]
                         .every(prompt => !prompt.textContent.includes('*'))""",
            timeout=self.timeout_ms,
            polling=500,
        )

    def text(self) -> str:
        return self.notebook.inner_text()

    def screenshot(self, path: Path) -> None:
        """The whole notebook in one picture: a window as tall as the notebook, then a screenshot."""
        height = self.page.evaluate(
            """() => {
                const scroller = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer');
                scroller.scrollTop = 0;
                return scroller.scrollHeight - scroller.clientHeight + window.innerHeight;
            }"""
        )
        self.page.set_viewport_size({"width": 1280, "height": height})
        self.page.screenshot(path=str(path))
