"""Peak anonymous memory of `mmpriv run --model voice-profiler` on one clip, 10 s vs 60 min
(goal: at most 1.3x; the clip is decoded and pitch-tracked block by block).

Each size is a one-row HearSay gender split (a 120 Hz tone with noise, 16 kHz WAV) written once under
``--work``; the duration cap is raised for the run (``MMPRIV_MAX_AUDIO_SECONDS``). Each run is made
twice and the second measured, so the one-off Arrow copy of the data is not counted.

    python bench/bench_clip_memory.py [--work DIR] [--minutes 60]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_memory import RATE, peak_rss_anon  # noqa: E402

from mmpriv_tasks.data.hearsay import audio_value, write_split  # noqa: E402
from mmpriv_tasks.inputs.media import encode_wav  # noqa: E402
from mmpriv_tasks.tasks.hearsay import PROMPT_VARIANTS  # noqa: E402


def clip_split(work: Path, seconds: int) -> Path:
    folder = work / f"clip-{seconds}s"
    if not (folder / "gender.parquet").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        t = np.arange(seconds * RATE) / RATE
        wave = (0.3 * np.sin(2 * np.pi * 120 * t) + 0.02 * np.random.default_rng(0).standard_normal(t.size))
        row = {"id": "clip-0", "attribute": "gender", "label": "male", "source": "synthetic", "speaker": "s0",
               "sentence": "", "audio": audio_value(encode_wav(wave.astype(np.float32), RATE), "clip-0.wav")}
        del t, wave
        write_split([row], folder / "gender.parquet")
    return folder


def measure(folder: Path, seconds: int) -> tuple[float, float]:
    args = ["run", "--model", "voice-profiler", "--tasks", f"hearsay_gender_{PROMPT_VARIANTS[0]}",
            "--metadata", json.dumps({"data_dir": str(folder)})]
    env = {"MMPRIV_MAX_AUDIO_SECONDS": str(seconds + 1)}
    peak_rss_anon(args, env)  # writes the Arrow copy
    return peak_rss_anon(args, env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "mmpriv-bench-clip")
    parser.add_argument("--minutes", type=int, default=60)
    args = parser.parse_args()
    os.environ.setdefault("MMPRIV_CACHE_DIR", str(args.work / "cache"))
    small, _ = measure(clip_split(args.work, 10), 10)
    long_seconds = args.minutes * 60
    large, wall = measure(clip_split(args.work, long_seconds), long_seconds)
    print(json.dumps({"scenario": f"voice-profiler, one clip: 10 s -> {args.minutes} min", "peak_mb_10s": round(small),
                      f"peak_mb_{args.minutes}min": round(large), "ratio": round(large / small, 2),
                      "goal": "<= 1.3x", f"seconds_{args.minutes}min": round(wall, 1)}), flush=True)


if __name__ == "__main__":
    main()
