"""Peak anonymous memory of `mmpriv run` as the data grows (synthetic clips, refuse-all model).

Peak ``RssAnon`` of the run's process, polled from ``/proc/<pid>/status`` every 20 ms (file-backed
pages of memory-mapped data are reclaimable and not counted). Scenarios:

- ``growth``: two HearSay tasks over one split, at 500 and 8,000 one-second clips (goal: at most 1.2x);
- ``variants``: one attribute's four prompt variants over 22,000 clips (goal: under 2 GB);
- ``mmprivacy``: the `mmprivacy` group over the full-size MM-Privacy build (goal: under 1.5 GB).

    python bench/bench_memory.py [--scenario growth|variants|mmprivacy|all] [--work DIR] [--no-output]

Each line also gives the 1-minute load average at its end (a busy machine slows the run, not its peak).
Data (and their memory-mapped Arrow copies) are written once under ``--work`` (default
/tmp/mmpriv-bench-memory) and reused; delete the folder afterwards.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mmpriv_tasks.data.hearsay import audio_value, write_split
from mmpriv_tasks.inputs.media import encode_wav
from mmpriv_tasks.tasks.hearsay import PROMPT_VARIANTS as VARIANTS

RATE = 16_000


def synthetic_clips(n: int, seconds: float = 1.0, seed: int = 0):
    """``n`` HearSay gender rows, each a distinct one-second tone with noise (16 kHz WAV)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    for k in range(n):
        f0 = rng.uniform(90, 260)
        wave = 0.3 * np.sin(2 * np.pi * f0 * t) + 0.02 * rng.standard_normal(t.size)
        yield {"id": f"clip-{k:06d}", "attribute": "gender", "label": "female" if f0 > 165 else "male",
               "audio": audio_value(encode_wav(wave.astype(np.float32), RATE), f"clip-{k:06d}.wav"),
               "source": "synthetic", "speaker": f"s{k}", "sentence": ""}


def clip_dir(work: Path, n: int, seconds: float = 1.0) -> Path:
    """A data folder holding ``gender.parquet`` with ``n`` synthetic clips of ``seconds`` each (written once)."""
    folder = work / (f"hearsay-{n}" if seconds == 1.0 else f"hearsay-{n}x{seconds:g}s")
    if not (folder / "gender.parquet").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        write_split(synthetic_clips(n, seconds), folder / "gender.parquet")
    return folder


def mmprivacy_dir(work: Path) -> Path:
    folder = work / "mmprivacy-full"
    if not (folder / "disclosure.parquet").is_file():
        subprocess.run([_mmpriv(), "data", "build", "mmprivacy", "--size", "full", "--out", str(folder)], check=True)
    return folder


def _mmpriv() -> str:
    return str(Path(sys.executable).with_name("mmpriv"))


def _rss_anon_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0


def peak_rss_anon(args: list[str], env: dict | None = None) -> tuple[float, float]:
    """(peak RssAnon in MB, wall seconds) of ``mmpriv ARGS`` run to completion."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen([_mmpriv(), *args], stdout=log, stderr=subprocess.STDOUT,
                                   env={**os.environ, **(env or {})})
        peak = 0
        while process.poll() is None:
            try:
                peak = max(peak, _rss_anon_kb(process.pid))
            except (FileNotFoundError, ProcessLookupError):
                break
            time.sleep(0.02)
        if process.wait() != 0:
            log.seek(0)
            raise RuntimeError(f"mmpriv {' '.join(args)} failed:\n{log.read().decode()[-3000:]}")
    return peak / 1024, time.perf_counter() - started


def run_tasks(tasks: list[str], data_dir: Path, out: Path | None) -> tuple[float, float]:
    """(peak MB, seconds) of refuse-all over ``tasks``; with ``out``, results and sample logs are written."""
    written = ["--output_path", str(out)] if out else []
    return peak_rss_anon(["run", "--model", "refuse-all", "--tasks", ",".join(tasks),
                          "--metadata", json.dumps({"data_dir": str(data_dir)}), *written])


def growth(work: Path, out: Path | None) -> dict:
    tasks = [f"hearsay_gender_{v}" for v in VARIANTS[:2]]
    small, _ = run_tasks(tasks, clip_dir(work, 500), out)
    large, seconds = run_tasks(tasks, clip_dir(work, 8000), out)
    return {"scenario": "two tasks, one split: 500 -> 8,000 clips", "peak_mb_500": round(small),
            "peak_mb_8000": round(large), "ratio": round(large / small, 2), "goal": "<= 1.2x",
            "seconds_8000": round(seconds, 1)}


def variants(work: Path, out: Path | None) -> dict:
    peak, seconds = run_tasks([f"hearsay_gender_{v}" for v in VARIANTS], clip_dir(work, 22000), out)
    return {"scenario": "four variants of one attribute, 22,000 clips", "peak_mb": round(peak),
            "goal": "< 2048 MB", "seconds": round(seconds, 1)}


def mmprivacy(work: Path, out: Path | None) -> dict:
    peak, seconds = run_tasks(["mmprivacy"], mmprivacy_dir(work), out)
    return {"scenario": "refuse-all, mmprivacy group, full-size build", "peak_mb": round(peak),
            "goal": "< 1536 MB", "seconds": round(seconds, 1)}


SCENARIOS = {"growth": growth, "variants": variants, "mmprivacy": mmprivacy}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "mmpriv-bench-memory")
    parser.add_argument("--no-output", action="store_true",
                        help="leave out --output_path (the evaluation alone, without writing logs)")
    args = parser.parse_args()
    out = None if args.no_output else args.work / "out"
    os.environ.setdefault("MMPRIV_CACHE_DIR", str(args.work / "cache"))  # the Arrow copies live with the data
    for name in SCENARIOS if args.scenario == "all" else [args.scenario]:
        figures = SCENARIOS[name](args.work, out)
        print(json.dumps({**figures, "output_path": bool(out), "load_avg_1min": round(os.getloadavg()[0], 2),
                          "cores": os.cpu_count()}), flush=True)


if __name__ == "__main__":
    main()
