"""Base class for offline reference models: answer one request at a time, no weights to load."""
from __future__ import annotations

from typing import Any

from lm_eval.api.model import LM
from tqdm import tqdm

from mmpriv_tasks.errors import format_error
from mmpriv_tasks.models._args import MergedArgs
from mmpriv_tasks.models._request import share_repeated, unpack


class OfflineReferenceLM(MergedArgs, LM):
    """An lm-eval model that answers ``generate_until`` requests with ``answer()``.

    A request that raises, or whose doc holds broken media (``media.doc_failure``), becomes a
    per-sample error (``errors.format_error``), never an answer.
    """

    MULTIMODAL = True
    USES_TORCH = False  # `mmpriv run` skips lm-eval's torch seeding (and the torch import) for these
    name = "offline-reference"

    def __init__(self, **kwargs: Any) -> None:  # lm-eval passes batch_size, device, ...
        super().__init__()

    def answer(self, context: str, media: dict) -> str:
        raise NotImplementedError

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        share_repeated(requests)
        replies = []
        for index, raw in enumerate(tqdm(requests, desc=self.name, disable=disable_tqdm or self.rank != 0)):
            request = unpack(raw, index)
            if request.failure:
                replies.append(format_error("MediaError", request.failure))
                continue
            try:
                replies.append(self.answer(request.context, request.media))
            except Exception as exc:  # noqa: BLE001 - one failed sample must not end the run
                replies.append(format_error(type(exc).__name__, str(exc)))
        return replies

    def loglikelihood(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError(f"{self.name} only generates text (generate_until tasks)")

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError(f"{self.name} only generates text (generate_until tasks)")
