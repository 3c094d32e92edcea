"""The GB 45438 implicit label in WAV files: a RIFF sub-chunk with ID ``AIGC``.

The chunk holds the *wrapped* Annex E JSON (``{"AIGC":{...}}``), padded to even length as
RIFF requires; the RIFF size (or, for RF64, the ``ds64`` riffSize) is fixed up. All other
chunks (``fmt``, ``data``, ``LIST/INFO``, ``bext``, ...) are copied byte for byte. Relabeling
replaces the existing chunk in place (the file holds exactly one); a new chunk goes after the
last chunk, so that naive readers that expect ``fmt`` + ``data`` up front keep working.

An XMP packet in a ``_PMX`` chunk (Adobe's WAV XMP) holding ``TC260:AIGC`` is also read as a
label, and on writing the TC260:AIGC is stripped from it so that only one label remains; so
are an ``AIGC`` entry in ``LIST/INFO`` (as ffmpeg writes tags) and a ``TXXX:AIGC`` frame in an
``id3 `` chunk (as mutagen and ExifTool write ID3 into WAV).
The IPTC DigitalSourceType, when given, goes into that XMP packet as
``Iptc4xmpExt:DigitalSourceType`` (the property pictures carry; ExifTool reads it there): set
in the file's ``_PMX`` packet, other properties kept, or in a new ``_PMX`` chunk after the
``AIGC`` one. The XMP never holds the label itself (one label per file).

Works on bytes and on paths (only chunk headers and small chunks are read into memory).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from ..fsutil import read_range
from . import id3
from .xmp import MetadataError, find_in_packet, mend_packet, packet_has_aigc, source_type_packet

__all__ = [
    "AIGC_CHUNK",
    "WavFindings",
    "append_chunk",
    "chunk_ids",
    "read_wav_labels",
    "read_wav_labels_file",
    "write_wav_label",
    "write_wav_label_file",
]

AIGC_CHUNK = b"AIGC"
XMP_CHUNK = b"_PMX"
#: An ID3v2 tag in a chunk of its own (mutagen writes "id3 ", others "ID3 ").
ID3_CHUNKS = (b"id3 ", b"ID3 ")
_MAX_SMALL = 64 << 20  # largest metadata chunk we load
_COPY = 1 << 20

Read = Callable[[int, int], bytes]
Segment = bytes | tuple[int, int]  # literal bytes or (offset, length) of the source


@dataclass(frozen=True)
class _Chunk:
    id: bytes
    start: int  # offset of the 8-byte header
    size: int  # payload size (for RF64 data: from ds64)
    end: int  # offset after payload and pad byte (may exceed the file by the missing pad)


@dataclass
class _Riff:
    form: bytes  # b"RIFF" or b"RF64"
    chunks: list[_Chunk]
    riff_end: int  # offset where the RIFF body ends (trailing bytes after it are kept)
    ds64: _Chunk | None
    missing_pad: bool  # the last chunk is odd-sized and the file lacks its pad byte
    streamed: bool = False  # RIFF and data sizes 0xFFFFFFFF (written to a pipe)


def _cid(c: bytes) -> str:
    return c.decode("latin-1").encode("unicode_escape").decode("ascii")


def _parse(read: Read, size: int) -> _Riff:
    if size == 0:
        raise MetadataError("empty file")
    head = read(0, 12)
    if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64"):
        raise MetadataError("not a RIFF file")
    if head[8:12] != b"WAVE":
        raise MetadataError(f"RIFF form {_cid(head[8:12])!r} is not WAVE")
    form = head[:4]
    riff_size = int.from_bytes(head[4:8], "little")
    ds64_riff = ds64_data = None
    ds64 = None
    if form == b"RF64":
        first = read(12, 36)
        if len(first) < 36 or first[:4] != b"ds64":
            raise MetadataError("RF64 file without a ds64 chunk")
        ds64_riff = int.from_bytes(first[8:16], "little")
        ds64_data = int.from_bytes(first[16:24], "little")
        riff_size = ds64_riff
    streamed = form == b"RIFF" and riff_size == 0xFFFFFFFF
    if streamed:        # written to a pipe (ffmpeg -f wav -): the sizes were never filled in
        riff_size = size - 8
    riff_end = 8 + riff_size
    if riff_end > size:
        raise MetadataError(f"truncated WAV: RIFF declares {riff_end} bytes, file has {size}")
    chunks: list[_Chunk] = []
    pos = 12
    missing_pad = False
    while pos < riff_end:
        if riff_end - pos < 8:
            if not any(read(pos, riff_end - pos)):
                break  # zero padding at the end of the RIFF body
            raise MetadataError(f"truncated WAV: {riff_end - pos} stray bytes at {pos}")
        hdr = read(pos, 8)
        cid, csize = hdr[:4], int.from_bytes(hdr[4:8], "little")
        if form == b"RF64" and cid == b"data" and csize == 0xFFFFFFFF:
            csize = ds64_data or 0
        elif streamed and cid == b"data" and csize == 0xFFFFFFFF:
            csize = riff_end - pos - 8
        end = pos + 8 + csize + (csize & 1)
        if pos + 8 + csize > riff_end:
            raise MetadataError(
                f"truncated WAV: chunk {_cid(cid)!r} at {pos} declares {csize} bytes, "
                f"{riff_end - pos - 8} available"
            )
        if end > riff_end:  # odd last chunk without its pad byte (common, tolerated)
            missing_pad = True
        chunk = _Chunk(cid, pos, csize, end)
        if cid == b"ds64" and form == b"RF64" and ds64 is None:
            ds64 = chunk
        chunks.append(chunk)
        pos = end
    if not any(c.id == b"fmt " for c in chunks):
        raise MetadataError("malformed WAV: no fmt chunk")
    return _Riff(form, chunks, riff_end, ds64, missing_pad, streamed)


def _info_entries(payload: bytes) -> list[tuple[bytes, bytes]]:
    """(ID, value) of each entry of a ``LIST`` chunk of form ``INFO``; [] for another form. A
    cut entry ends the list."""
    if payload[:4] != b"INFO":
        return []
    out, pos = [], 4
    while pos + 8 <= len(payload):
        n = int.from_bytes(payload[pos + 4:pos + 8], "little")
        if pos + 8 + n > len(payload):
            break
        out.append((payload[pos:pos + 4], payload[pos + 8:pos + 8 + n]))
        pos += 8 + n + (n & 1)
    return out


def _is_aigc(cid: bytes) -> bool:
    return cid.upper() == AIGC_CHUNK


def _payload(read: Read, c: _Chunk) -> bytes:
    if c.size > _MAX_SMALL:
        raise MetadataError(f"WAV chunk {_cid(c.id)!r} too large to read ({c.size} bytes)")
    return read(c.start + 8, c.size)


def _chunk_bytes(cid: bytes, payload: bytes) -> bytes:
    pad = b"\x00" if len(payload) & 1 else b""
    return cid + len(payload).to_bytes(4, "little") + payload + pad


def _plan(read: Read, size: int, wrapped_json: str,
          digital_source_type: str | None = None) -> list[Segment]:
    riff = _parse(read, size)
    new_chunk = _chunk_bytes(AIGC_CHUNK, wrapped_json.encode("utf-8"))
    body: list[Segment] = []
    placed = False
    dst = digital_source_type        # set in the first XMP packet, None once done
    add_xmp = True                   # no _PMX chunk in the file: one is added for the source type
    for c in riff.chunks:
        if c.id == b"ds64":
            continue  # rewritten below
        if _is_aigc(c.id):
            if not placed:
                body.append(new_chunk)
                placed = True
            continue
        if c.id == XMP_CHUNK:
            # the file has XMP: the source type goes there or nowhere (a second _PMX chunk
            # beside one we cannot parse is what ExifTool calls "Duplicate XMP")
            add_xmp = False
            packet = _payload(read, c) if c.size <= _MAX_SMALL else None
            if packet is not None:
                if (mended := mend_packet(packet, dst)) is not None:
                    body.append(_chunk_bytes(XMP_CHUNK, mended))
                    dst = None
                    continue
                if packet_has_aigc(packet):
                    continue  # a broken packet that claims a label: drop it
        if c.id == b"LIST" and c.size <= _MAX_SMALL:
            payload = _payload(read, c)
            subs = _info_entries(payload)
            if any(_is_aigc(cid) for cid, _ in subs):
                kept = b"".join(_chunk_bytes(cid, v) for cid, v in subs if not _is_aigc(cid))
                if kept:
                    body.append(_chunk_bytes(b"LIST", b"INFO" + kept))
                continue
        if c.id in ID3_CHUNKS and c.size <= _MAX_SMALL:
            payload = _payload(read, c)
            try:
                tag = id3.without_labels(payload)
            except MetadataError:
                tag = payload               # not ours to mend: copied as it is
            if tag is None:                 # the label was all it held
                continue
            if tag is not payload:
                body.append(_chunk_bytes(c.id, tag))
                continue
        length = min(c.end, riff.riff_end) - c.start
        if riff.streamed and c.id == b"data":
            # the size a streaming writer never filled in, now that chunks follow the data
            body.append(c.id + c.size.to_bytes(4, "little"))
            body.append((c.start + 8, length - 8))
        else:
            body.append((c.start, length))
        if c.end > riff.riff_end:
            body.append(b"\x00")  # restore the missing pad byte
    if not placed:
        body.append(new_chunk)
    if dst and add_xmp:
        body.append(_chunk_bytes(XMP_CHUNK, source_type_packet(None, dst)))
    body_len = sum(len(s) if isinstance(s, bytes) else s[1] for s in body)
    out: list[Segment] = []
    if riff.form == b"RF64":
        assert riff.ds64 is not None
        ds64 = bytearray(_payload(read, riff.ds64))
        ds64_chunk_len = riff.ds64.end - riff.ds64.start
        ds64[0:8] = (4 + ds64_chunk_len + body_len).to_bytes(8, "little")
        out.append(b"RF64\xff\xff\xff\xffWAVE")
        out.append(_chunk_bytes(b"ds64", bytes(ds64)))
    else:
        riff_size = 4 + body_len
        if riff_size >= 1 << 32:
            raise MetadataError("WAV would exceed 4 GiB; convert it to RF64 first")
        out.append(b"RIFF" + riff_size.to_bytes(4, "little") + b"WAVE")
    out += body
    tail = riff.riff_end  # bytes after the RIFF body (junk, ID3v1...) are kept after it
    if tail < size:
        out.append((tail, size - tail))
    return out


def _bytes_reader(buf: bytes) -> Read:
    return lambda off, n: buf[off:off + n]


def _file_reader(f: BinaryIO) -> Read:
    def read(off: int, n: int) -> bytes:
        f.seek(off)
        return f.read(n)

    return read


def write_wav_label(data: bytes, wrapped_json: str, digital_source_type: str | None = None) -> bytes:
    """``data`` with exactly one ``AIGC`` chunk holding ``wrapped_json`` (and the IPTC
    ``digital_source_type`` in its XMP, when given)."""
    data = bytes(data)
    segments = _plan(_bytes_reader(data), len(data), wrapped_json, digital_source_type)
    return b"".join(s if isinstance(s, bytes) else data[s[0]:s[0] + s[1]] for s in segments)


def write_wav_label_file(src: str | os.PathLike[str], dst: str | os.PathLike[str],
                         wrapped_json: str, digital_source_type: str | None = None) -> None:
    """Path version of :func:`write_wav_label` with bounded memory."""
    if os.path.exists(dst) and os.path.samefile(src, dst):
        raise MetadataError("source and destination are the same file")
    size = os.path.getsize(src)
    tmp = os.fspath(dst) + ".part"
    with open(src, "rb") as f:
        segments = _plan(_file_reader(f), size, wrapped_json, digital_source_type)
        try:
            with open(tmp, "wb") as out:
                for s in segments:
                    if isinstance(s, bytes):
                        out.write(s)
                        continue
                    try:
                        for chunk in read_range(f, s[0], s[1], _COPY):
                            out.write(chunk)
                    except EOFError:
                        raise MetadataError("WAV file shrank while copying") from None
            os.replace(tmp, dst)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)


def chunk_ids(f: BinaryIO) -> list[bytes]:
    """IDs of the top-level chunks of the RIFF/WAVE file open in ``f`` (headers only)."""
    size = f.seek(0, os.SEEK_END)
    return [c.id for c in _parse(_file_reader(f), size).chunks]


def append_chunk(f: BinaryIO, cid: bytes, payload: bytes) -> int:
    """Append a top-level chunk ``cid`` holding ``payload`` to the RIFF/WAVE file open in ``f``
    (``r+b``), fix the RIFF size, and return the offset of the new chunk's 8-byte header.

    Only plain RIFF files whose RIFF body ends the file are handled (an RF64 file or bytes
    after the body raise :class:`MetadataError`); an odd last chunk's missing pad byte is
    added first. Only the headers are read."""
    if len(cid) != 4:
        raise ValueError("a RIFF chunk ID has 4 bytes")
    size = f.seek(0, os.SEEK_END)
    riff = _parse(_file_reader(f), size)
    if riff.form != b"RIFF":
        raise MetadataError(f"cannot append a chunk to a {_cid(riff.form)} file")
    pos = max([12] + [c.end for c in riff.chunks])
    if pos < size:
        raise MetadataError(f"{size - pos} bytes follow the last chunk")
    if riff.missing_pad:
        f.seek(size)
        f.write(b"\x00")
    f.seek(pos)
    f.write(_chunk_bytes(cid, payload))
    end = f.tell()
    if end - 8 > 0xFFFFFFFF:
        raise MetadataError("the file would exceed the 4 GiB RIFF limit")
    f.seek(4)
    f.write((end - 8).to_bytes(4, "little"))
    return pos


@dataclass
class WavFindings:
    aigc: list[tuple[str, str]]  # (source, raw value)
    digital_source_type: str | None = None
    errors: list[str] | None = None
    unreadable: int = 0          # broken XMP packets that hold a label (each counts as one)


def _find(read: Read, size: int) -> WavFindings:
    riff = _parse(read, size)
    found = WavFindings([], None, [])
    for c in riff.chunks:
        if _is_aigc(c.id):
            raw = _payload(read, c).rstrip(b"\x00").decode("utf-8", "replace")
            found.aigc.append(("riff-aigc", raw))
        elif c.id == b"LIST" and c.size <= _MAX_SMALL:
            # a tag in LIST/INFO, as ffmpeg and RIFF taggers write one (ffprobe shows it)
            found.aigc += [("riff-info", v.rstrip(b"\x00").decode("utf-8", "replace"))
                           for cid, v in _info_entries(_payload(read, c)) if _is_aigc(cid)]
        elif c.id in ID3_CHUNKS and c.size <= _MAX_SMALL:
            # an ID3 tag in its own chunk, as mutagen and ExifTool write one
            payload = _payload(read, c)
            try:
                labels, dst = id3.labels_in(id3.parse_tag(payload), "riff-id3")
            except MetadataError as exc:
                if b"AIGC" in payload:
                    found.errors.append(f"{exc} (in the WAV's ID3 chunk, it mentions AIGC)")
                    found.unreadable += 1
                continue
            found.aigc += labels
            found.digital_source_type = found.digital_source_type or dst
        elif c.id == XMP_CHUNK:
            packet = _payload(read, c)
            try:
                f = find_in_packet(packet)
            except MetadataError as exc:
                if packet_has_aigc(packet):
                    found.errors.append(f"{exc} (in _PMX XMP, it mentions TC260)")
                    found.unreadable += 1
                continue
            found.aigc += [("riff-xmp", v) for v in f.aigc]
            found.digital_source_type = found.digital_source_type or f.digital_source_type
    return found


def read_wav_labels(data: bytes) -> WavFindings:
    data = bytes(data)
    return _find(_bytes_reader(data), len(data))


def read_wav_labels_file(path: str | os.PathLike[str]) -> WavFindings:
    with open(path, "rb") as f:
        return _find(_file_reader(f), os.path.getsize(path))
