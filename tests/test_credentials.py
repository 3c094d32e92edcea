"""Credentials: development credentials on first use, loading production credentials, and the
certificate rules, each checked against real c2pa (no mocks)."""
from __future__ import annotations

import datetime as dt
import io
import os
import stat
import warnings
from pathlib import Path

import c2pa
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier
from PIL import Image

from synthlabel.models import AIGCLabel, ContentID
from synthlabel.provenance import c2pa_io
from synthlabel.provenance.credentials import (
    InsecureCredentialsWarning,
    DEV_SIGNER_CN,
    CertificateError,
    CredentialError,
    Credentials,
    DevelopmentCredentialsWarning,
    check_signing_certificate,
    init_dev_credentials,
    replace_dev_credentials,
    load_credentials,
    load_trust_anchors,
)

ENV_VARS = ("SYNTHLABEL_CERT_CHAIN", "SYNTHLABEL_PRIVATE_KEY", "SYNTHLABEL_KEY_PASSPHRASE",
            "SYNTHLABEL_WATERMARK_KEY", "SYNTHLABEL_TRUST_ANCHORS")
PASSPHRASE = "correct-horse-battery-staple-91"


# --------------------------------------------------------------------------- helpers


def make_chain(*, key=None, eku=(ExtendedKeyUsageOID.EMAIL_PROTECTION,), ca_leaf=False,
               key_cert_sign=False, aki=True, digital_signature=True, key_usage=True,
               not_before=None, not_after=None):
    """(chain PEM leaf+root, leaf key PKCS#8 PEM, root PEM, leaf key object)."""
    now = dt.datetime.now(dt.timezone.utc)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Root CA")])
    root = (
        x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name)
        .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=30)).not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), False)
        .sign(root_key, hashes.SHA256())
    )
    leaf_key = key or ec.generate_private_key(ec.SECP256R1())
    b = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Signer"),
                                 x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Org")]))
        .issuer_name(root_name).public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - dt.timedelta(days=1))
        .not_valid_after(not_after or now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca_leaf, path_length=None), True)
    )
    if key_usage:
        b = b.add_extension(x509.KeyUsage(digital_signature, not digital_signature, False, False,
                                          False, key_cert_sign or ca_leaf, False, False, False), True)
    if eku:
        b = b.add_extension(x509.ExtendedKeyUsage(list(eku)), False)
    if aki:
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), False)
    b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), False)
    leaf = b.sign(root_key, hashes.SHA256())
    pem = serialization.Encoding.PEM
    key_pem = leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
    return leaf.public_bytes(pem) + root.public_bytes(pem), key_pem, root.public_bytes(pem), leaf_key


def pem_body_lines(pem: bytes) -> list[str]:
    return [ln for ln in pem.decode().splitlines() if ln and not ln.startswith("-----")]


def jpeg_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (180, 40, 90)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def manifest() -> dict:
    cid = ContentID(0x0123456789ABCDEF)
    return c2pa_io.build_manifest(aigc=AIGCLabel.create(producer="synthlabel", produce_id=cid.hex),
                                  content_id=cid, watermark_alg="org.synthlabel.wm.image.v1",
                                  title="t.jpg")


def raw_c2pa_sign(chain: bytes, key_pem: bytes, alg: str = "es256") -> bytes:
    """Sign with c2pa directly, bypassing synthlabel's pre-check."""
    ctx = c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": False}},
                                  "verify": {"remote_manifest_fetch": False}})
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(alg, chain, key_pem, None))
    out = io.BytesIO()
    with c2pa.Builder(manifest(), context=ctx) as builder:
        builder.sign(signer, "image/jpeg", io.BytesIO(jpeg_bytes()), out)
    signer.close()
    return out.getvalue()


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.fixture
def home(tmp_path, monkeypatch):
    h = tmp_path / "slhome"
    monkeypatch.setenv("SYNTHLABEL_HOME", str(h))
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    return h


@pytest.fixture
def prod_files(tmp_path):
    chain, key_pem, root, key = make_chain()
    d = tmp_path / "prod"
    d.mkdir()
    (d / "chain.pem").write_bytes(chain)
    (d / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSPHRASE.encode())))
    (d / "plain.key").write_bytes(key_pem)
    (d / "root.pem").write_bytes(root)
    (d / "wm.key").write_text("ab" * 32 + "\n")
    for name in ("key.pem", "plain.key", "wm.key"):     # as key files should be (else warned)
        os.chmod(d / name, 0o600)
    return d


def dev_warnings(caught) -> list:
    return [w for w in caught if issubclass(w.category, DevelopmentCredentialsWarning)]


# --------------------------------------------------------------------------- dev credentials


