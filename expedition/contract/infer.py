"""Drafting a contract from a delivery, and writing the draft into a project."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from expedition import pii
from expedition._io import atomic_write_text
from expedition._lock import locked
from expedition.config import update_config
from expedition.errors import ConfigError, DataError
from expedition.project import Project
from expedition.contract.checks import CheckSpec
from expedition.contract.document import _suggest, contract_path, load_contract
from expedition.contract.model import GENERATED_MARK, ColumnSpec, Contract, RuleSpec
from expedition.contract.types import (
    DTYPES,
    FLOAT,
    INTEGER,
    NUMERIC,
    TEMPORAL,
    TEXTUAL,
    _show,
    parse_expr,
    polars_dtype,
)
from expedition.vocabulary import (
    AREA_CODE,
    DATE_FORMATS,
    DATETIME_FORMATS,
    DEFAULT_FORMATS,
    GEO_NAME,
    IDENTIFIER_NAME,
    MONTH_FORMATS,
    NULL_TOKENS,
    PROTECTED_NAME,
    TARGET_NAME,
    name_key,
)

if TYPE_CHECKING:
    import polars as pl

    from expedition.reading import OpenedDataset

# --------------------------------------------------------------------------- inference

#: Share of non-empty values that must parse as a type for a column to get that type.
PARSE_SHARE = 0.99
MAX_ALLOWED_VALUES = 20
RULE_SHARE = 0.99
#: Distinct values of a text column checked against the personal-data patterns.
PATTERN_VALUES = 2_000

#: Kinds of personal data a whole value can be (the patterns are `expedition.pii`'s), in the
#: order they are tried, with how a contract's comment names them.
PERSONAL_FORMATS = {
    "postcode": "UK postcodes",
    "nhs_number": "NHS numbers (10 digits)",
    "ni_number": "National Insurance numbers",
    "email": "e-mail addresses",
    "phone": "UK phone numbers",
}

_normal = name_key


def value_pattern(kind: str) -> str:
    """The regular expression a contract checks a column of *kind* with, made from the pattern
    `expedition.pii` finds that kind with: anchored to the whole value, and without the
    look-around guards that keep a match from starting or ending inside a longer word. Around a
    whole value there is nothing for them to guard against, and Polars' regex engine (which
    runs the contract) has no look-around. One guard has no equivalent: the National Insurance
    prefixes that are never issued (BG, GB, KN, NK, NT, TN, ZZ) are not refused by the contract.
    """
    pattern = next(p.regex for p in pii.PATTERNS if p.name == kind)
    source = re.sub(r"\(\?<?[!=][^()]*\)", "", pattern.pattern)
    flags = "(?i)" if pattern.flags & re.IGNORECASE else ""
    return f"{flags}^(?:{source})$"


def infer_schema(
    data: pl.DataFrame | pl.LazyFrame | str | Path | OpenedDataset,
    *,
    dataset: str | None = None,
    source: Mapping[str, Any] | None = None,
) -> Contract:
    """Draft a contract from a delivery (a file, a file opened by the reader, or a Polars frame).

    A file is read as every other stage reads it (`expedition.reading`), with the values of
    delimited text as text. Infinite values and NaN in number columns are set aside from the
    ranges (and said so); values of several types in JSON lines are read as text; lists and
    objects are checked as their JSON text.

    Types come from what at least 99% of non-empty values parse as (so a few bad values do not
    turn a column of numbers into text; they will fail validation instead); ranges are the
    observed ones widened by a tenth of the span to round numbers; allowed values are listed
    for text columns with at most 20 distinct values; recognised formats (UK postcodes, NHS and
    National Insurance numbers, e-mail addresses, phone numbers, ONS area codes, and the shape
    of identifiers such as ``R0000123``) become regular expressions; roles and personal-data
    flags are guessed from names and values. ``contract.observed`` holds what was seen, and
    ``contract.to_yaml()`` writes it as comments for the person who reviews the draft.
    """
    import polars as pl

    from expedition.reading import (
        OpenedDataset,
        data_error,
        nested_as_text,
        open_recovering,
        read_failure,
    )

    where = Path(source["file"]) if source else Path("the delivery")
    if isinstance(data, (str, Path)):
        where = Path(data)
        data = open_recovering(data, text=True)
    opened = data if isinstance(data, OpenedDataset) else None
    for _ in range(3):
        if opened is not None:
            data = opened.frame
        if not isinstance(data, pl.LazyFrame):
            break
        try:
            data = data.collect()
        except (pl.exceptions.PolarsError, OSError) as exc:
            if opened is None:
                raise data_error(exc, where) from None
            changed = read_failure(exc, opened.path, opened.options).apply(opened.options)
            if changed is None:
                raise data_error(exc, where) from None
            opened = open_recovering(opened.path, changed, text=True)
    frame = nested_as_text(data)
    n_rows = frame.height
    columns: dict[str, ColumnSpec] = {}
    notes: dict[str, list[str]] = {}
    null_values: list[str] = [""]
    typed: dict[str, pl.Series] = {}
    for name in frame.columns:
        spec, column_notes, series, tokens = _infer_column(frame.get_column(name), n_rows)
        columns[name] = spec
        notes[name] = column_notes
        typed[name] = series
        null_values.extend(t for t in tokens if t not in null_values)

    _choose_target(columns, notes, typed)
    rules, rule_notes = _infer_rules(columns, typed)
    header = [
        f"Data contract for '{dataset or 'this dataset'}', drafted by `expedition schema infer`.",
    ]
    if source:
        header.append(
            f"Observed in {source.get('file', 'the delivery')} (sha256 {str(source.get('sha256', ''))[:12]}…, "
            f"{n_rows:,} rows)."
        )
    else:
        header.append(f"Observed in {n_rows:,} rows.")
    header += [
        "",
        "Review every column: the comments say what was observed, the settings say what must be",
        "true of every delivery. Set each column's role (identifier, protected, target, text,",
        "geo, date) and personal flag; later steps and the findings pack rely on them.",
        "Once you edit this file, `expedition schema infer` will not overwrite it without --force.",
    ]
    top_notes = {}
    if rule_notes:
        top_notes["rules"] = rule_notes
    top_notes["unique"] = ["Compound keys (columns that together identify a row) are not inferred;",
                           "add them here, e.g. - [district, month]"]
    top_notes["columns"] = ["dtype, nullable, unique, checks: what validation enforces.",
                            "role, personal, description, units: what the column is."]
    return Contract(
        columns=columns,
        dataset=dataset,
        description="",
        strict=True,
        null_values=tuple(null_values),
        rows_min=1,
        unique=(),
        rules=tuple(rules),
        observed={"header": header, "columns": notes, "top": top_notes, "rows": n_rows},
    )


def _fmt_count(n: int, total: int) -> str:
    share = n / total if total else 0
    return f"{n:,} ({share:.1%})" if n else "none"


def _infer_column(series: pl.Series, n_rows: int) -> tuple[ColumnSpec, list[str], pl.Series, list[str]]:
    import polars as pl

    name = series.name
    key = _normal(name)
    notes: list[str] = []
    tokens: list[str] = []
    fmt = None
    parsed = series
    if series.dtype == pl.String:
        stripped = series.str.strip_chars()
        present = stripped.filter(stripped.is_not_null() & (stripped != ""))
        dtype, fmt, parsed, failed, tokens = _infer_text_type(stripped, present)
        if failed.len():
            examples = ", ".join(repr(v) for v in failed.unique(maintain_order=True).head(3).to_list())
            notes.append(f"{failed.len():,} value(s) did not read as {dtype}, e.g. {examples}: "
                         "they will be quarantined")
        if tokens:
            notes.append(f"read as empty: {', '.join(repr(t) for t in tokens)}")
        if dtype == "string":
            parsed = series.replace("", None)
    else:
        dtype = _contract_dtype(series.dtype)
        if dtype is None:
            dtype = "string"
            parsed = series.cast(pl.String, strict=False)
            notes.append(f"type {series.dtype} is not supported by contracts; read as text")
        else:
            parsed = series.cast(polars_dtype(dtype), strict=False)
    nonnull = parsed.drop_nulls()
    infinite = 0
    if dtype in FLOAT:
        nonnull = nonnull.filter(nonnull.is_not_nan())
        infinite = int(nonnull.is_infinite().sum())
        if infinite:
            values = ", ".join(sorted({str(v) for v in nonnull.filter(nonnull.is_infinite()).head(100).to_list()}))
            notes.append(f"{infinite:,} value(s) are infinite ({values}): the range below leaves them out, "
                         "so they will be quarantined; remove the range if they are valid")
    n = nonnull.len()
    nulls = n_rows - n
    distinct = nonnull.n_unique() if n else 0
    notes.insert(0, f"observed: {dtype}; {n:,} values, empty {_fmt_count(nulls, n_rows)}, "
                    f"{distinct:,} distinct")

    checks: list[CheckSpec] = []
    role = None
    personal = pii.column_hint(name) is not None
    unique = False
    id_like = bool(IDENTIFIER_NAME.search(key))
    if dtype in TEMPORAL:
        role = "date"
    if n:
        finite = nonnull.filter(nonnull.is_finite()) if dtype in FLOAT else nonnull
        if dtype in NUMERIC and finite.len():
            low, high = finite.min(), finite.max()
            notes.append(f"min {_show(_round_sig(low))}, max {_show(_round_sig(high))}, "
                         f"mean {_show(_round_sig(finite.mean()))}")
            lo, hi = _widen(low, high, integer=dtype in INTEGER)
            if GEO_NAME.search(key) and "lat" in key:
                lo, hi = max(lo, -90), min(hi, 90)
            if GEO_NAME.search(key) and ("lon" in key or "lng" in key):
                lo, hi = max(lo, -180), min(hi, 180)
            checks.append(CheckSpec("in_range", {"min": lo, "max": hi}))
            if lo != low or hi != high:
                notes.append(f"range widened to {_show(lo)} – {_show(hi)}; narrow it if you know better")
            if GEO_NAME.search(key):
                role = "geo"
        elif dtype in {"date", "datetime"}:
            low, high = nonnull.min(), nonnull.max()
            notes.append(f"earliest {_show(low)}, latest {_show(high)}")
            lo = date(low.year, 1, 1)
            hi = date(high.year + 1, 12, 31)
            if dtype == "datetime":
                lo, hi = datetime(lo.year, 1, 1), datetime(hi.year, 12, 31, 23, 59, 59)
            checks.append(CheckSpec("in_range", {"min": lo, "max": hi}))
            notes.append(f"allowed from the start of {lo.year} to the end of {hi.year}: "
                         "later deliveries will have later dates")
        elif dtype in TEXTUAL:
            checks, role, personal, extra = _infer_text_checks(key, nonnull, distinct, n,
                                                               personal, id_like)
            notes.extend(extra)
        elif dtype == "boolean":
            counts = nonnull.rename("value").value_counts(sort=True)
            notes.append("values: " + ", ".join(f"{v} ×{c:,}" for v, c in counts.iter_rows()))
    if n and dtype not in FLOAT and dtype != "boolean":
        ratio = distinct / n
        if (id_like or role == "identifier") and ratio >= 0.95 and n >= 2:
            role = "identifier" if role in (None, "identifier") else role
            unique = True
            repeated = n - distinct
            if repeated:
                notes.append(f"{repeated:,} value(s) repeat; unique is set because the name and "
                             "values look like an identifier")
    if PROTECTED_NAME.search(key) and role in (None,) and (dtype in TEXTUAL or dtype == "boolean"
                                                             or distinct <= 20):
        role = "protected"
        notes.append("looks like a protected characteristic (Equality Act 2010): fairness checks "
                     "use it")
    if key in {"age", "age_years"} and role is None:
        notes.append("age is a protected characteristic (Equality Act 2010); set role: protected "
                     "for fairness checks to cover it")
    if GEO_NAME.search(key) and role is None and dtype in TEXTUAL | NUMERIC:
        role = "geo"
    if personal:
        notes.append("personal data: its values never appear in reports")
    spec = ColumnSpec(
        name=name,
        dtype=dtype,
        nullable=nulls > 0,
        unique=unique,
        format=fmt,
        checks=tuple(checks),
        role=role,
        personal=personal,
        label=draft_label(name),
    )
    return spec, [f"{line}" for line in notes], parsed, tokens


def draft_label(column: str) -> str:
    """A first label for a column, from its name, for a person to improve: ``rereferred_12m``
    -> "Rereferred 12m", ``OfficerDefinedEthnicity`` -> "Officer Defined Ethnicity"."""
    import re

    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", column).replace("_", " ").split()
    text = " ".join(words)
    return (text[:1].upper() + text[1:]) if text else column


def _contract_dtype(dtype: Any) -> str | None:
    import polars as pl

    if dtype == pl.String:
        return "string"
    if dtype == pl.Categorical or dtype == pl.Enum:
        return "categorical"
    if isinstance(dtype, pl.Datetime) or dtype == pl.Datetime:
        return "datetime"
    for name, attr in DTYPES.items():
        if name in {"datetime", "string", "categorical"}:
            continue
        if dtype == getattr(pl, attr):
            return name
    if dtype == pl.Null:
        return "string"
    return None


def _infer_text_type(stripped: pl.Series, present: pl.Series):
    """(dtype, format, parsed series, values that failed, null tokens) for a text column."""
    import polars as pl

    n = present.len()
    if n == 0:
        return "string", None, stripped, present.head(0), []
    tokens_seen = [t for t in NULL_TOKENS if (present == t).any()]
    candidates = present.filter(~present.is_in(tokens_seen)) if tokens_seen else present
    m = candidates.len()
    if m == 0:
        return "string", None, stripped, present.head(0), []

    def share(parsed: pl.Series) -> float:
        return parsed.is_not_null().sum() / m

    lowered = candidates.str.to_lowercase()
    if lowered.is_in(["true", "false"]).sum() / m >= PARSE_SHARE:
        parsed = _parse(stripped, "boolean", None)
        return _result("boolean", None, parsed, candidates, lowered.is_in(["true", "false"]),
                       tokens_seen, stripped)
    leading_zero = candidates.str.contains(r"^0\d").any()
    ints = candidates.cast(pl.Int64, strict=False)
    if not leading_zero and share(ints) >= PARSE_SHARE:
        return _result("int64", None, _parse(stripped, "int64", None), candidates,
                       ints.is_not_null(), tokens_seen, stripped)
    floats = candidates.cast(pl.Float64, strict=False)
    if not leading_zero and share(floats) >= PARSE_SHARE:
        return _result("float64", None, _parse(stripped, "float64", None), candidates,
                       floats.is_not_null(), tokens_seen, stripped)
    best = None
    for fmt in DATE_FORMATS + MONTH_FORMATS:
        dates = candidates.str.to_date(fmt, strict=False)
        if share(dates) >= PARSE_SHARE and (best is None or share(dates) > best[0]):
            best = (share(dates), "date", fmt, dates)
    if best is None:
        for fmt in DATETIME_FORMATS:
            try:
                stamps = candidates.str.to_datetime(fmt, strict=False, time_unit="us")
            except Exception:
                continue
            if share(stamps) >= PARSE_SHARE and (best is None or share(stamps) > best[0]):
                best = (share(stamps), "datetime", fmt, stamps)
    if best is not None:
        _, dtype, fmt, values = best
        fmt_out = None if (dtype == "date" and fmt == DEFAULT_FORMATS["date"]) else fmt
        return _result(dtype, fmt_out, _parse(stripped, dtype, fmt), candidates,
                       values.is_not_null(), tokens_seen, stripped)
    return "string", None, stripped, present.head(0), []


def _result(dtype, fmt, parsed, candidates, ok, tokens, stripped):
    failed = candidates.filter(~ok)
    return dtype, fmt, parsed, failed, tokens


def _parse(series: pl.Series, dtype: str, fmt: str | None) -> pl.Series:
    """Parse a text series as *dtype* the way validation does (bad values become null)."""
    import polars as pl

    return pl.DataFrame({"v": series}).select(parse_expr(pl.col("v"), dtype, fmt)).to_series()


def _infer_text_checks(key, nonnull, distinct, n, personal, id_like):
    notes: list[str] = []
    checks: list[CheckSpec] = []
    role = None
    lengths = nonnull.str.len_chars()
    mean_length = float(lengths.mean())
    shortest, longest = lengths.min(), lengths.max()
    span = f"{shortest}" if shortest == longest else f"{shortest}–{longest}"
    notes.append(f"length {span} characters" + ("" if shortest == longest
                                                  else f", mean {mean_length:.0f}"))
    spaces = float(nonnull.str.contains(" ", literal=True).mean())
    kind = _personal_format(nonnull)
    if kind is not None:
        checks.append(CheckSpec("str_matches", {"pattern": value_pattern(kind)}))
        notes.append(f"values look like {PERSONAL_FORMATS[kind]}")
        return checks, role, True, notes
    if nonnull.str.contains(AREA_CODE).mean() >= PARSE_SHARE:
        checks.append(CheckSpec("str_matches", {"pattern": AREA_CODE}))
        notes.append("values look like ONS area codes (GSS)")
        role = "geo" if GEO_NAME.search(key) else role
        return checks, role, personal, notes
    if mean_length >= 30 and spaces >= 0.5 and distinct / n >= 0.5:
        role = "text"
        notes.append("free text: may hold personal details (names, phone numbers); they are "
                     "redacted before anything is published")
        return checks, role, personal, notes
    if distinct <= MAX_ALLOWED_VALUES and distinct < max(n / 2, 2) and not personal:
        counts = nonnull.rename("value").value_counts(sort=True)
        values = sorted(counts.get_column(counts.columns[0]).to_list())
        checks.append(CheckSpec("isin", {"values": tuple(values)}))
        top = ", ".join(f"{v} ×{c:,}" for v, c in counts.head(MAX_ALLOWED_VALUES).iter_rows())
        notes.append(f"counts: {top}")
        return checks, role, personal, notes
    shape = _shape_regex(nonnull)
    if shape is not None:
        checks.append(CheckSpec("str_matches", {"pattern": shape[0]}))
        notes.append(f"every value has the shape {shape[1]}")
        if distinct / n >= 0.95 and (id_like or nonnull.len() >= 20):
            role = "identifier"
    else:
        max_len = int(nonnull.str.len_chars().max())
        checks.append(CheckSpec("str_length", {"min": 1, "max": max(max_len, 1) * 2}))
        notes.append("length limited to twice the longest value seen")
    return checks, role, personal, notes


def _personal_format(values: pl.Series) -> str | None:
    """The kind of personal data (`PERSONAL_FORMATS`) at least 99% of the distinct values of a
    text column are, judged by `expedition.pii.value_kind` on up to 2,000 of them; else None."""
    if values.str.contains(r"[\d@]").mean() < PARSE_SHARE:  # every kind has a digit or an "@"
        return None
    checked = values.unique(maintain_order=True).head(PATTERN_VALUES).to_list()
    kinds = [pii.value_kind(v) for v in checked]
    for kind in PERSONAL_FORMATS:
        if sum(k == kind for k in kinds) >= PARSE_SHARE * len(kinds):
            return kind
    return None


def _shape_regex(values: pl.Series) -> tuple[str, str] | None:
    """A regex for values that all share one shape (``R0001234`` -> ``^R\\d{7}$``).

    Letters that are the same in every value are kept literally; digits become ``\\d``.
    """
    if values.str.contains(r"^[0-9a-f]+$").all():
        lengths = values.str.len_chars().unique()
        if lengths.len() == 1 and lengths[0] >= 8:
            return f"^[0-9a-f]{{{lengths[0]}}}$", f"{lengths[0]} hexadecimal digits"
    shapes = (
        values.str.replace_all(r"[A-Z]", "A")
        .str.replace_all(r"[a-z]", "a")
        .str.replace_all(r"[0-9]", "9")
        .unique()
    )
    if shapes.len() != 1:
        return None
    shape = shapes[0]
    if not shape or len(shape) > 60 or "9" not in shape:
        return None
    first = values[0]
    parts = []
    for run in re.finditer(r"(A+|a+|9+|[^Aa9])", shape):
        text = run.group(0)
        token = {"A": "[A-Z]", "a": "[a-z]", "9": r"\d"}.get(text[0])
        if token is None:
            parts.append(re.escape(text))
        elif text[0] in "Aa" and values.str.slice(run.start(), len(text)).n_unique() == 1:
            parts.append(re.escape(first[run.start():run.end()]))
        else:
            parts.append(token if len(text) == 1 else f"{token}{{{len(text)}}}")
    return "^" + "".join(parts) + "$", shape


def _round_sig(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.4g}")
    return value


def _widen(low: float, high: float, *, integer: bool) -> tuple[float, float]:
    """Widen [low, high] by a tenth of its span, to round numbers; never below 0 if low >= 0."""
    span = high - low
    if span <= 0:
        span = abs(high) or 1
    if not (math.isfinite(span) and math.isfinite(low - span) and math.isfinite(high + span)):
        return low, high  # near the largest numbers a double holds: nothing to round to
    step = 10 ** (math.floor(math.log10(span)) - 1)
    if integer:
        step = max(1, int(step))
    lo = math.floor((low - span / 10) / step) * step
    hi = math.ceil((high + span / 10) / step) * step
    if low >= 0 > lo:
        lo = 0
    if integer:
        return int(lo), int(hi)
    digits = max(0, -math.floor(math.log10(step)))
    return round(lo, digits), round(hi, digits)


def _choose_target(columns: dict[str, ColumnSpec], notes: dict[str, list[str]],
                   typed: dict[str, pl.Series]) -> None:
    """At most one target: a column whose name says outcome, with few values (binary first)."""
    candidates = []
    for name, spec in columns.items():
        if spec.role is not None or not TARGET_NAME.search(_normal(name)):
            continue
        distinct = typed[name].drop_nulls().n_unique()
        if 2 <= distinct <= 10:
            candidates.append((distinct != 2, list(columns).index(name), name))
    if candidates:
        name = sorted(candidates)[0][2]
        columns[name] = replace(columns[name], role="target")
        notes[name].append("looks like the outcome: role target (risk and fairness steps use it)")


def _infer_rules(columns: dict[str, ColumnSpec], typed: dict[str, pl.Series]):
    """Propose `later >= earlier` for pairs of date columns where it (almost) always holds."""
    import polars as pl

    dated = [n for n, c in columns.items() if c.dtype in {"date", "datetime"}]
    rules, notes = [], []
    for i, a in enumerate(dated):
        for b in dated[i + 1:]:
            both = pl.DataFrame({"a": typed[a], "b": typed[b]}).drop_nulls()
            if both.height < 10:
                continue
            b_after = float((both["b"] >= both["a"]).mean())
            a_after = float((both["a"] >= both["b"]).mean())
            if b_after >= RULE_SHARE and a_after < RULE_SHARE:
                later, earlier, share = b, a, b_after
            elif a_after >= RULE_SHARE and b_after < RULE_SHARE:
                later, earlier, share = a, b, a_after
            else:
                continue
            broken = round((1 - share) * both.height)
            rules.append(RuleSpec(name=f"{later} on or after {earlier}",
                                  check=f"{later} >= {earlier}"))
            notes.append(f"'{later} >= {earlier}' held in {both.height - broken:,} of "
                         f"{both.height:,} rows with both dates")
    return rules, notes


# --------------------------------------------------------------------------- drafting in a project


@dataclass(frozen=True)
class DraftResult:
    """What `draft_contract` did: ``written`` (new), ``replaced`` or ``unchanged``."""

    dataset: str
    path: Path
    status: Literal["written", "replaced", "unchanged"]
    contract: Contract

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "path": str(self.path), "status": self.status,
                "contract": self.contract.to_dict()}


def generated_text(text: str) -> str:
    """Add the header line that records a hash of what `schema infer` wrote."""
    return f"{GENERATED_MARK}{hashlib.sha256(text.encode('utf-8')).hexdigest()}\n{text}"


def is_unedited_draft(text: str) -> bool:
    """True when *text* is exactly what `schema infer` wrote (nobody has edited it since)."""
    first, _, rest = text.partition("\n")
    if not first.startswith(GENERATED_MARK):
        return False
    return hashlib.sha256(rest.encode("utf-8")).hexdigest() == first[len(GENERATED_MARK):].strip()


@locked("schema infer")
def draft_contract(project: Project, dataset: str, *, force: bool = False) -> DraftResult:
    """Infer a contract from the dataset's latest delivery (every delivery, with ``combine:
    all``) and write it to its contract path.

    An existing contract is replaced only if it is an unedited draft (its header hash still
    matches) or *force* is true. The dataset's 'schema:' in expedition.yaml is set when empty.
    """
    from expedition.datasets import open_delivery

    if dataset not in project.config.datasets:
        known = ", ".join(project.config.datasets) or "none yet"
        raise ConfigError(
            f"no dataset called {dataset!r}{_suggest(dataset, project.config.datasets)}",
            f"add it with `expedition data add FILE --name {dataset}` (datasets: {known})",
            path=project.config_path,
        )
    config = project.config.datasets[dataset]
    delivery = config.latest
    if delivery is None:
        raise DataError(f"dataset {dataset!r} has no deliveries yet",
                        f"add one with `expedition data add FILE --name {dataset}`")
    path = contract_path(project, dataset)
    data: Any = open_delivery(project, dataset, text=True)
    if config.combine == "all" and len(config.deliveries) > 1:
        import polars as pl

        # every period the contract will check, drafted from together (not the latest alone)
        data = pl.concat([open_delivery(project, dataset, d.version, text=True).frame.collect()
                          for d in config.deliveries], how="diagonal_relaxed")
    contract = infer_schema(data, dataset=dataset,
                            source={"file": delivery.file, "sha256": delivery.sha256})
    text = generated_text(contract.to_yaml())
    status: Literal["written", "replaced", "unchanged"] = "written"
    if path.exists():
        old = path.read_text(encoding="utf-8", errors="replace")
        if old == text:
            status = "unchanged"
        elif is_unedited_draft(old) or force:
            status = "replaced"
        else:
            raise ConfigError(
                f"{project.relative(path)} exists and has been edited by a person; "
                "it was not overwritten",
                f"keep it (validate with `expedition validate {dataset}`), or replace it with a "
                f"fresh draft: `expedition schema infer {dataset} --force`",
                path=path,
            )
    if status != "unchanged":
        atomic_write_text(path, text)
    if config.schema_ is None:
        relative = project.relative(path)

        def set_schema(document: Any) -> None:
            document["datasets"][dataset]["schema"] = relative

        update_config(project.config_path, set_schema)
    loaded = load_contract(path)
    return DraftResult(dataset, path, status, replace(loaded, observed=contract.observed))
