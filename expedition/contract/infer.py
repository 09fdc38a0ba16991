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
from expedition.profile._draft import MAX_ALLOWED_VALUES, PARSE_SHARE, PATTERN_VALUES, ContractTypes
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
    GEO_NAME,
    IDENTIFIER_NAME,
    NULL_TOKENS,
    PROTECTED_NAME,
    TARGET_NAME,
    name_key,
)

if TYPE_CHECKING:
    import polars as pl

    from expedition.profile._draft import DraftColumn, DraftPass
    from expedition.reading import OpenedDataset

# --------------------------------------------------------------------------- inference

#: Share of rows with both dates in which one must be on or after the other to become a rule.
RULE_SHARE = 0.99

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
    runs the contract) has no look-around; possessive repetitions become plain ones, which Rust
    and Java read alike (`expedition.contract.checks.regex_portability`). One guard has no equivalent: the National Insurance
    prefixes that are never issued (BG, GB, KN, NK, NT, TN, ZZ) are not refused by the contract.
    """
    pattern = next(p.regex for p in pii.PATTERNS if p.name == kind)
    source = re.sub(r"\(\?<?[!=][^()]*\)", "", pattern.pattern)
    # possessive repetitions (Python's a{1,64}+) as plain ones: Rust reads a{1,64}+ as "one or
    # more of a{1,64}" and Java as possessive, so contracts may not use them (`check_regex`)
    source = re.sub(r"(\{\d+(?:,\d*)?\})\+", r"\1", source)
    flags = "(?i)" if pattern.flags & re.IGNORECASE else ""
    return f"{flags}^(?:{source})$"


def infer_schema(
    data: pl.DataFrame | pl.LazyFrame | str | Path | OpenedDataset,
    *,
    dataset: str | None = None,
    source: Mapping[str, Any] | None = None,
    estimated_rows: int | None = None,
) -> Contract:
    """Draft a contract from a delivery (a file, a file opened by the reader, or a Polars frame).

    A file is read as every other stage reads it (`expedition.reading`), with the values of
    delimited text as text, once: by the profile's streaming pass (`expedition.profile`), which
    collects what the draft needs batch by batch, so memory stays bounded however large the
    file. Infinite values and NaN in number columns are set aside from the ranges (and said so);
    values of several types in JSON lines are read as text; lists and objects are checked as
    their JSON text.

    Types come from what at least 99% of non-empty values parse as (so a few bad values do not
    turn a column of numbers into text; they will fail validation instead); ranges are the
    observed ones widened by a tenth of the span to round numbers; allowed values are listed
    for text columns with at most 20 distinct values; recognised formats (UK postcodes, NHS and
    National Insurance numbers, e-mail addresses, phone numbers, ONS area codes, and the shape
    of identifiers such as ``R0000123``) become regular expressions; roles and personal-data
    flags are guessed from names and values. ``contract.observed`` holds what was seen, and
    ``contract.to_yaml()`` writes it as comments for the person who reviews the draft.
    *estimated_rows* (about how many rows a LazyFrame has) lets the pass stop counting types a
    column can no longer be; a file's estimate comes from the reader.

    Every count is exact; distinct values are counted exactly by 64-bit hashes while those fit
    in 256 MiB, and estimated (about ±0.8%) beyond, which only a file of tens of millions of
    distinct values reaches.
    """
    draft, n_rows = _draft_pass(data, source, estimated_rows)
    return contract_from_draft(draft, n_rows, dataset=dataset, source=source)


def contract_from_draft(draft: DraftPass, n_rows: int, *, dataset: str | None = None,
                        source: Mapping[str, Any] | None = None) -> Contract:
    """The draft contract from what the profile's pass collected for it (`infer_schema`)."""
    columns: dict[str, ColumnSpec] = {}
    notes: dict[str, list[str]] = {}
    null_values: list[str] = [""]
    for stats in draft.columns:
        spec, column_notes, tokens = _infer_column(stats, n_rows)
        columns[stats.name] = spec
        notes[stats.name] = column_notes
        null_values.extend(t for t in tokens if t not in null_values)

    _choose_target(columns, notes, {c.name: c for c in draft.columns})
    rules, rule_notes = _infer_rules(columns, draft)
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


