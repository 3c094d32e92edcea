"""Embed a signed C2PA manifest in WAV, FLAC and MP3 files by data hash, in bounded memory.

Why: c2pa-rs's own writers (behind ``Builder.sign`` in c2pa-python 0.38, c2pa-rs 0.91) hold
the file in memory: its RIFF writer reads every chunk into memory and writes through an
in-memory copy, its FLAC writer copies the stream into memory to place its ID3 tag. Labeling
a one-hour 48 kHz stereo file peaked at 1.5 GB resident for WAV (691 MB) and at 0.93 GB for
FLAC (398 MB), against issue #4's 1 GB; signing alone added 492 MiB on a 173 MB WAV.

How: the C2PA *data-hash* route, which c2pa-rs exposes in its C API (c2pa-python does not
wrap it; the two entry points are declared here with ctypes on the library c2pa-python
loads):

1. ``c2pa_builder_data_hashed_placeholder`` returns a placeholder manifest store (raw JUMBF,
   format ``application/c2pa``) of the final size;
2. the placeholder goes where c2pa-rs itself puts the store: for WAV a top-level ``C2PA``
   chunk after the last chunk, the RIFF size fixed up (:func:`..formats.riff.append_chunk`);
   for FLAC the object of an ID3v2.4 ``GEOB`` frame (MIME ``application/c2pa``) in a tag
   before ``fLaC``; for MP3 the same frame after the other frames of the file's ID3 tag,
   with padding after it (ExifTool warns when the tag's last frame has none);
3. the file is hashed (SHA-256, 1 MiB blocks) without the placeholder's bytes, with the same
   exclusion c2pa-rs writes in its ``c2pa.hash.data`` hard binding (WAV: the chunk's header
   and payload; FLAC, MP3: the frame's object), and ``c2pa_builder_sign_data_hashed_embeddable``
   signs a manifest carrying that hash and returns the signed store;
4. the signed store, which has the placeholder's size, overwrites it in place.

Sidecars (:func:`sign_detached`, for Ogg/Opus/MKV/WebM) take the same route with a hash over
the whole file and nothing embedded.

The results read back with c2pa's ``Reader`` as ``Trusted`` and report
``assertion.dataHash.mismatch`` when the audio is altered (tests/test_c2pa_datahash.py), like
files c2pa-rs signed itself. Only headers, copy blocks and the manifest are held in memory.
"""
from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
from typing import BinaryIO

import c2pa

from ..formats import id3, riff
from ..fsutil import read_range

__all__ = ["C2PA_CHUNK", "available", "sign_detached", "sign_flac", "sign_mp3", "sign_wav"]

#: The RIFF chunk c2pa-rs reads a WAV file's manifest store from.
C2PA_CHUNK = b"C2PA"
#: Format for the placeholder and the signed store: raw JUMBF, we do the RIFF framing.
_RAW_FORMAT = b"application/c2pa"

_native = None


def _lib():
    """The c2pa C library with the two data-hash entry points declared (once); None when this
    c2pa-python does not expose what we need."""
    global _native
    if _native is None:
        try:
            mod = c2pa.c2pa
            lib = mod._lib
            ptr = ctypes.POINTER
            out = ptr(ptr(ctypes.c_ubyte))
            lib.c2pa_builder_data_hashed_placeholder.argtypes = [
                ptr(mod.C2paBuilder), ctypes.c_size_t, ctypes.c_char_p, out]
            lib.c2pa_builder_data_hashed_placeholder.restype = ctypes.c_int64
            lib.c2pa_builder_sign_data_hashed_embeddable.argtypes = [
                ptr(mod.C2paBuilder), ptr(mod.C2paSigner), ctypes.c_char_p, ctypes.c_char_p,
                ptr(mod.C2paStream), out]
            lib.c2pa_builder_sign_data_hashed_embeddable.restype = ctypes.c_int64
            _native = (lib, mod)
        except AttributeError:
            _native = False
    return _native or None


def available() -> bool:
    """True when the data-hash entry points can be called."""
    return _lib() is not None


