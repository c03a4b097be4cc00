"""What ``mmpriv run`` writes: lm-eval's results and per-sample logs with the PII masked.

lm-eval writes into a private staging folder (0700, removed afterwards); :func:`publish` then copies
each file into ``--output_path/<model>/`` with every value of every person record seen in the run
(name, address, birth date, email, phone, SSN, ``pii_value``, ``distractor_value``, and every field of
each person in the doc's ``people`` list: memory person, distractor, control-form person) replaced by a
typed placeholder such as ``[SSN]`` in doc fields, prompts and model replies. Values are found with
the leak matcher's normalisation (``367 75 3579``, spelled digits, ``a [at] b [dot] com``) and as
OCR writes them (words run together, look-alike characters: ``0689JenniferMeadows,Wl08089``). Leak
decisions are made before anything is written, so metrics are the same with or without masking.
``--keep_pii`` (or ``MMPRIV_KEEP_PII=1``) publishes the raw files (owner-only, 0600), with a warning.

>>> masker = Masker([{"name": "Jane Doe", "ssn": "123-45-6789", "pii_type": "ssn", "pii_value": "123-45-6789"}])
>>> masker.mask("JANE DOE's SSN is one two three 45 6789.")
"[NAME]'s SSN is [SSN]."
"""
from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
from datetime import date
from pathlib import Path
from typing import NamedTuple

from mmpriv_tasks.argv import split_option
from mmpriv_tasks.errors import InputError
from mmpriv_tasks.scoring.pii import canonical_pii_type, digit_spans, email_spans

KEEP_PII_FLAG = "--keep_pii"
KEEP_PII_ENV = "MMPRIV_KEEP_PII"

# doc field -> placeholder; pii_value / distractor_value take theirs from the row's pii_type.
RECORD_FIELDS = {"name": "NAME", "address": "ADDRESS", "birth_date": "BIRTH_DATE",
                 "email": "EMAIL", "phone": "PHONE", "ssn": "SSN"}
NAME_PARTS = ("first_name", "last_name")  # masked as capitalised words (see _Phrases)
PEOPLE_FIELD = "people"  # doc field listing every person a sample shows or names
_DIGIT_KINDS = ("ssn", "phone")
_HASHED = {"doc_hash": "doc", "prompt_hash": None, "target_hash": "target"}


def _date_forms(value: str) -> tuple[list[str], list[str]]:
    """Digit keys and written forms of an ISO birth date (``1971-08-27``, ``08/27/1971``,
    ``August 27, 1971``...; the ISO form too, as OCR may read it, ``1971-O8-27``); the value itself
    when it is not ISO."""
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        return [], [value]
    digits = [day.strftime(f) for f in ("%Y%m%d", "%m%d%Y", "%d%m%Y")]
    written = [value, day.strftime("%B ") + f"{day.day}, {day.year}", f"{day.day} " + day.strftime("%B %Y"),
               day.strftime("%B %d, %Y")]
    return digits, written


def _phone_key(value: str) -> str:
    runs = [d for _, _, d in digit_spans(value)]
    core = max(runs, key=len, default="")
    return core[1:] if len(core) == 11 and core.startswith("1") else core


# OCR look-alikes, read as one character after lower-casing: 0/o, 1/l/i, 5/s, 8/b, and the
# multiplication sign OCR gives for a phone extension's "x" (674.978.5877×19566); "rn" and "m" are
# read as one another through variants of each value (_m_variants).
_LOOKALIKES = str.maketrans("01i58", "ollsb")
_TIMES = str.maketrans("\u00d7", "x")
# Segments of a text: digit runs, ALL-CAPS runs, words (a capital, then letters other than ASCII
# capitals; one capital more at the end of a token: AdamW). "0689JenniferMeadows,WestCorey" is
# 0689|Jennifer|Meadows|West|Corey; "RiversideCenter" is Riverside|Center; "Tomás" is one word.
# At most one letter is given back per match: linear in the text.
_SEGMENT = re.compile(r"\d+|[A-Z]+(?![^\W\d_A-Z])|[A-Z]?[^\W\d_A-Z]+(?:[A-Z](?![^\W_]))?")
_WORD = re.compile(r"[^\W_]+")


