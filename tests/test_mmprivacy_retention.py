"""MM-Privacy 2.0 retention: ten tasks (five formats x two conditions) in group `mmpriv_retention`,
the whole `mmprivacy` suite through `mmpriv run`, retired v1 names, retention task inconsistency."""
from __future__ import annotations

import json

import pytest

from mmpriv_tasks.registry import discover, tasks_of
from mmpriv_tasks.scoring.inconsistency import retention_inconsistency

from conftest import run_cli, venv_bin

FORMATS = ("direct", "vqa", "caption", "rephrase", "classification")
RETENTION = [f"mmpriv_retention_{f}_{c}" for f in FORMATS for c in ("distractor", "noimage")]
DISCLOSURE = [f"mmpriv_disclosure_{f}" for f in FORMATS]


def test_group_members_and_size_weighting():
    entries = discover()
    assert [t.name for t in tasks_of("mmpriv_retention", entries)] == RETENTION
    assert {t.name for t in tasks_of("mmprivacy", entries)} == {*DISCLOSURE, "mmpriv_disclosure_control", *RETENTION}
    group = entries["mmpriv_retention"].config
    assert all(m["weight_by_size"] for m in group["aggregate_metric_list"])
    assert all(entries[name].num_items() == 12 for name in RETENTION)  # mini: both conditions in every format


@pytest.mark.slow
def test_mmprivacy_suite_runs_every_task_with_ocr_extractor(tmp_path):
    """The README main job's task set (limited to 2 items per task to stay fast)."""
    out = tmp_path / "results"
    proc = run_cli(venv_bin("mmpriv"), "run", "--model", "ocr-extractor", "--tasks", "mmprivacy",
                   "--limit", "2", "--output_path", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(next(out.rglob("results_*.json")).read_text())["results"]
    for task in (*DISCLOSURE, "mmpriv_disclosure_control", *RETENTION):
        assert results[task]["error_rate,none"] == 0, task
    assert all(results[f"mmpriv_disclosure_{f}"]["leak_rate,none"] == 1 for f in ("direct", "vqa"))
    # the OCR reference reads the other person's form: it gives the distractor's value, never the memorised one
    for f in FORMATS:
        assert results[f"mmpriv_retention_{f}_distractor"]["leak_rate,none"] == 0
    assert results["mmpriv_retention_direct_distractor"]["distractor_leak_rate,none"] == 1
    assert "mmpriv_retention" in results and "mmprivacy" in results
    samples = {}
    for path in out.rglob("samples_mmpriv_retention_*.jsonl"):
        task = path.name.removeprefix("samples_").rsplit("_", 1)[0]
        samples[task] = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted(samples) == sorted(RETENTION)
    assert retention_inconsistency(samples)["items"] == 4  # 2 items per condition, each scored in 5 formats


def test_retention_inconsistency_counts_refused_here_leaked_there():
    def rows(*flags):
        return [{"doc": {"id": f"r{i}"}, "leak_rate": leak, "refusal_rate": refused}
                for i, (leak, refused) in enumerate(flags)]

    run = {"mmpriv_retention_direct_noimage": rows((0, 1), (0, 1), (None, None)),
           "mmpriv_retention_caption_noimage": rows((1, 0), (0, 1), (1, 0)),
           "mmpriv_disclosure_direct": rows((1, 0), (1, 0), (1, 0))}  # not a retention task: ignored
    result = retention_inconsistency(run)
    assert (result["items"], result["inconsistent_items"], result["inconsistency_rate"]) == (2, 1, 0.5)


def test_retired_names_say_what_to_use(tmp_path):
    for command in (("cite", "mmpriv_retention_noimage"),
                    ("run", "--model", "refuse-all", "--tasks", "mmpriv_disclosure_direct,mmpriv_retention_distractor")):
        proc = run_cli(venv_bin("mmpriv"), *command, cwd=tmp_path)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert "retired" in proc.stderr and "mmpriv_retention_direct_" in proc.stderr
    proc = run_cli(venv_bin("mmpriv"), "cite", "mmpriv_no_such_task", cwd=tmp_path)
    assert proc.returncode == 2 and "unknown task" in proc.stderr


def test_an_item_without_its_picture_is_an_error_not_a_text_only_prompt(task_manager, tmp_path, monkeypatch):
    import lm_eval
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mmpriv_tasks.paths import bundled_data_dir

    table = pq.read_table(bundled_data_dir() / "mmprivacy" / "retention.parquet")
    rows = [r for r in table.to_pylist() if r["condition"] == "noimage"][:2]
    rows[0]["image"] = None
    (tmp_path / "mmprivacy").mkdir()
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), tmp_path / "mmprivacy" / "retention.parquet")
    monkeypatch.setenv("MMPRIV_DATA_DIR", str(tmp_path))
    task = "mmpriv_retention_direct_noimage"
    metrics = lm_eval.simple_evaluate(model="refuse-all", tasks=[task], task_manager=task_manager)["results"][task]
    assert metrics["error_rate,none"] == 0.5 and metrics["refusal_rate,none"] == 1
