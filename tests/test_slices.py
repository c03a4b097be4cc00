"""`mmpriv run` evaluates in slices of docs (``commands/slices.py``) and writes each slice's sample logs
as it finishes (``outputs/sample_spool.py``): the results, stderrs, task hashes and sample files are
those of one pass."""
from __future__ import annotations

import hashlib
import json
import re
from types import SimpleNamespace

import pytest

from conftest import run_cli, venv_bin
from fake_openai_server import FakeOpenAIServer
from mmpriv_tasks.commands import slices
from mmpriv_tasks.errors import InputError

TASKS = "mmpriv_disclosure,hearsay_gender_cot"  # a group of five image tasks and an audio task


def _run(tmp_path, server, name: str, env: dict) -> tuple[dict, dict, str]:
    """Results, sample logs and stderr of a run; unmasked (synthetic people), so that the logged record
    hashes are lm-eval's (masking recomputes them over the masked text)."""
    out = tmp_path / name
    proc = run_cli(venv_bin("mmpriv"), "run", "--model", "mmpriv-api", "--model_args",
                   f"base_url={server.base_url},model=fake,cache=false", "--tasks", TASKS, "--limit", "9",
                   "--output_path", str(out), "--keep_pii", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(next(out.rglob("results_*.json")).read_text())
    stamp = next(out.rglob("results_*.json")).stem.removeprefix("results_")
    logs = {path.name.removesuffix(f"_{stamp}.jsonl"): [json.loads(line) for line in path.read_text().splitlines()]
            for path in out.rglob("samples_*.jsonl")}
    return results, logs, proc.stderr


def _no_addresses(value) -> str:
    return re.sub(r" at 0x[0-9a-fA-F]+", "", json.dumps(value))  # reprs of hooks and images name their addresses


def test_a_run_in_slices_writes_what_one_pass_writes(tmp_path):
    with FakeOpenAIServer() as server:  # replies differ per sample (refusals and non-answers by media hash)
        one, one_logs, _ = _run(tmp_path, server, "one", {})
        sliced, sliced_logs, stderr = _run(tmp_path, server, "sliced", {"MMPRIV_SLICE_REQUESTS": "4"})
    assert "mmpriv: slice 1/9: 6 docs" in stderr and "mmpriv: slice 9/9: 6 docs" in stderr
    assert "Evaluating on" not in stderr and "context prompt" not in stderr  # no --write_out: no prompt printed
    for key in ("results", "groups", "n-samples", "versions", "task_hashes", "mmpriv_statistics"):
        assert sliced[key] == one[key], key
    assert _no_addresses(sliced["configs"]) == _no_addresses(one["configs"])
    leak = one["results"]["mmpriv_disclosure"]
    assert 0 < leak["refusal_rate,none"] < 1 and leak["refusal_rate_stderr,none"] > 0  # not a constant run
    assert sorted(sliced_logs) == sorted(one_logs) == sorted(f"samples_{task}" for task in one["configs"])
    for name, records in one_logs.items():
        assert [r["doc_id"] for r in sliced_logs[name]] == [r["doc_id"] for r in records] == list(range(9))
        assert _no_addresses(sliced_logs[name]) == _no_addresses(records)
        task = name.removeprefix("samples_")
        joined = "".join(r["doc_hash"] + r["prompt_hash"] + r["target_hash"] for r in records)
        assert one["task_hashes"][task] == hashlib.sha256(joined.encode()).hexdigest()  # lm-eval's definition


def _task(name: str, n: int, shots: int = 0):
    return SimpleNamespace(config=SimpleNamespace(task=name), eval_docs=range(n),
                           get_config=lambda key: shots if key == "num_fewshot" else None)


def test_slices_split_every_task_alike_and_keep_one_pass_where_lm_eval_needs_it(monkeypatch):
    monkeypatch.setenv("MMPRIV_SLICE_REQUESTS", "4")
    tasks = {"a": _task("a", 5), "b": _task("b", 3)}
    assert slices.plan(tasks, None, None) == [{"a": range(0, 2), "b": range(0, 2)}, {"a": range(2, 4), "b": range(2, 3)},
                                              {"a": range(4, 5)}]
    assert slices.plan(tasks, 0.5, None) == [{"a": range(0, 2), "b": range(0, 2)}, {"a": range(2, 3)}]
    assert slices.plan(tasks, 0, None) == slices.plan(tasks, None, None)  # lm-eval: a limit of 0 is none
    chosen = slices.plan({"a": _task("a", 9)}, None, {"a": [8, 1, 5, 3, 2, 5]})  # --samples: in index order
    assert chosen == [{"a": [1, 2, 3, 5]}, {"a": [8]}] and 5 in chosen[0]["a"] and 8 not in chosen[0]["a"]
    few_shot = {"a": _task("a", 9, shots=5), "b": _task("b", 3)}
    assert slices.plan(few_shot, None, None) == [{"a": range(9), "b": range(3)}]
    assert slices.plan(tasks, None, None, cache_requests=True) == [{"a": range(5), "b": range(3)}]
    monkeypatch.setenv("MMPRIV_SLICE_REQUESTS", "1")  # the smallest slice: one doc
    assert slices.plan({"a": _task("a", 2)}, None, None) == [{"a": range(0, 1)}, {"a": range(1, 2)}]
    monkeypatch.setenv("MMPRIV_SLICE_REQUESTS", "0")
    with pytest.raises(InputError, match=r"MMPRIV_SLICE_REQUESTS: expected a whole number >= 1"):
        slices.plan(tasks, None, None)


def test_rows_keep_one_slice_of_dicts_when_focused():
    import datasets

    from mmpriv_tasks.inputs.task_data import Rows

    table = datasets.Dataset.from_list([{"id": f"r{k}", "label": "a" if k % 2 else "b"} for k in range(6)])
    rows = Rows(table, "prompt", lambda row: {"label": row["label"]})
    every = list(rows)
    assert [r["id"] for r in every] == [f"r{k}" for k in range(6)] and list(rows)[3] is every[3]  # made once
    rows.focus(range(2, 4))
    assert [r and r["id"] for r in rows] == [None, None, "r2", "r3", None, None]  # lm-eval picks 2 and 3 by index
    assert rows[2] is rows[2] and rows[2] is not every[2]  # the slice's own dicts, kept while focused
    assert rows[5] == {"id": "r5", "label": "a", "prompt": {"label": "a"}} and rows[5] is not rows[5]  # made, not kept
    rows.focus(None)
    assert [r["id"] for r in rows] == [f"r{k}" for k in range(6)] and len(rows) == 6 and rows[-1]["id"] == "r5"


def test_our_tasks_are_zero_shot_whatever_num_fewshot_says(tmp_path):
    proc = run_cli(venv_bin("mmpriv"), "run", "--model", "refuse-all", "--tasks", "hearsay_gender_cot,mmpriv_disclosure_vqa",
                   "--limit", "2", "--num_fewshot", "3", "--output_path", str(tmp_path / "out"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "num_fewshot has been set to 0 for hearsay_gender_cot in its config" in proc.stderr
    results = json.loads(next((tmp_path / "out").rglob("results_*.json")).read_text())
    assert results["n-shot"] == {"hearsay_gender_cot": 0, "mmpriv_disclosure_vqa": 0}
    for path in (tmp_path / "out").rglob("samples_*.jsonl"):  # each prompt is the doc's own, no examples before it
        for record in map(json.loads, path.read_text().splitlines()):
            assert record["arguments"]["gen_args_0"]["arg_0"].count("If you cannot help") <= 1
