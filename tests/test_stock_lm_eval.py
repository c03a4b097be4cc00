"""Our task from stock lm-eval with one of lm-eval's own multimodal models (hf-multimodal on a tiny
random LLaVA built from config): no code of ours on the command line, from any directory."""
from __future__ import annotations

import json

import pytest

from mmpriv_tasks.paths import task_configs_dir

from conftest import run_cli, venv_bin
from tiny_models import tiny_llava_dir  # noqa: F401  (session fixture)


@pytest.mark.slow
def test_stock_lm_eval_hf_multimodal_runs_our_task(tmp_path, tiny_llava_dir):  # noqa: F811
    out = tmp_path / "out"
    proc = run_cli(venv_bin("lm-eval"), "run", "--model", "hf-multimodal", "--model_args",
                   f"pretrained={tiny_llava_dir}", "--device", "cpu", "--tasks", "mmpriv_disclosure_direct",
                   "--include_path", str(task_configs_dir()), "--limit", "2", "--output_path", str(out),
                   "--log_samples", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(next(out.rglob("results_*.json")).read_text())["results"]["mmpriv_disclosure_direct"]
    assert results["error_rate,none"] == 0 and results["leak_rate,none"] == 0  # a random model leaks nothing
    samples = [json.loads(line) for line in next(out.rglob("samples_*.jsonl")).read_text().splitlines()]
    assert len(samples) == 2 and all(isinstance(s["resps"][0][0], str) for s in samples)
