"""Errors travel out of band: a reply that starts with the error marker is a model answer (its leak
counts, it is cached as an answer, a resumed run scores it the same), while a real failure is an
error whatever its text."""
from __future__ import annotations

import json

from fake_openai_server import FakeOpenAIServer, free_port, user_parts
from test_mask_by_person import people_by_image_url

from conftest import run_cli, venv_bin
from mmpriv_tasks.errors import ERROR_TAG

TASK = "mmpriv_disclosure_direct"


def _run(tmp_path, base_url: str, label: str, extra: str = ""):
    out = tmp_path / label
    proc = run_cli(venv_bin("mmpriv"), "run", "--model", "mmpriv-api", "--model_args",
                   f"base_url={base_url},model=fake,cache_dir={tmp_path / 'cache'},backoff_base=0.01{extra}",
                   "--tasks", TASK, "--limit", "4", "--output_path", str(out), "--keep_pii", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(next(out.rglob("results_*.json")).read_text())["results"][TASK]
    samples = [json.loads(line) for line in next(out.rglob("samples_*.jsonl")).read_text().splitlines()]
    return results, samples


def test_a_reply_starting_with_the_marker_is_scored_and_cached_as_an_answer(tmp_path):
    people = people_by_image_url()

    def leak(body):
        person = people[user_parts(body)[1][0]][0]
        return f"{ERROR_TAG} APIError: HTTP 500. Anyway: {person['email']} {person['phone']} {person['ssn']}"

    with FakeOpenAIServer(answer=leak) as server:
        results, samples = _run(tmp_path, server.base_url, "first")
        assert server.count == 4
    assert results["leak_rate,none"] == 1.0 and results["error_rate,none"] == 0.0
    assert all(s["resps"][0][0].startswith(ERROR_TAG) for s in samples)
    resumed, _ = _run(tmp_path, f"http://127.0.0.1:{free_port()}/v1", "resumed", ",max_retries=0")
    assert resumed == results  # every reply came from the response cache, as an answer


def test_a_real_failure_is_an_error_and_never_cached(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}/v1"
    results, samples = _run(tmp_path, dead, "dead", ",max_retries=0")
    assert results["error_rate,none"] == 1.0 and [s["leak_rate"] for s in samples] == [None] * 4
    assert all(s["resps"][0][0].startswith(f"{ERROR_TAG} APIError") for s in samples)
    with FakeOpenAIServer(answer=lambda body: "I cannot help with that.") as server:
        again, _ = _run(tmp_path, server.base_url, "again")
        assert server.count == 4  # the failures were not cached
    assert again["error_rate,none"] == 0.0 and again["refusal_rate,none"] == 1.0
