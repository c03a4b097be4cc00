"""The self-contained report.html, rendered offline in headless Chromium: its plots are drawn and the
models it compares are named. Skipped when Chromium is not installed (Debian package `chromium`)."""
from __future__ import annotations

import pytest
from PIL import Image

from mmpriv_tasks.report.browser import chromium, rendered_dom, screenshot

from conftest import run_cli, venv_bin

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(chromium() is None, reason="needs chromium (apt-get install -y chromium)")]

MATPLOTLIB_BLUE, MATPLOTLIB_ORANGE = (31, 119, 180), (255, 127, 14)  # the first two series' colours


def test_report_html_renders_its_plots_offline(tmp_path):
    out = tmp_path / "results"
    for model, tasks in (("refuse-all", "mmprivacy"), ("voice-profiler", "hearsay_mini")):
        proc = run_cli(venv_bin("mmpriv"), "run", "--model", model, "--tasks", tasks, "--limit", "3",
                       "--output_path", str(out), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
    proc = run_cli(venv_bin("mmpriv"), "report", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    page = out / "report.html"
    dom = rendered_dom(page)
    assert dom.count("<svg") == page.read_text().count("<svg") >= 8  # every plot parsed as SVG
    assert "refuse-all" in dom and "voice-profiler" in dom and "Metric glossary" in dom
    png = screenshot(page, tmp_path / "report.png")
    counts = {colour: n for n, colour in Image.open(png).convert("RGB").getcolors(maxcolors=1 << 24)}
    colours = {colour: counts.get(colour, 0) for colour in (MATPLOTLIB_BLUE, MATPLOTLIB_ORANGE)}
    assert min(colours.values()) > 500, colours  # bars of both models were painted
