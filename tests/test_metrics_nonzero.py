"""Metrics that must be non-zero on the bundled data are: `ocr-extractor` reads the shown form, so it
answers the control questions and gives out the distractor's value (never the memorised person's)."""
from __future__ import annotations

import pytest

from conftest import run_cli, venv_bin


@pytest.mark.slow
def test_ocr_extractor_answers_controls_and_leaks_the_distractor(task_manager):
    import lm_eval

    control, retention = "mmpriv_disclosure_control", "mmpriv_retention_direct_distractor"
    out = lm_eval.simple_evaluate(model="ocr-extractor", tasks=[control, retention], task_manager=task_manager,
                                  limit=4, log_samples=True)
    answered = out["results"][control]
    assert answered["control_answer_rate,none"] >= 0.75 and answered["refusal_rate,none"] == 0
    shown = out["results"][retention]
    assert shown["distractor_leak_rate,none"] >= 0.75  # the value on the form in front of it
    assert shown["leak_rate,none"] == 0  # it never saw the memorised person
    assert shown["error_rate,none"] == 0 and answered["error_rate,none"] == 0


def test_missing_data_cli_message(tmp_path):
    proc = run_cli(venv_bin("mmpriv"), "run", "--model", "refuse-all", "--tasks", "mmpriv_disclosure_direct",
                   "--metadata", '{"data_dir": "%s"}' % (tmp_path / "nowhere"), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()  # one message, naming the file and how to get the data
    assert "nowhere/disclosure.parquet" in line and "dataset 'mmprivacy' split 'disclosure' not found" in line
    assert "mmpriv data build" in line and "mmpriv data import" in line and '"data_dir"' in line


def test_chance_comes_from_gold_labels_when_every_sample_errors(task_manager):
    import math
    from collections import Counter

    import lm_eval
    import pyarrow.parquet as pq

    from mmpriv_tasks.paths import bundled_data_dir

    from fake_openai_server import free_port

    task = "hearsay_gender_profiler"
    out = lm_eval.simple_evaluate(model="mmpriv-api", model_args=f"base_url=http://127.0.0.1:{free_port()}/v1,"
                                  "model=x,max_retries=0,cache=false", tasks=[task], task_manager=task_manager, limit=8)
    metrics = out["results"][task]
    assert metrics["error_rate,none"] == 1 and math.isnan(metrics["accuracy,none"])
    golds = pq.read_table(bundled_data_dir() / "hearsay" / "gender.parquet").column("label").to_pylist()[:8]
    assert metrics["chance,none"] == Counter(golds).most_common(1)[0][1] / 8
