"""A newcomer's common `mmpriv run` mistakes: each is one line on stderr naming the bad value and the
fix, exit code 2, found before any model call (the CLI as a subprocess)."""
from __future__ import annotations

import re

import pytest

from fake_openai_server import FakeOpenAIServer
from conftest import run_cli, venv_bin

TASK = "mmpriv_disclosure_direct"
LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d:\d\d:\d\d:\d\d (INFO|WARNING) +\[")  # lm-eval's log format
NO_JUDGE = {"MMPRIV_JUDGE_BASE_URL": "", "MMPRIV_JUDGE_MODEL": ""}

# (id, mmpriv run arguments, extra environment, what the one line must contain)
MISTAKES = [
    ("model typo", ["--model", "refuse-al", "--tasks", TASK], {},
     ["--model 'refuse-al'", "did you mean 'refuse-all'"]),
    ("refusal mode typo", ["--model", "refuse-all", "--tasks", TASK], {"MMPRIV_REFUSAL_MODE": "hybird"},
     ["MMPRIV_REFUSAL_MODE='hybird'", "did you mean 'hybrid'", "unset it"]),
    ("hybrid without a judge", ["--model", "refuse-all", "--tasks", TASK], {"MMPRIV_REFUSAL_MODE": "hybrid", **NO_JUDGE},
     ["MMPRIV_REFUSAL_MODE=hybrid", "set MMPRIV_JUDGE_BASE_URL and MMPRIV_JUDGE_MODEL"]),
    ("no tasks", ["--model", "refuse-all"], {}, ["no tasks given", "--tasks"]),
    ("api without model=", ["--model", "mmpriv-api", "--model_args", "base_url=http://127.0.0.1:9/v1", "--tasks",
                            TASK, "--limit", "1"], {},
     ["mmpriv-api needs --model_args model=...", "base_url=http://localhost:8000/v1,model="]),
    ("hub model offline", ["--model", "mmpriv-hf", "--model_args", "pretrained=mmpriv-test/no-such-model",
                           "--tasks", TASK, "--limit", "1"], {"HF_HUB_OFFLINE": "1"},
     ["pretrained=mmpriv-test/no-such-model", "(HF_HUB_OFFLINE is set)", "hf download mmpriv-test/no-such-model"]),
    ("standard task offline", ["--model", "refuse-all", "--tasks", f"{TASK},gsm8k", "--limit", "1"],
     {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_CACHE": "{tmp}/hf-datasets"},
     ["task 'gsm8k' downloads its data", "HF_DATASETS_OFFLINE=1", "--include_path"]),
    ("task typo", ["--model", "refuse-all", "--tasks", "mmpriv_disclosure_dirct"], {},
     ["unknown task or group 'mmpriv_disclosure_dirct'", f"did you mean '{TASK}'"]),
    ("optional model_args typo", ["--model", "ocr-extractor", "--model_args", "worker=2", "--tasks", TASK], {},
     ["--model_args 'worker' is not an argument of ocr-extractor", "did you mean 'workers'"]),
    ("api model_args typo", ["--model", "mmpriv-api", "--model_args", "model=m,num_concurent=4", "--tasks", TASK], {},
     ["--model_args 'num_concurent' is not an argument of mmpriv-api", "did you mean 'num_concurrent'"]),
    ("hf dtype typo", ["--model", "mmpriv-hf", "--model_args", "pretrained=x,dtpye=float32", "--tasks", TASK], {},
     ["--model_args 'dtpye' is not an argument of mmpriv-hf", "did you mean 'dtype'"]),
    ("required model_args typo", ["--model", "mmpriv-hf", "--model_args", "pretrianed=x", "--tasks", TASK], {},
     ["--model_args 'pretrianed'", "did you mean 'pretrained'"]),
    ("output path under a file", ["--model", "refuse-all", "--tasks", TASK, "--output_path", "{tmp}/a_file/out"], {},
     ["--output_path {tmp}/a_file/out: {tmp}/a_file is not a folder"]),
    ("read-only output path", ["--model", "refuse-all", "--tasks", TASK, "--output_path", "/sys/mmpriv-results"], {},
     ["--output_path /sys/mmpriv-results: /sys is not writable", "choose a folder you can write to"]),
]


SLOW = {"hub model offline", "standard task offline"}  # import transformers / index lm-eval's tasks: ~15 s more


@pytest.mark.parametrize("args, env, expected", [
    pytest.param(*m[1:], id=m[0], marks=[pytest.mark.slow] if m[0] in SLOW else []) for m in MISTAKES])
def test_mistake_is_one_line_and_exit_2(args, env, expected, tmp_path):
    (tmp_path / "a_file").write_text("")
    proc = run_cli(venv_bin("mmpriv"), "run", *[a.format(tmp=tmp_path) for a in args], cwd=tmp_path,
                   env={k: v.format(tmp=tmp_path) for k, v in env.items()})
    assert proc.returncode == 2, proc.stderr[-3000:]
    # a mistake found once lm-eval runs (building tasks or the model) follows its progress log records
    lines = [line for line in proc.stderr.strip().splitlines() if not LOG_RECORD.match(line)]
    assert len(lines) == 1 and lines[0].startswith("mmpriv: "), proc.stderr[-3000:]
    assert proc.stderr.strip().endswith(lines[0])
    for part in expected:
        assert part.format(tmp=tmp_path) in lines[0]


def test_unwritable_output_path_is_found_before_any_model_call(tmp_path):
    with FakeOpenAIServer() as server:
        proc = run_cli(venv_bin("mmpriv"), "run", "--model", "mmpriv-api", "--model_args",
                       f"base_url={server.base_url},model=m,cache=false", "--tasks", TASK, "--limit", "2",
                       "--output_path", "/sys/mmpriv-results", cwd=tmp_path)
        assert proc.returncode == 2 and "/sys is not writable" in proc.stderr
        assert server.requests == []


def test_a_near_miss_of_our_task_names_skips_lm_evals_index(monkeypatch):
    """The "did you mean" for our names comes from our folders alone (lm-eval's index costs seconds)."""
    from lm_eval import tasks as lm_eval_tasks

    from mmpriv_tasks.commands import runner

    from mmpriv_tasks.registry import packs
    from mmpriv_tasks.errors import InputError

    built = []

    class CountingTaskManager(lm_eval_tasks.TaskManager):
        def __init__(self, *args, include_defaults: bool = True, **kwargs):
            built.append(include_defaults)
            super().__init__(*args, include_defaults=include_defaults, **kwargs)

    monkeypatch.setattr(lm_eval_tasks, "TaskManager", CountingTaskManager)
    with pytest.raises(InputError, match=f"did you mean '{TASK}'"):
        runner.task_manager_for(["mmpriv_disclosure_dirct"], packs.include_path(None), {})
    assert built == [False]


def test_the_task_index_holds_only_the_folders_the_requested_tasks_need():
    from mmpriv_tasks.commands import runner
    from mmpriv_tasks.registry import packs

    entries = packs.entries()
    one = runner.folders_holding(["mmpriv_disclosure_direct"], entries)
    assert [folder.name for folder in one] == ["mmprivacy"]
    manager = runner.task_manager_for(["mmpriv_disclosure_direct"], one, {})
    assert "mmpriv_disclosure_vqa" in manager.all_tasks and not any(t.startswith("hearsay") for t in manager.all_tasks)
    groups = [name for name, entry in entries.items() if entry.kind == "group"
              and {e.family for e in runner.registry.tasks_of(name, entries)} == {"mmprivacy", "hearsay"}]
    spanning = runner.folders_holding(groups[:1], entries)  # e.g. mmpriv_all, whose YAML holds both folders
    assert groups and len(spanning) == 1 and {"hearsay", "mmprivacy"} <= {p.name for p in spanning[0].iterdir()}
    hearsay_and_ours = runner.folders_holding(["hearsay_gender_cot", "mmpriv_disclosure_vqa"], entries)
    assert [folder.name for folder in hearsay_and_ours] == ["hearsay", "mmprivacy"]
    assert runner.folders_holding(["mmpriv_disclosure_direct", "gsm8k"], entries) is None  # lm-eval's own: all roots
