"""The shared chat-completions client and payload builder, against a real local HTTP server."""
from __future__ import annotations

import asyncio
import base64
import gc
import io
import logging
import time

import numpy as np
import pytest
import soundfile

from mmpriv_tasks.api.client import ChatClient, parse_retry_after, request_key, run_coroutine
from mmpriv_tasks.api.payload import build_messages, build_request, truncate_at_stop
from mmpriv_tasks.errors import MediaError
from mmpriv_tasks.outputs import Interrupted

from fake_openai_server import FakeOpenAIServer, free_port


def fast_client(base_url, **kwargs):
    options = dict(num_concurrent=4, timeout=0.5, max_retries=6, backoff_base=0.01, backoff_max=0.05)
    options.update(kwargs)
    return ChatClient(base_url, kwargs.pop("api_key", None), **options)


def text_payload(i):
    return {"model": "fake", "messages": [{"role": "user", "content": f"say {i}"}], "temperature": 0}


# -- payload building --------------------------------------------------------------------------

def _png(color=(200, 10, 10)):
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), color).save(buffer, format="PNG")
    return buffer.getvalue()


def _wav(rate=44_100, seconds=0.25, channels=2):
    t = np.linspace(0, seconds, int(rate * seconds), endpoint=False)
    tone = 0.3 * np.sin(2 * np.pi * 440 * t).astype(np.float32)
    buffer = io.BytesIO()
    soundfile.write(buffer, np.stack([tone] * channels, axis=1), rate, format="WAV")
    return buffer.getvalue()


def test_text_only_request_is_a_plain_message():
    assert build_messages("Hello", None) == [{"role": "user", "content": "Hello"}]
    assert build_messages("Hello", {"visual": [], "audio": []}) == [{"role": "user", "content": "Hello"}]


def test_image_becomes_a_png_data_url_before_the_text():
    messages = build_messages("<image> What is the email?", {"visual": [{"bytes": _png(), "path": None}]})
    parts = messages[-1]["content"]
    assert [p["type"] for p in parts] == ["image_url", "text"]
    url = parts[0]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    from PIL import Image

    image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert image.format == "PNG" and image.size == (8, 6)
    assert parts[1]["text"] == "What is the email?"


def test_audio_becomes_16khz_mono_wav_input_audio():
    messages = build_messages("Who is speaking?", {"audio": [{"bytes": _wav(), "path": None}]})
    part = messages[-1]["content"][0]
    assert part["type"] == "input_audio" and part["input_audio"]["format"] == "wav"
    samples, rate = soundfile.read(io.BytesIO(base64.b64decode(part["input_audio"]["data"])))
    assert rate == 16_000 and samples.ndim == 1 and abs(len(samples) - 4000) <= 2
    # arrays with their rate work too
    array_part = build_messages("x", {"audio": [(np.zeros(8000, np.float32), 8000)]})[-1]["content"][0]
    assert array_part["type"] == "input_audio"


def test_broken_media_raises_a_media_error_naming_the_sample():
    with pytest.raises(MediaError, match="sample s7"):
        build_messages("x", {"visual": [{"bytes": b"not a png", "path": None}]}, sample="s7")


