"""Label one video file with every layer, streaming frames (bounded memory), and verify one.

Order (forced by the hashes): decode → explicit label (plate on the opening seconds) →
frame watermark (luma) / audio watermark → encode → AIGC metadata → C2PA sign → atomic rename.

* **Explicit.** The image label renderer (:func:`synthlabel.core.text_label.render_label`) is
  run ONCE per video, on a black and a white frame of the *displayed* size: the two renders give
  the plate's per-pixel blend (``out = bg * keep + add``; the plate and text are neutral grey, so
  in YCbCr that is ``Y' = keep * (Y - black) + black + add * gain``, ``C' = keep * (C - 128) +
  128``). Per frame only the plate rectangle of the Y/U/V planes is composited. When the file
  carries a rotation (display matrix), the plate is rendered upright for display and rotated
  into the coded frame. Shown for ``label_seconds`` (>= 2, default 3) or the whole video
  (``persistent``); glyphs >= 5 % of min(width, height).
* **Watermark.** :mod:`synthlabel.core.wm_video`: the image mark, derived once per video
  through the public API, added to each frame's luma with a per-frame perceptual mask (in the
  displayed orientation, so a player/ffmpeg auto-rotation keeps it readable). The soundtrack
  gets the audio watermark (:class:`synthlabel.watermark.AudioEmbedder`), same key and content
  ID.
* **Audio cue.** Off by default for video: the visual text is the video rule (GB 45438 §5), and
  prepending a cue would desynchronise sound and picture. ``audio_cue=True`` MIXES the Morse
  "AI" cue over the soundtrack (start, end or both per ``spec.cue_where``), ducking the content
  by 12 dB under it so the rhythm stays detectable; duration never changes.
* **Metadata.** MP4/MOV: ``moov/udta/meta`` ``mdta`` key ``AIGC`` (inner JSON) + key
  ``DigitalSourceType``, written by :mod:`synthlabel.formats.mp4meta` after encoding.
  MKV/WebM: global SimpleTags ``AIGC`` and ``DigitalSourceType`` written by the muxer; both
  read back before signing.
* **C2PA.** MP4/MOV: embedded (``bmffHash``); MKV/WebM: c2pa cannot embed, so a detached
  manifest goes to the ``.c2pa`` sidecar next to the file (as for Ogg audio).
"""
from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from . import watermark
from .batch import one_line
from .core import audio_cue, text_label, wm_audio_params, wm_video
from .formats import audio_io, mkvmeta, mp4meta, video_io
from .formats.findings import LabelFindings, collect
from .formats.xmp import MetadataError
from .fsutil import SIDECAR_FORMATS, publish_media, temp_path, with_extension
from .labeling import (LabelingError, checked_spec, claim_output, kept_label_warning, kept_mark_warning,
                       shown_label_warning, unlabeled_republish_warning)
from .labeling_audio import mark_clipping_warning
from .models import (
    DEFAULT_VIDEO_LABEL_SECONDS,
    ContentID,
    LabelSpec,
    LayerReport,
    Status,
    VerificationReport,
    label_texts,
    result_dict,
)
from .provenance import c2pa_io
from .provenance.credentials import Credentials, resolved as resolved_credentials

__all__ = [
    "MIME",
    "LabeledVideo",
    "detect_video",
    "label_video_file",
    "verify_video_file",
]

MIME = {"mp4": "video/mp4", "mov": "video/quicktime", "mkv": "video/x-matroska", "webm": "video/webm"}
EXTENSIONS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".qt": "mov", ".mkv": "mkv", ".webm": "webm"}
MIN_LABEL_SECONDS = 2.0
#: Frames between two calls of label_video_file's ``progress`` callback.
PROGRESS_EVERY = 10
#: Tags of the input container not copied to the output (ours are rewritten; muxer's own).
_DROP_TAGS = {"aigc", "digitalsourcetype", "encoder", "major_brand", "minor_version",
              "compatible_brands", "duration"}