def _bytes_result(lib, n: int, ptr, what: str) -> bytes:
    if n < 0 or not ptr:
        raw = lib.c2pa_error()
        msg = ctypes.string_at(raw).decode("utf-8", "replace") if raw else "unknown error"
        raise c2pa.C2paError(f"{what}: {msg}")
    try:
        return ctypes.string_at(ptr, n)
    finally:
        lib.c2pa_free(ptr)


def _sha256_excluding(f: BinaryIO, start: int, length: int, block: int = 1 << 20) -> bytes:
    """SHA-256 of the file open in ``f`` without bytes ``[start, start + length)``: the
    ``c2pa.hash.data`` value for that exclusion (one range, no other framing)."""
    h = hashlib.sha256()
    end = f.seek(0, os.SEEK_END)
    try:
        for lo, hi in ((0, start), (start + length, end)):
            for buf in read_range(f, lo, hi - lo, block):
                h.update(buf)
    except EOFError:
        raise OSError("the file shrank while it was hashed") from None
    return h.digest()


def _lib_or_raise():
    native = _lib()
    if native is None:
        raise c2pa.C2paError("this c2pa-python does not expose data-hash signing")
    return native[0]


def _placeholder(builder: c2pa.Builder, signer: c2pa.Signer) -> bytes:
    """A placeholder manifest store (raw JUMBF) of the size the signed one will have."""
    lib = _lib_or_raise()
    out = ctypes.POINTER(ctypes.c_ubyte)()
    n = lib.c2pa_builder_data_hashed_placeholder(
        builder._handle, signer.reserve_size(), _RAW_FORMAT, ctypes.byref(out))
    return _bytes_result(lib, n, out, "c2pa could not make a placeholder")


def _sign_hash(builder: c2pa.Builder, signer: c2pa.Signer, exclusions: list[dict],
               digest: bytes) -> bytes:
    """The signed store (raw JUMBF) whose ``c2pa.hash.data`` hard binding is ``digest``
    (SHA-256) with ``exclusions``. The asset is not passed: c2pa takes our hash (its own pass
    over the stream, given the asset, added 385 MB resident on a 691 MB file). Needs :func:`_placeholder` called on ``builder`` first."""
    lib = _lib_or_raise()
    data_hash = {"exclusions": exclusions, "name": "jumbf manifest", "alg": "sha256",
                 "hash": list(digest), "pad": []}
    out = ctypes.POINTER(ctypes.c_ubyte)()
    n = lib.c2pa_builder_sign_data_hashed_embeddable(
        builder._handle, signer._handle, json.dumps(data_hash).encode("ascii"), _RAW_FORMAT,
        None, ctypes.byref(out))
    return _bytes_result(lib, n, out, "c2pa signing failed")


def _sign_in_place(f: BinaryIO, builder: c2pa.Builder, signer: c2pa.Signer, placeholder: bytes,
                   store_at: int, start: int, length: int) -> bytes:
    """Hash the file open in ``f`` without ``[start, start + length)`` (which holds the
    placeholder, stored from offset ``store_at``), sign, and overwrite the placeholder with the
    signed store of the same size."""
    f.flush()
    signed = _sign_hash(builder, signer, [{"start": start, "length": length}],
                        _sha256_excluding(f, start, length))
    if len(signed) != len(placeholder):
        raise c2pa.C2paError(
            f"c2pa returned a {len(signed)}-byte manifest for a {len(placeholder)}-byte placeholder")
    f.seek(store_at)
    f.write(signed)
    f.flush()
    return signed


def sign_wav(f: BinaryIO, builder: c2pa.Builder, signer: c2pa.Signer) -> bytes:
    """Embed the manifest of ``builder``, signed by ``signer``, in the RIFF/WAVE file open in
    ``f`` (``r+b``, no ``C2PA`` chunk yet; see :func:`..formats.riff.append_chunk` for the
    layouts handled). Returns the signed manifest store. Raises ``c2pa.C2paError`` from
    c2pa, :class:`..formats.xmp.MetadataError` for a layout we cannot append to."""
    placeholder = _placeholder(builder, signer)
    offset = riff.append_chunk(f, C2PA_CHUNK, placeholder)
    # exclusion = the chunk's header and payload, as c2pa-rs's own writer excludes it
    return _sign_in_place(f, builder, signer, placeholder, offset + 8, offset, 8 + len(placeholder))


