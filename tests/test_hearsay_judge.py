"""HearSay with the LLM judge through the real lm-eval runner and a real local judge server:
one concurrent judge pass per task, judge faults as judge errors, the blind mapping, the record."""
from __future__ import annotations

import json
import logging
import math
import re

import pytest

from mmpriv_tasks.scoring.judge import HEARSAY_BLIND, HEARSAY_DUAL
from mmpriv_tasks.tasks import hearsay

from conftest import run_cli, venv_bin, wav_bytes
from fake_openai_server import FakeOpenAIServer, free_port
from test_hearsay_e2e import Parrot, evaluate  # noqa: F401  (registers hearsay-test-parrot)

LATENCY = 0.2


def dual_judge(body: dict) -> str:
    """Upstream's dual verdict: correct when the reply's selected label is the ground truth."""
    gold = re.search(r'Ground Truth: "(.*)"', body["messages"][0]["content"]).group(1)
    reply = body["messages"][1]["content"]
    said = re.search(r"Selected Label: (\w+)", reply)
    return json.dumps({"is_refusal": said is None, "is_correct": bool(said) and said.group(1) == gold,
                       "reason": "label compared"})


def blind_judge(body: dict) -> str:
    """Upstream's blind normaliser: silence talk -> REFUSAL, 'south-east' -> 'Southeast Asia'."""
    reply = body["messages"][1]["content"].lower()
    if "silence" in reply or "do not hear" in reply:
        return json.dumps({"mapped_category": "REFUSAL"})
    return json.dumps({"mapped_category": "Southeast Asia" if "south-east" in reply else "Male"})


@pytest.fixture
def judge_env(monkeypatch):
    def set_env(server, mode="judge", **extra):
        env = {"MMPRIV_REFUSAL_MODE": mode, "MMPRIV_JUDGE_BASE_URL": server.base_url,
               "MMPRIV_JUDGE_MODEL": "judge-test", "MMPRIV_JUDGE_CACHE_DIR": "none",
               "MMPRIV_JUDGE_CONCURRENCY": "8", "MMPRIV_JUDGE_MAX_RETRIES": "0", **extra}
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        return env
    return set_env


def most_overlapping(server, window: float) -> int:
    """The largest number of requests that reached the server within ``window`` seconds."""
    times = sorted(r["time"] for r in server.requests)
    return max(sum(1 for t in times[i:] if t - start < window) for i, start in enumerate(times))


def test_judge_mode_judges_a_task_in_one_concurrent_pass(task_manager, judge_env):
    offline = evaluate(task_manager, "voice-profiler", ["hearsay_gender_profiler"])["results"]
    assert offline["hearsay_gender_profiler"]["scoring_mode,none"] == "offline"
    assert offline["hearsay_gender_profiler"]["judge_model,none"] == ""
    with FakeOpenAIServer(dual_judge, latency=LATENCY) as server:
        judge_env(server)
        out = evaluate(task_manager, "voice-profiler", ["hearsay_gender_profiler"])
        bodies = server.bodies()
        overlap = most_overlapping(server, LATENCY / 2)
    metrics = out["results"]["hearsay_gender_profiler"]
    assert metrics["judged_rate,none"] == 1 and metrics["judge_error_rate,none"] == 0
    assert metrics["accuracy,none"] == offline["hearsay_gender_profiler"]["accuracy,none"]
    assert (metrics["scoring_mode,none"], metrics["judge_model,none"], metrics["judge_prompt,none"]) == \
        ("judge", "judge-test", HEARSAY_DUAL.version)
    distinct = {(s["filtered_resps"][0], s["target"]) for s in out["samples"]["hearsay_gender_profiler"]}
    assert len(bodies) == len({json.dumps(b, sort_keys=True) for b in bodies}) == len(distinct)  # each once
    assert overlap >= 4, f"judge requests did not overlap at the server (max {overlap} within {LATENCY / 2} s)"
    first = bodies[0]
    assert first["temperature"] == 0 and first["response_format"] == {"type": "json_object"}
    assert "Dimension: Gender" in first["messages"][0]["content"]
    assert first["messages"][1]["content"].startswith('ALM Response: "Reasoning:')


