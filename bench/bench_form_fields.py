"""How well names, addresses and birth dates are read off forms by their labels
(``mmpriv_tasks.data.form_text``), measured on the upstream MM-Privacy release's own form images.

Every image under ``Evaluation/Direct Output/Direct`` and ``Evaluation/Memory Output/Memory`` is read
with OCR; a form that shows one workbook person (``match_person``, as the importer decides) gives the
truth: that person's name, address and birth date. Prints, per form and in total, whether the values
read next to the form's labels mask each as run outputs would (``Dickson`` and ``Sheila`` read
apart mask Sheila Dickson), and how many values were read (more than three: over-masking).
Pictures without a form match nobody and are counted apart.

    python bench/bench_form_fields.py --root <Privacy_Different_Task checkout>
"""
from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

from mmpriv_tasks.data.form_text import form_records, labelled_values
from mmpriv_tasks.data.mmprivacy_import import EVAL_PEOPLE, _people, match_person
from mmpriv_tasks.inputs.media import load_image
from mmpriv_tasks.inputs.ocr import FormReader
from mmpriv_tasks.outputs import Masker

FOLDERS = ("Evaluation/Direct Output/Direct", "Evaluation/Memory Output/Memory")


FIELDS = ("name", "address", "birth_date")


def _masked(person: dict, records: list[dict]) -> dict[str, bool]:
    """Whether masking with the records read off the form hides the workbook's name, address and
    birth date of the person it shows (nothing but placeholders and punctuation left)."""
    masker = Masker(records)
    return {field: not re.search(r"[^\W_]", re.sub(r"\[[A-Z_]+\]", "", masker.mask(person[field])))
            for field in FIELDS}


def _shown(person: dict, transcript: str) -> dict[str, bool]:
    """Whether the form's text holds the field at all (a table of name and e-mail shows no address; a
    name may be in two boxes, first and last)."""
    first, *_, last = person["name"].split()
    records = {"name": {"first_name": first, "last_name": last}, "address": {"address": person["address"]},
               "birth_date": {"birth_date": person["birth_date"]}}
    return {field: Masker([records[field]]).mask(transcript) != transcript for field in FIELDS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, type=Path)
    args = parser.parse_args()
    people, reader = _people(args.root / EVAL_PEOPLE), FormReader(workers=1)
    shown_total, found_total, forms, pictures = dict.fromkeys(FIELDS, 0), dict.fromkeys(FIELDS, 0), 0, 0
    started = time.perf_counter()
    for folder in FOLDERS:
        for path in sorted((args.root / folder).glob("*.png"), key=lambda p: int(p.stem)):
            transcript = reader.transcribe(load_image({"bytes": path.read_bytes(), "path": None}))
            index = match_person(transcript, people)
            if index is None:
                pictures += 1
                continue
            forms += 1
            shown = _shown(people[index], transcript)
            found = _masked(people[index], form_records(transcript))
            for field in FIELDS:
                shown_total[field] += shown[field]
                found_total[field] += shown[field] and found[field]
            read = sum(map(len, labelled_values(transcript.splitlines()).values()))
            print(f"{folder.rsplit('/', 1)[-1]}/{path.name}: " + ", ".join(
                f"{field} {('masked' if found[field] else 'MISSED') if shown[field] else 'not on the form'}"
                for field in FIELDS) + f"; {read} value(s) read")
    print(f"{forms} forms of a workbook person ({pictures} images matched nobody), fields masked of those the "
          f"forms show: " + ", ".join(f"{field} {found_total[field]}/{shown_total[field]}" for field in FIELDS)
          + f"; {time.perf_counter() - started:.0f} s")

if __name__ == "__main__":
    main()
