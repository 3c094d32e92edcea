"""Signing credentials for C2PA and the watermark key.

Where credentials come from, highest priority first:

1. explicit arguments to :func:`load_credentials` (paths, or PEM ``bytes``);
2. environment variables ``SYNTHLABEL_CERT_CHAIN``, ``SYNTHLABEL_PRIVATE_KEY``,
   ``SYNTHLABEL_KEY_PASSPHRASE``, ``SYNTHLABEL_WATERMARK_KEY`` (path to a key file) and
   ``SYNTHLABEL_TRUST_ANCHORS`` (one or more paths, ``os.pathsep``-separated);
3. development credentials under ``$SYNTHLABEL_HOME/dev`` (default ``~/.synthlabel/dev``),
   created on first use.

Development credentials (``synthlabel keys init`` or first use) are:

``dev/root-ca.pem``
    a self-signed P-256 root CA (CA=true, keyCertSign/cRLSign, 20 years). Its private key is
    **not kept**: it signs the leaf once and is then discarded, so nobody who later reads the
    directory can mint further certificates chaining to a root that a verifier was told to
    trust. To re-issue, run ``synthlabel keys init --force`` (new root, new leaf; files signed
    earlier then only verify as ``Trusted`` against the old ``root-ca.pem``).
``dev/signer-chain.pem``
    the ES256 leaf only (the root is left out, which c2pa accepts; anchors come from
    ``root-ca.pem``). KeyUsage digitalSignature, CA=false, EKU emailProtection, AKI + SKI,
    10 years validity (no timestamp authority is used offline, so a manifest turns ``Invalid``
    once the leaf expires: keep leafs long-lived).
``dev/signer.key``
    the leaf's PKCS#8 private key, unencrypted, mode 0600.
``dev/watermark.key``
    the 256-bit watermark key as 64 lowercase hex digits plus a newline, mode 0600.
    :func:`read_watermark_key` accepts either that hex form or a raw 32-byte file.

The directory is built in a private temporary directory (0700, files created with
``os.open(..., 0o600)``) and renamed into place, so it never exists half-written and no key is
ever world-readable, even when two processes race to create it.

The first time development credentials are created, exactly one
:class:`DevelopmentCredentialsWarning` is emitted with :func:`warnings.warn`. The CLI can show it
with ``warnings.catch_warnings(record=True)`` or simply rely on Python's default warning display;
later loads emit nothing, but :attr:`Credentials.is_development` stays ``True`` so the CLI can
mention it in reports.

Trust anchors (what :func:`synthlabel.provenance.c2pa_io.read_manifest` treats as
``Trusted``): in development mode the dev root plus anything configured; in production mode
(a certificate and key configured) **only** what is configured (``SYNTHLABEL_TRUST_ANCHORS``
and the ``trust_anchors`` argument, which add to each other). The root of the production chain
is never trusted implicitly: a chain cannot vouch for itself, and the dev root is never
trusted in production mode.

Secrets (private keys, passphrases, the watermark key) never appear in exception messages, log
records or ``repr``/``str``.
"""
from __future__ import annotations

import datetime as _dt
import errno
import hashlib
import os
import re
import secrets
import shutil
import stat
import tempfile
import time
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Union

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

__all__ = [
    "Credentials",
    "CredentialError",
    "CertificateError",
    "DevelopmentCredentialsWarning",
    "InsecureCredentialsWarning",
    "DEV_SIGNER_CN",
    "check_signing_certificate",
    "default_home",
    "init_dev_credentials",
    "replace_dev_credentials",
    "load_credentials",
    "load_trust_anchors",
    "read_watermark_key",
    "signing_algorithm",
]

PathLike = Union[str, os.PathLike]

ENV_HOME = "SYNTHLABEL_HOME"
ENV_CERT_CHAIN = "SYNTHLABEL_CERT_CHAIN"
ENV_PRIVATE_KEY = "SYNTHLABEL_PRIVATE_KEY"
ENV_PASSPHRASE = "SYNTHLABEL_KEY_PASSPHRASE"
ENV_WATERMARK_KEY = "SYNTHLABEL_WATERMARK_KEY"
ENV_TRUST_ANCHORS = "SYNTHLABEL_TRUST_ANCHORS"

DEV_DIR = "dev"
DEV_ROOT = "root-ca.pem"
DEV_CHAIN = "signer-chain.pem"
DEV_KEY = "signer.key"
DEV_WM_KEY = "watermark.key"

DEV_SIGNER_CN = "synthlabel DEVELOPMENT signer \u2014 not for production"
DEV_ROOT_CN = "synthlabel DEVELOPMENT root CA \u2014 not for production"
DEV_ORG = "synthlabel development credentials"
DEV_LEAF_YEARS = 10
DEV_ROOT_YEARS = 20

WATERMARK_KEY_BYTES = 32

EKU_EMAIL = ExtendedKeyUsageOID.EMAIL_PROTECTION                      # 1.3.6.1.5.5.7.3.4
EKU_DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
EKU_C2PA = ObjectIdentifier("1.3.6.1.4.1.62558.2.1")
_EKU_HINT = (
    "c2pa accepts emailProtection (1.3.6.1.5.5.7.3.4) by default; documentSigning "
    "(1.3.6.1.5.5.7.3.36) and the C2PA EKU (1.3.6.1.4.1.62558.2.1) are only accepted when "
    "trust.trust_config lists them on the signer and on every reader, which synthlabel does "
    "not configure"
)


