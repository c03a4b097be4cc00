"""Memory of lm-eval's up-front request list: lazy images (ours) vs decoded PIL images.

lm-eval builds every request before running the model, so whatever `doc_to_image` returns for all
docs is alive at once. Prints the resident memory each way adds and their ratio, measured in one run
(Linux: reads /proc/self/status).

    python bench/bench_lazy_images.py [--n 200]
"""
from __future__ import annotations

import argparse
import gc

from mmpriv_tasks.inputs.media import load_image
from mmpriv_tasks.inputs.task_data import load_split
from mmpriv_tasks.tasks.common import doc_to_image


def resident_bytes() -> int:
    with open("/proc/self/status") as status:
        line = next(l for l in status if l.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


def added_bytes(build) -> int:
    """Resident memory added while the built requests are alive."""
    gc.collect()
    before = resident_bytes()
    kept = build()
    added = resident_bytes() - before
    del kept
    gc.collect()
    return max(added, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="requests to build (rows are reused)")
    args = parser.parse_args()
    rows = list(load_split("mmprivacy", "disclosure")["test"])
    docs = [rows[i % len(rows)] for i in range(args.n)]
    lazy = added_bytes(lambda: [doc_to_image(doc) for doc in docs])
    decoded = added_bytes(lambda: [[load_image(doc["image"])] for doc in docs])
    print(f"requests: {args.n}")
    print(f"lazy images (doc_to_image):  {lazy / 2**20:8.1f} MiB")
    print(f"decoded PIL images:          {decoded / 2**20:8.1f} MiB")
    print(f"ratio decoded / lazy:        {decoded / lazy:8.1f}x")


if __name__ == "__main__":
    main()
