"""`expedition pack verify`: check a finished pack (folder or zip) without trusting how it was built.

Checks, each reported as a problem with the file it concerns:

* integrity: the Ed25519 signature of manifest.json (``manifest.sig``; with ``key`` it must be
  that signer's, and an unsigned pack is then refused — without it an unsigned pack passes with a
  warning), and the SHA-256 of every file (missing, changed, added);
* spreadsheet safety: no cell of any CSV starts a formula (`expedition.pack.csvsafe`);
* disclosure: no count in any published table (by the kinds in ``findings.json``) below the
  pack's threshold (nor a zero where zeros are disclosive), counts rounded where rounding is
  required, no identifier column (by kind, or by a name such as ``nhs_number``), every column
  of a table declared;
* personal data: no pattern from `expedition.pii` in any text file (in HTML and SVG only what
  a reader sees, not embedded images; in CSV and JSON only text values), names the pack
  declares public excepted;
* differencing: every count published anywhere in the pack (findings' and data-quality tables,
  numbers in sentences and metrics) goes to the auditor of `expedition.disclosure.system`, which
  tries to pin each suppressed count and to work out small unpublished ones, from the pack's
  files alone;
* accounting: every suppressed cell is listed in the manifest's disclosure log;
* completeness: every finding's provenance (`manifest.REQUIRED_PROVENANCE`), its table and
  figure files, index.html; a final pack carries its sign-off;
* a zip whose entries would escape the pack's folder is refused (and never extracted), and
  reading stops with a `PackError` past `archive.ReadLimits` (entries, bytes per entry, total).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expedition._io import sha256_bytes
from expedition.disclosure.text import scan_text
from expedition.errors import PackError
from expedition.manifest import (
    SIGNATURE_FILE,
    SignatureCheck,
    check_signature,
    compare_hashes,
    missing_provenance,
)
from expedition.pack.archive import DEFAULT_LIMITS, ReadLimits, ZipSource, open_pack
from expedition.pack.csvsafe import starts_formula, unescape_cell

_IDENTIFIER_NAME = re.compile(
    r"(^|_)(nhs_?(number|no|num)|ni_?(number|no)|national_insurance(_number)?|date_of_birth|dob|"
    r"e_?mail(_address)?|phone(_number)?|telephone|mobile|full_?name|first_?name|forenames?|"
    r"surname|last_?name|home_?address|address(_line_?\d)?|person_?id|patient_?id|child_?id|"
    r"client_?id|pupil_?id|upn|uprn)($|_)"
)
_TEXT_SUFFIXES = {".md", ".txt", ".csv", ".json", ".html", ".htm", ".svg"}
_STRING_KINDS = {"label", "text", "date"}


@dataclass(frozen=True)
class VerifyReport:
    path: Path
    checked: int
    problems: list[str]
    findings: int = 0
    status: str = ""
    tables: int = 0
    notes: list[str] = field(default_factory=list)
    signature: SignatureCheck | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "ok": self.ok,
            "status": self.status,
            "checked": self.checked,
            "findings": self.findings,
            "tables": self.tables,
            "signature": self.signature.to_dict() if self.signature else None,
            "problems": self.problems,
            "warnings": self.warnings,
        }


#: Key material and digests in a manifest: random letters that a personal-data pattern can
#: match by chance ("SHA256:…/M11AE+…" reads as a postcode), never text about a person.
_KEY_MATERIAL = re.compile(r"(?:SHA256:[A-Za-z0-9+/]{43}=?|ssh-ed25519 [A-Za-z0-9+/]+=*|[0-9a-f]{64}"
                           r"|-----BEGIN PUBLIC KEY-----[A-Za-z0-9+/=\s]+-----END PUBLIC KEY-----\s*)")


def _json_strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _json_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _json_strings(v)]
    return [value] if isinstance(value, str) and not _KEY_MATERIAL.fullmatch(value) else []


def verify_pack(
    path: str | Path, *, key: str | Path | None = None, limits: ReadLimits = DEFAULT_LIMITS
) -> VerifyReport:
    """Check a pack folder or zip; the report lists every problem found (none: it is sound).

    *key* pins the signer: a public key (file, ``ssh-ed25519 …`` line or base64) or its
    ``SHA256:…`` fingerprint, as `expedition pack key` prints them. *limits* bound the reading.
    """
    path = Path(path)
    wanted = None
    if key is not None:
        from expedition.signing import expected_fingerprint

        wanted = expected_fingerprint(key)
    source = open_pack(path, limits)
    try:
        return _verify(path, source, wanted)
    finally:
        if isinstance(source, ZipSource):
            source.close()


def _verify(path: Path, source: Any, wanted: str | None) -> VerifyReport:
    problems = list(source.problems)
    files = source.files()
    if "manifest.json" not in files:
        raise PackError(
            "there is no manifest.json, so the pack cannot be verified",
            "pass the folder or the .zip written by `expedition pack`",
            path=path,
        )
    manifest_bytes = source.read("manifest.json")
    signature_bytes = source.read(SIGNATURE_FILE) if SIGNATURE_FILE in files else None
    try:
        manifest = json.loads(manifest_bytes.decode("utf-8"))
        expected = dict(manifest["files"])
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError, ValueError, AttributeError) as exc:
        signed = check_signature(manifest_bytes, signature_bytes, {}, expected=wanted)
        return VerifyReport(path, 0, problems + signed.problems + [f"manifest.json is unreadable or damaged ({exc})"],
                            signature=signed, warnings=signed.warnings)
    signed = check_signature(manifest_bytes, signature_bytes, manifest, expected=wanted)
    problems += signed.problems
    contents = {rel: source.read(rel) for rel in files if rel not in {"manifest.json", SIGNATURE_FILE}}
    problems += compare_hashes(expected, {rel: sha256_bytes(data) for rel, data in contents.items()})

    status = str((manifest.get("pack") or {}).get("status", ""))
    if status == "final" and not manifest.get("review"):
        problems.append("manifest.json: marked final but records no review sign-off")
    rules = (manifest.get("disclosure") or {}).get("rules") or {}
    min_count = int(rules.get("min_count") or 10)
    zeros = bool(rules.get("zeros_disclosive"))
    round_to = rules.get("round_to")
    symbol = str(rules.get("symbol") or "c")

    records: list[dict[str, Any]] = []
    quality_records: list[dict[str, Any]] = []
    public: list[str] = []
    if "findings.json" not in contents:
        problems.append("findings.json: missing")
    else:
        try:
            data = json.loads(contents["findings.json"].decode("utf-8"))
            records = list(data.get("findings") or [])
            quality_records = list(data.get("data_quality") or [])
            public = [str(p) for p in data.get("public_names") or []]
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as exc:
            problems.append(f"findings.json: unreadable ({exc})")
    if "index.html" not in contents:
        problems.append("index.html: missing")

    listed = {f.get("id"): f for f in manifest.get("findings") or [] if isinstance(f, dict)}
    tables = 0
    string_columns: dict[str, set[str]] = {}
    for record in records:
        fid = record.get("id", "?")
        provenance = (listed.get(fid) or {}).get("provenance", record.get("provenance"))
        missing = missing_provenance(provenance)
        if missing:
            problems.append(f"finding {fid}: provenance incomplete (no {', '.join(missing)})")
        for name, meta in (record.get("tables") or {}).items():
            tables += 1
            problems += _check_table(fid, name, meta, contents, min_count, zeros, round_to, symbol)
            kinds = meta.get("kinds") or {}
            string_columns[meta.get("file", "")] = {c for c, k in kinds.items() if k in _STRING_KINDS}
        for name, meta in (record.get("figures") or {}).items():
            for rel in meta.get("files") or []:
                if rel not in contents:
                    problems.append(f"finding {fid}: figure {name} file {rel} is missing")
    for fid in set(listed) - {r.get("id") for r in records}:
        problems.append(f"finding {fid}: in manifest.json but not in findings.json")
    for record in quality_records:
        fid = record.get("id", "?")
        for name, meta in (record.get("tables") or {}).items():
            tables += 1
            problems += _check_table(fid, name, meta, contents, min_count, zeros, round_to, symbol)
            kinds = meta.get("kinds") or {}
            string_columns[meta.get("file", "")] = {c for c, k in kinds.items() if k in _STRING_KINDS}
    log = (manifest.get("disclosure") or {}).get("log") or []
    problems += _audit([*records, *quality_records], contents, log, rules, symbol)

    for rel, data in sorted(contents.items()):
        suffix = Path(rel).suffix.lower()
        if suffix not in _TEXT_SUFFIXES:
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            problems.append(f"{rel}: not UTF-8 text")
            continue
        problems += _scan_file(rel, text, suffix, public, string_columns.get(rel))
        if suffix == ".csv":
            problems += _formula_cells(rel, text)
    problems += _scan_file("manifest.json", manifest_bytes.decode("utf-8"), ".json", public, None)
    return VerifyReport(path, len(expected) + 1, problems, len(records), status, tables,
                        signature=signed, warnings=list(signed.warnings))


def _formula_cells(rel: str, text: str, show: int = 5) -> list[str]:
    """Cells a spreadsheet would run as a formula (named by line and column, never quoted)."""
    found = []
    for line, row in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
        found += [(line, col) for col, cell in enumerate(row, start=1) if starts_formula(cell)]
    problems = [
        f"{rel} line {line}, column {col}: the cell starts a spreadsheet formula (it must begin with a quote)"
        for line, col in found[:show]
    ]
    if len(found) > show:
        problems.append(f"{rel}: {len(found) - show} more cells start a spreadsheet formula")
    return problems


def _scan_file(rel: str, text: str, suffix: str, public: list[str], columns: set[str] | None) -> list[str]:
    if suffix == ".json":
        try:
            strings = _json_strings(json.loads(text))
        except json.JSONDecodeError:
            return [f"{rel}: not valid JSON"]
        found = [f for s in strings for f in scan_text(s, public)]
        where = lambda f: ""  # noqa: E731 - JSON has no useful line
    elif suffix == ".csv":
        found = []
        reader = csv.reader(io.StringIO(text))
        header = [unescape_cell(c) for c in next(reader, [])]
        keep = [i for i, c in enumerate(header) if columns is None or c in columns]
        for line, row in enumerate(reader, start=2):
            for i in keep:
                if i < len(row):
                    found += [type(f)(f.kind, line) for f in scan_text(row[i], public)]
        where = lambda f: f" on line {f.line}"  # noqa: E731
    else:
        found = scan_text(text, public, markup=suffix in {".html", ".htm", ".svg"})
        where = lambda f: f" on line {f.line}"  # noqa: E731
    return [f"{rel}: looks like personal data ({f.label}){where(f)}" for f in found]


def _check_table(
    fid: str,
    name: str,
    meta: dict[str, Any],
    contents: dict[str, bytes],
    min_count: int,
    zeros: bool,
    round_to: Any,
    symbol: str,
) -> list[str]:
    rel = meta.get("file")
    label = f"finding {fid}: table {name}"
    if not rel or rel not in contents:
        return [f"{label}: its file {rel or '(none)'} is missing"]
    kinds = meta.get("kinds") or {}
    problems = []
    rows = list(csv.reader(io.StringIO(contents[rel].decode("utf-8", errors="replace"))))
    header = [unescape_cell(c) for c in rows[0]] if rows else []
    for column in header:
        kind = kinds.get(column)
        if kind is None:
            problems.append(f"{rel}: column {column!r} has no declared kind, so it cannot be checked")
        elif kind == "identifier":
            problems.append(f"{rel}: column {column!r} is an identifier and must not be published")
        if _IDENTIFIER_NAME.search(re.sub(r"[^a-z0-9]+", "_", column.lower())):
            problems.append(f"{rel}: column {column!r} looks like a personal identifier")
    counts = [i for i, c in enumerate(header) if kinds.get(c) == "count"]
    for line, row in enumerate(rows[1:], start=2):
        for i in counts:
            if i >= len(row):
                continue
            cell = unescape_cell(row[i]).strip()
            if cell in {"", symbol}:
                continue
            try:
                value = float(cell)
            except ValueError:
                problems.append(f"{rel} line {line}: count {header[i]!r} is not a number")
                continue
            if not math.isfinite(value):
                continue
            if 0 < value < min_count:
                problems.append(f"{rel} line {line}: count {header[i]!r} is below the threshold of {min_count}")
            elif value == 0 and zeros:
                problems.append(f"{rel} line {line}: count {header[i]!r} is a zero, and zeros are disclosive")
            elif round_to and value % int(round_to):
                problems.append(f"{rel} line {line}: count {header[i]!r} is not rounded to {round_to}")
    return problems


def _read_table(meta: dict[str, Any], contents: dict[str, bytes], symbol: str) -> tuple[list[str], list[list[Any]]] | None:
    rel = meta.get("file")
    if not rel or rel not in contents:
        return None
    rows = list(csv.reader(io.StringIO(contents[rel].decode("utf-8", errors="replace"), newline="")))
    if not rows:
        return None
    header = [unescape_cell(c) for c in rows[0]]
    return header, [[unescape_cell(c) for c in row] for row in rows[1:]]


def _audit(records: list[dict[str, Any]], contents: dict[str, bytes], log: list[Any], rules: dict[str, Any],
           symbol: str) -> list[str]:
    """The attacker, from the pack's files alone: every suppressed cell must be in the log, and
    no combination of the published counts may pin a suppressed count or give away a small one."""
    from expedition.disclosure.system import System, TableView, audit
    from expedition.finding import Keys

    logged = {
        (str(e.get("finding")), str(e.get("where")), e.get("column"), e.get("row"))
        for e in log if isinstance(e, dict)
    }
    problems: list[str] = []
    round_to = rules.get("round_to")
    system = System()
    for record in records:
        fid = str(record.get("id", "?"))
        population = str(record.get("population") or fid)
        for name, meta in (record.get("tables") or {}).items():
            read = _read_table(meta, contents, symbol)
            if read is None:
                continue
            header, rows = read
            kinds = meta.get("kinds") or {}
            unlogged = 0
            for column in header:
                if kinds.get(column) in _STRING_KINDS or kinds.get(column) is None:
                    continue
                i = header.index(column)
                for r, row in enumerate(rows):
                    if i < len(row) and row[i].strip() == symbol and (fid, f"table {name}", column, r) not in logged:
                        unlogged += 1
            if unlogged:
                problems.append(f"finding {fid}: table {name}: {unlogged} suppressed cell(s) missing from the disclosure log")
            labels = [c for c in header if kinds.get(c) in {"label", "date"}]
            counts = [c for c in header if kinds.get(c) == "count"]
            if not counts:
                continue
            label_values = {c: [(row[header.index(c)] or None) if header.index(c) < len(row) else None for row in rows]
                            for c in labels}
            values: dict[str, list[float | None]] = {}
            hidden: dict[str, list[bool]] = {}
            for c in counts:
                i = header.index(c)
                values[c], hidden[c] = [], []
                for row in rows:
                    cell = row[i].strip() if i < len(row) else ""
                    hidden[c].append(cell == symbol)
                    try:
                        values[c].append(None if cell in {"", symbol} else float(cell))
                    except ValueError:
                        values[c].append(None)
            dims = meta.get("dimensions")
            view = TableView(f"{fid}: table {name}", population, dict(kinds), label_values, values, hidden,
                             Keys.from_dict(meta.get("keys")), list(dims if dims is not None else labels[-1:]))
            system.add_view(view, round_to)
        for item in record.get("published_counts") or []:
            try:
                key_population, conditions = item["key"]
                key = (str(key_population), tuple((str(v), x) for v, x in conditions))
                system.publish(key, float(item["value"]), f"{fid}: {item.get('where', '')}", round_to)
            except (KeyError, TypeError, ValueError):
                problems.append(f"finding {fid}: findings.json holds a published count it cannot read")
    min_count = int(rules.get("min_count") or 10)
    for exposure in audit(system, min_count, zeros_disclosive=bool(rules.get("zeros_disclosive"))):
        problems.append("disclosure by differencing: " + exposure.describe(min_count))
    return problems
