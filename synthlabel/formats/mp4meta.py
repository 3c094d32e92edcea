"""The GB 45438 implicit label in ISO-BMFF / QuickTime files (MP4, MOV, M4A), at byte level.

Layout written (what ``ffmpeg -movflags use_metadata_tags -metadata AIGC=...`` writes)::

    moov
      udta
        meta            full box (version 0, flags 0)
          hdlr          handler_type 'mdta', empty name
          keys          entry_count, then per key: size, namespace 'mdta', name
                          ... 'AIGC', 'DigitalSourceType' (optional)
          ilst
            <index>     1-based key index as the box type (big-endian uint32)
              data      type indicator 1 (UTF-8), locale 0, value

The ``AIGC`` value is the *inner* 7-key JSON (the key already says AIGC); the optional
``DigitalSourceType`` key holds the full IPTC URI. With it, the IPTC property itself,
``Iptc4xmpExt:DigitalSourceType``, goes into the file's XMP (a top-level ``uuid`` box of user
type :data:`XMP_UUID`, where ExifTool and Adobe's tools read and write an MP4's XMP): set in
the packet the file has, other properties kept, or in a new box right after moov. No
TC260:AIGC is written there (and one another tool wrote is removed): the label is the mdta key,
and GB 45438 allows one per file.

Existing metadata survives: an existing ``mdta`` meta (in ``moov/udta`` first, else QuickTime's
``moov/meta``) is merged into: other keys keep their values and indexes are renumbered only
when a stale key of ours is dropped; our keys are replaced, so relabeling leaves exactly one.
When ``moov/udta/meta`` is taken by a different handler (the iTunes ``mdir`` tags that ffmpeg
and iTunes write for title/artist), it is left untouched and a second, ``mdta``-handled
``meta`` box is appended to ``udta`` after it (ExifTool's ``-validate`` then warns "Duplicate
tag 'meta'"), unless the encoder tag is all it holds, as in any file FFmpeg wrote: that meta
becomes ours, the tag kept as the ``mdta`` key ``encoder``. Tested choice: ffprobe, exiftool
and mutagen all read both then (mutagen reads iTunes tags from the first udta/meta). Putting it in
``moov/meta`` instead (QuickTime's own place) breaks mutagen when it precedes ``udta``, and an
ISO full-box ``moov/meta`` is ignored by exiftool. Stale labels elsewhere (another ``mdta``
meta, an iTunes freeform ``----:...:AIGC`` item) are removed so that the file holds one label.

The moov box is rewritten in memory (it holds only sample tables); the media data is copied
as is. When moov (with the XMP box after it) or an XMP box elsewhere grows or shrinks and media
data follows it (``+faststart`` files), every ``stco``/``co64`` chunk offset that points past
it is shifted. Fragmented MP4
(``mvex`` in moov) is refused: its absolute offsets (``tfra``, explicit base data offsets)
are not rewritten, and C2PA cannot sign it anyway.

Works on bytes (:func:`write_mp4_metadata`, :func:`read_mp4_metadata`) and on paths with
bounded memory (:func:`write_mp4_metadata_file`, :func:`read_mp4_metadata_file`).
"""
from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from ..fsutil import read_range
from .xmp import MetadataError

__all__ = [
    "AIGC_KEY",
    "DST_KEY",
    "MP4Findings",
    "read_mp4_metadata",
    "read_mp4_metadata_file",
    "write_mp4_entries_file",
    "write_mp4_metadata",
    "write_mp4_metadata_file",
]

AIGC_KEY = "AIGC"
DST_KEY = "DigitalSourceType"
_MAX_MOOV = 1 << 30  # refuse to load a moov larger than 1 GiB
_COPY = 1 << 20


# --------------------------------------------------------------------------- box parsing


@dataclass(frozen=True)
class _Box:
    type: bytes
    start: int  # offset of the size field
    header: int  # 8 or 16
    size: int  # whole box

    @property
    def end(self) -> int:
        return self.start + self.size

    @property
    def body(self) -> int:
        return self.start + self.header


def _name(t: bytes) -> str:
    return t.decode("latin-1").encode("unicode_escape").decode("ascii")


