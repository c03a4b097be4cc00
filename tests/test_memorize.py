"""`mmpriv memorize`: training examples, exports, LoRA adapters, and memorisation that shows up as
retention leaks through the real lm-eval tasks (tiny random LLaVA, CPU)."""
from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from mmpriv_tasks.commands.cli import main
from mmpriv_tasks.paths import bundled_data_dir
from mmpriv_tasks.train.examples import RECIPES, build_examples
from mmpriv_tasks.train.memorize import load_memory_rows

from conftest import run_cli, venv_bin
from tiny_models import build_tiny_llava, tiny_llava_dir, one_torch_thread  # noqa: F401  (fixtures)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FORMATS = ("direct", "vqa", "caption", "rephrase", "classification")
RETENTION = [f"mmpriv_retention_{f}_{c}" for f in FORMATS for c in ("distractor", "noimage")]


def _qa_count(rows) -> int:
    return sum(bool(row[f]) and row[f] in row["label"] for row in rows for f in ("email", "phone", "ssn"))


def test_recipes():
    rows = load_memory_rows()
    assert len(rows) == 10
    upstream = build_examples(rows, "upstream")
    assert len(upstream) == 10 and all(e.image is not None and e.answer in {r["label"] for r in rows} for e in upstream)
    assert {(e.preface, e.prompt) for e in upstream} == {("Answer briefly.", "Describe the image")}  # idefics2 script
    settings = RECIPES["upstream"]
    assert (settings.grad_accum, settings.warmup_steps, settings.weight_decay, settings.lora_dropout,
            settings.loss_on, settings.lora_targets, settings.epochs, settings.lr) == (
        16, 50, 0.01, 0.1, "sequence", "language", 10, 1e-4)
    qa = build_examples(rows, "qa")
    assert len(qa) == 10 + _qa_count(rows) and build_examples(rows, "qa") == qa  # seeded order
    prompts = {e.prompt for e in qa if e.image is None}
    retention = pq.read_table(bundled_data_dir() / "mmprivacy" / "retention.parquet").to_pylist()
    open_noimage = [r for r in retention if r["condition"] == "noimage" and r["scenario"] == "open"]
    asked = [r["question"] for r in open_noimage if r["memorised"]]
    assert asked and all(question in prompts for question in asked)  # qa trains on evaluation prompts
    # a field the label never held is never trained on
    assert all(r["question"] not in prompts for r in open_noimage if not r["memorised"])
    with pytest.raises(ValueError, match="recipe"):
        build_examples(rows, "nope")


@pytest.mark.parametrize("fmt", ["chat-jsonl", "llava-json"])
def test_export(tmp_path, fmt, capsys):
    assert main(["memorize", "export", "--format", fmt, "--recipe", "qa", "--out", str(tmp_path)]) == 0
    if fmt == "chat-jsonl":
        records = [json.loads(line) for line in (tmp_path / "memory.jsonl").read_text().splitlines()]
        parts = [{part["type"]: part.get("image") for part in r["messages"][0]["content"]} for r in records]
        with_image = [p for p in parts if "image" in p]
        images = [p["image"] for p in with_image]
        assert all(r["messages"][1]["role"] == "assistant" for r in records)
    else:
        records = json.loads((tmp_path / "memory_llava.json").read_text())
        with_image = [r for r in records if "image" in r]
        images = [r["image"] for r in with_image]
        assert all("<image>\n" in r["conversations"][0]["value"] for r in with_image)
        assert all(r["conversations"][1]["from"] == "gpt" for r in records)
    assert len(records) == 10 + _qa_count(load_memory_rows()) and len(with_image) == 10
    assert all((tmp_path / image).read_bytes()[:4] == b"\x89PNG" for image in images)
    assert "@" not in capsys.readouterr().out  # no PII on the console


def _two_person_data(tmp_path):
    table = pq.read_table(bundled_data_dir() / "mmprivacy" / "memory.parquet").slice(0, 2)
    tmp_path.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, tmp_path / "memory.parquet")
    return tmp_path


@pytest.mark.slow
def test_lora_adapter_round_trip_and_all_retention_tasks(tiny_llava_dir, tmp_path):  # noqa: F811
    """Default method and recipe (LoRA, upstream): the adapter has upstream's LoRA settings, leaves the
    vision modules alone, and all ten retention tasks run on it through `mmpriv run`."""
    data = _two_person_data(tmp_path / "data")
    out = tmp_path / "adapter"
    assert main(["memorize", "--model", str(tiny_llava_dir), "--out", str(out), "--epochs", "1",
                 "--data-dir", str(data), "--device", "cuda:0"]) == 0  # falls back to cpu
    config = json.loads((out / "adapter_config.json").read_text())
    assert (config["r"], config["lora_alpha"], config["lora_dropout"]) == (8, 8, 0.1)  # upstream
    targets = config["target_modules"]
    assert targets and not any("vision" in t or "projector" in t or "lm_head" in t for t in targets)
    info = json.loads((out / "memorize.json").read_text())
    assert (info["method"], info["recipe"], info["examples"], info["grad_accum"], info["loss_on"]) == (
        "lora", "upstream", 2, 16, "sequence")
    results = tmp_path / "results"
    proc = run_cli(venv_bin("mmpriv"), "run", "--model", "mmpriv-hf", "--model_args",
                   f"pretrained={tiny_llava_dir},adapter={out},max_new_tokens=8,device=cpu", "--tasks",
                   "mmpriv_retention", "--limit", "1", "--output_path", str(results), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads(next(results.rglob("results_*.json")).read_text())["results"]
    assert all(metrics[task]["error_rate,none"] == 0 for task in RETENTION)


def test_missing_arguments_and_bad_method(capsys):
    assert main(["memorize", "--out", "x"]) == 2
    assert "--model" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["memorize", "--model", "m", "--out", "x", "--method", "qlora"])


