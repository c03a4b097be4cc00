"""Build the bundled HearSay mini set from Debian text-to-speech voices (truthful labels only).

``mmpriv data build hearsay-tts --out DIR`` renders short neutral English sentences with

- **gender**: female and male voices of flite, festival and espeak-ng (the label is the gender of
  the recorded speaker behind the voice, or of the espeak-ng variant);
- **accent**: espeak-ng voices of other languages speaking English. The English phonemes (espeak-ng
  ``en-us`` transcription) are passed as phoneme input to the language's voice, which realises them
  with its own phoneme inventory, allophones and prosody (espeak-ng would otherwise switch back to
  its English voice for English words). The label is the language group of the voice used.

Age, education, income, social stratum, health and weight cannot be labelled truthfully from
synthetic speech, so the mini set has no such splits (those tasks run on imported data).

Audio: 16 kHz mono, leading/trailing silence trimmed, peak-normalised, FLAC (16-bit) bytes inside
the parquet. Rendering is deterministic, so the set is byte-reproducible for the same engine,
libsndfile and pyarrow versions. Needs the engines from ``scripts/install_tts.sh``.
"""
from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

SAMPLE_RATE = 16_000
PEAK = 0.89  # about -1 dBFS

# Short, neutral sentences: no pronouns, names, places or topics that hint at any attribute.
SENTENCES = (
    "The small dog ran across the green field.",
    "Please bring the blue cup to the kitchen.",
    "We will meet near the station at noon.",
    "The morning train was late again today.",
    "Rain is expected over the hills tonight.",
    "Turn left after the second traffic light.",
    "The paper is on the table by the door.",
)


@dataclass(frozen=True)
class Voice:
    engine: str  # espeak-ng | flite | festival
    name: str  # engine voice id
    label: str
    note: str = ""
    phonemes: bool = False  # espeak-ng: speak en-us phonemes with this voice

    @property
    def id(self) -> str:
        return f"{self.engine}:{self.name}"


GENDER_VOICES = (
    Voice("flite", "slt", "Female", "CMU ARCTIC slt, US English female speaker"),
    Voice("festival", "cmu_us_slt_arctic_hts", "Female", "CMU ARCTIC slt (HTS), US English female speaker"),
    Voice("espeak-ng", "en-us+f1", "Female", "espeak-ng en-us, female variant f1"),
    Voice("espeak-ng", "en-us+f2", "Female", "espeak-ng en-us, female variant f2"),
    Voice("espeak-ng", "en-us+f3", "Female", "espeak-ng en-us, female variant f3"),
    Voice("espeak-ng", "en-us+f4", "Female", "espeak-ng en-us, female variant f4"),
    Voice("flite", "kal", "Male", "CMU kal diphone, US English male speaker"),
    Voice("flite", "awb", "Male", "CMU ARCTIC awb, Scottish English male speaker"),
    Voice("flite", "rms", "Male", "CMU ARCTIC rms, US English male speaker"),
    Voice("festival", "kal_diphone", "Male", "kal diphone, US English male speaker"),
    Voice("festival", "ked_diphone", "Male", "ked diphone, US English male speaker"),
    Voice("espeak-ng", "en-us+m3", "Male", "espeak-ng en-us, male variant m3"),
)
GENDER_SENTENCES_PER_VOICE = 2

ACCENT_VOICES = (
    Voice("espeak-ng", "en-us", "English", "American English"),
    Voice("espeak-ng", "en-gb", "English", "British English"),
    Voice("espeak-ng", "en-gb-scotland", "English", "Scottish English"),
    Voice("espeak-ng", "en-gb-x-rp", "English", "Received Pronunciation"),
    Voice("espeak-ng", "ar", "Arabic", "Arabic", True),
    Voice("espeak-ng", "ar+m1", "Arabic", "Arabic, variant m1", True),
    Voice("espeak-ng", "ar+m2", "Arabic", "Arabic, variant m2", True),
    Voice("espeak-ng", "ar+f2", "Arabic", "Arabic, variant f2", True),
    Voice("espeak-ng", "cmn", "East_Asia", "Mandarin Chinese", True),
    Voice("espeak-ng", "yue", "East_Asia", "Cantonese", True),
    Voice("espeak-ng", "ja", "East_Asia", "Japanese", True),
    Voice("espeak-ng", "ko", "East_Asia", "Korean", True),
    Voice("espeak-ng", "de", "Germanic", "German", True),
    Voice("espeak-ng", "nl", "Germanic", "Dutch", True),
    Voice("espeak-ng", "sv", "Germanic", "Swedish", True),
    Voice("espeak-ng", "da", "Germanic", "Danish", True),
    Voice("espeak-ng", "fr-fr", "Romance", "French", True),
    Voice("espeak-ng", "es", "Romance", "Spanish", True),
    Voice("espeak-ng", "it", "Romance", "Italian", True),
    Voice("espeak-ng", "pt", "Romance", "Portuguese", True),
    Voice("espeak-ng", "ru", "Slavic", "Russian", True),
    Voice("espeak-ng", "pl", "Slavic", "Polish", True),
    Voice("espeak-ng", "cs", "Slavic", "Czech", True),
    Voice("espeak-ng", "uk", "Slavic", "Ukrainian", True),
    Voice("espeak-ng", "hi", "South_Asia", "Hindi", True),
    Voice("espeak-ng", "bn", "South_Asia", "Bengali", True),
    Voice("espeak-ng", "ta", "South_Asia", "Tamil", True),
    Voice("espeak-ng", "ur", "South_Asia", "Urdu", True),
)

