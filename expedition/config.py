"""The typed model of ``expedition.yaml``.

``load_config(path)`` reads the file with a round-trip YAML parser (so line numbers are known and
comments survive when the tool writes the file back) and validates it with pydantic. Every problem
is reported with the file, the line and the field, and what was expected.

``update_config(path, change)`` is the only way the tool edits ``expedition.yaml``: it applies a
change to the parsed document (comments and ordering preserved), re-validates the result and writes
it atomically.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from expedition._io import atomic_write_text
from expedition.errors import ConfigError

CONFIG_FILE = "expedition.yaml"

NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"
SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
STEP_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"

#: The longest dataset name, step id or slug: each names folders and files.
NAME_MAX = 64
#: Seeds NumPy and scikit-learn accept (``numpy.random.RandomState`` takes 0 to 2**32 - 1).
SEED_MAX = 2**32 - 1

_NAME_RULES = {
    "dataset name": (NAME_PATTERN, "letters, digits, '_', '-' and '.', starting with a letter, digit or '_'"),
    "step id": (STEP_ID_PATTERN, "letters, digits, '_' and '-', starting with a letter or digit"),
    "slug": (SLUG_PATTERN, "lower-case letters, digits and '-', starting with a letter or digit"),
}


def name_problem(kind: str, value: str) -> str | None:
    """Why *value* cannot be a ``dataset name``, ``step id`` or ``slug`` (None when it can).

    The rule is in the message, so the same words reach ``expedition.yaml`` errors and
    ``expedition data add --name``.
    """
    pattern, rule = _NAME_RULES[kind]
    if len(value) <= NAME_MAX and re.fullmatch(pattern, value):
        return None
    shown = value if len(value) <= 40 else value[:40] + "..."
    length = f" (it has {len(value)})" if len(value) > NAME_MAX else ""
    return (
        f"{shown!r} is not a valid {kind}: a {kind} has 1 to {NAME_MAX} characters{length}, "
        f"using only {rule}"
    )


def _checked(kind: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        problem = name_problem(kind, value)
        if problem:
            raise ValueError(problem)
        return value

    return check


DatasetName = Annotated[str, AfterValidator(_checked("dataset name"))]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Subject(_Model):
    """What one record of the data is, in the partner's words: ``{singular: stop, plural: stops}``
    (or just ``stop``: the plural adds an "s"). Steps write "12,000 stops", never "cases"."""

    singular: str = Field("record", min_length=1, max_length=40)
    plural: str = Field("", max_length=40)

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"singular": value}
        return value

    @model_validator(mode="after")
    def _plural(self) -> Subject:
        for word in (self.singular, self.plural):
            if any(not (ch.isalnum() or ch in " -'") for ch in word):
                raise ValueError(f"{word!r} should be plain words (letters, spaces, hyphens)")
        if not self.plural:
            self.plural = self.singular + ("es" if self.singular.endswith(("s", "x", "ch", "sh")) else "s")
        return self

    def words(self) -> tuple[str, str]:
        return (self.singular, self.plural)


def _code(key: Any) -> str:
    if isinstance(key, bool):
        return "yes" if key else "no"
    return str(key)


class LabelLookup(_Model):
    """Value labels from a lookup dataset: its ``key`` column's values named by its ``label`` column."""

    dataset: str = Field(description="the lookup dataset (registered and validated)")
    key: str = Field(description="its column holding the codes")
    label: str = Field(description="its column holding the names")