def _draft_pass(data: Any, source: Mapping[str, Any] | None,
                estimated_rows: int | None = None) -> tuple[DraftPass, int]:
    """One pass of the profile over *data* collecting what the draft needs: (its statistics,
    rows). A file whose later rows need other reading options is opened again with them, as
    every stage does."""
    import polars as pl

    from expedition.profile._engine import ReadFailure, run_pass
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
    for attempt in range(3):
        frame = nested_as_text(opened.frame if opened is not None else data)
        estimated = opened.estimated_rows if opened is not None else estimated_rows
        if isinstance(frame, pl.DataFrame):
            estimated = frame.height
        try:
            result = run_pass(frame, estimated_rows=estimated, draft=DRAFT_TYPES, statistics=False)
        except ReadFailure as exc:
            if opened is None or attempt == 2:
                raise data_error(exc.error, where) from None
            changed = read_failure(exc.error, opened.path, opened.options).apply(opened.options)
            if changed is None:
                raise data_error(exc.error, where) from None
            opened = open_recovering(opened.path, changed, text=True)
            continue
        return result.draft, result.rows
    raise AssertionError("unreachable")  # pragma: no cover


def _fmt_count(n: int, total: int) -> str:
    share = n / total if total else 0
    return f"{n:,} ({share:.1%})" if n else "none"


def _infer_column(stats: DraftColumn, n_rows: int) -> tuple[ColumnSpec, list[str], list[str]]:
    """A column of the draft, its notes and the null tokens it holds, from its statistics."""
    from expedition.profile._draft import contract_format

    name = stats.name
    key = _normal(name)
    notes: list[str] = []
    tokens: list[str] = []
    fmt = None
    if stats.text:
        chosen = stats.decided()
        dtype = "string"
        if chosen is not None:
            dtype, fmt = chosen.dtype, contract_format(chosen)
            failed, examples = stats.failed()
            tokens = [t for t in NULL_TOKENS if t in stats.tokens]
            if failed:
                shown = ", ".join(repr(v) for v in examples)
                notes.append(f"{failed:,} value(s) did not read as {dtype}, e.g. {shown}: "
                             "they will be quarantined")
            if tokens:
                notes.append(f"read as empty: {', '.join(repr(t) for t in tokens)}")
    else:
        dtype = stats.dtype or "string"
        if not stats.supported:
            notes.append(f"type {stats.source} is not supported by contracts; read as text")
    infinite = 0
    if dtype in FLOAT:
        infinite = stats.infinite
        if infinite:
            values = ", ".join(sorted({str(v) for v in stats.infinite_values}))
            notes.append(f"{infinite:,} value(s) are infinite ({values}): the range below leaves them out, "
                         "so they will be quarantined; remove the range if they are valid")
    n = stats.n
    nulls = n_rows - n
    distinct = stats.distinct() if n else 0
    exact = stats.distinct_is_exact or not n
    notes.insert(0, f"observed: {dtype}; {n:,} values, empty {_fmt_count(nulls, n_rows)}, "
                    f"{'' if exact else 'about '}{distinct:,} distinct")

    checks: list[CheckSpec] = []
    role = None
    personal = pii.column_hint(name) is not None
    unique = False
    id_like = bool(IDENTIFIER_NAME.search(key))
    if dtype in TEMPORAL:
        role = "date"
    if n:
        if dtype in NUMERIC and stats.finite:
            low, high = stats.low, stats.high
            notes.append(f"min {_show(_round_sig(low))}, max {_show(_round_sig(high))}, "
                         f"mean {_show(_round_sig(stats.mean))}")
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
            low, high = stats.low, stats.high
            notes.append(f"earliest {_show(low)}, latest {_show(high)}")
            lo = date(low.year, 1, 1)
            hi = date(high.year + 1, 12, 31)
            if dtype == "datetime":
                lo, hi = datetime(lo.year, 1, 1), datetime(hi.year, 12, 31, 23, 59, 59)
            checks.append(CheckSpec("in_range", {"min": lo, "max": hi}))
            notes.append(f"allowed from the start of {lo.year} to the end of {hi.year}: "
                         "later deliveries will have later dates")
        elif dtype in TEXTUAL:
            checks, role, personal, extra = _infer_text_checks(key, stats, distinct, n, personal, id_like)
            notes.extend(extra)
        elif dtype == "boolean":
            notes.append("values: " + ", ".join(f"{v} ×{c:,}" for v, c in _by_count(stats.counts or {})))
    if n and dtype not in FLOAT and dtype != "boolean":
        ratio = distinct / n
        if (id_like or role == "identifier") and ratio >= 0.95 and n >= 2:
            role = "identifier" if role in (None, "identifier") else role
            unique = True
            repeated = n - distinct
            if repeated and exact:  # an estimate is not evidence of repeats
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
    return spec, notes, tokens


