"""WebP: XMP in the RIFF ``XMP `` chunk of the extended (VP8X) format.

A simple file (a lone ``VP8 `` or ``VP8L`` chunk) cannot carry metadata, so it is converted to
the extended layout: a ``VP8X`` header is prepended with the canvas size read from the bitstream
and the alpha flag taken from the VP8L header. The image chunk itself is copied unchanged.
Chunk order follows the container spec: VP8X, ICCP, ANIM/ANMF or ALPH+VP8/VP8L, EXIF, XMP, then
unknown chunks.
"""
from __future__ import annotations

from .xmp import EXIFCleaner, Extracted, MetadataError, XMPUpdater

__all__ = ["extract", "rewrite", "canvas_size", "FLAG_ICC", "FLAG_ALPHA", "FLAG_EXIF", "FLAG_XMP",
           "FLAG_ANIM"]

FLAG_ICC, FLAG_ALPHA, FLAG_EXIF, FLAG_XMP, FLAG_ANIM = 0x20, 0x10, 0x08, 0x04, 0x02
_IMAGE_AND_BEFORE = {b"VP8X", b"ICCP", b"ANIM", b"ANMF", b"ALPH", b"VP8 ", b"VP8L", b"EXIF"}


def _chunks(data: bytes) -> list[tuple[bytes, memoryview | bytes]]:
    """(fourcc, payload) pairs; payloads are views into ``data`` (no copy of the bitstream).
    Bytes after the RIFF size (junk some tools append) are ignored; a RIFF size beyond the
    file means truncation."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise MetadataError("not a WebP (no RIFF/WEBP header)")
    end = 8 + int.from_bytes(data[4:8], "little")
    if end > len(data):
        raise MetadataError("truncated WebP (RIFF size exceeds the file)")
    view = memoryview(data)
    pos = 12
    out: list[tuple[bytes, memoryview | bytes]] = []
    while pos < end:
        if pos + 8 > end:
            raise MetadataError("truncated WebP chunk header")
        fourcc = data[pos:pos + 4]
        size = int.from_bytes(data[pos + 4:pos + 8], "little")
        stop = pos + 8 + size
        if stop > end:
            raise MetadataError(f"truncated WebP {fourcc.decode('latin-1')!r} chunk")
        out.append((fourcc, view[pos + 8:stop]))
        pos = stop + (size & 1)  # chunks are padded to even length
    if not out or out[0][0] not in (b"VP8X", b"VP8 ", b"VP8L"):
        raise MetadataError("WebP does not start with a VP8X, VP8 or VP8L chunk")
    return out


def canvas_size(fourcc: bytes, payload: bytes | memoryview) -> tuple[int, int, bool]:
    """(width, height, has_alpha) from a VP8 key frame or VP8L header."""
    payload = bytes(payload[:10])
    if fourcc == b"VP8 ":
        # 3-byte frame tag (bit 0 = 0 for a key frame), start code 9D 01 2A, then 14-bit
        # width and height each with a 2-bit scale in the top bits.
        if len(payload) < 10 or payload[3:6] != b"\x9d\x01\x2a" or payload[0] & 1:
            raise MetadataError("WebP VP8 chunk is not a key frame")
        w = int.from_bytes(payload[6:8], "little") & 0x3FFF
        h = int.from_bytes(payload[8:10], "little") & 0x3FFF
        return w, h, False
    if fourcc == b"VP8L":
        # Signature 0x2F, then 14 bits width-1, 14 bits height-1, 1 bit alpha_is_used,
        # 3 bits version (must be 0).
        if len(payload) < 5 or payload[0] != 0x2F:
            raise MetadataError("WebP VP8L chunk has a bad signature")
        bits = int.from_bytes(payload[1:5], "little")
        if bits >> 29:
            raise MetadataError("WebP VP8L chunk has an unknown version")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, bool((bits >> 28) & 1)
    raise MetadataError(f"not a WebP image chunk: {fourcc!r}")


def _vp8x(flags: int, width: int, height: int) -> bytes:
    return (bytes((flags, 0, 0, 0)) + (width - 1).to_bytes(3, "little")
            + (height - 1).to_bytes(3, "little"))


def _exif_tiff(payload: bytes) -> tuple[int, bytes]:
    """The spec says the EXIF chunk is a bare TIFF stream; some writers keep "Exif\\0\\0"."""
    skip = 6 if payload.startswith(b"Exif\x00") else 0
    return skip, payload[skip:]


def extract(data: bytes) -> Extracted:
    chunks = _chunks(data)
    xmp = [bytes(p) for f, p in chunks if f == b"XMP "]
    exif = [_exif_tiff(bytes(p))[1] for f, p in chunks if f == b"EXIF"]
    return Extracted(xmp, exif, [])


def rewrite(data: bytes, update_xmp: XMPUpdater, clean_exif: EXIFCleaner) -> bytes:
    chunks = _chunks(data)
    first, first_payload = chunks[0]
    if first == b"VP8X":
        if len(first_payload) < 10:
            raise MetadataError("truncated WebP VP8X chunk")
        vp8x = bytearray(first_payload)
    else:
        w, h, alpha = canvas_size(first, first_payload)
        flags = FLAG_ALPHA if alpha else 0
        vp8x = bytearray(_vp8x(flags, w, h))
        chunks.insert(0, (b"VP8X", b""))  # placeholder, filled below
    fourccs = {f for f, _ in chunks}
    vp8x[0] |= FLAG_XMP
    # Keep the other flags truthful for what the file holds (a converted simple file may
    # carry stray EXIF/ICCP chunks that readers would otherwise ignore).
    if b"EXIF" in fourccs:
        vp8x[0] |= FLAG_EXIF
    if b"ICCP" in fourccs:
        vp8x[0] |= FLAG_ICC
    chunks[0] = (b"VP8X", bytes(vp8x))

    xmp_idx = [i for i, (f, _) in enumerate(chunks) if f == b"XMP "]
    new_packets = update_xmp([bytes(chunks[i][1]) for i in xmp_idx])
    if xmp_idx:
        for i, packet in zip(xmp_idx, new_packets):
            chunks[i] = (b"XMP ", packet)
    else:
        last = max(i for i, (f, _) in enumerate(chunks) if f in _IMAGE_AND_BEFORE)
        chunks.insert(last + 1, (b"XMP ", new_packets[0]))
    for i, (f, payload) in enumerate(chunks):
        if f == b"EXIF":
            raw = bytes(payload)
            skip, tiff = _exif_tiff(raw)
            cleaned = clean_exif(tiff)
            if cleaned is not tiff:
                chunks[i] = (f, raw[:skip] + cleaned)

    body: list[bytes | memoryview] = [b"WEBP"]
    for f, payload in chunks:
        body.append(f + len(payload).to_bytes(4, "little"))
        body.append(payload)
        if len(payload) & 1:
            body.append(b"\x00")
    size = sum(len(b) for b in body)
    if size > 0xFFFFFFFF:
        raise MetadataError("WebP would exceed the 4 GiB RIFF limit")
    return b"RIFF" + size.to_bytes(4, "little") + b"".join(body)
