"""HearSay data: one parquet schema, importers for the HearSay label layout and Mozilla Common Voice.

Every HearSay split is one attribute, ``<out>/<attribute>.parquet`` (``age``, ``gender``, ``accent``,
``education``, ``income``, ``social_stratum``, ``health``, ``weight``), read by
``task_data.load_split("hearsay", <attribute>)`` from ``--metadata '{"data_dir": OUT}'`` or
``$MMPRIV_DATA_DIR/hearsay/``. Columns:

- ``id``: unique row id (``<attribute>-<source file stem>``);
- ``attribute``, ``label``: the attribute and its canonical label (``scoring.attributes.LABELS``);
- ``audio``: ``{"bytes", "path"}``, the original file's bytes, undecoded (``path`` keeps its name
  and extension so decoders know the format);
- ``source`` (``hearsay`` / ``commonvoice`` / ``tts``), ``speaker`` (a speaker or voice id, when
  known), ``sentence`` (the transcript, when known).

Rows are written in batches (``pyarrow.parquet.ParquetWriter``): no importer holds more than one
batch of audio in memory, and nothing is decoded.

CLI: ``mmpriv data import hearsay --root DIR --out DIR [--cap 500 --seed 42]`` and
``mmpriv data import commonvoice --root DIR --out DIR``.
"""
from __future__ import annotations

import csv
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from mmpriv_tasks.scoring.attribute_schema import AGE_BINS, LABELS, OTHER, normalise_label
from mmpriv_tasks.scoring.attributes import parse_attribute

COLUMNS = ("id", "attribute", "label", "audio", "source", "speaker", "sentence")
BATCH_ROWS = 64

# HearSay's label folders (dataset/label/<folder>/<Class>.csv) -> our attribute names.
HEARSAY_FOLDERS = {
    "age": "age", "gender": "gender", "accent": "accent", "education": "education", "income": "income",
    "social_stratum": "social_stratum", "weight": "weight", "health_status": "health", "health": "health",
}
UPSTREAM_CAP = 500  # clips per attribute in the paper's evaluation (main.py, random_state=42)
UPSTREAM_SEED = 42


class HearSayImportError(ValueError):
    """A release that cannot be imported; the message names the file and row."""


def features():
    """The ``datasets.Features`` of a HearSay split (audio undecoded)."""
    import datasets

    return datasets.Features({
        "id": datasets.Value("string"), "attribute": datasets.Value("string"), "label": datasets.Value("string"),
        "audio": datasets.Audio(decode=False), "source": datasets.Value("string"),
        "speaker": datasets.Value("string"), "sentence": datasets.Value("string"),
    })


def audio_value(data: bytes, name: str) -> dict:
    return {"bytes": data, "path": name}


@dataclass
class SplitWriter:
    """Streams rows of one split into ``<out>/<attribute>.parquet`` in small batches."""

    path: Path
    rows: int = 0

    def __post_init__(self) -> None:
        import pyarrow.parquet as pq

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._schema = features().arrow_schema
        self._tmp = self.path.with_suffix(".parquet.part")
        self._writer = pq.ParquetWriter(str(self._tmp), self._schema, compression="zstd")
        self._batch: list[dict] = []

    def add(self, row: dict) -> None:
        missing = [c for c in COLUMNS if c not in row]
        if missing:
            raise ValueError(f"row {row.get('id')}: missing columns {missing}")
        self._batch.append({c: row[c] for c in COLUMNS})
        if len(self._batch) >= BATCH_ROWS:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if self._batch:
            self._writer.write_table(pa.Table.from_pylist(self._batch, schema=self._schema))
            self.rows += len(self._batch)
            self._batch = []

    def close(self) -> Path:
        self._flush()
        self._writer.close()
        self._tmp.replace(self.path)
        return self.path

    def abort(self) -> None:
        self._writer.close()
        self._tmp.unlink(missing_ok=True)


def write_split(rows: Iterable[dict], path: Path) -> int:
    """Write ``rows`` (dicts with ``COLUMNS``) to ``path``; returns the row count."""
    writer = SplitWriter(path)
    try:
        for row in rows:
            writer.add(row)
    except BaseException:
        writer.abort()
        raise
    writer.close()
    return writer.rows


