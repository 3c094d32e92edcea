"""Label audio with every layer, streaming so memory stays bounded on long files.

Order (forced by the hashes, as for images): decode blocks → rhythm cue → watermark → encode
→ AIGC metadata → C2PA sign (embedded for WAV/FLAC/MP3/M4A, a ``.c2pa`` sidecar for Ogg/Opus,
which c2pa cannot embed into) → atomic rename.
"""
from __future__ import annotations

import math
import itertools
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import watermark
from .core import audio_cue
from .formats import audio_io, audio_meta, audio_tags, chapters
from .formats.sniff import M4A_SUFFIXES
from .fsutil import SIDECAR_FORMATS, publish_media, temp_path, with_extension
from .labeling import (LabelingError, checked_spec, claim_output, kept_label_warning,
                       unlabeled_republish_warning)
from .models import ContentID, LabelSpec, result_dict
from .provenance import c2pa_io
from .provenance.credentials import Credentials, resolved as resolved_credentials

MIME = {"wav": "audio/wav", "flac": "audio/flac", "mp3": "audio/mpeg", "m4a": "audio/mp4",
        "ogg": "audio/ogg", "opus": "audio/ogg"}
EXTENSION = {"wav": ".wav", "flac": ".flac", "mp3": ".mp3", "m4a": ".m4a", "ogg": ".ogg",
             "opus": ".opus"}
BLOCK = 1 << 16  # frames per streamed block


@dataclass
class LabeledAudio:
    # the file written, and its C2PA sidecar (Ogg, Opus); both None from label_audio, whose
    # file lived in a temporary folder (its bytes are returned instead)
    output: Path | None
    format: str                         # writer format: wav, flac, mp3, ogg, opus, m4a
    content_id: ContentID
    sidecar: Path | None = None
    layers: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # where each inserted cue block starts in the output (s); the block opens with a fade-in
    # lead, so verify's cue detector reports the first tone a little later
    cue_times: list[float] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def mime(self) -> str:
        """The media type of the file written (as :class:`LabeledMedia` has for images)."""
        return MIME[self.format]

    @property
    def extension(self) -> str:
        return EXTENSION[self.format]

    def to_dict(self) -> dict:
        """What was done, as plain JSON types (for a log line): content ID as hex, paths as
        strings."""
        return result_dict(self, mime=self.mime, extension=self.extension)


def cue_params(spec: LabelSpec) -> audio_cue.CueParams:
    return audio_cue.CueParams(tone_hz=spec.cue_tone_hz, unit_ms=spec.cue_unit_ms,
                               level_dbfs=spec.cue_level_dbfs)


def _cue_block(spec: LabelSpec, sample_rate: int, channels: int, clip: np.ndarray | None) -> np.ndarray:
    """The frames inserted at one place: the cue (or spoken clip) with its surrounding gaps."""
    empty = np.zeros((0, channels), np.float32)
    block, _ = audio_cue.insert_cue(empty, sample_rate, "start", cue_params(spec), clip=clip)
    return block.astype(np.float32, copy=False)


#: A spoken-label clip shorter than this, or whose peak is under SPOKEN_MIN_PEAK_DBFS, is
#: refused: a silent or 50 ms clip was inserted and the file reported as carrying the label.
SPOKEN_MIN_SECONDS = 0.5
SPOKEN_MIN_PEAK_DBFS = -40.0


def spoken_clip_problem(clip: np.ndarray, rate: int) -> str | None:
    """Why ``clip`` (float, (frames, channels)) cannot serve as a spoken label, or None."""
    seconds = len(clip) / rate
    if seconds < SPOKEN_MIN_SECONDS:
        return f"too short to be heard as a label ({seconds:.2f} s; at least {SPOKEN_MIN_SECONDS} s)"
    peak = float(np.abs(clip).max()) if clip.size else 0.0
    if peak < 10 ** (SPOKEN_MIN_PEAK_DBFS / 20):
        level = f"{20 * math.log10(peak):.0f} dBFS" if peak > 0 else "digital silence"
        return f"silent or nearly ({level}; its peak must reach {SPOKEN_MIN_PEAK_DBFS:.0f} dBFS)"
    return None


def read_spoken_clip(path) -> tuple[np.ndarray, int]:
    """A spoken-label clip's samples and rate; LabelingError when it cannot be read or used."""
    try:
        clip, rate = audio_io.read(path)
    except (audio_io.AudioError, OSError) as exc:
        raise LabelingError(f"spoken label clip {path}: {exc}") from None
    if why := spoken_clip_problem(clip, rate):
        raise LabelingError(f"spoken label clip {path}: {why}")
    return clip, rate