def _by_count(counts: Mapping[Any, int]) -> list[tuple[Any, int]]:
    """Values by how often they occur, most first (ties in the order they first appear)."""
    return sorted(counts.items(), key=lambda item: -item[1])


def _contract_dtype(dtype: Any) -> str | None:
    """The contract type of a column read with a type of its own (None: not one contracts have)."""
    import polars as pl

    if dtype == pl.String:
        return "string"
    if dtype == pl.Categorical or dtype == pl.Enum or isinstance(dtype, (pl.Categorical, pl.Enum)):
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


#: How validation reads each type, for the profile's pass to collect the draft's statistics with.
DRAFT_TYPES = ContractTypes(parse=parse_expr, polars=polars_dtype, of=_contract_dtype,
                            floats=frozenset(FLOAT), numbers=frozenset(NUMERIC), temporal=frozenset(TEMPORAL))


def draft_label(column: str) -> str:
    """A first label for a column, from its name, for a person to improve: ``rereferred_12m``
    -> "Rereferred 12m", ``OfficerDefinedEthnicity`` -> "Officer Defined Ethnicity"."""
    import re

    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", column).replace("_", " ").split()
    text = " ".join(words)
    return (text[:1].upper() + text[1:]) if text else column


def _infer_text_checks(key: str, stats: DraftColumn, distinct: int, n: int, personal: bool, id_like: bool):
    notes: list[str] = []
    checks: list[CheckSpec] = []
    role = None
    mean_length = stats.len_sum / n
    shortest, longest = stats.len_min, stats.len_max
    span = f"{shortest}" if shortest == longest else f"{shortest}–{longest}"
    notes.append(f"length {span} characters" + ("" if shortest == longest
                                                  else f", mean {mean_length:.0f}"))
    spaces = stats.spaces / n
    kind = _personal_format(stats, n)
    if kind is not None:
        checks.append(CheckSpec("str_matches", {"pattern": value_pattern(kind)}))
        notes.append(f"values look like {PERSONAL_FORMATS[kind]}")
        return checks, role, True, notes
    if stats.share_area_codes() >= PARSE_SHARE:
        checks.append(CheckSpec("str_matches", {"pattern": AREA_CODE}))
        notes.append("values look like ONS area codes (GSS)")
        role = "geo" if GEO_NAME.search(key) else role
        return checks, role, personal, notes
    if mean_length >= 30 and spaces >= 0.5 and distinct / n >= 0.5:
        role = "text"
        notes.append("free text: may hold personal details (names, phone numbers); they are "
                     "redacted before anything is published")
        return checks, role, personal, notes
    if distinct <= MAX_ALLOWED_VALUES and distinct < max(n / 2, 2) and not personal and stats.counts is not None:
        counts = _by_count(stats.counts)
        values = sorted(v for v, _ in counts)
        checks.append(CheckSpec("isin", {"values": tuple(values)}))
        top = ", ".join(f"{v} ×{c:,}" for v, c in counts[:MAX_ALLOWED_VALUES])
        notes.append(f"counts: {top}")
        return checks, role, personal, notes
    shape = _shape_regex(stats)
    if shape is not None:
        checks.append(CheckSpec("str_matches", {"pattern": shape[0]}))
        notes.append(f"every value has the shape {shape[1]}")
        if distinct / n >= 0.95 and (id_like or n >= 20):
            role = "identifier"
    else:
        max_len = int(stats.len_max or 0)
        checks.append(CheckSpec("str_length", {"min": 1, "max": max(max_len, 1) * 2}))
        notes.append("length limited to twice the longest value seen")
    return checks, role, personal, notes


