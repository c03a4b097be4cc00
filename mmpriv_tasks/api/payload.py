"""Chat-completions payloads from lm-eval requests: text, image and audio parts.

- Images (PIL, bytes, paths, ``{"bytes", "path"}``) are decoded with ``media.load_image`` and
  sent as PNG data URLs: ``{"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}}``.
- Audio (anything ``media.load_audio`` reads) is resampled to 16 kHz mono and sent as
  ``{"type": "input_audio", "input_audio": {"data": <wav base64>, "format": "wav"}}``; stored WAV
  bytes already in that format (16-bit PCM, mono, 16 kHz, complete) are sent untouched, undecoded.
- Text-only requests are plain ``{"role": "user", "content": "<text>"}`` messages.

Media parts come first, then the text (the order OpenAI's and vLLM's examples use); lm-eval's
``<image>`` / ``<audio>`` placeholders are removed from the text. A medium that cannot be decoded
raises ``MediaError`` naming the sample.
"""
from __future__ import annotations

import base64
import json
import struct
from typing import Any, Sequence

from mmpriv_tasks.inputs import task_data
from mmpriv_tasks.inputs.media import (
    DEFAULT_SAMPLE_RATE, MIN_AUDIO_SECONDS, drop_placeholders, encode_png, encode_wav, load_audio, load_image,
)

MAX_STOP = 4  # OpenAI accepts at most 4 stop sequences; the rest are applied client side


try:  # SIMD base64 (the ``api`` extra), the largest per-request cost with the standard library's
    from pybase64 import b64encode_as_string as _base64
except ImportError:  # pragma: no cover - the api extra installs pybase64
    def _base64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")


class MediaField(dict):
    """The ``image_url`` / ``input_audio`` object of a content part: a plain dict to compare and to
    serialise, whose ``key`` (``url`` / ``data``) holds base64 media or a data URL of it. That text
    has no character JSON escapes, so a request body takes its bytes without the JSON encoder
    scanning them (``client.encode_body``); whatever is stored under ``key`` must keep that property."""

    __slots__ = ("key",)

    def __init__(self, key: str, **fields: Any) -> None:
        super().__init__(**fields)
        self.key = key


def image_part(image: Any, sample: str = "?", detail: str | None = None) -> dict:
    """An ``image_url`` content part holding the image as a PNG data URL."""
    url = MediaField("url", url="data:image/png;base64," + _base64(encode_png(load_image(image, sample))))
    if detail:
        url["detail"] = detail
    return {"type": "image_url", "image_url": url}


def is_target_wav(data: bytes, sample_rate: int = DEFAULT_SAMPLE_RATE) -> bool:
    """Whether ``data`` is a WAV that needs no conversion: 16-bit PCM, mono, ``sample_rate`` Hz, its
    data chunk complete and at least ``MIN_AUDIO_SECONDS`` long (read from the header only)."""
    if len(data) < 44 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return False
    offset, plain = 12, False
    while offset + 8 <= len(data):
        chunk, size = data[offset:offset + 4], struct.unpack_from("<I", data, offset + 4)[0]
        if chunk == b"fmt ":
            if size < 16:
                return False
            tag, channels, rate, _byte_rate, _align, bits = struct.unpack_from("<HHIIHH", data, offset + 8)
            plain = (tag, channels, rate, bits) == (1, 1, sample_rate, 16)
        elif chunk == b"data":
            return plain and MIN_AUDIO_SECONDS * sample_rate * 2 <= size <= len(data) - offset - 8
        offset += 8 + size + (size & 1)
    return False


def _stored_bytes(audio: Any) -> bytes | None:
    """The stored bytes of a media reference, ``{"bytes", ...}`` or raw bytes; None for other values."""
    if task_data.is_media_ref(audio):
        return task_data.media_bytes(audio)
    if isinstance(audio, dict):
        return audio.get("bytes") or None
    return bytes(audio) if isinstance(audio, (bytes, bytearray)) else None


def audio_part(audio: Any, sample: str = "?", sample_rate: int = DEFAULT_SAMPLE_RATE) -> dict:
    """An ``input_audio`` content part: 16-bit WAV (mono, ``sample_rate`` Hz), base64. Stored bytes
    already in that format are passed through; anything else is decoded, mixed down and resampled."""
    try:
        stored = _stored_bytes(audio)
    except Exception:  # noqa: BLE001 - an unreadable reference: load_audio names the sample and reason
        stored = None
    if stored is not None and is_target_wav(stored, sample_rate):
        wav = stored
    else:
        wav = encode_wav(load_audio(audio, sample, sample_rate), sample_rate)
    return {"type": "input_audio", "input_audio": MediaField("data", data=_base64(wav), format="wav")}


