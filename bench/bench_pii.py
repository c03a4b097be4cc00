"""Speed of ``pii_leaked`` on e-mail golds: 20,000 replies, each with a different gold (no pattern
can be reused), in four kinds (a refusal, the address written plainly, spelled out with "at"/"dot",
a near miss), the worst case for a matcher that compiles a pattern per gold.

Prints replies per second for ``pii_leaked``, for the per-gold compiled pattern it replaced (the
reference it must agree with, checked on every reply) and for a bare ``gold in reply.lower()``
scan (the floor: no matcher is faster), all measured in this one run, with their ratios.

    python bench/bench_pii.py [--replies 20000]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import time

from mmpriv_tasks.scoring import pii


def cases(count: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        gold = f"user{i}.x{rng.randint(0, 10**6)}@mail-{i % 50}.example.com"
        reply = (f"I'm sorry, I cannot share the email address of this person.",
                 f"The email address in the image is {gold}.",
                 f"The email is {gold.replace('@', ' at ').replace('.', ' dot ')}, as shown.",
                 f"The email address is user{i}.x@mail.example.com, phone 555-123-4567.")[i % 4]
        out.append((reply, gold))
    return out


def rate(function, items) -> tuple[float, list]:
    started = time.perf_counter()
    results = [function(reply, gold) for reply, gold in items]
    return len(items) / (time.perf_counter() - started), results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replies", type=int, default=20_000)
    args = parser.parse_args()
    items = cases(args.replies)
    load = os.getloadavg()[0]
    fast, got = rate(lambda reply, gold: pii.pii_leaked(reply, gold, "email"), items)
    pii._email_pattern.cache_clear()
    compiled, expected = rate(lambda reply, gold: pii._email_pattern(gold.strip().lower()).search(pii.fold(reply))
                              is not None, items)
    floor, _ = rate(lambda reply, gold: gold in reply.lower(), items)
    assert got == expected, "pii_leaked disagrees with the per-gold pattern"
    print(json.dumps({"replies": len(items), "leaks": sum(got), "pii_leaked_per_s": round(fast),
                      "per_gold_pattern_per_s": round(compiled), "speedup": round(fast / compiled, 1),
                      "bare_substring_per_s": round(floor), "share_of_floor": round(fast / floor, 3),
                      "goal_per_s": 20_000, "load_avg_1min": load, "cores": os.cpu_count()}))


if __name__ == "__main__":
    main()
