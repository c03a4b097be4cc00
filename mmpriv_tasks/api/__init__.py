"""OpenAI-compatible chat-completions plumbing shared by the ``mmpriv-api`` model and the LLM judge.

- :mod:`mmpriv_tasks.api.client`: concurrent HTTP client with timeouts, retries (exponential
  backoff, jitter, ``Retry-After``) and an on-disk response cache.
- :mod:`mmpriv_tasks.api.payload`: chat messages with image (data URL) and audio (``input_audio``) parts.
"""
from mmpriv_tasks.api.client import ChatClient, ChatResult, ResponseCache, request_key
from mmpriv_tasks.api.payload import build_messages, build_request

__all__ = ["ChatClient", "ChatResult", "ResponseCache", "request_key", "build_messages", "build_request"]
