"""Provenance records and file manifests: what produced every number, and proof it is intact."""

from __future__ import annotations

import json
import os
import platform
import sys
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from expedition._io import sha256_file

TRACKED_PACKAGES = (
    "expedition",
    "polars",
    "pandera",
    "numpy",
    "scipy",
    "statsmodels",
    "scikit-learn",
    "matplotlib",
)


def package_versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    """Versions of Python and the libraries whose behaviour shapes the results."""
    versions = {"python": platform.python_version()}
    for name in (*TRACKED_PACKAGES, *extra):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            continue
    return versions


#: what an argument naming a path outside the project becomes (with the file's name after it)
OUTSIDE = "<outside the project>"


def _relative_argument(arg: str, root: Path, cwd: Path) -> str:
    """*arg* with any path in it written relative to *root*, or as ``<outside the project>/NAME``."""
    if arg.startswith("-") and "=" in arg:
        option, _, value = arg.partition("=")
        return f"{option}={_relative_argument(value, root, cwd)}" if value else arg
    if not arg or arg.startswith("-"):
        return arg
    expanded = os.path.expanduser(arg)
    looks_like_path = (
        os.path.isabs(expanded)
        or arg.startswith(("~", "./", "../", ".\\", "..\\"))
        or arg in {".", ".."}
        or (cwd / expanded).exists()
    )
    if not looks_like_path:
        return arg
    path = Path(os.path.normpath(cwd / expanded))
    try:
        rel = path.relative_to(root)
    except ValueError:
        return f"{OUTSIDE}/{path.name}" if path.name else OUTSIDE
    return rel.as_posix() if rel.parts else "."


def command_line(root: str | Path | None = None, argv: list[str] | None = None) -> str:
    """The command that is running, as a user would type it, with no machine's paths in it.

    The program is named by its file name alone. An argument that is a path (absolute, from
    the home folder, or one that exists) is written relative to *root*, the project folder
    ("." for the folder itself); a path outside it becomes ``<outside the project>/NAME``. So a
    findings pack never publishes the user's folder names (a home folder is often a person's
    name). Without *root* the current folder stands in for the project.
    """
    argv = list(sys.argv if argv is None else argv)
    if not argv:
        return ""
    cwd = Path.cwd()
    base = Path(os.path.normpath(Path(root).expanduser().absolute())) if root is not None else cwd
    program = Path(argv[0]).name
    if program in {"expedition", "__main__.py", "expedition.exe"}:
        program = "expedition"
    return " ".join([program, *(_relative_argument(a, base, cwd) for a in argv[1:])])


def file_hashes(root: str | Path, *, exclude: tuple[str, ...] = ()) -> dict[str, str]:
    """SHA-256 of every file below *root*, keyed by POSIX relative path, sorted."""
    root = Path(root)
    hashes = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel in exclude:
            continue
        hashes[rel] = sha256_file(path)
    return hashes


def check_hashes(root: str | Path, expected: dict[str, str]) -> list[str]:
    """Problems found when comparing the files below *root* with *expected* hashes."""
    root = Path(root)
    problems = []
    for rel, digest in sorted(expected.items()):
        path = root / rel
        if not path.is_file():
            problems.append(f"{rel}: listed in the manifest but missing")
        elif sha256_file(path) != digest:
            problems.append(f"{rel}: content changed since the pack was built (checksum differs)")
    return problems


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False, default=str) + "\n"


# --------------------------------------------------------------------------- findings packs

#: What a finding's provenance must record for the pack to prove where its numbers came from.
REQUIRED_PROVENANCE = (
    "step",
    "step_version",
    "params",
    "dataset",
    "data_sha256",
    "contract",
    "seed",
    "packages",
    "command",
    "finished",
)

def missing_provenance(provenance: Any) -> list[str]:
    """The required provenance keys a finding lacks (``contract`` may be null and ``params``
    empty, but neither may be absent)."""
    if not isinstance(provenance, dict):
        return list(REQUIRED_PROVENANCE)
    missing = []
    for key in REQUIRED_PROVENANCE:
        if key not in provenance:
            missing.append(key)
        elif key not in {"contract", "params"} and provenance[key] in (None, "", {}):
            missing.append(key)
    return missing


# --------------------------------------------------------------------------- signing

#: The detached signature of manifest.json, written beside it.
SIGNATURE_FILE = "manifest.sig"
SIGNATURE_FORMAT = 1


def sign_manifest(manifest: dict[str, Any], key: Any) -> tuple[bytes, bytes]:
    """The bytes of manifest.json, naming its signer, and of manifest.sig, which signs them.

    *key* is an `expedition.signing.SigningKey`. The signature is Ed25519 over the exact bytes of
    manifest.json, which is written in one deterministic form (`dumps`): nothing has to be
    re-serialised the same way to check it, and ``openssl pkeyutl -verify -rawin`` can check it
    without Python. manifest.sig is JSON holding the signature and the public key (an OpenSSH
    line), so a pack carries what is needed to check it; whether that key is the right one is
    for the reader to decide (by its fingerprint, or ``pack verify --key``). The manifest names
    the signer's fingerprint too, so a signature removed, or replaced by another key's over the
    same manifest, is noticed.
    """
    body = {k: v for k, v in manifest.items() if k != "signer"}
    body["signer"] = {"algorithm": "Ed25519", "fingerprint": key.public.fingerprint,
                      "signature_file": SIGNATURE_FILE}
    data = dumps(body).encode("utf-8")
    import base64

    signature = {
        "format": SIGNATURE_FORMAT,
        "algorithm": "Ed25519",
        "signs": "manifest.json",
        "public_key": key.public.openssh,
        "fingerprint": key.public.fingerprint,
        "signature": base64.b64encode(key.sign(data)).decode("ascii"),
    }
    return data, (json.dumps(signature, indent=2) + "\n").encode("utf-8")


