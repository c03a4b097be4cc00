"""Load and encode images and audio lazily, with errors that name the sample.

Task docs hold media references (``task_data.load_split``); tasks hand these (or unloaded PIL
images over them) to models, and decoding happens here, late, one sample at a time. Every
broken medium raises ``MediaError`` naming the sample: undecodable data, images over the pixel
cap (``$MMPRIV_MAX_IMAGE_PIXELS``) checked before decoding, WAVs shorter than their header says,
clips under ``MIN_AUDIO_SECONDS``.
"""
from __future__ import annotations

import io
import os
import re
import struct
import threading
import warnings
import zlib
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from mmpriv_tasks.inputs import task_data
from mmpriv_tasks.errors import MediaError

DEFAULT_SAMPLE_RATE = 16_000
MAX_PIXELS_ENV = "MMPRIV_MAX_IMAGE_PIXELS"
DEFAULT_MAX_PIXELS = 50_000_000  # ~7000 x 7000; a scanned A4 page at 300 dpi is 8.7 M
MIN_AUDIO_SECONDS = 0.1
MAX_AUDIO_ENV = "MMPRIV_MAX_AUDIO_SECONDS"
DEFAULT_MAX_AUDIO_SECONDS = 600.0  # HearSay clips last seconds; an hour of audio is a mistake or an attack
_OBJECT_REPR = re.compile(r"<[^<>]*? at 0x[0-9a-fA-F]+>")


def max_pixels() -> int:
    """The largest image (width x height) decoded: ``$MMPRIV_MAX_IMAGE_PIXELS`` or 50 M."""
    return int(os.environ.get(MAX_PIXELS_ENV) or DEFAULT_MAX_PIXELS)


def max_audio_seconds() -> float:
    """The longest clip decoded: ``$MMPRIV_MAX_AUDIO_SECONDS`` or 600 s; longer ones are per-sample errors."""
    return float(os.environ.get(MAX_AUDIO_ENV) or DEFAULT_MAX_AUDIO_SECONDS)


def _check_duration(frames: int, rate: int) -> None:
    if rate and frames / rate > max_audio_seconds():
        raise MediaError(f"audio is {frames / rate:.0f} s long, over the {max_audio_seconds():.0f} s cap "
                         f"(${MAX_AUDIO_ENV})")


def _sample_name(value: Any, sample: str) -> str:
    """``sample``, or where a media reference points when the caller did not name the sample."""
    if sample not in ("?", "", None):
        return str(sample)
    return task_data.ref_name(value) if task_data.is_media_ref(value) else "?"


def _reason(exc: Exception) -> str:
    """An exception message without object addresses (``<_io.BytesIO object at 0x...>``)."""
    return _OBJECT_REPR.sub("the data", str(exc)) or type(exc).__name__


def _raw_bytes(value: Any, what: str) -> tuple[bytes | None, str | None]:
    if task_data.is_media_ref(value):
        return task_data.media_bytes(value), None
    if isinstance(value, dict):
        return value.get("bytes"), value.get("path")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value), None
    if isinstance(value, (str, Path)):
        return None, str(value)
    raise MediaError(f"unsupported {what} value of type {type(value).__name__}")


