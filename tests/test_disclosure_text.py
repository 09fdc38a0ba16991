"""Personal data in published text: allow-listed names, markup, embedded images."""

from __future__ import annotations

import base64

from hypothesis import given, settings
from hypothesis import strategies as st

from expedition.disclosure.text import find, redact, redact_markup, scan_text
from expedition.pii import scan

PIECES = ["Mr Smith", "called Jamie", "07700 900123", "CM1 1AA", "jo@example.org", "943 476 5919",
          "QQ 12 34 56 C", "DOB 01/02/2013", "Dr Jane Smith", "the", "referral", "12,345", "Essex", ". "]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=12))
def test_redaction_leaves_nothing_to_find(pieces):
    text = " ".join(pieces)
    cleaned, _ = redact(text)
    assert scan(cleaned) == []
    kept, _ = redact(text, allow=["Jane Smith"])
    assert all(text[m.start:m.end] != "Dr Jane Smith" for m in scan(kept)) or "Dr Jane Smith" in kept
    assert find(kept, ["Jane Smith"]) == []


def test_public_names_are_kept_and_others_redacted():
    text = "Signed off by Dr Jane Smith; Mr Brown called 07700 900123."
    cleaned, kinds = redact(text, allow=["Jane Smith"])
    assert cleaned == "Signed off by Dr Jane Smith; Mr [NAME] called [PHONE]."
    assert sorted(kinds) == ["name", "phone"]


def test_markup_is_scanned_for_what_a_reader_sees_only():
    # base64 that happens to contain postcode- and phone-like runs must not be flagged
    noise = base64.b64encode(b"\x00" * 30).decode() + "/ab12cd/0123456789/"
    page = (
        '<html><head><style>.a1 2ab { color: red }</style></head><body>\n'
        f'<img src="data:image/png;base64,{noise}" alt="Chart of referrals">\n'
        '<p>Nothing personal here.</p>\n'
        '<p title="Ring 07700 900123">x</p>\n'
        '<!-- written for Mr Brown -->\n'
        '</body></html>'
    )
    found = scan_text(page, markup=True)
    assert [(f.kind, f.line) for f in found] == [("phone", 4), ("name", 5)]
    cleaned, kinds = redact_markup(page)
    assert noise in cleaned and ".a1 2ab" in cleaned  # images and styles untouched
    assert 'title="Ring [PHONE]"' in cleaned and "Mr [NAME]" in cleaned
    assert scan_text(cleaned, markup=True) == []


def test_numbers_in_neighbouring_table_cells_are_not_a_phone_number():
    row = ('<table><tr><td>X01000468</td><td class="num">47</td><td class="num">7.445e-06</td>'
           '<td class="num">0.0002121</td><td class="num">543.5</td><td class="num">208.5</td></tr></table>')
    assert scan_text(row, markup=True) == []
    assert scan("p = 0.0002121 and 543.5 208.5") == []
    # a phone number inside one cell is still found
    found = scan_text("<table><tr><td>1</td><td>call 01245 123456</td></tr></table>", markup=True)
    assert [f.kind for f in found] == ["phone"]


def test_the_gate_redacts_labels_that_are_names_and_keeps_places():
    import polars as pl

    from expedition.config import DisclosureConfig
    from expedition.disclosure import gate_table
    from expedition.finding import Table

    labels = ["Sarah-Jane McDonald", "SMITH, John", "Smith, J.", "O'Neil", "Victoria", "Kent Police",
              "Victoria Park", "Chelmsford", "E07000070", "Anti-social behaviour", "Jordan", "Mark Hall"]
    table = Table(pl.DataFrame({"who": labels, "n": [50] * len(labels)}), {"who": "label", "n": "count"})
    gated = gate_table("t", table, DisclosureConfig(), "f", allow=["Jane Lead"])
    published = gated.table.frame["who"].to_list()
    assert published[:4] == ["[NAME]"] * 4
    assert published[4:] == labels[4:]
    assert any(e.rule == "redacted" for e in gated.log)


def test_the_allow_list_keeps_names_and_the_contact_address_but_nothing_else():
    allow = ["Jane Lead", "Insight team, 07700 900123, CM1 1QH", "expeditions@essex.gov.uk"]
    text = "Signed by Jane Lead; call 07700 900123 at CM1 1QH or expeditions@essex.gov.uk; Mr Leadbetter."
    cleaned, kinds = redact(text, allow)
    assert "Jane Lead" in cleaned and "expeditions@essex.gov.uk" in cleaned
    assert "07700" not in cleaned and "CM1 1QH" not in cleaned and "Leadbetter" not in cleaned
    assert sorted(kinds) == ["name", "phone", "postcode"]
