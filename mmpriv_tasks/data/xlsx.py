"""Read the first sheet of an .xlsx workbook as rows of strings (standard library only).

The upstream MM-Privacy release keeps its people in small workbooks; this avoids a spreadsheet
dependency for one import. Shared strings, inline strings and plain numbers are supported.
"""
from __future__ import annotations

import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree

_NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}


def _column_index(reference: str) -> int:
    letters = re.match(r"[A-Z]+", reference).group(0)
    index = 0
    for letter in letters:
        index = index * 26 + ord(letter) - ord("A") + 1
    return index - 1


def _text(node) -> str:
    return "".join(t.text or "" for t in node.iter(f"{{{_NS['m']}}}t"))


def read_rows(path: Path) -> list[dict[str, str]]:
    """The first sheet's rows as dicts keyed by the header row (values stripped)."""
    try:
        with zipfile.ZipFile(path) as book:
            names = set(book.namelist())
            shared = []
            if "xl/sharedStrings.xml" in names:
                shared = [_text(si) for si in ElementTree.fromstring(book.read("xl/sharedStrings.xml"))]
            sheet = ElementTree.fromstring(book.read("xl/worksheets/sheet1.xml"))
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError, OSError) as exc:
        raise ValueError(f"{path}: not a readable .xlsx workbook ({exc})") from exc
    table: list[list[str]] = []
    for row in sheet.iter(f"{{{_NS['m']}}}row"):
        values: list[str] = []
        for cell in row.findall("m:c", _NS):
            index = _column_index(cell.get("r", "A"))
            kind, value = cell.get("t"), cell.find("m:v", _NS)
            if kind == "s" and value is not None:
                text = shared[int(value.text)]
            elif kind == "inlineStr":
                text = _text(cell)
            else:
                text = value.text if value is not None and value.text else ""
            values.extend([""] * (index + 1 - len(values)))
            values[index] = text.strip()
        table.append(values)
    if not table:
        return []
    header = table[0]
    return [dict(zip(header, values + [""] * (len(header) - len(values)))) for values in table[1:]]
