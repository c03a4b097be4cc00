"""The ``mmpriv`` command: run tasks through stock lm-eval, list/cite the registry, build data."""
from __future__ import annotations

import argparse
import atexit
import importlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

from mmpriv_tasks import paths, registry
from mmpriv_tasks.scaffold import add_new_task_command
from mmpriv_tasks.train.cli import add_memorize_command

DATA_COMMAND_MODULES = [
    "mmpriv_tasks.data.mmprivacy",
    "mmpriv_tasks.data.mmprivacy_import",
    "mmpriv_tasks.data.hearsay",
    "mmpriv_tasks.data.voices",
]


def _include_path(argv: list[str]) -> tuple[list[str], str]:
    """argv without ``--include_path`` and the folder to include: ours, or copies of ours and the
    user's side by side (lm-eval takes one include path and does not follow symlinks)."""
    ours = paths.task_configs_dir()
    rest, theirs, i = [], None, 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--include_path" and i + 1 < len(argv):
            theirs, i = argv[i + 1], i + 2
            continue
        if arg.startswith("--include_path="):
            theirs = arg.split("=", 1)[1]
        else:
            rest.append(arg)
        i += 1
    if theirs is None:
        return rest, str(ours)
    combined = Path(tempfile.mkdtemp(prefix="mmpriv-include-"))
    atexit.register(shutil.rmtree, combined, ignore_errors=True)
    shutil.copytree(ours, combined / "mmpriv_tasks")
    shutil.copytree(Path(theirs).resolve(), combined / "user_tasks")
    return rest, str(combined)


def cmd_run(args: argparse.Namespace, lm_eval_args: list[str]) -> int:
    """Validate our configs, then hand every option to ``lm-eval run`` with our include path
    (and ``--log_samples`` whenever results are written)."""
    import mmpriv_tasks  # noqa: F401  (registers our models before lm-eval builds one)
    from lm_eval.__main__ import cli_evaluate

    registry.discover()  # a broken task YAML fails here, naming the file
    rest, include = _include_path(lm_eval_args)
    if any(a == "--output_path" or a.startswith("--output_path=") for a in rest) and "--log_samples" not in rest:
        rest.append("--log_samples")  # `mmpriv report` needs the per-sample flags
    sys.argv = ["lm-eval", "run", *rest, "--include_path", include]
    cli_evaluate()
    return 0


def cmd_path(args: argparse.Namespace) -> int:
    print(paths.metrics_dir() if args.metrics else paths.task_configs_dir())
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    entries = registry.discover()
    rows = [("task", "version", "modality", "items", "family", "citation")]
    for name, entry in sorted(entries.items()):
        if entry.kind != "task":
            continue
        items = entry.num_items()
        rows.append((name, entry.version, entry.metadata.get("modality", "?"),
                     "import" if items is None else str(items), entry.family, entry.metadata.get("citation", "")))
    _print_table(rows)
    groups = [(n, e.version, ", ".join(e.subtasks)) for n, e in sorted(entries.items()) if e.kind == "group"]
    if groups:
        print()
        _print_table([("group", "version", "members"), *groups])
    return 0


def _print_table(rows: list[tuple]) -> None:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())
        if n == 0:
            print("  ".join("-" * width for width in widths))


def cmd_cite(args: argparse.Namespace) -> int:
    from mmpriv_tasks import __version__

    entries = registry.discover()
    tasks = registry.tasks_of(args.name, entries)
    keys = sorted({(t.path.parent, t.metadata.get("citation")) for t in tasks}, key=str)
    for family_dir, key in keys:
        print(registry.bibtex(family_dir, key))
        print()
    print(f"% Evaluated with mmpriv-tasks {__version__}: '{args.name}' =")
    for task in tasks:
        print(f"%   {task.name} v{task.version} config:{task.config_hash} data:{task.data_fingerprint()}")
    return 0


def cmd_registry(args: argparse.Namespace) -> int:
    if args.update:
        print(f"wrote {registry.write_lock()}")
        return 0
    problems = registry.lock_problems()
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"{registry.lock_path()} matches the task configs")
    return 1 if problems else 0


def cmd_validate(args: argparse.Namespace) -> int:
    from mmpriv_tasks.validate import validate

    problems = validate(args.tasks.split(",") if args.tasks else None)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


def cmd_report(args: argparse.Namespace) -> int:
    from mmpriv_tasks.report import render

    print(render(Path(args.output_dir)))  # a ReportError (ValueError) is reported by main()
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
    sub.add_parser("list", help="every task with version, modality, items, family, citation").set_defaults(
        func=cmd_list)
    p = sub.add_parser("cite", help="BibTeX and registry pins for a task or group")
    p.add_argument("name")
    p.set_defaults(func=cmd_cite)
    p = sub.add_parser("registry", help="check task configs against registry.lock (or --update it)")
    p.add_argument("--update", action="store_true")
    p.set_defaults(func=cmd_registry)
    p = sub.add_parser("validate", help="check the lock, build each task with lm-eval, render its first prompt")
    p.add_argument("--tasks", help="comma-separated tasks or groups (default: all)")
    p.set_defaults(func=cmd_validate)
    p = sub.add_parser("report", help="tables, breakdowns and task inconsistency from an lm-eval output dir")
    p.add_argument("output_dir", help="the --output_path of a run made with --log_samples")
    p.set_defaults(func=cmd_report)
    _add_data_commands(sub)
    add_memorize_command(sub)
    add_new_task_command(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["run"]:
        return cmd_run(argparse.Namespace(), argv[1:])
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
