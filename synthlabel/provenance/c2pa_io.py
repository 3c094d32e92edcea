"""C2PA manifests: build, sign (embedded or sidecar) and read back, with c2pa-python 0.38.

Manifest shape written by :func:`build_manifest` (signs and validates with c2pa-rs 0.91; the
``c2pa.actions`` assertion is stored as ``c2pa.actions.v2``)::

    {
      "claim_generator_info": [{"name": "synthlabel", "version": "<synthlabel.__version__>"}],
      "title": "<title>",
      "assertions": [
        {"label": "c2pa.actions", "data": {"actions": [
            {"action": "c2pa.created",
             "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia",
             "softwareAgent": {"name": "synthlabel", "version": "..."}},
            {"action": "c2pa.watermarked.bound",                  # only when watermarked
             "softwareAgent": {"name": "synthlabel", "version": "..."},
             "parameters": {"description": "invisible watermark <alg> carrying the content ID"}}
        ]}},
        {"label": "c2pa.soft-binding", "data": {                   # only when watermarked
            "alg": "<watermark alg, e.g. org.synthlabel.wm.image.v1>",
            "blocks": [{"scope": {}, "value": "<base64 of the 8-byte big-endian content ID>"}]}},
        {"label": "org.synthlabel.aigc", "data": {<GB 45438 inner 7-key AIGC object>}}
      ]
    }

``c2pa.watermarked.bound`` is accepted by c2pa-rs 0.91 as an action name (C2PA 2.2) and the
``c2pa.soft-binding`` form above (``scope`` an empty map, ``value`` a base64 *string*, a
non-registered reverse-DNS ``alg``) signs and validates as ``Trusted``.

The AIGC label lives in the custom assertion ``org.synthlabel.aigc`` (our own namespace: we
do not speak for TC260, so ``cn.tc260.*`` is not used). Its data is the inner 7-key object;
:func:`read_manifest` also accepts the wrapped ``{"AIGC": {...}}`` form.

An input that already carries an embedded manifest (:func:`parent_of`) keeps it: that
manifest store becomes the new manifest's ``parentOf`` ingredient, and the first action is
``c2pa.opened`` (referring to it) followed by ``c2pa.edited`` with the digital source type,
instead of ``c2pa.created`` (which C2PA reserves for assets without a parent).

c2pa objects (Context, Signer) are cached per process and recreated after ``fork``.

WAV, bare FLAC and MP3 files are signed by data hash in bounded memory, and sidecars from the
file on disk (:mod:`.c2pa_datahash`): c2pa-rs's own writers hold those files in memory.
"""
from __future__ import annotations

import base64
import binascii
import copy
import datetime as _dt
import hashlib
import io
import json
import mimetypes
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import c2pa
from cryptography import x509

from .. import __version__
from ..formats import id3, riff
from ..formats.xmp import MetadataError
from ..fsutil import SIDECAR_SUFFIXES, publish, sidecar_owner, temp_path
from ..models import DST_TRAINED, AIGCLabel, ContentID, source_type_problem
from . import c2pa_datahash
from .credentials import (
    _PEM_KEY_BLOCK,
    Credentials,
    _load_private_key,
    _pkcs8,
    check_signing_certificate,
    signing_algorithm,
)

__all__ = [
    "AIGC_ASSERTION",
    "REPLACED_AIGC_ASSERTION",
    "SPOKEN_LABEL_ASSERTION",
    "C2PAError",
    "C2PAResult",
    "Parent",
    "WATERMARKED_ACTION",
    "WATERMARK_ALG_PLACEHOLDER",
    "build_manifest",
    "guess_mime",
    "parent_of",
    "parent_warning",
    "read_manifest",
    "read_manifest_file",
    "read_sidecar",
    "sign_bytes",
    "sign_file",
    "sign_sidecar",
    "sign_sidecar_file",
    "supported_mime_types",
]

AIGC_ASSERTION = "org.synthlabel.aigc"
#: The AIGC label an input carried that labeling replaced (another producer's, say): the
#: metadata holds one label only, and this keeps a signed record of the one it held before.
REPLACED_AIGC_ASSERTION = "org.synthlabel.aigc.replaced"
#: A spoken label inserted instead of the tone cue (``--spoken-label``): where (s) and how long.
#: verify cannot hear words; a signed manifest that declares one makes the audio's explicit
#: layer "not checked" rather than "missing" (verify._declared_spoken_label).
SPOKEN_LABEL_ASSERTION = "org.synthlabel.explicit.spoken"
SOFT_BINDING_ASSERTION = "c2pa.soft-binding"
#: Soft-binding algorithm names of our watermarks (wm_params.IMAGE_ALG, wm_audio_params.AUDIO_ALG).
OUR_ALG_PREFIX = "org.synthlabel.wm."
CREATED_ACTION = "c2pa.created"
WATERMARKED_ACTION = "c2pa.watermarked.bound"
OPENED_ACTION = "c2pa.opened"
EDITED_ACTION = "c2pa.edited"
# The label by which the opened action names its parent ingredient.
PARENT_INGREDIENT_ID = "synthlabel.parent"
IPTC_DST_PREFIX = "http://cv.iptc.org/newscodes/digitalsourcetype/"
# MIME types c2pa-rs treats as WAV, FLAC and MP3; sign_file embeds into these by data hash,
# streaming (c2pa_datahash).
WAV_MIMES = frozenset({"audio/wav", "audio/wave", "audio/x-wav", "audio/vnd.wave"})
FLAC_MIMES = frozenset({"audio/flac", "audio/x-flac"})
MP3_MIMES = frozenset({"audio/mpeg", "audio/mp3", "audio/x-mp3"})
# Example soft-binding algorithm name; the caller passes the real one.
WATERMARK_ALG_PLACEHOLDER = "org.synthlabel.wm.image.v1"


