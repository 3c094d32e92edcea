"""Audio file I/O with bounded memory: WAV, FLAC, MP3, Ogg Vorbis, Ogg Opus, M4A (AAC).

Everything streams: :func:`blocks` yields float32 ``(n, channels)`` blocks and :class:`Writer`
takes them, so a one-hour file never sits in memory whole. :func:`read` is a convenience that
concatenates blocks (use it for short files or with ``start``/``frames``).

Which library does what (chosen by what is exact and robust with the installed versions):

==========  ==========================================  ==========================================
format      read                                        write
==========  ==========================================  ==========================================
wav, flac   soundfile (libsndfile)                      soundfile; subtype PCM_16/PCM_24/FLOAT...
ogg vorbis  soundfile                                   soundfile (libvorbis VBR; the bitrate is
                                                        mapped to a Vorbis quality, so nominal)
ogg opus    soundfile (PyAV if libsndfile lacks Opus)   PyAV ``libopus`` (exact bitrate control)
mp3         soundfile (libmpg123, gapless) or PyAV      PyAV ``libmp3lame`` CBR (exact bitrate;
                                                        the mp3 muxer writes a Xing/LAME header,
                                                        so decoders trim the encoder delay)
m4a / mp4   PyAV (audio stream; AAC or ALAC)            PyAV ``aac`` (or ``alac``: an ALAC input
                                                        stays lossless), muxer ``ipod``,
                                                        ``movflags=+faststart`` (not fragmented)
==========  ==========================================  ==========================================

Sample rates: libopus encodes only 8/12/16/24/48 kHz. Any other input rate (44.1 kHz, ...) is
resampled to 48 kHz for Opus output (what opusenc and ffmpeg do too); ``Writer.sample_rate`` says
the rate actually written and ``Writer.resampled`` is True then. LAME takes 8-48 kHz; higher rates
are resampled to 48 kHz for MP3 likewise. Decoding Opus yields the rate it was encoded at.

Ogg files are told apart by their first packet (``\\x01vorbis`` vs ``OpusHead``):
``AudioInfo.format`` is ``"ogg"`` for both and ``AudioInfo.codec`` is ``"vorbis"`` or ``"opus"``;
:func:`output_format` maps an :class:`AudioInfo` to the Writer format that keeps the codec.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf

from . import native_stderr
from .chapters import Chapter
from .chapters import read as read_chapters
from .chapters import write as write_chapters
from .pyav import open_container
from .sniff import HEAD_SIZE, UnsupportedMedia, sniff_file

if TYPE_CHECKING:  # typing.Self needs 3.11; typing_extensions is not a runtime dependency
    from typing_extensions import Self

__all__ = [
    "DEFAULT_BITRATES",
    "OPUS_RATES",
    "WRITE_FORMATS",
    "AudioError",
    "AudioInfo",
    "Writer",
    "blocks",
    "output_format",
    "probe",
    "read",
    "write",
    "writer_for",
]

DEFAULT_BITRATES = {"mp3": 192_000, "ogg": 160_000, "opus": 96_000, "m4a": 160_000}


#: Lossy formats' defaults for mono (a TTS voice), below their stereo ones. MP3 and AAC
#: keep the mark at half the stereo default through a second encode at 64 kb/s. Opus needs
#: two thirds: written at half (48k), a gated-tone voice re-encoded at Opus 32k lost the
#: payload for 8 of 100 keys, written at 64k for none of 200 (the mono-voice test in
#: tests/test_audio_io.py). Vorbis is not among them: its lowest qualities lose the mark on
#: noise-like sound even in stereo.
MONO_BITRATES = {"mp3": 96_000, "m4a": 80_000, "opus": 64_000}


def default_bitrate(fmt: str, channels: int) -> int:
    """The bitrate a lossy ``fmt`` is written at when none is given: DEFAULT_BITRATES (set for
    stereo) per pair of channels beyond two, and :data:`MONO_BITRATES` for mono (a 48 kb/s
    mono voice MP3 came out at 163 kb/s, 3.4 times its size). A 5.1 Ogg Vorbis got the stereo
    160 kb/s, its lowest quality: the mark was gone from a noise-like track and label only
    warned."""
    if channels == 1 and fmt in MONO_BITRATES:
        return MONO_BITRATES[fmt]
    return int(DEFAULT_BITRATES[fmt] * max(1.0, channels / 2))

#: Lossless codecs an M4A may hold; labeling keeps them lossless (subtype ``ALAC_16`` or
#: ``ALAC_24``: the sample width written).
LOSSLESS_M4A_CODECS = ("alac",)
_ALAC_SUBTYPES = {"ALAC_16": "s16p", "ALAC_24": "s32p"}
WRITE_FORMATS = ("wav", "flac", "mp3", "ogg", "opus", "m4a")
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
MP3_MAX_RATE = 48000
#: The rates FFmpeg's AAC encoder takes (ISO 14496-3's sampling frequency table); other rates
#: are resampled to the next one up (at most 96 kHz).
AAC_RATES = (7350, 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000)
#: libvorbis encodes up to about 200 kHz; above, libsndfile fails the write and then crashes the
#: process when the file is closed. Such rates are refused up front.
VORBIS_MAX_RATE = 192000
_SF_FORMATS = {"wav": "WAV", "flac": "FLAC", "ogg": "OGG", "opus": "OGG", "mp3": "MP3"}
_DEFAULT_SUBTYPES = {"wav": "PCM_16", "flac": "PCM_16"}
#: WAV / FLAC sample formats coarser than the mark, lossy codecs (4-bit ADPCM, GSM, G.72x)
#: and 8-bit samples: re-encoding into them would remove the watermark, so labeled copies are
#: written as 16-bit PCM instead (:func:`pcm16_instead_of`; an 8-bit FLAC's marked copy kept
#: 8 bits and lost the mark to a 3 dB volume change).
MARK_LOSSY_SUBTYPES = frozenset({
    "IMA_ADPCM", "MS_ADPCM", "GSM610", "G721_32", "G723_24", "G723_40", "VOX_ADPCM",
    "NMS_ADPCM_16", "NMS_ADPCM_24", "NMS_ADPCM_32",
    # 8-bit PCM and the 8-bit companded telephone codecs: 48 dB (or less) of dynamic range,
    # whose quantization noise is louder than the mark (a labeled 8-bit WAV failed verify).
    "PCM_U8", "PCM_S8", "ULAW", "ALAW"})
#: WAV sample formats that hold floats (and so sound beyond full scale).
FLOAT_SUBTYPES = frozenset({"FLOAT", "DOUBLE"})
_PYAV_READ = {"m4a", "mp4", "mov"}
_CHUNK = 1 << 20  # bytes per file read when copying


class AudioError(ValueError):
    """Corrupt, truncated, unsupported or non-audio input, or a bad write request. The message
    is one line."""


#: libsndfile's internal texts for a damaged file, and what they mean there (the text
#: follows in brackets): "Internal error : SF_INFO struct incomplete" read as our bug
_LIBSNDFILE_MEANING = (
    ("psf_fseek() failed", "the data ends early or is damaged"),
    ("SF_INFO struct incomplete", "its header is damaged or incomplete"),
    ("Unspecified internal error", "its header is damaged or inconsistent"),
    ("unknown error in flac decoder", "the FLAC data is damaged"),
    ("unimplemented format", "its header is damaged, or describes a format libsndfile does not read"),
    ("Format not recognised", "its header is damaged"),        # (sniffed as this format)
)


def _one_line(exc: BaseException, *, raw: bool = False) -> str:
    """As video_io's (FFmpeg's "[Errno N] ..." reduced to its reason), at most 200 characters.
    libsndfile's internal texts are said in words first (``raw``: its text alone, where the
    caller says what it means)."""
    from .video_io import _one_line as one_line

    if isinstance(exc, sf.LibsndfileError) and getattr(exc, "error_string", ""):
        # "Error opening b'/x/a.flac': Error : unknown error..." -> libsndfile's reason alone
        # (the caller names the file; the bytes repr of its path is noise)
        text = exc.error_string.strip().rstrip(".")
        text = text[len("Error : "):] if text.startswith("Error : ") else text
        meaning = next((m for key, m in _LIBSNDFILE_MEANING if key in text), None)
        if raw:
            text = f"libsndfile: {text}"
        elif meaning:
            text = f"{meaning} (libsndfile: {text})"
    else:
        text = one_line(exc)
    return text if len(text) <= 200 else text[:197] + "..."


@dataclass(frozen=True)
class AudioInfo:
    format: str  # sniffed container: "wav", "flac", "mp3", "ogg", "m4a" (or "mp4"/"mov")
    codec: str  # "pcm", "float", "flac", "mp3", "vorbis", "opus", "aac", "alac", ...
    sample_rate: int
    channels: int
    frames: int | None  # decoded length in frames (codec padding removed), None if unknown
    subtype: str | None  # "PCM_16", "PCM_24", "FLOAT", ... for WAV/FLAC, else None
    bitrate: int | None  # bits per second (nominal/average) for lossy codecs, else None
    extensible: bool = False  # a WAV with a WAVE_FORMAT_EXTENSIBLE header (channel mask)
    language: str | None = None  # M4A: the audio track's ISO 639-2 language, when not "und"
    chapters: tuple[Chapter, ...] = ()  # M4A: the container's chapters (a chapter track)
    #: an MP3 whose frames hold more than libsndfile would read (MP3s joined end to end, VBR
    #: without a Xing header: see mp3frames), so it is decoded with FFmpeg, to its end
    ffmpeg: bool = False

    @property
    def duration(self) -> float | None:
        return None if self.frames is None else self.frames / self.sample_rate


# --------------------------------------------------------------------------- helpers


def _layout(channels: int) -> str:
    return {1: "mono", 2: "stereo"}.get(channels, f"{channels}c")


def _ogg_codec(path: str | os.PathLike[str]) -> str:
    """"vorbis", "opus", "flac", "speex", "theora" or "unknown", from the first Ogg packet."""
    with open(path, "rb") as f:
        head = f.read(HEAD_SIZE)
    if len(head) < 28 or head[:4] != b"OggS":
        raise AudioError("truncated Ogg file: no complete first page")
    start = 27 + head[26]
    packet = head[start:start + 8]
    if packet.startswith(b"\x01vorbis"):
        return "vorbis"
    if packet.startswith(b"OpusHead"):
        return "opus"
    if packet.startswith(b"\x7fFLAC"):
        return "flac"
    if packet.startswith(b"Speex"):
        return "speex"
    if packet.startswith(b"\x80theora"):
        return "theora"
    if len(head) < start + 8:
        raise AudioError("truncated Ogg file: first packet incomplete")
    return "unknown"


def _sniff(path: str | os.PathLike[str]) -> tuple[str, str | None]:
    """(format, ogg codec or None); raises AudioError for non-audio."""
    try:
        mt = sniff_file(path)
    except UnsupportedMedia as exc:
        raise AudioError(_one_line(exc)) from None
    except OSError as exc:
        raise AudioError(f"cannot open {os.fspath(path)!r}: {exc.strerror or exc}") from None
    if mt.kind == "audio" or mt.format in ("mp4", "mov"):
        if mt.format == "ogg":
            codec = _ogg_codec(path)
            if codec not in ("vorbis", "opus"):
                raise AudioError(f"Ogg {codec} streams are not supported (only Vorbis and Opus)")
            return mt.format, codec
        return mt.format, None
    raise AudioError(f"not an audio file ({mt.format} {mt.kind})")


def _check_wav_header(path: str | os.PathLike[str]) -> None:
    """libsndfile quietly accepts a WAV whose data chunk is cut short (RF64 too: it reads the
    frames that are there); we do not. A format description it cannot make sense of came out
    as its internal errors ("SF_INFO struct incomplete", "Unspecified internal error"):
    the field at fault is named instead."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(12)
        if head[:4] not in (b"RIFF", b"RF64"):
            return
        big = None                       # RF64: the data size is in the ds64 chunk (64-bit)
        pos = 12
        while pos + 8 <= size:
            hdr = f.read(8)
            cid, csize = hdr[:4], int.from_bytes(hdr[4:8], "little")
            if cid == b"ds64" and head[:4] == b"RF64":
                body = f.read(16)
                big = int.from_bytes(body[8:16], "little") if len(body) == 16 else None
            if cid == b"fmt ":
                _check_wav_format(f.read(min(csize, 40)))
            if cid == b"data":
                if csize == 0xFFFFFFFF and big is not None:
                    csize = big
                if csize not in (0, 0xFFFFFFFF) and pos + 8 + csize > size:
                    raise AudioError(
                        f"truncated WAV: data chunk declares {csize} bytes, file holds "
                        f"{size - pos - 8}"
                    )
                if csize == 0 and size - pos - 8 >= 512 and not _chunk_id(f.read(4)):
                    # libsndfile believes the header and reads no samples: a recorder that
                    # stopped before it wrote the sizes leaves such files (samples, not another
                    # chunk, follow the empty data chunk)
                    raise AudioError(
                        f"unfinished WAV header: the data chunk declares 0 bytes but "
                        f"{size - pos - 8} follow it; repair the header first (e.g. "
                        f"ffmpeg -i in.wav -c copy out.wav)"
                    )
                return
            pos += 8 + csize + (csize & 1)
            f.seek(pos)


