"""Helpers shared by every task family: media hand-off, error checks, flag dictionaries."""
from __future__ import annotations

import zlib

from mmpriv_tasks.errors import parse_error
from mmpriv_tasks.media import image_error, open_image_lazily

_MEDIA_FAILURES: dict[tuple[str, str], str | None] = {}


def doc_to_image(doc: dict) -> list:
    """The row's image as an unloaded PIL image (decoded late by the model); [] when absent or broken
    (checked by one throw-away decode, so a truncated file never reaches lm-eval or the model)."""
    if doc.get("image") is None or image_failure(doc):
        return []
    image = open_image_lazily(doc["image"])
    return [image] if image is not None else []


def image_failure(doc: dict) -> str | None:
    """Why the row's image cannot be decoded (cached per row id and image content), or None."""
    if doc.get("image") is None:
        return None
    key = ("image", str(doc.get("id")), _content_key(doc["image"]))
    if key not in _MEDIA_FAILURES:
        _MEDIA_FAILURES[key] = image_error(doc["image"], sample=str(doc.get("id")))
    return _MEDIA_FAILURES[key]


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
