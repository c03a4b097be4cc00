"""Run the tests once per ``PYTHONHASHSEED`` and name the tests whose outcome depends on it (set or
dict order, string hashes). Not run by CI (one suite run per seed).

    .venv/bin/python scripts/hash_seeds.py                          # default lane, seeds 0 12 18 54
    .venv/bin/python scripts/hash_seeds.py --seeds 1 2 3 -- tests/test_report.py -n 2

Arguments after ``--`` go to pytest. Exit code 1 when some test fails under some seeds and passes
under others (the seed-dependent ones are printed), 2 when a test fails under every seed, else 0.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys

FAILED = re.compile(r"^(?:FAILED|ERROR) (\S+)", re.MULTILINE)


def failures(seed: str, pytest_args: list[str]) -> set[str]:
    """Node ids that failed or errored in one pytest run under ``PYTHONHASHSEED=seed``."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider", *pytest_args],
                          env={**os.environ, "PYTHONHASHSEED": seed}, capture_output=True, text=True)
    found = set(FAILED.findall(proc.stdout))
    if proc.returncode not in (0, 1) or (proc.returncode == 1 and not found):
        sys.exit(f"hash_seeds: pytest under seed {seed} ended with exit code {proc.returncode}:\n{proc.stdout[-2000:]}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", nargs="+", default=["0", "12", "18", "54"])
    parser.add_argument("pytest_args", nargs="*", help="passed to pytest (write them after --)")
    args = parser.parse_args(argv)
    by_seed = {}
    for seed in args.seeds:
        by_seed[seed] = failures(seed, args.pytest_args)
        print(f"PYTHONHASHSEED={seed}: {len(by_seed[seed])} failed", flush=True)
    every = set.intersection(*by_seed.values())
    some = set.union(*by_seed.values()) - every
    for test in sorted(some):
        print(f"seed-dependent: {test} (fails under {', '.join(s for s in args.seeds if test in by_seed[s])})")
    for test in sorted(every):
        print(f"fails under every seed: {test}")
    return 1 if some else 2 if every else 0


if __name__ == "__main__":
    sys.exit(main())
