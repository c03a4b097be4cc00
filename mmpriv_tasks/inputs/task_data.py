"""Dataset loading for task YAMLs (``custom_dataset: !function mmpriv_tasks.inputs.task_data.load_split``).

lm-eval calls the loader with the task's ``metadata`` (plus CLI ``--metadata`` keys) as keyword
arguments. Where the data comes from, first match wins:

1. ``data_dir`` (from ``--metadata '{"data_dir": "..."}'``): a folder holding ``<split>.parquet``;
2. ``$MMPRIV_DATA_DIR/<dataset>/<split>.parquet``;
3. the bundled mini data shipped in the package, ``mmpriv_tasks/bundled/<dataset>/<split>.parquet``.

Memory stays flat whatever the size of the data:

- each split is converted once into an uncompressed Arrow file (``$MMPRIV_CACHE_DIR`` or
  ``~/.cache/mmpriv/tables``, named by the parquet's content hash) and memory-mapped: its pages belong to
  the file, not to the process, and every task over the split shares the one table; the copy holds
  every record of its source, so it is owner-only (0600 file in a 0700 folder) whatever the source's mode;
- a run that evaluates only the first N docs (``max_docs``, which ``mmpriv run --limit N`` passes)
  converts and reads only the leading rows that hold them (the rows passing ``where`` counted from the
  ``where`` columns alone), unless the whole split is already converted;
- each task gets its own ``Dataset`` object over the one table, and a task's ``process_docs`` keeps its
  row dicts once (:func:`rows_once`): lm-eval re-runs ``process_docs`` at every ``eval_docs`` access, and
  each pass over a ``Dataset`` makes new dicts (a copy per request and another per sample log); under
  ``mmpriv run``'s slices only the current slice's dicts are kept (:meth:`Rows.focus`);
- the docs lm-eval keeps hold no media: a media cell is a reference ``{"split": <parquet path>,
  "column": "image"|"audio", "row": i, "rows": <leading rows read, or None for all>}``
  whose bytes :func:`media_bytes` reads on demand (``media.load_image`` / ``load_audio`` accept it).

A media cell that holds a ``path`` instead of bytes is read from the split's own folder; a path that
leads outside that folder (after resolving symlinks) is refused as a per-sample error, never read.

Data faults (missing or unreadable file, no rows, a column the task requires, an unknown ``where``
column) raise :class:`errors.DataError` naming the file, the problem and a command that fixes it.
"""
from __future__ import annotations

import hashlib
import itertools
import logging
import os
import weakref
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

from mmpriv_tasks import paths
from mmpriv_tasks.errors import DataError, MediaError

log = logging.getLogger(__name__)

MEDIA_COLUMNS = ("image", "audio")
CACHE_DIR_ENV = "MMPRIV_CACHE_DIR"
GET_DATA = ("`mmpriv data build --help` (generate) or `mmpriv data import --help` (upstream releases)")


class DatasetMissingError(DataError, FileNotFoundError):
    """The dataset a task needs is not on disk; the message says how to get it."""


def resolve_split(dataset: str, split: str, data_dir: str | None = None) -> Path:
    """The parquet file a task reads, following the order in the module docstring."""
    if data_dir:
        candidate = Path(data_dir).expanduser() / f"{split}.parquet"
    elif paths.user_data_dir():
        candidate = paths.user_data_dir() / dataset / f"{split}.parquet"
    else:
        candidate = paths.bundled_data_dir() / dataset / f"{split}.parquet"
    if candidate.is_file():
        return candidate
    raise DatasetMissingError(
        f"{candidate}: dataset '{dataset}' split '{split}' not found. Get it with {GET_DATA}, then pass "
        f"`--metadata '{{\"data_dir\": \"DIR\"}}'` or set ${paths.DATA_DIR_ENV} to the parent of '{dataset}/'.")


def default_data_dir(loader_module: str, dataset: str) -> Path:
    """The folder of a task's default data (no ``--metadata``): ``DATA_DIR`` of the module holding its
    ``custom_dataset`` loader when it defines one (a task pack's own ``data/``), else the bundled copy."""
    if loader_module and not loader_module.startswith("mmpriv_tasks."):
        import importlib

        try:
            return Path(importlib.import_module(loader_module).DATA_DIR)
        except (ImportError, AttributeError):
            pass
    return paths.bundled_data_dir() / dataset


def _stamp(path: Path) -> tuple:
    stat = path.stat()
    return str(path.resolve()), stat.st_mtime_ns, stat.st_size


def fingerprint(path: Path) -> str:
    """A short content hash of a data file, recorded in the registry and in run logs."""
    return _fingerprint(*_stamp(Path(path)))


