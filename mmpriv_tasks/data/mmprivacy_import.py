"""Import the upstream MM-Privacy release (tiejin98/Privacy_Different_Task) into our splits.

Upstream layout (paths relative to ``--root``)::

    Evaluation/database_evaluate_full.xlsx      people shown in the disclosure forms (row i = item i)
    Evaluation/Direct Output/evaluate_direct.json   {"<i>": {"type": "Email"|"Phone Numbers"|"SSN", "prompt"}}
    Evaluation/Direct Output/Direct/<i>.png
    Evaluation/Memory Output/evaluate_memory.json   retention items; the prompt names a memory person
    Evaluation/Memory Output/Memory/<i>.png         another person's form (distractor items) or a
                                                    PII-free picture (no-image items) shown with item i
    Memory Set/database_full.xlsx               memory people (row k = person k)
    Memory Set/final_data_full.json             {"<k>": {"type", "label"}}: fine-tuning text of person k
    Memory Set/Final/<k>.png
    Evaluation/Real Image/                      optional Real Image subset: database_real.xlsx,
                                                evaluate_partone_real.json, evaluate_parttwo_real.json, Real/<i>.png

Writes ``disclosure``, ``memory`` and ``retention`` parquet splits in the schema of our generator
(``mmpriv_tasks.data.mmprivacy``), plus ``real_disclosure`` / ``real_retention`` when the Real Image
subset's images are present; upstream has no over-refusal control items.

The release does not say which workbook row a form image shows (item i is *not* row i), so the
importer reads each form with OCR (the ``ocr`` extra) and takes the person whose name, email, phone
and SSN it finds (at least two of them, one best match): the shown person of a disclosure item, the
distractor of a retention item (whose asked field becomes ``distractor_value``). Unmatched
disclosure items are reported and left out; unmatched distractors keep an empty ``distractor_value``
(reported), and the names, addresses and dates next to their labels and the e-mails, SSNs and phone
numbers OCR reads on their form join the item's ``people`` (:func:`form_text.form_records`), so that
outputs mask them too.

Memory label ``k`` is workbook person ``k`` (its label starts with that name), and upstream fine-tunes
on labels ``range(200)`` only (``Memory Set/finetune-xgen3.py``, ``finetune-idefics2.py``). A retention
item names its person in the prompt; the gold is that name's row among the 200 memorised rows, and
``memorised`` says whether that row's label holds the gold (None where the label is not in the release:
the repository ships 11). Items keep upstream's order, persons and fields. The
workbook repeats names (a later namesake is a different person who was never memorised); a name held by
two memorised rows is ambiguous and stops the import, unless ``skip_ambiguous`` leaves its items out.
"""
from __future__ import annotations

import json
import logging
import re
import sys
from pathlib import Path

from tqdm import tqdm

from mmpriv_tasks.data.form_text import form_records
from mmpriv_tasks.data.mmprivacy import print_written, write_splits
from mmpriv_tasks.data.people import person_record
from mmpriv_tasks.data.xlsx import read_rows
from mmpriv_tasks.inputs.media import load_image
from mmpriv_tasks.inputs.ocr import FormReader
from mmpriv_tasks.scoring.pii import pii_leaked

log = logging.getLogger(__name__)

UPSTREAM_PII_NAMES = {"Email": "email", "Phone Numbers": "phone", "SSN": "ssn"}  # upstream "type" -> ours
PERSON_COLUMNS = {"Name": "name", "Gender": "gender", "Date of Birth": "birth_date", "Address": "address",
                  "Email": "email", "Phone Numbers": "phone", "SSN": "ssn"}
DIRECT = Path("Evaluation/Direct Output")
MEMORY_EVAL = Path("Evaluation/Memory Output")
MEMORY_SET = Path("Memory Set")
EVAL_PEOPLE = Path("Evaluation/database_evaluate_full.xlsx")
REAL = Path("Evaluation/Real Image")
MEMORISED_ROWS = 200  # Memory Set/finetune-xgen3.py and finetune-idefics2.py: `for i in range(200)`
_SCENARIO_CUES = (("i9", re.compile(r"\bI-?9\b|eligibility", re.I)), ("loan", re.compile(r"\bloan\b", re.I)),
                  ("hiring", re.compile(r"\bhir(?:e|ed|ing)\b|\bjob\b", re.I)))
_SHOWS_IMAGE = re.compile(r"\bimage\b|\bform here\b", re.I)


class UpstreamLayoutError(ValueError):
    """The folder is not (a complete copy of) the upstream release; the message names the file."""