class ExpeditionInfo(_Model):
    """Who the expedition is for and what it asks."""

    title: str = Field(min_length=1, description="the expedition's title")
    slug: Annotated[str, AfterValidator(_checked("slug"))] = Field(
        description="short name used for files and packs"
    )
    question: str = Field("", description="the policy question, in the partner's words")
    partners: list[str] = Field(default_factory=list, description="partner organisations")
    lead: str = Field("", description="the project lead")
    start: date | None = None
    end: date | None = None
    subject: Subject | None = Field(
        None, description="what a record is (a case, a stop, a message, a report): the steps' wording"
    )

    @field_validator("partners", mode="before")
    @classmethod
    def _partners_from_text(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _dates_in_order(self) -> ExpeditionInfo:
        if self.start and self.end and self.end < self.start:
            raise ValueError(f"end date {self.end} is before start date {self.start}")
        return self


#: The rules teams are held to, as presets for ``disclosure.preset``. A preset fills every field it
#: names; a project may make a preset stricter (a higher ``min_count``, a coarser rounding base
#: that is a multiple of the preset's) but not weaker. ``custom`` leaves every field to the project.
DISCLOSURE_PRESETS: dict[str, dict[str, Any]] = {
    # ACRO's defaults (AI-SDC/ACRO default.yaml): threshold 10, zeros disclosive, the (2, 90%)
    # dominance rule and the p% rule at 10% for magnitude tables; published counts rounded to 5.
    "acro": {
        "min_count": 10,
        "zeros_disclosive": True,
        "round_to": 5,
        "dominance": {"n": 2, "k": 90.0},
        "p_percent": 10.0,
    },
    # NHS Digital (NHS England) small-number suppression: 1-7 suppressed, the rest rounded to 5.
    "nhs-digital": {"min_count": 8, "round_to": 5, "symbol": "*"},
    # OpenSAFELY: counts of 7 or fewer redacted (zero included), then rounded to 5.
    "opensafely": {"min_count": 8, "zeros_disclosive": True, "round_to": 5, "symbol": "[REDACTED]"},
    # Department for Education: 1-5 shown as "c", with secondary suppression.
    "dfe": {"min_count": 6, "symbol": "c"},
    "custom": {},
}


class DominanceRule(_Model):
    """The (n, k) dominance rule: a magnitude cell is sensitive when its n largest contributions
    make up more than k% of it."""

    n: int = Field(2, ge=1, description="how many of the largest contributions are added up")
    k: float = Field(90.0, gt=0, le=100, description="the share (%) they may not exceed")


class DisclosureConfig(_Model):
    """Statistical disclosure control applied to everything published.

    ``preset`` picks the rules a team is held to (see ``DISCLOSURE_PRESETS``): ``acro``,
    ``nhs-digital``, ``opensafely``, ``dfe`` or ``custom`` (the project sets every field).
    """

    preset: Literal["acro", "nhs-digital", "opensafely", "dfe", "custom"] = Field(
        "custom", description="the disclosure rules a team is held to; custom = the fields below"
    )
    min_count: int = Field(10, ge=1, description="counts below this are never published")
    round_to: int | None = Field(None, ge=2, description="round published counts to this base")
    zeros_disclosive: bool = Field(
        False, description="treat zero counts as disclosive (a zero says everyone in a group shares a trait)"
    )
    dominance: DominanceRule | None = Field(
        default_factory=DominanceRule,
        description="(n, k) dominance rule for magnitude tables; null switches it off",
    )
    p_percent: float | None = Field(
        10.0,
        gt=0,
        le=100,
        description="p% rule for magnitude tables: the rest must exceed p% of the largest contribution",
    )
    symbol: str = Field("c", min_length=1, description="how a suppressed cell is shown")
    recode_labels: bool = Field(
        True,
        description="combine categories with fewer records than min_count before steps tabulate "
        "(\"Other (fewer than N each)\", or not recorded when even together they are too few)",
    )
    public_names: list[str] = Field(
        default_factory=list,
        description="names of the team and reviewers, which personal-data redaction leaves alone",
    )

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        preset = data.get("preset") or "custom"
        rules = DISCLOSURE_PRESETS.get(preset)
        if not rules:
            return data  # custom, or an unknown name that field validation reports
        out = dict(data)
        for key, value in rules.items():
            given = out.get(key)
            if given is None:
                out[key] = value
            elif _weaker(key, given, value):
                raise ValueError(
                    f"preset {preset!r} sets {key} to {value!r}; {given!r} would weaken it "
                    f"(remove {key}, make it stricter, or use preset: custom)"
                )
        return out

    def describe(self, *, magnitude: bool = True) -> str:
        """The rules in plain English (the magnitude rules only when *magnitude* tables exist)."""
        zero = "Zero counts and counts" if self.zeros_disclosive else "Counts"
        parts = [f"{zero} below {self.min_count} are suppressed (shown as “{self.symbol}”), "
                 "with secondary suppression so that no total reveals them"]
        if self.round_to:
            parts.append(f"published counts are rounded to the nearest {self.round_to}")
        if magnitude and self.dominance is not None:
            parts.append(
                f"a magnitude cell is suppressed when its {self.dominance.n} largest "
                f"contributions exceed {self.dominance.k:g}% of it"
            )
        if magnitude and self.p_percent is not None:
            parts.append(
                f"{'or ' if self.dominance is not None else 'a magnitude cell is suppressed '}"
                f"when the rest of it is within {self.p_percent:g}% of its largest contribution"
            )
        name = "" if self.preset == "custom" else f"Preset {self.preset}. "
        return name + "; ".join(parts) + "."


def _weaker(key: str, given: Any, preset: Any) -> bool:
    """Whether a project's *given* value for *key* is weaker than the preset's."""
    try:
        if key == "min_count":
            return int(given) < int(preset)
        if key == "round_to":
            return int(given) % int(preset) != 0
        if key == "zeros_disclosive":
            return bool(preset) and not bool(given)
        if key == "p_percent":
            return float(given) < float(preset)
        if key == "dominance":
            n, k = (given.get("n", 2), given.get("k", 90.0)) if isinstance(given, dict) else (
                given.n, given.k)
            return int(n) < int(preset["n"]) or float(k) > float(preset["k"])
    except (TypeError, ValueError, AttributeError):
        return False  # field validation reports the bad value itself
    return False  # presentation (symbol) may be changed freely


class TransparencyConfig(_Model):
    """Facts for the transparency record that no other file holds (all optional; a missing
    mandatory one is listed as a gap in the findings pack's transparency.md)."""

    organisation: str = Field("", description="the organisation responsible (default: the first partner)")
    team: str = Field("", description="the team responsible for the work")
    senior_responsible_owner: str = Field("", description="role of the senior responsible owner")
    contact: str = Field("", description="a contact e-mail address for questions about the work")
    phase: str = Field("", description="e.g. exploration, pilot, production")
    website: str = Field("", description="where to find out more")


class DeliveryRead(_Model):
    """How a delivery is read, detected once by `expedition data add` and used by every stage."""

    encoding: str | None = Field(None, description="text encoding: utf8, utf16le, cp1252, ...")
    bom: bool | None = Field(None, description="the text starts with a byte-order mark")
    delimiter: str | None = Field(None, min_length=1, max_length=1)
    quoting: bool | None = Field(None, description="double quotes quote values (else characters)")
    line_endings: Literal["LF", "CRLF", "CR", "mixed"] | None = None
    sheet: str | None = Field(None, description="the workbook sheet read")
    header: list[str] | None = Field(None, description="column names as written, when renamed")
    text_values: bool | None = Field(None, description="JSON lines: every value read as text")
    short_rows: int | None = Field(None, ge=0, description="rows with fewer fields than the header")


class Pseudonymisation(_Model):
    """What `expedition data add --pseudonymise` did to a delivery (see `expedition.pseudonymise`)."""

    columns: list[str] = Field(description="the columns replaced by HMAC-SHA256 pseudonyms")
    key_fingerprint: str = Field(description="sha256 fingerprint of the expedition key (never the key)")
    original_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the file as delivered")
    original_file: str = Field(description="the name of the file as delivered")


class Delivery(_Model):
    """One file delivered for a dataset, as recorded by `expedition data add`."""

    version: int = Field(ge=1)
    file: str = Field(description="path of the read-only copy, relative to the project")
    source: str = Field(description="the name of the file as delivered")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    format: str
    rows: int = Field(ge=0)
    columns: list[str]
    bytes: int = Field(ge=0)
    added: datetime
    mtime_ns: int | None = Field(
        None, description="modification time of the raw copy (ns), to notice a copy edited in place"
    )
    read: DeliveryRead | None = Field(None, description="how every stage reads it")
    pseudonymised: Pseudonymisation | None = Field(
        None, description="columns pseudonymised at intake, the key's fingerprint, the original's hash"
    )


class Agreement(_Model):
    """The data-sharing agreement a dataset was received under (see `expedition.governance`)."""

    reference: str = Field(min_length=1, description="the agreement's reference, e.g. DSA-2026-014")
    provider: str = Field(min_length=1, description="who shares the data")
    lawful_basis: str = Field(min_length=1, description="e.g. UK GDPR Article 6(1)(e) public task")
    retain_until: date = Field(description="the date by which the data must be deleted")
    dpia: str | None = Field(None, description="the data protection impact assessment's reference")


class DatasetConfig(_Model):
    """A dataset: its contract and its deliveries, oldest first.

    ``combine: all`` makes every delivery a period of one dataset: each is validated against the
    contract and the dataset is their union (with a ``delivery`` column naming the file each row
    came from). The default, ``latest``, reads only the latest delivery (earlier ones are
    versions it replaces).
    """

    description: str = ""
    schema_: str | None = Field(None, alias="schema", description="path of the data contract")
    combine: Literal["latest", "all"] = Field(
        "latest", description="latest: the newest delivery replaces the others; all: every delivery is a period, analysed together"
    )
    engine: Literal["polars", "spark"] = Field(
        "polars", description="what validates it: polars (this machine) or spark (pip install "
                              "\"expedition[spark]\"; a local Spark, or the cluster's under spark-submit)")
    agreement: Agreement | None = Field(None, description="the data-sharing agreement it was received under")
    subject: Subject | None = Field(None, description="what a record of this dataset is (overrides the expedition's)")
    labels: dict[str, Annotated[LabelLookup | dict[str, str], Field(union_mode="left_to_right")]] = Field(
        default_factory=dict,
        description="value labels for the findings pack: per column a mapping (code: name) or a lookup dataset",
    )

    @field_validator("labels", mode="before")
    @classmethod
    def _labels(cls, value: Any) -> Any:
        if value is None:
            return {}
        if isinstance(value, dict):  # YAML reads yes/no and numbers as such: they are codes here
            return {str(c): ({_code(k): ("" if v is None else str(v)) for k, v in m.items()}
                             if isinstance(m, dict) and "dataset" not in m else m)
                    for c, m in value.items()}
        return value
    deliveries: list[Delivery] = Field(default_factory=list)

    @field_validator("deliveries", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value

    @property
    def latest(self) -> Delivery | None:
        return self.deliveries[-1] if self.deliveries else None

    @property
    def read(self) -> list[Delivery]:
        """The deliveries the dataset is made of: all of them with ``combine: all``, else the latest."""
        if self.combine == "all":
            return list(self.deliveries)
        return self.deliveries[-1:]


class DerivedConfig(_Model):
    """A dataset made with SQL from validated datasets and earlier derived ones (see
    `expedition.prepare`); steps read it like any dataset."""

    sql: str = Field(min_length=1, description="a SELECT over the datasets, named as tables")
    description: str = ""
    schema_: str | None = Field(
        None, alias="schema", description="optional data contract the result is validated against"
    )


#: How `expedition link` compares a column (see `expedition.link`).
LinkKind = Literal["name", "date", "postcode", "address", "exact"]


class LinkConfig(_Model):
    """Records of validated (or derived) datasets linked into one person key with Splink (see
    `expedition.link`); steps and derived SQL read the result like any dataset."""

    datasets: list[DatasetName] = Field(min_length=1, description="datasets to link (one: deduplicate)")
    id: str | dict[str, str] | None = Field(
        None, description="each record's identifier column (one name, or one per dataset); "
                          "default: the contract's identifier column")
    compare: dict[str, LinkKind] = Field(
        min_length=1, description="column: kind (name, date, postcode, address or exact)")
    threshold: float = Field(0.9, gt=0, lt=1, description="match probability at which records link")
    blocking: list[str | list[str]] | None = Field(
        None, description="blocking rules (a column, or columns that must all agree); "
                          "default: derived from the comparisons")
    engine: Literal["duckdb", "spark"] = Field("duckdb", description="Splink's backend")
    description: str = ""


class StepConfig(_Model):
    """One analysis step to run: which step, on which dataset, with which parameters."""

    id: Annotated[str, AfterValidator(_checked("step id"))] = Field(
        description="unique; names the finding and its files"
    )
    step: str = Field(min_length=1, description="a registered step (see `expedition steps`)")
    dataset: str | None = Field(None, description="the dataset the step reads")
    title: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    recode: bool | None = Field(
        None, description="combine rare categories before the step tabulates (default: disclosure.recode_labels)"
    )
    where: str | None = Field(
        None, min_length=1,
        description="a SQL condition on the dataset's rows: the step reads only the rows that meet it",
    )

    @field_validator("params", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value


class Config(_Model):
    """The whole of ``expedition.yaml``."""

    expedition: ExpeditionInfo
    seed: int = Field(42, description=f"random seed for every step (0 to {SEED_MAX})")
    disclosure: DisclosureConfig = Field(default_factory=DisclosureConfig)
    datasets: dict[DatasetName, DatasetConfig] = Field(default_factory=dict)
    derived: dict[DatasetName, DerivedConfig] = Field(default_factory=dict)
    links: dict[DatasetName, LinkConfig] = Field(default_factory=dict)
    steps: list[StepConfig] = Field(default_factory=list)
    transparency: TransparencyConfig = Field(default_factory=TransparencyConfig)

    @field_validator("transparency", mode="before")
    @classmethod
    def _no_transparency_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("datasets", "derived", "links", "steps", "disclosure", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any, info: Any) -> Any:
        if value is None:
            return [] if info.field_name == "steps" else {}
        return value

    @field_validator("seed", mode="before")
    @classmethod
    def _seed_in_range(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= SEED_MAX:
            raise ValueError(
                f"seed must be a whole number from 0 to {SEED_MAX} (2**32 - 1, the range NumPy "
                f"accepts); got {value!r}"
            )
        return value

    @model_validator(mode="after")
    def _steps_consistent(self) -> Config:
        seen: set[str] = set()
        for step in self.steps:
            if step.id in seen:
                raise ValueError(f"step id {step.id!r} is used twice; step ids must be unique")
            seen.add(step.id)
            if step.dataset is not None and step.dataset not in self.datasets \
                    and step.dataset not in self.derived and step.dataset not in self.links:
                known = ", ".join(sorted([*self.datasets, *self.derived, *self.links])) or "none yet"
                raise ValueError(
                    f"step {step.id!r} reads dataset {step.dataset!r}, which is not declared "
                    f"under 'datasets', 'derived' or 'links' (declared: {known})"
                )
        both = sorted(set(self.datasets) & set(self.derived))
        if both:
            raise ValueError(
                f"{', '.join(repr(b) for b in both)} is declared under both 'datasets' and "
                "'derived'; a derived dataset needs a name of its own"
            )
        taken = sorted(set(self.links) & (set(self.datasets) | set(self.derived)))
        if taken:
            raise ValueError(
                f"{', '.join(repr(b) for b in taken)} is declared under 'links' and as a dataset; "
                "a link needs a name of its own"
            )
        return self

    def step(self, step_id: str) -> StepConfig:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)


# --------------------------------------------------------------------------- reading


def _yaml():
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 100
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.representer.add_representer(
        type(None), lambda rep, _: rep.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    return yaml


def flow_list(items: list[Any]) -> Any:
    """A list that YAML writes on one line: ``[a, b, c]``."""
    from ruamel.yaml.comments import CommentedSeq

    seq = CommentedSeq(items)
    seq.fa.set_flow_style()
    return seq


def flow_map(items: dict[str, Any]) -> Any:
    """A mapping that YAML writes on one line: ``{a: 1, b: 2}``."""
    from ruamel.yaml.comments import CommentedMap

    mapping = CommentedMap(items)
    mapping.fa.set_flow_style()
    return mapping


def read_document(path: Path) -> Any:
    """Parse a YAML file round-trip, turning syntax errors into ConfigError with a line."""
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path.name} does not exist",
            "run `expedition new` to create an expedition, or pass --project DIR",
            path=path,
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"the file is not UTF-8 text ({exc.reason} at byte {exc.start})",
            "save it as UTF-8",
            path=path,
        ) from None
    try:
        return _yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(
            f"this is not valid YAML: {problem}",
            "check indentation and quoting near that line (values containing ': ' need quotes)",
            path=path,
            line=line,
        ) from None
    except YAMLError as exc:
        raise ConfigError(f"this is not valid YAML: {exc}", "fix the YAML syntax", path=path) from None


def _line_of(document: Any, loc: tuple) -> int | None:
    """The 1-based line of the node at *loc* in a round-trip document (or its nearest parent)."""
    node = document
    line = None
    for key in loc:
        lc = getattr(node, "lc", None)
        try:
            if isinstance(node, dict) and key in node:
                if lc is not None:
                    line = lc.key(key)[0] + 1
                node = node[key]
            elif isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
                if lc is not None:
                    line = lc.item(key)[0] + 1
                node = node[key]
            else:
                break
        except (KeyError, TypeError, IndexError, AttributeError):
            break
    return line


def _field_path(loc: tuple) -> str:
    text = ""
    if len(loc) >= 2 and loc[-1] == "[key]":  # a mapping's key is wrong: the message names it
        loc = loc[:-2]
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The pydantic model that owns the last key in *loc* (for listing valid fields)."""
    import typing

    model: Any = Config
    for part in loc[:-1]:
        if isinstance(model, type) and issubclass(model, BaseModel):
            if not isinstance(part, str) or part not in _fields_by_key(model):
                return None
            model = _fields_by_key(model)[part].annotation
        elif isinstance(part, (int, str)):
            args = [a for a in typing.get_args(model) if a is not type(None)]
            model = args[-1] if args else None
        while typing.get_origin(model) is typing.Union or type(model).__name__ == "UnionType":
            args = [a for a in typing.get_args(model) if a is not type(None)]
            model = args[0] if args else None
    if isinstance(model, type) and issubclass(model, BaseModel):
        return model
    return None


def _fields_by_key(model: type[BaseModel]) -> dict[str, Any]:
    return {(info.alias or name): info for name, info in model.model_fields.items()}


def _describe(error: dict) -> str:
    kind = error["type"]
    loc = tuple(error["loc"])
    if kind == "missing":
        return "is required but missing"
    if kind == "extra_forbidden":
        model = _model_at(loc)
        valid = ", ".join(_fields_by_key(model)) if model else ""
        return "is not a known field" + (f"; valid fields here are: {valid}" if valid else "")
    message = error["msg"]
    message = re.sub(r"^Value error, ", "", message)
    given = error.get("input")
    if kind not in {"value_error", "assertion_error"} and not isinstance(given, (dict, list)):
        message += f" (got {given!r})"
    return message


def config_from_document(document: Any, path: Path) -> Config:
    """Validate a parsed document, reporting every problem with its line and field."""
    if document is None:
        raise ConfigError(
            "the file is empty",
            "start from `expedition new`, which writes a complete expedition.yaml",
            path=path,
        )
    if not isinstance(document, dict):
        raise ConfigError(
            f"expected a mapping with 'expedition', 'datasets' and 'steps', got {type(document).__name__}",
            "see the README for the layout of expedition.yaml",
            path=path,
            line=1,
        )
    try:
        return Config.model_validate(document)
    except ValidationError as exc:
        problems = []
        first_line = first_field = None
        for error in exc.errors():
            loc = tuple(error["loc"])
            line = _line_of(document, loc)
            field = _field_path(loc)
            if first_line is None:
                first_line, first_field = line, field
            where = f"line {line}, " if line else ""
            label = f"field '{field}'" if field else "the file"
            problems.append(f"{where}{label}: {_describe(error)}")
        if len(problems) == 1:
            what = problems[0].split(": ", 1)[1]
        else:
            what = f"{len(problems)} problems:\n" + "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(
            what,
            "edit the file so each field holds what is expected (see the README for an example)",
            path=path,
            line=first_line,
            field=first_field if len(problems) == 1 else None,
        ) from None


def load_config(path: str | Path) -> Config:
    """Read and validate an ``expedition.yaml`` file (or the one inside a folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / CONFIG_FILE
    return config_from_document(read_document(path), path)


# --------------------------------------------------------------------------- writing


def dump_document(document: Any) -> str:
    stream = io.StringIO()
    _yaml().dump(document, stream)
    return stream.getvalue()


def update_config(path: str | Path, change: Callable[[Any], None], *, unit: Any = None) -> Config:
    """Apply *change* to the parsed ``expedition.yaml``, validate, and write it atomically.

    *change* receives the round-trip document (a dict-like object that keeps comments) and edits
    it in place. Nothing is written when the edited document is not valid. The file is read,
    changed and written holding the project lock, so two commands never both change it and
    keep only one change. With *unit* (an `expedition._store.Unit`), the new file is staged in
    it and written with the unit's other outputs.
    """
    from expedition._lock import project_lock

    path = Path(path)
    if path.is_dir():
        path = path / CONFIG_FILE
    with project_lock(path.parent, "changing expedition.yaml"):
        document = read_document(path)
        config_from_document(document, path)
        change(document)
        config = config_from_document(document, path)
        if unit is not None:
            unit.write_text(path, dump_document(document))
        else:
            atomic_write_text(path, dump_document(document), durable=True)
    return config


def plain(value: Any) -> Any:
    """Convert pydantic-friendly values (dates, paths) to what YAML should hold."""
    if isinstance(value, datetime):
        return value.replace(microsecond=0).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Path):
        return value.as_posix()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value
