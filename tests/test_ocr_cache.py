"""The on-disk OCR transcript cache: owner-only files keyed by the image and the engine settings,
read back instead of running OCR, through FormReader and through `mmpriv run --model ocr-extractor`."""
from __future__ import annotations

import io
import json
import stat

import pyarrow.parquet as pq
import pytest
from PIL import Image

from mmpriv_tasks.inputs import ocr
from mmpriv_tasks.paths import bundled_data_dir

from conftest import run_cli, venv_bin

TASK = "mmpriv_disclosure_direct"


def _forms(count: int) -> list[bytes]:
    table = pq.read_table(bundled_data_dir() / "mmprivacy" / "disclosure.parquet", columns=["image"])
    return [cell["bytes"] for cell in table.column("image").to_pylist()[:count]]


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_transcripts_are_stored_owner_only_and_read_back_without_ocr(tmp_path, monkeypatch):
    forms = _forms(2)
    cache = tmp_path / "ocr"
    first = ocr.FormReader(workers=1, cache_dir=cache).transcribe_many(forms + forms[:1])
    files = sorted(cache.iterdir())
    assert len(files) == 2 and "@" in first[0] and first[2] == first[0]
    assert _mode(cache) == 0o700 and [_mode(f) for f in files] == [0o600, 0o600]

    def no_ocr(*args):
        raise AssertionError("OCR ran on a cached image")

    monkeypatch.setattr(ocr, "_read", no_ocr)
    assert ocr.FormReader(workers=1, cache_dir=cache).transcribe_many(forms) == first[:2]
    monkeypatch.setitem(ocr.ENGINE_SETTINGS, "use_cls", True)  # other settings: another key
    with pytest.raises(AssertionError, match="OCR ran"):
        ocr.FormReader(workers=1, cache_dir=cache).transcribe_many(forms[:1])


def test_a_wider_cache_folder_is_narrowed_to_owner_only(tmp_path):
    cache = tmp_path / "ocr"
    cache.mkdir(mode=0o755)
    ocr.TranscriptCache(cache).put("k", "text")
    assert _mode(cache) == 0o700 and _mode(cache / "k.txt") == 0o600
    assert ocr.TranscriptCache(cache).get("k") == "text" and ocr.TranscriptCache(cache).get("other") is None


def test_the_cache_key_names_the_line_reading_and_a_pil_image_is_read_once(tmp_path, monkeypatch):
    key = ocr.TranscriptCache(tmp_path / "a").key(b"image")
    monkeypatch.setattr(ocr, "LINE_READING", "padded")
    assert ocr.TranscriptCache(tmp_path / "b").key(b"image") != key
    reads = []
    monkeypatch.setattr(ocr, "_read", lambda engine, pixels: reads.append(pixels.shape) or f"text {len(reads)}")
    monkeypatch.setattr(ocr, "_engine", lambda: "engine")
    reader = ocr.FormReader(workers=1)
    image = Image.open(io.BytesIO(_forms(1)[0]))
    assert [reader.transcribe(image), reader.transcribe(image.copy())] == ["text 1", "text 1"] and len(reads) == 1


def _run(cache, out, *extra):
    done = run_cli(venv_bin("mmpriv"), "run", "--model", "ocr-extractor", "--tasks", TASK, "--limit", "4",
                   "--output_path", str(out), *extra, env={ocr.OCR_CACHE_ENV: str(cache)})
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(next(out.rglob("results_*.json")).read_text())["results"][TASK]


def test_a_rerun_of_ocr_extractor_reads_the_cached_transcripts(tmp_path):
    cache = tmp_path / "ocr"
    first = _run(cache, tmp_path / "first")
    files = sorted(cache.glob("*.txt"))
    assert first["leak_rate,none"] > 0 and len(files) == 4 and {_mode(f) for f in files} == {0o600}
    for file in files:  # plant transcripts without any PII: a re-run that reads them leaks nothing
        file.write_text("NAME ONLY")
    assert _run(cache, tmp_path / "second")["leak_rate,none"] == 0
    off = _run(cache, tmp_path / "third", "--model_args", "cache=false")
    assert off["leak_rate,none"] == first["leak_rate,none"]


@pytest.mark.slow
def test_line_reader_reads_each_line_once_at_its_own_width_and_changes_no_transcript():
    """Forms of one layout share their label lines pixel for pixel: each is read once, short lines
    without RapidOCR's padding to 320 px, and every transcript equals RapidOCR's own (line ends
    stripped)."""
    table = pq.read_table(bundled_data_dir() / "mmprivacy" / "control.parquet", columns=["image"])
    forms = [cell["bytes"] for cell in table.column("image").to_pylist()][:4]
    plain = ocr._engine_class()(**ocr.ENGINE_SETTINGS)
    ours = ocr._engine()
    recogniser = ours.text_rec._recogniser
    widths = []
    session = recogniser.session

    def recording(pixels):
        widths.append(pixels.shape[-1])
        return session(pixels)

    recogniser.session = recording
    lines_seen, plain_texts = [], []
    for data in forms:
        result, _ = plain(ocr._pixels(data))
        lines_seen.append(len(result))
        plain_texts.append(ocr._read(plain, ocr._pixels(data)))
    our_texts = [ocr._read(ours, ocr._pixels(data)) for data in forms]
    assert our_texts == plain_texts
    assert len(widths) < 0.9 * sum(lines_seen) and min(widths) < 320 <= max(widths)
    # top to bottom, then left to right: the title first, the first row's labels side by side
    assert our_texts[0].startswith("Personal Information Form\n")
    assert "\nLast Name (Family Name)\nFirst Name (Given Name)\nGender\n" in our_texts[0]
    crop = ocr._pixels(forms[0])[:48, :400]  # word boxes are RapidOCR's own reading
    assert ours.text_rec([crop], True)[0] == plain.text_rec([crop], True)[0]
