"""Invisible, keyed, blind image watermark: the public API (thin; math in :mod:`core.wm_image`).

>>> marked = embed_image(rgb, 0x0123456789ABCDEF, key)     # uint8 HxWx3 in and out
>>> det = detect_image(marked, key)
>>> det.detected, hex(det.payload)

Presence is a calibrated hypothesis test on a keyed pilot (``p_value`` counts every shift,
scale and angle searched), combined with the payload's CRC-24 (a CRC that holds after soft
Viterbi decoding is 2^-24-unlikely under H0); ``detected`` means p <= 1e-6. The 64-bit payload
is returned only when its CRC-24 holds.
"""
from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import NamedTuple, TypeVar

import numpy as np

from .core import coding
from .core import wm_image as _wm
from .core import wm_audio_params as _AP
from .core import wm_params as _P
from .core.errors import ArgumentTypeError

IMAGE_ALG = _P.IMAGE_ALG
#: Median texture (8-bit levels, :func:`texture_level`) below which a picture is too flat to
#: carry a reliable mark.
FLAT_TEXTURE = _P.FLAT_ACTIVITY
#: Short side (pixels) below which an image is left unmarked (nothing meaningful fits).
MIN_SIDE = _P.MIN_SIDE

__all__ = ["IMAGE_ALG", "AUDIO_ALG", "FLAT_TEXTURE", "MIN_SIDE", "Detection", "AudioDetection", "AudioEmbedder",
           "capacity_warning", "detect_image", "embed_image", "embed_image_checked",
           "readback_warning", "payload_in_place", "texture_level", "audio_readback_warning",
           "detect_audio", "embed_audio", "detect_video", "detect_with_keys", "key_fingerprint",
           "watermark_keys"]


@dataclass(frozen=True)
class Detection:
    detected: bool          # presence test passed at the default threshold (FPR <= 1e-6 per image)
    payload: int | None     # 64-bit payload, ONLY when the CRC holds
    p_value: float          # presence p-value, accounting for the search (shifts/scales/angles)
    score: float            # the raw statistic (pilot correlation z-score)
    bit_confidence: float | None = None   # fraction of coded bits agreeing with the decoded codeword
    weak: bool = False      # image too small/flat to carry a reliable mark (reported, not hidden)
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["payload_hex"] = f"{self.payload:016x}" if self.payload is not None else None
        return d


def _check_key(key) -> bytes:
    if not isinstance(key, (bytes, bytearray, memoryview)):
        raise ArgumentTypeError(f"key must be bytes, got {type(key).__name__}")
    key = bytes(key)
    if len(key) < _P.MIN_KEY_BYTES:
        raise ValueError(f"key must be at least {_P.MIN_KEY_BYTES} bytes, got {len(key)}")
    return key


def _check_image(img) -> tuple[np.ndarray, np.ndarray | None]:
    """→ (color part HxWx3 or HxW gray, alpha or None); uint8 only."""
    if not isinstance(img, np.ndarray):
        hint = " (np.asarray(image) for a PIL image)" if hasattr(img, "getbands") else ""
        raise ArgumentTypeError(f"image must be a numpy array, got {type(img).__name__}{hint}")
    if img.dtype != np.uint8:
        raise ValueError(f"image must be uint8, got dtype {img.dtype}")
    if img.ndim == 2 or img.ndim == 3 and img.shape[2] == 3:
        color, alpha = img, None
    elif img.ndim == 3 and img.shape[2] == 4:
        color, alpha = img[..., :3], img[..., 3]
    elif img.ndim == 3 and img.shape[2] == 1:
        color, alpha = img[..., 0], None
    else:
        raise ValueError(f"image must be HxW, HxWx3 (RGB) or HxWx4 (RGBA), got shape {img.shape}")
    if min(color.shape[:2]) < 1:
        raise ValueError(f"empty image, shape {img.shape}")
    return np.ascontiguousarray(color), alpha


