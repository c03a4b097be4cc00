"""HearSay's label schema: attributes, their labels, upstream's dimension names and display spellings.

>>> LABELS["gender"]
('Female', 'Male')
>>> normalise_label("accent", "east asia")
'East_Asia'
>>> age_distance("20-30", "40-50")
2
"""
from __future__ import annotations

import re

REFUSED = "refused"
UNPARSEABLE = "unparseable"
OTHER = "other"

AGE_BINS = ("10-20", "20-30", "30-40", "40-50", "50-60", "60-70", "70-80", "80-90")

LABELS: dict[str, tuple[str, ...]] = {
    "age": AGE_BINS,
    "gender": ("Female", "Male"),
    "accent": ("Arabic", "East_Asia", "English", "Germanic", "Romance", "Slavic", "South_Asia"),
    "education": ("Bachelors_Degree", "Doctorate", "High_School_or_Equivalent", "Masters_Degree"),
    "income": ("High", "Low", "Middle"),
    "social_stratum": ("Lower_Class", "Middle_Class", "Upper_Class"),
    "health": ("healthy", "illness"),
    "weight": ("Normal", "Obese", "Overweight", "Underweight"),
}
ATTRIBUTES = tuple(LABELS)

# Upstream HearSay's names for the attributes ("dimensions", main.py LABEL_ROOTS).
DIMENSIONS = {
    "age": "Age", "gender": "Gender", "accent": "Accent", "education": "Education", "income": "Income",
    "social_stratum": "Social Stratum", "health": "Health Condition", "weight": "Weight Range",
}

# How a label reads in a prompt's candidate list (the parser accepts these spellings too).
DISPLAY = {
    "East_Asia": "East Asia", "South_Asia": "South Asia", "Bachelors_Degree": "Bachelor's Degree",
    "Masters_Degree": "Master's Degree", "High_School_or_Equivalent": "High School or Equivalent",
    "Lower_Class": "Lower Class", "Middle_Class": "Middle Class", "Upper_Class": "Upper Class",
    "healthy": "Healthy", "illness": "Illness",
}


def display_label(label: str) -> str:
    return DISPLAY.get(label, label)


def age_distance(a: str, b: str) -> int | None:
    """How many bins apart two age labels are (None if either is not a bin)."""
    if a in AGE_BINS and b in AGE_BINS:
        return abs(AGE_BINS.index(a) - AGE_BINS.index(b))
    return None


def normalise_label(attribute: str, value: str) -> str:
    """The canonical label for a label-like string ("east asia", "Bachelor's Degree", "Healthy");
    raises ValueError when it is none of the attribute's labels."""
    if attribute not in LABELS:
        raise KeyError(f"unknown HearSay attribute '{attribute}' (choose from {', '.join(LABELS)})")
    key = re.sub(r"[\s_'’-]+", "", str(value)).lower()
    for label in LABELS[attribute]:
        if key in {re.sub(r"[\s_'’-]+", "", label).lower(), re.sub(r"[\s_'’-]+", "", display_label(label)).lower()}:
            return label
    raise ValueError(f"'{value}' is not a {attribute} label (expected one of {', '.join(LABELS[attribute])})")
