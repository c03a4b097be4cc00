"""Masking time per MB of hostile text, up to one unbroken 1 MB token (goal: linear, flat per MB).

Each shape is a text of N characters that the span finders (``pii.email_spans``, ``pii.digit_spans``)
and :class:`outputs.Masker` must scan: one unbroken token of letters, a token of email characters
with no ``@``, a run of digits and separators, a long ``a.a.a...`` domain after an ``@``, a long
whitespace run, ordinary prose holding a record's values, and a form as OCR writes it (words run
together, look-alike characters). Prints seconds and seconds per MB
for each size, and the ratio of the per-MB time at the largest size to the smallest.

    python bench/bench_masking.py [--sizes 10000,100000,1000000]
"""
from __future__ import annotations

import argparse
import time

from mmpriv_tasks.outputs import Masker

RECORD = {"name": "Sarah Chang", "first_name": "Sarah", "last_name": "Chang", "birth_date": "1971-08-27",
          "address": "4759 William Haven Apt. 194, West Corey, CA 90152", "email": "sarah.chang@yahoo.com",
          "phone": "724.697.6634", "ssn": "367-75-3579", "pii_type": "ssn", "pii_value": "367-75-3579"}
PROSE = "Sarah Chang (sarah.chang@yahoo.com, 724-697-6634, SSN 367 75 3579) lives in West Corey. "
OCR_FORM = "Chang\nSarah\n4759WilliamHavenApt.l94,WestCorey,CA9O152\n1971-08-27\nRiversideCommunityCenter\n"

SHAPES = {
    "letters": lambda n: "a" * n,
    "email_chars": lambda n: ("a.b_c+" * n)[:n],
    "digits": lambda n: ("1 2-3." * n)[:n],
    "domain": lambda n: "x@" + ("a." * n)[:n - 2],
    "spaces": lambda n: "a" + " " * (n - 2) + "@",
    "dot_words": lambda n: ("a dot " * n)[:n],
    "prose": lambda n: (PROSE * (n // len(PROSE) + 1))[:n],
    "ocr_form": lambda n: (OCR_FORM * (n // len(OCR_FORM) + 1))[:n],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    sizes = [int(s) for s in parser.parse_args().sizes.split(",")]
    masker = Masker([RECORD])
    print(f"{'shape':<12}" + "".join(f"{f'{n:,} chars':>22}" for n in sizes) + f"{'ratio':>8}")
    for shape, make in SHAPES.items():
        per_mb, cells = [], []
        for n in sizes:
            text = make(n)
            start = time.perf_counter()
            masker.mask(text)
            seconds = time.perf_counter() - start
            per_mb.append(seconds / (n / 1e6))
            cells.append(f"{seconds:7.3f} s ({per_mb[-1]:6.2f} s/MB)")
        print(f"{shape:<12}" + "".join(f"{c:>22}" for c in cells) + f"{per_mb[-1] / per_mb[0]:8.2f}", flush=True)


if __name__ == "__main__":
    main()