def _grid_arg(grid: str) -> bool:
    """``grid`` argument -> whether every picture is on the coarse grid."""
    if not isinstance(grid, str):
        raise ArgumentTypeError(f"grid must be a str ('auto' or 'coarse'), got {type(grid).__name__}")
    if grid not in ("auto", "coarse"):
        raise ValueError(f"grid must be 'auto' or 'coarse', got {grid!r}")
    return grid == "coarse"


def embed_image(rgb: np.ndarray, payload: int | bytes, key: bytes, *, strength: float = 1.0,
                grid: str = "auto") -> np.ndarray:
    """Embed a 64-bit ``payload`` (int in [0, 2**64) or 8 bytes) under ``key`` (>= 16 bytes).

    ``rgb``: uint8 HxWx3 (also HxW gray, HxWx4 RGBA: alpha kept). Returns a new array of the
    same shape. ``strength`` scales the mark amplitude (1.0: PSNR ~42.5 dB typical; 39-42 dB
    on pictures under 1080 px whose texture hides a stronger mark or would drown a 50 % crop's
    share of it, >= ~38.5 dB on uniformly busy ones; informed embedding cancels the host
    interference the detector would see).
    Images too small or flat to carry a reliable mark are still marked (weakly; under
    :data:`MIN_SIDE` pixels on the short side they are returned unmarked); check
    :func:`capacity_warning` to tell the user (or call :func:`embed_image_checked`, which
    returns both from one analysis).

    ``grid``: "auto" marks pictures from 1080 px on the short side on the fine working grid
    (:data:`IMAGE_ALG` v5: four times the mark samples, which is what survives a crop) and
    smaller ones on the coarse grid; "coarse" puts every picture on the coarse grid, as v4
    did (the video engine's frames, whose mark is tuned for it). :func:`detect_image` reads
    either.
    """
    return embed_image_checked(rgb, payload, key, strength=strength, grid=grid)[0]


def embed_image_checked(rgb: np.ndarray, payload: int | bytes, key: bytes, *,
                        strength: float = 1.0, grid: str = "auto") -> tuple[np.ndarray, str | None]:
    """:func:`embed_image` and :func:`capacity_warning` in one pass: ``(marked, warning)``,
    ``warning`` None when the image carries the mark reliably. Cheaper than calling both
    (the luma and its working grid are computed once: ~30 ms saved at 4K)."""
    key = _check_key(key)
    value = coding.payload_to_int(payload)
    if isinstance(strength, (bool, np.bool_)) or not isinstance(strength, (int, float, np.integer, np.floating)):
        raise ArgumentTypeError(f"strength must be a number in (0, 8], got {type(strength).__name__}")
    if not 0 < float(strength) <= 8:
        raise ValueError(f"strength must be a number in (0, 8], got {strength!r}")
    color, alpha = _check_image(rgb)
    if min(color.shape[:2]) < _P.MIN_SIDE:
        return rgb.copy(), _too_small(color)     # nothing meaningful fits
    coarse = _grid_arg(grid)
    out, issue = _wm.embed_rgb_checked(color, coding.encode_payload(value), key, float(strength),
                                       grid=_P.WORK_SHORT if coarse else None)
    if rgb.ndim == 3 and rgb.shape[2] == 1:
        out = out[..., None]
    if alpha is not None:
        out = np.dstack([out, alpha])
    return out, issue