# --------------------------------------------------------------------------- errors


class DevelopmentCredentialsWarning(UserWarning):
    """Development credentials were just created: manifests they sign are not trustworthy
    outside this machine."""


class InsecureCredentialsWarning(UserWarning):
    """A key file, or a folder holding one, can be read or replaced by other users."""


class CredentialError(ValueError):
    """Credentials are missing, unreadable or inconsistent. The message is one line and never
    contains key material or a passphrase."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class HomeUnavailableError(CredentialError):
    """The development credentials do not exist, and cannot be created (the home folder is not
    writable) or were not to be (``create=False``). ``verify`` can still check what needs no
    credentials of ours."""


class CertificateError(CredentialError):
    """The signing certificate (or its key) would be rejected by c2pa. ``rule`` names the
    failed rule: ``parse``, ``key-type``, ``rsa-size``, ``key-mismatch``, ``validity``,
    ``ca-leaf``, ``key-usage``, ``eku``, ``aki``, ``signature-hash``, ``chain-order``,
    ``key-in-chain``."""

    def __init__(self, rule: str, message: str) -> None:
        self.rule = rule
        super().__init__(f"signing certificate rejected [{rule}]: {message}")


#: A PEM private key block (PKCS#8, encrypted, or a traditional RSA / EC / DSA key).
_PEM_KEY_BLOCK = re.compile(rb"-----BEGIN (?:ENCRYPTED |RSA |EC |DSA |OPENSSH )?PRIVATE KEY-----")


# --------------------------------------------------------------------------- credentials


@dataclass(frozen=True, repr=False)
class Credentials:
    """Everything needed to sign and to verify. ``repr``/``str`` show only public facts."""

    cert_chain_pem: bytes
    private_key_pem: bytes        # unencrypted PKCS#8 PEM
    watermark_key: bytes | None   # 32 bytes; None: none configured (verifying only)
    trust_anchors_pem: bytes      # PEM bundle of trusted roots (may be empty)
    is_development: bool
    signer_subject: str

    @property
    def cert_fingerprint(self) -> str:
        """SHA-256 of the leaf certificate (DER), hex."""
        leaf = x509.load_pem_x509_certificates(self.cert_chain_pem)[0]
        return leaf.fingerprint(hashes.SHA256()).hex()

    @property
    def cache_key(self) -> str:
        """A digest of the signing material, for per-process caches. Not reversible."""
        h = hashlib.sha256(b"synthlabel-signer-cache\0")
        h.update(self.cert_chain_pem)
        h.update(b"\0")
        h.update(self.private_key_pem)
        return h.hexdigest()

    def __repr__(self) -> str:
        try:
            fp = self.cert_fingerprint[:16] + "..."
        except (ValueError, IndexError):
            fp = "?"
        return (
            f"Credentials(signer_subject={self.signer_subject!r}, "
            f"is_development={self.is_development}, cert_sha256={fp}, "
            f"key=<redacted>, watermark_key=<redacted>)"
        )

    __str__ = __repr__


# --------------------------------------------------------------------------- helpers


def default_home(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    value = env.get(ENV_HOME)
    return Path(value).expanduser() if value else Path.home() / ".synthlabel"


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def _write_new_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Create ``path`` exclusively with ``mode`` (no world-readable window)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fd = -1
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    finally:
        if fd != -1:
            os.close(fd)


def _ensure_private_dir(path: Path) -> None:
    """Create ``path`` (and parents) with mode 0700. An existing folder we own that others may
    write to loses that write access (whoever can write to the home can rename ``dev/`` away
    and put their own signing and watermark keys in its place); reading is left alone (the
    home may be a folder of the user's, set by SYNTHLABEL_HOME), and so is a sticky folder
    such as /tmp, where others cannot rename what is ours."""
    if path.exists() and not path.is_dir():
        raise HomeUnavailableError(f"{path} is not a folder (the synthlabel home, {ENV_HOME})")
    if not path.exists():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path, 0o700)
        return
    st = path.stat()
    if _others_can_replace(st) and st.st_uid == os.getuid():
        os.chmod(path, stat.S_IMODE(st.st_mode) & ~0o022)


def _others_can_replace(st: os.stat_result) -> bool:
    """A folder others may write to, without the sticky bit that stops them renaming ours."""
    return bool(st.st_mode & 0o022) and not st.st_mode & stat.S_ISVTX


def _warn_if_exposed(path: Path, what: str, stacklevel: int) -> None:
    """Warn when ``path`` (a key file, or a folder of them) is open to other users: a key
    file readable by them, or a folder writable by them (they could replace its keys).
    Nothing is changed: the file may be the user's own, shared on purpose."""
    try:
        st = path.stat()
    except OSError:
        return
    folder = stat.S_ISDIR(st.st_mode)
    if _others_can_replace(st) if folder else st.st_mode & 0o077:
        fix = "chmod go-w" if folder else "chmod 600"
        warnings.warn(f"{what} {path} is open to other users (mode {st.st_mode & 0o777:04o}); "
                      f"run: {fix} {path}", InsecureCredentialsWarning, stacklevel=stacklevel + 1)


_HEX_SEPARATORS = re.compile(r"[\s:_-]+")
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]{22,}={0,2}")


