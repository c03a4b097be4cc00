"""Opt-in upstream error accounting (--metadata '{"upstream_errors": true}'): errors become upstream's
"ERROR" category in the blind tests and judged replies in the attribute tasks; off by default."""
from __future__ import annotations

import json
import math

import pytest

from mmpriv_tasks.errors import format_error
from mmpriv_tasks.tasks.hearsay import load_blind, process_blind, process_results

from conftest import run_cli, venv_bin

FAILED = format_error("api", "HTTP 500")


def test_blind_error_is_upstreams_error_category_only_when_switched_on():
    (doc,) = load_blind("gender", n=1, upstream_errors="true")["test"].to_list()
    flags = process_blind(doc, [FAILED])
    assert (flags["refusal_rate"], flags["top_guess"], flags["blind_entropy"], flags["error_rate"]) == (
        0, "ERROR", None, 1)
    (plain,) = load_blind("gender", n=1)["test"].to_list()
    assert "upstream_errors" not in plain
    assert process_blind(plain, [FAILED])["refusal_rate"] is None


def test_attribute_error_is_scored_as_a_reply_only_when_switched_on():
    doc = {"id": "c", "attribute": "gender", "label": "female", "audio": {"bytes": b"x", "path": None},
           "upstream_errors": True}
    flags = process_results(dict(doc), [FAILED])
    assert (flags["accuracy"], flags["refusal_rate"], flags["error_rate"]) == (0, 0, 1)
    del doc["upstream_errors"]
    assert process_results(dict(doc), [FAILED])["accuracy"] is None


@pytest.mark.slow
def test_cli_switch_keeps_errors_in_the_blind_refusal_denominator(tmp_path):
    base = ("run", "--model", "mmpriv-api", "--model_args",
            "base_url=http://127.0.0.1:9/v1,model=m,cache=false,max_retries=0,timeout=2",
            "--tasks", "hearsay_blind_gender", "--limit", "2")
    results = {}
    for name, extra in (("ours", ()), ("upstream", ("--metadata", json.dumps({"upstream_errors": True})))):
        proc = run_cli(venv_bin("mmpriv"), *base, *extra, "--output_path", str(tmp_path / name), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
        results[name] = json.loads(next((tmp_path / name).rglob("results_*.json")).read_text())["results"][
            "hearsay_blind_gender"]
    ours = results["ours"]["refusal_rate,none"]  # no decision (null in strict JSON, NaN before)
    assert results["ours"]["error_rate,none"] == 1.0 and (ours is None or math.isnan(ours))
    assert results["upstream"]["refusal_rate,none"] == 0.0 and results["upstream"]["top_guess,none"] == "ERROR"
