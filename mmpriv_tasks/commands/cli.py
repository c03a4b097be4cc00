"""The ``mmpriv`` command: run tasks through stock lm-eval, list/cite the registry, build data."""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from mmpriv_tasks import paths, registry
from mmpriv_tasks.commands.calibrate import add_calibrate_command
from mmpriv_tasks.commands.scaffold import add_new_task_command
from mmpriv_tasks.train.cli import add_memorize_command

DATA_COMMAND_MODULES = [
    "mmpriv_tasks.data.mmprivacy",
    "mmpriv_tasks.data.mmprivacy_import",
    "mmpriv_tasks.data.hearsay",
    "mmpriv_tasks.data.voices",
]


def cmd_run(args: argparse.Namespace, lm_eval_args: list[str]) -> int:
    from mmpriv_tasks.registry.retired import retired_in_args
    from mmpriv_tasks.commands.runner import run

    retired = retired_in_args(lm_eval_args)
    if retired:
        raise registry.RegistryError("; ".join(retired))
    return run(lm_eval_args)


def _run_reporting_input_errors(lm_eval_args: list[str]) -> int:
    """``mmpriv run``: a data or argument fault is one line and exit code 2 (traceback with --verbosity DEBUG)."""
    from mmpriv_tasks.errors import InputError
    from mmpriv_tasks.commands.runner import debug_requested

    try:
        return cmd_run(argparse.Namespace(), lm_eval_args)
    except (InputError, registry.RegistryError) as exc:
        if debug_requested(lm_eval_args):
            raise
        print(f"mmpriv: {exc}", file=sys.stderr)
        return 2


def cmd_path(args: argparse.Namespace) -> int:
    print(paths.metrics_dir() if args.metrics else paths.task_configs_dir())
    return 0


LIST_LEGEND = """\
Columns: version = the task's metadata.version (pinned in registry.lock; `mmpriv cite TASK` prints it with
its config hash); modality = what the model is given; items = rows of the bundled data the task evaluates,
"data*" = no bundled data: get it with `mmpriv data build --help` (generate) or `mmpriv data import --help`
(upstream releases), then pass `--metadata '{"data_dir": "DIR"}'` to `mmpriv run` or set $MMPRIV_DATA_DIR;
family = the task family (README: task_configs/<family>/README.md); citation = its BibTeX key."""


def _entries(args: argparse.Namespace) -> dict:
    """Our tasks, installed packs' and ``--include_path``'s."""
    from mmpriv_tasks.registry import packs

    return packs.entries(getattr(args, "include_path", None))


def cmd_list(args: argparse.Namespace) -> int:
    entries = _entries(args)
    rows = [("task", "version", "modality", "items", "family", "citation")]
    for name, entry in sorted(entries.items()):
        if entry.kind != "task":
            continue
        items = entry.num_items()
        rows.append((name, entry.version, entry.metadata.get("modality", "?"),
                     "data*" if items is None else str(items), entry.family, entry.metadata.get("citation", "")))
    _print_table(rows)
    groups = [(n, e.version, ", ".join(e.subtasks)) for n, e in sorted(entries.items()) if e.kind == "group"]
    if groups:
        print()
        _print_table([("group", "version", "members"), *groups])
    print()
    print(LIST_LEGEND)
    return 0


def _print_table(rows: list[tuple]) -> None:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())
        if n == 0:
            print("  ".join("-" * width for width in widths))


def cmd_cite(args: argparse.Namespace) -> int:
    from mmpriv_tasks import __version__
    from mmpriv_tasks.commands.run_scoring import cite_suffix, recorded_scoring

    if args.power is not None and not 0 <= args.power <= 1:
        raise ValueError(f"--power: the baseline rate must be between 0 and 1, got {args.power}")
    entries = _entries(args)
    tasks = registry.tasks_of(args.name, entries)
    keys = sorted({(t.path.parent, t.metadata.get("citation")) for t in tasks}, key=str)
    for family_dir, key in keys:
        print(registry.bibtex(family_dir, key))
        print()
    print(f"% Evaluated with mmpriv-tasks {__version__}: '{args.name}' =")
    scoring = recorded_scoring(args.results) if args.results else {}
    for task in tasks:
        print(f"%   {task.name} v{task.version} config:{task.config_hash} data:{task.data_fingerprint()}"
              f"{cite_suffix(scoring.get(task.name))}")
    if args.power is not None:
        _print_power(tasks, args.power)
    return 0


