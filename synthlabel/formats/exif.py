"""EXIF carried across a pixel re-encode.

A camera's EXIF is carried as the bytes it came in (:func:`edited_in_place`), edited in place: a
maker note holds offsets into the whole EXIF block that no reader of ours can follow (Canon's
are counted from the TIFF header), so any value that moves breaks it, and ExifTool then says
"Bad offset for MakerNotes". Only what the labeled picture makes wrong is changed: the
orientation (applied to the pixels), the dimensions a quarter turn swaps, and the thumbnail
(it shows the picture without its label).

Where the bytes cannot be followed (malformed EXIF, a TIFF's own image directory), Pillow lays
the EXIF out again, and two things in its layout go wrong for the readers our users check
with, mended here on the bytes, without moving any value:

- Pillow writes the sub-IFD tags it has no type for as BYTE, where the source had UNDEFINED
  (UserComment, ComponentsConfiguration and the like): ExifTool's ``-validate`` then warns
  "Non-standard format (int8u)". :func:`restore_types` puts the source's types back wherever the
  element size is the same.
- In a PNG, ExifTool refuses IFD0 at the usual offset 8 of a signed file: see :func:`for_png`.

Bytes in, bytes out: EXIF here is ``Exif\\0\\0`` + a TIFF stream (as Pillow writes it) or a bare
TIFF stream (as PNG's ``eXIf`` holds it).
"""
from __future__ import annotations

import struct

__all__ = ["TYPE_SIZES", "edited_in_place", "has_thumbnail", "restore_types", "for_png", "PNG_IFD0_OFFSET"]

_PREFIX = b"Exif\x00\x00"
#: Bytes per element of each TIFF field type.
TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
#: Pointer tags to the sub-IFDs a photo's EXIF has: (IFD the tag is in, tag) -> sub-IFD name.
_SUB_IFDS = {("ifd0", 0x8769): "exif", ("ifd0", 0x8825): "gps", ("exif", 0xA005): "interop"}

#: Where a PNG's eXIf puts its first IFD. ExifTool (12.57 at least) guards against directory
#: loops by the offset of each directory within its chunk, PNG chunks alike, so an IFD0 at the
#: usual offset 8 collides with the C2PA manifest's JUMBF superbox content at offset 8 of
#: ``caBX`` (and 16 with its description box): whichever it meets second is refused, and a
#: signed PNG showed no EXIF at all ("IFD0 pointer references previous JUMBFBox directory").
#: Offset 12 lies inside the description box's header, which every C2PA manifest store starts
#: with, so it is never a JUMBF directory. Any even offset is valid TIFF.
PNG_IFD0_OFFSET = 12


def _tiff(exif: bytes) -> tuple[int, bytes]:
    skip = len(_PREFIX) if exif.startswith(_PREFIX) else 0
    return skip, exif[skip:]


def _header(tiff: bytes) -> tuple[str, int] | None:
    """(byte order, IFD0 offset) of a TIFF stream, or None when it is not one."""
    if len(tiff) < 8:
        return None
    order = {b"II": "little", b"MM": "big"}.get(tiff[:2])
    if order is None or int.from_bytes(tiff[2:4], order) != 42:
        return None
    return order, int.from_bytes(tiff[4:8], order)


def _next_ifd_at(tiff: bytes, order: str, ifd: int) -> int | None:
    """Where IFD ``ifd``'s next-IFD pointer lies, or None when the directory runs past the end."""
    if ifd < 8 or ifd + 2 > len(tiff):
        return None
    at = ifd + 2 + 12 * int.from_bytes(tiff[ifd:ifd + 2], order)
    return at if at + 4 <= len(tiff) else None


def has_thumbnail(exif: bytes) -> bool:
    """Whether the EXIF links a second IFD (IFD1, the thumbnail's) from IFD0."""
    tiff = _tiff(exif)[1]
    head = _header(tiff)
    at = head and _next_ifd_at(tiff, head[0], head[1])
    return bool(at) and int.from_bytes(tiff[at:at + 4], head[0]) != 0


def edited_in_place(source: bytes, *, orientation_applied: bool, quarter_turn: bool) -> bytes | None:
    """``source`` EXIF (``Exif\\0\\0`` + TIFF, or bare TIFF) as the labeled picture carries it,
    every value where it was: Orientation set to 1 when ``orientation_applied``; the Exif IFD's
    PixelX/YDimension and IFD0's X/YResolution swapped (their entries trade type, count and
    value or offset) when ``quarter_turn``; IFD1 unlinked and its directory and thumbnail
    zeroed. Returned with the ``Exif\\0\\0`` prefix; None when the bytes cannot be followed
    that far (the caller lays the EXIF out with Pillow instead)."""
    tiff = _tiff(source)[1]
    head = _header(tiff)
    if head is None:
        return None
    order, ifd0 = head
    next_at = _next_ifd_at(tiff, order, ifd0)
    if next_at is None:
        return None
    entries = _entries(tiff)
    buf = bytearray(tiff)
    if orientation_applied:
        typ, e = entries.get(("ifd0", 0x0112), (0, 0))
        if typ != 3 or int.from_bytes(tiff[e + 4:e + 8], order) != 1:   # SHORT x 1, inline
            return None
        buf[e + 8:e + 12] = (1).to_bytes(2, order) + bytes(2)
    if quarter_turn:
        for a, b in ((("exif", 0xA002), ("exif", 0xA003)), (("ifd0", 282), ("ifd0", 283))):
            if a in entries and b in entries:
                ea, eb = entries[a][1], entries[b][1]
                buf[ea + 2:ea + 12], buf[eb + 2:eb + 12] = tiff[eb + 2:eb + 12], tiff[ea + 2:ea + 12]
    ifd1 = int.from_bytes(tiff[next_at:next_at + 4], order)
    buf[next_at:next_at + 4] = bytes(4)
    end1 = _next_ifd_at(tiff, order, ifd1) if ifd1 else None
    if end1 is not None:
        # the thumbnail's bytes are the unlabeled picture: not left behind as dead data
        n = int.from_bytes(tiff[ifd1:ifd1 + 2], order)
        thumb = {}
        for i in range(n):
            e = ifd1 + 2 + 12 * i
            thumb[int.from_bytes(tiff[e:e + 2], order)] = int.from_bytes(tiff[e + 8:e + 12], order)
        start, length = thumb.get(0x0201, 0), thumb.get(0x0202, 0)
        used = _used(tiff, order, entries)
        for lo, hi in ((start, start + length), (ifd1, end1 + 4)):
            # a pointer into the data the other IFDs use is malformed: that is left as it is
            if 8 <= lo < hi <= len(buf) and not any(a < hi and lo < b for a, b in used):
                buf[lo:hi] = bytes(hi - lo)
    return _PREFIX + bytes(buf)