def sample_indices(n: int, cap: int | None, seed: int) -> list[int]:
    """Which of ``n`` rows to keep: all when ``cap`` is 0/None or n <= cap; else ``cap`` drawn without
    replacement as ``pandas.DataFrame.sample(n=cap, random_state=seed)`` does (upstream's sampler),
    in the drawn order."""
    if not cap or n <= cap:
        return list(range(n))
    import numpy as np

    return [int(i) for i in np.random.RandomState(seed).choice(n, size=cap, replace=False)]


# ---------------------------------------------------------------------------------- HearSay
@dataclass(frozen=True)
class LabelRow:
    attribute: str
    label: str
    audio: Path
    name: str
    where: str  # "<csv>:<line>" for error messages


def _label_dir(root: Path) -> Path:
    for candidate in (root / "dataset" / "label", root / "label", root):
        if candidate.is_dir() and any(p.name.lower() in HEARSAY_FOLDERS for p in candidate.iterdir() if p.is_dir()):
            return candidate
    raise HearSayImportError(f"{root}: no HearSay label folders found (expected dataset/label/<Attribute>/<Class>.csv "
                       f"with attributes {', '.join(sorted(set(HEARSAY_FOLDERS)))})")


def _resolve_audio(root: Path, label_dir: Path, file_path: str) -> Path | None:
    relative = Path(file_path.replace("\\", "/"))
    bases = [root, label_dir.parent.parent, label_dir.parent]
    for base in bases:
        candidate = (base / relative).resolve()
        if candidate.is_file():
            return candidate
    return None


def hearsay_rows(root: Path, attributes: Iterable[str] | None = None) -> dict[str, list[LabelRow]]:
    """Every labelled clip under a HearSay checkout, per attribute (CSV files in name order)."""
    label_dir = _label_dir(root)
    wanted = set(attributes) if attributes else None
    found: dict[str, list[LabelRow]] = {}
    for folder in sorted(p for p in label_dir.iterdir() if p.is_dir()):
        attribute = HEARSAY_FOLDERS.get(folder.name.lower())
        if attribute is None or (wanted and attribute not in wanted):
            continue
        rows = found.setdefault(attribute, [])
        for csv_path in sorted(folder.glob("*.csv")):
            class_name = csv_path.stem.replace("_mapped", "")
            try:
                label = normalise_label(attribute, class_name)
            except ValueError as exc:
                raise HearSayImportError(f"{csv_path}: {exc}") from exc
            with open(csv_path, newline="", encoding="utf-8-sig") as handle:
                reader = csv.DictReader(handle)
                if not reader.fieldnames or "file_path" not in reader.fieldnames:
                    raise HearSayImportError(f"{csv_path}: no 'file_path' column (columns: {reader.fieldnames})")
                for line, record in enumerate(reader, start=2):
                    file_path = (record.get("file_path") or "").strip()
                    if not file_path:
                        raise HearSayImportError(f"{csv_path}:{line}: empty file_path")
                    name = (record.get("name") or Path(file_path).name).strip()
                    rows.append(LabelRow(attribute, label, Path(file_path), name, f"{csv_path}:{line}"))
    if not found:
        raise HearSayImportError(f"{label_dir}: no label CSVs for {', '.join(sorted(wanted or HEARSAY_FOLDERS))}")
    return found


