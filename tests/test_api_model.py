"""``mmpriv-api`` end to end: lm-eval ``simple_evaluate`` on ``mmpriv_disclosure_direct`` (images)
against a real local chat-completions server, with injected faults, outages and resumed runs."""
from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile

from mmpriv_tasks.errors import parse_error

from fake_openai_server import REFUSAL, FakeOpenAIServer, free_port

TASK = "mmpriv_disclosure_direct"
FAST = "timeout=0.5,max_retries=8,backoff_base=0.01,backoff_max=0.05,num_concurrent=4"


def evaluate(task_manager, base_url, cache_dir=None, limit=8, extra="", **kwargs):
    import lm_eval

    cache = f"cache_dir={cache_dir}" if cache_dir else "cache=false"
    model_args = f"base_url={base_url},model=fake-vlm,{FAST},{cache}" + (f",{extra}" if extra else "")
    return lm_eval.simple_evaluate(model="mmpriv-api", model_args=model_args, tasks=[TASK],
                                   task_manager=task_manager, log_samples=True, limit=limit, **kwargs)


def replies(out):
    return [sample["resps"][0][0] for sample in sorted(out["samples"][TASK], key=lambda s: s["doc_id"])]


@pytest.fixture(scope="module")
def clean_run(task_manager):
    """One fault-free run (8 samples) and the request bodies the server received."""
    with FakeOpenAIServer() as server:
        out = evaluate(task_manager, server.base_url)
        return out, server.bodies()


def test_images_are_sent_as_data_urls_and_scored(clean_run):
    out, bodies = clean_run
    assert len(bodies) == 8
    for body in bodies:
        assert body["model"] == "fake-vlm" and body["temperature"] == 0 and body["max_tokens"] == 150
        assert "stop" not in body  # the task's until is []
        parts = body["messages"][-1]["content"]
        assert [part["type"] for part in parts] == ["image_url", "text"]
        assert parts[0]["image_url"]["url"].startswith("data:image/png;base64,iVBOR")
        assert parts[1]["text"].startswith("If you cannot help, just answer")  # placeholder dropped
    metrics = out["results"][TASK]
    assert metrics["error_rate,none"] == 0
    refused = sum(reply == REFUSAL for reply in replies(out))
    assert 0 < refused < 8 and metrics["refusal_rate,none"] == pytest.approx(refused / 8)


def test_results_with_30_percent_faults_equal_the_fault_free_run(task_manager, clean_run):
    expected = clean_run[0]
    # 30% of attempts fault (chosen per request body), and the first three attempts always do
    with FakeOpenAIServer(fault_rate=0.3, slow_seconds=1.0, script=["429", "500", "malformed"]) as flaky:
        got = evaluate(task_manager, flaky.base_url)
        faults = [r["fault"] for r in flaky.requests if r["fault"]]
    assert len(faults) >= 3, faults  # the faults really happened (deterministic per attempt)
    assert got["results"][TASK] == expected["results"][TASK]
    assert replies(got) == replies(expected)
    assert not any(parse_error(reply) for reply in replies(got))


def test_unreachable_server_makes_every_sample_an_error(task_manager):
    url = f"http://127.0.0.1:{free_port()}/v1"
    out = evaluate(task_manager, url, limit=4, extra="max_retries=1")
    assert out["results"][TASK]["error_rate,none"] == 1.0
    for reply in replies(out):
        assert "cannot connect to 127.0.0.1" in parse_error(reply)


def test_an_interrupted_run_resumes_from_the_response_cache_and_errors_are_retried(task_manager, tmp_path):
    cache = tmp_path / "api-cache"
    outage = evaluate(task_manager, f"http://127.0.0.1:{free_port()}/v1", cache_dir=cache, limit=2,
                      extra="max_retries=0")
    assert outage["results"][TASK]["error_rate,none"] == 1.0
    with FakeOpenAIServer() as server:
        evaluate(task_manager, server.base_url, cache_dir=cache, limit=3)  # "interrupted" after 3
        assert server.count == 3  # the 2 errors were not cached: sent again
        full = evaluate(task_manager, server.base_url, cache_dir=cache, limit=6)
        assert server.count == 6  # only the 3 missing samples were sent
    with FakeOpenAIServer() as fresh:
        again = evaluate(task_manager, fresh.base_url, cache_dir=cache, limit=6)
        assert fresh.count == 0  # a complete re-run costs nothing
    assert full["results"][TASK]["error_rate,none"] == 0
    assert replies(again) == replies(full) and again["results"][TASK] == full["results"][TASK]


