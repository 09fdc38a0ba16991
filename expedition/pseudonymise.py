"""Keyed pseudonymisation at intake: identifiers replaced by HMAC-SHA256 pseudonyms.

``expedition data add FILE --pseudonymise COL ...`` reads the delivery once, replaces each named
column by the HMAC-SHA256 of its (normalised) values under the expedition's key, and registers
the pseudonymised copy as the delivery; the original file is never copied into the project, and
its SHA-256 is recorded beside the pseudonymised columns and the key's fingerprint.

The key is kept outside the project and outside git:

1. ``EXPEDITION_KEY`` in the environment (any text of at least 16 characters; e.g. 64 hex
   digits, shared by the team through their password manager), else
2. ``pseudonym-keys/SLUG.key`` in the user's configuration folder (``$XDG_CONFIG_HOME/
   expedition/``, by default ``~/.config/expedition/``), created on first use with 32 random
   bytes and mode 0600. A key file inside the project is refused.

One key per expedition, so the same identifier gets the same pseudonym in every dataset of the
expedition (exact matches still link), and pseudonyms from two expeditions cannot be joined.
The key is never logged or written to any project file: only its fingerprint (the first 16 hex
digits of its SHA-256) is recorded, so a delivery pseudonymised under another key is noticed.

Values are normalised before they are keyed (surrounding spaces removed, inner runs of spaces
made one, letters folded to lower case), so ``" AB 12"`` and ``"ab 12"`` give one pseudonym. An
empty value stays empty.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expedition.errors import ConfigError, DataError

if TYPE_CHECKING:
    import polars as pl

#: The environment variable holding the expedition key.
ENV_KEY = "EXPEDITION_KEY"
#: The shortest key accepted from the environment.
MIN_KEY = 16
#: Hex digits of the key's SHA-256 recorded as its fingerprint.
FINGERPRINT_DIGITS = 16


@dataclass(frozen=True)
class PseudonymKey:
    """The secret that pseudonyms are made with. Its ``repr`` never shows the secret."""

    secret: bytes
    source: str  # "environment" or "file"

    def __repr__(self) -> str:
        return f"PseudonymKey(fingerprint={self.fingerprint!r}, source={self.source!r})"

    @property
    def fingerprint(self) -> str:
        return "sha256:" + hashlib.sha256(self.secret).hexdigest()[:FINGERPRINT_DIGITS]

    def pseudonym(self, value: Any) -> str | None:
        """The pseudonym of one value (None for an empty value)."""
        text = normalise(value)
        if text is None:
            return None
        return hmac.new(self.secret, text.encode("utf-8"), hashlib.sha256).hexdigest()


def normalise(value: Any) -> str | None:
    """The text a value is keyed as: trimmed, inner spaces made one, folded to lower case."""
    if value is None:
        return None
    text = re.sub(r"\s+", " ", str(value)).strip().casefold()
    return text or None


def key_file(slug: str) -> Path:
    from expedition.signing import config_dir

    return config_dir() / "pseudonym-keys" / f"{slug}.key"


def expedition_key(slug: str, *, project: Path | None = None, create: bool = True) -> PseudonymKey:
    """The expedition's key: ``EXPEDITION_KEY``, else its key file (made on first use)."""
    env = os.environ.get(ENV_KEY)
    if env is not None and env.strip():
        if len(env.strip()) < MIN_KEY:
            raise ConfigError(
                f"{ENV_KEY} is too short to be a key ({len(env.strip())} characters)",
                f"set {ENV_KEY} to at least {MIN_KEY} random characters, e.g. the output of "
                "`python -c \"import secrets; print(secrets.token_hex(32))\"`, or unset it to use "
                "a key file in your configuration folder",
            )
        return PseudonymKey(env.strip().encode("utf-8"), "environment")
    path = key_file(slug)
    if project is not None and _inside(path, project):
        raise ConfigError(
            f"the pseudonym key file {path} is inside the project, where git could share it",
            f"point XDG_CONFIG_HOME outside the project, or set {ENV_KEY}",
        )
    if not path.exists():
        if not create:
            raise ConfigError(f"there is no pseudonym key for {slug!r} yet",
                              "pseudonymise a delivery first (`expedition data add FILE --pseudonymise COL`)")
        _create(path)
    try:
        secret = path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"the pseudonym key {path} cannot be read ({exc.strerror})",
                          f"make it readable by you only (`chmod 600 {path}`), or set {ENV_KEY}") from None
    if len(secret) < MIN_KEY:
        raise ConfigError(f"the pseudonym key {path} is too short",
                          f"restore it from your copy, or set {ENV_KEY}")
    if os.name != "nt" and path.stat().st_mode & 0o077:
        raise ConfigError(f"the pseudonym key {path} can be read by other users",
                          f"make it private with `chmod 600 {path}`")
    return PseudonymKey(secret, "file")


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def _create(path: Path) -> None:
    """A new random key at *path* (0600); a key another process wrote first is kept."""
    import tempfile

    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_hex(32).encode("ascii") + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)  # never replaces a key that exists
        except FileExistsError:
            pass
        except OSError:
            if not path.exists():
                os.replace(tmp, path)
                tmp = ""
    finally:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)


