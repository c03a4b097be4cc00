"""Wrong-typed inputs end `mmpriv run` with one line naming the file and the field, exit code 2, before
any model call: an integer ``pii_value``, a string or bytes image column, a binary (non-UTF-8) text
column; a task YAML with a wrong-typed field or a YAML syntax error."""
from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mmpriv_tasks.paths import bundled_data_dir, task_configs_dir

from conftest import run_cli, venv_bin
from fake_openai_server import FakeOpenAIServer

TASK = "mmpriv_disclosure_direct"


def _integer_pii(table):
    return table.set_column(table.schema.get_field_index("pii_value"), "pii_value",
                            pa.array(range(367753579, 367753579 + table.num_rows), type=pa.int64()))  # SSNs as numbers


def _string_image(table):
    return table.set_column(table.schema.get_field_index("image"), "image", pa.array(["x.png"] * table.num_rows))


def _bytes_image(table):
    return table.set_column(table.schema.get_field_index("image"), "image",
                            pa.array([b"\x89PNG"] * table.num_rows, type=pa.binary()))


def _binary_question(table):
    values = [q.encode("latin-1", "replace") + b"\xe9" for q in table.column("question").to_pylist()]
    return table.set_column(table.schema.get_field_index("question"), "question", pa.array(values, type=pa.binary()))


@pytest.mark.parametrize("corrupt, message", [
    (_integer_pii, "disclosure.parquet: column 'pii_value' is int64, not text (string) as in the bundled "
                   "mmprivacy/disclosure.parquet; write its values as text"),
    (_string_image, "column 'image' is string, not a media cell {bytes, path}"),
    (_bytes_image, "column 'image' is binary, not a media cell {bytes, path}"),
    (_binary_question, "column 'question' holds bytes, not UTF-8 text"),
])
def test_wrong_types_stop_the_run_before_any_request(tmp_path, corrupt, message):
    table = pq.read_table(bundled_data_dir() / "mmprivacy" / "disclosure.parquet")
    (tmp_path / "data").mkdir()
    pq.write_table(corrupt(table), tmp_path / "data" / "disclosure.parquet")
    with FakeOpenAIServer() as server:
        proc = run_cli(venv_bin("mmpriv"), "run", "--model", "mmpriv-api", "--model_args",
                       f"base_url={server.base_url},model=fake,cache=false", "--tasks", TASK, "--limit", "2",
                       "--metadata", json.dumps({"data_dir": str(tmp_path / "data")}), cwd=tmp_path,
                       env={"MMPRIV_CACHE_DIR": str(tmp_path / "cache")})
        assert server.count == 0
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.strip().splitlines() if line.startswith("mmpriv: ")]  # log lines aside
    assert len(errors) == 1 and message in errors[0] and "Traceback" not in proc.stderr


def _run_user_task(tmp_path, yaml_text: str):
    """`mmpriv run` of task `my_task` from a user's --include_path folder holding ``yaml_text``."""
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "my_task.yaml").write_text(yaml_text)
    with FakeOpenAIServer() as server:
        proc = run_cli(venv_bin("mmpriv"), "run", "--model", "mmpriv-api", "--model_args",
                       f"base_url={server.base_url},model=fake,cache=false", "--tasks", "my_task", "--limit", "2",
                       "--include_path", str(tmp_path / "mine"), cwd=tmp_path)
        assert server.count == 0
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.strip().splitlines() if line.startswith("mmpriv: ")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    return errors[0]


DIRECT = task_configs_dir() / "mmprivacy" / "mmpriv_disclosure_direct.yaml"


@pytest.mark.parametrize("field, message", [
    ("required: pii_value", "dataset_kwargs.required is 'pii_value', expected a list of column names"),
    ("where: loan", "dataset_kwargs.where is 'loan', expected a mapping column: value"),
    ("where: {scenario: [loan, rent]}", "dataset_kwargs.where is {'scenario': ['loan', 'rent']}; give each column "
                                        "one value (column: value)"),
])
def test_a_wrong_typed_yaml_field_names_the_file_and_field(tmp_path, field, message):
    line = _run_user_task(tmp_path, f"include: {DIRECT}\ntask: my_task\ndataset_kwargs:\n  dataset: mmprivacy\n"
                                    f"  split: disclosure\n  {field}\n")
    assert line == f"mmpriv: {tmp_path / 'mine' / 'my_task.yaml'}: {message} (from the task YAML or --metadata)"


