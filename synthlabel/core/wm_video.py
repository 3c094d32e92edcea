"""Video watermark: the image mark laid on every frame's luma plane, pooled over frames to detect.

No file I/O here (the demuxing side is :func:`synthlabel.labeling_video.detect_video`); this
module only uses the *public* image watermark API (:func:`synthlabel.watermark.embed_image`,
:func:`synthlabel.watermark.detect_image`), so changes inside the image engine carry over.

Embedding (:class:`FrameMarker`)
    The image mark is a keyed, *static* pattern (a tile repeated over the picture) scaled by a
    perceptual mask. Its spatial layout depends only on the frame size, the key and the payload,
    so it is derived ONCE per video through the public embedder: ``embed_image`` on a flat grey
    frame (at maximum strength, for precision) minus that frame is the pattern as the embedder
    lays it down where the mask is uniform. It is normalised to unit rms and stored as its
    magnitude (uint8, scaled so the peak is 255) and its sign (two 0/255 masks).

    Per frame, only the luma plane of the decoded 8-bit YUV frame is touched (chroma is left
    as is, exactly as the image embedder adds the same value to R, G and B):

    1. the perceptual mask is computed on a small copy of the luma (short side ~
       :data:`MASK_SHORT` px): local texture (rms of a high-pass) relative to :data:`ACT_REF`,
       clipped to [profile's ``mask_min``, :data:`MASK_MAX`], times a darkness factor; it is
       then scaled to 0..255 (uint8) and upsampled (bilinear) to full size;
    2. ``Y += round(pattern * mask * amplitude)`` with saturation, in five OpenCV passes on
       uint8 data (SIMD): one multiply for the magnitude, two ANDs for the sign, one add, one
       subtract; no float or int16 image at full size.

    Limited-range video (the usual "tv" range) has 219 luma steps for 255 RGB levels; the
    amplitude is scaled by 219/255 so that the decoded RGB carries the same mark either way.
    Cost at 1080p: 4.6-4.9 ms per frame on one core of the 2026-11-28 benchmark machine (the
    former int16 version: 5.4-5.7 ms there), about half of it the mask (see
    ``benchmarks/bench_video.py``).

    The mask floor is far lower than the image engine's: a static pattern over moving content
    shows on flat, slowly panning areas (sky) as a "dirty window" (seen at 0.35 x 3.0 levels
    on the benchmark clip), and the codec removes a faint mark there anyway; textured areas
    carry it, with a higher amplitude than the image engine so that the all-attacks chain
    (3 s excerpt + 480p + 24 fps + H.265 CRF 28) still decodes, and a lower ceiling
    (:data:`MASK_MAX`) so the median frame PSNR stays >= 40 dB.

Motion-adaptive profile (:class:`MarkProfile`, :func:`profile_for`)
    What the mark costs and what it fights depend on motion. Under a pan the codec re-codes a
    static mark in every predicted frame (with the still profile's mark on the benchmark's
    panning clip, the labeled file was 92 % larger and labeling cost 1.5-1.6 x a plain
    transcode), while the detector's pooling washes
    the moving host out, so compression noise is what the mark fights. With a still picture
    the codec predicts the mark for free, but pooling cannot remove the host, whose spectrum
    is then the noise. So the labeler measures motion on the first frames
    (:func:`moving_fraction`) and picks one of two profiles, then keeps measuring
    (:class:`MotionTracker`) and switches when the other class has lasted
    :data:`SWITCH_SECONDS` (a camera move that settles, a cut from a still shot to a pan):

    * :data:`STILL`: the image engine's tile (a quarter of the short side), amplitude 3.4,
      mask 0.2-1.4 (the settings of the releases before the profiles);
    * :data:`MOVING`: tiles twice as large (the mark an octave lower: cheaper to code under
      motion, more robust to downscaling and H.265), amplitude 2.7, mask 0.2-1.4.

    Both are the image mark at a tile scale the image detector searches anyway (the moving
    profile looks to it like a 50 % crop), so detection needs no hint and one detector reads
    videos of either profile. A video that switched pools both patterns; the one carried by
    more of the sampled frames dominates (measured: a 0.5 s pan settling into 5.5 s of still
    shot, switched at 2.1 s, read at p 1e-21 after H.264 CRF 28 instead of 1e-7).

Detection (:class:`LumaPool`, :func:`detect_pooled`)
    The mark is static while content moves, so the *average* of the sampled frames keeps the
    mark at full amplitude while the content washes out (its variance falls): pooled evidence
    grows with the number of frames. Each frame is whitened first (high-pass over local
    contrast, like the image detector's own pre-whitening), which measured better than averaging
    raw luma (H.264 480p: p 1e-39 -> 1e-55; the all-attacks chain: 2e-8 -> 9e-13).
    The pooled image is handed to ``detect_image`` ONCE,
    so its p-value (which already counts every shift/scale/angle searched) stands as the
    video's p-value: one test per video, FPR <= 1e-6 per file at the image threshold.
    Optional extra tests (the pool split in halves, for clips whose content barely moves in
    one half) are Bonferroni-corrected: the reported p-value is ``min(p) * n_tests``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import cv2
import numpy as np

from .. import watermark
from .filters import local_contrast, local_mean

__all__ = [
    "ACT_REF", "MASK_MAX", "MASK_SHORT", "MOVING", "MOTION_MOVING", "STILL", "SWITCH_SECONDS",
    "TRACK_PAIRS", "TRACK_SECONDS", "FrameMarker", "LumaPool", "MarkProfile", "MotionTracker",
    "PROFILES", "VideoDetection", "detect_pooled", "flat_warning", "motion_luma",
    "moving_fraction", "pair_moving_fraction", "probe_step", "profile_for", "video_pattern",
]


@dataclass(frozen=True)
class MarkProfile:
    """How the mark is laid on a video (see the module notes, "Motion-adaptive profile").

    ``pattern_scale``: tile size relative to the image engine's (1: a quarter of the short
    side; 2: half of it, an octave lower). ``amplitude``: mark rms (8-bit RGB levels) where
    the local texture equals :data:`ACT_REF`, strength 1. ``mask_min``: the mask's floor
    (flat regions carry this fraction of the amplitude)."""

    name: str
    pattern_scale: int
    amplitude: float
    mask_min: float


#: Still or slowly changing content (static camera, talking heads, slow zooms): the codec
#: predicts a static mark from the previous frame almost for free, and the host's own
#: spectrum, which pooling cannot wash out when nothing moves, is the noise the mark fights:
#: the image engine's tile (more tiles to fold, above the host's strongest frequencies).
STILL = MarkProfile("still", 1, 3.4, 0.2)
#: Moving content (pans, tracking shots): the codec re-codes a static mark under moving
#: content in every predicted frame, while pooling washes the host out. An octave lower the
#: mark costs the codec fewer bits and survives downscaling and H.265 better, so it is laid
#: at a lower amplitude. Measured on the benchmark clip (1080p pan, H.264 CRF 23 medium):
#: labeling cost 1.47-1.61 -> 1.25 x a plain transcode (median of 5 alternating runs), file
#: +92 % -> +55 %, all attacks still decoded. Amplitude 2.4 with a 0.1 floor cost less
#: (+45 %) but lost a 540p pan over a mostly flat sky after H.264 CRF 28 (2.7 / 0.2 reads it at
#: p 1e-15, as the still profile does). On a still 1080p photo clip the moving profile fell
#: from p 1e-68 to 1e-15 after H.264 CRF 28: hence two profiles.
MOVING = MarkProfile("moving", 2, 2.7, 0.2)
#: The profiles by name (as reported in ``LabeledVideo.watermark_profile``).
PROFILES = {p.name: p for p in (STILL, MOVING)}
#: Texture (rms of the high-passed luma on the mask grid, 8-bit levels) treated as typical.
ACT_REF = 6.0
#: Mask ceiling: busy texture carries at most MASK_MAX of the amplitude.
MASK_MAX = 1.4
#: Darkness masking (Weber-like): amplitude * clip((Y + DARK_OFFSET) / (128 + DARK_OFFSET)).
DARK_OFFSET = 64.0
DARK_MIN = 0.6
#: Short side (px) of the grid the mask is computed on; high-pass / pooling sigmas on it.
MASK_SHORT = 270
HP_SIGMA = 1.5
POOL_SIGMA = 4.0
#: The pattern is derived on a flat frame whose short side is at most pattern_scale * this
#: (the pattern lives on the image engine's 256-pixel working grid: a bigger frame adds nothing).
DERIVE_SHORT = 540
#: Motion probe (:func:`moving_fraction`): frames reduced to this short side, blocks of this
#: many px, high-pass sigma, the texture floor (mean square, 8-bit levels: rms 2) and the
#: difference / texture ratio that marks a block as moved; content counts as moving when at
#: least MOTION_MOVING of the textured blocks moved. Measured: still cameras 0.01 (one with a
#: small object crossing it), a slow 30 % zoom 0.08, pans 0.81-1.0.
MOTION_SHORT = 270
MOTION_BLOCK = 8
MOTION_HP_SIGMA = 2.0
MOTION_TEXTURE_FLOOR = 4.0
MOTION_REL = 0.5
MOTION_MOVING = 0.5
#: The labeler probes MOTION_FRAMES frames from the start of the video, about 1/MOTION_FPS s
#: apart (every round(fps / MOTION_FPS)-th frame: the same time step at 24, 30 or 60 fps).
MOTION_FRAMES = 6
MOTION_FPS = 15.0
#: After the opening probe, the profile is re-picked when the motion class has called for the
#: other profile this long (seconds of video, counted in :class:`MotionTracker` pairs): a camera
#: move that settles into a still shot, or a still shot cut to a pan. The moving profile on still content
#: measured 1e-13 unattacked and 1e-7 after H.264 CRF 28 (the still profile: 1e-89 / 1e-82).
SWITCH_SECONDS = 1.0
#: The tracker reads one pair of frames (1/MOTION_FPS s apart) every TRACK_SECONDS, and the
#: median of the last TRACK_PAIRS pairs' moving fractions (so a switch comes ~1.5-2.5 s after
#: the change).
TRACK_SECONDS = 0.5
TRACK_PAIRS = 3
#: Fixed-point scale of the uint8 mask.
_MASK_Q = 255.0 / MASK_MAX
_DERIVE_STRENGTH = 8.0


def video_pattern(width: int, height: int, payload: int, key: bytes, scale: int = 1) -> np.ndarray:
    """The image watermark's spatial pattern for a ``width`` x ``height`` frame, float32,
    unit rms (zero where nothing fits), with tiles ``scale`` times the image engine's
    (:attr:`MarkProfile.pattern_scale`).

    Derived through the public embedder on a flat grey frame ``scale`` times the frame's size
    in each direction (reduced so its short side is at most ``scale * DERIVE_SHORT``), whose
    centre is cropped and resized (cubic) to the frame. When the embedder leaves flat frames
    unmarked, a fine uniform texture is used instead (its mask is uniform on average)."""
    if scale not in (1, 2):
        raise ValueError(f"pattern scale must be 1 or 2, got {scale!r}")
    # scale 1: the frame itself (the pattern of the releases before the moving profile)
    c = 1.0 if scale == 1 else min(1.0, DERIVE_SHORT / max(1, min(width, height)))
    dw, dh = max(1, round(scale * width * c)), max(1, round(scale * height * c))
    cw, ch = max(1, round(width * c)), max(1, round(height * c))
    flat = np.full((dh, dw, 3), 128, np.uint8)
    res = watermark.embed_image(flat, payload, key, strength=_DERIVE_STRENGTH)[..., 1].astype(np.float32)
    res -= 128.0
    if float(np.sqrt(np.mean(res * res))) < 0.5:
        rng = np.random.default_rng(12345)
        tex = np.clip(128 + rng.normal(0, 6, (dh, dw)), 0, 255).astype(np.uint8)
        tex3 = np.repeat(tex[..., None], 3, axis=2)
        res = watermark.embed_image(tex3, payload, key, strength=_DERIVE_STRENGTH)[..., 1].astype(np.float32)
        res -= tex
    y0, x0 = (dh - ch) // 2, (dw - cw) // 2
    res = res[y0:y0 + ch, x0:x0 + cw]
    if (ch, cw) != (height, width):
        res = cv2.resize(res, (width, height), interpolation=cv2.INTER_CUBIC)
    rms = float(np.sqrt(np.mean(res * res)))
    if rms < 1e-6:
        return np.zeros((height, width), np.float32)
    return np.ascontiguousarray(res / rms, dtype=np.float32)


def moving_fraction(lumas: list[np.ndarray]) -> float:
    """Fraction of the picture's textured area whose content changes from frame to frame.

    ``lumas``: uint8 (or float) H x W luma planes of one size, consecutive or evenly spaced
    frames, at least two (else 0). Each is reduced (area average, which also averages sensor
    noise away) to a short side of :data:`MOTION_SHORT` and cut into :data:`MOTION_BLOCK`-px
    blocks. Per pair of frames, a block is *textured* when its mean square high-pass (sigma
    :data:`MOTION_HP_SIGMA`) exceeds :data:`MOTION_TEXTURE_FLOOR`, and *moved* when the mean
    square frame difference exceeds :data:`MOTION_REL` times that. Returns the median over
    pairs of moved / textured blocks. Counting area rather than difference energy keeps one
    small high-contrast object crossing a still scene from counting as camera motion."""
    if len(lumas) < 2:
        return 0.0
    small = [motion_luma(y) for y in lumas]
    return float(np.median([pair_moving_fraction(a, b) for a, b in zip(small, small[1:])]))


def motion_luma(y: np.ndarray) -> np.ndarray:
    """A luma plane as the motion probe reads it: area-reduced to a short side of
    :data:`MOTION_SHORT` (unchanged when already that small), float32."""
    h, w = y.shape[:2]
    c = min(1.0, MOTION_SHORT / max(1, min(h, w)))
    if c >= 1.0:
        return np.asarray(y, np.float32)
    size = (max(1, round(w * c)), max(1, round(h * c)))
    return cv2.resize(y, size, interpolation=cv2.INTER_AREA).astype(np.float32)


def pair_moving_fraction(a: np.ndarray, b: np.ndarray) -> float:
    """Moved / textured blocks between two :func:`motion_luma` planes (see
    :func:`moving_fraction`, the median of these over consecutive pairs)."""
    h, w = a.shape
    blocks = (max(1, w // MOTION_BLOCK), max(1, h // MOTION_BLOCK))
    hp = a - cv2.GaussianBlur(a, (0, 0), MOTION_HP_SIGMA)
    tex = cv2.resize(hp * hp, blocks, interpolation=cv2.INTER_AREA)
    d = a - b
    moved = cv2.resize(d * d, blocks, interpolation=cv2.INTER_AREA) > MOTION_REL * tex
    textured = tex > MOTION_TEXTURE_FLOOR
    return float(np.mean(moved[textured])) if textured.any() else 0.0


class MotionTracker:
    """Follows the motion class of a video after its opening probe, to re-pick the profile when
    the content changes for good (a camera move that settles, a still shot cut to a pan).

    Every :data:`TRACK_SECONDS` it reads one pair of lumas about 1/MOTION_FPS s apart (the
    probe's spacing, so :func:`pair_moving_fraction` keeps its calibration): handed in with
    :meth:`add_pair`, or picked from every frame by :meth:`frame` (:meth:`for_video`). It keeps the last :data:`TRACK_PAIRS` fractions and returns the profile to
    switch to once their median has called for another profile for :data:`SWITCH_SECONDS`
    running, else None; a class that flips back within that time resets the count. Sparse pairs
    keep it cheap: 6 ms per pair at 1080p on a loaded machine (two area reductions and the
    fraction), 0.4 ms per frame at 30 fps, against ~1.9 ms per frame for a pair at every probe
    sample."""

    def __init__(self, profile: MarkProfile, pair_seconds: float = TRACK_SECONDS) -> None:
        self.profile = profile
        self.need = max(1, math.ceil(SWITCH_SECONDS / max(pair_seconds, 1e-6)))
        self.fractions: list[float] = []
        self.count = 0
        self.probe_step = 1             # frames between a pair's two frames (see for_video)
        self.track_step = 2             # frames between pairs
        self._first: np.ndarray | None = None

    @classmethod
    def for_video(cls, profile: MarkProfile, fps: float) -> "MotionTracker":
        """A tracker fed every frame of a ``fps`` video through :meth:`frame`: a pair of frames
        :func:`probe_step` apart every ~:data:`TRACK_SECONDS`."""
        probe = probe_step(fps)
        track = max(probe + 1, round(fps * TRACK_SECONDS))
        tr = cls(profile, track / fps)
        tr.probe_step, tr.track_step = probe, track
        return tr

    def frame(self, index: int, y: np.ndarray) -> MarkProfile | None:
        """Frame ``index`` (counted from the start of the video) with luma plane ``y``: keeps
        the first frame of each pair (reduced), reads the pair at its second frame, and returns
        what :meth:`add_pair` returns (None on every other frame, at no cost)."""
        phase = index % self.track_step
        if phase == 0:
            self._first = motion_luma(y)
        elif phase == self.probe_step and self._first is not None:
            first, self._first = self._first, None
            return self.add_pair(first, y)
        return None

    def add_pair(self, a: np.ndarray, b: np.ndarray) -> MarkProfile | None:
        """``a``, ``b``: uint8 luma planes (or :func:`motion_luma` planes) of one size."""
        a, b = motion_luma(a), motion_luma(b)
        if a.shape != b.shape:
            return None
        self.fractions = (self.fractions + [pair_moving_fraction(a, b)])[-TRACK_PAIRS:]
        if len(self.fractions) < TRACK_PAIRS:
            return None
        want = profile_for(float(np.median(self.fractions)))
        if want is self.profile:
            self.count = 0
            return None
        self.count += 1
        if self.count < self.need:
            return None
        self.profile, self.count = want, 0
        return want


def probe_step(fps: float) -> int:
    """Frames between two motion samples of a ``fps`` video: about 1/:data:`MOTION_FPS` s
    (every round(fps / MOTION_FPS)-th frame), the spacing :func:`pair_moving_fraction` is
    calibrated for."""
    return max(1, round(float(fps or 25) / MOTION_FPS))


def profile_for(moving: float) -> MarkProfile:
    """:data:`MOVING` when the moving fraction (:func:`moving_fraction`) reaches
    :data:`MOTION_MOVING`, else :data:`STILL`. The detector needs no hint: it searches both
    tile scales."""
    return MOVING if moving >= MOTION_MOVING else STILL



def flat_warning(lumas: list[np.ndarray], *, full_range: bool = False) -> str | None:
    """A warning when the video's opening frames are too flat to carry a reliable mark, else
    None. ``lumas``: uint8 H x W luma planes (e.g. the motion probe's frames); ``full_range``:
    0-255 luma rather than 16-235 (the texture is compared in RGB-equivalent levels).

    The same test as the image engine's (:func:`synthlabel.watermark.texture_level` below
    :data:`synthlabel.watermark.FLAT_TEXTURE`), on the median over the frames. Pooling over
    frames does not make up for it: a 540p pan over a dark, mostly empty sky (median texture
    0.63) carried a mark that H.264 CRF 28 kept (p 1e-12 to 1e-19 in four runs, the payload in
    three) but H.265 CRF 28 removed."""
    if not lumas:
        return None
    gain = 1.0 if full_range else 255.0 / 219.0
    med = float(np.median([watermark.texture_level(y) for y in lumas])) * gain
    if med >= watermark.FLAT_TEXTURE:
        return None
    return (f"video is mostly flat (median texture {med:.2f} < {watermark.FLAT_TEXTURE} levels in "
            "its opening frames): the watermark is weak and may not survive re-encoding")


class FrameMarker:
    """Marks 8-bit luma planes of ``width`` x ``height`` frames in place (see module notes).

    ``full_range``: luma is 0-255 ("pc"/JPEG range) rather than 16-235. ``profile``: pattern
    scale, amplitude and mask floor (:data:`STILL` or :data:`MOVING`, see
    :func:`profile_for`). ``strength`` scales the profile's amplitude (0.25-4). ``pattern``:
    the :func:`video_pattern` of this profile when the caller already has it (e.g. rotated to
    the coded orientation)."""

    def __init__(self, width: int, height: int, payload: int, key: bytes, *,
                 full_range: bool = False, strength: float = 1.0,
                 pattern: np.ndarray | None = None, profile: MarkProfile = STILL) -> None:
        if not 0.25 <= float(strength) <= 4.0:
            raise ValueError(f"strength must be within 0.25..4, got {strength!r}")
        self.width, self.height = int(width), int(height)
        self.profile = profile
        pat = (video_pattern(self.width, self.height, payload, key, profile.pattern_scale)
               if pattern is None else pattern)
        if pat.shape != (self.height, self.width):
            raise ValueError(f"pattern shape {pat.shape} does not match {self.width}x{self.height}")
        # Y delta = pattern * amplitude * strength * range_scale * mask, in saturating uint8
        # arithmetic only (SIMD, one pass each, no float image at full size): with the pattern's
        # magnitude stored as uint8 |p| (x q, q = 255 / max |pattern|) and the mask as uint8
        # m8 = mask * _MASK_Q, the magnitude D = |p| * m8 * scale (scale = amplitude * strength
        # * range / (q * _MASK_Q)) is rounded to whole levels in one multiply, split by the
        # pattern's sign with two ANDs (sign mask 0/255), then added and subtracted. The positive
        # and negative parts never overlap, so the two saturating steps equal one saturating add
        # of the signed delta. (int16 math took ~1.9 ms per 1080p frame, this ~1.1.)
        rng_scale = 1.0 if full_range else 219.0 / 255.0
        peak = float(np.max(np.abs(pat))) if pat.size else 0.0
        q = 255.0 / peak if peak > 0 else 1.0
        self._mag = np.rint(np.abs(pat) * q).astype(np.uint8)
        self._pos = np.where(pat > 0, 255, 0).astype(np.uint8)
        self._neg = cv2.bitwise_not(self._pos)
        self._scale = profile.amplitude * float(strength) * rng_scale / (q * _MASK_Q)
        step = max(1, min(self.height, self.width) // MASK_SHORT)
        sh, sw = max(1, self.height // step), max(1, self.width // step)
        self._small = (sh, sw)
        self._coarse = (max(1, sh // 4), max(1, sw // 4))
        self._m_full = np.empty((self.height, self.width), np.uint8)
        self._delta = np.empty((self.height, self.width), np.uint8)
        self._part = np.empty((self.height, self.width), np.uint8)
        self._black = 16.0 if not full_range else 0.0
        self._luma_gain = 255.0 / 219.0 if not full_range else 1.0
        self.empty = not bool(np.any(self._mag))

    def mask(self, y: np.ndarray) -> np.ndarray:
        """uint8 mask (x :data:`_MASK_Q`, 0..255) at full size for luma plane ``y``.

        Texture is measured on a reduced grid (short side ~ :data:`MASK_SHORT`; bilinear
        reduction averages 2x2 pixels at integer factors, which halves pixel-level sensor noise:
        the encoder removes such noise, so it must not count as masking) and pooled on a 4x
        coarser grid; the smooth result is upsampled once."""
        sh, sw = self._small
        small = y if (sh, sw) == y.shape else cv2.resize(y, (sw, sh), interpolation=cv2.INTER_LINEAR)
        small = small.astype(np.float32)
        if self._black:
            small -= self._black
            small *= self._luma_gain                       # to RGB-equivalent levels
        hp = small - cv2.GaussianBlur(small, (0, 0), HP_SIGMA)
        hp *= hp
        ch, cw = self._coarse
        e = cv2.resize(hp, (cw, ch), interpolation=cv2.INTER_AREA)
        e = cv2.GaussianBlur(e, (0, 0), POOL_SIGMA / 4.0)
        lum = cv2.resize(small, (cw, ch), interpolation=cv2.INTER_AREA)
        m = np.sqrt(e)
        m *= 1.0 / ACT_REF
        np.clip(m, self.profile.mask_min, MASK_MAX, out=m)
        lum += DARK_OFFSET
        lum *= 1.0 / (128.0 + DARK_OFFSET)
        np.clip(lum, DARK_MIN, 1.0, out=lum)
        m *= lum
        m *= _MASK_Q
        m8 = cv2.convertScaleAbs(m)                          # rounds, saturates to 0..255
        return cv2.resize(m8, (self.width, self.height), dst=self._m_full,
                          interpolation=cv2.INTER_LINEAR)

    def mark(self, y: np.ndarray) -> None:
        """Add the mark to the uint8 luma plane ``y`` (H x W view, may be strided) in place."""
        if self.empty:
            return
        if y.shape != (self.height, self.width) or y.dtype != np.uint8:
            raise ValueError(f"expected a {self.width}x{self.height} uint8 luma plane, got {y.dtype} {y.shape}")
        m8 = self.mask(y)
        d, part = self._delta, self._part
        cv2.multiply(self._mag, m8, dst=d, scale=self._scale)
        cv2.add(y, cv2.bitwise_and(d, self._pos, dst=part), dst=y)
        cv2.subtract(y, cv2.bitwise_and(d, self._neg, dst=part), dst=y)


# --------------------------------------------------------------------------- detection


@dataclass
class VideoDetection:
    """Result of pooled video detection. ``p_value`` is the one test's (or Bonferroni over the
    ``tests`` run); ``frames`` the number of frames pooled."""

    detected: bool
    payload: int | None
    p_value: float
    score: float
    frames: int = 0
    tests: int = 0
    bit_confidence: float | None = None
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["payload_hex"] = f"{self.payload:016x}" if self.payload is not None else None
        return d


#: Pooling grid: frames are reduced so their short side is at most this (the image detector is
#: scale-invariant and works on a coarser grid anyway), then whitened and averaged.
POOL_SHORT = 540
#: Whitening before averaging: high-pass sigma and local-contrast pooling sigma as fractions of
#: the pooled frame's short side, and the contrast floor (levels) that keeps flat areas quiet.
WHITEN_HP = 1.0 / 64.0
WHITEN_POOL = 1.5 / 64.0
WHITEN_FLOOR = 2.0
#: Contrast of the pooled image handed to the detector (std in uint8 levels around 128).
POOL_STD = 40.0


def whiten(luma: np.ndarray) -> np.ndarray:
    """Per-frame whitening (float32): high-pass divided by local contrast. A moving
    high-contrast edge in one frame then weighs no more than the mark in any other frame.

    Both blurs are wide (sigmas 8.4 and 12.7 px at 540p), so both run at half resolution
    (:func:`.filters.local_mean`): with OpenCV's full-resolution 4-sigma kernels they took
    ~30 ms per frame, for up to 150 frames per video."""
    short = min(luma.shape)
    hp, loc = local_contrast(luma, max(0.8, short * WHITEN_HP), max(1.2, short * WHITEN_POOL),
                             hp_blur=local_mean)
    loc += WHITEN_FLOOR
    hp /= loc
    return hp


class LumaPool:
    """Running average of whitened luma frames (display orientation, full-range uint8 in).

    The mark is static and content moves: averaging keeps the mark and washes the content
    out. Each frame is reduced to a short side <= :data:`POOL_SHORT` and whitened first
    (:func:`whiten`), so the pooled evidence is not dominated by a few high-contrast frames."""

    def __init__(self, pool_short: int = POOL_SHORT) -> None:
        self.pool_short = int(pool_short)
        self.sum: np.ndarray | None = None
        self.count = 0
        self.shape: tuple[int, int] | None = None      # input frame shape
        self._size: tuple[int, int] | None = None      # pooled (w, h)

    def add(self, luma: np.ndarray) -> bool:
        """Add one luma frame; frames of another size than the first (a mid-stream resolution
        change) are ignored and reported False."""
        if self.shape is None:
            self.shape = luma.shape
            h, w = luma.shape
            c = min(1.0, self.pool_short / max(1, min(h, w)))
            self._size = (max(1, round(w * c)), max(1, round(h * c)))
        elif luma.shape != self.shape:
            return False
        if self._size != (luma.shape[1], luma.shape[0]):
            luma = cv2.resize(luma, self._size, interpolation=cv2.INTER_AREA)
        wh = whiten(luma)
        if self.sum is None:
            self.sum = wh
        else:
            self.sum += wh
        self.count += 1
        return True

    def image(self) -> np.ndarray | None:
        """The pooled evidence as a uint8 image for the image detector."""
        if self.sum is None or not self.count:
            return None
        avg = self.sum / self.count
        sd = float(avg.std())
        gain = POOL_STD / sd if sd > 1e-9 else 0.0
        return np.clip(np.rint(avg * gain + 128.0), 0, 255).astype(np.uint8)


def detect_pooled(pool: LumaPool, key: bytes, *, extra: list[np.ndarray] | None = None) -> VideoDetection:
    """Run the image detector on the pooled average (one test). ``extra``: further uint8
    luma images to test (e.g. partial averages); then the p-value is Bonferroni-corrected
    over all tests and a payload is taken from the best test whose CRC holds."""
    avg = pool.image()
    if avg is None:
        return VideoDetection(False, None, 1.0, 0.0, 0, 0, details={"reason": "no frames decoded"})
    images = [avg] + list(extra or [])
    n = len(images)
    best = None
    best_with_payload = None
    for img in images:
        det = watermark.detect_image(img, key)
        if best is None or det.p_value < best.p_value:
            best = det
        if det.payload is not None and (best_with_payload is None or det.p_value < best_with_payload.p_value):
            best_with_payload = det
    p = min(1.0, best.p_value * n)
    detected = p <= 1e-6
    chosen = best_with_payload if (detected and best_with_payload is not None
                                   and best_with_payload.p_value * n <= 1e-6) else best
    payload = chosen.payload if detected else None
    details = {"image": {k: v for k, v in chosen.to_dict().items() if k != "details"},
               "image_details": chosen.details, "weak": chosen.weak,
               "pooled_shape": list(avg.shape)}
    return VideoDetection(bool(detected), payload, float(p), float(chosen.score), pool.count, n,
                          chosen.bit_confidence if detected else None, details)
