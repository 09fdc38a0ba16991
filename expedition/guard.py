"""`expedition guard`: what must not reach git, stopped before a commit.

The scaffold's ``.gitignore`` keeps ``data/``, ``.expedition/`` and ``findings/`` out of git, but
a CSV saved beside a notebook, a notebook that still holds its outputs (a table of records, a
printed row), an API key pasted into a script or a postcode in a note goes in with ``git add .``.
``guard(paths)`` checks the files about to be committed and says, for each, what is wrong:

- **data files** anywhere: CSV and TSV, Parquet, Feather and Arrow, Excel and OpenDocument
  sheets, JSON lines, SPSS, Stata and SAS files, also compressed (``.csv.gz``), by name;
- **notebooks with outputs** (``--fix`` clears them, keeping the code);
- **secrets**, found by `detect-secrets` (Yelp's scanner, run as a library, offline: no secret is
  sent anywhere to be checked); its hexadecimal-entropy rule is left out, since an expedition
  records SHA-256 hashes on purpose;
- **personal data in text**: e-mail addresses, NHS and National Insurance numbers, dates of
  birth, UK phone numbers and postcodes, found by the same scanner `pack verify` uses (names are
  left out: a document names its authors and lead). The value is never printed, only its kind
  and line.

A line holding ``guard: allow`` (or detect-secrets' ``pragma: allowlist secret``) is not checked
for secrets or personal data. The scaffold's ``.pre-commit-config.yaml`` runs ``expedition guard``
as a local hook, so it needs no network.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: file name endings of data files (after any compression ending)
DATA_SUFFIXES = {
    ".csv": "CSV", ".tsv": "TSV", ".tab": "tab-separated", ".parquet": "Parquet", ".pq": "Parquet",
    ".feather": "Feather", ".arrow": "Arrow", ".ipc": "Arrow", ".xlsx": "Excel", ".xlsm": "Excel",
    ".xls": "Excel", ".ods": "OpenDocument spreadsheet", ".jsonl": "JSON lines",
    ".ndjson": "JSON lines", ".sav": "SPSS", ".zsav": "SPSS", ".por": "SPSS", ".dta": "Stata",
    ".sas7bdat": "SAS", ".xpt": "SAS transport", ".rds": "R data", ".rdata": "R data",
    ".sqlite": "SQLite database", ".db": "database", ".duckdb": "DuckDB database",
}
COMPRESSED = {".gz", ".bz2", ".xz", ".zst", ".zip"}
#: personal-data kinds reported in text (names are not: documents name their authors)
TEXT_KINDS = {"email": "an e-mail address", "nhs_number": "an NHS number",
              "ni_number": "a National Insurance number", "date_of_birth": "a date of birth",
              "phone": "a UK phone number", "postcode": "a UK postcode"}
ALLOW_MARKERS = ("guard: allow", "pragma: allowlist secret")
#: text larger than this is not scanned for secrets or personal data (it is reported as too
#: large to check, which it almost always is for a file that belongs in git)
MAX_TEXT_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class Problem:
    file: str
    kind: str  # data file | notebook outputs | secret | personal data | too large
    detail: str
    line: int | None = None
    fixed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "kind": self.kind, "detail": self.detail, "line": self.line,
                "fixed": self.fixed}


@dataclass
class GuardReport:
    checked: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(not p.fixed for p in self.problems)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checked": self.checked,
                "problems": [p.to_dict() for p in self.problems]}


def staged_files(root: Path) -> list[Path]:
    """The files added or changed in git's index (what ``git commit`` would record)."""
    from expedition.errors import ConfigError

    try:
        out = subprocess.run(["git", "diff", "--cached", "--name-only", "--diff-filter=ACMR", "-z"],
                             cwd=root, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        raise ConfigError("no files were named and this is not a git repository (or git is missing)",
                          "name the files to check: `expedition guard FILE ...`") from None
    top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=root, capture_output=True,
                         text=True).stdout.strip()
    base = Path(top) if top else root
    return [base / name for name in out.decode("utf-8", "replace").split("\0") if name]


def guard(paths: Iterable[str | Path], *, fix: bool = False) -> GuardReport:
    """Check *paths* (files; folders are walked) for what must not be committed."""
    report = GuardReport()
    files = _files(paths)
    texts: list[Path] = []
    for path in files:
        report.checked.append(str(path))
        problems, text = _check(path, fix=fix)
        report.problems.extend(problems)
        if text:
            texts.append(path)
    # detect-secrets once over every text file (its plugins are set up once, not per file)
    found = _secrets(texts)
    report.problems.extend(p for path in texts for p in found.get(str(path), []))
    order = {str(f): i for i, f in enumerate(files)}
    report.problems.sort(key=lambda p: (order.get(p.file, 0), p.kind != "data file", p.line or 0))
    return report


