"""``mmpriv report RUN [RUN ...] [--out DIR]``: ``report.md`` and a self-contained ``report.html``
comparing every run found (leaderboard, per-task metrics, each task family's section, scoring mode,
the detector's calibration where ``mmpriv calibrate`` wrote one, metric glossary).

Task families plug in without edits here: a ``report.py`` in a family's task-config folder (ours,
an installed pack's, or ``--include_path``) may define any of

- ``GLOSSARY: dict[str, str]``: metric -> one-line meaning;
- ``AGGREGATES: dict[str, tuple[str, str]]``: leaderboard column -> (task-name regex, 0/1 metric), pooled
  over every scored sample of the matching tasks (with its interval) and compared pairwise;
- ``leaderboard(run) -> dict[str, float | None]``: further headline columns for one run;
- ``section(runs, tasks) -> Section | None``: its section (``tasks``: the task names the folder defines),

built from :mod:`mmpriv_tasks.report.blocks` (``Section``, ``Text``, ``Table``, ``bar_chart``, ``heatmap``,
``scatter``). Runs are :class:`mmpriv_tasks.report.runs.Run` objects (``metric``, ``n``, ``samples``).
"""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from types import ModuleType

from mmpriv_tasks.report import calibration, compare
from mmpriv_tasks.report.blocks import Figure, Rate, Section, Table, Text, fmt
from mmpriv_tasks.report.render import write_html, write_markdown
from mmpriv_tasks.report.runs import ReportError, Run, find_runs

__all__ = ["ReportError", "Run", "Section", "Table", "Text", "Figure", "Rate", "find_runs", "family_hooks", "build",
           "render"]

METRIC_COLUMNS = ("leak_rate", "refusal_rate", "leak_rate_answered", "distractor_leak_rate",
                  "control_answer_rate", "accuracy", "macro_f1", "chance", "error_rate")
GLOSSARY = {
    "samples": "samples the task evaluated, errored ones included (for a group: summed over its tasks).",
    "n": "samples scored for that number: errored samples (and, for `*_answered`, refusals) are left out.",
    "[low, high]": "95 % interval next to a rate: Wilson score interval over the n scored samples (for a "
                   "statistic that is not a share, such as macro_f1 or blind_entropy: value +- 1.96 bootstrap "
                   "stderr). With 95 % confidence the rate on unlimited items of the same kind lies inside; "
                   "errored samples are excluded.",
    "pooled": "an aggregate over several tasks (group rows, leaderboard columns): every scored sample of those "
              "tasks counted once (sample-weighted), so it agrees between leaderboard and tables. lm-eval's own "
              "group value in results_*.json weights tasks by all their samples, errors included (equal when "
              "error_rate is 0).",
    "≈": "leaderboard: the difference from the first run's value is not significant (paired test, Holm-corrected "
         "p >= 0.05; see Paired comparisons).",
    "p (Holm)": "paired comparison p-value after Holm's correction across every comparison in the report.",
    "refusal_rate": "share of scored replies that decline (offline detector or LLM judge, see Scoring mode).",
    "error_rate": "share of samples whose model call or media failed; they get no other decision "
                  "(so a failing model never looks safe).",
    "judged_rate": "share of refusal decisions made by the LLM judge (0 in offline mode).",
    "judge_error_rate": "share of samples whose judge call failed (no refusal decision, never counted as refused).",
}


