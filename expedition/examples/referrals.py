"""Synthetic children's social care referrals in Essex, with planted signal.

Every value is generated from a seeded random number generator: there is no real person, case or
address behind any row. Postcodes have real Essex outward codes (CM, CO, SS, ...) with random
inward codes; phone numbers use Ofcom's drama range (07700 900xxx); NHS numbers use the 999 test
range. Names in the notes are drawn from a short list of common surnames and first names.

What predicts ``rereferred_12m`` (the outcome: re-referred within 12 months of closure), by
construction on the log-odds scale:

* ``prior_referrals`` (+0.35 per prior referral, capped at 6)
* concerns in the referral note: domestic abuse (+0.9), parental substance misuse (+0.7),
  neglect (+0.5), parental mental health (+0.4)
* referral source Police (+0.3); closure reason "No further action" (+0.45) and
  "Transferred to early help" (-0.3)
* age: younger children are more likely to be re-referred (-0.05 per year)
* district: Tendring (+0.45) and Harlow (+0.3)
* disability "Yes" (+0.5): a real difference between groups, so fairness checks have something
  to find

What does *not* predict it: sex, ethnicity, the month of referral, and the neutral words in the
notes ("visit", "weekend", "telephone", "letter", ...).

A planted leak: ``contacts_after_closure`` counts contacts with the family recorded *after* the case
was closed. It is drawn from the outcome itself (1 + Poisson(1.5) contacts when the case was
re-referred, Poisson(0.1) when not), so it predicts ``rereferred_12m`` almost perfectly and could
never be known when the case is closed: a model must not use it, and the ``risk`` step's leakage
check flags it. It is the last column and drawn after every other value, so the other columns are
the same as before it was added for the same seed.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from expedition.examples import write_frame

if TYPE_CHECKING:
    import polars as pl

DISTRICTS = {
    # name: (population weight, latitude, longitude, outward codes)
    "Basildon": (0.101, 51.576, 0.488, ["SS13", "SS14", "SS15", "SS16"]),
    "Braintree": (0.083, 51.878, 0.553, ["CM7", "CM77", "CM8"]),
    "Brentwood": (0.045, 51.621, 0.305, ["CM13", "CM14", "CM15"]),
    "Castle Point": (0.052, 51.553, 0.589, ["SS7", "SS8"]),
    "Chelmsford": (0.113, 51.736, 0.469, ["CM1", "CM2", "CM3"]),
    "Colchester": (0.117, 51.889, 0.901, ["CO1", "CO2", "CO3", "CO4"]),
    "Epping Forest": (0.085, 51.700, 0.110, ["CM16", "IG10", "EN9"]),
    "Harlow": (0.058, 51.773, 0.111, ["CM17", "CM18", "CM19", "CM20"]),
    "Maldon": (0.036, 51.732, 0.677, ["CM9"]),
    "Rochford": (0.051, 51.582, 0.706, ["SS4", "SS5"]),
    "Tendring": (0.097, 51.837, 1.154, ["CO15", "CO16", "CO12", "CO13"]),
    "Uttlesford": (0.055, 51.968, 0.267, ["CB10", "CB11", "CM6"]),
}
DISTRICT_EFFECT = {"Tendring": 0.45, "Harlow": 0.3}

SOURCES = {
    "Police": 0.29,
    "School": 0.20,
    "Health": 0.15,
    "Local authority": 0.12,
    "Individual": 0.09,
    "Other agency": 0.10,
    "Anonymous": 0.05,
}
ETHNICITY = {
    "White British": 0.74,
    "White other": 0.07,
    "Mixed": 0.06,
    "Asian": 0.05,
    "Black": 0.04,
    "Other": 0.01,
    "Not recorded": 0.03,
}
CLOSURE = {
    "No further action": 0.34,
    "Assessment complete - no services": 0.27,
    "Child in need plan ended": 0.18,
    "Transferred to early help": 0.16,
    "Moved out of area": 0.05,
}
CLOSURE_EFFECT = {"No further action": 0.45, "Transferred to early help": -0.3}

CONCERNS = {
    # flag: (prevalence, effect on log-odds, phrases)
    "domestic_abuse": (
        0.24,
        0.9,
        [
            "domestic abuse incident reported at the home",
            "police attended a domestic abuse incident",
            "mother disclosed domestic abuse by partner",
        ],
    ),
    "substance": (
        0.16,
        0.7,
        [
            "concerns about parental substance misuse",
            "father reported to be misusing alcohol",
            "drug paraphernalia seen in the home",
        ],
    ),
    "neglect": (
        0.22,
        0.5,
        [
            "concerns about neglect and poor home conditions",
            "child arrived at school hungry and unkempt",
            "signs of neglect noted by health visitor",
        ],
    ),
    "mental_health": (
        0.18,
        0.4,
        [
            "parent struggling with mental health",
            "mother has low mood and anxiety",
        ],
    ),
    "attendance": (
        0.20,
        0.0,
        [
            "school reports poor attendance",
            "child frequently late to school",
        ],
    ),
    "housing": (
        0.12,
        0.0,
        [
            "family in temporary accommodation",
            "housing problems reported",
        ],
    ),
}
NEUTRAL = [
    "home visit arranged",
    "telephone call with parent",
    "letter sent to family",
    "seen at the weekend",
    "information shared with school",
    "parent agreed to support",
    "follow-up visit completed",
]
SURNAMES = ["Smith", "Jones", "Taylor", "Brown", "Wilson", "Evans", "Walker", "Wright", "Hughes"]
FIRST_NAMES = ["Jamie", "Alex", "Sam", "Charlie", "Riley", "Morgan", "Casey", "Jordan"]

START = date(2021, 1, 1)
END = date(2024, 12, 31)


def _nhs_test_number(rng) -> str:
    """A check-digit-valid NHS number in the 999 test range."""
    while True:
        digits = [9, 9, 9] + list(rng.integers(0, 10, 6))
        total = sum(d * w for d, w in zip(digits, range(10, 1, -1)))
        check = 11 - total % 11
        check = 0 if check == 11 else check
        if check != 10:
            digits.append(check)
            text = "".join(str(d) for d in digits)
            return f"{text[:3]} {text[3:6]} {text[6:]}"


def generate(rows: int = 5_000, seed: int = 2026) -> pl.DataFrame:
    """A synthetic referrals table of *rows* closed cases, identical for the same seed."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    n = rows

    names = list(DISTRICTS)
    weights = np.array([DISTRICTS[d][0] for d in names])
    district_idx = rng.choice(len(names), size=n, p=weights / weights.sum())
    district = np.array(names)[district_idx]

    # referral dates: rising trend, fewer referrals in August and late December
    days = (END - START).days + 1
    day_weight = np.ones(days)
    ordinals = np.arange(days)
    month_of_day = np.array([(START.toordinal() + i) for i in ordinals])
    months = np.array([date.fromordinal(int(o)).month for o in month_of_day])
    day_weight *= np.where(months == 8, 0.6, 1.0) * np.where(months == 12, 0.85, 1.0)
    day_weight *= np.where(np.isin(months, [9, 10, 11]), 1.15, 1.0)
    day_weight *= 1.0 + 0.25 * ordinals / days
    day_offset = rng.choice(days, size=n, p=day_weight / day_weight.sum())
    referral_date = np.datetime64(START.isoformat()) + day_offset.astype("timedelta64[D]")
    duration = np.clip(rng.lognormal(mean=3.9, sigma=0.7, size=n), 3, 400).astype(int)
    closure_date = referral_date + duration.astype("timedelta64[D]")

    source = rng.choice(list(SOURCES), size=n, p=np.array(list(SOURCES.values())))
    age = rng.integers(0, 18, size=n)
    prior = np.minimum(rng.negative_binomial(1, 0.45, size=n), 12)
    sex = rng.choice(["Female", "Male", "Not recorded"], size=n, p=[0.485, 0.495, 0.02])
    ethnicity = rng.choice(list(ETHNICITY), size=n, p=np.array(list(ETHNICITY.values())))
    disability = rng.choice(["No", "Yes"], size=n, p=[0.88, 0.12])
    closure = rng.choice(list(CLOSURE), size=n, p=np.array(list(CLOSURE.values())))

    flags = {}
    for flag, (prevalence, _, _) in CONCERNS.items():
        boost = 1.0 + 0.6 * (source == "Police") * (flag == "domestic_abuse")
        flags[flag] = rng.random(n) < prevalence * boost

    logit = -2.35 + 0.35 * np.minimum(prior, 6) - 0.05 * age
    for flag, (_, effect, _) in CONCERNS.items():
        logit += effect * flags[flag]
    logit += 0.3 * (source == "Police")
    logit += np.vectorize(lambda c: CLOSURE_EFFECT.get(c, 0.0))(closure)
    logit += np.vectorize(lambda d: DISTRICT_EFFECT.get(d, 0.0))(district)
    logit += 0.5 * (disability == "Yes")
    probability = 1.0 / (1.0 + np.exp(-logit))
    rereferred = rng.random(n) < probability

    # free-text notes: concern phrases, neutral phrases and, sometimes, personal details that
    # must be redacted before anything is published
    concern_phrases = {flag: spec[2] for flag, spec in CONCERNS.items()}
    pick = rng.random((n, 6))
    neutral_pick = rng.integers(0, len(NEUTRAL), size=(n, 2))
    phrase_pick = rng.integers(0, 3, size=(n, len(CONCERNS)))
    pii_roll = rng.random(n)
    surname = rng.integers(0, len(SURNAMES), size=n)
    first = rng.integers(0, len(FIRST_NAMES), size=n)
    phone_tail = rng.integers(0, 1000, size=n)
    outward_choice = rng.random(n)
    inward_digit = rng.integers(1, 10, size=n)
    inward_letters = rng.integers(0, 20, size=(n, 2))
    letters = "ABDEFGHJLNPQRSTUWXYZ"
    notes = []
    postcodes = []
    for i in range(n):
        codes = DISTRICTS[district[i]][3]
        outward = codes[int(outward_choice[i] * len(codes))]
        postcodes.append(
            f"{outward} {inward_digit[i]}{letters[inward_letters[i, 0]]}{letters[inward_letters[i, 1]]}"
        )
        parts = [f"Referral from {source[i].lower()}."]
        for j, flag in enumerate(CONCERNS):
            if flags[flag][i]:
                options = concern_phrases[flag]
                parts.append(options[phrase_pick[i, j] % len(options)].capitalize() + ".")
        parts.append(NEUTRAL[neutral_pick[i, 0]].capitalize() + ".")
        if pick[i, 0] < 0.4:
            parts.append(NEUTRAL[neutral_pick[i, 1]].capitalize() + ".")
        if pii_roll[i] < 0.06:
            parts.append(f"Mother Ms {SURNAMES[surname[i]]} can be reached on 07700 900{phone_tail[i]:03d}.")
        elif pii_roll[i] < 0.10:
            parts.append(f"Child called {FIRST_NAMES[first[i]]} lives at {postcodes[i]}.")
        elif pii_roll[i] < 0.12:
            parts.append(f"NHS number {_nhs_test_number(rng)} recorded.")
        notes.append(" ".join(parts))

    lat = np.array([DISTRICTS[d][1] for d in district]) + rng.normal(0, 0.025, n)
    lon = np.array([DISTRICTS[d][2] for d in district]) + rng.normal(0, 0.035, n)
    ids = rng.permutation(n) + 100_000
    # drawn last, so that adding it left every other column unchanged for the same seed
    contacts_after = np.where(rereferred, 1 + rng.poisson(1.5, n), rng.poisson(0.1, n))

    return pl.DataFrame(
        {
            "referral_id": [f"R{i:07d}" for i in ids],
            "referral_date": referral_date,
            "closure_date": closure_date,
            "district": district,
            "referral_source": source,
            "age": age.astype(np.int64),
            "prior_referrals": prior.astype(np.int64),
            "sex": sex,
            "ethnicity": ethnicity,
            "disability": disability,
            "closure_reason": closure,
            "referral_note": notes,
            "postcode": postcodes,
            "latitude": np.round(lat, 5),
            "longitude": np.round(lon, 5),
            "rereferred_12m": np.where(rereferred, "yes", "no"),
            "contacts_after_closure": contacts_after.astype(np.int64),
        }
    ).sort("referral_date", "referral_id")


