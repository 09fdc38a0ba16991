"""Words for people: the partner's own names for columns and values, on the pack's page.

* ``label:`` on a contract column (``schemas/NAME.yaml``) names the column for a reader
  ("Re-referred within 12 months" for ``rereferred_12m``); `expedition schema infer` drafts it
  from the column name.
* ``labels:`` on a dataset (``expedition.yaml``) names its values: a mapping per column
  (``{rereferred_12m: {"yes": re-referred within 12 months, "no": not re-referred}}``) or a
  lookup dataset (``{lad: {dataset: councils, key: code, label: name}}``, read from its
  validated data), so a headline says "Southend-on-Sea" rather than ``E06000033``.

They change only what index.html shows (table headings, label cells, sentences); the CSV files,
findings.json and the manifest keep the names and codes the steps used, so every number still
traces to its column. Labels are text a person wrote or a lookup holds, so each is scanned and
redacted for personal data like any other published text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


_CODE = re.compile(r"(?=.*\d)[A-Za-z0-9][A-Za-z0-9_./-]{3,}")


@dataclass
class Words:
    columns: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    _pattern: Any = None

    def __bool__(self) -> bool:
        return bool(self.columns or self.values)

    def column(self, name: str) -> str:
        return self.columns.get(name, name)

    def value(self, column: str | None, value: str) -> str:
        if column is not None and column in self.values:
            return self.values[column].get(value, value)
        for mapping in self.values.values():  # a long table names the column in another cell
            if value in mapping and _CODE.fullmatch(value):
                return mapping[value]
        return value

    def text(self, text: str) -> str:
        """*text* with ``column = value`` written as the value's label, codes as their names and
        column names as their labels (whole words only)."""
        if not self or not text:
            return text
        if self._pattern is None:
            pairs = {f"{c} = {v}": label for c, m in self.values.items() for v, label in m.items()}
            # a value alone is named only when it is a code (E06000033), never a word like "yes"
            codes = {v: label for m in self.values.values() for v, label in m.items() if _CODE.fullmatch(v)}
            names = dict(self.columns)
            table = {**names, **codes, **pairs}  # the longest match wins (alternatives sorted below)
            keys = sorted(table, key=len, reverse=True)
            self._pattern = (re.compile(r"(?<![\w-])(" + "|".join(re.escape(k) for k in keys) + r")(?![\w-])"), table) if keys else (None, {})
        pattern, table = self._pattern
        if pattern is None:
            return text

        def one(m: re.Match) -> str:
            word = table[m.group(1)]
            start = text[: m.start()].rstrip()
            if (m.group(1) in self.columns and start and not start.endswith((".", ":", ";", "!", "?"))
                    and word[1:2].islower()):
                word = word[:1].lower() + word[1:]  # a column's label inside a sentence
            return word

        return pattern.sub(one, text)

    def cells(self, columns: list[str], kinds: dict[str, str], row: list[str]) -> list[str]:
        """A table row's label cells named (a long table's ``category`` by its ``variable``)."""
        if not self.values:
            return row
        out = list(row)
        variable = row[columns.index("variable")] if "variable" in columns else None
        for i, (column, value) in enumerate(zip(columns, row)):
            if kinds.get(column) != "label" or column == "variable":
                continue
            if column in self.values:
                out[i] = self.values[column].get(value, value)
            elif variable in self.values:
                out[i] = self.values[variable].get(value, value)
        return out


def dataset_words(project: Any, dataset: str | None, allow: list[str]) -> Words:
    """The column and value labels of *dataset* (none for an unknown or derived dataset)."""
    from expedition.disclosure.text import redact

    words = Words()
    if not dataset or dataset not in project.config.datasets:
        return words
    entry = project.config.datasets[dataset]
    try:
        from expedition.contract import contract_path, load_contract

        path = contract_path(project, dataset)
        contract = load_contract(path) if path.is_file() else None
    except Exception:  # a broken contract is reported by validate; the page keeps the names
        contract = None
    if contract is not None:
        for name, spec in contract.columns.items():
            label = getattr(spec, "label", "") or ""
            if label and label != name:
                words.columns[name] = redact(label, allow)[0]
    for column, spec in (getattr(entry, "labels", None) or {}).items():
        mapping = spec if isinstance(spec, dict) else lookup_labels(project, spec)
        words.values[column] = {str(k): redact(str(v), allow)[0] for k, v in mapping.items() if v is not None}
    return words


def lookup_labels(project: Any, spec: Any) -> dict[str, str]:
    """``{key: label}`` from a lookup dataset's validated data (empty when not validated yet)."""
    import polars as pl

    path = project.interim_dir / f"{spec.dataset}.parquet"
    if not path.is_file():
        return {}
    frame = pl.read_parquet(path, columns=[spec.key, spec.label])
    return {str(k): str(v) for k, v in frame.unique(subset=[spec.key], keep="first").iter_rows() if k is not None}
