from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from expedition.pii import nhs_number_valid, redact, scan


@pytest.mark.parametrize(
    "text, kind",
    [
        ("lives at CM1 1AA now", "postcode"),
        ("lives at co15 2ab now", "postcode"),
        ("email jo.bloggs@example.org today", "email"),
        ("call 07700 900123 today", "phone"),
        ("call +44 7700 900123 today", "phone"),
        ("call 01245 123456 today", "phone"),
        ("NHS 943 476 5919 seen", "nhs_number"),
        ("NI AB 12 34 56 C held", "ni_number"),
        ("DOB 01/02/2010 noted", "date_of_birth"),
        ("date of birth: 3 March 2012 noted", "date_of_birth"),
        ("seen by Mr Smith yesterday", "name"),
        ("a boy called Jamie Walker", "name"),
    ],
)
def test_each_pattern_is_found_and_redacted(text, kind):
    assert kind in [m.kind for m in scan(text)]
    cleaned, kinds = redact(text)
    assert kind in kinds
    assert cleaned != text


def test_ordinary_text_is_left_alone():
    text = "The child has 3 siblings; 1234567890 points; referral from school in March 2021."
    assert redact(text) == (text, [])


def test_names_keep_their_context_word():
    assert redact("Mr Smith and a girl called Riley.")[0] == "Mr [NAME] and a girl called [NAME]."


def test_a_surname_that_is_also_a_particle_is_redacted_after_a_title():
    """"Das", "Van", "De" lead on to a surname in "Mr das Neves", but stand alone in "Mr Das"."""
    assert redact("Seen by Mr Das at home.")[0] == "Seen by Mr [NAME] at home."
    assert redact("Mrs van der Berg called")[0] == "Mrs [NAME] called"


def test_nhs_check_digit():
    assert nhs_number_valid("943 476 5919")
    assert not nhs_number_valid("943 476 5918")
    assert not nhs_number_valid("12345")


@settings(deadline=None)
@given(st.lists(st.integers(0, 9), min_size=9, max_size=9))
def test_nhs_numbers_with_a_valid_check_digit_are_always_found(digits):
    total = sum(d * w for d, w in zip(digits, range(10, 1, -1)))
    check = (11 - total % 11) % 11
    if check == 10:
        return  # no valid NHS number has this stem
    number = "".join(map(str, digits)) + str(check)
    assert nhs_number_valid(number)
    text = f"patient {number[:3]} {number[3:6]} {number[6:]} seen"
    assert "[NHS_NUMBER]" in redact(text)[0]


@settings(deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_redaction_never_crashes_and_is_idempotent(text):
    once, _ = redact(text)
    twice, kinds = redact(once)
    assert twice == once
    assert kinds == []


@pytest.mark.parametrize(
    "value, kind",
    [
        ("CM1 1AA", "postcode"), (" co15 2ab ", "postcode"), ("jo.bloggs@example.org", "email"),
        ("943 476 5919", "nhs_number"), ("9434765919", "nhs_number"), ("AB 12 34 56 C", "ni_number"),
        ("07700 900123", "phone"), ("+44 7700 900123", "phone"),
        ("943 476 5918", None), ("CM1", None), ("call 07700 900123", None), ("Harlow", None), ("", None),
    ],
)
def test_whole_values_are_classified(value, kind):
    from expedition.pii import value_kind

    assert value_kind(value) == kind


@pytest.mark.parametrize(
    "name, kind",
    [
        ("first_name", "name"), ("Surname", "name"), ("ClientName", "name"), ("name", None),
        ("dob", "date_of_birth"), ("DateOfBirth", "date_of_birth"), ("address_line_1", "address"),
        ("email", "email"), ("mobile", "phone"), ("NHS Number", "nhs_number"), ("nino", "ni_number"),
        ("team_name", None), ("district name", None), ("referral_date", None), ("postcode", None),
    ],
)
def test_column_names_that_point_at_a_person(name, kind):
    from expedition.pii import column_hint

    assert column_hint(name) == kind
