"""lm-eval model wrappers, registered lazily (placeholders resolved on first use; idempotent).

lm-eval only auto-loads its own models into an *empty* registry, so they are imported first.
"""
import lm_eval.models  # noqa: F401  (lm-eval's built-in models)
from lm_eval.api.registry import model_registry

MODELS = {
    "refuse-all": "mmpriv_tasks.models.references:RefuseAll",
    "ocr-extractor": "mmpriv_tasks.models.references:OcrExtractor",
    "voice-profiler": "mmpriv_tasks.models.voice_profiler:VoiceProfiler",
    "mmpriv-hf": "mmpriv_tasks.models.hf_multimodal:HFMultimodalChatLM",
    "mmpriv-api": "mmpriv_tasks.models.openai_compat:OpenAICompatLM",
}

for _name, _target in MODELS.items():
    if _name not in model_registry.keys():
        model_registry.register(_name, target=_target)
