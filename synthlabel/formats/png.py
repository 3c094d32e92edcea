"""PNG: XMP in an uncompressed ``iTXt`` chunk (keyword ``XML:com.adobe.xmp``) before the first
``IDAT``, spliced at chunk level. IDAT and every other chunk are copied verbatim.

Readers also take XMP from a ``tEXt`` or ``zTXt`` chunk with that keyword (ImageMagick writes
it so); the writer replaces such a chunk with an iTXt one. Readers also accept the TC260
alternative, a text chunk with keyword ``AIGC`` holding the wrapped JSON; the writer removes
such a chunk because the rules allow exactly one label and the XMP one replaces it.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from .xmp import EXIFCleaner, Extracted, MetadataError, XMPUpdater

__all__ = ["SIGNATURE", "XMP_KEYWORD", "extract", "rewrite", "chunk", "itxt"]

SIGNATURE = b"\x89PNG\r\n\x1a\n"
XMP_KEYWORD = b"XML:com.adobe.xmp"
AIGC_KEYWORD = b"AIGC"
_TEXT_TYPES = (b"tEXt", b"zTXt", b"iTXt")
# A compressed text chunk is inflated at most this far (a label is < 1 KiB, XMP rarely > 1 MiB).
_MAX_INFLATE = 16 << 20


@dataclass(frozen=True)
class _Chunk:
    type: bytes
    start: int
    end: int  # after the CRC

    def body(self, data: bytes) -> bytes:
        return data[self.start + 8:self.end - 4]

    def crc_ok(self, data: bytes) -> bool:
        crc = int.from_bytes(data[self.end - 4:self.end], "big")
        return zlib.crc32(data[self.start + 4:self.end - 4]) == crc

    def check_crc(self, data: bytes) -> None:
        if not self.crc_ok(data):
            raise MetadataError(f"PNG {self.type.decode('latin-1')} chunk has a bad CRC")


def chunk(ctype: bytes, body: bytes) -> bytes:
    return (len(body).to_bytes(4, "big") + ctype + body
            + zlib.crc32(body, zlib.crc32(ctype)).to_bytes(4, "big"))


def itxt(keyword: bytes, text: bytes) -> bytes:
    """An uncompressed iTXt chunk (compression flag 0, no language tag or translation)."""
    return chunk(b"iTXt", keyword + b"\x00\x00\x00\x00\x00" + text)


def _chunks(data: bytes, partial: bool = False) -> tuple[list[_Chunk], int]:
    """All chunks through IEND, and the offset just past IEND (trailing bytes are kept).
    ``partial``: a file cut short gives the chunks before the cut (a reader's XMP usually
    comes before the image data) instead of an error."""
    if data[:8] != SIGNATURE:
        raise MetadataError("not a PNG (bad signature)")
    n = len(data)
    pos = 8
    chunks: list[_Chunk] = []
    while True:
        if pos == n:
            if partial and chunks:
                break
            raise MetadataError("PNG has no IEND chunk (truncated file)")
        if pos + 12 > n:
            if partial and chunks:
                break
            raise MetadataError("truncated PNG chunk")
        length = int.from_bytes(data[pos:pos + 4], "big")
        ctype = data[pos + 4:pos + 8]
        if length > 0x7FFFFFFF or not ctype.isalpha() or not ctype.isascii():
            if partial and chunks:      # damaged past what was read (e.g. IEND's length)
                break
            raise MetadataError(f"invalid PNG chunk at offset {pos}")
        end = pos + 12 + length
        if end > n:
            if partial and chunks:
                break
            raise MetadataError("truncated PNG chunk")
        chunks.append(_Chunk(ctype, pos, end))
        pos = end
        if ctype == b"IEND":
            break
    if chunks[0].type != b"IHDR":
        raise MetadataError("PNG does not start with an IHDR chunk")
    return chunks, pos


def without_bad_ancillary(data: bytes) -> tuple[bytes, list[str]]:
    """``data`` without the ancillary chunks (tEXt, iTXt, eXIf, ...: lowercase first letter)
    whose CRC does not match, and their types. libpng only warns about such a chunk and
    viewers show the image; Pillow refuses the whole file. ``(data, [])`` when there are none
    or the chunk list itself is broken (that is a real decode error)."""
    try:
        chunks, _ = _chunks(data)
    except MetadataError:
        return data, []
    bad = [c for c in chunks if c.type[:1].islower() and not c.crc_ok(data)]
    if not bad:
        return data, []
    keep, pos = [], 0
    for c in bad:
        keep.append(data[pos:c.start])
        pos = c.end
    keep.append(data[pos:])
    return b"".join(keep), [c.type.decode("latin-1") for c in bad]


def _inflate(raw: bytes, what: str) -> bytes:
    d = zlib.decompressobj()
    try:
        out = d.decompress(raw, _MAX_INFLATE)
    except zlib.error:
        raise MetadataError(f"PNG {what} chunk has corrupt compressed data") from None
    if d.unconsumed_tail:
        raise MetadataError(f"PNG {what} chunk inflates beyond {_MAX_INFLATE >> 20} MiB")
    return out


def _text(c: _Chunk, data: bytes) -> tuple[bytes, bytes] | None:
    """(keyword, value bytes) of a tEXt/zTXt/iTXt chunk; iTXt values are UTF-8, tEXt/zTXt
    Latin-1 (a label is ASCII either way)."""
    body = c.body(data)
    keyword, sep, rest = body.partition(b"\x00")
    if not sep:
        raise MetadataError(f"PNG {c.type.decode()} chunk has no keyword terminator")
    if c.type == b"tEXt":
        return keyword, rest
    if c.type == b"zTXt":
        return keyword, _inflate(rest[1:], "zTXt")
    if len(rest) < 2:
        raise MetadataError("truncated PNG iTXt chunk")
    compressed = rest[0]
    _lang, sep1, rest = rest[2:].partition(b"\x00")
    _tkw, sep2, text = rest.partition(b"\x00")
    if not (sep1 and sep2):
        raise MetadataError("truncated PNG iTXt chunk")
    return keyword, _inflate(text, "iTXt") if compressed else text


def _is_xmp(c: _Chunk, data: bytes) -> bool:
    # ImageMagick and other tools put the packet in a tEXt or zTXt chunk; ExifTool and Pillow
    # read it from there, so it is the file's XMP (and its label) as much as an iTXt one is
    return c.type in _TEXT_TYPES and data.startswith(XMP_KEYWORD + b"\x00", c.start + 8)


def _xmp_packet(c: _Chunk, data: bytes) -> bytes:
    """The UTF-8 packet of an XMP chunk (see ``_is_xmp``). tEXt/zTXt are Latin-1 by the PNG
    spec, but XMP is UTF-8 and writers put UTF-8 there: bytes that are not UTF-8 are taken
    as the Latin-1 the spec promises."""
    value = _text(c, data)[1]
    if c.type == b"iTXt":
        return value
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1").encode("utf-8")
    return value


def _is_aigc_text(c: _Chunk, data: bytes) -> bool:
    if c.type not in _TEXT_TYPES:
        return False
    kw = data[c.start + 8:c.start + 8 + len(AIGC_KEYWORD) + 1]
    return kw.upper() == AIGC_KEYWORD + b"\x00"


#: Chunks a re-encode keeps verbatim (besides iCCP, eXIf and the XMP packet, written from the
#: decoded values): text (generation parameters, descriptions; not XMP, a stale AIGC label or
#: EXIF in an ImageMagick raw profile), physical pixel size and the colour description,
#: including PNG's third edition's coding-independent code points (cICP: Display P3, BT.2100
#: PQ / HLG; an HDR or wide-gamut picture without it was shown as sRGB, its colours shifted)
#: and HDR mastering metadata (mDCV, cLLI). All may sit right after IHDR.
_CARRIED = (b"tEXt", b"zTXt", b"iTXt", b"pHYs", b"gAMA", b"cHRM", b"sRGB", b"cICP", b"mDCV", b"cLLI")

#: ImageMagick's text chunks holding a profile as hex ("\n<name>\n<length>\n<hex lines>").
#: Pillow reads EXIF from the exif one when there is no eXIf chunk; an APP1 one holds either
#: EXIF ("Exif\0\0" + TIFF) or XMP, and Pillow reads neither.
_RAW_EXIF = b"Raw profile type exif"
_RAW_APP1 = b"Raw profile type APP1"


def _raw_profile(c: _Chunk, data: bytes) -> tuple[bytes, bytes] | None:
    """(keyword, payload) of a raw-profile exif or APP1 chunk, else None (also when it does
    not decode: such a chunk is copied as it is, like any other text)."""
    if c.type not in _TEXT_TYPES:
        return None
    keyword = data[c.start + 8:c.start + 8 + 80].partition(b"\x00")[0]  # keywords <= 79 bytes
    if keyword not in (_RAW_EXIF, _RAW_APP1):
        return None
    try:
        text = _text(c, data)[1]
        return keyword, bytes.fromhex("".join(text.decode("ascii").split("\n")[3:]))
    except (MetadataError, UnicodeDecodeError, ValueError):
        return None


def _stale_exif_profiles(chunks: list[_Chunk], data: bytes) -> set[int]:
    """Offsets of the raw-profile chunks holding EXIF that the output carries elsewhere.

    The decoder takes EXIF from eXIf, else from a raw exif profile, and the output carries it
    (with Orientation 1 once the pixels are turned): a raw-profile copy left beside it keeps
    the old orientation, and readers that prefer it turn the image twice. Without such a
    source a raw APP1 EXIF is kept: it is then the only copy, and the pixels were not turned."""
    profiles = {c.start: p for c in chunks if (p := _raw_profile(c, data)) is not None}
    decoded = (any(c.type == b"eXIf" for c in chunks)
               or any(kw == _RAW_EXIF for kw, _ in profiles.values()))
    if not decoded:
        return set()
    return {at for at, (kw, payload) in profiles.items()
            if kw == _RAW_EXIF or payload.startswith(b"Exif\x00")}


def ancillary(data: bytes) -> list[bytes]:
    """The chunks of a PNG that re-encoding its pixels would lose and that still describe the
    new file (see ``_CARRIED``), as raw bytes ready to insert after IHDR. ``sRGB`` is left out
    when the file has an ``iCCP`` profile (the two must not both be present; the profile is
    kept), and so is EXIF in a raw profile that the output carries in eXIf
    (``_stale_exif_profiles``). Unparseable files give []."""
    try:
        chunks, _ = _chunks(data)
    except MetadataError:
        return []
    has_icc = any(c.type == b"iCCP" for c in chunks)
    stale_exif = _stale_exif_profiles(chunks, data)
    out = []
    for c in chunks:
        if c.type not in _CARRIED or _is_xmp(c, data) or _is_aigc_text(c, data):
            continue
        if c.start in stale_exif:
            continue
        if c.type == b"sRGB" and has_icc:
            continue
        out.append(data[c.start:c.end])
    return out


#: Chunks a re-encode drops (they no longer hold once the pixels are rewritten, or would need
#: rewriting for the output's colour type), said in a warning: background colour, significant
#: bits, suggested palette, palette histogram.
_DROPPED = {b"bKGD": "background colour", b"sBIT": "significant bits", b"sPLT": "suggested palette",
            b"hIST": "palette histogram"}
#: sRGB's gamma (1/2.2, x 100000) and primaries (white x, y, red x, y, green x, y, blue x, y).
_SRGB_GAMA = 45455
_SRGB_CHRM = (31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000)


#: ... and others a re-encode drops (they describe the old encoding, or synthlabel does not
#: know what they hold), named in the same warning: every chunk not carried is said (a private
#: chunk and tIME went without a word).
_DROPPED_TOO = {b"tIME": "modification time", b"oFFs": "image offset", b"pCAL": "pixel calibration",
                b"sCAL": "physical scale", b"sTER": "stereo layout", b"dSIG": "digital signature"}
#: Chunks the pixels or the carried metadata stand for (the picture, its palette and
#: transparency, its animation, where a still is written and warned, its ICC profile, EXIF),
#: and the C2PA manifest store, which a new manifest replaces (naming the old as its parent)
_REWRITTEN = {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"acTL", b"fcTL", b"fdAT", b"iCCP",
              b"eXIf", b"caBX"}


def dropped(data: bytes) -> list[str]:
    """What of ``data``'s chunks a re-encode leaves out, named, for a warning: those it no
    longer describes (``_DROPPED``, ``_DROPPED_TOO``) and any other it does not carry."""
    try:
        chunks, _ = _chunks(data)
    except MetadataError:
        return []

    def named(t: bytes) -> str:
        what = _DROPPED.get(t) or _DROPPED_TOO.get(t) or (
            "a private chunk" if t[1:2].islower() else "an unknown chunk")
        return f"{t.decode('latin-1')} ({what})"

    return list(dict.fromkeys(named(c.type) for c in chunks
                              if c.type not in _CARRIED and c.type not in _REWRITTEN))


def non_srgb(raw_chunks: list[bytes]) -> bool:
    """Do the carried chunks ``raw_chunks`` say the picture is not sRGB (a gAMA or cHRM other
    than sRGB's, and no sRGB chunk overriding them)? Into JPEG or WebP, which have no place
    for them, the picture then shows differently."""
    types = {c[4:8]: c[8:-4] for c in raw_chunks}
    if b"sRGB" in types:
        return False
    gama, chrm = types.get(b"gAMA"), types.get(b"cHRM")
    if gama is not None and len(gama) == 4 and abs(int.from_bytes(gama, "big") - _SRGB_GAMA) > 500:
        return True
    if chrm is not None and len(chrm) == 32:
        values = struct.unpack(">8I", chrm)
        return any(abs(v - w) > 1000 for v, w in zip(values, _SRGB_CHRM))
    return False


def text_keywords(raw_chunks: list[bytes]) -> list[str]:
    """The keywords of the text chunks among ``raw_chunks`` (for messages)."""
    out = []
    for raw in raw_chunks:
        if raw[4:8] in _TEXT_TYPES:
            out.append(raw[8:].partition(b"\x00")[0].decode("latin-1"))
    return out


def _exif_tiff(body: bytes) -> tuple[int, bytes]:
    """eXIf holds a bare TIFF stream; some writers keep the JPEG-style "Exif\\0\\0" prefix."""
    skip = 6 if body.startswith(b"Exif\x00") else 0
    return skip, body[skip:]


class _Budget:
    """What the text chunks of one file may inflate to together: each chunk's own limit kept
    sixty 16 MiB zTXt chunks (a 1 MB file) in memory at once, over a gigabyte."""

    def __init__(self) -> None:
        self.left = _MAX_INFLATE

    def take(self, value: bytes) -> bytes:
        self.left -= len(value)
        if self.left < 0:
            raise MetadataError(f"PNG text chunks inflate beyond {_MAX_INFLATE >> 20} MiB in total")
        return value


def extract(data: bytes) -> Extracted:
    chunks, _ = _chunks(data, partial=True)      # what a cut file still holds is read
    xmp: list[bytes] = []
    exif: list[bytes] = []
    text: list[tuple[str, bytes]] = []
    budget = _Budget()
    for c in chunks:
        if _is_xmp(c, data):
            c.check_crc(data)
            xmp.append(budget.take(_xmp_packet(c, data)))
        elif _is_aigc_text(c, data):
            c.check_crc(data)
            text.append((c.type.decode(), budget.take(_text(c, data)[1])))
        elif c.type == b"eXIf":
            exif.append(_exif_tiff(c.body(data))[1])
    return Extracted(xmp, exif, text)


def rewrite(data: bytes, update_xmp: XMPUpdater, clean_exif: EXIFCleaner) -> bytes:
    """Put the updated XMP packet before the first IDAT (in place if it already is), drop
    stale ``AIGC`` text chunks, clean eXIf; copy everything else. Every XMP chunk, tEXt and
    zTXt ones included, is written back as an uncompressed iTXt chunk."""
    chunks, _ = _chunks(data)
    # The image data starts at the first IDAT (or APNG fcTL, which precedes it).
    first_data = next((i for i, c in enumerate(chunks) if c.type in (b"IDAT", b"fcTL")), None)
    if first_data is None:
        raise MetadataError("PNG has no IDAT chunk")
    xmp_idx = [i for i, c in enumerate(chunks) if _is_xmp(c, data)]
    existing = []
    budget = _Budget()
    for i in xmp_idx:
        chunks[i].check_crc(data)
        existing.append(budget.take(_xmp_packet(chunks[i], data)))
    new_packets = update_xmp(existing)
    # The main packet stays where it is when that is before IDAT, else it moves there.
    main_at = xmp_idx[0] if xmp_idx and xmp_idx[0] < first_data else first_data

    view = memoryview(data)  # slices of a view are not copies; join copies once
    out: list[bytes | memoryview] = []
    run = 0  # start of the current run of chunks copied verbatim: one slice per run, not
    # per chunk, keeps a file with thousands of IDAT chunks at a single memcpy

    def emit(piece: bytes, at: int, resume: int) -> None:
        nonlocal run
        out.append(view[run:at])
        out.append(piece)
        run = resume

    k = 0
    for i, c in enumerate(chunks):
        if i == main_at and main_at == first_data:
            emit(itxt(XMP_KEYWORD, new_packets[0]), c.start, c.start)
        if _is_xmp(c, data):
            # the first packet is replaced in place, or dropped here when it was moved
            # before IDAT above; later (non-standard) packets are replaced in place
            if k == 0:
                emit(itxt(XMP_KEYWORD, new_packets[0]) if i == main_at else b"", c.start, c.end)
            else:
                emit(itxt(XMP_KEYWORD, new_packets[k]), c.start, c.end)
            k += 1
        elif _is_aigc_text(c, data):
            # a stale label in the alternative channel: exactly one label is allowed
            emit(b"", c.start, c.end)
        elif c.type == b"eXIf":
            body = c.body(data)
            skip, tiff = _exif_tiff(body)
            cleaned = clean_exif(tiff)
            if cleaned is not tiff:
                emit(chunk(b"eXIf", body[:skip] + cleaned), c.start, c.end)
    out.append(view[run:])  # through IEND, plus any trailing bytes
    return b"".join(out)