def _used(tiff: bytes, order: str, entries: dict[tuple[str, int], tuple[int, int]]) -> list[tuple[int, int]]:
    """Byte ranges the followed IFDs' entries and their out-of-line values take."""
    out = []
    for typ, e in entries.values():
        out.append((e, e + 12))
        size = TYPE_SIZES.get(typ, 1) * int.from_bytes(tiff[e + 4:e + 8], order)
        if size > 4:
            at = int.from_bytes(tiff[e + 8:e + 12], order)
            out.append((at, at + size))
    return out


def _entries(tiff: bytes) -> dict[tuple[str, int], tuple[int, int]]:
    """(IFD name, tag) -> (field type, offset of the 12-byte entry) for IFD0 and the Exif, GPS
    and Interop sub-IFDs. Malformed EXIF is common in the wild: whatever cannot be followed
    is left out, never raised."""
    out: dict[tuple[str, int], tuple[int, int]] = {}
    head = _header(tiff)
    if head is None:
        return out
    order = head[0]
    todo = [("ifd0", head[1])]
    seen: set[int] = set()
    while todo:
        name, at = todo.pop()
        if at in seen or at < 8 or at + 2 > len(tiff):
            continue
        seen.add(at)
        n = int.from_bytes(tiff[at:at + 2], order)
        for i in range(min(n, (len(tiff) - at - 2) // 12)):
            e = at + 2 + 12 * i
            tag = int.from_bytes(tiff[e:e + 2], order)
            typ = int.from_bytes(tiff[e + 2:e + 4], order)
            out[(name, tag)] = (typ, e)
            sub = _SUB_IFDS.get((name, tag))
            if sub is not None and typ in (4, 13):
                todo.append((sub, int.from_bytes(tiff[e + 8:e + 12], order)))
    return out


def restore_types(source: bytes | None, carried: bytes) -> bytes:
    """``carried`` (EXIF Pillow wrote from ``source``) with each entry's field type set back to
    the one it has in ``source`` where the two types have the same element size (so no value
    changes length or place): BYTE back to UNDEFINED above all. ``carried`` itself when there
    is nothing to mend."""
    if not source:
        return carried
    src = _entries(_tiff(source)[1])
    skip, tiff = _tiff(carried)
    order = "little" if tiff[:2] == b"II" else "big"
    out = None
    for key, (typ, e) in _entries(tiff).items():
        want = src.get(key, (typ, 0))[0]
        if want != typ and TYPE_SIZES.get(want) == TYPE_SIZES.get(typ) is not None:
            out = out if out is not None else bytearray(carried)
            out[skip + e + 2:skip + e + 4] = want.to_bytes(2, order)
    return carried if out is None else bytes(out)


def for_png(exif: bytes) -> bytes:
    """The bare TIFF stream for PNG's ``eXIf``, with no directory at offset 8 or 16 (see
    :data:`PNG_IFD0_OFFSET`). An IFD0 there is copied to the end and the header points to the
    copy, so every value stays where it was (a maker note's offsets hold). When the IFDs cannot
    be followed that far, Pillow lays the EXIF out again with IFD0 at :data:`PNG_IFD0_OFFSET`:
    header, zero padding, then the directories, whose value offsets Pillow computes for that
    position; field types are kept as they were."""
    from PIL import Image

    tiff = _tiff(exif)[1]
    head = _header(tiff)
    end = head and _next_ifd_at(tiff, *head)
    if end:
        order, ifd0 = head
        subs = {int.from_bytes(tiff[e + 8:e + 12], order)
                for key, (_, e) in _entries(tiff).items() if key in _SUB_IFDS}
        if not subs & {8, 16}:
            if ifd0 not in (8, 16):
                return tiff
            at = len(tiff) + (len(tiff) & 1)
            out = bytearray(tiff) + bytes(at - len(tiff)) + tiff[ifd0:end + 4]
            out[4:8] = at.to_bytes(4, order)
            return bytes(out)

    ex = Image.Exif()
    ex.load(exif)
    off = PNG_IFD0_OFFSET
    tiff = ex.tobytes(off)[len(_PREFIX):]   # header (IFD0 at 8), directories laid out for `off`
    order = "<" if tiff[:2] == b"II" else ">"
    tiff = tiff[:4] + struct.pack(order + "I", off) + bytes(off - 8) + tiff[8:]
    return restore_types(exif, tiff)