def _fold(text: str) -> str:
    """Lower case with look-alikes merged, one character per character."""
    lower = text.lower()
    if len(lower) != len(text):  # a few letters lower-case to two characters (İ)
        lower = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    return lower.translate(_LOOKALIKES)


def _skeleton(text: str) -> str:
    """``text``'s segments folded and joined, separators dropped (``0689 Jennifer Meadows`` ->
    ``ob89jennifermeadows``)."""
    return _fold("".join(_SEGMENT.findall(text.translate(_TIMES))))


def _m_variants(skeleton: str) -> list[str]:
    """``skeleton`` with its "m"s and "rn"s read as one another: every combination of up to three,
    all or none beyond (``mallcom``: ``rnallcom``, ``mallcorn``...). Not in words shorter than five
    characters, where the variant is as likely another word (Tom, Torn)."""
    if len(skeleton) < 5:
        return [skeleton]
    pieces = re.split(r"(rn|m)", skeleton)
    count = len(pieces) // 2
    choices = itertools.product(("m", "rn"), repeat=count) if count <= 3 else [("m",) * count, ("rn",) * count]
    joined = ("".join(p for pair in zip(pieces[::2], (*choice, "")) for p in pair) for choice in choices)
    return list(dict.fromkeys((skeleton, *joined)))


class _Pattern(NamedTuple):
    skeleton: str
    placeholder: str
    one_word: bool  # the text may not split it with separators
    initial: str  # a name part's first letter (it is found as a capitalised word); "" for values


class _Phrases:
    """Record values (names, addresses, written dates, values as written) and name parts, found in a
    text as people and OCR write them: words spaced or run together (``0689JenniferMeadows``), any
    case, look-alike characters (``Wl`` for ``WI``, ``B0X`` for ``BOX``, ``rn`` for ``m``).

    A value matches from the start of a segment (see ``_SEGMENT``) to the end of one, so a name is
    found inside a run-together token (``JenniferMeadows``) but not as the start of a longer word
    (``Rivers`` in ``RiversideCommunityCenter``, ``Chang`` in ``Changes``): OCR drops the spaces
    between words but keeps each word's letters, so a longer word is a different word. A one-word
    value is not split by separators. A name part must start with a capital (or an OCR look-alike of
    its own capital, ``lsabel`` for ``Isabel``): ``Rivers`` and ``Long`` are masked as names, the
    words ``rivers`` and ``long`` are not. Matching takes one dictionary look-up per segment and key
    length: linear in the text."""

    KEY = 4  # skeleton characters a look-up key holds (shorter values: all of theirs)

    def __init__(self):
        self.by_key: dict[str, list[_Pattern]] = {}
        self.key_lengths: list[int] = []

    def add(self, value: str, placeholder: str, name_part: bool = False) -> None:
        skeleton, value = _skeleton(value), value.strip()
        if not skeleton:
            return
        one_word = _WORD.fullmatch(value) is not None
        initial = value[:1] if name_part else ""
        variants = _m_variants(skeleton)
        for variant in variants:
            pattern = _Pattern(variant, placeholder, one_word, initial)
            patterns = self.by_key.setdefault(variant[:self.KEY], [])
            if pattern not in patterns:
                patterns.append(pattern)
        self.key_lengths = sorted({*self.key_lengths, *(min(len(v), self.KEY) for v in variants)})

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        if not self.by_key:
            return []
        text = text.translate(_TIMES)
        segments = list(_SEGMENT.finditer(text))
        skeleton = _fold("".join(m.group() for m in segments))
        offsets = list(itertools.accumulate((m.end() - m.start() for m in segments), initial=0))
        boundary = dict(zip(offsets, range(len(offsets))))  # skeleton offset -> segment starting there
        found = []
        for first, at in enumerate(offsets[:-1]):
            for length in self.key_lengths:
                for pattern in self.by_key.get(skeleton[at:at + length], ()):
                    after = boundary.get(at + len(pattern.skeleton))
                    if after is None or not skeleton.startswith(pattern.skeleton, at):
                        continue
                    start, end = segments[first].start(), segments[after - 1].end()
                    if pattern.one_word and end - start != len(pattern.skeleton):
                        continue
                    if pattern.initial and not _capital(text[start], pattern.initial):
                        continue
                    found.append((start, end, pattern.placeholder))
        return found


