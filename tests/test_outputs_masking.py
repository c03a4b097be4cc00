"""PII masking of what `mmpriv run` writes: formatting-robust placeholders, identical metrics."""
from __future__ import annotations

import json
import os
import re
import stat

import pytest

from mmpriv_tasks.outputs import Masker

from conftest import run_cli, venv_bin

RECORD = {"name": "Sarah Chang", "first_name": "Sarah", "last_name": "Chang", "birth_date": "1971-08-27",
          "address": "4759 William Haven Apt. 194, West Corey, CA 90152", "email": "sarah.chang@yahoo.com",
          "phone": "724.697.6634", "ssn": "367-75-3579", "pii_type": "ssn", "pii_value": "367-75-3579"}


@pytest.mark.parametrize("text, expected", [
    ("SSN: 367 75 3579.", "SSN: [SSN]."),
    ("three six seven seven five three five seven nine", "[SSN]"),
    ("Mail SARAH.CHANG [at] yahoo [dot] com now", "Mail [EMAIL] now"),
    ("call (724) 697-6634 or +1 724 697 6634", "call [PHONE] or [PHONE]"),
    ("sarah   chang lives at 4759 William Haven Apt. 194, West Corey, CA 90152",
     "[NAME] lives at [ADDRESS]"),
    ("Born August 27, 1971; filed 08/27/1971.", "Born [BIRTH_DATE]; filed [BIRTH_DATE]."),
    ("Ms. Chang said hi; the change is fine", "Ms. [NAME] said hi; the change is fine"),
    ("Email: sarah.chang@yahoo.com. Next", "Email: [EMAIL]. Next"),
    ("ends in 3579", "ends in 3579"),  # a partial value is not the value
])
def test_values_are_masked_whatever_their_formatting(text, expected):
    assert Masker([RECORD]).mask(text) == expected


def test_a_repeated_text_is_scanned_once_and_the_memo_stays_bounded(monkeypatch):
    masker = Masker([RECORD])
    scanned = []
    spans = masker.spans
    monkeypatch.setattr(masker, "spans", lambda text: scanned.append(text) or spans(text))
    monkeypatch.setattr(Masker, "MEMO_SIZE", 2)
    texts = ["SSN 367-75-3579", "SSN 367-75-3579", "hello", "SSN 367-75-3579", "x", "y", "SSN 367-75-3579"]
    assert [masker.mask(t) for t in texts] == ["SSN [SSN]", "SSN [SSN]", "hello", "SSN [SSN]", "x", "y", "SSN [SSN]"]
    assert scanned == ["SSN 367-75-3579", "hello", "x", "y", "SSN 367-75-3579"]  # forgotten once 2 were held


OCR_PEOPLE = [RECORD, {"name": "Isabel Rivers", "first_name": "Isabel", "last_name": "Rivers",
                        "phone": "674.978.5877x19566", "address": "PSC 4159, Box 2066, APO AE 14033"},
              {"name": "Bo Adam", "first_name": "Bo", "last_name": "Adam", "address": "4 Summit Commons"},
              {"first_name": "Tom", "last_name": "Emery", "address": "7 Mill Summit"}]


@pytest.mark.parametrize("text, expected", [
    ("Address 4759WilliamHavenApt.194,WestCorey,CA90152.", "Address [ADDRESS]."),  # words run together
    ("4759WiIliamHavenApt.l94,WestC0rey,CA 9O152", "[ADDRESS]"),  # look-alikes: I/l/1, O/0
    ("PSC4159,B0X2066,APOAE14033", "[ADDRESS]"),
    ("4 7 5 9 William Haven", "4 7 5 9 William Haven"),  # part of a value is not the value
    ("Chang\nSarah\nSarahChang CHANG", "[NAME]\n[NAME]\n[NAME] [NAME]"),
    ("sarah.chang@yah0o.corn, SARAH CHANG YAHOO COM", "[EMAIL], [EMAIL]"),  # 0/o, rn/m
    ("Born 1971-O8-27, phone 674.978.5877\u00d719566", "Born [BIRTH_DATE], phone [PHONE]"),  # x read as a times sign
    ("lsabel and Isabel, not isabel", "[NAME] and [NAME], not isabel"),  # l for I starts a capitalised word
    ("RiversideCenter; Rivers and RIVERS, not rivers", "RiversideCenter; [NAME] and [NAME], not rivers"),
    ("Changes, CHANGES, Chang's", "Changes, CHANGES, [NAME]'s"),  # a longer word is another word
    ("AdamW, 80 runs, Tomás, Torn, Emerys", "AdamW, 80 runs, Tomás, Torn, Emerys"),
    ("Em ery, Ad am", "Em ery, Ad am"),  # a one-word value is not split
    ("Ernery, 7MiIlSurnmit", "[NAME], [ADDRESS]"),  # rn/m from five letters on, any mix of up to three
    ("4SurnrnitCornrnons; 4 SurnmitCommons", "[ADDRESS]; 4 SurnmitCommons"),  # beyond three: all or none
    ("İstanbul: SARAH CHANG", "İstanbul: [NAME]"),  # İ lower-cases to two characters: offsets still right
])
def test_values_are_masked_as_ocr_writes_them(text, expected):
    assert Masker(OCR_PEOPLE).mask(text) == expected


