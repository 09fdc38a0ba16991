"""The check kinds a contract can use: each defined once, in one class.

A kind says, from one definition, everything the tool needs of it:

* ``parse`` — its YAML form read into arguments (or `BadCheck`, which the loader reports with
  the contract's line), and ``to_yaml`` — the arguments written back;
* ``describe`` (what it requires, "between 0 and 19"), ``failure`` (what is wrong with a value
  that fails, "outside 0 to 19") and ``fix`` (what the data owner can do at source);
* ``polars`` — the expression that is true where a present value passes, for the Polars
  engine; ``pandera`` — pandera's built-in check that says the same (a test holds them equal);
  other engines add their own compiler beside ``polars``, from the same arguments.

Checks judge values that are present: an empty value is judged only by ``nullable``, and a value
that is not of the column's type only by the type check (as in pandera). `CheckSpec` is one
check of one column (a kind and its arguments); `KINDS` is the registry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any, ClassVar

from expedition.contract.types import (
    FLOAT,
    INTEGER,
    ORDERED,
    TEXTUAL,
    _show,
    _show_values,
    polars_dtype,
)

if TYPE_CHECKING:
    import pandera.polars as pa
    import polars as pl


class BadCheck(ValueError):
    """A check written wrongly in a contract: what is wrong, and how to write it."""

    def __init__(self, what: str, fix: str) -> None:
        super().__init__(what)
        self.fix = fix


class Kind:
    """One kind of check. Subclasses define each part once; see the module's docstring."""

    name: ClassVar[str]
    #: the column types it applies to (None: any)
    applies: ClassVar[frozenset[str] | None] = None
    wrong_type: ClassVar[tuple[str, str]] = ("", "")

    def check_type(self, dtype: str) -> None:
        if self.applies is not None and dtype not in self.applies:
            what, fix = self.wrong_type
            raise BadCheck(what.format(dtype=dtype), fix)

    def parse(self, value: Any, dtype: str, fmt: str | None) -> dict[str, Any]:
        raise NotImplementedError

    def to_yaml(self, a: Mapping[str, Any]) -> Any:
        raise NotImplementedError

    def describe(self, a: Mapping[str, Any]) -> str:
        raise NotImplementedError

    def failure(self, a: Mapping[str, Any]) -> str:
        raise NotImplementedError

    def fix(self, a: Mapping[str, Any]) -> str:
        return f"check the values: each should be {self.describe(a)}"

    def polars(self, col: pl.Expr, a: Mapping[str, Any], dtype: str) -> pl.Expr:
        raise NotImplementedError

    def pandera(self, a: Mapping[str, Any]) -> pa.Check:
        raise NotImplementedError

    def spark(self, col: Any, a: Mapping[str, Any], dtype: str) -> Any:
        """The PySpark Column that is true where a present value passes, for the Spark engine
        (*col* holds the value as `expedition.validation.spark` types it)."""
        raise NotImplementedError


_RANGE_TYPE = ("a range check does not apply to a {dtype} column",
               "use isin for allowed values or str_length for lengths")
_TEXT_TYPE = ("a text check does not apply to a {dtype} column",
              "use a range check (in_range, ge, le) or isin")