def _looks_like_key(text: str) -> bool:
    """Is a value given as a path really key material? A PEM (or its body), hex (with a
    ``0x`` or in groups), or base64 of 16 bytes or more, which is how keys are put into
    environment variables and secrets. A base64-like value is still taken for a path where
    it has an extension or a directory part that exists ("keys/prod-signing-key")."""
    t = text.strip()
    if "-----BEGIN" in t or "PRIVATE KEY" in t or "\n" in t or len(t) > 512:
        return True
    bare = _HEX_SEPARATORS.sub("", t)
    bare = bare[2:] if bare[:2].lower() == "0x" else bare
    if len(bare) >= 32 and all(c in "0123456789abcdefABCDEF" for c in bare):
        return True
    if _BASE64.fullmatch("".join(t.split())) and "." not in t:
        folder = os.path.dirname(os.path.expanduser(t))
        # a root is no evidence: a base64 key may start with "/"
        return not (folder and os.path.dirname(folder) != folder and os.path.isdir(folder))
    return False


def _path_in_message(path: PathLike | bytes, what: str) -> str:
    """``path`` as it may appear in a message: never a value that looks like key material
    (a key given where its file's path was expected)."""
    text = os.fsdecode(path)
    if _looks_like_key(text):
        return "(not shown: the value looks like the key itself; give the path of its file)"
    return text


#: Largest credential file read (a certificate chain, key, watermark key or trust bundle; a
#: system CA bundle is ~0.2 MiB): /dev/zero or a huge file given by mistake grew the process
#: to 24 GB before the kernel killed it (QA, stop 44).
MAX_CREDENTIAL_FILE_BYTES = 16 << 20


def _read_file(path: PathLike, what: str) -> bytes:
    try:
        with open(Path(path).expanduser(), "rb") as f:
            data = f.read(MAX_CREDENTIAL_FILE_BYTES + 1)
        if len(data) > MAX_CREDENTIAL_FILE_BYTES:
            raise CredentialError(f"{what} file {_path_in_message(path, what)} is larger than "
                                  f"{MAX_CREDENTIAL_FILE_BYTES >> 20} MiB: not a {what} file")
        return data
    except FileNotFoundError:
        raise CredentialError(f"{what} file not found: {_path_in_message(path, what)}") from None
    except IsADirectoryError:
        raise CredentialError(f"{what} path is a directory, not a file: {_path_in_message(path, what)}") from None
    except OSError as exc:
        raise CredentialError(f"cannot read {what} file {_path_in_message(path, what)}: {exc.strerror}") from None


def _material(value: bytes | PathLike, what: str) -> bytes:
    """``bytes`` are taken as content, and so is a ``str`` holding a PEM block; any other
    ``str``/``PathLike`` as a path to read (warned when other users can read it)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str) and "-----BEGIN" in value:
        return value.encode("ascii", "replace")
    data = _read_file(value, what)
    if what == "private key":
        _warn_if_exposed(Path(value).expanduser(), what + " file", stacklevel=4)
    return data


def _subject_text(cert: x509.Certificate) -> str:
    def get(oid):
        attrs = cert.subject.get_attributes_for_oid(oid)
        return str(attrs[0].value) if attrs else None

    cn, org = get(NameOID.COMMON_NAME), get(NameOID.ORGANIZATION_NAME)
    if cn and org:
        return f"{cn} ({org})"
    return cn or org or cert.subject.rfc4514_string() or "(empty subject)"


def signer_names(cert_chain_pem: bytes) -> tuple[str, str | None]:
    """(name, organization) of the chain's leaf: the name as ``verify`` reports a manifest's
    signer (C2PA's ``signature_info.common_name``: the subject's common name), and the
    subject's organization, or None."""
    leaf = x509.load_pem_x509_certificates(cert_chain_pem)[0]

    def get(oid):
        attrs = leaf.subject.get_attributes_for_oid(oid)
        return str(attrs[0].value) if attrs else None

    return get(NameOID.COMMON_NAME) or _subject_text(leaf), get(NameOID.ORGANIZATION_NAME)


def _load_private_key(pem: bytes, passphrase: str | bytes | None = None):
    """Parse a PEM private key, decrypting it if needed. Messages never include the key or
    the passphrase."""
    if isinstance(passphrase, str):
        # os.fsencode: a passphrase from the environment that is not UTF-8 comes back as
        # its own bytes (str.encode failed on it, naming one of its characters).
        passphrase = os.fsencode(passphrase)
    if b"-----BEGIN" not in pem or b"PRIVATE KEY-----" not in pem:
        raise CredentialError("could not parse the private key: no PEM private key found")
    try:
        return serialization.load_pem_private_key(pem, password=passphrase or None)
    except TypeError as exc:
        text = str(exc).lower()
        if "not encrypted" in text:
            # A passphrase was given for an unencrypted key: harmless, ignore it.
            return _load_private_key(pem, None)
        raise CredentialError(
            "the private key is encrypted: set SYNTHLABEL_KEY_PASSPHRASE (the library: load_credentials(passphrase=...))"
        ) from None
    except ValueError:
        if passphrase:
            raise CredentialError(
                "could not decrypt the private key: wrong passphrase?"
            ) from None
        raise CredentialError(
            "could not parse the private key PEM (unsupported or corrupt key)"
        ) from None
    except UnsupportedAlgorithm:
        raise CredentialError("could not parse the private key: unsupported key algorithm") from None