def _print_power(tasks, baseline: float) -> None:
    """Items per task and the smallest change of a rate from ``baseline`` detectable at 80 % power."""
    from mmpriv_tasks.scoring.stats import minimum_detectable_difference

    print(f"\n% Items and minimum detectable difference (80 % power, two-sided 5 % test, baseline rate {baseline:g}):")
    for task in tasks:
        items = task.num_items()
        mdd = minimum_detectable_difference(items or 0, baseline)
        print(f"%   {task.name}: {'no bundled data' if items is None else f'{items} items'}, "
              f"detectable difference {'–' if mdd is None else f'{mdd:.3f}'}")
    counts = [t.num_items() for t in tasks]
    if len(tasks) > 1 and None not in counts:
        mdd = minimum_detectable_difference(sum(counts), baseline)
        print(f"%   pooled over the {len(tasks)} tasks: {sum(counts)} items, detectable difference "
              f"{'–' if mdd is None else f'{mdd:.3f}'}")


def cmd_registry(args: argparse.Namespace) -> int:
    root = Path(args.configs).resolve() if args.configs else None
    if args.update:
        print(f"wrote {registry.write_lock(root)}")
        return 0
    problems = registry.lock_problems(root)
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"{registry.lock_path(root)} matches the task configs (version, config, data, prompts, scoring)")
    return 1 if problems else 0


def cmd_validate(args: argparse.Namespace) -> int:
    from mmpriv_tasks.commands.validate import validate

    problems = validate(args.tasks.split(",") if args.tasks else None, args.include_path)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


def cmd_report(args: argparse.Namespace) -> int:
    from mmpriv_tasks.report import render

    markdown = render([Path(run) for run in args.runs], Path(args.out) if args.out else None, args.mixed_limits)
    print(markdown)  # a ReportError (ValueError) is reported by main()
    out = Path(args.out) if args.out else next(Path(r) if Path(r).is_dir() else Path(r).parent for r in args.runs)
    print(f"wrote {out / 'report.md'} and {out / 'report.html'}", file=sys.stderr)
    return 0


def _add_data_commands(subparsers) -> None:
    data = subparsers.add_parser("data", help="build synthetic datasets or import upstream releases")
    actions = data.add_subparsers(dest="action", required=True)
    build = actions.add_parser("build", help="generate a dataset").add_subparsers(dest="dataset", required=True)
    importers = actions.add_parser("import", help="import a release").add_subparsers(dest="source", required=True)
    for module_name in DATA_COMMAND_MODULES:
        importlib.import_module(module_name).add_data_commands(build, importers)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mmpriv", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="lm-eval run with mmpriv tasks and models (takes every lm-eval run option)",
                   add_help=False)
    p = sub.add_parser("path", help="print the task_configs folder (for lm-eval --include_path)")
    p.add_argument("--metrics", action="store_true", help="print the metrics folder instead")
    p.set_defaults(func=cmd_path)
    include_help = "also a folder of your own task configs (as for `mmpriv run --include_path`)"
    p = sub.add_parser("list", help="every task with version, modality, items, family, citation")
    p.add_argument("--include_path", metavar="DIR", help=include_help)
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("cite", help="BibTeX and registry pins for a task or group")
    p.add_argument("name")
    p.add_argument("--results", metavar="RUN", help="a run's output folder: add how each task was scored")
    p.add_argument("--power", nargs="?", const=0.5, type=float, metavar="BASELINE",
                   help="also print each task's items and the smallest difference in a rate detectable at 80 %% "
                        "power from BASELINE (default 0.5, the hardest case)")
    p.add_argument("--include_path", metavar="DIR", help=include_help)
    p.set_defaults(func=cmd_cite)
    p = sub.add_parser("registry", help="check task configs against registry.lock (or --update it)")
    p.add_argument("--update", action="store_true", help="rewrite registry.lock from the configs and code")
    p.add_argument("--configs", metavar="DIR", help="a task_configs folder other than the installed one")
    p.set_defaults(func=cmd_registry)
    p = sub.add_parser("validate", help="check the lock, build each task with lm-eval, render its first prompt")
    p.add_argument("--tasks", help="comma-separated tasks or groups (default: all)")
    p.add_argument("--include_path", metavar="DIR", help=include_help)
    p.set_defaults(func=cmd_validate)
    p = sub.add_parser("report", help="report.md + report.html comparing runs: leaderboard, per-family sections "
                                      "with plots, scoring mode, metric glossary")
    p.add_argument("runs", nargs="+", metavar="RUN",
                   help="a run's --output_path (every run under it is reported), model folder or results_*.json")
    p.add_argument("--out", help="folder for report.md / report.html (default: the first RUN folder)")
    p.add_argument("--mixed_limits", action="store_true",
                   help="rank runs made with different --limit together (refused otherwise)")
    p.set_defaults(func=cmd_report)
    _add_data_commands(sub)
    add_memorize_command(sub)
    add_new_task_command(sub)
    add_calibrate_command(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["run"]:
        return _run_reporting_input_errors(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (registry.RegistryError, KeyError, ValueError, FileNotFoundError) as exc:  # input errors: no traceback
        print(f"mmpriv: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