def _parse_boxes(read: Callable[[int, int], bytes], start: int, end: int, where: str,
                 *, top: bool = False, partial: bool = False) -> list[_Box]:
    """Box headers between ``start`` and ``end``. Raises MetadataError on a box that runs
    past its parent or is smaller than its header. ``partial`` (top level): a file cut short
    gives the boxes before the cut (a reader's moov may come before the truncated mdat)."""
    boxes: list[_Box] = []
    pos = start
    while pos < end:
        if end - pos < 8:
            if (not top and not any(read(pos, end - pos))) or partial:
                break  # zero padding / QuickTime udta terminator; a cut file's last bytes
            raise MetadataError(f"truncated MP4: {end - pos} stray bytes at {pos} in {where}")
        hdr = read(pos, 16)
        size = int.from_bytes(hdr[:4], "big")
        typ = hdr[4:8]
        header = 8
        if size == 1:
            if len(hdr) < 16:
                if partial:
                    break
                raise MetadataError(f"truncated MP4: box {_name(typ)!r} at {pos}")
            size = int.from_bytes(hdr[8:16], "big")
            header = 16
        elif size == 0:
            if not top:
                if typ == b"\x00\x00\x00\x00":
                    break  # QuickTime udta terminator
                raise MetadataError(f"malformed MP4: box {_name(typ)!r} at {pos} has size 0")
            size = end - pos
        if size < header:
            raise MetadataError(f"malformed MP4: box {_name(typ)!r} at {pos} has size {size}")
        if pos + size > end:
            if top and partial:
                break
            kind = "truncated" if top else "malformed"
            raise MetadataError(
                f"{kind} MP4: box {_name(typ)!r} at {pos} declares {size} bytes, "
                f"{end - pos} available in {where}"
            )
        boxes.append(_Box(typ, pos, header, size))
        pos += size
    return boxes


def _bytes_reader(buf: bytes) -> Callable[[int, int], bytes]:
    return lambda off, n: buf[off:off + n]


def _file_reader(f: BinaryIO) -> Callable[[int, int], bytes]:
    def read(off: int, n: int) -> bytes:
        f.seek(off)
        return f.read(n)

    return read


def _top_level(read: Callable[[int, int], bytes], size: int,
               partial: bool = False) -> tuple[list[_Box], _Box]:
    if size < 8:
        raise MetadataError("not an MP4 file: too short" if size else "empty file")
    boxes = _parse_boxes(read, 0, size, "file", top=True, partial=partial)
    first = boxes[0].type if boxes else b""
    if first not in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot", b"uuid"):
        raise MetadataError(f"not an MP4/QuickTime file (first box {_name(first)!r})")
    moovs = [b for b in boxes if b.type == b"moov"]
    if not moovs:
        raise MetadataError("MP4 has no moov box (truncated or still being written)")
    if len(moovs) > 1:
        raise MetadataError("MP4 has more than one moov box")
    if moovs[0].size > _MAX_MOOV:
        raise MetadataError(f"MP4 moov box too large ({moovs[0].size} bytes)")
    return boxes, moovs[0]


def is_fragmented(path: str | os.PathLike[str]) -> bool:
    """Whether an MP4/MOV file holds movie fragments (``moof`` boxes: fMP4, as streaming and
    some recorders write). False for a file whose boxes cannot be walked."""
    with open(path, "rb") as f:
        try:
            boxes = _parse_boxes(_file_reader(f), 0, os.fstat(f.fileno()).st_size, "file",
                                 top=True, partial=True)
        except MetadataError:
            return False
    return any(b.type == b"moof" for b in boxes)


def _kids(buf: bytes, start: int, end: int, where: str) -> list[_Box]:
    return _parse_boxes(_bytes_reader(buf), start, end, where)


def _box(typ: bytes, payload: bytes) -> bytes:
    size = 8 + len(payload)
    if size >= 1 << 32:
        return struct.pack(">I4sQ", 1, typ, size + 8) + payload
    return struct.pack(">I4s", size, typ) + payload


# --------------------------------------------------------------------------- meta boxes


def _meta_children_start(buf: bytes, box: _Box) -> int:
    """ISO ``meta`` is a full box (4 bytes version/flags before the children); QuickTime's
    is not. Tell them apart by where the ``hdlr`` sits."""
    b = box.body
    if buf[b + 4:b + 8] == b"hdlr" or buf[b + 4:b + 8] == b"keys":
        return b
    return b + 4