class InRange(Kind):
    name = "in_range"
    applies = frozenset(ORDERED)
    wrong_type = _RANGE_TYPE

    def parse(self, value, dtype, fmt):
        if isinstance(value, list) and len(value) == 2:
            value = {"min": value[0], "max": value[1]}
        if not isinstance(value, dict) or set(value) - {"min", "max", "include_min", "include_max"} \
                or "min" not in value or "max" not in value:
            raise BadCheck("expected {min: ..., max: ...}",
                           "e.g. in_range: {min: 0, max: 120} (add include_max: false to "
                           "exclude the end)")
        args = {"min": typed_value(value["min"], dtype, fmt), "max": typed_value(value["max"], dtype, fmt)}
        for flag in ("include_min", "include_max"):
            if flag in value:
                if not isinstance(value[flag], bool):
                    raise BadCheck(f"{flag} must be true or false", f"{flag}: false")
                args[flag] = value[flag]
        if args["max"] < args["min"]:
            raise BadCheck("max is below min", "swap them")
        return args

    def to_yaml(self, a):
        return {k: a[k] for k in ("min", "max", "include_min", "include_max")
                if k in a and not (k.startswith("include") and a[k] is True)}

    def describe(self, a):
        low = "" if a.get("include_min", True) else " (exclusive)"
        high = "" if a.get("include_max", True) else " (exclusive)"
        return f"between {_show(a['min'])}{low} and {_show(a['max'])}{high}"

    def failure(self, a):
        return f"outside {_show(a['min'])} to {_show(a['max'])}"

    def polars(self, col, a, dtype):
        low = col.ge(a["min"]) if a.get("include_min", True) else col.gt(a["min"])
        high = col.le(a["max"]) if a.get("include_max", True) else col.lt(a["max"])
        return low & high

    def pandera(self, a):
        import pandera.polars as pa

        return pa.Check.in_range(a["min"], a["max"], include_min=a.get("include_min", True),
                                 include_max=a.get("include_max", True))

    def spark(self, col, a, dtype):
        low, high = spark_literal(a["min"], dtype), spark_literal(a["max"], dtype)
        low_ok = (col >= low) if a.get("include_min", True) else (col > low)
        high_ok = (col <= high) if a.get("include_max", True) else (col < high)
        return low_ok & high_ok


class Compare(Kind):
    """``ge``, ``gt``, ``le``, ``lt``, ``eq``, ``ne``: one value compared with a bound."""

    def __init__(self, name: str, words: str, ordered: bool) -> None:
        self.name = name  # type: ignore[misc]
        self.words = words
        self.applies = frozenset(ORDERED) if ordered else None  # type: ignore[misc]
        self.wrong_type = _RANGE_TYPE  # type: ignore[misc]

    def parse(self, value, dtype, fmt):
        if isinstance(value, (list, dict)):
            raise BadCheck("expected a single value", f"e.g. {self.name}: 0")
        return {"value": typed_value(value, dtype, fmt)}

    def to_yaml(self, a):
        return a["value"]

    def describe(self, a):
        return f"{self.words} {_show(a['value'])}"

    def failure(self, a):
        return f"not {self.describe(a)}"

    def polars(self, col, a, dtype):
        return getattr(col, self.name)(a["value"])

    def pandera(self, a):
        import pandera.polars as pa

        return getattr(pa.Check, self.name)(a["value"])

    def spark(self, col, a, dtype):
        import operator

        bound = spark_literal(a["value"], dtype)
        return getattr(operator, self.name)(col, bound)


class Values(Kind):
    """``isin`` (only these values) and ``notin`` (never these values)."""

    def __init__(self, name: str, allowed: bool) -> None:
        self.name = name  # type: ignore[misc]
        self.allowed = allowed

    def parse(self, value, dtype, fmt):
        if not isinstance(value, list) or not value:
            raise BadCheck("expected a non-empty list of values", f"e.g. {self.name}: [a, b, c]")
        return {"values": tuple(typed_value(v, dtype, fmt) for v in value)}

    def to_yaml(self, a):
        return list(a["values"])

    def describe(self, a):
        return f"{'one' if self.allowed else 'none'} of {_show_values(a['values'])}"

    def failure(self, a):
        return "not one of the allowed values" if self.allowed else "a value that is not allowed"

    def fix(self, a):
        shown = _show_values(a["values"], limit=30)
        return f"use only the agreed values: {shown}" if self.allowed else f"do not use {shown}"

    def polars(self, col, a, dtype):
        import polars as pl

        target = pl.String if dtype == "categorical" else polars_dtype(dtype)
        found = col.is_in(pl.lit(pl.Series(list(a["values"]), dtype=target).implode()))
        return found if self.allowed else found.not_()

    def pandera(self, a):
        import pandera.polars as pa

        return getattr(pa.Check, self.name)(list(a["values"]))

    def spark(self, col, a, dtype):
        found = col.isin([spark_literal(v, dtype) for v in a["values"]])
        return found if self.allowed else ~found


