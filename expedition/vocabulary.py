"""The words and layouts the tool recognises in data, each listed once.

Reading, profiling, contract inference, validation and the steps all recognise the same things:
the date layouts a text column may use, the words meaning true or false, the tokens that mean
"no value", the names of coordinate columns and what a column's name says about its role. They
live here, at the bottom of the package (this module imports nothing from it), so that no two
parts of the tool can disagree about them. The personal-data patterns (postcodes, NHS numbers,
names in context, ...) are the one exception: they live in `expedition.pii`, with the code that
finds and redacts them.
"""

from __future__ import annotations

import re

# --------------------------------------------------------------------------- dates

#: Date layouts (strftime codes, as Polars reads them), tried in this order: ISO, then UK
#: day-first before US month-first, then two-digit years. A column is read as dates in a layout
#: when every value (or, for contract inference, at least 99% of them) parses with it.
DATE_FORMATS = (
    "%Y-%m-%d",
    "%d/%m/%Y",
    "%d-%m-%Y",
    "%d.%m.%Y",
    "%Y/%m/%d",
    "%d %B %Y",
    "%d-%B-%Y",
    "%m/%d/%Y",
    "%d/%m/%y",
)
#: Months without a day (``2024-03``): a contract may declare them as dates (the first of the
#: month); the reader leaves them as text, as most files mean a period, not a day.
MONTH_FORMATS = ("%Y-%m",)
#: Date-time layouts, tried in this order (whole seconds before fractions, so a contract shows
#: the plainer layout when both fit).
DATETIME_FORMATS = (
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%d %H:%M:%S%z",
    "%Y-%m-%dT%H:%M:%S%.f%z",
    "%Y-%m-%dT%H:%M:%S%.fZ",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
)
#: Dates outside these years are taken to be something else (a code, a number).
PLAUSIBLE_YEARS = (1800, 2200)
#: The layouts a contract uses when it names none.
DEFAULT_FORMATS = {"date": "%Y-%m-%d", "time": "%H:%M:%S"}

# --------------------------------------------------------------------------- values

#: Spellings read as true / false (case and surrounding spaces ignored).
TRUE_WORDS = ("true", "t", "yes", "y", "1")
FALSE_WORDS = ("false", "f", "no", "n", "0")
BOOLEAN_WORDS = frozenset(TRUE_WORDS + FALSE_WORDS)

#: Values that stand for "no value" in exported files.
NULL_TOKENS = ("NA", "N/A", "n/a", "na", "NULL", "null", "None", "#N/A", "-", "NaN", "nan")

#: A number written as text: optional sign and currency sign, digits with optional thousands
#: separators, optional decimals. "1,234.50" and "£1,234" are numbers; "1,5" and "007" are not.
NUMBER_TEXT = r"^[+-]?[£$€]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$"
#: A leading zero before another digit marks a code ("007"), not a number.
LEADING_ZERO = r"^0\d"

#: Office for National Statistics area codes (GSS): E01000001, W02000123, ...
AREA_CODE = r"^[EWSNK]\d{8}$"

# --------------------------------------------------------------------------- column names

LATITUDE_NAMES = ("latitude", "lat")
LONGITUDE_NAMES = ("longitude", "lon", "lng", "long")
EASTING_NAMES = ("easting", "x_coord", "x")
NORTHING_NAMES = ("northing", "y_coord", "y")
#: Column names taken to be map coordinates (``x`` and ``y`` only where a step asks for a grid).
COORDINATE_NAMES = frozenset(
    LATITUDE_NAMES + LONGITUDE_NAMES + EASTING_NAMES[:2] + NORTHING_NAMES[:2]
)
#: Words in a column's name that mark an identifier (``case_ref``, ``PersonID``).
IDENTIFIER_WORDS = frozenset(
    {"id", "ref", "reference", "urn", "uuid", "guid", "key", "code", "number", "no", "num"}
)
#: What a column's name (lower case, words joined by ``_``) says about its role in a contract.
IDENTIFIER_NAME = re.compile(
    r"(^id$|_id$|^id_|_ref$|^ref_|^ref$|reference|_key$|^urn$|^uprn$|_number$|_no$|^nhs)"
)
#: Protected characteristics under the Equality Act 2010 (age itself is numeric and said apart).
PROTECTED_NAME = re.compile(
    r"(sex|gender|ethnic|race|religio|belief|faith|disab|sexual|orientation|marital|marriage|"
    r"civil_partner|pregnan|maternity|transgender|age_range|age_band|age_group)"
)
TARGET_NAME = re.compile(
    r"(outcome|target|label|rereferr|re_referr|escalat|reoffend|readmi|churn|^y$)"
)
GEO_NAME = re.compile(
    r"^(" + "|".join(LATITUDE_NAMES + LONGITUDE_NAMES + EASTING_NAMES[:2] + NORTHING_NAMES[:2])
    + r")$|latitude|longitude|lsoa|msoa|^oa_|_oa$|ward_code|lad_code|^lad$"
)


def name_words(name: str) -> list[str]:
    """The words of a column name: ``PersonID`` -> ``["person", "id"]``."""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    return [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w]


def name_key(name: str) -> str:
    """A column name as the name patterns above read it: ``Referral ID`` -> ``referral_id``."""
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")