def _capital(found: str, initial: str) -> bool:
    """Whether ``found`` can begin a name starting with ``initial``: the letter itself, a capital, or
    a lower-case look-alike of another letter (``l`` for ``I``)."""
    return found == initial or found.isupper() or (found.islower() and found != initial.lower())


class Masker:
    """Replaces the values of the given person records (doc dicts) in any text. A text masked before
    is not scanned again (a run's sample logs repeat prompts and doc fields: 19,548 strings, 1,108
    distinct, on the bundled MM-Privacy suite); ``MEMO_SIZE`` texts at most are remembered."""

    MEMO_SIZE = 65_536

    def __init__(self, records):
        self.digits: dict[str, str] = {}   # canonical digits -> placeholder
        self.emails: dict[str, str] = {}   # normalised address -> placeholder
        self.phrases = _Phrases()  # names and their parts, addresses, dates, values as written
        for record in records:
            values = [(RECORD_FIELDS[k], record[k]) for k in RECORD_FIELDS if record.get(k)]
            kind = self._kind(record.get("pii_type"))
            if kind:
                values += [(kind.upper(), record.get("pii_value")),
                           (f"DISTRACTOR_{kind.upper()}", record.get("distractor_value"))]
            for placeholder, value in values:
                if isinstance(value, str) and value.strip():
                    self._add(placeholder, value.strip())
            for key in NAME_PARTS:
                if isinstance(record.get(key), str) and len(record[key].strip()) > 1:
                    self.phrases.add(record[key], "NAME", name_part=True)
        self._lengths = sorted({len(k) for k in self.digits}, reverse=True)
        self._longest_email = max(map(len, self.emails), default=0)
        self._masked: dict[str, str] = {}

    @staticmethod
    def _kind(pii_type) -> str | None:
        try:
            return canonical_pii_type(pii_type) if isinstance(pii_type, str) else None
        except ValueError:
            return None

    def _add(self, placeholder: str, value: str) -> None:
        kind = placeholder.removeprefix("DISTRACTOR_").lower()
        if kind == "email":
            self.emails.setdefault(value.lower(), placeholder)
            self.phrases.add(value, placeholder)  # as OCR reads it (sarah.chang@yah0o.corn)
        elif kind in _DIGIT_KINDS:
            key = _phone_key(value) if kind == "phone" else "".join(d for _, _, d in digit_spans(value))
            if len(key) >= 7:
                self.digits.setdefault(key, placeholder)
            self.phrases.add(value, placeholder)  # as written (with an extension, say)
        elif kind == "birth_date":
            digits, written = _date_forms(value)
            for key in digits:
                self.digits.setdefault(key, placeholder)
            for form in written:
                self.phrases.add(form, placeholder)
        else:
            self.phrases.add(value, placeholder)

    def _digit_placeholder(self, digits: str) -> str | None:
        for length in self._lengths:
            for i in range(len(digits) - length + 1):
                if digits[i:i + length] in self.digits:
                    return self.digits[digits[i:i + length]]
        return None

    def _email_placeholder(self, address: str) -> str | None:
        """The placeholder of a known address that ``address`` is, or holds between dots (a sentence
        may run on, ``a@b.com.Next``; words may run into it, ``see.jane@b.com``). Checks only pieces
        no longer than the longest known address (linear in ``address``)."""
        at = address.find("@")
        starts = [0, *(i + 1 for i in range(at) if address[i] == ".")]
        starts = [start for start in starts if at - start < self._longest_email]
        end = len(address)
        while end > at >= 0:
            for start in starts:
                if address[start:end] in self.emails:
                    return self.emails[address[start:end]]
            end = address.rfind(".", at, end)  # a few domain labels at most (email_spans bounds them)
        return None

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        """``(start, end, placeholder)`` of every record value found in ``text``."""
        found = []
        for start, end, address in email_spans(text):
            placeholder = self._email_placeholder(address)
            if placeholder:
                found.append((start, end, placeholder))
        for start, end, digits in digit_spans(text):
            placeholder = self._digit_placeholder(digits)
            if placeholder:
                found.append((start, end, placeholder))
        return found + self.phrases.spans(text)

    def mask(self, text: str) -> str:
        masked = self._masked.get(text)
        if masked is None:
            if len(self._masked) >= self.MEMO_SIZE:
                self._masked.clear()
            masked = self._masked[text] = self._mask(text)
        return masked

    def _mask(self, text: str) -> str:
        spans = sorted(self.spans(text), key=lambda span: (span[0], -span[1]))  # outermost first
        if not spans:
            return text
        merged: list[list] = []
        for start, end, placeholder in spans:
            if merged and start < merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end, placeholder])
        pieces, last = [], 0
        for start, end, placeholder in merged:
            pieces += [text[last:start], f"[{placeholder}]"]
            last = end
        return "".join(pieces) + text[last:]

    def mask_json(self, value):
        """``value`` (parsed JSON) with every string masked."""
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, list):
            return [self.mask_json(v) for v in value]
        if isinstance(value, dict):
            return {k: self.mask_json(v) for k, v in value.items()}
        return value


