"""What the API client does per request, against a real local server: payloads built lazily as
slots free up, one serialisation whose bytes are also the cache key (no key without a cache),
16 kHz mono WAVs passed through undecoded, and a dead endpoint that stops a run early."""
from __future__ import annotations

import base64
import hashlib
import io
import json
import sqlite3
import struct

import numpy as np
import pytest
import soundfile

from mmpriv_tasks.api import client as client_module
from mmpriv_tasks.api import payload as payload_module
from mmpriv_tasks.api.client import UNREACHABLE_LIMIT, ChatClient, encode_body
from mmpriv_tasks.api.payload import build_messages, is_target_wav
from mmpriv_tasks.errors import MediaError, parse_error

from conftest import png_bytes, run_cli, venv_bin, wav_bytes
from fake_openai_server import FakeOpenAIServer, free_port


def _instance(args, doc_id):
    from lm_eval.api.instance import Instance

    return Instance(request_type="generate_until", doc={}, arguments=args, idx=0, metadata=("unit", doc_id, 1))


def _model(base_url, **kwargs):
    from mmpriv_tasks.models.openai_compat import OpenAICompatLM

    options = dict(base_url=base_url, model="fake", cache=False, timeout=5, max_retries=1, backoff_base=0.01)
    return OpenAICompatLM(**{**options, **kwargs})


def _with_list_chunk(wav: bytes) -> bytes:
    """``wav`` with a LIST chunk before its data: still a valid WAV, but no encoder writes it back."""
    chunk = b"LIST" + struct.pack("<I", 8) + b"INFOtest"
    data_at = wav.index(b"data")
    body = wav[12:data_at] + chunk + wav[data_at:]
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body


def _stereo_wav(rate=16_000, frames=3200) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, np.full((frames, 2), 0.1, np.float32), rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


# -- lazy payloads -----------------------------------------------------------------------------

def test_payloads_are_built_when_a_slot_frees_up_not_up_front():
    with FakeOpenAIServer() as server:
        model = _model(server.base_url, num_concurrent=1)
        answered_at_build = []
        build = model.build_payload

        def recording(*args, **kwargs):
            answered_at_build.append(server.count)
            return build(*args, **kwargs)

        model.build_payload = recording
        out = model.generate_until([_instance((f"Say {i}.", {}), i) for i in range(5)], disable_tqdm=True)
    assert answered_at_build == [0, 1, 2, 3, 4]  # built one by one, as the previous request came back
    assert out == [f"echo: Say {i}." for i in range(5)]


def test_a_payload_that_cannot_be_built_is_an_error_of_its_own_kind_and_never_sent():
    def broken():
        raise MediaError("sample s3: cannot decode image")

    with FakeOpenAIServer() as server:
        results = ChatClient(server.base_url, num_concurrent=2).complete_many(
            [{"model": "m", "messages": [{"role": "user", "content": "a"}]}, broken], ["s0", "s3"],
            disable_tqdm=True)
    assert results[0].ok and results[0].text == "echo: a"
    assert (results[1].ok, results[1].kind, results[1].error) == (False, "MediaError", "sample s3: cannot decode image")
    assert server.count == 1


# -- one serialisation, the cache key from the same bytes, none without a cache ----------------

class _CountingHash:
    """Stands in for the client's ``hashlib``: counts ``sha256`` calls."""

    def __init__(self) -> None:
        self.calls = 0

    def sha256(self, data: bytes):
        self.calls += 1
        return hashlib.sha256(data)