@lru_cache(maxsize=None)
def _fingerprint(path: str, _mtime: int, _size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def _cache_dir() -> Path:
    return Path(os.environ.get(CACHE_DIR_ENV) or Path.home() / ".cache" / "mmpriv" / "tables")


def _bad_file(path: Path, problem: str) -> DataError:
    return DataError(f"{path}: {problem}. Rebuild or re-import it with {GET_DATA}.")


def _make_private(path: Path) -> None:
    """Owner-only permissions (0700 folder, 0600 file): a cache holds every person record of its
    source, whatever the source's own permissions."""
    try:
        os.chmod(path, 0o700 if path.is_dir() else 0o600)
    except PermissionError:  # a shared cache folder owned by someone else: the files stay private
        pass


def _cache_file(path: Path, rows: int | None = None) -> Path:
    """The Arrow copy of a split (``rows``: of its first ``rows`` rows only)."""
    prefix = "" if rows is None else f"-first{rows}"
    return _cache_dir() / f"{path.stem}-{fingerprint(path)}{prefix}.arrow"


def _to_arrow_file(path: Path, rows: int | None = None) -> Path:
    """The memory-mappable Arrow copy of a parquet split, or of its first ``rows`` rows (written once,
    batch by batch); a copy of the whole split, once written, serves every prefix."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if path.stat().st_size == 0:
        raise _bad_file(path, "the file is empty (0 bytes)")
    full = _cache_file(path)
    target = full if rows is None or full.is_file() else _cache_file(path, rows)
    if target.is_file():
        _make_private(target)  # a copy written by an older version may be readable by others
        return target
    try:
        source = pq.ParquetFile(path, buffer_size=1 << 20, pre_buffer=False)  # page by page: flat memory
    except (pa.ArrowException, OSError) as exc:
        raise _bad_file(path, f"not a readable parquet file ({exc})") from exc
    partial = target.with_name(f"{target.name}.{os.getpid()}.part")
    try:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        _make_private(target.parent)
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))  # owner-only from the start
        sink = pa.OSFile(str(partial), "wb")
    except OSError as exc:
        raise DataError(f"{target.parent}: cannot write the memory-mapped copy of {path} "
                        f"({exc.strerror or exc}); set ${CACHE_DIR_ENV} to a writable folder") from exc
    left = source.metadata.num_rows if target == full else rows
    try:
        with sink, pa.ipc.new_file(sink, source.schema_arrow) as writer:
            for batch in source.iter_batches(batch_size=256):
                if left <= 0:
                    break
                writer.write_batch(batch.slice(0, left))
                left -= batch.num_rows
    except (pa.ArrowException, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise _bad_file(path, f"cannot read its rows ({exc})") from exc
    partial.replace(target)
    pa.default_memory_pool().release_unused()  # the conversion's buffers go back to the system
    return target


@lru_cache(maxsize=None)
def _shared_table(path: str, _mtime: int, _size: int, rows: int | None):
    """The split (or its first ``rows`` rows) as a memory-mapped Arrow table, one per file version
    per process."""
    import pyarrow as pa

    with pa.memory_map(str(_to_arrow_file(Path(path), rows)), "r") as source:
        table = pa.ipc.open_file(source).read_all()
    return table if rows is None else table.slice(0, rows)


def shared_table(path: Path, rows: int | None = None):
    """The memory-mapped table of a parquet split (``rows``: its first ``rows`` rows), shared by every
    task that reads it."""
    return _shared_table(*_stamp(Path(path)), rows)


def _rows_needed(path: Path, where: dict, max_docs: int | None) -> int | None:
    """How many leading rows of the split hold its first ``max_docs`` docs (rows passing ``where``,
    found from the ``where`` columns alone); None when that is every row or ``max_docs`` is unset."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not max_docs:
        return None
    try:
        source = pq.ParquetFile(path, buffer_size=1 << 20, pre_buffer=False)
    except (pa.ArrowException, OSError):
        return None  # the conversion reports the fault
    total = source.metadata.num_rows
    if not where or not set(where) <= set(source.schema_arrow.names):  # an unknown column: reported later
        return max_docs if max_docs < total else None
    seen = found = 0
    for batch in source.iter_batches(batch_size=1 << 16, columns=list(where)):
        hits = np.flatnonzero(np.asarray(_row_filter(pa.Table.from_batches([batch]), where, path)))
        if found + len(hits) >= max_docs:
            rows = seen + int(hits[max_docs - found - 1]) + 1
            return rows if rows < total else None
        found, seen = found + len(hits), seen + batch.num_rows
    return None


def _row_filter(table, where: dict, path: Path):
    import pyarrow as pa
    import pyarrow.compute as pc

    mask = None
    for column, wanted in (where or {}).items():
        if column not in table.column_names:
            raise DataError(f"{path}: the task's `where` names column '{column}', which the data lacks "
                            f"(columns: {', '.join(table.column_names)}); fix the task's dataset_kwargs.where")
        values = table.column(column)
        try:
            test = pc.equal(values, pa.scalar(wanted, type=values.type))
        except (pa.ArrowException, TypeError, ValueError):
            test = pa.array([value == wanted for value in values.to_pylist()])
        test = pc.fill_null(test, False)
        mask = test if mask is None else pc.and_(mask, test)
    return mask


def _docs_table(path: Path, where: dict | None, required: tuple[str, ...], rows: int | None,
                reference: Path | None):
    """Non-media columns of the selected rows (among the first ``rows``, None: all) plus a media
    reference per row (see module docstring); column types checked against ``reference``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    table = shared_table(path, rows)
    if table.num_rows == 0:
        raise _bad_file(path, "the split has no rows")
    missing = [column for column in required if column not in table.column_names]
    if missing:
        raise DataError(f"{path}: missing required column(s) {', '.join(repr(c) for c in missing)} "
                        f"(columns: {', '.join(table.column_names)}). Rebuild or re-import it with {GET_DATA}.")
    _check_types(table, path, reference)
    indices = pa.array(range(table.num_rows), type=pa.int64())
    mask = _row_filter(table, where or {}, path)
    media = [column for column in MEDIA_COLUMNS if column in table.column_names]
    docs = table.drop_columns(media)
    if mask is not None:
        docs, indices = docs.filter(mask), pc.filter(indices, mask)
    if isinstance(indices, pa.ChunkedArray):  # filtered by a table column's mask
        indices = indices.combine_chunks()
    split, count = str(path.resolve()), len(indices)
    for column in media:
        cells = table.column(column) if mask is None else pc.filter(table.column(column), mask)
        absent = None if column in required else pc.invert(pc.is_valid(cells)).combine_chunks()
        refs = pa.StructArray.from_arrays(  # built by Arrow: no Python object per row
            [pa.array(itertools.repeat(split, count), pa.string(), size=count),
             pa.array(itertools.repeat(column, count), pa.string(), size=count), indices,
             pa.array(itertools.repeat(rows, count), pa.int64(), size=count)],
            fields=list(_ref_type()), mask=absent)
        docs = docs.append_column(column, refs)
    return docs


def _check_types(table, path: Path, reference: Path | None) -> None:
    """Text columns hold text and media columns ``{"bytes", "path"}`` cells: a binary text column (not
    UTF-8), a column that the bundled copy of the split (``reference``) holds as text but this one does
    not (an integer ``pii_value``), or a string image column is a data fault, found before any model call."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def is_text(kind) -> bool:
        return pa.types.is_string(kind) or pa.types.is_large_string(kind)

    expected = pq.read_schema(reference) if reference else pa.schema([])
    for field in table.schema:
        if field.name in MEDIA_COLUMNS:
            kind = field.type
            if not pa.types.is_null(kind) and not (pa.types.is_struct(kind) and
                                                   {kind.field(i).name for i in range(kind.num_fields)} >= {"bytes"}):
                raise DataError(f"{path}: column '{field.name}' is {kind}, not a media cell {{bytes, path}}. "
                                f"Rebuild or re-import it with {GET_DATA}.")
        elif pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type):
            raise DataError(f"{path}: column '{field.name}' holds bytes, not UTF-8 text; re-encode it as text. "
                            f"Rebuild or re-import it with {GET_DATA}.")
        elif (field.name in expected.names and is_text(expected.field(field.name).type)
              and not is_text(field.type) and not pa.types.is_null(field.type)):
            raise DataError(f"{path}: column '{field.name}' is {field.type}, not text (string) as in the bundled "
                            f"{reference.parent.name}/{reference.name}; write its values as text. "
                            f"Rebuild or re-import it with {GET_DATA}.")


