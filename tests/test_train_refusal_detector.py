"""``scripts/train_refusal_detector.py`` run as a user runs it, on a folder of an eighth of the project's own
labelled sets (the public ones are not prepared here): the grid, the choice it prints, the calibration and
the weights file it writes, read back as the detector reads it."""
import importlib.util
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mmpriv_tasks.scoring import refusal_model

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "train_refusal_detector.py"
_SPEC = importlib.util.spec_from_file_location("train_refusal_detector", SCRIPT)
script = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(script)
OWN = script.OWN_SOURCES
GRID_LINE = re.compile(r"^C=(\S+) weighting=(\w+): mean leave-one-source-out accuracy (\d\.\d{3})$", re.M)


def train(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def small_data(tmp_path_factory) -> tuple[Path, dict[str, list[dict]]]:
    """Every eighth reply of each own set, under the set's own file name."""
    folder = tmp_path_factory.mktemp("labelled")
    rows = {}
    for name, file in OWN.items():
        lines = (ROOT / "tests" / "data" / file).read_text(encoding="utf-8").splitlines()[::8]
        (folder / file).write_text("\n".join(lines) + "\n", encoding="utf-8")
        rows[name] = [json.loads(line) for line in lines]
    return folder, rows


@pytest.fixture(scope="module")
def grid_run(small_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("weights") / "weights.json"
    done = train("--data", str(small_data[0]), "--out", str(out))
    assert done.returncode == 0, done.stderr
    return done.stdout, out


@pytest.fixture(scope="module")
def written(grid_run) -> dict:
    """The weights file the grid run wrote."""
    return json.loads(grid_run[1].read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def fit_inputs(small_data) -> tuple[dict, dict]:
    """The training script's features and labels of :func:`small_data`, by source."""
    rows = small_data[1]
    return ({name: script.featurise(rows[name]) for name in OWN},
            {name: np.array([row["refusal"] for row in rows[name]]) for name in OWN})


def test_missing_sources_are_named_with_how_to_prepare_them(small_data, grid_run):
    stdout, _ = grid_run
    for name in script.PUBLIC_SOURCES:
        assert (f"note: source '{name}' left out: no {small_data[0] / 'public' / name}.jsonl "
                "(scripts/prepare_refusal_sources.py prepares it)") in stdout


def test_the_grid_setting_with_the_best_mean_held_out_accuracy_is_written(small_data, grid_run, written):
    stdout, _ = grid_run
    grid = [(float(c), weighting, float(mean)) for c, weighting, mean in GRID_LINE.findall(stdout)]
    assert len(grid) == 12 and len({(c, w) for c, w, _ in grid}) == 12
    best = max(mean for _, _, mean in grid)
    c, weighting, _ = next(row for row in grid if row[2] == best)  # ties: the earlier in the grid
    assert (written["C"], written["weighting"]) == (c, weighting)
    assert f"chosen C={c:g} weighting={weighting};" in stdout
    rows = small_data[1]
    table = written["leave_one_source_out"]
    assert list(table) == list(OWN) and [table[name]["n"] for name in OWN] == [len(rows[name]) for name in OWN]
    assert sum(row["accuracy"] for row in table.values()) / len(table) == pytest.approx(best, abs=5e-4)
    assert written["trained_on"] == f"{' + '.join(OWN)} ({sum(map(len, rows.values()))} replies)"


def test_written_weights_are_calibrated_and_read_back_as_the_detector_reads_them(small_data, written):
    a, b = written["platt"]
    assert a > 0 and math.isfinite(b)
    assert written["weights"] and all(abs(w) >= 0.01 for w in written["weights"].values())
    replies = [row for rows in small_data[1].values() for row in rows]
    seen = set().union(*(refusal_model.features(row["text"]) for row in replies))
    assert set(written["weights"]) <= seen
    scorer = refusal_model._Scorer(written["weights"], written["bias"])
    z = scorer.logits([row["text"] for row in replies])
    for row, logit in zip(replies[::25], z[::25]):
        by_hand = written["bias"] + sum(written["weights"].get(f, 0.0) for f in refusal_model.features(row["text"]))
        assert logit == pytest.approx(by_hand, abs=1e-9)
    correct = sum((logit >= 0) == row["refusal"] for row, logit in zip(replies, z))
    assert correct / len(replies) >= 0.9  # in-sample: the file holds what was fitted


def test_written_weights_are_the_final_fit_on_every_source_scaled_by_its_platt_parameters(fit_inputs, written):
    features, labels = fit_inputs
    vectorizer, model = script.fit(features, labels, list(OWN), written["C"], written["weighting"])
    a, b = written["platt"]  # rounded to 4 places in the file
    scaled = dict(zip(vectorizer.get_feature_names_out(), a * model.coef_[0]))
    assert {name for name, w in scaled.items() if abs(w) >= 0.0101} <= set(written["weights"])
    assert all(abs(scaled[name]) >= 0.0099 and w == pytest.approx(scaled[name], abs=2e-4)
               for name, w in written["weights"].items())
    assert written["bias"] == pytest.approx(a * model.intercept_[0] + b, abs=2e-4 * (1 + abs(model.intercept_[0])))


def test_the_table_scores_each_source_with_the_others_fit_deciding_at_logit_zero(fit_inputs, written):
    features, labels = fit_inputs
    held = "own:train_extra"
    vectorizer, model = script.fit(features, labels, [name for name in OWN if name != held], written["C"],
                                   written["weighting"])
    said = script.logits(vectorizer, model, features[held]) >= 0
    tp = int((said & labels[held]).sum())
    assert written["leave_one_source_out"][held] == {
        "n": len(said), "accuracy": pytest.approx(float((said == labels[held]).mean())),
        "precision": pytest.approx(tp / said.sum()), "recall": pytest.approx(tp / labels[held].sum())}


def test_a_weighting_decides_how_much_each_reply_pulls_the_fit():
    """One reply text, refused 40 times in one source and answered 10 times in another."""
    features = {"big": [{"w:alpha": 1}] * 40, "small": [{"w:alpha": 1}] * 10}
    labels = {"big": np.ones(40, bool), "small": np.zeros(10, bool)}
    by_weighting = {}
    for weighting in script.WEIGHTINGS:
        vectorizer, model = script.fit(features, labels, ["big", "small"], 100.0, weighting)
        by_weighting[weighting] = script.logits(vectorizer, model, [{"w:alpha": 1}])[0]
    assert by_weighting["reply"] == pytest.approx(math.log(40 / 10), abs=0.05)  # every reply alike: 4 to 1
    assert by_weighting["source"] == pytest.approx(0, abs=0.05)  # every source alike: 1 to 1
    assert by_weighting["source_label"] == pytest.approx(0, abs=0.05)


def test_each_source_is_scored_by_a_model_that_never_saw_it(tmp_path):
    """Two sources of the same replies with opposite labels: each, held out, is scored by a model trained
    on the other, so nearly every reply comes out wrong (trained on both, about half would)."""
    lines = (ROOT / "tests" / "data" / OWN["own:corpus"]).read_text(encoding="utf-8").splitlines()[::8]
    rows = [json.loads(line) for line in lines]
    (tmp_path / OWN["own:corpus"]).write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    flipped = [{**row, "refusal": not row["refusal"]} for row in rows]
    (tmp_path / OWN["own:previous"]).write_text("".join(json.dumps(row) + "\n" for row in flipped), encoding="utf-8")
    out = tmp_path / "weights.json"
    done = train("--C", "1", "--weighting", "reply", "--data", str(tmp_path), "--out", str(out))
    assert done.returncode == 0, done.stderr
    table = json.loads(out.read_text(encoding="utf-8"))["leave_one_source_out"]
    assert list(table) == ["own:corpus", "own:previous"]
    assert all(row["n"] == len(rows) and row["accuracy"] < 0.2 for row in table.values()), table


def test_a_fixed_setting_writes_the_grid_choice_byte_for_byte(small_data, grid_run, written, tmp_path):
    _, out = grid_run
    again = tmp_path / "again.json"
    done = train("--C", str(written["C"]), "--weighting", written["weighting"], "--data", str(small_data[0]),
                 "--out", str(again))
    assert done.returncode == 0, done.stderr
    assert len(GRID_LINE.findall(done.stdout)) == 1
    assert again.read_bytes() == out.read_bytes()


@pytest.mark.parametrize("args, error", [
    (["--weighting", "reply"], "--weighting needs --C"),
    (["--C", "0"], "--C must be positive, not 0"),
    (["--C", "1", "--data", "{empty}"], "needs two labelled sets or more; {empty} has 0"),
    (["--data", "{one}"], "needs two labelled sets or more; {one} has 1"),
])
def test_settings_and_folders_that_cannot_train_are_refused(tmp_path, small_data, args, error):
    folders = {"empty": tmp_path / "empty", "one": tmp_path / "one"}
    for folder in folders.values():
        folder.mkdir()
    file = OWN["own:previous"]
    (folders["one"] / file).write_bytes((small_data[0] / file).read_bytes())
    out = tmp_path / "never.json"
    done = train(*(arg.format(**folders) for arg in args), "--out", str(out))
    assert done.returncode == 2 and error.format(**folders) in done.stderr
    assert not out.exists()


def test_training_weights_each_source_and_each_label_within_it_alike():
    labels = [np.array([True] * 9 + [False]), np.array([False] * 4), np.array([True, False, False])]
    assert script.sample_weights(labels, "reply") is None
    for weighting in ("source", "source_label"):
        weight = script.sample_weights(labels, weighting)
        assert weight.mean() == pytest.approx(1.0)
        parts = np.split(weight, [10, 14])
        assert [part.sum() for part in parts] == pytest.approx([weight.sum() / 3] * 3)
        assert np.ptp(parts[1]) == 0  # answers only: its replies alike
    first, _, third = np.split(script.sample_weights(labels, "source_label"), [10, 14])
    assert first[:9].sum() == pytest.approx(first[9]) and third[0] == pytest.approx(third[1:].sum())
    first, _, _ = np.split(script.sample_weights(labels, "source"), [10, 14])
    assert np.ptp(first) == 0


def test_reliability_bins_are_closed_below_and_the_last_one_holds_one():
    probabilities = np.array([0.05, 0.15, 0.15, 0.2, 0.95, 1.0])
    truth = np.array([False, True, False, False, True, True])
    assert script.reliability(probabilities, truth) == [
        (0.0, 0.1, 1, pytest.approx(0.05), 0.0), (0.1, 0.2, 2, pytest.approx(0.15), 0.5),
        (0.2, 0.3, 1, pytest.approx(0.2), 0.0), (0.9, 1.0, 2, pytest.approx(0.975), 1.0)]


def test_two_sources_of_one_release_are_held_out_together(tmp_path):
    """AlpacaEval's sample and its replies that open like a decline come from one release: scoring either,
    the model never saw the other. Here the sample repeats the own corpus's replies and labels, and the
    openings hold the same replies with the opposite labels; trained with the openings, the sample would
    come out near chance."""
    lines = (ROOT / "tests" / "data" / OWN["own:corpus"]).read_text(encoding="utf-8").splitlines()[::8]
    rows = [json.loads(line) for line in lines]
    flipped = [{**row, "refusal": not row["refusal"]} for row in rows]
    (tmp_path / "public").mkdir()
    for path, part in ((OWN["own:corpus"], rows), ("public/alpacaeval.jsonl", rows),
                       ("public/alpacaeval_openings.jsonl", flipped)):
        (tmp_path / path).write_text("".join(json.dumps(row) + "\n" for row in part), encoding="utf-8")
    out = tmp_path / "weights.json"
    done = train("--C", "1", "--weighting", "reply", "--data", str(tmp_path), "--out", str(out))
    assert done.returncode == 0, done.stderr
    table = json.loads(out.read_text(encoding="utf-8"))["leave_one_source_out"]
    assert table["alpacaeval"]["accuracy"] > 0.9 and table["alpacaeval_openings"]["accuracy"] < 0.1, table
