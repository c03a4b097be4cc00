"""Render a report page in headless Chromium (Debian package ``chromium``): a screenshot, the DOM the
browser built and a layout probe (overflow, clipped figures, legends over plots), offline. Used by the
report test and ``bench/bench_report.py``."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars")


def chromium() -> str | None:
    """The Chromium executable on PATH, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def ensure_chromium() -> tuple[str | None, str]:
    """Chromium's executable and how it was got (found on PATH, or installed with ``apt-get`` when running
    as root), or None and why not."""
    exe = chromium()
    if exe:
        return exe, f"found {exe}"
    if not shutil.which("apt-get") or os.geteuid() != 0:
        return None, "chromium is not installed and apt-get needs root here: run `apt-get install -y chromium`"
    proc = subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], capture_output=True, text=True,
                          timeout=1200)
    exe = chromium()
    if exe:
        return exe, f"installed {exe} with `apt-get install -y chromium`"
    why = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
    return None, f"chromium is not installed and `apt-get install -y chromium` failed: {why[0]}"


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


_PROBE = """<pre id="mmpriv-layout"></pre><script>
const problems = [];
if (document.documentElement.scrollWidth > window.innerWidth + 1)
  problems.push(`page overflows: ${document.documentElement.scrollWidth}px wide in a ${window.innerWidth}px window`);
const overlap = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left) > 1
                          && Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) >= 0;  // a line has no height
document.querySelectorAll("figure").forEach((figure, i) => {
  const svg = figure.querySelector("svg"), name = figure.querySelector("figcaption").textContent;
  const box = svg.getBBox(), view = svg.viewBox.baseVal;
  if (box.x < view.x - 0.5 || box.y < view.y - 0.5 || box.x + box.width > view.x + view.width + 0.5
      || box.y + box.height > view.y + view.height + 0.5) problems.push(`${name}: drawing clipped by its frame`);
  svg.querySelectorAll("g[id^=legend]").forEach(legend => {
    const texts = [...legend.querySelectorAll("g[id^=text]")];
    legend.querySelectorAll("g[id^=PathCollection], g[id^=patch], g[id^=line2d]").forEach(handle => {
      if (texts.some(text => overlap(handle.getBoundingClientRect(), text.getBoundingClientRect())))
        problems.push(`${name}: a legend symbol over its label`);
    });
    svg.querySelectorAll("g[id^=axes] > g[id^=patch]:first-child").forEach(axes => {
      if (overlap(legend.getBoundingClientRect(), axes.getBoundingClientRect()))
        problems.push(`${name}: legend over the plot`);
    });
  });
});
document.getElementById("mmpriv-layout").textContent = JSON.stringify(problems);
</script>"""


def layout_problems(page: Path, width: int = 1280) -> list[str]:
    """What Chromium finds wrong with the page's layout at ``width`` pixels: horizontal overflow, a figure
    whose drawing (title, labels, legend) runs past its frame, a legend drawn over a plot. The probe runs
    on a copy of the page (reports themselves hold no script)."""
    with tempfile.TemporaryDirectory(prefix="mmpriv-probe-") as folder:
        probe = Path(folder) / page.name
        probe.write_text(page.read_text(encoding="utf-8").replace("</body>", _PROBE + "</body>"), encoding="utf-8")
        proc = _chromium(probe, "--dump-dom", f"--window-size={width},1000")
    if proc.returncode != 0:
        raise RuntimeError(f"chromium could not load {page}: {proc.stderr[-2000:]}")
    text = proc.stdout.split('<pre id="mmpriv-layout">', 1)[1].split("</pre>", 1)[0]
    return json.loads(text.replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))