#: WAVE format tags (and the first two bytes of an extensible file's subformat GUID)
_WAVE_FLOAT, _WAVE_EXTENSIBLE = 0x0003, 0xFFFE


def _check_wav_format(body: bytes) -> None:
    """The fields of a ``fmt `` chunk's body that libsndfile reports only as internal errors."""
    if len(body) < 16:
        return                           # libsndfile says "Malformed 'fmt ' chunk"
    tag = int.from_bytes(body[0:2], "little")
    rate = int.from_bytes(body[4:8], "little")
    bits = int.from_bytes(body[14:16], "little")
    if tag == _WAVE_EXTENSIBLE and len(body) >= 26:
        tag = int.from_bytes(body[24:26], "little")
    if rate == 0:
        raise AudioError("damaged WAV header: the fmt chunk gives a sample rate of 0")
    if tag == _WAVE_FLOAT and bits not in (32, 64):
        raise AudioError(f"damaged WAV header: the fmt chunk declares {bits}-bit float samples "
                         "(float samples are 32 or 64 bits)")


def _chunk_id(b: bytes) -> bool:
    """Whether ``b`` reads as a RIFF chunk ID (four printable ASCII characters)."""
    return len(b) == 4 and all(32 <= c < 127 for c in b)


def _quiet(fmt: str) -> AbstractContextManager[None]:
    """libsndfile's MP3 decoder (libmpg123) prints notes on the process's stderr; keep them
    off it where that is asked for (the command line does; see :mod:`native_stderr`). The
    other formats' decoders are silent."""
    return native_stderr.captured() if fmt == "mp3" and native_stderr.enabled() else nullcontext()