class C2PAError(ValueError):
    """Signing or reading failed. One line; never contains key material."""

    def __init__(self, message: str) -> None:
        super().__init__(_one_line(message))


# Long base64 runs are what a PEM body looks like; c2pa error texts never need them.
_B64_RUN = re.compile(r"[A-Za-z0-9+/=]{40,}")


def _one_line(message: str) -> str:
    return _B64_RUN.sub("[redacted]", " ".join(str(message).split()))


def _c2pa_message(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text


# --------------------------------------------------------------------------- manifest


def _agent() -> dict[str, str]:
    return {"name": "synthlabel", "version": __version__}


@dataclass
class Parent:
    """An input's manifest store, to keep as the new manifest's ``parentOf`` ingredient.
    ``source``: the input's bytes, or its path (streamed). ``store``: the store from the
    input's ``.c2pa`` sidecar (Ogg, Matroska), None when it is embedded in ``source``. After
    signing, ``error`` says why it could not be kept (c2pa could not read it: the asset was
    then signed without it), else it is None."""

    title: str
    mime: str
    source: bytes | Path
    error: str | None = None
    store: bytes | None = None


#: A sidecar larger than this is not read as a parent (manifest stores are kilobytes; a
#: thumbnail-laden one a few hundred).
MAX_SIDECAR_BYTES = 64 << 20


def parent_of(source: bytes | str | os.PathLike, mime: str, title: str, *,
              sidecar: bool = False) -> Parent | None:
    """A :class:`Parent` when ``source`` (bytes or a path) embeds a C2PA manifest store, else
    None. A byte scan for the store's JUMBF box: no validation, no c2pa call. ``sidecar``:
    look for the store in the ``.c2pa`` file next to ``source`` (a path) instead, as the
    formats c2pa cannot embed into carry it."""
    if sidecar:
        side = Path(source).with_suffix(".c2pa")
        try:
            if not side.is_file() or side.stat().st_size > MAX_SIDECAR_BYTES:
                return None
            store = side.read_bytes()
        except OSError:
            return None
        if _STORE_MARKER not in store:
            return None
        return Parent(title=title, mime=mime, source=Path(source), store=store)
    if not isinstance(source, (bytes, bytearray)):
        source = Path(source)
        try:
            with open(source, "rb") as f:
                found = _has_manifest_store(f)
        except OSError:
            return None
    else:
        source = bytes(source)
        found = _has_manifest_store(io.BytesIO(source))
    return Parent(title=title, mime=mime, source=source) if found else None


def parent_warning(parent: Parent | None) -> str | None:
    """The labeling warning for a parent that could not be kept (after signing), else None."""
    if parent is not None and parent.error:
        return f"c2pa: the input's own C2PA manifest was not kept ({parent.error})"
    return None


def replaced_label(prior: AIGCLabel | None, written: AIGCLabel, metadata: bool) -> AIGCLabel | None:
    """The input's label ``prior`` when the metadata written (``metadata``: it is) replaces it
    with another, ``written``; else None (no label before, or the same one, or kept)."""
    return prior if metadata and prior is not None and prior != written else None


def unsigned_note(parent: Parent | None, still_there: bool) -> str | None:
    """With C2PA off, the labeling warning for an input that carried a manifest (``parent``:
    :func:`parent_of` of the input), else None. ``still_there``: the output holds that store
    still (a file whose own bytes took the metadata), where it no longer matches the file."""
    if parent is None:
        return None
    if still_there:
        return ("c2pa: the input's own C2PA manifest is left in the file, which labeling changed: "
                "it no longer validates (label with C2PA on to keep it as the new manifest's parent)")
    return ("c2pa: the input's own C2PA manifest is not carried over (C2PA off; label with C2PA "
            "on to keep it as the new manifest's parent)")


def _text(name: str) -> str:
    """A file name as manifest text: a name whose bytes are not UTF-8 reaches Python with
    surrogate escapes, which the manifest's JSON cannot carry (c2pa refused it: "lone leading
    surrogate"); those bytes become U+FFFD."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def build_manifest(
    *,
    aigc: AIGCLabel,
    content_id: ContentID | None,
    watermark_alg: str | None,
    title: str,
    digital_source_type: str = DST_TRAINED,
    replaced: AIGCLabel | None = None,
    spoken_label: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest definition for a generated asset. A soft binding (and the
    ``c2pa.watermarked.bound`` action) is added when ``watermark_alg`` is given, which then
    requires ``content_id`` (the watermark payload). Signing with a ``parent`` turns its
    ``c2pa.created`` into ``c2pa.opened`` + ``c2pa.edited`` (:func:`_with_parent`).
    ``replaced``: the AIGC label the input carried and ``aigc`` replaces in its metadata
    (:func:`replaced_label`), recorded as its own assertion. ``spoken_label``: a spoken label
    inserted as the explicit label, ``{"at": [seconds, ...], "seconds": its length}``."""
    if not isinstance(aigc, AIGCLabel):
        raise TypeError("aigc must be an AIGCLabel")
    if replaced is not None and not isinstance(replaced, AIGCLabel):
        raise TypeError("replaced must be an AIGCLabel")
    if not digital_source_type.startswith(IPTC_DST_PREFIX):
        raise ValueError(
            f"digital source type must be a full IPTC URI ({IPTC_DST_PREFIX}...), "
            f"got {digital_source_type!r}"
        )
    if watermark_alg is not None:
        if content_id is None:
            raise ValueError("a soft binding needs the content ID the watermark carries")
        if not watermark_alg or any(c.isspace() for c in watermark_alg):
            raise ValueError(f"invalid watermark algorithm name {watermark_alg!r}")

    actions: list[dict[str, Any]] = [
        {
            "action": CREATED_ACTION,
            "digitalSourceType": digital_source_type,
            "softwareAgent": _agent(),
        }
    ]
    assertions: list[dict[str, Any]] = [{"label": "c2pa.actions", "data": {"actions": actions}}]
    if watermark_alg is not None:
        actions.append(
            {
                "action": WATERMARKED_ACTION,
                "softwareAgent": _agent(),
                "parameters": {
                    "description": f"invisible watermark {watermark_alg} carrying the content ID"
                },
            }
        )
        assertions.append(
            {
                "label": SOFT_BINDING_ASSERTION,
                "data": {
                    "alg": watermark_alg,
                    "blocks": [
                        {
                            "scope": {},
                            "value": base64.b64encode(content_id.to_bytes()).decode("ascii"),
                        }
                    ],
                },
            }
        )
    assertions.append({"label": AIGC_ASSERTION, "data": aigc.to_dict()})
    if replaced is not None:
        assertions.append({"label": REPLACED_AIGC_ASSERTION, "data": replaced.to_dict()})
    if spoken_label is not None:
        # (each time in an object: c2pa writes a JSON array of numbers as a CBOR byte string,
        # and reads floats back as "")
        assertions.append({"label": SPOKEN_LABEL_ASSERTION,
                           "data": {"at": [{"seconds": round(float(t), 3)} for t in spoken_label["at"]],
                                    "seconds": round(float(spoken_label["seconds"]), 3)}})
    return {
        "claim_generator_info": [_agent()],
        "title": _text(title),
        "assertions": assertions,
    }


# --------------------------------------------------------------------------- c2pa objects


class _Cache:
    """Per-process cache of c2pa Context/Signer objects (they do not survive fork)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pid = os.getpid()
        self.contexts: dict[str, c2pa.Context] = {}
        self.signers: dict[str, tuple[c2pa.Signer, str]] = {}
        self.checked: dict[str, Any] = {}

    def reset_if_forked(self) -> None:
        if self.pid != os.getpid():
            # c2pa detaches objects owned by the parent; just drop our references.
            self.contexts, self.signers, self.checked = {}, {}, {}
            self.pid = os.getpid()


_cache = _Cache()


def _context(settings: dict[str, Any]) -> c2pa.Context:
    key = json.dumps(settings, sort_keys=True)
    key = hashlib.sha256(key.encode()).hexdigest()
    with _cache.lock:
        _cache.reset_if_forked()
        ctx = _cache.contexts.get(key)
        if ctx is None:
            try:
                ctx = c2pa.Context.from_dict(settings)
            except c2pa.C2paError as exc:
                raise C2PAError(f"could not configure c2pa: {_c2pa_message(exc)}") from None
            _cache.contexts[key] = ctx
        return ctx


def _sign_context(thumbnail: bool) -> c2pa.Context:
    return _context(
        {
            "builder": {"thumbnail": {"enabled": bool(thumbnail)}},
            "verify": {"remote_manifest_fetch": False},
        }
    )


def _read_context(trust_anchors_pem: bytes | None) -> c2pa.Context:
    settings: dict[str, Any] = {"verify": {"remote_manifest_fetch": False}}
    if trust_anchors_pem:
        settings["trust"] = {"user_anchors": trust_anchors_pem.decode("ascii")}
    return _context(settings)


def _signer(creds: Credentials) -> c2pa.Signer:
    key = creds.cache_key
    with _cache.lock:
        _cache.reset_if_forked()
        entry = _cache.signers.get(key)
        if entry is not None:
            return entry[0]
    if _PEM_KEY_BLOCK.search(creds.cert_chain_pem):
        # c2pa copies the chain into every manifest: a key bundled with it would be published
        # (load_credentials refuses such a chain; this guards Credentials made by hand)
        raise C2PAError("the certificate chain holds a private key, which c2pa would copy into "
                        "the manifest: keep the chain to certificates and the key apart")
    # c2pa wants an unencrypted PKCS#8 key.
    key_pem = _pkcs8(_load_private_key(creds.private_key_pem))
    alg = signing_algorithm(key_pem)
    try:
        signer = c2pa.Signer.from_info(
            c2pa.C2paSignerInfo(alg, creds.cert_chain_pem, key_pem, None)
        )
    except c2pa.C2paError as exc:
        raise C2PAError(f"c2pa could not create a signer: {_c2pa_message(exc)}") from None
    with _cache.lock:
        _cache.reset_if_forked()
        existing = _cache.signers.get(key)
        if existing is not None:
            signer.close()
            return existing[0]
        _cache.signers[key] = (signer, alg)
        return signer


def _precheck(creds: Credentials) -> None:
    """Run the certificate rules (cached per credential until the leaf's notAfter)."""
    now = _dt.datetime.now(_dt.timezone.utc)
    not_after = _cache.checked.get(creds.cache_key)
    if not_after is not None and now <= not_after:
        return
    check_signing_certificate(creds.cert_chain_pem, creds.private_key_pem, now=now)
    _cache.checked[creds.cache_key] = x509.load_pem_x509_certificates(
        creds.cert_chain_pem
    )[0].not_valid_after_utc


def _builder(manifest: dict[str, Any] | str, thumbnail: bool) -> c2pa.Builder:
    text = manifest if isinstance(manifest, str) else json.dumps(manifest)
    try:
        return c2pa.Builder(text, context=_sign_context(thumbnail))
    except c2pa.C2paError as exc:
        raise C2PAError(f"c2pa rejected the manifest definition: {_c2pa_message(exc)}") from None


@contextmanager
def _signing(manifest: dict[str, Any] | str, creds: Credentials, mime: str,
             thumbnail: bool = False, parent: Parent | None = None,
             ) -> Iterator[tuple[c2pa.Builder, c2pa.Signer]]:
    """(builder, signer) for one signature, after the certificate checks, with ``parent``
    added as the ``parentOf`` ingredient; c2pa's errors become one-line :class:`C2PAError`;
    the builder is closed afterwards."""
    _precheck(creds)
    signer = _signer(creds)
    builder = _builder(manifest, thumbnail) if parent is None else _parent_builder(
        manifest, thumbnail, parent)
    try:
        yield builder, signer
    except c2pa.C2paError as exc:
        raise C2PAError(f"c2pa signing failed ({mime}): {_c2pa_message(exc)}") from None
    finally:
        builder.close()


def _with_parent(manifest: dict[str, Any] | str) -> dict[str, Any]:
    """``manifest`` with its ``c2pa.created`` action replaced by ``c2pa.opened`` (naming the
    parent ingredient) and ``c2pa.edited`` (carrying the digital source type): C2PA
    reserves ``created`` for assets without a parent."""
    m = json.loads(manifest) if isinstance(manifest, str) else copy.deepcopy(manifest)
    for assertion in m.get("assertions", []):
        if assertion.get("label") != "c2pa.actions":
            continue
        actions = []
        for a in assertion["data"]["actions"]:
            if a.get("action") == CREATED_ACTION:
                actions.append({"action": OPENED_ACTION, "softwareAgent": a.get("softwareAgent"),
                                "parameters": {"ingredientIds": [PARENT_INGREDIENT_ID]}})
                actions.append({"action": EDITED_ACTION, "softwareAgent": a.get("softwareAgent"),
                                "digitalSourceType": a.get("digitalSourceType"),
                                "parameters": {"description": "labeled as AI-generated"}})
            else:
                actions.append(a)
        assertion["data"]["actions"] = actions
    return m


def _parent_builder(manifest: dict[str, Any] | str, thumbnail: bool, parent: Parent) -> c2pa.Builder:
    """A builder holding ``parent`` as its ``parentOf`` ingredient. c2pa reads the parent's
    manifest store into the new one and validates it (the results are recorded in the
    ingredient: a tampered parent is reported, not fatal). A store c2pa cannot parse at all
    is left out (``parent.error`` says why) and the plain manifest is used."""
    if parent.store is not None:
        return _sidecar_parent_builder(manifest, thumbnail, parent)
    builder = _builder(_with_parent(manifest), thumbnail)
    ingredient = {"title": _text(parent.title), "relationship": "parentOf", "label": PARENT_INGREDIENT_ID}
    try:
        if isinstance(parent.source, bytes):
            builder.add_ingredient(ingredient, parent.mime, io.BytesIO(parent.source))
        else:
            with open(parent.source, "rb") as f:
                builder.add_ingredient(ingredient, parent.mime, f)
        parent.error = None
        return builder
    except (c2pa.C2paError, OSError) as exc:
        builder.close()
        parent.error = _one_line(f"c2pa could not read it: {_c2pa_message(exc) if isinstance(exc, c2pa.C2paError) else exc}")
        return _builder(manifest, thumbnail)


def _sidecar_parent_builder(manifest: dict[str, Any] | str, thumbnail: bool,
                            parent: Parent) -> c2pa.Builder:
    """:func:`_parent_builder` for a store held in a sidecar. c2pa's ``add_ingredient`` reads
    a store only from inside its asset, so the ingredient is declared in the definition
    instead: the store as its ``manifest_data`` resource, with the active manifest's label
    and the validation results c2pa gives for the store against its asset (read as
    ``add_ingredient`` would: same context, so an untrusted signer is recorded the same way,
    and a store that no longer matches its file records the mismatch)."""
    try:
        with open(parent.source, "rb") as f:
            reader = c2pa.Reader(parent.mime, f, parent.store, context=_sign_context(False))
            try:
                found = json.loads(reader.json())
            finally:
                reader.close()
        label = found.get("active_manifest")
        if not label:
            raise ValueError("no active manifest")
        m = _with_parent(manifest)
        m["ingredients"] = list(m.get("ingredients") or []) + [{
            "title": _text(parent.title), "format": parent.mime, "relationship": "parentOf",
            "label": PARENT_INGREDIENT_ID, "active_manifest": label,
            "validation_results": found.get("validation_results") or {},
            "manifest_data": {"format": "application/c2pa", "identifier": "parent.c2pa"},
        }]
        builder = _builder(m, thumbnail)
        try:
            builder.add_resource("parent.c2pa", io.BytesIO(parent.store))
        except c2pa.C2paError:
            builder.close()
            raise
        parent.error = None
        return builder
    except (c2pa.C2paError, OSError, ValueError, C2PAError) as exc:
        detail = _c2pa_message(exc) if isinstance(exc, c2pa.C2paError) else str(exc)
        parent.error = _one_line(f"c2pa could not read its sidecar: {detail}")
        return _builder(manifest, thumbnail)


def _sign_streams(
    src: BinaryIO, dst: BinaryIO, mime: str, manifest: dict[str, Any] | str,
    creds: Credentials, *, thumbnail: bool, sidecar: bool, parent: Parent | None = None,
) -> bytes:
    with _signing(manifest, creds, mime, thumbnail, parent) as (builder, signer):
        if sidecar:
            builder.set_no_embed()
        return builder.sign(signer, mime, src, dst)


_T = TypeVar("_T")


def _parent_fallback(sign: Callable[[Parent | None], _T], parent: Parent | None) -> _T:
    """``sign(parent)``; where c2pa took the parent's store as an ingredient and then could
    not decode one of its assertions while signing (one damaged byte: the upload, image or
    audio, failed outright), ``sign(None)``, the parent's error said as when c2pa cannot read
    the store at all. Every signing entry point goes through it, each ``sign`` from fresh
    streams."""
    try:
        return sign(parent)
    except C2PAError as exc:
        if parent is None or parent.error is not None:
            raise
        parent.error = _one_line(f"c2pa could not read it: {str(exc).split(': ', 1)[-1]}")
        return sign(None)


def sign_bytes(
    data: bytes, mime: str, manifest: dict[str, Any] | str, creds: Credentials,
    *, thumbnail: bool = False, parent: Parent | None = None,
) -> bytes:
    """Embed a signed manifest in ``data`` and return the signed asset. Sign last: any change
    afterwards invalidates the data hash. Thumbnails are off unless ``thumbnail``; no
    timestamp authority is used (works offline). ``parent``: as given to
    :func:`build_manifest`."""
    def sign(with_parent: Parent | None) -> bytes:
        out = io.BytesIO()
        _sign_streams(io.BytesIO(data), out, mime, manifest, creds, thumbnail=thumbnail,
                      sidecar=False, parent=with_parent)
        return out.getvalue()

    return _parent_fallback(sign, parent)


def sign_file(
    src: str | os.PathLike, dst: str | os.PathLike, mime: str | None,
    manifest: dict[str, Any] | str, creds: Credentials, *, thumbnail: bool = False,
    parent: Parent | None = None,
) -> None:
    """Stream variant of :func:`sign_bytes` for large files; ``dst`` is replaced atomically
    (it may equal ``src``)."""
    src, dst = Path(src), Path(dst)
    mime = mime or guess_mime(src)
    with temp_path(dst.parent, dst.name) as tmp:
        def sign(with_parent: Parent | None) -> None:
            if not _sign_by_data_hash(src, tmp, mime, manifest, creds, with_parent):
                with open(src, "rb") as fin, open(tmp, "w+b") as fout:
                    _sign_streams(fin, fout, mime, manifest, creds, thumbnail=thumbnail,
                                  sidecar=False, parent=with_parent)

        _parent_fallback(sign, parent)
        publish(tmp, dst)


def _sign_by_data_hash(src: Path, tmp: Path, mime: str, manifest: dict[str, Any] | str,
                       creds: Credentials, parent: Parent | None = None) -> bool:
    """Sign a WAV, bare FLAC or MP3 file into ``tmp`` by data hash in bounded memory
    (:mod:`.c2pa_datahash`: c2pa-rs's own writers hold the file in memory, and leave an MP3's
    manifest frame without the padding ExifTool expects). False, with ``tmp`` untouched, when
    that route does not apply (another format, no such entry point in this c2pa-python, an
    RF64 WAV, a manifest already embedded in a WAV, bytes after the RIFF body, a FLAC behind
    an ID3 tag, an ID3 tag we do not rewrite frame by frame): the caller then signs through
    c2pa-rs's writer, which handles those cases."""
    kind = ("wav" if mime in WAV_MIMES else "flac" if mime in FLAC_MIMES
            else "mp3" if mime in MP3_MIMES else None)
    if kind is None or not c2pa_datahash.available():
        return False
    with open(src, "rb") as fin:
        tag = None
        if kind == "flac":
            if fin.read(4) != b"fLaC":
                return False
        elif kind == "mp3":
            tag = id3.split_tag(fin)
            if tag is None:
                return False
        else:
            try:
                if c2pa_datahash.C2PA_CHUNK in riff.chunk_ids(fin):
                    return False
            except MetadataError as exc:
                raise C2PAError(f"not a WAV file c2pa can sign: {exc}") from None
        fin.seek(0)
        try:
            with _signing(manifest, creds, mime, parent=parent) as (builder, signer), \
                    open(tmp, "w+b") as fout:
                if kind == "flac":
                    c2pa_datahash.sign_flac(fin, fout, builder, signer)
                elif kind == "mp3":
                    c2pa_datahash.sign_mp3(fin, fout, builder, signer, tag)
                else:
                    shutil.copyfileobj(fin, fout, 1 << 20)
                    c2pa_datahash.sign_wav(fout, builder, signer)
            return True
        except MetadataError:      # a WAV layout we do not append to (RF64, trailing bytes)
            tmp.unlink(missing_ok=True)
            return False


def sign_sidecar(
    data: bytes, mime: str, manifest: dict[str, Any] | str, creds: Credentials,
    *, thumbnail: bool = False, parent: Parent | None = None,
) -> bytes:
    """Sign without embedding; return the manifest store bytes (write them as a ``.c2pa``
    sidecar). The asset is bound by a data hash over the whole file, so this also works for
    formats c2pa cannot embed into (Ogg/Opus: verified with c2pa-rs 0.91). ``parent``: the
    input's manifest (:func:`parent_of`, e.g. from its own sidecar), kept as the ``parentOf``
    ingredient."""
    manifest_bytes = _parent_fallback(lambda with_parent: _sign_streams(
        io.BytesIO(data), io.BytesIO(), mime, manifest, creds, thumbnail=thumbnail, sidecar=True,
        parent=with_parent), parent)
    if not manifest_bytes:
        raise C2PAError("c2pa returned no manifest bytes for the sidecar")
    return manifest_bytes


def sign_sidecar_file(
    path: str | os.PathLike, mime: str, manifest: dict[str, Any] | str, creds: Credentials,
    *, parent: Parent | None = None,
) -> bytes:
    """:func:`sign_sidecar` for a file on disk, streamed: the file is hashed in 1 MiB blocks
    (:func:`.c2pa_datahash.sign_detached`), never loaded whole (a long MKV/WebM video would
    otherwise be held in memory several times over)."""
    if not c2pa_datahash.available():
        return sign_sidecar(Path(path).read_bytes(), mime, manifest, creds, parent=parent)
    def sign(with_parent: Parent | None) -> bytes:
        with _signing(manifest, creds, mime, parent=with_parent) as (builder, signer), \
                open(path, "rb") as f:
            return c2pa_datahash.sign_detached(f, builder, signer)

    return _parent_fallback(sign, parent)


def supported_mime_types() -> list[str]:
    """MIME types c2pa can embed into (the run-time authority)."""
    return [m for m in c2pa.Builder.get_supported_mime_types() if "/" in m]


_EXTRA_MIME = {
    ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".jpe": "image/jpeg", ".jfif": "image/jpeg", ".png": "image/png", ".webp": "image/webp",
    ".gif": "image/gif", ".tif": "image/tiff", ".tiff": "image/tiff", ".avif": "image/avif",
    ".heic": "image/heic", ".heif": "image/heif", ".jxl": "image/jxl", ".svg": "image/svg+xml",
    ".wav": "audio/wav", ".flac": "audio/flac", ".mp3": "audio/mpeg", ".m4a": "audio/mp4",
    ".ogg": "audio/ogg", ".opus": "audio/ogg", ".mp4": "video/mp4", ".mov": "video/quicktime",
    ".m4v": "video/x-m4v", ".avi": "video/x-msvideo", ".pdf": "application/pdf",
    ".c2pa": "application/c2pa",
}


def guess_mime(path: str | os.PathLike) -> str:
    ext = Path(path).suffix.lower()
    mime = _EXTRA_MIME.get(ext) or mimetypes.guess_type(str(path))[0]
    if not mime:
        raise C2PAError(f"cannot tell the media type of {os.fspath(path)!r}: pass mime")
    return mime


# --------------------------------------------------------------------------- reading


@dataclass
class C2PAResult:
    """What the active manifest says, and whether it validates."""

    present: bool
    state: str | None = None              # "Trusted" | "Valid" | "Invalid" | None
    signer: str | None = None             # signature_info common name (or issuer)
    claim_generator: str | None = None    # "name version" of the first claim_generator_info
    actions: list[dict] = field(default_factory=list)
    digital_source_type: str | None = None
    soft_binding: dict | None = None      # {"alg": ..., "value": base64}
    content_id: ContentID | None = None
    aigc: dict | None = None
    replaced_aigc: dict | None = None     # the label the input had before (REPLACED_AIGC_ASSERTION)
    spoken_label: dict | None = None      # a spoken label declared (SPOKEN_LABEL_ASSERTION)
    codes: list[str] = field(default_factory=list)   # failure codes
    error: str | None = None
    manifest_label: str | None = None
    signature_alg: str | None = None
    thumbnail: bool = False
    parent: dict | None = None            # the parentOf ingredient's manifest (_parent_info)
    #: c2pa could not parse the file, and it holds no manifest store (looked for in its bytes)
    no_store: bool = False
    #: the name of the ``.c2pa`` file beside the media that the manifest was read from
    sidecar: str | None = None

    @property
    def trusted(self) -> bool:
        return self.state == "Trusted"

    @property
    def valid(self) -> bool:
        """Cryptographically intact (Trusted, or Valid with only a trust complaint)."""
        return self.state in ("Trusted", "Valid")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["content_id"] = self.content_id.hex if self.content_id is not None else None
        return d


def _our_alg(alg: Any) -> bool:
    """A soft-binding algorithm of ours (``org.synthlabel.wm.<medium>.vN``)."""
    return isinstance(alg, str) and alg.startswith(OUR_ALG_PREFIX)


def _decode_content_id(value: Any) -> ContentID | None:
    if not isinstance(value, str):
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != 8:
        return None
    return ContentID(int.from_bytes(raw, "big"))


def _parse_store(store: dict[str, Any]) -> C2PAResult:
    label = store.get("active_manifest")
    manifest = (store.get("manifests") or {}).get(label) if label else None
    codes: list[str] = []
    for item in store.get("validation_status") or []:
        code = item.get("code") if isinstance(item, dict) else None
        if code and code not in codes:
            codes.append(code)
    active = ((store.get("validation_results") or {}).get("activeManifest") or {})
    for item in active.get("failure") or []:
        code = item.get("code") if isinstance(item, dict) else None
        if code and code not in codes:
            codes.append(code)
    result = C2PAResult(present=True, state=store.get("validation_state"), codes=codes,
                        manifest_label=label)
    if manifest is None:
        result.error = "manifest store has no active manifest"
        return result

    sig = manifest.get("signature_info") or {}
    result.signer = sig.get("common_name") or sig.get("issuer")
    result.signature_alg = sig.get("alg")
    gen = manifest.get("claim_generator_info") or []
    if gen and isinstance(gen[0], dict):
        name, version = gen[0].get("name"), gen[0].get("version")
        result.claim_generator = f"{name} {version}" if version else name
    elif manifest.get("claim_generator"):
        result.claim_generator = manifest["claim_generator"]
    result.thumbnail = bool(manifest.get("thumbnail"))

    for assertion in manifest.get("assertions") or []:
        a_label = assertion.get("label", "")
        data = assertion.get("data")
        if a_label in ("c2pa.actions", "c2pa.actions.v2") and isinstance(data, dict):
            result.actions.extend(a for a in data.get("actions") or [] if isinstance(a, dict))
        elif a_label == SOFT_BINDING_ASSERTION and isinstance(data, dict) and result.content_id is None:
            blocks = data.get("blocks") or []
            value = blocks[0].get("value") if blocks and isinstance(blocks[0], dict) else None
            alg = data.get("alg")
            if result.soft_binding is None or _our_alg(alg):
                result.soft_binding = {"alg": alg, "value": value}
            # Only our algorithms' values are our content IDs: another vendor's watermark value
            # (Digimarc, a neural mark) is reported, not compared with ours.
            if _our_alg(alg):
                result.content_id = _decode_content_id(value)
        elif a_label == SPOKEN_LABEL_ASSERTION and isinstance(data, dict):
            at = data.get("at") if isinstance(data.get("at"), list) else []
            result.spoken_label = {"at": [t["seconds"] for t in at if isinstance(t, dict)
                                          and isinstance(t.get("seconds"), (int, float))],
                                   "seconds": data.get("seconds")}
        elif a_label in (AIGC_ASSERTION, REPLACED_AIGC_ASSERTION) and isinstance(data, dict):
            inner = data.get("AIGC") if isinstance(data.get("AIGC"), dict) else data
            if a_label == AIGC_ASSERTION:
                result.aigc = dict(inner)
            else:
                result.replaced_aigc = dict(inner)
    # The source type sits on c2pa.created, or on c2pa.edited when the asset has a parent. A
    # camera capture edited with AI later has both: the AI declaration is the one that
    # counts (it was read as "digitalCapture", not AI), else the created action's.
    typed = sorted((a for a in result.actions if a.get("digitalSourceType")),
                   key=lambda a: a.get("action") != CREATED_ACTION)
    ai = [a for a in typed if source_type_problem(a["digitalSourceType"]) is None]
    if typed:
        result.digital_source_type = (ai or typed)[0]["digitalSourceType"]
    result.parent = _parent_info(store, manifest)
    return result


def _parent_info(store: dict[str, Any], manifest: dict[str, Any]) -> dict[str, Any] | None:
    """Who signed the ``parentOf`` ingredient's manifest, and what c2pa found wrong with it
    when it was added (failure codes; an untrusted signer at that time is not a failure)."""
    for ing in manifest.get("ingredients") or []:
        if not isinstance(ing, dict) or ing.get("relationship") != "parentOf":
            continue
        label = ing.get("active_manifest")
        pm = (store.get("manifests") or {}).get(label) or {}
        sig = pm.get("signature_info") or {}
        results = (ing.get("validation_results") or {}).get("activeManifest") or {}
        failures = [x.get("code") for x in results.get("failure") or []
                    if isinstance(x, dict) and x.get("code") != "signingCredential.untrusted"]
        return {"title": ing.get("title"), "manifest_label": label,
                "signer": sig.get("common_name") or sig.get("issuer"), "failures": failures}
    return None


# JUMBF description box of a C2PA manifest store: "jumd" + UUID 63327061-0011-0010-8000-00AA00389B71
_STORE_MARKER = b"jumdc2pa\x00\x11\x00\x10"


def holds_manifest_store(data: bytes) -> bool:
    """Whether ``data`` holds a C2PA manifest store (its JUMBF description box). The bytes
    "c2pa" alone decide nothing: a comment or XMP that mentions C2PA, or 1 JPEG in ~1000 by
    chance, holds them."""
    return _STORE_MARKER in data


def _has_manifest_store(stream: BinaryIO) -> bool:
    try:
        stream.seek(0)
        tail = b""
        while chunk := stream.read(1 << 20):
            if _STORE_MARKER in tail + chunk:
                return True
            tail = chunk[-(len(_STORE_MARKER) - 1):]
    except (OSError, ValueError):
        return False
    return False


def _read_stream(
    stream: BinaryIO, mime: str, trust_anchors_pem: bytes | None, manifest_data: bytes | None
) -> C2PAResult:
    ctx = _read_context(trust_anchors_pem)
    try:
        reader = c2pa.Reader(mime, stream, manifest_data, context=ctx)
    except c2pa.C2paError.ManifestNotFound:
        if manifest_data is None and _has_manifest_store(stream):
            # The store is in the file but c2pa cannot find it: the file's structure was
            # changed (one flipped byte of a WAV chunk size) after signing. That is a
            # manifest made invalid, not a file that was never signed.
            return C2PAResult(present=True, state="Invalid",
                              error="c2pa could not find the manifest store the file holds "
                                    "(the file's structure was changed after signing?)")
        return C2PAResult(present=False)
    except c2pa.C2paError.NotSupported as exc:
        if manifest_data is None and not _has_manifest_store(stream):
            # a format c2pa does not handle (BMP), holding no manifest store: not signed, as a
            # GIF or TIFF without one is "missing" (this was an "error")
            return C2PAResult(present=False, no_store=True,
                              error=f"c2pa does not handle {mime}")
        return C2PAResult(present=False, error=_one_line(f"c2pa cannot read {mime}: {exc}"))
    except c2pa.C2paError as exc:
        # A manifest store that cannot be parsed is present-but-Invalid; an asset that cannot
        # be parsed and carries no manifest store is simply not signed.
        present = manifest_data is not None or _has_manifest_store(stream)
        return C2PAResult(present=present, state="Invalid" if present else None,
                          error=_one_line(f"c2pa could not read the manifest: {exc}"),
                          no_store=not present)
    try:
        store = json.loads(reader.json())
    except (c2pa.C2paError, ValueError) as exc:
        return C2PAResult(present=True, state="Invalid",
                          error=_one_line(f"c2pa could not report the manifest: {exc}"))
    finally:
        reader.close()
    return _parse_store(store)


def read_manifest(
    data: bytes, mime: str, *, trust_anchors_pem: bytes | None = None,
    manifest_data: bytes | None = None,
) -> C2PAResult:
    """Read and validate the manifest in ``data`` (or in ``manifest_data``, a sidecar).
    ``trust_anchors_pem=None`` means no user anchors: a dev-signed asset reads ``Valid`` with
    ``signingCredential.untrusted``. An unsigned or stripped asset gives ``present=False``;
    this never raises for bad input."""
    return _read_stream(io.BytesIO(data), mime, trust_anchors_pem, manifest_data)


def read_sidecar(
    data: bytes, mime: str, manifest_bytes: bytes, *, trust_anchors_pem: bytes | None = None,
) -> C2PAResult:
    """Validate ``data`` against a detached manifest (``.c2pa`` sidecar)."""
    return read_manifest(data, mime, trust_anchors_pem=trust_anchors_pem,
                         manifest_data=manifest_bytes)


def _sidecar_of_another(path: Path, sidecar: Path) -> bool:
    """Whether ``sidecar`` (``x.c2pa``) belongs to another media file beside ``path``, one of
    the same stem in a sidecar container (``x.webm`` beside the ``x.mp4`` being read, whose
    sidecar it is; read for the MP4, it made a never-labeled render look tampered)."""
    return path.suffix.lower() not in SIDECAR_SUFFIXES and sidecar_owner(sidecar, path) is not None


def sidecar_beside(path: Path) -> Path | C2PAResult | None:
    """The ``.c2pa`` sidecar of the media file at ``path`` (``<path without suffix>.c2pa``),
    when there is one that is not another file's; a C2PAResult with the error when it is too
    large to read (read whole: a 2 GB sparse sidecar took 4 GB of memory)."""
    candidate = path.with_suffix(".c2pa")
    if not candidate.is_file() or candidate == path or _sidecar_of_another(path, candidate):
        return None
    if candidate.stat().st_size > MAX_SIDECAR_BYTES:
        return C2PAResult(present=False, error=f"the C2PA sidecar {candidate.name} "
                          f"is larger than {MAX_SIDECAR_BYTES >> 20} MiB; not read")
    return candidate


def read_manifest_file(
    path: str | os.PathLike, mime: str | None = None, *,
    trust_anchors_pem: bytes | None = None, sidecar: str | os.PathLike | None = None,
) -> C2PAResult:
    """:func:`read_manifest` for a file, streamed. ``sidecar``: a ``.c2pa`` file; when not
    given and the file carries no embedded manifest, ``<path without suffix>.c2pa`` is used if
    it exists."""
    path = Path(path)
    mime = mime or guess_mime(path)
    side_bytes = Path(sidecar).read_bytes() if sidecar is not None else None
    try:
        with open(path, "rb") as fh:
            result = _read_stream(fh, mime, trust_anchors_pem, side_bytes)
            if not result.present and sidecar is None:
                candidate = sidecar_beside(path)
                if isinstance(candidate, C2PAResult):
                    return candidate
                if candidate is not None:
                    fh.seek(0)
                    result = _read_stream(fh, mime, trust_anchors_pem, candidate.read_bytes())
                    result.sidecar = candidate.name
    except OSError as exc:
        return C2PAResult(present=False, error=f"cannot read {path}: {exc.strerror}")
    return result
