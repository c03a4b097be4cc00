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