def test_no_records_mask_nothing():
    assert Masker([]).mask("Sarah Chang, 367-75-3579") == "Sarah Chang, 367-75-3579"


def test_distractor_and_extension_get_their_own_placeholder():
    row = {"pii_type": "Phone Numbers", "pii_value": "(835) 896-9725", "distractor_value": "663-908-6915x8090"}
    assert Masker([row]).mask("It is 663-908-6915x8090, not 835.896.9725") == \
        "It is [DISTRACTOR_PHONE], not [PHONE]"


VALUE_FIELDS = ("name", "address", "birth_date", "email", "phone", "ssn", "pii_value", "distractor_value")
LOOKALIKES = str.maketrans("01i5", "olls")


def _squeezed(text: str) -> str:
    """Letters and digits only, lower case, OCR look-alikes merged (0/o, 1/l/i, 5/s, a times sign for x)."""
    return re.sub(r"[\W_]+", "", text.replace("\u00d7", "x")).lower().translate(LOOKALIKES)


def _people(folder) -> list[dict]:
    """Every person record the docs of the run in ``folder`` carry: each doc's own fields and its people."""
    docs = [json.loads(line)["doc"] for path in sorted(folder.rglob("samples_*.jsonl"))
            for line in path.read_text(encoding="utf-8").splitlines()]
    return [person for doc in docs for person in (doc, *doc.get("people", []))]


def _name_part_re(part: str) -> re.Pattern:
    """``part`` as a capitalised word (alone or inside a run-together token: JenniferMeadows, not as the
    start of a longer word: Riverside) or as an ALL-CAPS word."""
    word, caps = re.escape(part), re.escape(part.upper())
    return re.compile(rf"(?:(?<![A-Za-z])|(?<=[a-z])){word}(?![a-z])|(?<![A-Za-z]){caps}(?![A-Za-z])")


def _leaks(text: str, people: list[dict]) -> list[str]:
    """Every value of ``people`` in ``text``, spaced or run together, in any case, with OCR look-alikes,
    and every first or last name of 6+ letters as a word (see :func:`_name_part_re`)."""
    flat = _squeezed(text)
    found = [f"{field} {person[field]}" for person in people for field in VALUE_FIELDS
             if isinstance(person.get(field), str) and person[field].strip() and _squeezed(person[field]) in flat]
    parts = {person.get(key) or "" for person in people for key in ("first_name", "last_name")}
    return found + sorted(part for part in parts if len(part) >= 6 and _name_part_re(part).search(text))


def _file_leaks(folder, people) -> list[str]:
    return [f"{path.name}: {leak}" for path in sorted(folder.rglob("*")) if path.is_file()
            for leak in _leaks(path.read_text(encoding="utf-8"), people)]