class Pattern(Kind):
    """``str_matches`` (the value matches from its start, like ``re.match`` and pandera) and
    ``str_contains`` (anywhere in the value)."""

    applies = frozenset(TEXTUAL)
    wrong_type = _TEXT_TYPE

    def __init__(self, name: str, anchored: bool) -> None:
        self.name = name  # type: ignore[misc]
        self.anchored = anchored

    def regex(self, a: Mapping[str, Any]) -> str:
        """The regular expression every engine runs."""
        pattern = a["pattern"]
        return anchored(pattern) if self.anchored else pattern

    def parse(self, value, dtype, fmt):
        if not isinstance(value, str) or not value:
            raise BadCheck("expected a regular expression", "quote it: str_matches: '^R\\d{7}$'")
        check_regex(anchored(value) if self.anchored else value)
        return {"pattern": value}

    def to_yaml(self, a):
        return a["pattern"]

    def describe(self, a):
        return f"{'matches' if self.anchored else 'contains'} {a['pattern']}"

    def failure(self, a):
        return f"does not {'match' if self.anchored else 'contain'} {a['pattern']}"

    def fix(self, a):
        if self.anchored:
            return f"send values in the agreed format (regular expression {a['pattern']})"
        return super().fix(a)

    def polars(self, col, a, dtype):
        return col.str.contains(self.regex(a))

    def pandera(self, a):
        import pandera.polars as pa

        return getattr(pa.Check, self.name)(a["pattern"])

    def spark(self, col, a, dtype):
        return col.rlike(java_regex(self.regex(a)))


class Affix(Kind):
    """``str_startswith`` and ``str_endswith``: fixed text at one end of the value."""

    applies = frozenset(TEXTUAL)
    wrong_type = _TEXT_TYPE

    def __init__(self, name: str, end: str) -> None:
        self.name = name  # type: ignore[misc]
        self.end = end  # "starts" or "ends"

    def parse(self, value, dtype, fmt):
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise BadCheck("expected text", f"e.g. {self.name}: ABC")
        return {"value": str(value)}

    def to_yaml(self, a):
        return a["value"]

    def describe(self, a):
        return f"{self.end} with {a['value']!r}"

    def failure(self, a):
        return f"does not {self.end[:-1]} with {a['value']!r}"

    def polars(self, col, a, dtype):
        return col.str.starts_with(a["value"]) if self.end == "starts" else col.str.ends_with(a["value"])

    def pandera(self, a):
        import pandera.polars as pa

        return getattr(pa.Check, self.name)(a["value"])

    def spark(self, col, a, dtype):
        return col.startswith(a["value"]) if self.end == "starts" else col.endswith(a["value"])


class Length(Kind):
    """``str_length``: an exact length, or a minimum and/or maximum, in characters."""

    name = "str_length"
    applies = frozenset(TEXTUAL)
    wrong_type = _TEXT_TYPE

    def parse(self, value, dtype, fmt):
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 0:
                raise BadCheck("a length cannot be negative", "e.g. str_length: 7")
            return {"exact": value}
        if not isinstance(value, dict) or not value or set(value) - {"min", "max"}:
            raise BadCheck("expected a length or {min: ..., max: ...}",
                           "e.g. str_length: {min: 1, max: 200}")
        for k, v in value.items():
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise BadCheck(f"{k} must be a whole number of characters", "e.g. {max: 200}")
        if value.get("min") is not None and value.get("max") is not None and value["max"] < value["min"]:
            raise BadCheck("max is below min", "swap them")
        return {"min": value.get("min"), "max": value.get("max")}

    def to_yaml(self, a):
        if a.get("exact") is not None:
            return a["exact"]
        return {k: a[k] for k in ("min", "max") if a.get(k) is not None}

    def bounds(self, a: Mapping[str, Any]) -> tuple[int | None, int | None]:
        """(shortest, longest) allowed, None where open."""
        if a.get("exact") is not None:
            return a["exact"], a["exact"]
        return a.get("min"), a.get("max")

    def describe(self, a):
        low, high = self.bounds(a)
        if a.get("exact") is not None:
            return f"exactly {low} characters long"
        if low is not None and high is not None:
            return f"{low} to {high} characters long"
        if low is not None:
            return f"at least {low} characters long"
        return f"at most {high} characters long"

    def failure(self, a):
        return "wrong length (" + self.describe(a).replace(" long", "") + ")"

    def polars(self, col, a, dtype):
        n = col.str.len_chars()
        low, high = self.bounds(a)
        if low is not None and high is not None:
            return n.is_between(low, high)
        return n.ge(low) if low is not None else n.le(high)

    def pandera(self, a):
        import pandera.polars as pa

        if a.get("exact") is not None:
            return pa.Check.str_length(exact_value=a["exact"])
        return pa.Check.str_length(min_value=a.get("min"), max_value=a.get("max"))

    def spark(self, col, a, dtype):
        from pyspark.sql import functions as F

        n = F.char_length(col)
        low, high = self.bounds(a)
        if low is not None and high is not None:
            return n.between(low, high)
        return n >= low if low is not None else n <= high