def _handler(buf: bytes, kids: list[_Box]) -> bytes | None:
    for k in kids:
        if k.type == b"hdlr" and k.size >= k.header + 12:
            return buf[k.body + 8:k.body + 12]
    return None


def _decode_data(payload: bytes) -> str | None:
    """Value of a ``data`` atom payload (type indicator, locale, value)."""
    if len(payload) < 8:
        return None
    wkt = int.from_bytes(payload[1:4], "big")
    value = payload[8:]
    if wkt == 2:
        return value.decode("utf-16-be", "replace")
    if wkt in (0, 1, 4, 5):
        return value.decode("utf-8", "replace")
    return None


@dataclass
class _Meta:
    """A parsed ``meta`` box: its raw children in order, with keys/ilst decoded for mdta."""

    full: bool  # ISO full box (version/flags present)
    version_flags: bytes
    handler: bytes | None
    children: list[tuple[bytes, bytes]]  # (type, raw box bytes) in order
    keys: list[tuple[bytes, bytes]] = field(default_factory=list)  # (namespace, name)
    keys_vf: bytes = b"\x00\x00\x00\x00"
    items: list[tuple[int, bytes]] = field(default_factory=list)  # (index/type int, raw box)

    def values(self) -> list[tuple[str, str]]:
        """(key name, value) for mdta items."""
        out = []
        for index, raw in self.items:
            if not 1 <= index <= len(self.keys):
                continue
            name = self.keys[index - 1][1].decode("utf-8", "replace")
            value = _first_data(raw)
            if value is not None:
                out.append((name, value))
        return out


def _first_data(item_raw: bytes) -> str | None:
    hdr = 16 if int.from_bytes(item_raw[:4], "big") == 1 else 8
    for k in _kids(item_raw, hdr, len(item_raw), "ilst item"):
        if k.type == b"data":
            return _decode_data(item_raw[k.body:k.end])
    return None


def _parse_meta(buf: bytes, box: _Box) -> _Meta:
    cstart = _meta_children_start(buf, box)
    full = cstart != box.body
    kids = _kids(buf, cstart, box.end, "meta")
    meta = _Meta(full, buf[box.body:cstart] if full else b"", _handler(buf, kids),
                 [(k.type, buf[k.start:k.end]) for k in kids])
    for k in kids:
        if k.type == b"keys":
            body = buf[k.body:k.end]
            if len(body) < 8:
                raise MetadataError("malformed MP4: keys box too short")
            meta.keys_vf = body[:4]
            count = int.from_bytes(body[4:8], "big")
            pos = 8
            for _ in range(count):
                if pos + 8 > len(body):
                    raise MetadataError("malformed MP4: keys box truncated")
                ksize = int.from_bytes(body[pos:pos + 4], "big")
                if ksize < 8 or pos + ksize > len(body):
                    raise MetadataError("malformed MP4: bad key size in keys box")
                meta.keys.append((body[pos + 4:pos + 8], body[pos + 8:pos + ksize]))
                pos += ksize
        elif k.type == b"ilst":
            for item in _kids(buf, k.body, k.end, "ilst"):
                meta.items.append((int.from_bytes(item.type, "big"), buf[item.start:item.end]))
    return meta


def _freeform_name(item_raw: bytes) -> tuple[str | None, str | None]:
    """(name, value) of an iTunes ``----`` freeform item (mean/name/data)."""
    name = value = None
    hdr = 16 if int.from_bytes(item_raw[:4], "big") == 1 else 8
    for k in _kids(item_raw, hdr, len(item_raw), "ilst item"):
        if k.type == b"name":
            name = item_raw[k.body + 4:k.end].decode("utf-8", "replace")
        elif k.type == b"data" and value is None:
            value = _decode_data(item_raw[k.body:k.end])
    return name, value


_FREEFORM = int.from_bytes(b"----", "big")


def _is_ours(name: str, ours: set[str]) -> bool:
    return name.strip().lower() in ours


