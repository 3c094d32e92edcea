"""JPEG: XMP in an APP1 segment, spliced at byte level (pixels are never re-encoded).

Only the header segments (SOI up to the first SOS) are parsed; everything from SOS on, i.e. the
entropy-coded data, later scans and any trailer, is copied verbatim.
"""
from __future__ import annotations

from dataclasses import dataclass

from .xmp import (EXIFCleaner, Extracted, MetadataError, XMPUpdater, extended_pointer, merge_extended,
                  split_extended)

__all__ = ["XMP_HEADER", "carried_segments", "extended_segments", "extract", "insert_segments",
           "rewrite", "with_extension", "with_xmp"]

XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
#: ExtendedXMP (XMP spec part 3): the rest of a packet too large for one segment, in APP1
#: segments with this header; the main packet points at it (xmpNote:HasExtendedXMP).
XMP_EXTENSION_HEADER = b"http://ns.adobe.com/xmp/extension/\x00"
#: Photoshop image resources (APP13): IPTC-IIM captions, keywords, credits.
PHOTOSHOP_HEADER = b"Photoshop 3.0\x00"
EXIF_HEADER = b"Exif\x00"  # then one pad byte, normally \0
MAX_SEGMENT_PAYLOAD = 0xFFFF - 2  # the length field counts itself
MAX_XMP_PACKET = MAX_SEGMENT_PAYLOAD - len(XMP_HEADER)

_APP0, _APP1, _APP13, _SOS, _EOI, _SOI = 0xE0, 0xE1, 0xED, 0xDA, 0xD9, 0xD8
_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM, RST0-7: no length field


@dataclass(frozen=True)
class _Segment:
    marker: int
    start: int  # first byte, fill bytes included, so segments tile the header exactly
    payload: int  # first payload byte (after the length field)
    end: int

    def is_xmp(self, data: bytes) -> bool:
        return self.marker == _APP1 and data.startswith(XMP_HEADER, self.payload)

    def is_exif(self, data: bytes) -> bool:
        return self.marker == _APP1 and data.startswith(EXIF_HEADER, self.payload)

    def is_extended_xmp(self, data: bytes) -> bool:
        return self.marker == _APP1 and data.startswith(XMP_EXTENSION_HEADER, self.payload)


def _segments(data: bytes) -> tuple[list[_Segment], int]:
    """Header segments and the offset of the first SOS marker."""
    if data[:2] != b"\xff\xd8":
        raise MetadataError("JPEG has no SOI marker")
    n = len(data)
    pos = 2
    segs: list[_Segment] = []
    while True:
        start = pos
        if pos >= n:
            raise MetadataError("JPEG ends before the image data (no SOS marker)")
        if data[pos] != 0xFF:
            raise MetadataError(f"JPEG marker expected at offset {pos}")
        while pos + 1 < n and data[pos + 1] == 0xFF:  # fill bytes
            pos += 1
        if pos + 1 >= n:
            raise MetadataError("truncated JPEG segment")
        marker = data[pos + 1]
        if marker in _STANDALONE:
            segs.append(_Segment(marker, start, pos + 2, pos + 2))
            pos += 2
            continue
        if marker in (_EOI, _SOI, 0x00):
            raise MetadataError(f"JPEG has an unexpected marker FF{marker:02X} before the image data")
        if pos + 4 > n:
            raise MetadataError("truncated JPEG segment")
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if length < 2:
            raise MetadataError(f"JPEG segment FF{marker:02X} has an invalid length {length}")
        end = pos + 2 + length
        if end > n:
            raise MetadataError("truncated JPEG segment")
        if marker == _SOS:
            return segs, start
        segs.append(_Segment(marker, start, pos + 4, end))
        pos = end


def extract(data: bytes) -> Extracted:
    segs, _ = _segments(data)
    xmp: list[bytes] = []
    exif: list[bytes] = []
    for s in segs:
        if s.is_xmp(data):
            xmp.append(data[s.payload + len(XMP_HEADER):s.end])
        elif s.is_exif(data):
            exif.append(data[s.payload + 6:s.end])
    return Extracted(xmp, exif, [])


def loose_xmp(data: bytes) -> bytes | None:
    """An XMP packet in an APP1 segment under a non-standard header (e.g. ``XMP\\0://ns.adobe.
    com/xap/1.0/\\0``, which some cameras and editors write and ExifTool reads with a warning),
    or None. Pillow knows only the standard header, so a re-encode lost such a packet silently
    (a lens, serial number and rating among its properties)."""
    try:
        segs, _ = _segments(data)
    except MetadataError:
        return None
    for s in segs:
        if s.marker != _APP1 or s.is_xmp(data) or s.is_exif(data) or s.is_extended_xmp(data):
            continue
        body = data[s.payload:s.end]
        if b"ns.adobe.com/xap/1.0/" not in body[:64]:
            continue
        at = min((i for i in (body.find(b"<?xpacket begin"), body.find(b"<x:xmpmeta")) if i >= 0),
                 default=-1)
        if at >= 0:
            return body[at:].rstrip(b"\0 \t\r\n")
    return None