#: Every check kind, by the name a contract uses.
KINDS: dict[str, Kind] = {k.name: k for k in (
    InRange(),
    Compare("ge", "at least", True),
    Compare("gt", "more than", True),
    Compare("le", "at most", True),
    Compare("lt", "less than", True),
    Compare("eq", "equal to", False),
    Compare("ne", "not equal to", False),
    Values("isin", allowed=True),
    Values("notin", allowed=False),
    Pattern("str_matches", anchored=True),
    Pattern("str_contains", anchored=False),
    Affix("str_startswith", "starts"),
    Affix("str_endswith", "ends"),
    Length(),
)}
CHECK_KINDS = tuple(KINDS)
#: Other names people write for a kind.
ALIASES = {
    "between": "in_range",
    "range": "in_range",
    "min": "ge",
    "max": "le",
    "greater_than_or_equal_to": "ge",
    "greater_than": "gt",
    "less_than_or_equal_to": "le",
    "less_than": "lt",
    "equal_to": "eq",
    "not_equal_to": "ne",
    "allowed": "isin",
    "one_of": "isin",
    "regex": "str_matches",
    "pattern": "str_matches",
}


@dataclass(frozen=True)
class CheckSpec:
    """One check on a column's values, e.g. ``in_range`` with ``{"min": 0, "max": 19}``."""

    kind: str
    args: Mapping[str, Any]
    line: int | None = field(default=None, compare=False, repr=False)

    @property
    def definition(self) -> Kind:
        return KINDS[self.kind]

    def expr(self, col: pl.Expr, dtype: str) -> pl.Expr:
        """The Polars expression that is true where a present value passes."""
        import polars as pl

        if dtype == "categorical" and self.definition.applies == frozenset(TEXTUAL):
            col = col.cast(pl.String)
        return self.definition.polars(col, self.args, dtype)

    def to_pandera(self) -> pa.Check:
        return self.definition.pandera(self.args)

    def spark_expr(self, col: Any, dtype: str) -> Any:
        """The PySpark Column that is true where a present value passes (categorical columns
        are text in Spark)."""
        return self.definition.spark(col, self.args, dtype)

    def describe(self) -> str:
        return self.definition.describe(self.args)

    def failure(self) -> str:
        return self.definition.failure(self.args)

    def fix(self) -> str:
        return self.definition.fix(self.args)

    def to_yaml_value(self) -> Any:
        return self.definition.to_yaml(self.args)


def parse_check(kind: str, value: Any, dtype: str, fmt: str | None) -> CheckSpec:
    """A check as a contract writes it (*kind* already resolved from `ALIASES`), or BadCheck."""
    definition = KINDS[kind]
    definition.check_type(dtype)
    return CheckSpec(kind, definition.parse(value, dtype, fmt))


def anchored(pattern: str) -> str:
    """pandera's ``str_matches`` matches from the start of the value, like ``re.match``."""
    return pattern if pattern.startswith("^") else f"^{pattern}"


def check_regex(pattern: str) -> None:
    """Compile with Polars' own regex engine, so the contract fails on load, not on validation,
    and refuse what would mean something else to Java's (the Spark engine): a contract's pattern
    means the same on every engine (`regex_portability`)."""
    import polars as pl

    try:
        pl.Series([""], dtype=pl.String).str.contains(pattern)
    except Exception as exc:
        detail = str(exc).strip().splitlines()
        message = next((line for line in detail if "error" in line.lower()), detail[0] if detail else "")
        raise BadCheck(f"{pattern!r} is not a valid regular expression ({message.strip()})",
                       "fix the expression (look-around and back-references are not "
                       "supported) and quote it in single quotes") from None
    problem = regex_portability(pattern)
    if problem is not None:
        what, fix = problem
        raise BadCheck(f"{pattern!r}: {what}", fix)