def _ref_type():
    import pyarrow as pa

    return pa.struct([("split", pa.string()), ("column", pa.string()), ("row", pa.int64()), ("rows", pa.int64())])


@lru_cache(maxsize=64)
def _load(path: Path, _stamp: tuple, where: tuple, required: tuple[str, ...], max_docs: int | None,
          reference: Path | None):
    import pyarrow as pa

    rows = _rows_needed(path, dict(where), max_docs)
    table = _docs_table(path, dict(where), required, rows, reference)
    pa.default_memory_pool().release_unused()  # the selection's scratch buffers go back to the system
    return table, rows


# load_split's arguments: where each comes from, its type and what it should be (None: not given)
ARGUMENTS = {
    "dataset": ("dataset_kwargs.dataset", str, "a dataset name"),
    "split": ("dataset_kwargs.split", str, "a split name"),
    "where": ("dataset_kwargs.where", dict, "a mapping column: value"),
    "required": ("dataset_kwargs.required", list, "a list of column names"),
    "data_dir": ("metadata.data_dir", str, "a folder"),
    "modality": ("metadata.modality", str, "image, audio or text"),
    "max_docs": ("metadata.max_docs", int, "a whole number"),
}


def _check_arguments(source: str, values: dict) -> None:
    """Each argument of :func:`load_split` has the type it needs (``where``: column -> one value,
    ``required``: column names); a wrong one is a fault of the task config ``source``, named now."""
    for name, value in values.items():
        field, kind, wanted = ARGUMENTS[name]
        problem = None
        if value is None and name not in ("dataset", "split"):
            continue
        if not isinstance(value, kind) or isinstance(value, bool):
            problem = f"is {value!r}, expected {wanted}"
        elif name == "where" and any(isinstance(v, (dict, list)) for v in value.values()):
            problem = f"is {value!r}; give each column one value (column: value)"
        elif name == "required" and not all(isinstance(column, str) for column in value):
            problem = f"is {value!r}; list column names"
        if problem:
            raise DataError(f"{source}: {field} {problem} (from the task YAML or --metadata)")