def _open_image(source):
    """``Image.open`` with the pixel cap checked on the header, before any pixel is decoded."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(source)
        except Image.DecompressionBombError as exc:
            raise MediaError(f"image refused: over the pixel cap of {max_pixels():,} (a decompression bomb?): "
                             f"{exc}") from exc
    width, height = image.size
    if width * height > max_pixels():
        image.close()
        raise MediaError(f"image refused: {width} x {height} = {width * height:,} pixels, over the pixel cap of "
                         f"{max_pixels():,} (a decompression bomb?); raise ${MAX_PIXELS_ENV} if it is genuine")
    return image


class LazyMediaFile(io.RawIOBase):
    """A read-only file over a media reference: bytes fetched on first read, dropped by ``release()``.

    An image opened on it keeps only its header in memory until it is decoded.
    """

    def __init__(self, ref: dict) -> None:
        super().__init__()
        self.ref = ref
        self._buffer: io.BytesIO | None = None
        self._position = 0

    def _data(self) -> io.BytesIO:
        if self._buffer is None:
            self._buffer = io.BytesIO(task_data.media_bytes(self.ref))
            self._buffer.seek(self._position)
        return self._buffer

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        data = self._data().read(len(target))
        target[:len(data)] = data
        self._position += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._position = self._data().seek(offset, whence)
        return self._position

    def tell(self) -> int:
        return self._position

    def release(self) -> None:
        """Drop the fetched bytes (fetched again on the next read)."""
        self._buffer = None


def load_image(value: Any, sample: str = "?"):
    """An RGB ``PIL.Image`` from a PIL image, a media reference, bytes, a path or ``{"bytes", "path"}``."""
    from PIL import Image, UnidentifiedImageError

    sample = _sample_name(value, sample)
    try:
        if isinstance(value, Image.Image):
            source = getattr(value, "fp", None)
            if source is None or not hasattr(source, "seek"):  # already decoded
                return value if value.mode == "RGB" else value.convert("RGB")
            source.seek(0)  # unloaded: decode a fresh copy so the request keeps only its header
            try:
                with _open_image(source) as fresh:
                    return fresh.convert("RGB")
            finally:
                getattr(source, "release", lambda: None)()
        data, path = _raw_bytes(value, "image")
        source = io.BytesIO(data) if data else path
        if source is None:
            raise MediaError("image has neither bytes nor path")
        with _open_image(source) as image:
            return image.convert("RGB")
    except MediaError as exc:
        raise MediaError(f"sample {sample}: {exc}") from exc
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise MediaError(f"sample {sample}: cannot decode image: {_reason(exc)}") from exc


def open_image_lazily(value: Any):
    """An unloaded ``PIL.Image`` (header read, pixels decoded on first use), or None if broken.

    A media reference is opened over a :class:`LazyMediaFile`, so the request keeps no image bytes.
    """
    try:
        if task_data.is_media_ref(value):
            source = LazyMediaFile(value)
            image = _open_image(source)
            source.release()
            return image
        data, path = _raw_bytes(value, "image")
        return _open_image(io.BytesIO(data) if data else path)
    except Exception:  # noqa: BLE001 - a broken image becomes a per-sample error at scoring
        return None


def encoded_image(value: Any) -> bytes:
    """The stored (encoded) bytes of an image, read without decoding where they exist (a media
    reference, bytes, a lazily opened image); a decoded PIL image is encoded as PNG."""
    from PIL import Image

    if isinstance(value, Image.Image):
        source = getattr(value, "fp", None)
        if isinstance(source, LazyMediaFile):
            return task_data.media_bytes(source.ref)
        if source is not None and hasattr(source, "getvalue"):
            return source.getvalue()
        return encode_png(load_image(value))
    data, path = _raw_bytes(value, "image")
    return data if data else Path(path).read_bytes()


def image_error(value: Any, sample: str = "?") -> str | None:
    """Why ``value`` cannot be decoded as an image, or None when it decodes."""
    try:
        load_image(value, sample)
    except MediaError as exc:
        return str(exc)
    return None


def _wav_truncation(data: bytes) -> str | None:
    """Why a RIFF/WAVE file's data chunk is shorter than its header declares, or None."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    offset = 12
    while offset + 8 <= len(data):
        chunk, size = data[offset:offset + 4], struct.unpack("<I", data[offset + 4:offset + 8])[0]
        if chunk == b"data":
            present = len(data) - offset - 8
            if size != 0xFFFFFFFF and present < size:
                return f"audio is truncated: the WAV header declares {size} data bytes, the file holds {present}"
            return None
        offset += 8 + size + (size & 1)
    return None