#: Ducking of the soundtrack under a mixed cue (linear gain) and its ramp (s).
class _OpenCVThreads:
    """OpenCV's thread count is one setting for the whole process. A video labels with it at 1
    and puts it back after, but videos labeled in overlapping threads put back each other's 1
    (the library's callers then ran OpenCV on one thread for good): the first to claim saves
    the count, the last to release restores it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._saved = 0

    def claim(self) -> None:
        with self._lock:
            if self._users == 0:
                self._saved = cv2.getNumThreads()
                cv2.setNumThreads(1)
            self._users += 1

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0:
                cv2.setNumThreads(self._saved)


_opencv_threads = _OpenCVThreads()

_DUCK_GAIN = 0.25
_DUCK_RAMP = 0.05


@dataclass
class LabeledVideo:
    output: Path
    content_id: ContentID
    container: str = ""
    codec: str = ""
    layers: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    sidecar: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)
    frames: int = 0
    label_box: tuple[int, int, int, int] | None = None     # plate (x, y, w, h) in display coords
    glyph_height: int | None = None
    cue_times: list[float] = field(default_factory=list)
    watermark_profile: str | None = None                   # wm_video.STILL / MOVING name
    motion: float | None = None                   # wm_video.moving_fraction of the first frames
    profile_switches: list = field(default_factory=list)   # (seconds, profile name) after the first
    watermark_follows: bool = False               # the frame mark moved with the picture's pans

    def to_dict(self) -> dict:
        """What was done, as plain JSON types (for a log line): content ID as hex, paths as
        strings, tuples as lists."""
        return result_dict(self)


# --------------------------------------------------------------------------- planes


def _plane(frame, i: int) -> np.ndarray:
    """Writable uint8 view of plane ``i`` (H x W, strided by the line size)."""
    p = frame.planes[i]
    h, w, ls = p.height, p.width, p.line_size
    return np.frombuffer(p, np.uint8, count=ls * h).reshape(h, ls)[:, :w]


def _luma_full(y: np.ndarray, full_range: bool) -> np.ndarray:
    """A luma plane as full-range uint8 (what an RGB decode's grey would be)."""
    if full_range:
        return np.ascontiguousarray(y)
    return cv2.convertScaleAbs(y, alpha=255.0 / 219.0, beta=-16.0 * 255.0 / 219.0)


def _to_display(a: np.ndarray, rotation: int) -> np.ndarray:
    k = (rotation // 90) % 4
    return np.rot90(a, k) if k else a


def _square_width(width: int, sar: Fraction | None) -> int:
    """The coded width in square pixels: an anamorphic picture (a sample aspect ratio other
    than 1, as DVDs and broadcasts store 16:9) is shown ``sar`` times as wide as stored."""
    return width if sar is None else max(1, round(width * sar))


def kept_sar(info: video_io.VideoInfo, vcodec: str, container: str) -> Fraction | None:
    """The sample aspect ratio the output keeps: none in VP9 Matroska or WebM (VP9 has no place
    for it, and PyAV leaves the Matroska display size unset: labeling warns), where the picture
    then shows as stored, so its label is laid out on the stored pixels (laid out for the
    shape the input showed, it came out squeezed, and verify did not find it)."""
    if info.sar is not None and vcodec == "vp9" and container in ("mkv", "webm"):
        return None
    return info.sar


def shown_size(width: int, height: int, rotation: int, sar: Fraction | None) -> tuple[int, int]:
    """(width, height) of a coded ``width`` x ``height`` picture as shown: square pixels
    (``sar``), then turned by ``rotation``."""
    sw = _square_width(width, sar)
    return (height, sw) if rotation in (90, 270) else (sw, height)


def _to_sar(a: np.ndarray, width: int) -> np.ndarray:
    """``a`` (H x W', square pixels) resampled across to ``width`` (the coded samples)."""
    if a.shape[1] == width:
        return a
    shrink = width < a.shape[1]
    return cv2.resize(a, (width, a.shape[0]), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def _to_coded(a: np.ndarray, rotation: int) -> np.ndarray:
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(a, -k)) if k else a


# --------------------------------------------------------------------------- explicit plate


class _Plate:
    """The explicit label as a per-pixel blend on the Y/U/V planes of coded frames."""

    def __init__(self, spec: LabelSpec, width: int, height: int, rotation: int, full_range: bool,
                 sar: Fraction | None = None):
        # Laid out on the picture as shown (square pixels, turned), then brought to the coded
        # samples: on an anamorphic video a plate laid on the stored pixels came out stretched,
        # its glyphs sized from the stored short side (2.8 % of the shown one at SAR 2:1).
        dw, dh = shown_size(width, height, rotation, sar)
        try:
            black, box = text_label.render_label(np.zeros((dh, dw, 3), np.uint8), spec.text,
                                                 position=spec.position.value)
            white, _ = text_label.render_label(np.full((dh, dw, 3), 255, np.uint8), spec.text,
                                               position=spec.position.value)
        except ValueError as exc:
            raise LabelingError(f"explicit label: {exc}") from None
        self.box = box
        keep_d = np.ones((dh, dw), np.float32)
        add_d = np.zeros((dh, dw), np.float32)
        sl = np.s_[box.y:box.y + box.h, box.x:box.x + box.w]
        b = black[sl][..., 1].astype(np.float32)
        keep_d[sl] = (white[sl][..., 1].astype(np.float32) - b) / 255.0
        add_d[sl] = b
        keep = _to_sar(_to_coded(keep_d, rotation), width)
        add = _to_sar(_to_coded(add_d, rotation), width)
        ys, xs = np.nonzero((keep < 0.999) | (add > 0))
        # Extend to even coordinates so the chroma rectangle covers the same pixels.
        x0, y0 = (int(xs.min()) // 2) * 2, (int(ys.min()) // 2) * 2
        x1, y1 = min(width, int(xs.max()) + 2 & ~1), min(height, int(ys.max()) + 2 & ~1)
        self.rect = (x0, y0, x1, y1)
        k = keep[y0:y1, x0:x1]
        a = add[y0:y1, x0:x1]
        self.black = 0.0 if full_range else 16.0
        gain = 1.0 if full_range else 219.0 / 255.0
        # Y' = keep * Y + (black * (1 - keep) + add * gain)
        self.keep_y = k
        self.off_y = (self.black * (1.0 - k) + a * gain + 0.5).astype(np.float32)
        kc = cv2.resize(k, ((x1 - x0 + 1) // 2, (y1 - y0 + 1) // 2), interpolation=cv2.INTER_AREA)
        self.keep_c = kc
        self.off_c = (128.0 * (1.0 - kc) + 0.5).astype(np.float32)

    def apply(self, frame) -> None:
        x0, y0, x1, y1 = self.rect
        y = _plane(frame, 0)[y0:y1, x0:x1]
        r = y.astype(np.float32)
        r *= self.keep_y
        r += self.off_y
        y[...] = np.clip(r, 0, 255)
        cy0, cx0 = y0 // 2, x0 // 2
        ch, cw = self.keep_c.shape
        for i in (1, 2):
            c = _plane(frame, i)[cy0:cy0 + ch, cx0:cx0 + cw]
            kc = self.keep_c[:c.shape[0], :c.shape[1]]
            oc = self.off_c[:c.shape[0], :c.shape[1]]
            r = c.astype(np.float32)
            r *= kc
            r += oc
            c[...] = np.clip(r, 0, 255)


# --------------------------------------------------------------------------- audio


class _CueMixer:
    """Mix the rhythm cue at fixed sample positions, ducking the content under it."""

    def __init__(self, spec: LabelSpec, sample_rate: int, channels: int, duration: float | None,
                 skip: Collection[str] = ()):
        """``skip``: edges ("start" / "end") that get no cue (the soundtrack has one there)."""
        from .labeling_audio import cue_params

        params = cue_params(spec)
        self.cue = audio_cue.render_cue(sample_rate, channels, params)
        lead = round(params.lead_ms * sample_rate / 1000.0)
        n = len(self.cue)
        self.starts: list[int] = []
        #: why an end cue asked for was not placed (None: placed, or not asked for)
        self.no_end: str | None = None
        total = int(duration * sample_rate) if duration else None
        # a start cue: mixed now, or in the soundtrack already (skip)
        start = spec.cue_where in ("start", "both")
        if start and "start" not in skip:
            self.starts.append(lead)
        if spec.cue_where in ("end", "both") and "end" not in skip:
            # a sound shorter than the cue gets it from the start, cut (cut_short says so)
            end = max(total - lead - n, lead) if total else None
            if end is None:
                self.no_end = "the soundtrack's length is unknown"
            elif start and end < lead + n + lead:
                self.no_end = (f"the soundtrack ({total / sample_rate:.2f} s) has no room for "
                               f"it after the start cue")
            else:
                self.starts.append(end)
        self.rate = sample_rate
        self.lead = lead
        ramp = max(1, int(_DUCK_RAMP * sample_rate))
        # gain curve over [start - lead, start + n + lead): 1 -> duck -> 1
        g = np.full(n + 2 * lead, _DUCK_GAIN, np.float32)
        r = np.linspace(1.0, _DUCK_GAIN, ramp, dtype=np.float32)
        g[:ramp] = r
        g[-ramp:] = r[::-1]
        self.gain = g
        self.pos = 0

    @property
    def times(self) -> list[float]:
        return [s / self.rate for s in self.starts]

    def cut_short(self) -> list[float]:
        """Times (s) of the cues the soundtrack ended inside or before (after the last
        ``process``): a soundtrack shorter than its container said, or than one cue."""
        return [s / self.rate for s in self.starts if s + len(self.cue) > self.pos]

    def process(self, block: np.ndarray) -> np.ndarray:
        a, b = self.pos, self.pos + len(block)
        self.pos = b
        out = block
        for s in self.starts:
            g0, g1 = s - self.lead, s + len(self.cue) + self.lead
            lo, hi = max(a, g0), min(b, g1)
            if lo >= hi:
                continue
            if out is block:
                out = block.copy()
            out[lo - a:hi - a] *= self.gain[lo - g0:hi - g0, None]
            c0, c1 = max(lo, s), min(hi, s + len(self.cue))
            if c0 < c1:
                out[c0 - a:c1 - a] += self.cue[c0 - s:c1 - s]
        return out


def _soundtrack_cues(path: Path, where: str, duration: float | None) -> dict[str, float]:
    """The edges ("start" / "end", of those ``where`` asks for) where the soundtrack carries a
    rhythm cue already (a video labeled with ``--video-cue`` and labeled again), with the cue's
    time (s). Mixing a second cue over the first would only make it louder. Each edge's
    CUE_CHECK_SECONDS are decoded (audio packets only: a few ms); an edge that cannot be read
    counts as having none."""
    from .labeling_audio import CUE_CHECK_SECONDS, cue_already

    found: dict[str, float] = {}
    for edge in ("start", "end"):
        if where not in (edge, "both") or edge == "end" and not duration:
            continue
        start = 0.0 if edge == "start" else max(0.0, duration - CUE_CHECK_SECONDS)
        try:
            got = video_io.read_audio(path, start, CUE_CHECK_SECONDS)
        except video_io.VideoError:
            continue
        if got is not None and (t := cue_already(got[0], got[1], edge)) is not None:
            found[edge] = start + t
    return found


# --------------------------------------------------------------------------- files


def metadata_findings(path: Path, container: str) -> LabelFindings:
    """The AIGC label(s) of a video file, in the shape the verifier judges."""
    if container in ("mp4", "mov"):
        f = mp4meta.read_mp4_metadata_file(path)
    else:
        f = mkvmeta.read_mkv_metadata_file(path)
    return collect(list(f.aigc), digital_source_type=f.digital_source_type)


def _own_mark(path: Path, key: bytes) -> int | None:
    """The payload of the frame mark made with ``key`` that a labeled video carries, when it
    reads; else None. Called only where the video has an AIGC label: the pooled detection
    reads ~30 frames."""
    try:
        det = detect_video(path, key)
    except Exception:  # noqa: BLE001 - unreadable frames: "no mark" here
        return None
    return det.payload if det.detected else None


def _shown_label(path: Path, info: video_io.VideoInfo, spec: LabelSpec) -> str | None:
    """Where a labeled input shows its visible label on its opening frames (as verify looks:
    every frame it checks there), or None. A second one was drawn over it (a darker plate)
    or beside it. Looked for only where the metadata says "labeled": decoding the first
    seconds costs a fresh video nothing then."""
    try:
        rep = _explicit_report(_scan(path, pool_frames=False, explicit=True, audio=False, info=info),
                               label_texts(spec.text))
    except (video_io.VideoError, OSError, ValueError):
        return None        # (labeling itself says what is wrong with the file)
    if not rep.details.get("found"):
        return None
    return next((h.get("position") for h in rep.details["frames"] if h.get("position")), "an edge")


def _source_label(path: Path, container: str) -> LabelFindings | None:
    """The AIGC label findings of the input, or None when its metadata cannot be read ("no
    label" here: labeling itself says what is wrong with the file)."""
    try:
        return metadata_findings(path, container)
    except Exception:  # noqa: BLE001
        return None


def _output_container(src_container: str, dst: Path) -> tuple[str, Path]:
    key = EXTENSIONS.get(dst.suffix.lower())
    if key is None:
        ext = video_io.CONTAINERS[src_container][1]
        return src_container, with_extension(dst, ext)
    return key, dst


def left_out_streams(info: video_io.VideoInfo, container: str) -> str:
    """What a labeled ``container`` file made from ``info``'s would not hold ("1 audio, 1
    subtitle: WEBM takes no aac audio or mov_text subtitles"), or "". The other audio streams
    (a second language), subtitles and Matroska attachments (their fonts) go along as they are
    where the output container holds them; every other extra stream (cover art, data) is left
    out."""
    carried = video_io.carried_streams(info, container)
    left = {k: n for k, n in info.extra_streams.items()
            if k not in ("audio", "subtitle", "attachment")}
    untaken = []
    for kind, streams, what in (("audio", info.other_audio, "audio"),
                                ("subtitle", info.subtitles, "subtitles")):
        names = [name or "unknown" for i, name in streams if i not in carried]
        if names:
            left[kind] = len(names)
            untaken.append(f"{'/'.join(sorted(set(names)))} {what}")
    if n := sum(i not in carried for i in info.attachments):
        left["attachment"] = n
        untaken.append("attachments")
    dropped = ", ".join(f"{n} {kind}" for kind, n in sorted(left.items()))
    if untaken:
        dropped += f": {container.upper()} takes no {' or '.join(untaken)}"
    return dropped


def left_out_warning(info: video_io.VideoInfo, container: str, in_place: bool) -> str | None:
    """The warning that says what a labeled ``container`` file would leave out
    (:func:`left_out_streams`; never a second language track or subtitles dropped silently),
    or None. In place, it raises :class:`LabelingError` instead: replacing the input would
    lose those streams for good. The run and the dry run both ask here."""
    dropped = left_out_streams(info, container)
    if not dropped:
        return None
    if in_place:
        raise LabelingError(f"labeling in place would lose its other streams for good "
                            f"({dropped}; {_HOLDS}): label into another folder (-o) instead")
    return f"not in the output: {dropped} ({_HOLDS})"


#: What a labeled video holds, for the messages about what it leaves out.
_HOLDS = ("a labeled file holds the main video, and the other audio streams, subtitles and "
          "attachments its container takes")


def other_audio_note(info: video_io.VideoInfo, carried: tuple[int, ...], cue: bool = False) -> str | None:
    """The warning for the audio streams after the first that are carried as they are: they
    keep their sound, and so carry no watermark (nor the audio cue, ``cue``: one is mixed),
    which only the first stream gets."""
    copied = [(i, name) for i, name in info.other_audio if i in carried]
    if not copied:
        return None
    what = ", ".join(f"#{i} {name or 'unknown'}" for i, name in copied)
    if info.audio is None:
        return (f"{len(copied)} audio stream(s) ({what}) carried as they are: none carries the "
                f"audio watermark (the first audio stream cannot be decoded)")
    return (f"{len(copied)} more audio stream(s) ({what}) carried as they are: only the first "
            f"audio stream carries the audio watermark{' and cue' if cue else ''}")


class _KeptMarkLost(Exception):
    """A labeled video's own mark, kept instead of laying a second one, did not outlive the
    re-encode: labeling starts again and lays it afresh with the same payload."""

    def __init__(self, payload: int):
        super().__init__(payload)
        self.payload = payload


def label_video_file(src: str | os.PathLike, dst: str | os.PathLike, *, spec: LabelSpec | None = None,
                     credentials: Credentials | None = None, overwrite: bool = False,
                     crf: int | None = None, preset: str | None = None, codec: str | None = None,
                     label_seconds: float | None = None, persistent: bool | None = None,
                     audio_cue: bool | None = None, strength: float = 1.0,
                     in_place: bool = False,
                     progress: Callable[[float], None] | None = None) -> LabeledVideo:
    """Label the video ``src`` into ``dst``. The output container follows ``dst``'s suffix
    (.mp4/.mov/.mkv/.webm; any other suffix is replaced by the input's container's). ``codec``:
    h264 | h265 | vp9 (default: H.264, VP9 for WebM); ``crf``/``preset``: encoder quality
    (defaults: CRF 23 / 28 / 32 for H.264 / H.265 / VP9, preset medium). Nothing appears at
    ``dst`` unless every layer succeeded. Raises :class:`LabelingError` (one line).
    ``progress``: called now and then with the fraction of the video's duration written
    (0..1), for a progress bar (twice over when a kept mark has to be laid again).

    A labeled video labeled again keeps this key's mark and its content ID rather than laying
    a second mark over it. When that mark does not read back from the new encode (a few
    frames of a small picture, encoded twice, lost it: QA, stop 44), the video is labeled
    again with the mark laid afresh, same payload, in step with what is left of the old one."""
    kw = dict(spec=spec, credentials=credentials, overwrite=overwrite, crf=crf, preset=preset,
              codec=codec, label_seconds=label_seconds, persistent=persistent,
              audio_cue=audio_cue, strength=strength, in_place=in_place, progress=progress)
    try:
        return _label_video_file(src, dst, **kw)
    except _KeptMarkLost as lost:
        return _label_video_file(src, dst, relay=lost.payload, **kw)


def _label_video_file(src: str | os.PathLike, dst: str | os.PathLike, *, spec: LabelSpec | None,
                      credentials: Credentials | None, overwrite: bool, crf: int | None,
                      preset: str | None, codec: str | None, label_seconds: float | None,
                      persistent: bool | None, audio_cue: bool | None, strength: float,
                      in_place: bool, progress: Callable[[float], None] | None,
                      relay: int | None = None) -> LabeledVideo:
    """:func:`label_video_file`; ``relay``: the payload of the input's own mark, which is laid
    afresh (it did not outlive the first attempt's encode)."""
    t_all = time.perf_counter()
    spec = checked_spec(spec)
    # Keyword arguments override the spec's video fields (library convenience).
    crf = spec.video_crf if crf is None else crf
    preset = spec.video_preset if preset is None else preset
    codec = spec.video_codec if codec is None else codec
    label_seconds = spec.video_label_seconds if label_seconds is None else label_seconds
    persistent = spec.video_persistent if persistent is None else persistent
    audio_cue = spec.video_audio_cue if audio_cue is None else audio_cue
    src = Path(src)
    if not src.is_file():
        raise LabelingError(f"no such file: {src}" if not src.exists() else f"not a file: {src}")
    if not isinstance(label_seconds, (int, float)) or not math.isfinite(label_seconds) \
            or label_seconds <= 0 or (label_seconds < MIN_LABEL_SECONDS and not persistent):
        raise LabelingError(f"label_seconds must be a finite number of at least "
                            f"{MIN_LABEL_SECONDS:g} (GB 45438: the label shows for >= 2 s; "
                            f"persistent=True shows it throughout), got {label_seconds!r}")
    try:
        info = video_io.probe(src)
    except video_io.VideoError as exc:
        raise LabelingError(str(exc)) from None
    if info.mirrored:
        # Frames are mapped to the display by rotation only: under a mirroring matrix the
        # label would show mirrored, or upside down, while verify (the same mapping) said OK.
        raise LabelingError("its display matrix mirrors the picture (a flip or transpose, not a "
                            "rotation), which labeling does not handle; re-encode it upright "
                            "first (ffmpeg's hflip, vflip or transpose filter, no display matrix)")
    container, dst = _output_container(info.container, Path(dst))
    try:
        # CRF and preset too: checked before the output folder is made
        vcodec, _, _ = video_io.encoder_settings(container, codec, crf, preset)
    except video_io.VideoError as exc:
        raise LabelingError(str(exc)) from None
    sidecar = dst.with_suffix(".c2pa") if container in SIDECAR_FORMATS and spec.c2pa else None
    left_out = left_out_warning(info, container, in_place)
    in_place = claim_output(dst, src, sidecar, overwrite=overwrite, in_place=in_place)
    dst.parent.mkdir(parents=True, exist_ok=True)
    creds = resolved_credentials(credentials, signing=True)
    key = creds.watermark_key
    # A labeled video labeled again keeps the mark made with this key and its content ID: a
    # second mark with another payload, laid in step over it, left neither readable after a
    # few relabels (as with images, labeling.label_image_bytes).
    # the input's AIGC label, read once: a sign of an old mark, the propagator's producer,
    # and the label kept as it is with metadata off
    label = _source_label(src, info.container)
    if relay is not None:
        kept = None
        content_id = ContentID(relay)
    else:
        kept = (_own_mark(src, key) if spec.keeps_marked_id() and label is not None
                and label.aigc_count else None)
        content_id = ContentID(kept) if kept is not None else ContentID.new()
    mark = spec.watermark and kept is None       # lay a mark (frames and soundtrack)
    res = LabeledVideo(output=dst, content_id=content_id, container=container, codec=vcodec,
                       sidecar=sidecar)
    if kept is not None:
        res.warnings.append(kept_mark_warning("video", content_id, marking=spec.watermark))
    if relay is not None:
        res.warnings.append(f"watermark: the video carries this key's watermark already, but it "
                            f"did not read back after re-encoding: laid again with the same "
                            f"content ID {content_id.hex}")
    prior = label.aigc if label is not None else None
    aigc = spec.aigc_for(content_id, prior)
    kept_label = spec.kept_label(prior)       # metadata off: the input's label, written back
    # the source type written beside the label: ours, or the kept label's own
    label_dst = spec.digital_source_type if spec.metadata else label.digital_source_type if label else None
    if kept_label is not None:
        res.warnings.append(kept_label_warning(kept_label))
    if note := unlabeled_republish_warning(spec, prior):
        res.warnings.append(note)
    if spec.explicit and not persistent and info.duration and label_seconds > info.duration \
            and label_seconds != DEFAULT_VIDEO_LABEL_SECONDS:
        # (accepted without a word: the label asked to show for 5 s shows for 2; the default
        # showing a short clip throughout is no news)
        res.warnings.append(f"explicit: the video is {info.duration:.1f} s long, shorter than "
                            f"the {label_seconds:g} s asked to show the label: it shows throughout")
    full_range = info.full_range
    if left_out:
        res.warnings.append(left_out)
    if info.container in ("mp4", "mov") and mp4meta.is_fragmented(src):
        # (it became a regular MP4 without a word: a player that streams fragments gets none)
        res.warnings.append("a fragmented MP4 (movie fragments, as for streaming) is written as "
                            "a regular, unfragmented one")
    if info.interlaced:
        res.warnings.append("interlaced video is written progressive (fields encoded as frames)")
    if info.alpha:
        res.warnings.append("the video's transparency (alpha channel) is not kept: the output "
                            "is opaque")
    if info.hdr:
        res.warnings.append(f"HDR ({info.hdr}) video: its mastering-display and light-level "
                            f"metadata are not kept (the output is 8-bit)")

    # -- per-video set-up: plate, watermark pattern, audio pieces
    t0 = time.perf_counter()
    plate = None
    shown = (_shown_label(src, info, spec)
             if spec.explicit and label is not None and label.aigc_count else None)
    if shown is not None:
        res.warnings.append(shown_label_warning("video", shown))
    if spec.explicit and shown is None:
        plate = _Plate(spec, info.width, info.height, info.rotation, full_range,
                       kept_sar(info, vcodec, container))
        res.label_box = (plate.box.x, plate.box.y, plate.box.w, plate.box.h)
        res.glyph_height = plate.box.glyph_height
    res.timings["setup"] = time.perf_counter() - t0

    markers: dict[str, wm_video.FrameMarker] = {}

    def marker_for(profile: wm_video.MarkProfile) -> wm_video.FrameMarker:
        """The frame marker of a profile (made once: a video may switch back)."""
        if profile.name not in markers:
            dw, dh = info.display_size
            pat = _to_coded(wm_video.video_pattern(dw, dh, content_id.value, key, profile.pattern_scale),
                            info.rotation)
            ty, tx = wm_video.pattern_period(dw, dh, profile.pattern_scale)
            markers[profile.name] = wm_video.FrameMarker(
                info.width, info.height, content_id.value, key, full_range=full_range,
                strength=strength, pattern=pat, profile=profile, follow=wm_video.FOLLOW_MOTION,
                period=(tx, ty) if info.rotation % 180 else (ty, tx))
        return markers[profile.name]

    def make_marker(lumas: list[np.ndarray]) -> wm_video.FrameMarker:
        """The frame marker, its profile chosen from the motion of the first frames."""
        ts = time.perf_counter()
        res.motion = wm_video.moving_fraction(lumas)
        profile = wm_video.profile_for(res.motion)
        res.watermark_profile = profile.name
        fm = marker_for(profile)
        res.watermark_follows = fm.follow is not None
        if plate is not None:
            fm.still_rect = plate.rect          # the label stands still over a pan on purpose
        if fm.empty:
            res.warnings.append(f"video is too small to carry a watermark ({info.width}x{info.height}): "
                                "frames left unmarked")
        elif min(info.width, info.height) < 128:
            res.warnings.append(f"video is small ({info.width}x{info.height}): the watermark is weak")
        elif (flat := wm_video.flat_warning(lumas[-3:], full_range=full_range)) is not None:
            res.warnings.append(flat)
        res.timings["setup"] += time.perf_counter() - ts
        return fm

    audio = info.audio
    mixer = None
    emb = None
    mix_to_mono = audio is not None and audio.channels > video_io.MAX_SOUNDTRACK_CHANNELS
    if mix_to_mono:
        # Beyond 8 channels no soundtrack codec here takes them (encoding failed with "Invalid
        # argument"), and their order is unknown (no layout names them): mixed to one channel.
        res.warnings.append(f"the {audio.channels}-channel soundtrack is mixed down to mono "
                            f"(soundtracks are written with at most "
                            f"{video_io.MAX_SOUNDTRACK_CHANNELS} channels)")
        audio = replace(audio, channels=1, layout="mono")
    if audio is not None and audio.sample_rate < wm_audio_params.MIN_SAMPLE_RATE:
        # Written at 48 kHz (no soundtrack codec here takes it): raised there as it is read,
        # so that the cue and the mark, which need 8 kHz, go in too (they were left out).
        res.warnings.append(f"the {audio.sample_rate} Hz soundtrack is written at 48000 Hz")
        audio = replace(audio, sample_rate=48000)
    if audio is None and audio_cue and spec.explicit:
        res.warnings.append("audio cue not mixed: the video has no soundtrack")
    keep = video_io.codec_key(info.codec)
    if codec is None and keep != vcodec:
        # the container's default encoder, not the input's (an HEVC file grew by half as H.264)
        hint = (f"; --codec {keep} keeps it" if keep in video_io.allowed_codecs(container)
                else "")
        res.warnings.append(f"the {info.codec.upper()} video is re-encoded as {vcodec.upper()} "
                            f"(the {container.upper()} default{hint})")
    out_audio = video_io.CONTAINERS[container][3].removeprefix("lib")
    if audio is not None and audio_io.is_lossless(audio.codec):
        res.warnings.append(f"the {audio.codec.upper()} soundtrack is re-encoded as {out_audio.upper()} "
                            f"(lossy; labeled {container.upper()} files carry {out_audio.upper()} sound)")
    elif audio is not None and (was := audio_io.codec_name(audio.codec)) != out_audio:
        res.warnings.append(f"the {was.upper()} soundtrack is re-encoded as {out_audio.upper()} "
                            f"(labeled {container.upper()} files carry {out_audio.upper()} sound)")
    if audio is not None and audio.channels > 2 and video_io.CONTAINERS[container][3] != "aac":
        # The writer keeps more than two channels in AAC only (video_io.VideoWriter).
        res.warnings.append(f"the {audio.channels}-channel soundtrack is downmixed to stereo "
                            f"({video_io.CONTAINERS[container][3].removeprefix('lib').upper()} "
                            f"in {container.upper()} is written with two channels here)")
    if audio is not None:
        if audio_cue and spec.explicit:
            there = _soundtrack_cues(src, spec.cue_where, info.duration)
            for edge, t in there.items():
                res.warnings.append(f"a rhythm cue is at the {edge} of the soundtrack already "
                                    f"({t:.2f} s): kept, and no second one mixed in")
            try:
                # the soundtrack's own length: it may end before the picture
                mixer = _CueMixer(spec, audio.sample_rate, audio.channels,
                                  audio.duration or info.duration, skip=there)
            except ValueError as exc:
                res.warnings.append(f"audio cue not mixed: {exc}")
        if mark:
            try:
                emb = watermark.AudioEmbedder(audio.sample_rate, audio.channels, content_id.value, key)
            except ValueError as exc:
                res.warnings.append(f"soundtrack not watermarked: {exc}")

    tags = {k: v for k, v in info.metadata.items() if k.lower() not in _DROP_TAGS}
    if container in SIDECAR_FORMATS and (spec.metadata or kept_label is not None):
        # the Annex E string (wrapped), as in a Vorbis comment: the rules give the inner form
        # to XMP and MP4 only (QA, stop 44; both forms are read)
        tags["AIGC"] = aigc.to_wrapped_json()
        if label_dst:
            tags["DigitalSourceType"] = label_dst
    ext = video_io.CONTAINERS[container][1]
    t_label = t_mark = t_mark_cpu = t_audio = 0.0
    t_show = math.inf if persistent else float(label_seconds)
    with temp_path(dst.parent, dst.name, ".part" + ext) as encoded, \
            temp_path(dst.parent, dst.name, ".meta" + ext) as tagged:
        t0 = time.perf_counter()
        try:
            writer = video_io.VideoWriter(
                encoded, container, width=info.width, height=info.height, fps=info.fps,
                time_base=info.time_base, codec=vcodec, crf=crf, preset=preset, pix_fmt=info.pix_fmt,
                color=(info.color_range, info.colorspace, info.color_primaries, info.color_trc),
                display_matrix=info.display_matrix, audio=audio,
                audio_bitrate=spec.audio_bitrate, metadata=tags, sar=info.sar,
                chapters=info.chapters, video_tags=info.video_tags)
        except video_io.VideoError as exc:
            raise LabelingError(str(exc)) from None
        if info.sar is not None and kept_sar(info, writer.codec, container) is None:
            # VP9 has no place for it, and the Matroska display size is written only by
            # the ffmpeg command (PyAV leaves the stream's aspect ratio unset)
            res.warnings.append(f"the pixel aspect ratio {info.sar.numerator}:{info.sar.denominator} "
                                f"is not kept in VP9 {container.upper()} (the picture shows "
                                f"at the wrong width): use MP4, or --codec h264 for MKV")
        if writer.size != (info.width, info.height):
            res.warnings.append(f"{writer.codec.upper()} needs even frame sides: "
                                f"{info.width}x{info.height} encoded as {writer.size[0]}x{writer.size[1]}")
        t_first = None
        marker = None
        # The watermark profile depends on the motion of the first frames: those frames are
        # held (a fraction of a second) until the probe has its MOTION_FRAMES lumas, about
        # 1/MOTION_FPS s apart; then the marker is made and the held frames go out in order.
        # After that, a MotionTracker reads a pair of frames every TRACK_SECONDS and switches
        # the profile when the content changes for good (wm_video.SWITCH_SECONDS).
        probe_step = wm_video.probe_step(info.fps)
        probe: list[np.ndarray] = []
        held: list = []
        n_seen = 0
        tracker = None

        def start_marking() -> None:
            """Make the marker from the probe and send the held frames out, in order."""
            nonlocal marker, tracker
            marker = make_marker(probe)
            if not marker.empty and marker.follow is None:     # a fixed mark: profiles switch
                tracker = wm_video.MotionTracker.for_video(marker.profile, float(info.fps or 25))
            for fr, ft in held:
                emit(fr, ft)
            held.clear()

        def emit(frame, t: float) -> None:
            nonlocal t_label, t_mark, t_mark_cpu
            if plate is not None and t - t_first < t_show:
                ta = time.perf_counter()
                plate.apply(frame)
                t_label += time.perf_counter() - ta
            if marker is not None:
                ta, tc = time.perf_counter(), time.thread_time()
                marker.mark(_plane(frame, 0))
                t_mark += time.perf_counter() - ta
                t_mark_cpu += time.thread_time() - tc
            writer.write_video(frame)
            res.frames += 1
            if progress is not None and res.frames % PROGRESS_EVERY == 0 and info.duration:
                progress(min(1.0, max(0.0, (t - t_first) / info.duration)))

        _opencv_threads.claim()   # the codecs' threads already use every core
        try:
            # other audio streams, subtitles, attachments: copied as they are
            carried = video_io.carried_streams(info, container)
            if note := other_audio_note(info, carried, cue=mixer is not None):
                res.warnings.append(note)
            with writer, video_io.VideoReader(src, audio=audio is not None,
                                                   audio_rate=audio and audio.sample_rate,
                                                   passthrough=carried) as reader:
                writer.carry(reader.passthrough)
                a_t0 = None
                for kind, item in reader:
                    if kind == "packet":          # a carried stream's, copied as it is
                        writer.write_packet(item)
                        continue
                    if kind == "video":
                        frame = item
                        t = float(frame.time) if frame.time is not None else n_seen / float(info.fps)
                        if t_first is None:
                            t_first = t
                        frame.make_writable()
                        if mark and marker is None:
                            if n_seen % probe_step == 0:
                                probe.append(_plane(frame, 0).copy())
                            held.append((frame, t))
                            if len(probe) >= wm_video.MOTION_FRAMES:
                                start_marking()
                        else:
                            if tracker is not None:
                                ta, tc = time.perf_counter(), time.thread_time()
                                switch = tracker.frame(n_seen, _plane(frame, 0))
                                if switch is not None:
                                    marker = marker_for(switch)
                                    res.profile_switches.append((round(t - t_first, 3), switch.name))
                                t_mark += time.perf_counter() - ta
                                t_mark_cpu += time.thread_time() - tc
                            emit(frame, t)
                        n_seen += 1
                    else:
                        block, bt = item
                        ta = time.perf_counter()
                        if a_t0 is None:
                            a_t0 = bt
                        if mix_to_mono:
                            block = block.mean(axis=1, keepdims=True, dtype=np.float32)
                        if mixer is not None:
                            block = mixer.process(block)
                        if emb is not None:
                            block = emb.process(block)
                        t_audio += time.perf_counter() - ta
                        writer.write_audio(block, a_t0)
                if held:                            # a clip shorter than the probe
                    start_marking()
                if emb is not None:
                    writer.write_audio(emb.flush(), a_t0)
                    if note := mark_clipping_warning(emb.clipped, emb.frames_in * emb.channels):
                        res.warnings.append(f"soundtrack: {note}")
                if reader.converted_from:
                    res.warnings.append(f"{reader.converted_from} video written as yuv420p "
                                        f"(8-bit, 4:2:0 chroma)")
                if reader.resized_from:
                    w, h, at = reader.resized_from
                    res.warnings.append(f"the picture size changes mid-stream ({w}x{h} from "
                                        f"{at:.2f} s): those frames were scaled to the first "
                                        f"frame's {reader.size[0]}x{reader.size[1]}")
                if reader.audio_resampler is not None and reader.audio_resampler.changed:
                    layout, rate, at = reader.audio_resampler.changed
                    first = reader.audio_resampler
                    res.warnings.append(f"the soundtrack changes mid-stream ({layout}, {rate} Hz "
                                        f"from {at:.2f} s): converted to its first layout and "
                                        f"rate ({first.layout}, {first.rate} Hz)")
                kinds = {st.index: st.type for st in reader.passthrough}
                for index, (moved, lost, why) in writer.copy_failed.items():
                    kind = kinds.get(index, "stream")
                    if moved:
                        res.warnings.append(f"stream #{index} ({kind}): {moved} packet(s) stored "
                                            f"out of time order were moved to follow the one "
                                            f"before (as ffmpeg -c copy does)")
                    if lost:
                        res.warnings.append(f"stream #{index} ({kind}): {lost} packet(s) the "
                                            f"muxer refused were left out ({why})")
                    elif why:
                        res.warnings.append(f"stream #{index} ({kind}) not carried: {why}")
                if reader.bad_audio_packets:
                    res.warnings.append(f"{reader.bad_audio_packets} damaged soundtrack packet(s) "
                                        "did not decode and were skipped (silence in their place)")
        except video_io.VideoError as exc:
            raise LabelingError(str(exc)) from None
        except (ValueError, MemoryError) as exc:
            raise LabelingError(f"labeling failed: {' '.join(str(exc).split())}") from None
        finally:
            _opencv_threads.release()
        res.timings.update({"transcode+label": time.perf_counter() - t0, "label": t_label,
                            "watermark": t_mark, "watermark_cpu": t_mark_cpu, "audio": t_audio})
        if mixer is not None:
            res.cue_times = mixer.times
            if mixer.no_end:
                res.warnings.append(f"no audio cue mixed at the end: {mixer.no_end}")
            if short := mixer.cut_short():
                res.warnings.append(
                    f"audio cue not fully mixed: the soundtrack ends inside or before the cue at "
                    f"{', '.join(f'{t:.2f} s' for t in short)} ({mixer.pos / mixer.rate:.2f} s of "
                    f"sound; the cue takes {len(mixer.cue) / mixer.rate:.2f} s), so verify may not "
                    f"find it")
        # Claim the watermark (layer list, C2PA soft binding) only if frames or sound carry it.
        marked = spec.watermark and (kept is not None or (marker is not None and not marker.empty)
                                     or emb is not None)
        # (a visible label the input showed, kept, is listed as a kept mark is)
        res.layers += [n for n, on in (("explicit", plate is not None or shown is not None),
                                       ("watermark", marked)) if on]
        if marked and spec.watermark_readback:
            # Every video, as verify will read it: the mark is measured to survive the codecs
            # at their default CRF, but not every picture carries it (bilevel content such as a
            # Game of Life clip was listed as watermarked and failed verify). About 1.1 s for
            # 10 s of 1080p (its opening 4 s, READBACK_PREFIX_SECONDS), most of it decoding.
            t0 = time.perf_counter()
            rb = _readback(encoded, key, content_id.value, writer, info.duration)
            if kept is not None and rb.warning is not None and spec.watermark:
                raise _KeptMarkLost(kept)
            if not rb.found:
                # Not a trace of it in frames or sound: the file does not carry a watermark,
                # so neither the result nor the C2PA manifest claims one (verify then reported
                # a fresh output as "watermarked, per its manifest, but edited since").
                marked = False
                res.layers.remove("watermark")
            if rb.warning:
                res.warnings.append(f"watermark: {rb.said}")
            res.timings["readback"] = time.perf_counter() - t0
        if emb is not None and spec.watermark_readback and \
                (audio.duration or info.duration or 0.0) < SOUND_READBACK_UNDER_SECONDS:
            t0 = time.perf_counter()
            if warning := _soundtrack_readback_warning(encoded, key, content_id.value, writer):
                res.warnings.append(f"watermark: soundtrack {warning}")
            res.timings["readback_sound"] = time.perf_counter() - t0
        current = encoded
        if spec.metadata or kept_label is not None:
            t0 = time.perf_counter()
            try:
                if container in ("mp4", "mov"):
                    # the input's XMP, which the encoder dropped, goes back in the same pass
                    xmp = (mp4meta.read_xmp_packet_file(src) if info.container in ("mp4", "mov")
                           else None)
                    mp4meta.write_mp4_metadata_file(encoded, tagged, aigc.to_inner_json(),
                                                    label_dst,
                                                    extra=_mdta_keys_dropped(src, info, encoded),
                                                    xmp_base=xmp)
                    current = tagged
                back = metadata_findings(current, container)
            except MetadataError as exc:
                raise LabelingError(f"metadata: {exc}") from None
            if back.aigc_count != 1 or back.aigc != aigc:
                found = ("none" if back.aigc_count == 0 else f"{back.aigc_count} labels"
                         if back.aigc_count > 1 else "another label")
                raise LabelingError(f"metadata: the AIGC label written did not read back from the "
                                    f"{container.upper()} output ({found} found)")
            res.timings["metadata"] = time.perf_counter() - t0
            if spec.metadata:
                res.layers.append("metadata")
        manifest_bytes = None
        if spec.c2pa:
            t0 = time.perf_counter()
            manifest = c2pa_io.build_manifest(
                aigc=aigc, content_id=content_id if marked else None,
                watermark_alg=watermark.IMAGE_ALG if marked else None,
                title=dst.name, digital_source_type=spec.digital_source_type,
                replaced=c2pa_io.replaced_label(prior, aigc, spec.metadata))
            try:
                # The source's own manifest (a labeled or signed input), embedded or in its
                # sidecar, becomes the parent ingredient; its MIME is the source container's.
                parent = c2pa_io.parent_of(src, MIME[info.container], src.name,
                                           sidecar=info.container in SIDECAR_FORMATS)
                if sidecar is not None:
                    manifest_bytes = c2pa_io.sign_sidecar_file(current, MIME[container], manifest,
                                                               creds, parent=parent)
                else:
                    c2pa_io.sign_file(current, current, MIME[container], manifest, creds, parent=parent)
                if warning := c2pa_io.parent_warning(parent):
                    res.warnings.append(warning)
            except c2pa_io.C2PAError as exc:
                raise LabelingError(str(exc)) from None
            res.timings["sign"] = time.perf_counter() - t0
            res.layers.append("c2pa")
        else:
            had = c2pa_io.parent_of(src, MIME[info.container], src.name,
                                    sidecar=info.container in SIDECAR_FORMATS)
            if note := c2pa_io.unsigned_note(had, had is not None and c2pa_io.parent_of(
                    current, MIME[container], dst.name) is not None):
                res.warnings.append(note)
        mode = src.stat().st_mode & 0o777 if in_place else None
        publish_media(current, dst, mode=mode, manifest=manifest_bytes,
                      sidecar_format=container in SIDECAR_FORMATS, replace=overwrite or in_place)
    res.timings["total"] = time.perf_counter() - t_all
    return res



def _mdta_keys_dropped(src: Path, info: video_io.VideoInfo, encoded: Path) -> list[tuple[str, str]]:
    """The source's text QuickTime ``mdta`` keys that the encoded file lacks: FFmpeg's muxer
    writes only the tags it has a name for (title, comment, ...), so an iPhone's
    ``com.apple.quicktime.make`` and ``...location.ISO6709``, and a MOV's ``description`` or
    ``keywords``, were dropped without a word. The label's own keys are written anew."""
    if info.container not in ("mp4", "mov"):
        return []
    try:
        found = mp4meta.read_mp4_metadata_file(src).mdta
    except MetadataError:
        return []
    try:
        from .formats.pyav import open_container

        with open_container(encoded) as c:
            written = {k.lower() for k in c.metadata}
    except Exception:  # noqa: BLE001 - then only the keys FFmpeg never writes
        written = None
    ours = {mp4meta.AIGC_KEY.lower(), mp4meta.DST_KEY.lower()}
    return [(k, v) for k, v in found if k.lower() not in ours and
            ("." in k if written is None else k.lower() not in written)]


#: The soundtrack's mark is read back from the encoded file when the sound is shorter than
#: this: a short soundtrack has few periods of the audio mark to fold, and its codec at the
#: source's bitrate can take it (6 s of mono AAC at 69 kb/s under a 3 s picture did,
#: silently, while the frames read back fine). Decoding and reading 10 s of sound costs ~0.1 s.
SOUND_READBACK_UNDER_SECONDS = 10.0


def _soundtrack_readback_warning(path: Path, key: bytes, want: int,
                                 writer: video_io.VideoWriter) -> str | None:
    """Why the encoded soundtrack would not give ``want`` back, or None."""
    try:
        got = video_io.read_audio(path, 0.0, SOUND_READBACK_UNDER_SECONDS)
    except video_io.VideoError:
        return None
    if got is None:
        return None
    samples, rate = got
    codec = {"aac": "AAC", "libopus": "Opus"}.get(video_io.CONTAINERS[writer.container][3], "lossy")
    try:
        return watermark.audio_readback_warning(samples, rate, want, key, codec=codec)
    except ValueError:          # a rate the detector does not take: nothing to check
        return None


#: Labeling's read-back pools the opening seconds of the encoded video first and reads the
#: whole only when they do not give the payload: decoding all of a 10 s 1080p output took
#: 1.7-2.9 s, which put labeling at 1.30-1.32x a plain transcode (stop 44).
READBACK_PREFIX_SECONDS = 4.0


def _readback(path: Path, key: bytes, want: int, writer: video_io.VideoWriter,
              duration: float | None = None) -> watermark.ReadBack:
    """Why the encoded video's frames would not give ``want`` back (None when they would), and
    whether the mark is found at all, in the frames or the soundtrack. ``duration``: the
    video's, when known (a long one is read from its opening seconds first)."""
    try:
        if (duration or 0.0) > 1.5 * READBACK_PREFIX_SECONDS:
            # the opening seconds, pooled, reading the payload are enough: more frames only
            # make the pooled mark stronger
            head = detect_video(path, key, max_seconds=READBACK_PREFIX_SECONDS)
            if head.payload == want:
                return watermark.ReadBack(None, True)
        det = detect_video(path, key, audio=True)
    except video_io.VideoError:
        return watermark.ReadBack(None, True)
    a = det.details.get("audio") or {}
    found = bool(det.detected or a.get("detected"))
    if det.payload == want:
        return watermark.ReadBack(None, found)
    state = watermark.describe_miss(det, want, margin=True)
    sound = "; the soundtrack carries it" if a.get("payload") == want else ""
    hint = (f"; try a lower CRF (default {video_io.DEFAULT_CRF[writer.codec]})"
            if writer.crf > video_io.DEFAULT_CRF[writer.codec] else "")
    return watermark.ReadBack(f"read back from the encoded video ({writer.codec.upper()} CRF "
                              f"{writer.crf}), the frame mark is {state}{sound}{hint}", found)


# --------------------------------------------------------------------------- detection / verify

#: Clips up to this long are decoded front to back for pooling; longer ones are sampled by
#: seeking to SEEK_POINTS positions (2 frames each, for the static pool), and to SEEK_RUNS
#: positions for runs of consecutive frames (RUN_SECONDS of video, at most RUN_FRAMES of
#: them): a mark that follows the picture lines up only within a run (wm_video.LumaPool).
SEQUENTIAL_SECONDS = 30.0
SEEK_POINTS = 32
SEEK_RUNS = 3
RUN_SECONDS = 1.5
RUN_FRAMES = 30
#: Frames pooled at most (evenly spread over the sequential decode).
MAX_POOL = 150
#: The explicit label is looked for in frames at these times (s from the first frame).
EXPLICIT_TIMES = (0.1, 1.0, 1.9)
#: "Whole video" (--persistent) is judged on a frame this long before the end (and at least
#: PERSIST_TIME in), so that a label shown for longer than the default 3 s is not taken for one
#: shown throughout.
PERSIST_TIME = 4.0
PERSIST_BEFORE_END = 0.5
AUDIO_SECONDS = 60.0
CUE_SECONDS = 15.0


@dataclass
class _Scan:
    info: video_io.VideoInfo
    pool: wm_video.LumaPool
    explicit_frames: list[tuple[float, np.ndarray]] = field(default_factory=list)
    late_frame: tuple[float, np.ndarray] | None = None
    audio: np.ndarray | None = None
    audio_rate: int | None = None
    # the decoder stopped on damaged data after some frames (a file cut short): the layers
    # are read from the frames before it, and verify reports the file as not fully readable
    damage: str | None = None


def _rgb_display(frame, info: video_io.VideoInfo) -> np.ndarray:
    """The frame as shown: square pixels (an anamorphic one widened), turned."""
    rgb = frame.to_ndarray(format="rgb24")
    if info.sar is not None:
        rgb = cv2.resize(rgb, (_square_width(rgb.shape[1], info.sar), rgb.shape[0]),
                         interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(_to_display(rgb, info.rotation))


def _scan(path: Path, *, pool_frames: bool, explicit: bool, audio: bool,
          max_pool: int = MAX_POOL, info: video_io.VideoInfo | None = None,
          max_seconds: float | None = None) -> _Scan:
    """``info``: the file's probe when the caller has it (else probed here). ``max_seconds``:
    pool the opening seconds only, decoding no further (labeling's read-back; a clip of up
    to SEQUENTIAL_SECONDS, without ``explicit``)."""
    import av

    info = info or video_io.probe(path)
    full = info.full_range
    scan = _Scan(info, wm_video.LumaPool())
    dur = info.duration or 0.0
    sequential_all = pool_frames and (not dur or dur <= SEQUENTIAL_SECONDS)
    est_frames = info.frames or (int(dur * float(info.fps)) if dur else 0)
    prefix = max_seconds is not None and sequential_all and not explicit
    if prefix and info.fps:
        est_frames = min(est_frames, int(max_seconds * float(info.fps)) + 1) if est_frames else 0
    step = max(1, math.ceil(est_frames / max_pool)) if est_frames else 1
    want_times = list(EXPLICIT_TIMES) if explicit else []
    late_t = max(PERSIST_TIME, dur - PERSIST_BEFORE_END)
    stop_at = (max(want_times + [PERSIST_TIME]) + 0.5) if explicit else 0.0

    def add_pool(frame, *, run: bool = True, new_run: bool = False) -> None:
        y = _plane(frame, 0)
        scan.pool.add(_to_display(_luma_full(y, full), info.rotation), run=run, new_run=new_run)

    c = video_io._open(path)
    with c:
        vs = video_io.main_video_stream(c)
        vs.thread_type = "AUTO"
        t_first = None
        n = 0
        last = None
        t_last = 0.0
        stream_end: dict[int, float] = {}

        def frames():
            if not sequential_all:
                yield from c.decode(vs)
                return
            # the whole file is read: every stream demuxed, so that where each one's data
            # ends is known (a cut Matroska file declares no frame count), only vs decoded
            for packet in c.demux():
                video_io.note_end(stream_end, packet)
                if packet.stream is vs:
                    yield from packet.decode()

        if sequential_all or explicit:
            try:
                for frame in frames():
                    if frame.format.name not in ("yuv420p", "yuvj420p"):
                        frame = frame.reformat(format="yuv420p")
                    t = float(frame.time) if frame.time is not None else n / float(info.fps)
                    t_last = max(t_last, t)
                    if t_first is None:
                        t_first = t
                    rel = t - t_first
                    while want_times and rel > want_times[0] + 1e-6:
                        # the frame on screen at a sample time is the last one to start at or
                        # before it: at 1 fps the first frame is the one showing at 0.1 s, and
                        # the first frame past 1.9 s (t = 3 s, after a 3 s label) is not
                        shown = last if last is not None else (rel, frame)
                        if not scan.explicit_frames or scan.explicit_frames[-1][0] != shown[0]:
                            scan.explicit_frames.append((shown[0], _rgb_display(shown[1], info)))
                        want_times.pop(0)
                    if want_times and rel >= want_times[0] - 1e-6:
                        scan.explicit_frames.append((rel, _rgb_display(frame, info)))
                        want_times.pop(0)
                    elif explicit and scan.late_frame is None and rel >= late_t:
                        scan.late_frame = (rel, _rgb_display(frame, info))
                    if sequential_all and n % step == 0 and scan.pool.count < max_pool:
                        add_pool(frame)
                    last = (rel, frame)
                    n += 1
                    if not sequential_all and rel > stop_at:
                        break
                    if prefix and rel >= max_seconds:
                        break
            except av.FFmpegError as exc:
                if n == 0:
                    raise video_io.VideoError(f"corrupt video data: {video_io.damage_reason(exc)}") from None
                scan.damage = (f"corrupt or truncated video data after {n} frames "
                               f"({video_io._one_line(exc)}); the layers were read before it")
            if sequential_all and not prefix and scan.damage is None and last is not None and \
                    (why := video_io.cut_short(c, vs, n, t_last, stream_end)):
                scan.damage = f"{why}; the layers were read from those"      # labeling's check
            if explicit and want_times and last is not None and (
                    not scan.explicit_frames or scan.explicit_frames[-1][0] < last[0]):
                # A clip shorter than the sample times: its last frame is looked at too.
                scan.explicit_frames.append((last[0], _rgb_display(last[1], info)))
        if explicit and scan.late_frame is None and dur > late_t and not sequential_all:
            # The decode above stopped after the opening seconds: seek for the late frame.
            start = vs.start_time or 0
            try:
                c.seek(int(start + late_t / vs.time_base), stream=vs, backward=True, any_frame=False)
                for frame in c.decode(vs):
                    rel = float(frame.time) - (t_first or 0.0) if frame.time is not None else late_t
                    if rel >= late_t - 1e-3:
                        scan.late_frame = (rel, _rgb_display(frame, info))
                        break
            except av.FFmpegError:
                pass
        if pool_frames and not sequential_all:
            tb = vs.time_base
            start = vs.start_time or 0
            fps = float(info.fps or 25)
            stride = max(1, round(fps * RUN_SECONDS / RUN_FRAMES))
            # (position, frames to decode from there, every stride-th of them to a run)
            visits = [((i + 0.5) / SEEK_POINTS, 2, 0) for i in range(SEEK_POINTS)] + \
                [((i + 0.5) / SEEK_RUNS, RUN_FRAMES * stride, stride) for i in range(SEEK_RUNS)]
            for where, n_frames, run_stride in sorted(visits):
                target = where * dur
                try:
                    c.seek(int(start + target / tb), stream=vs, backward=True, any_frame=False)
                    got = 0
                    for frame in c.decode(vs):
                        if frame.time is not None and frame.time < target - 1e-3 + (start * tb):
                            continue
                        if not run_stride or got % run_stride == 0:
                            if frame.format.name not in ("yuv420p", "yuvj420p"):
                                frame = frame.reformat(format="yuv420p")
                            add_pool(frame, run=bool(run_stride), new_run=got == 0)
                        got += 1
                        if got >= n_frames:
                            break
                except av.FFmpegError:
                    continue
    if audio and info.audio is not None:
        scan.audio, scan.audio_rate = _read_audio(path, AUDIO_SECONDS)
    return scan


def _read_audio(path: Path, seconds: float) -> tuple[np.ndarray | None, int | None]:
    import av

    c = video_io._open(path)
    with c:
        if not c.streams.audio:
            return None, None
        st = c.streams.audio[0]
        cc = st.codec_context
        ch, rate = cc.channels, cc.sample_rate
        rs = video_io.SoundtrackResampler(cc)
        want = int(seconds * rate)
        parts, n = [], 0
        try:
            for frame in c.decode(st):
                for out in rs.resample(frame):
                    arr = out.to_ndarray().reshape(-1, ch)
                    parts.append(arr)
                    n += len(arr)
                if n >= want:
                    break
        except av.FFmpegError:
            pass
        if not parts:
            return None, rate
        return np.concatenate(parts)[:want].astype(np.float32), rate


def detect_video(path: str | os.PathLike, key, *, audio: bool = False,
                 max_frames: int = MAX_POOL, max_seconds: float | None = None) -> wm_video.VideoDetection:
    """Pooled watermark detection on a video file: frames sampled across the clip (all of it
    up to :data:`SEQUENTIAL_SECONDS`, else :data:`SEEK_POINTS` seek points) are averaged in the
    displayed orientation and tested once (see :mod:`synthlabel.core.wm_video`).
    ``audio=True`` also runs the audio detector on the soundtrack (``details["audio"]``).
    ``key``: one key, or a sequence tried in turn (p-values corrected for the number of keys;
    :func:`synthlabel.watermark.detect_with_keys`; ``details["key_index"]``, 1-based, says
    which matched). ``max_seconds``: pool only the opening seconds of a clip up to
    SEQUENTIAL_SECONDS long (decoding no further). Raises
    :class:`synthlabel.formats.video_io.VideoError` for unreadable files."""
    if not isinstance(path, (str, os.PathLike)):      # (else pathlib's words, from inside it)
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    keys = watermark.watermark_keys(key)
    scan = _scan(Path(path), pool_frames=True, explicit=False, audio=audio, max_pool=max_frames,
                 max_seconds=max_seconds)
    det, i = _frame_detection(scan, keys)
    if len(keys) > 1 and det.detected:
        det.details["key_index"] = i + 1
    if audio:
        det.details["audio"] = _audio_detection(scan, keys)
    return det


def _frame_detection(scan: _Scan, keys: tuple[bytes, ...],
                     prefer=()) -> tuple[wm_video.VideoDetection, int]:
    return watermark.detect_with_keys(lambda k: wm_video.detect_pooled(scan.pool, k), keys, prefer)


def _audio_detection(scan: _Scan, keys: tuple[bytes, ...], prefer=()) -> dict | None:
    """The soundtrack's detection as a dict (``keys``: see ``detect_with_keys``; with several,
    ``key_index`` says which matched)."""
    if scan.audio is None or scan.audio_rate is None:
        return None
    try:
        d, i = watermark.detect_with_keys(
            lambda k: watermark.detect_audio(scan.audio, scan.audio_rate, k), keys, prefer)
    except ValueError as exc:
        return {"error": str(exc)}
    out = d.to_dict()
    out["alg"] = watermark.AUDIO_ALG
    if len(keys) > 1 and d.detected:
        out["key_index"] = i + 1
    return out


def _explicit_report(scan: _Scan, texts: tuple[str, ...]) -> LayerReport:
    from .verify import looked_for

    hits = []
    text = None    # once a frame shows one of the texts, the other frames are checked for it
    for t, rgb in scan.explicit_frames:
        found_text, det = text_label.detect_any(rgb, (text,) if text else texts)
        text = text or (found_text if det.found else None)
        hits.append({"t": round(t, 3), **det.to_dict()})
    persistent = None
    if scan.late_frame is not None:
        persistent = bool(text_label.detect_any(scan.late_frame[1], (text,) if text else texts)[1].found)
    # "found" as an image's report has it: the label is on the opening frames (every one)
    details = {"found": bool(hits) and all(h["found"] for h in hits), "frames": hits,
               "persistent": persistent,
               "size": [scan.explicit_frames[0][1].shape[1], scan.explicit_frames[0][1].shape[0]]
               if scan.explicit_frames else list(scan.info.display_size),    # as shown (SAR too)
               "text": text, "looked_for": list(texts)}
    if scan.audio is not None and scan.audio_rate:
        try:
            cue = audio_cue.detect_cue(scan.audio[:int(CUE_SECONDS * scan.audio_rate)], scan.audio_rate,
                                       None, search="all")
            details["audio_cue"] = cue.to_dict()
        except ValueError:
            pass
    found = [h for h in hits if h["found"]]
    if hits and len(found) == len(hits):
        span = hits[-1]["t"]
        extra = ", whole video" if persistent else ""
        cue = details.get("audio_cue") or {}
        if cue.get("found") and cue.get("times"):
            extra += f"; audio cue at {cue['times'][0]:.2f} s"
        # a clip shorter than the 2 s looked at: say what it is (a one-frame "video" is 0.04 s)
        # (the span checked, GB 45438's minimum: not how long the label was made to show,
        # which "in the opening 2 s" of a label shown for 3 s seemed to say)
        opening = (f"on every frame checked in the opening {max(2.0, span):.0f} s"
                   if span >= 1.0 or scan.info.duration is None or scan.info.duration >= 2.0
                   else f"on every frame of its {scan.info.duration:.2f} s")
        return LayerReport(Status.OK, f"label {text!r} at {found[0]['position']} {opening}{extra}",
                           details)
    if found:
        return LayerReport(Status.WEAK, f"label {text!r} found in {len(found)} of {len(hits)} frames of "
                                        "the opening 2 s (shown too briefly?)", details)
    return LayerReport(Status.MISSING, f"no {looked_for(texts)} label on an edge or corner in the "
                                       f"opening 2 s (looked for {', '.join(texts)})", details)


def _watermark_report(scan: _Scan, key, prefer=()) -> tuple[LayerReport, str | dict[str, str] | None]:
    """The watermark layer of a video (``prefer``: see ``detect_with_keys``)."""
    from .verify import for_keys, key_match

    keys = watermark.watermark_keys(key)
    det, i = _frame_detection(scan, keys, prefer)
    details = det.to_dict()
    details["alg"] = watermark.IMAGE_ALG
    # where an image's report has it (the frames too few or too flat for a reliable mark)
    details["weak"] = bool((details.get("details") or {}).get("weak", False))
    details["audio"] = _audio_detection(scan, keys, prefer)
    a = details["audio"] or {}
    a_cid = f"{a['payload']:016x}" if a.get("detected") and a.get("payload") is not None else None
    if det.detected and det.payload is not None:
        cid = f"{det.payload:016x}"
        which = key_match(details, keys, i, True)
        note = ""
        if a_cid and a_cid != cid:
            # both IDs go to the cross-check, which must not say the content ID agrees
            return (LayerReport(Status.INVALID, f"video payload {cid} but audio payload {a_cid}", details),
                    {"watermark": cid, "soundtrack watermark": a_cid})
        if a_cid:
            note = "; soundtrack agrees"
        return LayerReport(Status.OK, f"payload {cid} pooled over {det.frames} frames "
                                      f"(p={det.p_value:.1e}{which}){note}", details), cid
    if a_cid or (a.get("detected") and not det.detected):
        # The soundtrack decided: the layer's own fields are its (they were the frames', p=1
        # beside an "ok"), the frames' kept under "frames_result"
        details["frames_result"] = {k: details.get(k) for k in ("detected", "payload", "p_value")}
        details.update(detected=True, payload=a.get("payload"), p_value=a.get("p_value"))
        which = key_match(details, keys, a.get("key_index", 1) - 1, True)
        if a_cid:
            # (frames that show the mark without its payload were "soundtrack only (frames:
            # p=6.8e-14)", as if the frames had none)
            frames = (f"frames: mark present, payload undecoded, p={det.p_value:.1e}" if det.detected
                      else f"frames: p={det.p_value:.2g}")
            return LayerReport(Status.OK, f"payload {a_cid} read from the soundtrack ({frames}"
                                          f"{which})", details), a_cid
        # a mark present whose payload does not decode is "weak", as for images and audio
        # (it was "missing": no watermark, p=1, read from the frames alone)
        return LayerReport(Status.WEAK, f"weak: mark present in the soundtrack but its payload did "
                                        f"not decode (p={a.get('p_value', 1.0):.1e}{which}; frames: "
                                        f"p={det.p_value:.2g})", details), None
    if det.detected:
        which = key_match(details, keys, i, True)
        return LayerReport(Status.WEAK, f"weak: mark present but payload did not decode (p={det.p_value:.1e}"
                                        f"{which})", details), None
    key_match(details, keys, i, False)
    return LayerReport(Status.MISSING, f"no watermark for {for_keys(keys)} (p={det.p_value:.2g}, "
                                       f"{det.frames} frames)", details), None


def _c2pa_video(p: Path, container: str, trust_anchors_pem: bytes | None) -> tuple[LayerReport, str | None]:
    from .verify import _c2pa_report

    if container in SIDECAR_FORMATS and not p.with_suffix(".c2pa").is_file():
        # c2pa cannot embed into (or even parse) Matroska: only a sidecar can hold a manifest.
        return LayerReport(Status.MISSING, f"no C2PA manifest (no {p.with_suffix('.c2pa').name} "
                                           "sidecar; Matroska/WebM cannot embed one)",
                           c2pa_io.C2PAResult(present=False).to_dict()), None
    res = c2pa_io.read_manifest_file(p, MIME[container], trust_anchors_pem=trust_anchors_pem)
    return _c2pa_report(res, sidecar=bool(res.sidecar))


def verify_video_file(path: str | os.PathLike, *, key, trust_anchors_pem: bytes | None,
                      layers: tuple[str, ...] = ("explicit", "metadata", "watermark", "c2pa"),
                      label_text=None, **_ignored) -> VerificationReport:
    """Check the requested layers of one video file (C2PA from the file or its ``.c2pa``
    sidecar). Never raises for bad input: the report's ``error`` says what went wrong."""
    from .verify import check_layers, metadata_report

    p = Path(path)
    report = VerificationReport(path=str(p))
    try:
        info = video_io.probe(p)
    except (video_io.VideoError, OSError) as exc:
        report.error = one_line(exc)
        return report
    report.media_type = MIME[info.container]
    scan = None
    if "explicit" in layers or "watermark" in layers:
        try:
            scan = _scan(p, pool_frames="watermark" in layers, explicit="explicit" in layers,
                         audio=True, info=info)
        except (video_io.VideoError, OSError) as exc:
            # The picture and sound layers cannot be checked; metadata and C2PA still can.
            report.error = one_line(exc)

    def scanned() -> _Scan:
        if scan is None:
            raise video_io.VideoError(report.error or "video not decoded")
        return scan

    report = check_layers(report, layers, {
        "explicit": lambda: _explicit_report(scanned(), label_texts(label_text)),
        "metadata": lambda: metadata_report(metadata_findings(p, info.container)),
        "watermark": lambda prefer: _watermark_report(scanned(), key, prefer),
        "c2pa": lambda: _c2pa_video(p, info.container, trust_anchors_pem),
    })
    if scan is not None and scan.damage and not report.error:
        report.error = scan.damage      # as a cut WAV, FLAC or PNG: not fully readable (exit 2)
    return report
