"""Load and encode images and audio lazily, with errors that name the sample.

Datasets keep media as ``{"bytes", "path"}`` (``Image(decode=False)`` / ``Audio(decode=False)``);
tasks hand these (or unloaded PIL images) to models, and decoding happens here, late, one
sample at a time.
"""
from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import numpy as np

from mmpriv_tasks.errors import MediaError

DEFAULT_SAMPLE_RATE = 16_000


def _raw_bytes(value: Any, what: str) -> tuple[bytes | None, str | None]:
    if isinstance(value, dict):
        return value.get("bytes"), value.get("path")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value), None
    if isinstance(value, (str, Path)):
        return None, str(value)
    raise MediaError(f"unsupported {what} value of type {type(value).__name__}")


def load_image(value: Any, sample: str = "?"):
    """An RGB ``PIL.Image`` from a PIL image, bytes, a path or a ``{"bytes", "path"}`` dict."""
    from PIL import Image, UnidentifiedImageError

    try:
        if isinstance(value, Image.Image):
            source = getattr(value, "fp", None)
            if source is None or not hasattr(source, "seek"):  # already decoded
                return value if value.mode == "RGB" else value.convert("RGB")
            source.seek(0)  # unloaded: decode a fresh copy so the request keeps only the bytes
            with Image.open(source) as fresh:
                return fresh.convert("RGB")
        data, path = _raw_bytes(value, "image")
        source = io.BytesIO(data) if data else path
        if source is None:
            raise MediaError("image has neither bytes nor path")
        with Image.open(source) as image:
            return image.convert("RGB")
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
        raise MediaError(f"sample {sample}: cannot decode image: {exc}") from exc


def open_image_lazily(value: Any):
    """An unloaded ``PIL.Image`` (header read, pixels decoded on first use), or None if broken.

    Keeps lm-eval's up-front request list small: pixels are decoded by the model, late.
    """
    from PIL import Image

    try:
        data, path = _raw_bytes(value, "image")
        return Image.open(io.BytesIO(data) if data else path)
    except Exception:  # noqa: BLE001 - a broken image becomes a per-sample error at scoring
        return None


def image_error(value: Any, sample: str = "?") -> str | None:
    """Why ``value`` cannot be decoded as an image, or None when it decodes."""
    try:
        load_image(value, sample)
    except MediaError as exc:
        return str(exc)
    return None


def load_audio(value: Any, sample: str = "?", sample_rate: int = DEFAULT_SAMPLE_RATE) -> np.ndarray:
    """Mono float32 samples at ``sample_rate`` from a path, bytes, ``{"bytes", "path"}``,
    ``{"array", "sampling_rate"}`` or an ``(array, rate)`` tuple."""
    import librosa
    import soundfile

    try:
        if isinstance(value, tuple):
            array, rate = value
        elif isinstance(value, dict) and "array" in value:
            array, rate = value["array"], value["sampling_rate"]
        else:
            data, path = _raw_bytes(value, "audio")
            if data:
                array, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=False)
            elif path:
                array, rate = librosa.load(path, sr=None, mono=False)
            else:
                raise MediaError("audio has neither bytes nor path")
        array = np.asarray(array, dtype=np.float32)
        if array.ndim > 1:
            # soundfile gives (frames, channels); librosa gives (channels, frames)
            array = array.mean(axis=1 if array.shape[0] > array.shape[1] else 0)
        if rate != sample_rate:
            array = librosa.resample(array, orig_sr=rate, target_sr=sample_rate)
        if array.size == 0:
            raise MediaError("audio has no samples")
        return array
    except MediaError as exc:
        raise MediaError(f"sample {sample}: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - decoder errors vary by backend
        raise MediaError(f"sample {sample}: cannot decode audio: {exc}") from exc


def audio_error(value: Any, sample: str = "?") -> str | None:
    """Why ``value`` cannot be decoded as audio, or None when it decodes."""
    try:
        load_audio(value, sample)
    except MediaError as exc:
        return str(exc)
    return None


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
