"""The GB 45438 implicit label in image file metadata (JPEG, PNG, WebP).

Writing: one XMP packet with ``TC260:AIGC`` (inner JSON) and ``Iptc4xmpExt:DigitalSourceType``
(full URI), spliced into the container at byte level (no pixel re-encode); an existing packet is
updated property-wise so that other XMP, EXIF and ICC data survive. A stale label in another
channel (PNG ``AIGC`` text chunk, EXIF UserComment holding AIGC JSON) is removed, because the
rules allow exactly one label per file and the user labeling a file expects the new one to be it.

Reading: every channel a label may be in (XMP attribute or element form, PNG ``tEXt``/``zTXt``/
``iTXt`` keyword ``AIGC``, EXIF UserComment), both JSON forms; all labels are counted.

Container details live in :mod:`.jpeg`, :mod:`.png` and :mod:`.webp`, the XMP packet in
:mod:`.xmp`; this module is the facade.
"""
from __future__ import annotations

import re
from types import ModuleType

from ..models import AIGCLabel, LabelError
from . import jpeg, png, webp
from .exif import TYPE_SIZES
from .image_codec import canonical_format
from .findings import LabelFindings, collect
from .xmp import (
    Extracted,
    IPTC_EXT_NS,
    TC260_NS,
    MetadataError,
    build_packet,
    find_in_packet,
    foreign_note,
    packet_has_aigc,
    strip_packet,
    update_packet,
)

__all__ = [
    "TC260_NS", "IPTC_EXT_NS", "MetadataError", "ImageMetadata", "SUPPORTED_FORMATS",
    "write_image_metadata", "read_image_metadata",
]

SUPPORTED_FORMATS = ("jpeg", "png", "webp")
_MODULES: dict[str, ModuleType] = {"jpeg": jpeg, "png": png, "webp": webp}
_DST_RE = re.compile(r"http://cv\.iptc\.org/newscodes/digitalsourcetype/[A-Za-z]+")


def _format(fmt: str | None, data: bytes) -> str:
    if fmt is None:
        from .sniff import UnsupportedMedia, sniff_bytes

        try:
            fmt = sniff_bytes(data[:64]).format
        except UnsupportedMedia as exc:
            raise MetadataError(str(exc)) from None
    return canonical_format(fmt)


def _module(fmt: str | None, data: bytes) -> ModuleType:
    key = _format(fmt, data)
    try:
        return _MODULES[key]
    except KeyError:
        raise MetadataError(
            f"AIGC image metadata is supported for {', '.join(SUPPORTED_FORMATS)}, not {fmt!r}"
        ) from None


# --------------------------------------------------------------------------- read-only formats

#: Formats whose label is read but never written: labeling writes them as PNG (carrying their
#: XMP over), but a GIF or TIFF labeled by another tool, or one of ours converted back, holds
#: its label in its own XMP (a TIFF also in its EXIF UserComment), and verify and the
#: "already labeled" check must find it there. A BMP has no metadata: no label, not an error.
READ_ONLY_FORMATS = ("gif", "tiff", "bmp")


def _extract_read_only(fmt: str, data: bytes) -> Extracted:
    if fmt == "gif":
        from .image_codec import _gif_xmp

        packet = _gif_xmp(data)
        return Extracted([packet] if packet else [], [], [])
    if fmt == "tiff":
        return Extracted(_tiff_xmp(data), [data] if data[:4] in (b"II*\0", b"MM\0*") else [], [])
    return Extracted([], [], [])


def _tiff_xmp(data: bytes) -> list[bytes]:
    """The XMP packet of a TIFF's first IFD (tag 700, XMLPacket), as its bytes."""
    order = "little" if data[:2] == b"II" else "big"
    ifd = int.from_bytes(data[4:8], order)
    entry = _ifd_entry(data, order, ifd, 700)
    if entry is None:
        return []
    typ, count, at = entry
    size = count * TYPE_SIZES.get(typ, 1)
    if size <= 4:
        return []
    off = int.from_bytes(data[at:at + 4], order)
    packet = data[off:off + size] if off + size <= len(data) else b""
    return [packet.rstrip(b"\0")] if packet else []


# --------------------------------------------------------------------------- EXIF UserComment

_EXIF_IFD_POINTER = 0x8769
_USER_COMMENT = 0x9286


def _ifd_entry(tiff: bytes, order: str, ifd: int, tag: int) -> tuple[int, int, int] | None:
    """(type, count, offset of the 4-byte value field) of ``tag`` in the IFD at ``ifd``."""
    if ifd < 8 or ifd + 2 > len(tiff):
        return None
    count = int.from_bytes(tiff[ifd:ifd + 2], order)
    if ifd + 2 + 12 * count > len(tiff):
        return None
    for i in range(count):
        e = ifd + 2 + 12 * i
        if int.from_bytes(tiff[e:e + 2], order) == tag:
            return (int.from_bytes(tiff[e + 2:e + 4], order),
                    int.from_bytes(tiff[e + 4:e + 8], order), e + 8)
    return None


def _user_comment_span(tiff: bytes) -> tuple[int, int, str] | None:
    """(offset, length, byte order) of the Exif UserComment value inside a TIFF stream, or
    None. Malformed EXIF is common in the wild and must not break reading: it yields None."""
    if len(tiff) < 8:
        return None
    order = {b"II": "little", b"MM": "big"}.get(tiff[:2])
    if order is None or int.from_bytes(tiff[2:4], order) != 42:
        return None
    ptr = _ifd_entry(tiff, order, int.from_bytes(tiff[4:8], order), _EXIF_IFD_POINTER)
    if ptr is None or ptr[0] not in (4, 13):
        return None
    exif_ifd = int.from_bytes(tiff[ptr[2]:ptr[2] + 4], order)
    ent = _ifd_entry(tiff, order, exif_ifd, _USER_COMMENT)
    if ent is None:
        return None
    typ, count, field_at = ent
    size = count * TYPE_SIZES.get(typ, 1)
    offset = field_at if size <= 4 else int.from_bytes(tiff[field_at:field_at + 4], order)
    if offset + size > len(tiff):
        return None
    return offset, size, order