def _serialize_meta(meta: _Meta) -> bytes:
    parts = []
    for typ, raw in meta.children:
        if typ == b"keys" and meta.handler == b"mdta":
            body = meta.keys_vf + len(meta.keys).to_bytes(4, "big") + b"".join(
                (8 + len(name)).to_bytes(4, "big") + ns + name for ns, name in meta.keys)
            parts.append(_box(b"keys", body))
        elif typ == b"ilst":
            parts.append(_box(b"ilst", b"".join(raw_item for _i, raw_item in meta.items)))
        else:
            parts.append(raw)
    return _box(b"meta", meta.version_flags + b"".join(parts))


def _renumber_item(raw: bytes, index: int) -> bytes:
    return raw[:4] + index.to_bytes(4, "big") + raw[8:]


def _drop_keys(meta: _Meta, ours: set[str]) -> bool:
    """Remove our keys (and their items) from an mdta meta, renumbering the rest."""
    drop = {i + 1 for i, (_ns, name) in enumerate(meta.keys)
            if _is_ours(name.decode("utf-8", "replace"), ours)}
    if not drop:
        return False
    mapping, new_keys = {}, []
    for i, key in enumerate(meta.keys, 1):
        if i not in drop:
            new_keys.append(key)
            mapping[i] = len(new_keys)
    meta.keys = new_keys
    meta.items = [(mapping[i], _renumber_item(raw, mapping[i]))
                  for i, raw in meta.items if i in mapping]
    return True


def _drop_freeform(meta: _Meta, ours: set[str]) -> bool:
    kept = []
    for i, raw in meta.items:
        if i == _FREEFORM and _is_ours(_freeform_name(raw)[0] or "", ours):
            continue
        kept.append((i, raw))
    changed = len(kept) != len(meta.items)
    meta.items = kept
    return changed


def _new_mdta_meta() -> _Meta:
    hdlr = _box(b"hdlr", b"\x00" * 8 + b"mdta" + b"\x00" * 12 + b"\x00")
    return _Meta(True, b"\x00\x00\x00\x00", b"mdta",
                 [(b"hdlr", hdlr), (b"keys", b""), (b"ilst", b"")])


def _add_entries(meta: _Meta, entries: list[tuple[str, str]]) -> None:
    if not any(t == b"keys" for t, _ in meta.children):
        at = next((i for i, (t, _) in enumerate(meta.children) if t == b"ilst"),
                  len(meta.children))
        meta.children.insert(at, (b"keys", b""))
    if not any(t == b"ilst" for t, _ in meta.children):
        meta.children.append((b"ilst", b""))
    for name, value in entries:
        meta.keys.append((b"mdta", name.encode("utf-8")))
        index = len(meta.keys)
        data = _box(b"data", b"\x00\x00\x00\x01" + b"\x00\x00\x00\x00" + value.encode("utf-8"))
        meta.items.append((index, _box(index.to_bytes(4, "big"), data)))


# --------------------------------------------------------------------------- moov rewrite


@dataclass
class _Node:
    """A container box being rebuilt: header type + children (raw bytes or nodes)."""

    type: bytes
    children: list  # list[tuple[bytes, bytes | _Node | _Meta]]

    def serialize(self) -> bytes:
        out = []
        for _typ, child in self.children:
            if isinstance(child, bytes):
                out.append(child)
            elif isinstance(child, _Meta):
                out.append(_serialize_meta(child))
            else:
                out.append(child.serialize())
        return _box(self.type, b"".join(out))


def _node(buf: bytes, box: _Box, where: str) -> _Node:
    kids = _kids(buf, box.body, box.end, where)
    node = _Node(box.type, [(k.type, buf[k.start:k.end]) for k in kids])
    tail = kids[-1].end if kids else box.body
    if tail < box.end:  # zero padding / QuickTime terminator: keep it, last
        node.children.append((b"", buf[tail:box.end]))
    return node


