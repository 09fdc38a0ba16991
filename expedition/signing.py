"""Ed25519 keys for signing findings packs: where the private key lives, and public keys as text.

The private key never lives in a project or a pack. It is taken from, in order:

1. ``EXPEDITION_SIGNING_KEY``: a PEM private key, or the path of a file holding one (for CI and
   shared machines, where a secrets manager provides it);
2. ``signing-key.pem`` in the user's configuration folder: ``$XDG_CONFIG_HOME/expedition/``,
   else ``%APPDATA%\\expedition\\`` on Windows, else ``~/.config/expedition/``. It is created there
   on first use (mode 0600 in a 0700 folder) unless the caller asks only to read it.

A key file that others can read is refused, as ssh refuses one. A public key is written as an
OpenSSH line (``ssh-ed25519 AAAA…``) and named by its fingerprint, ``SHA256:`` and the unpadded
base64 of the SHA-256 of the key's OpenSSH encoding: the same text ``ssh-keygen -l`` prints for
it, so anyone can compute the fingerprint of a published key without this tool.

The cryptography itself is the ``cryptography`` package's (imported only when a key is used);
what is written here is where keys are kept and how they are named.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from expedition.errors import ExpeditionError

ENV_KEY = "EXPEDITION_SIGNING_KEY"
KEY_FILE = "signing-key.pem"
ALGORITHM = "Ed25519"
_SSH_PREFIX = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20"
_FINGERPRINT = re.compile(r"^SHA256:([A-Za-z0-9+/]{43})=?$")
_MAX_KEY_TEXT = 64 * 1024


class SigningError(ExpeditionError):
    """A signing key cannot be found, created or read, or a public key given is not one."""


def config_dir() -> Path:
    """The user's configuration folder for expedition (not created here).

    Written by hand rather than with platformdirs: the XDG rule with a Windows fallback is three
    lines, and ``XDG_CONFIG_HOME`` is honoured on every system (which tests rely on).
    """
    xdg = os.environ.get("XDG_CONFIG_HOME", "").strip()
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "expedition"
    if os.name == "nt" and os.environ.get("APPDATA"):
        return Path(os.environ["APPDATA"]) / "expedition"
    return Path.home() / ".config" / "expedition"


@dataclass(frozen=True)
class PublicKey:
    """An Ed25519 public key (its 32 raw bytes)."""

    raw: bytes

    @property
    def blob(self) -> bytes:
        """The key in OpenSSH's wire encoding (what the fingerprint hashes)."""
        return _SSH_PREFIX + self.raw

    @property
    def openssh(self) -> str:
        return "ssh-ed25519 " + base64.b64encode(self.blob).decode("ascii")

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256(self.blob).digest()
        return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")

    @property
    def pem(self) -> str:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        key = Ed25519PublicKey.from_public_bytes(self.raw)
        return key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    def verify(self, signature: bytes, data: bytes) -> bool:
        """Whether *signature* is this key's Ed25519 signature of *data*."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, data)
        except InvalidSignature:
            return False
        return True

    def to_dict(self) -> dict[str, str]:
        return {"algorithm": ALGORITHM, "public_key": self.openssh, "fingerprint": self.fingerprint}


@dataclass(frozen=True)
class SigningKey:
    """A private key ready to sign, with where it came from."""

    private: Any  # cryptography's Ed25519PrivateKey
    public: PublicKey
    source: str  # a path, or the environment variable's name
    created: bool = False

    def sign(self, data: bytes) -> bytes:
        return self.private.sign(data)

    def to_dict(self) -> dict[str, Any]:
        return {**self.public.to_dict(), "public_key_pem": self.public.pem, "source": self.source,
                "created": self.created}


def _public_of(private: Any) -> PublicKey:
    from cryptography.hazmat.primitives import serialization

    raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return PublicKey(raw)


def _load_private(data: bytes, where: str) -> Any:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    fix = (
        f"give an unencrypted Ed25519 private key in PEM form (PKCS#8), or unset {ENV_KEY} and "
        f"remove {config_dir() / KEY_FILE} so that a new key is made"
    )
    try:
        key = load_pem_private_key(data, password=None)
    except TypeError:
        raise SigningError(f"the signing key in {where} is protected by a passphrase, which is not supported",
                           fix) from None
    except Exception as exc:  # cryptography raises ValueError or UnsupportedAlgorithm
        raise SigningError(f"the signing key in {where} cannot be read ({type(exc).__name__})", fix) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"the signing key in {where} is not an Ed25519 key", fix)
    return key


def _check_private_file(path: Path) -> None:
    if os.name == "nt":
        return
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SigningError(
            f"the signing key {path} can be read by other users (mode {stat.S_IMODE(mode):04o})",
            f"make it private with `chmod 600 {path}`",
            path=path,
        )


def _expand(text: str) -> Path:
    """*text* as a path, ``~`` expanded (RuntimeError for an unknown user's ``~name``)."""
    return Path(text).expanduser()


def _inside(path: Path, folder: Path | None) -> bool:
    if folder is None:
        return False
    try:
        path.resolve().relative_to(Path(folder).resolve())
    except ValueError:
        return False
    return True


def _refuse_inside(path: Path, project: Path | None) -> None:
    if _inside(path, project):
        raise SigningError(
            f"the signing key {path} is inside the project folder, where it could be committed or packed",
            f"move it out of the project (e.g. to {Path.home() / '.config' / 'expedition' / KEY_FILE}) "
            f"and point {ENV_KEY} or XDG_CONFIG_HOME there",
            path=path,
        )


def _create(path: Path) -> Any:
    """A new key written to *path* (0600), or the key another process wrote there first."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)  # never replaces a key that already exists
        except FileExistsError:
            return None
        except OSError:  # a file system without hard links
            if path.exists():
                return None
            os.replace(tmp, path)
            tmp = ""
    finally:
        if tmp:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    return key


def signing_key(*, create: bool = True, project: str | Path | None = None) -> SigningKey:
    """The key that signs packs (see the module's docstring for where it is found).

    With ``create=True`` a missing key in the configuration folder is made. *project* is a folder
    the key must not be inside (the project being packed).
    """
    project_dir = Path(project) if project is not None else None
    value = os.environ.get(ENV_KEY, "").strip()
    if value:
        if value.startswith("-----BEGIN"):
            private = _load_private(value.encode("utf-8"), ENV_KEY)
            return SigningKey(private, _public_of(private), ENV_KEY)
        try:
            path = _expand(value)
        except RuntimeError:
            path = Path(value)
        if not path.is_file():
            raise SigningError(
                f"{ENV_KEY} names {path}, which is not a file",
                f"set {ENV_KEY} to a PEM private key or the path of one, or unset it to use "
                f"{config_dir() / KEY_FILE}",
            )
        _refuse_inside(path, project_dir)
        _check_private_file(path)
        private = _load_private(path.read_bytes()[:_MAX_KEY_TEXT], str(path))
        return SigningKey(private, _public_of(private), str(path))
    path = config_dir() / KEY_FILE
    _refuse_inside(path, project_dir)
    if not path.is_file():
        if not create:
            raise SigningError(
                f"there is no signing key yet ({path} does not exist)",
                f"run `expedition pack key` (or `expedition pack`) to create one, or set {ENV_KEY}",
                path=path,
            )
        try:
            private = _create(path)
        except OSError as exc:
            raise SigningError(
                f"a signing key cannot be created in {path.parent} ({exc.strerror or exc})",
                f"make that folder writable, or set {ENV_KEY} to a PEM private key or its path",
                path=path,
            ) from None
        if private is not None:
            return SigningKey(private, _public_of(private), str(path), created=True)
    _check_private_file(path)
    private = _load_private(path.read_bytes()[:_MAX_KEY_TEXT], str(path))
    return SigningKey(private, _public_of(private), str(path))


# --------------------------------------------------------------------------- public keys as text


def public_key_from_text(text: str) -> PublicKey:
    """A public key from an ``ssh-ed25519 …`` line, a PEM block, or base64 (raw or OpenSSH)."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        if "PRIVATE KEY" in text.split("\n", 1)[0]:
            raise ValueError("that is a private key; give the public key (`expedition pack key` prints it)")
        try:
            key = load_pem_public_key(text.encode("ascii"))
        except Exception as exc:  # ValueError, UnsupportedAlgorithm
            raise ValueError(f"not a readable PEM public key ({type(exc).__name__})") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        from cryptography.hazmat.primitives import serialization

        return PublicKey(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    parts = text.split()
    if len(parts) >= 2 and parts[0] == "ssh-ed25519":
        text = parts[1]
    elif len(parts) != 1:
        raise ValueError("not a public key")
    try:
        data = base64.b64decode(text, validate=True)
    except ValueError:
        raise ValueError("not a public key (not base64)") from None
    if len(data) == 32:
        return PublicKey(data)
    if len(data) == len(_SSH_PREFIX) + 32 and data.startswith(_SSH_PREFIX):
        return PublicKey(data[len(_SSH_PREFIX):])
    raise ValueError("not an Ed25519 public key")


def expected_fingerprint(value: str | Path) -> str:
    """The fingerprint a ``--key`` value names: a file holding a public key (or a fingerprint),
    an ``ssh-ed25519 …`` line, base64, or a ``SHA256:…`` fingerprint."""
    text = str(value).strip()
    origin = "--key"
    if not _FINGERPRINT.match(text):
        with contextlib.suppress(OSError, ValueError, RuntimeError):  # RuntimeError: "~nobody"
            path = _expand(text)
            if len(text) < 4096 and path.is_file():
                data = path.read_bytes()[:_MAX_KEY_TEXT]
                origin = str(path)
                try:
                    text = data.decode("utf-8").strip()
                except UnicodeDecodeError:
                    text = ""
    match = _FINGERPRINT.match(text)
    if match:
        digest = base64.b64decode(match.group(1) + "=")
        return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")
    try:
        return public_key_from_text(text).fingerprint
    except ValueError as exc:
        raise SigningError(
            f"{origin} does not name a signing key: {exc}",
            "give the signer's public key (a file, or the `ssh-ed25519 …` line) or its fingerprint "
            "(`SHA256:…`), as `expedition pack key` prints them",
        ) from None
