"""Dataset loading for task YAMLs (``custom_dataset: !function mmpriv_tasks.task_data.load_split``).

lm-eval calls the loader with the task's ``metadata`` (plus CLI ``--metadata`` keys) as keyword
arguments. Where the data comes from, first match wins:

1. ``data_dir`` (from ``--metadata '{"data_dir": "..."}'``): a folder holding ``<split>.parquet``;
2. ``$MMPRIV_DATA_DIR/<dataset>/<split>.parquet``;
3. the bundled mini data shipped in the package, ``mmpriv_tasks/bundled/<dataset>/<split>.parquet``.
"""
from __future__ import annotations

import hashlib
import logging
from functools import lru_cache
from pathlib import Path

from mmpriv_tasks import paths

log = logging.getLogger("mmpriv")

MEDIA_COLUMNS = ("image", "audio")


class DatasetMissingError(FileNotFoundError):
    """The dataset a task needs is not on disk; the message says how to get it."""


def resolve_split(dataset: str, split: str, data_dir: str | None = None) -> Path:
    """The parquet file a task reads, following the order in the module docstring."""
    candidates: list[Path] = []
    if data_dir:
        candidates.append(Path(data_dir).expanduser() / f"{split}.parquet")
    elif paths.user_data_dir():
        candidates.append(paths.user_data_dir() / dataset / f"{split}.parquet")
    else:
        candidates.append(paths.bundled_data_dir() / dataset / f"{split}.parquet")
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    looked = ", ".join(str(c) for c in candidates)
    raise DatasetMissingError(
        f"dataset '{dataset}' split '{split}' not found (looked in {looked}). Build or import it with "
        f"`mmpriv data --help` (e.g. `mmpriv data build {dataset} --out DIR`), then pass "
        f"`--metadata '{{\"data_dir\": \"DIR\"}}'` or set ${paths.DATA_DIR_ENV} to the parent folder."
    )


@lru_cache(maxsize=None)
def fingerprint(path: Path) -> str:
    """A short content hash of a data file, recorded in the registry and in run logs."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def read_split(path: Path):
    """A ``datasets.Dataset`` from a parquet split, media columns left undecoded."""
    import datasets

    table = datasets.Dataset.from_parquet(str(path), keep_in_memory=True)
    for column in MEDIA_COLUMNS:
        if column in table.column_names:
            feature = datasets.Image(decode=False) if column == "image" else datasets.Audio(decode=False)
            table = table.cast_column(column, feature)
    return table


def load_split(dataset: str, split: str, data_dir: str | None = None, where: dict | None = None, **_):
    """lm-eval ``custom_dataset`` entry point: ``{"test": Dataset}`` for one split.

    ``where`` keeps rows whose columns equal the given values (e.g. ``{"scenario": "loan"}``).
    """
    path = resolve_split(dataset, split, data_dir)
    table = read_split(path)
    for column, wanted in (where or {}).items():
        if column not in table.column_names:
            raise KeyError(f"{path}: `where` names column '{column}', which the data lacks "
                           f"(columns: {', '.join(table.column_names)})")
        table = table.filter(lambda row, c=column, w=wanted: row[c] == w)
    log.info("mmpriv: %s/%s from %s (%d rows, data fingerprint %s)",
             dataset, split, path, len(table), fingerprint(path))
    return {"test": table}
