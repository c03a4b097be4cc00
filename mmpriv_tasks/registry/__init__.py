"""The task index: names, versions, config hashes, data fingerprints and citations.

Reads the task YAMLs directly (``include:`` resolved, ``!function`` tags kept as text), so listing
and citing need neither lm-eval's task index nor the data decoded. ``task_configs/registry.lock``
pins ``name -> version, config hash, data fingerprint`` and, per task, the behaviour hashes of
``mmpriv_tasks.registry.behaviour`` (rendered prompts, scoring of probe replies); CI fails when any of them
changes without a version bump.
"""
from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from mmpriv_tasks import paths
from mmpriv_tasks.inputs.task_data import default_data_dir, fingerprint

LOCK_NAME = "registry.lock"


class RegistryError(ValueError):
    """A task config that cannot be read; the message names the file."""


class _TaggedLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml when available: 10x faster
    """Safe YAML loader that keeps ``!function x.y`` as the string ``"!function x.y"``."""


_TaggedLoader.add_constructor("!function", lambda loader, node: f"!function {loader.construct_scalar(node)}")


def load_config(path: Path, _seen: tuple[Path, ...] = ()) -> dict:
    """A YAML config with its ``include:`` chain merged (the including file wins)."""
    path = path.resolve()
    if path in _seen:
        raise RegistryError(f"{path}: include cycle ({' -> '.join(str(p) for p in _seen)})")
    try:
        config = yaml.load(path.read_text(encoding="utf-8"), Loader=_TaggedLoader)
    except yaml.MarkedYAMLError as exc:  # one line: where, then what
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise RegistryError(f"{path}: YAML syntax error{where}: {exc.problem or exc.context}") from exc
    except (OSError, yaml.YAMLError) as exc:
        raise RegistryError(f"{path}: cannot read task config: {exc}") from exc
    if not isinstance(config, dict):
        raise RegistryError(f"{path}: a task config must be a mapping, got {type(config).__name__}")
    includes = config.pop("include", [])
    merged: dict = {}
    for include in [includes] if isinstance(includes, str) else includes:
        merged.update(_included(path.parent / include, _seen + (path,)))
    merged.update(config)
    return merged


_INCLUDED: dict[tuple, dict] = {}


def _included(path: Path, seen: tuple[Path, ...]) -> dict:
    """An included file's merged config, parsed once per process while the file is unchanged (a task
    folder includes a few shared files ~200 times); each includer gets its own copy. A cached file has
    no cycle through itself, so reusing it under another includer cannot hide one."""
    path = path.resolve()
    try:
        stat = path.stat()
    except OSError:
        return load_config(path, seen)  # raises, naming the file
    key = (path, stat.st_mtime_ns, stat.st_size)
    if key not in _INCLUDED:
        _INCLUDED[key] = load_config(path, seen)
    return copy.deepcopy(_INCLUDED[key])