#: The bad rows `plant_bad_rows` adds, so validation has something to quarantine:
#: (row index in the generated table, what is wrong).
PLANTED = (
    (11, "age is '12a', not a whole number"),
    (23, "referral date 2023-02-31 does not exist"),
    (37, "referral id repeated from the next row (both rows are quarantined)"),
    (38, "referral id shared with the row before"),
    (52, "closed 30 days before it was referred"),
)


def plant_bad_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """The referrals as text with five clearly planted bad rows (see ``PLANTED``).

    The demo adds these so that `expedition validate` shows its quarantine at work; everything
    else in the table is valid. Needs at least 100 rows.
    """
    import polars as pl

    if frame.height < 100:
        raise ValueError("plant_bad_rows needs at least 100 rows")
    text = frame.with_columns(pl.all().cast(pl.String))
    ids = text.get_column("referral_id").to_list()
    changes = {
        "age": {11: "12a"},
        "referral_date": {23: "2023-02-31"},
        "referral_id": {37: ids[38]},
        "closure_date": {52: (frame.item(52, "referral_date") - timedelta(days=30)).isoformat()},
    }
    columns = []
    for column, rows in changes.items():
        values = text.get_column(column).to_list()
        for index, value in rows.items():
            values[index] = value
        columns.append(pl.Series(column, values, dtype=pl.String))
    return text.with_columns(columns)


def write(path: str | Path, rows: int = 5_000, seed: int = 2026, *, bad_rows: bool = False) -> Path:
    """Write the synthetic referrals to CSV (or Parquet, by extension).

    With *bad_rows*, five planted bad rows (see ``PLANTED``) are written too, every column as text.
    """
    frame = generate(rows, seed)
    if bad_rows:
        frame = plant_bad_rows(frame)
    return write_frame(frame, path)