def load_split(dataset: str, split: str, data_dir: str | None = None, where: dict | None = None,
               required: list[str] | None = None, modality: str | None = None, max_docs: int | None = None,
               config_source: str = "task config", **_):
    """lm-eval ``custom_dataset`` entry point: ``{"test": Dataset}`` for one split.

    ``where`` keeps rows whose columns equal the given values (e.g. ``{"scenario": "loan"}``).
    ``required`` (``dataset_kwargs``) lists columns the task cannot do without, and the task's
    ``metadata.modality`` (image / audio) requires that media column: a missing required column is a
    data fault; a null cell in a required media column becomes an error sample (never a text-only prompt).
    ``max_docs`` (``mmpriv run --limit N``) reads only the rows holding the first N docs.
    """
    _check_arguments(config_source, {"dataset": dataset, "split": split, "where": where, "required": required,
                                     "data_dir": data_dir, "modality": modality, "max_docs": max_docs})
    path = resolve_split(dataset, split, data_dir)
    key = tuple(sorted((str(k), v) for k, v in (where or {}).items()))
    needed = tuple(dict.fromkeys([*(required or ()), *([modality] if modality in MEDIA_COLUMNS else [])]))
    bundled = paths.bundled_data_dir() / dataset / f"{split}.parquet"  # the schema a split of this name has
    reference = bundled if bundled.is_file() and bundled.resolve() != path.resolve() else None
    import datasets

    table, rows = _load(path, _stamp(path), key, needed, max_docs, reference)
    log.info("mmpriv: %s: %d docs from %s rows (data fingerprint %s)", path, table.num_rows,
             "all" if rows is None else f"the first {rows}", fingerprint(path))
    # a Dataset per call (per task) over the one table; named by the data's fingerprint and the selection
    # (datasets would otherwise hash the whole table to name it, once per task)
    name = hashlib.sha256(repr((fingerprint(path), key, needed, rows)).encode()).hexdigest()[:16]
    return {"test": datasets.Dataset(table, fingerprint=name)}


def _shared(row: dict, seen: dict) -> dict:
    """``row`` with each string value (also one level down, in media references) replaced by the
    first equal string met in the split: a label, a source or a split path is held once, not per row."""
    def one(value):
        if isinstance(value, str):
            return seen.setdefault(value, value)
        if isinstance(value, dict):
            return {key: seen.setdefault(item, item) if isinstance(item, str) else item for key, item in value.items()}
        return value

    return {key: one(value) for key, value in row.items()}


