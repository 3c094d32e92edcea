"""How many samples an MP3 file's frames hold, by walking the frame headers (no decoding).

libsndfile (libmpg123) takes an MP3's length from its Xing/Info/VBRI header, or estimates it
from the file size and the first frame's bitrate, and reads no further than that. Two common
files hold more: MP3s joined end to end (``cat a.mp3 b.mp3``: the first file's Xing header
counts its own frames only) and VBR files without a Xing header (an estimate from a loud first
frame). Labeling read only that much and wrote the rest of the song nowhere, silently.

:func:`frame_samples` counts what the frames hold, so :mod:`audio_io` can tell when libsndfile
would stop early and decode with FFmpeg instead (which reads to the end of the file). The
walk skips ID3v2 tags (also one in the middle of joined files), stops at an ID3v1, APE or
Lyrics3 tag, resynchronises past junk, and does not count Xing/Info/VBRI frames (decoders
output no audio for them). Counts are before gapless trimming (a LAME header's encoder delay
and padding, about a frame), which callers allow for.
"""
from __future__ import annotations

import mmap
import os
from functools import lru_cache

__all__ = ["frame_samples"]

_BITRATES = {  # kbit/s by (MPEG-1?, layer), index 1..14
    (True, 1): (32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
#: Junk the walk skips to find the next frame, at most (bytes); more: not an MP3 stream.
_MAX_RESYNC = 1 << 16


def _frame(b0: int, b1: int, b2: int) -> tuple[int, int, int] | None:
    """(frame length in bytes, samples, sample rate) of the header starting 0xFF b0 b1 b2,
    or None if it is not a valid MPEG audio header (free format included: no length)."""
    if b0 & 0xE0 != 0xE0:
        return None
    version, layer_bits = (b0 >> 3) & 3, (b0 >> 1) & 3
    if version == 1 or layer_bits == 0:
        return None
    layer = 4 - layer_bits
    br_index, sr_index, pad = b1 >> 4, (b1 >> 2) & 3, (b1 >> 1) & 1
    if br_index in (0, 15) or sr_index == 3:
        return None
    mpeg1 = version == 3
    bitrate = _BITRATES[(mpeg1, layer)][br_index - 1] * 1000
    rate = _RATES[version][sr_index]
    if layer == 1:
        return (12 * bitrate // rate + pad) * 4, 384, rate
    if layer == 2 or mpeg1:
        return 144 * bitrate // rate + pad, 1152, rate
    return 72 * bitrate // rate + pad, 576, rate


def _id3v2_size(buf, pos: int) -> int:
    """Length of the ID3v2 tag at ``pos`` (header, body and footer), or 0."""
    if buf[pos:pos + 3] != b"ID3" or pos + 10 > len(buf):
        return 0
    size = 0
    for byte in buf[pos + 6:pos + 10]:
        if byte & 0x80:
            return 0
        size = (size << 7) | byte
    return 10 + size + (10 if buf[pos + 5] & 0x10 else 0)


def _info_frame(buf, pos: int, length: int) -> bool:
    """A Xing/Info/VBRI frame (the encoder's table of contents: no audio)."""
    body = bytes(buf[pos + 4:pos + min(length, 48)])
    return b"Xing" in body or b"Info" in body or body[32:36] == b"VBRI"


def _walk(buf) -> int | None:
    n = len(buf)
    pos = _id3v2_size(buf, 0)
    samples = frames = skipped = 0
    while pos + 4 <= n:
        if buf[pos] == 0xFF and (hdr := _frame(buf[pos + 1], buf[pos + 2], buf[pos + 3])) is not None:
            length, spf, _rate = hdr
            if pos + length > n:
                break                                   # a cut last frame: not decodable
            if not _info_frame(buf, pos, length):
                samples += spf
            frames += 1
            pos += length
            skipped = 0
            continue
        tag = bytes(buf[pos:pos + 8])
        if tag.startswith(b"ID3") and (size := _id3v2_size(buf, pos)):
            pos += size                                 # joined files: the next one's tag
            continue
        if tag.startswith(b"TAG") or tag == b"APETAGEX" or tag.startswith(b"LYRICS"):
            break                                       # trailing tags
        nxt = buf.find(b"\xff", pos + 1)
        if nxt < 0:
            break
        skipped += nxt - pos
        if skipped > _MAX_RESYNC:
            return None if not frames else samples
        pos = nxt
    return samples if frames else None


@lru_cache(maxsize=32)
def _cached(path: str, size: int, mtime_ns: int) -> int | None:   # noqa: ARG001 - cache key
    with open(path, "rb") as f:
        if size == 0:
            return None
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            return _walk(buf)


def frame_samples(path: str | os.PathLike[str]) -> int | None:
    """Samples per channel that the MPEG audio frames of ``path`` hold (before gapless
    trimming), or None when no frame is found. Cached per file version (size, mtime)."""
    p = os.fspath(path)
    st = os.stat(p)
    return _cached(p, st.st_size, st.st_mtime_ns)
