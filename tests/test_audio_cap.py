"""Audio longer than the duration cap ($MMPRIV_MAX_AUDIO_SECONDS) is a per-sample error for every
model, found from the header before decoding; the voice profiler reads clips block by block."""
from __future__ import annotations

import json

import numpy as np
import pytest

from mmpriv_tasks.data.hearsay import audio_value, write_split
from mmpriv_tasks.inputs.media import audio_blocks, audio_error, encode_wav
from mmpriv_tasks.models.voice_profiler import stream_f0, yin_f0

from conftest import run_cli, venv_bin
from fake_openai_server import FakeOpenAIServer

RATE = 16_000


def _tone(seconds: float, hz: float = 120.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * hz * t) + 0.01 * np.random.default_rng(0).standard_normal(t.size)).astype(np.float32)


def test_cap_is_read_from_the_environment(monkeypatch):
    clip = {"bytes": encode_wav(_tone(3.0)), "path": None}
    assert audio_error(clip) is None  # default cap: 600 s
    monkeypatch.setenv("MMPRIV_MAX_AUDIO_SECONDS", "2.5")
    assert audio_error(clip, "s1") == "sample s1: audio is 3 s long, over the 2 s cap ($MMPRIV_MAX_AUDIO_SECONDS)"
    monkeypatch.setenv("MMPRIV_MAX_AUDIO_SECONDS", "3")
    assert audio_error(clip) is None  # exactly at the cap


def test_streamed_pitch_equals_whole_clip_pitch():
    samples = _tone(6.0)
    samples[RATE:2 * RATE] = 0  # a silent second
    whole = yin_f0(samples)
    streamed = stream_f0(samples[i:i + 5001] for i in range(0, samples.size, 5001))
    assert whole.shape == streamed.shape == ((samples.size - 1024) // 256 + 1,)
    np.testing.assert_array_equal(np.isnan(whole), np.isnan(streamed))
    np.testing.assert_allclose(whole, streamed, equal_nan=True)
    blocks = list(audio_blocks({"bytes": encode_wav(samples), "path": None}, block_seconds=1.0))
    assert [b.size for b in blocks] == [RATE] * 6


@pytest.mark.parametrize("model", ["voice-profiler", "mmpriv-api"])
def test_a_clip_over_the_cap_is_a_per_sample_error(tmp_path, model):
    rows = [{"id": f"c{k}", "attribute": "gender", "label": "male", "source": "synthetic", "speaker": "s",
             "sentence": "", "audio": audio_value(encode_wav(_tone(seconds)), f"c{k}.wav")}
            for k, seconds in enumerate((1.0, 3.0))]
    write_split(rows, tmp_path / "gender.parquet")
    with FakeOpenAIServer(answer=lambda body: "Selected Label: Male") as server:
        args = ["--model_args", f"base_url={server.base_url},model=fake,cache=false"] if model == "mmpriv-api" else []
        proc = run_cli(venv_bin("mmpriv"), "run", "--model", model, *args, "--tasks", "hearsay_gender_plain",
                       "--metadata", json.dumps({"data_dir": str(tmp_path)}), "--output_path", str(tmp_path / "out"),
                       cwd=tmp_path, env={"MMPRIV_MAX_AUDIO_SECONDS": "2", "MMPRIV_CACHE_DIR": str(tmp_path / "c")})
        sent = server.count
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sent == (1 if model == "mmpriv-api" else 0)  # the long clip never reaches the model
    results = json.loads(next((tmp_path / "out").rglob("results_*.json")).read_text())["results"]
    assert results["hearsay_gender_plain"]["error_rate,none"] == 0.5
    samples = [json.loads(line) for line in next((tmp_path / "out").rglob("samples_*.jsonl")).read_text().splitlines()]
    errors = {s["doc"]["id"]: s["doc"].get("error") for s in samples}
    assert errors["c0"] is None
    assert errors["c1"].endswith("sample c1: audio is 3 s long, over the 2 s cap ($MMPRIV_MAX_AUDIO_SECONDS)")
