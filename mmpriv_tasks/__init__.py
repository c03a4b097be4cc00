"""mmpriv-tasks: lm-eval tasks that measure what multimodal models leak about people.

Importing the package registers its models with lm-eval (idempotent; safe to import twice).
"""
from mmpriv_tasks import models as _models  # noqa: F401  (registers lm-eval models)
from mmpriv_tasks import paths
from mmpriv_tasks.scoring.refusal import detect_refusal

__version__ = "0.1.0"
__all__ = ["detect_refusal", "paths", "__version__"]