class Rows(Sequence):
    """A task's docs: its rows, each as a dict plus ``column`` = ``value(row)`` (``process_docs``, made
    by :func:`rows_once`), with the ``features`` lm-eval reads from a ``Dataset`` (only their names).

    Unfocused, iterating makes every row's dict once and keeps them, so lm-eval's requests, scoring and
    sample log share one dict per row. :meth:`focus` (``mmpriv run``, per slice of docs) keeps only the
    dicts of the slice's indices: iterating yields them at their indices and ``None`` elsewhere (lm-eval
    picks a slice's docs by index and never reads the others), so a task holds one slice of dicts
    whatever the size of its data. Indexing a row that is not kept makes its dict without keeping it."""

    def __init__(self, dataset, column: str, value: Callable[[dict], object]):
        self._dataset, self._column, self._value = dataset, column, value
        self._strings: dict = {}  # equal strings of the split held once (:func:`_shared`)
        self._every: list[dict] | None = None
        self._window: dict[int, dict] | None = None
        self.features = {**dataset.features, column: None}

    def _make(self, row: dict) -> dict:
        return {**_shared(row, self._strings), self._column: self._value(row)}

    def __len__(self) -> int:
        return len(self._dataset)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(len(self))[index]]
        index = range(len(self))[index]  # negative indices; IndexError past the end
        kept = self._window if self._window is not None else self._every
        if kept is not None and (self._window is None or index in kept):
            return kept[index]
        return self._make(self._dataset[index])

    def __iter__(self):
        if self._window is not None:
            return (self._window.get(index) for index in range(len(self)))
        if self._every is None:
            self._every = [self._make(row) for row in self._dataset]
        return iter(self._every)

    def focus(self, indices: Sequence[int] | None) -> None:
        """Keep the dicts of ``indices`` only (made now, in one read); None: every row again."""
        self._every, self._strings = None, {}  # strings shared within a slice: none held past it
        self._window = None if indices is None else dict(zip(indices, map(self._make, self._dataset.select(indices))))


_ROWS: dict[int, Rows] = {}


def rows_once(dataset, column: str, value: Callable[[dict], object]) -> Rows:
    """``process_docs`` made once per ``dataset`` object: a :class:`Rows` over its rows, each gaining
    ``column`` = ``value(row)``; a later call with the same object returns the same :class:`Rows`
    (lm-eval runs ``process_docs`` at every ``eval_docs`` access). Each task's loader returns its own
    ``Dataset`` object, so tasks never share dicts (scoring writes ``doc["error"]``)."""
    key = id(dataset)
    if key not in _ROWS:
        _ROWS[key] = Rows(dataset, column, value)
        weakref.finalize(dataset, _ROWS.pop, key, None)
    return _ROWS[key]


# ------------------------------------------------------------------------------ media on demand
def is_media_ref(value) -> bool:
    """Whether ``value`` is a media reference made by :func:`load_split`."""
    return isinstance(value, dict) and set(value) == {"split", "column", "row", "rows"}


def media_cell(ref: dict) -> dict | None:
    """The stored ``{"bytes", "path"}`` cell a reference points to (None for a null cell)."""
    return shared_table(Path(ref["split"]), ref["rows"]).column(ref["column"])[int(ref["row"])].as_py()


def media_view(ref: dict) -> memoryview | None:
    """The stored bytes ``ref`` points to as a view of the memory-mapped table (no copy), or None when
    the cell is null or holds a path instead."""
    cell = shared_table(Path(ref["split"]), ref["rows"]).column(ref["column"])[int(ref["row"])]
    if not cell.is_valid or not cell["bytes"].is_valid:
        return None
    buffer = cell["bytes"].as_buffer()
    return memoryview(buffer) if buffer.size else None


def ref_name(ref: dict) -> str:
    """``<split file>#<row>``: how a reference is named in messages."""
    return f"{Path(ref['split']).name}#{ref['row']}"


def media_bytes(ref: dict) -> bytes:
    """The bytes of the medium ``ref`` points to: stored bytes, or the file its ``path`` names inside
    the split's folder. Raises MediaError for a null/empty cell or a path outside the folder."""
    cell = media_cell(ref)
    if cell is None:
        raise MediaError("the media cell is null (no image/audio for a task that needs one)")
    if cell.get("bytes"):
        return cell["bytes"]
    if not cell.get("path"):
        raise MediaError("the media cell is empty (no bytes, no path)")
    return read_inside(Path(ref["split"]).parent, cell["path"])


def read_inside(folder: Path, relative: str) -> bytes:
    """The bytes of ``relative`` resolved against ``folder`` (symlinks followed first); a path that
    ends outside ``folder`` is refused."""
    root = folder.resolve()
    target = (root / relative).resolve()
    if not target.is_relative_to(root):
        raise MediaError(f"media path '{relative}' is outside the dataset folder {root}; refused")
    try:
        return target.read_bytes()
    except OSError as exc:
        raise MediaError(f"cannot read media file '{relative}' in {root}: {exc.strerror or exc}") from exc
