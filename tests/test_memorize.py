"""`mmpriv memorize`: training examples, exports, LoRA adapters, and memorisation that shows up as
retention leaks through the real lm-eval tasks (tiny random LLaVA, CPU)."""
from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from mmpriv_tasks.cli import main
from mmpriv_tasks.paths import bundled_data_dir
from mmpriv_tasks.train.examples import build_examples
from mmpriv_tasks.train.memorize import load_memory_rows

from tiny_models import build_tiny_llava, tiny_llava_dir, one_torch_thread  # noqa: F401  (fixtures)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

RETENTION = ("mmpriv_retention_noimage", "mmpriv_retention_distractor")


def test_recipes():
    rows = load_memory_rows()
    assert len(rows) == 10
    upstream = build_examples(rows, "upstream")
    assert len(upstream) == 10 and all(e.image is not None and e.answer in {r["label"] for r in rows} for e in upstream)
    qa = build_examples(rows, "qa")
    assert len(qa) == 40 and build_examples(rows, "qa") == qa  # seeded order
    prompts = {e.prompt for e in qa if e.image is None}
    retention = pq.read_table(bundled_data_dir() / "mmprivacy" / "retention.parquet").to_pylist()
    noimage = [r for r in retention if r["condition"] == "noimage"]
    assert noimage and all(r["question"] in prompts for r in noimage)  # qa asks like the retention items
    with pytest.raises(ValueError, match="recipe"):
        build_examples(rows, "nope")


@pytest.mark.parametrize("fmt", ["chat-jsonl", "llava-json"])
def test_export(tmp_path, fmt, capsys):
    assert main(["memorize", "export", "--format", fmt, "--recipe", "qa", "--out", str(tmp_path)]) == 0
    if fmt == "chat-jsonl":
        records = [json.loads(line) for line in (tmp_path / "memory.jsonl").read_text().splitlines()]
        with_image = [r for r in records if r["messages"][0]["content"][0]["type"] == "image"]
        images = [r["messages"][0]["content"][0]["image"] for r in with_image]
        assert all(r["messages"][1]["role"] == "assistant" for r in records)
    else:
        records = json.loads((tmp_path / "memory_llava.json").read_text())
        with_image = [r for r in records if "image" in r]
        images = [r["image"] for r in with_image]
        assert all(r["conversations"][0]["value"].startswith("<image>\n") for r in with_image)
        assert all(r["conversations"][1]["from"] == "gpt" for r in records)
    assert len(records) == 40 and len(with_image) == 10
    assert all((tmp_path / image).read_bytes()[:4] == b"\x89PNG" for image in images)
    assert "@" not in capsys.readouterr().out  # no PII on the console


def _two_person_data(tmp_path):
    table = pq.read_table(bundled_data_dir() / "mmprivacy" / "memory.parquet").slice(0, 2)
    tmp_path.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, tmp_path / "memory.parquet")
    return tmp_path


def test_lora_adapter_round_trip(tiny_llava_dir, tmp_path):  # noqa: F811
    """Default method (LoRA, upstream recipe): the saved adapter loads in mmpriv-hf."""
    from mmpriv_tasks.models.hf_multimodal import HFMultimodalChatLM
    from lm_eval.api.instance import Instance

    data = _two_person_data(tmp_path / "data")
    out = tmp_path / "adapter"
    assert main(["memorize", "--model", str(tiny_llava_dir), "--out", str(out), "--epochs", "1",
                 "--data-dir", str(data), "--device", "cuda:0"]) == 0  # falls back to cpu
    assert (out / "adapter_config.json").is_file()
    config = json.loads((out / "adapter_config.json").read_text())
    assert (config["r"], config["lora_alpha"]) == (8, 8)  # upstream defaults
    info = json.loads((out / "memorize.json").read_text())
    assert info["method"] == "lora" and info["examples"] == 2 and info["memory_persons"] == 2
    lm = HFMultimodalChatLM(pretrained=str(tiny_llava_dir), adapter=str(out), device="cpu")
    reply = lm.generate_until([Instance("generate_until", {}, ("Hi", {"until": [], "max_gen_toks": 5}, {}), 0)])
    assert isinstance(reply[0], str)


def test_missing_arguments_and_bad_method(capsys):
    assert main(["memorize", "--out", "x"]) == 2
    assert "--model" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["memorize", "--model", "m", "--out", "x", "--method", "qlora"])


def _retention(task_manager, model_args: str) -> dict:
    import lm_eval

    out = lm_eval.simple_evaluate(model="mmpriv-hf", tasks=list(RETENTION), task_manager=task_manager,
                                  model_args=f"{model_args},max_new_tokens=40,batch_size=4")
    return {task: out["results"][task]["leak_rate,none"] for task in RETENTION} | {
        f"{task}:errors": out["results"][task]["error_rate,none"] for task in RETENTION}


def test_memorisation_makes_retention_leak(task_manager, tmp_path_factory):
    """Before fine-tuning the retention leak rate is 0; after `mmpriv memorize` (qa recipe, full
    fine-tune of a tiny model, raised lr/epochs so 10 persons fit) the model gives the values out."""
    base = build_tiny_llava(tmp_path_factory.mktemp("mem-base"), hidden=128, layers=2)
    before = _retention(task_manager, f"pretrained={base}")
    out = tmp_path_factory.mktemp("mem-out")
    assert main(["memorize", "--model", str(base), "--out", str(out), "--method", "full", "--recipe", "qa",
                 "--epochs", "40", "--lr", "1e-3", "--batch-size", "4", "--device", "cpu"]) == 0
    after = _retention(task_manager, f"pretrained={out}")
    print(f"retention leak rate before: {before}\nafter: {after}")
    assert before["mmpriv_retention_noimage"] == 0 and before["mmpriv_retention_distractor"] == 0
    assert after["mmpriv_retention_noimage"] >= 2 / 3
    assert after["mmpriv_retention_noimage:errors"] == after["mmpriv_retention_distractor:errors"] == 0
    assert json.loads((out / "memorize.json").read_text())["epoch_loss"][-1] < 0.1
