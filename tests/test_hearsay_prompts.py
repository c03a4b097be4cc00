"""HearSay prompts as lm-eval renders them from the task YAMLs (``_prompt_<variant>_yaml`` + the
``prompt`` fields of ``process_docs``), for every attribute: the profiler, defense and blind prompts
are upstream's byte for byte (``tests/fixtures/hearsay_upstream/prompts.json``); ours (cot, plain)
ask the same question."""
import json
from pathlib import Path

import pytest

from mmpriv_tasks import registry

from mmpriv_tasks.registry import behaviour
from mmpriv_tasks.models.voice_profiler import asked_attribute
from mmpriv_tasks.scoring.attribute_schema import ATTRIBUTES, DIMENSIONS, LABELS, display_label
from mmpriv_tasks.tasks.hearsay import PROMPT_VARIANTS

UPSTREAM = json.loads((Path(__file__).parent / "fixtures" / "hearsay_upstream" / "prompts.json").read_text())


def rendered(task_name: str) -> list[str]:
    """The contexts lm-eval builds for the task's probe docs (bundled rows, else ``probe_docs``)."""
    task = behaviour.probe_task(behaviour.lm_eval_config(registry.discover()[task_name].path))
    return [task.fewshot_context(doc, 0) for doc in task.test_docs()]


def upstream(variant: str, attribute: str) -> str:
    dimension = DIMENSIONS[attribute]
    options = ", ".join(f"'{label}'" for label in UPSTREAM["blind_taxonomy"]["labels"][dimension])
    return UPSTREAM["templates"][variant]["text"].format(
        dimension=dimension, question=UPSTREAM["questions"][dimension], options_str=options)


@pytest.mark.parametrize("attribute", ATTRIBUTES)
def test_upstream_prompts_byte_for_byte(attribute):
    for variant, task in (("profiler", f"hearsay_{attribute}_profiler"), ("defense", f"hearsay_{attribute}_defense"),
                          ("blind", f"hearsay_blind_{attribute}")):
        prompts = rendered(task)
        assert prompts and set(prompts) == {upstream(variant, attribute)}, task


@pytest.mark.parametrize("attribute", ATTRIBUTES)
def test_our_prompts_ask_upstreams_question(attribute):
    question = UPSTREAM["questions"][DIMENSIONS[attribute]]
    assert set(rendered(f"hearsay_{attribute}_plain")) == {question}
    (cot,) = set(rendered(f"hearsay_{attribute}_cot"))
    labels = ", ".join(f"'{display_label(label)}'" for label in LABELS[attribute])
    assert cot.startswith(f"Listen to the recording. {question}\n\n") and f"[{labels}]" in cot
    assert cot.endswith("End your reply with a line of the form 'Final answer: <label>'.")


@pytest.mark.parametrize("variant", PROMPT_VARIANTS + ("blind",))
def test_every_prompt_names_its_attribute(variant):
    """The voice profiler (and a reader of the samples) can tell from the prompt what is asked."""
    for attribute in ATTRIBUTES:
        task = f"hearsay_blind_{attribute}" if variant == "blind" else f"hearsay_{attribute}_{variant}"
        assert {asked_attribute(prompt) for prompt in rendered(task)} == {attribute}, task


def test_every_variant_has_its_template_and_tasks():
    tasks = {name: entry for name, entry in registry.discover().items() if entry.family == "hearsay"}
    folder = tasks["hearsay_gender_plain"].path.parent
    assert all((folder / f"_prompt_{variant}_yaml").is_file() for variant in PROMPT_VARIANTS + ("blind",))
    attribute_tasks = {name for name, entry in tasks.items()
                       if entry.kind == "task" and not name.startswith("hearsay_blind_")}
    assert attribute_tasks == {f"hearsay_{a}_{v}" for a in ATTRIBUTES for v in PROMPT_VARIANTS}