def _rewrite_moov(moov: bytes, entries: list[tuple[str, str]],
                  digital_source_type: str | None = None) -> tuple[bytes, bool]:
    """New moov bytes with ``entries`` in the mdta meta and stale copies removed; and whether
    ``digital_source_type`` went into an XMP packet there (QuickTime's ``udta/XMP_``, whose
    TC260:AIGC, a second label, is removed either way)."""
    ours = {name.lower() for name, _ in entries}
    root_box = _Box(b"moov", 0, 16 if int.from_bytes(moov[:4], "big") == 1 else 8, len(moov))
    root = _node(moov, root_box, "moov")
    if any(t == b"mvex" for t, _ in root.children):
        raise MetadataError("fragmented MP4 (mvex) is not supported; remux it unfragmented")

    def metas_of(node: _Node) -> None:
        for i, (typ, raw) in enumerate(node.children):
            if typ == b"meta" and isinstance(raw, bytes):
                node.children[i] = (typ, _parse_meta(raw, _Box(b"meta", 0, 8, len(raw))))

    udta = None
    for i, (typ, raw) in enumerate(root.children):
        if typ == b"udta" and udta is None:
            udta = _node(raw, _Box(b"udta", 0, 8, len(raw)), "udta")
            root.children[i] = (typ, udta)
    metas_of(root)
    if udta is not None:
        metas_of(udta)

    in_xmp = False
    if udta is not None:
        from . import xmp

        for i, (typ, raw) in enumerate(udta.children):
            if typ != b"XMP_" or not isinstance(raw, bytes):
                continue
            packet = raw[16 if int.from_bytes(raw[:4], "big") == 1 else 8:]
            dst = None if in_xmp else digital_source_type
            if (mended := xmp.mend_packet(packet, dst)) is not None:
                udta.children[i] = (typ, _box(b"XMP_", mended))
                in_xmp = in_xmp or dst is not None

    all_metas = [c for _t, c in root.children if isinstance(c, _Meta)]
    if udta is not None:
        all_metas += [c for _t, c in udta.children if isinstance(c, _Meta)]
    for meta in all_metas:
        # an mdta meta may hold iTunes freeform items too (a tagger adds them to ffmpeg's)
        if meta.handler == b"mdta":
            _drop_keys(meta, ours)
        _drop_freeform(meta, ours)

    target = None
    if udta is not None:
        target = next((c for _t, c in udta.children
                       if isinstance(c, _Meta) and c.handler == b"mdta"), None)
    if target is None:
        target = next((c for _t, c in root.children
                       if isinstance(c, _Meta) and c.handler == b"mdta"), None)
    if target is None and udta is not None:
        # An iTunes meta that holds nothing but the encoder tag (as FFmpeg writes every MP4
        # and M4A) becomes our mdta meta, the tag carried as the key "encoder" (FFmpeg's name
        # for it): a second meta beside it is what ExifTool flags "Duplicate tag 'meta'".
        at = next((i for i, (_t, c) in enumerate(udta.children)
                   if isinstance(c, _Meta) and _encoder_only(c)), None)
        if at is not None:
            encoder = [v for _i, raw in udta.children[at][1].items
                       if (v := _first_data(raw)) is not None][:1]
            target = _new_mdta_meta()
            udta.children[at] = (b"meta", target)
            entries = [("encoder", v) for v in encoder] + entries
    if target is None:
        target = _new_mdta_meta()
        if udta is None:
            udta = _Node(b"udta", [(b"meta", target)])
            _insert_before_terminator(root, udta, b"udta")
        else:
            # After any existing meta (e.g. iTunes 'mdir' tags, which readers such as mutagen
            # take from the first udta/meta): a second, mdta-handled meta in udta.
            _insert_before_terminator(udta, target, b"meta")
    _add_entries(target, entries)
    return root.serialize(), in_xmp


_ENCODER_ITEM = int.from_bytes(b"\xa9too", "big")


def _encoder_only(meta: _Meta) -> bool:
    """An iTunes (``mdir``) meta whose only tag is the encoder's (``\xa9too``), or none."""
    return (meta.handler == b"mdir"
            and all(t in (b"hdlr", b"ilst", b"free") for t, _raw in meta.children)
            and all(i == _ENCODER_ITEM for i, _raw in meta.items))


def _insert_before_terminator(parent: _Node, child: _Node | _Meta, typ: bytes) -> None:
    at = next((i for i, (t, _c) in enumerate(parent.children) if t == b""),
              len(parent.children))
    parent.children.insert(at, (typ, child))


def _walk(buf: bytes, start: int, end: int, path: tuple[bytes, ...]) -> Iterator[_Box]:
    for box in _kids(buf, start, end, b"/".join(path).decode("latin-1") or "moov"):
        yield box
        if box.type in (b"trak", b"mdia", b"minf", b"stbl"):
            yield from _walk(buf, box.body, box.end, path + (box.type,))