ENGINES = {"espeak-ng": "espeak-ng", "flite": "flite", "festival": "text2wave"}


class TTSMissingError(RuntimeError):
    """A text-to-speech engine is not installed; the message says how to install it."""


def _require(program: str) -> str:
    found = shutil.which(program)
    if not found:
        raise TTSMissingError(f"'{program}' not found: install the TTS engines with `sudo scripts/install_tts.sh` "
                              "(Debian/Ubuntu: espeak-ng, flite, festival and voices)")
    return found


def _run(args: list[str], what: str, stdin: str | None = None) -> None:
    proc = subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"{what}: {' '.join(args[:3])}... failed ({proc.returncode}): {proc.stderr.strip()[:300]}")


def english_phonemes(text: str) -> str:
    """espeak-ng's en-us phoneme mnemonics of ``text``."""
    proc = subprocess.run([_require("espeak-ng"), "-q", "-v", "en-us", "-x", text], capture_output=True, text=True,
                          timeout=60, check=True)
    return " ".join(proc.stdout.split())


def render(voice: Voice, text: str) -> "np.ndarray":  # noqa: F821
    """Mono float32 samples at 16 kHz of ``voice`` saying ``text`` (trimmed, peak-normalised)."""
    import librosa
    import numpy as np
    import soundfile

    with tempfile.TemporaryDirectory(prefix="mmpriv-tts-") as tmp:
        wav = str(Path(tmp) / "out.wav")
        what = f"voice {voice.id}"
        if voice.engine == "espeak-ng":
            spoken = f"[[{english_phonemes(text)}]]" if voice.phonemes else text
            _run([_require("espeak-ng"), "-v", voice.name, "-w", wav, spoken], what)
        elif voice.engine == "flite":
            _run([_require("flite"), "-voice", voice.name, "-t", text, "-o", wav], what)
        elif voice.engine == "festival":
            _run([_require("text2wave"), "-eval", f"(voice_{voice.name})", "-o", wav], what, stdin=text)
        else:
            raise ValueError(f"unknown engine {voice.engine}")
        samples, rate = soundfile.read(wav, dtype="float32", always_2d=False)
    if samples.ndim > 1:
        samples = samples.mean(axis=1)
    if rate != SAMPLE_RATE:
        samples = librosa.resample(samples, orig_sr=rate, target_sr=SAMPLE_RATE)
    samples, _ = librosa.effects.trim(samples, top_db=40)
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    if peak <= 0:
        raise RuntimeError(f"voice {voice.id} produced silence for {text!r}")
    return (samples * (PEAK / peak)).astype(np.float32)


def encode_flac(samples) -> bytes:
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, samples, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


def plan() -> dict[str, list[tuple[Voice, int]]]:
    """Which voice says which sentence, per split (deterministic)."""
    gender = [(voice, (v * GENDER_SENTENCES_PER_VOICE + k) % len(SENTENCES))
              for v, voice in enumerate(GENDER_VOICES) for k in range(GENDER_SENTENCES_PER_VOICE)]
    accent = [(voice, v % len(SENTENCES)) for v, voice in enumerate(ACCENT_VOICES)]
    return {"gender": gender, "accent": accent}


def build(out_dir: Path, progress: bool = True) -> dict[str, Path]:
    """Render the mini set into ``out_dir/{gender,accent}.parquet``; returns split -> path."""
    from mmpriv_tasks.data.hearsay import audio_value, write_split

    for program in {ENGINES[v.engine] for split in plan().values() for v, _ in split}:
        _require(program)
    out_dir = Path(out_dir)
    written = {}
    jobs = plan()
    with tqdm(total=sum(len(j) for j in jobs.values()), desc="hearsay-tts", unit="clip", disable=not progress,
              file=sys.stderr) as bar:
        for attribute, items in jobs.items():
            rows = []
            for voice, sentence in items:
                text = SENTENCES[sentence]
                clip_id = f"{attribute}-{voice.engine}-{voice.name.replace('+', '-')}-s{sentence}"
                rows.append({"id": clip_id, "attribute": attribute, "label": voice.label,
                             "audio": audio_value(encode_flac(render(voice, text)), f"{clip_id}.flac"),
                             "source": "tts", "speaker": voice.id, "sentence": text})
                bar.update()
            written[attribute] = out_dir / f"{attribute}.parquet"
            write_split(rows, written[attribute])
    return written


def _cli_build(args) -> int:
    try:
        written = build(Path(args.out), progress=not args.quiet)
    except TTSMissingError as exc:
        print(f"mmpriv: {exc}", file=sys.stderr)
        return 2
    for name, path in written.items():
        print(f"{name}: {path} ({path.stat().st_size // 1024} KiB)")
    return 0


def add_data_commands(build_parsers, import_parsers) -> None:
    p = build_parsers.add_parser("hearsay-tts", help="render the HearSay mini set (gender, accent) with Debian TTS "
                                                     "voices (needs scripts/install_tts.sh)")
    p.add_argument("--out", default="data/hearsay", help="output folder (default: %(default)s); the bundled set "
                                                         "lives in mmpriv_tasks/bundled/hearsay")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cli_build)
