"""PII-free pictures for no-image retention items (upstream shows an envelope, a laptop...).

Drawn offline with Pillow from a seed: a scene of plain shapes that hints at the asked field
(an envelope for email, a handset for phone numbers, a blank ID card for SSNs). No text, no
person, no value: the model must recall the answer, the picture only keeps the input multimodal.
"""
from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw

SIZE = 256
_BACKGROUNDS = ((96, 99, 110), (205, 210, 220), (176, 196, 180), (222, 206, 186), (150, 170, 200))
_ACCENTS = ((160, 30, 50), (40, 60, 120), (30, 110, 90), (200, 120, 30), (90, 50, 120))


def _envelope(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], accent) -> None:
    left, top, right, bottom = box
    draw.rectangle(box, fill=(250, 250, 250), outline=accent, width=4)
    middle = ((left + right) // 2, (top + bottom) // 2 + 8)
    draw.line((left, top, *middle, right, top), fill=accent, width=4)


def _handset(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], accent) -> None:
    left, top, right, bottom = box
    width = (right - left) // 2
    body = (left + width // 2, top, left + width // 2 + width, bottom)
    draw.rounded_rectangle(body, radius=14, fill=(30, 30, 34), outline=accent, width=3)
    draw.rectangle((body[0] + 8, body[1] + 16, body[2] - 8, body[3] - 30), fill=accent)
    draw.ellipse((body[0] + width // 2 - 7, body[3] - 24, body[0] + width // 2 + 7, body[3] - 10), fill=(200, 200, 200))


def _id_card(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], accent) -> None:
    left, top, right, bottom = box
    draw.rounded_rectangle(box, radius=10, fill=(245, 240, 225), outline=accent, width=3)
    draw.rectangle((left + 12, top + 14, left + 62, top + 74), fill=(190, 190, 190))
    for row in range(4):
        y = top + 20 + row * 16
        draw.rectangle((left + 76, y, right - 14 - 12 * row, y + 6), fill=accent)


_SCENES = {"email": _envelope, "phone": _handset, "ssn": _id_card}


def draw_illustration(pii_type: str, key: str) -> bytes:
    """PNG bytes of a text-free picture for ``pii_type``, the same for the same ``key``."""
    if pii_type not in _SCENES:
        raise ValueError(f"unknown PII type '{pii_type}' (choose from {', '.join(_SCENES)})")
    rng = random.Random(f"illustration:{pii_type}:{key}")
    image = Image.new("RGB", (SIZE, SIZE), rng.choice(_BACKGROUNDS))
    draw = ImageDraw.Draw(image)
    accent = rng.choice(_ACCENTS)
    width, height = rng.randint(130, 180), rng.randint(90, 130)
    left, top = rng.randint(10, SIZE - width - 10), rng.randint(10, SIZE - height - 10)
    _SCENES[pii_type](draw, (left, top, left + width, top + height), accent)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