def import_hearsay(root: Path, out: Path, cap: int | None = UPSTREAM_CAP, seed: int = UPSTREAM_SEED,
                   attributes: Iterable[str] | None = None, skip_missing: bool = False,
                   progress: bool = True) -> dict[str, int]:
    """Import a HearSay checkout into ``out/<attribute>.parquet``; returns rows per attribute.

    ``cap``/``seed`` sample each attribute like upstream (500 clips, seed 42); ``cap=0`` keeps all.
    A missing or unreadable audio file is an error naming the CSV row, or skipped with ``skip_missing``.
    """
    root = Path(root).expanduser()
    label_dir = _label_dir(root)
    per_attribute = hearsay_rows(root, attributes)
    counts: dict[str, int] = {}
    for attribute, rows in per_attribute.items():
        seen: set[str] = set()

        def to_row(row: LabelRow, seen=seen) -> dict | None:
            path = _resolve_audio(root, label_dir, str(row.audio))
            if path is None:
                if skip_missing:
                    return None
                raise HearSayImportError(f"{row.where}: audio file '{row.audio}' not found under {root}")
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise HearSayImportError(f"{row.where}: cannot read {path}: {exc}") from exc
            row_id = f"{row.attribute}-{Path(row.name).stem}"
            if row_id in seen:
                row_id = f"{row_id}-{len(seen)}"
            seen.add(row_id)
            return {"id": row_id, "attribute": row.attribute, "label": row.label,
                    "audio": audio_value(data, path.name), "source": "hearsay", "speaker": "", "sentence": ""}

        counts[attribute] = _write_sampled("hearsay", attribute, rows, to_row, out, cap, seed, progress)
    return counts


def _write_sampled(source: str, attribute: str, rows: list, to_row, out: Path, cap: int | None, seed: int,
                   progress: bool) -> int:
    """Sample ``rows`` like upstream (``cap`` + ``seed``) and write ``out/<attribute>.parquet`` from
    ``to_row(row)`` (None leaves a row out), with a progress bar; returns the rows written."""
    chosen = [rows[i] for i in sample_indices(len(rows), cap, seed)]
    with tqdm(chosen, desc=f"{source} {attribute}", unit="clip", disable=not progress, file=sys.stderr) as bar:
        converted = (row for row in map(to_row, bar) if row is not None)
        return write_split(converted, Path(out) / f"{attribute}.parquet")


# ----------------------------------------------------------------------------- Common Voice
_CV_AGES = {"teens": "10-20", "twenties": "20-30", "thirties": "30-40", "fourties": "40-50", "forties": "40-50",
            "fifties": "50-60", "sixties": "60-70", "seventies": "70-80", "eighties": "80-90"}
assert set(_CV_AGES.values()) <= set(AGE_BINS)


def commonvoice_gender(value: str) -> str | None:
    """``male`` / ``male_masculine`` -> Male, ``female`` / ``female_feminine`` -> Female; others None."""
    head = (value or "").strip().lower().split("_")[0]
    return {"male": "Male", "female": "Female"}.get(head)


def commonvoice_age(value: str) -> str | None:
    return _CV_AGES.get((value or "").strip().lower())


def commonvoice_accent(value: str) -> str | None:
    """A HearSay accent group from Common Voice's free-text accent ("India and South Asia (India,
    Pakistan, Sri Lanka)", "German English,Non native speaker"); None when none fits."""
    text = (value or "").replace("|", ", ").strip()
    if not text:
        return None
    label = parse_attribute(text, "accent")
    return label if label in LABELS["accent"] else None


