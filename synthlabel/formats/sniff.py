"""Identify a media file by its content (magic bytes), never by its name.

A file called ``photo.png`` that is really a JPEG must be handled as a JPEG: writing a PNG
chunk into JPEG bytes would corrupt it. Everything here looks only at the first bytes.

The answers are precise about the cases that are easy to get wrong (HEIF/AVIF are ISO-BMFF
too, AAC ADTS looks like an MPEG frame sync, FLAC can hide behind an ID3 tag, WebM is
Matroska). Media in a format synthlabel does not handle (AIFF, AVI, HEIC, ...) is named
(:class:`UnsupportedFormat`), so that a batch reports it as unlabeled media rather than
passing over it as "not media".
"""
from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass

from ..fsutil import open_checked
from .pyav import open_container

__all__ = ["MediaType", "UnsupportedFormat", "UnsupportedMedia", "sniff_bytes", "sniff_data", "sniff_file",
           "HEAD_SIZE"]

# How much sniff_file reads. 64 bytes are enough for every decision below except an EBML
# header with a long preamble; 4 KiB costs the same single read.
HEAD_SIZE = 4096


@dataclass(frozen=True)
class MediaType:
    kind: str  # "image" | "audio" | "video"
    format: str  # "jpeg", "png", ... (see _TYPES)
    mime: str
    extension: str  # canonical, with the dot

    def __str__(self) -> str:
        return self.mime


class UnsupportedMedia(ValueError):
    """The bytes are not a media format synthlabel handles."""


class UnsupportedFormat(UnsupportedMedia):
    """The bytes ARE media (``kind``: image, audio or video), in a format synthlabel does not
    handle (AIFF, AVI, HEIC, ...). Unlike other :class:`UnsupportedMedia`, a batch must not pass
    over such a file as "not media": it is media left unlabeled, so it is reported as failed."""

    def __init__(self, kind: str, name: str, hint: str) -> None:
        super().__init__(f"{name} is not supported ({hint})")
        self.kind = kind
        self.name = name


# What to convert an unsupported file to, per kind (the formats synthlabel writes).
_CONVERT_HINT = {
    "image": "convert it to PNG, JPEG or WebP",
    "audio": "convert it to WAV, FLAC, MP3, Ogg, Opus or M4A",
    "video": "convert it to MP4, MOV, MKV or WebM",
}


def _unsupported(kind: str, name: str) -> UnsupportedFormat:
    return UnsupportedFormat(kind, name, _CONVERT_HINT[kind])


_TYPES: dict[str, MediaType] = {
    t.format: t
    for t in (
        MediaType("image", "jpeg", "image/jpeg", ".jpg"),
        MediaType("image", "png", "image/png", ".png"),
        MediaType("image", "webp", "image/webp", ".webp"),
        MediaType("image", "gif", "image/gif", ".gif"),
        MediaType("image", "tiff", "image/tiff", ".tiff"),
        MediaType("image", "bmp", "image/bmp", ".bmp"),
        MediaType("audio", "wav", "audio/wav", ".wav"),
        MediaType("audio", "flac", "audio/flac", ".flac"),
        MediaType("audio", "mp3", "audio/mpeg", ".mp3"),
        MediaType("audio", "ogg", "audio/ogg", ".ogg"),
        MediaType("audio", "m4a", "audio/mp4", ".m4a"),
        MediaType("video", "mp4", "video/mp4", ".mp4"),
        MediaType("video", "mov", "video/quicktime", ".mov"),
        MediaType("video", "mkv", "video/x-matroska", ".mkv"),
        MediaType("video", "webm", "video/webm", ".webm"),
    )
}

#: Ogg holding Opus: the same format, but a file renamed from elsewhere gets ".opus" (RFC 7845)
_OGG_OPUS = MediaType("audio", "ogg", "audio/ogg", ".opus")

#: Suffixes an M4A keeps when labeled: .m4b (audiobooks) and .mp4 name the same container.
M4A_SUFFIXES = (".m4a", ".m4b", ".aac", ".mp4")

# ISO-BMFF major brands that are still images, not video: treating a HEIC as MP4 would
# write a video-style label into it.
_BMFF_IMAGE_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1",
                      b"avif", b"avis", b"crx "}
_BMFF_AUDIO_BRANDS = {b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "}
# QuickTime files from before ftyp existed start directly with one of these atoms.
_QT_LEGACY_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}
_BMP_DIB_SIZES = {12, 16, 40, 52, 56, 64, 108, 124}


