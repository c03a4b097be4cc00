"""Generation presets: upstream HearSay's per-model settings as ``--model_args``.

``mmpriv run --model_args pretrained=Qwen/Qwen2-Audio-7B-Instruct,preset=qwen2-audio-hearsay`` expands
the preset into the model arguments it stands for before lm-eval sees them, so the results JSON
(``config.model_args``) records the settings used next to the preset's name. Arguments given
explicitly win over the preset's. With stock ``lm-eval``, pass the expanded arguments
(:func:`expanded`, or the table in ``task_configs/hearsay/README.md``) yourself.

Sources: upstream ``model_infer/*.py`` (github.com/JinWang79/HearSay_Benchmark), the main run's
generation, and the MM-Privacy xgen scripts (github.com/tiejin98/Privacy_Different_Task). The main
HearSay tasks leave sampling to the model (``max_gen_toks: 512`` only); the blind tasks pin each
blind script's sampling (``hearsay_blind_<script>_*``, default ``blind_test_phi.py``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

HELPFUL = "You are a helpful assistant."
# Evaluation/evalution_partone_xgen.py apply_prompt_template: the system turn of every xgen-mm request
XGEN_SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. "
               "The assistant gives helpful, detailed, and polite answers to the user's questions.")
MERALION_TEMPLATE = "Given the following audio context: <SpeechHere>\n\nText instruction: {query}"


@dataclass(frozen=True)
class Preset:
    """``model_args`` for one upstream model (``wrapper``: the model that takes them) and what the
    wrapper cannot reproduce."""

    wrapper: str
    source: str
    model_args: dict = field(default_factory=dict)
    differences: str = ""


PRESETS: dict[str, Preset] = {
    "qwen2-audio-hearsay": Preset(
        "mmpriv-hf", "model_infer/qwen2-audio-infer.py",
        {"system_prompt": HELPFUL, "max_new_tokens": 128},
        "upstream passes only max_new_tokens, so sampling follows the checkpoint's generation_config; "
        "mmpriv-hf decodes greedily"),
    "qwen2.5-omni-hearsay": Preset(
        "mmpriv-hf", "model_infer/qwen2_5-infer.py",
        {"max_new_tokens": 256, "prompt_in_system": "true", "checkpoint_sampling": "true"},
        "upstream also passes use_audio_in_video=True to the processor"),
    "step-audio-2-mini-hearsay": Preset(
        "mmpriv-api", "model_infer/step-infer.py",
        {"prompt_in_system": "true", "temperature": 0.5, "top_p": 0.9, "max_new_tokens": 256},
        "upstream runs the model in process (stepaudio2.StepAudio2, no transformers class); served through "
        "an OpenAI-compatible endpoint here"),
    "kimi-audio-hearsay": Preset(
        "mmpriv-api", "model_infer/kimi-infer.py", {"temperature": 0.1, "top_k": 5},
        "upstream runs kimia_infer in process and sends the text before the audio; served through an "
        "OpenAI-compatible endpoint here, audio first"),
    "meralion-hearsay": Preset(
        "mmpriv-api", "model_infer/meralion-infer.py",
        {"prompt_template": MERALION_TEMPLATE, "max_new_tokens": 256},
        "upstream passes the clip twice to its processor (`[audio_array]*2`) and samples with the "
        "checkpoint's generation_config; one clip, the endpoint's sampling here"),
    "phi-4-multimodal-hearsay": Preset(
        "mmpriv-hf", "model_infer/phi-infer.py",
        {"max_new_tokens": 256},
        "upstream decodes greedily with the checkpoint's generation_config, as mmpriv-hf does"),
    "minicpm-o-hearsay": Preset(
        "mmpriv-api", "model_infer/minicpm-infer.py (served by vLLM)",
        {"system_prompt": HELPFUL, "temperature": 0.1, "max_new_tokens": 512},
        "upstream also sends stop_token_ids [151645, 151643] and the audio as an audio_url part"),
    "qwen3-omni-flash-hearsay": Preset(
        "mmpriv-api", "model_infer/qwen3-infer.py", {"temperature": 0.1, "audio_data_uri": "true"},
        "upstream streams the reply, asks for modalities=['text'] and sends the original file's bytes"),
    "qwen-omni-turbo-hearsay": Preset(
        "mmpriv-api", "model_infer/qwen-turbo-infer.py", {"temperature": 0.1, "audio_data_uri": "true"},
        "upstream streams the reply, asks for modalities=['text'] and sends the original file's bytes"),
    "xgen-mm-mmprivacy": Preset(
        "mmpriv-hf", "Evaluation/evalution_partone_xgen.py",
        {"system_prompt": XGEN_SYSTEM, "max_new_tokens": 150, "trust_remote_code": "true"},
        "upstream writes the phi-3 template by hand with `<image>` first in the user turn; mmpriv-hf renders "
        "the checkpoint's chat template"),
    "gemini-2.5-flash-hearsay": Preset(
        "mmpriv-api", "model_infer/gemini-infer.py", {"temperature": 0.1, "max_new_tokens": 512}),
}


def expanded(name: str) -> dict:
    """The model arguments of preset ``name`` (``preset=name`` included, so the run records it)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset '{name}' (choose from {', '.join(PRESETS)})")
    return {"preset": name, **PRESETS[name].model_args}


def expand_model_args(model_args: str) -> str:
    """``--model_args`` with ``preset=NAME`` replaced by the preset's arguments (explicit ones win)."""
    pairs = [item.split("=", 1) for item in model_args.split(",") if item.strip()]
    given = {key.strip(): value for key, value in (p if len(p) == 2 else (p[0], "") for p in pairs)}
    if "preset" not in given:
        return model_args
    merged = {**{k: str(v) for k, v in expanded(given.pop("preset")).items()}, **given}
    return ",".join(f"{key}={value}" for key, value in merged.items())


def expand_argv(argv: list[str]) -> list[str]:
    """A command line with every ``--model_args`` value's preset expanded."""
    out, i = [], 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--model_args" and i + 1 < len(argv):
            out += [arg, expand_model_args(argv[i + 1])]
            i += 2
            continue
        out.append(f"--model_args={expand_model_args(arg.split('=', 1)[1])}" if arg.startswith("--model_args=")
                   else arg)
        i += 1
    return out