def pseudonymise_frame(frame: pl.DataFrame, columns: list[str], key: PseudonymKey) -> pl.DataFrame:
    """*frame* with each of *columns* replaced by its pseudonyms (keyed once per distinct value)."""
    import polars as pl

    out = []
    for column in columns:
        values = frame.get_column(column).cast(pl.Utf8)
        distinct = values.drop_nulls().unique()
        mapping = pl.DataFrame({"v": distinct, "p": [key.pseudonym(v) for v in distinct.to_list()]},
                               schema={"v": pl.Utf8, "p": pl.Utf8})
        replaced = (pl.DataFrame({"v": values}).join(mapping, on="v", how="left", maintain_order="left")
                    .get_column("p").alias(column))
        out.append(replaced)
    return frame.with_columns(out)


@dataclass(frozen=True)
class Pseudonymised:
    """A pseudonymised copy of a delivery, written outside the project, ready to register."""

    file: Path
    columns: list[str]
    fingerprint: str
    original_sha256: str
    original_name: str

    def record(self) -> dict[str, Any]:
        return {"columns": list(self.columns), "key_fingerprint": self.fingerprint,
                "original_sha256": self.original_sha256, "original_file": self.original_name}


def pseudonymise_file(path: Path, columns: list[str], key: PseudonymKey, *, sheet: str | None = None,
                      encoding: str | None = None) -> Pseudonymised:
    """Read the delivery at *path* once (every value as text) and write a CSV copy with
    *columns* pseudonymised to a private temporary folder. The original is not changed."""
    import tempfile

    from expedition._io import sha256_file
    from expedition.reading import open_dataset, survey

    if not columns:
        raise ConfigError("--pseudonymise needs a column name", "e.g. --pseudonymise nhs_number")
    original = sha256_file(path)
    found = survey(path, encoding=encoding, sheet=sheet)
    missing = [c for c in columns if c not in found.columns]
    if missing:
        raise DataError(
            f"{', '.join(repr(c) for c in missing)} {'is not a column' if len(missing) == 1 else 'are not columns'} "
            f"of {path.name}",
            f"name columns it has (--pseudonymise COL, once per column): {', '.join(found.columns)}",
            path=path,
        )
    frame = open_dataset(path, found.options, text=True).frame.collect()
    frame = pseudonymise_frame(frame, list(dict.fromkeys(columns)), key)
    folder = Path(tempfile.mkdtemp(prefix="expedition-pseudonymise-"))
    out = folder / f"{path.stem}.csv"
    frame.write_csv(out)
    return Pseudonymised(out, list(dict.fromkeys(columns)), key.fingerprint, original, path.name)