def _sf_info(path: str | os.PathLike[str], fmt: str) -> sf._SoundFileInfo:
    try:
        with _quiet(fmt):
            return sf.info(os.fsencode(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioError(f"cannot decode audio: {_one_line(exc)}") from None


def _av_open(path: str | os.PathLike[str]):
    import av

    try:
        container = open_container(path)
    except (av.FFmpegError, OSError, ValueError) as exc:
        from .video_io import damage_reason

        raise AudioError(f"cannot decode audio: {damage_reason(exc)}") from None
    if not container.streams.audio:
        # (an MP4 with no stream at all is sniffed as audio: none of its video is moving)
        empty = not container.streams.video
        container.close()
        raise AudioError("no audio or video stream in the file" if empty else "no audio stream in the file")
    from .video_io import native_layouts

    native_layouts(container)        # before any decode: PyAV 18 and custom-order layouts
    cc = container.streams.audio[0].codec_context
    if cc is None or not cc.channels or not cc.sample_rate:
        # one damaged byte in an M4A's sample description or AAC config: PyAV gives no
        # decoder, or 0 channels, and its own errors (AttributeError, "Invalid layout") escaped
        container.close()
        raise AudioError("the audio stream's description is damaged (no codec, channel count "
                         "or sample rate)")
    return container


def _av_probe(path: str | os.PathLike[str], fmt: str) -> AudioInfo:
    container = _av_open(path)
    try:
        st = container.streams.audio[0]
        cc = st.codec_context
        rate = cc.sample_rate or st.rate
        frames = None
        if st.duration is not None and st.time_base is not None and rate:
            frames = round(st.duration * st.time_base * rate)
        elif container.duration is not None and rate:
            frames = round(container.duration / 1_000_000 * rate)
        lossless = cc.name in LOSSLESS_M4A_CODECS
        language = st.metadata.get("language")
        subtype = None
        if lossless:   # ALAC: 16-bit samples, or 20/24/32-bit ones held in 32-bit words
            subtype = "ALAC_16" if cc.format is not None and cc.format.name.startswith("s16") else "ALAC_24"
        return AudioInfo(
            format=fmt, codec=cc.name, sample_rate=int(rate), channels=int(cc.channels),
            frames=frames, subtype=subtype,
            bitrate=None if lossless else int(st.bit_rate or container.bit_rate or 0) or None,
            language=language if _iso639(language) and language != "und" else None,
            chapters=read_chapters(container),
        )
    finally:
        container.close()


def _iso639(code) -> bool:
    """Whether ``code`` is shaped like an ISO 639-2 language code ("eng"), as MP4 stores it."""
    return isinstance(code, str) and len(code) == 3 and code.isascii() and code.isalpha() \
        and code.islower()


def _sf_codec(fmt: str, subtype: str) -> str:
    if fmt == "flac":
        return "flac"
    if subtype in FLOAT_SUBTYPES:
        return "float"
    if subtype.startswith("PCM_"):
        return "pcm"
    return subtype.lower()


def _lossy_bitrate(path: str | os.PathLike[str]) -> int | None:
    """Nominal bitrate of a lossy stream from the container header (PyAV), best effort."""

    try:
        with open_container(path) as c:
            st = c.streams.audio[0]
            return int(st.bit_rate or c.bit_rate or 0) or None
    except Exception:  # noqa: BLE001 - a missing bitrate is not an error
        return None


# --------------------------------------------------------------------------- probe / read


def probe(path: str | os.PathLike[str]) -> AudioInfo:
    """Describe an audio file by content (never by name). Raises :class:`AudioError`."""
    fmt, ogg_codec = _sniff(path)
    if fmt == "ogg" and (links := _ogg_links(path)) > 1:
        # libsndfile reads the first link only: the rest would be lost without a word
        raise AudioError(f"chained Ogg: {links} streams one after another (files joined end "
                         f"to end?) and only the first would be read; join them into one "
                         f"stream first (e.g. ffmpeg -i in.ogg out.ogg)")
    if fmt in _PYAV_READ:
        return _av_probe(path, fmt)
    if fmt == "wav":
        _check_wav_header(path)
    try:
        info = _sf_info(path, fmt)
    except AudioError:
        if fmt in ("wav", "flac"):
            raise
        return _av_probe(path, fmt)  # libsndfile without MP3/Opus support
    if info.samplerate <= 0 or info.channels <= 0:
        raise AudioError("cannot decode audio: no samples or channels")
    if fmt == "wav" and info.subtype.startswith("MPEG_"):
        # libsndfile decodes it, but its frame count is an estimate (the read then looked
        # truncated), and an MPEG WAV is an MP3 in disguise: label the MP3 itself
        raise AudioError("MPEG audio in a WAV container is not supported; extract the MP3 "
                         "(ffmpeg -i in.wav -c:a copy out.mp3) or convert it to PCM WAV")
    if fmt in ("wav", "flac"):
        return AudioInfo(fmt, _sf_codec(fmt, info.subtype), int(info.samplerate),
                         int(info.channels), int(info.frames), info.subtype, None,
                         extensible=info.format == "WAVEX")
    codec = ogg_codec or "mp3"
    frames, whole = int(info.frames), False
    if fmt == "mp3":
        from .mp3frames import frame_samples

        held = frame_samples(path)
        # libsndfile stops at the length it read or guessed from the first frame; more than
        # gapless trimming (about a frame) or a rounding beyond that is audio it would drop
        if held and held > frames + max(0.02 * held, info.samplerate):
            frames, whole = held, True
    return AudioInfo(fmt, codec, int(info.samplerate), int(info.channels), frames,
                     None, _lossy_bitrate(path), ffmpeg=whole)


def _sf_blocks(path, blocksize: int, start: int, frames: int | None, fmt: str):
    try:
        with _quiet(fmt):
            f = sf.SoundFile(os.fsencode(path), "r")
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(f"cannot decode audio: {_one_line(exc)}") from None
    with f:
        total, rate = f.frames, f.samplerate
        if start:
            if start >= total:
                return
            try:
                with _quiet(fmt):
                    f.seek(start)
            except (sf.LibsndfileError, RuntimeError) as exc:
                raise AudioError(f"cannot seek to frame {start}: {_one_line(exc)}") from None
        want = total - start if frames is None else min(frames, total - start)
        got = 0
        while got < want:
            n = min(blocksize, want - got)
            try:
                with _quiet(fmt):
                    block = f.read(n, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as exc:
                if fmt == "mp3":
                    break                   # the rest from FFmpeg's decoder, below
                # where it broke, in words: libsndfile's own text is an internal one
                # ("Internal psf_fseek() failed" for a FLAC cut short)
                raise AudioError(f"truncated or corrupt {fmt.upper()} data after {got + start} of "
                                 f"{total} frames ({_one_line(exc, raw=True)})") from None
            if len(block) == 0:
                break
            got += len(block)
            yield block
        if got < want and fmt in ("wav", "flac"):
            raise AudioError(f"truncated {fmt.upper()}: {got + start} of {total} frames decodable")
    if fmt == "mp3" and want - got > max(0.02 * total, rate):
        # libmpg123 (in libsndfile) stops for good at damaged data mid-file, and the rest of
        # the song was lost; FFmpeg's decoder resyncs past it. The two give the same samples
        # (to 1e-7 on intact files), so FFmpeg's take the stream up from where it stopped.
        # (Not for a shortfall within 2 % or a second: an estimated length, or a cut file's
        # last frame, where decoding the whole file again would find nothing more.)
        yield from _av_blocks(path, blocksize, start + got, None if frames is None else frames - got,
                              None, skip_bad=True)


def _av_blocks(path, blocksize: int, start: int, frames: int | None, limit: int | None,
               skip_bad: bool = False, rate: int | None = None):
    """Decode with PyAV, convert to packed float32 and re-chunk. ``limit`` trims the end
    padding that the AAC decoder leaves in (the container duration says where audio ends).
    ``skip_bad``: a packet the decoder rejects is left out, as the ffmpeg command does (an
    MP3's damaged frames), instead of failing the file. ``rate``: the rate to deliver (None:
    the decoder's); ``start``, ``frames`` and ``limit`` count at that rate."""
    import av

    container = _av_open(path)
    with container:
        st = container.streams.audio[0]
        channels = st.codec_context.channels
        from .video_io import SoundtrackResampler

        # (a frame whose channels or rate differ from the stream's, as a damaged MP3 frame
        # header makes, is converted to them: PyAV's own resampler raised "Frame does not
        # match AudioResampler setup.", an internal error of verify)
        resampler = SoundtrackResampler(st.codec_context, rate)
        end = limit
        if frames is not None:
            end = start + frames if end is None else min(end, start + frames)
        pos = 0  # frames decoded so far
        pending: list[np.ndarray] = []
        npending = 0

        def converted():
            try:
                for packet in container.demux(st):
                    try:
                        frames = packet.decode()
                    except av.FFmpegError:
                        # a packet cut short by the end of a truncated file: the sound ends
                        # here, as an MP3's does (the caller warns that it ends early)
                        if packet.is_corrupt:
                            break
                        if skip_bad:
                            continue
                        raise
                    for frame in frames:
                        yield from resampler.resample(frame)
                yield from resampler.resample(None)
            except av.FFmpegError as exc:
                from .video_io import damage_reason

                raise AudioError(f"corrupt audio data: {damage_reason(exc)}") from None

        for out in converted():
            arr = out.to_ndarray().reshape(-1, channels)
            a, b = pos, pos + len(arr)
            pos = b
            lo = max(start - a, 0)
            hi = len(arr) if end is None else min(len(arr), end - a)
            if hi > lo:
                pending.append(arr[lo:hi])
                npending += hi - lo
            while npending >= blocksize:
                buf = np.concatenate(pending)
                yield np.ascontiguousarray(buf[:blocksize], dtype=np.float32)
                rest = buf[blocksize:]
                pending, npending = ([rest], len(rest)) if len(rest) else ([], 0)
            if end is not None and pos >= end:
                break
        if npending:
            yield np.ascontiguousarray(np.concatenate(pending), dtype=np.float32)


def _blocks(path, blocksize: int, start: int, frames: int | None) -> Iterator[np.ndarray]:
    if blocksize <= 0:
        raise AudioError(f"blocksize must be positive, got {blocksize}")
    if start < 0 or (frames is not None and frames < 0):
        raise AudioError("start and frames must not be negative")
    info = probe(path)
    if info.format in _PYAV_READ:
        limit = info.frames if info.codec == "aac" else None
        return _av_blocks(path, blocksize, start, frames, limit)
    if info.ffmpeg:     # an MP3 libsndfile would read only in part
        return _av_blocks(path, blocksize, start, frames, None, skip_bad=True)
    if info.codec == "opus" and info.channels > 2:
        # libsndfile's multichannel Opus decode stops partway through valid files ("malformed
        # after 262144 of 279360 frames", a 6-channel file ffmpeg reads whole), and gives
        # Vorbis channel order where the writer (FFmpeg) takes its own. FFmpeg decodes Opus at
        # 48 kHz whatever rate it was made from, where libsndfile (the probe) gives that rate:
        # a 16 kHz 5.1 file was read at 48 kHz as if at 16 kHz, and came out 3x slower.
        return _av_blocks(path, blocksize, start, frames, None, rate=info.sample_rate)
    try:
        _sf_info(path, info.format)
    except AudioError:
        return _av_blocks(path, blocksize, start, frames, None)
    return _sf_blocks(path, blocksize, start, frames, info.format)


def blocks(path: str | os.PathLike[str], blocksize: int = 65536) -> Iterator[np.ndarray]:
    """Stream a file as float32 ``(n, channels)`` blocks of ``blocksize`` frames (the last may
    be shorter). Memory stays bounded by a few blocks whatever the file length."""
    return _blocks(path, blocksize, 0, None)


def read(path: str | os.PathLike[str], *, start: int = 0,
         frames: int | None = None) -> tuple[np.ndarray, int]:
    """Decode ``frames`` frames (all by default) from frame ``start``: float32
    ``(frames, channels)`` and the sample rate."""
    info = probe(path)
    it = _blocks(path, 65536, start, frames)
    if info.frames is not None and info.format in ("wav", "flac"):
        # exact length known: fill one array instead of holding blocks and a copy
        n = max(0, info.frames - start)
        n = n if frames is None else min(n, frames)
        data = np.empty((n, info.channels), np.float32)
        pos = 0
        for b in it:
            data[pos:pos + len(b)] = b
            pos += len(b)
        return data[:pos], info.sample_rate
    parts = list(it)
    if parts:
        data = np.concatenate(parts)
    else:
        data = np.zeros((0, info.channels), np.float32)
    return data, info.sample_rate


# --------------------------------------------------------------------------- writing


#: Lossless audio codecs (besides pcm_*): re-encoding them lossy is worth a warning.
LOSSLESS_CODECS = ("flac", "alac", "truehd", "mlp", "wavpack", "tta")


def codec_name(decoder: str) -> str:
    """The codec a decoder's name stands for ("mp3float" is MP3, "libopus" Opus)."""
    name = decoder.lower().removeprefix("lib")
    return name.removesuffix("float") if name in ("mp3float", "mp2float") else name


def is_lossless(decoder: str) -> bool:
    return codec_name(decoder) in LOSSLESS_CODECS or decoder.startswith("pcm_")


def output_format(info: AudioInfo) -> str:
    """The :class:`Writer` format that keeps ``info``'s container and codec."""
    if info.format == "ogg":
        return "opus" if info.codec == "opus" else "ogg"
    if info.format in _PYAV_READ:
        return "m4a"
    return info.format


def pcm16_instead_of(info: AudioInfo) -> str | None:
    """The sample format (``info.subtype``) of a WAV or FLAC input that its labeled copy does
    not keep, being coarser than the mark (:data:`MARK_LOSSY_SUBTYPES`): :func:`writer_for`
    writes 16-bit PCM instead. None when the copy keeps the input's."""
    if output_format(info) in ("wav", "flac") and info.subtype in MARK_LOSSY_SUBTYPES:
        return info.subtype
    return None


def writer_for(path: str | os.PathLike[str], info: AudioInfo, **kw) -> Writer:
    """A :class:`Writer` producing the same format, codec, rate, channels and (WAV/FLAC) bit
    depth as the file ``info`` describes; lossy outputs use the default bitrates
    (:func:`default_bitrate`), or the input's own where it is higher (a 320 kb/s MP3 was
    written at 192), unless ``bitrate=`` is given."""
    fmt = output_format(info)
    if kw.get("bitrate") is None and fmt in DEFAULT_BITRATES and info.bitrate and \
            info.bitrate > default_bitrate(fmt, info.channels):
        kw["bitrate"] = int(info.bitrate)      # the Writer clamps it to what the codec can do
    subtype = kw.pop("subtype", None)
    if subtype is None and fmt in ("wav", "flac"):
        subtype = "PCM_16" if pcm16_instead_of(info) else info.subtype
        if fmt == "flac" and subtype not in sf.available_subtypes("FLAC") or fmt == "wav" and not sf.check_format("WAV", subtype):
            subtype = "PCM_24"
    if subtype is None and info.subtype in _ALAC_SUBTYPES:
        subtype = info.subtype
    if subtype in _ALAC_SUBTYPES:
        kw.pop("bitrate", None)     # lossless: a batch's --bitrate is for its lossy files
    if fmt == "wav":
        kw.setdefault("extensible", info.extensible)
    if fmt == "m4a" and info.language:
        kw.setdefault("language", info.language)
    return Writer(path, fmt, info.sample_rate, info.channels, subtype=subtype, **kw)


def ogg_cut_short(path: str | os.PathLike[str]) -> bool:
    """Whether an Ogg file (Vorbis, Opus) ends without its end-of-stream page: its last page is
    cut off, or complete but not flagged as the last (a file cut at a page boundary). Ogg
    declares no length, so a cut file decoded to the cut without a word. (A live stream's
    capture may lack the flag too: callers warn, they do not refuse.)"""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        f.seek(max(0, size - 65536))
        tail = f.read()
    at = tail.rfind(b"OggS")
    while at >= 0:
        page = tail[at:]
        if len(page) >= 27 and page[4] == 0:          # stream structure version 0
            nseg = page[26]
            length = 27 + nseg + sum(page[27:27 + nseg])
            if len(page) < 27 + nseg or len(page) < length:
                return True                            # the last page is cut off
            return not page[5] & 0x04                   # header type: end of stream
        at = tail.rfind(b"OggS", 0, at)
    return False


def dropped_streams(path: str | os.PathLike[str], info: AudioInfo) -> str | None:
    """A warning when the file holds more audio streams than the first, which is the one
    labeled and written (Ogg: several logical streams; M4A: several audio tracks)."""
    n = 1
    try:
        if info.format == "ogg":
            n = _ogg_stream_count(path)
        elif info.format in _PYAV_READ:
            with open_container(path) as c:
                n = len(c.streams.audio)
    except Exception:  # noqa: BLE001 - only a warning: never fail labeling over it
        return None
    if n > 1:
        return (f"the file holds {n} audio streams; only the first is labeled and written "
                f"({info.codec}, {info.sample_rate} Hz, {info.channels} channel(s))")
    return None


def _ogg_pages(path: str | os.PathLike[str]) -> Iterator[bytes]:
    """The 27-byte header of each Ogg page, in file order; page bodies are skipped, not read
    (a one-hour file has a few thousand pages). Stops at the first bytes that are no page."""
    with open(path, "rb") as f:
        while True:
            page = f.read(27)
            if len(page) < 27 or page[:4] != b"OggS":
                return
            yield page
            segments = f.read(page[26])
            f.seek(sum(segments), os.SEEK_CUR)


def _ogg_links(path: str | os.PathLike[str]) -> int:
    """Links of a chained Ogg file (1 for an ordinary one): a link is a run of streams that
    begins with beginning-of-stream pages, so each BOS page met after a data page starts one."""
    links, in_data = 1, False
    for page in _ogg_pages(path):
        if page[5] & 0x02:
            links += in_data
            in_data = False
        else:
            in_data = True
    return links


def _ogg_stream_count(path: str | os.PathLike[str]) -> int:
    """Logical streams of an Ogg file: every stream's first page (BOS) comes before any data
    page, so the head of the file tells."""
    serials = set()
    for page in _ogg_pages(path):
        if not page[5] & 0x02:          # not a beginning-of-stream page: all BOS seen
            break
        serials.add(page[14:18])
    return len(serials)


def mp3_bitrates(sample_rate: int) -> tuple[int, ...]:
    """The bitrates (bits/s) MPEG layer III has at ``sample_rate``: MPEG-1 (32-48 kHz), MPEG-2
    (16-24 kHz) and MPEG-2.5 (8-12 kHz, as LAME writes it). A CBR stream is one of these."""
    if sample_rate >= 32000:
        kbps = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
    elif sample_rate >= 16000:
        kbps = (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
    else:
        kbps = (8, 16, 24, 32, 40, 48, 56, 64)
    return tuple(k * 1000 for k in kbps)


def bitrate_range(fmt: str, sample_rate: int, channels: int) -> tuple[int, int]:
    """The bitrates (bits/s) the encoder of ``fmt`` can write at this rate and channel count;
    :class:`Writer` clamps a requested bitrate into it (``Writer.bitrate`` is what was used).
    MP3: the MPEG layer III table (:func:`mp3_bitrates`: 32-320 kb/s at 32-48 kHz, 8-160 at
    16-24 kHz, 8-64 at 8-12 kHz); Opus: 6-256 kb/s per channel (libopus); AAC:
    up to 6144 bits per frame and channel. (Vorbis bitrates are nominal: not clamped.)"""
    if fmt == "mp3":
        rates = mp3_bitrates(sample_rate)
        return rates[0], rates[-1]
    if fmt == "opus":
        return 6_000, 256_000 * channels
    if fmt == "m4a":   # AAC: at most 6144 bits per 1024-sample frame and channel
        return 8_000, min(256_000, 6144 * sample_rate // 1024) * channels
    raise ValueError(f"no bitrate range for {fmt!r}")


#: Vorbis VBR quality 0..10 (libvorbis -q) -> stereo bitrate (kb/s), per sample rate: the same
#: quality costs fewer bits at a lower rate (q5 is 143 kb/s at 44.1 kHz, 91 at 22.05 kHz), so a
#: 44.1 kHz table wrote a 22.05 kHz file at ~90 kb/s for the 160 asked, and its mark was lost.
#: Measured with libsndfile's libvorbis on a harmonic-plus-noise stereo signal (10 s).
_VORBIS_Q_KBPS = {
    8000: (24, 28, 33, 39, 44, 50, 54, 59, 63, 68, 72),
    11025: (34, 39, 44, 50, 57, 64, 70, 76, 82, 89, 94),
    16000: (37, 44, 52, 60, 69, 79, 90, 101, 112, 123, 133),
    22050: (42, 48, 57, 67, 77, 91, 104, 116, 129, 144, 158),
    32000: (57, 66, 81, 98, 113, 133, 155, 178, 200, 234, 313),
    44100: (59, 70, 86, 102, 118, 143, 177, 200, 223, 272, 363),
    48000: (60, 71, 86, 103, 118, 142, 182, 203, 236, 287, 377),
}


def _vorbis_compression(bitrate: int, channels: int, sample_rate: int) -> float:
    """libsndfile maps compression level c to Vorbis quality (1 - c) * 10; pick the quality
    whose bitrate at ``sample_rate`` matches ``bitrate`` (scaled to stereo), the highest where
    the rate cannot reach it."""
    target = bitrate * 2 / max(channels, 1) / 1000
    rates = sorted(_VORBIS_Q_KBPS)
    # the table of the nearest measured rate at or below (the bits a rate needs grow with it)
    row = _VORBIS_Q_KBPS[max((r for r in rates if r <= sample_rate), default=rates[0])]
    q = float(np.interp(target, row, np.arange(len(row))))
    return 1.0 - q / 10.0


def check_channels(fmt: str, channels: int) -> None:
    """Raise :class:`AudioError` unless ``fmt`` can be written with ``channels`` channels
    (a dry run asks too, so that it does not promise what labeling then refuses)."""
    if not isinstance(channels, (int, np.integer)) or isinstance(channels, bool):
        raise AudioError(f"channels must be a whole number 1..8, got {channels!r}")
    if not 1 <= channels <= 8:
        raise AudioError(f"synthlabel writes 1 to 8 audio channels, not {channels} (mix or split "
                         f"the channels first, e.g. ffmpeg -i in.wav -ac 2 out.wav)")
    if fmt == "mp3" and channels > 2:
        raise AudioError(f"MP3 holds 1 or 2 channels, not {channels}: write FLAC, WAV, Ogg "
                         f"Vorbis, Opus or M4A")


class Writer:
    """Streaming audio writer (a context manager). ``write`` takes float32 ``(n, channels)``
    blocks in [-1, 1] (values outside are clipped, except in a float WAV, which holds them:
    ``clips`` says which); ``close`` finalises the file.

    ``fmt``: "wav", "flac", "mp3", "ogg" (Vorbis), "opus" (Ogg Opus) or "m4a" (AAC);
    ``fmt="ogg", subtype="OPUS"`` also means Opus. ``subtype`` picks the WAV/FLAC sample format
    ("PCM_16" default, "PCM_24", "FLOAT", ...), or makes an M4A lossless ALAC ("ALAC_16",
    "ALAC_24"; no bitrate then). ``chapters`` (M4A): :class:`~.chapters.Chapter` s the
    muxer writes as a chapter track. ``extensible``: a WAV with the WAVE_FORMAT_EXTENSIBLE header
    (always used for more than two channels). ``bitrate`` (bits/s) for lossy formats defaults
    to :data:`DEFAULT_BITRATES`. After construction ``sample_rate`` is the rate written (see the
    module notes on Opus), ``input_rate`` the rate the blocks are in."""

    def __init__(self, path: str | os.PathLike[str], fmt: str, sample_rate: int, channels: int,
                 *, subtype: str | None = None, bitrate: int | None = None,
                 extensible: bool = False, language: str | None = None,
                 chapters: tuple[Chapter, ...] = ()) -> None:
        fmt = fmt.lower().lstrip(".")
        if fmt == "ogg" and subtype and subtype.upper() == "OPUS":
            fmt, subtype = "opus", None
        elif fmt == "ogg" and subtype and subtype.upper() == "VORBIS":
            subtype = None
        if fmt not in WRITE_FORMATS:
            raise AudioError(f"cannot write {fmt!r}: supported are {', '.join(WRITE_FORMATS)}")
        if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
            raise AudioError(f"sample rate must be a positive integer, got {sample_rate!r}")
        check_channels(fmt, channels)
        alac = fmt == "m4a" and subtype is not None and subtype.upper() in _ALAC_SUBTYPES
        if subtype is not None and fmt not in ("wav", "flac") and not alac:
            raise AudioError(f"subtype applies to wav and flac (and ALAC_16/ALAC_24 to m4a), not {fmt}")
        if bitrate is not None and (fmt not in DEFAULT_BITRATES or alac):
            raise AudioError(f"bitrate applies to lossy formats, not {'ALAC' if alac else fmt}")
        if language is not None and (fmt != "m4a" or not _iso639(language)):
            raise AudioError(f"language applies to m4a, as an ISO 639-2 code such as 'eng', "
                             f"not {language!r} for {fmt}")
        if chapters and fmt != "m4a":
            raise AudioError(f"chapters apply to m4a (other formats carry them as tags), not {fmt}")
        self.language = language
        self.chapters = tuple(chapters)
        self.path = os.fspath(path)
        self.format = fmt
        self.channels = int(channels)
        self.input_rate = int(sample_rate)
        self.sample_rate = int(sample_rate)
        self.subtype = None
        self.bitrate = None
        self.frames_written = 0
        self.clips = True
        self._closed = False
        self._sf: sf.SoundFile | None = None
        self._av = None
        if fmt in ("wav", "flac"):
            self.subtype = (subtype or _DEFAULT_SUBTYPES[fmt]).upper()
            if not sf.check_format(_SF_FORMATS[fmt], self.subtype):
                raise AudioError(f"{fmt} cannot hold subtype {self.subtype}")
            # WAVE_FORMAT_EXTENSIBLE (with libsndfile's default channel mask, e.g. 5.1) when the
            # source had it, and always beyond stereo, where the plain header has no layout.
            major = "WAVEX" if fmt == "wav" and (extensible or self.channels > 2) else _SF_FORMATS[fmt]
            self._open_sf(major, self.subtype, None)
            # a float WAV holds sound beyond full scale (a master that peaks at +2 dBFS):
            # clipping it lost what it was written to keep
            self.clips = self.subtype not in FLOAT_SUBTYPES
        elif fmt == "ogg":
            if self.sample_rate > VORBIS_MAX_RATE:
                raise AudioError(f"Ogg Vorbis holds at most {VORBIS_MAX_RATE} Hz, got "
                                 f"{self.sample_rate} Hz; write FLAC or WAV instead")
            self.bitrate = int(bitrate or default_bitrate("ogg", self.channels))
            self._open_sf("OGG", "VORBIS", _vorbis_compression(self.bitrate, self.channels, self.sample_rate))
        elif alac:
            self.subtype = subtype.upper()
            self._open_av()
        else:
            if fmt == "opus" and self.sample_rate not in OPUS_RATES:
                self.sample_rate = 48000
            elif fmt == "mp3" and self.sample_rate > MP3_MAX_RATE:
                self.sample_rate = MP3_MAX_RATE
            elif fmt == "m4a" and self.sample_rate not in AAC_RATES:
                self.sample_rate = next((r for r in AAC_RATES if r > self.sample_rate), AAC_RATES[-1])
            lo, hi = bitrate_range(fmt, self.sample_rate, self.channels)
            self.bitrate = min(max(int(bitrate or default_bitrate(fmt, self.channels)), lo), hi)
            if fmt == "mp3":     # CBR takes a table value: the nearest (the lower on a tie)
                self.bitrate = min(mp3_bitrates(self.sample_rate), key=lambda r: abs(r - self.bitrate))
            self._open_av()

    @property
    def resampled(self) -> bool:
        return self.sample_rate != self.input_rate

    def _open_sf(self, major: str, subtype: str, compression: float | None) -> None:
        kw = {} if compression is None else {"compression_level": compression}
        try:
            self._sf = sf.SoundFile(os.fsencode(self.path), "w", self.sample_rate, self.channels, subtype,
                                    format=major, **kw)
        except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
            raise AudioError(f"cannot write {self.format}: {_one_line(exc)}") from None

    def _open_av(self) -> None:
        import av

        codec, container, options = {
            "mp3": ("libmp3lame", "mp3", {}),
            "opus": ("libopus", "ogg", {}),
            "m4a": ("aac", "ipod", {"movflags": "+faststart"}),
        }[self.format]
        if self.subtype in _ALAC_SUBTYPES:
            codec = "alac"
        if codec not in av.codecs_available:
            codec = {"libmp3lame": "mp3", "libopus": "opus"}.get(codec, codec)
        layout = _layout(self.channels)
        if codec in ("libopus", "opus") and self.channels == 3:
            # libopus maps 3 channels only as Vorbis' L C R (its surround mapping), which
            # FFmpeg knows by the standard 3.0 layout, not an anonymous 3-channel one
            layout = "3.0"
        try:
            out = open_container(self.path, "w", format=container, options=options)
        except (av.FFmpegError, OSError) as exc:
            raise AudioError(f"cannot write {self.format}: {_one_line(exc)}") from None
        try:
            stream = out.add_stream(codec, rate=self.sample_rate, layout=layout)
            if self.language:          # the track's language (mdhd), kept from the source
                stream.metadata["language"] = self.language
            if self.bitrate:
                stream.bit_rate = self.bitrate
            fmt_name = stream.codec_context.codec.audio_formats[0].name
            if self.subtype in _ALAC_SUBTYPES:
                fmt_name = _ALAC_SUBTYPES[self.subtype]
                stream.codec_context.format = fmt_name
            self._resampler = av.AudioResampler(format=fmt_name, layout=layout,
                                                rate=self.sample_rate)
            write_chapters(out, self.chapters)
        except (av.FFmpegError, ValueError, TypeError) as exc:
            out.close()
            raise AudioError(f"cannot write {self.format}: {_one_line(exc)}") from None
        self._av, self._stream, self._pts = out, stream, 0

    def write(self, block: np.ndarray) -> None:
        if self._closed:
            raise AudioError("write to a closed Writer")
        a = np.asarray(block, dtype=np.float32)
        if a.ndim == 1 and self.channels == 1:
            a = a[:, None]
        if a.ndim != 2 or a.shape[1] != self.channels:
            raise AudioError(f"expected a (n, {self.channels}) block, got shape {a.shape}")
        if not len(a):
            return
        a = np.nan_to_num(a, nan=0.0)
        if self.clips:
            a = np.clip(a, -1.0, 1.0)
        if self._sf is not None:
            try:
                self._sf.write(a)
            except (sf.LibsndfileError, RuntimeError) as exc:
                raise AudioError(f"write failed: {_one_line(exc)}") from None
        else:
            import av

            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(a).reshape(1, -1),
                                               format="flt", layout=_layout(self.channels))
            frame.sample_rate = self.input_rate
            frame.time_base = Fraction(1, self.input_rate)
            frame.pts = self.frames_written
            self._encode(self._resampler.resample(frame))
        self.frames_written += len(a)

    def _encode(self, frames) -> None:
        import av

        try:
            for fr in frames:
                for packet in self._stream.encode(fr):
                    self._av.mux(packet)
        except av.FFmpegError as exc:
            raise AudioError(f"encode failed: {_one_line(exc)}") from None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._sf is not None:
            self._sf.close()
        elif self._av is not None:
            try:
                self._encode(self._resampler.resample(None))
                self._encode([None])
            finally:
                self._av.close()

    def _abort(self) -> None:
        with contextlib.suppress(Exception):
            self.close()
        with contextlib.suppress(OSError):
            os.remove(self.path)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._abort()
        else:
            self.close()


def write(path: str | os.PathLike[str], samples: np.ndarray, sample_rate: int, fmt: str,
          **kw) -> Writer:
    """Write a whole array (float32 ``(n, channels)`` or mono ``(n,)``); returns the closed
    Writer (its ``sample_rate``/``bitrate`` say what was written)."""
    a = np.asarray(samples, dtype=np.float32)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise AudioError(f"samples must be (n,) or (n, channels), got shape {a.shape}")
    with Writer(path, fmt, sample_rate, a.shape[1], **kw) as w:
        for i in range(0, len(a), 65536):
            w.write(a[i:i + 65536])
    return w
