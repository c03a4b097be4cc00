"""Installable task packs: a Python package declaring an entry point in the group ``mmpriv_tasks.packs``
whose value is a callable returning its task-config folder (YAMLs, ``registry.lock``, ``CITATION.bib``,
optional family ``report.py``). Its tasks join ours in ``mmpriv list | run | cite | validate | report``
with no ``--include_path``.

    [project.entry-points."mmpriv_tasks.packs"]
    my_pack = "my_pack:task_configs"
"""
from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import lru_cache
from importlib.metadata import entry_points
from pathlib import Path

from mmpriv_tasks import paths, registry

GROUP = "mmpriv_tasks.packs"


class PackError(registry.RegistryError):
    """An installed pack whose entry point fails or names no folder; the message names the pack."""


@lru_cache(maxsize=1)
def pack_dirs() -> dict[str, Path]:
    """Installed packs: entry-point name -> its task-config folder."""
    found = {}
    for point in sorted(entry_points(group=GROUP), key=lambda p: p.name):
        try:
            folder = Path(point.load()()).resolve()
        except Exception as exc:  # noqa: BLE001 - any failure of third-party code is reported the same way
            raise PackError(f"task pack '{point.name}' ({point.value}): its entry point failed: {exc}") from exc
        if not folder.is_dir():
            raise PackError(f"task pack '{point.name}' ({point.value}) returned {folder}, which is not a folder")
        found[point.name] = folder
    return found


def task_roots(include: str | Path | None = None) -> list[Path]:
    """Our task folder, every installed pack's, then ``include`` (a user's ``--include_path``)."""
    roots = [paths.task_configs_dir(), *pack_dirs().values()]
    return roots + ([Path(include).resolve()] if include else [])


def entries(include: str | Path | None = None) -> dict[str, registry.Entry]:
    """Every task and group of :func:`task_roots`, by name; a name defined twice is an error."""
    merged: dict[str, registry.Entry] = {}
    for root in task_roots(include):
        for name, entry in registry.discover(root).items():
            if name in merged:
                raise registry.RegistryError(f"{entry.path}: name '{name}' is already defined in {merged[name].path}")
            merged[name] = entry
    return merged


def lock_problems(include: str | Path | None = None) -> list[str]:
    """Lock problems of every root (each pack pins its own tasks in its own ``registry.lock``)."""
    return [problem for root in task_roots(include) for problem in registry.lock_problems(root)]


def include_path(include: str | Path | None = None) -> str:
    """One folder for lm-eval's ``--include_path`` (it takes one and does not follow symlinks): ours
    alone, or copies of every root side by side, removed at exit."""
    roots = task_roots(include)
    if len(roots) == 1:
        return str(roots[0])
    combined = Path(tempfile.mkdtemp(prefix="mmpriv-include-"))
    atexit.register(shutil.rmtree, combined, ignore_errors=True)
    for i, root in enumerate(roots):
        shutil.copytree(root, combined / f"{i:02d}_{root.name}", ignore=shutil.ignore_patterns("__pycache__"))
    return str(combined)
