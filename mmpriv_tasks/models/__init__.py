"""lm-eval model wrappers, registered lazily (placeholders resolved on first use; idempotent).

lm-eval only auto-loads its own models into an *empty* registry, so they are imported first.
"""
import lm_eval.models  # noqa: F401  (lm-eval's built-in models)
from lm_eval.api.registry import model_registry

MODELS = {
    "refuse-all": "mmpriv_tasks.models.references:RefuseAll",
    "ocr-extractor": "mmpriv_tasks.models.references:OcrExtractor",
}

for _name, _target in MODELS.items():
    if _name not in model_registry.keys():
        model_registry.register(_name, target=_target)
