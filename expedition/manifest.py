"""Provenance records and file manifests: what produced every number, and proof it is intact."""

from __future__ import annotations

import json
import os
import platform
import sys
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

SEAL_KEY = "manifest_sha256"


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


def _canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")


def seal(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest with the SHA-256 of its own content, so an edit to it is detected too."""
    body = {k: v for k, v in manifest.items() if k != SEAL_KEY}
    import hashlib

    return {**body, SEAL_KEY: hashlib.sha256(_canonical(body)).hexdigest()}


def seal_ok(manifest: dict[str, Any]) -> bool:
    return manifest.get(SEAL_KEY) == seal(manifest)[SEAL_KEY]


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
