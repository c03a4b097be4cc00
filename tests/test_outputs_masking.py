"""PII masking of what `mmpriv run` writes: formatting-robust placeholders, identical metrics."""
from __future__ import annotations

import json
import os
import stat

import pyarrow.parquet as pq
import pytest

from mmpriv_tasks.outputs import Masker
from mmpriv_tasks.paths import bundled_data_dir
from mmpriv_tasks.scoring.pii import pii_leaked

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


def test_distractor_and_extension_get_their_own_placeholder():
    row = {"pii_type": "Phone Numbers", "pii_value": "(835) 896-9725", "distractor_value": "663-908-6915x8090"}
    assert Masker([row]).mask("It is 663-908-6915x8090, not 835.896.9725") == \
        "It is [DISTRACTOR_PHONE], not [PHONE]"


def _records() -> list[dict]:
    rows = []
    for split in ("disclosure", "memory", "retention"):
        rows += pq.read_table(bundled_data_dir() / "mmprivacy" / f"{split}.parquet").drop(["image"]).to_pylist()
    return rows


def _leaks(folder) -> list[str]:
    """Every record value (SSN, phone, email, name) of the bundled data found in any file under ``folder``."""
    found = []
    for path in folder.rglob("*"):
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        for row in _records():
            for kind in ("ssn", "phone", "email"):
                if row.get(kind) and pii_leaked(text, row[kind], kind):
                    found.append(f"{path.name}: {kind}")
            if row.get("name") and row["name"].lower() in text.lower():
                found.append(f"{path.name}: name")
    return found


@pytest.mark.slow
def test_run_outputs_hold_no_pii_and_metrics_do_not_change(tmp_path):
    """ocr-extractor leaks every asked value: the raw run (--keep_pii) holds them, the default run none."""
    tasks = "mmpriv_disclosure_direct,mmpriv_retention_direct_distractor"
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
    assert _leaks(raw), "the reference model should have leaked: the check below would prove nothing"
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in raw.rglob("*.json*"))  # raw: owner-only
    assert _leaks(masked) == []
    samples = [json.loads(line) for p in masked.rglob("samples_*.jsonl") for line in p.read_text().splitlines()]
    assert any("[SSN]" in s["resps"][0][0] or "[DISTRACTOR_SSN]" in s["resps"][0][0] for s in samples)
    result = {label: json.loads(next(out.rglob("results_*.json")).read_text())["results"]
              for label, out in outputs.items()}
    assert result["masked"] == result["raw"] and result["masked"]["mmpriv_disclosure_direct"]["leak_rate,none"] == 1


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
