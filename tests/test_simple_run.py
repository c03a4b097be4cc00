"""``mmpriv run`` evaluates through ``simple_run.simple_evaluate``: the same results JSON as stock
lm-eval's ``simple_evaluate`` (keys and values), with an environment record that imports no torch."""
from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version

from fake_openai_server import FakeOpenAIServer

TASK = "mmpriv_disclosure_direct"
SEEDS = dict(random_seed=0, numpy_random_seed=1234, torch_random_seed=1234, fewshot_random_seed=1234)


def _keys(value, prefix=""):
    """Every key path of nested dicts, e.g. ``config.model``."""
    if not isinstance(value, dict):
        return set()
    return {f"{prefix}{key}" for key in value} | {path for key, item in value.items()
                                                  for path in _keys(item, f"{prefix}{key}.")}


def test_results_match_stock_simple_evaluate_key_for_key(task_manager):
    import lm_eval

    from mmpriv_tasks.commands.simple_run import simple_evaluate

    common = dict(model="refuse-all", model_args="", tasks=[TASK], task_manager=task_manager, limit=3,
                  log_samples=True, gen_kwargs="max_gen_toks=9", **SEEDS)
    ours = simple_evaluate(**common)
    stock = lm_eval.simple_evaluate(**common)
    assert _keys(ours) == _keys(stock)
    assert {"pretty_env_info", "transformers_version", "lm_eval_version", "upper_git_hash", "git_hash",
            "date", "config.gen_kwargs", "config.torch_seed"} <= _keys(ours)
    for key in ("results", "configs", "versions", "n-shot", "higher_is_better", "n-samples", "config"):
        assert ours[key] == stock[key], key
    assert ours["config"]["gen_kwargs"] == {"max_gen_toks": 9}
    assert [s["resps"] for s in ours["samples"][TASK]] == [s["resps"] for s in stock["samples"][TASK]]
    assert (ours["lm_eval_version"], ours["transformers_version"]) == (stock["lm_eval_version"],
                                                                       stock["transformers_version"])


PROBE = """
import json, sys
from mmpriv_tasks.commands.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "loaded": sorted(m for m in ("torch", "transformers") if m in sys.modules)}))
"""


def test_an_api_run_imports_no_torch_and_still_records_versions_and_platform(tmp_path):
    with FakeOpenAIServer() as server:
        done = subprocess.run([sys.executable, "-c", PROBE, "run", "--model", "mmpriv-api", "--model_args",
                               f"base_url={server.base_url},model=fake,cache=false", "--tasks", TASK, "--limit", "1",
                               "--output_path", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"code": 0, "loaded": []}
    results = json.loads(next(tmp_path.rglob("results_*.json")).read_text())
    env = results["pretty_env_info"]
    assert f"lm_eval {version('lm_eval')}" in env and f"numpy {version('numpy')}" in env and "Python 3." in env
    assert env.endswith("torch not loaded by this run (no GPU details)")
    assert results["transformers_version"] == version("transformers")
    assert results["lm_eval_version"] == version("lm_eval")
    assert results["config"]["model"] == "mmpriv-api" and results["results"][TASK]["error_rate,none"] == 0