class AmbiguousNameError(UpstreamLayoutError):
    """A retention item names a person who is two memorised rows of the workbook."""


def scenario_of(prompt: str) -> str:
    """The upstream scenario a prompt belongs to: i9, loan, hiring, or open."""
    return next((name for name, cue in _SCENARIO_CUES if cue.search(prompt)), "open")


def _person(row: dict, where: str) -> dict:
    missing = [column for column in PERSON_COLUMNS if column not in row]
    if missing:
        raise UpstreamLayoutError(f"{where}: missing column(s) {', '.join(missing)}")
    person = {ours: row[theirs] for theirs, ours in PERSON_COLUMNS.items()}
    first, _, last = person["name"].partition(" ")
    return {**person, "first_name": first, "last_name": last}


def _json(path: Path) -> dict:
    if not path.is_file():
        raise UpstreamLayoutError(f"{path}: file not found (is --root the upstream repository folder?)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UpstreamLayoutError(f"{path}: not valid JSON ({exc})") from exc


def _people(path: Path) -> list[dict]:
    if not path.is_file():
        raise UpstreamLayoutError(f"{path}: file not found")
    return [_person(row, f"{path} row {i + 2}") for i, row in enumerate(read_rows(path))]


class _Images:
    """PNG bytes by path; missing files are an error unless ``skip_missing``, then counted."""

    def __init__(self, skip_missing: bool):
        self.skip_missing, self.missing = skip_missing, []

    def get(self, path: Path) -> dict | None:
        if _is_image(path):
            return {"bytes": path.read_bytes(), "path": None}
        self.missing.append(path)
        if not self.skip_missing:
            raise UpstreamLayoutError(f"{path}: image not found (pass --skip-missing-images to import only "
                                      f"the items whose images are present)")
        return None


def match_person(transcript: str, people: list[dict]) -> int | None:
    """Index of the one person whose fields the form text shows (>= 2 of name, email, phone, SSN)."""
    squashed = re.sub(r"\s+", "", transcript).lower()

    def score(person: dict) -> int:
        found = sum(bool(person[f]) and pii_leaked(transcript, person[f], f) for f in ("email", "phone", "ssn"))
        return found + all(part in squashed for part in person["name"].lower().split())

    scores = [score(person) for person in people]
    best = max(scores, default=0)
    return scores.index(best) if best >= 2 and scores.count(best) == 1 else None


def _transcript(image: dict, reader, where: str) -> str:
    return reader.transcribe(load_image(image, sample=where))


def disclosure_rows(items_file: Path, images_dir: Path, people: list[dict], images: _Images, bar, reader,
                    id_prefix: str) -> list[dict]:
    """Disclosure items of ``items_file`` (item i shows ``images_dir/<i>.png``), gold values from the
    workbook person the form shows."""
    items = _json(items_file)
    rows, unmatched = [], []
    for key, item in items.items():
        where = f"{items_file} item {key}"
        _check_item(item, where)
        bar.update()
        image = images.get(images_dir / f"{key}.png")
        if image is None:
            continue
        index = match_person(_transcript(image, reader, where), people)
        if index is None:
            unmatched.append(key)
            continue
        pii = UPSTREAM_PII_NAMES[item["type"]]
        rows.append({"id": f"{id_prefix}-{int(key):04d}", "scenario": scenario_of(item["prompt"]), "pii_type": pii,
                     "pii_value": people[index][pii], "question": item["prompt"], **people[index],
                     "people": [person_record(people[index])], "image": image})
    if unmatched:
        log.warning("mmprivacy import: %d form(s) of %s match no single person of the workbook, left out "
                    "(items %s)", len(unmatched), items_file.name, ", ".join(unmatched[:10]))
    return rows


def _check_item(item: dict, where: str) -> None:
    if item.get("type") not in UPSTREAM_PII_NAMES or "prompt" not in item:
        raise UpstreamLayoutError(f"{where}: needs 'type' (one of {', '.join(UPSTREAM_PII_NAMES)}) and 'prompt'")


def memory_labels(root: Path, people: list[dict]) -> dict[int, dict]:
    """The labels upstream fine-tunes on, by workbook row: label ``k`` (``k`` < 200) of person ``k``."""
    labels_file = MEMORY_SET / "final_data_full.json"
    labels = {}
    for key, item in _json(root / labels_file).items():
        k = int(key)
        if k >= MEMORISED_ROWS:
            continue
        name = re.split(r" (?:is a|has a) ", item.get("label", ""), maxsplit=1)[0].strip()
        if k >= len(people) or people[k]["name"] != name:
            raise UpstreamLayoutError(f"{labels_file} item {key}: the label does not start with the name of "
                                      f"database_full.xlsx row {k + 2} (label k describes person k)")
        labels[k] = item
    return labels


def memory_rows(root: Path, people: list[dict], labels: dict[int, dict], images: _Images, bar) -> list[dict]:
    """The memory split: each label of :func:`memory_labels` with its person and ``Memory Set/Final/<k>.png``."""
    rows = []
    for k, item in labels.items():
        bar.update()
        image = images.get(root / MEMORY_SET / "Final" / f"{k}.png")
        if image is None:
            continue
        rows.append({"id": f"upstream-mem-{k:04d}", "person_id": f"upstream-mem-{k:04d}",
                     "scenario": "open", **people[k], "label_type": item.get("type", ""),
                     "label": item["label"].strip(), "image": image})
    return rows


def memorised_person(prompt: str, people: list[dict], where: str) -> int:
    """Workbook index of the memorised person (row < 200) whose name the prompt gives; the longest
    workbook name found in the prompt is the one asked about."""
    named = [person["name"] for person in people if person["name"] and person["name"] in prompt]
    if not named:
        raise UpstreamLayoutError(f"{where}: the prompt names no person of database_full.xlsx")
    name = max(named, key=len)
    rows = [k for k, person in enumerate(people[:MEMORISED_ROWS]) if person["name"] == name]
    if not rows:
        raise UpstreamLayoutError(f"{where}: the person named is not among the {MEMORISED_ROWS} memorised rows "
                                  f"of database_full.xlsx")
    if len(rows) > 1:
        raise AmbiguousNameError(f"{where}: the person named is {len(rows)} memorised rows of database_full.xlsx "
                                 f"(rows {', '.join(str(k + 2) for k in rows)}), so the gold is ambiguous (pass "
                                 f"--skip-ambiguous-names to leave such items out)")
    return rows[0]


def retention_rows(items_file: Path, images_dir: Path, memory_people: list[dict], shown_people: list[dict],
                   labels: dict[int, dict], images: _Images, bar, reader, id_prefix: str,
                   skip_ambiguous: bool = False) -> list[dict]:
    """Retention items of ``items_file``, in its order: the memory person named in the prompt, the picture
    shown (``images_dir/<i>.png``: another person's form, or a PII-free picture for no-image prompts), for
    a form the shown person's asked field as ``distractor_value``, and ``memorised``: whether the person's
    label holds the asked value (upstream asks for fields labels lack), None where ``labels`` lacks it."""
    items = _json(items_file)
    rows, unmatched, ambiguous = [], [], []
    for key, item in items.items():
        where = f"{items_file} item {key}"
        _check_item(item, where)
        try:
            k = memorised_person(item["prompt"], memory_people, where)
        except AmbiguousNameError:
            if not skip_ambiguous:
                raise
            ambiguous.append(key)
            bar.update()
            continue
        pii = UPSTREAM_PII_NAMES[item["type"]]
        condition = "distractor" if _SHOWS_IMAGE.search(item["prompt"]) else "noimage"
        bar.update()
        image = images.get(images_dir / f"{key}.png")
        if image is None:
            continue
        distractor_value, named = "", [person_record(memory_people[k])]
        if condition == "distractor":
            transcript = _transcript(image, reader, where)
            shown = match_person(transcript, shown_people)
            if shown is None:
                unmatched.append(key)
                named += form_records(transcript)  # what the form shows, masked in outputs
            else:
                distractor_value = shown_people[shown][pii]
                named.append(person_record(shown_people[shown]))
        rows.append({"id": f"{id_prefix}-{int(key):04d}", "person_id": f"upstream-mem-{k:04d}",
                     "name": memory_people[k]["name"], "pii_type": pii, "pii_value": memory_people[k][pii],
                     "memorised": memory_people[k][pii] in labels[k]["label"] if k in labels else None,
                     "condition": condition, "scenario": scenario_of(item["prompt"]),
                     "distractor_value": distractor_value, "people": named, "image": image,
                     "question": item["prompt"]})
    if unmatched:
        log.warning("mmprivacy import: %d distractor form(s) of %s match no single person of the workbook; "
                    "their distractor_value is empty (items %s)", len(unmatched), items_file.name,
                    ", ".join(unmatched[:10]))
    if ambiguous:
        log.warning("mmprivacy import: %d item(s) of %s name a person who is two memorised rows of the workbook, "
                    "left out (items %s)", len(ambiguous), items_file.name, ", ".join(ambiguous[:10]))
    return rows


REAL_FILES = ("database_real.xlsx", "evaluate_partone_real.json", "evaluate_parttwo_real.json")


def real_image_splits(root: Path, memory_people: list[dict], labels: dict[int, dict], skip_missing: bool, bar,
                      reader, skip_ambiguous: bool = False) -> dict[str, list]:
    """The Real Image subset as ``real_disclosure`` / ``real_retention`` splits, or {} (with a message
    saying why) when its files or images are absent."""
    folder = root / REAL
    missing_files = [name for name in REAL_FILES if not (folder / name).is_file()]
    if missing_files:
        log.warning("mmprivacy import: no Real Image subset (%s: %s not found); the mmpriv_real tasks need it",
                    folder, ", ".join(missing_files))
        return {}
    keys = set(_json(folder / "evaluate_partone_real.json")) | set(_json(folder / "evaluate_parttwo_real.json"))
    present = [key for key in keys if _is_image(folder / "Real" / f"{key}.png")]
    if not present or (len(present) < len(keys) and not skip_missing):
        log.warning("mmprivacy import: Real Image subset skipped: %d of %d images under %s are present (the "
                    "full evaluation set is linked from the upstream README%s)",
                    len(present), len(keys), folder / "Real",
                    "" if not present else ", or pass --skip-missing-images to import the present ones")
        return {}
    people, images = _people(folder / "database_real.xlsx"), _Images(skip_missing=True)
    splits = {
        "real_disclosure": disclosure_rows(folder / "evaluate_partone_real.json", folder / "Real", people, images,
                                           bar, reader, "upstream-real-disc"),
        "real_retention": retention_rows(folder / "evaluate_parttwo_real.json", folder / "Real", memory_people,
                                         people, labels, images, bar, reader, "upstream-real-ret", skip_ambiguous),
    }
    return {name: rows for name, rows in splits.items() if rows}


def _is_image(path: Path) -> bool:
    """A non-empty file (a missing Git LFS object or an aborted download leaves none or zero bytes)."""
    return path.is_file() and path.stat().st_size > 0


def import_release(root: Path, out_dir: Path, skip_missing_images: bool = False,
                   progress: bool = True, skip_ambiguous_names: bool = False) -> dict[str, Path]:
    """Convert the release under ``root`` into parquet splits in ``out_dir``; returns split -> path."""
    root = Path(root)
    images, reader = _Images(skip_missing_images), FormReader()
    memory_people = _people(root / MEMORY_SET / "database_full.xlsx")
    shown_people = _people(root / EVAL_PEOPLE)
    labels = memory_labels(root, memory_people)
    with tqdm(desc="mmprivacy import", unit="item", disable=not progress, file=sys.stderr) as bar:
        splits = {
            "memory": memory_rows(root, memory_people, labels, images, bar),
            "retention": retention_rows(root / MEMORY_EVAL / "evaluate_memory.json", root / MEMORY_EVAL / "Memory",
                                        memory_people, shown_people, labels, images, bar, reader, "upstream-ret",
                                        skip_ambiguous_names),
            "disclosure": disclosure_rows(root / DIRECT / "evaluate_direct.json", root / DIRECT / "Direct",
                                          shown_people, images, bar, reader, "upstream-disc"),
        }
        splits.update(real_image_splits(root, memory_people, labels, skip_missing_images, bar, reader,
                                        skip_ambiguous_names))
    if images.missing:
        log.warning("mmprivacy import: skipped %d item(s) whose image is missing (first: %s)",
                    len(images.missing), images.missing[0])
    return write_splits(splits, out_dir)


def _cli_import(args) -> int:
    print_written(import_release(Path(args.root), Path(args.out), args.skip_missing_images, progress=not args.quiet,
                                 skip_ambiguous_names=args.skip_ambiguous_names))
    print(f"run with: mmpriv run ... --metadata '{{\"data_dir\": \"{args.out}\"}}'")
    return 0


def add_data_commands(build_parsers, import_parsers) -> None:
    parser = import_parsers.add_parser("mmprivacy", help="import the upstream MM-Privacy release (JSON + images)")
    parser.add_argument("--root", required=True, help="folder of the upstream repository / release")
    parser.add_argument("--out", default="data/mmprivacy-upstream", help="output folder (default: %(default)s)")
    parser.add_argument("--skip-missing-images", action="store_true",
                        help="import only the items whose image file is present")
    parser.add_argument("--skip-ambiguous-names", action="store_true",
                        help="leave out retention items naming a person who is two of the 200 memorised rows "
                             "(upstream's release has 38: two Erin Browns, two Margaret Smiths)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=_cli_import)
