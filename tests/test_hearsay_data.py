"""HearSay data: importers (HearSay label layout, Common Voice) on generated fixtures, the CLI, and
the bundled TTS mini set."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile

from mmpriv_tasks.commands import cli
from mmpriv_tasks.data import hearsay as hs
from mmpriv_tasks.inputs.media import load_audio
from mmpriv_tasks.paths import bundled_data_dir
from mmpriv_tasks.scoring.attribute_schema import LABELS
from mmpriv_tasks.inputs.task_data import load_split, media_cell

RATE = 16_000


def tone(f0: float, seconds: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * f0 * t) + 0.1 * np.sin(4 * np.pi * f0 * t)).astype(np.float32)


def write_hearsay_checkout(root: Path, per_class: int = 3) -> Path:
    """A HearSay checkout in the upstream layout: dataset/label/<Attr>/<Class>.csv (BOM, name,value,
    file_path relative to the checkout) and dataset/audio/<Folder>/<Class>/<file>."""
    layout = {  # label folder -> (audio folder, classes, extension)
        "age": ("Age", ["20-30", "30-40"], "wav"),
        "gender": ("Gender", ["Female", "Male"], "wav"),
        "Accent": ("Accent", ["Arabic", "South_Asia"], "mp3"),
        "health_status": ("Health Condition", ["healthy", "illness"], "wav"),
        "Education": ("Education", ["Bachelors_Degree", "Doctorate"], "wav"),
    }
    for folder, (audio_folder, classes, ext) in layout.items():
        (root / "dataset" / "label" / folder).mkdir(parents=True, exist_ok=True)
        for c, cls in enumerate(classes):
            clip_dir = root / "dataset" / "audio" / audio_folder / cls
            clip_dir.mkdir(parents=True, exist_ok=True)
            with open(root / "dataset" / "label" / folder / f"{cls}.csv", "w", newline="", encoding="utf-8-sig") as fh:
                writer = csv.writer(fh)
                writer.writerow(["name", "value", "file_path"])
                for k in range(per_class):
                    name = f"{cls}_{k + 1:03d}.{ext}"
                    soundfile.write(clip_dir / name, tone(110 + 110 * c + k), RATE,
                                    format="MP3" if ext == "mp3" else "WAV")
                    writer.writerow([name, cls, f"./dataset/audio/{audio_folder}/{cls}/{name}"])
    return root


def write_commonvoice(root: Path) -> Path:
    """A Common Voice language folder: validated.tsv + clips/*.mp3."""
    (root / "clips").mkdir(parents=True)
    rows = [  # client_id, age, gender, accents
        ("c1", "thirties", "male_masculine", "India and South Asia (India, Pakistan, Sri Lanka)"),
        ("c2", "twenties", "female_feminine", "United States English"),
        ("c3", "fourties", "female", "German English,Non native speaker"),
        ("c4", "", "do_not_wish_to_say", ""),
        ("c5", "nineties", "male", "Filipino"),
        ("c6", "teens", "non-binary", "Canadian English|Scottish English"),
    ]
    header = ["client_id", "path", "sentence_id", "sentence", "sentence_domain", "up_votes", "down_votes", "age",
              "gender", "accents", "variant", "locale", "segment"]
    lines = ["\t".join(header)]
    for k, (client, age, gender, accent) in enumerate(rows):
        name = f"common_voice_en_{k:04d}.mp3"
        soundfile.write(root / "clips" / name, tone(120 + 10 * k), RATE, format="MP3")
        lines.append("\t".join([client * 8, name, f"s{k}", f"Sentence {k}.", "", "2", "0", age, gender, accent,
                                "", "en", ""]))
    (root / "validated.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def test_hearsay_import_layout_and_loading(tmp_path):
    root = write_hearsay_checkout(tmp_path / "HearSay_Benchmark")
    out = tmp_path / "out"
    counts = hs.import_hearsay(root, out, progress=False)
    assert counts == {"age": 6, "gender": 6, "accent": 6, "health": 6, "education": 6}
    table = load_split("hearsay", "accent", data_dir=str(out))["test"]
    row = table[0]
    assert set(hs.COLUMNS) <= set(table.column_names)
    assert row["attribute"] == "accent" and row["label"] in {"Arabic", "South_Asia"}
    cell = media_cell(row["audio"])  # docs hold a reference; the stored cell keeps name and bytes
    assert cell["path"].endswith(".mp3") and isinstance(cell["bytes"], bytes)
    assert load_audio(row["audio"]).size > 1000  # mp3 bytes decode late
    assert sorted(set(load_split("hearsay", "health", data_dir=str(out))["test"]["label"])) == ["healthy", "illness"]
    assert sorted(set(load_split("hearsay", "education", data_dir=str(out))["test"]["label"])) == [
        "Bachelors_Degree", "Doctorate"]


def test_hearsay_import_caps_like_upstream(tmp_path):
    root = write_hearsay_checkout(tmp_path / "hs", per_class=4)
    first = hs.import_hearsay(root, tmp_path / "a", cap=5, seed=42, attributes=["gender"], progress=False)
    again = hs.import_hearsay(root, tmp_path / "b", cap=5, seed=42, attributes=["gender"], progress=False)
    assert first == {"gender": 5}
    ids = lambda d: pq.read_table(d / "gender.parquet", columns=["id"]).column("id").to_pylist()  # noqa: E731
    assert ids(tmp_path / "a") == ids(tmp_path / "b")
    # pandas' df.sample(n=5, random_state=42) draws these positions (upstream's sampler)
    assert hs.sample_indices(8, 5, 42) == [int(i) for i in np.random.RandomState(42).choice(8, 5, replace=False)]
    assert hs.sample_indices(3, 5, 42) == [0, 1, 2] and hs.sample_indices(8, 0, 42) == list(range(8))


def test_hearsay_import_errors_name_the_row(tmp_path):
    root = write_hearsay_checkout(tmp_path / "hs", per_class=2)
    (root / "dataset" / "audio" / "Gender" / "Male" / "Male_002.wav").unlink()
    with pytest.raises(hs.HearSayImportError, match=r"Male\.csv:3: audio file .*Male_002\.wav"):
        hs.import_hearsay(root, tmp_path / "out", attributes=["gender"], progress=False)
    assert not (tmp_path / "out" / "gender.parquet").exists()  # no half-written split
    assert hs.import_hearsay(root, tmp_path / "out", attributes=["gender"], skip_missing=True,
                             progress=False) == {"gender": 3}
    bad = root / "dataset" / "label" / "gender" / "Robot.csv"
    bad.write_text("name,value,file_path\n")
    with pytest.raises(hs.HearSayImportError, match="Robot.csv.*not a gender label"):
        hs.import_hearsay(root, tmp_path / "out2", attributes=["gender"], progress=False)
    with pytest.raises(hs.HearSayImportError, match="no HearSay label folders"):
        hs.import_hearsay(tmp_path / "empty", tmp_path / "out3", progress=False)


def test_commonvoice_import_maps_age_gender_accent(tmp_path):
    root = write_commonvoice(tmp_path / "cv-corpus" / "en")
    out = tmp_path / "cv"
    counts = hs.import_commonvoice(root, out, progress=False)
    assert counts == {"age": 4, "gender": 4, "accent": 4}  # nineties, non-binary, blank, Filipino left out
    labels = lambda split: dict(zip(*[pq.read_table(out / f"{split}.parquet").column(c).to_pylist()  # noqa: E731
                                      for c in ("id", "label")]))
    assert labels("age") == {"age-common_voice_en_0000": "30-40", "age-common_voice_en_0001": "20-30",
                             "age-common_voice_en_0002": "40-50", "age-common_voice_en_0005": "10-20"}
    assert sorted(labels("gender").values()) == ["Female", "Female", "Male", "Male"]
    assert labels("accent") == {"accent-common_voice_en_0000": "South_Asia", "accent-common_voice_en_0001": "English",
                                "accent-common_voice_en_0002": "Germanic", "accent-common_voice_en_0005": "English"}
    row = load_split("hearsay", "gender", data_dir=str(out))["test"][0]
    assert row["source"] == "commonvoice" and row["sentence"].startswith("Sentence")
    assert load_audio(row["audio"]).size > 1000


def test_commonvoice_value_mapping():
    assert hs.commonvoice_gender("male_masculine") == "Male" and hs.commonvoice_gender("female") == "Female"
    assert hs.commonvoice_gender("intersex") is None and hs.commonvoice_age("fourties") == "40-50"
    assert hs.commonvoice_accent("Southern African (South Africa, Zimbabwe, Namibia)") is None
    assert hs.commonvoice_accent("France") == "Romance"


def test_cli_imports(tmp_path, capsys):
    root = write_hearsay_checkout(tmp_path / "hs", per_class=2)
    out = tmp_path / "out"
    assert cli.main(["data", "import", "hearsay", "--root", str(root), "--out", str(out), "--cap", "3",
                     "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "gender:" in printed and "(3 rows)" in printed and "data_dir" in printed
    assert cli.main(["data", "import", "hearsay", "--root", str(tmp_path / "nowhere"), "--out", str(out),
                     "--quiet"]) == 2
    assert "no HearSay label folders" in capsys.readouterr().err
    cv = write_commonvoice(tmp_path / "cv")
    assert cli.main(["data", "import", "commonvoice", "--root", str(cv), "--out", str(tmp_path / "cvout"),
                     "--quiet"]) == 0
    assert (tmp_path / "cvout" / "accent.parquet").is_file()


def test_build_command_is_registered():
    parser = cli.build_parser()
    args = parser.parse_args(["data", "build", "hearsay-tts", "--out", "x"])
    assert args.func.__module__ == "mmpriv_tasks.data.voices"


def test_bundled_mini_set_is_small_truthful_and_decodable():
    folder = bundled_data_dir() / "hearsay"
    splits = sorted(p.stem for p in folder.glob("*.parquet"))
    assert splits == ["accent", "gender"]  # no synthetic labels for age, income, health, ...
    total = sum(p.stat().st_size for p in folder.glob("*.parquet"))
    assert total < 3 * 1024 * 1024
    for split in splits:
        rows = pq.read_table(folder / f"{split}.parquet").to_pylist()
        assert len({r["id"] for r in rows}) == len(rows)
        labels = {r["label"] for r in rows}
        assert labels == set(LABELS[split])
        for row in rows:
            assert row["attribute"] == split and row["source"] == "tts" and row["speaker"]
            info = soundfile.info(io.BytesIO(row["audio"]["bytes"]))
            assert info.samplerate == RATE and info.channels == 1 and 0.5 < info.duration < 3.5
    gender = pq.read_table(folder / "gender.parquet").column("label").to_pylist()
    assert gender.count("Female") == gender.count("Male") == 12
    assert len(pq.read_table(folder / "accent.parquet")) == 28
    assert (folder / "DATASET_CARD.md").is_file()