def _personal_format(stats: DraftColumn, n: int) -> str | None:
    """The kind of personal data (`PERSONAL_FORMATS`) at least 99% of the distinct values of a
    text column are, judged by `expedition.pii.value_kind` on the first 2,000 of them; else None."""
    if stats.share_digit_or_at() < PARSE_SHARE:  # every kind has a digit or an "@"
        return None
    kinds = [pii.value_kind(v) for v in stats.first_values[:PATTERN_VALUES]]
    for kind in PERSONAL_FORMATS:
        if sum(k == kind for k in kinds) >= PARSE_SHARE * len(kinds):
            return kind
    return None


def _shape_regex(stats: DraftColumn) -> tuple[str, str] | None:
    """A regex for values that all share one shape (``R0001234`` -> ``^R\\d{7}$``).

    Letters that are the same in every value are kept literally; digits become ``\\d``.
    """
    if stats.hex_only and stats.len_min == stats.len_max and (stats.len_min or 0) >= 8:
        return f"^[0-9a-f]{{{stats.len_min}}}$", f"{stats.len_min} hexadecimal digits"
    shape = stats.shape()
    if shape is None or not shape or len(shape) > 60 or "9" not in shape:
        return None
    first = stats.first_value or ""
    parts = []
    for run in re.finditer(r"(A+|a+|9+|[^Aa9])", shape):
        text = run.group(0)
        token = {"A": "[A-Z]", "a": "[a-z]", "9": r"\d"}.get(text[0])
        if token is None:
            parts.append(re.escape(text))
        elif text[0] in "Aa" and run.start() not in stats.varying_runs:
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
                   stats: dict[str, DraftColumn]) -> None:
    """At most one target: a column whose name says outcome, with few values (binary first)."""
    candidates = []
    for name, spec in columns.items():
        if spec.role is not None or not TARGET_NAME.search(_normal(name)):
            continue
        column = stats[name]
        distinct = (column.distinct() if column.n else 0) + (1 if spec.dtype in FLOAT and column.nan else 0)
        if 2 <= distinct <= 10:
            candidates.append((distinct != 2, list(columns).index(name), name))
    if candidates:
        name = sorted(candidates)[0][2]
        columns[name] = replace(columns[name], role="target")
        notes[name].append("looks like the outcome: role target (risk and fairness steps use it)")


def _infer_rules(columns: dict[str, ColumnSpec], draft: DraftPass):
    """Propose `later >= earlier` for pairs of date columns where it (almost) always holds."""
    by_name = {c.name: c for c in draft.columns}
    dated = [n for n, c in columns.items() if c.dtype in {"date", "datetime"}]
    rules, notes = [], []
    for i, a in enumerate(dated):
        for b in dated[i + 1:]:
            both, b_count, a_count = draft.pair_counts(by_name[a], by_name[b])
            if both < 10:
                continue
            b_after = b_count / both
            a_after = a_count / both
            if b_after >= RULE_SHARE and a_after < RULE_SHARE:
                later, earlier, share = b, a, b_after
            elif a_after >= RULE_SHARE and b_after < RULE_SHARE:
                later, earlier, share = a, b, a_after
            else:
                continue
            broken = round((1 - share) * both)
            rules.append(RuleSpec(name=f"{later} on or after {earlier}",
                                  check=f"{later} >= {earlier}"))
            notes.append(f"'{later} >= {earlier}' held in {both - broken:,} of "
                         f"{both:,} rows with both dates")
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
    rows = None
    if config.combine == "all" and len(config.deliveries) > 1:
        import polars as pl

        # every period the contract will check, drafted from together (not the latest alone),
        # read one after the other in the same pass
        periods = [open_delivery(project, dataset, d.version, text=True) for d in config.deliveries]
        data = pl.concat([p.frame for p in periods], how="diagonal_relaxed")
        if all(p.estimated_rows for p in periods):
            rows = sum(p.estimated_rows for p in periods)
    contract = infer_schema(data, dataset=dataset, estimated_rows=rows,
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
