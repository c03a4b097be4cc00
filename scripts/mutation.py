"""Mutation check of the test suite: inject one single-line bug at a time, run the tests that execute
the mutated line, count the mutants the tests kill; print the score per file and every survivor.
Not run by CI (about an hour for the default files on 2 cores).

    .venv/bin/pip install -e ".[test,mutation]"
    .venv/bin/python scripts/mutation.py --jobs 2                          # scoring/, task hooks, registry
    .venv/bin/python scripts/mutation.py --files mmpriv_tasks/scoring/pii.py --tests tests/test_scoring_pii.py \
        --max 20 --seed 1
    .venv/bin/python scripts/mutation.py --jobs 2 --recheck earlier.log     # its survivors, after new tests

Mutations (Python ``ast``, one per mutant, only nodes on one line): comparison operators
(``==``/``!=``, ``<``/``<=``, ``>``/``>=``, ``in``/``not in``, ``is``/``is not``), ``and``/``or``,
arithmetic operators (``+``/``-``, ``*``/``/``), a dropped ``not``, integer constants (n -> n + 1),
``True``/``False``, and ``return <value>`` -> ``return None``. Docstrings, logging, decorator
arguments (cache sizes) and the numbers of data tables (integers in a dict, list, tuple or set
display, e.g. "thirty" -> 30) are left alone: a table entry is pinned by tests of its values, and
most +1 changes of one fall in the same bin (equivalent mutants).

Test selection: one baseline run of ``--tests`` under coverage (``pytest-cov``, one context per
test) records which tests execute each line; a mutant runs only those tests (``-x``). A line no
test executes in-process (module-level code runs at import; CLI tests run in subprocesses) runs
the tests that execute any line of its file, or the whole selection when none does. Without
``coverage`` installed, or with ``--no-coverage``, every mutant runs the whole selection.

Every worker (``--jobs``) has a private copy of the repository (package, task_configs, metrics, tests,
scripts, bench) put first on ``PYTHONPATH``, so the working tree is never modified and the console scripts
the tests call import the mutated copy. A mutant is killed when its tests fail or exceed
``--timeout`` seconds.
"""
from __future__ import annotations

import argparse
import ast
import os
import queue
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_FILES = ["mmpriv_tasks/scoring/*.py", "mmpriv_tasks/tasks/*.py", "mmpriv_tasks/registry/__init__.py",
                 "mmpriv_tasks/registry/behaviour.py"]
DEFAULT_TESTS = ["tests/test_scoring_pii.py", "tests/test_scoring_refusal.py", "tests/test_leak_corpus.py",
                 "tests/test_refusal_corpus.py", "tests/test_hearsay_parsing.py", "tests/test_hearsay_prompts.py",
                 "tests/test_hearsay_judge.py", "tests/test_judge.py", "tests/test_registry.py",
                 "tests/test_registry_behaviour.py", "tests/test_metrics_evaluate.py", "tests/test_metrics_nonzero.py",
                 "tests/test_disclosure_e2e.py", "tests/test_mmprivacy_retention.py", "tests/test_hearsay_e2e.py",
                 "tests/test_report.py",
                 "mmpriv_tasks/scoring"]  # the last: its doctests
COPIED = ("mmpriv_tasks", "task_configs", "metrics", "tests", "scripts", "bench", "pyproject.toml")

_SWAPS = {
    ast.Eq: "!=", ast.NotEq: "==", ast.Lt: "<=", ast.LtE: "<", ast.Gt: ">=", ast.GtE: ">",
    ast.In: "not in", ast.NotIn: "in", ast.Is: "is not", ast.IsNot: "is",
    ast.Add: "-", ast.Sub: "+", ast.Mult: "/", ast.Div: "*", ast.And: "or", ast.Or: "and",
}
_TOKENS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
           ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not", ast.Add: "+", ast.Sub: "-",
           ast.Mult: "*", ast.Div: "/", ast.And: "and", ast.Or: "or"}


@dataclass(frozen=True)
class Mutant:
    path: str  # relative to the repository
    line: int  # 1-based
    start: int  # column span on that line to replace
    end: int
    replacement: str
    original: str

    def apply(self, source: str) -> str:
        lines = source.splitlines(keepends=True)
        text = lines[self.line - 1]
        lines[self.line - 1] = text[:self.start] + self.replacement + text[self.end:]
        return "".join(lines)

    def describe(self) -> str:
        return f"{self.path}:{self.line}:{self.start + 1}: {self.original!r} -> {self.replacement!r}"


def _between(line: str, start: int, end: int, token: str) -> tuple[int, int] | None:
    """The span of operator ``token`` in ``line[start:end]`` (the gap between two operands)."""
    gap = line[start:end]
    index = gap.find(token)
    return None if index < 0 else (start + index, start + index + len(token))


