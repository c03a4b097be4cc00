"""Wrong-typed data columns end `mmpriv run` with one line before any model call: an integer
``pii_value``, a string image column, a binary (non-UTF-8) text column."""
from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mmpriv_tasks.paths import bundled_data_dir

from conftest import run_cli, venv_bin
from fake_openai_server import FakeOpenAIServer

TASK = "mmpriv_disclosure_direct"


def _integer_pii(table):
    return table.set_column(table.schema.get_field_index("pii_value"), "pii_value",
                            pa.array(range(367753579, 367753579 + table.num_rows), type=pa.int64()))  # SSNs as numbers


def _string_image(table):
    return table.set_column(table.schema.get_field_index("image"), "image", pa.array(["x.png"] * table.num_rows))


def _binary_question(table):
    values = [q.encode("latin-1", "replace") + b"\xe9" for q in table.column("question").to_pylist()]
    return table.set_column(table.schema.get_field_index("question"), "question", pa.array(values, type=pa.binary()))


@pytest.mark.parametrize("corrupt, message", [
    (_integer_pii, f"task {TASK}: its first row cannot be scored (AttributeError: "),
    (_string_image, "column 'image' is string, not a media cell {bytes, path}"),
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