#: Unicode general categories, written the same way in Rust's and Java's ``\p{..}``.
_CATEGORIES = frozenset(
    "L Lu Ll Lt Lm Lo M Mn Mc Me N Nd Nl No P Pc Pd Ps Pe Pi Pf Po S Sm Sc Sk So "
    "Z Zs Zl Zp C Cc Cf Cs Co Cn".split()
)


def regex_portability(pattern: str) -> tuple[str, str] | None:
    r"""(what, fix) when *pattern* (already valid for Polars' Rust engine) uses a construct
    outside the subset that Rust and Java read alike, else None.

    Refused: look-around and back-references (Rust has neither), possessive quantifiers and
    atomic groups (``a{1,3}+`` is possessive in Java but "one or more of a{1,3}" in Rust),
    ``(?P<name>..)`` groups, inline flags other than ``(?i)``, POSIX classes (``[[:alpha:]]``
    is a class of the letters ``:alph`` in Java), class set operations (``&&``, ``--``, ``~~``),
    ``\p{..}`` other than the general categories (``\p{L}``, ``\p{Nd}``), ``\<``, ``\>``
    and ``\b{..}``, and ``{,n}``. The rest (``^ $ . \d \w \s \b``, classes, groups,
    alternation, greedy and lazy quantifiers) is translated for Java by `java_regex`.
    """
    i, n = 0, len(pattern)
    depth = 0  # inside a character class
    prev_quantifier = False
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            if nxt in "pP":
                if i + 2 < n and pattern[i + 2] == "{":
                    end = pattern.find("}", i + 3)
                    name = pattern[i + 3:end].replace("^", "")
                    if name not in _CATEGORIES:
                        return (f"\\{nxt}{{{name}}} is read differently by the Rust (Polars) and "
                                "Java (Spark) regular-expression engines",
                                "use a general category (\\p{L} letters, \\p{Nd} digits, "
                                "\\p{Lu} capitals) or list the characters, e.g. [A-Za-z]")
                    i = end + 1
                else:
                    i += 3
                prev_quantifier = False
                continue
            if nxt in "<>" or (nxt == "b" and i + 2 < n and pattern[i + 2] == "{"):
                return ("word-boundary forms \\<, \\> and \\b{..} exist only in Rust",
                        "use \\b")
            if nxt.isdigit():
                return ("back-references are not supported", "repeat the expression instead")
            i += 2
            prev_quantifier = False
            continue
        if depth:
            if ch == "[" and pattern.startswith("[:", i):
                return ("POSIX classes such as [:alpha:] mean other things in Java (Spark)",
                        "write the characters out, e.g. [A-Za-z] for [[:alpha:]]")
            if ch == "[":
                depth += 1
            elif ch == "]":
                depth -= 1
            elif pattern.startswith(("&&", "--", "~~"), i):
                return (f"the class operation {pattern[i:i + 2]!r} is not read alike by Rust and "
                        "Java", "list the characters the class allows instead")
            i += 1
            continue
        if ch == "[":
            depth = 1
            i += 1
            if i < n and pattern[i] == "^":
                i += 1
            if i < n and pattern[i] == "]":  # a literal ] first in the class
                i += 1
            continue
        if ch == "(" and pattern.startswith("(?", i):
            rest = pattern[i + 2:]
            if rest.startswith(("=", "!", "<=", "<!")):
                return ("look-around is not supported", "match the whole value instead")
            if rest.startswith(">"):
                return ("atomic groups (?>..) are not supported", "use a plain group (?:..)")
            if rest.startswith(("P<", "P=", "P>")):
                return ("(?P<name>..) groups are not read by Java (Spark)",
                        "use (?<name>..) or a plain group (?:..)")
            if not rest.startswith((":", "<")):
                flags = re.match(r"[a-zA-Z-]*", rest).group(0)
                if flags not in ("i",):
                    return (f"the inline flag (?{flags}..) means other things in Java (Spark)",
                            "only (?i) (ignore case) is allowed; write the rest out")
        if ch in "*+?" or (ch == "{" and re.match(r"\{\d*,?\d*\}", pattern[i:])):
            if ch == "{" and pattern.startswith("{,", i):
                return ("{,n} is not read by Java (Spark)", "write {0,n}")
            if ch == "+" and prev_quantifier:
                return ("possessive quantifiers (a++, a*+, a{1,3}+) mean 'one or more of the "
                        "repetition' to Polars but 'without backtracking' to Spark",
                        "remove the + after the quantifier (a{1,3}), or write (?:a{1,3})+ if "
                        "that is meant")
            if ch == "{":
                i = pattern.index("}", i) + 1
            else:
                i += 1
            if i < n and pattern[i] == "?" and ch != "?":  # lazy
                i += 1
            elif ch == "?" and i < n and pattern[i] == "?":
                i += 1
            prev_quantifier = True
            continue
        prev_quantifier = False
        i += 1
    return None