def _load_clip(spec: LabelSpec, sample_rate: int, channels: int) -> np.ndarray | None:
    if not spec.spoken_label:
        return None
    clip, rate = read_spoken_clip(spec.spoken_label)
    channels_in = clip.shape[1]
    if rate != sample_rate:
        from scipy.signal import resample_poly

        g = np.gcd(rate, sample_rate)
        clip = resample_poly(clip, sample_rate // g, rate // g, axis=0).astype(np.float32)
    if channels_in != channels:
        mono = clip.mean(axis=1, keepdims=True)
        clip = np.repeat(mono, channels, axis=1)
    return clip


#: A tone cue is not inserted where the content has one already: relabeling a labeled file
#: would stack a second cue on the first. "Already" means a cue found in the opening (closing)
#: CUE_CHECK_SECONDS of the content that starts (ends) within CUE_NEAR_SECONDS of its edge;
#: the defaults' cue block is 1.82 s, its cue 0.25 s from the edge.
CUE_CHECK_SECONDS = 6.0
CUE_NEAR_SECONDS = 2.0
#: Sound labeled before with the labeling key (a file labeled again by the same service) is
#: read in its opening MARK_CHECK_SECONDS (presence reads from 5 s excerpts). A second mark
#: with another payload would lie in step over the old one, and the detector then reads either
#: (or neither, after a few relabels). So the label keeps the content ID the old mark carries:
#: the old mark is removed (AudioEmbedder(remove=True)) and the same payload laid afresh when
#: it starts at the first sample, as labeling wrote it, and the opening read again without it
#: finds nothing (p above REMOVED_P); else the old mark is kept as it is. A mark that is found
#: but whose payload does not read cannot be kept: a new one is laid, and a start cue inserted
#: even beside one that is there, which moves the old mark out of step with the new one.
MARK_CHECK_SECONDS = 12.0
REMOVED_P = 1e-3
_CUE_UNITS = sum(n for _, n in audio_cue.MORSE_AI)     # a cue's length in Morse units


def cue_already(x: np.ndarray, sample_rate: int, at: str) -> float | None:
    """Start time (s, within ``x``) of a rhythm cue at the ``at`` ("start" / "end") edge of
    ``x`` (float32 ``(frames, channels)``, the content's opening or closing seconds), or None.
    Any tone and unit the detector accepts count: one cue is the label, whatever it sounds like."""
    if not len(x):
        return None
    try:
        det = audio_cue.detect_cue(x, sample_rate, None, search="ends", max_seconds=CUE_CHECK_SECONDS)
    except ValueError:        # a rate the detector does not take: nothing found
        return None
    span = len(x) / sample_rate
    for r in det.details["cues"]:
        end = r["time"] + _CUE_UNITS * r["unit_ms"] / 1000
        if (at == "start" and r["time"] <= CUE_NEAR_SECONDS
                or at == "end" and end >= span - CUE_NEAR_SECONDS):
            return float(r["time"])
    return None


def _unmarked(blocks: Iterator[np.ndarray], sample_rate: int, channels: int, payload: int,
              key: bytes, clip: bool = True) -> Iterator[np.ndarray]:
    """``blocks`` with the mark of ``payload`` and ``key`` that starts at their first sample
    removed (see MARK_CHECK_SECONDS). ``clip``: as in :class:`AudioEmbedder`."""
    rem = watermark.AudioEmbedder(sample_rate, channels, payload, key, remove=True, clip=clip)
    for b in blocks:
        out = rem.process(b)
        if len(out):
            yield out
    tail = rem.flush()
    if len(tail):
        yield tail


@dataclass(frozen=True)
class _OldMark:
    found: bool                 # a mark made with the labeling key is there
    payload: int | None = None  # its payload, when it reads
    removable: bool = False     # it starts at the first sample and comes out (REMOVED_P)


def _old_mark(head: np.ndarray, sample_rate: int, key: bytes, removal: bool = True) -> _OldMark:
    """What mark made with ``key`` ``head`` (float32 ``(frames, channels)``, the content's
    opening seconds) carries; see MARK_CHECK_SECONDS. ``removal``: also test whether it comes
    out (a second detection), which only matters where a new mark replaces it."""
    try:
        det = watermark.detect_audio(head, sample_rate, key)
    except ValueError:        # a rate or length the detector does not take
        return _OldMark(False)
    if not det.detected or det.payload is None:
        return _OldMark(det.detected)
    if not removal or abs((det.speed or 1.0) - 1.0) > 0.002 or abs(det.offset_seconds or 0.0) > 0.02:
        return _OldMark(True, det.payload)  # another speed or an offset: not where labeling put it
    cleaned = np.concatenate(list(_unmarked(iter([head]), sample_rate, head.shape[1], det.payload,
                                            key)))
    gone = watermark.detect_audio(cleaned, sample_rate, key).p_value > REMOVED_P
    return _OldMark(True, det.payload, gone)


def _source_label(path: Path):
    """The AIGC label findings of the file ``path``, or None when its metadata cannot be read
    ("no label" here: labeling itself says what is wrong with the file)."""
    try:
        return audio_meta.read_audio_metadata_file(path)
    except Exception:  # noqa: BLE001
        return None


def _peek(blocks: Iterator[np.ndarray], frames: int) -> tuple[np.ndarray, Iterator[np.ndarray]]:
    """The first ``frames`` (or fewer) of ``blocks`` as one array, and the unchanged stream."""
    head: list[np.ndarray] = []
    n = 0
    for b in blocks:
        head.append(b)
        n += len(b)
        if n >= frames:
            break
    if not head:
        return np.zeros((0, 1), np.float32), iter(())
    return np.concatenate(head)[:frames].astype(np.float32, copy=False), itertools.chain(head, blocks)


def _marked_stream(source: Iterator[np.ndarray], spec: LabelSpec, sample_rate: int, channels: int,
                   key: bytes, content_id: ContentID, cue: np.ndarray | None,
                   cue_times: list[float], kept_cues: dict[str, float] | None = None,
                   mark: bool = True, clip: bool = True,
                   clipped: list[int] | None = None) -> Iterator[np.ndarray]:
    """Yield the labeled signal block by block: ``cue`` (:func:`_cue_block`, None for no
    explicit label) around the content, all of it marked. ``kept_cues``: the cues the content
    has already (:func:`cue_already`), by edge; none is inserted at ``"start"`` when it is
    there, and when ``kept_cues`` is given the closing seconds are checked the same way before
    a cue is appended: a cue found there is kept instead, ``kept_cues["end"]`` its start in the
    output (s).
    ``mark=False``: the content carries this key's mark with ``content_id`` already, kept.
    ``clip=False``: the output holds floats, so the marked sound may pass full scale.
    ``clipped``: a list the count of samples the mark took past full scale (clipped) is
    appended to at the end."""
    emb = watermark.AudioEmbedder(sample_rate, channels, content_id.value, key, clip=clip) \
        if spec.watermark and mark else None
    offset = 0

    def mark(block: np.ndarray) -> np.ndarray:
        return emb.process(block) if emb is not None else block

    def parts() -> Iterator[np.ndarray]:
        nonlocal offset
        if cue is not None and spec.cue_where in ("start", "both") and "start" not in (kept_cues or {}):
            cue_times.append(0.0)
            offset += len(cue)
            yield cue
        end_cue = cue is not None and spec.cue_where in ("end", "both")
        need = int(CUE_CHECK_SECONDS * sample_rate) if end_cue and kept_cues is not None else 0
        tail: list[np.ndarray] = []      # the content's closing `need` frames (or more)
        held = 0
        for b in source:
            b = b.astype(np.float32, copy=False)
            offset += len(b)
            if need:
                tail.append(b)
                held += len(b)
                while held - len(tail[0]) >= need:
                    held -= len(tail.pop(0))
            yield b
        if end_cue:
            t = None
            if need and tail:
                closing = np.concatenate(tail)[-need:]
                t = cue_already(closing, sample_rate, "end")
                if t is not None:
                    kept_cues["end"] = (offset - len(closing)) / sample_rate + t
            if t is None:
                cue_times.append(offset / sample_rate)
                yield cue

    for part in parts():
        out = mark(part)
        if len(out):
            yield out
    if emb is not None:
        tail = emb.flush()
        if len(tail):
            yield tail
        if clipped is not None:
            clipped.append(emb.clipped)


#: The read-back check reads what verify reads: the opening minute.
READBACK_SECONDS = 60.0
#: How warnings name the lossy codecs a read-back decodes.
LOSSY_NAMES = {"mp3": "MP3", "ogg": "Ogg Vorbis", "opus": "Opus", "m4a": "AAC"}


def check_file_rate(sample_rate: int) -> None:
    """Raise :class:`LabelingError`, saying what to do, for a file whose rate synthlabel does
    not label (the engines' own ValueError reads "sample_rate must be in [8000, 384000]")."""
    from .core import wm_audio_params as P

    if not P.MIN_SAMPLE_RATE <= sample_rate <= P.MAX_SAMPLE_RATE:
        raise LabelingError(f"{sample_rate} Hz audio is not labeled: synthlabel takes "
                            f"{P.MIN_SAMPLE_RATE} to {P.MAX_SAMPLE_RATE} Hz (resample it first, "
                            "e.g. ffmpeg -i in.wav -ar 16000 out.wav)")


def label_audio_file(src: str | os.PathLike, dst: str | os.PathLike, *, spec: LabelSpec | None = None,
                     credentials: Credentials | None = None, overwrite: bool = False,
                     in_place: bool = False) -> LabeledAudio:
    """Label the audio file ``src`` into ``dst`` keeping its format, codec, sample rate,
    channels and (WAV/FLAC) bit depth; ``dst``'s suffix is fixed to match the format written.
    Nothing appears at ``dst`` unless every layer succeeded."""
    src = Path(src)
    try:
        info = audio_io.probe(src)
    except audio_io.AudioError as exc:
        raise LabelingError(str(exc)) from None
    check_file_rate(info.sample_rate)
    dropped = audio_io.dropped_streams(src, info)
    if in_place and dropped:
        # only the first stream is written: replacing the input would lose the others
        raise LabelingError(f"labeling in place would lose streams for good ({dropped}): "
                            "label into another folder (-o) instead")

    def open_writer(path: Path, bitrate: dict, lead: int, tail: int) -> audio_io.Writer:
        # An M4A's chapters are written by the muxer (a chapter track), moved past the ``lead``
        # frames inserted before the content, the last stretched over the ``tail`` frames
        # appended after it; other formats' chapters are tags (copy_tags).
        kw = dict(bitrate)
        if info.chapters and audio_io.output_format(info) == "m4a":
            kw["chapters"] = chapters.shifted(info.chapters, lead / info.sample_rate,
                                              tail / info.sample_rate)
        return audio_io.writer_for(path, info, **kw)

    decoded = [0]

    def counted(blocks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        for b in blocks:
            decoded[0] += len(b)
            yield b
        if not decoded[0]:      # a cue alone is not a labeled file (nothing is written)
            raise LabelingError("no samples to label: the file holds no audio")

    res = _label_stream(counted(audio_io.blocks(src, BLOCK)), info.sample_rate, info.channels,
                        audio_io.output_format(info), open_writer, Path(dst), spec=spec,
                        credentials=credentials, overwrite=overwrite, source=src,
                        in_place=in_place)
    notes = []
    if info.frames and decoded[0] < info.frames - max(0.02 * info.frames, info.sample_rate):
        # Its header declares more than decodes: a truncated file (WAV and FLAC are refused
        # up front; MP3 and the like decode up to the cut).
        notes.append(f"the audio ends early: {decoded[0] / info.sample_rate:.1f} s decoded of the "
                     f"{info.frames / info.sample_rate:.1f} s its header declares (truncated?)")
    elif info.format == "ogg" and audio_io.ogg_cut_short(src):
        notes.append("the Ogg stream ends without its end-of-stream page (cut short?): labeled "
                     f"the {decoded[0] / info.sample_rate:.1f} s that decode")
    if audio_io.output_format(info) == "m4a" and (was := audio_io.codec_name(info.codec)) not in ("aac", "alac"):
        # The M4A writer encodes AAC or ALAC only: another codec in an MP4 (FLAC, Opus, MP3)
        # changed without a word, a lossless one into lossy sound
        notes.append(f"the {was.upper()} audio in this {info.format.upper()} is written as AAC"
                     + (" (lossy: convert it to ALAC first, e.g. ffmpeg -i in.mp4 -c:a alac "
                        "out.m4a, to keep it lossless)" if audio_io.is_lossless(info.codec) else
                        " (labeled MP4 and M4A audio is AAC or ALAC)"))
    if coarse := audio_io.pcm16_instead_of(info):
        notes.append(f"{coarse} {info.format.upper()} written as 16-bit PCM (re-encoding "
                     f"to {coarse} would remove the watermark)")
    if dropped:
        notes.append(dropped)
    res.warnings[:0] = notes
    return res


def label_audio(samples: np.ndarray, sample_rate: int, *, format: str = "wav",
                spec: LabelSpec | None = None, credentials: Credentials | None = None,
                subtype: str | None = None) -> tuple[bytes, bytes | None, LabeledAudio]:
    """Label audio held in memory: ``samples`` float (frames, channels) or (frames,) in
    [-1, 1], or integer PCM (int16, int32 full scale; uint8 offset by 128), scaled to
    [-1, 1]. ``subtype``: a WAV's or FLAC's sample format; by default PCM_16, or PCM_24 for
    int32 samples. Returns the encoded file's bytes, the C2PA sidecar bytes for Ogg/Opus (else
    None) and what was done (``output``/``sidecar`` name the temporary files, gone on
    return). Raises :class:`LabelingError` for input it cannot label."""
    for name, value in (("format", format), ("subtype", subtype)):
        if (value is not None or name == "format") and not isinstance(value, str):
            # subtype=24 was an AttributeError ('upper'), format=["wav"] "unhashable type"
            raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    if isinstance(sample_rate, (bool, np.bool_)) or not isinstance(sample_rate, (int, np.integer)):
        # (44100.0 or "44100" was a LabelingError: a wrong type is a TypeError, as documented)
        raise TypeError(f"sample_rate must be an int, got {type(sample_rate).__name__}")
    sample_rate = int(sample_rate)
    format = format.lower().lstrip(".")      # "MP3" and ".flac" too, as label_image takes "JPG"
    x = _float_samples(samples)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or not 1 <= x.shape[1] <= 8:
        raise LabelingError(f"expected samples shaped (frames, channels) with 1-8 channels, got "
                            f"{x.shape}" + (" (transposed?)" if x.ndim == 2 and x.shape[0] <= 8 else ""))
    if not len(x):
        raise LabelingError("no samples to label")
    if not np.isfinite(x).all():
        raise LabelingError("samples contain NaN or infinity")
    peak = float(np.abs(x).max())
    float_out = format == "wav" and (subtype or "").upper() in audio_io.FLOAT_SUBTYPES
    clipped = _clipping_warning(x, peak, kept=float_out)
    narrow = _narrow_pcm_warning(samples, peak)
    if format not in EXTENSION:
        raise LabelingError(f"cannot write {format!r}; choose one of {', '.join(EXTENSION)}")
    if subtype and subtype.upper() in audio_io.MARK_LOSSY_SUBTYPES:
        # (a file of such a subtype is written as 16-bit PCM by label_file, with a warning)
        raise LabelingError(f"subtype {subtype} would remove the watermark (8-bit or "
                            f"companded/ADPCM samples are coarser than the mark); use PCM_16, "
                            f"PCM_24 or FLOAT")

    if subtype is None and format in ("wav", "flac") and np.asarray(samples).dtype.kind in "iu" \
            and np.asarray(samples).dtype.itemsize >= 4:
        # int32 PCM holds 24-bit (or 32-bit) sound: written as 16-bit it lost its low bits
        subtype = "PCM_24"

    def open_writer(path: Path, bitrate: dict, lead: int, tail: int) -> audio_io.Writer:
        return audio_io.Writer(path, format, sample_rate, x.shape[1], subtype=subtype, **bitrate)

    blocks = (x[i:i + BLOCK] for i in range(0, len(x), BLOCK))
    with tempfile.TemporaryDirectory(prefix="synthlabel-") as d:
        try:
            res = _label_stream(blocks, sample_rate, x.shape[1], format, open_writer,
                                Path(d) / f"audio{EXTENSION[format]}", spec=spec,
                                credentials=credentials, durable=False)
        except ValueError as exc:     # the engine's checks (rate, cue), as one exception type
            if isinstance(exc, LabelingError):
                raise
            raise LabelingError(" ".join(str(exc).split())) from None
        data = res.output.read_bytes()
        side = res.sidecar.read_bytes() if res.sidecar else None
    res.output = res.sidecar = None           # gone with the temporary folder
    for note in (clipped, narrow):
        if note:
            res.warnings.insert(0, note)
    return data, side, res


def _narrow_pcm_warning(samples, peak_fs: float) -> str | None:
    """int32 PCM is scaled from 32-bit full scale, so 24-bit values in it (a common way to hold
    24-bit PCM) are labeled 48 dB down. A peak under 2**23 says so, unless the sound is quiet
    (a 32-bit recording this quiet exists, so it is a warning, not an error). ``peak_fs``:
    the scaled samples' peak (|x| max, full scale 1), from which the integer peak follows."""
    if np.asarray(samples).dtype != np.int32:
        return None
    peak = round(peak_fs * 2 ** 31)
    if not 32768 < peak < 1 << 23:
        return None
    return (f"the int32 samples peak at {peak} (24-bit range, {20 * math.log10(peak / 2 ** 31):.0f} "
            f"dBFS as 32-bit PCM); if they hold 24-bit PCM, shift them left by 8 bits "
            f"(samples << 8) or pass floats")


def _clipping_warning(x: np.ndarray, peak: float, kept: bool = False) -> str | None:
    """Float samples beyond [-1, 1] are clipped when written: say how many, and when the peak
    (``peak``: |x| max) looks like integer PCM held in a float array, what to do about it.
    ``kept``: the output is a float WAV, which holds them as they are (said only for such a
    peak)."""
    if peak <= 1.0 or kept and peak <= 16:
        return None
    frac = float(np.count_nonzero(np.abs(x) > 1.0)) / x.size
    hint = (" (integer PCM in a float array? divide int16 values by 32768)" if peak > 16 else "")
    done = "written as they are to the float WAV" if kept else "were clipped"
    return f"{frac:.2%} of the samples are beyond full scale (peak {peak:.3g}) and {done}{hint}"


#: The share of samples the mark may take past full scale before labeling says so. A few
#: clipped samples a minute are inaudible; a loud master at 0 dBFS loses ~0.1-0.4 % of its
#: samples' mark peaks (noise at peak 0.999: 0.35 %), which it is told, with the way out.
MARK_CLIP_WARN_FRACTION = 1e-4


def mark_clipping_warning(clipped: int, total: int) -> str | None:
    """Say when the mark took at least ``MARK_CLIP_WARN_FRACTION`` of the ``total`` samples
    (all channels) past full scale, where they were clipped (``clipped`` of them)."""
    if total <= 0 or clipped < MARK_CLIP_WARN_FRACTION * total:
        return None
    return (f"the watermark took {clipped} samples ({clipped / total:.2%}) past full scale, "
            f"where they were clipped: the sound peaks at full scale; lower its level by 1 dB "
            f"(or write a float WAV) to leave the mark room")


def _float_samples(samples) -> np.ndarray:
    """float32 samples in [-1, 1]: floats as they are, integer PCM scaled from full scale."""
    if samples is None or isinstance(samples, (bytes, bytearray, memoryview, str)):
        # encoded bytes became a 0-d array, refused as "got shape ()"
        raise TypeError(f"samples must be a numpy array, got {type(samples).__name__}"
                        + ("" if samples is None else " (an encoded file or a path: use label_file)"))
    a = np.asarray(samples)
    if a.dtype.kind == "f":
        return a.astype(np.float32, copy=False)
    if a.dtype == np.uint8:                    # 8-bit PCM is unsigned, centred on 128
        return (a.astype(np.float32) - 128.0) / 128.0
    if a.dtype == np.int64:
        # numpy's default integer (np.array of a list of ints): its full scale is 2**63, so
        # int16 or int32 PCM in it would be labeled as silence
        raise LabelingError("int64 samples have no PCM full scale: pass int16 or int32 PCM "
                            "(e.g. samples.astype(np.int16)) or floats in [-1, 1]")
    if a.dtype == np.int32 and a.size and 0 < int(np.abs(a).max()) <= 32768:
        # 16-bit values in a 32-bit array would be labeled 96 dB down, as near silence
        raise LabelingError("int32 samples whose values all fit in 16 bits hold 16-bit PCM: "
                            "pass them as int16 (samples.astype(np.int16))")
    if a.dtype.kind == "i":
        return (a.astype(np.float64) / float(1 << (8 * a.dtype.itemsize - 1))).astype(np.float32)
    raise LabelingError(f"samples must be float or integer PCM, got dtype {a.dtype}")


def _label_stream(blocks: Iterator[np.ndarray], sample_rate: int, channels: int, fmt: str,
                  open_writer, dst: Path, *, spec: LabelSpec | None, credentials: Credentials | None,
                  overwrite: bool = False, source: Path | None = None,
                  in_place: bool = False, durable: bool = True) -> LabeledAudio:
    spec = checked_spec(spec)
    creds = resolved_credentials(credentials, signing=True)
    allowed = {".ogg", ".oga", ".opus"} if fmt in ("ogg", "opus") else (
        set(M4A_SUFFIXES) if fmt == "m4a" else {EXTENSION[fmt]})
    if dst.suffix.lower() not in allowed:
        dst = with_extension(dst, EXTENSION[fmt])
    # C2PA convention: the sidecar shares the asset's base name, with the .c2pa extension.
    sidecar = dst.with_suffix(".c2pa") if fmt in SIDECAR_FORMATS and spec.c2pa else None
    in_place = claim_output(dst, source, sidecar, overwrite=overwrite, in_place=in_place)
    dst.parent.mkdir(parents=True, exist_ok=True)
    content_id = ContentID.new()
    res = LabeledAudio(output=dst, format=fmt, content_id=content_id, sidecar=sidecar)
    clip = _load_clip(spec, sample_rate, channels) if spec.explicit else None
    cue = _cue_block(spec, sample_rate, channels, clip) if spec.explicit else None
    bitrate = {"bitrate": spec.audio_bitrate} if spec.audio_bitrate and fmt in audio_io.DEFAULT_BITRATES else {}
    # A tone cue where the content has one already (a labeled file labeled again) is not
    # inserted a second time (but see MARK_CHECK_SECONDS); a spoken label is what the user
    # asked for, and is. An old mark made with this key is removed before the new one is laid.
    kept_cues: dict[str, float] | None = {} if cue is not None and clip is None else None
    # the source's AIGC label, read once: a sign of an old mark, the propagator's producer,
    # and the label kept as it is with metadata off
    label = _source_label(source) if source is not None else None
    t = None
    old = _OldMark(False)
    if kept_cues is not None and spec.cue_where in ("start", "both"):
        head, blocks = _peek(blocks, int(CUE_CHECK_SECONDS * sample_rate))
        t = cue_already(head, sample_rate, "start")
    # Looked for only where a label was: a cue, or the file's AIGC metadata (the detection
    # costs ~1 % of real time, too much for every fresh file in a generation service). Also
    # when no new mark is laid but a new ProduceID would be written (--no-watermark): the old
    # mark stays, and a new ID beside it made verify fail ("content ID DISAGREES").
    if spec.keeps_marked_id() and (t is not None or label is not None and label.aigc_count):
        head, blocks = _peek(blocks, int(MARK_CHECK_SECONDS * sample_rate))
        old = _old_mark(head, sample_rate, creds.watermark_key, removal=spec.watermark)
    if old.payload is not None:
        content_id = res.content_id = ContentID(old.payload)
        res.warnings.append(f"the sound carries this key's watermark already: the label keeps "
                            f"its content ID {content_id.hex}, and the mark is "
                            + ("left as it is (no new mark is laid)" if not spec.watermark else
                               "laid afresh in place of the old one" if old.removable else
                               "kept as it is (it does not start where labeling puts it)"))
    if spec.watermark and t is not None and old.found and old.payload is None:
        res.warnings.append(f"a rhythm cue is at the start already ({t:.2f} s), in sound "
                            "watermarked with this key whose payload does not read: a second "
                            "cue is inserted before it, which keeps the new watermark out of "
                            "step with the old one")
    elif t is not None:
        kept_cues["start"] = t
    remove = old.payload if old.removable else None
    # frames inserted before the content, by which chapters and WAV cue points move
    inserted = len(cue) if cue is not None and spec.cue_where in ("start", "both") \
        and "start" not in (kept_cues or {}) else 0
    # ... and after it, to which the last chapter is stretched (or the cue would lie in none)
    appended = len(cue) if cue is not None and spec.cue_where in ("end", "both") \
        and "end" not in (kept_cues or {}) else 0

    with temp_path(dst.parent, dst.name, ".part" + EXTENSION[fmt]) as encoded, \
            temp_path(dst.parent, dst.name, ".meta" + EXTENSION[fmt]) as tagged:
        t0 = time.perf_counter()
        clipped: list[int] = []
        try:
            with open_writer(encoded, bitrate, inserted, appended) as writer:
                if remove is not None:
                    blocks = _unmarked(blocks, sample_rate, channels, remove, creds.watermark_key,
                                       clip=writer.clips)
                for block in _marked_stream(blocks, spec, sample_rate, channels,
                                            creds.watermark_key, content_id, cue, res.cue_times,
                                            kept_cues=kept_cues,
                                            mark=old.payload is None or old.removable,
                                            clip=writer.clips, clipped=clipped):
                    writer.write(block)
            if note := mark_clipping_warning(sum(clipped), writer.frames_written * channels):
                res.warnings.append(note)
            if writer.sample_rate != sample_rate:
                res.warnings.append(f"{fmt} cannot carry {sample_rate} Hz; encoded at "
                                    f"{writer.sample_rate} Hz")
            if bitrate and writer.bitrate and writer.bitrate != bitrate["bitrate"]:
                res.warnings.append(f"{fmt} at {writer.sample_rate} Hz, {channels} channel(s) "
                                    f"cannot be encoded at {bitrate['bitrate'] // 1000} kb/s; "
                                    f"encoded at {writer.bitrate // 1000} kb/s")
        except audio_io.AudioError as exc:
            raise LabelingError(str(exc)) from None
        res.timings["encode+mark"] = time.perf_counter() - t0
        for edge, at in (kept_cues or {}).items():
            res.warnings.append(f"a rhythm cue is at the {edge} already ({at:.2f} s): kept, and "
                                "no second one inserted")
        unmarked = False        # the read-back found no trace of the mark
        cue_silent = False      # the inserted cue does not read back
        if spec.watermark and spec.watermark_readback:
            t0 = time.perf_counter()
            # What verify will read: the file's opening READBACK_SECONDS, decoded. A lossy
            # codec (MP3, Vorbis, Opus, AAC) is what the mark must outlive on a short clip; in
            # mostly silent sound, 16-bit rounding alone decides (the signal in memory read
            # back where verify then found the mark weak, and the other way round).
            lossy = writer.format in audio_io.DEFAULT_BITRATES and not writer.subtype
            codec = LOSSY_NAMES[writer.format] if lossy else None
            marked, rate = audio_io.read(encoded, frames=int(READBACK_SECONDS * writer.sample_rate))
            try:
                rb = watermark.audio_readback(marked, rate, content_id.value,
                                              creds.watermark_key, codec=codec)
            except ValueError:          # a rate the detector does not take: nothing to check
                rb = watermark.ReadBack(None, True)
            # Not a trace of it: neither the result nor the C2PA manifest claims a mark (as for
            # images and video; verify called a fresh output's mark edited).
            unmarked = not rb.found
            if rb.warning:
                res.warnings.append(f"watermark: {rb.said}")
            res.timings["readback"] = time.perf_counter() - t0
        if inserted and clip is None and writer.format in audio_io.DEFAULT_BITRATES \
                and not writer.subtype:
            # A lossy codec at a low bitrate can smear the cue's rhythm (MP3 at 32 kb/s split
            # a dot in two) so that verify finds no cue in a file labeled with one: read it back
            t0 = time.perf_counter()
            head, rate = audio_io.read(encoded, frames=int((inserted / sample_rate + 0.5)
                                                           * writer.sample_rate))
            if cue_already(head, rate, "start") is None:
                # The cue is in the sound but verify will not find it: not reported as a
                # layer the file carries (as for a mark that does not read back), and the
                # remedies offered are only those that can work here. A bitrate at the most
                # the rate allows cannot be raised (MP3 at 8 kHz: 64 kb/s at most).
                cue_silent = True
                kbps = f" at {writer.bitrate // 1000} kb/s" if writer.bitrate else ""
                try:
                    top = audio_io.bitrate_range(writer.format, writer.sample_rate, channels)[1]
                except ValueError:              # Vorbis: nominal bitrates, not clamped
                    top = None
                at_top = bool(writer.bitrate and top and writer.bitrate >= top)
                # the default cue read back where a 3.5 kHz tone or 300 ms units did not
                # (MP3 at 8 kHz, MP3 at 8 kb/s)
                own = [f"--cue-{n} {v:g}" for n, v, d in (
                    ("tone", spec.cue_tone_hz, LabelSpec.cue_tone_hz),
                    ("unit", spec.cue_unit_ms, LabelSpec.cue_unit_ms)) if v != d]
                fixes = ([] if at_top else ["raise --bitrate"]) + (
                    [f"use the default cue (not {' '.join(own)})"] if own else []) + [
                    "or label to a lossless format (WAV, FLAC)"]
                res.warnings.append(f"explicit: the rhythm cue does not read back from the "
                                    f"{LOSSY_NAMES[writer.format]}{kbps} (the codec smears its "
                                    f"rhythm; verify will not find it): {', '.join(fixes)}")
            res.timings["readback_cue"] = time.perf_counter() - t0
        if source is not None:
            warning = audio_tags.copy_tags(source, encoded, "wav" if fmt == "wav" else fmt,
                                           shift_frames=inserted, sample_rate=sample_rate,
                                           tail_frames=appended)
            if warning:
                res.warnings.append(warning)
        res.layers += [name for name, on in (("explicit", spec.explicit and not cue_silent),
                                             ("watermark", spec.watermark and not unmarked)) if on]
        current = encoded
        prior = label.aigc if label is not None else None
        aigc = spec.aigc_for(content_id, prior)
        if note := unlabeled_republish_warning(spec, prior):
            res.warnings.append(note)
        if spec.metadata:
            t0 = time.perf_counter()
            audio_meta.write_audio_metadata_file(encoded, tagged, aigc, spec.digital_source_type)
            current = tagged
            res.timings["metadata"] = time.perf_counter() - t0
            res.layers.append("metadata")
        elif (kept := spec.kept_label(prior)) is not None:
            # the tags were copied without it (copy_tags drops AIGC labels): written back
            audio_meta.write_audio_metadata_file(encoded, tagged, kept, label.digital_source_type)
            current = tagged
            res.warnings.append(kept_label_warning(kept))
        manifest_bytes = None
        if spec.c2pa:
            t0 = time.perf_counter()
            manifest = c2pa_io.build_manifest(
                aigc=aigc, content_id=content_id if "watermark" in res.layers else None,
                watermark_alg=watermark.AUDIO_ALG if "watermark" in res.layers else None,
                title=dst.name, digital_source_type=spec.digital_source_type,
                replaced=c2pa_io.replaced_label(prior, aigc, spec.metadata),
                # (where the words start: each inserted block opens with the cue's lead silence)
                spoken_label={"at": [t + cue_params(spec).lead_ms / 1000 for t in res.cue_times],
                              "seconds": len(clip) / sample_rate}
                if clip is not None and res.cue_times else None)
            # The source's own manifest (a labeled or signed input), embedded or in its
            # sidecar, becomes the parent ingredient.
            parent = (c2pa_io.parent_of(source, MIME[fmt], source.name, sidecar=sidecar is not None)
                      if source else None)
            if sidecar is not None:
                manifest_bytes = c2pa_io.sign_sidecar_file(current, MIME[fmt], manifest, creds,
                                                           parent=parent)
            else:
                c2pa_io.sign_file(current, current, MIME[fmt], manifest, creds, parent=parent)
            if warning := c2pa_io.parent_warning(parent):
                res.warnings.append(warning)
            res.timings["sign"] = time.perf_counter() - t0
            res.layers.append("c2pa")
        elif source is not None:
            had = c2pa_io.parent_of(source, MIME[fmt], source.name, sidecar=fmt in SIDECAR_FORMATS)
            if note := c2pa_io.unsigned_note(had, had is not None and c2pa_io.parent_of(
                    current, MIME[fmt], dst.name) is not None):
                res.warnings.append(note)
        mode = source.stat().st_mode & 0o777 if in_place and source else None
        publish_media(current, dst, mode=mode, manifest=manifest_bytes, durable=durable,
                      sidecar_format=fmt in SIDECAR_FORMATS, replace=overwrite or in_place)
    return res
