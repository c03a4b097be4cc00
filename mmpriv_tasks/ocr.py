"""Offline OCR of form images (rapidocr-onnxruntime, CPU; the `ocr` extra).

Used by the ``ocr-extractor`` reference model and by the upstream MM-Privacy importer (which reads
each form to find the person it shows).
"""
from __future__ import annotations

import hashlib


class FormReader:
    """Transcribes images to text lines, top to bottom, left to right (cached per image content)."""

    def __init__(self) -> None:
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError as exc:
            raise ImportError("OCR needs the extra: pip install 'mmpriv-tasks[ocr]'") from exc
        self._engine = RapidOCR()
        self._transcripts: dict[str, str] = {}

    def transcribe(self, image) -> str:
        """The text of a PIL image."""
        import numpy as np

        pixels = np.asarray(image.convert("RGB"))
        key = hashlib.sha1(pixels.tobytes()).hexdigest()
        if key not in self._transcripts:
            result, _ = self._engine(pixels)
            boxes = sorted(result or [], key=lambda r: (round(r[0][0][1] / 12), r[0][0][0]))
            self._transcripts[key] = "\n".join(text for _box, text, _score in boxes)
        return self._transcripts[key]
