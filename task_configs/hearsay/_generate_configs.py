"""Write the small HearSay task/group YAMLs next to this file (run after changing the task list).

    python task_configs/hearsay/_generate_configs.py

Every task YAML only names its split and includes its prompt (``_prompt_<variant>_yaml``); what they
share is in ``_template_yaml`` (``_age_template_yaml`` adds the age-only metric, ``_blind_template_yaml``
is the blind test).
The generated files are committed; the registry lock pins their hashes.
"""
from pathlib import Path

from mmpriv_tasks.scoring.attribute_schema import ATTRIBUTES
from mmpriv_tasks.tasks.hearsay import BLIND_SCRIPTS
from mmpriv_tasks.tasks.hearsay import BUNDLED_ATTRIBUTES as BUNDLED
from mmpriv_tasks.tasks.hearsay import PROMPT_VARIANTS as VARIANTS

HERE = Path(__file__).resolve().parent
GROUP_METADATA = "metadata:\n  version: 1.0\n"


def task_yaml(attribute: str, variant: str) -> str:
    template = "_age_template_yaml" if attribute == "age" else "_template_yaml"
    return (f"include: [{template}, _prompt_{variant}_yaml]\ntask: hearsay_{attribute}_{variant}\n"
            f"dataset_kwargs:\n  dataset: hearsay\n  split: {attribute}\n")


def blind_yaml(attribute: str) -> str:
    return (f"include: [_blind_template_yaml, _prompt_blind_yaml]\ntask: hearsay_blind_{attribute}\n"
            f"dataset_kwargs:\n  attribute: {attribute}\n  n: 50\n")


def blind_variant_yaml(script: str, attribute: str) -> str:
    """Blind test ``attribute`` as upstream's ``BLIND_SCRIPTS[script]`` runs it (its sampling on top of
    the template's temperature 0.7 and 256 tokens)."""
    sampling = {"temperature": 0.7, "max_gen_toks": 256, **BLIND_SCRIPTS[script].generation}
    return (f"include: [_blind_template_yaml, _prompt_blind_yaml]\ntask: hearsay_blind_{script}_{attribute}\n"
            f"dataset_kwargs:\n  attribute: {attribute}\n  n: 50\n  script: {script}\n"
            "generation_kwargs:\n  until: []\n  do_sample: true\n"
            + "".join(f"  {key}: {value}\n" for key, value in sampling.items()))


def group_yaml(name: str, members: list[str], metrics: tuple[str, ...], include_metrics: bool = True) -> str:
    lines = [f"group: {name}", "task:"] + [f"  - {m}" for m in members]
    if include_metrics:
        lines.append("aggregate_metric_list:")
        for metric in metrics:
            lines += [f"  - metric: {metric}", "    aggregation: mean", "    weight_by_size: true"]
    return "\n".join(lines) + "\n" + GROUP_METADATA


def main() -> None:
    files: dict[str, str] = {}
    for attribute in ATTRIBUTES:
        for variant in VARIANTS:
            files[f"hearsay_{attribute}_{variant}.yaml"] = task_yaml(attribute, variant)
        files[f"hearsay_blind_{attribute}.yaml"] = blind_yaml(attribute)
        for script in BLIND_SCRIPTS:
            if script != "phi":
                files[f"hearsay_blind_{script}_{attribute}.yaml"] = blind_variant_yaml(script, attribute)
    scored = ("accuracy", "refusal_rate", "error_rate")
    for variant in VARIANTS:
        files[f"hearsay_{variant}.yaml"] = group_yaml(
            f"hearsay_{variant}", [f"hearsay_{a}_{variant}" for a in ATTRIBUTES], scored)
    files["hearsay_blind.yaml"] = group_yaml(
        "hearsay_blind", [f"hearsay_blind_{a}" for a in ATTRIBUTES], ("refusal_rate", "error_rate"))
    for script in BLIND_SCRIPTS:
        if script != "phi":
            files[f"hearsay_blind_{script}.yaml"] = group_yaml(
                f"hearsay_blind_{script}", [f"hearsay_blind_{script}_{a}" for a in ATTRIBUTES],
                ("refusal_rate", "error_rate"))
    files["hearsay.yaml"] = group_yaml(
        "hearsay", [f"hearsay_{v}" for v in VARIANTS] + ["hearsay_blind"], scored)
    files["hearsay_mini.yaml"] = group_yaml(
        "hearsay_mini", [f"hearsay_{a}_{v}" for v in VARIANTS for a in BUNDLED]
        + [f"hearsay_blind_{a}" for a in BUNDLED], scored)
    for name, text in files.items():
        (HERE / name).write_text(text)
    print(f"wrote {len(files)} files to {HERE}")


if __name__ == "__main__":
    main()
