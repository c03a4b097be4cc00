"""The shape of the code: import layering without cycles (lazy imports included), each vocabulary
defined once, and every task's declared metrics equal to what its ``process_results`` returns."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import REPO

PACKAGE = REPO / "mmpriv_tasks"
# What each layer may not import (DESIGN.md "Layering"): scoring/ is pure (plumbing only); models/,
# tasks/, data/ and metrics/ use scoring/ and plumbing, never each other or an entry point.
# Folders of the package (DESIGN.md "Layout"): commands/ (the `mmpriv` command), registry/ (task index and
# pins), outputs/ (what a run writes), report/, train/ are entry points; inputs/ (task data, media), api/,
# errors, paths and argv are plumbing.
ENTRY_POINTS = {"commands", "registry", "outputs", "report", "train"}
FORBIDDEN = {
    "scoring": {"tasks", "models", "data", "metrics", "inputs"} | ENTRY_POINTS,
    "models": {"tasks", "data", "metrics"} | ENTRY_POINTS,
    "tasks": {"models", "data", "metrics"} | ENTRY_POINTS,
    "data": {"tasks", "models", "metrics"} | ENTRY_POINTS,
    "metrics": {"tasks", "models", "data"} | ENTRY_POINTS,
}


def _modules() -> dict[str, Path]:
    """Module name -> file, for the package and the metric modules (``metrics.<name>``)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(REPO).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    for path in sorted((REPO / "metrics").glob("*/*.py")):
        found[f"metrics.{path.stem}"] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """Which of our modules each module imports anywhere in its body (lazy imports included)."""
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("mmpriv_tasks"):
                for alias in node.names:
                    submodule = f"{node.module}.{alias.name}"
                    targets.add(submodule if submodule in modules else node.module)
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names if a.name.startswith("mmpriv_tasks")}
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def layer(module: str) -> str:
    parts = module.split(".")
    return "metrics" if parts[0] == "metrics" else (parts[1] if len(parts) > 1 else "package")


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_layering_and_no_import_cycles():
    graph = import_graph()
    assert len(graph) > 40 and graph["mmpriv_tasks.tasks.mmprivacy"], "the scan must see our modules and imports"
    upward = [f"{source} -> {target}" for source, targets in sorted(graph.items()) for target in sorted(targets)
              if layer(target) in FORBIDDEN.get(layer(source), set())]
    assert not upward, "imports against the layering in DESIGN.md:\n" + "\n".join(upward)
    assert not cycles(graph), f"import cycles: {cycles(graph)}"


def test_the_cycle_check_sees_lazy_imports():
    graph = {"a": {"b"}, "b": {"a"}, "c": set()}
    assert cycles(graph) == [["a", "b"]]


@pytest.mark.parametrize("name", ["PII_TYPES", "ATTRIBUTES", "LABELS", "DIMENSIONS"])
def test_each_vocabulary_is_defined_once(name):
    sources = sorted(PACKAGE.rglob("*.py")) + sorted((REPO / "task_configs").rglob("*.py"))
    defined = [str(path.relative_to(REPO)) for path in sources
               for node in ast.parse(path.read_text(encoding="utf-8")).body
               if isinstance(node, (ast.Assign, ast.AnnAssign))
               for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
               if isinstance(target, ast.Name) and target.id == name]
    assert len(defined) == 1, f"{name} is defined in {defined}"


def test_declared_metrics_are_what_process_results_returns():
    """Each task YAML's ``metric_list`` names exactly the keys its ``process_results`` returns (on an
    empty reply, an opt-out, a model error and a gold value), so neither side can drift."""
    from mmpriv_tasks import registry
    from mmpriv_tasks.registry import behaviour
    from mmpriv_tasks.errors import format_error

    checked, drift = 0, []
    for name, entry in sorted(registry.discover().items()):
        if entry.kind != "task":
            continue
        config = behaviour.lm_eval_config(entry.path)
        task = behaviour.probe_task(config)
        if task is None:  # needs imported data (e.g. the Real Image subset)
            continue
        doc = task.test_docs()[0]
        gold = str(doc.get("pii_value") or doc.get("label") or "x")
        returned = set()
        for reply in ("", "cannot assist", format_error("api", "HTTP 500"), gold):
            returned |= set(task.process_results(doc, [reply]))
        declared = {metric["metric"] for metric in config["metric_list"]}
        checked += 1
        if returned != declared:
            drift.append(f"{name}: declared only {sorted(declared - returned)}, returned only {sorted(returned - declared)}")
    assert checked >= 50 and not drift, "\n".join(drift)


def test_every_module_opens_with_its_purpose():
    sources = [*PACKAGE.rglob("*.py"), *(REPO / "metrics").glob("*/*.py"), *(REPO / "task_configs").rglob("*.py")]
    silent = [str(path.relative_to(REPO)) for path in sorted(sources)
              if not (ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or "").strip()]
    assert not silent, f"modules without a one-line purpose docstring: {silent}"


def test_the_package_root_holds_only_plumbing():
    """Modules live in folders that say what they are for; the root keeps the shared plumbing only."""
    loose = sorted(path.stem for path in PACKAGE.glob("*.py"))
    assert loose == ["__init__", "argv", "errors", "paths"]