def _decode_audio(data: bytes | None, path: str | None) -> tuple[np.ndarray, int]:
    """(frames, channels) float32 samples and their rate, from bytes or a file."""
    import soundfile

    if data:
        truncated = _wav_truncation(data)
        if truncated:
            raise MediaError(truncated)
    try:
        info = soundfile.info(io.BytesIO(data) if data else path)  # the duration cap, before decoding
    except (soundfile.LibsndfileError, RuntimeError, TypeError):  # formats libsndfile lacks: librosa/audioread
        import librosa

        array, rate = librosa.load(io.BytesIO(data) if data else path, sr=None, mono=False)
        _check_duration(np.atleast_2d(array).shape[1], rate)
        return np.atleast_2d(array).T, rate  # librosa gives (channels, frames)
    _check_duration(info.frames, info.samplerate)
    return soundfile.read(io.BytesIO(data) if data else path, dtype="float32", always_2d=True)


def load_audio(value: Any, sample: str = "?", sample_rate: int = DEFAULT_SAMPLE_RATE) -> np.ndarray:
    """Mono float32 samples at ``sample_rate`` from a media reference, a path, bytes, ``{"bytes", "path"}``,
    ``{"array", "sampling_rate"}`` or an ``(array, rate)`` tuple (arrays: ``(frames,)`` or
    ``(frames, channels)``). Clips shorter than ``MIN_AUDIO_SECONDS`` or truncated WAVs are errors."""
    import librosa

    sample = _sample_name(value, sample)
    try:
        if isinstance(value, tuple):
            array, rate = value
        elif isinstance(value, dict) and "array" in value:
            array, rate = value["array"], value["sampling_rate"]
        else:
            data, path = _raw_bytes(value, "audio")
            if not data and not path:
                raise MediaError("audio has neither bytes nor path")
            array, rate = _decode_audio(data, path)
        array = np.asarray(array, dtype=np.float32)
        if array.ndim > 1:
            array = array.mean(axis=1)  # (frames, channels) -> mono
        _check_duration(array.size, rate)
        if array.size < MIN_AUDIO_SECONDS * rate:
            raise MediaError(f"audio is {array.size / rate * 1000:.0f} ms long, under the {MIN_AUDIO_SECONDS * 1000:.0f} ms "
                             "minimum (empty or truncated)")
        if rate != sample_rate:
            array = librosa.resample(array, orig_sr=rate, target_sr=sample_rate)
        return array
    except MediaError as exc:
        raise MediaError(f"sample {sample}: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - decoder errors vary by backend
        raise MediaError(f"sample {sample}: cannot decode audio: {_reason(exc)}") from exc


def audio_blocks(value: Any, sample: str = "?", sample_rate: int = DEFAULT_SAMPLE_RATE,
                 block_seconds: float = 30.0):
    """The clip as consecutive mono float32 blocks at ``sample_rate``, decoded block by block (memory
    bounded by the block, not the clip) when libsndfile reads it (WAV, FLAC, OGG) from stored bytes,
    bytes or a path; any other input is decoded whole by :func:`load_audio`. Same checks and errors."""
    import soundfile

    sample = _sample_name(value, sample)
    try:
        stream = soundfile.SoundFile(_stream_source(value))
    except (soundfile.LibsndfileError, RuntimeError, TypeError, MediaError):
        yield load_audio(value, sample, sample_rate)
        return
    try:
        with stream:
            _check_duration(stream.frames, stream.samplerate)
            if stream.frames < MIN_AUDIO_SECONDS * stream.samplerate:
                raise MediaError(f"audio is {stream.frames / stream.samplerate * 1000:.0f} ms long, under the "
                                 f"{MIN_AUDIO_SECONDS * 1000:.0f} ms minimum (empty or truncated)")
            for block in stream.blocks(blocksize=int(block_seconds * stream.samplerate), dtype="float32",
                                       always_2d=True):
                mono = block.mean(axis=1)
                if stream.samplerate != sample_rate:
                    import librosa

                    mono = librosa.resample(mono, orig_sr=stream.samplerate, target_sr=sample_rate)
                yield mono
    except MediaError as exc:
        raise MediaError(f"sample {sample}: {exc}") from exc


def _stream_source(value: Any):
    """A file-like object (or path) over the clip's bytes, without copying stored bytes; raises
    MediaError for a truncated WAV."""
    if task_data.is_media_ref(value):
        view = task_data.media_view(value)
        data = view if view is not None else task_data.media_bytes(value)  # a path inside the split's folder
        source = _ViewReader(view) if view is not None else io.BytesIO(data)
    else:
        data, path = _raw_bytes(value, "audio")
        if not data:
            if not path:
                raise MediaError("audio has neither bytes nor path")
            return path
        source = io.BytesIO(data)
    truncated = _wav_truncation(data)
    if truncated:
        raise MediaError(truncated)
    return source


class _ViewReader(io.RawIOBase):
    """A seekable, read-only file over a memoryview (no copy of the stored bytes)."""

    def __init__(self, view: memoryview):
        self.view, self.position = view, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: len(self.view)}[whence]
        self.position = max(0, base + offset)
        return self.position

    def tell(self) -> int:
        return self.position

    def readinto(self, buffer) -> int:
        chunk = self.view[self.position:self.position + len(buffer)]
        buffer[:len(chunk)] = chunk
        self.position += len(chunk)
        return len(chunk)


