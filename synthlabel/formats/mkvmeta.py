"""The GB 45438 implicit label in Matroska / WebM: a global ``Tags/Tag/SimpleTag`` named
``AIGC`` whose ``TagString`` is the Annex E string, the wrapped ``{"AIGC": {...}}`` form, as in
a Vorbis comment (the rules give the inner 7-key object to XMP and MP4 only; until stop 44 it
was written here too, and both forms are read), plus ``DigitalSourceType`` with the IPTC URI.

Writing happens at mux time (PyAV/ffmpeg's matroska muxer turns container metadata into global
SimpleTags; :mod:`synthlabel.labeling_video` reads the file back with this module to make
sure). This module is the independent *reader*: a small EBML parser that walks the Segment's
top-level elements (skipping Clusters by their size, or element by element when a live
stream left them unsized), finds every ``Tags`` element and returns every SimpleTag with the
target it applies to. Memory stays bounded: only the Tags elements are loaded.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import BinaryIO

from .xmp import MetadataError

__all__ = ["MkvFindings", "SimpleTag", "read_mkv_metadata_file", "read_mkv_tags", "read_mkv_tags_file"]

EBML_HEADER = 0x1A45DFA3
SEGMENT = 0x18538067
CLUSTER = 0x1F43B675
TAGS = 0x1254C367
TAG = 0x7373
TARGETS = 0x63C0
TARGET_TYPE_VALUE = 0x68CA
TARGET_TYPE = 0x63CA
TAG_TRACK_UID = 0x63C5
TAG_EDITION_UID = 0x63C9
TAG_CHAPTER_UID = 0x63C4
TAG_ATTACHMENT_UID = 0x63C6
SIMPLE_TAG = 0x67C8
TAG_NAME = 0x45A3
TAG_STRING = 0x4487
TAG_LANGUAGE = 0x447A
TAG_BINARY = 0x4485
DOCTYPE = 0x4282
# Top-level (level 1) elements of a Segment: an unsized Cluster ends where one of these starts.
_LEVEL1 = {0x114D9B74, 0x1549A966, 0x1654AE6B, CLUSTER, 0x1C53BB6B, TAGS, 0x1941A469, 0x1043A770}
_UNKNOWN = -1
_MAX_TAGS = 16 << 20  # refuse a Tags element larger than 16 MiB


@dataclass(frozen=True)
class SimpleTag:
    name: str
    value: str | None
    target: str            # "global" or e.g. "track:123456"
    target_type_value: int | None = None


@dataclass
class MkvFindings:
    doctype: str | None = None
    tags: list[SimpleTag] = field(default_factory=list)
    aigc: list[tuple[str, str]] = field(default_factory=list)   # (source, raw value)
    digital_source_type: str | None = None


def _read_vint(f: BinaryIO, *, is_id: bool) -> tuple[int, int] | None:
    """(value, length) of an EBML variable-length integer; None at EOF."""
    b = f.read(1)
    if not b:
        return None
    first = b[0]
    if first == 0:
        raise MetadataError("malformed Matroska: invalid EBML variable-length integer")
    length = 1
    mask = 0x80
    while not first & mask:
        mask >>= 1
        length += 1
    rest = f.read(length - 1)
    if len(rest) != length - 1:
        raise MetadataError("truncated Matroska: EBML integer cut short")
    if is_id:
        return int.from_bytes(b + rest, "big"), length
    value = first & (mask - 1)
    for c in rest:
        value = (value << 8) | c
    if value == (1 << (7 * length)) - 1:
        value = _UNKNOWN
    return value, length


def _header(f: BinaryIO) -> tuple[int, int, int] | None:
    """(id, size or _UNKNOWN, data offset) of the element at the current position."""
    eid = _read_vint(f, is_id=True)
    if eid is None:
        return None
    size = _read_vint(f, is_id=False)
    if size is None:
        raise MetadataError("truncated Matroska: element header cut short")
    return eid[0], size[0], f.tell()


def _children(buf: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    """(id, data start, data end) of the children in buf[start:end] (sized elements only)."""
    import io

    out = []
    f = io.BytesIO(buf)
    f.seek(start)
    while f.tell() < end:
        h = _header(f)
        if h is None:
            break
        eid, size, data = h
        if size == _UNKNOWN or data + size > end:
            raise MetadataError("malformed Matroska: a Tags child runs past its parent")
        out.append((eid, data, data + size))
        f.seek(data + size)
    return out


def _uint(raw: bytes) -> int:
    return int.from_bytes(raw, "big") if raw else 0


def _simple_tags(buf: bytes, start: int, end: int, target: str, ttv: int | None,
                 out: list[SimpleTag]) -> None:
    name = value = None
    nested = []
    for eid, a, b in _children(buf, start, end):
        if eid == TAG_NAME:
            name = buf[a:b].decode("utf-8", "replace").rstrip("\x00")
        elif eid == TAG_STRING:
            value = buf[a:b].decode("utf-8", "replace").rstrip("\x00")
        elif eid == SIMPLE_TAG:
            nested.append((a, b))
    if name is not None:
        out.append(SimpleTag(name, value, target, ttv))
    for a, b in nested:
        _simple_tags(buf, a, b, target, ttv, out)


def _parse_tags(buf: bytes, out: list[SimpleTag]) -> None:
    for eid, a, b in _children(buf, 0, len(buf)):
        if eid != TAG:
            continue
        target, ttv = "global", None
        kids = _children(buf, a, b)
        for cid, ca, cb in kids:
            if cid == TARGETS:
                for tid, ta, tb in _children(buf, ca, cb):
                    if tid == TARGET_TYPE_VALUE:
                        ttv = _uint(buf[ta:tb])
                    elif tid in (TAG_TRACK_UID, TAG_EDITION_UID, TAG_CHAPTER_UID, TAG_ATTACHMENT_UID):
                        uid = _uint(buf[ta:tb])
                        if uid:
                            kind = {TAG_TRACK_UID: "track", TAG_EDITION_UID: "edition",
                                    TAG_CHAPTER_UID: "chapter"}.get(tid, "attachment")
                            target = f"{kind}:{uid}"
        for cid, ca, cb in kids:
            if cid == SIMPLE_TAG:
                _simple_tags(buf, ca, cb, target, ttv, out)


def read_mkv_tags(f: BinaryIO) -> MkvFindings:
    """Every SimpleTag of a Matroska/WebM stream (seekable binary file object)."""
    f.seek(0, os.SEEK_END)
    total = f.tell()
    f.seek(0)
    h = _header(f)
    if h is None or h[0] != EBML_HEADER:
        raise MetadataError("not a Matroska/WebM file (no EBML header)")
    findings = MkvFindings()
    _, size, data = h
    if size == _UNKNOWN:
        raise MetadataError("malformed Matroska: unsized EBML header")
    head = f.read(size)
    for eid, a, b in _children(head, 0, len(head)):
        if eid == DOCTYPE:
            findings.doctype = head[a:b].decode("ascii", "replace").rstrip("\x00")
    seg = _header(f)
    if seg is None or seg[0] != SEGMENT:
        raise MetadataError("malformed Matroska: no Segment after the EBML header")
    _, seg_size, pos = seg
    end = total if seg_size == _UNKNOWN else min(total, pos + seg_size)
    f.seek(pos)
    while f.tell() < end:
        here = f.tell()
        try:
            h = _header(f)
        except MetadataError:
            break  # a truncated tail: keep what was found
        if h is None:
            break
        eid, size, data = h
        if eid == TAGS:
            if size == _UNKNOWN or size > _MAX_TAGS:
                raise MetadataError("malformed Matroska: unsized or huge Tags element")
            buf = f.read(size)
            if len(buf) != size:
                break
            _parse_tags(buf, findings.tags)
            continue
        if size != _UNKNOWN:
            f.seek(data + size)
            continue
        if eid != CLUSTER:
            raise MetadataError(f"malformed Matroska: unsized element 0x{eid:X} at {here}")
        # Unsized cluster: walk its children until the next level-1 element.
        while f.tell() < end:
            at = f.tell()
            ch = _header(f)
            if ch is None:
                break
            cid, csize, cdata = ch
            if cid in _LEVEL1:
                f.seek(at)
                break
            if csize == _UNKNOWN:
                raise MetadataError("malformed Matroska: unsized element inside a Cluster")
            f.seek(cdata + csize)
    for t in findings.tags:
        low = t.name.strip().lower()
        if low == "aigc" and t.value is not None:
            findings.aigc.append((f"mkv-simpletag:{t.target}", t.value))
        elif low.endswith("digitalsourcetype") and t.value and findings.digital_source_type is None:
            findings.digital_source_type = t.value.strip()
    return findings


def read_mkv_tags_file(path: str | os.PathLike) -> MkvFindings:
    with open(path, "rb") as f:
        return read_mkv_tags(f)


def read_mkv_metadata_file(path: str | os.PathLike) -> MkvFindings:
    """Alias of :func:`read_mkv_tags_file` (the AIGC values are in ``aigc``)."""
    return read_mkv_tags_file(path)
