"""``mmpriv-api``: any OpenAI-compatible chat-completions endpoint (vLLM, SGLang, hosted APIs).

    mmpriv run --model mmpriv-api \\
        --model_args base_url=http://localhost:8000/v1,model=Qwen/Qwen2-VL-7B-Instruct,num_concurrent=16 \\
        --tasks mmpriv_disclosure_direct

model_args (all optional except ``model`` / ``base_url``):

- ``base_url`` (default ``$OPENAI_BASE_URL`` or ``https://api.openai.com/v1``), ``model``
- ``api_key_env`` (default ``OPENAI_API_KEY``): the *name* of the environment variable holding the
  key; keys are only read from the environment and never logged
- ``num_concurrent`` (8), ``timeout`` seconds per attempt (60), ``max_retries`` (5),
  ``backoff_base`` (0.5 s), ``backoff_max`` (30 s), ``retry_after_max`` (120 s),
  ``unreachable_limit`` (3: requests in a row that cannot connect before the rest fail unsent; 0 = never)
- ``max_new_tokens`` (150; a task's ``max_gen_toks`` wins), ``temperature`` (0 = greedy; a task's
  ``do_sample: false`` forces 0), ``seed``, ``max_tokens_field`` (``max_tokens``; some hosted
  reasoning models need ``max_completion_tokens``), ``system_prompt``, ``image_detail``
- upstream per-model request shapes (``models/presets.py``): ``top_p``, ``top_k`` (a task's own win),
  ``prompt_template`` (the prompt replaces ``{query}``, e.g. MERaLiON's ``<SpeechHere>`` instruction),
  ``prompt_in_system`` (the prompt is the system turn, the media alone the user turn),
  ``audio_data_uri`` (audio ``data`` as a ``data:audio/wav;base64,`` URI, as DashScope examples send it)
- ``cache_dir`` (default ``$MMPRIV_API_CACHE_DIR`` or ``~/.cache/mmpriv/api``; ``cache=false`` turns
  the response cache off)

Requests are built lazily: a request's media are decoded and encoded when a concurrency slot frees
up, not all before the first one is sent. A request that fails (media that cannot be decoded, HTTP
error, timeout after all retries, an unreachable endpoint) is returned as ``errors.format_error(...)``
so the sample is counted in ``error_rate``, never scored.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from lm_eval.api.model import LM

from mmpriv_tasks.api.client import UNREACHABLE_LIMIT, ChatClient
from mmpriv_tasks.api.payload import build_messages, build_request, stop_sequences, truncate_at_stop
from mmpriv_tasks.errors import InputError, MediaError, format_error
from mmpriv_tasks.models._args import MergedArgs, as_bool
from mmpriv_tasks.models._request import sample_id, share_repeated, unpack

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"


def default_cache_dir() -> Path:
    """``$MMPRIV_API_CACHE_DIR`` or ``~/.cache/mmpriv/api``."""
    return Path(os.environ.get("MMPRIV_API_CACHE_DIR") or Path.home() / ".cache" / "mmpriv" / "api")


def _audio_as_data_uri(messages: list[dict]) -> None:
    """Each ``input_audio`` part's base64 ``data`` as a ``data:audio/wav;base64,...`` URI (in place,
    so the part stays a ``MediaField`` that the body joins in unscanned)."""
    for message in messages:
        for part in message["content"] if isinstance(message["content"], list) else []:
            if part.get("type") == "input_audio":
                part["input_audio"]["data"] = "data:audio/wav;base64," + part["input_audio"]["data"]


class OpenAICompatLM(MergedArgs, LM):
    """lm-eval model that sends each ``generate_until`` request to a chat-completions endpoint."""

    MULTIMODAL = True
    name = "mmpriv-api"
    REQUIRED_ARGS = ("model",)
    EXAMPLE_ARGS = "base_url=http://localhost:8000/v1,model=Qwen/Qwen2-VL-7B-Instruct"
    USES_TORCH = False  # `mmpriv run` skips lm-eval's torch seeding (and the torch import)

    def __init__(
        self,
        model: str | None = None,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        num_concurrent: int = 8,
        timeout: float = 60.0,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        retry_after_max: float = 120.0,
        unreachable_limit: int = UNREACHABLE_LIMIT,
        max_new_tokens: int = 150,
        temperature: float = 0.0,
        seed: int | None = None,
        max_tokens_field: str = "max_tokens",
        system_prompt: str | None = None,
        image_detail: str | None = None,
        top_p: float | None = None,
        top_k: int | None = None,
        prompt_template: str | None = None,
        prompt_in_system: bool | str = False,
        audio_data_uri: bool | str = False,
        cache: bool | str = True,
        cache_dir: str | None = None,
        **kwargs: Any,  # lm-eval passes batch_size, max_batch_size, device: not used by an API model
    ) -> None:
        super().__init__()
        if not model:
            raise InputError("mmpriv-api needs model_args model=<served model name>, e.g. "
                             "--model_args base_url=http://localhost:8000/v1,model=Qwen/Qwen2-VL-7B-Instruct")
        self.model = str(model)
        self.base_url = str(base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL)
        self.max_new_tokens = int(max_new_tokens)
        self.temperature = float(temperature)
        self.seed = None if seed is None else int(seed)
        self.max_tokens_field = str(max_tokens_field)
        self.system_prompt = system_prompt or None
        self.image_detail = image_detail or None
        self.sampling = {key: value for key, value in (("top_p", top_p), ("top_k", top_k)) if value is not None}
        self.prompt_template = prompt_template or None
        self.prompt_in_system, self.audio_data_uri = as_bool(prompt_in_system), as_bool(audio_data_uri)
        self.api_key_env = str(api_key_env) if api_key_env else None
        api_key = os.environ.get(self.api_key_env) if self.api_key_env else None
        if not api_key:
            logger.info("no API key in $%s: sending requests without an Authorization header", self.api_key_env)
        directory = (cache_dir or default_cache_dir()) if as_bool(cache) else None
        self.client = ChatClient(  # the client normalises the retry settings
            self.base_url, api_key, num_concurrent=num_concurrent, timeout=timeout, max_retries=max_retries,
            backoff_base=backoff_base, backoff_max=backoff_max, retry_after_max=retry_after_max, cache_dir=directory,
            unreachable_limit=unreachable_limit,
        )
        logger.info("mmpriv-api: %r model=%s", self.client, self.model)

    # -- chat templating (lm-eval --apply_chat_template / --system_instruction) ---------------

    @property
    def tokenizer_name(self) -> str:
        return f"mmpriv-api/{self.model}"

    def apply_chat_template(self, chat_history: list[dict], add_generation_prompt: bool = True) -> str:
        """Keep the messages: the server applies the model's template. They travel as JSON and are
        unpacked again in :meth:`generate_until`."""
        return json.dumps(chat_history, ensure_ascii=False)

    def chat_template(self, chat_template: bool | str = False) -> str:
        return ""

    # -- generation ---------------------------------------------------------------------------

    def build_payload(self, context: str, gen_kwargs: dict, media: dict | None, sample: str = "?") -> dict:
        """The JSON body for one lm-eval request (raises ``MediaError`` for undecodable media)."""
        if self.prompt_template:
            context = self.prompt_template.replace("{query}", context)
        system = context if self.prompt_in_system else self.system_prompt
        messages = build_messages("" if self.prompt_in_system else context, media, sample=sample, system=system,
                                  image_detail=self.image_detail)
        if self.audio_data_uri:
            _audio_as_data_uri(messages)
        return build_request(self.model, messages, {**self.sampling, **gen_kwargs}, max_new_tokens=self.max_new_tokens,
                             temperature=self.temperature, max_tokens_field=self.max_tokens_field, seed=self.seed)

    def _job(self, raw, index: int):
        """A function building the payload of lm-eval request ``raw`` (run when a slot frees up)."""
        def build() -> dict:
            request = unpack(raw, index)
            if request.failure:
                raise MediaError(request.failure)
            return self.build_payload(request.context, request.gen_kwargs, request.media, request.sample)
        return build

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        share_repeated(requests)
        results = self.client.complete_many(
            (self._job(raw, index) for index, raw in enumerate(requests)),
            [sample_id(raw, index) for index, raw in enumerate(requests)], total=len(requests),
            desc="mmpriv-api", disable_tqdm=disable_tqdm or self.rank != 0)
        replies = []
        for request, result in zip(requests, results):
            if result.ok:
                text = truncate_at_stop(result.text, stop_sequences(request.args[1] or {}))
                self.cache_hook.add_partial("generate_until", request.args, text)
                replies.append(text)
            else:
                replies.append(format_error(result.kind, result.error))
        return replies

    def loglikelihood(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError("mmpriv-api only generates text: chat-completions endpoints give no "
                                  "loglikelihoods (use generate_until tasks)")

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError("mmpriv-api only generates text (generate_until tasks)")