def detect_image(rgb: np.ndarray, key: bytes, *, grid: str = "auto") -> Detection:
    """Blind detection under ``key``: presence test (pilot), then payload decoding if present.
    ``grid``: "auto" reads the working grids a picture of this size may carry (both from a
    short side of 500 px, each counted in the p-value); "coarse" reads the coarse grid only
    (for marks made with ``embed_image(..., grid="coarse")``: one test fewer to pay for)."""
    key = _check_key(key)
    coarse = _grid_arg(grid)
    color, _alpha = _check_image(rgb)
    luma = _wm.to_luma(color)
    if min(luma.shape) < _P.MIN_SIDE:
        return Detection(False, None, 1.0, 0.0, None, True, {"reason": "image too small"})
    yw = _wm.work_luma(luma)
    issue = _wm.capacity_issue(luma, _wm.activity(yw))
    res = _wm.detect_luma(luma, key, yw, rgb=color if color.ndim == 3 else None,
                          grids=(_P.WORK_SHORT,) if coarse else None)
    details = dict(res.details)
    if issue:
        details["capacity"] = issue
    # Presence = pilot test combined with the payload's CRC-24 (coding.presence_log_p): one
    # soft Viterbi decode at the pilot's best geometry and at up to N_DECODE - 1 other maps
    # (refined sync maps, the scale sweep's, the decision-directed refinement's), for each of
    # the front ends (luma; colour images also chroma-guided), on the first working grid; a
    # second grid's passes decode only where their pilot is conclusive (res.crc_checks:
    # wm_image.crc_checks); p_pilot is already Bonferroni-corrected over front ends and grids.
    dec = res.decoded
    p_value = math.exp(coding.presence_log_p(res.log10_p * math.log(10), dec.crc_ok,
                                             res.crc_checks, _P.CRC_WEIGHT))
    detected = p_value <= _P.FPR_TARGET
    details["pilot_log10_p"] = details.pop("log10_p")
    details["crc_ok"] = dec.crc_ok
    payload = dec.payload if (detected and dec.crc_ok) else None
    conf = round(dec.agreement, 4) if detected else None
    return Detection(bool(detected), payload, float(p_value), round(float(res.z), 3), conf,
                     issue is not None, details)


def capacity_warning(rgb) -> str | None:
    """A message when the image is too small or too flat to carry a reliable mark, else None."""
    color, _ = _check_image(rgb)
    if min(color.shape[:2]) < _P.MIN_SIDE:
        return _too_small(color)
    return _wm.capacity_issue(_wm.to_luma(color))


def readback_warning(marked, payload: int | bytes, key: bytes, *,
                     encoded: str | None = None) -> str | None:
    """Read the mark back from freshly marked pixels (``marked``: what :func:`embed_image`
    returned) and say why the blind detector would not return ``payload``, or None when it
    would: :func:`image_readback`'s warning."""
    return image_readback(marked, payload, key, encoded=encoded).warning


#: What labeling adds to a read-back's warning when the mark is not found at all, and so is
#: left out of the result's layers and the C2PA manifest.
UNCLAIMED = "the file is not said to carry a watermark (layers, C2PA)"


class ReadBack(NamedTuple):
    """What a read-back of a fresh mark found: ``warning`` (None when the detector returns the
    payload) and ``found``, whether the mark is there at all (detected, with or without its
    payload). A labeled file does not claim a mark that is not found."""

    warning: str | None
    found: bool

    @property
    def said(self) -> str | None:
        """The warning as labeling gives it: with :data:`UNCLAIMED` when nothing was found."""
        return self.warning if self.found or self.warning is None else f"{self.warning}; {UNCLAIMED}"


