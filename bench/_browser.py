"""One copy of the real-browser set-up: Debian's chromium, a `streamlit run app.py` server on a free port.

Used by bench/browser_latency.py and tests/test_e2e_browser.py: one start / health wait / stop
(no imports of recsys, no side effects on import).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 120.0, poll: float = 0.05) -> None:
    """Return once the server answers /_stcore/health; fail early if it exits, or after `timeout` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited early with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(poll)
    raise TimeoutError(f"streamlit did not become healthy within {timeout:.0f} s")


@contextmanager
def streamlit_server(
    data_dir: Path, artifacts_dir: Path, log_path: Path, timeout: float = 120.0, poll: float = 0.05
) -> Iterator[str]:
    """`streamlit run app.py` on a free local port over `data_dir`; yields its URL once healthy, stops it after.

    The file watcher is off: files edited meanwhile never reload modules mid-run.
    """
    port = free_port()
    env = {
        **os.environ,
        "RECSYS_DATA_DIR": str(data_dir),
        "RECSYS_ARTIFACTS_DIR": str(artifacts_dir),
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true"]
    command += ["--server.port", str(port), "--server.address", "127.0.0.1"]
    command += ["--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, proc, timeout, poll)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# Counts the messages the Streamlit server sends over the page's websocket (add with `page.add_init_script`): an
# action that makes the app rerun is answered by at least one, while the app's own "script state" attribute can go
# running -> notRunning inside one render (a quick run) and never show the change.
COUNT_MESSAGES = """(() => {
    const Native = window.WebSocket;
    window.__streamlitMessages = 0;
    class Counting extends Native {
        constructor(...args) {
            super(...args);
            this.addEventListener('message', () => { window.__streamlitMessages += 1; });
        }
    }
    window.WebSocket = Counting;
})();"""


def settle(page, timeout: float = 60_000) -> None:
    """Wait until the script run finished (the sidebar note is drawn last, the app reports notRunning)."""
    page.wait_for_selector("[data-testid='stSidebar'] >> text=Dataset:", timeout=timeout)
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout)


def recommended_ids(page) -> list[str]:
    """Course ids of the shown recommendations, in rank order (from the thumbs-down buttons' keys)."""
    ids = []
    for element in page.locator("[class*='st-key-rec_down_']").all():
        ids += [
            c.removeprefix("st-key-rec_down_")
            for c in (element.get_attribute("class") or "").split()
            if c.startswith("st-key-rec_down_")
        ]
    return ids
