"""Patterns for personal data in UK public-sector text, and redaction.

One place for the patterns that profiling (suspected personal data), the text step (redaction
before modelling) and the disclosure gate (nothing identifying is published) all use.

Patterns are deliberately UK-specific: postcodes, NHS numbers (with their modulus-11 check digit,
so arbitrary 10-digit numbers are not flagged), National Insurance numbers, UK phone numbers,
e-mail addresses, dates of birth given in context, and names in context ("Mr Smith",
"called Jamie"). Names without such context cannot be found reliably by patterns and are not
claimed to be.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_POSTCODE = r"\b(?:GIR ?0AA|[A-PR-UWYZ][A-HK-Y]?[0-9][0-9A-HJKMNPR-Y]? ?[0-9][ABD-HJLNP-UW-Z]{2})\b"
_NHS = r"\b\d{3}[ -]?\d{3}[ -]?\d{4}\b"
_NINO = (
    r"\b(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
    r" ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"
)
_EMAIL = r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"
_PHONE = r"(?<![\w+.])(?:\+44 ?\(?0?\)? ?|\(?0)\d{2,4}\)?[ -]?\d{3,4}[ -]?\d{3,4}\b(?!\.\d)"
_DOB = (
    r"\b(?:DOB|D\.O\.B\.?|date of birth|born(?: on)?)\s*[:\-]?\s*"
    r"(?:\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|\d{1,2}(?:st|nd|rd|th)? [A-Z][a-z]+ \d{4})"
)
_TITLE_NAME = r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr)\.? +[A-Z][a-z'’-]+(?: +[A-Z][a-z'’-]+)?"
_CALLED_NAME = r"\b(?:called|named|name is|known as)\s+[A-Z][a-z'’-]+(?: +[A-Z][a-z'’-]+)?"


def nhs_number_valid(text: str) -> bool:
    """The NHS number modulus-11 check digit."""
    digits = [int(c) for c in text if c.isdigit()]
    if len(digits) != 10:
        return False
    total = sum(d * w for d, w in zip(digits[:9], range(10, 1, -1)))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == digits[9]


@dataclass(frozen=True)
class Pattern:
    name: str
    label: str
    regex: re.Pattern[str]
    accept: Callable[[str], bool] | None = None

    def finditer(self, text: str):
        for match in self.regex.finditer(text):
            if self.accept is None or self.accept(match.group(0)):
                yield match


PATTERNS: list[Pattern] = [
    Pattern("email", "e-mail address", re.compile(_EMAIL)),
    Pattern("nhs_number", "NHS number", re.compile(_NHS), nhs_number_valid),
    Pattern("ni_number", "National Insurance number", re.compile(_NINO, re.IGNORECASE)),
    Pattern("date_of_birth", "date of birth", re.compile(_DOB, re.IGNORECASE)),
    Pattern("phone", "UK phone number", re.compile(_PHONE)),
    Pattern("postcode", "UK postcode", re.compile(_POSTCODE, re.IGNORECASE)),
    Pattern("name", "name after a title", re.compile(_TITLE_NAME)),
    Pattern("name", "name in context", re.compile(_CALLED_NAME)),
]

KINDS: dict[str, str] = {p.name: p.label for p in PATTERNS}


@dataclass(frozen=True)
class Match:
    kind: str
    start: int
    end: int


def scan(text: str) -> list[Match]:
    """Every personal-data match in *text*, earliest first, overlaps resolved to the first."""
    found: list[Match] = []
    for pattern in PATTERNS:
        for m in pattern.finditer(text):
            found.append(Match(pattern.name, m.start(), m.end()))
    found.sort(key=lambda m: (m.start, -(m.end - m.start)))
    kept: list[Match] = []
    for match in found:
        if kept and match.start < kept[-1].end:
            continue
        kept.append(match)
    return kept


def redact(text: str) -> tuple[str, list[str]]:
    """Replace personal data in *text* with ``[KIND]`` tokens; return the text and the kinds."""
    matches = scan(text)
    if not matches:
        return text, []
    pieces = []
    last = 0
    for match in matches:
        pieces.append(text[last : match.start])
        if match.kind == "name":
            # keep the context word ("Mr", "called") so the sentence still reads
            original = text[match.start : match.end]
            head = re.match(
                r"(?:Mr|Mrs|Ms|Miss|Mx|Dr)\.? +|(?:called|named|name is|known as)\s+",
                original,
                re.IGNORECASE,
            )
            pieces.append((head.group(0) if head else "") + "[NAME]")
        else:
            pieces.append(f"[{match.kind.upper()}]")
        last = match.end
    pieces.append(text[last:])
    return "".join(pieces), [m.kind for m in matches]


# --------------------------------------------------------------------------- whole values


#: Kinds a whole value (a cell of a column, not a sentence) can be, in the order they are tried.
VALUE_KINDS = ("email", "nhs_number", "ni_number", "phone", "postcode")


def value_kind(value: str) -> str | None:
    """The kind of personal data *value* is in its entirety (``"postcode"`` for "CM1 1AA"), if any.

    Used on the cells of a column, where ``scan`` (which looks for personal data inside text)
    would call "01245 123456 ext 2" a phone number but this does not: the whole value must match.
    """
    text = value.strip()
    if not text or len(text) > 254:
        return None
    for pattern in PATTERNS:
        if pattern.name not in VALUE_KINDS:
            continue
        match = pattern.regex.fullmatch(text)
        if match and (pattern.accept is None or pattern.accept(match.group(0))):
            return pattern.name
    return None


_NAME_TOKENS = {
    "name": {"surname", "forename", "forenames", "firstname", "lastname", "fullname", "givenname",
             "familyname", "middlename", "maidenname"},
    "date_of_birth": {"dob", "dateofbirth", "birthdate", "birthday"},
    "address": {"address", "addressline", "address1", "address2", "streetaddress", "homeaddress"},
    "email": {"email", "emailaddress"},
    "phone": {"phone", "telephone", "mobile", "phonenumber", "tel", "mobilenumber"},
    "nhs_number": {"nhs", "nhsnumber", "nhsno"},
    "ni_number": {"nino", "ninumber", "nationalinsurance", "nationalinsurancenumber"},
}
_PERSON_WORDS = {"person", "client", "child", "patient", "pupil", "victim", "offender", "suspect",
                 "parent", "carer", "mother", "father", "resident", "customer", "applicant",
                 "claimant", "tenant", "first", "last", "given", "family", "middle", "full"}


def column_hint(name: str) -> str | None:
    """The kind of personal data a column's *name* suggests ("first_name" → "name"), if any.

    Only names that point at a person count: "client_name", "first_name" or "surname" do;
    "name" alone (often the name of a category or place), "team_name" or "district name" do not.
    """
    words = [w for w in re.split(r"[^a-z0-9]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", name).lower()) if w]
    if not words:
        return None
    joined = "".join(words)
    for kind, tokens in _NAME_TOKENS.items():
        if joined in tokens or any(w in tokens for w in words):
            return kind
    if "name" in words and any(w in _PERSON_WORDS for w in words):
        return "name"
    if "birth" in words and ("date" in words or "of" in words):
        return "date_of_birth"
    return None


# --------------------------------------------------------------------------- many texts at once

#: A quick test that every text holding personal data passes (each pattern above needs a digit,
#: an "@", a title or a context word), written for Polars' regex engine so a column can be screened
#: in one vectorised pass and only the texts that pass are scanned. Texts that fail it hold nothing
#: `scan` would find; the tests check this against `scan`.
CANDIDATE = r"[\d@]|\b(?:Mr|Mrs|Ms|Miss|Mx|Dr)\b|\b(?:called|named|name is|known as)\s"