def java_regex(pattern: str) -> str:
    """*pattern* (Rust syntax, passed by `regex_portability`) as Java reads it alike: Unicode
    classes and case folding (``(?U)``, as Rust's ``\\d``, ``\\w``, ``\\s`` and ``(?i)``),
    ``.`` stopping only at a newline (``(?d)``), and ``$`` only at the very end (``\\z``, where
    Java's ``$`` would also match before a final line break)."""
    out: list[str] = []
    i, n, depth = 0, len(pattern), 0
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if depth:
            if ch == "[":
                depth += 1
            elif ch == "]":
                depth -= 1
            out.append(ch)
        elif ch == "[":
            depth = 1
            j = i + 1
            if j < n and pattern[j] == "^":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            out.append(pattern[i:j])
            i = j
            continue
        elif ch == "$":
            out.append("\\z")
        else:
            out.append(ch)
        i += 1
    return "(?dU)" + "".join(out)


def spark_literal(value: Any, dtype: str) -> Any:
    """A contract value (`typed_value`) as a PySpark literal of the type the Spark engine gives
    the column: dates and date-times without a time zone, times as ``HH:MM:SS.ffffff`` text."""
    from pyspark.sql import functions as F

    if dtype == "datetime":
        return F.lit(value.isoformat(sep=" ")).cast("timestamp_ntz")
    if dtype == "date":
        return F.lit(value.isoformat()).cast("date")
    if dtype == "time":
        return F.lit(value.strftime("%H:%M:%S.%f"))
    if dtype in FLOAT:
        return F.lit(float(value)).cast("float" if dtype == "float32" else "double")
    if dtype == "uint64" and isinstance(value, int):  # beyond a Java long
        return F.lit(str(value)).cast("decimal(20,0)")
    return F.lit(value)


def typed_value(value: Any, dtype: str, fmt: str | None) -> Any:
    """A value from YAML as the column's type, or BadCheck."""
    if dtype in INTEGER or dtype in FLOAT:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BadCheck(f"{value!r} is not a number", "write numbers without quotes")
        return value
    if dtype == "date":
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                pass
        raise BadCheck(f"{value!r} is not a date", "write dates as YYYY-MM-DD, e.g. 2021-01-01")
    if dtype == "datetime":
        if isinstance(value, datetime):
            return value.replace(tzinfo=None)
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day)
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.strip())
            except ValueError:
                pass
        raise BadCheck(f"{value!r} is not a date and time", "write them as YYYY-MM-DD HH:MM:SS")
    if dtype == "time":
        if isinstance(value, time):
            return value
        if isinstance(value, str):
            try:
                return time.fromisoformat(value.strip())
            except ValueError:
                pass
        if isinstance(value, int) and not isinstance(value, bool):  # YAML 1.1 sexagesimal
            return time(value // 3600, value // 60 % 60, value % 60)
        raise BadCheck(f"{value!r} is not a time of day", "write times as 'HH:MM:SS' in quotes")
    if dtype == "boolean":
        if not isinstance(value, bool):
            raise BadCheck(f"{value!r} is not true or false", "write true or false")
        return value
    if isinstance(value, (dict, list)) or value is None:
        raise BadCheck(f"{value!r} is not a text value", "write plain text values")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (date, datetime, time)):
        return value.isoformat()
    return str(value)
