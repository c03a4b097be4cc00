"""Our pixel cap (50 M, ``$MMPRIV_MAX_IMAGE_PIXELS``) is what refuses an image between it and Pillow's
own ~179 M limit: an image of 56 M pixels is a per-sample error by default, one of 40 M only under a
lower cap set in the environment (through `mmpriv run`)."""
from __future__ import annotations

import io
import json

from PIL import Image

from conftest import run_cli, venv_bin
from test_broken_inputs import _outputs, corrupt_split

TASK = "mmpriv_disclosure_direct"


def _png(width: int, height: int) -> dict:
    buffer = io.BytesIO()
    Image.new("1", (width, height)).save(buffer, format="PNG", optimize=True)
    return {"bytes": buffer.getvalue(), "path": None}


CASES = {"56_mp": (lambda d: _png(8000, 7000), True), "40_mp": (lambda d: _png(8000, 5000), False),
         "small": (lambda d: _png(64, 64), False)}


def test_images_between_our_cap_and_pillows_are_refused(tmp_path):
    assert 50_000_000 < 8000 * 7000 < Image.MAX_IMAGE_PIXELS  # under Pillow's warning (and its 2x error) limit
    ids = corrupt_split(tmp_path / "data", "mmprivacy", "disclosure", CASES)
    errors = {}
    for label, env in (("default", {}), ("lower", {"MMPRIV_MAX_IMAGE_PIXELS": "30000000"})):
        out = tmp_path / label
        proc = run_cli(venv_bin("mmpriv"), "run", "--model", "refuse-all", "--tasks", TASK, "--limit", "3",
                       "--metadata", json.dumps({"data_dir": str(tmp_path / "data")}), "--output_path", str(out),
                       cwd=tmp_path, env={"MMPRIV_CACHE_DIR": str(tmp_path / "cache"), **env})
        assert proc.returncode == 0, proc.stderr[-3000:]
        _, samples = _outputs(out, TASK)
        by_id = {s["doc"]["id"]: s["doc"].get("error") for s in samples}
        errors[label] = {name: by_id[ids[name]] for name in CASES}
    assert errors["default"]["40_mp"] is None and errors["default"]["small"] is None
    assert "over the pixel cap of 50,000,000" in errors["default"]["56_mp"]
    assert "over the pixel cap of 30,000,000" in errors["lower"]["40_mp"] and errors["lower"]["small"] is None
