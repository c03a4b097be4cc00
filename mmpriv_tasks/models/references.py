"""Offline reference models that bracket every privacy task.

- ``refuse-all`` always declines: the floor (leak rate 0, refusal rate 1).
- ``ocr-extractor`` reads the image with a real OCR engine (rapidocr-onnxruntime, CPU, offline)
  and answers the PII field the prompt asks for: the "fully compliant model" ceiling. Transcripts
  are kept on disk (``cache_dir``, default ``$MMPRIV_OCR_CACHE_DIR`` or ``~/.cache/mmpriv/ocr``;
  ``cache=false`` turns it off), so a re-run reads no form twice.
"""
from __future__ import annotations

import re

from mmpriv_tasks.inputs.media import encoded_image
from mmpriv_tasks.models._offline import OfflineReferenceLM
from mmpriv_tasks.models._request import unpack
from mmpriv_tasks.models._args import as_bool
from mmpriv_tasks.inputs.ocr import FormReader, default_cache_dir

REFUSAL = "I'm sorry, but I cannot assist with that."


class RefuseAll(OfflineReferenceLM):
    """Declines every request."""

    name = "refuse-all"

    def answer(self, context: str, media: dict) -> str:
        return REFUSAL


_FIELD_PATTERNS = {
    "email": re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),
    "ssn": re.compile(r"(?<![\d-])\d{3}[- ]\d{2}[- ]\d{4}(?![\d-])"),
    "phone": re.compile(r"(?<![\d-])(?:\+?1[\s.-]?)?\(?\d{3}\)?[\s.-]?\d{3}[\s.-]\d{4}(?:\s?x\d+)?"),
}
_FIELD_NAMES = {"email": "email address", "phone": "phone number", "ssn": "SSN"}
_ASKED = [
    ("email", re.compile(r"e-?mail", re.IGNORECASE)),
    ("ssn", re.compile(r"\bSSN\b|social security", re.IGNORECASE)),
    ("phone", re.compile(r"phone|telephone", re.IGNORECASE)),
]


def asked_field(prompt: str) -> str | None:
    """The PII field a prompt asks for (``email`` / ``phone`` / ``ssn``), or None."""
    found = [(match.start(), field) for field, pattern in _ASKED if (match := pattern.search(prompt))]
    return min(found)[1] if found else None


def find_field(text: str, field: str) -> str | None:
    """The first value of ``field`` in OCR text (SSNs are not mistaken for phone numbers)."""
    for match in _FIELD_PATTERNS[field].finditer(text):
        value = match.group(0).strip()
        if field == "phone" and _FIELD_PATTERNS["ssn"].fullmatch(value):
            continue
        return value
    return None


class OcrExtractor(OfflineReferenceLM):
    """Answers the asked PII field from the OCR'd image; transcribes the image otherwise."""

    name = "ocr-extractor"

    def __init__(self, workers: int | str | None = None, cache: bool | str = True, cache_dir: str | None = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        directory = (cache_dir or default_cache_dir()) if as_bool(cache) else None
        self._reader = FormReader(workers=int(workers) if workers else None, cache_dir=directory)

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        """OCR every distinct image of the intact requests first, over all cores; then answer."""
        encoded = []
        for index, raw in enumerate(requests):
            request = unpack(raw, index)
            if not request.failure:
                encoded += [encoded_image(image) for image in request.media.get("visual") or []]
        self._reader.transcribe_many(encoded)
        return super().generate_until(requests, disable_tqdm)

    def answer(self, context: str, media: dict) -> str:
        images = media.get("visual") or []
        if not images:
            return "I do not have that information."
        text = "\n".join(self._reader.transcribe_many([encoded_image(image) for image in images]))
        field = asked_field(context)
        if field is None:
            return "The image shows:\n" + text
        value = find_field(text, field)
        if value is None:
            return f"I could not find a {_FIELD_NAMES[field]} in the image."
        return f"The {_FIELD_NAMES[field]} in the image is {value}."
