"""`mmpriv calibrate RUN_DIR`: a real run (voice-profiler answers gender, declines accent), a real
HTTP judge (tests/fake_openai_server.py), the CLI as a subprocess."""
import json
import shutil
import stat
from collections import Counter

import pytest

from conftest import run_cli, venv_bin
from fake_openai_server import FakeOpenAIServer
from mmpriv_tasks import detect_refusal
from mmpriv_tasks.commands.calibrate import agreement, stratified_sample


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("calibrate") / "out"
    proc = run_cli(venv_bin("mmpriv"), "run", "--model", "voice-profiler", "--tasks",
                   "hearsay_gender_profiler,hearsay_accent_profiler", "--limit", "5", "--log_samples",
                   "--output_path", str(out), cwd=out.parent)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def answers_label(body):
    """Judge: a refusal unless the reply names a label."""
    reply = body["messages"][-1]["content"].split("<<<\n", 1)[1]
    return json.dumps({"is_refusal": "Selected Label" not in reply, "is_correct": None})


def judge_env(server):
    return {"MMPRIV_JUDGE_BASE_URL": server.base_url, "MMPRIV_JUDGE_MODEL": "fake-judge",
            "MMPRIV_JUDGE_CACHE_DIR": "none", "MMPRIV_JUDGE_MAX_RETRIES": "0"}


@pytest.mark.slow  # one lm-eval run (~20 s)
def test_calibrate_prints_agreement_and_writes_disagreements(run_dir):
    with FakeOpenAIServer(answers_label) as server:
        proc = run_cli(venv_bin("mmpriv"), "calibrate", str(run_dir), "--n", "6", env=judge_env(server))
        replies = [body["messages"][-1]["content"].split("<<<\n", 1)[1].rsplit("\n>>>", 1)[0]
                   for body in server.bodies()]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(replies) == 6  # concurrent judge requests, one per sampled reply
    summary = json.loads((run_dir / "calibration.json").read_text())
    assert summary["sampled"] == 6 and summary["judge_errors"] == 0 and summary["judge_model"] == "fake-judge"
    assert {task: f["n"] for task, f in summary["per_task"].items()} == {"hearsay_accent_profiler": 3,
                                                                         "hearsay_gender_profiler": 3}
    pairs = [(detect_refusal(r), "Selected Label" not in r) for r in replies]
    assert summary["overall"] == agreement(pairs)
    assert f"accuracy={summary['overall']['accuracy']:.3f}" in proc.stdout and "hearsay_accent_profiler" in proc.stdout
    path = run_dir / "calibration_disagreements.jsonl"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((run_dir / "calibration.json").stat().st_mode) == 0o600
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == sum(d != j for d, j in pairs)



def _section(markdown: str, title: str) -> str:
    return markdown.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


@pytest.mark.slow
def test_report_shows_the_calibration_of_the_runs_it_sampled(run_dir, tmp_path):
    with FakeOpenAIServer(answers_label) as server:
        assert run_cli(venv_bin("mmpriv"), "calibrate", str(run_dir), "--n", "6", env=judge_env(server)).returncode == 0
    summary = json.loads((run_dir / "calibration.json").read_text())
    (results,) = run_dir.rglob("results_*.json")
    assert summary["runs"] == [results.relative_to(run_dir).as_posix()]
    # the report of the model folder (below the calibrated folder) finds the calibration above it
    proc = run_cli(venv_bin("mmpriv"), "report", str(results.parent), "--out", str(tmp_path / "r"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    section = _section((tmp_path / "r" / "report.md").read_text(), "Detector calibration")
    assert f"`{run_dir.resolve() / 'calibration.json'}`: judge `fake-judge`, 6 replies sampled, 0 judge errors" in section

    def row(stratum, figures):
        c = figures["confusion"]
        return (f"| voice-profiler | {stratum} | {figures['n']} | {figures['accuracy']:.3f} | {figures['kappa']:.3f} | "
                f"{c['detector_True_judge_True']} | {c['detector_False_judge_False']} | "
                f"{c['detector_True_judge_False']} | {c['detector_False_judge_True']} |")

    assert row("all tasks", summary["overall"]) in section
    for task in ("hearsay_accent_profiler", "hearsay_gender_profiler"):
        assert row(task, summary["per_task"][task]) in section
    assert "Not calibrated" not in section

    # a run added to a calibrated folder later is not covered by that calibration
    later = tmp_path / "later"
    shutil.copytree(results.parent, later / "another-model")
    shutil.copy(run_dir / "calibration.json", later)
    proc = run_cli(venv_bin("mmpriv"), "report", str(later))
    assert proc.returncode == 0, proc.stderr[-3000:]
    section = _section((later / "report.md").read_text(), "Detector calibration")
    assert "Not calibrated: voice-profiler (`mmpriv calibrate RUN_DIR`" in section and "| all tasks |" not in section

    (later / "calibration.json").write_text("{", encoding="utf-8")  # cut off while written
    proc = run_cli(venv_bin("mmpriv"), "report", str(later))
    assert proc.returncode == 2 and "calibration.json: not a calibration file" in proc.stderr

@pytest.mark.slow
def test_judge_failures_are_counted_not_scored(run_dir):
    with FakeOpenAIServer(lambda body: "not json") as server:
        proc = run_cli(venv_bin("mmpriv"), "calibrate", str(run_dir), "--n", "4", env=judge_env(server))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "4 judge errors" in proc.stdout and "n=0" in proc.stdout


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    proc = run_cli(venv_bin("mmpriv"), "calibrate", str(tmp_path / "missing"))
    assert proc.returncode == 2 and "not a folder" in proc.stderr
    proc = run_cli(venv_bin("mmpriv"), "calibrate", str(tmp_path))
    assert proc.returncode == 2 and "no results_*.json" in proc.stderr


def test_stratified_sample_gives_tasks_equal_shares_and_kappa_is_cohens():
    chosen = stratified_sample({task: [(task, i) for i in range(size)] for task, size in (("a", 10), ("b", 2),
                                                                                           ("c", 10))}, 10)
    assert Counter(task for task, _ in chosen) == {"a": 4, "b": 2, "c": 4} and len(set(chosen)) == 10
    assert agreement([(True, True), (False, False)] * 5)["kappa"] == 1.0
    # observed 0.5, chance 0.5 -> kappa 0
    assert agreement([(True, True), (True, False), (False, True), (False, False)])["kappa"] == 0.0


def test_no_judge_hint_names_only_what_calibrate_takes(monkeypatch):
    """`mmpriv calibrate` takes the judge from MMPRIV_JUDGE_* only: the hint must not offer base_url=/model=."""
    from mmpriv_tasks.scoring.judge import JudgeConfig, JudgeConfigError

    for name in ("MMPRIV_JUDGE_BASE_URL", "MMPRIV_JUDGE_MODEL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(JudgeConfigError) as error:
        JudgeConfig.from_env()
    assert "set MMPRIV_JUDGE_BASE_URL and MMPRIV_JUDGE_MODEL" in str(error.value)
    assert "base_url=" not in str(error.value) and "model=" not in str(error.value)
