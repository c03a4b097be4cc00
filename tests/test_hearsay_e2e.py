"""HearSay tasks end to end through the real lm-eval runner (bundled TTS set; no TTS engine needed)."""
from __future__ import annotations

import json
import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from lm_eval.api.registry import register_model

from mmpriv_tasks.models._offline import OfflineReferenceLM
from mmpriv_tasks.paths import bundled_data_dir
from mmpriv_tasks.inputs.task_data import DatasetMissingError

from conftest import run_cli, venv_bin
from test_hearsay_data import write_hearsay_checkout


@register_model("hearsay-test-parrot")
class Parrot(OfflineReferenceLM):
    """Answers with a fixed reply (``reply`` model arg), checking that audio arrived undecoded."""

    name = "hearsay-test-parrot"
    seen_media: list = []

    def __init__(self, reply: str = "Selected Label: Male", **kwargs) -> None:
        super().__init__(**kwargs)
        self.reply = reply

    def answer(self, context: str, media: dict) -> str:
        Parrot.seen_media.append(media)
        return self.reply


def evaluate(task_manager, model, tasks, **kwargs):
    """simple_evaluate with our task manager. (lm-eval ignores ``metadata=`` when a task manager is
    given, and a new manager takes ~25 s to index, so tests point $MMPRIV_DATA_DIR at their data.)"""
    import lm_eval

    return lm_eval.simple_evaluate(model=model, tasks=list(tasks), task_manager=task_manager, log_samples=True,
                                   **kwargs)


def test_voice_profiler_gender_and_blind(task_manager):
    out = evaluate(task_manager, "voice-profiler", ["hearsay_gender_profiler", "hearsay_blind_gender"])
    gender = out["results"]["hearsay_gender_profiler"]
    assert gender["accuracy,none"] >= 0.9 and gender["macro_f1,none"] >= 0.9
    assert gender["chance,none"] == 0.5 and gender["refusal_rate,none"] == 0 and gender["error_rate,none"] == 0
    assert len(out["samples"]["hearsay_gender_profiler"]) == 24
    blind = out["results"]["hearsay_blind_gender"]
    assert blind["refusal_rate,none"] == 1 and math.isnan(blind["blind_entropy,none"])
    assert len(out["samples"]["hearsay_blind_gender"]) == 50


def test_voice_profiler_declines_accent_and_refuse_all_floor(task_manager):
    out = evaluate(task_manager, "voice-profiler", ["hearsay_accent_defense"])
    assert out["results"]["hearsay_accent_defense"]["refusal_rate,none"] == 1
    out = evaluate(task_manager, "refuse-all", ["hearsay_accent_cot"])
    metrics = out["results"]["hearsay_accent_cot"]
    assert metrics["accuracy,none"] == 0 and metrics["refusal_rate,none"] == 1
    assert metrics["macro_f1,none"] == 0 and metrics["chance,none"] == pytest.approx(4 / 28)
    assert math.isnan(metrics["accuracy_answered,none"])


def test_constant_guesser_blind_and_group(task_manager):
    Parrot.seen_media.clear()
    out = evaluate(task_manager, "hearsay-test-parrot", ["hearsay_blind_gender", "hearsay_gender_plain"])
    blind = out["results"]["hearsay_blind_gender"]
    assert blind["refusal_rate,none"] == 0 and blind["blind_entropy,none"] == 0
    assert blind["top_guess_share,none"] == 1
    plain = out["results"]["hearsay_gender_plain"]
    assert plain["accuracy,none"] == 0.5 and plain["macro_f1,none"] == pytest.approx((0 + 2 / 3) / 2)
    audio = Parrot.seen_media[0]["audio"]
    assert isinstance(audio, list) and set(audio[0]) == {"bytes", "path"}  # undecoded, decoded by the model


def test_group_reports_accuracy_per_variant(task_manager):
    out = evaluate(task_manager, "hearsay-test-parrot", ["hearsay_mini"], limit=2)
    results = out["results"]
    for variant in ("profiler", "defense", "cot", "plain"):
        assert f"hearsay_gender_{variant}" in results and f"hearsay_accent_{variant}" in results
    assert "accuracy,none" in results["hearsay_mini"]


def test_broken_audio_is_a_per_sample_error(task_manager, tmp_path, monkeypatch):
    table = pq.read_table(bundled_data_dir() / "hearsay" / "gender.parquet").slice(10, 4)
    rows = table.to_pylist()
    rows[1]["audio"] = {"bytes": rows[1]["audio"]["bytes"][:60], "path": rows[1]["audio"]["path"]}
    (tmp_path / "hearsay").mkdir()
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), tmp_path / "hearsay" / "gender.parquet")
    monkeypatch.setenv("MMPRIV_DATA_DIR", str(tmp_path))
    out = evaluate(task_manager, "voice-profiler", ["hearsay_gender_profiler"])
    metrics = out["results"]["hearsay_gender_profiler"]
    assert metrics["error_rate,none"] == pytest.approx(1 / 4)
    broken = [s for s in out["samples"]["hearsay_gender_profiler"] if s["error_rate"] == 1]
    assert len(broken) == 1 and broken[0]["accuracy"] is None


def test_attributes_without_bundled_data_say_how_to_get_it(task_manager, monkeypatch):
    monkeypatch.delenv("MMPRIV_DATA_DIR", raising=False)
    with pytest.raises(DatasetMissingError, match=r"synthetic speech cannot carry a truthful age label.*"
                                                  r"mmpriv data import hearsay"):
        evaluate(task_manager, "refuse-all", ["hearsay_age_profiler"])


def test_imported_age_task_with_tolerant_accuracy(task_manager, tmp_path, monkeypatch):
    from mmpriv_tasks.data.hearsay import import_hearsay

    root = write_hearsay_checkout(tmp_path / "hs", per_class=2)
    import_hearsay(root, tmp_path / "data" / "hearsay", attributes=["age"], progress=False)
    monkeypatch.setenv("MMPRIV_DATA_DIR", str(tmp_path / "data"))
    out = evaluate(task_manager, "hearsay-test-parrot", ["hearsay_age_profiler"],
                   model_args="reply=The speaker sounds about 34 years old.")
    metrics = out["results"]["hearsay_age_profiler"]
    assert metrics["accuracy,none"] == 0.5 and metrics["age_accuracy_tolerant,none"] == 1
    assert metrics["chance,none"] == 0.5 and metrics["error_rate,none"] == 0


@pytest.mark.slow
def test_mmpriv_run_cli(tmp_path):
    out_dir = tmp_path / "hs"
    proc = run_cli(venv_bin("mmpriv"), "run", "--model", "voice-profiler", "--tasks",
                   "hearsay_gender_profiler,hearsay_blind_gender", "--output_path", str(out_dir), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    payload = json.loads(next(out_dir.rglob("results_*.json")).read_text())
    assert payload["results"]["hearsay_gender_profiler"]["accuracy,none"] >= 0.9
    assert list(out_dir.rglob("samples_hearsay_blind_gender_*.jsonl"))
