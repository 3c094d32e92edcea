"""The GB 45438 implicit label in MP3 files: an ID3v2 ``TXXX`` frame with description ``AIGC``.

Written with mutagen (an existing ID3v2 tag is kept, frames and all, and saved in its own
major version, 2.3 or 2.4; a new tag is ID3v2.4). The value is the *wrapped* Annex E JSON.
Every ``TXXX`` whose description is ``AIGC`` (any case) is replaced, so relabeling leaves one.
The optional DigitalSourceType goes in ``TXXX`` description ``DigitalSourceType`` (full IPTC
URI). The text encoding is ISO-8859-1: Annex E values are printable ASCII, and Latin-1 frames
read everywhere (ID3v2.3 has no UTF-8).

All functions work on a binary file object (``BytesIO`` or a file opened ``r+b``).
"""
from __future__ import annotations

from typing import BinaryIO

from .xmp import MetadataError

__all__ = ["AIGC_DESC", "DST_DESC", "read_id3_labels", "write_id3_label"]

AIGC_DESC = "AIGC"
DST_DESC = "DigitalSourceType"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


def _load(f: BinaryIO):
    from mutagen.mp3 import MP3

    f.seek(0)
    try:
        return MP3(f)
    except Exception as exc:  # noqa: BLE001 - mutagen raises many types on bad input
        raise MetadataError(f"malformed MP3: {_one_line(exc)}") from None


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
    audio = _load(f)
    found: list[tuple[str, str]] = []
    dst = None
    if audio.tags is None:
        return found, dst
    for frame in audio.tags.getall("TXXX"):
        desc = frame.desc.strip().lower()
        value = "".join(str(t) for t in frame.text)
        if desc == AIGC_DESC.lower():
            found.append(("id3-txxx", value))
        elif desc == DST_DESC.lower() and dst is None:
            dst = value.strip()
    return found, dst
