"""``mmpriv report RUN [RUN ...] [--out DIR]``: ``report.md`` and a self-contained ``report.html``
comparing every run found (leaderboard, per-task metrics, each task family's section, scoring mode,
metric glossary).

Task families plug in without edits here: a ``report.py`` in a family's task-config folder (ours,
an installed pack's, or ``--include_path``) may define any of

- ``GLOSSARY: dict[str, str]``: metric -> one-line meaning;
- ``leaderboard(run) -> dict[str, float | None]``: the family's headline columns for one run;
- ``section(runs, tasks) -> Section | None``: its section (``tasks``: the task names the folder defines),

built from :mod:`mmpriv_tasks.report.blocks` (``Section``, ``Text``, ``Table``, ``bar_chart``, ``heatmap``,
``scatter``). Runs are :class:`mmpriv_tasks.report.runs.Run` objects (``metric``, ``n``, ``samples``).
"""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from types import ModuleType

from mmpriv_tasks.report.blocks import Figure, Section, Table, Text
from mmpriv_tasks.report.render import write_html, write_markdown
from mmpriv_tasks.report.runs import ReportError, Run, find_runs

__all__ = ["ReportError", "Run", "Section", "Table", "Text", "Figure", "find_runs", "family_hooks", "build", "render"]

METRIC_COLUMNS = ("leak_rate", "refusal_rate", "leak_rate_answered", "distractor_leak_rate",
                  "control_answer_rate", "accuracy", "macro_f1", "chance", "error_rate")
GLOSSARY = {
    "n": "samples scored in the task (for a group: summed over its tasks).",
    "refusal_rate": "share of scored replies that decline (offline detector or LLM judge, see Scoring mode).",
    "error_rate": "share of samples whose model call or media failed; they get no other decision "
                  "(so a failing model never looks safe).",
    "judged_rate": "share of refusal decisions made by the LLM judge (0 in offline mode).",
    "judge_error_rate": "share of samples whose judge call failed (no refusal decision, never counted as refused).",
}


def family_hooks(roots: list[Path] | None = None) -> list[tuple[ModuleType, set[str]]]:
    """``(module, task names)`` of every family folder holding a ``report.py`` under ``roots``
    (default: ours and the installed packs')."""
    from mmpriv_tasks import packs, registry

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


def _runs_section(runs: list[Run]) -> Section:
    rows = [[run.label, str(run.results_file), len(run.tasks), run.payload.get("date") and run.stamp[:19]]
            for run in runs]
    return Section("Runs", [Text(f"{len(runs)} run(s) reported, oldest first."),
                            Table(["run", "results file", "tasks", "date"], rows)])


def _leaderboard(runs: list[Run], hooks) -> Section:
    columns: dict[str, None] = {}
    values = []
    for run in runs:
        row = {}
        for module, _ in hooks:
            if hasattr(module, "leaderboard"):
                row.update(module.leaderboard(run) or {})
        columns.update(dict.fromkeys(row))
        values.append(row)
    rows = [[run.label, len(run.tasks), *(row.get(c) for c in columns)] for run, row in zip(runs, values)]
    return Section("Leaderboard", [Text("One row per run; lower leak rate / accuracy is safer. "
                                        "Metrics are explained in the glossary."),
                                   Table(["model", "tasks", *columns], rows)])


def _metrics_section(runs: list[Run]) -> Section:
    blocks = []
    for run in runs:
        columns = [m for m in METRIC_COLUMNS if any(run.metric(t, m) is not None for t in run.tasks)]
        rows = [[task, run.n(task), *(run.metric(task, m) for m in columns)] for task in run.tasks
                if any(run.metric(task, m) is not None for m in columns)]
        blocks += [Text(f"**{run.label}** (`{run.results_file.name}`)"), Table(["task", "n", *columns], rows)]
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


def build(runs: list[Run], hooks=None) -> list[Section]:
    """The report's sections, in order."""
    hooks = family_hooks() if hooks is None else hooks
    sections = [_runs_section(runs), _leaderboard(runs, hooks), _metrics_section(runs)]
    for module, tasks in hooks:
        if hasattr(module, "section"):
            section = module.section(runs, tasks)
            if section is not None and section.blocks:
                sections.append(section)
    return sections + [_scoring_section(runs), _glossary_section(hooks)]


def render(sources: list[Path] | Path, out: Path | None = None) -> str:
    """Write ``report.md`` and ``report.html`` for every run under ``sources`` into ``out`` (default:
    the first source folder); returns the Markdown."""
    sources = [Path(s) for s in (sources if isinstance(sources, (list, tuple)) else [sources])]
    runs = find_runs(sources)
    first = sources[0]
    out = Path(out) if out else (first if first.is_dir() else first.parent)
    sections = build(runs)
    markdown = write_markdown(sections, out)
    write_html(sections, out, title=f"mmpriv report: {', '.join(r.label for r in runs)}")
    return markdown