def family_hooks(roots: list[Path] | None = None) -> list[tuple[ModuleType, set[str]]]:
    """``(module, task names)`` of every family folder holding a ``report.py`` under ``roots``
    (default: ours and the installed packs')."""
    from mmpriv_tasks import registry
    from mmpriv_tasks.registry import packs

    hooks = []
    for root in roots if roots is not None else packs.task_roots():
        entries = registry.discover(root)
        for path in sorted(root.rglob("report.py")):
            if "__pycache__" in path.parts:
                continue
            spec = importlib.util.spec_from_file_location(f"mmpriv_report_hook_{len(hooks)}", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            tasks = {n for n, e in entries.items() if e.path.parent == path.parent}
            hooks.append((module, tasks))
    return hooks


def refusal_decisions(results: dict) -> str:
    """Which mode decided the refusal flags of one run (offline detector, LLM judge, or both)."""
    def scored(metric: str) -> list[float]:
        values = (m.get(f"{metric},none") for m in results.values())
        return [v for v in values if isinstance(v, (int, float)) and not math.isnan(v)]

    judged, errors = scored("judged_rate"), sum(scored("judge_error_rate"))
    if not judged or max(judged) == 0:
        return "Refusals decided by the offline detector (`detect_refusal`)."
    mode = "the LLM judge" if min(judged) == 1 else "hybrid mode (the judge asked only about unsure replies)"
    note = " Some judge calls failed: see `judge_error_rate` (those replies have no refusal decision)." if errors else ""
    return f"Refusals decided by {mode}; share judged per task: `judged_rate`.{note}"


def _recorded(run: Run, key: str) -> str:
    """Distinct values of a string metric recorded by the tasks (e.g. ``scoring_mode``)."""
    values = {str(run.metric(t, key)) for t in run.tasks if run.metric(t, key) not in (None, "")}
    return ", ".join(sorted(v for part in values for v in part.split(", ")))


def _limit(run: Run) -> str:
    return "all items" if run.limit is None else f"--limit {run.limit:g}"


def check_limits(runs: list[Run], mixed: bool = False) -> None:
    """ReportError unless every run evaluated the same ``--limit`` (or ``mixed`` allows ranking them together)."""
    limits = {_limit(run) for run in runs}
    if len(limits) > 1 and not mixed:
        raise ReportError(f"runs with different item limits ({', '.join(sorted(limits))}: "
                          f"{', '.join(f'{r.label}: {_limit(r)}' for r in runs)}) are not ranked together; "
                          f"report them apart or pass --mixed_limits")


def _runs_section(runs: list[Run]) -> Section:
    rows = [[run.label, str(run.results_file), len(run.leaf_tasks), len(run.groups), _limit(run),
             run.payload.get("date") and run.stamp[:19]] for run in runs]
    limited = [run.label for run in runs if run.limit is not None]
    note = (f" Limited runs ({', '.join(limited)}) evaluated only the first items of each task: their numbers "
            "are not the benchmark's." if limited else "")
    return Section("Runs", [Text(f"{len(runs)} run(s) reported, oldest first.{note}"),
                            Table(["run", "results file", "tasks", "groups", "items", "date"], rows)])


def aggregates(hooks) -> dict[str, tuple[str, str]]:
    """Every family's pooled leaderboard columns: name -> (task regex, metric)."""
    found: dict = {}
    for module, _ in hooks:
        found.update(getattr(module, "AGGREGATES", {}))
    return found


def _leaderboard(runs: list[Run], hooks, comparisons: list[dict]) -> Section:
    columns: dict[str, None] = {}
    values = []
    pooled_columns = aggregates(hooks)
    for run in runs:
        row = {name: run.pooled(pattern, metric) for name, (pattern, metric) in pooled_columns.items()}
        row = {name: rate for name, rate in row.items() if rate is not None}
        for module, _ in hooks:
            if hasattr(module, "leaderboard"):
                row.update(module.leaderboard(run) or {})
        columns.update(dict.fromkeys(row))
        values.append(row)
    same = {(c["run_b"].label, c["what"]) for c in comparisons if c["run_a"] is runs[0] and c.get("aggregate")
            and not compare.significant(c)}
    rows = [[run.label + ("" if run.limit is None else f" ({_limit(run)})"), len(run.leaf_tasks),
             *(_mark(row.get(c), (run.label, c) in same) for c in columns)] for run, row in zip(runs, values)]
    text = ("One row per run; lower leak rate / accuracy is safer. Columns named after a metric pool every "
            "scored sample of the family's tasks (see `pooled`); 95 % interval and n beside each value. "
            + ("≈ marks a value not significantly different from the first run's (paired test, Holm-corrected). "
               if len(runs) > 1 else "") + "Metrics are explained in the glossary.")
    return Section("Leaderboard", [Text(text), Table(["model", "tasks", *columns], rows)])


def _mark(value, same: bool):
    if not same:
        return value
    return f"≈ {fmt(value)}"


def _metrics_section(runs: list[Run]) -> Section:
    blocks = [Text("Each cell: value, 95 % interval, n scored. Group rows (in italics) pool their tasks' samples "
                   "(see `pooled`).")]
    for run in runs:
        columns = [m for m in METRIC_COLUMNS if any(run.metric(t, m) is not None for t in run.tasks)]
        rows = [[f"*{task}* (group)" if task in run.groups else task, run.n(task),
                 *(run.rate(task, m) for m in columns)]
                for task in run.tasks if any(run.metric(task, m) is not None for m in columns)]
        blocks += [Text(f"**{run.label}** (`{run.results_file.name}`)"), Table(["task", "samples", *columns], rows)]
    return Section("Per-task metrics", blocks)


def _scoring_section(runs: list[Run]) -> Section:
    rows = [[run.label, _recorded(run, "scoring_mode") or "offline", _recorded(run, "judge_model") or "–",
             _recorded(run, "judge_prompt") or "–", refusal_decisions(run.results)] for run in runs]
    return Section("Scoring mode", [Table(["run", "scoring_mode", "judge model", "judge prompt", "refusal decisions"],
                                          rows)])


def _glossary_section(hooks) -> Section:
    glossary = dict(GLOSSARY)
    for module, _ in hooks:
        glossary.update(getattr(module, "GLOSSARY", {}))
    return Section("Metric glossary", [Table(["metric", "meaning"], [[f"`{k}`", v] for k, v in sorted(glossary.items())])])


def build(runs: list[Run], hooks=None, mixed_limits: bool = False) -> list[Section]:
    """The report's sections, in order."""
    hooks = family_hooks() if hooks is None else hooks
    check_limits(runs, mixed_limits)
    paired, comparisons = compare.section(runs, aggregates(hooks))
    sections = [_runs_section(runs), _leaderboard(runs, hooks, comparisons), _metrics_section(runs)]
    sections += [paired] if paired else []
    for module, tasks in hooks:
        if hasattr(module, "section"):
            section = module.section(runs, tasks)
            if section is not None and section.blocks:
                sections.append(section)
    return sections + [_scoring_section(runs), calibration.section(runs), _glossary_section(hooks)]


def render(sources: list[Path] | Path, out: Path | None = None, mixed_limits: bool = False) -> str:
    """Write ``report.md`` and ``report.html`` for every run under ``sources`` into ``out`` (default:
    the first source folder); returns the Markdown."""
    sources = [Path(s) for s in (sources if isinstance(sources, (list, tuple)) else [sources])]
    runs = find_runs(sources)
    first = sources[0]
    out = Path(out) if out else (first if first.is_dir() else first.parent)
    sections = build(runs, mixed_limits=mixed_limits)
    markdown = write_markdown(sections, out)
    write_html(sections, out, title=f"mmpriv report: {', '.join(r.label for r in runs)}")
    return markdown
