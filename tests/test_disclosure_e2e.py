"""MM-Privacy direct disclosure end to end through the real lm-eval runner and CLIs."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mmpriv_tasks.paths import bundled_data_dir, task_configs_dir
from mmpriv_tasks.inputs.task_data import DatasetMissingError

from conftest import run_cli, venv_bin

TASK = "mmpriv_disclosure_direct"


def evaluate(task_manager, model, tasks=(TASK,), metadata=None, **kwargs):
    """simple_evaluate; ``metadata`` (e.g. data_dir) needs its own TaskManager, as on the CLI."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    if metadata is not None:
        task_manager = TaskManager(include_path=str(task_configs_dir()), include_defaults=False, metadata=metadata)
    return lm_eval.simple_evaluate(model=model, tasks=list(tasks), task_manager=task_manager,
                                   log_samples=True, **kwargs)


def test_refuse_all_is_the_floor(task_manager):
    out = evaluate(task_manager, "refuse-all")
    metrics = out["results"][TASK]
    assert metrics["leak_rate,none"] == 0
    assert metrics["refusal_rate,none"] == 1
    assert metrics["error_rate,none"] == 0
    assert len(out["samples"][TASK]) == 60


def test_ocr_extractor_leaks_what_the_form_shows(task_manager):
    out = evaluate(task_manager, "ocr-extractor", limit=6)
    metrics = out["results"][TASK]
    assert metrics["leak_rate,none"] >= 5 / 6
    assert metrics["refusal_rate,none"] == 0
    assert metrics["error_rate,none"] == 0


def _user_data(tmp_path, monkeypatch, rows: int, corrupt) -> None:
    """A disclosure split under $MMPRIV_DATA_DIR/mmprivacy/ whose images ``corrupt`` may break."""
    table = pq.read_table(bundled_data_dir() / "mmprivacy" / "disclosure.parquet").slice(0, rows)
    docs = table.to_pylist()
    for i, doc in enumerate(docs):
        doc["image"] = corrupt(i, doc["image"])
    (tmp_path / "mmprivacy").mkdir()
    pq.write_table(pa.Table.from_pylist(docs, schema=table.schema), tmp_path / "mmprivacy" / "disclosure.parquet")
    monkeypatch.setenv("MMPRIV_DATA_DIR", str(tmp_path))


def test_corrupt_image_is_a_per_sample_error_not_a_crash(task_manager, tmp_path, monkeypatch):
    def truncate_second(i, image):
        return {"bytes": image["bytes"][:200], "path": None} if i == 1 else image

    _user_data(tmp_path, monkeypatch, rows=4, corrupt=truncate_second)
    out = evaluate(task_manager, "refuse-all")
    metrics = out["results"][TASK]
    assert metrics["error_rate,none"] == pytest.approx(1 / 4)
    assert metrics["refusal_rate,none"] == 1  # the 3 good samples; the broken one is not scored
    broken = [s for s in out["samples"][TASK] if s["error_rate"] == 1]
    assert len(broken) == 1 and broken[0]["leak_rate"] is None


def test_missing_data_says_how_to_get_it(task_manager, tmp_path):
    with pytest.raises(DatasetMissingError, match="mmpriv data build"):
        evaluate(task_manager, "refuse-all", metadata={"data_dir": str(tmp_path / "nowhere")})


def test_all_errors_give_nan_not_a_safe_score(task_manager, tmp_path, monkeypatch):
    _user_data(tmp_path, monkeypatch, rows=2, corrupt=lambda i, image: {"bytes": b"not an image", "path": None})
    metrics = evaluate(task_manager, "refuse-all")["results"][TASK]
    assert math.isnan(metrics["leak_rate,none"]) and metrics["error_rate,none"] == 1


def test_mmpriv_run_alongside_a_standard_task_on_local_data(tmp_path):
    """README: a stock lm-eval task (its own gsm8k YAML, included) on a local copy of its data, in the
    same `mmpriv run` as ours, writing the results JSON and per-sample JSONL (offline)."""
    import lm_eval

    data = tmp_path / "gsm8k"
    data.mkdir()
    for split, n in (("train", 5), ("test", 3)):  # gsm8k takes 5 few-shot examples from train
        rows = [{"question": f"What is {i} + {i}?", "answer": f"{i} + {i} = {2 * i}\n#### {2 * i}"} for i in range(n)]
        (data / f"{split}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    tasks_dir = tmp_path / "my_tasks"
    tasks_dir.mkdir()
    stock = Path(lm_eval.__file__).parent / "tasks" / "gsm8k" / "gsm8k.yaml"
    (tasks_dir / "gsm8k_local.yaml").write_text(
        f"include: {stock}\ntask: gsm8k_local\ndataset_path: {data}\ndataset_name: null\n")
    out_dir = tmp_path / "results"
    proc = run_cli(venv_bin("mmpriv"), "run", "--model", "refuse-all", "--tasks", f"{TASK},gsm8k_local",
                   "--include_path", str(tasks_dir), "--output_path", str(out_dir), "--limit", "3", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "not a git repository" not in proc.stderr  # tmp_path is outside any git checkout
    payload = json.loads(next(out_dir.rglob("results_*.json")).read_text())
    assert payload["results"][TASK]["refusal_rate,none"] == 1 and payload["results"][TASK]["leak_rate,none"] == 0
    assert payload["results"]["gsm8k_local"]["exact_match,strict-match"] == 0
    assert payload["n-samples"]["gsm8k_local"] == {"original": 3, "effective": 3}
    for task, lines in ((TASK, 3), ("gsm8k_local", 6)):  # gsm8k logs each doc once per filter (two)
        assert len(next(out_dir.rglob(f"samples_{task}_*.jsonl")).read_text().splitlines()) == lines


@pytest.mark.slow  # stock lm-eval indexes its ~27k task YAMLs first (test_stock_lm_eval.py runs it in the fast lane)
def test_stock_lm_eval_validates_our_task_from_any_directory(tmp_path):
    proc = run_cli(venv_bin("lm-eval"), "validate", "--tasks", TASK, "--include_path", str(task_configs_dir()),
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
