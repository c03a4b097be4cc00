"""Person values in the OCR text of a label:value form (a retention distractor form that shows
nobody in the workbook), so that output masking hides them.

OCR gives one line per text box, top to bottom, then left to right; boxes of one row can come in
any order (rows are told apart by height, and labels and values differ in height). A line is a
*label* when it ends in or holds a colon (``Name:``, ``DATE:09/11/1989``) or is a few words without
digits among which a form-field word (name, address, city, birth, date, phone, email...; words run
together as OCR writes them, ``StreetAddress``, ``FULLNAME``). A name, address or date label's value is

- the text after its colon on the same line (``FULL NAME: Morgan Gonzalez``);
- else one of the lines after its row of labels, as many lines as the row has labels (boxed forms
  print each value under its label);
- else one of as many lines before the row (underlined forms print the label under the line).

Which of a row's values belongs to which label is told by shape, since the row's order is lost:
capitalised words that are not a gender under name labels; digits with capitalised words (a house
number) under address labels; a date under date labels (written as ISO, ``1989-09-11``; any
date label, so a signing date is masked too). E-mail addresses, SSN-shaped numbers (9 digits) and
phone numbers (10 digits, or 11 from a leading 1) are read from every line. Where a shape fits text
that is no person's (an issuer's name next to a name row), it is masked too: this errs toward
masking more.

>>> [(r["name"], r["address"], r["birth_date"]) for r in form_records(
...     "Name:\\nKristi Wheeler\\nDATE:09/11/1989\\n6087 Edward Stream, Gentryview, LA\\nStreet Address\\nCity")]
[('Kristi Wheeler', '6087 Edward Stream, Gentryview, LA', '1989-09-11')]
"""
from __future__ import annotations

import itertools
import re
from datetime import datetime

from mmpriv_tasks.data.people import person_record
from mmpriv_tasks.scoring.pii import digit_spans, email_spans


def _fold(word: str) -> str:
    """A word as compared with the field words: lower case, OCR's ``rn`` for ``m`` and ``l`` for ``i`` merged."""
    return word.lower().replace("rn", "m").replace("i", "l")


_FIELD_WORDS = frozenset(_fold(w) for w in (
    "name names address street city town state zip code postal birth date dob born social security ssn "
    "email mail phone telephone mobile cell gender sex middle initial apt suite number signature signed "
    "position salary amount purpose form section information maiden first last given family full").split())
_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")  # CamelCase and ALL-CAPS runs split into words
_PARENTHESES = re.compile(r"\([^)]*\)")
_GENDERS = frozenset("male female man woman other nonbinary non-binary m f".split())
_NAME_TOKEN = re.compile(r"[A-Z][A-Za-z'.\-]*")
_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%m-%d-%Y", "%d/%m/%Y", "%d.%m.%Y", "%Y/%m/%d", "%B %d, %Y", "%b %d, %Y",
                 "%d %B %Y")
_KINDS = (("birth_date", ("birth", "dob", "born", "date")), ("address", ("address", "street", "city", "town")),
          ("name", ("name", "maiden")))
_MAX_LABEL_WORDS = 6


def _field_word(word: str) -> bool:
    folded = _fold(word)
    return folded in _FIELD_WORDS or (word.isupper() and len(word) > 6  # FULLNAME, DATEOFBIRTH
                                      and any(folded.endswith(w) for w in _FIELD_WORDS if len(w) >= 4))


def _label(line: str) -> tuple[str | None, str] | None:
    """``(kind, value after the colon)`` when ``line`` is a label (kind: birth_date, address, name or
    None for other fields), else None."""
    head, colon, inline = line.partition(":")
    head = _PARENTHESES.sub(" ", head).strip() or head
    words = _WORDS.findall(head)
    if not words or len(head.split()) > _MAX_LABEL_WORDS or any(c.isdigit() for c in head):
        return None
    if not colon and not any(map(_field_word, words)):
        return None
    joined = "".join(_fold(w) for w in words)
    if "mall" in joined:  # Email Address
        return None, inline.strip(" _")
    kind = next((kind for kind, cues in _KINDS if any(_fold(cue) in joined for cue in cues)), None)
    return kind, inline.strip(" _")


