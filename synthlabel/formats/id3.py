"""The GB 45438 implicit label in MP3 files: an ID3v2 ``TXXX`` frame with description ``AIGC``.

Written with mutagen (an existing ID3v2 tag is kept, frames and all, and saved in its own
major version, 2.3 or 2.4; a new tag is ID3v2.4). The value is the *wrapped* Annex E JSON.
Every ``TXXX`` whose description is ``AIGC`` (any case) is replaced, so relabeling leaves one.
The optional DigitalSourceType goes in ``TXXX`` description ``DigitalSourceType`` (full IPTC
URI) and, as the IPTC property itself (``Iptc4xmpExt:DigitalSourceType``, which pictures
carry), into the tag's XMP packet: a ``PRIV`` frame owned by ``XMP`` (Adobe's place for XMP in
MP3, where ExifTool reads it), set in the packet there, its other properties kept, or a new
frame. The XMP holds the source type only: the label is the TXXX frame. The text encoding is
ISO-8859-1: Annex E values are printable ASCII, and Latin-1 frames read everywhere (ID3v2.3
has no UTF-8).

All functions work on a binary file object (``BytesIO`` or a file opened ``r+b``).
:func:`split_tag` walks a tag's frames itself, for signing (the C2PA frame goes in among them).
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import BinaryIO

from .mutagen_errors import reason as mutagen_reason
from .xmp import MetadataError

__all__ = ["AIGC_DESC", "C2PA_MIME", "DST_DESC", "Id3Tag", "Undecoded", "id3v1_tag",
           "keep_undecoded", "order_chapters", "read_id3_labels", "restore_id3v1", "split_tag",
           "syncsafe", "undecoded_frames", "write_id3_label"]

AIGC_DESC = "AIGC"
DST_DESC = "DigitalSourceType"
#: Owner of the ``PRIV`` frame that holds an XMP packet (Adobe XMP Specification Part 3).
XMP_OWNER = "XMP"
#: MIME type of the ``GEOB`` frame that holds a C2PA manifest store (c2pa-rs's layout).
C2PA_MIME = b"application/c2pa"
_FRAME_ID = re.compile(rb"[A-Z0-9]{4}")


def _load(f: BinaryIO):
    from mutagen.mp3 import MP3

    f.seek(0)
    try:
        return MP3(f)
    except Exception as exc:  # noqa: BLE001 - mutagen raises many types on bad input
        why = mutagen_reason(exc)
        f.seek(0)
        head = f.read(10)
        size = f.seek(0, 2)
        if head[:3] == b"ID3" and len(head) == 10 and 10 + _unsyncsafe(head[6:10]) > size:
            # mutagen says only "error" for a file that ends inside its tag
            why = f"the file ends inside its ID3 tag ({size} of {10 + _unsyncsafe(head[6:10])} bytes; truncated?)"
        raise MetadataError(f"malformed MP3: {why}") from None


@dataclass(frozen=True)
class Undecoded:
    """What of an ID3v2.3 / 2.4 tag mutagen keeps no decoded frame for (see
    :func:`undecoded_frames`)."""

    major: int                 # the tag's major version, 3 or 4
    raw: tuple[bytes, ...]     # frames mutagen does not know or support, header included
    repaired: tuple = ()       # mutagen frames decoded again as Latin-1 (said UTF-8, was not)
    lost: tuple[str, ...] = ()  # IDs of frames that could not be decoded at all


def undecoded_frames(f: BinaryIO) -> Undecoded | None:
    """The frames of the ID3v2.3 / 2.4 tag at the start of ``f`` that mutagen keeps no
    decoded frame for: frames it does not know or support (it keeps those raw itself, and so
    do we) and frames it cannot decode, which it drops without a word when the tag is saved.
    Of the second kind, a frame that says its text is UTF-8 but is not (a Latin-1 tagger's
    "Café" in a v2.4 tag, the usual case) is decoded again as Latin-1 and comes back
    ``repaired``; the others are ``lost`` and named. Not carried raw: c2pa's ID3 reader
    stops at such a frame and then finds no manifest. None: no tag, ID3v2.2, or unreadable.

    Saving a tag through mutagen drops them all: hand the result to :func:`keep_undecoded`."""
    from mutagen.id3 import Frames
    from mutagen.id3._tags import ID3Header, read_frames
    from mutagen.id3._util import ID3JunkFrameError

    repaired, lost = [], []

    class _Salvage:
        # read_frames keeps the raw bytes of a frame whose class raises NotImplementedError
        # and drops one that raises ID3JunkFrameError: catch the second and salvage it
        def __init__(self, cls):
            self.cls = cls

        def _fromData(self, header, flags, data):  # noqa: N802 - mutagen's name
            try:
                return self.cls._fromData(header, flags, data)
            except ID3JunkFrameError:
                pass
            if not flags and data[:1] == b"\x03":   # UTF-8 that is not: read it as Latin-1
                try:
                    frame = self.cls._fromData(header, flags, b"\x00" + data[1:])
                    frame.encoding = 3                # and write it as UTF-8
                    repaired.append(frame)
                    return None
                except ID3JunkFrameError:
                    pass
            lost.append(self.cls.__name__)
            return None

    class _Frames(dict):
        def __getitem__(self, key):
            return _Salvage(dict.__getitem__(self, key))

    try:
        f.seek(0)
        header = ID3Header(f)
        major = header.version[1]
        if major not in (3, 4):
            return None
        size = header.size - 10 - (4 + len(header._extdata) if header.f_extended else 0)
        _, raw, _ = read_frames(header, f.read(size), _Frames(Frames))
    except Exception:  # noqa: BLE001 - no tag, or one mutagen cannot read at all
        return None
    keep = []
    for fr in raw:
        body = fr[10:]
        size_field = syncsafe(len(body)) if major == 4 else len(body).to_bytes(4, "big")
        keep.append(fr[:4] + size_field + fr[8:10] + body)
    repaired = [fr for fr in repaired
                if not (fr.FrameID == "TXXX" and fr.desc.strip().lower() == AIGC_DESC.lower())]
    return Undecoded(major, tuple(keep), tuple(repaired), tuple(lost))


def keep_undecoded(tags, found: Undecoded | None) -> None:
    """Make the mutagen ID3 ``tags`` keep ``found`` (from :func:`undecoded_frames`) when
    saved in the same major version: its raw frames written as they were (in place of those
    mutagen holds) and its repaired frames added where no decoded frame has their key."""
    if found is None:
        return
    tags.unknown_frames = list(found.raw)
    # mutagen writes unknown frames only into a tag of the version they were read from
    tags._unknown_v2_version = found.major
    for frame in found.repaired:
        if frame.HashKey not in tags:
            tags.add(frame)


def write_id3_label(f: BinaryIO, wrapped_json: str, digital_source_type: str | None) -> None:
    from mutagen.id3 import TXXX, Encoding

    audio = _load(f)
    if audio.tags is None:
        audio.add_tags()
    tags = audio.tags
    major = tags.version[1] if getattr(tags, "version", None) else 4
    keep_undecoded(tags, undecoded_frames(f))
    ours = {AIGC_DESC.lower()} | ({DST_DESC.lower()} if digital_source_type else set())
    for frame in list(tags.getall("TXXX")):
        if frame.desc.strip().lower() in ours:
            del tags[frame.HashKey]
    tags.add(TXXX(encoding=Encoding.LATIN1, desc=AIGC_DESC, text=[wrapped_json]))
    if digital_source_type:
        tags.add(TXXX(encoding=Encoding.LATIN1, desc=DST_DESC, text=[digital_source_type]))
        _set_xmp_source_type(tags, digital_source_type)
    v1 = id3v1_tag(f)
    f.seek(0)
    try:
        audio.save(f, v2_version=3 if major == 3 else 4)
    except Exception as exc:  # noqa: BLE001
        raise MetadataError(f"cannot write ID3 tag: {mutagen_reason(exc)}") from None
    restore_id3v1(f, v1)
    if tags.getall("CHAP"):                 # (reading the tag again only where it has chapters)
        order_chapters(f)


def _set_xmp_source_type(tags, digital_source_type: str) -> None:
    """Set Iptc4xmpExt:DigitalSourceType in the tag's XMP (``PRIV`` owned by ``XMP``), its
    other properties kept; a packet that does not parse is left alone (another tool's)."""
    from mutagen.id3 import PRIV

    from .xmp import mend_packet, source_type_packet

    old = next((fr for fr in tags.getall("PRIV") if fr.owner == XMP_OWNER), None)
    if old is None:
        packet = source_type_packet(None, digital_source_type)
    elif (packet := mend_packet(old.data, digital_source_type)) is None:
        return
    else:
        del tags[old.HashKey]
    tags.add(PRIV(owner=XMP_OWNER, data=packet))


def order_chapters(f: BinaryIO) -> None:
    """Put the tag's ``CHAP`` frames in the order of their start times, in place (the tag keeps
    its size). mutagen writes frames sorted by their size, so chapters came out in another
    order than the source's ("Main" before "Intro"), and ffmpeg, which lists chapters in
    frame order, numbered them so."""
    tag = split_tag(f)
    if tag is None:
        return
    at = [i for i, fr in enumerate(tag.frames) if fr[:4] == b"CHAP"]

    def start(fr: bytes) -> int:
        end = fr.find(b"\x00", 10)         # the element ID, then the start time (ms)
        return int.from_bytes(fr[end + 1:end + 5], "big") if end >= 0 else 0

    chaps = [tag.frames[i] for i in at]
    ordered = sorted(chaps, key=start)
    if ordered == chaps:
        return
    frames = list(tag.frames)
    for i, fr in zip(at, ordered):
        frames[i] = fr
    f.seek(10)                              # split_tag takes no extended header: frames start here
    f.write(b"".join(frames))


def id3v1_tag(f: BinaryIO) -> bytes | None:
    """The 128-byte ID3v1 tag at the end of ``f``, or None."""
    f.seek(0, 2)
    if f.tell() < 128:
        return None
    f.seek(-128, 2)
    tag = f.read(128)
    return tag if tag[:3] == b"TAG" else None


def restore_id3v1(f: BinaryIO, tag: bytes | None) -> None:
    """Put ``tag`` (an ID3v1 tag, or None) back over the one mutagen wrote at the end of ``f``.
    mutagen makes the ID3v1 tag from the ID3v2 frames and finds no comment there (it looks
    for a COMM frame without description or language): the comment came out blank."""
    if tag is not None and id3v1_tag(f) is not None:
        f.seek(-128, 2)
        f.write(tag)


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
    if dst is None:
        # the IPTC property in the tag's XMP, as another tool may have written it alone
        from .xmp import find_in_packet

        for fr in tags.getall("PRIV"):
            if fr.owner == XMP_OWNER and b"DigitalSourceType" in fr.data:
                try:
                    dst = find_in_packet(fr.data).digital_source_type
                except MetadataError:
                    continue
                if dst:
                    break
    return found, dst


def ape_labels(f: BinaryIO) -> list[tuple[str, str]]:
    """[("apev2", raw)]: AIGC items of an MP3's APEv2 tag (foobar2000 and MP3Gain write one
    after the audio; its keys are case-insensitive). Another tool's label there is a label of
    the file like a TXXX one: verify counts it and labeling replaces it (audio_tags._ape_copy
    leaves it out of the copy) rather than dropping it unsaid. A tag mutagen cannot read is
    no label."""
    from mutagen.apev2 import APEv2

    f.seek(0)
    try:
        tag = APEv2(f)
    except Exception:  # noqa: BLE001 - no tag (APENoHeaderError) or a broken one
        return []
    found = []
    for key, value in tag.items():
        if key.strip().lower() == AIGC_DESC.lower() and getattr(value, "kind", None) == 0:
            # a text item holds one value or several (NUL-separated), as a TXXX frame does
            values = [t for t in str(value).split("\0") if t.strip()] or [""]
            found.extend(("apev2", t) for t in values)
    return found


def parse_tag(payload: bytes):
    """A bare ID3v2 tag (a WAV's ``id3 `` chunk) as a mutagen ID3; MetadataError when it
    does not parse."""
    from mutagen.id3 import ID3

    try:
        return ID3(io.BytesIO(payload))
    except Exception as exc:  # noqa: BLE001 - mutagen raises many types on bad input
        raise MetadataError(f"malformed ID3 tag: {mutagen_reason(exc)}") from None


def without_labels(payload: bytes) -> bytes | None:
    """A bare ID3v2 tag with its TXXX:AIGC frames removed (None: nothing else was in it);
    the tag itself when it holds none."""
    tags = parse_tag(payload)
    aigc = [f for f in tags.getall("TXXX") if f.desc.strip().lower() == AIGC_DESC.lower()]
    if not aigc:
        return payload
    for frame in aigc:
        del tags[frame.HashKey]
    undecoded = undecoded_frames(io.BytesIO(payload))
    keep_undecoded(tags, undecoded)
    if not len(tags) and not (undecoded and undecoded.raw):
        return None
    out = io.BytesIO(payload)
    try:
        tags.save(out, v2_version=3 if tags.version[1] == 3 else 4, padding=lambda info: 0)
    except Exception as exc:  # noqa: BLE001
        raise MetadataError(f"cannot write ID3 tag: {mutagen_reason(exc)}") from None
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
