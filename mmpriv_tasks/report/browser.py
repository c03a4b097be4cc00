"""Render a report page in headless Chromium (Debian package ``chromium``): a screenshot and the DOM
the browser built, offline. Used by the report test and ``bench/bench_report.py``."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars")


def chromium() -> str | None:
    """The Chromium executable on PATH, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _chromium(page: Path, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    exe = chromium()
    if exe is None:
        raise FileNotFoundError("chromium is not installed (Debian: `apt-get install -y chromium`)")
    with tempfile.TemporaryDirectory(prefix="mmpriv-chromium-") as profile:
        return subprocess.run([exe, *FLAGS, f"--user-data-dir={profile}", *args, page.resolve().as_uri()],
                              capture_output=True, text=True, timeout=timeout)


def screenshot(page: Path, target: Path, width: int = 1280, height: int = 6000) -> Path:
    """A PNG of the page's first ``height`` pixels."""
    proc = _chromium(page, f"--screenshot={target.resolve()}", f"--window-size={width},{height}")
    if proc.returncode != 0 or not target.is_file():
        raise RuntimeError(f"chromium could not screenshot {page}: {proc.stderr[-2000:]}")
    return target


def rendered_dom(page: Path) -> str:
    """The DOM Chromium built from the page (``--dump-dom``)."""
    proc = _chromium(page, "--dump-dom")
    if proc.returncode != 0:
        raise RuntimeError(f"chromium could not load {page}: {proc.stderr[-2000:]}")
    return proc.stdout