def carried_segments(data: bytes) -> list[bytes]:
    """The header segments a re-encode must carry over beyond what the encoder writes itself
    (EXIF, ICC, XMP, density, comment): ExtendedXMP and Photoshop/IPTC-IIM, whole (marker and
    length included), in file order. Neither depends on the pixels. Unparseable headers give
    none (the decoder has already accepted the file)."""
    try:
        segs, _ = _segments(data)
    except MetadataError:
        return []
    keep = []
    for s in segs:
        if s.is_extended_xmp(data) or (
                s.marker == _APP13 and data.startswith(PHOTOSHOP_HEADER, s.payload)):
            keep.append(data[s.payload - 4:s.end])
    return keep


def image_end(data: bytes) -> int | None:
    """The offset just past the EOI marker that ends the image (its scans walked, entropy
    coded data skipped), or None when the structure cannot be followed to one. Anything
    after it is a trailer: a Motion Photo's video, an MPF's further pictures, a vendor's
    blob."""
    try:
        _, pos = _segments(data)
    except MetadataError:
        return None
    n = len(data)
    while pos + 4 <= n:
        marker = data[pos + 1]
        if marker == _EOI:
            return pos + 2
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        pos += 2 + length
        if marker != _SOS:
            if pos > n or data[pos:pos + 1] != b"\xff":
                return None
            while data[pos + 1:pos + 2] == b"\xff":     # fill bytes
                pos += 1
            continue
        # entropy-coded data: runs to the next marker that is not a stuffed 0xFF00 or RSTn
        while True:
            pos = data.find(b"\xff", pos)
            if pos < 0 or pos + 1 >= n:
                return None
            nxt = data[pos + 1]
            if nxt == 0x00 or 0xD0 <= nxt <= 0xD7 or nxt == 0xFF:
                pos += 1 if nxt == 0xFF else 2
                continue
            break
    return pos + 2 if data[pos:pos + 2] == b"\xff\xd9" else None


def comments(data: bytes) -> list[bytes]:
    """The payloads of the header's COM segments, in file order (Pillow reads one of several:
    the others were lost). Unparseable headers give none."""
    try:
        segs, _ = _segments(data)
    except MetadataError:
        return []
    return [data[s.payload:s.end] for s in segs if s.marker == 0xFE and s.end > s.payload]


def comment_segment(payload: bytes) -> bytes:
    """A whole COM segment (marker and length included) holding ``payload``."""
    return b"\xff\xfe" + (len(payload) + 2).to_bytes(2, "big") + payload


def insert_segments(data: bytes, extra: list[bytes]) -> bytes:
    """``data`` with the whole segments ``extra`` inserted after its leading APPn segments
    (where an encoder's own metadata ends and the tables begin)."""
    if not extra:
        return data
    segs, sos = _segments(data)
    at = sos
    for s in segs:
        if not (0xE0 <= s.marker <= 0xEF):
            at = s.start
            break
    return data[:at] + b"".join(extra) + data[at:]


def _app1(payload: bytes) -> bytes:
    return b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload


def extended_segments(extended: bytes, guid: str) -> list[bytes]:
    """The APP1 segments carrying an ExtendedXMP (XMP part 3): each holds the header, the
    32-character GUID, the full length and this piece's offset (4 bytes each, big-endian),
    then the piece."""
    head = XMP_EXTENSION_HEADER + guid.encode("ascii")
    step = MAX_SEGMENT_PAYLOAD - len(head) - 8
    return [_app1(head + len(extended).to_bytes(4, "big") + off.to_bytes(4, "big")
                  + extended[off:off + step]) for off in range(0, len(extended), step)]


def _extension_guid(data: bytes, seg: _Segment) -> bytes:
    at = seg.payload + len(XMP_EXTENSION_HEADER)
    return data[at:at + 32]


def _assemble_extension(data: bytes, segs: list[_Segment]) -> bytes:
    """The whole ExtendedXMP from its segments (each: GUID, full length, offset, piece; in
    any order, XMP part 3). MetadataError when a piece is missing: merging what is left would
    lose properties without a word."""
    pieces: dict[int, bytes] = {}
    total = 0
    for s in segs:
        at = s.payload + len(XMP_EXTENSION_HEADER) + 32
        if at + 8 > s.end:
            raise MetadataError("JPEG ExtendedXMP segment is truncated")
        total = int.from_bytes(data[at:at + 4], "big")
        pieces[int.from_bytes(data[at + 4:at + 8], "big")] = data[at + 8:s.end]
    whole = bytearray()
    while len(whole) < total and len(whole) in pieces and pieces[len(whole)]:
        whole += pieces[len(whole)]
    if len(whole) != total:
        raise MetadataError(f"JPEG ExtendedXMP is incomplete ({len(whole)} of {total} bytes)")
    return bytes(whole)


