"""Helpers shared by every task family: media hand-off, error checks, flag dictionaries."""
from __future__ import annotations

from mmpriv_tasks.errors import parse_error
from mmpriv_tasks.inputs.media import media_failure, open_image_lazily

__all__ = ["doc_to_image", "doc_to_audio", "media_failure", "image_failure", "sample_failure", "errored"]


def doc_to_image(doc: dict) -> list:
    """The row's image as an unloaded PIL image holding no bytes (decoded late by the model); [] when
    absent or broken (checked by one throw-away decode, so a broken file never reaches lm-eval's logs)."""
    if doc.get("image") is None or image_failure(doc):
        return []
    image = open_image_lazily(doc["image"])
    return [image] if image is not None else []


def doc_to_audio(doc: dict) -> list:
    """The row's audio as a reference (read and decoded late by the model); [] when absent or broken."""
    if doc.get("audio") is None or media_failure(doc, "audio"):
        return []
    return [doc["audio"]]


def image_failure(doc: dict) -> str | None:
    """Why the row's image cannot be decoded (cached), or None."""
    return media_failure(doc, "image")


def sample_failure(doc: dict, reply: str, required: tuple[str, ...] = ()) -> str | None:
    """Why this sample cannot be scored (model/API error, broken media, or no value in a ``required``
    media column), or None. The reason is also written into the doc's ``error`` field, which lm-eval's
    sample log records."""
    absent = next((f"sample {doc.get('id')}: no {column}" for column in required if doc.get(column) is None), None)
    reason = parse_error(reply) or absent or media_failure(doc, "image") or media_failure(doc, "audio")
    if reason:
        doc["error"] = reason
    return reason


def errored(metrics: tuple[str, ...]) -> dict:
    """Flags of a sample that failed: no decision on any metric, ``error_rate`` 1."""
    return {**{name: None for name in metrics}, "error_rate": 1}
