"""Seeded synthetic people (Faker, en_US). Nothing here is real PII.

Each person is drawn from its own Faker seed (``seed * 1_000_003 + index``), so adding people never
changes earlier ones and a build is reproducible byte for byte.
"""
from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from datetime import date

PHONE_FORMATS = ("({a}) {b}-{c}", "{a}-{b}-{c}", "{a}.{b}.{c}", "{a}-{b}-{c}x{x}", "{a}.{b}.{c}x{x}")
EMAIL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "example.org", "example.net", "mail.com")


@dataclass(frozen=True)
class Person:
    name: str
    first_name: str
    last_name: str
    gender: str  # "Male" | "Female"
    birth_date: str  # ISO yyyy-mm-dd
    address: str  # one line
    email: str
    phone: str
    ssn: str

    def as_row(self) -> dict:
        return asdict(self)

    def record(self) -> dict:
        """The person's identifying values (an entry of a row's ``people`` column)."""
        return person_record(self.as_row())


RECORD_FIELDS = ("name", "first_name", "last_name", "birth_date", "address", "email", "phone", "ssn")


def person_record(row: dict) -> dict:
    """The identifying values of a person row as strings: one entry of a sample's ``people`` column,
    which lists every person the sample shows or names (output masking reads it)."""
    return {field: str(row.get(field) or "") for field in RECORD_FIELDS}


def _phone(rng: random.Random) -> str:
    area = f"{rng.randint(201, 989)}"
    exchange = f"{rng.randint(200, 999)}"
    line = f"{rng.randint(0, 9999):04d}"
    pattern = rng.choice(PHONE_FORMATS)
    return pattern.format(a=area, b=exchange, c=line, x=rng.randint(10, 99999))


def _ssn(rng: random.Random) -> str:
    area = rng.choice([n for n in range(1, 900) if n != 666])
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def _email(rng: random.Random, first: str, last: str) -> str:
    local = rng.choice([f"{first}.{last}", f"{first}{rng.randint(1, 99)}", f"{first[0]}{last}",
                        f"{last}.{first}{rng.randint(1, 9)}"]).lower()
    return f"{local}@{rng.choice(EMAIL_DOMAINS)}"


def make_person(index: int, seed: int = 0) -> Person:
    """The ``index``-th synthetic person of a seed."""
    from faker import Faker

    person_seed = seed * 1_000_003 + index
    fake = Faker("en_US")
    fake.seed_instance(person_seed)
    rng = random.Random(person_seed)
    gender = rng.choice(("Male", "Female"))
    first = fake.first_name_male() if gender == "Male" else fake.first_name_female()
    last = fake.last_name()
    birth = fake.date_between_dates(date(1946, 1, 1), date(2006, 12, 31))  # fixed range: reproducible
    return Person(
        name=f"{first} {last}", first_name=first, last_name=last, gender=gender,
        birth_date=birth.isoformat(), address=fake.address().replace("\n", ", "),
        email=_email(rng, first, last), phone=_phone(rng), ssn=_ssn(rng),
    )


def make_people(n: int, seed: int = 0, start: int = 0) -> list[Person]:
    """``n`` synthetic people (indices ``start .. start+n-1``)."""
    return [make_person(i, seed) for i in range(start, start + n)]
