"""The GB 45438 implicit label in audio (and MP4-family) file metadata.

- wav: RIFF chunk ``AIGC`` (:mod:`.riff`), wrapped JSON; ``Iptc4xmpExt:DigitalSourceType`` in
  the XMP ``_PMX`` chunk (the label itself is never put there).
- mp3: ID3v2 ``TXXX:AIGC`` (:mod:`.id3`, mutagen), wrapped; ``TXXX:DigitalSourceType``.
- flac, ogg (Vorbis, Opus): Vorbis comment ``AIGC`` (:mod:`.vorbis`, mutagen), wrapped;
  ``DIGITALSOURCETYPE`` comment.
- m4a, mp4, mov: ``moov/udta/meta`` mdta key ``AIGC`` (:mod:`.mp4meta`), inner JSON; mdta key
  ``DigitalSourceType``, and ``Iptc4xmpExt:DigitalSourceType`` in the file's XMP ``uuid`` box.

The DigitalSourceType value is the full IPTC URI and is written only when given.

Reading accepts both JSON forms in every channel, counts every label found (the rules allow
exactly one) and reports bad ones in ``errors``, like :func:`.image_meta.read_image_metadata`.
The format is always sniffed from the content; a ``fmt`` argument that contradicts the content
raises :class:`MetadataError` (never trust extensions). Malformed or truncated containers raise
:class:`MetadataError` with a one-line message.

Bytes functions hold the file in memory; the ``*_file`` variants stream (WAV and MP4 copy the
media data in chunks and load only metadata; MP3/FLAC/Ogg copy the file and let mutagen edit
the copy in place).
"""
from __future__ import annotations

import io
import os
import re
import shutil
from typing import BinaryIO

from ..models import AIGCLabel, LabelError
from . import id3, mp4meta, riff, vorbis
from .findings import LabelFindings, collect
from .sniff import UnsupportedMedia, sniff_data, sniff_file
from .xmp import MetadataError

__all__ = [
    "SUPPORTED_FORMATS",
    "AudioMetadata",
    "MetadataError",
    "read_audio_metadata",
    "read_audio_metadata_file",
    "write_audio_metadata",
    "write_audio_metadata_file",
]

SUPPORTED_FORMATS = ("wav", "mp3", "flac", "ogg", "m4a", "mp4", "mov")
_MP4_FAMILY = {"m4a", "mp4", "mov"}
_ALIASES = {"wave": "wav", "oga": "ogg", "opus": "ogg", "aac": "m4a", "mp4a": "m4a",
            "qt": "mov", "quicktime": "mov"}
_DST_RE = re.compile(r"http://cv\.iptc\.org/newscodes/digitalsourcetype/[A-Za-z]+")


AudioMetadata = LabelFindings  # same shape as the image findings


def _check_dst(digital_source_type: str | None) -> None:
    if digital_source_type is None:
        return
    if not isinstance(digital_source_type, str) or not _DST_RE.fullmatch(digital_source_type):
        raise LabelError(
            "digital source type must be a full IPTC URI "
            f"(http://cv.iptc.org/newscodes/digitalsourcetype/...), got {digital_source_type!r}"
        )


def _resolve(fmt: str | None, sniffed: str) -> str:
    """The format to handle: the sniffed one, after checking ``fmt`` agrees with it."""
    if sniffed not in SUPPORTED_FORMATS:
        raise MetadataError(
            f"AIGC audio metadata is supported for {', '.join(SUPPORTED_FORMATS)}, "
            f"not {sniffed!r}"
        )
    if fmt is not None:
        key = fmt.lower().lstrip(".")
        key = _ALIASES.get(key, key)
        if key not in SUPPORTED_FORMATS:
            raise MetadataError(
                f"AIGC audio metadata is supported for {', '.join(SUPPORTED_FORMATS)}, "
                f"not {fmt!r}"
            )
        same = key == sniffed or (key in _MP4_FAMILY and sniffed in _MP4_FAMILY)
        if not same:
            raise MetadataError(f"content is {sniffed}, not {key} (the extension is wrong?)")
    return sniffed


def _sniff_data(data: bytes) -> str:
    try:
        return sniff_data(data).format
    except UnsupportedMedia as exc:
        raise MetadataError(str(exc)) from None


def _sniff_path(path: str | os.PathLike[str]) -> str:
    try:
        return sniff_file(path).format
    except UnsupportedMedia as exc:
        raise MetadataError(str(exc)) from None


def _check_label(aigc: AIGCLabel, digital_source_type: str | None) -> None:
    if not isinstance(aigc, AIGCLabel):
        raise TypeError(f"aigc must be an AIGCLabel, got {type(aigc).__name__}")
    _check_dst(digital_source_type)