def mask_sample(sample: dict, masker: Masker) -> dict:
    """One lm-eval sample record masked; its content hashes recomputed over the masked content
    (a hash of a raw SSN could be reversed by trying every SSN)."""
    from lm_eval.utils import handle_non_serializable, hash_string

    masked = masker.mask_json(sample)
    if "doc_hash" in masked:
        masked["doc_hash"] = hash_string(json.dumps(masked.get("doc"), indent=2,
                                                    default=handle_non_serializable, ensure_ascii=False))
    if "target_hash" in masked:
        masked["target_hash"] = hash_string(str(masked.get("target")))
    if "prompt_hash" in masked:
        first = next(iter((masked.get("arguments") or {}).values()), {})
        masked["prompt_hash"] = hash_string(str(first.get("arg_0", "")) if isinstance(first, dict) else "")
    return masked


def doc_records(doc: dict):
    """The person records (fields the :class:`Masker` reads) of one doc: the doc's own fields and each
    entry of its ``people`` column (every person the sample shows or names: memory person,
    distractor, the person on a control form)."""
    wanted = {*RECORD_FIELDS, *NAME_PARTS, "pii_type", "pii_value", "distractor_value"}
    yield {key: doc[key] for key in wanted if key in doc}
    for person in doc.get(PEOPLE_FIELD) or ():
        if isinstance(person, dict):
            yield {key: person[key] for key in (*RECORD_FIELDS, *NAME_PARTS) if key in person}


def _records(staging: Path):
    """The person records of every logged sample, one line at a time (a run's sample logs can be large)."""
    for path in staging.rglob("samples_*.jsonl"):
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                doc = json.loads(line).get("doc") if line.strip() else None
                if isinstance(doc, dict):
                    yield from doc_records(doc)


def _model_folder(results: dict) -> str | None:
    """The folder name lm-eval would use when ``model_args`` names the model; the model type
    otherwise (lm-eval would pick a random name)."""
    from lm_eval.utils import sanitize_model_name

    config = results.get("config") or {}
    args = config.get("model_args") or {}
    if isinstance(args, str):
        args = dict(kv.split("=", 1) for kv in args.split(",") if "=" in kv)
    for key in ("peft", "delta", "pretrained", "model", "path", "engine"):
        if args.get(key):
            return sanitize_model_name(str(args[key]))
    return sanitize_model_name(str(config["model"])) if config.get("model") else None