def audio_error(value: Any, sample: str = "?") -> str | None:
    """Why ``value`` cannot be decoded as audio, or None when it decodes (read block by block)."""
    try:
        for _ in audio_blocks(value, sample):
            pass
    except MediaError as exc:
        return str(exc)
    return None


_FAILURES: OrderedDict[tuple, str | None] = OrderedDict()  # recent media checks, oldest first
_FAILURES_LOCK = threading.Lock()
FAILURES_KEPT = 4096  # twice a default slice of `mmpriv run`; media checked longer ago are checked again if asked
_CHECKS = {"image": image_error, "audio": audio_error}


def _media_key(column: str, value: Any, sample: str) -> tuple | None:
    """A cheap identity of a stored medium (a reference, or bytes with the sample id); None for values
    without one (decoded arrays, PIL images), which are checked every time."""
    if task_data.is_media_ref(value):
        return column, value["split"], value["row"]
    if isinstance(value, dict) and value.get("bytes"):
        data = value["bytes"]
        return column, sample, str(value.get("path")), len(data), zlib.crc32(data)
    return None


def media_failure(doc: dict | None, column: str) -> str | None:
    """Why the doc's ``column`` (image / audio) cannot be used, or None (also None when the doc has no
    such medium). A stored medium is decoded once however many tasks share it, while its check is
    among the last :data:`FAILURES_KEPT` (a run's memory does not grow with its media)."""
    if not isinstance(doc, dict) or doc.get(column) is None:
        return None
    sample = str(doc.get("id", "?"))
    key = _media_key(column, doc[column], sample)
    if key is None:
        return _CHECKS[column](doc[column], sample=sample)
    with _FAILURES_LOCK:  # model wrappers may check from several threads
        if key in _FAILURES:
            _FAILURES.move_to_end(key)
            return _FAILURES[key]
    reason = _CHECKS[column](doc[column], sample=sample)
    with _FAILURES_LOCK:
        _FAILURES[key] = reason
        if len(_FAILURES) > FAILURES_KEPT:
            _FAILURES.popitem(last=False)
    return reason


def doc_failure(doc: dict | None) -> str | None:
    """Why any medium of ``doc`` cannot be used, or None. Model wrappers call this on
    ``request.doc`` so a broken sample never reaches a model or an API."""
    return next((reason for column in _CHECKS if (reason := media_failure(doc, column))), None)


def encode_png(image) -> bytes:
    """PNG bytes of a PIL image."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def encode_wav(array: np.ndarray, sample_rate: int = DEFAULT_SAMPLE_RATE) -> bytes:
    """16-bit PCM WAV bytes of mono float samples."""
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, np.asarray(array, dtype=np.float32), sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


_PLACEHOLDERS = re.compile(r"<(?:image|audio)>\s*")


def drop_placeholders(text: str) -> str:
    """``text`` without lm-eval's ``<image>`` / ``<audio>`` placeholders (wrappers that send media
    as message parts place it themselves)."""
    return _PLACEHOLDERS.sub("", text).strip()
