"""``mmpriv run --limit N`` over a large split builds each task once and reads only the rows holding
its first N docs: the Arrow cache it writes grows with the rows read, not with the split.

Through the real path: ``mmpriv run`` as a subprocess with ``mmpriv-api`` against a real HTTP server
on 127.0.0.1 (each request carries its image, read through the cache), over 200k-row copies of the
bundled disclosure and retention splits.
"""
from __future__ import annotations

import json
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from mmpriv_tasks.inputs.task_data import fingerprint
from mmpriv_tasks.paths import bundled_data_dir

from conftest import png_bytes, run_cli, venv_bin
from fake_openai_server import FakeOpenAIServer

ROWS = 200_000
LIMIT = 5
TASKS = {"disclosure": "mmpriv_disclosure_direct", "retention": "mmpriv_retention_direct_distractor"}


def _large_split(split: str, out) -> pa.Table:
    """The bundled split repeated to ``ROWS`` rows, each with its own id and one small image (dictionary
    encoded: a few MB of parquet, hundreds of MB as an uncompressed table)."""
    bundled = pq.read_table(bundled_data_dir() / "mmprivacy" / f"{split}.parquet")
    image = bundled.schema.get_field_index("image")
    table = bundled.remove_column(image).take(pa.array(np.arange(ROWS) % bundled.num_rows))
    ids = pa.array([f"{split}-{i:06d}" for i in range(ROWS)])
    table = table.set_column(table.schema.get_field_index("id"), "id", ids)
    images = pa.array([{"bytes": png_bytes("blue"), "path": None}] * ROWS, type=bundled.schema.field(image).type)
    table = table.add_column(image, "image", images)
    pq.write_table(table, out / f"{split}.parquet")
    return table


@pytest.mark.slow  # 26 s on the loaded 2-core box (two 200k-row splits written first)
def test_limit_builds_each_task_once_and_reads_only_its_rows(tmp_path):
    data, cache = tmp_path / "data", tmp_path / "cache"
    data.mkdir()
    tables = {split: _large_split(split, data) for split in TASKS}
    distractor = np.flatnonzero(pc.equal(tables["retention"].column("condition"), "distractor").to_numpy())
    expected_rows = {"disclosure": LIMIT, "retention": int(distractor[LIMIT - 1]) + 1}
    expected_ids = {"disclosure": tables["disclosure"].column("id").to_pylist()[:LIMIT],
                    "retention": [tables["retention"].column("id")[int(i)].as_py() for i in distractor[:LIMIT]]}
    full_copy = sum(table.nbytes for table in tables.values())  # what converting every row would write
    with FakeOpenAIServer() as server:
        done = run_cli(venv_bin("mmpriv"), "run", "--model", "mmpriv-api", "--model_args",
                       f"base_url={server.base_url},model=fake,cache=false", "--tasks", ",".join(TASKS.values()),
                       "--limit", str(LIMIT), "--metadata", json.dumps({"data_dir": str(data)}),
                       "--output_path", str(tmp_path / "out"), cwd=tmp_path, env={"MMPRIV_CACHE_DIR": str(cache)})
        bodies = server.bodies()
    assert done.returncode == 0, done.stderr[-3000:]
    for split, task in TASKS.items():
        reads = re.findall(rf"{re.escape(str(data / split))}\.parquet: (\d+) docs from the first (\d+) rows",
                           done.stderr)
        assert reads == [(str(LIMIT), str(expected_rows[split]))], done.stderr[-3000:]  # built once
        samples = max((tmp_path / "out").rglob(f"samples_{task}_*.jsonl")).read_text().splitlines()
        assert [json.loads(line)["doc"]["id"] for line in samples] == expected_ids[split]
    assert len(bodies) == 2 * LIMIT
    assert all(sum(part["type"] == "image_url" for part in body["messages"][-1]["content"]) == 1 for body in bodies)
    cached = sorted(path.name for path in cache.iterdir())
    assert cached == sorted(f"{split}-{fingerprint(data / f'{split}.parquet')}-first{expected_rows[split]}.arrow"
                            for split in TASKS)
    cache_bytes = sum(path.stat().st_size for path in cache.iterdir())
    assert cache_bytes * 1000 < full_copy, (cache_bytes, full_copy)

