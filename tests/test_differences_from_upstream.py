"""Each family README's "Differences from upstream" lists the items the fidelity audit found, and every
item names an upstream file that exists in the release (tests/fixtures/*_upstream/files.txt)."""
from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FAMILIES = {  # README, upstream file list, items that must be listed
    "mmprivacy": ("task_configs/mmprivacy/README.md", "tests/fixtures/mmprivacy_upstream/files.txt",
                  ("No scoring code upstream", "Item order", "Disclosure with the memory adapter",
                   "Retention checkpoint", "Memorisation recipe", "Memory labels", "Memory-set images",
                   "Names held by two memorised people")),
    "hearsay": ("task_configs/hearsay/README.md", "tests/fixtures/hearsay_upstream/files.txt",
                ("Offline scoring by default", "Failed judge calls", "Inference errors", "Judge token cap",
                 "Blind mapping outside the candidates", "Blind scripts", "Media order and encoding")),
}


def items(readme: Path) -> dict[str, str]:
    """``{title: text}`` of the bullets of the README's "Differences from upstream" section."""
    section = readme.read_text().split("## Differences from upstream", 1)[1].split("\n## ", 1)[0]
    bullets = section.split("\n- ")[1:]
    return {re.match(r"\*\*(.+?)\.?\*\*", bullet).group(1): bullet for bullet in bullets}


def names_upstream_file(text: str, files: list[str]) -> bool:
    for token in re.findall(r"`([^`]+)`", text):
        if any(fnmatch.fnmatchcase(path, token) or path.startswith(token.rstrip("/") + "/") for path in files):
            return True
    return False


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_difference_names_its_upstream_file(family):
    readme, listing, required = FAMILIES[family]
    files = [line for line in (ROOT / listing).read_text().splitlines() if line and not line.startswith("#")]
    listed = items(ROOT / readme)
    missing = [item for item in required if not any(title.startswith(item) for title in listed)]
    assert missing == [], missing
    unnamed = [title for title, text in listed.items() if not names_upstream_file(text, files)]
    assert unnamed == [], unnamed


def test_the_check_rejects_an_item_without_a_file():
    files = ["main.py", "blind_tests/blind_test_phi.py"]
    assert names_upstream_file("see `blind_tests/*.py`", files) and names_upstream_file("`blind_tests/`", files)
    assert not names_upstream_file("upstream's judge (`judge_response_dual`)", files)
    assert not names_upstream_file("no file named at all", files)
