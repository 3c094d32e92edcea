"""The GB 45438 implicit label in FLAC, Ogg Vorbis and Ogg Opus: Vorbis comment ``AIGC``.

Written with mutagen. The value is the *wrapped* Annex E JSON. Vorbis comment field names are
case-insensitive, so every ``AIGC`` field (any case) is replaced and relabeling leaves one;
other comments (TITLE, ARTIST, ENCODER, ...) and FLAC blocks (pictures, seek tables) stay.
The optional DigitalSourceType goes in the field ``DIGITALSOURCETYPE`` (full IPTC URI).

Ogg streams are told apart by their first packet (``\\x01vorbis`` / ``OpusHead``); other Ogg
codecs are refused. All functions work on a binary file object (``BytesIO`` or ``r+b`` file).
"""
from __future__ import annotations

from typing import BinaryIO

from .mutagen_errors import reason as mutagen_reason
from .xmp import MetadataError

__all__ = ["AIGC_FIELD", "DST_FIELD", "ogg_codec", "read_vorbis_labels", "write_vorbis_label"]

AIGC_FIELD = "AIGC"
DST_FIELD = "DIGITALSOURCETYPE"


def ogg_codec(head: bytes) -> str:
    """"vorbis", "opus" or another name, from the first page of an Ogg stream."""
    if len(head) < 28 or head[:4] != b"OggS":
        raise MetadataError("truncated Ogg file: no complete first page")
    start = 27 + head[26]
    packet = head[start:start + 8]
    if len(packet) < 8:
        raise MetadataError("truncated Ogg file: first packet incomplete")
    if packet.startswith(b"\x01vorbis"):
        return "vorbis"
    if packet.startswith(b"OpusHead"):
        return "opus"
    for magic, name in ((b"\x7fFLAC", "flac"), (b"Speex", "speex"), (b"\x80theora", "theora")):
        if packet.startswith(magic):
            return name
    return "unknown"


def _load(f: BinaryIO, fmt: str):
    if fmt == "flac":
        from mutagen.flac import FLAC as cls
    else:
        f.seek(0)
        codec = ogg_codec(f.read(4096))
        if codec == "vorbis":
            from mutagen.oggvorbis import OggVorbis as cls
        elif codec == "opus":
            from mutagen.oggopus import OggOpus as cls
        else:
            raise MetadataError(f"Ogg {codec} streams are not supported (Vorbis and Opus are)")
    f.seek(0)
    try:
        return cls(f)
    except Exception as exc:  # noqa: BLE001 - mutagen raises many types on bad input
        raise MetadataError(f"malformed {fmt.upper()}: {mutagen_reason(exc)}") from None


def write_vorbis_label(f: BinaryIO, fmt: str, wrapped_json: str,
                       digital_source_type: str | None) -> None:
    """``fmt``: "flac" or "ogg"."""
    audio = _load(f, fmt)
    if audio.tags is None:
        audio.add_tags()
    tags = audio.tags
    ours = {AIGC_FIELD.lower()} | ({DST_FIELD.lower()} if digital_source_type else set())
    tags[:] = [(k, v) for k, v in list(tags) if k.strip().lower() not in ours]
    tags.append((AIGC_FIELD, wrapped_json))
    if digital_source_type:
        tags.append((DST_FIELD, digital_source_type))
    f.seek(0)
    try:
        audio.save(f)
    except Exception as exc:  # noqa: BLE001
        raise MetadataError(f"cannot write Vorbis comment: {mutagen_reason(exc)}") from None


def read_vorbis_labels(f: BinaryIO, fmt: str) -> tuple[list[tuple[str, str]], str | None]:
    """([("vorbis-comment", raw)], digital source type)."""
    audio = _load(f, fmt)
    found: list[tuple[str, str]] = []
    dst = None
    for key, value in list(audio.tags or []):
        k = key.strip().lower()
        if k == AIGC_FIELD.lower():
            found.append(("vorbis-comment", value))
        elif k == DST_FIELD.lower() and dst is None:
            dst = value.strip()
    return found, dst