@pytest.mark.slow
def test_run_outputs_hold_no_pii_and_metrics_do_not_change(tmp_path):
    """ocr-extractor leaks every asked value and transcribes control forms as OCR writes them (words run
    together, look-alike letters): the raw run (--keep_pii) holds them, the default run none."""
    tasks = "mmpriv_disclosure_direct,mmpriv_retention_direct_distractor,mmpriv_disclosure_control"
    outputs = {}
    for label, extra in (("masked", []), ("raw", ["--keep_pii"])):
        out = tmp_path / label
        proc = run_cli(venv_bin("mmpriv"), "run", "--model", "ocr-extractor", "--tasks", tasks, "--limit", "3",
                       "--output_path", str(out), *extra, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "max_seq_lengths" not in proc.stderr and "--limit SHOULD ONLY BE USED" in proc.stderr  # hint gone
        outputs[label] = out
        if label == "raw":
            assert "unmasked" in proc.stderr  # the warning
    masked, raw = outputs["masked"], outputs["raw"]
    assert [p.name for p in masked.iterdir()] == ["ocr-extractor"]  # named after the model, not random
    people = _people(raw)
    # 3 asked, 3 on control forms, and each retention item's memory person and distractor (3 distractors
    # and 1-3 memory persons, as the bundled items repeat persons): the docs list everyone they show
    assert len({person["name"] for person in people if person.get("name")}) >= 10
    replies = " ".join(json.loads(line)["resps"][0][0] for path in raw.rglob("samples_*.jsonl")
                       for line in path.read_text(encoding="utf-8").splitlines())
    run_together = [person["address"] for person in people
                    if person.get("address") and person["address"] not in replies and _leaks(replies, [person])]
    assert run_together, "OCR should have written addresses run together: the check below would prove nothing"
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in raw.rglob("*.json*"))  # raw: owner-only
    assert _file_leaks(masked, people) == []
    samples = [json.loads(line) for p in masked.rglob("samples_*.jsonl") for line in p.read_text().splitlines()]
    assert any("[SSN]" in s["resps"][0][0] or "[DISTRACTOR_SSN]" in s["resps"][0][0] for s in samples)
    assert any("[ADDRESS]" in s["resps"][0][0] for s in samples)  # a transcribed form
    result = {label: json.loads(next(out.rglob("results_*.json")).read_text())["results"]
              for label, out in outputs.items()}
    assert result["masked"] == result["raw"] and result["masked"]["mmpriv_disclosure_direct"]["leak_rate,none"] == 1


def test_leak_check_finds_values_as_ocr_writes_them():
    """The check of the run test: run-together and look-alike values found, a name inside a longer word not."""
    text = "Address 4759WiIliamHavenApt.l94,WestCorey,CA9O152 born 1971-08-27; SarahChang; Changes"
    assert _leaks(text, [RECORD]) == ["name Sarah Chang", "address 4759 William Haven Apt. 194, West Corey, CA 90152",
                                      "birth_date 1971-08-27"]
    assert _leaks("RiversideCenter, RIVERSIDE", [{"last_name": "Rivers"}]) == []
    assert _leaks("MeadowsRivers, RIVERS", [{"last_name": "Rivers"}]) == ["Rivers"]


def test_keep_pii_flag_is_not_passed_to_lm_eval_and_staging_is_private(tmp_path, monkeypatch, capsys):
    from mmpriv_tasks.outputs import private_outputs

    monkeypatch.delenv("MMPRIV_KEEP_PII", raising=False)
    with private_outputs(["--tasks", "x", "--keep_pii", "--output_path", str(tmp_path / "out")]) as argv:
        assert "--keep_pii" not in argv
        staging = argv[argv.index("--output_path") + 1]
        assert stat.S_IMODE(os.stat(staging).st_mode) == 0o700
    assert not os.path.exists(staging) and "unmasked" in capsys.readouterr().err
    monkeypatch.setenv("MMPRIV_KEEP_PII", "1")
    with private_outputs(["--output_path", str(tmp_path / "out")]):
        pass
    assert "unmasked" in capsys.readouterr().err
    monkeypatch.setenv("MMPRIV_KEEP_PII", "0")
    with private_outputs(["--output_path", str(tmp_path / "out")]):
        pass
    assert "unmasked" not in capsys.readouterr().err


def test_response_cache_is_owner_only(tmp_path):
    """The API / judge response cache keeps raw replies: 0700 folder, 0600 files."""
    from mmpriv_tasks.api.client import ResponseCache

    cache = ResponseCache(tmp_path / "cache")
    cache.put("key", "SSN 367-75-3579")
    cache.close()
    assert stat.S_IMODE(os.stat(tmp_path / "cache").st_mode) == 0o700
    files = list((tmp_path / "cache").iterdir())
    assert files and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
