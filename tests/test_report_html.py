"""The self-contained report.html, rendered offline in headless Chromium: its plots are drawn with error
bars, the models it compares are named, and nothing overflows the page, runs past a figure's frame or sits
on a plot. Chromium (Debian package `chromium`) is found on PATH or installed with apt-get when running as
root; otherwise the test is skipped and says why."""
from __future__ import annotations

import pytest
from PIL import Image

from mmpriv_tasks.report.browser import ensure_chromium, layout_problems, rendered_dom, screenshot

from conftest import run_cli, venv_bin

pytestmark = pytest.mark.slow

MATPLOTLIB_BLUE, MATPLOTLIB_ORANGE = (31, 119, 180), (255, 127, 14)  # the first two series' colours
ERROR_BAR = (51, 51, 51)  # "#333"


@pytest.fixture(scope="module")
def browser():
    exe, how = ensure_chromium()
    if exe is None:
        pytest.skip(how)
    print(how)
    return exe


def test_report_html_renders_its_plots_offline(browser, tmp_path):
    out = tmp_path / "results"
    shared = "hearsay_gender_cot,hearsay_accent_cot,hearsay_blind_gender"  # paired between the two runs
    for model, tasks in (("refuse-all", f"mmpriv_disclosure_direct,mmpriv_disclosure_caption,"
                                        f"mmpriv_retention_direct_distractor,mmpriv_retention_direct_noimage,{shared}"),
                         ("voice-profiler", shared)):
        proc = run_cli(venv_bin("mmpriv"), "run", "--model", model, "--tasks", tasks, "--limit", "3",
                       "--output_path", str(out), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
    proc = run_cli(venv_bin("mmpriv"), "report", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    page = out / "report.html"
    dom = rendered_dom(page)
    assert dom.count("<svg") == page.read_text().count("<svg") >= 9  # every plot parsed as SVG
    assert "refuse-all" in dom and "voice-profiler" in dom and "Metric glossary" in dom
    assert "Paired comparisons" in dom and '<small class="ci">[0.00, 0.56] n=3</small>' in dom  # Wilson 0/3
    assert "*distractor*" not in dom and "Retention leak_rate per format" in dom
    assert "Retention distractor_leak_rate per format" in dom
    assert layout_problems(page) == []  # no overflow, no clipped title, no legend over a plot or its label
    png = screenshot(page, tmp_path / "report.png", height=12000)
    counts = {colour: n for n, colour in Image.open(png).convert("RGB").getcolors(maxcolors=1 << 24)}
    colours = {colour: counts.get(colour, 0) for colour in (MATPLOTLIB_BLUE, MATPLOTLIB_ORANGE, ERROR_BAR)}
    assert min(colours.values()) > 500, colours  # bars of both models and their error bars were painted


def test_layout_probe_finds_overflow_clipping_and_a_legend_over_a_plot(browser, tmp_path):
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 50" width="100" height="50">'
           '<g id="axes_1"><g id="patch_2"><rect x="10" y="10" width="60" height="30"/></g>'
           '<g id="legend_1"><g id="patch_9"><rect x="50" y="12" width="10" height="5"/></g>'
           '<g id="text_1"><rect x="55" y="12" width="30" height="5"/></g></g></g>'
           '<text x="-20" y="8">a title running off the left edge</text></svg>')
    page = tmp_path / "report.html"
    page.write_text(f'<!DOCTYPE html><html><body><figure>{svg}<figcaption>fig</figcaption></figure>'
                    f'<table><tr><td style="min-width:3000px">wide</td></tr></table></body></html>')
    problems = layout_problems(page, width=1280)
    assert problems[0].startswith("page overflows: ") and problems[0].endswith("px wide in a 1280px window")
    assert problems[1:] == ["fig: drawing clipped by its frame", "fig: a legend symbol over its label",
                            "fig: legend over the plot"]