def test_chat_history_context_keeps_system_and_turns():
    import json

    history = json.dumps([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Q?"}])
    messages = build_messages(history, {"visual": [_png()]})
    assert messages[0] == {"role": "system", "content": "Be brief."}
    assert messages[1]["role"] == "user" and messages[1]["content"][-1] == {"type": "text", "text": "Q?"}


def test_gen_kwargs_are_honoured():
    body = build_request("m", [], {"until": ["\n\n", "", "END", "a", "b", "c"], "max_gen_toks": 32,
                                   "do_sample": False, "temperature": 0.7})
    assert body["max_tokens"] == 32 and body["temperature"] == 0.0
    assert body["stop"] == ["\n\n", "END", "a", "b"]  # at most 4, empty strings dropped
    sampled = build_request("m", [], {"do_sample": True, "temperature": 0.7, "top_p": 0.9})
    assert sampled["temperature"] == 0.7 and sampled["top_p"] == 0.9 and sampled["max_tokens"] == 150
    assert "stop" not in build_request("m", [], {"until": []})
    assert build_request("m", [], {}, max_tokens_field="max_completion_tokens")["max_completion_tokens"] == 150
    assert truncate_at_stop("answer\n\nmore", ["\n\n"]) == "answer"


def test_request_key_covers_media_bytes_and_params():
    a = build_request("m", build_messages("q", {"visual": [_png()]}))
    b = build_request("m", build_messages("q", {"visual": [_png((0, 0, 0))]}))
    c = build_request("m", build_messages("q", {"visual": [_png()]}), {"max_gen_toks": 5})
    assert len({request_key(a), request_key(b), request_key(c)}) == 3
    assert request_key(a) == request_key(build_request("m", build_messages("q", {"visual": [_png()]})))


def test_retry_after_parsing():
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert 0 <= parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") <= 0.0 + 1e-9


# -- HTTP behaviour ----------------------------------------------------------------------------

def test_answers_come_back_in_order_with_the_key_sent():
    with FakeOpenAIServer() as server:
        client = ChatClient(server.base_url, "sk-test-123", num_concurrent=4)
        results = client.complete_many([text_payload(i) for i in range(10)], disable_tqdm=True)
    assert [r.text for r in results] == [f"echo: say {i}" for i in range(10)]
    assert all(r["authorization"] == "Bearer sk-test-123" for r in server.requests)
    assert "sk-test" not in repr(client)


def test_retry_after_is_honoured_on_429():
    with FakeOpenAIServer(script=["429"], retry_after="1") as server:
        result = fast_client(server.base_url).complete(text_payload(0), disable_tqdm=True)
    assert result.ok and result.attempts == 2
    first, second = server.requests
    assert second["time"] - first["time"] >= 0.95  # backoff alone would be <= 0.05 s


@pytest.mark.parametrize("fault", ["500", "slow", "malformed", "no_choices", "drop"])
def test_each_transient_fault_is_retried(fault):
    with FakeOpenAIServer(script=[fault], slow_seconds=1.5) as server:
        result = fast_client(server.base_url).complete(text_payload(1), disable_tqdm=True)
    assert result.ok and result.text == "echo: say 1" and result.attempts == 2


def test_persistent_faults_become_an_error_not_an_answer(caplog):
    with FakeOpenAIServer(fault_rate=1.0, faults=("malformed",)) as server:
        with caplog.at_level(logging.INFO, logger="mmpriv_tasks.api"):
            result = fast_client(server.base_url, max_retries=2).complete(text_payload(2), "doc-2",
                                                                         disable_tqdm=True)
    assert not result.ok and result.text is None and result.attempts == 3
    assert "failed after 3 attempts" in result.error and "not JSON" in result.error
    assert "doc-2" in caplog.text and "say 2" not in caplog.text  # ids logged, prompts not


def test_a_reply_of_reasoning_only_is_an_error_naming_the_token_limit_not_retried():
    with FakeOpenAIServer(script=["reasoning_only"]) as server:
        result = fast_client(server.base_url).complete(text_payload(3), "doc-3", disable_tqdm=True)
    assert not result.ok and result.text is None and result.attempts == 1 and server.count == 1
    assert "reasoning only (finish_reason=length)" in result.error and "max_gen_toks" in result.error


def test_client_errors_are_not_retried():
    with FakeOpenAIServer() as server:
        client = fast_client(server.base_url.replace("/v1", "/nope"))
        result = client.complete(text_payload(0), disable_tqdm=True)
    assert not result.ok and "HTTP 404" in result.error and server.count == 1


def test_unreachable_server_gives_a_clear_error_quickly():
    client = fast_client(f"http://127.0.0.1:{free_port()}/v1", max_retries=1)
    start = time.monotonic()
    results = client.complete_many([text_payload(i) for i in range(3)], disable_tqdm=True)
    assert time.monotonic() - start < 5
    assert all(not r.ok and "cannot connect to 127.0.0.1" in r.error for r in results)


def test_cache_serves_repeats_and_does_not_keep_errors(tmp_path):
    payloads = [text_payload(i) for i in range(6)]
    with FakeOpenAIServer(fault_rate=1.0, faults=("500",)) as broken:
        failed = fast_client(broken.base_url, max_retries=0, cache_dir=tmp_path).complete_many(
            payloads, disable_tqdm=True)
    assert not any(r.ok for r in failed)
    with FakeOpenAIServer() as server:
        first = fast_client(server.base_url, cache_dir=tmp_path).complete_many(payloads, disable_tqdm=True)
        assert server.count == 6  # the failures were not cached
        again = fast_client(server.base_url, cache_dir=tmp_path).complete_many(payloads, disable_tqdm=True)
        assert server.count == 6  # everything came from the cache
    assert [r.text for r in again] == [r.text for r in first] and all(r.cached for r in again)


def test_concurrency_limit_is_respected():
    with FakeOpenAIServer(latency=0.2) as server:
        client = fast_client(server.base_url, num_concurrent=5, timeout=5)
        start = time.monotonic()
        client.complete_many([text_payload(i) for i in range(10)], disable_tqdm=True)
        elapsed = time.monotonic() - start
    assert 0.35 < elapsed < 1.5  # two waves of 5, not 10 at once, not one at a time


# -- repeated errors, echoing servers, log levels ----------------------------------------------

def image_payload(i):
    url = "data:image/png;base64," + base64.b64encode(_png((i, 0, 0))).decode()
    return {"model": "fake", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": f"secret prompt number {i}"}]}]}


def test_identical_error_for_many_samples_is_reported_once_and_not_retried(caplog):
    from mmpriv_tasks.api.client import REPEAT_LIMIT

    with FakeOpenAIServer(reject_media=True) as server:
        client = fast_client(server.base_url, num_concurrent=1, max_retries=4)
        with caplog.at_level(logging.DEBUG, logger="mmpriv_tasks.api"):
            results = client.complete_many([image_payload(i) for i in range(8)], [f"img-{i}" for i in range(8)],
                                           disable_tqdm=True)
    assert not any(r.ok for r in results)
    assert [r.attempts for r in results] == [5] * REPEAT_LIMIT + [1] * (8 - REPEAT_LIMIT)
    assert server.count == 5 * REPEAT_LIMIT + (8 - REPEAT_LIMIT)
    assert all("is it a vision model?" in r.error for r in results[REPEAT_LIMIT - 1:])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("is it a vision model?" in w for w in warnings) == 1
    assert len(warnings) == REPEAT_LIMIT  # two per-request failures, then the one summary
    # the server echoed each request (prompt and base64 image) in its error body: none of it is shown
    shown = caplog.text + " ".join(r.error for r in results)
    assert "secret prompt" not in shown and "base64" not in shown and "iVBOR" not in shown
    assert "HTTP 500: can only concatenate str" in results[0].error


def test_text_only_repeated_error_hint_and_rate_limits_are_never_cut_off():
    with FakeOpenAIServer(fault_rate=1.0, faults=("500",)) as server:
        results = fast_client(server.base_url, num_concurrent=1, max_retries=2).complete_many(
            [text_payload(i) for i in range(5)], disable_tqdm=True)
    assert [r.attempts for r in results] == [3, 3, 3, 1, 1]
    assert "check the model name" in results[-1].error
    with FakeOpenAIServer(fault_rate=1.0, faults=("429",)) as server:  # rate limiting is not a broken endpoint
        results = fast_client(server.base_url, num_concurrent=1, max_retries=1).complete_many(
            [text_payload(i) for i in range(5)], disable_tqdm=True)
    assert [r.attempts for r in results] == [2] * 5 and server.count == 10


def test_attempts_log_at_debug_and_retry_counts_at_info(caplog):
    with FakeOpenAIServer(script=["500", "drop"]) as server:
        client = fast_client(server.base_url)
        with caplog.at_level(logging.INFO, logger="mmpriv_tasks.api"):
            result = client.complete(text_payload(3), "doc-3", disable_tqdm=True)
        assert result.ok and result.attempts == 3
        assert "attempt" not in caplog.text and "1 answered (0 from cache), 0 errors, 2 retries" in caplog.text
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="mmpriv_tasks.api"):
            client.complete(text_payload(4), "doc-4", disable_tqdm=True)  # fresh payload, no faults left
            server.script[:] = ["500"]
            client.complete(text_payload(5), "doc-5", disable_tqdm=True)
    assert "request doc-5 attempt 1: HTTP 500: internal error; retrying in" in caplog.text


@pytest.mark.parametrize("in_request_task", [False, True])
def test_an_interrupt_inside_the_loop_reaches_the_caller_only(in_request_task, caplog):
    """SIGTERM's handler raises in whichever task is running (CI: aiohttp's body writer); the caller
    gets the interrupt, and asyncio logs no "Task exception was never retrieved" when it is collected."""

    async def interrupted():
        raise Interrupted("SIGTERM")

    async def main():
        if not in_request_task:
            await interrupted()
        task = asyncio.get_running_loop().create_task(interrupted())
        await asyncio.sleep(0)  # the task runs and the interrupt leaves the loop through it
        await asyncio.sleep(60)
        return task

    with caplog.at_level(logging.ERROR, logger="asyncio"), pytest.raises(Interrupted):
        run_coroutine(main)
    gc.collect()
    assert caplog.records == []
