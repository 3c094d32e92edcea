"""Video file I/O with PyAV, streaming (no whole-video buffering): MP4, MOV, MKV, WebM.

:func:`probe` describes a file (and decodes its first frame, which is where the display
matrix, colour range and real pixel format show up). :class:`VideoReader` yields, in demux
order, decoded video frames as 8-bit planar 4:2:0 :class:`av.VideoFrame` objects (other pixel
formats are converted) and audio as float32 ``(n, channels)`` blocks. :class:`VideoWriter`
encodes them again.

What is kept: frame rate and the frames' timestamps (VFR stays VFR), resolution, the display
matrix (rotation/flip; written with ``set_display_matrix``, which the MP4/MOV ``tkhd`` matrix
and the Matroska ``Projection`` pose carry), colour range / matrix / primaries / transfer, the
chapters, and the audio stream's sample rate, channel layout and (about) its bitrate. What
changes: 10-bit or 4:2:2/4:4:4 video is written as 8-bit 4:2:0 (a warning says so); the video
codec follows the container (H.264 for MP4/MOV/MKV, VP9 for WebM) unless ``codec`` says
otherwise; audio is re-encoded as AAC (MP4/MOV/MKV) or Opus (WebM, resampled to 48 kHz when
needed).

Outputs are never fragmented MP4 (c2pa cannot sign those): the MP4/MOV muxer writes one
``moov`` and, with ``+faststart``, moves it before ``mdat``. Codec threading is on (frame
threads for decoding and for x264/x265/libvpx).
"""
from __future__ import annotations

import contextlib
import errno
import os
import shlex
from pathlib import Path
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np

from ..models import VIDEO_PRESETS
from .chapters import Chapter, clock_seconds
from .chapters import read as read_chapters
from .chapters import write as write_chapters
from .pyav import open_container

if TYPE_CHECKING:  # typing.Self needs 3.11; typing_extensions is not a runtime dependency
    from typing_extensions import Self

__all__ = [
    "CONTAINERS",
    "DEFAULT_CRF",
    "AudioTrackInfo",
    "VideoError",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "allowed_codecs",
    "codec_key",
    "container_of",
    "encoder_for",
    "probe",
    "read_audio",
]

#: container key -> (PyAV/ffmpeg muxer, extension, default video codec, audio codec)
CONTAINERS = {
    "mp4": ("mp4", ".mp4", "h264", "aac"),
    "mov": ("mov", ".mov", "h264", "aac"),
    "mkv": ("matroska", ".mkv", "h264", "aac"),
    "webm": ("webm", ".webm", "vp9", "libopus"),
}
#: codec key -> encoder name
ENCODERS = {"h264": "libx264", "h265": "libx265", "vp9": "libvpx-vp9"}
_CODEC_ALIASES = {"h264": "h264", "avc": "h264", "libx264": "h264", "h265": "h265", "hevc": "h265",
                  "libx265": "h265", "vp9": "vp9", "libvpx-vp9": "vp9"}
_ALLOWED = {"mp4": ("h264", "h265", "vp9"), "mov": ("h264", "h265"), "mkv": ("h264", "h265", "vp9"),
            "webm": ("vp9",)}
DEFAULT_CRF = {"h264": 23, "h265": 28, "vp9": 32}


def codec_key(name: str | None) -> str | None:
    """Our key (h264, h265, vp9) for a codec or encoder name ("hevc", "libx264"), else None."""
    return _CODEC_ALIASES.get((name or "").lower())


def allowed_codecs(container: str) -> tuple[str, ...]:
    """The codec keys a labeled ``container`` file may be written with."""
    return _ALLOWED.get(container, ())
DEFAULT_PRESET = "medium"
_PRESETS = VIDEO_PRESETS
# libvpx-vp9 has no presets: map them to cpu-used (speed; 0 slowest .. 8 fastest).
_VP9_SPEED = {"ultrafast": 8, "superfast": 8, "veryfast": 7, "faster": 6, "fast": 5, "medium": 4,
              "slow": 2, "slower": 1, "veryslow": 0, "placebo": 0}
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)
_WORK_FORMATS = ("yuv420p", "yuvj420p")


class VideoError(ValueError):
    """A video cannot be read or written; the message is one line."""


def _one_line(exc: BaseException | str) -> str:
    """One line of an error's text. FFmpeg's errors read "[Errno N] What: 'path'": the errno
    and the path (the caller names the file) are left out."""
    if not isinstance(exc, str) and getattr(exc, "strerror", None) and type(exc).__module__.startswith("av"):
        text = str(exc.strerror)
    else:
        text = str(exc)
    return " ".join(text.split()) or type(exc).__name__


#: FFmpeg's errors that read as the machine's trouble when a demuxer or decoder meets damaged
#: data ("corrupt audio data: Operation not permitted" looked like a file permission): what
#: each means there. The error's own words follow in brackets.
_DAMAGE_MEANING = {
    errno.ENOMEM: "a size in the file is impossibly large",
    errno.EPERM: "the decoder rejected the data",
    errno.EINVAL: "the decoder rejected the data",
    errno.EIO: "the data ends early or is damaged",      # a Matroska file cut short
}
#: The same for FFmpeg's own error codes, by PyAV's class name (they carry no errno)
_DAMAGE_BY_CLASS = {
    "EOFError": "the data ends early or is damaged",      # an Ogg page whose CRC fails
    "PatchWelcomeError": "an unsupported header version, most likely damage",
    "DecoderNotFoundError": "no decoder for its codec: a damaged codec ID, or one FFmpeg does "
                            "not have",
}


def damage_reason(exc: BaseException) -> str:
    """:func:`_one_line` for an FFmpeg error met while reading a file's streams."""
    text = _one_line(exc)
    code = getattr(exc, "errno", None)
    meaning = _DAMAGE_BY_CLASS.get(type(exc).__name__) if type(exc).__module__.startswith("av") else None
    if meaning is None and isinstance(code, int):
        meaning = _DAMAGE_MEANING.get(abs(code))
    if meaning is None and text.startswith("Error number "):   # a code FFmpeg has no words for
        meaning = "the decoder rejected the data"
    return f"{meaning} (FFmpeg: {text})" if meaning else text


def container_of(format_name: str, path: str | os.PathLike | None = None) -> str:
    """Our container key for a PyAV ``format.name`` ("mov,mp4,m4a,..." / "matroska,webm")."""
    names = format_name.split(",")
    # FFmpeg's demuxer names each family, not the member: tell WebM from MKV and MOV from MP4
    # by content (EBML doctype, ftyp brand), never by the file's extension.
    sniffed = None
    if path is not None:
        from .sniff import UnsupportedMedia, sniff_file

        try:
            sniffed = sniff_file(path).format
        except (UnsupportedMedia, OSError):
            sniffed = None
    if "matroska" in names or "webm" in names:
        return "webm" if sniffed == "webm" else "mkv"
    if "mov" in names or "mp4" in names:
        return "mov" if sniffed == "mov" else "mp4"
    raise VideoError(f"unsupported container {format_name!r} (MP4, MOV, MKV and WebM are)")