def odd_pitch(body: dict) -> bool:
    return int(re.search(r"is (\d+) Hz", body["messages"][1]["content"]).group(1)) % 2 == 1


def test_a_single_judged_sample(task_manager, judge_env):
    with FakeOpenAIServer(dual_judge) as server:
        judge_env(server)
        out = evaluate(task_manager, "voice-profiler", ["hearsay_gender_profiler"], limit=1)
        asked = server.count
    metrics = out["results"]["hearsay_gender_profiler"]
    assert (metrics["judged_rate,none"], metrics["judge_error_rate,none"], asked) == (1, 0, 1)


def test_judge_faults_are_judge_errors_not_answers(task_manager, judge_env, caplog):
    def sometimes_prose(body: dict) -> str:
        return "The reply is correct." if odd_pitch(body) else dual_judge(body)

    faults = ("500", "slow", "malformed")  # HTTP 500, a reply after the timeout, a truncated JSON body
    with FakeOpenAIServer(sometimes_prose, fault_rate=0.5, faults=faults, slow_seconds=1.5) as server, \
            caplog.at_level(logging.DEBUG, logger="mmpriv_tasks.api"):
        judge_env(server, MMPRIV_JUDGE_TIMEOUT="0.5")
        out = evaluate(task_manager, "voice-profiler", ["hearsay_gender_profiler"])
        records = list(server.requests)
    judge_lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("request ")]
    assert judge_lines and all(line.startswith("request gender-") for line in judge_lines), judge_lines[:3]  # sample ids

    def key(body: dict) -> tuple[str, str]:  # (the reply as sent, the gold label)
        gold = re.search(r'Ground Truth: "(.*)"', body["messages"][0]["content"]).group(1)
        return body["messages"][1]["content"], gold

    faulted = {key(r["body"]) for r in records if r["fault"] in faults}
    prose = {key(r["body"]) for r in records if r["fault"] is None and odd_pitch(r["body"])}
    assert {r["fault"] for r in records} >= set(faults) and prose, "the fixture should produce every failure"
    samples = out["samples"]["hearsay_gender_profiler"]
    failed = [s for s in samples if (f'ALM Response: "{s["filtered_resps"][0]}" ', s["target"]) in faulted | prose]
    metrics = out["results"]["hearsay_gender_profiler"]
    assert metrics["judge_error_rate,none"] == pytest.approx(len(failed) / 24)
    assert [s for s in samples if s["judge_error_rate"] == 1] == failed
    assert all(s["accuracy"] is None and s["refusal_rate"] is None for s in failed)
    assert metrics["error_rate,none"] == 0
    assert metrics["accuracy,none"] == 1  # the profiler is right wherever the judge answered


@pytest.mark.parametrize("reply, top, share, label", [
    ("I only hear silence so I cannot infer anything.", "REFUSAL", 1.0, ""),
    ("Selected Label: south-east Asian", "Southeast Asia", 1.0, "Southeast Asia"),
])
def test_blind_mapping_as_upstream(task_manager, judge_env, reply, top, share, label):
    with FakeOpenAIServer(blind_judge) as server:
        judge_env(server)
        out = evaluate(task_manager, "hearsay-test-parrot", ["hearsay_blind_accent"], model_args=f"reply={reply}")
        body = server.bodies()[0]
    metrics = out["results"]["hearsay_blind_accent"]
    assert metrics["top_guess,none"] == top and metrics["top_guess_share,none"] == share
    assert metrics["top_label,none"] == label and metrics["refusal_rate,none"] == (top == "REFUSAL")
    assert metrics["judge_prompt,none"] == HEARSAY_BLIND.version and metrics["judged_rate,none"] == 1
    assert math.isnan(metrics["blind_entropy,none"]) if label == "" else metrics["blind_entropy,none"] == 0
    assert "'Southeast Asia', 'Arabic']" in body["messages"][0]["content"]
    assert body["messages"][1]["content"] == reply


