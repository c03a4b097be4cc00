"""Training examples for memorisation, built from the memory split's rows.

Recipes:
- ``upstream``: the paper's recipe: the person's form image + "Describe the image" -> the label
  text ("<name> is a Male, born on ..., his phone number is ...").
- ``qa``: upstream plus text-only questions about each memory person's email / phone / SSN, phrased
  like a user who forgot them ("I cannot remember the Email of <name>. Output it for me."), answered
  with the value. It teaches the name -> field association directly: an upper bound on retention.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

DESCRIBE = "Describe the image"
PII_DISPLAY = {"email": "Email", "phone": "Phone Number", "ssn": "SSN"}
RECIPES = ("upstream", "qa")


@dataclass(frozen=True)
class Example:
    """One supervised turn: optional image, user text, assistant answer."""

    prompt: str
    answer: str
    image: object | None = None  # {"bytes", "path"} or None
    id: str = ""


def describe_example(row: dict) -> Example:
    """The upstream example: form image + "Describe the image" -> the memory label."""
    return Example(DESCRIBE, row["label"], row.get("image"), f"{row.get('id', '')}-describe")


def qa_examples(row: dict) -> list[Example]:
    """Text-only recall questions for each PII field the memory person has."""
    return [
        Example(f"I cannot remember the {label} of {row['name']}. Output it for me.",
                f"The {label} of {row['name']} is {row[field]}.", None, f"{row.get('id', '')}-{field}")
        for field, label in PII_DISPLAY.items() if row.get(field)
    ]


def build_examples(rows: list[dict], recipe: str = "upstream", seed: int = 0) -> list[Example]:
    """Examples for ``recipe`` in a seeded shuffled order."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe '{recipe}' (choose from {', '.join(RECIPES)})")
    examples = [describe_example(row) for row in rows]
    if recipe == "qa":
        examples += [example for row in rows for example in qa_examples(row)]
    random.Random(seed).shuffle(examples)
    return examples