def import_commonvoice(root: Path, out: Path, cap: int | None = None, seed: int = UPSTREAM_SEED,
                       tsv: str = "validated.tsv", progress: bool = True) -> dict[str, int]:
    """Import a Common Voice language folder (``validated.tsv`` + ``clips/``) into ``age``, ``gender``
    and ``accent`` splits; rows without a usable value for an attribute are left out of that split.
    Returns rows per attribute."""
    root = Path(root).expanduser()
    table = root / tsv
    clips = root / "clips"
    if not table.is_file():
        raise HearSayImportError(f"{root}: no {tsv} (expected a Common Voice language folder with {tsv} and clips/)")
    mapped: dict[str, list[tuple[str, dict]]] = {"age": [], "gender": [], "accent": []}
    with open(table, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        columns = reader.fieldnames or []
        if "path" not in columns:
            raise HearSayImportError(f"{table}: no 'path' column (columns: {columns})")
        accent_column = "accents" if "accents" in columns else "accent" if "accent" in columns else None
        for line, record in enumerate(reader, start=2):
            where = f"{table}:{line}"
            values = {
                "age": commonvoice_age(record.get("age", "")),
                "gender": commonvoice_gender(record.get("gender", "")),
                "accent": commonvoice_accent(record.get(accent_column, "")) if accent_column else None,
            }
            for attribute, label in values.items():
                if label is not None:
                    mapped[attribute].append((where, {**record, "label": label}))
    counts: dict[str, int] = {}
    for attribute, rows in mapped.items():
        if not rows:
            continue

        def to_row(item: tuple[str, dict], attribute=attribute) -> dict:
            where, record = item
            clip = clips / record["path"]
            if not clip.is_file():
                raise HearSayImportError(f"{where}: clip '{record['path']}' not found in {clips}")
            return {"id": f"{attribute}-{Path(record['path']).stem}", "attribute": attribute,
                    "label": record["label"], "audio": audio_value(clip.read_bytes(), clip.name),
                    "source": "commonvoice", "speaker": (record.get("client_id") or "")[:16],
                    "sentence": record.get("sentence") or ""}

        counts[attribute] = _write_sampled("commonvoice", attribute, rows, to_row, out, cap, seed, progress)
    return counts


# -------------------------------------------------------------------------------------- CLI
def _report(counts: dict[str, int], out: Path) -> None:
    for attribute, n in counts.items():
        print(f"{attribute}: {Path(out) / (attribute + '.parquet')} ({n} rows)")
    print(f"run with: --metadata '{{\"data_dir\": \"{Path(out).resolve()}\"}}' "
          f"(or put the folder at $MMPRIV_DATA_DIR/hearsay)")


def _cli_import_hearsay(args) -> int:  # a HearSayImportError (ValueError) is reported by cli.main()
    counts = import_hearsay(Path(args.root), Path(args.out), cap=args.cap, seed=args.seed,
                            attributes=args.attributes.split(",") if args.attributes else None,
                            skip_missing=args.skip_missing, progress=not args.quiet)
    _report(counts, Path(args.out))
    return 0


def _cli_import_commonvoice(args) -> int:
    counts = import_commonvoice(Path(args.root), Path(args.out), cap=args.cap, seed=args.seed, tsv=args.tsv,
                                progress=not args.quiet)
    _report(counts, Path(args.out))
    return 0


def add_data_commands(build_parsers, import_parsers) -> None:
    p = import_parsers.add_parser("hearsay", help="import a HearSay release (dataset/label/<Attribute>/<Class>.csv)")
    p.add_argument("--root", required=True, help="the HearSay checkout (holding dataset/label and dataset/audio)")
    p.add_argument("--out", required=True, help="output folder: one <attribute>.parquet per attribute")
    p.add_argument("--cap", type=int, default=UPSTREAM_CAP,
                   help="clips per attribute, sampled like upstream (default %(default)s; 0 keeps all)")
    p.add_argument("--seed", type=int, default=UPSTREAM_SEED, help="sampling seed (default %(default)s)")
    p.add_argument("--attributes", help=f"comma-separated subset of {','.join(LABELS)}")
    p.add_argument("--skip-missing", action="store_true", help="skip rows whose audio file is missing")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cli_import_hearsay)

    p = import_parsers.add_parser("commonvoice", help="import Mozilla Common Voice (validated.tsv + clips/) "
                                                      "as HearSay age/gender/accent splits")
    p.add_argument("--root", required=True, help="a Common Voice language folder (validated.tsv, clips/)")
    p.add_argument("--out", required=True, help="output folder: age/gender/accent.parquet")
    p.add_argument("--cap", type=int, default=0, help="clips per attribute (default: all)")
    p.add_argument("--seed", type=int, default=UPSTREAM_SEED, help="sampling seed (default %(default)s)")
    p.add_argument("--tsv", default="validated.tsv", help="which table to read (default %(default)s)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cli_import_commonvoice)


__all__ = ["COLUMNS", "features", "write_split", "import_hearsay", "import_commonvoice", "sample_indices",
           "commonvoice_accent", "commonvoice_age", "commonvoice_gender", "OTHER", "add_data_commands"]