def _shift_chunk_offsets(moov: bytearray, shifts: list[tuple[int, int]]) -> None:
    """Add to every stco/co64 entry the ``delta`` of each (``after``, ``delta``) of ``shifts``
    whose ``after`` it is at or past (in place; sizes do not change)."""
    hdr = 16 if int.from_bytes(moov[:4], "big") == 1 else 8
    for box in _walk(bytes(moov), hdr, len(moov), ()):
        if box.type not in (b"stco", b"co64"):
            continue
        width = 4 if box.type == b"stco" else 8
        count = int.from_bytes(moov[box.body + 4:box.body + 8], "big")
        first = box.body + 8
        if first + count * width > box.end:
            raise MetadataError(f"malformed MP4: {box.type.decode()} entry count {count} too big")
        for i in range(count):
            p = first + i * width
            off = int.from_bytes(moov[p:p + width], "big")
            delta = sum(d for after, d in shifts if off >= after)
            if delta:
                off += delta
                if not 0 <= off < (1 << (8 * width)):
                    raise MetadataError("MP4 chunk offset overflows stco; cannot grow moov")
                moov[p:p + width] = off.to_bytes(width, "big")


def _is_xmp_box(read: Callable[[int, int], bytes], box: _Box) -> bool:
    return (box.type == b"uuid" and box.header + 16 <= box.size <= _MAX_XMP_BOX
            and read(box.body, 16) == XMP_UUID)


def _xmp_update(read: Callable[[int, int], bytes], boxes: list[_Box],
                digital_source_type: str | None,
                base: bytes | None = None) -> tuple[list[tuple[_Box, bytes]], bytes]:
    """The file's top-level XMP boxes (ISO ``uuid``, where ExifTool and Adobe's tools read an
    MP4's XMP) as they must change: ([(box, its new bytes)], a new box to add after moov).
    The first gets the IPTC ``Iptc4xmpExt:DigitalSourceType`` (when given; a new box does when
    there is none); every one loses a TC260:AIGC (GB 45438: one label per file, and the label
    is the mdta key); their other properties are kept. A packet that does not parse is left
    alone: its properties are another tool's, not ours to lose. ``base``: the packet a new box
    starts from (the XMP of the file this one was encoded from)."""
    from . import xmp

    changed: list[tuple[_Box, bytes]] = []
    found = [b for b in boxes if _is_xmp_box(read, b)]
    for i, box in enumerate(found):
        old = read(box.body + 16, box.size - box.header - 16)
        if (mended := xmp.mend_packet(old, digital_source_type if i == 0 else None)) is not None:
            changed.append((box, _xmp_box(mended)))
    new = b""
    if (digital_source_type or base) and not found:
        try:
            new = _xmp_box(xmp.source_type_packet(base, digital_source_type))
        except MetadataError:       # an unreadable packet to start from: a fresh one
            if digital_source_type:
                new = _xmp_box(xmp.source_type_packet(None, digital_source_type))
    return changed, new


def _xmp_box(packet: bytes) -> bytes:
    return struct.pack(">I4s", 8 + 16 + len(packet), b"uuid") + XMP_UUID + packet


def _plan(read: Callable[[int, int], bytes], size: int, entries: list[tuple[str, str]],
          xmp_base: bytes | None = None) -> list[tuple[int, int] | bytes]:
    """The output file as segments: (start, length) ranges of the input, and new bytes (the
    rewritten moov, with the XMP box after it when the file had none and ``entries`` set the
    source type or ``xmp_base`` gives a packet; the file's XMP boxes rewritten where they
    are). No ``entries``: moov is left as it is."""
    boxes, moov = _top_level(read, size)
    old = read(moov.start, moov.size)
    dst = next((v for k, v in entries if k == DST_KEY), None)
    moov_bytes, in_moov = _rewrite_moov(old, entries, dst) if entries else (old, False)
    new = bytearray(moov_bytes)
    # the source type goes where the file keeps its XMP: QuickTime's udta/XMP_, else the
    # top-level uuid box
    changed, added = _xmp_update(read, boxes, None if in_moov else dst, xmp_base)
    # (start, end, length after): chunk offsets into media data past an edit move with it
    edits = sorted([(moov.start, moov.end, len(new) + len(added))]
                   + [(b.start, b.end, len(data)) for b, data in changed])
    shifts = [(end, length - (end - start)) for start, end, length in edits]
    if any(d for _, d in shifts):
        _shift_chunk_offsets(new, shifts)
    replacement = {moov.start: bytes(new) + added} | {b.start: data for b, data in changed}
    segments: list[tuple[int, int] | bytes] = []
    pos = 0
    for start, end, _length in edits:
        if start > pos:
            segments.append((pos, start - pos))
        segments.append(replacement[start])
        pos = end
    if pos < size:
        segments.append((pos, size - pos))
    return segments