def image_readback(marked, payload: int | bytes, key: bytes, *,
                   encoded: str | None = None, tests: int = 1) -> ReadBack:
    """Read the mark back from freshly marked pixels (``marked``: what :func:`embed_image`
    returned): why the blind detector would not return ``payload`` (None when it would), and
    whether the mark is there at all (see :class:`ReadBack`). The capacity check
    (:func:`capacity_warning`) only knows small and flat pictures; others defeat the mark too (a bilevel or heavily clipped picture saturates half of it away).

    Fast path (a few ms per megapixel): the detector's first hypothesis, the identity geometry,
    where unaltered pixels carry the mark. When the pilot alone is conclusive there (the
    detector tries that geometry first and then stops there), the payload's CRC holds with the
    right payload and the combined p-value (the pilot counted over the whole search, every CRC
    check of both front ends) passes the threshold, the mark is taken as readable. Otherwise
    :func:`detect_image` itself decides (up to about a second on pictures it struggles with).
    On 54 test pictures the fast path and the detector agreed on every one; on a 63 px one,
    where the pilot is not conclusive, they disagreed for 3 keys in 1000 until the fast path
    asked for a conclusive pilot. ``encoded``: the
    pixels were decoded from the encoded output, described so ("JPEG at quality 10") in the
    warning. ``tests``: how many tests verify will count the mark among (its quarter turns,
    ``verify.TURNS``, for a file that declares a label); p-values are judged times ``tests``,
    as verify judges them: a mark read at p=9.9e-7 was "barely present" here, and verify,
    at 4x that, did not find it in the unprocessed output."""
    key = _check_key(key)
    want = coding.payload_to_int(payload)
    color, _alpha = _check_image(marked)
    p, got, stops = _identity_read(color, key)
    if stops and got == want and p * tests <= _P.FPR_TARGET * READBACK_MARGIN:
        return ReadBack(None, True)
    det = detect_image(marked, key)
    if tests > 1:
        det = bonferroni(det, tests)
    state = describe_miss(det, want, margin=True)
    if state is None:
        return ReadBack(None, True)
    if encoded:
        return ReadBack(f"read back from the output ({encoded}), the mark is {state}: raise "
                        "the quality", det.detected)
    return ReadBack(f"read back from the labeled pixels, the mark is {state}: this picture "
                    "cannot carry it reliably (bilevel, saturated or strongly periodic pictures "
                    "defeat it)", det.detected)


def _identity_read(color: np.ndarray, key: bytes) -> tuple[float, int | None, bool]:
    """(p, payload, stops) of the detector's first hypothesis alone, the identity geometry
    (wm_image.identity_read): the p-value counted as :func:`detect_image` counts it (the pilot
    over the whole search, every CRC check of both front ends), the payload when its CRC holds
    (else None, and p 1), and whether the detector stops there (its pilot alone is conclusive,
    EARLY_EXIT_P). Where it does not, the search goes on and may read elsewhere: on a 63 px
    picture a sync candidate's pilot beat the identity's, and its decode failed, so the
    detector gave no payload where this read one (about 3 keys in 1000)."""
    luma = _wm.to_luma(color)
    if min(luma.shape) < _P.MIN_SIDE:
        return 1.0, None, False
    log10_p, dec = _wm.identity_read(luma, key)
    n = _wm.n_grids(*luma.shape)
    stops = log10_p <= math.log10(_P.EARLY_EXIT_P * n)
    if not dec.crc_ok:
        return 1.0, None, stops
    p = math.exp(coding.presence_log_p(log10_p * math.log(10), True,
                                       _wm.crc_checks(2, n), _P.CRC_WEIGHT))
    return p, dec.payload, stops


def payload_in_place(rgb, key: bytes) -> int | None:
    """The payload of a mark made with ``key`` that ``rgb`` (as :func:`detect_image` takes)
    carries where it was laid, i.e. on pixels not cropped or rotated since (re-encoded or
    scaled as a whole is fine: the working domain follows the picture's size), when it reads at
    the detector's threshold; else None. A few ms per megapixel, never a search. Such a mark is
    the one a new mark would lie in step with: labeling a labeled image again keeps it
    (labeling.label_image_bytes)."""
    key = _check_key(key)
    color, _alpha = _check_image(rgb)
    p, payload, _stops = _identity_read(color, key)
    return payload if p <= _P.FPR_TARGET else None


def audio_readback_warning(marked: np.ndarray, sample_rate: int, payload: int | bytes,
                           key: bytes, *, codec: str | None = None) -> str | None:
    """:func:`audio_readback`'s warning: why :func:`detect_audio` would not return
    ``payload`` from freshly marked audio, or None when it would."""
    return audio_readback(marked, sample_rate, payload, key, codec=codec).warning