@dataclass(frozen=True)
class SignatureCheck:
    """What checking manifest.json's signature found.

    ``status`` is ``valid`` (signed, the signature matches), ``unsigned`` (no signature and none
    claimed: a warning, since such a pack proves nothing about who wrote it) or ``invalid``
    (every other case: each is in ``problems``).
    """

    status: str
    fingerprint: str | None = None
    public_key: str | None = None
    expected: str | None = None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def pinned(self) -> bool:
        """Signed by the key the reader asked for."""
        return self.status == "valid" and self.expected is not None and self.expected == self.fingerprint

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "algorithm": "Ed25519" if self.public_key else None,
            "fingerprint": self.fingerprint,
            "public_key": self.public_key,
            "expected": self.expected,
            "pinned": self.pinned,
        }


UNSIGNED_WARNING = (
    "the pack is not signed: its checksums show that the files match manifest.json, but anyone "
    "could have changed a file and rewritten the manifest; ask for a signed pack"
)


def check_signature(
    manifest_bytes: bytes,
    signature_bytes: bytes | None,
    manifest: dict[str, Any],
    *,
    expected: str | None = None,
) -> SignatureCheck:
    """Check manifest.sig against the exact bytes of manifest.json.

    *manifest* is manifest.json parsed; *expected* the fingerprint the reader requires
    (``pack verify --key``), when given.
    """
    from expedition.signing import public_key_from_text

    claimed = manifest.get("signer") if isinstance(manifest.get("signer"), dict) else None
    claimed_fp = str(claimed.get("fingerprint")) if claimed and claimed.get("fingerprint") else None
    if signature_bytes is None:
        problems = []
        if expected is not None:
            problems.append(f"{SIGNATURE_FILE}: missing, so the pack cannot be shown to be signed by {expected}")
        if claimed_fp is not None:
            problems.append(
                f"{SIGNATURE_FILE}: missing, though manifest.json says the pack was signed by "
                f"{claimed_fp} (the signature was removed)"
            )
        if problems:
            return SignatureCheck("invalid", expected=expected, problems=problems)
        return SignatureCheck("unsigned", expected=expected, warnings=[UNSIGNED_WARNING])

    import base64
    import binascii

    try:
        doc = json.loads(signature_bytes.decode("utf-8"))
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
        if doc.get("algorithm") != "Ed25519":
            raise ValueError(f"algorithm {doc.get('algorithm')!r} is not Ed25519")
        key = public_key_from_text(str(doc["public_key"]))
        signature = base64.b64decode(str(doc["signature"]), validate=True)
    except (KeyError, ValueError, UnicodeDecodeError, binascii.Error) as exc:
        reason = f"no {exc}" if isinstance(exc, KeyError) else str(exc)
        return SignatureCheck("invalid", expected=expected,
                              problems=[f"{SIGNATURE_FILE}: unreadable or damaged ({reason})"])
    fingerprint = key.fingerprint
    problems = []
    if not key.verify(signature, manifest_bytes):
        problems.append(
            f"manifest.json: changed since it was signed (the signature in {SIGNATURE_FILE} does not match)"
        )
    if doc.get("fingerprint") not in (None, fingerprint):
        problems.append(f"{SIGNATURE_FILE}: its fingerprint field does not match its public key")
    if claimed_fp is not None and claimed_fp != fingerprint:
        problems.append(
            f"{SIGNATURE_FILE}: signed by {fingerprint}, but manifest.json names {claimed_fp} as its signer"
        )
    elif claimed_fp is None:
        problems.append("manifest.json: names no signer, but a signature was added beside it")
    if expected is not None and fingerprint != expected:
        problems.append(f"{SIGNATURE_FILE}: signed by {fingerprint}, not by the expected key {expected}")
    return SignatureCheck("invalid" if problems else "valid", fingerprint, key.openssh, expected, problems)


def compare_hashes(expected: dict[str, str], present: dict[str, str]) -> list[str]:
    """Problems found comparing the files present (path -> SHA-256) with the expected ones."""
    problems = []
    for rel, digest in sorted(expected.items()):
        if rel not in present:
            problems.append(f"{rel}: listed in the manifest but missing")
        elif present[rel] != digest:
            problems.append(f"{rel}: content changed since the pack was built (checksum differs)")
    for rel in sorted(set(present) - set(expected)):
        problems.append(f"{rel}: not listed in the manifest (added after the pack was built)")
    return problems
