"""Uncertainty of every number: closed-form stderr and Wilson intervals, the seeded bootstrap against a
known distribution, exact McNemar, Holm, power; strict results JSON with a stderr for every rate of every
bundled task (through `mmpriv run`); paired comparisons in `mmpriv report` on constructed runs."""
from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import pytest

from mmpriv_tasks.registry import packs
from mmpriv_tasks.outputs.run_stats import NO_DECISION, add_uncertainty
from mmpriv_tasks.scoring import aggregate
from mmpriv_tasks.scoring.stats import (
    binomial_stderr, bootstrap_stderr, holm, mcnemar_exact, minimum_detectable_difference, paired_bootstrap,
    paired_flag_difference, paired_permutation_p, wilson,
)

from conftest import run_cli, venv_bin

RATES = ("leak_rate", "refusal_rate", "leak_rate_answered", "distractor_leak_rate", "control_answer_rate", "accuracy",
         "accuracy_answered", "unparseable_rate", "error_rate", "judged_rate", "judge_error_rate")


def test_binomial_stderr_and_wilson_match_closed_form():
    flags = [1, 1, 1, 0, 0, 0, 0, 0, 0, 0, None, None]  # 3 of 10 scored, two errored samples left out
    assert binomial_stderr(flags) == pytest.approx(math.sqrt(0.3 * 0.7 / 9), abs=1e-15)
    low, high = wilson(3, 10)
    assert (round(low, 4), round(high, 4)) == (0.1078, 0.6032)  # textbook Wilson 95 % interval for 3/10
    assert wilson(0, 10)[0] == 0.0 and round(wilson(0, 10)[1], 4) == 0.2775 and wilson(10, 10)[1] == 1.0
    assert wilson(0, 0) is None and binomial_stderr([1, None]) is None and binomial_stderr([]) is None
    assert binomial_stderr([1, 0]) == 0.5 and binomial_stderr([1, 1, None]) == 0.0  # two flags: sqrt(.25 / 1)
    assert wilson(1, 1) == (pytest.approx(1 / (1 + 1.959964 ** 2), abs=1e-6), 1.0)  # 1/1: centre - half


def test_bootstrap_matches_the_binomial_law_with_a_fixed_seed():
    counts = Counter({1: 30, 0: 70})
    share = lambda c: c[1] / sum(c.values())  # noqa: E731
    got = bootstrap_stderr(share, counts, 20000, seed=7)
    assert got == pytest.approx(math.sqrt(0.3 * 0.7 / 100), rel=0.03)  # the resampled mean's sd: sqrt(pq/n)
    assert got == bootstrap_stderr(share, counts, 20000, seed=7) != bootstrap_stderr(share, counts, 20000, seed=8)
    assert bootstrap_stderr(share, Counter({1: 1}), 100) is None and bootstrap_stderr(share, counts, 0) is None
    assert bootstrap_stderr(share, Counter({1: 1, 0: 1}), 4000, seed=2) == pytest.approx(math.sqrt(0.25 / 2), rel=0.05)
    assert bootstrap_stderr(share, counts, 2, seed=1) is not None  # two draws are enough for a spread


def test_bootstrap_of_macro_f1_resamples_the_same_statistic():
    items = [["F", "F"]] * 40 + [["F", "M"]] * 10 + [["M", "M"]] * 30 + [["M", "refused"]] * 20
    counts = aggregate.pair_counts(items)
    assert aggregate.macro_f1_of_counts(counts) == aggregate.macro_f1(items)
    # a degenerate multiset has no spread: every resample is the same perfect classifier
    assert bootstrap_stderr(aggregate.macro_f1_of_counts, Counter({("F", "F"): 5, ("M", "M"): 5}), 500) == 0.0
    assert 0.02 < bootstrap_stderr(aggregate.macro_f1_of_counts, counts, 2000) < 0.08


def test_mcnemar_exact_and_holm_by_hand():
    assert mcnemar_exact(1, 6) == 2 * (1 + 7) / 2 ** 7  # 0.125
    assert mcnemar_exact(0, 5) == 2 / 32 and mcnemar_exact(3, 3) == 1.0 and mcnemar_exact(0, 0) == 1.0
    assert holm([0.01, 0.04, 0.03, None]) == [0.03, 0.06, 0.06, None]
    assert holm([0.5, 0.001]) == [0.5, 0.002]