def config_hash(config: dict) -> str:
    """Hash of everything a task measures with, except its version and descriptive metadata."""
    metadata = {k: v for k, v in (config.get("metadata") or {}).items() if k not in ("version",)}
    canonical = {**config, "metadata": metadata}
    blob = json.dumps(canonical, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


@dataclass
class Entry:
    """One task or group as the registry sees it."""

    name: str
    kind: str  # "task" | "group"
    path: Path
    config: dict
    subtasks: list[str] = field(default_factory=list)

    @property
    def metadata(self) -> dict:
        return self.config.get("metadata") or {}

    @property
    def version(self) -> str:
        return str(self.metadata.get("version", "?"))

    @property
    def family(self) -> str:
        return self.metadata.get("family") or self.path.parent.name

    @property
    def config_hash(self) -> str:
        return config_hash(self.config)

    def data_file(self) -> Path | None:
        """The parquet split this task reads by default (bundled, or a task pack's own), if any."""
        kwargs = self.config.get("dataset_kwargs") or {}
        if "dataset" not in kwargs or "split" not in kwargs:
            return None
        loader = str(self.config.get("custom_dataset", "")).removeprefix("!function ").rpartition(".")[0]
        candidate = default_data_dir(loader, kwargs["dataset"]) / f"{kwargs['split']}.parquet"
        return candidate if candidate.is_file() else None

    def data_fingerprint(self) -> str:
        data = self.data_file()
        return fingerprint(data) if data else "none"

    def num_items(self) -> int | None:
        """Rows of the bundled data this task would evaluate (None when it needs imported data);
        tasks that generate their rows (e.g. the blind tests' silence) give ``dataset_kwargs.n``."""
        kwargs = self.config.get("dataset_kwargs") or {}
        if "dataset" not in kwargs and isinstance(kwargs.get("n"), int):
            return kwargs["n"]
        data = self.data_file()
        if data is None:
            return None
        import pyarrow.parquet as pq

        where = (self.config.get("dataset_kwargs") or {}).get("where") or {}
        if not where:
            return pq.read_metadata(data).num_rows
        # no Arrow thread (read_table starts one): one alive at exit can abort the process (apache/arrow#34314)
        table = pq.ParquetFile(data, pre_buffer=False).read(columns=list(where), use_threads=False)
        keep = [all(table[c][i].as_py() == v for c, v in where.items()) for i in range(table.num_rows)]
        return sum(keep)


def _entries_in(path: Path) -> list[Entry]:
    config = load_config(path)
    if "task" in config and isinstance(config["task"], str):
        return [Entry(config["task"], "task", path, config)]
    if "group" in config:
        members = [m if isinstance(m, str) else m.get("task", "?") for m in config.get("task", [])]
        return [Entry(config["group"], "group", path, config, members)]
    return []


@lru_cache(maxsize=4)
def discover(root: Path | None = None) -> dict[str, Entry]:
    """Every task and group under ``root`` (default: the shipped task_configs), by name."""
    root = root or paths.task_configs_dir()
    entries: dict[str, Entry] = {}
    for path in sorted(root.rglob("*.yaml")):
        if path.name.startswith("_"):
            continue
        for entry in _entries_in(path):
            if entry.name in entries:
                raise RegistryError(f"{path}: name '{entry.name}' is already defined in {entries[entry.name].path}")
            entries[entry.name] = entry
    return entries


def tasks_of(name: str, entries: dict[str, Entry]) -> list[Entry]:
    """The tasks a task or group name expands to (groups recursively)."""
    if name not in entries:
        from mmpriv_tasks.registry.retired import retired_message

        raise KeyError(retired_message(name) or f"unknown task or group '{name}' (see `mmpriv list`)")
    entry = entries[name]
    if entry.kind == "task":
        return [entry]
    return [task for member in entry.subtasks for task in tasks_of(member, entries)]


def lock_path(root: Path | None = None) -> Path:
    return (root or paths.task_configs_dir()) / LOCK_NAME


PINNED = ("config_hash", "data", "prompts", "scoring")
_WHAT_CHANGED = {
    "config_hash": "task YAML",
    "data": "bundled data file",
    "prompts": "prompt text, target or media rendered for the probe docs",
    "scoring": "filter, process_results or aggregation output on the probe replies",
}


def lock_record(entry: Entry, cache: dict | None = None) -> dict:
    """What the lock pins for ``entry``; tasks are built with lm-eval to pin their behaviour
    (``cache`` shares scoring results between tasks during one pass)."""
    from mmpriv_tasks.registry.behaviour import behaviour_pins

    record = {"version": entry.version, "config_hash": entry.config_hash, "data": entry.data_fingerprint()}
    if entry.kind == "task":
        try:
            record.update(behaviour_pins(entry.path, cache))
        except Exception as exc:  # noqa: BLE001 - any broken hook: name the task and file
            raise RegistryError(f"{entry.path}: cannot build task '{entry.name}' to pin its prompts and "
                                f"scoring: {type(exc).__name__}: {exc}") from exc
    return record


def build_lock(entries: dict[str, Entry]) -> dict:
    cache: dict = {}
    return {name: lock_record(entries[name], cache) for name in sorted(entries)}


def write_lock(root: Path | None = None) -> Path:
    """Regenerate the lock file from the configs on disk."""
    discover.cache_clear()
    target = lock_path(root)
    target.write_text(json.dumps(build_lock(discover(root)), indent=1, sort_keys=True) + "\n")
    return target


def _unbumped_change(name: str, entry: Entry, pinned: dict, current: dict) -> str:
    """The problem line of a task whose pins changed while its version did not, with the fix."""
    changed = [k for k in PINNED if current.get(k) != pinned.get(k)]
    line = (f"{name}: {' and '.join(changed)} changed ({'; '.join(_WHAT_CHANGED[k] for k in changed)}) "
            f"but metadata.version is still {entry.version}. ")
    bump = f"bump metadata.version in {entry.path}, then run `mmpriv registry --update`"
    if changed == ["config_hash"] and "none" not in (current["prompts"], current["scoring"]):
        return line + (f"The prompts and scoring pins are unchanged: if only the YAML's form changed (a "
                       f"refactor), run `mmpriv registry --update` with no bump; if generation settings, data "
                       f"selection or metrics changed, {bump}")
    return line + (f"If what the task measures changed, {bump}; if it should not have changed, fix the code "
                   f"(a refactor keeps both hashes)")


def lock_problems(root: Path | None = None) -> list[str]:
    """Differences between the configs and the lock, each with the fix."""
    locked = json.loads(lock_path(root).read_text()) if lock_path(root).is_file() else {}
    entries = discover(root)
    problems = []
    cache: dict = {}
    for name, entry in sorted(entries.items()):
        pinned = locked.get(name)
        try:
            current = lock_record(entry, cache)
        except RegistryError as exc:
            problems.append(str(exc))
            continue
        if pinned is None:
            problems.append(f"{name}: not in {LOCK_NAME}; run `mmpriv registry --update`")
        elif current == pinned:
            continue
        elif set(current) - set(pinned):
            problems.append(f"{name}: {LOCK_NAME} lacks {', '.join(sorted(set(current) - set(pinned)))} "
                            f"(written by an older mmpriv); run `mmpriv registry --update`")
        elif current["version"] == pinned["version"]:
            problems.append(_unbumped_change(name, entry, pinned, current))
        else:
            problems.append(f"{name}: version {pinned['version']} -> {entry.version} not locked; "
                            f"run `mmpriv registry --update`")
    problems += [f"{name}: in {LOCK_NAME} but no config defines it; run `mmpriv registry --update`"
                 for name in sorted(set(locked) - set(entries))]
    return problems


_BIB_KEY = re.compile(r"@\w+\{([^,]+),")


def bibtex(family_dir: Path, key: str | None = None) -> str:
    """The BibTeX entry ``key`` (or all entries) of a task family's ``CITATION.bib``."""
    source = family_dir / "CITATION.bib"
    if not source.is_file():
        raise RegistryError(f"{family_dir}: no CITATION.bib")
    text = source.read_text(encoding="utf-8")
    if key is None:
        return text.strip()
    blocks = re.split(r"(?=^@)", text, flags=re.MULTILINE)
    for block in blocks:
        match = _BIB_KEY.match(block.strip())
        if match and match.group(1).strip() == key:
            return block.strip()
    raise RegistryError(f"{source}: no entry with key '{key}'")