def sign_detached(f: BinaryIO, builder: c2pa.Builder, signer: c2pa.Signer) -> bytes:
    """The signed manifest store of ``builder`` for the file open in ``f``, bound by a data hash
    over the whole file (no exclusions), for a ``.c2pa`` sidecar: what c2pa-rs's ``no_embed``
    signing returns, without reading the file into memory (c2pa-python's route needs it in
    memory or as a stream, and copies the asset to a destination stream)."""
    _placeholder(builder, signer)          # c2pa adds the hash-binding assertion here
    return _sign_hash(builder, signer, [], _sha256_excluding(f, 0, 0))


def sign_flac(src: BinaryIO, dst: BinaryIO, builder: c2pa.Builder, signer: c2pa.Signer) -> bytes:
    """Write the FLAC stream open in ``src`` (it must start with ``fLaC``: no ID3 tag) to
    ``dst`` (``w+b``, empty) behind an ID3v2.4 tag holding the signed manifest of ``builder``
    in a ``GEOB`` frame (MIME ``application/c2pa``): the layout c2pa-rs writes and reads for
    FLAC, where the exclusion is the frame's object data, with padding after the frame (see
    :func:`sign_mp3`). Returns the signed store."""
    src.seek(0)
    if src.read(4) != b"fLaC":
        raise c2pa.C2paError("not a bare FLAC stream (it does not start with fLaC)")
    return _sign_behind_tag(src, dst, builder, signer, id3.Id3Tag(4, (), 0), pad=_ID3_PADDING)


def sign_mp3(src: BinaryIO, dst: BinaryIO, builder: c2pa.Builder, signer: c2pa.Signer,
             tag: id3.Id3Tag) -> bytes:
    """Write the MP3 open in ``src``, whose leading ID3v2 tag is ``tag``
    (:func:`..formats.id3.split_tag`), to ``dst`` (``w+b``, empty) with the signed manifest of
    ``builder`` in a ``GEOB`` frame after the tag's other frames (an old manifest's frame is
    dropped), then padding: c2pa-rs's layout for MP3, but for the padding. c2pa-rs writes its
    frame last with nothing after it, and ExifTool then warns "Invalid ID3 frame size" (its
    check of an ID3v2.4 frame's size wants room for one more frame header behind it). Returns
    the signed store."""
    return _sign_behind_tag(src, dst, builder, signer, tag.without_c2pa(), pad=_ID3_PADDING)


#: Zero bytes after the manifest's frame in the ID3 tag of a signed MP3 or FLAC (ExifTool
#: wants at least 10).
_ID3_PADDING = 256


def _sign_behind_tag(src: BinaryIO, dst: BinaryIO, builder: c2pa.Builder, signer: c2pa.Signer,
                     tag: id3.Id3Tag, pad: int) -> bytes:
    """``tag``'s frames, a ``GEOB`` frame holding the signed store, ``pad`` zero bytes, then
    ``src`` from ``tag.end`` on. The exclusion is the frame's object, as c2pa-rs writes it."""
    placeholder = _placeholder(builder, signer)
    # GEOB: text encoding (UTF-8 in v2.4; v2.3 has none, so Latin-1: the strings are ASCII),
    # MIME type, file name, description, then the object
    fields = ((b"\x03" if tag.major == 4 else b"\x00") + id3.C2PA_MIME
              + b"\x00c2pa\x00c2pa manifest store\x00")
    size = len(fields) + len(placeholder)
    frame = (b"GEOB" + (id3.syncsafe(size) if tag.major == 4 else size.to_bytes(4, "big"))
             + b"\x00\x00" + fields)
    frames = b"".join(tag.frames)
    header = b"ID3" + bytes([tag.major, 0, 0]) + id3.syncsafe(
        len(frames) + len(frame) + len(placeholder) + pad)
    start = len(header) + len(frames) + len(frame)
    dst.write(header + frames + frame + placeholder + bytes(pad))
    src.seek(tag.end)
    shutil.copyfileobj(src, dst, 1 << 20)
    return _sign_in_place(dst, builder, signer, placeholder, start, start, len(placeholder))