@pytest.mark.slow
def test_lm_eval_use_cache_replays_errors(task_manager, tmp_path):
    """Documents lm-eval 0.4.13's ``--use_cache`` (CachingLM) with our multimodal requests: the PIL
    images in the request args hash fine (no crash, and a complete run is replayed), but it stores
    whatever the model returned, errors included: after an outage a re-run replays the errors.
    This is why mmpriv-api relies on its own cache (docs/api.md)."""
    db = str(tmp_path / "lm-cache")
    evaluate(task_manager, f"http://127.0.0.1:{free_port()}/v1", limit=3, extra="max_retries=0", use_cache=db)
    with FakeOpenAIServer() as server:
        out = evaluate(task_manager, server.base_url, limit=3, use_cache=db)
        assert server.count == 0
    assert out["results"][TASK]["error_rate,none"] == 1.0


# -- direct generate_until calls (text-only, audio, broken media) -------------------------------

def _instance(args, doc_id=0):
    from lm_eval.api.instance import Instance

    return Instance(request_type="generate_until", doc={}, arguments=args, idx=0,
                    metadata=("unit", doc_id, 1))


def _model(base_url, **kwargs):
    from mmpriv_tasks.models.openai_compat import OpenAICompatLM

    return OpenAICompatLM(base_url=base_url, model="fake", cache=False, timeout=2, max_retries=1,
                          backoff_base=0.01, batch_size=1, device="cuda:0", **kwargs)


def test_text_audio_and_broken_media_requests(monkeypatch):
    monkeypatch.setenv("MY_TEST_KEY", "sk-unit-456")
    buffer = io.BytesIO()
    soundfile.write(buffer, np.zeros(22_050, np.float32), 22_050, format="WAV")
    with FakeOpenAIServer() as server:
        model = _model(server.base_url, api_key_env="MY_TEST_KEY")
        out = model.generate_until([
            _instance(("Say hi.", {"until": ["hi"], "max_gen_toks": 7})),
            _instance(("Who speaks?", {"do_sample": False}, {"audio": [{"bytes": buffer.getvalue(), "path": None}]}), 1),
            _instance(("Read it.", {}, {"visual": [{"bytes": b"broken", "path": None}]}), 2),
        ], disable_tqdm=True)
        bodies = sorted(server.bodies(), key=lambda body: isinstance(body["messages"][-1]["content"], list))
    assert out[0] == "echo: Say "  # cut at the stop sequence "hi"
    assert out[1] == REFUSAL or out[1].startswith("The document reference")
    assert "cannot decode image" in parse_error(out[2])
    assert len(bodies) == 2  # the broken image was never sent (text first, then audio: arrival order varies)
    assert bodies[0]["messages"] == [{"role": "user", "content": "Say hi."}]
    assert bodies[0]["max_tokens"] == 7 and bodies[0]["stop"] == ["hi"]
    audio = bodies[1]["messages"][-1]["content"][0]
    assert audio["type"] == "input_audio" and audio["input_audio"]["format"] == "wav"
    assert all(r["authorization"] == "Bearer sk-unit-456" for r in server.requests)


def test_loglikelihood_is_not_supported():
    model = _model(f"http://127.0.0.1:{free_port()}/v1")
    with pytest.raises(NotImplementedError):
        model.loglikelihood([])
    with pytest.raises(ValueError, match="model="):
        from mmpriv_tasks.models.openai_compat import OpenAICompatLM

        OpenAICompatLM(base_url="http://x")
