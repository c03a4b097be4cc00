"""Report on real runs: the three offline reference models on the bundled data (``--limit``), one
``mmpriv report`` comparing them (leaderboard and the paired comparisons of family aggregates printed),
and a headless-Chromium screenshot and layout check of ``report.html``.

    python bench/bench_report.py [--out DIR] [--limit N]

Prints each step's wall time, the leaderboard, the pooled comparisons, and where the report and
screenshot are.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

RUNS = (("refuse-all", "mmpriv_all"), ("ocr-extractor", "mmprivacy"), ("voice-profiler", "hearsay_mini"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="/tmp/mmpriv-report-bench")
    parser.add_argument("--limit", default="3")
    args = parser.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    mmpriv = str(Path(sys.executable).parent / "mmpriv")
    for model, tasks in RUNS:
        start = time.perf_counter()
        subprocess.run([mmpriv, "run", "--model", model, "--tasks", tasks, "--limit", args.limit,
                        "--output_path", str(out / "results")], check=True, capture_output=True)
        print(f"run {model:15s} {tasks:13s} --limit {args.limit}: {time.perf_counter() - start:6.1f} s")
    start = time.perf_counter()
    subprocess.run([mmpriv, "report", str(out / "results"), "--out", str(out)], check=True, capture_output=True)
    print(f"mmpriv report (3 runs): {time.perf_counter() - start:.1f} s -> {out / 'report.html'}")
    text = (out / "report.md").read_text(encoding="utf-8")
    board = text.split("## Leaderboard", 1)[1].split("## ", 1)[0]
    print("\n".join(line for line in board.splitlines() if line.startswith("|")))
    paired = text.split("## Paired comparisons", 1)[1].split("## ", 1)[0] if "## Paired" in text else ""
    rows = [line for line in paired.splitlines() if line.startswith("| ") and "---" not in line]
    print(f"paired comparisons: {len(rows) - 1}; pooled over a family aggregate:")
    print("\n".join(row for row in rows if "**" in row or row.startswith("| runs")))
    from mmpriv_tasks.report.browser import ensure_chromium, layout_problems, screenshot

    exe, how = ensure_chromium()
    if exe is None:
        print(f"no screenshot: {how}")
        return 0
    print(f"screenshot ({how}): {screenshot(out / 'report.html', out / 'report.png')}")
    print(f"layout problems found by Chromium: {layout_problems(out / 'report.html') or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
