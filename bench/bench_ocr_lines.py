"""Line recognition of the OCR reference: RapidOCR's own reading against ours, on the bundled
MM-Privacy suite's forms (every distinct image of disclosure, retention and control), one process.

RapidOCR (``ENGINE_SETTINGS``, one line at a time) pads every line to at least 320 px and reads every
crop; ours (``ocr._engine()``) reads each line at its own width and a crop seen before not again.
Prints the recognition CPU seconds of both and their ratio, the line crops each read, the whole
OCR's CPU seconds, and how many transcripts differ once spaces at line ends are stripped (the
claim is none), with the 1-minute load average (CPU seconds inflate on a busy machine).

    python bench/bench_ocr_lines.py
"""
from __future__ import annotations

import hashlib
import os
import time

import pyarrow.parquet as pq

from mmpriv_tasks.inputs import ocr
from mmpriv_tasks.paths import bundled_data_dir


def suite_forms() -> list[bytes]:
    forms = {}
    for split in ("disclosure", "retention", "control"):
        table = pq.read_table(bundled_data_dir() / "mmprivacy" / f"{split}.parquet", columns=["image"])
        for cell in table.column("image").to_pylist():
            if cell and cell.get("bytes"):
                forms.setdefault(hashlib.sha1(cell["bytes"]).hexdigest(), cell["bytes"])
    return list(forms.values())


class _Timed:
    """Wraps a line reader: the line crops it reads (``count`` says how many a call holds) and its CPU
    seconds."""

    def __init__(self, read, count) -> None:
        self.read, self.count, self.crops, self.cpu = read, count, 0, 0.0

    def __call__(self, crops, *args):
        started = time.process_time()
        try:
            return self.read(crops, *args)
        finally:
            self.cpu += time.process_time() - started
            self.crops += self.count(crops)


def read_all(engine, forms: list[bytes]) -> tuple[list[str], float]:
    """Transcripts (``ocr._read`` strips each line) and the whole OCR's CPU seconds."""
    started = time.process_time()
    texts = [ocr._read(engine, ocr._pixels(data)) for data in forms]
    return texts, time.process_time() - started


def main() -> None:
    forms = suite_forms()
    rapid = ocr._engine_class()(**ocr.ENGINE_SETTINGS)
    rapid.text_rec = theirs = _Timed(rapid.text_rec, len)
    ours = ocr._engine()
    ours.text_rec._read_line = mine = _Timed(ours.text_rec._read_line, lambda crop: 1)
    theirs_texts, theirs_cpu = read_all(rapid, forms)
    our_texts, our_cpu = read_all(ours, forms)
    differ = sum(a != b for a, b in zip(theirs_texts, our_texts))
    print(f"{len(forms)} forms; load {os.getloadavg()[0]:.1f}")
    print(f"recognition CPU: RapidOCR {theirs.cpu:.1f} s ({theirs.crops} line crops), ours {mine.cpu:.1f} s "
          f"({mine.crops} crops read): {mine.cpu / theirs.cpu:.2f}x")
    print(f"whole OCR CPU: RapidOCR {theirs_cpu:.1f} s, ours {our_cpu:.1f} s: {our_cpu / theirs_cpu:.2f}x")
    print(f"transcripts that differ (line ends stripped): {differ} of {len(forms)}")


if __name__ == "__main__":
    main()