def _decode_user_comment(raw: bytes, order: str) -> str:
    """UserComment = 8-byte character code ("ASCII\\0\\0\\0", "UNICODE\\0", "JIS\\0\\0\\0\\0\\0"
    or 8 NULs for undefined) + text."""
    code, body = raw[:8], raw[8:]
    if code.startswith(b"UNICODE"):
        if body[:2] in (b"\xff\xfe", b"\xfe\xff"):
            text = body.decode("utf-16", "replace")
        else:
            # UCS-2 in the TIFF byte order per spec; writers disagree, so look at the data.
            be = len(body) >= 2 and body[0] == 0 and body[1] != 0
            le = len(body) >= 2 and body[1] == 0 and body[0] != 0
            enc = "utf-16-be" if be or (not le and order == "big") else "utf-16-le"
            text = body[: len(body) // 2 * 2].decode(enc, "replace")
    elif code.startswith((b"ASCII", b"JIS")) or code == b"\x00" * 8:
        text = body.decode("utf-8", "replace")
    else:  # no character code at all (non-conforming writers)
        text = raw.decode("utf-8", "replace")
    return text.strip("\x00 \t\r\n")


def _looks_like_label(text: str) -> bool:
    return text.startswith("{") and ("AIGC" in text or "ContentProducer" in text)


def _exif_label(tiff: bytes) -> str | None:
    span = _user_comment_span(tiff)
    if span is None:
        return None
    offset, size, order = span
    text = _decode_user_comment(tiff[offset:offset + size], order)
    return text if _looks_like_label(text) else None


def _clean_exif(tiff: bytes) -> bytes:
    """Blank (zero, same length, so no offsets move) a UserComment that holds an AIGC label;
    return ``tiff`` itself when there is nothing to do. Other comments are left alone."""
    span = _user_comment_span(tiff)
    if span is None:
        return tiff
    offset, size, order = span
    if not _looks_like_label(_decode_user_comment(tiff[offset:offset + size], order)):
        return tiff
    return tiff[:offset] + b"\x00" * size + tiff[offset + size:]


# --------------------------------------------------------------------------- public API


def _check_dst(digital_source_type: str) -> None:
    if not isinstance(digital_source_type, str) or not _DST_RE.fullmatch(digital_source_type):
        raise LabelError(
            "digital source type must be a full IPTC URI "
            f"(http://cv.iptc.org/newscodes/digitalsourcetype/...), got {digital_source_type!r}"
        )


def write_image_metadata(data: bytes, fmt: str, aigc: AIGCLabel, digital_source_type: str) -> bytes:
    """Return ``data`` with the AIGC label and IPTC DigitalSourceType in its XMP packet.

    ``fmt``: "jpeg", "png" or "webp" (the *content* format: sniff it, do not trust a file
    extension). Raises :class:`MetadataError` on a malformed container or XMP packet,
    :class:`~synthlabel.models.LabelError` on a bad digital source type."""
    if not isinstance(aigc, AIGCLabel):
        raise TypeError(f"aigc must be an AIGCLabel, got {type(aigc).__name__}")
    _check_dst(digital_source_type)
    data = bytes(data)
    mod = _module(fmt, data)
    inner = aigc.to_inner_json()

    def update(existing: list[bytes]) -> list[bytes]:
        if not existing:
            return [build_packet(inner, digital_source_type)]
        # The first packet gets the label; a (non-standard) extra packet keeps its other
        # properties but loses any label of ours, so that the file holds exactly one.
        rest = [strip_packet(p) if packet_has_aigc(p) else p for p in existing[1:]]
        return [update_packet(existing[0], inner, digital_source_type), *rest]

    return mod.rewrite(data, update, _clean_exif)


# Kept under its historical name: the same findings shape serves every medium.
ImageMetadata = LabelFindings


def read_image_metadata(data: bytes, fmt: str | None) -> ImageMetadata:
    """Find the AIGC label(s) in a JPEG, PNG or WebP file's metadata (also read, never
    written, in GIF and TIFF: :data:`READ_ONLY_FORMATS`).

    ``fmt=None`` sniffs the content. Raises :class:`MetadataError` when the container itself
    is malformed; problems with a label (bad JSON, bad values, broken XMP holding a label)
    are reported in ``errors`` instead."""
    data = bytes(data)
    key = _format(fmt, data)
    found = _extract_read_only(key, data) if key in READ_ONLY_FORMATS else _module(key, data).extract(data)
    errors: list[str] = []
    dst: str | None = None
    candidates: list[tuple[str, str]] = []
    unreadable = 0
    for packet in found.xmp:
        try:
            f = find_in_packet(packet)
        except MetadataError as exc:
            if packet_has_aigc(packet):
                errors.append(f"{exc} (it mentions TC260)")
                unreadable += 1
            continue
        candidates += [("xmp", v) for v in f.aigc]
        dst = dst or f.digital_source_type
        if note := foreign_note(f):
            errors.append(note)
            unreadable += 1
    for _ctype, value in found.text:
        candidates.append(("png-text", value.decode("utf-8", "replace")))
    for tiff in found.exif:
        value = _exif_label(tiff)
        if value is not None:
            candidates.append(("exif-usercomment", value))

    return collect(candidates, digital_source_type=dst, errors=errors, unreadable=unreadable)