def _entries(aigc_inner_json: str, digital_source_type: str | None) -> list[tuple[str, str]]:
    entries = [(AIGC_KEY, aigc_inner_json)]
    if digital_source_type:
        entries.append((DST_KEY, digital_source_type))
    return entries


def write_mp4_metadata(data: bytes, aigc_inner_json: str,
                       digital_source_type: str | None = None) -> bytes:
    """``data`` (MP4/MOV/M4A bytes) with the AIGC mdta key set to ``aigc_inner_json``."""
    data = bytes(data)
    segments = _plan(_bytes_reader(data), len(data), _entries(aigc_inner_json, digital_source_type))
    return b"".join(seg if isinstance(seg, bytes) else data[seg[0]:seg[0] + seg[1]]
                    for seg in segments)


def _copy_range(src: BinaryIO, dst: BinaryIO, start: int, length: int) -> None:
    try:
        for chunk in read_range(src, start, length, _COPY):
            dst.write(chunk)
    except EOFError:
        raise MetadataError("MP4 file shrank while copying") from None


def write_mp4_metadata_file(src: str | os.PathLike[str], dst: str | os.PathLike[str],
                            aigc_inner_json: str, digital_source_type: str | None = None,
                            extra: list[tuple[str, str]] = (),
                            xmp_base: bytes | None = None) -> None:
    """Path version of :func:`write_mp4_metadata`: only moov is held in memory. ``extra``:
    other text mdta keys (name, value) to set in the same pass, before the label's.
    ``xmp_base``: see :func:`write_mp4_entries_file`."""
    keys = {k for k, _ in _entries(aigc_inner_json, digital_source_type)}
    write_mp4_entries_file(src, dst, [e for e in extra if e[0] not in keys]
                           + _entries(aigc_inner_json, digital_source_type), xmp_base)


def write_mp4_entries_file(src: str | os.PathLike[str], dst: str | os.PathLike[str],
                           entries: list[tuple[str, str]], xmp_base: bytes | None = None) -> None:
    """``src`` to ``dst`` with the text mdta keys ``entries`` (name, value) set, where the AIGC
    label goes (module docstring); any old key of one of those names is replaced. Only moov is
    held in memory. ``xmp_base``: an XMP packet (:func:`read_xmp_packet_file` of the file
    ``src`` was encoded from, whose encoder dropped it) that ``dst`` carries, without a
    TC260:AIGC, when ``src`` has no XMP of its own."""
    if os.path.exists(dst) and os.path.samefile(src, dst):
        raise MetadataError("source and destination are the same file")
    size = os.path.getsize(src)
    with open(src, "rb") as f:
        segments = _plan(_file_reader(f), size, entries, xmp_base)
        tmp = os.fspath(dst) + ".part"
        try:
            with open(tmp, "wb") as out:
                for seg in segments:
                    if isinstance(seg, bytes):
                        out.write(seg)
                    else:
                        _copy_range(f, out, *seg)
            os.replace(tmp, dst)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)


def read_xmp_packet_file(path: str | os.PathLike[str]) -> bytes | None:
    """The first XMP packet of an MP4-family file: a top-level ``uuid`` box, else
    ``moov/udta/XMP_``; None when it has none. (Re-encoding loses it: a creator, rights, a
    title another tool wrote; the writers take it back as ``xmp_base``.)"""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        read = _file_reader(f)
        boxes, moov = _top_level(read, size, partial=True)
        for box in boxes:
            if _is_xmp_box(read, box):
                return read(box.body + 16, box.size - box.header - 16)
        buf = read(moov.start, moov.size)
    hdr = 16 if int.from_bytes(buf[:4], "big") == 1 else 8
    for box in _kids(buf, hdr, len(buf), "moov"):
        if box.type == b"udta":
            for k in _kids(buf, box.body, box.end, "udta"):
                if k.type == b"XMP_":
                    return buf[k.body:k.end]
    return None