def _split_main(data: bytes, segs: list[_Segment], packet: bytes
                ) -> tuple[bytes, list[bytes], set[int]]:
    """Split a main packet too large for one segment into (main packet, ExtendedXMP
    segments, indexes of the file's ExtendedXMP segments they replace). The extension the
    packet points at already is merged back first, so one new extension (new GUID) holds
    both its properties and the ones moved now; ExtendedXMP no packet points at is left
    alone (readers ignore it; dropping it is not ours to decide)."""
    guid = (extended_pointer(packet) or "").encode("ascii", "replace")
    old = {i for i, s in enumerate(segs)
           if guid and s.is_extended_xmp(data) and _extension_guid(data, s) == guid}
    if old:
        try:
            packet = merge_extended(packet, _assemble_extension(data, [segs[i] for i in sorted(old)]))
        except MetadataError as exc:
            raise MetadataError(f"JPEG ExtendedXMP: {exc}") from None
    main, extended, new_guid = split_extended(packet, MAX_XMP_PACKET)
    return main, extended_segments(extended, new_guid) if extended else [], old


def with_extension(packet: bytes, segments: list[bytes]) -> bytes:
    """``packet`` with the ExtendedXMP it points at, among the whole ``segments`` (as
    :func:`carried_segments` gives them), merged in: for outputs that hold one packet of any
    size (PNG, WebP), where the extension would be lost and its pointer left dangling.
    Unchanged when it points at none, or when that extension is incomplete or unreadable."""
    data = b"".join(segments)
    segs, at = [], 0
    for seg in segments:
        segs.append(_Segment(seg[1], at, at + 4, at + len(seg)))
        at += len(seg)
    try:
        guid = (extended_pointer(packet) or "").encode("ascii", "replace")
        mine = [s for s in segs if guid and s.is_extended_xmp(data) and _extension_guid(data, s) == guid]
        return merge_extended(packet, _assemble_extension(data, mine)) if mine else packet
    except MetadataError:
        return packet


def with_xmp(data: bytes, packet: bytes) -> bytes:
    """``data`` with ``packet`` as its XMP (replacing any), split into ExtendedXMP when it
    does not fit one segment (an encoder's own XMP writer refuses such a packet)."""
    return rewrite(data, lambda _existing: [packet], lambda tiff: tiff)


def rewrite(data: bytes, update_xmp: XMPUpdater, clean_exif: EXIFCleaner) -> bytes:
    """Replace the XMP packet(s) by ``update_xmp``'s result (inserting one if there is none)
    and pass each EXIF blob through ``clean_exif``. All other bytes are copied."""
    segs, sos = _segments(data)
    xmp_segs = [s for s in segs if s.is_xmp(data)]
    new_packets = update_xmp([data[s.payload + len(XMP_HEADER):s.end] for s in xmp_segs])
    extension: list[bytes] = []
    replaced: set[int] = set()  # old ExtendedXMP segments now merged into the new extension
    if new_packets and len(new_packets[0]) > MAX_XMP_PACKET:
        # e.g. a Photoshop export's long history: the largest properties go to ExtendedXMP
        new_packets[0], extension, replaced = _split_main(data, segs, new_packets[0])
    for p in new_packets[1:]:
        if len(p) > MAX_XMP_PACKET:
            raise MetadataError(
                f"XMP packet of {len(p)} bytes does not fit one JPEG APP1 segment "
                f"(max {MAX_XMP_PACKET})")
    # A new packet goes after the leading JFIF/JFXX APP0 and EXIF APP1 segments (readers
    # expect those first: JFIF must directly follow SOI, EXIF should come before XMP).
    insert_at = 0
    while insert_at < len(segs) and (
        segs[insert_at].marker == _APP0 or segs[insert_at].is_exif(data)
    ):
        insert_at += 1

    view = memoryview(data)  # slices of a view are not copies; join copies once
    out: list[bytes | memoryview] = [view[:2]]
    # the segments replacing the packets, in order; an extension follows its main packet
    queue = [_app1(XMP_HEADER + p) for p in new_packets]
    queue[0] += b"".join(extension)
    for i, s in enumerate(segs):
        if i == insert_at and not xmp_segs:
            out.append(queue.pop(0))
        if i in replaced:
            continue
        if s.is_xmp(data):
            out.append(data[s.start:s.payload - 4])  # fill bytes, if any
            out.append(queue.pop(0))
        elif s.is_exif(data):
            tiff_at = s.payload + 6
            tiff = data[tiff_at:s.end]
            cleaned = clean_exif(tiff)
            if cleaned is tiff:
                out.append(view[s.start:s.end])
            else:
                if len(cleaned) != len(tiff):
                    raise MetadataError("internal error: EXIF cleaning changed its length")
                out.append(data[s.start:tiff_at])
                out.append(cleaned)
        else:
            out.append(view[s.start:s.end])
    if insert_at == len(segs) and not xmp_segs:
        out.append(queue.pop(0))
    out.append(view[sos:])
    return b"".join(out)