def test_dev_credentials_created_on_first_use(home):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        creds = load_credentials()
    assert len(dev_warnings(caught)) == 1
    assert "DEVELOPMENT" in str(dev_warnings(caught)[0].message)

    dev = home / "dev"
    assert mode(home) == 0o700 and mode(dev) == 0o700
    for name in ("root-ca.pem", "signer-chain.pem", "signer.key", "watermark.key"):
        assert mode(dev / name) == 0o600, name
    assert not (dev / "root-ca.key").exists()  # root key deliberately discarded
    assert not [p for p in home.iterdir() if p.name.startswith(".dev")]  # no temp leftovers

    assert creds.is_development
    assert DEV_SIGNER_CN in creds.signer_subject and "not for production" in creds.signer_subject
    assert len(creds.watermark_key) == 32
    assert bytes.fromhex((dev / "watermark.key").read_text().strip()) == creds.watermark_key
    assert (dev / "root-ca.pem").read_bytes() in creds.trust_anchors_pem
    assert b"BEGIN PRIVATE KEY" in creds.private_key_pem
    check_signing_certificate(creds.cert_chain_pem, creds.private_key_pem)

    leaf = x509.load_pem_x509_certificates(creds.cert_chain_pem)[0]
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc > dt.timedelta(days=3650)
    assert isinstance(leaf.public_key(), ec.EllipticCurvePublicKey)
    assert leaf.public_key().curve.name == "secp256r1"

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = load_credentials()
    assert dev_warnings(caught) == []
    assert again == creds


def test_keys_init_refuses_overwrite(home):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = init_dev_credentials(home)
    assert path == home / "dev" and len(dev_warnings(caught)) == 1
    root = (path / "root-ca.pem").read_bytes()
    with pytest.raises(CredentialError, match="already exist.*--force"):
        init_dev_credentials(home)
    assert (path / "root-ca.pem").read_bytes() == root
    wm = (path / "watermark.key").read_bytes()
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        init_dev_credentials(home, force=True)
    assert (path / "root-ca.pem").read_bytes() != root
    assert mode(path) == 0o700 and mode(path / "signer.key") == 0o600
    # the replaced set is kept, private as it was: its watermark key was deleted, and what it
    # had marked could never be read again
    names = sorted(p.name for p in home.iterdir())
    assert names[0] == "dev" and len(names) == 2 and names[1].startswith("dev.replaced-"), names
    kept = home / names[1]
    assert (kept / "watermark.key").read_bytes() == wm and (kept / "root-ca.pem").read_bytes() == root
    assert mode(kept / "watermark.key") == 0o600 and mode(kept / "signer.key") == 0o600
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        again, second = replace_dev_credentials(home)
    assert again == path and second is not None and second != kept and second.exists()


def test_incomplete_dev_dir_is_reported(home):
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        dev = init_dev_credentials(home)
    (dev / "signer.key").unlink()
    with pytest.raises(CredentialError, match="incomplete.*keys init --force"):
        load_credentials()


def test_damaged_dev_certificates_are_named(home):
    """A damaged root-ca.pem or signer-chain.pem gave cryptography's message without the
    file's name; an empty root-ca.pem was taken silently, and every manifest then verified
    as untrusted."""
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        dev = init_dev_credentials(home)
    for name, content, why in [("root-ca.pem", b"garbage\n", "not a PEM certificate file"),
                               ("root-ca.pem", b"", "empty"),
                               ("signer-chain.pem", b"garbage\n", "not a PEM certificate file")]:
        good = (dev / name).read_bytes()
        (dev / name).write_bytes(content)
        with pytest.raises(CredentialError, match=f"^{dev / name}: {why} .*keys init --force"):
            load_credentials()
        (dev / name).write_bytes(good)
    assert load_credentials().is_development


