"""The GB 45438 implicit label in MP3 files: an ID3v2 ``TXXX`` frame with description ``AIGC``.

Written with mutagen (an existing ID3v2 tag is kept, frames and all, and saved in its own
major version, 2.3 or 2.4; a new tag is ID3v2.4). The value is the *wrapped* Annex E JSON.
Every ``TXXX`` whose description is ``AIGC`` (any case) is replaced, so relabeling leaves one.
The optional DigitalSourceType goes in ``TXXX`` description ``DigitalSourceType`` (full IPTC
URI). The text encoding is ISO-8859-1: Annex E values are printable ASCII, and Latin-1 frames
read everywhere (ID3v2.3 has no UTF-8).

All functions work on a binary file object (``BytesIO`` or a file opened ``r+b``).
:func:`split_tag` walks a tag's frames itself, for signing (the C2PA frame goes in among them).
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import BinaryIO

from .xmp import MetadataError

__all__ = ["AIGC_DESC", "C2PA_MIME", "DST_DESC", "Id3Tag", "read_id3_labels", "split_tag",
           "syncsafe", "write_id3_label"]

AIGC_DESC = "AIGC"
DST_DESC = "DigitalSourceType"
#: MIME type of the ``GEOB`` frame that holds a C2PA manifest store (c2pa-rs's layout).
C2PA_MIME = b"application/c2pa"
_FRAME_ID = re.compile(rb"[A-Z0-9]{4}")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


def _load(f: BinaryIO):
    from mutagen.mp3 import MP3

    f.seek(0)
    try:
        return MP3(f)
    except Exception as exc:  # noqa: BLE001 - mutagen raises many types on bad input
        why = _one_line(exc)
        f.seek(0)
        head = f.read(10)
        size = f.seek(0, 2)
        if head[:3] == b"ID3" and len(head) == 10 and 10 + _unsyncsafe(head[6:10]) > size:
            # mutagen says only "error" for a file that ends inside its tag
            why = f"the file ends inside its ID3 tag ({size} of {10 + _unsyncsafe(head[6:10])} bytes; truncated?)"
        raise MetadataError(f"malformed MP3: {why}") from None


def write_id3_label(f: BinaryIO, wrapped_json: str, digital_source_type: str | None) -> None:
    from mutagen.id3 import TXXX, Encoding

    audio = _load(f)
    if audio.tags is None:
        audio.add_tags()
    tags = audio.tags
    major = tags.version[1] if getattr(tags, "version", None) else 4
    ours = {AIGC_DESC.lower()} | ({DST_DESC.lower()} if digital_source_type else set())
    for frame in list(tags.getall("TXXX")):
        if frame.desc.strip().lower() in ours:
            del tags[frame.HashKey]
    tags.add(TXXX(encoding=Encoding.LATIN1, desc=AIGC_DESC, text=[wrapped_json]))
    if digital_source_type:
        tags.add(TXXX(encoding=Encoding.LATIN1, desc=DST_DESC, text=[digital_source_type]))
    f.seek(0)
    try:
        audio.save(f, v2_version=3 if major == 3 else 4)
    except Exception as exc:  # noqa: BLE001
        raise MetadataError(f"cannot write ID3 tag: {_one_line(exc)}") from None


def read_id3_labels(f: BinaryIO) -> tuple[list[tuple[str, str]], str | None]:
    """([("id3-txxx", raw)], digital source type)."""
    return labels_in(_load(f).tags)


def labels_in(tags, source: str = "id3-txxx") -> tuple[list[tuple[str, str]], str | None]:
    """([(source, raw)], digital source type) of a mutagen ID3 tag (None: no tag)."""
    found: list[tuple[str, str]] = []
    dst = None
    if tags is None:
        return found, dst
    for frame in tags.getall("TXXX"):
        desc = frame.desc.strip().lower()
        # A frame holds one value or several (NUL-separated): each value is a label, as two
        # values of one Vorbis comment field are; an empty one (a trailing NUL) is none
        values = [str(t) for t in frame.text if str(t).strip()] or [""]
        if desc == AIGC_DESC.lower():
            found.extend((source, value) for value in values)
        elif desc == DST_DESC.lower() and dst is None:
            dst = values[0].strip()
    return found, dst


def parse_tag(payload: bytes):
    """A bare ID3v2 tag (a WAV's ``id3 `` chunk) as a mutagen ID3; MetadataError when it
    does not parse."""
    from mutagen.id3 import ID3

    try:
        return ID3(io.BytesIO(payload))
    except Exception as exc:  # noqa: BLE001 - mutagen raises many types on bad input
        raise MetadataError(f"malformed ID3 tag: {_one_line(exc)}") from None


def without_labels(payload: bytes) -> bytes | None:
    """A bare ID3v2 tag with its TXXX:AIGC frames removed (None: nothing else was in it);
    the tag itself when it holds none."""
    tags = parse_tag(payload)
    aigc = [f for f in tags.getall("TXXX") if f.desc.strip().lower() == AIGC_DESC.lower()]
    if not aigc:
        return payload
    for frame in aigc:
        del tags[frame.HashKey]
    if not len(tags):
        return None
    out = io.BytesIO(payload)
    try:
        tags.save(out, v2_version=3 if tags.version[1] == 3 else 4, padding=lambda info: 0)
    except Exception as exc:  # noqa: BLE001
        raise MetadataError(f"cannot write ID3 tag: {_one_line(exc)}") from None
    return out.getvalue()


def syncsafe(value: int) -> bytes:
    """``value`` as an ID3v2 sync-safe integer (4 bytes, 7 bits each)."""
    if not 0 <= value < 1 << 28:
        raise ValueError("ID3v2 size too large")
    return bytes([(value >> 21) & 0x7F, (value >> 14) & 0x7F, (value >> 7) & 0x7F, value & 0x7F])


def _unsyncsafe(raw: bytes) -> int:
    return (raw[0] << 21) | (raw[1] << 14) | (raw[2] << 7) | raw[3]


@dataclass(frozen=True)
class Id3Tag:
    """The ID3v2 tag at the start of a file, split into frames (raw bytes, header included).
    ``end``: where the audio starts (0 when the file has no tag)."""

    major: int                 # 3 or 4 (a file without a tag: 4)
    frames: tuple[bytes, ...]
    end: int

    def without_c2pa(self) -> "Id3Tag":
        """The tag without its C2PA manifest frames (``GEOB`` of MIME ``application/c2pa``)."""
        keep = tuple(fr for fr in self.frames
                     if not (fr[:4] == b"GEOB" and fr[11:].startswith(C2PA_MIME + b"\x00")))
        return Id3Tag(self.major, keep, self.end)


def split_tag(f: BinaryIO) -> Id3Tag | None:
    """The ID3v2.3 / 2.4 tag at the start of ``f`` split into frames; an empty v2.4 tag when
    there is none. None for a layout whose frames we do not rewrite as they are: ID3v2.2,
    unsynchronisation, an extended header, a footer, or frames that do not add up."""
    f.seek(0)
    head = f.read(10)
    if len(head) < 10 or head[:3] != b"ID3":
        return Id3Tag(4, (), 0)
    major, flags = head[3], head[5]
    if major not in (3, 4) or flags & 0xF0 or any(b & 0x80 for b in head[6:10]):
        return None
    size = _unsyncsafe(head[6:10])
    body = f.read(size)
    if len(body) != size:
        return None
    frames, pos = [], 0
    while pos + 10 <= size and body[pos] != 0:
        raw = body[pos + 4:pos + 8]
        n = _unsyncsafe(raw) if major == 4 else int.from_bytes(raw, "big")
        if not _FRAME_ID.fullmatch(body[pos:pos + 4]) or pos + 10 + n > size:
            return None
        frames.append(body[pos:pos + 10 + n])
        pos += 10 + n
    if any(body[pos:]):            # padding must be zeros: anything else is not understood
        return None
    return Id3Tag(major, tuple(frames), 10 + size)
