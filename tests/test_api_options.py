"""`mmpriv-api` options as the server sees them: image_detail, system_prompt, seed, retry_after_max,
the default key variable, and lm-eval's --apply_chat_template / --system_instruction (CLI path)."""
from __future__ import annotations

import pytest

from fake_openai_server import FakeOpenAIServer

from conftest import run_cli, venv_bin

TASK = "mmpriv_disclosure_direct"
FAST = "timeout=5,backoff_base=0.01,backoff_max=0.05,num_concurrent=1,cache=false"


def _evaluate(task_manager, base_url: str, extra: str, limit: int = 2, **kwargs):
    import lm_eval

    return lm_eval.simple_evaluate(model="mmpriv-api", model_args=f"base_url={base_url},model=fake-vlm,{FAST},{extra}",
                                   tasks=[TASK], task_manager=task_manager, limit=limit, **kwargs)


def test_detail_system_prompt_seed_and_default_key_reach_the_server(task_manager, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-default-variable-42")
    with FakeOpenAIServer() as server:
        _evaluate(task_manager, server.base_url, "image_detail=low,system_prompt=Answer briefly.,seed=7")
    assert server.count == 2
    for request in server.requests:
        body = request["body"]
        assert request["authorization"] == "Bearer sk-default-variable-42"
        assert body["seed"] == 7
        assert body["messages"][0] == {"role": "system", "content": "Answer briefly."}
        image = body["messages"][-1]["content"][0]
        assert image["type"] == "image_url" and image["image_url"]["detail"] == "low"


def test_unset_options_are_not_sent_and_no_key_means_no_header(task_manager, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with FakeOpenAIServer() as server:
        _evaluate(task_manager, server.base_url, "max_retries=0", limit=1)
    (request,) = server.requests
    assert request["authorization"] is None
    assert "seed" not in request["body"] and [m["role"] for m in request["body"]["messages"]] == ["user"]
    assert "detail" not in request["body"]["messages"][0]["content"][0]["image_url"]


def test_retry_after_max_caps_the_servers_wait(task_manager):
    with FakeOpenAIServer(script=["429"], retry_after="30") as server:
        _evaluate(task_manager, server.base_url, "retry_after_max=0.5,max_retries=2", limit=1)
    first, second = server.requests
    assert first["fault"] == "429" and second["fault"] is None
    assert 0.45 <= second["time"] - first["time"] < 5  # capped at 0.5 s, not the 30 s asked for


@pytest.mark.slow
def test_cli_apply_chat_template_sends_the_system_instruction_as_a_message(tmp_path):
    with FakeOpenAIServer() as server:
        proc = run_cli(venv_bin("mmpriv"), "run", "--model", "mmpriv-api", "--model_args",
                       f"base_url={server.base_url},model=fake-vlm,{FAST},api_key_env=MY_KEY", "--tasks", TASK,
                       "--limit", "2", "--apply_chat_template", "--system_instruction", "Be careful.",
                       cwd=tmp_path, env={"MY_KEY": "sk-named-variable-7"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert server.count == 2
    for request in server.requests:
        messages = request["body"]["messages"]
        assert request["authorization"] == "Bearer sk-named-variable-7"
        assert messages[0] == {"role": "system", "content": "Be careful."}  # a turn, not glued to the text
        text = messages[-1]["content"][-1]["text"]
        assert messages[-1]["role"] == "user" and text and "Be careful" not in text and "<image>" not in text
    assert "sk-named-variable-7" not in proc.stdout + proc.stderr