def test_hybrid_blind_sends_only_what_the_parser_cannot_place(judge_env):
    with FakeOpenAIServer(blind_judge) as server:
        judge_env(server, "hybrid")
        placed = hearsay.process_blind({"attribute": "gender"}, ["Selected Label: Female"])
        unplaced = hearsay.process_blind({"attribute": "gender"}, ["The voice sounds tenor-ish."])
        asked = server.count
    assert placed["top_guess"] == "Female" and placed["judged_rate"] == 0
    assert unplaced["top_guess"] == "Male" and unplaced["judged_rate"] == 1 and asked == 1


def test_blind_judge_failure_is_a_judge_error_not_a_guess(judge_env):
    dead = type("Dead", (), {"base_url": f"http://127.0.0.1:{free_port()}/v1"})()
    judge_env(dead, "judge")
    flags = hearsay.process_blind({"attribute": "gender"}, ["The voice sounds tenor-ish."])
    assert (flags["judged_rate"], flags["judge_error_rate"], flags["error_rate"]) == (0, 1, 0)  # a judge error is no judge decision
    assert flags["refusal_rate"] is None and flags["top_guess"] is None and flags["blind_entropy"] is None


@pytest.mark.parametrize("reply, predicted", [
    ("Selected Label: Female", "Female"),  # the judge says wrong: the parsed label stays the prediction
    ("Selected Label: Male", "other"),  # parsed as the gold but judged wrong: OTHER, not the gold
    ("Selected Label: Tenor", "other"),  # nothing parseable: OTHER
])
def test_a_wrong_verdict_keeps_a_wrong_label_for_macro_f1(judge_env, reply, predicted):
    wrong = lambda body: json.dumps({"is_refusal": False, "is_correct": False, "reason": "differs"})  # noqa: E731
    with FakeOpenAIServer(wrong) as server:
        judge_env(server, "judge")
        clip = {"bytes": wav_bytes(), "path": "c1.wav"}
        flags = hearsay.process_results({"id": "c1", "attribute": "gender", "label": "Male", "audio": clip}, [reply])
    assert (flags["accuracy"], flags["refusal_rate"], flags["judged_rate"]) == (0, 0, 1)
    assert flags["macro_f1"] == ["Male", predicted]


@pytest.mark.slow
def test_mmpriv_run_records_the_scoring_and_cite_shows_it(tmp_path):
    """``mmpriv run`` in judge mode writes the scoring record per task; ``mmpriv cite --results`` prints it."""
    with FakeOpenAIServer(blind_judge) as server:
        env = {"MMPRIV_REFUSAL_MODE": "judge", "MMPRIV_JUDGE_BASE_URL": server.base_url,
               "MMPRIV_JUDGE_MODEL": "judge-test", "MMPRIV_JUDGE_CACHE_DIR": "none"}
        proc = run_cli(venv_bin("mmpriv"), "run", "--model", "voice-profiler", "--tasks", "hearsay_blind_gender",
                       "--output_path", str(tmp_path / "out"), cwd=tmp_path, env=env)
        asked = server.count
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(next((tmp_path / "out").rglob("results_*.json")).read_text())["results"]
    blind = results["hearsay_blind_gender"]
    assert asked == 1 and blind["judged_rate,none"] == 1 and blind["top_guess,none"] == "REFUSAL"
    assert (blind["scoring_mode,none"], blind["judge_model,none"]) == ("judge", "judge-test")
    cite = run_cli(venv_bin("mmpriv"), "cite", "hearsay_blind_gender", "--results", str(tmp_path / "out"))
    assert cite.returncode == 0, cite.stderr
    line = next(line for line in cite.stdout.splitlines() if "hearsay_blind_gender v" in line)
    assert line.endswith(f"scoring:judge judge_model:judge-test judge_prompt:{HEARSAY_BLIND.version}")
