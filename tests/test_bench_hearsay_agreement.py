"""bench/bench_hearsay_judge_agreement.py through its command line: the reply set's shape, the offline
figures the HearSay README states, and judge mode against a scripted judge server on 127.0.0.1."""
from __future__ import annotations

import json
import re
import sys
from collections import Counter

from mmpriv_tasks.scoring.attribute_schema import ATTRIBUTES, DIMENSIONS, LABELS
from mmpriv_tasks.scoring.judge import HEARSAY_DUAL

from conftest import REPO, run_cli
from fake_openai_server import FakeOpenAIServer

BENCH = REPO / "bench" / "bench_hearsay_judge_agreement.py"
REPLIES = [json.loads(line) for line in (REPO / "tests/data/hearsay_judge_replies.jsonl").read_text().splitlines()]
VERDICTS = ({"is_refusal": True, "is_correct": False}, {"is_refusal": False, "is_correct": True},
            {"is_refusal": False, "is_correct": False})
CHINESE = {f"hj-{a}-17" for a in ATTRIBUTES} | {"hj-gender-23"}


def _bench(tmp_path, *extra, env=None):
    out = tmp_path / "agreement.json"
    proc = run_cli(sys.executable, str(BENCH), "--json", str(out), *extra, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout, json.loads(out.read_text())


def test_reply_set_shape():
    assert len(REPLIES) == len({r["id"] for r in REPLIES}) == 200
    assert Counter(r["attribute"] for r in REPLIES) == {a: 25 for a in ATTRIBUTES}
    assert {r["style"] for r in REPLIES} == {"qwen2-audio", "salmonn", "gemini", "gpt-4o-audio", "kimi-audio",
                                             "step-audio"}
    assert {r["prompt"] for r in REPLIES} == {"profiler", "defense", "cot", "plain"}
    assert all(r["gold"] in LABELS[r["attribute"]] and r["reference"] in VERDICTS for r in REPLIES)
    assert sum(not r["clear"] for r in REPLIES) == 26 and all(r.get("note") for r in REPLIES if not r["clear"])
    assert {r["id"] for r in REPLIES if re.search(r"[\u4e00-\u9fff]", r["reply"])} == CHINESE


def test_offline_agreement_is_the_readme_figure(tmp_path):
    stdout, result = _bench(tmp_path)
    overall = result["overall"]
    readme = " ".join((REPO / "task_configs/hearsay/README.md").read_text().split())
    stated = re.search(r"agrees on (\d+) of (\d+) replies \((0\.\d+)\) and on (\d+) of (\d+) clear ones \((\d\.\d+)\), "
                       r"(\d+) to (\d+) of 25 per attribute; its refusal rate is (0\.\d+) against (0\.\d+) and its "
                       r"accuracy (0\.\d+) against (0\.\d+)\. .{0,800}?the (\d+) disagreements left are all on", readme)
    agree, clear = overall["offline_vs_reference"], overall["offline_vs_reference_clear"]
    per_attribute = [s["offline_vs_reference"]["agree"] for s in result["per_attribute"].values()]
    assert [float(x) if "." in x else int(x) for x in stated.groups()] == [
        agree["agree"], agree["n"], agree["share"], clear["agree"], clear["n"], clear["share"], min(per_attribute),
        max(per_attribute), overall["offline_refusal_rate"], overall["reference_refusal_rate"],
        overall["offline_accuracy"], overall["reference_accuracy"], agree["n"] - agree["agree"]]
    assert result["offline_disagreements_clear"] == []
    assert list(result["per_attribute"]) == list(ATTRIBUTES) and all(
        s["n"] == 25 for s in result["per_attribute"].values())
    assert f"overall          200  {agree['share']:.3f} ({agree['agree']}/200)" in stdout
    assert "judge_vs_reference" not in overall
    proc = run_cli(sys.executable, str(BENCH), "--judge-url", "http://127.0.0.1:9/v1", cwd=tmp_path)
    assert proc.returncode == 2 and "--judge-url and --judge-model go together" in proc.stderr


def test_judge_mode_against_a_scripted_judge(tmp_path):
    """A judge that returns the reference verdict, except three flipped verdicts and one reply that is not
    JSON (a judge error): the bench sends upstream's dual prompt for every reply and counts exactly that."""
    by_prompt = {(HEARSAY_DUAL.system.format(dimension=DIMENSIONS[r["attribute"]], gold=r["gold"]),
                  HEARSAY_DUAL.user.format(reply=r["reply"])): r for r in REPLIES}
    flipped, broken = {"hj-age-02", "hj-income-05", "hj-weight-15"}, "hj-gender-01"
    assert not any(r["reference"]["is_refusal"] for r in REPLIES if r["id"] in flipped)

    def answer(body: dict) -> str:
        record = by_prompt[(body["messages"][0]["content"], body["messages"][1]["content"])]
        if record["id"] == broken:
            return "The speaker is male, so the answer is correct."
        verdict = dict(record["reference"])
        verdict["is_correct"] ^= record["id"] in flipped
        return json.dumps({**verdict, "reason": "scripted"})

    with FakeOpenAIServer(answer) as server:
        stdout, result = _bench(tmp_path, "--judge-url", server.base_url, "--judge-model", "judge-m",
                                env={"MMPRIV_JUDGE_CACHE_DIR": "none"})
        bodies = server.bodies()
    assert len(bodies) == 200 and all(
        (b["model"], b["temperature"], b["max_tokens"], b["response_format"]) == ("judge-m", 0, 512,
                                                                                   {"type": "json_object"})
        for b in bodies)
    overall, rows = result["overall"], {row["id"]: row for row in result["rows"]}
    assert rows[broken]["judge"] == "judge_error" and overall["judge_errors"] == 1
    assert [i for i, row in rows.items() if row["judge"] not in (row["reference"], "judge_error")] == sorted(
        flipped, key=list(rows).index)
    assert overall["judge_vs_reference"] == {"agree": 196, "n": 199, "share": 0.985}
    decided = [row for row in rows.values() if row["judge"] != "judge_error"]
    assert overall["offline_vs_judge"]["agree"] == sum(row["offline"] == row["judge"] for row in decided)
    assert result["per_attribute"]["gender"]["judge_errors"] == 1 and result["judge_model"] == "judge-m"
    assert overall["judge_accuracy"] == round(sum(row["judge"] == "correct" for row in decided) / 199, 3)
    assert "judge=reference" in stdout and "0.985 (196/199)" in stdout