def _tag_in_place(f: BinaryIO, fmt: str, aigc: AIGCLabel, dst: str | None) -> None:
    if fmt == "mp3":
        id3.write_id3_label(f, aigc.to_wrapped_json(), dst)
    else:
        vorbis.write_vorbis_label(f, fmt, aigc.to_wrapped_json(), dst)


def write_audio_metadata(data: bytes, fmt: str | None, aigc: AIGCLabel,
                         digital_source_type: str | None = None) -> bytes:
    """Return ``data`` carrying exactly one AIGC label (and the IPTC DigitalSourceType where
    the format has a place for it, when given). ``fmt`` is checked against the content;
    ``None`` sniffs."""
    _check_label(aigc, digital_source_type)
    data = bytes(data)
    fmt = _resolve(fmt, _sniff_data(data))
    if fmt == "wav":
        return riff.write_wav_label(data, aigc.to_wrapped_json(), digital_source_type)
    if fmt in _MP4_FAMILY:
        return mp4meta.write_mp4_metadata(data, aigc.to_inner_json(), digital_source_type)
    buf = io.BytesIO(data)
    _tag_in_place(buf, fmt, aigc, digital_source_type)
    return buf.getvalue()


def write_audio_metadata_file(src: str | os.PathLike[str], dst: str | os.PathLike[str],
                              aigc: AIGCLabel, digital_source_type: str | None = None,
                              fmt: str | None = None) -> None:
    """Like :func:`write_audio_metadata`, from file ``src`` to file ``dst`` with bounded
    memory. ``dst`` is written atomically (temporary file + rename); it must not be ``src``."""
    _check_label(aigc, digital_source_type)
    if os.path.exists(dst) and os.path.samefile(src, dst):
        raise MetadataError("source and destination are the same file")
    try:
        fmt = _resolve(fmt, _sniff_path(src))
    except OSError as exc:
        raise MetadataError(f"cannot open {os.fspath(src)!r}: {exc.strerror or exc}") from None
    if fmt == "wav":
        riff.write_wav_label_file(src, dst, aigc.to_wrapped_json(), digital_source_type)
        return
    if fmt in _MP4_FAMILY:
        mp4meta.write_mp4_metadata_file(src, dst, aigc.to_inner_json(), digital_source_type)
        return
    tmp = os.fspath(dst) + ".part"
    try:
        shutil.copyfile(src, tmp)
        with open(tmp, "r+b") as f:
            _tag_in_place(f, fmt, aigc, digital_source_type)
        os.replace(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _collect(candidates: list[tuple[str, str]], dst: str | None,
             errors: list[str] | None = None, unreadable: int = 0) -> LabelFindings:
    return collect(candidates, digital_source_type=dst, errors=errors, unreadable=unreadable)


def _read_tags(f: BinaryIO, fmt: str) -> AudioMetadata:
    if fmt == "mp3":
        found, dst = id3.read_id3_labels(f)
        return _collect(found + id3.ape_labels(f), dst)
    return _collect(*vorbis.read_vorbis_labels(f, fmt))


def read_audio_metadata(data: bytes, fmt: str | None = None) -> AudioMetadata:
    """Find the AIGC label(s) in an audio (or MP4/MOV) file's metadata. Raises
    :class:`MetadataError` when the container is malformed; label problems go to ``errors``."""
    data = bytes(data)
    fmt = _resolve(fmt, _sniff_data(data))
    if fmt == "wav":
        found = riff.read_wav_labels(data)
        return _collect(found.aigc, found.digital_source_type, found.errors, found.unreadable)
    if fmt in _MP4_FAMILY:
        f4 = mp4meta.read_mp4_metadata(data)
        return _collect(f4.aigc, f4.digital_source_type)
    return _read_tags(io.BytesIO(data), fmt)


def read_audio_metadata_file(path: str | os.PathLike[str],
                             fmt: str | None = None) -> AudioMetadata:
    """Path version of :func:`read_audio_metadata`; reads only the metadata."""
    try:
        fmt = _resolve(fmt, _sniff_path(path))
        if fmt == "wav":
            found = riff.read_wav_labels_file(path)
            return _collect(found.aigc, found.digital_source_type, found.errors, found.unreadable)
        if fmt in _MP4_FAMILY:
            f4 = mp4meta.read_mp4_metadata_file(path)
            return _collect(f4.aigc, f4.digital_source_type)
        with open(path, "rb") as f:
            return _read_tags(f, fmt)
    except OSError as exc:
        raise MetadataError(f"cannot read {os.fspath(path)!r}: {exc.strerror or exc}") from None