def publish(staging: Path, output_path: Path, keep_pii: bool = False, keep_free: int = 0) -> list[Path]:
    """Copy lm-eval's files from ``staging`` into ``output_path`` (masked unless ``keep_pii``),
    renaming a randomly named model folder after the model. Returns the files written.

    Atomic: each file is written under a hidden temporary name beside its target and flushed to disk,
    then renamed, sample logs first and ``results_*.json`` last (a results file means a complete run);
    on any failure or interrupt the temporary files are removed. Fails first, with one line, when the
    destination lacks free space for the staged files and ``keep_free`` bytes more; a write that fails
    anyway (a disk filling up, a file size limit) is one line too, and leaves no file behind."""
    masker = None if keep_pii else Masker(_records(staging))
    json_target = output_path.suffix == ".json"
    destination_root = output_path.parent if json_target else output_path
    renames = {}
    for results_file in staging.rglob("results_*.json"):
        folder = results_file.parent
        if folder != staging and not json_target:
            name = _model_folder(json.loads(results_file.read_text(encoding="utf-8")))
            renames[folder] = name or folder.name
    plan = []
    for source in sorted(p for p in staging.rglob("*") if p.is_file()):
        relative = source.relative_to(staging)
        if source.parent in renames:
            relative = Path(renames[source.parent]) / source.name
        plan.append((source, destination_root / relative))
    plan.sort(key=lambda item: item[1].name.startswith("results_"))  # results last
    _check_free_space(destination_root, sum(source.stat().st_size for source, _ in plan), keep_free)
    temporary = []
    try:
        for source, target in plan:
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
            temporary.append(partial)
            with _create(partial, 0o600 if keep_pii else 0o644) as out:  # raw: owner-only, like the caches
                if source.suffix == ".jsonl" and masker is not None:
                    _publish_samples(source, out, masker)
                elif masker is None and source.suffix != ".json":
                    with open(source, encoding="utf-8") as raw:
                        shutil.copyfileobj(raw, out)
                else:
                    out.write(_published_text(source, masker, renames.get(source.parent)))
                out.flush()
                os.fsync(out.fileno())  # a full disk can fail here, after every write succeeded
    except OSError as exc:
        raise InputError(f"{target}: cannot write the run's outputs ({exc.strerror or exc}); nothing was "
                         "published: free some space or choose another --output_path") from exc
    else:
        for partial, (_, target) in zip(temporary, plan):
            os.replace(partial, target)
    finally:
        for partial in temporary:
            partial.unlink(missing_ok=True)
    return [target for _, target in plan]


FREE_SPACE_MARGIN = 1.2  # masked files are about as large as the staged ones
MIN_FREE_ENV = "MMPRIV_MIN_FREE_SPACE"
_SIZE = re.compile(r"(\d+)\s*([KMGT]?)(?:I?B)?")


def min_free_space() -> int:
    """Bytes to leave free on the output disk after publishing: ``$MMPRIV_MIN_FREE_SPACE``, a number
    of bytes or a size with K, M, G or T (powers of 1024: ``500M``, ``2G``, ``2GiB``); default 0."""
    raw = os.environ.get(MIN_FREE_ENV, "").strip()
    if not raw:
        return 0
    size = _SIZE.fullmatch(raw.upper())
    if size is None:
        raise InputError(f"{MIN_FREE_ENV}={raw!r}: expected a number of bytes or a size such as 500M or 2G")
    return int(size.group(1)) * 1024 ** " KMGT".index(size.group(2) or " ")


def _check_free_space(folder: Path, needed: int, keep_free: int) -> None:
    existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("/"))
    free = shutil.disk_usage(existing).free
    needed = int(needed * FREE_SPACE_MARGIN)
    if free < needed + keep_free:
        kept = f" plus the {keep_free:,} that {MIN_FREE_ENV} keeps free" if keep_free else ""
        raise InputError(f"{folder}: not enough free space to publish the run ({free:,} bytes free, about "
                         f"{needed:,} needed{kept}); nothing was written: free some space or choose another "
                         f"--output_path, then run again (replies in a model's response cache are not requested again)")