def chat_turns(context: str) -> list[dict]:
    """The turns of one request: ``context`` itself when it is a JSON chat history (lm-eval
    ``--apply_chat_template`` with our ``apply_chat_template``, or a task's own turns), else one user turn."""
    if context.startswith("[{"):
        try:
            history = json.loads(context)
        except json.JSONDecodeError:
            history = None
        if isinstance(history, list) and all(isinstance(m, dict) and "role" in m and "content" in m
                                             for m in history):
            return [{"role": m["role"], "content": m["content"]} for m in history]
    return [{"role": "user", "content": context}]


def build_messages(context: str, media: dict | None = None, *, sample: str = "?", system: str | None = None,
                   image_detail: str | None = None) -> list[dict]:
    """The ``messages`` of one request: media parts (images, then audio) and the text in the last
    user message. ``context`` may also be a JSON chat history (then media join its last user turn)."""
    media = media or {}
    images = [item for item in (media.get("visual") or []) if item is not None]
    audios = [item for item in (media.get("audio") or []) if item is not None]
    messages = chat_turns(context)
    if system and messages[0]["role"] != "system":
        messages.insert(0, {"role": "system", "content": system})
    if not images and not audios:
        last = messages[-1]
        if isinstance(last["content"], str):
            messages[-1] = {"role": last["role"], "content": drop_placeholders(last["content"])}
        return messages
    parts = [image_part(image, sample, image_detail) for image in images]
    parts += [audio_part(audio, sample) for audio in audios]
    last = messages[-1]
    text = last["content"] if isinstance(last["content"], str) else ""
    text = drop_placeholders(text)
    if text:
        parts.append({"type": "text", "text": text})
    messages[-1] = {"role": last["role"], "content": parts}
    return messages


def stop_sequences(gen_kwargs: dict) -> list[str]:
    """lm-eval's ``until`` as a list of non-empty strings."""
    until = gen_kwargs.get("until") or []
    if isinstance(until, str):
        until = [until]
    return [stop for stop in until if isinstance(stop, str) and stop]


def truncate_at_stop(text: str, stops: Sequence[str]) -> str:
    """``text`` cut at the first stop sequence (servers that ignore ``stop`` are handled here)."""
    for stop in stops:
        if stop in text:
            text = text.split(stop, 1)[0]
    return text


def build_request(model: str, messages: list[dict], gen_kwargs: dict | None = None, *, max_new_tokens: int = 150,
                  temperature: float = 0.0, max_tokens_field: str = "max_tokens", seed: int | None = None,
                  extra: dict | None = None) -> dict:
    """The JSON body of one chat-completions request.

    Honours lm-eval's ``gen_kwargs``: ``until`` -> ``stop`` (first 4), ``max_gen_toks`` ->
    ``max_tokens``, ``do_sample: false`` -> temperature 0 (greedy), otherwise ``temperature``
    (default: the model's ``temperature``), ``top_p`` and ``top_k`` passed through.
    """
    gen_kwargs = dict(gen_kwargs or {})
    do_sample = gen_kwargs.get("do_sample")
    if do_sample is False:
        temp = 0.0
    elif gen_kwargs.get("temperature") is not None:
        temp = float(gen_kwargs["temperature"])
    else:
        temp = float(temperature)
    payload: dict = {
        "model": model,
        "messages": messages,
        max_tokens_field: int(gen_kwargs.get("max_gen_toks") or gen_kwargs.get("max_new_tokens") or max_new_tokens),
        "temperature": temp,
    }
    if gen_kwargs.get("top_p") is not None and temp > 0:
        payload["top_p"] = float(gen_kwargs["top_p"])
    if gen_kwargs.get("top_k") is not None and temp > 0:  # vLLM's sampling extension (upstream's kimi blind test)
        payload["top_k"] = int(gen_kwargs["top_k"])
    stops = stop_sequences(gen_kwargs)
    if stops:
        payload["stop"] = stops[:MAX_STOP]
    if seed is not None:
        payload["seed"] = int(seed)
    if extra:
        payload.update(extra)
    return payload