def audio_readback(marked: np.ndarray, sample_rate: int, payload: int | bytes,
                   key: bytes, *, codec: str | None = None) -> ReadBack:
    """Read the mark back from freshly marked audio (float, (frames, channels) or (frames,);
    e.g. the opening minute, what verify reads) with :func:`detect_audio`: why it would not
    return ``payload`` (None when it would), and whether the mark is there at all (see
    :class:`ReadBack`). The mark is multiplicative, so there is none
    in silence: mostly silent audio is what fails. ``codec``: the lossy codec the samples went
    through (decoded from the encoded file), named in the warning. A read at the nominal
    speed (:func:`synthlabel.core.wm_audio.nominal_read`, 4-8x faster) settles marks that read
    back; the full detector runs only when it misses."""
    want = coding.payload_to_int(payload)
    from .core.wm_audio import nominal_read

    # Fast path: the speed is known (none was changed), so read at speed 1 first, with a
    # p-value that still counts the full search; the full detector only when that misses.
    fast = nominal_read(marked, sample_rate, key)
    if fast.detected and fast.payload == want and fast.p_value <= _AP.FPR_TARGET * READBACK_MARGIN:
        return ReadBack(None, True)
    det = detect_audio(marked, sample_rate, key)
    state = describe_miss(det, want, margin=True, threshold=_AP.FPR_TARGET)
    if state is None:
        return ReadBack(None, True)
    seconds = len(marked) / sample_rate
    # (a clip under half a second said "first 0 s")
    span = f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.2g} s"
    where = f"the encoded {codec} file" if codec else "the labeled signal"
    why = (f"it did not outlive {codec} at this bitrate (a short clip, mostly silence, noise-like "
           "sound at a low bitrate? a higher --bitrate helps)" if codec
           # (white noise defeats it too, unprocessed: its band envelopes swamp the mark's)
           else "the sound does not carry it (silence, too short, or noise-like sound such as "
                "white noise?)")
    return ReadBack(f"read back from {where}'s first {span}, the mark is {state}: {why}",
                    det.detected)


#: A read-back passes only with this much room under the detection threshold (p <= 1e-7 for
#: the 1e-6 threshold): a mark read at p = 9.9e-7 from the output was missed by verify in
#: one run of two (another decode, another thread's rounding), so labeling says "barely".
READBACK_MARGIN = 0.1


def describe_miss(det, want: int, *, margin: bool = False,
                  threshold: float = _P.FPR_TARGET) -> str | None:
    """What a detection (image, audio or video) found instead of payload ``want``, or None:
    "present with another payload (...)", "present but its payload does not decode" or
    "not found (p=...)". ``margin``: a payload found within READBACK_MARGIN of the threshold
    is "barely present" (a read-back must leave room for the next decode); ``threshold``:
    the detector's own (the image engine's by default)."""
    if det.payload == want:
        if margin and det.p_value > threshold * READBACK_MARGIN:
            return f"barely present (p={det.p_value:.1e}, threshold {threshold:.0e})"
        return None
    if det.payload is not None:
        return f"present with another payload ({det.payload:016x})"
    if det.detected:
        return "present but its payload does not decode"
    return f"not found (p={det.p_value:.1e})"


def texture_level(image) -> float:
    """Median local texture of an image or luma plane (uint8, H x W or H x W x C), in 8-bit
    levels on the watermark's working grid. Below :data:`FLAT_TEXTURE` the picture is too flat
    to carry a reliable mark (what :func:`capacity_warning` reports for an image)."""
    color, _ = _check_image(image)
    return _wm.median_texture(_wm.to_luma(color))


# --------------------------------------------------------------------------- several keys

def key_fingerprint(key: bytes) -> str:
    """A public name for a watermark key: 16 hex digits of a domain-separated SHA-256. Safe to
    print and log (it reveals nothing usable about the key); ``synthlabel keys show`` prints
    the same value."""
    return hashlib.sha256(b"synthlabel-fp" + _check_key(key)).hexdigest()[:16]