def test_a_yaml_syntax_error_names_the_file_and_line(tmp_path):
    line = _run_user_task(tmp_path, f"include: {DIRECT}\ntask: my_task\ndataset_kwargs:\n  dataset: [mmprivacy\n")
    assert line.startswith(f"mmpriv: {(tmp_path / 'mine' / 'my_task.yaml').resolve()}: YAML syntax error at line 5, "), line


@pytest.mark.parametrize("fields, message", [
    ("generation_kwargs:\n  until: 5\n", "generation_kwargs.until is 5, expected text or a list of text"),
    ("generation_kwargs:\n  until: [\"\\n\", 7]\n", "generation_kwargs.until is ['\\n', 7], expected text or a list "
                                                    "of text"),
    ("generation_kwargs:\n  until: []\n  max_gen_toks: many\n", "generation_kwargs.max_gen_toks is 'many', expected "
                                                                "a whole number >= 1"),
    ("generation_kwargs:\n  max_gen_toks: true\n", "generation_kwargs.max_gen_toks is True, expected a whole number "
                                                   ">= 1"),
    ("generation_kwargs:\n  temperature: hot\n", "generation_kwargs.temperature is 'hot', expected a number >= 0"),
    ("generation_kwargs:\n  do_sample: 'false'\n", "generation_kwargs.do_sample is 'false', expected true or false"),
    ("generation_kwargs: [until]\n", "generation_kwargs is ['until'], expected a mapping (key: value)"),
    ("num_fewshot: two\n", "num_fewshot is 'two', expected a whole number >= 0"),
    ("num_fewshot: -1\n", "num_fewshot is -1, expected a whole number >= 0"),
    ("output_type: generate\n", "output_type is 'generate', expected one of generate_until, loglikelihood, "
                                "loglikelihood_rolling, multiple_choice"),
    ("repeats: 0\n", "repeats is 0, expected a whole number >= 1"),
    ("metric_list: pii_leaked\n", "metric_list is 'pii_leaked', expected a list of mappings, each with a 'metric'"),
])
def test_a_wrong_typed_lm_eval_field_names_the_file_and_field(tmp_path, fields, message):
    line = _run_user_task(tmp_path, f"include: {DIRECT}\ntask: my_task\n{fields}")
    assert line == f"mmpriv: {tmp_path / 'mine' / 'my_task.yaml'}: {message}; fix the task YAML (or a file it includes)"


def test_a_wrong_typed_field_in_a_group_member_or_a_yaml_path_is_found(tmp_path):
    """Groups are expanded to their tasks, and a task YAML given as --tasks PATH is read as given."""
    (tmp_path / "mine").mkdir()
    task = tmp_path / "mine" / "my_task.yaml"
    task.write_text(f"include: {DIRECT}\ntask: my_task\ngeneration_kwargs:\n  max_gen_toks: 1.5\n")
    (tmp_path / "mine" / "my_group.yaml").write_text("group: my_group\ntask:\n  - mmpriv_disclosure_vqa\n  - my_task\n")
    expected = f"{task}: generation_kwargs.max_gen_toks is 1.5, expected a whole number >= 1"
    for tasks in ("my_group", str(task)):
        proc = run_cli(venv_bin("mmpriv"), "run", "--model", "refuse-all", "--tasks", tasks, "--limit", "1",
                       "--include_path", str(tmp_path / "mine"), cwd=tmp_path)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
        assert proc.stderr.strip().splitlines()[-1].startswith(f"mmpriv: {expected}; "), proc.stderr[-2000:]


def test_every_shipped_task_passes_the_field_check():
    from mmpriv_tasks.commands.run_checks import check_task_fields
    from mmpriv_tasks.registry import packs

    entries = packs.entries()
    check_task_fields(sorted(entries), entries)


