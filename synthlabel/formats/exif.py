"""EXIF carried across a pixel re-encode.

Pillow lays the EXIF out again when a labeled image is written (orientation reset, TIFF
structure tags dropped). Two things in that layout go wrong for the readers our users check
with, and are mended here on the bytes, without moving any value:

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

__all__ = ["TYPE_SIZES", "restore_types", "for_png", "PNG_IFD0_OFFSET"]

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


def _entries(tiff: bytes) -> dict[tuple[str, int], tuple[int, int]]:
    """(IFD name, tag) -> (field type, offset of the 12-byte entry) for IFD0 and the Exif, GPS
    and Interop sub-IFDs. Malformed EXIF is common in the wild: whatever cannot be followed
    is left out, never raised."""
    out: dict[tuple[str, int], tuple[int, int]] = {}
    if len(tiff) < 8:
        return out
    order = {b"II": "little", b"MM": "big"}.get(tiff[:2])
    if order is None or int.from_bytes(tiff[2:4], order) != 42:
        return out
    todo = [("ifd0", int.from_bytes(tiff[4:8], order))]
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
    """The bare TIFF stream for PNG's ``eXIf`` from Pillow-written EXIF, laid out again with
    IFD0 at :data:`PNG_IFD0_OFFSET`: header, zero padding, then the directories, whose value
    offsets Pillow computes for that position. Field types are kept as they were."""
    from PIL import Image

    ex = Image.Exif()
    ex.load(exif)
    off = PNG_IFD0_OFFSET
    tiff = ex.tobytes(off)[len(_PREFIX):]   # header (IFD0 at 8), directories laid out for `off`
    order = "<" if tiff[:2] == b"II" else ">"
    tiff = tiff[:4] + struct.pack(order + "I", off) + bytes(off - 8) + tiff[8:]
    return restore_types(exif, tiff)