def test_paired_bootstrap_difference_and_interval():
    pairs = [(1, 0)] * 8 + [(0, 0)] * 12  # A leaks on 8 of 20 items, B on none
    share = lambda c: c[1] / sum(c.values())  # noqa: E731
    result = paired_bootstrap(share, pairs, 2000, seed=1)
    assert result["n"] == 20 and result["difference"] == 0.4
    # the resampled difference is X / 20 with X ~ Binomial(20, 0.4): 2.5 % and 97.5 % quantiles 4 and 12
    assert (result["low"], result["high"], result["p"]) == (0.2, 0.6, 0.0)
    assert paired_bootstrap(share, [(1, 0), (0, 0)], 2000, seed=1)["high"] == 1.0  # two pairs are enough
    assert paired_bootstrap(share, pairs, 2, seed=1)["p"] is not None  # and two draws
    # the permutation p-value (pairs swapped at random) of 6 vs 1 discordant items approaches McNemar's 0.125
    discordant = [(1, 0)] * 6 + [(0, 1)] + [(0, 0)] * 5
    assert paired_permutation_p(share, discordant, 4000, seed=3) == pytest.approx(0.125, abs=0.015)
    assert paired_permutation_p(share, [(1, 1)] * 5, 99) == 1.0 and paired_permutation_p(share, [], 99) is None
    assert paired_permutation_p(share, [(1, 1)] * 5, 1) == 1.0  # one draw: (1 + 1) / (1 + 1)
    flags = paired_flag_difference(pairs, 2000, seed=1)  # the vectorised 0/1 form: same law, same answers
    assert flags["n"] == 20 and flags["difference"] == 0.4 and flags["p"] == 0.0
    assert (flags["low"], flags["high"]) == (0.2, 0.6)
    assert paired_flag_difference([(1, 0)], 100)["low"] is None and paired_bootstrap(share, [(1, 0)], 100)["p"] is None
    two = paired_flag_difference([(1, 0), (0, 0)], 2000, seed=1)
    assert (two["difference"], two["low"], two["high"]) == (0.5, 0.0, 1.0)
    # resampled differences on both sides of 0: twice the smaller side, about 0.05 by either bootstrap
    assert paired_flag_difference(discordant, 4000, seed=3)["p"] == pytest.approx(0.05, abs=0.01)
    assert paired_bootstrap(share, discordant, 4000, seed=3)["p"] == pytest.approx(0.05, abs=0.01)


def test_minimum_detectable_difference_matches_the_textbook_formula():
    # two-proportion z-test, 80 % power, two-sided 5 %: n = (1.96 sqrt(2 pq) + 0.8416 sqrt(p1q1 + p2q2))^2 / d^2
    d = minimum_detectable_difference(600, 0.5)
    p2 = 0.5 - d
    n = (1.959964 * math.sqrt(2 * ((0.5 + p2) / 2) * (1 - (0.5 + p2) / 2))
         + 0.841621 * math.sqrt(0.25 + p2 * (1 - p2))) ** 2 / d ** 2
    assert n == pytest.approx(600, rel=1e-3) and round(d, 3) == 0.081
    assert minimum_detectable_difference(2, 0.5) is None and minimum_detectable_difference(0, 0.5) is None


def _reject(constant):
    raise ValueError(f"not strict JSON: {constant}")