def _files(paths: Iterable[str | Path]) -> list[Path]:
    from expedition.errors import ConfigError

    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and ".git" not in f.parts))
        elif p.is_file():
            out.append(p)
        else:
            raise ConfigError(f"there is no file {str(p)!r}", "check the path (name files or folders "
                              "to check, or none to check what is staged in git)")
    return out


def data_kind(path: Path) -> str | None:
    """What kind of data file *path* is by its name, or None."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSED:
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in DATA_SUFFIXES:
        return DATA_SUFFIXES[suffixes[-1]]
    return None


def _check(path: Path, *, fix: bool) -> tuple[list[Problem], bool]:
    """The problems found in *path* (but secrets), and whether it is text to scan for secrets."""
    name = str(path)
    kind = data_kind(path)
    if kind is not None:
        return [Problem(name, "data file", f"a {kind} file: data stays out of git (keep it under "
                        "data/, which .gitignore leaves out, and add it with `expedition data add`)")], False
    problems: list[Problem] = []
    if path.suffix.lower() == ".ipynb":
        problems.extend(_notebook(path, fix=fix))
    try:
        size = path.stat().st_size
    except OSError:
        return problems, False
    if size > MAX_TEXT_BYTES:
        problems.append(Problem(name, "too large", f"{size / 1024 / 1024:.0f} MiB: too large to check "
                                "for secrets and personal data; large files are almost always data"))
        return problems, False
    raw = path.read_bytes()
    if b"\0" in raw[:8192]:
        return problems, False  # binary (an image, a font): nothing to read as text
    text = raw.decode("utf-8", "replace")
    problems.extend(_personal(name, _notebook_text(text) if path.suffix.lower() == ".ipynb" else text))
    return problems, True


def _notebook(path: Path, *, fix: bool) -> list[Problem]:
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
        cells = notebook.get("cells", [])
    except (ValueError, OSError, AttributeError):
        return [Problem(str(path), "notebook outputs", "not a readable notebook (invalid JSON)")]
    with_output = [i for i, cell in enumerate(cells)
                   if isinstance(cell, dict) and cell.get("cell_type") == "code"
                   and (cell.get("outputs") or cell.get("execution_count") is not None)]
    if not with_output:
        return []
    detail = (f"{len(with_output)} code cell{'s' if len(with_output) != 1 else ''} keep "
              "outputs (tables and printed rows can hold personal data)")
    if fix:
        for i in with_output:
            cells[i]["outputs"] = []
            cells[i]["execution_count"] = None
        from expedition._io import atomic_write_text

        atomic_write_text(path, json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
        return [Problem(str(path), "notebook outputs", detail + "; cleared", fixed=True)]
    return [Problem(str(path), "notebook outputs", detail + "; clear them with `expedition guard "
                    "--fix FILE` (or Jupyter's Clear All Outputs)")]


def _notebook_text(text: str) -> str:
    """A notebook's cell sources, one line per source line (outputs are reported separately)."""
    try:
        cells = json.loads(text).get("cells", [])
    except (ValueError, AttributeError):
        return text
    lines: list[str] = []
    for cell in cells:
        source = cell.get("source", "") if isinstance(cell, dict) else ""
        lines.extend("".join(source).splitlines() if isinstance(source, list) else str(source).splitlines())
    return "\n".join(lines)


def _secrets(paths: list[Path]) -> dict[str, list[Problem]]:
    """Secrets in *paths* by file, from one detect-secrets scan."""
    if not paths:
        return {}
    from detect_secrets import SecretsCollection
    from detect_secrets.settings import transient_settings

    plugins = [p for p in _plugins() if p["name"] != "HexHighEntropyString"]
    secrets = SecretsCollection()
    with transient_settings({"plugins_used": plugins}):
        for path in paths:
            secrets.scan_file(str(path))
    found: dict[str, list[Problem]] = {}
    for filename, secret in secrets:
        found.setdefault(filename, []).append(Problem(
            filename, "secret", f"a secret ({secret.type}); keep secrets in environment variables or a "
            "file outside the project", line=secret.line_number))
    return {k: sorted(v, key=lambda p: p.line or 0) for k, v in found.items()}


def _plugins() -> list[dict[str, Any]]:
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    return [{"name": cls.__name__} for cls in get_mapping_from_secret_type_to_class().values()]


def _personal(name: str, text: str) -> list[Problem]:
    from expedition.pii import scan

    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        if any(marker in line for marker in ALLOW_MARKERS):
            continue
        for match in scan(line):
            if match.kind in TEXT_KINDS:
                found.append(Problem(name, "personal data", f"{TEXT_KINDS[match.kind]} (not shown); "
                             "remove it, or mark a line that is not personal data with "
                             "'guard: allow'", line=number))
    return found
