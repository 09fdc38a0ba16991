"""Two overlapping synthetic registers of people, with typos, and the true matches.

A children's social care register (``social_care``: ``case_ref``) and a police register of people
in contact with the police (``police``: ``person_ref``) hold some of the same people. Every
person is drawn from a seeded random number generator using Faker's British name lists; no row
describes a real person. The police copy of a shared person has the errors real registers have:

* a typo in a name (a letter dropped, doubled, swapped or changed) or a short form,
* day and month of birth transposed, or a date a few days or a year off,
* a different postcode in the same sector or district (a move), or none recorded,
* the house number or street written differently.

``nhs_number`` (synthetic ten-digit numbers, never valid) is recorded the same in both where
present, so a pseudonymised delivery still links on it exactly. ``truth`` lists the true
matches (``case_ref``, ``person_ref``), so linkage quality can be measured.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from expedition.examples import write_frame

if TYPE_CHECKING:
    import polars as pl

OUTWARD = ["CM1", "CM2", "CM3", "CM7", "CO1", "CO2", "CO4", "SS0", "SS1", "SS2", "SS14", "RM14",
           "CB10", "IG10", "EN9", "CM20"]
STREETS = ["High Street", "Church Lane", "Station Road", "Mill Road", "London Road", "Park Avenue",
           "Queens Road", "Victoria Road", "New Road", "Manor Way", "The Green", "Orchard Close",
           "Springfield Road", "Moulsham Street", "Broomfield Road", "Hamlet Court Road"]
ETHNICITY = ["White", "White", "White", "White", "Mixed", "Asian", "Black", "Other"]
SHORT = {"william": "bill", "robert": "bob", "elizabeth": "liz", "katherine": "kate", "thomas": "tom",
         "james": "jim", "margaret": "maggie", "michael": "mike", "samuel": "sam", "alexander": "alex"}


def _postcode(rng) -> str:
    letters = "ABDEFGHJLNPQRSTUWXYZ"
    return f"{rng.choice(OUTWARD)} {rng.integers(1, 10)}{rng.choice(list(letters))}{rng.choice(list(letters))}"


def _typo(rng, word: str) -> str:
    if len(word) < 4:
        return word
    i = int(rng.integers(1, len(word) - 1))
    kind = rng.integers(0, 4)
    if kind == 0:
        return word[:i] + word[i + 1:]
    if kind == 1:
        return word[:i] + word[i] + word[i:]
    if kind == 2:
        return word[:i - 1] + word[i] + word[i - 1] + word[i + 1:]
    return word[:i] + rng.choice(list("aeiourstnl")) + word[i + 1:]


def generate(people: int = 2_000, shared: int = 800, police_only: int = 700,
             seed: int = 2026) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(social_care, police, truth): *people* in the social care register, *shared* of them also
    in the police register beside *police_only* others. Identical for one seed."""
    from datetime import date, timedelta

    import numpy as np
    import polars as pl
    from faker.providers.person.en_GB import Provider as Names

    rng = np.random.default_rng(seed)
    given = sorted(set(Names.first_names_female) | set(Names.first_names_male))
    surnames = sorted(set(Names.last_names))

    def person() -> dict:
        born = date(2004, 1, 1) + timedelta(days=int(rng.integers(0, 365 * 18)))
        return {"given_name": str(rng.choice(given)), "surname": str(rng.choice(surnames)),
                "date_of_birth": born, "postcode": _postcode(rng),
                "address_1": f"{rng.integers(1, 120)} {rng.choice(STREETS)}",
                "sex": str(rng.choice(["Female", "Male"])), "ethnicity": str(rng.choice(ETHNICITY)),
                "nhs_number": f"{rng.integers(100, 999)}{rng.integers(1000000, 9999999)}"
                if rng.random() < 0.7 else None}

    base = [person() for _ in range(people)]
    care = [{"case_ref": f"SC{i + 100000:06d}", **p} for i, p in enumerate(base)]
    chosen = rng.choice(people, size=shared, replace=False)
    police, truth = [], []
    for j, i in enumerate(sorted(int(c) for c in chosen)):
        p = dict(base[i])
        r = rng.random(6)
        if r[0] < 0.25:
            short = SHORT.get(p["given_name"].lower())
            p["given_name"] = short.title() if short and rng.random() < 0.5 else _typo(rng, p["given_name"])
        if r[1] < 0.2:
            p["surname"] = _typo(rng, p["surname"])
        if r[2] < 0.15:
            d = p["date_of_birth"]
            if d.day <= 12 and d.day != d.month and rng.random() < 0.5:
                p["date_of_birth"] = date(d.year, d.day, d.month)
            else:
                p["date_of_birth"] = d + timedelta(days=int(rng.choice([-3, -1, 1, 2, 365])))
        if r[3] < 0.2:
            outward, inward = p["postcode"].split(" ")
            p["postcode"] = None if rng.random() < 0.3 else f"{outward} {inward[0]}{_postcode(rng)[-2:]}"
        if r[4] < 0.2:
            p["address_1"] = _typo(rng, p["address_1"])
        if r[5] < 0.1:
            p["nhs_number"] = None
        ref = f"P{j + 500000:06d}"
        police.append({"person_ref": ref, **p})
        truth.append({"case_ref": care[i]["case_ref"], "person_ref": ref})
    for j in range(police_only):
        police.append({"person_ref": f"P{shared + j + 500000:06d}", **person()})
    order = rng.permutation(len(police))
    police = [police[int(k)] for k in order]
    return pl.DataFrame(care), pl.DataFrame(police), pl.DataFrame(truth)


def write(folder: str | Path, *, people: int = 2_000, shared: int = 800, police_only: int = 700,
          seed: int = 2026) -> dict[str, Path]:
    """Write ``social_care.csv``, ``police.csv`` and ``truth.csv`` into *folder*."""
    folder = Path(folder)
    care, police, truth = generate(people, shared, police_only, seed)
    return {"social_care": write_frame(care, folder / "social_care.csv"),
            "police": write_frame(police, folder / "police.csv"),
            "truth": write_frame(truth, folder / "truth.csv")}
