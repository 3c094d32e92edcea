"""Video watermark: the image mark laid on every frame's luma plane, pooled over frames to detect.

No file I/O here (the demuxing side is :func:`synthlabel.labeling_video.detect_video`); this
module only uses the *public* image watermark API (:func:`synthlabel.watermark.embed_image`,
:func:`synthlabel.watermark.detect_image`), so changes inside the image engine carry over. Both
are called with ``grid="coarse"``: the video mark is tuned on the image engine's coarse working
grid, which image v5 keeps for pictures under 1080 px only.

Embedding (:class:`FrameMarker`)
    The image mark is a keyed, *static* pattern (a tile repeated over the picture) scaled by a
    perceptual mask. Its spatial layout depends only on the frame size, the key and the payload,
    so it is derived ONCE per video through the public embedder: ``embed_image`` on a flat grey
    frame (at maximum strength, for precision) minus that frame is the pattern as the embedder
    lays it down where the mask is uniform. It is normalised to unit rms and stored as its
    magnitude (uint8, scaled so the peak is 255) and its sign (two 0/255 masks).

    Per frame, only the luma plane of the decoded 8-bit YUV frame is touched (chroma is left
    as is, exactly as the image embedder adds the same value to R, G and B):

    1. when the mark *follows the picture* (``follow``, the labeler's default since stop 19),
       the pattern is moved by the picture's position since the first frame
       (:class:`.motion.ShiftTracker` on the mask grid; whole pixels, modulo the pattern's
       period: a window into a copy one period larger, so moving it costs nothing);
    2. the perceptual mask is computed on a small copy of the luma (short side ~
       :data:`MASK_SHORT` px): local texture (rms of a high-pass) relative to :data:`ACT_REF`,
       clipped to [profile's ``mask_min``, :data:`MASK_MAX`], times a darkness factor; it is
       then scaled to 0..255 (uint8) and upsampled (bilinear) to full size;
    3. ``Y += round(pattern * mask * amplitude)`` with saturation, in five OpenCV passes on
       uint8 data (SIMD): one multiply for the magnitude, two ANDs for the sign, one add, one
       subtract; no float or int16 image at full size.

    Limited-range video (the usual "tv" range) has 219 luma steps for 255 RGB levels; the
    amplitude is scaled by 219/255 so that the decoded RGB carries the same mark either way.
    Cost at 1080p, one core, isolated: 4.6-4.9 ms per frame at stop 11; 3.95-4.81 ms with
    motion following since stop 19, the mask and the motion being computed on every
    :data:`ANALYSE_EVERY`-th frame (see ``benchmarks/bench_video.py``).

    The mask floor is far lower than the image engine's: a static pattern over moving content
    shows on flat, slowly panning areas (sky) as a "dirty window" (seen at 0.35 x 3.0 levels
    on the benchmark clip), and the codec removes a faint mark there anyway; textured areas
    carry it, with a higher amplitude than the image engine so that the all-attacks chain
    (3 s excerpt + 480p + 24 fps + H.265 CRF 28) still decodes, and a lower ceiling
    (:data:`MASK_MAX`) so the median frame PSNR stays >= 40 dB.

A mark that follows the picture (stop 19)
    A mark fixed on the screen under a pan is new to the codec in every predicted frame: it
    codes the difference between the mark and its motion-shifted copy in the reference, and
    that was most of what labeling cost over a plain transcode (+55 % file size on the
    benchmark's pan, +290 % on a smooth portrait pan). Moved with the picture's global
    translation, the mark is predicted with the picture. The translation is estimated by
    phase correlation (:mod:`.motion`), which uses no key. Zooms, rotations and objects moving
    on their own are not followed: there the mark stays where the translation puts it.

    A mark that follows the picture gets the :data:`STILL` profile whatever the motion
    (:func:`profile_for`): lined up with the picture, it meets what a still shot's meets.
    Measured on the benchmark's 1080p pan (medians of 3 alternating runs): labeling 1.13-1.18 x
    a plain transcode (the fixed "moving" mark: 1.25-1.33 x), file +13 % (+54 %), the
    all-attacks chain read at p 1e-70 (1e-49); a smooth 1080x1920 portrait pan: 1.11 x
    (1.76 x), file -5 % (+478 %). See ``benchmarks/RESULTS.md``, stop 19.

Motion-adaptive profile for a fixed mark (:class:`MarkProfile`, :func:`profile_for`)
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
    Two averages of the sampled frames are tested. The *static* pool averages them where they
    are: a mark fixed on the screen (videos labeled before stop 19, and still shots) keeps
    its full amplitude while moving content washes out, so pooled evidence grows with the
    number of frames. The *registered* pool first moves each frame back by the picture's
    position (the same key-free estimate as the embedder's), onto a canvas that grows with a
    pan: there a mark that follows the picture lines up (the content lines up too, so its
    whitened spectrum is the noise, as in a still shot). Runs of consecutive frames are
    registered apart (a long video is read from a few runs after seeks). The registered pools
    are tested first, and the p-value is Bonferroni over the pools tested. Each frame is whitened first (high-pass over local
    contrast, like the image detector's own pre-whitening), which measured better than averaging
    raw luma (H.264 480p: p 1e-39 -> 1e-55; the all-attacks chain: 2e-8 -> 9e-13).
    Each pooled image is handed to ``detect_image`` once, and its p-value already counts
    every shift/scale/angle searched: with the Bonferroni factor for the pools, the
    false-positive rate stays <= 1e-6 per file at the image threshold.
    Optional extra tests (the pool split in halves, for clips whose content barely moves in
    one half) are Bonferroni-corrected: the reported p-value is ``min(p) * n_tests``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import cv2
import numpy as np

from .. import watermark
from . import motion
from .filters import local_contrast, local_mean
from .wm_image import work_size
from .wm_params import TILE

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
#: The mark (moved by whole pixels) follows the picture's position (:class:`FrameMarker`
#: ``follow``) once that is this many px away from the mark's: a still camera's estimates (a
#: few hundredths of a pixel on the mask grid) must not make the mark flicker between two
#: positions.
FOLLOW_HYSTERESIS = 0.7
#: ... and only while the picture moves at least FOLLOW_SPEED px per frame, measured over the
#: last FOLLOW_FRAMES frames. A slow zoom read as a steady drift of ~0.1 px per frame, and a
#: mark creeping with it lost its payload after H.264 CRF 28 (p 3e-5; left still: 5e-36);
#: a static mark under such slow motion costs the codec little.
FOLLOW_SPEED = 0.5
FOLLOW_FRAMES = 8
#: ... and only while moving the picture by the followed motion explains its texture's change
#: between analysed frames better than not moving it (:meth:`FrameMarker._global`; measured:
#: 1.4-3.7 where the tracker followed ffmpeg's testsrc2 box over still colour fields, at most
#: 0.72 (median; no frame above 1) on the benchmark's pan under moving discs).
GLOBAL_RATIO = 1.0
GLOBAL_FRAMES = 4
#: Whether the labeler's frame mark follows the picture's motion.
FOLLOW_MOTION = True
#: The mask (and, for a mark that follows the picture, the motion) is computed on every
#: ANALYSE_EVERY-th frame; the frames between reuse the mask and carry the motion on at its
#: last speed. Every frame took 5.25 ms per 1080p frame with motion following (target 5).
ANALYSE_EVERY = 2
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
    # the coarse grid at every size: the video mark is tuned for it (a fine-grid 1080p pattern
    # would put the band where the 480p step and the encoder take it away)
    res = watermark.embed_image(flat, payload, key, strength=_DERIVE_STRENGTH,
                                grid="coarse")[..., 1].astype(np.float32)
    res -= 128.0
    if float(np.sqrt(np.mean(res * res))) < 0.5:
        rng = np.random.default_rng(12345)
        tex = np.clip(128 + rng.normal(0, 6, (dh, dw)), 0, 255).astype(np.uint8)
        tex3 = np.repeat(tex[..., None], 3, axis=2)
        res = watermark.embed_image(tex3, payload, key, strength=_DERIVE_STRENGTH,
                                    grid="coarse")[..., 1].astype(np.float32)
        res -= tex
    y0, x0 = (dh - ch) // 2, (dw - cw) // 2
    res = res[y0:y0 + ch, x0:x0 + cw]
    if (ch, cw) != (height, width):
        res = cv2.resize(res, (width, height), interpolation=cv2.INTER_CUBIC)
    rms = float(np.sqrt(np.mean(res * res)))
    if rms < 1e-6:
        return np.zeros((height, width), np.float32)
    return np.ascontiguousarray(res / rms, dtype=np.float32)


def pattern_period(width: int, height: int, scale: int = 1) -> tuple[float, float]:
    """(Ty, Tx): the period in px of :func:`video_pattern`'s tiling for a ``width`` x ``height``
    frame, traced through its derivation (the image engine's working grid, the derive frame's
    reduction and the final resize)."""
    c = 1.0 if scale == 1 else min(1.0, DERIVE_SHORT / max(1, min(width, height)))
    dw, dh = max(1, round(scale * width * c)), max(1, round(scale * height * c))
    cw, ch = max(1, round(width * c)), max(1, round(height * c))
    hw, ww = work_size(dh, dw)
    return TILE * (dh / hw) * (height / ch), TILE * (dw / ww) * (width / cw)


def whole_period(t: float, side: int) -> int:
    """The smallest whole number of px that is a multiple of the period ``t`` to within
    0.1 px and shorter than ``side`` (e.g. 135 for 67.5), else ``round(t)``: the mark moves by
    whole pixels, modulo this."""
    for k in range(1, 9):
        kt = k * t
        if kt >= side:
            break
        if abs(kt - round(kt)) <= 0.1:
            return int(round(kt))
    return int(round(t))


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
        want = profile_for(float(np.median(self.fractions)), follow=False)
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


def profile_for(moving: float, follow: bool | None = None) -> MarkProfile:
    """The profile for content whose moving fraction (:func:`moving_fraction`) is ``moving``.

    When the mark follows the picture (``follow``, default :data:`FOLLOW_MOTION`): always
    :data:`STILL`, since a mark moving with a pan meets what a still shot's meets (the
    registered pool cannot wash the host out), and moving with the picture it no longer costs
    the codec what a fixed mark did. Else :data:`MOVING` when ``moving`` reaches
    :data:`MOTION_MOVING`, and :data:`STILL` below. The detector needs no hint: it searches
    both tile scales."""
    if FOLLOW_MOTION if follow is None else follow:
        return STILL
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
                 pattern: np.ndarray | None = None, profile: MarkProfile = STILL,
                 follow: bool = False, period: tuple[float, float] | None = None) -> None:
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
        # Following the picture (see the module notes): the pattern is periodic, so a window
        # of one period more than the frame, at the motion's offset modulo the period, is the
        # pattern moved by that offset. Its arrays are views of an extended copy: no per-frame
        # cost but the motion estimate.
        self.offset = np.zeros(2)                 # (x, y) whole px the mark has moved so far
        self._lag = np.zeros(2)                   # picture motion the mark did not follow
        self._history: list[np.ndarray] = []      # the picture's last positions (speed)
        self._at = np.zeros(2)                    # the picture's position, frame px
        self._est = np.zeros(2)                   # ... as last estimated (not carried on)
        self._step = np.zeros(2)                  # its motion per frame at the last estimate
        self._n = 0                               # frames marked
        self._prev_small: tuple[np.ndarray, np.ndarray] | None = None   # texture, position
        self._ratios: list[float] = []            # residual / difference energy (_global)
        self._is_global = False
        #: (x0, y0, x1, y1) px of something that stands still on purpose over the picture
        #: (the explicit label), left out when judging whether the motion is global.
        self.still_rect: tuple[int, int, int, int] | None = None
        self.follow = None
        if follow and not self.empty:
            py, px = period or pattern_period(self.width, self.height, profile.pattern_scale)
            ty, tx = whole_period(py, self.height), whole_period(px, self.width)
            if 0 < ty < self.height and 0 < tx < self.width:
                self._ext = [self._extend(a, ty, tx) for a in (self._mag, self._pos, self._neg)]
                self._period = (ty, tx)
                self.follow = motion.ShiftTracker(sh, sw)
                self._to_full = (self.width / sw, self.height / sh)

    @staticmethod
    def _extend(a: np.ndarray, ty: int, tx: int) -> np.ndarray:
        """``a`` (one period of which holds the pattern) with one more period above and to
        the left: ext[ty + y, tx + x] = a[y, x] for y >= -ty, x >= -tx."""
        h, w = a.shape
        e = np.empty((h + ty, w + tx), a.dtype)
        e[ty:, tx:] = a
        e[:ty, tx:] = a[:ty]
        e[:, :tx] = e[:, tx:2 * tx]
        return e

    def _move(self, small: np.ndarray) -> None:
        """Move the pattern with the picture (its position since the first frame) while the
        followed motion is the picture's as a whole (:meth:`_global`) and at least
        FOLLOW_SPEED: slower drifts are left alone (``_lag`` takes them up), which keeps the
        mark still under a zoom or a nearly still camera, where the position estimate creeps
        by a tenth of a pixel per frame, and on a still shot with an object crossing it (the
        estimate may follow the object)."""
        pos = self.follow.update(small)
        if pos is None:
            self._step = np.zeros(2)
            self._prev_small = None
            self._window()
            return
        at = np.array((pos[0] * self._to_full[0], pos[1] * self._to_full[1]))
        self._step = (at - self._est) / ANALYSE_EVERY if self._history else np.zeros(2)
        self._est = at
        self._is_global = self._global(small, pos)
        self._follow_to(at)

    def _global(self, small: np.ndarray, pos: tuple[float, float]) -> bool:
        """Whether the motion the tracker follows is the picture's as a whole: the last
        analysed plane's texture (high-passed, where the mask puts the mark), moved by it,
        must match this plane's better than left where it was (the median over the last
        GLOBAL_FRAMES analysed frames of the two difference energies' ratio below
        GLOBAL_RATIO). On a still shot with something crossing it the tracker may follow the
        object (ffmpeg's testsrc2: ratios 1.4-3.7), and moving the mark with it would drag it
        over the still background; the benchmark's pan under moving discs: 0.69-0.72; pans
        0.00-0.14."""
        hp = motion.highpass(small)
        if self.still_rect is not None:
            # a plate that stands still on purpose (the labeler's explicit label) is left out:
            # it alone kept the benchmark's pan from being followed during its first 3 s (file
            # +23 % instead of +11 %)
            (x0, y0, x1, y1), (fx, fy) = self.still_rect, self._to_full
            m = motion.HIGHPASS_BOX
            hp[max(0, int(y0 / fy) - m):int(math.ceil(y1 / fy)) + m,
               max(0, int(x0 / fx) - m):int(math.ceil(x1 / fx)) + m] = 0.0
        prev, self._prev_small = self._prev_small, (hp, np.array(pos))
        if prev is not None:
            p, p_pos = prev
            dx, dy = (int(round(v)) for v in np.array(pos) - p_pos)
            h, w = small.shape
            if abs(dx) < w // 2 and abs(dy) < h // 2:
                here = (slice(max(0, dy), h + min(0, dy)), slice(max(0, dx), w + min(0, dx)))
                there = (slice(max(0, -dy), h + min(0, -dy)), slice(max(0, -dx), w + min(0, -dx)))
                cur = hp[here]
                moved = cv2.norm(cur, p[there], cv2.NORM_L2SQR)     # prev moved by the motion
                still = cv2.norm(cur, p[here], cv2.NORM_L2SQR)      # prev where it was
                self._ratios = (self._ratios + [moved / max(still, 1e-6)])[-GLOBAL_FRAMES:]
        return bool(self._ratios) and float(np.median(self._ratios)) < GLOBAL_RATIO

    def _follow_to(self, at: np.ndarray) -> None:
        """The picture is at ``at`` (px from where it was in the first frame): move the mark
        (see :meth:`_move`)."""
        self._at = at
        self._history = (self._history + [at])[-FOLLOW_FRAMES - 1:]
        speed = float(np.hypot(*(at - self._history[0]))) / max(1, len(self._history) - 1)
        if speed < FOLLOW_SPEED or not self._is_global:
            self._lag = at - self.offset
        else:
            target = at - self._lag
            moved = np.abs(target - self.offset) > FOLLOW_HYSTERESIS
            self.offset[moved] = np.round(target[moved])
        self._window()

    def _window(self) -> None:
        """Point the pattern's arrays at the window of the extended copy for ``offset``."""
        ty, tx = self._period
        ox, oy = int(self.offset[0]) % tx, int(self.offset[1]) % ty
        win = (slice(ty - oy, ty - oy + self.height), slice(tx - ox, tx - ox + self.width))
        self._mag, self._pos, self._neg = (e[win] for e in self._ext)

    def mask(self, y: np.ndarray) -> np.ndarray:
        """uint8 mask (x :data:`_MASK_Q`, 0..255) at full size for luma plane ``y``.

        Texture is measured on a reduced grid (short side ~ :data:`MASK_SHORT`; each of its
        pixels averages a block of the frame, which removes most pixel-level sensor noise: the
        encoder removes such noise, so it must not count as masking) and pooled on a 4x
        coarser grid; the smooth result is upsampled once."""
        return self._mask(self._small_luma(y))

    def _small_luma(self, y: np.ndarray) -> np.ndarray:
        """The luma on the mask grid, float32: the average of each step x step block. By 2:1
        bilinear halvings when the step is a power of two (each averages 2 x 2 pixels exactly,
        as fast as one bilinear resize and 7x faster than OpenCV's area resize by 4), else
        by area. One bilinear resize by 4 averaged 4 of the 16 pixels: the fine texture it
        aliased moved the motion estimate onto whole steps (a steady 7.7 px pan read as 8,
        15 px of drift in 4 s)."""
        sh, sw = self._small
        small = y
        while small.shape != (sh, sw):
            h, w = small.shape
            if h // 2 >= sh and w // 2 >= sw and (h // 2, w // 2) != (h, w):
                small = cv2.resize(small, (max(sw, w // 2), max(sh, h // 2)), interpolation=cv2.INTER_LINEAR)
            else:
                small = cv2.resize(small, (sw, sh), interpolation=cv2.INTER_AREA)
        return small.astype(np.float32)

    def _mask(self, small: np.ndarray) -> np.ndarray:
        if self._black:
            small -= self._black
            small *= self._luma_gain                       # to RGB-equivalent levels
        hp = small - cv2.GaussianBlur(small, (0, 0), HP_SIGMA)
        hp *= hp
        ch, cw = self._coarse
        # By exactly 4 (the last 0-3 rows and columns left out): OpenCV's area reduction by a
        # whole factor is ~3x faster than by 270/67 (0.29 -> 0.09 ms on the 1080p mask grid).
        e = cv2.resize(hp[:4 * ch, :4 * cw], (cw, ch), interpolation=cv2.INTER_AREA)
        e = cv2.GaussianBlur(e, (0, 0), POOL_SIGMA / 4.0)
        lum = cv2.resize(small[:4 * ch, :4 * cw], (cw, ch), interpolation=cv2.INTER_AREA)
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
        if self._n % ANALYSE_EVERY == 0:
            small = self._small_luma(y)
            if self.follow is not None:
                self._move(small)
            m8 = self._mask(small)
        else:
            # In between: the last mask (smooth on a ~30 px scale at 1080p, so a frame's
            # motion barely moves it) and the motion carried on at its last speed.
            if self.follow is not None:
                self._follow_to(self._at + self._step)
            m8 = self._m_full
        self._n += 1
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
#: Registered pool (:class:`LumaPool`): motion is estimated on :func:`motion_luma` planes
#: (short side MOTION_SHORT, the embedder's mask grid's), the canvas grows in steps of
#: REG_GROW px and at most to REG_MAX_AREA frames' area (a long pan: later frames are left
#: out of it).
REG_GROW = 64
REG_MAX_AREA = 6.0


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


class _Canvas:
    """One registered run of frames: each whitened frame is placed where the picture's
    position (:class:`.motion.ShiftTracker`, key-free) says its content was in the run's first
    frame, on a canvas that grows with the pan (up to :data:`REG_MAX_AREA` frames' area)."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.tracker: motion.ShiftTracker | None = None   # on motion_luma planes (made on use)
        self.track_scale = (1.0, 1.0)
        self.sum = np.zeros(shape, np.float32)
        self.count = np.zeros(shape, np.float32)
        self.origin = np.zeros(2, np.int64)            # canvas (y, x) of the first frame's corner
        self.offset = np.zeros(2)                      # picture position (x, y), frame px
        self.frames = 0
        self.places: set[tuple[int, int]] = set()

    def add(self, luma: np.ndarray, wh: np.ndarray) -> None:
        h, w = wh.shape
        small = motion_luma(luma)
        if self.tracker is None:
            self.tracker = motion.ShiftTracker(*small.shape)
            self.track_scale = (w / small.shape[1], h / small.shape[0])
        pos = self.tracker.update(small)
        if pos is not None:          # else: placed where the last frame was
            self.offset = np.array((pos[0] * self.track_scale[0], pos[1] * self.track_scale[1]))
        # frame pixel (y, x) shows what the first frame showed at (y - oy, x - ox)
        top = int(round(-self.offset[1])) + int(self.origin[0])
        left = int(round(-self.offset[0])) + int(self.origin[1])
        ch, cw = self.sum.shape
        pad = (max(0, -top), max(0, top + h - ch), max(0, -left), max(0, left + w - cw))
        if any(pad):
            grow = [p + REG_GROW if p else 0 for p in pad]
            if (ch + grow[0] + grow[1]) * (cw + grow[2] + grow[3]) > REG_MAX_AREA * h * w:
                return                                     # the canvas is full: frame left out
            widths = ((grow[0], grow[1]), (grow[2], grow[3]))
            self.sum, self.count = np.pad(self.sum, widths), np.pad(self.count, widths)
            self.origin += (grow[0], grow[2])
            top, left = top + grow[0], left + grow[2]
        self.sum[top:top + h, left:left + w] += wh
        self.count[top:top + h, left:left + w] += 1.0
        self.frames += 1
        self.places.add((top - int(self.origin[0]), left - int(self.origin[1])))

    def average(self) -> np.ndarray | None:
        """The covered bounding box's average, or None when every frame lay in one place
        (nothing moved: the static pool holds the same evidence)."""
        if len(self.places) < 2:
            return None
        cov = self.count > 0
        rows, cols = np.flatnonzero(cov.any(axis=1)), np.flatnonzero(cov.any(axis=0))
        box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        s, n = self.sum[box], self.count[box]
        return np.divide(s, n, out=np.zeros_like(s), where=n > 0)


class LumaPool:
    """Running averages of whitened luma frames (display orientation, full-range uint8 in).

    Two kinds of pool, one per kind of mark (see the module notes, "Detection"):

    * the *static* pool averages every frame where it is: a mark fixed on the screen (the
      releases before motion following, and any still shot) stays while moving content washes
      out;
    * *registered* pools, one per run of consecutive frames, first move each frame back by the
      picture's motion since the run's first frame (:class:`.motion.ShiftTracker` on
      :func:`motion_luma` copies), onto a canvas that grows with the pan: a mark that
      follows the picture lines up there. Runs cannot be lined up with each other (the
      picture between them was not seen), so each is its own test. The registration uses no
      key, so testing the registered averages keeps the p-value valid.

    Each frame is reduced to a short side <= :data:`POOL_SHORT` and whitened first
    (:func:`whiten`), so the pooled evidence is not dominated by a few high-contrast frames."""

    def __init__(self, pool_short: int = POOL_SHORT) -> None:
        self.pool_short = int(pool_short)
        self.sum: np.ndarray | None = None
        self.count = 0
        self.shape: tuple[int, int] | None = None      # input frame shape
        self._size: tuple[int, int] | None = None      # pooled (w, h)
        self.runs: list[_Canvas] = []

    def add(self, luma: np.ndarray, *, run: bool = True, new_run: bool = False) -> bool:
        """Add one luma frame; frames of another size than the first (a mid-stream resolution
        change) are ignored and reported False. ``run``: the frame also goes to a registered
        pool (the current run, or a new one with ``new_run``, e.g. after a seek); frames
        sampled alone (seek points) go to the static pool only."""
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
            self.sum = wh.copy()
        else:
            self.sum += wh
        self.count += 1
        if run:
            if new_run or not self.runs:
                self.runs.append(_Canvas(wh.shape))
            self.runs[-1].add(luma, wh)
        return True

    @staticmethod
    def _to_uint8(avg: np.ndarray) -> np.ndarray:
        sd = float(avg.std())
        gain = POOL_STD / sd if sd > 1e-9 else 0.0
        return np.clip(np.rint(avg * gain + 128.0), 0, 255).astype(np.uint8)

    def image(self) -> np.ndarray | None:
        """The static pool's evidence as a uint8 image for the image detector."""
        if self.sum is None or not self.count:
            return None
        return self._to_uint8(self.sum / self.count)

    def registered_images(self) -> list[np.ndarray]:
        """Each registered run's evidence (uint8, the canvas's covered bounding box), leaving
        out runs that never moved (the static pool holds their evidence)."""
        return [self._to_uint8(avg) for r in self.runs if (avg := r.average()) is not None]


def detect_pooled(pool: LumaPool, key: bytes, *, extra: list[np.ndarray] | None = None) -> VideoDetection:
    """Run the image detector on the pooled averages: each registered run's, then the static
    pool's. ``extra``: further uint8 luma images to test. The p-value is Bonferroni-corrected
    over all tests and a payload is taken from the best test whose CRC holds."""
    avg = pool.image()
    if avg is None:
        return VideoDetection(False, None, 1.0, 0.0, 0, 0, details={"reason": "no frames decoded"})
    regs = pool.registered_images()
    # The registered pools first: a mark that follows the picture is found there, and once a
    # payload holds at p * n <= 1e-6 the other tests cannot change the decision (the p-value
    # stays the Bonferroni bound over all n).
    named = [("registered" if len(regs) == 1 else f"registered{i}", img) for i, img in enumerate(regs)] + \
        [("static", avg)] + [(f"extra{i}", img) for i, img in enumerate(extra or [])]
    n = len(named)
    results: list[tuple[str, object]] = []               # (pool name, image detection)
    for name, img in named:
        if any(d.payload is not None and d.p_value * n <= 1e-6 for _, d in results):
            break
        results.append((name, watermark.detect_image(img, key, grid="coarse")))
    best = min(results, key=lambda r: r[1].p_value)
    with_payload = [r for r in results if r[1].payload is not None]
    best_with_payload = min(with_payload, key=lambda r: r[1].p_value) if with_payload else None
    p = min(1.0, best[1].p_value * n)
    detected = p <= 1e-6
    chosen_name, chosen = (best_with_payload if (detected and best_with_payload is not None
                                                 and best_with_payload[1].p_value * n <= 1e-6)
                           else best)
    payload = chosen.payload if detected else None
    details = {"image": {k: v for k, v in chosen.to_dict().items() if k != "details"},
               "image_details": chosen.details, "weak": chosen.weak,
               "pool": chosen_name, "pooled_shape": list(avg.shape)}
    return VideoDetection(bool(detected), payload, float(p), float(chosen.score), pool.count, n,
                          chosen.bit_confidence if detected else None, details)