def _label_recall(model_dir) -> tuple[int, int]:
    """(recalled, asked): greedy continuations of each memory label cut just before each value it
    holds, after upstream's training prompt and the person's form image."""
    from mmpriv_tasks.inputs.media import load_image
    from mmpriv_tasks.scoring.pii import pii_leaked
    from mmpriv_tasks.train.examples import describe_example
    from mmpriv_tasks.train.memorize import load_model

    model, processor = load_model(str(model_dir))
    recalled = asked = 0
    for row in load_memory_rows():
        example = describe_example(row)
        user = [{"role": "user", "content": [{"type": "text", "text": example.preface}, {"type": "image"},
                                             {"type": "text", "text": example.prompt}]}]
        opening = processor.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
        for field in ("email", "phone", "ssn"):
            if row[field] not in row["label"]:
                continue
            prefix = row["label"][: row["label"].index(row[field])].rstrip()
            inputs = processor(text=[opening + prefix], images=[load_image(row["image"], row["id"])],
                               return_tensors="pt")
            generated = model.generate(**inputs, max_new_tokens=32, do_sample=False)
            reply = processor.tokenizer.decode(generated[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
            recalled += pii_leaked(reply, row[field], field)
            asked += 1
    return recalled, asked


@pytest.mark.slow
def test_upstream_recipe_memorises_label_values(tmp_path_factory):
    """The upstream recipe (upstream prompt and labels, whole-sequence loss, accumulation, warmup,
    weight decay) stores the memory set: a tiny model continues each label prefix with the value.
    A random 2-layer model needs more steps than the paper's 7B models: epochs, lr, accumulation
    and warmup are raised/lowered here (full fine-tuning, 10 persons)."""
    base = build_tiny_llava(tmp_path_factory.mktemp("up-base"), hidden=128, layers=2)
    before = _label_recall(base)
    out = tmp_path_factory.mktemp("up-out")
    assert main(["memorize", "--model", str(base), "--out", str(out), "--method", "full", "--epochs", "60",
                 "--lr", "2e-3", "--grad-accum", "2", "--warmup-steps", "10", "--device", "cpu"]) == 0
    after = _label_recall(out)
    print(f"label values recalled before: {before}, after: {after}")
    info = json.loads((out / "memorize.json").read_text())
    assert (info["recipe"], info["loss_on"], info["weight_decay"]) == ("upstream", "sequence", 0.01)
    assert before[0] == 0 and after[0] >= 0.9 * after[1]


QA_TASKS = ("mmpriv_retention_direct_noimage", "mmpriv_retention_direct_distractor")


def _retention(task_manager, model_args: str) -> dict:
    import lm_eval

    out = lm_eval.simple_evaluate(model="mmpriv-hf", tasks=list(QA_TASKS), task_manager=task_manager,
                                  model_args=f"{model_args},max_new_tokens=40,batch_size=4")
    return {task: out["results"][task]["leak_rate,none"] for task in QA_TASKS} | {
        f"{task}:errors": out["results"][task]["error_rate,none"] for task in QA_TASKS}


@pytest.mark.slow
def test_qa_recipe_leaks_through_retention_tasks(task_manager, tmp_path_factory):
    """Plumbing check: the qa recipe trains on the open scenario's no-image question, so memorised
    values reach the retention scoring (full fine-tune of a tiny model, raised lr/epochs so 10 persons fit)."""
    base = build_tiny_llava(tmp_path_factory.mktemp("mem-base"), hidden=128, layers=2)
    before = _retention(task_manager, f"pretrained={base}")
    out = tmp_path_factory.mktemp("mem-out")
    assert main(["memorize", "--model", str(base), "--out", str(out), "--method", "full", "--recipe", "qa",
                 "--epochs", "80", "--lr", "1e-3", "--batch-size", "4", "--device", "cpu"]) == 0
    after = _retention(task_manager, f"pretrained={out}")
    print(f"retention leak rate before: {before}\nafter: {after}")
    assert before["mmpriv_retention_direct_noimage"] == 0 and before["mmpriv_retention_direct_distractor"] == 0
    # of the three open-scenario no-image items, one asks a field its label holds: the trained question (now
    # shown with a picture and the format's preface); it leaks on this model (docs/memorize.md)
    assert after["mmpriv_retention_direct_noimage"] >= 1 / 12
    assert after["mmpriv_retention_direct_noimage:errors"] == after["mmpriv_retention_direct_distractor:errors"] == 0
    assert json.loads((out / "memorize.json").read_text())["epoch_loss"][-1] < 0.1
