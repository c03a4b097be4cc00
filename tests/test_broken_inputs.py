"""Every broken input is an error, never a score, and the run goes on; data faults stop the run first.

Through the real path: ``mmpriv run`` as a subprocess with ``mmpriv-api`` against a real HTTP server on
127.0.0.1, over copies of the bundled splits with some rows corrupted. The server's request log
proves that no broken sample reaches the API.
"""
from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from mmpriv_tasks.errors import MediaError
from mmpriv_tasks.inputs.media import encode_png, encode_wav, load_audio
from mmpriv_tasks.paths import bundled_data_dir

from conftest import run_cli, venv_bin
from fake_openai_server import FakeOpenAIServer


def _bomb_png() -> bytes:
    """A 20000 x 20000 one-bit PNG: 48 KB on disk, 400 M pixels decoded."""
    buffer = io.BytesIO()
    Image.new("1", (20000, 20000)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _wav(seconds: float) -> bytes:
    t = np.arange(int(seconds * 16000)) / 16000
    return encode_wav((0.3 * np.sin(2 * np.pi * 180 * t)).astype(np.float32), 16000)


# corruption -> (cell or callable(folder) -> cell, broken?)
IMAGE_CASES = {
    "decompression_bomb": (lambda d: {"bytes": _bomb_png(), "path": None}, True),
    "null": (lambda d: None, True),
    "empty_bytes": (lambda d: {"bytes": b"", "path": None}, True),
    "undecodable": (lambda d: {"bytes": b"this is not an image", "path": None}, True),
    "truncated_png": (lambda d: {"bytes": encode_png(Image.new("RGB", (300, 200), "white"))[:200], "path": None},
                      True),
    "path_outside": (lambda d: {"bytes": None, "path": "../outside/secret.png"}, True),
    "absolute_path": (lambda d: {"bytes": None, "path": str(d.parent / "outside" / "secret.png")}, True),
    "symlink_outside": (lambda d: {"bytes": None, "path": "forms/link.png"}, True),
    "relative_path_inside": (lambda d: {"bytes": None, "path": "forms/ok.png"}, False),
}
AUDIO_CASES = {
    "truncated_wav": (lambda d: {"bytes": _wav(1.0)[:1000], "path": None}, True),
    "too_short": (lambda d: {"bytes": _wav(0.01), "path": None}, True),
    "undecodable": (lambda d: {"bytes": b"RIFF....not audio", "path": None}, True),
    "null": (lambda d: None, True),
    "path_outside": (lambda d: {"bytes": None, "path": "../outside/secret.wav"}, True),
    "relative_path_inside": (lambda d: {"bytes": None, "path": "clips/ok.wav"}, False),
}
SWEEP = {"image": ("mmprivacy", "disclosure", "mmpriv_disclosure_direct", IMAGE_CASES),
         "audio": ("hearsay", "gender", "hearsay_gender_plain", AUDIO_CASES)}


def corrupt_split(folder: Path, dataset: str, split: str, cases: dict) -> dict[str, str]:
    """Copy a bundled split into ``folder`` with row k replaced by case k; returns case -> row id."""
    folder.mkdir(parents=True)
    outside = folder.parent / "outside"
    outside.mkdir(exist_ok=True)
    (outside / "secret.png").write_bytes(encode_png(Image.new("RGB", (64, 64), "red")))
    (outside / "secret.wav").write_bytes(_wav(1.0))
    (folder / "forms").mkdir()
    (folder / "forms" / "ok.png").write_bytes(encode_png(Image.new("RGB", (64, 64), "blue")))
    (folder / "forms" / "link.png").symlink_to(outside / "secret.png")
    (folder / "clips").mkdir()
    (folder / "clips" / "ok.wav").write_bytes(_wav(1.0))
    table = pq.read_table(bundled_data_dir() / dataset / f"{split}.parquet")
    rows = table.to_pylist()
    column = "image" if "image" in table.column_names else "audio"
    ids = {}
    for k, (name, (cell, _broken)) in enumerate(cases.items()):
        rows[k][column] = cell(folder)
        ids[name] = rows[k]["id"]
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), folder / f"{split}.parquet")
    return ids