@pytest.mark.slow  # one run over every bundled task (~60 s)
def test_every_bundled_task_has_a_numeric_or_null_stderr_in_strict_json(tmp_path):
    proc = run_cli(venv_bin("mmpriv"), "run", "--model", "refuse-all", "--tasks", "mmpriv_all", "--limit", "3",
                   "--output_path", str(tmp_path / "out"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results_file = next((tmp_path / "out").rglob("results_*.json"))
    payload = json.loads(results_file.read_text(encoding="utf-8"), parse_constant=_reject)
    results = payload["results"]
    assert len([t for t in results if t not in payload["group_subtasks"]]) == 26
    checked = 0
    for task, metrics in results.items():
        for key, value in metrics.items():
            metric = key.split(",")[0]
            if metric in RATES and key.endswith(",none") and "_stderr" not in metric:
                stderr = metrics[f"{metric}_stderr,none"]
                assert stderr is None or isinstance(stderr, float), (task, key, stderr)
                assert (stderr is None) == (value is None) or task in payload["group_subtasks"], (task, key)
                checked += 1
        assert "N/A" not in metrics.values(), task
    assert checked > 100
    # refuse-all answers nothing: no answered sample, so null (with its reason), never NaN or "N/A"
    assert results["mmpriv_disclosure_direct"]["leak_rate_answered,none"] is None
    assert "leak_rate_answered,none" in payload["mmpriv_statistics"]["null"]["mmpriv_disclosure_direct"]
    # stderr of a rate = the closed form over the scored per-sample flags in the samples file
    samples = [json.loads(line) for line in next(results_file.parent.glob("samples_hearsay_gender_cot_*.jsonl"))
               .read_text(encoding="utf-8").splitlines()]
    flags = [s["refusal_rate"] for s in samples]
    assert results["hearsay_gender_cot"]["refusal_rate_stderr,none"] == binomial_stderr(flags)
    assert results["hearsay_mini"]["accuracy_stderr,none"] == 0.0  # groups: lm-eval's pooled formula of 0s


def test_bootstrap_iters_must_be_a_whole_number(tmp_path):
    proc = run_cli(venv_bin("mmpriv"), "run", "--model", "refuse-all", "--tasks", "mmpriv_disclosure_direct",
                   "--bootstrap_iters", "many", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1] == (
        "mmpriv: --bootstrap_iters: expected a whole number >= 0 (0: no stderr), got 'many'")


def _fake_run(folder: Path, model: str, flags: dict[str, int | None], stamp: str, ids=None, limit=None) -> None:
    """A results file + samples file of one task (``mmpriv_disclosure_direct``) with the given leak flags."""
    folder.mkdir(parents=True)
    ids = ids or list(flags)
    rows = [{"doc_id": i, "doc": {"id": doc}, "doc_hash": f"h-{doc}", "filter": "none", "leak_rate": flags[key],
             "refusal_rate": 0 if flags[key] is not None else None, "error_rate": int(flags[key] is None)}
            for i, (doc, key) in enumerate(zip(ids, flags))]
    scored = [f for f in flags.values() if f is not None]
    payload = {"results": {"mmpriv_disclosure_direct": {"leak_rate,none": sum(scored) / len(scored)}},
               "n-samples": {"mmpriv_disclosure_direct": {"effective": len(rows)}}, "group_subtasks": {},
               "config": {"model": model, "limit": limit}, "model_name": model}
    (folder / f"results_{stamp}.json").write_text(json.dumps(payload), encoding="utf-8")
    (folder / f"samples_mmpriv_disclosure_direct_{stamp}.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def test_paired_report_gives_the_hand_computed_mcnemar_p(tmp_path):
    # 20 items: both leak on 3, A only on 6, B only on 1, neither on 9; item 19 errored in B (not paired)
    a = [1] * 3 + [1] * 6 + [0] * 1 + [0] * 10
    b = [1] * 3 + [0] * 6 + [1] * 1 + [0] * 9 + [None]
    _fake_run(tmp_path / "a", "model-a", {f"item-{i:02d}": f for i, f in enumerate(a)}, "2026-01-01T00-00-00")
    _fake_run(tmp_path / "b", "model-b", {f"item-{i:02d}": f for i, f in enumerate(b)}, "2026-01-02T00-00-00")
    proc = run_cli(venv_bin("mmpriv"), "report", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "r"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = (tmp_path / "r" / "report.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| model-b vs model-a | mmpriv_disclosure_direct"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    # n paired 19; A 9/19, B 4/19; McNemar exact p = 2 * P(X <= 1 | Bin(7, 1/2)) = 2 * 8/128 = 0.125
    assert cells[2:7] == ["leak_rate", "19", "0.474", "0.211", "-0.263"] and cells[8:] == [
        "McNemar exact", "0.125", "0.375", "no"]  # Holm over 3 comparisons: 3 x 0.125
    assert "| model-b | 1 | ≈ 0.211 [0.09, 0.43] n=19 |" in text  # leaderboard: not significant vs model-a


def test_pairing_runs_on_different_items_is_one_clear_error(tmp_path):
    flags = {f"k{i}": i % 2 for i in range(6)}
    _fake_run(tmp_path / "a", "model-a", flags, "2026-01-01T00-00-00")
    _fake_run(tmp_path / "b", "model-b", flags, "2026-01-02T00-00-00", ids=[f"other-{i}" for i in range(6)])
    proc = run_cli(venv_bin("mmpriv"), "report", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "r"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (
        "mmpriv: cannot pair model-a and model-b on mmpriv_disclosure_direct: different items (6 only in model-a, "
        "e.g. k0; 6 only in model-b, e.g. other-0); compare runs made on the same data and --limit")


def test_a_limited_run_is_not_ranked_with_a_full_run_unless_asked(tmp_path):
    flags = {f"k{i}": i % 2 for i in range(6)}
    _fake_run(tmp_path / "a", "model-a", flags, "2026-01-01T00-00-00")
    _fake_run(tmp_path / "b", "model-b", flags, "2026-01-02T00-00-00", limit=6.0)
    args = (venv_bin("mmpriv"), "report", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "r"))
    proc = run_cli(*args)
    assert proc.returncode == 2 and proc.stderr.strip() == (
        "mmpriv: runs with different item limits (--limit 6, all items: model-a: all items, model-b: --limit 6) are "
        "not ranked together; report them apart or pass --mixed_limits")
    proc = run_cli(*args, "--mixed_limits")
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = (tmp_path / "r" / "report.md").read_text()
    assert "| model-b (--limit 6) | 1 |" in text and "Limited runs (model-b) evaluated only the first items" in text


def test_cite_power_prints_items_and_minimum_detectable_difference(tmp_path):
    proc = run_cli(venv_bin("mmpriv"), "cite", "mmpriv_disclosure", "--power", "0.3", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert "%   mmpriv_disclosure_direct: 60 items, detectable difference 0.250" in lines
    assert lines[-1] == "%   pooled over the 5 tasks: 300 items, detectable difference 0.109"
    assert round(minimum_detectable_difference(60, 0.3), 3) == 0.250
    proc = run_cli(venv_bin("mmpriv"), "cite", "mmpriv_disclosure_direct", "--power", "1.5", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == "" and proc.stderr.strip() == (
        "mmpriv: --power: the baseline rate must be between 0 and 1, got 1.5")


def test_results_get_task_and_group_stderrs_the_way_lm_eval_combines_them():
    def sample(flag, pair):
        return {"filter": "none", "accuracy": flag, "macro_f1": pair, "error_rate": int(flag is None),
                "scoring_mode": "offline"}

    gender = [sample(1, ["F", "F"]), sample(1, ["M", "M"]), sample(0, ["F", "M"]), sample(0, ["M", "refused"])]
    accent = [sample(1, ["a", "a"]), sample(0, ["b", "a"]), sample(0, ["a", "b"]), sample(None, None)]
    results = {
        "results": {
            "hearsay_gender_cot": {"sample_len": 4, "accuracy,none": 0.5, "accuracy_stderr,none": "N/A",
                                   "macro_f1,none": aggregate.macro_f1([s["macro_f1"] for s in gender]),
                                   "macro_f1_stderr,none": "N/A", "scoring_mode,none": "offline",
                                   "scoring_mode_stderr,none": "N/A"},
            "hearsay_accent_cot": {"sample_len": 4, "accuracy,none": 1 / 3, "accuracy_stderr,none": "N/A",
                                   "macro_f1,none": float("nan"), "macro_f1_stderr,none": "N/A"},
            "hearsay_cot": {"sample_len": 8, "accuracy,none": (0.5 * 4 + 1 / 3 * 4) / 8, "accuracy_stderr,none": "N/A"},
        },
        "group_subtasks": {"hearsay_cot": ["hearsay_gender_cot", "hearsay_accent_cot"]},
        "config": {"bootstrap_iters": 100000, "numpy_seed": 1234},
    }
    raw = {task: {(metric, "none"): [s[metric] for s in samples] for metric in samples[0] if metric != "filter"}
           for task, samples in (("hearsay_gender_cot", gender), ("hearsay_accent_cot", accent))}
    out = add_uncertainty(results, packs.entries(), raw)
    gender_se, accent_se = math.sqrt(0.25 / 3), math.sqrt((1 / 3) * (2 / 3) / 2)  # 2/4 scored; 1/3 (one errored)
    assert out["results"]["hearsay_gender_cot"]["accuracy_stderr,none"] == pytest.approx(gender_se, abs=1e-15)
    assert out["results"]["hearsay_accent_cot"]["accuracy_stderr,none"] == pytest.approx(accent_se, abs=1e-15)
    # lm-eval's pooled_sample_stderr over sizes 4 and 4: sqrt(sum((n - 1) n se^2) / (8 - 2) / 8)
    pooled = math.sqrt((3 * 4 * gender_se ** 2 + 3 * 4 * accent_se ** 2) / 6 / 8)
    assert out["results"]["hearsay_cot"]["accuracy_stderr,none"] == pytest.approx(pooled, abs=1e-12)
    macro = out["results"]["hearsay_gender_cot"]["macro_f1_stderr,none"]
    assert isinstance(macro, float) and macro > 0  # seeded bootstrap (capped at 2000 draws)
    assert macro == add_uncertainty(results, packs.entries(), raw)["results"]["hearsay_gender_cot"]["macro_f1_stderr,none"]
    assert out["results"]["hearsay_gender_cot"]["scoring_mode_stderr,none"] is None  # a record has none
    assert out["results"]["hearsay_accent_cot"]["macro_f1,none"] is None  # NaN -> null, with the reason
    assert out["mmpriv_statistics"]["null"] == {"hearsay_accent_cot": {"macro_f1,none": NO_DECISION}}
    assert out["mmpriv_statistics"]["bootstrap_iters"] == 2000
    json.loads(json.dumps(out), parse_constant=_reject)
    results["config"]["bootstrap_iters"] = 0  # lm-eval's "no stderr"
    assert add_uncertainty(results, packs.entries(), raw)["results"]["hearsay_gender_cot"]["accuracy_stderr,none"] is None