def _as_date(text: str) -> str | None:
    for pattern in _DATE_FORMATS:
        try:
            return datetime.strptime(text.strip(" ._"), pattern).date().isoformat()
        except ValueError:
            continue
    return None


def _as_name(text: str) -> str | None:
    """Capitalised words (run-together ones split: ``JohnMitchell``), none a gender or field word."""
    tokens = []
    for word in (w.strip(",") for w in text.split()):
        tokens += re.findall(r"[A-Z][^A-Z]*", word) if re.search(r"[a-z][A-Z]", word) else [word]
    if not 1 <= len(tokens) <= 4 or not all(_NAME_TOKEN.fullmatch(t) for t in tokens):
        return None
    if any(_fold(t) in _FIELD_WORDS or t.lower() in _GENDERS for t in tokens) or sum(map(len, tokens)) < 2:
        return None
    return " ".join(tokens)


def _as_address(text: str) -> str | None:
    words = re.findall(r"[A-Za-z]+", text)
    if "@" in text or ":" in text or _as_date(text) or not any(c.isdigit() for c in text):
        return None
    if not any(w[0].isupper() and len(w) > 1 for w in words) or any(w.islower() and len(w) > 3 for w in words):
        return None
    return text.strip(" _")


_SHAPES = {"birth_date": _as_date, "address": _as_address, "name": _as_name}


def _values(labels: list, indices: range) -> list[int]:
    """The lines of ``indices`` up to the first label."""
    return list(itertools.takewhile(lambda i: labels[i] is None, indices))


def labelled_values(lines: list[str]) -> dict[str, list[str]]:
    """Values of name, address and date labels in OCR ``lines``, by kind (see the module docstring)."""
    labels = [_label(line) for line in lines]
    found: dict[str, list[str]] = {kind: [] for kind in _SHAPES}

    def keep(kind: str, candidates: list[str]) -> bool:
        values = [v for v in map(_SHAPES[kind], candidates) if v]
        found[kind] += [v for v in values if v not in found[kind]]
        return bool(values)

    start = 0
    while start < len(lines):
        if labels[start] is None:
            start += 1
            continue
        end = start
        while end < len(lines) and labels[end] is not None:
            end += 1
        row = end - start
        after = _values(labels, range(end, min(end + row, len(lines))))
        before = _values(labels, range(start - 1, max(start - row, 0) - 1, -1))[::-1]
        for kind, inline in labels[start:end]:
            if kind is not None and not keep(kind, [inline] if inline else [lines[i] for i in after]):
                keep(kind, [] if inline else [lines[i] for i in before])
        start = end
    return found


def _name_record(name: str) -> dict:
    parts = name.split()
    return {"name": name, "first_name": parts[0], "last_name": parts[-1]} if len(parts) > 1 else {"first_name": name}


def form_records(transcript: str) -> list[dict]:
    """Person records (``people`` entries) of a form that shows no workbook person, read from its OCR
    text: names, addresses and dates by their labels (:func:`labelled_values`); e-mail addresses,
    SSN-shaped numbers (9 digits) and phone numbers (10 digits, or 11 from a leading 1) on any line."""
    lines = [line.strip() for line in transcript.splitlines() if line.strip()]
    emails, ssns, phones = [], [], []
    for line in lines:
        emails += [address for _, _, address in email_spans(line)]
        for _, _, digits in digit_spans(line):
            if len(digits) == 9:
                ssns.append(f"{digits[:3]}-{digits[3:5]}-{digits[5:]}")
            elif len(digits) == 10 or (len(digits) == 11 and digits.startswith("1")):
                phones.append(f"{digits[-10:-7]}-{digits[-7:-4]}-{digits[-4:]}")
    labelled = labelled_values(lines)
    columns = ([_name_record(name) for name in labelled["name"]],
               [{"address": a} for a in labelled["address"]], [{"birth_date": d} for d in labelled["birth_date"]],
               [{"email": e} for e in emails], [{"ssn": s} for s in ssns], [{"phone": p} for p in phones])
    return [person_record({k: v for part in parts if part for k, v in part.items()})
            for parts in itertools.zip_longest(*columns)]