def _is_adts(h: bytes) -> bool:
    """AAC in ADTS frames: the 12-bit sync, layer 00, a valid sampling-frequency index, and a
    second frame where the first frame's length says (one 2-byte sync alone is too weak)."""
    if len(h) < 7 or h[0] != 0xFF or (h[1] & 0xF6) != 0xF0 or ((h[2] >> 2) & 0xF) > 12:
        return False
    length = ((h[3] & 0x3) << 11) | (h[4] << 3) | (h[5] >> 5)
    return length >= 7 and (len(h) < length + 2 or (h[length] == 0xFF and (h[length + 1] & 0xF6) == 0xF0))


def _mpeg_audio_layer(h: bytes) -> int | None:
    """The layer bits (01 Layer III, 10 Layer II, 11 Layer I) of an MPEG-1/2/2.5 audio frame
    header at the start of ``h``, or None. AAC ADTS (FFF1/FFF9) shares the 12-bit sync but has
    layer bits 00; the version, bitrate and sample-rate indexes rule out most random FF Ex
    bytes."""
    if len(h) < 3 or h[0] != 0xFF or (h[1] & 0xE0) != 0xE0:
        return None
    version = (h[1] >> 3) & 0x3  # 01 is reserved
    layer = (h[1] >> 1) & 0x3
    bitrate = h[2] >> 4
    rate = (h[2] >> 2) & 0x3
    return layer if version != 1 and layer != 0 and bitrate not in (0, 15) and rate != 3 else None


def _is_mpeg_layer12(h: bytes) -> bool:
    """An MPEG audio frame header of Layer I or II (MP2: broadcast, DVB, old podcasts)."""
    return _mpeg_audio_layer(h) in (2, 3)


def _is_mpeg_ts(h: bytes) -> bool:
    """MPEG transport stream: a 0x47 sync byte every 188 bytes (192 for M2TS)."""
    for size, first in ((188, 0), (192, 4)):
        if len(h) >= first + 2 * size + 1 and all(h[first + k * size] == 0x47 for k in range(3)):
            return True
    return False


# Media synthlabel recognises but does not handle (checked after every supported format):
# (kind, name, test on the first bytes). Named so that a batch reports them as failed
# instead of passing over them as "not media".
def _is_annex_b(h: bytes) -> bool:
    """A raw H.264 or H.265 elementary stream (cameras and DVRs write them): a 4-byte start
    code, then the NAL header of a parameter set, an access-unit delimiter or SEI."""
    if len(h) < 6 or h[:4] != b"\x00\x00\x00\x01" or h[4] & 0x80:
        return False
    return (h[4] & 0x1F) in (6, 7, 9) or ((h[4] >> 1) & 0x3F) in (32, 35, 39)


def _is_ac3(h: bytes) -> bool:
    """An AC-3 / E-AC-3 (Dolby Digital) sync frame: 0B77, then a sample-rate code other than
    the reserved one and a bitstream ID of at most 16."""
    return len(h) >= 6 and h[:2] == b"\x0b\x77" and (h[4] >> 6) != 3 and (h[5] >> 3) <= 16


_DTS_SYNCS = (b"\x7f\xfe\x80\x01", b"\xfe\x7f\x01\x80", b"\x1f\xff\xe8\x00", b"\xff\x1f\x00\xe8")