def _create(path: Path, mode: int):
    """A new text file created with ``mode`` (never readable by others first, then narrowed)."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "w", encoding="utf-8")


def _publish_samples(source: Path, out, masker: Masker) -> None:
    """A per-sample log masked line by line (never held whole in memory)."""
    with open(source, encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                out.write(json.dumps(mask_sample(json.loads(line), masker), ensure_ascii=False) + "\n")


def _published_text(source: Path, masker: Masker | None, model_folder: str | None) -> str:
    text = source.read_text(encoding="utf-8")
    if source.suffix == ".json":
        payload = json.loads(text)
        if model_folder and source.name.startswith("results_"):
            payload["model_name_sanitized"] = model_folder
            if not (payload.get("config") or {}).get("model_args"):
                payload["model_name"] = model_folder
        return json.dumps(masker.mask_json(payload) if masker else payload, indent=2, ensure_ascii=False)
    return masker.mask(text) if masker else text


def keep_pii_requested(argv: list[str]) -> bool:
    """Whether ``--keep_pii`` or ``MMPRIV_KEEP_PII=1`` asks for raw outputs."""
    return os.environ.get(KEEP_PII_ENV, "").strip().lower() in ("1", "true", "yes") or KEEP_PII_FLAG in argv


def _split_output_path(argv: list[str]) -> tuple[list[str], str | None, bool]:
    """argv without ``--keep_pii`` and the ``--output_path`` value (or None); whether to keep PII."""
    keep = keep_pii_requested(argv)
    rest, output = split_option([arg for arg in argv if arg != KEEP_PII_FLAG], "--output_path")
    return rest, output, keep


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP during a run, raised like Ctrl-C so that every cleanup runs."""


@contextlib.contextmanager
def interrupt_on_signals():
    """While active, SIGTERM and SIGHUP raise :class:`Interrupted` in the main thread (SIGINT already
    raises KeyboardInterrupt), so staging folders and temporary files are removed on the way out. A signal
    the process was started ignoring stays ignored: ``nohup mmpriv run ...`` survives a hang-up."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, _frame):
        signal.signal(signum, signal.SIG_IGN)  # a second signal must not cut the cleanup short
        raise Interrupted(signal.Signals(signum).name)

    previous = {number: signal.signal(number, interrupt) for number in (signal.SIGTERM, signal.SIGHUP)
                if signal.getsignal(number) is not signal.SIG_IGN}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextlib.contextmanager
def private_outputs(argv: list[str]):
    """Yield lm-eval argv writing into a private staging folder; on success publish the files into
    the user's ``--output_path`` (masked unless ``--keep_pii``). Without ``--output_path`` nothing
    is staged. The staging folder is removed on every way out, SIGTERM, SIGHUP and Ctrl-C included."""
    rest, output, keep = _split_output_path(argv)
    if output is None:
        yield rest
        return
    keep_free = min_free_space()  # a bad value is an error now, not after the run
    if keep:
        print(f"mmpriv: {KEEP_PII_FLAG}/{KEEP_PII_ENV}: the files written to {output} will hold every "
              "person record value (names, SSNs, emails, phones...) unmasked", file=sys.stderr)
    with interrupt_on_signals():
        staging = Path(tempfile.mkdtemp(prefix="mmpriv-run-"))  # 0700
        try:
            target = Path(output).expanduser()
            staged = staging / target.name if target.suffix == ".json" else staging
            yield [*rest, "--output_path", str(staged)]
            written = publish(staging, target, keep_pii=keep, keep_free=keep_free)
            if written:
                state = "raw, PII kept" if keep else "PII masked"
                print(f"mmpriv: wrote {len(written)} file(s) to {sorted({p.parent for p in written})[0]} ({state})",
                      file=sys.stderr)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