def _outputs(out: Path, task: str) -> tuple[dict, list[dict]]:
    results = json.loads(max(out.rglob("results_*.json")).read_text())["results"][task]
    samples = [json.loads(line) for line in max(out.rglob(f"samples_{task}_*.jsonl")).read_text().splitlines()]
    return results, samples


@pytest.fixture(scope="module", params=sorted(SWEEP))
def sweep(request, tmp_path_factory):
    """One CLI run per modality over a split holding every corruption of that modality."""
    modality = request.param
    dataset, split, task, cases = SWEEP[modality]
    root = tmp_path_factory.mktemp(modality)
    ids = corrupt_split(root / "data", dataset, split, cases)
    with FakeOpenAIServer() as server:
        done = run_cli(venv_bin("mmpriv"), "run", "--model", "mmpriv-api", "--model_args",
                       f"base_url={server.base_url},model=fake,cache=false,max_retries=0", "--tasks", task,
                       "--metadata", json.dumps({"data_dir": str(root / "data")}), "--output_path", str(root / "out"),
                       env={"MMPRIV_CACHE_DIR": str(root / "cache")})
        bodies = server.bodies()
    assert done.returncode == 0, done.stderr[-3000:]
    results, samples = _outputs(root / "out", task)
    return {"cases": cases, "ids": ids, "results": results, "samples": samples, "bodies": bodies,
            "log": done.stderr}


def test_broken_samples_are_errors_never_scores(sweep):
    """Run completes, error_rate = broken/total, each broken sample has a reason and no decision, and
    exactly the intact samples reached the API (each with its one medium)."""
    cases, ids, samples = sweep["cases"], sweep["ids"], sweep["samples"]
    broken = {ids[name] for name, (_cell, is_broken) in cases.items() if is_broken}
    assert sweep["results"]["error_rate,none"] == pytest.approx(len(broken) / len(samples))
    by_id = {sample["doc"]["id"]: sample for sample in samples}
    for name, (_cell, is_broken) in cases.items():
        sample = by_id[ids[name]]
        if is_broken:
            assert sample["error_rate"] == 1 and sample["doc"]["error"], name
            assert all(sample[m] is None for m in sample["metrics"] if m.endswith("_rate")
                       and m not in ("error_rate", "judged_rate", "judge_error_rate")), name
        else:
            assert sample["error_rate"] == 0 and "error" not in sample["doc"], name
    assert len(sweep["bodies"]) == len(samples) - len(broken)
    for body in sweep["bodies"]:
        content = body["messages"][-1]["content"]
        assert isinstance(content, list) and sum(p["type"] != "text" for p in content) == 1
        assert "<image>" not in json.dumps(body)


def test_request_counts_are_logged_at_info(sweep):
    """The API client's summary (requests, errors, retries) reaches `mmpriv run`'s log at INFO."""
    assert re.search(r"INFO .*\d+ requests: \d+ answered \(\d+ from cache\), \d+ errors, \d+ retries", sweep["log"])


def test_error_reasons_name_the_sample_and_the_fault(sweep):
    samples = {sample["doc"]["id"]: sample for sample in sweep["samples"]}
    ids = sweep["ids"]
    reasons = {name: samples[ids[name]]["doc"].get("error", "") for name in ids}
    assert all(ids[name] in reason for name, reason in reasons.items() if name not in ("relative_path_inside",)
               and "outside" not in name and "symlink" not in name)
    assert "over the pixel cap" in reasons.get("decompression_bomb", "over the pixel cap")
    assert "outside the dataset folder" in reasons["path_outside"]
    if "truncated_wav" in reasons:
        assert "truncated" in reasons["truncated_wav"] and "0x" not in reasons["undecodable"]