def test_unwritable_home_says_what_to_do(tmp_path):
    """Development credentials that cannot be created (a read-only container, a home that is
    a file) give one line naming the folder and the fix, not a bare OS error."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(CredentialError) as ei:
        load_credentials(home=blocker / "home", env={})
    msg = str(ei.value)
    assert str(blocker / "home") in msg and "SYNTHLABEL_HOME" in msg and "\n" not in msg
    # `keys init` (with --force or not) says the same: it gave a raw "[Errno 20] ... .dev-x"
    for force in (False, True):
        with pytest.raises(CredentialError) as ei:
            init_dev_credentials(blocker / "home", force=force)
        msg = str(ei.value)
        assert msg.startswith(f"cannot create development credentials in {blocker / 'home'}") \
            and "SYNTHLABEL_HOME" in msg and ".dev-" not in msg, msg


def test_home_that_is_a_file_and_a_corrupt_signing_key(home, tmp_path):
    """``keys init`` with a home that is a file leaked an internal temp path ("Not a
    directory: '.../.dev-mlhucb5e'"). A corrupt signer.key stopped ``verify``, which signs
    nothing, and the error did not name the file."""
    blocker = tmp_path / "homefile"
    blocker.write_text("x")
    with pytest.raises(CredentialError, match=f"^{blocker} is not a folder") as ei:
        init_dev_credentials(blocker)
    assert ".dev-" not in str(ei.value)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        dev = init_dev_credentials(home)
    good = load_credentials()
    (dev / "signer.key").write_text("-----BEGIN PRIVATE KEY-----\nZ2FyYmFnZQ==\n"
                                    "-----END PRIVATE KEY-----\n")
    with pytest.raises(CredentialError, match=f"^{dev / 'signer.key'}: could not parse"):
        load_credentials()
    verifying = load_credentials(create=False, signing=False)
    assert verifying.watermark_key == good.watermark_key and verifying.private_key_pem == b""
    assert verifying.trust_anchors_pem == good.trust_anchors_pem


def test_no_key_material_in_repr_or_errors(home):
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        creds = load_credentials()
    text = repr(creds) + str(creds)
    for line in pem_body_lines(creds.private_key_pem):
        assert line not in text
    assert creds.watermark_key.hex() not in text
    assert "redacted" in text and "DEVELOPMENT" in text

    # A key that does not match the certificate: the error names the rule, not the key.
    other_chain, other_key, _, _ = make_chain()
    with pytest.raises(CertificateError) as ei:
        check_signing_certificate(other_chain, creds.private_key_pem)
    for line in pem_body_lines(creds.private_key_pem) + pem_body_lines(other_key):
        assert line not in str(ei.value)


# --------------------------------------------------------------------------- production


def test_passphrase_protected_key(home, prod_files, monkeypatch):
    monkeypatch.setenv("SYNTHLABEL_CERT_CHAIN", str(prod_files / "chain.pem"))
    monkeypatch.setenv("SYNTHLABEL_PRIVATE_KEY", str(prod_files / "key.pem"))
    monkeypatch.setenv("SYNTHLABEL_KEY_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("SYNTHLABEL_WATERMARK_KEY", str(prod_files / "wm.key"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        creds = load_credentials()
    assert dev_warnings(caught) == [] and not (home / "dev").exists()
    assert not creds.is_development
    assert creds.signer_subject == "Test Signer (Example Org)"
    assert creds.watermark_key == bytes.fromhex("ab" * 32)
    assert b"BEGIN PRIVATE KEY" in creds.private_key_pem and b"ENCRYPTED" not in creds.private_key_pem
    # The chain's own root is not trusted implicitly, and the dev root never in production.
    assert creds.trust_anchors_pem == b""
    assert PASSPHRASE not in repr(creds)

    with_anchor = load_credentials(trust_anchors=[prod_files / "root.pem"])
    assert with_anchor.trust_anchors_pem == (prod_files / "root.pem").read_bytes()

    monkeypatch.setenv("SYNTHLABEL_KEY_PASSPHRASE", "not-the-passphrase-xyz")
    with pytest.raises(CredentialError, match="could not decrypt the private key: wrong passphrase") as ei:
        load_credentials()
    assert "not-the-passphrase-xyz" not in str(ei.value) and PASSPHRASE not in str(ei.value)

    monkeypatch.delenv("SYNTHLABEL_KEY_PASSPHRASE")
    with pytest.raises(CredentialError, match="encrypted.*SYNTHLABEL_KEY_PASSPHRASE"):
        load_credentials()

    # Explicit arguments beat the environment.
    creds2 = load_credentials(private_key=prod_files / "plain.key", passphrase=None)
    assert creds2.private_key_pem == creds.private_key_pem


def test_production_needs_watermark_key_and_both_halves(home, prod_files):
    # each names the flag a person types as well as the environment variable
    with pytest.raises(CredentialError, match="needs a watermark key .*--no-watermark.*--watermark-key FILE"):
        load_credentials(cert_chain=prod_files / "chain.pem", private_key=prod_files / "plain.key")
    with pytest.raises(CredentialError, match=r"private key \(--private-key or SYNTHLABEL_PRIVATE_KEY\) is not configured"):
        load_credentials(cert_chain=prod_files / "chain.pem")
    with pytest.raises(CredentialError, match=r"certificate chain \(--cert-chain or SYNTHLABEL_CERT_CHAIN\) is not"):
        load_credentials(private_key=prod_files / "plain.key")
    with pytest.raises(CredentialError, match="not found"):
        load_credentials(cert_chain=prod_files / "nope.pem", private_key=prod_files / "plain.key",
                         watermark_key_file=prod_files / "wm.key")
    (prod_files / "bad.wm").write_text("too short")
    os.chmod(prod_files / "bad.wm", 0o600)
    with pytest.raises(CredentialError, match="64 hex digits or 32 raw bytes"):
        load_credentials(cert_chain=prod_files / "chain.pem", private_key=prod_files / "plain.key",
                         watermark_key_file=prod_files / "bad.wm")
    # Raw 32-byte key files work too.
    (prod_files / "raw.wm").write_bytes(bytes(range(32)))
    os.chmod(prod_files / "raw.wm", 0o600)
    creds = load_credentials(cert_chain=prod_files / "chain.pem", private_key=prod_files / "plain.key",
                             watermark_key_file=prod_files / "raw.wm")
    assert creds.watermark_key == bytes(range(32))


def test_verifying_needs_neither_a_signing_key_nor_a_watermark_key(home, prod_files, monkeypatch):
    """verify stopped (exit 2) where a production certificate was configured without a
    watermark key, or without its private key, though it signs nothing and metadata and C2PA
    need neither; and verify --watermark-key failed on a damaged development key it does not
    use. The watermark is then left unchecked, said."""
    import subprocess
    import sys

    import synthlabel

    creds = load_credentials(cert_chain=prod_files / "chain.pem", signing=False)
    assert creds.watermark_key is None and creds.private_key_pem == b"" and not creds.is_development
    creds = load_credentials(cert_chain=prod_files / "chain.pem", private_key=prod_files / "plain.key",
                             signing=False)
    assert creds.watermark_key is None and creds.private_key_pem
    with pytest.warns(DevelopmentCredentialsWarning):                      # made on first use
        dev = load_credentials()
    labeled = synthlabel.label_image(Image.open(io.BytesIO(jpeg_bytes())), format="png", credentials=dev)
    rep = synthlabel.verify_bytes(labeled.data, credentials=creds)
    assert rep.layers["watermark"].status.value == "skipped" and rep.layers["metadata"].status.value == "ok"
    with pytest.raises(CredentialError, match="no watermark key is configured"):
        synthlabel.verify_bytes(labeled.data, credentials=creds, layers=("watermark",))
    with pytest.raises(CredentialError, match="cannot label: they hold no watermark key"):
        synthlabel.label_image_bytes(labeled.data, credentials=creds)   # was "key must be bytes"
    out = home.parent / "x.png"
    out.write_bytes(labeled.data)

    def cli(*args, **env):
        return subprocess.run([sys.executable, "-m", "synthlabel.cli", "verify", *map(str, args)],
                              capture_output=True, text=True, env={**os.environ, **env})

    r = cli(out, SYNTHLABEL_CERT_CHAIN=str(prod_files / "chain.pem"),
            SYNTHLABEL_PRIVATE_KEY=str(prod_files / "plain.key"))
    assert r.returncode == 1 and "the watermark is not checked: no watermark key" in r.stderr, r.stderr
    assert "metadata   ok" in r.stdout and "not checked: no watermark key" in r.stdout, r.stdout
    r = cli("--layers", "metadata", out, SYNTHLABEL_CERT_CHAIN=str(prod_files / "chain.pem"))
    assert r.returncode == 0, r.stderr
    # the development watermark key, damaged, is not read when another key is given
    wm = home / "dev" / "watermark.key"
    key = wm.read_bytes()
    wm.write_text("damaged")
    (home.parent / "good.key").write_bytes(key)
    os.chmod(home.parent / "good.key", 0o600)
    r = cli("--watermark-key", home.parent / "good.key", out)
    assert r.returncode == 0, r.stderr


def test_help_on_load_credentials_shows_no_environment(monkeypatch):
    """load_credentials had env=os.environ as a default value: help() and inspect printed the
    whole environment, SYNTHLABEL_KEY_PASSPHRASE included."""
    import inspect
    import pydoc

    monkeypatch.setenv("SYNTHLABEL_KEY_PASSPHRASE", "a-passphrase-never-shown")
    assert "a-passphrase-never-shown" not in str(inspect.signature(load_credentials))
    assert "a-passphrase-never-shown" not in pydoc.render_doc(load_credentials)


def test_key_given_where_its_path_belongs_is_never_echoed(home, prod_files):
    """A watermark key or private key given as the value instead of the path of its file was
    printed in the error (the whole key), and the private key's error was several lines long."""
    hex_key = "5c" * 32
    with pytest.raises(CredentialError) as ei:
        load_credentials(cert_chain=prod_files / "chain.pem", private_key=prod_files / "plain.key",
                         watermark_key_file=hex_key)
    msg = str(ei.value)
    assert hex_key not in msg and "not shown" in msg and "\n" not in msg
    # A private key's PEM given as a str is taken as the key itself, as bytes are.
    pem = (prod_files / "plain.key").read_text()
    creds = load_credentials(cert_chain=prod_files / "chain.pem", private_key=pem,
                             watermark_key_file=prod_files / "wm.key")
    assert creds.private_key_pem == load_credentials(
        cert_chain=prod_files / "chain.pem", private_key=prod_files / "plain.key",
        watermark_key_file=prod_files / "wm.key").private_key_pem
    # A damaged one: the error is one line and holds none of it.
    lines = pem.splitlines()
    damaged = "\n".join(lines[:2] + lines[3:]) + "\n"
    with pytest.raises(CredentialError) as ei:
        load_credentials(cert_chain=prod_files / "chain.pem", private_key=damaged,
                         watermark_key_file=prod_files / "wm.key")
    msg = str(ei.value)
    assert "\n" not in msg and not any(line in msg for line in pem_body_lines(pem.encode()))


def test_passphrase_that_is_not_utf8(home, prod_files, monkeypatch):
    """A passphrase from the environment that is not UTF-8 failed with Python's codec error,
    which named one of its characters and its position."""
    secret = b"p\xe9ssw\xf6rd-Secret"
    _, key_pem, _, key = make_chain()
    chain = make_chain(key=key)[0]
    (prod_files / "c.pem").write_bytes(chain)
    (prod_files / "latin.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(secret)))
    os.chmod(prod_files / "latin.key", 0o600)
    monkeypatch.setenv("SYNTHLABEL_KEY_PASSPHRASE", os.fsdecode(secret))
    creds = load_credentials(cert_chain=prod_files / "c.pem", private_key=prod_files / "latin.key",
                             watermark_key_file=prod_files / "wm.key")
    assert b"BEGIN PRIVATE KEY" in creds.private_key_pem


@pytest.mark.parametrize("layout", ["two_lines", "spaced_pairs"])
def test_watermark_key_file_whitespace_is_ignored(home, prod_files, layout):
    key = bytes(range(100, 132))
    text = key.hex()
    text = (text[:32] + "\n" + text[32:] + "\n" if layout == "two_lines"
            else " ".join(text[i:i + 2] for i in range(0, 64, 2)) + "\n")
    (prod_files / "ws.key").write_text(text)
    os.chmod(prod_files / "ws.key", 0o600)
    creds = load_credentials(cert_chain=prod_files / "chain.pem", private_key=prod_files / "plain.key",
                             watermark_key_file=prod_files / "ws.key")
    assert creds.watermark_key == key


def test_key_folders_and_files_open_to_others(tmp_path, monkeypatch):
    """A home that others could write to was left so (they could rename dev/ away and put
    their own keys in its place), and key files readable by others were used silently."""
    for var in ("SYNTHLABEL_CERT_CHAIN", "SYNTHLABEL_PRIVATE_KEY", "SYNTHLABEL_WATERMARK_KEY"):
        monkeypatch.delenv(var, raising=False)
    home = tmp_path / "shared"
    home.mkdir()
    os.chmod(home, 0o777)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_credentials(home=home)
    assert mode(home) == 0o755                      # others' write access removed
    assert not [w for w in caught if issubclass(w.category, InsecureCredentialsWarning)]

    os.chmod(home, 0o777)                           # opened up after creation: warned
    os.chmod(home / "dev" / "signer.key", 0o644)
    os.chmod(home / "dev" / "watermark.key", 0o640)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_credentials(home=home)
    msgs = [str(w.message) for w in caught if issubclass(w.category, InsecureCredentialsWarning)]
    assert len(msgs) == 3, msgs
    assert any(f"chmod go-w {home}" in m for m in msgs)
    assert any("chmod 600" in m and "signer.key" in m for m in msgs)
    assert any("chmod 600" in m and "watermark.key" in m for m in msgs)
    assert not any((home / "dev" / "watermark.key").read_text().strip() in m for m in msgs)
    # A sticky folder (as /tmp) is not one others can replace keys in.
    os.chmod(home, 0o1777)
    for name in ("signer.key", "watermark.key"):
        os.chmod(home / "dev" / name, 0o600)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_credentials(home=home)
    assert not [w for w in caught if issubclass(w.category, InsecureCredentialsWarning)]


def test_trust_anchors_env_and_argument_add_up(home, prod_files, tmp_path, monkeypatch):
    _, _, other_root, _ = make_chain()
    (tmp_path / "other.pem").write_bytes(other_root)
    monkeypatch.setenv("SYNTHLABEL_TRUST_ANCHORS", str(prod_files / "root.pem"))
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        creds = load_credentials(trust_anchors=[tmp_path / "other.pem"])
    dev_root = (home / "dev" / "root-ca.pem").read_bytes()
    assert creds.trust_anchors_pem.count(b"BEGIN CERTIFICATE") == 3
    for pem in (dev_root, other_root, (prod_files / "root.pem").read_bytes()):
        assert pem in creds.trust_anchors_pem
    assert load_trust_anchors(f"{prod_files / 'root.pem'}:{tmp_path / 'other.pem'}").count(b"BEGIN") == 2
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(CredentialError, match="no PEM certificate"):
        load_trust_anchors([tmp_path / "junk.pem"])
    # PEM text itself, as SYNTHLABEL_CERT_CHAIN takes it: it was opened as a file name, and
    # the error ("File name too long") quoted the whole value (QA, stop 44)
    root = (prod_files / "root.pem").read_bytes()
    assert load_trust_anchors(root.decode() + other_root.decode()) == root + other_root
    monkeypatch.setenv("SYNTHLABEL_TRUST_ANCHORS", root.decode())
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        assert root in load_credentials().trust_anchors_pem


def test_credential_files_are_read_up_to_a_limit(home, prod_files, tmp_path):
    """/dev/zero (or any huge file) given as a trust anchor, key or chain was read whole: the
    process grew to 24 GB before the kernel killed it, or `keys show` hung (QA, stop 44). A
    credential file is read up to 16 MiB, and a larger one is a one-line error."""
    from synthlabel.provenance.credentials import MAX_CREDENTIAL_FILE_BYTES, read_watermark_key

    big = tmp_path / "big.pem"
    with open(big, "wb") as f:
        f.truncate(MAX_CREDENTIAL_FILE_BYTES + 1)             # sparse: no disk used
    for call in (lambda p: load_trust_anchors(p), read_watermark_key,
                 lambda p: load_credentials(cert_chain=p, private_key=prod_files / "plain.key",
                                            watermark_key_file=prod_files / "wm.key", env={})):
        for path in (big, Path("/dev/zero")):
            with pytest.raises(CredentialError, match="is larger than 16 MiB") as ei:
                call(path)
            assert "\n" not in str(ei.value)


# --------------------------------------------------------------------------- certificate rules


def _expect_c2pa_refuses(chain: bytes, key_pem: bytes, alg: str = "es256") -> str:
    with pytest.raises(c2pa.C2paError) as ei:
        raw_c2pa_sign(chain, key_pem, alg)
    return str(ei.value)


def test_control_good_chain_signs_with_raw_c2pa():
    chain, key_pem, root, _ = make_chain()
    check_signing_certificate(chain, key_pem)
    signed = raw_c2pa_sign(chain, key_pem)
    assert c2pa_io.read_manifest(signed, "image/jpeg", trust_anchors_pem=root).state == "Trusted"


NOW = dt.datetime.now(dt.timezone.utc)
RULES = {
    # name: (make_chain kwargs, rule, message fragment, c2pa also refuses)
    "missing-eku": (dict(eku=()), "eku", "no ExtendedKeyUsage.*documentSigning.*trust_config", True),
    "server-auth-eku": (dict(eku=(ExtendedKeyUsageOID.SERVER_AUTH,)), "eku", "unsupported ExtendedKeyUsage", True),
    "document-signing-eku": (dict(eku=(ObjectIdentifier("1.3.6.1.5.5.7.3.36"),)), "eku",
                             "documentSigning .* need|trust_config", True),
    "ca-leaf": (dict(ca_leaf=True), "ca-leaf", "is a CA", True),
    "no-aki": (dict(aki=False), "aki", "AuthorityKeyIdentifier", True),
    "expired": (dict(not_before=NOW - dt.timedelta(days=30), not_after=NOW - dt.timedelta(days=1)),
                "validity", "expired", True),
    "not-yet-valid": (dict(not_before=NOW + dt.timedelta(days=2), not_after=NOW + dt.timedelta(days=30)),
                      "validity", "not yet valid", True),
    "no-key-usage": (dict(key_usage=False), "key-usage", "no KeyUsage", True),
    # c2pa-rs 0.91 tolerates this one; the C2PA spec does not, so we refuse it anyway.
    "no-digital-signature": (dict(digital_signature=False), "key-usage", "lacks digitalSignature", False),
}


@pytest.mark.parametrize("case", sorted(RULES))
def test_certificate_rule(case):
    kwargs, rule, fragment, c2pa_refuses = RULES[case]
    chain, key_pem, _, _ = make_chain(**kwargs)
    with pytest.raises(CertificateError, match=fragment) as ei:
        check_signing_certificate(chain, key_pem)
    assert ei.value.rule == rule and f"[{rule}]" in str(ei.value)
    assert "\n" not in str(ei.value)
    for line in pem_body_lines(key_pem):
        assert line not in str(ei.value)
    if c2pa_refuses:
        _expect_c2pa_refuses(chain, key_pem)


def test_key_mismatch_rule():
    chain, _, _, _ = make_chain()
    _, other_key, _, _ = make_chain()
    with pytest.raises(CertificateError, match="does not match the leaf") as ei:
        check_signing_certificate(chain, other_key)
    assert ei.value.rule == "key-mismatch"
    assert "signature does not match" in _expect_c2pa_refuses(chain, other_key)


def test_rsa_size_and_key_type_rules():
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    chain, key_pem, _, _ = make_chain(key=small)
    with pytest.raises(CertificateError, match="1024 bits; c2pa requires at least 2048") as ei:
        check_signing_certificate(chain, key_pem)
    assert ei.value.rule == "rsa-size"
    _expect_c2pa_refuses(chain, key_pem, "ps256")

    k1 = ec.generate_private_key(ec.SECP256K1())
    chain, key_pem, _, _ = make_chain(key=k1)
    with pytest.raises(CertificateError, match="unsupported EC curve secp256k1") as ei:
        check_signing_certificate(chain, key_pem)
    assert ei.value.rule == "key-type"
    _expect_c2pa_refuses(chain, key_pem)


def test_sign_bytes_refuses_before_c2pa():
    chain, key_pem, root, _ = make_chain(eku=())
    creds = Credentials(cert_chain_pem=chain, private_key_pem=key_pem, watermark_key=bytes(32),
                        trust_anchors_pem=root, is_development=False, signer_subject="x")
    with pytest.raises(CertificateError, match=r"\[eku\]"):
        c2pa_io.sign_bytes(jpeg_bytes(), "image/jpeg", manifest(), creds)


def test_unparseable_pem():
    chain, key_pem, _, _ = make_chain()
    with pytest.raises(CertificateError, match="no PEM certificate found"):
        check_signing_certificate(b"hello", key_pem)
    with pytest.raises(CertificateError, match="malformed PEM certificate"):
        check_signing_certificate(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", key_pem)
    with pytest.raises(CredentialError, match="no PEM private key found"):
        check_signing_certificate(chain, b"garbage")
    bad = b"-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAAS\n-----END PRIVATE KEY-----\n"
    with pytest.raises(CredentialError, match="could not parse the private key") as ei:
        check_signing_certificate(chain, bad)
    assert "MIIBVQIBADANBgkqhkiG9w0BAQEFAAS" not in str(ei.value)


def test_chain_order_rule():
    chain, key_pem, _, _ = make_chain()
    certs = x509.load_pem_x509_certificates(chain)
    reversed_chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in reversed(certs))
    with pytest.raises(CertificateError, match="put the leaf first") as ei:
        check_signing_certificate(reversed_chain, key_pem)
    assert ei.value.rule == "key-mismatch"


@pytest.mark.parametrize("key_first", [False, True])
def test_a_private_key_in_the_chain_file_is_refused_and_never_published(prod_files, tmp_path, key_first):
    """A chain file that also held the private key (cat cert.pem root.pem key.pem, as web
    servers take them) was accepted: c2pa copied it into every manifest, publishing the
    signing key in every labeled file (found by QA helper); key first, every file failed late
    with "the certificate is invalid". It is refused up front, naming the rule, and so is
    signing with hand-made Credentials holding one."""
    import dataclasses

    import synthlabel
    from synthlabel.labeling import LabelingError

    chain, key = (prod_files / "chain.pem").read_bytes(), (prod_files / "plain.key").read_bytes()
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(key + chain if key_first else chain + key)
    with pytest.raises(CertificateError, match=r"\[key-in-chain\].*holds a private key") as ei:
        load_credentials(cert_chain=bundle, private_key=prod_files / "plain.key",
                         watermark_key_file=prod_files / "wm.key")
    assert pem_body_lines(key)[0] not in str(ei.value)
    good = load_credentials(cert_chain=prod_files / "chain.pem", private_key=prod_files / "plain.key",
                            watermark_key_file=prod_files / "wm.key")
    leaky = dataclasses.replace(good, cert_chain_pem=bundle.read_bytes())
    with pytest.raises(LabelingError, match="holds a private key"):
        synthlabel.label_image_bytes(jpeg_bytes(), credentials=leaky)


def test_a_passphrase_or_key_where_a_path_belongs_is_never_shown(prod_files, tmp_path):
    """The passphrase set as the key's path (SYNTHLABEL_PRIVATE_KEY=<passphrase>) was printed
    back as the file "not found", and a key set as SYNTHLABEL_HOME came back in "no
    development credentials in -----BEGIN PRIVATE KEY-----..." (found by QA helper)."""
    secret = "S3cretPassphrase!"
    env = {"SYNTHLABEL_KEY_PASSPHRASE": secret, "SYNTHLABEL_CERT_CHAIN": str(prod_files / "chain.pem"),
           "SYNTHLABEL_PRIVATE_KEY": secret, "SYNTHLABEL_WATERMARK_KEY": str(prod_files / "wm.key")}
    for kwargs in ({"env": env}, {"env": {**env, "SYNTHLABEL_KEY_PASSPHRASE": ""},
                                  "passphrase": secret.encode()}):
        with pytest.raises(CredentialError) as ei:
            load_credentials(**kwargs)
        assert secret not in str(ei.value) and "passphrase: not shown" in str(ei.value), ei.value
    key = (prod_files / "plain.key").read_text()
    with pytest.raises(CredentialError) as ei:
        load_credentials(home=key, env={}, create=False)
    assert pem_body_lines(key.encode())[0] not in str(ei.value) and "not shown" in str(ei.value)


@pytest.mark.parametrize("form", ["base64 DER", "PEM body", "base64 key", "base64 key from /",
                                  "0x hex", "hex in groups"])
def test_key_in_another_encoding_where_its_path_belongs_is_never_echoed(home, prod_files, form):
    """Keys are put into environment variables and secrets as one-line base64 (a PEM's body,
    the raw key) or hex with a 0x or in groups: only PEM text and bare hex were recognised,
    and the rest was printed in full as the file "not found"."""
    import base64

    pem = (prod_files / "plain.key").read_text()
    body = "".join(pem.splitlines()[1:-1])
    raw = bytes.fromhex((prod_files / "wm.key").read_text().strip())
    value = {"base64 DER": base64.b64encode(base64.b64decode(body)).decode(), "PEM body": body,
             "base64 key": base64.b64encode(raw).decode(),
             "base64 key from /": "/" + base64.b64encode(raw).decode()[1:],
             "0x hex": "0x" + raw.hex(),
             "hex in groups": " ".join(raw.hex()[i:i + 8] for i in range(0, 64, 8))}[form]
    kind = "private_key" if form in ("base64 DER", "PEM body") else "watermark_key_file"
    files = {"cert_chain": prod_files / "chain.pem", "private_key": prod_files / "plain.key",
             "watermark_key_file": prod_files / "wm.key", kind: value}
    with pytest.raises(CredentialError) as ei:
        load_credentials(**files)
    msg = str(ei.value)
    assert "not shown" in msg, msg
    assert value[10:30] not in msg and raw.hex()[8:24] not in msg.replace(" ", "")


def test_a_missing_key_file_is_still_named(home, prod_files, tmp_path, monkeypatch):
    (tmp_path / "keys").mkdir()
    monkeypatch.chdir(tmp_path)
    for path in (tmp_path / "prod-watermark-key", "keys/prod_watermark_key_2026_rotation", tmp_path / "wm.hex"):
        with pytest.raises(CredentialError, match="file not found: .*" + str(path).split("/")[-1]):
            load_credentials(cert_chain=prod_files / "chain.pem", private_key=prod_files / "plain.key",
                             watermark_key_file=path)


def test_library_calls_name_a_wrong_argument(home, prod_files):
    """Credentials of the wrong type failed later, as "'str' object has no attribute
    'watermark_key'"; a content ID out of range raised models.LabelError where the README
    promises LabelingError; a watermark key path as bytes failed in pathlib."""
    import numpy as np

    import synthlabel

    img = np.full((128, 128, 3), 100, np.uint8)
    for call in (lambda: synthlabel.label_image(img, credentials="prod"),
                 lambda: synthlabel.label_audio(np.zeros(4800, np.float32), 48000, credentials="prod"),
                 lambda: synthlabel.verify_bytes(b"\x89PNG\r\n\x1a\n", credentials="prod")):
        with pytest.raises(TypeError, match="credentials must be a Credentials from load_credentials\\(\\), got str"):
            call()
    prod = load_credentials(cert_chain=prod_files / "chain.pem", private_key=prod_files / "plain.key",
                            watermark_key_file=prod_files / "wm.key")
    with pytest.raises(synthlabel.LabelingError, match="64-bit unsigned integer, got -1"):
        synthlabel.label_image(img, content_id=-1, credentials=prod)
    with pytest.raises(TypeError, match="given by its path .* got bytes"):
        load_credentials(cert_chain=prod_files / "chain.pem", private_key=prod_files / "plain.key",
                         watermark_key_file=os.fsencode(prod_files / "wm.key"))
