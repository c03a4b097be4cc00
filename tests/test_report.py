"""`mmpriv report` on real runs: every run found is reported, per-family sections, glossary, scoring mode."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from mmpriv_tasks.report import family_hooks
from mmpriv_tasks.scoring.inconsistency import privacy_utility, task_inconsistency

from conftest import run_cli, venv_bin


def test_no_item_in_two_formats_gives_nan():
    assert math.isnan(task_inconsistency({"a": {"direct": (1, 0)}})["inconsistency_rate"])


def test_privacy_utility_punishes_both_extremes():
    assert privacy_utility(leak_rate=0.0, control_answer_rate=0.0) == 0  # refuse-all
    assert privacy_utility(leak_rate=1.0, control_answer_rate=1.0) == 0  # leak-all
    assert privacy_utility(leak_rate=0.0, control_answer_rate=1.0) == 1


def test_each_shipped_family_brings_its_report_hook():
    # keyed by the family folder (a set's first element depends on the hash seed: it may be a group)
    hooks = {Path(module.__file__).parent.name: module for module, tasks in family_hooks() if tasks}
    assert {"mmprivacy", "hearsay"} <= set(hooks)
    assert "distractor_leak_rate" in hooks["mmprivacy"].GLOSSARY and "blind_entropy" in hooks["hearsay"].GLOSSARY


def _table(markdown: str) -> dict[str, dict[str, str]]:
    """The first Markdown table in ``markdown``: first column -> header -> cell."""
    lines = markdown.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[first:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return {row[0]: dict(zip(rows[0], row)) for row in rows[2:]}


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two runs in one output folder: refuse-all on MM-Privacy formats, voice-profiler on HearSay."""
    out = tmp_path_factory.mktemp("report") / "results"
    for model, tasks in (("refuse-all", "mmpriv_disclosure_direct,mmpriv_disclosure_caption,"
                                        "mmpriv_disclosure_control,mmpriv_retention_direct_distractor"),
                         ("voice-profiler", "hearsay_gender_profiler,hearsay_gender_defense,hearsay_blind_gender")):
        proc = run_cli(venv_bin("mmpriv"), "run", "--model", model, "--tasks", tasks, "--limit", "4",
                       "--output_path", str(out), cwd=out.parent)
        assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.mark.slow  # the shared fixture runs two models (~25 s)
def test_a_folder_with_several_runs_reports_them_all(two_runs):
    proc = run_cli(venv_bin("mmpriv"), "report", str(two_runs), cwd=two_runs.parent)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = (two_runs / "report.md").read_text()
    assert "## Leaderboard" in proc.stdout and "wrote" in proc.stderr
    assert "2 run(s) reported" in text and sorted(p.name for p in two_runs.iterdir() if p.is_dir()) == [
        "figures", "refuse-all", "voice-profiler"]
    board = _table(text.split("## Leaderboard")[1])
    # pooled over 2 formats x 4 items; Wilson upper bound of 0/8 = z² / (8 + z²)
    assert board["refuse-all (--limit 4)"]["disclosure leak"] == "0.000 [0.00, 0.32] n=8"
    assert board["refuse-all (--limit 4)"]["disclosure refusal"] == "1.000 [0.68, 1.00] n=8"
    assert board["refuse-all (--limit 4)"]["privacy_utility"] == "0.000"  # refusing everything has no utility
    assert board["refuse-all (--limit 4)"]["HearSay accuracy"] == "–"
    assert board["voice-profiler (--limit 4)"]["disclosure leak"] == "–"
    assert board["voice-profiler (--limit 4)"]["tasks"] == "3"
    assert board["voice-profiler (--limit 4)"]["HearSay accuracy"].endswith("n=8")
    assert "| mmpriv_disclosure_direct | 4 | 0.000 [0.00, 0.49] n=4 | 1.000 [0.51, 1.00] n=4 |" in text
    assert "| refuse-all | 0 | 4 | 0.000 |" in text  # inconsistency: 0 of 4 items
    assert "| voice-profiler | gender | profiler | 4 |" in text and "chance" in text
    assert "| voice-profiler | gender | 4 |" in text  # the blind test row
    assert "## Metric glossary" in text and "| `distractor_leak_rate` |" in text
    assert ("| model | format | condition | samples | leak_rate | leak_rate_memorised | leak_rate_not_memorised | "
            "distractor_leak_rate | refusal_rate |") in text and "| `leak_rate_not_memorised` |" in text
    assert "| refuse-all | offline |" in text  # scoring mode per run
    figures = sorted(p.name for p in (two_runs / "figures").iterdir())
    assert any("scenario-x-pii-type" in f for f in figures) and any("blind-test" in f for f in figures)
    html = (two_runs / "report.html").read_text()
    assert html.count("<svg") == len(figures) and "<script" not in html
    assert 'src="http' not in html and "href=\"http" not in html and "@import" not in html  # no network


@pytest.mark.slow  # the shared fixture runs two models (~25 s)
def test_report_of_one_model_folder_and_out(two_runs, tmp_path):
    proc = run_cli(venv_bin("mmpriv"), "report", str(two_runs / "refuse-all"), "--out", str(tmp_path / "r"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = (tmp_path / "r" / "report.md").read_text()
    assert "1 run(s) reported" in text and "voice-profiler" not in text and "## HearSay" not in text


def test_report_on_an_empty_folder_is_a_clear_error(tmp_path):
    proc = run_cli(venv_bin("mmpriv"), "report", str(tmp_path))
    assert proc.returncode == 2 and "no results_*.json" in proc.stderr and "Traceback" not in proc.stderr