#: The most soundtrack channels written: FFmpeg's AAC encoder takes up to 8 (7.1), and a
#: layout beyond 8 has no channel names here (see native_layouts).
MAX_SOUNDTRACK_CHANNELS = 8


@dataclass(frozen=True)
class AudioTrackInfo:
    codec: str
    sample_rate: int
    channels: int
    layout: str
    bit_rate: int | None
    duration: float | None = None     # seconds, when the container says (MP4 does, MKV rarely)
    #: The stream's language and title tags, carried into the output's soundtrack.
    tags: dict = field(default_factory=dict)


@dataclass(frozen=True)
class VideoInfo:
    path: str
    container: str                    # mp4 | mov | mkv | webm
    codec: str                        # input video codec name (h264, hevc, vp9, ...)
    width: int
    height: int
    fps: Fraction                     # average (or guessed) frame rate
    time_base: Fraction
    duration: float | None            # seconds
    frames: int | None                # as the container declares (MP4/MOV), else None
    pix_fmt: str
    color_range: int                  # 0 unspecified, 1 tv/limited, 2 pc/full
    colorspace: int
    color_primaries: int
    color_trc: int
    display_matrix: tuple[int, ...] | None
    rotation: int                     # counter-clockwise degrees for display, one of 0/90/180/270
    bit_rate: int | None
    audio: AudioTrackInfo | None
    metadata: dict = field(default_factory=dict)
    #: Sample (pixel) aspect ratio, when not square (anamorphic video: 720x480 at 32:27).
    sar: Fraction | None = None
    #: Chapters the container declares (the labeled output carries them).
    chapters: tuple[Chapter, ...] = ()
    #: The first frame is interlaced (the output is written progressive).
    interlaced: bool = False
    #: Streams beyond the first video and first audio stream, by type ("audio", "subtitle",
    #: ...): the labeler carries the other audio streams, subtitles and attachments its output
    #: container holds (:func:`carried_streams`), and leaves out the rest.
    extra_streams: dict = field(default_factory=dict)
    #: The frames have an alpha channel (an alpha pixel format, or VP8/VP9's alpha side data,
    #: which the default decoder does not even report); the output is opaque.
    alpha: bool = False
    #: The video stream's language and title tags (:data:`STREAM_TAGS`).
    video_tags: dict = field(default_factory=dict)
    #: (stream index, codec name) of each subtitle stream: those the output container takes
    #: as they are are carried (:func:`carried_streams`), the others left out.
    subtitles: tuple[tuple[int, str], ...] = ()
    #: Stream indices of Matroska attachments (an ASS subtitle's fonts, a cover image).
    attachments: tuple[int, ...] = ()
    #: (stream index, codec name) of each audio stream but the soundtrack ``audio`` describes
    #: (another language, a commentary; the first too when it cannot be decoded): those the
    #: output container takes are carried as they are (:func:`carried_streams`; not
    #: watermarked), the others left out.
    other_audio: tuple[tuple[int, str], ...] = ()

    @property
    def hdr(self) -> str | None:
        """"PQ" or "HLG" for HDR video (by its transfer characteristic), else None."""
        return {16: "PQ", 18: "HLG"}.get(self.color_trc)

    @property
    def full_range(self) -> bool:
        return self.color_range == 2 or self.pix_fmt.startswith("yuvj")

    @property
    def mirrored(self) -> bool:
        """The display matrix mirrors the picture (its 2 x 2 part has a negative determinant:
        a flip, or a transpose), which ``rotation`` does not describe."""
        m = self.display_matrix
        return m is not None and len(m) >= 5 and m[0] * m[4] - m[1] * m[3] < 0

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) as displayed (after rotation)."""
        return (self.height, self.width) if self.rotation in (90, 270) else (self.width, self.height)


def _open(path: str | os.PathLike, mode: str = "r", **kw):
    import av

    try:
        container = open_container(path, mode, **kw)
    except av.FFmpegError as exc:
        if mode == "r":
            raise VideoError(f"cannot read video: {damage_reason(exc)}") from None
        raise VideoError(f"cannot write video: {_one_line(exc)}") from None
    except (OSError, ValueError) as exc:
        raise VideoError(f"cannot open {os.fspath(path)}: {_one_line(exc)}") from None
    if mode == "r":
        native_layouts(container)
    return container


def main_video_stream(container):
    """The video stream labeling reads, marks and keeps (None when there is none): never cover
    art (an attached picture), and of several, FFmpeg's choice (``av_find_best_stream``: the
    default one that has frames, what a player shows). A one-frame MJPEG cover stored as an
    ordinary first track (Matroska does) used to be labeled in place of the film, and the
    film dropped."""
    import av

    pic = av.stream.Disposition.attached_pic
    moving = [s for s in container.streams.video if not s.disposition & pic]
    if len(moving) <= 1:
        return moving[0] if moving else None
    best = container.streams.best("video")
    return best if best in moving else moving[0]


def native_layouts(container) -> None:
    """Give every audio decoder of an input ``container`` FFmpeg's standard layout for its
    channel count (:func:`layout_name`), before anything reads a layout or decodes.

    Why: PyAV 18 wraps a layout it reads (``codec_context.channels`` and ``.layout``, every
    decoded frame's layout) in an object that frees the layout's channel map when it goes, a
    map the codec context or frame still owns. Native-order layouts have no map; a
    custom-order one has (FFmpeg 8 reads an ffmpeg-written 6.1 or 7.1 PCM MOV that way), so the
    second free aborted the process ("double free or corruption") and took a whole batch
    down. Here the channel count is read once, which frees the decoder's map, and the layout
    is replaced at once: the setter overwrites the stale pointer without reading it, and
    from then on the decoder, its frames and every later read hold a native layout. Only the
    channel labels change, never the samples: the channels are read in the file's order, as
    the float conversion (asked for this layout) already did."""
    for st in container.streams.audio:
        cc = st.codec_context
        if cc is None:                      # a damaged sample description: no decoder at all
            continue
        n = int(cc.channels)                # exactly one read: a second would free the map again
        if n >= 1:                          # (no channels: the decoder will say what is wrong)
            cc.layout = _DEFAULT_LAYOUTS.get(n, f"{n} channels")


def _matrix_of(frame) -> tuple[int, ...] | None:
    import av

    try:
        for sd in frame.side_data:
            if sd.type == av.sidedata.sidedata.Type.DISPLAYMATRIX:
                raw = bytes(sd)
                if len(raw) == 36:
                    return tuple(int(v) for v in np.frombuffer(raw, "<i4"))
    except Exception:  # noqa: BLE001 - side data is optional
        return None
    return None


def _rotation_of(frame) -> int:
    try:
        rot = round(frame.rotation or 0)
    except Exception:  # noqa: BLE001
        rot = 0
    return rot % 360 if rot % 90 == 0 else 0


def layout_name(cc) -> str:
    """An audio codec context's channel layout, by name: FFmpeg's standard layout for the
    channel count, which :func:`native_layouts` set when the file was opened."""
    return cc.layout.name


#: FFmpeg's default layout for a channel count (av_channel_layout_default); beyond 8 channels
#: native_layouts uses "<n> channels", n channels in unspecified order (no channel map either).
_DEFAULT_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "4.0", 5: "5.0", 6: "5.1", 7: "6.1",
                    8: "7.1"}


class SoundtrackResampler:
    """Decoded soundtrack frames as float32 ("flt") at the stream's own layout and rate, for
    every frame: a soundtrack whose channels or rate change mid-stream (a splice) gets a new
    resampler at the change, after the old one's remainder (PyAV's refuses a frame unlike its
    first: "Frame does not match AudioResampler setup.")."""

    def __init__(self, cc, rate: int | None = None) -> None:
        """``rate``: the rate wanted (None: the stream's first)."""
        self.layout, self.rate = layout_name(cc), int(rate or cc.sample_rate)
        self._rs = self._new()
        self._heard: tuple | None = None   # (format, layout, rate) of the latest frame
        #: (layout, rate, seconds) of the first frame unlike the first ones, for a warning
        self.changed: tuple[str, int, float] | None = None

    def _new(self):
        import av

        return av.AudioResampler(format="flt", layout=self.layout, rate=self.rate)

    def resample(self, frame) -> list:
        """The converted frames ready after ``frame`` (None: flush the remainder)."""
        out = []
        if frame is not None:
            now = (frame.format.name, frame.layout.name, frame.sample_rate)
            if self._heard is not None and now != self._heard:
                out = list(self._rs.resample(None))
                self._rs = self._new()
                if self.changed is None:
                    self.changed = (frame.layout.name, frame.sample_rate, float(frame.time or 0.0))
            self._heard = now
        return out + list(self._rs.resample(frame))


def _sar_of(vs) -> Fraction | None:
    """The stream's sample aspect ratio when it is set and not square."""
    try:
        sar = vs.codec_context.sample_aspect_ratio or vs.sample_aspect_ratio
    except Exception:  # noqa: BLE001 - optional
        return None
    if not sar or sar.numerator <= 0 or sar.denominator <= 0 or sar == 1:
        return None
    return Fraction(sar.numerator, sar.denominator)


def _audio_info(container) -> AudioTrackInfo | None:
    """The first audio stream's codec, rate, channels and layout, or None."""
    if not container.streams.audio:
        return None
    a = container.streams.audio[0]
    ac = a.codec_context
    if ac is None or not (ac.sample_rate and ac.channels):
        return None
    duration = float(a.duration * a.time_base) if a.duration and a.time_base else None
    return AudioTrackInfo(ac.name, int(ac.sample_rate), int(ac.channels), layout_name(ac),
                          a.bit_rate or ac.bit_rate or None, duration, _stream_tags(a))


#: Per-stream tags a labeled file keeps (its language was "und" after labeling, its title gone).
STREAM_TAGS = ("language", "title")


#: Handler names FFmpeg and Apple write by default: not worth a Matroska tag of their own.
_DEFAULT_HANDLERS = {"VideoHandler", "SoundHandler", "Core Media Video", "Core Media Audio"}


def _stream_tags(stream) -> dict:
    """The stream's STREAM_TAGS that say something ("und" is no language). An MP4 or MOV
    track's name box reads as "name" and is written from "title": it was not carried (nor
    was a handler name of the file's own)."""
    meta = {k.lower(): v for k, v in (stream.metadata or {}).items()}
    out = {k: meta[k] for k in STREAM_TAGS if meta.get(k) and meta[k] != "und"}
    if "title" not in out and meta.get("name"):
        out["title"] = meta["name"]
    if meta.get("handler_name") and meta["handler_name"] not in _DEFAULT_HANDLERS:
        out["handler_name"] = meta["handler_name"]
    return out


def _timecode_of(container, vs) -> str | None:
    """The start timecode (HH:MM:SS:FF) of a camera or edit's file: the video stream's
    ``timecode`` tag, or a timecode track's (MOV / MP4 tmcd, read as a data stream). Kept as
    the output video stream's tag, from which FFmpeg's MOV / MP4 muxer writes a timecode track
    again (it was dropped: an editor then placed the labeled clip at 00:00:00:00)."""
    tc = (vs.metadata or {}).get("timecode")
    if tc:
        return tc
    for st in container.streams:
        if st.type == "data" and (st.metadata or {}).get("timecode"):
            return st.metadata["timecode"]
    return None


def frames_missing(declared: int, decoded: int, played: float, lengths: list[float]) -> bool:
    """Whether a decode that gave ``decoded`` frames spanning ``played`` seconds fell short of
    the ``declared`` frame count (a file cut short, damaged data), allowing 2 % (at least 2
    frames). Frames decoded that cover one of the declared ``lengths`` (s) are enough: an MP4
    edit list (a "-ss ... -c copy" cut) hides stored frames that are not missing."""
    return bool(declared) and decoded < declared - max(2, declared // 50) and \
        not frames_cover(played, lengths)


def frames_cover(played: float, lengths: list[float]) -> bool:
    """Whether frames decoded over ``played`` seconds cover one of the declared ``lengths``
    (s), loosely (90 %, less half a second): the check for a file that declares no frame
    count (Matroska, WebM)."""
    return bool(lengths) and any(played >= 0.9 * n - 0.5 for n in lengths)


#: Subtitle codecs each output container takes as they are: their packets are copied, never
#: re-encoded, so a subtitle track keeps its text, styling and timing. A kind the output
#: cannot hold (an MP4's mov_text in an MKV, a bitmap track in an MP4) is left out, and said.
SUBTITLE_CODECS = {
    "mp4": frozenset({"mov_text"}),
    "mov": frozenset({"mov_text"}),
    "mkv": frozenset({"subrip", "ass", "ssa", "webvtt", "dvd_subtitle", "hdmv_pgs_subtitle",
                      "dvb_subtitle"}),
    "webm": frozenset({"webvtt"}),
}


def _codec_name(stream) -> str:
    """FFmpeg's name of ``stream``'s codec (``subrip``, not the decoder's ``srt``), or ""."""
    try:
        return stream.codec_context.codec.canonical_name
    except Exception:       # a stream FFmpeg has no decoder for
        return ""


#: Audio codecs each output container takes as they are, for the audio streams after the
#: first (the first is decoded, watermarked and re-encoded; the others are copied packet for
#: packet, so a second language keeps its sound and its codec). Matroska holds about any
#: codec; WebM only Opus and Vorbis. Each entry was checked by copying a track of that codec
#: from an MKV into that container through the labeler (packets the same bytes, at the same
#: times; but ALAC into MP4 / MOV, whose last packet Matroska stores without a duration, loses
#: that packet, as ``ffmpeg -c copy`` does).
AUDIO_COPY_CODECS = {
    "mp4": frozenset({"aac", "mp3", "mp2", "ac3", "eac3", "alac", "opus", "flac"}),
    "mov": frozenset({"aac", "mp3", "mp2", "ac3", "eac3", "alac", "pcm_s16le", "pcm_s16be",
                      "pcm_s24le", "pcm_s24be", "pcm_s32le", "pcm_s32be", "pcm_f32le",
                      "pcm_f32be"}),
    "mkv": frozenset({"aac", "mp3", "mp2", "ac3", "eac3", "dts", "truehd", "opus", "vorbis",
                      "flac", "alac", "wavpack", "tta", "pcm_u8", "pcm_s16le", "pcm_s16be",
                      "pcm_s24le", "pcm_s24be", "pcm_s32le", "pcm_s32be", "pcm_f32le"}),
    "webm": frozenset({"opus", "vorbis"}),
}


#: Output containers that hold attachments (files stored beside the streams: an ASS
#: subtitle's fonts, without which it shows in another typeface; a cover image).
ATTACHMENT_CONTAINERS = frozenset({"mkv"})


def carried_streams(info: VideoInfo, container: str) -> tuple[int, ...]:
    """Indices of ``info``'s streams, beyond the main video and audio, that an output
    ``container`` carries as they are: the other audio streams and subtitles of a kind it
    holds (:data:`AUDIO_COPY_CODECS`, :data:`SUBTITLE_CODECS`) and attachments
    (:data:`ATTACHMENT_CONTAINERS`)."""
    sound = AUDIO_COPY_CODECS.get(container, frozenset())
    codecs = SUBTITLE_CODECS.get(container, frozenset())
    audio = tuple(i for i, name in info.other_audio if name in sound)
    subs = tuple(i for i, name in info.subtitles if name in codecs)
    return audio + subs + (info.attachments if container in ATTACHMENT_CONTAINERS else ())


def probe(path: str | os.PathLike) -> VideoInfo:
    """Describe a video file; raises :class:`VideoError` (one line) when it has no decodable
    video stream."""
    import av

    container = _open(path)
    with container:
        key = container_of(container.format.name, path)
        vs = main_video_stream(container)
        if vs is None:
            if container.streams.audio and key in ("mkv", "webm"):
                # a browser recording (MediaRecorder) or a .mka: sound only, in a container
                # synthlabel writes for video only
                codec = container.streams.audio[0].codec_context.name
                ext = {"opus": "opus", "vorbis": "ogg", "flac": "flac", "aac": "m4a", "mp3": "mp3"}
                # (the path as given, quoted for a shell: the command runs where the user is)
                out = shlex.quote(os.fspath(Path(path).with_suffix("." + ext.get(codec, "flac"))))
                how = "-c:a copy" if codec in ext else "-c:a flac"
                raise VideoError(f"audio-only {key.upper()} ({codec}) is not supported: take the "
                                 f"sound out first (ffmpeg -i {shlex.quote(os.fspath(path))} -vn "
                                 f"{how} {out}) and label that")
            raise VideoError("no video stream (not a video file?)")
        vs.thread_type = "AUTO"
        audio = _audio_info(container)
        first = None
        try:
            for frame in container.decode(vs):
                first = frame
                break
        except av.FFmpegError as exc:
            raise VideoError(f"corrupt video data: {damage_reason(exc)}") from None
        if first is None:
            raise VideoError("no decodable video frame (empty or corrupt video stream)")
        cc = vs.codec_context
        fps = vs.average_rate or vs.guessed_rate or vs.base_rate or Fraction(25)
        duration = None
        if vs.duration is not None and vs.time_base:
            duration = float(vs.duration * vs.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
            start = (container.start_time or 0) / av.time_base
            if key in ("mkv", "webm") and 0 < start < duration:
                # Matroska's duration runs to the last timestamp, start offset included: a
                # file starting at 10 s was taken as 10 s longer (an end cue placed past the
                # sound, a persistent label checked only at the start)
                duration -= start
        kept = {vs.index} | ({container.streams.audio[0].index} if audio is not None else set())
        chapters = read_chapters(container)
        video_tags = _stream_tags(vs)
        timecode = _timecode_of(container, vs)
        if timecode:
            video_tags["timecode"] = timecode
        extra: dict[str, int] = {}
        subtitles = tuple((st.index, _codec_name(st)) for st in container.streams.subtitles)
        # (the first too when it cannot be decoded: it is then carried or named, not lost)
        other_audio = tuple((st.index, _codec_name(st)) for st in container.streams.audio
                            if st.index not in kept)
        attachments = tuple(st.index for st in container.streams if st.type == "attachment")
        for st in container.streams:
            # An MP4 / MOV chapter track (one sample per chapter, read by FFmpeg as a data
            # stream) goes with the chapters, which are carried; a timecode track (tmcd) with
            # the video stream's timecode tag, from which the muxer writes it again.
            chapter_track = st.type == "data" and chapters and st.frames == len(chapters)
            timecode_track = st.type == "data" and timecode and \
                (st.metadata or {}).get("timecode") == timecode
            if st.index not in kept and not chapter_track and not timecode_track:
                kind = "cover art" if st.disposition & av.stream.Disposition.attached_pic else \
                    "other video" if st.type == "video" else st.type
                extra[kind] = extra.get(kind, 0) + 1
        return VideoInfo(
            path=os.fspath(path), container=key, codec=cc.codec.canonical_name, width=first.width,
            height=first.height, fps=Fraction(fps), time_base=Fraction(vs.time_base or Fraction(1, 1000)),
            duration=duration, frames=vs.frames or None, pix_fmt=first.format.name,
            color_range=int(first.color_range or 0), colorspace=int(first.colorspace or 0),
            color_primaries=int(first.color_primaries or 0), color_trc=int(first.color_trc or 0),
            display_matrix=_matrix_of(first), rotation=_rotation_of(first),
            bit_rate=vs.bit_rate or container.bit_rate or None, audio=audio,
            metadata=dict(container.metadata), extra_streams=extra, sar=_sar_of(vs),
            video_tags=video_tags, subtitles=subtitles, attachments=attachments,
            other_audio=other_audio,
            chapters=chapters, interlaced=bool(getattr(first, "interlaced_frame", False)),
            alpha=(vs.metadata.get("alpha_mode") == "1"
                   or first.format.name.startswith(_ALPHA_FORMATS)))


#: Pixel formats with an alpha channel (FFmpeg's names).
_ALPHA_FORMATS = ("yuva", "rgba", "bgra", "argb", "abgr", "gbrap", "ya")


class VideoReader:
    """Decode a file in demux order. Iterating yields ``("video", frame)`` with an 8-bit 4:2:0
    :class:`av.VideoFrame` whose ``time`` is in seconds, and ``("audio", (block, t0))`` with a
    float32 ``(n, channels)`` block starting at ``t0`` seconds. ``audio=False`` skips audio.

    ``passthrough``: indices of streams whose packets are yielded undecoded, as
    ``("packet", packet)`` (subtitles carried as they are, :meth:`VideoWriter.carry`);
    :attr:`passthrough` holds those streams.

    Truncation is checked at the end against the frame count / duration the container
    declares: a file missing more than a few frames raises :class:`VideoError`."""

    def __init__(self, path: str | os.PathLike, *, audio: bool = True, threads: bool = True,
                 audio_rate: int | None = None, passthrough: tuple[int, ...] = ()) -> None:
        self.path = os.fspath(path)
        #: the rate soundtrack blocks are yielded at (None: the stream's own)
        self.audio_rate = audio_rate
        self._c = _open(path)
        self.vs = main_video_stream(self._c)
        if self.vs is None:
            self._c.close()
            raise VideoError("no video stream (not a video file?)")
        if threads:
            self.vs.thread_type = "AUTO"
        self.as_ = self._c.streams.audio[0] if (audio and self._c.streams.audio) else None
        #: streams whose packets are yielded as they are, ``("packet", packet)``
        copied = set(passthrough)
        self.passthrough = [st for st in self._c.streams if st.index in copied]
        self.video_frames = 0
        self.last_time = 0.0
        #: Latest packet end (s, the stream's own timestamps) per stream index, over every
        #: stream, decoded or not: where each stream's data stops (see _check_complete).
        self.stream_end: dict[int, float] = {}
        self.converted_from: str | None = None
        #: (width, height) of the frames yielded: the first frame's
        self.size: tuple[int, int] | None = None
        #: (width, height, seconds) of the first frame of another size (scaled to ``size``)
        self.resized_from: tuple[int, int, float] | None = None
        #: soundtrack packets that did not decode, skipped (see MAX_BAD_AUDIO_PACKETS)
        self.bad_audio_packets = 0
        #: the soundtrack's converter, once reading has begun (``changed``: a splice met)
        self.audio_resampler: SoundtrackResampler | None = None

    def close(self) -> None:
        self._c.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _video(self, frame):
        if self.size is None:
            self.size = (frame.width, frame.height)
        resize = (frame.width, frame.height) != self.size
        if resize and self.resized_from is None:
            self.resized_from = (frame.width, frame.height, float(frame.time or 0.0))
        if frame.format.name not in _WORK_FORMATS or resize:
            # A picture size that changes mid-stream (a spliced broadcast, a screen capture)
            # is scaled to the first frame's, as ffmpeg does: the writer, the plate and the
            # watermark each work at one size.
            if frame.format.name not in _WORK_FORMATS:
                self.converted_from = frame.format.name
            fmt = frame.format.name if frame.format.name in _WORK_FORMATS else "yuv420p"
            rot = frame.side_data  # keep a reference; reformat drops side data
            new = frame.reformat(width=self.size[0], height=self.size[1], format=fmt)
            new.pts, new.time_base = frame.pts, frame.time_base
            new.color_range = frame.color_range
            del rot
            frame = new
        self.video_frames += 1
        if frame.time is not None:
            self.last_time = max(self.last_time, float(frame.time))
        return frame

    def __iter__(self) -> Iterator[tuple[str, object]]:
        import av

        resampler = None
        channels = 0
        if self.as_ is not None:
            ac = self.as_.codec_context
            channels = ac.channels
            resampler = self.audio_resampler = SoundtrackResampler(ac, self.audio_rate)
        a_pos = None  # running audio time (samples) for blocks without pts

        def audio_blocks(frames):
            nonlocal a_pos
            for fr in frames:
                for out in resampler.resample(fr):
                    arr = out.to_ndarray().reshape(-1, channels)
                    rate = out.sample_rate
                    if a_pos is None:
                        t0 = float(out.time) if out.time is not None else 0.0
                        a_pos = round(t0 * rate)
                    elif out.time is not None:
                        # A gap in the soundtrack's timestamps (a dropout, an edit) is silence,
                        # not nothing: counting samples alone closed it up, and the sound ran
                        # ahead of the picture from there on. (Up to AUDIO_GAP_MAX_S.)
                        gap = round(float(out.time) * rate) - a_pos
                        if AUDIO_GAP_MIN_S * rate < gap <= AUDIO_GAP_MAX_S * rate:
                            for k in range(0, gap, rate):
                                n = min(rate, gap - k)
                                yield "audio", (np.zeros((n, channels), np.float32), a_pos / rate)
                                a_pos += n
                    t0 = a_pos / rate
                    a_pos += len(arr)
                    yield "audio", (arr.astype(np.float32, copy=False), t0)

        copied = {st.index for st in self.passthrough}
        try:
            # Every stream is demuxed (the file is read through either way) so that the end
            # of its data is known; only the chosen streams are decoded.
            for packet in self._c.demux():
                self._note_end(packet)
                if packet.stream.index in copied:
                    if packet.size:
                        yield "packet", packet
                elif packet.stream is self.vs:
                    for frame in packet.decode():
                        yield "video", self._video(frame)
                elif packet.stream is self.as_ and (packet.size or packet.dts is None):
                    try:
                        decoded = packet.decode()
                    except av.FFmpegError as exc:
                        # a damaged sound packet (ffmpeg skips it too): its time becomes
                        # silence (a gap, see audio_blocks); a soundtrack that is mostly
                        # damage is an error, named as the soundtrack's
                        self.bad_audio_packets += 1
                        if self.bad_audio_packets > MAX_BAD_AUDIO_PACKETS:
                            at = (f" at {float(packet.pts * packet.time_base):.2f} s"
                                  if packet.pts is not None else "")
                            raise VideoError(f"corrupt soundtrack data{at} ({_one_line(exc)}; "
                                             f"{self.bad_audio_packets} damaged packets)") from None
                        continue
                    yield from audio_blocks(decoded)
            # demux() flushes the decoders with empty packets at the end already
            if resampler is not None:
                yield from audio_blocks([None])
        except av.FFmpegError as exc:
            where = (f" after {self.video_frames} frames ({self.last_time:.2f} s)"
                     if self.video_frames else "")
            raise VideoError(f"corrupt video data{where}: {damage_reason(exc)}") from None
        self._check_complete()

    def _note_end(self, packet) -> None:
        note_end(self.stream_end, packet)

    def _check_complete(self) -> None:
        if self.video_frames == 0:
            raise VideoError("no decodable video frame (empty or corrupt video stream)")
        if why := cut_short(self._c, self.vs, self.video_frames, self.last_time, self.stream_end):
            raise VideoError(why)


def note_end(stream_end: dict[int, float], packet) -> None:
    """Record in ``stream_end`` (stream index -> seconds, the stream's own timestamps) where
    ``packet``'s data ends, when it is later than what is there."""
    if packet.pts is not None and packet.time_base and packet.size:
        end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
        i = packet.stream.index
        if end > stream_end.get(i, float("-inf")):
            stream_end[i] = end


def cut_short(container, vs, video_frames: int, last_time: float,
              stream_end: dict[int, float]) -> str | None:
    """Why a read of the whole ``container`` looks cut short or damaged (one line), or None:
    ``video_frames`` decoded from ``vs``, the last starting at ``last_time`` s, and where each
    stream's data ends (:func:`note_end`, every stream demuxed). Labeling refuses such a file;
    verify reports it as not fully readable."""
    declared = vs.frames or 0
    dur, lengths = None, []
    start = float(vs.start_time * vs.time_base) if vs.start_time is not None and vs.time_base else 0.0
    if vs.duration is not None and vs.time_base:
        dur = float(vs.duration * vs.time_base)
        lengths = [dur]
    elif container.duration:
        dur = container.duration / 1_000_000
        lengths = [dur]
        c_start = (container.start_time or 0) / 1_000_000
        if 0 < c_start < dur:
            # Matroska's duration runs to the last timestamp, start offset included.
            lengths.append(dur - c_start)
    played = last_time - start
    if frames_missing(declared, video_frames, played, lengths):
        return f"truncated or corrupt video: {video_frames} of {declared} frames decodable"
    if declared or not dur or dur <= 1.0:
        return None
    # No frame count (Matroska / WebM): the declared length is the longest stream's, so
    # the loose rule above would pass a file cut short by under a tenth. Tighter: each
    # stream's own DURATION tag (FFmpeg and mkvmerge write one; it runs to the last
    # timestamp, so a start offset is included) against where its data ends, or without
    # tags, where the data of every stream ends against the container's length.
    tol = max(_TRUNCATION_TOLERANCE_S, 2.0 / float(vs.average_rate or 25))
    c_start = (container.start_time or 0) / 1_000_000
    tagged = False
    sound = container.streams.audio[0] if container.streams.audio else None
    for st, what in ((vs, "frames end"), (sound, "sound ends")):
        own = clock_seconds(st.metadata.get("DURATION")) if st is not None else None
        if own is None or own <= 1.0:
            continue
        tagged = True
        end = stream_end.get(st.index, 0.0)
        if end < own - tol:
            return (f"truncated or corrupt video: {what} at {end - c_start:.2f} s "
                    f"of {own - c_start:.2f} s declared")
    if tagged:
        return None
    if stream_end:
        data = max(stream_end.values()) - c_start
        if data < min(lengths) - tol:
            return (f"truncated or corrupt video: data ends at {data:.2f} s "
                    f"of {min(lengths):.2f} s declared")
        return None
    if not frames_cover(played, lengths):
        return (f"truncated or corrupt video: frames end at {played:.2f} s "
                f"of {min(lengths):.2f} s declared")
    return None


#: A soundtrack whose next frame starts more than AUDIO_GAP_MIN_S after the sound so far
#: ends has the gap filled with silence (at most AUDIO_GAP_MAX_S: beyond that the timestamps
#: are taken as broken, not as a pause), so it stays in step with the picture.
AUDIO_GAP_MIN_S = 0.02
AUDIO_GAP_MAX_S = 600.0

#: Damaged soundtrack packets skipped (as silence) before the soundtrack counts as corrupt: a
#: few bad AAC frames in a long file are a glitch, not a reason to refuse the video.
MAX_BAD_AUDIO_PACKETS = 50

#: How far (s) a Matroska / WebM file's data may end before its declared length without being
#: called truncated (at least 2 frames): room for muxers' rounding (FFmpeg's files end exactly
#: at their tags; a cut that lost the last 5 of 150 frames fell 0.22 s short).
_TRUNCATION_TOLERANCE_S = 0.1


def read_audio(path: str | os.PathLike, start: float,
               seconds: float) -> tuple[np.ndarray, int] | None:
    """``seconds`` s of the first audio stream from ``start`` s after its first sample (fewer at
    the end): float32 ``(frames, channels)`` at the stream's own rate, and that rate. None when
    the file has no audio stream. Only audio packets are decoded, after a seek to just before
    ``start``: the span is placed by the first decoded frame's timestamp, so to the container's
    precision after a seek (1 ms in Matroska). Raises :class:`VideoError`."""
    import av

    with _open(path) as c:
        if not c.streams.audio:
            return None
        a = c.streams.audio[0]
        ac = a.codec_context
        rate, channels = int(ac.sample_rate), int(ac.channels)
        if not (rate and channels):
            return None
        first = float(a.start_time * a.time_base) if a.start_time is not None else 0.0
        lo = round(start * rate)                      # wanted span in samples from `first`
        hi = lo + round(seconds * rate)
        if start > 1.0:
            c.seek(int((first + start - 1.0) / a.time_base), stream=a, backward=True)
        resampler = SoundtrackResampler(ac)
        out, pos = [], None
        try:
            for packet in c.demux(a):
                for fr in packet.decode():
                    if pos is None:     # the first frame's timestamp, then counted samples
                        pos = round((float(fr.time) - first) * rate) if fr.time is not None else 0
                    for o in resampler.resample(fr):
                        arr = o.to_ndarray().reshape(-1, channels)
                        if pos + len(arr) > lo:
                            out.append(arr[max(0, lo - pos):max(0, hi - pos)])
                        pos += len(arr)
                    if pos >= hi:
                        break
                if pos is not None and pos >= hi:
                    break
        except av.FFmpegError as exc:
            raise VideoError(f"corrupt audio data: {damage_reason(exc)}") from None
    x = np.concatenate(out) if out else np.zeros((0, channels), np.float32)
    return x.astype(np.float32, copy=False), rate


def encoder_for(container: str, codec: str | None) -> str:
    """Our codec key (h264 / h265 / vp9) for ``container``; checks the pair."""
    key = codec_key(codec or CONTAINERS[container][2])
    if key is None:
        raise VideoError(f"unsupported video codec {codec!r}: choose h264, h265 or vp9")
    if key not in _ALLOWED[container]:
        raise VideoError(f"{container.upper()} cannot carry {key} here; choose one of "
                         f"{', '.join(_ALLOWED[container])}")
    return key


def encoder_settings(container: str, codec: str | None, crf: int | None,
                     preset: str | None) -> tuple[str, int, str]:
    """(codec key, CRF, preset) for ``container``, defaults filled in; VideoError names what
    is out of range (checked before a dry run says "would label")."""
    key = encoder_for(container, codec)
    crf = DEFAULT_CRF[key] if crf is None else int(crf)
    preset = preset or DEFAULT_PRESET
    if preset not in _PRESETS:
        raise VideoError(f"unknown preset {preset!r}: choose one of {', '.join(_PRESETS)}")
    hi = 63 if key == "vp9" else 51
    if not 0 <= crf <= hi:
        raise VideoError(f"crf must be 0..{hi} for {key}, got {crf}")
    return key, crf, preset


def _audio_bitrate(info: AudioTrackInfo, codec: str, override: int | None) -> int:
    if override:
        return int(override)
    per_ch = 64_000 if codec == "libopus" else 80_000
    default = per_ch * min(info.channels, 2) + 32_000 * max(0, info.channels - 2)
    if info.bit_rate and info.bit_rate > 0:
        return int(min(max(info.bit_rate, 48_000), 320_000 * max(1, info.channels // 2)))
    return default


class VideoWriter:
    """Encode 8-bit 4:2:0 frames (and optionally float32 audio blocks) into ``path``.

    ``container``: mp4 | mov | mkv | webm; ``codec``: h264 | h265 | vp9 (None: the
    container's default); ``crf``/``preset`` as for x264 (VP9: preset maps to cpu-used).
    ``metadata``: container-level tags (Matroska writes them as global SimpleTags).
    ``audio``: the input's :class:`AudioTrackInfo` or None for a silent output. ``chapters``:
    :class:`~.chapters.Chapter` s to write (a chapter track in MP4 / MOV). ``size``: the
    (width, height) encoded (H.264/H.265 need even sides: an odd one is cut by a pixel)."""

    def __init__(self, path: str | os.PathLike, container: str, *, width: int, height: int,
                 fps: Fraction, time_base: Fraction, codec: str | None = None,
                 crf: int | None = None, preset: str | None = None, pix_fmt: str = "yuv420p",
                 color: tuple[int, int, int, int] = (0, 0, 0, 0),
                 display_matrix: tuple[int, ...] | None = None,
                 audio: AudioTrackInfo | None = None, audio_bitrate: int | None = None,
                 metadata: dict[str, str] | None = None, faststart: bool = True,
                 sar: Fraction | None = None, chapters: tuple[Chapter, ...] = (),
                 video_tags: dict | None = None) -> None:
        import av

        if container not in CONTAINERS:
            raise VideoError(f"unsupported output container {container!r}")
        self.container = container
        self.codec, self.crf, self.preset = encoder_settings(container, codec, crf, preset)
        crf, preset = self.crf, self.preset
        muxer = CONTAINERS[container][0]
        options = {}
        if container in ("mp4", "mov") and faststart:
            options["movflags"] = "+faststart"
        self.path = os.fspath(path)
        self._out = _open(path, "w", format=muxer, options=options)
        try:
            if metadata:
                for k, v in metadata.items():
                    self._out.metadata[k] = v
            rate = Fraction(fps).limit_denominator(1_000_000) if fps else Fraction(25)
            vs = self._out.add_stream(ENCODERS[self.codec], rate=rate)
            # x264/x265 encode 4:2:0 only at even sizes (VP9 takes any): an odd side loses
            # its last pixel (frames are scaled by under one pixel; see write_video).
            even = self.codec in ("h264", "h265")
            self.size = (int(width) & ~1 or 2, int(height) & ~1 or 2) if even else (int(width), int(height))
            self._resize = self.size != (int(width), int(height))
            vs.width, vs.height = self.size
            if self.codec == "h265" and container in ("mp4", "mov"):
                vs.codec_tag = "hvc1"   # Apple players refuse HEVC tagged hev1 (x265's default)
            vs.pix_fmt = "yuv420p" if self.codec != "h264" or pix_fmt not in _WORK_FORMATS else pix_fmt
            rng, space, prim, trc = color
            cc = vs.codec_context
            if rng:
                cc.color_range = rng
            if space:
                cc.colorspace = space
            if prim:
                cc.color_primaries = prim
            if trc:
                cc.color_trc = trc
            tb = Fraction(time_base) if time_base else Fraction(1, 90000)
            cc.time_base = tb
            vs.time_base = tb
            cc.thread_type = "AUTO"
            cc.thread_count = 0
            if sar is not None:       # anamorphic: without it the picture shows squashed
                cc.sample_aspect_ratio = sar
            for k, v in (video_tags or {}).items():
                vs.metadata[k] = v
            vs.options = self._codec_options()
            if display_matrix is not None and any(display_matrix) and \
                    tuple(display_matrix) != (65536, 0, 0, 0, 65536, 0, 0, 0, 1 << 30):
                vs.set_display_matrix(list(display_matrix))
            # The one picture and the one sound are the file's default tracks: Matroska and
            # WebM wrote them flagged not default (FlagDefault 0) beside a carried subtitle
            # flagged default, so a player might pick the subtitle and not the sound.
            vs.disposition = av.stream.Disposition.default
            self._vs = vs
            self._as = None
            self._audio_rate = None
            if audio is not None:
                acodec = CONTAINERS[container][3]
                rate_a = audio.sample_rate
                if acodec == "libopus" and rate_a not in OPUS_RATES or acodec == "aac" and rate_a not in AAC_RATES:
                    rate_a = 48000
                layout = audio.layout if audio.channels <= 2 or acodec == "aac" else "stereo"
                a = self._out.add_stream(acodec, rate=rate_a, layout=layout)
                a.bit_rate = _audio_bitrate(audio, acodec, audio_bitrate)
                a.codec_context.time_base = Fraction(1, rate_a)
                for k, v in audio.tags.items():
                    a.metadata[k] = v
                a.disposition = av.stream.Disposition.default
                self._as = a
                self._audio_rate = rate_a
                self._audio_in_rate = audio.sample_rate
                self._layout = audio.layout
                self._channels = audio.channels
                fmt_name = a.codec_context.codec.audio_formats[0].name
                self._resampler = av.AudioResampler(format=fmt_name, layout=layout, rate=rate_a)
                self._a_samples = 0
                self._a_start: float | None = None
            write_chapters(self._out, chapters)
        except (av.FFmpegError, ValueError, TypeError) as exc:
            self._out.close()
            raise VideoError(f"cannot set up the encoder: {_one_line(exc)}") from None
        self._last_pts: int | None = None
        self.frames = 0
        self._closed = False
        #: input stream index -> output stream, for streams copied as they are (:meth:`carry`)
        self._copied: dict[int, object] = {}
        #: latest dts written per copied stream (its own time base)
        self._copied_dts: dict[int, int] = {}
        #: what went wrong copying a stream, by input stream index: (packets moved later to
        #: keep time order, packets not written, the last reason)
        self.copy_failed: dict[int, list] = {}

    def carry(self, streams) -> None:
        """Add an output stream for each input stream of ``streams`` (subtitles, whose
        packets :meth:`write_packet` then copies; attachments, whole in the header). Call
        before the first frame is written (the header lists every stream)."""
        import av

        for st in streams:
            try:
                out = self._out.add_stream_from_template(st)
            except (av.FFmpegError, ValueError, TypeError) as exc:
                self.copy_failed[st.index] = [0, 0, _one_line(exc)]
                continue
            # an attachment's file name and MIME type are its tags: all of them go along
            tags = dict(st.metadata or {}) if st.type == "attachment" else _stream_tags(st)
            for k, v in tags.items():
                out.metadata[k] = v
            with contextlib.suppress(AttributeError, TypeError, ValueError):
                out.disposition = st.disposition      # default / forced track
            self._copied[st.index] = out

    def write_packet(self, packet) -> None:
        """Copy one packet of a stream :meth:`carry` added (timestamps rebased to the output
        stream's time base by the muxer). A packet stored out of time order (the muxers want
        each stream's timestamps increasing) is moved to just after the one before, as
        ``ffmpeg -c copy`` does; one the muxer still refuses is skipped. :attr:`copy_failed`
        counts both."""
        import av

        index = packet.stream.index
        out = self._copied.get(index)
        if out is None:
            return
        # Times are compared in the input stream's time base: mux() rebases the packet to the
        # output stream's in place (1/48000 for sound in MP4, where Matroska said 1/1000), and
        # comparing the two had every packet after the first "out of order", moved, refused.
        last = self._copied_dts.get(index)
        if packet.dts is not None and last is not None and packet.dts < last:
            self._follow(packet, last, index)
        pts, dts, tb = packet.pts, packet.dts, packet.time_base
        packet.stream = out
        try:
            try:
                self._out.mux(packet)
            except av.FFmpegError:
                # two cues at one time (ASS lines shown together): Matroska takes them, MP4
                # wants each time later than the last
                if dts is None or last is None or dts != last:
                    raise
                packet.pts, packet.dts, packet.time_base = pts, dts, tb
                self._follow(packet, last, index)
                dts = packet.dts
                self._out.mux(packet)
        except av.FFmpegError as exc:
            note = self.copy_failed.setdefault(index, [0, 0, ""])
            note[1] += 1
            note[2] = _one_line(exc)
            return
        if dts is not None:
            self._copied_dts[index] = dts if last is None else max(last, dts)

    def _follow(self, packet, last: int, index: int) -> None:
        """Move ``packet`` (dts and pts) to one tick after ``last``, and count it."""
        shift = last + 1 - packet.dts
        packet.dts += shift
        if packet.pts is not None:
            packet.pts += shift
        self.copy_failed.setdefault(index, [0, 0, ""])[0] += 1

    def _codec_options(self) -> dict[str, str]:
        if self.codec == "vp9":
            return {"crf": str(self.crf), "b": "0", "row-mt": "1", "deadline": "good",
                    "cpu-used": str(_VP9_SPEED[self.preset])}
        opts = {"crf": str(self.crf), "preset": self.preset}
        if self.codec == "h265":
            opts["x265-params"] = "log-level=error"
        return opts

    @property
    def has_audio(self) -> bool:
        return self._as is not None

    def write_video(self, frame) -> None:
        """Encode one frame (its ``pts``/``time_base`` are kept; non-increasing pts are
        nudged forward)."""
        import av

        tb = self._vs.codec_context.time_base
        if self._resize:
            pts0, tb0 = frame.pts, frame.time_base
            frame = frame.reformat(width=self.size[0], height=self.size[1])
            frame.pts, frame.time_base = pts0, tb0
        if frame.pts is not None and frame.time_base is not None:
            pts = round(frame.pts * frame.time_base / tb)
        else:
            pts = round(self.frames / (self._vs.codec_context.framerate or 25) / tb)
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1
        self._last_pts = pts
        frame.pts, frame.time_base = pts, tb
        frame.pict_type = av.video.frame.PictureType.NONE
        try:
            for packet in self._vs.encode(frame):
                self._out.mux(packet)
        except av.FFmpegError as exc:
            raise VideoError(f"video encode failed: {_one_line(exc)}") from None
        self.frames += 1

    def write_audio(self, block: np.ndarray, t0: float | None = None) -> None:
        """Encode float32 ``(n, channels)`` samples; ``t0`` (s) of the first block sets the
        audio start, later blocks follow contiguously."""
        import av

        if self._as is None or not len(block):
            return
        a = np.clip(np.nan_to_num(np.asarray(block, np.float32)), -1.0, 1.0)
        if self._a_start is None:
            self._a_start = float(t0 or 0.0)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(a).reshape(1, -1), format="flt",
                                           layout=self._layout)
        frame.sample_rate = self._audio_in_rate
        frame.time_base = Fraction(1, self._audio_in_rate)
        frame.pts = round(self._a_start * self._audio_in_rate) + self._a_samples
        self._a_samples += len(a)
        self._encode_audio(self._resampler.resample(frame))

    def _encode_audio(self, frames) -> None:
        import av

        try:
            for fr in frames:
                for packet in self._as.encode(fr):
                    self._out.mux(packet)
        except av.FFmpegError as exc:
            raise VideoError(f"audio encode failed: {_one_line(exc)}") from None

    def close(self) -> None:
        import av

        if self._closed:
            return
        self._closed = True
        try:
            for packet in self._vs.encode():
                self._out.mux(packet)
            if self._as is not None:
                self._encode_audio(self._resampler.resample(None))
                self._encode_audio([None])
        except av.FFmpegError as exc:
            raise VideoError(f"encode failed: {_one_line(exc)}") from None
        finally:
            self._out.close()

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()