def _skipped(node: ast.AST, parents: dict, decorators: set) -> bool:
    """Logging calls, type annotations and decorator arguments are not mutated (docstrings never are:
    strings are kept)."""
    if id(node) in decorators:
        return True
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr in ("debug", "info", "warning", "error", "exception"):
            return True
        if isinstance(node, (ast.arg, ast.AnnAssign)):
            return True
    return False


def mutants_of(path: Path) -> list[Mutant]:
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    decorators = {id(part) for node in ast.walk(tree) for decorator in getattr(node, "decorator_list", [])
                  for part in ast.walk(decorator)}
    rel = str(path.relative_to(REPO))
    found: list[Mutant] = []

    def add(node, start, end, replacement):
        original = lines[node.lineno - 1][start:end]
        if original != replacement:
            found.append(Mutant(rel, node.lineno, start, end, replacement, original))

    for node in ast.walk(tree):
        if not hasattr(node, "lineno") or getattr(node, "end_lineno", None) != node.lineno or _skipped(node, parents, decorators):
            continue
        line = lines[node.lineno - 1]
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            op, right = node.ops[0], node.comparators[0]
            if right.lineno == node.lineno and type(op) in _SWAPS:
                span = _between(line, node.left.end_col_offset, right.col_offset, _TOKENS[type(op)])
                if span:
                    add(node, *span, _SWAPS[type(op)])
        elif isinstance(node, ast.BinOp) and type(node.op) in _SWAPS and not isinstance(node.left, ast.Constant):
            span = _between(line, node.left.end_col_offset, node.right.col_offset, _TOKENS[type(node.op)])
            if span:
                add(node, *span, _SWAPS[type(node.op)])
        elif isinstance(node, ast.BoolOp) and len(node.values) == 2:
            span = _between(line, node.values[0].end_col_offset, node.values[1].col_offset, _TOKENS[type(node.op)])
            if span:
                add(node, *span, _SWAPS[type(node.op)])
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            add(node, node.col_offset, node.end_col_offset, f"({ast.get_source_segment(source, node.operand)})")
        elif isinstance(node, ast.Constant) and type(node.value) is bool:
            add(node, node.col_offset, node.end_col_offset, str(not node.value))
        elif isinstance(node, ast.Constant) and type(node.value) is int and \
                not isinstance(parents.get(node), (ast.Dict, ast.List, ast.Tuple, ast.Set)):
            add(node, node.col_offset, node.end_col_offset, str(node.value + 1))
        elif isinstance(node, ast.Return) and node.value is not None and node.value.lineno == node.lineno \
                and not (isinstance(node.value, ast.Constant) and node.value.value in (None, False)):
            add(node, node.value.col_offset, node.value.end_col_offset, "None")
    return sorted(set(found), key=lambda m: (m.path, m.line, m.start))


def _copy_repo(target: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    for name in COPIED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=ignore)
        elif source.is_file():
            shutil.copy2(source, target / name)


def _env(copy: Path) -> dict:
    return {**os.environ, "PYTHONPATH": str(copy) + os.pathsep + os.environ.get("PYTHONPATH", ""),
            "PYTHONDONTWRITEBYTECODE": "1"}


def run_tests(copy: Path, tests: list[str], timeout: float) -> str:
    """"killed" / "survived" / "timeout" for the current state of ``copy``."""
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    try:
        proc = subprocess.run(command, cwd=copy, env=_env(copy), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout"
    return "survived" if proc.returncode == 0 else "killed"


class Selection:
    """Which tests to run for a mutated line: those that executed it in the baseline coverage run."""

    def __init__(self, tests: list[str], by_line: dict[str, dict[int, set[str]]] | None = None):
        self.tests, self.by_line = tests, by_line

    @classmethod
    def measure(cls, copy: Path, tests: list[str]) -> "Selection":
        """Run ``tests`` once under coverage with one context per test (``pytest --cov-context=test``)."""
        from coverage import CoverageData

        data_file = copy / ".coverage-mutation"
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--cov=mmpriv_tasks",
                   "--cov-context=test", "--cov-report=", *tests]
        proc = subprocess.run(command, cwd=copy, env={**_env(copy), "COVERAGE_FILE": str(data_file)},
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"the test selection fails without any mutation: fix that first\n{proc.stdout[-2000:]}")
        data = CoverageData(basename=str(data_file))
        data.read()
        by_line: dict[str, dict[int, set[str]]] = {}
        for measured in data.measured_files():
            lines = by_line.setdefault(str(Path(measured).resolve().relative_to(copy.resolve())), {})
            for line, contexts in data.contexts_by_lineno(measured).items():
                lines[line] = {context.rsplit("|", 1)[0] for context in contexts if context}
        return cls(tests, by_line)

    def for_mutant(self, mutant: Mutant) -> list[str]:
        if self.by_line is None:
            return self.tests
        lines = self.by_line.get(mutant.path, {})
        covering = lines.get(mutant.line) or set().union(*lines.values())
        return sorted(covering) or self.tests