def watermark_keys(key) -> tuple[bytes, ...]:
    """One key (bytes) or a sequence of keys -> a non-empty tuple of checked keys, repeats
    dropped (a key given twice would only double the multiple-testing correction)."""
    if isinstance(key, (bytes, bytearray, memoryview)):
        return (_check_key(key),)
    if isinstance(key, Sequence) and not isinstance(key, str) and len(key) > 0:
        return tuple(dict.fromkeys(_check_key(k) for k in key))
    if isinstance(key, Sequence) and not isinstance(key, str):
        raise ValueError("the key list is empty: give a non-empty sequence of keys")
    raise ArgumentTypeError(f"key must be bytes or a non-empty sequence of bytes, got {type(key).__name__}")


_Det = TypeVar("_Det")


def detect_with_keys(detect: Callable[[bytes], _Det], keys,
                     prefer: Collection[int] = ()) -> tuple[_Det, int]:
    """Run ``detect(key)`` under each key in turn (a rotated key, several services' keys) and
    return ``(detection, index of its key)``: the first key whose mark is detected, else the
    key with the smallest p-value. ``prefer``: payloads the file's other layers name (its
    metadata's and manifest's content IDs); a key whose mark carries one of them wins over an
    earlier key's mark that does not (a file labeled again with a new key carries both marks,
    and which one a report named had depended on the order the keys were given in).

    Trying n keys is n tests, so each p-value is multiplied by n (Bonferroni: the chance that
    *any* key's test passes on unmarked content stays <= 1e-6), and ``detected`` and the
    payload are re-judged on the corrected value. With one key nothing changes. ``detect`` is
    any of :func:`detect_image`, :func:`detect_audio` or a pooled video detector (anything
    returning a detection with ``detected``, ``payload`` and ``p_value``), called with the
    key alone: ``detect_with_keys(lambda k: detect_image(rgb, k), [new_key, old_key])``."""
    keys = watermark_keys(keys)
    n = len(keys)
    best: tuple[_Det, int] | None = None
    first: tuple[_Det, int] | None = None      # the first key's mark, when none is preferred
    for i, k in enumerate(keys):
        det = detect(k)
        if n > 1:
            det = bonferroni(det, n)
        if det.detected:
            if n == 1 or not prefer or det.payload in prefer:
                return det, i
            first = first or (det, i)
        if best is None or det.p_value < best[0].p_value:
            best = (det, i)
    assert best is not None
    return first or best


def bonferroni(det, n: int):
    """``det`` (any detection with ``detected``, ``payload``, ``p_value``) as one of ``n``
    tests: its p-value times n, and ``detected`` and the payload re-judged on that."""
    p = min(1.0, det.p_value * n)
    ok = bool(det.detected and p <= _P.FPR_TARGET)
    changes = {"p_value": p, "detected": ok, "payload": det.payload if ok else None}
    if "bit_confidence" in {f.name for f in fields(det)} and not ok:
        changes["bit_confidence"] = None
    return replace(det, **changes)


def _too_small(color: np.ndarray) -> str:
    h, w = color.shape[:2]
    return (f"image is too small to carry a watermark ({w}x{h}; "
            f"short side under {_P.MIN_SIDE} px): it is left unmarked")


# --------------------------------------------------------------------------- audio
# The audio engine lives in core/wm_audio.py; its public face is re-exported here so that
# ``synthlabel.watermark`` is the one place pipelines import watermark functions from.
from .core.wm_audio import (  # noqa: E402
    AUDIO_ALG,
    AudioDetection,
    AudioEmbedder,
    detect_audio,
    embed_audio,
)


def detect_video(path, key: bytes, **kwargs):
    """Pooled blind detection over frames sampled across a video file (and, with
    ``audio=True``, its soundtrack). See :func:`synthlabel.labeling_video.detect_video`."""
    from .labeling_video import (
        detect_video as _detect_video,  # video I/O is heavy: load on use
    )

    return _detect_video(path, key, **kwargs)