_OTHER_MEDIA = (
    ("audio", "AIFF audio", lambda h: h[:4] == b"FORM" and h[8:12] in (b"AIFF", b"AIFC")),
    # lossless and surround formats of music collections (they were passed over in a folder
    # as "not media", where the README promises a named failure)
    ("audio", "WavPack audio", lambda h: h[:4] == b"wvpk"),
    ("audio", "TTA (True Audio) audio", lambda h: h[:4] == b"TTA1"),
    ("audio", "Monkey's Audio (APE) audio", lambda h: h[:4] == b"MAC "),
    ("audio", "Musepack audio", lambda h: h[:4] == b"MPCK" or h[:3] == b"MP+"),
    ("audio", "TAK audio", lambda h: h[:4] == b"tBaK"),
    ("audio", "Shorten audio", lambda h: h[:4] == b"ajkg"),
    ("audio", "DSD audio (DSF)", lambda h: h[:4] == b"DSD " and h[4:12] == (28).to_bytes(8, "little")),
    ("audio", "DSD audio (DSDIFF)", lambda h: h[:4] == b"FRM8" and h[12:16] == b"DSD "),
    ("audio", "AC-3 / E-AC-3 (Dolby Digital) audio", _is_ac3),
    ("audio", "DTS audio", lambda h: h[:4] in _DTS_SYNCS),
    ("audio", "Creative Voice (VOC) audio", lambda h: h[:20] == b"Creative Voice File\x1a"),
    ("audio", "MIDI music (notes, not sound)", lambda h: h[:4] == b"MThd"),
    ("video", "RealMedia media", lambda h: h[:4] == b".RMF"),
    ("audio", "Sony Wave64 audio", lambda h: h[:16] == b"riff\x2e\x91\xcf\x11\xa5\xd6\x28\xdb\x04\xc1\x00\x00"),
    ("audio", "Core Audio Format (CAF) audio", lambda h: h[:4] == b"caff"),
    ("audio", "Sun/NeXT AU audio", lambda h: h[:4] == b".snd"),
    ("audio", "AMR audio", lambda h: h[:5] == b"#!AMR"),
    ("audio", "raw AAC (ADTS) audio", _is_adts),
    ("audio", "MPEG Layer I/II audio (MP2)", _is_mpeg_layer12),
    ("video", "ASF (WMV/WMA) media", lambda h: h[:16] == bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")),
    ("video", "Flash video (FLV)", lambda h: h[:4] == b"FLV\x01"),
    ("video", "MPEG program stream video", lambda h: h[:4] == b"\x00\x00\x01\xba"),
    ("video", "MPEG transport stream video", _is_mpeg_ts),
    ("video", "a raw H.264/H.265 stream (no container)", _is_annex_b),
    ("video", "YUV4MPEG2 raw video", lambda h: h[:10] == b"YUV4MPEG2 "),
    ("image", "JPEG 2000 image", lambda h: h[:12] == b"\x00\x00\x00\x0cjP  \r\n\x87\n" or h[:4] == b"\xff\x4f\xff\x51"),
    ("image", "JPEG XL image", lambda h: h[:2] == b"\xff\x0a" or h[:12] == b"\x00\x00\x00\x0cJXL \r\n\x87\n"),
    ("image", "Photoshop (PSD) image", lambda h: h[:4] == b"8BPS"),
)


def media_type(fmt: str) -> MediaType:
    """The :class:`MediaType` for a format name (``"jpeg"``, ``"wav"``, ...)."""
    try:
        return _TYPES[fmt]
    except KeyError:
        raise UnsupportedMedia(f"unknown media format {fmt!r}") from None


_KINDS = ((b"PK\x03\x04", "a ZIP archive"), (b"%PDF", "a PDF document"), (b"\x1f\x8b", "gzip data"),
          (b"\x7fELF", "a program"), (b"-----BEGIN", "a PEM file (a key or certificate?)"))


def _describe(head: bytes) -> str:
    """What kind of file ``head`` starts, never its bytes: an error message goes to reports
    and logs, and showing the first bytes there leaked those of whatever a crafted folder
    linked to (a key file's first 32 bits)."""
    for magic, kind in _KINDS:
        if head.startswith(magic):
            return kind
    text = head[:256].decode("utf-8", "replace").rstrip("\ufffd")   # a character cut at the end
    if not head or not all(c.isprintable() or c in "\r\n\t" for c in text):
        return "binary data" if head else "empty"
    return "XML or HTML text" if text.lstrip().startswith("<") else "text"


def _unrecognised(head: bytes) -> UnsupportedMedia:
    return UnsupportedMedia(f"not a recognised media file ({_describe(head)})")


def _is_mpeg_audio_sync(h: bytes) -> bool:
    """An MPEG-1/2/2.5 Layer III frame header (FFFB, FFFA, FFF3, FFF2, FFE3, FFE2 ...)."""
    return _mpeg_audio_layer(h) == 1


def _id3_end(head: bytes) -> int | None:
    """Offset just past an ID3v2 tag at the start of ``head`` (syncsafe size, optional footer)."""
    if len(head) < 10 or head[:3] != b"ID3":
        return None
    size_bytes = head[6:10]
    if any(b & 0x80 for b in size_bytes):
        return None
    size = (size_bytes[0] << 21) | (size_bytes[1] << 14) | (size_bytes[2] << 7) | size_bytes[3]
    footer = 10 if head[5] & 0x10 else 0
    return 10 + size + footer


#: How far into a file a FLAC stream is looked for behind an ID3 tag whose size is damaged
#: (c2pa puts its manifest in an ID3 tag in front of a FLAC's "fLaC"; a bad size made the
#: labeled file an MP3, "malformed MP3", "the audio ends early")
ID3_FLAC_SCAN = 1 << 20


def _flac_within(buf: bytes) -> bool:
    """Whether ``buf`` holds a FLAC stream's start: "fLaC" and a STREAMINFO block header
    (type 0, 34 bytes), which the stream always opens with."""
    at = buf.find(b"fLaC")
    while at >= 0:
        if buf[at + 4:at + 5] in (b"\x00", b"\x80") and buf[at + 5:at + 8] == b"\x00\x00\x22":
            return True
        at = buf.find(b"fLaC", at + 1)
    return False


def _behind_id3(after: bytes, scanned: bytes = b"") -> MediaType:
    """What an ID3v2 tag fronts, from the bytes just past it: FLAC, or unsupported audio (AAC
    in ADTS, MP2, ...: _OTHER_MEDIA) named as such (they were taken for MP3 and silently
    re-encoded as one), else MP3 (which may have padding or junk before its first frame).
    ``scanned``: the file's first bytes (up to ID3_FLAC_SCAN), where a FLAC stream is looked
    for when the tag's end is not at an MPEG frame (its size damaged)."""
    if after[:4] == b"fLaC":
        return _TYPES["flac"]
    if scanned and not _is_mpeg_audio_sync(after) and _flac_within(scanned):
        return _TYPES["flac"]
    for kind, name, match in _OTHER_MEDIA:
        if kind == "audio" and match(after):
            raise _unsupported(kind, f"{name} behind an ID3 tag")
    return _TYPES["mp3"]


def _ebml_vint(buf: bytes, pos: int, *, keep_marker: bool) -> tuple[int, int] | None:
    """Read an EBML variable-length integer; returns (value, new position)."""
    if pos >= len(buf):
        return None
    first = buf[pos]
    if first == 0:
        return None
    length = 8 - first.bit_length() + 1
    if pos + length > len(buf):
        return None
    value = first if keep_marker else first & ((1 << (8 - length)) - 1)
    for b in buf[pos + 1:pos + length]:
        value = (value << 8) | b
    return value, pos + length


def _ebml_doctype(head: bytes) -> str | None:
    """The DocType string (element 0x4282) of the EBML header at the start of ``head``."""
    r = _ebml_vint(head, 4, keep_marker=False)  # size of the EBML header element
    if r is None:
        return None
    size, pos = r
    end = min(len(head), pos + size)
    while pos < end:
        r = _ebml_vint(head, pos, keep_marker=True)
        if r is None:
            return None
        elem_id, pos = r
        r = _ebml_vint(head, pos, keep_marker=False)
        if r is None:
            return None
        elem_size, pos = r
        if elem_id == 0x4282:
            return head[pos:pos + elem_size].rstrip(b"\0").decode("ascii", "replace")
        pos += elem_size
    return None


def sniff_bytes(head: bytes) -> MediaType:
    """Identify media from its first bytes (pass at least 64; more helps only for ID3 and EBML).

    Raises :class:`UnsupportedMedia` for empty input or unrecognised content."""
    head = bytes(head[:HEAD_SIZE]) if not isinstance(head, bytes) else head
    if not head:
        raise UnsupportedMedia("empty file")
    h = head
    if h[:3] == b"\xff\xd8\xff":
        return _TYPES["jpeg"]
    if h[:8] == b"\x89PNG\r\n\x1a\n":
        return _TYPES["png"]
    if h[:4] in (b"RIFF", b"RF64") and len(h) >= 12:
        if h[8:12] == b"WEBP" and h[:4] == b"RIFF":
            return _TYPES["webp"]
        if h[8:12] == b"WAVE":
            return _TYPES["wav"]
        if h[8:12] == b"AVI ":
            raise _unsupported("video", "AVI video")
        raise UnsupportedMedia(f"RIFF form {h[8:12]!r} is not supported")
    if h[:6] in (b"GIF87a", b"GIF89a"):
        return _TYPES["gif"]
    if h[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return _TYPES["tiff"]
    if h[:2] == b"BM" and len(h) >= 18:
        dib = int.from_bytes(h[14:18], "little")
        if dib in _BMP_DIB_SIZES:
            return _TYPES["bmp"]
    if h[:4] == b"fLaC":
        return _TYPES["flac"]
    if h[:3] == b"ID3":
        # An ID3v2 tag can front FLAC (non-standard but common), AAC in ADTS (podcasts, HLS
        # audio) or MP2: look past it when the head reaches that far (sniff_file reads on),
        # otherwise an ID3 tag means MP3.
        return _id3_fronted(h)
    if _is_mpeg_audio_sync(h):
        return _TYPES["mp3"]
    if h[:1] == b"\x00":
        # zero padding before an MP3's first frame or its ID3 tag (what a tag stripped in
        # place or a careless concatenation leaves): ffmpeg skips it, and so does its reader
        rest = h.lstrip(b"\x00")
        if len(rest) >= 4 and (_is_mpeg_audio_sync(rest) and _mpeg_audio_layer(rest) == 1
                               or rest[:3] == b"ID3" and _id3_end(rest) is not None):
            return _TYPES["mp3"]
    if h[:4] == b"OggS":
        # The first page's packet starts at 27 + segment count.
        if len(h) > 27:
            start = 27 + h[26]
            if h[start:start + 7] == b"\x80theora":
                raise _unsupported("video", "Ogg Theora video")
            if h[start:start + 8] == b"OpusHead":
                return _OGG_OPUS      # an Ogg file all the same, named as Opus files are
        return _TYPES["ogg"]
    if len(h) >= 12 and h[4:8] == b"ftyp":
        brand = h[8:12]
        if brand in _BMFF_AUDIO_BRANDS:
            return _TYPES["m4a"]
        if brand == b"qt  ":
            return _TYPES["mov"]
        if brand in _BMFF_IMAGE_BRANDS:
            raise _unsupported(
                "image", f"ISO-BMFF still image (HEIF/AVIF, brand {brand.decode('latin-1').strip()!r})")
        return _TYPES["mp4"]
    if len(h) >= 8 and h[4:8] in _QT_LEGACY_ATOMS and int.from_bytes(h[:4], "big") >= 8:
        return _TYPES["mov"]
    if h[:4] == b"\x1a\x45\xdf\xa3":
        doctype = _ebml_doctype(h)
        return _TYPES["webm"] if doctype == "webm" else _TYPES["mkv"]
    for kind, name, match in _OTHER_MEDIA:
        if match(h):
            raise _unsupported(kind, name)
    raise _unrecognised(h)


def _check_regular(mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, "is a directory")
    if not stat.S_ISREG(mode):
        kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
                else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "special")
        raise UnsupportedMedia(f"not a regular file ({kind})")


def sniff_file(path: str | os.PathLike[str]) -> MediaType:
    """Identify a file by content. Reads only the head (plus a peek past a leading ID3 tag).
    Only regular files are opened: a FIFO, socket or device would block or stream forever."""
    _check_regular(os.stat(path).st_mode)
    f, st = open_checked(path)          # checked again on what was opened (fsutil)
    with f:
        _check_regular(st.st_mode)
        head = f.read(HEAD_SIZE)
        if head[:3] == b"ID3":
            end = _id3_end(head)
            if end is not None:
                f.seek(end)             # a peek past the tag, however long (cover art)
                after = f.read(64)
                if after[:4] == b"fLaC" or _is_mpeg_audio_sync(after):
                    return _behind_id3(after)       # the usual case: nothing to scan
            f.seek(0)                   # a damaged size, or padding: look further
            return _id3_fronted(f.read(ID3_FLAC_SCAN))
    return sniff_bytes(head)


def sniff_data(data: bytes) -> MediaType:
    """:func:`sniff_bytes` for a whole file held in memory (or its first ID3_FLAC_SCAN bytes):
    what a leading ID3 tag fronts is read past the tag, however long (a FLAC's C2PA manifest
    can make it longer than HEAD_SIZE, which made the file an MP3), and found behind a tag
    whose size is damaged."""
    return _id3_fronted(data) if data[:3] == b"ID3" else sniff_bytes(data[:HEAD_SIZE])


def _id3_fronted(data: bytes) -> MediaType:
    """What a file that starts with an ID3v2 tag holds, from ``data`` (its first bytes): what
    follows the tag when ``data`` reaches past it (MP3 when it does not), or a FLAC stream
    found within the first ID3_FLAC_SCAN bytes when the tag's size is damaged."""
    end = _id3_end(data)
    if end is None:
        return _TYPES["flac"] if _flac_within(data[:ID3_FLAC_SCAN]) else _TYPES["mp3"]
    if end + 4 > len(data):
        return _TYPES["mp3"]
    return _behind_id3(data[end:end + 64], data[:ID3_FLAC_SCAN])


def sniff_streams(path: str | os.PathLike[str]) -> MediaType:
    """:func:`sniff_file`, then, for an MP4/MOV whose brand does not say what it holds, a look
    at its streams: audio alone (ffmpeg writes ``.m4a`` with the generic ``isom`` brand), or
    audio with cover art (an attached picture is a video stream, not a video) is M4A."""
    media = sniff_file(path)
    if media.kind == "video" and media.format in ("mp4", "mov") and not _has_moving_video(path):
        return _TYPES["m4a"]
    return media


def _has_moving_video(path: str | os.PathLike[str]) -> bool:
    import av

    try:
        with open_container(path) as c:
            pic = av.stream.Disposition.attached_pic
            return any(not (s.disposition & pic) for s in c.streams.video)
    except Exception:  # noqa: BLE001 - unreadable: let the video path give the error
        return True
