"""Masking is linear in the text: one unbroken 1 MB token (letters, address characters, a domain of
many labels, a whitespace run) is scanned in seconds, and values next to it are still masked."""
from __future__ import annotations

import time

import pytest

from mmpriv_tasks.outputs import Masker
from mmpriv_tasks.scoring.pii import email_spans

RECORD = {"name": "Sarah Chang", "email": "sarah.chang@yahoo.com", "ssn": "367-75-3579"}
MB = 1_000_000


@pytest.mark.parametrize("hostile", ["a" * MB, ("a.b_c+" * MB)[:MB], "x@" + "a." * (MB // 2), "a" + " " * MB + "@",
                                     "a dot " * (MB // 6)])
def test_a_1mb_token_is_masked_in_seconds(hostile):
    start = time.perf_counter()
    masked = Masker([RECORD]).mask(f"{hostile} sarah.chang@yahoo.com 367 75 3579")
    assert time.perf_counter() - start < 30  # quadratic: 20k characters took 11 s, 1 MB never ended
    assert masked.endswith(" [EMAIL] [SSN]")


@pytest.mark.parametrize("text, expected", [
    ("mailto:Jane.Doe@example.com", [(7, 27, "jane.doe@example.com")]),
    ("jane dot doe at example dot com", [(0, 31, "jane.doe@example.com")]),
    ("jane (at) example [dot] com", [(0, 27, "jane@example.com")]),
    ("jane" + " " * 9 + "@example.com", []),  # gaps are at most 8 spaces
    ("a@b." + "c." * 20 + "d", [(0, 35, "a@b" + ".c" * 16)]),  # at most 16 labels after the first
    ("ab@cd", []),  # no dot in the domain
])
def test_email_spans_edges(text, expected):
    assert email_spans(text) == expected
