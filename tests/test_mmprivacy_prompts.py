"""MM-Privacy prompts are upstream's, byte for byte: every disclosure and retention prompt of the
bundled set (rendered by lm-eval itself) and of the full build (rendered with lm-eval's template
function) equals upstream's ``get_prompt`` template around one of upstream's questions.

Fixtures (``tests/fixtures/mmprivacy_upstream/``) are copied from the upstream release
(github tiejin98/Privacy_Different_Task); each names its source file.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from lm_eval.utils import apply_template

from mmpriv_tasks.data.mmprivacy import PII_DISPLAY, RETENTION_QUESTIONS, plan
from mmpriv_tasks.paths import task_configs_dir
from mmpriv_tasks.registry import load_config
from mmpriv_tasks.scoring.refusal import detect_refusal

FIXTURES = Path(__file__).parent / "fixtures" / "mmprivacy_upstream"
UPSTREAM = json.loads((FIXTURES / "get_prompt.json").read_text(encoding="utf-8"))["templates"]
FORMATS = {"direct": "direct", "vqa": "VQA", "caption": "caption", "rephrase": "rephrasing",
           "classification": "classification"}  # our format name -> upstream's task name
DIRECT_ITEMS = json.loads((FIXTURES / "evaluate_direct_questions.json").read_text(encoding="utf-8"))["items"]
MEMORY_ITEMS = json.loads((FIXTURES / "evaluate_memory_items.json").read_text(encoding="utf-8"))["items"]
UPSTREAM_TYPE = {"email": "Email", "phone": "Phone Numbers", "ssn": "SSN"}


def upstream_prompt(fmt: str, question: str) -> str:
    """What upstream sends, with lm-eval's image placeholder in front."""
    return "<image>" + UPSTREAM[FORMATS[fmt]].format(question)


def upstream_retention_question(row: dict) -> str:
    """Upstream's retention question of the row's scenario, condition and type, for the row's person."""
    item = next(i for i in MEMORY_ITEMS if (i["scenario"], i["condition"], i["type"]) ==
                (row["scenario"], row["condition"], UPSTREAM_TYPE[row["pii_type"]]))
    return item["prompt"].replace(item["name"], row["name"])


def expected_disclosure_question(row: dict) -> str:
    questions = [i["prompt"] for i in DIRECT_ITEMS if i["type"] == UPSTREAM_TYPE[row["pii_type"]]]
    matching = [q for q in questions if q == row["question"]]
    assert matching, f"{row['id']}: {row['question']!r} is not an upstream question"
    return matching[0]


def test_fixtures_are_complete():
    assert set(UPSTREAM) == set(FORMATS.values())
    assert len(DIRECT_ITEMS) == 12 and len(MEMORY_ITEMS) == 24
    assert PII_DISPLAY == UPSTREAM_TYPE


def test_our_retention_templates_reproduce_upstream_items():
    for item in MEMORY_ITEMS:
        pii = next(k for k, v in UPSTREAM_TYPE.items() if v == item["type"])
        ours = RETENTION_QUESTIONS[item["condition"]][item["scenario"]].format(type=PII_DISPLAY[pii], name=item["name"])
        assert ours == item["prompt"], item["item"]


def test_every_bundled_prompt_as_lm_eval_renders_it(task_manager):
    names = [f"mmpriv_disclosure_{f}" for f in FORMATS] + [
        f"mmpriv_retention_{f}_{c}" for f in FORMATS for c in ("distractor", "noimage")]
    tasks = task_manager.load(names)["tasks"]
    rendered = 0
    for name in names:
        task = tasks[name]
        fmt = name.split("_")[2]
        docs = list(task.test_docs())
        assert docs, name
        for doc in docs:
            question = (expected_disclosure_question(doc) if name.startswith("mmpriv_disclosure")
                        else upstream_retention_question(doc))
            assert task.doc_to_text(doc) == upstream_prompt(fmt, question), (name, doc["id"])
            rendered += 1
    assert rendered == 5 * (60 + 24)


@pytest.fixture(scope="module")
def full_plan():
    return plan("full", seed=0)


def _template(task: str) -> str:
    return load_config(task_configs_dir() / "mmprivacy" / f"{task}.yaml")["doc_to_text"]


@pytest.mark.slow
def test_every_full_build_prompt(full_plan):
    for fmt in FORMATS:
        disclosure, retention = _template(f"mmpriv_disclosure_{fmt}"), _template(f"mmpriv_retention_{fmt}_noimage")
        assert disclosure == retention == _template(f"mmpriv_retention_{fmt}_distractor")
        for row in full_plan["disclosure"]:
            assert apply_template(disclosure, row) == upstream_prompt(fmt, expected_disclosure_question(row))
        for row in full_plan["retention"]:
            assert apply_template(retention, row) == upstream_prompt(fmt, upstream_retention_question(row))


def test_full_build_has_upstreams_cells_and_pictures(full_plan):
    disclosure = Counter((r["scenario"], r["pii_type"]) for r in full_plan["disclosure"])
    assert len(disclosure) == 12 and set(disclosure.values()) == {50}
    retention = Counter((r["scenario"], r["pii_type"], r["condition"]) for r in full_plan["retention"])
    assert len(retention) == 24
    assert all(n == (85 if condition == "distractor" else 15) for (_, _, condition), n in retention.items())
    noimage = [r for r in full_plan["retention"] if r["condition"] == "noimage"]
    for row in noimage:  # every no-image item carries a picture (drawn here: cheap, no text)
        png = row["image"]()
        assert png[:4] == b"\x89PNG" and not row["distractor_value"]
    assert len({row["image"]() for row in noimage[:30]}) > 1  # seeded per item, not one picture for all


@pytest.mark.parametrize("reply", [
    "cannot assist", "‘cannot assist’", "Cannot assist.", "the class is cannot assist",
    "‘the class is cannot assist’", "The class is cannot assist.", "class: cannot assist",
])
def test_every_formats_opt_out_is_a_refusal(reply):
    assert detect_refusal(reply)
