"""Spreadsheet-safe CSV cells: no cell the pack writes can start a formula.

Excel, LibreOffice and Google Sheets run a cell that starts with ``=``, ``+``, ``-`` or ``@`` as
a formula (``=HYPERLINK(…)``, ``=cmd|' /C calc'!A0``), and a leading tab, carriage return or NUL
can smuggle one in (OWASP's "CSV Injection"; ASVS 5.0 1.2.10). Every CSV cell the pack writes,
header included, is therefore escaped by OWASP's rule: a single quote before a cell that starts
with one of those characters and is not a number (``-5`` and ``+3.2`` stay numbers). Two
cautions beyond the rule: the full-width forms (``＝＋－＠``) count, and so does one of those
characters after leading spaces, which some importers trim.

The escape can be undone exactly (`unescape_cell`), so a reader of the pack gets the original
text back: a cell that already starts with quotes before such a character gets one more quote,
and `unescape_cell` removes one quote only from a cell that still needs it. A few lines of
regular expressions, written here because no maintained Python library does this escaping.
"""

from __future__ import annotations

import re

_TRIGGERS = "=+\\-@\uff1d\uff0b\uff0d\uff20"
_FORMULA = re.compile(rf"^(?:[\t\r\x00]|[\s\x00]*[{_TRIGGERS}])")
_NUMBER = re.compile(
    r"^[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)$", re.IGNORECASE
)


def is_number(cell: str) -> bool:
    """Whether *cell* is a plain number as a CSV writer prints one (``-5``, ``+3.2``, ``1e-06``,
    ``-inf``, ``NaN``); a spreadsheet reads it as a number, never a formula."""
    return bool(_NUMBER.match(cell))


def starts_formula(cell: str) -> bool:
    """Whether a spreadsheet could take *cell*, as written in a CSV, for a formula."""
    return bool(_FORMULA.match(cell)) and not is_number(cell)


def escape_cell(cell: str) -> str:
    """*cell* made safe to open in a spreadsheet (a quote before it when it needs one)."""
    return "'" + cell if starts_formula(cell.lstrip("'")) else cell


def unescape_cell(cell: str) -> str:
    """The text `escape_cell` was given (``unescape_cell(escape_cell(s)) == s`` for every s)."""
    return cell[1:] if cell.startswith("'") and starts_formula(cell.lstrip("'")) else cell
