"""Mutation check of the test suite: inject one single-line bug at a time, run a targeted test
selection, count the mutants the tests kill; print the score and every survivor. Not run by CI.

    .venv/bin/python scripts/mutation.py                                   # scoring/, task hooks, registry
    .venv/bin/python scripts/mutation.py --files mmpriv_tasks/scoring/pii.py --tests tests/test_scoring_pii.py \
        --max 20 --seed 1

Mutations (Python ``ast``, one per mutant, only nodes on one line): comparison operators
(``==``/``!=``, ``<``/``<=``, ``>``/``>=``, ``in``/``not in``, ``is``/``is not``), ``and``/``or``,
arithmetic operators (``+``/``-``, ``*``/``/``), a dropped ``not``, integer constants (n -> n + 1),
``True``/``False``, and ``return <value>`` -> ``return None``. Docstrings and logging are left alone.

Every mutant runs in a private copy of the repository (package, task_configs, metrics, tests)
put first on ``PYTHONPATH``, so the working tree is never modified and the console scripts the
tests call import the mutated copy. A mutant is killed when the selection fails or exceeds
``--timeout`` seconds.
"""
from __future__ import annotations

import argparse
import ast
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_FILES = ["mmpriv_tasks/scoring/*.py", "mmpriv_tasks/tasks/*.py", "mmpriv_tasks/registry.py",
                 "mmpriv_tasks/behaviour.py"]
DEFAULT_TESTS = ["tests/test_scoring_pii.py", "tests/test_scoring_refusal.py", "tests/test_hearsay_parsing.py",
                 "tests/test_judge.py", "tests/test_registry.py", "tests/test_registry_behaviour.py",
                 "tests/test_metrics_evaluate.py", "tests/test_disclosure_e2e.py", "tests/test_hearsay_e2e.py"]
COPIED = ("mmpriv_tasks", "task_configs", "metrics", "tests", "pyproject.toml")

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
        return f"{self.path}:{self.line}: {self.original!r} -> {self.replacement!r}"


def _between(line: str, start: int, end: int, token: str) -> tuple[int, int] | None:
    """The span of operator ``token`` in ``line[start:end]`` (the gap between two operands)."""
    gap = line[start:end]
    index = gap.find(token)
    return None if index < 0 else (start + index, start + index + len(token))


def _skipped(node: ast.AST, parents: dict) -> bool:
    """Logging calls and type annotations are not mutated (docstrings never are: strings are kept)."""
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
    rel = str(path.relative_to(REPO))
    found: list[Mutant] = []

    def add(node, start, end, replacement):
        original = lines[node.lineno - 1][start:end]
        if original != replacement:
            found.append(Mutant(rel, node.lineno, start, end, replacement, original))

    for node in ast.walk(tree):
        if not hasattr(node, "lineno") or getattr(node, "end_lineno", None) != node.lineno or _skipped(node, parents):
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
        elif isinstance(node, ast.Constant) and type(node.value) is int:
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


def run_tests(copy: Path, tests: list[str], timeout: float) -> str:
    """"killed" / "survived" / "timeout" for the current state of ``copy``."""
    env = {**os.environ, "PYTHONPATH": str(copy) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    try:
        proc = subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout"
    return "survived" if proc.returncode == 0 else "killed"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", nargs="+", default=DEFAULT_FILES, help="files or globs (relative to the repo)")
    parser.add_argument("--tests", nargs="+", default=DEFAULT_TESTS, help="the pytest selection run per mutant")
    parser.add_argument("--max", type=int, default=0, help="at most this many mutants, sampled (0: all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the --max sample")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per mutant before it counts as killed")
    parser.add_argument("--list", action="store_true", help="only list the mutants")
    args = parser.parse_args(argv)

    files = sorted({p for pattern in args.files for p in REPO.glob(pattern) if p.suffix == ".py"})
    mutants = [m for path in files for m in mutants_of(path)]
    if args.max and len(mutants) > args.max:
        mutants = sorted(random.Random(args.seed).sample(mutants, args.max), key=lambda m: (m.path, m.line))
    if args.list:
        print("\n".join(m.describe() for m in mutants))
        return 0
    with tempfile.TemporaryDirectory(prefix="mmpriv-mutation-") as tmp:
        copy = Path(tmp)
        _copy_repo(copy)
        baseline = run_tests(copy, args.tests, args.timeout)
        if baseline != "survived":
            print(f"the test selection fails without any mutation ({baseline}): fix that first", file=sys.stderr)
            return 2
        survivors, killed = [], 0
        for n, mutant in enumerate(mutants, 1):
            target = copy / mutant.path
            original = target.read_text(encoding="utf-8")
            target.write_text(mutant.apply(original), encoding="utf-8")
            start = time.monotonic()
            try:
                outcome = run_tests(copy, args.tests, args.timeout)
            finally:
                target.write_text(original, encoding="utf-8")
            killed += outcome != "survived"
            if outcome == "survived":
                survivors.append(mutant)
            print(f"[{n}/{len(mutants)}] {outcome:8s} {time.monotonic() - start:5.1f}s  {mutant.describe()}",
                  flush=True)
    total = len(mutants)
    print(f"\nmutation score: {killed}/{total} killed ({100 * killed / max(total, 1):.0f} %)")
    if survivors:
        print("survivors:")
        print("\n".join(f"  {m.describe()}" for m in survivors))
    return 0


if __name__ == "__main__":
    sys.exit(main())