@pytest.mark.slow
def test_lm_evals_own_task_configs_pass_the_field_check():
    """No false alarm on the stock task YAMLs lm-eval ships (each read as the registry reads ours)."""
    from pathlib import Path

    import lm_eval

    from mmpriv_tasks.commands.run_checks import _field_problems
    from mmpriv_tasks.registry import RegistryError, load_config

    checked, problems = 0, []
    for path in sorted((Path(lm_eval.__file__).parent / "tasks").rglob("*.yaml")):
        try:
            config = load_config(path)
        except RegistryError:  # includes missing in the installed copy, or YAML tags we do not read
            continue
        if isinstance(config.get("task"), str):
            checked += 1
            problems += [(path.name, *problem) for problem in _field_problems(config)]
    assert checked > 10000 and problems == []


@pytest.mark.parametrize("config, problems", [
    ({"num_fewshot": 0, "repeats": 1, "output_type": "multiple_choice", "tag": ["a", "b"], "description": "",
      "metric_list": [{"metric": "acc"}], "filter_list": [{"name": "x", "filter": []}], "should_decontaminate": True,
      "metadata": {"version": 1}, "generation_kwargs": {"until": [], "max_gen_toks": 1, "max_new_tokens": 1,
                                                        "temperature": 0, "top_p": 0.5, "top_k": 0, "do_sample": False}},
     []),
    ({"task_alias": None, "tag": "a", "generation_kwargs": {"until": "\n\n", "temperature": 0.0}}, []),
    ({"num_fewshot": True, "repeats": 0, "tag": ["a", 1], "metadata": [], "unsafe_code": "no",
      "metric_list": [{"aggregation": "mean"}], "filter_list": "take_first", "dataset_path": 3,
      "generation_kwargs": {"until": ["a", None], "max_gen_toks": 0, "max_new_tokens": 2.0, "temperature": -0.5,
                            "top_p": True, "top_k": -1, "do_sample": 0}},
     [("dataset_path", 3, "text"), ("tag", ["a", 1], "text or a list of text"),
      ("metadata", [], "a mapping (key: value)"), ("num_fewshot", True, "a whole number >= 0"),
      ("repeats", 0, "a whole number >= 1"), ("unsafe_code", "no", "true or false"),
      ("metric_list", [{"aggregation": "mean"}], "a list of mappings, each with a 'metric'"),
      ("filter_list", "take_first", "a list of mappings, each with a 'name'"),
      ("generation_kwargs.until", ["a", None], "text or a list of text"),
      ("generation_kwargs.max_gen_toks", 0, "a whole number >= 1"),
      ("generation_kwargs.max_new_tokens", 2.0, "a whole number >= 1"),
      ("generation_kwargs.temperature", -0.5, "a number >= 0"), ("generation_kwargs.top_p", True, "a number >= 0"),
      ("generation_kwargs.top_k", -1, "a whole number >= 0"), ("generation_kwargs.do_sample", 0, "true or false")]),
])
def test_field_problems_exactly(config, problems):
    from mmpriv_tasks.commands.run_checks import _field_problems

    assert _field_problems(config) == problems


def test_check_task_fields_follows_groups_and_yaml_paths(tmp_path):
    from mmpriv_tasks.commands.run_checks import check_task_fields
    from mmpriv_tasks.errors import InputError
    from mmpriv_tasks.registry import Entry

    bad = tmp_path / "bad.yaml"
    bad.write_text("task: bad\nnum_fewshot: x\n")
    entries = {"g": Entry("g", "group", tmp_path / "g.yaml", {}, ["g", "ok", "gsm8k", "inner"]),
               "inner": Entry("inner", "group", tmp_path / "inner.yaml", {}, ["bad"]),
               "ok": Entry("ok", "task", tmp_path / "ok.yaml", {"num_fewshot": 1}),
               "bad": Entry("bad", "task", bad, {"num_fewshot": "x"})}
    message = f"{bad}: num_fewshot is 'x', expected a whole number >= 0; fix the task YAML (or a file it includes)"
    for names in (["g"], ["ok", str(bad)]):
        with pytest.raises(InputError) as caught:
            check_task_fields(names, entries)
        assert str(caught.value) == message
    check_task_fields(["ok", "gsm8k", str(tmp_path / "missing.yaml")], entries)