def test_each_body_is_serialised_once_and_its_bytes_are_the_cache_key(tmp_path, monkeypatch):
    encoded = []

    def counting_encode(payload):
        encoded.append(payload["messages"][0]["content"])
        return encode_body(payload)

    monkeypatch.setattr(client_module, "encode_body", counting_encode)
    payloads = [{"model": "m", "messages": [{"role": "user", "content": f"é {i}"}], "temperature": 0}
                for i in range(3)]
    with FakeOpenAIServer() as server:
        results = ChatClient(server.base_url, cache_dir=tmp_path).complete_many(payloads, disable_tqdm=True)
        sent = {r["sha256"] for r in server.requests}
    assert all(r.ok for r in results) and sorted(encoded) == ["é 0", "é 1", "é 2"]
    with sqlite3.connect(tmp_path / "responses.sqlite") as db:
        keys = {key for (key,) in db.execute("SELECT key FROM responses")}
    assert keys == sent == {hashlib.sha256(encode_body(p)).hexdigest() for p in payloads}
    assert encode_body(payloads[0]) == '{"model":"m","messages":[{"role":"user","content":"é 0"}],"temperature":0}'.encode()


def test_media_reach_the_body_unscanned_and_the_bytes_equal_plain_json(monkeypatch):
    """Images, audio and audio as a data URI (the DashScope presets) are joined in as bytes: the JSON
    encoder only sees the short rest, and the body is byte for byte what json.dumps writes."""
    seen = []
    encode = client_module._ENCODER.encode
    monkeypatch.setattr(client_module._ENCODER, "encode", lambda value: seen.append(encode(value)) or seen[-1])
    media = {"visual": [png_bytes("red"), png_bytes("blue")], "audio": [{"bytes": wav_bytes(48_000), "path": None}]}
    for data_uri in (False, True):
        payload = _model("http://127.0.0.1:9/v1", audio_data_uri=data_uri, system_prompt='Say "\\n" é').build_payload(
            'Wer spricht? "é" \u2028', {"until": ["\n"]}, media, "s1")
        body = encode_body(payload)
        assert body == json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        assert json.loads(body) == payload
        assert len(seen[-1]) < 1000 < len(body) - 96_000  # 128 KB of audio base64, none of it encoded
    assert json.loads(body)["messages"][1]["content"][2]["input_audio"]["data"].startswith("data:audio/wav;base64,UklG")
    other = {"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "x", "n": 2}],
                                          "name": None}], "seed": 1}  # scalars inside messages are kept
    assert encode_body(other) == json.dumps(other, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def test_no_key_is_computed_when_the_cache_is_off(tmp_path, monkeypatch):
    hashes = _CountingHash()
    monkeypatch.setattr(client_module, "hashlib", hashes)
    payloads = [{"model": "m", "messages": [{"role": "user", "content": str(i)}]} for i in range(4)]
    with FakeOpenAIServer() as server:
        assert all(r.ok for r in ChatClient(server.base_url).complete_many(payloads, disable_tqdm=True))
        assert hashes.calls == 0
        ChatClient(server.base_url, cache_dir=tmp_path).complete_many(payloads, disable_tqdm=True)
    assert hashes.calls == 4


# -- audio already in the target format ----------------------------------------------------------

def test_a_16khz_mono_wav_is_sent_byte_for_byte_without_decoding(monkeypatch):
    stored = _with_list_chunk(wav_bytes(3200))
    assert is_target_wav(stored)

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded a clip that needed no conversion")

    monkeypatch.setattr(payload_module, "load_audio", no_decoding)
    with FakeOpenAIServer() as server:
        out = _model(server.base_url).generate_until(
            [_instance(("Who speaks?", {}, {"audio": [{"bytes": stored, "path": None}]}), 0)], disable_tqdm=True)
        body = server.bodies()[0]
    assert parse_error(out[0]) is None
    part = body["messages"][-1]["content"][0]
    assert part == {"type": "input_audio", "input_audio": {"data": base64.b64encode(stored).decode(), "format": "wav"}}


@pytest.mark.parametrize("case", ["stereo", "44k", "float", "truncated", "too short"])
def test_other_wavs_are_converted_or_refused(case):
    if case == "stereo":
        data = _stereo_wav()
    elif case == "44k":
        data = wav_bytes(8000).replace(struct.pack("<I", 16_000), struct.pack("<I", 44_100), 1)
    elif case == "float":
        buffer = io.BytesIO()
        soundfile.write(buffer, np.full(3200, 0.1, np.float32), 16_000, format="WAV", subtype="FLOAT")
        data = buffer.getvalue()
    elif case == "truncated":
        data = wav_bytes(3200)[:-100]
    else:
        data = wav_bytes(1599)  # one frame under the 0.1 s minimum
    assert not is_target_wav(data)
    if case in ("truncated", "too short"):
        with pytest.raises(MediaError, match="sample s1: audio is"):
            build_messages("x", {"audio": [data]}, sample="s1")
        return
    part = build_messages("x", {"audio": [data]})[-1]["content"][0]
    sent = base64.b64decode(part["input_audio"]["data"])
    assert sent != data and is_target_wav(sent)
    samples, rate = soundfile.read(io.BytesIO(sent))
    assert rate == 16_000 and samples.ndim == 1


def test_is_target_wav_reads_the_header_exactly():
    wav = wav_bytes(1600)  # exactly the 0.1 s minimum
    assert is_target_wav(wav) and not is_target_wav(wav, 8_000)
    assert not is_target_wav(b"RIFF" + wav[4:8] + b"WAVX" + wav[12:]) and not is_target_wav(wav[:43])


# -- a dead endpoint -----------------------------------------------------------------------------

def test_a_dead_endpoint_stops_the_batch_after_the_limit_with_one_line(caplog):
    import logging

    client = ChatClient(f"http://127.0.0.1:{free_port()}/v1", num_concurrent=1, max_retries=2,
                        backoff_base=0.01, backoff_max=0.02)
    with caplog.at_level(logging.INFO, logger="mmpriv_tasks.api"):
        results = client.complete_many([{"model": "m", "messages": []}] * 10, disable_tqdm=True)
    assert [r.attempts for r in results] == [3] * UNREACHABLE_LIMIT + [0] * (10 - UNREACHABLE_LIMIT)
    assert client.stats["http_attempts"] == 3 * UNREACHABLE_LIMIT
    assert all("cannot connect to 127.0.0.1" in r.error for r in results)
    assert all(r.error.startswith("not sent: ") for r in results[UNREACHABLE_LIMIT - 1:])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == UNREACHABLE_LIMIT and sum("is unreachable" in w for w in warnings) == 1


def test_a_recovered_endpoint_resets_the_count():
    client = ChatClient("http://127.0.0.1:1/v1", unreachable_limit=2)
    batch = client_module._Batch(iter(()), None, None)
    dead = client_module._Unreachable("cannot connect")
    assert client._stops(batch, dead, "a", "x") is False
    assert client._stops(batch, client_module._Transient("timed out"), "b", "x") is False
    assert client._stops(batch, dead, "c", "x") is False and client._stops(batch, dead, "d", "x") is True
    assert batch.stopped.startswith("not sent: http://127.0.0.1:1/v1/chat/completions is unreachable (2 requests")


def test_mmpriv_run_against_a_port_nobody_listens_on_stops_early(tmp_path):
    args = (f"base_url=http://127.0.0.1:{free_port()}/v1,model=x,cache=false,num_concurrent=4,max_retries=3,"
            "backoff_base=0.01,backoff_max=0.02")
    done = run_cli(venv_bin("mmpriv"), "run", "--model", "mmpriv-api", "--model_args", args,
                   "--tasks", "mmpriv_disclosure_direct", "--limit", "20", "--output_path", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stderr.splitlines()
    assert sum("is unreachable: 3 requests in a row could not connect" in line for line in lines) == 1
    assert sum("failed after 4 attempt(s): cannot connect" in line for line in lines) == UNREACHABLE_LIMIT - 1
    results = json.loads(next((tmp_path / "out").rglob("results_*.json")).read_text())
    assert results["results"]["mmpriv_disclosure_direct"]["error_rate,none"] == 1.0