DATA_FAULTS = {
    "missing_dataset": (lambda d: None, "not found"),
    "zero_bytes": (lambda d: (d / "disclosure.parquet").write_bytes(b""), "empty (0 bytes)"),
    "not_parquet": (lambda d: (d / "disclosure.parquet").write_text("id,question\n1,hi\n"), "not a readable parquet"),
    "no_rows": (lambda d: _write_bundled(d, "disclosure", lambda t: t.slice(0, 0)), "no rows"),
    "missing_scoring_column": (lambda d: _write_bundled(d, "disclosure", lambda t: t.drop_columns(["pii_value"])),
                               "missing column 'pii_value'"),
    "missing_prompt_column": (lambda d: _write_bundled(d, "disclosure", lambda t: t.drop_columns(["question"])),
                              "missing column 'question'"),
    "missing_media_column": (lambda d: _write_bundled(d, "disclosure", lambda t: t.drop_columns(["image"])),
                             "missing required column(s) 'image'"),
    "unknown_where_column": (lambda d: _write_bundled(d, "retention", lambda t: t.drop_columns(["condition"])),
                             "`where` names column 'condition'"),
}


def _write_bundled(folder: Path, split: str, change) -> None:
    pq.write_table(change(pq.read_table(bundled_data_dir() / "mmprivacy" / f"{split}.parquet")),
                   folder / f"{split}.parquet")


@pytest.mark.slow
@pytest.mark.parametrize("fault", sorted(DATA_FAULTS))
def test_data_faults_stop_before_any_model_call_with_one_line(fault, tmp_path):
    make, expected = DATA_FAULTS[fault]
    data = tmp_path / "data"
    data.mkdir()
    make(data)
    task = "mmpriv_retention_direct_distractor" if "where" in fault else "mmpriv_disclosure_direct"
    with FakeOpenAIServer() as server:
        done = run_cli(venv_bin("mmpriv"), "run", "--model", "mmpriv-api", "--model_args",
                       f"base_url={server.base_url},model=fake,cache=false", "--tasks", task,
                       "--metadata", json.dumps({"data_dir": str(data)}),
                       env={"MMPRIV_CACHE_DIR": str(tmp_path / "cache")})
        assert server.count == 0
    assert done.returncode == 2, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("mmpriv:")]
    assert len(lines) == 1 and expected in lines[0] and str(data) in lines[0], done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    for command in ("mmpriv data build --help", "mmpriv data import --help"):
        if f"`{command}`" in lines[0]:
            assert run_cli(venv_bin("mmpriv"), *command.split()[1:]).returncode == 0


@pytest.mark.slow
def test_data_fault_traceback_only_with_debug(tmp_path):
    done = run_cli(venv_bin("mmpriv"), "run", "--model", "refuse-all", "--tasks", "mmpriv_disclosure_direct",
                   "--metadata", json.dumps({"data_dir": str(tmp_path / "none")}), "--verbosity", "DEBUG")
    assert done.returncode != 0 and "Traceback" in done.stderr and "DatasetMissingError" in done.stderr


def test_multichannel_audio_is_averaged_per_frame():
    """(frames, channels) in every decoder path, including clips with fewer frames than channels."""
    import soundfile

    assert load_audio((np.array([[0.2, 0.4, 0.6], [0.1, 0.1, 0.1]], dtype=np.float32), 10), sample_rate=10) \
        == pytest.approx([0.4, 0.1])
    three = np.zeros((3200, 3), dtype=np.float32)
    three[:, 0] = 0.3
    buffer = io.BytesIO()
    soundfile.write(buffer, three, 16000, format="WAV")
    assert load_audio(buffer.getvalue()) == pytest.approx(np.full(3200, 0.1), abs=1e-4)


def test_audio_errors_name_the_sample_without_object_addresses():
    with pytest.raises(MediaError) as caught:
        load_audio({"bytes": b"junk", "path": None}, "hs-gender-007")
    assert str(caught.value).startswith("sample hs-gender-007: cannot decode audio") and " at 0x" not in str(caught.value)