def _coverage_available() -> bool:
    try:
        import coverage  # noqa: F401
        import pytest_cov  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", nargs="+", default=DEFAULT_FILES, help="files or globs (relative to the repo)")
    parser.add_argument("--tests", nargs="+", default=DEFAULT_TESTS, help="the pytest selection (paths or node ids)")
    parser.add_argument("--max", type=int, default=0, help="at most this many mutants, sampled (0: all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the --max sample")
    parser.add_argument("--jobs", type=int, default=1, help="mutants tested at once, each in its own copy")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per mutant before it counts as killed")
    parser.add_argument("--no-coverage", action="store_true", help="run the whole selection for every mutant")
    parser.add_argument("--resume", type=Path, help="reuse the outcomes in an interrupted run's output")
    parser.add_argument("--recheck", type=Path, help="only the survivors in an earlier run's progress lines")
    parser.add_argument("--list", action="store_true", help="only list the mutants")
    args = parser.parse_args(argv)

    files = sorted({p for pattern in args.files for p in REPO.glob(pattern) if p.suffix == ".py"})
    mutants = [m for path in files for m in mutants_of(path)]
    if args.recheck:
        survived = {key for key, outcomes in _outcomes_in(args.recheck).items() if "survived" in outcomes}
        mutants = [m for m in mutants if m.describe() in survived]
    if args.max and len(mutants) > args.max:
        mutants = sorted(random.Random(args.seed).sample(mutants, args.max), key=lambda m: (m.path, m.line))
    if args.list:
        print("\n".join(m.describe() for m in mutants))
        return 0
    if not args.no_coverage and not _coverage_available():
        print("coverage / pytest-cov not installed (pip install -e '.[mutation]'): every mutant runs the whole "
              "selection", file=sys.stderr)
        args.no_coverage = True
    earlier = _outcomes_in(args.resume) if args.resume else {}
    known = {i: earlier[m.describe()].pop(0) for i, m in enumerate(mutants) if earlier.get(m.describe())}
    pending = [m for i, m in enumerate(mutants) if i not in known]
    if known:
        print(f"resuming: {len(known)} outcomes from {args.resume}, {len(pending)} mutants to test", flush=True)
    with tempfile.TemporaryDirectory(prefix="mmpriv-mutation-") as tmp:
        copies: queue.Queue = queue.Queue()
        for k in range(max(1, args.jobs)):
            _copy_repo(Path(tmp) / str(k))
            copies.put(Path(tmp) / str(k))
        first = Path(tmp) / "0"
        if args.no_coverage:
            if run_tests(first, args.tests, args.timeout) != "survived":
                print("the test selection fails without any mutation: fix that first", file=sys.stderr)
                return 2
            selection = Selection(args.tests)
        else:
            selection = Selection.measure(first, args.tests)
        fresh = iter(_run_mutants(pending, selection, copies, args))
    outcomes = [known[i] if i in known else next(fresh) for i in range(len(mutants))]
    _print_summary(mutants, outcomes)
    return 0


def _outcomes_in(log: Path) -> dict[str, list[str]]:
    """``describe() -> [outcome, ...]`` from the progress lines of an earlier run's output."""
    found: dict[str, list[str]] = {}
    for line in log.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\[\d+/\d+\] (killed|survived|timeout) .*? tests  (.*)$", line)
        if match:
            found.setdefault(match.group(2), []).append(match.group(1))
    return found


def _run_mutants(mutants: list[Mutant], selection: Selection, copies: queue.Queue, args) -> list[str]:
    done = [0]

    def test(mutant: Mutant) -> str:
        copy = copies.get()
        target = copy / mutant.path
        original = target.read_text(encoding="utf-8")
        target.write_text(mutant.apply(original), encoding="utf-8")
        start = time.monotonic()
        try:
            tests = selection.for_mutant(mutant)
            outcome = run_tests(copy, tests, args.timeout)
        finally:
            target.write_text(original, encoding="utf-8")
            copies.put(copy)
        done[0] += 1
        print(f"[{done[0]}/{len(mutants)}] {outcome:8s} {time.monotonic() - start:5.1f}s {len(tests):4d} tests  "
              f"{mutant.describe()}", flush=True)
        return outcome

    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        return list(pool.map(test, mutants))


def _print_summary(mutants: list[Mutant], outcomes: list[str]) -> None:
    total, killed = Counter(m.path for m in mutants), Counter(m.path for m, o in zip(mutants, outcomes)
                                                             if o != "survived")
    print("\nper file:")
    for path in sorted(total):
        print(f"  {killed[path]:4d}/{total[path]:<4d} {100 * killed[path] / total[path]:5.1f} %  {path}")
    n_killed = sum(killed.values())
    print(f"\nmutation score: {n_killed}/{len(mutants)} killed ({100 * n_killed / max(len(mutants), 1):.1f} %)")
    survivors = [m for m, o in zip(mutants, outcomes) if o == "survived"]
    if survivors:
        print("survivors:")
        print("\n".join(f"  {m.describe()}" for m in survivors))


if __name__ == "__main__":
    sys.exit(main())
