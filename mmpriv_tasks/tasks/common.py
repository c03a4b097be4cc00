"""Helpers shared by every task family: media hand-off, error checks, flag dictionaries."""
from __future__ import annotations

import zlib

from mmpriv_tasks.errors import parse_error
from mmpriv_tasks.media import audio_error, image_error, open_image_lazily

_MEDIA_FAILURES: dict[tuple[str, str], str | None] = {}


def doc_to_image(doc: dict) -> list:
    """The row's image as an unloaded PIL image (decoded late by the model); [] when absent or broken
    (checked by one throw-away decode, so a truncated file never reaches lm-eval or the model)."""
    if doc.get("image") is None or image_failure(doc):
        return []
    image = open_image_lazily(doc["image"])
    return [image] if image is not None else []


_MEDIA_CHECKS = {"image": image_error, "audio": audio_error}


def media_failure(doc: dict, column: str) -> str | None:
    """Why the row's ``column`` (image / audio) cannot be decoded, or None; cached per row id and
    content (one decode per medium, however many tasks share it)."""
    if doc.get(column) is None:
        return None
    key = (column, str(doc.get("id")), _content_key(doc[column]))
    if key not in _MEDIA_FAILURES:
        _MEDIA_FAILURES[key] = _MEDIA_CHECKS[column](doc[column], sample=str(doc.get("id")))
    return _MEDIA_FAILURES[key]


def image_failure(doc: dict) -> str | None:
    """Why the row's image cannot be decoded (cached), or None."""
    return media_failure(doc, "image")


def _content_key(value) -> str:
    """A cheap identity of a media value, so one row id from two datasets is not confused."""
    if isinstance(value, dict):
        data = value.get("bytes") or b""
        return f"{value.get('path')}:{len(data)}:{zlib.crc32(data)}"
    return str(value)


def sample_failure(doc: dict, reply: str) -> str | None:
    """Why this sample cannot be scored (model/API error or broken media), or None."""
    return parse_error(reply) or image_failure(doc)


def errored(metrics: tuple[str, ...]) -> dict:
    """Flags of a sample that failed: no decision on any metric, ``error_rate`` 1."""
    return {**{name: None for name in metrics}, "error_rate": 1}