# --------------------------------------------------------------------------- reading


@dataclass
class MP4Findings:
    aigc: list[tuple[str, str]] = field(default_factory=list)  # (source, raw value)
    digital_source_type: str | None = None
    #: every text-valued mdta key, AIGC and source type included: (name, value) in file order
    mdta: list[tuple[str, str]] = field(default_factory=list)


#: ISO BMFF XMP: a top-level ``uuid`` box with this user type holds an XMP packet (what ExifTool
#: writes into MP4); QuickTime keeps one in ``moov/udta/XMP_``.
XMP_UUID = bytes.fromhex("BE7ACFCB97A942E89C71999491E3AFAC")
_MAX_XMP_BOX = 1 << 24


def _xmp_labels(found: MP4Findings, packet: bytes) -> None:
    """Add the AIGC values (and source type) of an XMP packet another tool wrote into the file:
    a TC260:AIGC there is a second label beside the mdta key."""
    from . import xmp

    if not xmp.packet_has_aigc(packet) and b"DigitalSourceType" not in packet:
        return
    try:
        f = xmp.find_in_packet(packet)
    except MetadataError:
        return      # an unreadable packet holds no label we could count
    found.aigc.extend(("mp4-xmp", v) for v in f.aigc)
    if found.digital_source_type is None and f.digital_source_type:
        found.digital_source_type = f.digital_source_type


def _find_in_moov(moov: bytes, found: MP4Findings | None = None) -> MP4Findings:
    found = found or MP4Findings()
    hdr = 16 if int.from_bytes(moov[:4], "big") == 1 else 8
    top = _kids(moov, hdr, len(moov), "moov")
    metas: list[tuple[str, _Box, bytes]] = []
    for box in top:
        if box.type == b"meta":
            metas.append(("moov/meta", box, moov))
        elif box.type == b"udta":
            for k in _kids(moov, box.body, box.end, "udta"):
                if k.type == b"meta":
                    metas.append(("moov/udta/meta", k, moov))
                elif k.type == b"XMP_":
                    _xmp_labels(found, moov[k.body:k.end])
    for where, box, buf in metas:
        meta = _parse_meta(buf, box)
        if meta.handler == b"mdta":
            for name, value in meta.values():
                found.mdta.append((name, value))
                low = name.strip().lower()
                if low == "aigc":
                    found.aigc.append(("mp4-mdta", value))
                elif low.endswith("digitalsourcetype") and found.digital_source_type is None:
                    found.digital_source_type = value.strip()
        # iTunes freeform items, in any meta: a tagger (mutagen) adds them to ffmpeg's mdta
        # meta, and a second label there went unseen
        for index, raw in meta.items:
            if index != _FREEFORM:
                continue
            name, value = _freeform_name(raw)
            if name is None or value is None:
                continue
            low = name.strip().lower()
            if low == "aigc":
                found.aigc.append(("mp4-itunes", value))
            elif low.endswith("digitalsourcetype") and found.digital_source_type is None:
                found.digital_source_type = value.strip()
    return found


def read_mp4_metadata(data: bytes) -> MP4Findings:
    """Every AIGC value in the file's metadata (mdta keys in moov/meta or moov/udta/meta,
    iTunes freeform ``----`` items named AIGC, a TC260:AIGC in an XMP packet: the ISO ``uuid``
    box or QuickTime's ``udta/XMP_``). Raises MetadataError on a malformed container."""
    data = bytes(data)
    return _find(_bytes_reader(data), len(data))


def _find(read: Callable[[int, int], bytes], size: int) -> MP4Findings:
    # partial: a file cut after its moov still says what its metadata holds (the pixels and
    # the C2PA hash say it is cut)
    boxes, moov = _top_level(read, size, partial=True)
    found = MP4Findings()
    for box in boxes:
        if _is_xmp_box(read, box):
            _xmp_labels(found, read(box.body + 16, box.size - box.header - 16))
    return _find_in_moov(read(moov.start, moov.size), found)


def read_mp4_metadata_file(path: str | os.PathLike[str]) -> MP4Findings:
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        return _find(_file_reader(f), size)