def _pkcs8(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_certs(pem: bytes, what: str = "certificate chain") -> list[x509.Certificate]:
    if b"-----BEGIN CERTIFICATE-----" not in pem:
        raise CertificateError("parse", f"could not parse the {what}: no PEM certificate found")
    try:
        return x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise CertificateError("parse", f"could not parse the {what}: malformed PEM certificate") from None


def read_watermark_key(path: PathLike) -> bytes:
    """Read a watermark key file: 64 hex digits (whitespace anywhere ignored) or exactly 32
    raw bytes."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"the watermark key file is given by its path (str or os.PathLike), "
                        f"got {type(path).__name__}")
    raw = _read_file(path, "watermark key")
    _warn_if_exposed(Path(path).expanduser(), "watermark key file", stacklevel=2)
    text = b"".join(raw.split())
    if len(text) == 2 * WATERMARK_KEY_BYTES:
        try:
            return bytes.fromhex(text.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            pass
    if len(raw) == WATERMARK_KEY_BYTES:
        return raw
    raise CredentialError(
        f"watermark key file {_path_in_message(path, 'watermark key')} must hold 64 hex digits or 32 raw bytes "
        f"({WATERMARK_KEY_BYTES * 8}-bit key)"
    )


# --------------------------------------------------------------------------- certificate check


def signing_algorithm(private_key_pem: bytes) -> str:
    """The c2pa signing algorithm name for a key: ``es256``/``es384``/``es512`` for EC
    P-256/384/521, ``ps256`` for RSA, ``ed25519``."""
    return _alg_for(_load_private_key(private_key_pem))


def _alg_for(key) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        curve = key.curve.name
        alg = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}.get(curve)
        if alg is None:
            raise CertificateError(
                "key-type",
                f"unsupported EC curve {curve}: c2pa signs with P-256, P-384 or P-521",
            )
        return alg
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise CertificateError(
                "rsa-size", f"RSA key is {key.key_size} bits; c2pa requires at least 2048"
            )
        return "ps256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    raise CertificateError(
        "key-type",
        f"unsupported key type {type(key).__name__.lstrip('_')}: use EC P-256/P-384/P-521, "
        "RSA >= 2048 bits or Ed25519",
    )


def _spki(public_key) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _ext(cert: x509.Certificate, cls):
    try:
        return cert.extensions.get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return None


def check_signing_certificate(
    cert_chain_pem: bytes, private_key_pem: bytes, *, now: _dt.datetime | None = None
) -> None:
    """Refuse, before signing, a certificate chain or key that c2pa would reject (where c2pa
    itself only says "the certificate is invalid"). Raises :class:`CertificateError` naming
    the failed rule, or :class:`CredentialError` for an unreadable key.

    Rules (each verified against c2pa-python 0.38 / c2pa-rs 0.91):

    - key type: EC P-256/384/521, RSA, Ed25519 (secp256k1 and others are rejected);
    - RSA keys >= 2048 bits;
    - the private key matches the leaf (first) certificate;
    - validity window includes ``now``;
    - the leaf is not a CA (BasicConstraints CA=true or KeyUsage keyCertSign);
    - KeyUsage present with digitalSignature (c2pa-rs rejects a leaf with no KeyUsage; it
      tolerates one without digitalSignature, but the C2PA spec requires it, so we refuse);
    - ExtendedKeyUsage contains emailProtection (see the message for documentSigning / C2PA);
    - the leaf has an AuthorityKeyIdentifier;
    - the leaf is signed with SHA-256/384/512 (or Ed25519);
    - the chain is ordered leaf first, each certificate issued by the next;
    - the chain holds certificates only: c2pa copies the file into every manifest, so a
      private key bundled with it (``cat cert.pem key.pem``) would be published.
    """
    if _PEM_KEY_BLOCK.search(cert_chain_pem):
        raise CertificateError(
            "key-in-chain",
            "the certificate chain file also holds a private key, which c2pa would copy into "
            "every manifest it signs: keep the chain to certificates (leaf first) and the key "
            "in its own file")
    certs = _load_certs(cert_chain_pem)
    leaf = certs[0]
    key = _load_private_key(private_key_pem)
    _alg_for(key)  # key-type / rsa-size

    if _spki(key.public_key()) != _spki(leaf.public_key()):
        hint = ""
        if any(_spki(c.public_key()) == _spki(key.public_key()) for c in certs[1:]):
            hint = " (it matches a later certificate: put the leaf first)"
        raise CertificateError(
            "key-mismatch",
            f"the private key does not match the leaf certificate {_subject_text(leaf)!r}{hint}",
        )

    now = now or _now()
    if now.tzinfo is None:
        now = now.replace(tzinfo=_dt.timezone.utc)
    if now < leaf.not_valid_before_utc:
        raise CertificateError(
            "validity",
            f"the leaf certificate is not yet valid (notBefore {leaf.not_valid_before_utc:%Y-%m-%d %H:%M:%SZ})",
        )
    if now > leaf.not_valid_after_utc:
        raise CertificateError(
            "validity",
            f"the leaf certificate has expired (notAfter {leaf.not_valid_after_utc:%Y-%m-%d %H:%M:%SZ})",
        )

    bc = _ext(leaf, x509.BasicConstraints)
    ku = _ext(leaf, x509.KeyUsage)
    if bc is not None and bc.ca:
        raise CertificateError(
            "ca-leaf",
            "the leaf certificate is a CA (BasicConstraints CA=true); c2pa signs only with an "
            "end-entity certificate issued by a CA",
        )
    if ku is not None and ku.key_cert_sign:
        raise CertificateError(
            "ca-leaf",
            "the leaf certificate has KeyUsage keyCertSign (a CA usage); c2pa signs only with "
            "an end-entity certificate",
        )
    if ku is None:
        raise CertificateError(
            "key-usage", "the leaf certificate has no KeyUsage extension; c2pa requires digitalSignature"
        )
    if not ku.digital_signature:
        raise CertificateError(
            "key-usage", "the leaf certificate's KeyUsage lacks digitalSignature, which C2PA requires"
        )

    eku = _ext(leaf, x509.ExtendedKeyUsage)
    if eku is None:
        raise CertificateError("eku", f"the leaf certificate has no ExtendedKeyUsage; {_EKU_HINT}")
    oids = list(eku)
    if EKU_EMAIL not in oids:
        names = ", ".join(o.dotted_string for o in oids) or "none"
        raise CertificateError(
            "eku", f"unsupported ExtendedKeyUsage ({names}); {_EKU_HINT}"
        )
    if ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in oids:
        raise CertificateError("eku", "anyExtendedKeyUsage is not allowed on a C2PA signer")

    if _ext(leaf, x509.AuthorityKeyIdentifier) is None:
        raise CertificateError(
            "aki", "the leaf certificate has no AuthorityKeyIdentifier extension, which c2pa requires"
        )

    for cert in certs:
        h = cert.signature_hash_algorithm
        if h is not None and not isinstance(h, (hashes.SHA256, hashes.SHA384, hashes.SHA512)):
            raise CertificateError(
                "signature-hash",
                f"certificate {_subject_text(cert)!r} is signed with {h.name}; use SHA-256 or stronger",
            )

    for child, parent in zip(certs, certs[1:]):
        if child.issuer != parent.subject:
            raise CertificateError(
                "chain-order",
                f"certificate {_subject_text(child)!r} is not issued by the next certificate in "
                "the chain; order it leaf first, then each issuer",
            )


# --------------------------------------------------------------------------- trust anchors


def load_trust_anchors(paths: PathLike | Iterable[PathLike] | None) -> bytes:
    """Read trust anchors into one PEM bundle. ``paths``: one path, an ``os.pathsep``-separated
    string, or an iterable of paths; a directory contributes its ``*.pem``/``*.crt`` files; a
    string holding a PEM block is the certificates themselves.
    Every file must hold at least one PEM certificate. Duplicates are dropped."""
    if paths is None:
        return b""
    if isinstance(paths, str) and "-----BEGIN" in paths:
        # PEM text itself, as SYNTHLABEL_CERT_CHAIN takes it (it was opened as a file name,
        # and the error quoted the whole value)
        try:
            certs = _load_certs(paths.encode("ascii", "replace"), "trust anchors")
        except CertificateError as exc:
            raise CredentialError(str(exc).split(": ", 1)[-1]) from None
        return _merge_pem(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
    if isinstance(paths, (str, os.PathLike)):
        items = [p for p in os.fspath(paths).split(os.pathsep) if p.strip()]
    else:
        items = []
        for p in paths:
            items.extend(q for q in os.fspath(p).split(os.pathsep) if q.strip())
    files: list[Path] = []
    for item in items:
        p = Path(item).expanduser()
        if p.is_dir():
            found = sorted([*p.glob("*.pem"), *p.glob("*.crt")])
            if not found:
                raise CredentialError(f"trust anchor directory {p} has no *.pem or *.crt files")
            files.extend(found)
        else:
            files.append(p)
    out: list[bytes] = []
    seen: set[bytes] = set()
    for f in files:
        data = _read_file(f, "trust anchor")
        try:
            certs = _load_certs(data, f"trust anchor file {f}")
        except CertificateError as exc:
            raise CredentialError(str(exc).split(": ", 1)[-1]) from None
        for c in certs:
            pem = c.public_bytes(serialization.Encoding.PEM)
            if pem not in seen:
                seen.add(pem)
                out.append(pem)
    return b"".join(out)


def _merge_pem(*bundles: bytes) -> bytes:
    out, seen = [], set()
    for bundle in bundles:
        if not bundle:
            continue
        for c in x509.load_pem_x509_certificates(bundle):
            pem = c.public_bytes(serialization.Encoding.PEM)
            if pem not in seen:
                seen.add(pem)
                out.append(pem)
    return b"".join(out)


# --------------------------------------------------------------------------- dev credentials


def _name(cn: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, DEV_ORG),
    ])


def _generate_dev_material() -> dict[str, bytes]:
    now = _now()
    start = now - _dt.timedelta(hours=1)   # tolerate small clock skew
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name(DEV_ROOT_CN)
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(now + _dt.timedelta(days=365 * DEV_ROOT_YEARS + 5))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), False)
        .sign(root_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(DEV_SIGNER_CN))
        .issuer_name(root_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(now + _dt.timedelta(days=365 * DEV_LEAF_YEARS + 2))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([EKU_EMAIL]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), False)
        .sign(root_key, hashes.SHA256())
    )
    del root_key  # deliberately not kept: see the module docstring
    pem = serialization.Encoding.PEM
    return {
        DEV_ROOT: root.public_bytes(pem),
        DEV_CHAIN: leaf.public_bytes(pem),
        DEV_KEY: _pkcs8(leaf_key),
        DEV_WM_KEY: secrets.token_bytes(WATERMARK_KEY_BYTES).hex().encode("ascii") + b"\n",
    }


def _dev_complete(dev: Path) -> bool:
    return all((dev / n).is_file() for n in (DEV_ROOT, DEV_CHAIN, DEV_KEY, DEV_WM_KEY))


def _warn_created(dev: Path, stacklevel: int) -> None:
    warnings.warn(
        f"created DEVELOPMENT signing credentials in {dev}: C2PA manifests signed with them "
        "are trusted only where this development root is configured as a trust anchor; "
        "configure a real certificate (SYNTHLABEL_CERT_CHAIN, SYNTHLABEL_PRIVATE_KEY, "
        "SYNTHLABEL_WATERMARK_KEY) for production",
        DevelopmentCredentialsWarning,
        stacklevel=stacklevel,
    )


def _create_dev(home: Path, *, force: bool, stacklevel: int) -> tuple[Path, bool, Path | None]:
    """Create ``home/dev`` atomically. Returns (dir, created_by_us, where the set it replaced
    is kept). ``force``: replace an existing set, which is kept beside it as
    ``dev.replaced-<UTC time>`` (it was deleted, and its watermark key with it: nothing
    labeled with that key could be read again)."""
    _ensure_private_dir(home)
    dev = home / DEV_DIR
    kept = None
    if dev.exists() and not force:
        return dev, False, None
    material = _generate_dev_material()
    tmp = Path(tempfile.mkdtemp(prefix=".dev-", dir=home))  # mode 0700
    try:
        os.chmod(tmp, 0o700)
        for name, data in material.items():
            # Certificates are public, but 0600 for every file keeps the rule simple.
            _write_new_private(tmp / name, data, 0o600)
        if force and dev.exists():
            old = Path(tempfile.mkdtemp(prefix=".dev-old-", dir=home))
            os.rename(dev, old / DEV_DIR)
            try:
                os.rename(tmp, dev)
            except BaseException:
                os.rename(old / DEV_DIR, dev)
                raise
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            n = 1
            while True:                           # (its files keep their 0600)
                kept = home / (f"{DEV_DIR}.replaced-{stamp}" + ("" if n == 1 else f"-{n}"))
                try:
                    if not kept.exists():
                        os.rename(old / DEV_DIR, kept)
                        break
                except OSError as exc:
                    # another replacement took the name between the look and the rename (two
                    # `keys init --force` at once: ours was stranded in a hidden folder)
                    if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                        raise
                n += 1
            os.rmdir(old)
        else:
            try:
                os.rename(tmp, dev)
            except OSError:
                # Lost a race with another process: theirs wins, ours is discarded.
                if dev.exists():
                    shutil.rmtree(tmp, ignore_errors=True)
                    return dev, False, None
                raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _warn_created(dev, stacklevel + 1)
    return dev, True, kept


def init_dev_credentials(home: Path | None = None, *, force: bool = False) -> Path:
    """Create development credentials in ``home/dev`` (``synthlabel keys init``) and return the
    directory. Refuses to replace existing ones unless ``force`` (see
    :func:`replace_dev_credentials`, which also says where the old ones are kept). Emits one
    :class:`DevelopmentCredentialsWarning`."""
    return _init_dev(home, force, stacklevel=4)[0]


def replace_dev_credentials(home: Path | None = None) -> tuple[Path, Path | None]:
    """``init_dev_credentials(home, force=True)``, returning also the folder the replaced set
    is kept in (None when there was none): its watermark key still reads what was labeled
    with it, its root still trusts what it signed."""
    return _init_dev(home, True, stacklevel=4)


def _init_dev(home: Path | None, force: bool, stacklevel: int) -> tuple[Path, Path | None]:
    home = Path(home).expanduser() if home is not None else default_home()
    dev = home / DEV_DIR
    if dev.exists() and not force:
        raise CredentialError(
            f"development credentials already exist in {dev}; use --force to replace them "
            "(the old ones are kept beside them: what was labeled with them is read with their "
            "watermark key and trusted against their root only)"
        )
    try:
        dev, _, kept = _create_dev(home, force=force, stacklevel=stacklevel)  # at our caller's caller
    except OSError as exc:
        # as when labeling creates them (a raw "[Errno 1] ... /home/.dev-4j_jy14r" before)
        raise _home_unavailable(home, exc) from None
    return dev, kept


def _home_shown(home: Path) -> str:
    """``home`` as messages give it: never a value holding key material (only a PEM's marks
    count here: a folder's path can look like base64, where a key file's path would not)."""
    text = os.fsdecode(home)
    if "-----BEGIN" in text or "PRIVATE KEY" in text or "\n" in text:
        return "(not shown: it holds key material)"
    return text


def _home_unavailable(home: Path, exc: OSError) -> HomeUnavailableError:
    return HomeUnavailableError(
        f"cannot create development credentials in {_home_shown(home)} ({exc.strerror or exc}); "
        f"set {ENV_HOME} to a writable folder, or configure your own credentials")


def _dev_credentials(home: Path, create: bool = True, *,
                     watermark: bool = True) -> tuple[bytes, bytes, bytes | None, bytes]:
    """(chain, private key, watermark key (None unless ``watermark``), root) of the
    development credentials under ``home``."""
    dev = home / DEV_DIR
    if not dev.exists() and not create:
        raise HomeUnavailableError(f"no development credentials in {_home_shown(home)}")
    if not dev.exists():
        try:
            dev, _, _ = _create_dev(home, force=False, stacklevel=4)  # at load_credentials' caller
        except OSError as exc:
            raise _home_unavailable(home, exc) from None
    if not _dev_complete(dev):
        raise CredentialError(
            f"development credentials in {dev} are incomplete; run 'synthlabel keys init --force'"
        )
    for path, what in ((home, "synthlabel home"), (dev, "development credentials folder"),
                       (dev / DEV_KEY, "development signing key")):
        _warn_if_exposed(path, what, stacklevel=4)
    chain, root = (dev / DEV_CHAIN).read_bytes(), (dev / DEV_ROOT).read_bytes()
    for pem, name in ((chain, DEV_CHAIN), (root, DEV_ROOT)):
        _check_certificates(pem, dev / name)
    wm = read_watermark_key(dev / DEV_WM_KEY) if watermark else None
    return chain, (dev / DEV_KEY).read_bytes(), wm, root


def _check_certificates(pem: bytes, path: Path) -> None:
    """A development certificate file must hold PEM certificates: a damaged one gave
    cryptography's own message without the file's name, and an empty root silently made
    every manifest untrusted."""
    try:
        certs = x509.load_pem_x509_certificates(pem) if pem.strip() else []
    except ValueError:
        certs = None
    if not certs:
        raise CredentialError(
            f"{path}: {'empty' if certs == [] else 'not a PEM certificate file'} (damaged "
            f"development credentials); run 'synthlabel keys init --force' to make new ones")


# --------------------------------------------------------------------------- loading


def resolved(credentials: Credentials | None, *, signing: bool = False) -> Credentials:
    """``credentials``, or the configured ones (:func:`load_credentials`) when None. Anything
    else is a TypeError naming what was given (a path or a name had failed later, as
    "'str' object has no attribute 'watermark_key'"). ``signing``: they are to label with, so
    credentials loaded for verifying (``signing=False``) without a private or a watermark key
    are a CredentialError saying so (not "key must be bytes, got NoneType")."""
    if credentials is None:
        return load_credentials()
    if not isinstance(credentials, Credentials):
        raise TypeError(f"credentials must be a Credentials from load_credentials(), got "
                        f"{type(credentials).__name__}")
    if signing and (not credentials.private_key_pem or credentials.watermark_key is None):
        missing = "private key" if not credentials.private_key_pem else "watermark key"
        raise CredentialError(f"these credentials cannot label: they hold no {missing} (loaded "
                              "for verifying, signing=False); use load_credentials()")
    return credentials


def given_trust_anchors(trust_anchors: PathLike | Iterable[PathLike] | None = None,
                        env: Mapping[str, str] | None = None) -> bytes:
    """Only the trust anchors given: ``trust_anchors``, else the ones SYNTHLABEL_TRUST_ANCHORS
    names (``env``, None: ``os.environ``); no configured or development root. What ``verify
    --no-default-trust`` and verifying without credentials of this machine trust."""
    env = os.environ if env is None else env
    given = trust_anchors
    if given is not None and not isinstance(given, (str, os.PathLike)):
        given = list(given) or None
    return load_trust_anchors(given if given is not None else env.get(ENV_TRUST_ANCHORS) or None)


def verifying_without_home(*, watermark_key_file: PathLike | None = None,
                           trust_anchors: PathLike | Iterable[PathLike] | None = None,
                           env: Mapping[str, str] | None = None) -> Credentials:
    """Credentials to verify with where this machine has none (:func:`load_credentials` raised
    :class:`HomeUnavailableError`; verify never creates development ones): the watermark key
    ``watermark_key_file``, else the one SYNTHLABEL_WATERMARK_KEY names (neither: None, the
    watermark cannot be checked), and :func:`given_trust_anchors`. Nothing to sign with."""
    env = os.environ if env is None else env
    wm_src = watermark_key_file if watermark_key_file is not None else env.get(ENV_WATERMARK_KEY) or None
    return Credentials(cert_chain_pem=b"", private_key_pem=b"",
                       watermark_key=read_watermark_key(wm_src) if wm_src is not None else None,
                       trust_anchors_pem=given_trust_anchors(trust_anchors, env),
                       is_development=False, signer_subject="")



def _hide_passphrase(exc: CredentialError, secret: str | bytes | None) -> None:
    """Cut the passphrase out of ``exc``'s message, in place (type and attributes kept): one
    set where a path belongs (SYNTHLABEL_PRIVATE_KEY=<the passphrase>) was printed back as
    the file "not found"."""
    if isinstance(secret, bytes):
        secret = secret.decode("utf-8", "replace")
    if secret and len(secret) >= 4 and any(secret in str(a) for a in exc.args):
        exc.args = tuple(str(a).replace(secret, "(the passphrase: not shown)") for a in exc.args)


def load_credentials(
    *,
    home: PathLike | None = None,
    cert_chain: bytes | PathLike | None = None,
    private_key: bytes | PathLike | None = None,
    passphrase: str | bytes | None = None,
    watermark_key_file: PathLike | None = None,
    trust_anchors: PathLike | Iterable[PathLike] | None = None,
    env: Mapping[str, str] | None = None,
    create: bool = True,
    signing: bool = True,
) -> Credentials:
    """Resolve credentials: explicit arguments > environment variables > development
    credentials (created on first use; with ``create=False`` their absence raises
    :class:`HomeUnavailableError`). ``cert_chain``/``private_key`` are paths, or PEM bytes.

    Raises :class:`CredentialError` when only one of certificate and key is configured, when a
    production certificate has no watermark key, or when anything cannot be read/decrypted, and
    :class:`CertificateError` when the certificate would be rejected by c2pa.
    ``signing=False`` (verifying): nothing is signed, so a private key that does not load, or
    is not configured, is no error (a corrupt key file stopped ``verify`` altogether), and
    ``private_key_pem`` is then empty; a production certificate without a watermark key gives
    ``watermark_key=None`` (the watermark cannot be checked; the other layers can).
    ``env``: the environment to read (None: ``os.environ``; not a default argument value,
    which ``help()`` would print, secrets and all).
    """
    env = os.environ if env is None else env
    if home is not None and not isinstance(home, (str, os.PathLike)):
        # (pathlib's "expected str, bytes or os.PathLike object, not int" did not name it)
        raise TypeError(f"home must be a path (str or os.PathLike), got {type(home).__name__}")
    # (in this frame, not a wrapper: warnings point at the caller by a fixed stacklevel)
    try:
        home_path = Path(home).expanduser() if home is not None else default_home(env)

        cert_src = cert_chain if cert_chain is not None else env.get(ENV_CERT_CHAIN) or None
        key_src = private_key if private_key is not None else env.get(ENV_PRIVATE_KEY) or None
        if passphrase is None:
            passphrase = env.get(ENV_PASSPHRASE) or None
        wm_src = watermark_key_file if watermark_key_file is not None else env.get(ENV_WATERMARK_KEY) or None

        anchors_cfg = load_trust_anchors(env.get(ENV_TRUST_ANCHORS) or None)
        anchors_arg = load_trust_anchors(trust_anchors)

        if not signing and cert_src is None:
            key_src = None              # verifying: a key without its certificate signs nothing
        if signing and (cert_src is None) != (key_src is None):
            # (named as the command line and the environment give them; private_key= and
            # cert_chain= in the library)
            missing = "private key (--private-key or SYNTHLABEL_PRIVATE_KEY)" if key_src is None else \
                "certificate chain (--cert-chain or SYNTHLABEL_CERT_CHAIN)"
            raise CredentialError(
                f"a signing certificate and its private key go together: the {missing} is not configured"
            )

        def signing_key(chain_pem: bytes, load_key: Callable[[], Any], where: str) -> bytes:
            try:
                try:
                    key_pem = _pkcs8(load_key())
                except CredentialError as exc:
                    if where not in str(exc):          # name the file, as the other errors do
                        raise CredentialError(f"{where}: {exc}") from None
                    raise
                check_signing_certificate(chain_pem, key_pem)
            except CredentialError:
                if signing:
                    raise
                return b""
            return key_pem

        if cert_src is not None:
            chain_pem = _material(cert_src, "certificate chain")
            key_pem = b"" if key_src is None else signing_key(chain_pem, lambda: _load_private_key(
                _material(key_src, "private key"), passphrase),
                _path_in_message(key_src, "private key") if not isinstance(key_src, bytes) else "private key")
            if wm_src is None and signing:
                raise CredentialError(
                    "a production signing certificate needs a watermark key too (also with "
                    "--no-watermark: an input's earlier mark is read with it, to keep its "
                    "content ID): give --watermark-key FILE or set SYNTHLABEL_WATERMARK_KEY, "
                    "a file with 64 hex digits (or 32 raw bytes), e.g. created with: "
                    "python -c \"import secrets; print(secrets.token_hex(32))\""
                )
            wm_key = read_watermark_key(wm_src) if wm_src is not None else None
            anchors = _merge_pem(anchors_cfg, anchors_arg)
            is_dev = False
        else:
            # the development watermark key is not read where another is given (a damaged
            # one stopped verify --watermark-key)
            chain_pem, dev_key_pem, dev_wm, dev_root = _dev_credentials(
                home_path, create, watermark=wm_src is None)
            key_pem = signing_key(chain_pem, lambda: _load_private_key(dev_key_pem),
                                  os.fspath(home_path / DEV_DIR / DEV_KEY))
            wm_key = read_watermark_key(wm_src) if wm_src is not None else dev_wm
            anchors = _merge_pem(dev_root, anchors_cfg, anchors_arg)
            is_dev = True

        leaf = x509.load_pem_x509_certificates(chain_pem)[0]
        return Credentials(
            cert_chain_pem=chain_pem,
            private_key_pem=key_pem,
            watermark_key=wm_key,
            trust_anchors_pem=anchors,
            is_development=is_dev,
            signer_subject=_subject_text(leaf),
        )
    except CredentialError as exc:
        _hide_passphrase(exc, passphrase if passphrase is not None else env.get(ENV_PASSPHRASE))
        raise
