"""Offline OCR of form images (rapidocr-onnxruntime, CPU; the `ocr` extra).

Used by the ``ocr-extractor`` reference model and by the upstream MM-Privacy importer (which reads
each form to find the person it shows).

Engine settings (``ENGINE_SETTINGS``) differ from RapidOCR's defaults where forms allow it: images
are never scaled up for detection (``det_limit_type="max"``: RapidOCR 1.4.4 then picks the limit from
the image's longer side, 960, 1,500 or 2,000 px, so forms up to 1,500 px are read at full size; the
default scales every image *up* until its short side is 736 px, 10x the pixels for a wide form
strip), the text-direction classifier is off (forms are
upright), and each engine uses one thread; :meth:`FormReader.transcribe_many` spreads images over
one process per core instead, which is faster than intra-op threads on a busy machine. Recognition
reads one text line at a time (``rec_batch_num=1``, RapidOCR's default is 6): on six bundled control
forms it used 38 % less CPU and gave truer text, because a batch pads its lines to the widest one and
the padded lines lose their spaces ("RiversideCommunityCenter", "08202MichealParkway" with batches of 6;
"Riverside Community Center", "08202 MichealParkway" one by one) and misread "x" in phone extensions.
Each line is read at its own width (:class:`_LineReader`; RapidOCR pads short lines to 320 px) and
a line crop whose pixels were read before is not read again (forms of one layout share their label
lines pixel for pixel). ``python bench/bench_ocr_lines.py`` compares this with RapidOCR's own line
reading on the bundled suite's forms: recognition CPU and transcripts (equal up to spaces at line
ends, which :func:`_read` strips).

Transcripts can be kept on disk (:class:`TranscriptCache`, one 0600 file per image in a 0700 folder,
named by the SHA-256 of the engine settings and the image bytes), so a re-run reads no image twice.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

ENGINE_SETTINGS = {"det_limit_type": "max", "use_cls": False, "rec_batch_num": 1,
                   "intra_op_num_threads": 1, "inter_op_num_threads": 1}
LINE_READING = "own-width"  # part of the transcript cache key: how :class:`_LineReader` reads a line
OCR_CACHE_ENV = "MMPRIV_OCR_CACHE_DIR"
_WORKER_ENGINE = None


def _engine_class():
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError as exc:
        raise ImportError("OCR needs the extra: pip install 'mmpriv-tasks[ocr]'") from exc
    return RapidOCR


class _LineReader:
    """Replaces RapidOCR's line recogniser: reads each line crop at its own width, and a crop already
    read (same pixels, same shape) not again.

    RapidOCR pads every line to at least 320 px at the model's 48 px height (PaddleOCR's batch
    alignment); a label such as "Email Address" is about 200 px, so two thirds of a form's lines were
    mostly padding. Read alone at its own width, a line costs a third less and reads the same text
    (spaces at a line's ends aside, which :func:`_read` strips). Lines wider than the padding are read
    as RapidOCR reads them, and so are crops less than two line heights wide (a lone glyph or a
    graphic: read at its own width, a drawn icon's square crop passed RapidOCR's score threshold as
    "F")."""

    OWN_WIDTH_FROM = 2.0  # width / height of the narrowest crop read at its own width

    def __init__(self, recogniser, limit: int = 50_000) -> None:
        self._recogniser, self._limit, self._read = recogniser, limit, {}

    @staticmethod
    def _key(crop) -> bytes:
        digest = hashlib.blake2b(str(crop.shape).encode(), digest_size=16)
        digest.update(crop.tobytes())
        return digest.digest()

    def _read_line(self, crop) -> tuple[str, float]:
        ratio = crop.shape[1] / crop.shape[0]
        _, height, padded = self._recogniser.rec_image_shape[:3]
        width = ratio if ratio >= self.OWN_WIDTH_FROM else padded / height
        pixels = self._recogniser.resize_norm_img(crop, width)[None]
        scores = self._recogniser.session(pixels)[0]
        return self._recogniser.postprocess_op(scores, False, wh_ratio_list=[ratio], max_wh_ratio=width)[0]

    def __call__(self, crops, return_word_box: bool = False):
        if return_word_box:  # word boxes are not what forms need; nothing to share
            return self._recogniser(crops, return_word_box)
        keys = [self._key(crop) for crop in crops]
        if len(self._read) + len(keys) > self._limit:
            self._read.clear()
        for key, crop in zip(keys, crops):
            if key not in self._read:
                self._read[key] = self._read_line(crop)
        return [self._read[key] for key in keys], 0.0


def _engine():
    engine = _engine_class()(**ENGINE_SETTINGS)
    engine.text_rec = _LineReader(engine.text_rec)
    return engine


def _read(engine, pixels) -> str:
    """Text lines of an RGB pixel array, top to bottom, left to right."""
    result, _ = engine(pixels)
    boxes = sorted(result or [], key=lambda r: (round(r[0][0][1] / 12), r[0][0][0]))
    return "\n".join(text.strip() for _box, text, _score in boxes)


def _pixels(encoded: bytes):
    import numpy as np

    from mmpriv_tasks.inputs.media import load_image

    return np.asarray(load_image(encoded))


def _worker_read(encoded: bytes) -> str:
    """OCR of encoded image bytes in a worker process (one engine per process)."""
    global _WORKER_ENGINE
    if _WORKER_ENGINE is None:
        _WORKER_ENGINE = _engine()
    return _read(_WORKER_ENGINE, _pixels(encoded))


def _context():
    """fork where the platform has it (no re-import of the caller's main module), else spawn."""
    import multiprocessing

    return get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")


def default_cache_dir() -> Path:
    """``$MMPRIV_OCR_CACHE_DIR`` or ``~/.cache/mmpriv/ocr``."""
    return Path(os.environ.get(OCR_CACHE_ENV) or Path.home() / ".cache" / "mmpriv" / "ocr")


class TranscriptCache:
    """OCR transcripts on disk: ``<directory>/<key>.txt`` (0600, folder 0700; forms hold PII), where
    the key is the SHA-256 of the engine's version and settings and the image bytes."""

    def __init__(self, directory: str | Path) -> None:
        from importlib.metadata import version

        self.directory = Path(directory).expanduser()
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        engine = json.dumps({"rapidocr": version("rapidocr-onnxruntime"), "lines": LINE_READING, **ENGINE_SETTINGS},
                            sort_keys=True)
        self._salt = hashlib.sha256(engine.encode()).digest()

    def key(self, image: bytes) -> str:
        return hashlib.sha256(self._salt + image).hexdigest()

    def get(self, key: str) -> str | None:
        try:
            return (self.directory / f"{key}.txt").read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def put(self, key: str, text: str) -> None:
        """Write atomically (a temporary 0600 file renamed into place)."""
        fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")  # mkstemp creates it 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(text)
            os.replace(temporary, self.directory / f"{key}.txt")
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class FormReader:
    """Transcribes images to text lines, top to bottom, left to right (cached per image content in
    memory, and on disk in ``cache_dir`` when given)."""

    def __init__(self, workers: int | None = None, cache_dir: str | Path | None = None) -> None:
        self.workers = max(1, int(workers or usable_cores()))
        _engine_class()  # fails now, not mid-run, when the extra is missing
        self._engine = None  # made on first use, so worker processes fork from a process without one
        self._transcripts: dict[str, str] = {}
        self.disk = TranscriptCache(cache_dir) if cache_dir else None

    @staticmethod
    def _pixels(image):
        import numpy as np

        pixels = np.asarray(image.convert("RGB"))
        return hashlib.sha1(pixels.tobytes()).hexdigest(), pixels

    def _own_engine(self):
        if self._engine is None:
            self._engine = _engine()
        return self._engine

    def transcribe(self, image) -> str:
        """The text of a PIL image."""
        key, pixels = self._pixels(image)
        if key not in self._transcripts:
            self._transcripts[key] = _read(self._own_engine(), pixels)
        return self._transcripts[key]

    def transcribe_many(self, encoded: list[bytes], chunk: int = 64) -> list[str]:
        """The texts of encoded images (PNG/JPEG bytes), each distinct image read once, spread over
        ``workers`` processes (``chunk`` images in flight at a time, so memory stays flat)."""
        from tqdm import tqdm

        keys = [hashlib.sha1(data).hexdigest() for data in encoded]
        todo = list({key: data for key, data in zip(keys, encoded) if key not in self._transcripts}.items())
        if self.disk is not None:
            stored = {key: self.disk.get(self.disk.key(data)) for key, data in todo}
            self._transcripts.update((key, text) for key, text in stored.items() if text is not None)
            todo = [(key, data) for key, data in todo if stored[key] is None]
        with tqdm(total=len(todo), desc="ocr", unit="image", disable=len(todo) < 2) as bar:  # count and ETA
            if len(todo) > 1 and self.workers > 1:
                with ProcessPoolExecutor(min(self.workers, len(todo)), mp_context=_context()) as pool:
                    for start in range(0, len(todo), chunk):
                        part = todo[start:start + chunk]
                        for (key, data), text in zip(part, pool.map(_worker_read, (d for _, d in part))):
                            self._keep(key, data, text)
                            bar.update()
            else:
                for key, data in todo:
                    self._keep(key, data, _read(self._own_engine(), _pixels(data)))
                    bar.update()
        return [self._transcripts[key] for key in keys]

    def _keep(self, key: str, data: bytes, text: str) -> None:
        """Remember a new transcript (on disk too, at once, so an interrupted run keeps it)."""
        self._transcripts[key] = text
        if self.disk is not None:
            self.disk.put(self.disk.key(data), text)
