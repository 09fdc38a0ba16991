"""Data contracts: what a dataset must look like, in a YAML file a person can read and edit.

A contract (``schemas/NAME.yaml``) lists every column with its type, whether it may be empty or
must be unique, checks on its values (ranges, allowed values, regular expressions, string length,
date bounds) and what the column *is*: a description, units, a role (``identifier``,
``protected``, ``target``, ``text``, ``geo`` or ``date``) and whether it holds personal data.
Dataset-wide checks add compound unique keys, bounds on the number of rows and cross-column rules
such as ``closure_date >= referral_date``. The format is documented in the README.

The package has one module per concern: ``types`` (the column types and how each is read from
text), ``checks`` (the registry of check kinds: each defined once, with its words, YAML form and
its expression for each engine), ``model`` (columns, rules, the contract), ``document`` (YAML
in and out, with the line of every mistake) and ``infer`` (drafting a contract from a delivery).

``load_contract(path)`` reads and checks a contract; every mistake (bad YAML, an unknown check,
a type pandera does not know, a rule naming a column that is not declared) is a `ConfigError`
naming the file, the line and the column. ``Contract.to_pandera()`` compiles it to a
``pandera.polars.DataFrameSchema`` (descriptions, units, roles and the personal flag travel in
each column's ``metadata``); ``Contract.to_yaml()`` writes it back. ``infer_schema(data)`` drafts
a contract from a delivery, with comments showing what was observed, and ``draft_contract``
writes that draft into a project without ever overwriting a contract a person has edited.

Why our own YAML rather than pandera's ``to_yaml``/``from_yaml``: pandera's polars ``to_yaml``
drops column ``metadata`` (where roles and the personal flag live), its ``from_yaml`` imports
pandas and builds pandas schemas, and neither reports the line of a mistake. The contract is the
source of truth; pandera's schema is compiled from it.
"""

from expedition.contract.checks import (
    ALIASES,
    CHECK_KINDS,
    KINDS,
    BadCheck,
    CheckSpec,
    Kind,
)
from expedition.contract.document import (
    contract_from_document,
    contract_path,
    load_contract,
    read_yaml,
)
from expedition.contract.infer import (
    DraftResult,
    draft_contract,
    draft_label,
    generated_text,
    infer_schema,
    is_unedited_draft,
)
from expedition.contract.model import (
    FORMAT_VERSION,
    GENERATED_MARK,
    RESERVED,
    ROLES,
    ColumnSpec,
    Contract,
    RuleSpec,
    rows_words,
)
from expedition.contract.types import (
    DEFAULT_FORMATS,
    DTYPE_ALIASES,
    DTYPES,
    FLOAT,
    INTEGER,
    NUMERIC,
    ORDERED,
    TEMPORAL,
    TEXTUAL,
    cast_expr,
    human_format,
    parse_expr,
    polars_dtype,
)

__all__ = [
    "ALIASES", "CHECK_KINDS", "DEFAULT_FORMATS", "DTYPES", "DTYPE_ALIASES", "FLOAT",
    "FORMAT_VERSION", "GENERATED_MARK", "INTEGER", "KINDS", "NUMERIC", "ORDERED", "RESERVED",
    "ROLES", "TEMPORAL", "TEXTUAL", "BadCheck", "CheckSpec", "ColumnSpec", "Contract",
    "DraftResult", "Kind", "RuleSpec", "cast_expr", "contract_from_document", "contract_path",
    "draft_contract", "draft_label", "generated_text", "human_format", "infer_schema",
    "is_unedited_draft", "load_contract", "parse_expr", "polars_dtype", "read_yaml", "rows_words",
]
