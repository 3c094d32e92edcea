"""Keyed, blind, invisible image watermark: the signal math (no file I/O).

Design (constants in :mod:`wm_params`):

* **Working grid.** Luma is resampled so its short side is ``WORK_SHORT`` px (the coarse
  grid), or ``FINE_SHORT`` px on pictures from ``FINE_MIN_SHORT`` on (the fine grid, v5). The
  mark is computed there and the residual is upsampled to full size, so the cost stays flat
  with megapixels and a uniform resize is invisible to the detector. The fine grid gives a
  large picture four times the mark samples, which is what a crop keeps. The detector reads
  both grids on pictures that could carry either (:func:`detect_grids`), the likelier first,
  and counts both in the p-value.
* **Keyed tile.** A ``TILE`` x ``TILE`` pattern is built in the 2-D DFT domain: the unique
  (half-plane) bins of a mid-frequency ring are permuted with a key-derived PRNG; a fraction
  carries the *pilot* (fixed keyed phases), the rest carry the coded payload (keyed phase times
  +-1 per coded bit, round-robin over the 282 coded bits). The tile repeats over the picture,
  scaled by a perceptual mask (local texture and darkness; never zero). Its rms budget is
  global; on the coarse grid a picture textured all over, which hides the mark, takes up to
  1.3 times it (:func:`masked_boost`). The embedder then reads its own mark as the detector
  would read a 50 % crop of the picture (:func:`crop_margin`); where the picture's texture
  would drown that quarter's share of the mark, the mark grows on the texture (up to 1.5x,
  never past the PSNR floor).
* **Detector.** Remove the host's edges (the high-pass part of an edge-preserving bilateral
  smoothing, which keeps edges and loses the few-level mark; :func:`suppress_edges`), unless
  the host is made of spectral lines or of Gaussian-like texture (:func:`grid_front_end`).
  Pre-whiten the working luma (high-pass / local contrast), fold it into one tile (sum of
  tiles: a crop becomes a cyclic shift), take the phase-only spectrum of the fold and
  cross-correlate with the pilot over all (sub-pixel) cyclic shifts. Under H0 the phases are
  uniform, so every correlation value is ~N(0, M/2) for M pilot bins: z is exact, and the
  p-value of the max is Bonferroni over every shift and geometric hypothesis evaluated.
* **Geometry.** Besides the identity, candidates for scale / aspect / rotation come from two
  sync sinusoids inside the tile (along x and y): they make two isolated peaks in the image
  spectrum whose positions give the affine map directly. The strongest peaks of each sector are
  paired, keeping only plausible maps (tile axes near perpendicular, bounded aspect); a lone
  strong peak also gives a similarity map (scale + rotation) on its own, for pictures whose
  spectrum drowns the other peak. Each candidate is warped back to the tile frame (cubic) and
  tested with the pilot (every such hypothesis is counted in the presence p-value). The best few
  are then refined by a pattern search on x/y scale and rotation (the peaks give the map to
  ~0.5 %, the pilot needs ~0.2 %) to READ the payload there: hill-climbing inflates the null
  maximum, so refined z values stay out of the p-value and the decoded CRC is the evidence.
* **Sweep and decision-directed refinement** (also for reading only). A textured or text-like
  host can outrank both sync peaks; when nothing decodes, the pilot is swept over isotropic
  scales (crops) and single-axis scales (aspect changes) on a grid fine enough for it
  (:func:`sweep_maps`, cheap evaluations, the best few in full), and the best map is refined
  and decoded. Then, if still nothing decodes, the best map is refined once more on the
  energy of the payload bins' per-bit sums (:func:`_data_energy`: three times the pilot's
  bins, smoother on the last fraction of a percent) and decoded there. Every decode counts
  in the p-value (N_DECODE per front end).
* **Chroma-guided second pass.** The informed embedding cancels the host's interference only
  where the detector sees the image as the embedder did; after a crop or aspect change the
  fold covers other tiles and that interference is back. The mark is added equally to R, G and
  B, so it is absent from chroma while much of the host's structure is not: on colour images
  whose first pass decodes no payload, the whole search runs again on the whitened luma minus
  its local ridge-regression prediction from whitened Cr/Cb (:func:`chroma_guided`). Both
  passes are counted (p = 2 min(p1, p2); up to 2 N_DECODE decodes) whether or not the second
  one ran. Unmarked colour images pay for two passes.
* **Payload.** At the pilot's (sub-pixel) shift the payload bins give soft values per coded bit
  (MRC-weighted, phase-corrected for the fractional shift) for the soft Viterbi decoder + CRC.
  The public detector (``watermark.detect_image``) combines the pilot p-value with the CRC
  (one holds with probability 2^-24 under H0) into one valid p-value.
"""
from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from . import coding
from . import wm_params as P
from .filters import gaussian, local_contrast, local_mean
from .numeric import log_ndtr, quantile

T = P.TILE
_UP = P.CORR_UPSAMPLE
N_HYPOTHESES = P.MAX_GEOM_CANDIDATES * (_UP * T) ** 2
_LOG_N = math.log(N_HYPOTHESES)


# --------------------------------------------------------------------------- keyed pattern

def keyed_rng(key: bytes, label: str) -> np.random.Generator:
    """A numpy Generator seeded by HMAC-SHA256(key, KEY_DOMAIN + label)."""
    digest = hmac.new(bytes(key), P.KEY_DOMAIN + label.encode(), hashlib.sha256).digest()
    return np.random.Generator(np.random.PCG64(int.from_bytes(digest, "big")))


@dataclass(frozen=True)
class TileSpec:
    pilot_idx: tuple[np.ndarray, np.ndarray]      # (row, col) in the T x T FFT of the pilot bins
    pilot_k: np.ndarray                           # (M, 2) signed (ky, kx) of the pilot bins
    pilot_ref: np.ndarray                         # conj(keyed phasor) of each pilot bin
    pilot_amp: np.ndarray
    data_idx: tuple[np.ndarray, np.ndarray]
    data_k: np.ndarray
    data_ref: np.ndarray
    data_amp: np.ndarray
    data_bit: np.ndarray                          # coded-bit index of each data bin
    pilot_up_idx: tuple[np.ndarray, np.ndarray]   # pilot bins in the (UP*T)^2 correlation grid
    sync_phase: tuple[float, float]
    sync_k: tuple[tuple[int, int], tuple[int, int]]   # keyed (kx, ky) of the two sync sinusoids
    sync_tile: np.ndarray                         # T x T: the two sync sinusoids (SYNC_ENERGY)


def _band_bins(sync_k) -> np.ndarray:
    """Signed (ky, kx) of the unique half-plane bins in the mark's radial band, minus the
    (keyed) sync bins."""
    k = np.arange(-T // 2 + 1, T // 2)
    ky, kx = np.meshgrid(k, k, indexing="ij")
    f = np.hypot(ky, kx) / T
    half = (ky > 0) | ((ky == 0) & (kx > 0))
    sel = half & (f >= P.BAND_LO) & (f <= P.BAND_HI)
    for sx, sy in sync_k:
        sel &= ~(((ky == sy) & (kx == sx)) | ((ky == -sy) & (kx == -sx)))
    return np.stack([ky[sel], kx[sel]], axis=1)


def keyed_sync(key: bytes) -> tuple[tuple[int, int], tuple[int, int]]:
    """The two keyed sync frequencies (kx, ky) in cycles per tile (see wm_params)."""
    rng = keyed_rng(key, "sync")
    lo, hi = P.SYNC_ANG_MIN, P.SYNC_ANG_MAX
    while True:
        a = rng.choice((-1.0, 1.0)) * rng.uniform(lo, hi)          # k1: degrees off +x
        b = rng.choice((-1.0, 1.0)) * rng.uniform(lo, hi)          # k2: degrees off +y
        r1, r2 = rng.uniform(P.SYNC_R_MIN, P.SYNC_R_MAX, 2)
        k1 = (int(round(r1 * math.cos(math.radians(a)))), int(round(r1 * math.sin(math.radians(a)))))
        k2 = (int(round(-r2 * math.sin(math.radians(b)))), int(round(r2 * math.cos(math.radians(b)))))
        a1 = math.degrees(math.atan2(k1[1], k1[0]))
        a2 = math.degrees(math.atan2(k2[1], k2[0])) - 90.0
        ok = (lo - 1 <= abs(a1) <= hi + 1 and lo - 1 <= abs(a2) <= hi + 1
              and abs(a2 - a1) <= P.SYNC_PERP_DEV
              and all(P.SYNC_R_MIN - 0.5 <= math.hypot(*k) <= P.SYNC_R_MAX + 0.5 for k in (k1, k2)))
        if ok:
            return k1, k2


@lru_cache(maxsize=32)
def tile_spec(key: bytes) -> TileSpec:
    sync_k = keyed_sync(key)
    band = _band_bins(sync_k)
    rng = keyed_rng(key, "tile")
    bins = band[rng.permutation(len(band))]
    phases = np.exp(1j * rng.uniform(0.0, 2 * np.pi, len(bins)))
    f = np.hypot(bins[:, 0], bins[:, 1]) / T
    amp = (f / P.BAND_LO) ** (-P.BAND_TILT)
    n_pilot = int(round(P.PILOT_FRACTION * len(bins)))
    n_data = len(bins) - n_pilot
    if n_data < coding.N_CODED:
        raise RuntimeError("tile too small for the coded payload")
    pb, db = bins[:n_pilot], bins[n_pilot:]
    data_bit = np.arange(n_data) % coding.N_CODED
    up = _UP * T
    sync_phase = (float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(0, 2 * np.pi)))
    # the two sync sinusoids (x and y), keyed phases, SYNC_ENERGY of the total
    y, x = np.mgrid[0:T, 0:T]
    a = math.sqrt(P.SYNC_ENERGY)          # each: amplitude sqrt(2) * sqrt(E/2) -> rms sqrt(E/2)
    sync_tile = np.zeros((T, T))
    for (kx, ky), ph in zip(sync_k, sync_phase):
        sync_tile += a * np.cos(2 * np.pi * (kx * x + ky * y) / T + ph)
    return TileSpec(
        pilot_idx=(pb[:, 0] % T, pb[:, 1] % T), pilot_k=pb, pilot_ref=np.conj(phases[:n_pilot]),
        pilot_amp=amp[:n_pilot],
        data_idx=(db[:, 0] % T, db[:, 1] % T), data_k=db, data_ref=np.conj(phases[n_pilot:]),
        data_amp=amp[n_pilot:], data_bit=data_bit,
        pilot_up_idx=(pb[:, 0] % up, pb[:, 1] % up),
        sync_phase=sync_phase, sync_k=sync_k, sync_tile=sync_tile,
    )


def make_tile(spec: TileSpec, coded_bits: np.ndarray) -> np.ndarray:
    """Spatial T x T tile (float32, unit rms) = pilot + payload."""
    S = np.zeros((T, T), dtype=np.complex128)
    S[spec.pilot_idx] = spec.pilot_amp * np.conj(spec.pilot_ref)
    sym = 2.0 * np.asarray(coded_bits, dtype=np.float64)[spec.data_bit] - 1.0
    S[spec.data_idx] = sym * spec.data_amp * np.conj(spec.data_ref)
    # Hermitian partner of every bin makes the tile real: tile = 2 Re(ifft2(S)).
    tile = _ifft2_real(S) / (T * T)
    tile *= math.sqrt(1.0 - P.SYNC_ENERGY) / np.sqrt(np.mean(tile ** 2))
    tile += spec.sync_tile
    return tile.astype(np.float32)


# --------------------------------------------------------------------------- helpers

def work_size(h: int, w: int, grid: int = P.WORK_SHORT) -> tuple[int, int]:
    """(Hw, Ww) of the working grid of short side ``grid`` for an h x w image (never larger
    than the image)."""
    short = min(h, w)
    if short <= grid:
        return h, w
    c = grid / short
    return max(1, int(round(h * c))), max(1, int(round(w * c)))


def embed_grid(h: int, w: int) -> int:
    """Short side of the working grid an h x w image is marked on: FINE_SHORT from a short side
    of FINE_MIN_SHORT, else WORK_SHORT (see wm_params)."""
    return P.FINE_SHORT if min(h, w) >= P.FINE_MIN_SHORT else P.WORK_SHORT


def detect_grids(h: int, w: int) -> tuple[int, ...]:
    """Working grids the detector reads an h x w image on, the likelier first: the grid this
    size is marked on, then the other when the picture could be a resized or cropped copy of
    one marked on it (every grid is counted in the p-value whether or not it is read)."""
    if min(h, w) < P.FINE_DETECT_MIN:
        return (P.WORK_SHORT,)
    if embed_grid(h, w) == P.FINE_SHORT:
        return (P.FINE_SHORT, P.WORK_SHORT)
    return (P.WORK_SHORT, P.FINE_SHORT)


def n_grids(h: int, w: int) -> int:
    """How many grids the p-value of an h x w image counts (:func:`detect_grids`)."""
    return len(detect_grids(h, w))


def to_luma(rgb: np.ndarray) -> np.ndarray:
    """uint8 luma (BT.601) of an H x W x 3 RGB or H x W gray uint8 image."""
    if rgb.ndim == 2:
        return rgb
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def area_reduce(img: np.ndarray, size: tuple[int, int], fine: bool = False) -> np.ndarray:
    """Area (box) reduction of a 2-D image to ``size`` = (w, h).

    OpenCV's area reduction by a non-integer ratio is slow (26 ms for a 4K luma to 455 x 256,
    3.3 ms for a 720p one, one core); its exact 2:1 case is a fast path (0.07 ms at 720p). So
    the image is first halved exactly while the result stays at least P.AREA_LAST_MIN times the
    target (an odd last row / column is dropped: a scale change under 1/side, far below what the
    detector resolves), then reduced by area once, by a ratio of P.AREA_LAST_MIN or more. The
    cascade's low-pass is at least as wide as the single box it replaces; a last stage near 1:1
    would let more detail alias into the mark's band (measured worse). 4K luma -> working grid:
    26 -> ~6 ms; 720p: 3.3 -> 1.3 ms.

    ``fine``: the fine grid's recipe (:func:`is_fine`): halvings while the result stays at
    least P.FINE_AREA_LAST_MIN times the target, and a last ratio under P.FINE_LINEAR_BELOW is
    linear (a 1080p luma to 910 x 512: 5.3 -> 0.5 ms)."""
    w, h = size
    m = 2.0 * (P.FINE_AREA_LAST_MIN if fine else P.AREA_LAST_MIN)
    while img.shape[0] >= m * h and img.shape[1] >= m * w:
        H, W = img.shape[0] // 2 * 2, img.shape[1] // 2 * 2
        img = cv2.resize(img[:H, :W], (W // 2, H // 2), interpolation=cv2.INTER_AREA)
    if img.shape != (h, w):
        near = fine and min(img.shape[0] / h, img.shape[1] / w) < P.FINE_LINEAR_BELOW
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR if near else cv2.INTER_AREA)
    return img


#: Rows per strip of :func:`_work_luma_rgb` (even: the 2:1 reduction pairs rows within a strip).
_LUMA_STRIP_ROWS = 256


def _work_luma_rgb(rgb: np.ndarray, grid: int) -> np.ndarray:
    """:func:`work_luma` of :func:`to_luma` of an H x W x 3 ``rgb``, without the full-size luma
    when the working grid is reached through exact halvings (every picture more than twice as
    large as its grid): the luma is converted and halved strip by strip, so the 4K luma (8 MB)
    is never written out and read back. Same values: the 2:1 area reduction averages 2 x 2
    blocks, which never straddle two strips (even row counts), and :func:`area_reduce` goes on
    from the halved luma exactly as it would have after its own first halving."""
    h, w = rgb.shape[:2]
    hw, ww = work_size(h, w, grid)
    fine = is_fine(grid)
    m = 2.0 * (P.FINE_AREA_LAST_MIN if fine else P.AREA_LAST_MIN)
    if rgb.ndim != 3 or (hw, ww) == (h, w) or not (h >= m * hw and w >= m * ww):
        return work_luma(to_luma(rgb), grid)
    H, W = h // 2 * 2, w // 2 * 2           # area_reduce drops an odd last row / column
    half = np.empty((H // 2, W // 2), dtype=np.uint8)
    buf = np.empty((min(_LUMA_STRIP_ROWS, H), W), dtype=np.uint8)
    for r0 in range(0, H, _LUMA_STRIP_ROWS):
        r1 = min(r0 + _LUMA_STRIP_ROWS, H)
        y = cv2.cvtColor(rgb[r0:r1, :W], cv2.COLOR_RGB2GRAY, dst=buf[:r1 - r0])
        cv2.resize(y, (W // 2, (r1 - r0) // 2), dst=half[r0 // 2:r1 // 2], interpolation=cv2.INTER_AREA)
    return area_reduce(half, (ww, hw), fine).astype(np.float32)


def is_fine(grid: int) -> bool:
    """Whether a working grid is the fine one, which has its own resampling recipe
    (:func:`area_reduce`) and whitens with pyramid blurs (:func:`whiten`; see wm_params)."""
    return grid == P.FINE_SHORT


def work_luma(luma: np.ndarray, grid: int = P.WORK_SHORT) -> np.ndarray:
    """float32 luma on the working grid of short side ``grid`` (area-reduced)."""
    h, w = luma.shape
    hw, ww = work_size(h, w, grid)
    if (hw, ww) != (h, w):
        luma = area_reduce(luma, (ww, hw), is_fine(grid))
    return luma.astype(np.float32)


def activity(yw: np.ndarray) -> np.ndarray:
    """Local texture (rms of high-passed luma, 8-bit levels) on the working grid."""
    return local_contrast(yw, P.MASK_HP_SIGMA, P.MASK_POOL_SIGMA)[1]


def median_texture(luma: np.ndarray, act: np.ndarray | None = None) -> float:
    """Median local texture of ``luma`` (8-bit levels) on the working grid; below
    :data:`.wm_params.FLAT_ACTIVITY` a picture is too flat to carry a reliable mark. ``act``:
    its :func:`activity` when the caller already has it."""
    if act is None:
        act = activity(work_luma(luma))
    # act is pooled over MASK_POOL_SIGMA (4) working pixels: every other sample has the same
    # distribution, and the median of a quarter of them costs a quarter (0.8 -> 0.2 ms)
    return float(quantile(act[::2, ::2], 0.5, axis=None))


def capacity_issue(luma: np.ndarray, act: np.ndarray | None = None) -> str | None:
    """Why ``luma`` cannot carry a reliable mark (too small, too flat), or None. ``act``: the
    :func:`activity` of its working luma when the caller already has it (saves a resampling)."""
    h, w = luma.shape
    return _capacity_issue(h, w, lambda: median_texture(luma, act))


def _capacity_issue(h: int, w: int, median) -> str | None:
    """:func:`capacity_issue` of an h x w picture; ``median()`` gives its
    :func:`median_texture` (only asked for when the picture is not too small)."""
    if min(h, w) < P.WEAK_SIDE:
        return (f"image is too small to carry a reliable watermark ({w}x{h}; short side under "
                f"{P.WEAK_SIDE} px): it is embedded weakly and may not survive any processing")
    med = median()
    if med < P.FLAT_ACTIVITY:
        return (f"image is too flat to carry a reliable watermark (median texture {med:.2f} < "
                f"{P.FLAT_ACTIVITY} levels): it is embedded at reduced strength and may not "
                f"survive lossy compression")
    return None


def _tiled(tile: np.ndarray, hw: int, ww: int) -> np.ndarray:
    reps = (-(-hw // T), -(-ww // T))
    return np.tile(tile, reps)[:hw, :ww]


# --------------------------------------------------------------------------- embedding

def _mark_gain(yw: np.ndarray, tiled: np.ndarray, strength: float,
               act: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Spatial gain map g (working grid): the mark is g * ``tiled`` (the tile laid over the
    grid, :func:`_tiled`). Perceptual mask (texture, darkness), capped so the base mark's rms
    is at most MAX_RMS, times strength. Also returns the headroom: how many times g could grow
    before the cap reaches the mask's own amplitude (1.0 when the mask, not the cap, limits the
    mark: flat and dark pictures)."""
    # the same float32 operations as clip(act / ref, ..) * clip((yw + off) / .., ..) * BASE_AMP,
    # in place (fewer full-grid temporaries)
    g = np.divide(activity(yw) if act is None else act, P.MASK_ACT_REF, dtype=np.float32)
    np.clip(g, P.MASK_MIN, P.MASK_MAX, out=g)
    dark = np.add(yw, P.DARK_OFFSET, dtype=np.float32)
    dark /= 128.0 + P.DARK_OFFSET
    np.clip(dark, P.DARK_MIN, 1.0, out=dark)
    g *= dark
    g *= P.BASE_AMP
    d = np.multiply(g, tiled, out=dark) if tiled.dtype == np.float32 else g * tiled
    rms = float(np.sqrt(np.mean(np.square(d, out=d)))) if d.size else 0.0
    headroom = 1.0
    if rms > P.MAX_RMS:
        g *= P.MAX_RMS / rms
        headroom = rms / P.MAX_RMS
    return g * float(strength), headroom


def masked_boost(yw: np.ndarray, d: np.ndarray, k_max: float) -> float:
    """How much the mark ``d`` (H x W, the working grid's plain mark) may grow on the picture
    ``yw`` (same grid, 8-bit scale): the k in [1, k_max] at which the mark's predicted
    distortion, mean(k^2 n / (2 (v + F^2) + k^2 n)), reaches PERC_TARGET_LOSS. v and n are
    the picture's and the mark's local variances (Gaussian windows of PERC_SIGMA working
    pixels) and F = PERC_FLOOR. That is SSIM's contrast-structure loss for an added
    independent pattern (Wang et al. 2004) with a visibility floor in place of its small
    stabilising constant: busy texture hides a pattern that a flat window shows, so a picture
    textured all over takes a stronger mark at the same predicted distortion, while flat areas
    anywhere in it hold the mark back."""
    y = np.asarray(yw, dtype=np.float32)
    if k_max <= 1.0 or min(y.shape) < 8:
        return 1.0
    blur = lambda a: cv2.GaussianBlur(a, (0, 0), P.PERC_SIGMA)   # noqa: E731
    m = blur(y)
    dd = np.asarray(d, dtype=np.float32)
    n = blur(dd * dd)
    # float32 is enough: the variances only matter against the floor F^2; the windowed maps
    # are smooth, so every other sample of them gives the mean (a quarter of the cost)
    v = blur(y * y)[::2, ::2] - m[::2, ::2] ** 2
    r = n[::2, ::2] / (2.0 * (np.maximum(v, 0.0) + np.float32(P.PERC_FLOOR ** 2)))

    # f(q) = mean(q r / (1 + q r)), q = k^2, is increasing and concave: Newton steps from
    # q = 1 climb towards the root from below and never pass it
    target, q, q_max = P.PERC_TARGET_LOSS, 1.0, float(k_max) ** 2
    for _ in range(4):
        qr = np.float32(q) * r
        u = 1.0 / (1.0 + qr)
        f = 1.0 - float(np.mean(u, dtype=np.float64))
        if f >= target * 0.999 or q >= q_max:
            break
        q += (target - f) / float(np.mean(r * u * u, dtype=np.float64))
    return float(math.sqrt(min(q, q_max)))


def crop_margin(marked_yw: np.ndarray, spec: TileSpec, coded_bits: np.ndarray) -> float:
    """Smallest soft-value SNR a 50 % crop of the marked picture would give the detector read at
    its true map: the detector's front end on ``marked_yw`` (the working grid as it will be
    marked), folded over windows of half of each side (the corners and the centre, on the tile
    grid), each window's payload soft values (as detect_luma's) against the known codeword,
    mean / std. Decoding needs about 0.85, and the blind detector's search more; a picture
    whose own texture drowns the mark in a quarter of its area reads lower, and
    :func:`embed_rgb_checked` grows its mark (wm_params.CROP_MARGIN_SNR)."""
    # With edge suppression, as the detector reads photographs. Its gate (grid_front_end: a DFT
    # of the whole grid, ~5 ms more) chose that front end on every picture under 1080 px of
    # bench_wm_image_payloads but gravel and grass, whose mark the PSNR floor holds anyway;
    # with the gate the crops read and the PSNR were the same at two margins.
    r = detector_front(marked_yw)
    hw, ww = r.shape
    ch, cw = hw // 2, ww // 2
    sb = 2.0 * np.asarray(coded_bits, dtype=np.float64) - 1.0
    # window origins on the tile grid, so each window's fold is at the tile's own phase
    ly, lx = (hw - ch) // T * T, (ww - cw) // T * T
    windows = {(y, x) for y in (0, ly) for x in (0, lx)} | {(ly // 2 // T * T, lx // 2 // T * T)}
    worst = math.inf
    for y0, x0 in sorted(windows):
        F = _fft2(fold(np.ascontiguousarray(r[y0:y0 + ch, x0:x0 + cw])))
        ev = _Eval(0.0, (0.0, 0.0), F / (np.abs(F) + 1e-12), F, np.eye(2))   # at the true shift
        s = _soft_values(ev, spec) * sb
        sd = float(s.std())
        worst = min(worst, float(s.mean()) / sd if sd > 0 else 0.0)
    return worst


def _fold_spectrum(yw: np.ndarray, pooled: bool = False) -> np.ndarray:
    """The detector's front end at the identity geometry: T x T spectrum of the whitened fold."""
    h, w = yw.shape
    H, W = -(-h // T) * T, -(-w // T) * T
    # the whitening is written straight into the zero-padded grid fold() would copy it into
    # (same values, one full-grid pass fewer)
    padded = np.zeros((H, W), dtype=np.float32)
    _whiten_parts(yw, pooled, out=padded[:h, :w])
    return _fft2(fold(padded))


def _informed_correction(through, yw: np.ndarray, g: np.ndarray, tile: np.ndarray, spec: TileSpec,
                         coded_bits: np.ndarray, delta: np.ndarray,
                         base_tile: np.ndarray, bit_cap: float, F0: np.ndarray,
                         F: np.ndarray | None = None, pooled: bool = False) -> np.ndarray:
    """Informed embedding (Improved Spread Spectrum, Malvar & Florencio 2003, with a margin):
    run the detector's front end on the image as it will be marked, measure the host's projection
    on every payload decision statistic (per coded bit) and on every pilot bin, and return a
    tile-periodic correction (same spatial gain g) that pushes the statistics the host works
    against back to a margin, with the least energy (bits only as far as ISS_CAP allows: hopeless
    bits are left to the error-correcting code)."""
    if F is None:
        F = _fold_spectrum(yw + through(delta), pooled)
    # effective gain tile spectrum -> fold spectrum: measured on the mark itself
    Fm = F - F0                        # F0 = _fold_spectrum(yw), the unmarked host
    Tt = _fft2(tile)
    Tb = _fft2(base_tile)              # mark-only amplitudes: of the plain (uncorrected) tile
    idx_all = (np.concatenate([spec.pilot_idx[0], spec.data_idx[0]]),
               np.concatenate([spec.pilot_idx[1], spec.data_idx[1]]))
    ratio = np.real(Fm[idx_all] / (Tt[idx_all] + 1e-12))
    k_all = np.concatenate([spec.pilot_k, spec.data_k])
    fr = np.hypot(k_all[:, 0], k_all[:, 1]) / T
    H = 1.0 - np.exp(-2.0 * np.pi ** 2 * P.DET_HP_SIGMA ** 2 * fr ** 2)
    # smooth radial profile of the gain (the working-grid <-> full-size resampling and the
    # whitening's high-pass attenuate the top of the band)
    rr = ratio / H
    rr_med = quantile(rr, 0.5) if np.all(np.isfinite(rr)) else 0.0
    if rr_med <= 0:
        return np.zeros_like(tile)
    Vd = np.vander(fr, 3)
    coef = np.linalg.solve(Vd.T @ Vd, Vd.T @ np.clip(rr, 0, 4 * rr_med))   # least squares, 3 unknowns
    gam = np.maximum(Vd @ coef, 0.2 * rr_med) * H
    gp, gd = gam[:len(spec.pilot_ref)], gam[len(spec.pilot_ref):]
    Z = np.zeros((T, T), dtype=np.complex128)
    # --- payload: per coded bit, MRC statistic as in detect_luma
    noise = _bin_noise(F)
    w = spec.data_amp / (noise[spec.data_idx] + 1e-12)
    Ad = np.abs(Tb[spec.data_idx]) * gd                              # mark-only amplitude per bin
    l = np.bincount(spec.data_bit, np.real(F[spec.data_idx] * spec.data_ref) * w, coding.N_CODED)
    D = np.bincount(spec.data_bit, Ad * w, coding.N_CODED)
    sb = 2.0 * np.asarray(coded_bits, dtype=np.float64) - 1.0
    need = P.ISS_MARGIN * D - sb * l
    need = np.where(need > bit_cap * D, 0.0, np.maximum(need, 0.0))
    norm = np.bincount(spec.data_bit, (w * gd) ** 2, coding.N_CODED)
    c = sb * need / (norm + 1e-30)
    dF = c[spec.data_bit] * w * gd ** 2 * np.conj(spec.data_ref)
    Z[spec.data_idx] = dF / gd
    # --- pilot: per bin, in-phase up to the margin, quadrature reduced by ISS_PILOT_Q
    Ap = np.abs(Tb[spec.pilot_idx]) * gp
    v = F[spec.pilot_idx] * spec.pilot_ref
    needp = np.clip(P.ISS_PILOT_MARGIN * Ap - v.real, 0.0, P.ISS_PILOT_CAP * Ap)
    dFp = (needp - 1j * P.ISS_PILOT_Q * v.imag) * np.conj(spec.pilot_ref)
    Z[spec.pilot_idx] = dFp / gp
    # Hermitian partners -> real tile; fft2(real(ifft2(Z))) = (Z + conj Z(-k)) / 2 at k
    Z[(-spec.data_idx[0]) % T, (-spec.data_idx[1]) % T] = np.conj(Z[spec.data_idx])
    Z[(-spec.pilot_idx[0]) % T, (-spec.pilot_idx[1]) % T] = np.conj(Z[spec.pilot_idx])
    return _ifft2_real(Z) / (T * T)


@lru_cache(maxsize=8)
def _through_kernel(k: int) -> np.ndarray:
    """1-D taps equal to OpenCV's linear upsampling by the whole factor ``k`` followed by its
    area (box) reduction back: each output pixel averages the k sub-pixels of its block, at
    offsets t = (j + 0.5) / k - 0.5 from its centre, whose linear interpolation weighs the
    left (right) neighbour by max(0, -t) (max(0, t)). Borders: replicate, as the resize clamps.
    float32, shape (3,); k = 3 gives [1/9, 7/9, 1/9]."""
    t = (np.arange(k) + 0.5) / k - 0.5
    a = float(np.mean(np.maximum(0.0, -t)))
    return np.array([a, 1.0 - 2.0 * a, a], np.float32)


def _through_fn(h: int, w: int, hw: int, ww: int, fine: bool):
    """What the detector's working grid (hw x ww) will see of a working-grid residual d on an
    h x w picture: d up to full size (linear) and back (area), as a function of d."""
    # For large images a proxy at THROUGH_MAX_FACTOR x the working grid has
    # nearly the same transfer (linear-interp triangle * box at working resolution).
    # From 2.5x on, the proxy is at the nearest whole factor k, where up (linear) and back
    # (area) is exactly a separable 3-tap filter (_through_kernel): 0.1 ms instead of the
    # two resizes' 3.6 ms at 720p (same values to 5e-7).
    c = min(h / hw, w / ww)
    # the fine grid (c >= ~2.1) is reached by exact halvings, then a near-1:1 step: the
    # whole-factor proxy models that round trip from c = 2 on
    if c >= (2.0 if fine else P.THROUGH_MIN_PROXY):
        kern = _through_kernel(min(round(c), P.THROUGH_MAX_FACTOR))

        def through(d):
            return cv2.sepFilter2D(np.asarray(d, dtype=np.float32), cv2.CV_32F, kern, kern,
                                   borderType=cv2.BORDER_REPLICATE)
    else:
        def through(d):
            if (hw, ww) == (h, w):
                return d
            up = cv2.resize(d.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
            return cv2.resize(up, (ww, hw), interpolation=cv2.INTER_AREA)
    return through


def embed_rgb(rgb: np.ndarray, coded_bits: np.ndarray, key: bytes, strength: float = 1.0,
              grid: int | None = None) -> np.ndarray:
    """Add the keyed mark to the luma of an H x W x 3 (or H x W) uint8 image; returns a new array.
    ``grid``: the working grid's short side (None: :func:`embed_grid` of the image's size)."""
    return embed_rgb_checked(rgb, coded_bits, key, strength, grid)[0]


def embed_rgb_checked(rgb: np.ndarray, coded_bits: np.ndarray, key: bytes,
                      strength: float = 1.0, grid: int | None = None) -> tuple[np.ndarray, str | None]:
    """:func:`embed_rgb` plus :func:`capacity_issue` from the same analysis (one luma
    conversion and one working-grid resampling instead of two)."""
    h, w = rgb.shape[:2]
    grid = embed_grid(h, w) if grid is None else grid
    fine = is_fine(grid)
    yw = _work_luma_rgb(rgb, grid)     # work_luma(to_luma(rgb), grid), without the full-size luma
    hw, ww = yw.shape
    spec = tile_spec(bytes(key))
    # float32 on the fine grid (4x the samples: every full-grid product costs half); the coarse
    # grid keeps float64, so pictures under FINE_MIN_SHORT are marked bit for bit as v4 did
    tile = make_tile(spec, coded_bits).astype(np.float32 if fine else np.float64)
    if not fine:
        act = mask_act = activity(yw)
    else:
        # The texture is measured on the coarse grid, where the mask, the flatness check and
        # the texture boost are tuned: the fine grid's own high-pass sees finer, weaker
        # texture (a weaker mark: PSNR 1.5-3.5 dB higher on the retina photos). The coarse
        # grid is the fine one halved, and the texture map is smooth, so it is brought up to
        # the fine grid linearly.
        hc, wc = work_size(h, w)
        act = activity(area_reduce(yw, (wc, hc)))
        mask_act = cv2.resize(act, (ww, hw), interpolation=cv2.INTER_LINEAR)
    issue = _capacity_issue(h, w, lambda: median_texture(yw, act))   # (act given: yw unused)
    tiled = _tiled(tile, hw, ww)        # the plain tile laid over the grid, reused below
    g, headroom = _mark_gain(yw, tiled, strength, mask_act)
    delta = g * tiled
    # uniformly busy pictures (25th percentile of texture high) hide a stronger mark: the
    # informed part gets a larger budget (tex_boost), and on the coarse grid the whole mark
    # grows where its predicted distortion allows (boost), the two together never past
    # ISS_TEX_BOOST. Coarse grid only: the fine grid's four times the samples already survive
    # the crops the boost is for.
    tex = quantile(act[::2, ::2], 0.25, axis=None)     # subsampled: see capacity_issue
    tex_boost = float(np.clip(tex / P.ISS_TEX_REF, 1.0, P.ISS_TEX_BOOST))
    boost = 1.0
    if not fine:
        # never past the mask's own amplitude (headroom), so flat areas keep their floor
        boost = masked_boost(yw, delta / float(strength),
                             min(P.PERC_BOOST_MAX, headroom, P.ISS_TEX_BOOST / tex_boost))
        if boost > 1.0:
            g *= np.float32(boost)
            delta = g * tiled
    through = _through_fn(h, w, hw, ww, fine)
    if P.ISS_ITER and min(hw, ww) >= T:
        base_tile = tile
        cap = P.ISS_MAX_RMS * tex_boost * boost * float(strength)
        bit_cap = P.ISS_CAP
        F0 = _fold_spectrum(yw, fine)
        F1, k_total = None, 1.0
        for _attempt in range(P.ISS_ATTEMPTS):
            tile = base_tile
            # the plain mark g * tiled is only read by the first attempt's first pass (F1),
            # and delta already holds it then; a redo starts from the first-order spectrum
            for it in range(P.ISS_ITER):
                # first pass of a redo: the plain mark is the first attempt's scaled by k, so its
                # front-end spectrum is (to first order) F0 + k (F1 - F0): no second whitening
                Fp = None if (it or F1 is None) else F0 + k_total * (F1 - F0)
                if it == 0 and F1 is None:
                    F1 = _fold_spectrum(yw + through(delta), fine)
                    Fp = F1
                tile = tile + _informed_correction(through, yw, g, tile, spec, coded_bits, delta, base_tile,
                                                   bit_cap, F0, Fp, fine)
                delta = g * _tiled(tile, hw, ww)
            # the informed part may spend up to the cap: if it needs more, lower the plain mark
            # and give up on more of the hopeless bits (the code corrects them), then redo
            rms = float(np.sqrt(np.mean(delta * delta)))
            if rms <= cap * 1.02 or _attempt == P.ISS_ATTEMPTS - 1:
                break
            kk = max(0.6, min(1.0, 0.97 * cap / rms))
            g = g * kk
            k_total *= kk
            bit_cap *= 0.8
        if rms > cap:               # last resort: shrink only the correction part
            d0 = g * tiled
            dc = delta - d0
            e0, ec = float(np.mean(d0 * d0)), float(np.mean(dc * dc))
            sc = math.sqrt(max(cap * cap - e0, 0.0) / ec) if ec > 0 else 0.0
            delta = d0 + min(1.0, sc) * dc
    # A picture whose own texture would drown the mark in a 50 % crop (the informed part
    # cancels the host only where the detector folds the whole picture) gets a stronger mark
    # where it is textured, so that the crop reads; the PSNR floor below still holds it. The
    # margin scales with strength, as the SNR does, so strength keeps scaling the whole mark
    # (with a fixed margin, 2x strength gave a grainy picture 1.35x the mark).
    crop_boost = 1.0
    target = P.CROP_MARGIN_SNR * float(strength)
    if target > 0 and not fine and min(hw, ww) >= 2 * T:
        snr = crop_margin(yw + through(delta), spec, coded_bits)
        if snr < target:
            crop_boost = min(P.CROP_BOOST_MAX, target / max(snr, 1e-3))
            # by texture: 1 where the mask is at its ceiling, none where it is at its floor
            # (flat areas keep the mark they had: a stronger one shows there first)
            m = np.clip((mask_act / P.MASK_ACT_REF - P.MASK_MIN) / (1.0 - P.MASK_MIN), 0.0, 1.0)
            delta = delta * (1.0 + (crop_boost - 1.0) * m).astype(np.float32)
    delta = delta.astype(np.float32, copy=False)
    # Upsample the residual as offset uint8 with q fractional steps (fast SIMD resize), then add
    # it with rounding and saturation in one pass: out = rgb + (d8 - 128) / q.
    peak = max(float(delta.max()), -float(delta.min())) if delta.size else 0.0   # max |delta|
    q = 16.0
    while q > 1.0 and peak * q > 127.0:
        q /= 2.0
    # The output is written into the (fresh) full-size residual buffer: every fresh full-size
    # array costs its page faults (~0.8 ms per MB measured), as much as the arithmetic.

    def full_size(d: np.ndarray) -> np.ndarray:
        # clip(rint(d * q + 128), 0, 255) as uint8, in place on one temporary
        t = np.multiply(d, q, dtype=np.float32)
        t += 128.0
        np.rint(t, out=t)
        d8 = np.clip(t, 0, 255, out=t).astype(np.uint8)
        if (hw, ww) != (h, w):
            d8 = cv2.resize(d8, (w, h), interpolation=cv2.INTER_LINEAR)
        return d8

    d8 = full_size(delta)
    if tex_boost * boost * crop_boost > 1.0:
        # a budget raised by texture or a crop margin: hold the full-size mark to the PSNR
        # floor (measured on every third row and column: the upsampled residual is smooth at
        # that scale)
        lim = 255.0 * 10.0 ** (-P.PSNR_FLOOR_DB / 20.0) * float(strength)
        sub = d8[::3, ::3].astype(np.float32) - 128.0
        rms_full = float(np.sqrt(np.mean(sub * sub))) / q
        if rms_full > lim:
            d8 = full_size(delta * np.float32(lim / rms_full))
    if rgb.ndim == 2:
        return cv2.addWeighted(rgb, 1.0, d8, 1.0 / q, -128.0 / q, dst=d8), issue
    return _add_residual_rgb(rgb, d8, q), issue


#: Rows per strip of :func:`_add_residual_rgb` (a 4K strip of 3 channels: 1.5 MB, cache-sized).
_ADD_STRIP_ROWS = 128


def _add_residual_rgb(rgb: np.ndarray, d8: np.ndarray, q: float) -> np.ndarray:
    """``rgb + (d8 - 128) / q`` on every channel, rounded and saturated (uint8; ``d8`` is the
    H x W offset residual). Same arithmetic as one ``cv2.addWeighted`` of ``rgb`` and the residual
    spread to three channels, but strip by strip: the three-channel residual of a strip stays in
    cache instead of being written out at full size and read back (4K: 25 MB each way)."""
    h = rgb.shape[0]
    out = np.empty_like(rgb)
    buf = np.empty((min(_ADD_STRIP_ROWS, h),) + rgb.shape[1:], dtype=np.uint8)
    for r0 in range(0, h, _ADD_STRIP_ROWS):
        r1 = min(r0 + _ADD_STRIP_ROWS, h)
        d3 = cv2.cvtColor(d8[r0:r1], cv2.COLOR_GRAY2RGB, dst=buf[:r1 - r0])
        cv2.addWeighted(rgb[r0:r1], 1.0, d3, 1.0 / q, -128.0 / q, dst=out[r0:r1])
    return out


# --------------------------------------------------------------------------- detection

def whiten(yw: np.ndarray, pooled: bool = False) -> np.ndarray:
    """Detector pre-whitening: high-pass, then divide by local contrast (weights every region
    roughly by mark-to-noise, since the mark amplitude follows the texture). ``pooled``: both
    blurs at half resolution (filters.local_mean; the fine grid's, :func:`is_fine`)."""
    return _whiten_parts(yw, pooled)[1]


def _whiten_parts(yw: np.ndarray, pooled: bool = False,
                  out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(the whitening's high-pass of ``yw``, :func:`whiten`'s result), both float32. ``out``: a
    float32 array of ``yw``'s shape to write the result into."""
    blur = local_mean if pooled else gaussian
    hp, loc = local_contrast(yw, P.DET_HP_SIGMA, P.DET_POOL_SIGMA, hp_blur=blur, pool_blur=blur)
    loc += 0.5
    return hp, np.divide(hp, loc, out=loc if out is None else out)


def suppress_edges(yw: np.ndarray, pooled: bool = False) -> np.ndarray:
    """The detector's edge suppression (wm_params.DET_EDGE_*): ``yw`` (H x W, 8-bit scale)
    minus the high-pass part of its bilateral smoothing, float32. Edges and strong texture
    survive the bilateral filter and are subtracted; the mark, a few levels, is smoothed out
    of it and stays. What the filter keeps below the whitening's high-pass is added back, so
    the whitening sees the same low frequencies as before. ``pooled``: that blur at half
    resolution, as the fine grid's whitening (:func:`whiten`)."""
    y = np.asarray(yw, dtype=np.float32)
    if min(y.shape) < P.DET_EDGE_DIAMETER:
        return y
    b = cv2.bilateralFilter(y, P.DET_EDGE_DIAMETER, P.DET_EDGE_SIGMA_COLOR, P.DET_EDGE_SIGMA_SPACE)
    return y - b + (local_mean if pooled else gaussian)(b, P.DET_HP_SIGMA)


def line_share(r: np.ndarray) -> float:
    """Share of a whitened grid's energy in the mark's band (BAND_LO..BAND_HI cycles per pixel)
    that its strongest 1 % of DFT bins hold: ~0.1-0.4 on photographs (edges and texture
    spread their energy), ~0.7 on a host made of spectral lines (gratings, screens)."""
    r = np.asarray(r, dtype=np.float32)
    h, w = r.shape
    F = cv2.dft(r - float(r.mean()), flags=cv2.DFT_COMPLEX_OUTPUT)[:, :w // 2 + 1]
    power = F[..., 0] * F[..., 0] + F[..., 1] * F[..., 1]     # the half plane, as rfft2's
    f = np.hypot(np.fft.fftfreq(h)[:, None], (np.arange(w // 2 + 1) / w)[None, :])
    band = power[(f >= P.BAND_LO) & (f <= P.BAND_HI)]
    total = float(band.sum(dtype=np.float64))
    if band.size < 100 or total <= 0.0:
        return 0.0
    k = band.size // 100
    return float(np.partition(band, band.size - k)[band.size - k:].sum(dtype=np.float64)) / total


def texture_kurtosis(yw: np.ndarray) -> float:
    """Kurtosis of ``yw``'s high-pass (the whitening's, DET_HP_SIGMA; 8 px borders left out):
    ~3 for Gaussian-like texture, well above 3 where edges and flat areas alternate."""
    return _kurtosis(_whiten_parts(yw)[0])


def _kurtosis(hp: np.ndarray) -> float:
    """:func:`texture_kurtosis` of a high-pass already computed."""
    hp = hp[8:-8, 8:-8]
    if hp.size < 64:
        return 3.0
    hp = hp - float(hp.mean(dtype=np.float64))
    h2 = hp * hp
    m2 = float(h2.mean(dtype=np.float64))
    return float((h2 * h2).mean(dtype=np.float64)) / (m2 * m2) if m2 > 1e-12 else 3.0


def detector_front(yw: np.ndarray, pooled: bool = False, edges: bool = True) -> np.ndarray:
    """The detector's front end on a grid: :func:`suppress_edges` (when ``edges``), then
    :func:`whiten`."""
    return whiten(suppress_edges(yw, pooled) if edges else yw, pooled)


def grid_front_end(yw: np.ndarray, pooled: bool = False) -> tuple[bool, np.ndarray]:
    """(whether the detector suppresses edges on this picture, its front end on the working
    grid ``yw``). The bilateral filter is non-linear, and two kinds of host keep the plain
    front end:

    * hosts made of spectral lines (line_share above DET_EDGE_MAX_LINE_SHARE): the filter
      spreads a line over every bin, where the plain whitening leaves it in its own few bins,
      which the phase-only correlation then weighs like any other;
    * Gaussian-like texture (texture_kurtosis under DET_EDGE_MIN_KURTOSIS), whose amplitude
      is about the filter's sigma colour everywhere: the filter adds as much interference as
      it removes.

    Both are measured on the coarse grid's scale (a fine grid halved: a quarter of the cost,
    about the same statistics). The choice depends on the picture only, never on the key, so the
    p-values stay calibrated."""
    if not P.DET_EDGE_SUPPRESS:
        return False, whiten(yw, pooled)
    g = np.asarray(yw, dtype=np.float32)
    halved = min(g.shape) > 1.5 * P.WORK_SHORT
    if halved:
        g = cv2.resize(g, (g.shape[1] // 2, g.shape[0] // 2), interpolation=cv2.INTER_AREA)
    hp, plain = _whiten_parts(g)       # one high-pass for both gates
    if line_share(plain) <= P.DET_EDGE_MAX_LINE_SHARE and _kurtosis(hp) >= P.DET_EDGE_MIN_KURTOSIS:
        return True, detector_front(yw, pooled)
    return False, whiten(yw, pooled) if halved or pooled else plain


def chroma_guided(wy: np.ndarray, wcr: np.ndarray, wcb: np.ndarray) -> np.ndarray:
    """Whitened luma minus its local linear prediction from whitened chroma (float32).

    The mark is added equally to R, G and B, so it lives in luma alone, while most of an
    image's own structure (edges, texture) shows in luma AND chroma. A ridge regression of
    ``wy`` on (``wcr``, ``wcb``) in a Gaussian window (CHROMA_SIGMA) predicts the host part of
    the luma; what is left carries the mark with less host interference. Where chroma is flat
    (grey areas) the prediction is ~0 and the luma passes unchanged."""
    G = lambda x: gaussian(x, P.CHROMA_SIGMA)
    srr = G(wcr * wcr) + P.CHROMA_RIDGE
    sbb = G(wcb * wcb) + P.CHROMA_RIDGE
    srb = G(wcr * wcb)
    sry = G(wcr * wy)
    sby = G(wcb * wy)
    det = srr * sbb - srb * srb
    a = (sbb * sry - srb * sby) / det
    b = (srr * sby - srb * sry) / det
    return wy - a * wcr - b * wcb


def fold(g: np.ndarray) -> np.ndarray:
    """Sum of the T x T tiles of ``g`` (zero-padded to whole tiles)."""
    h, w = g.shape
    H, W = -(-h // T) * T, -(-w // T) * T
    if (H, W) != (h, w):            # (np.pad costs more than the sum on these sizes)
        p = np.zeros((H, W), dtype=g.dtype)
        p[:h, :w] = g
        g = p
    return g.reshape(H // T, T, W // T, T).sum(axis=(0, 2))


def _fft2(x: np.ndarray) -> np.ndarray:
    """Complex 2-D DFT of a real float array (OpenCV's: several times numpy's on 64 x 64)."""
    F = cv2.dft(np.ascontiguousarray(x, dtype=np.float64), flags=cv2.DFT_COMPLEX_OUTPUT)
    return F[..., 0] + 1j * F[..., 1]


def _ifft2_real(Z: np.ndarray) -> np.ndarray:
    """Real part of the (unscaled) inverse 2-D DFT of a complex array, via OpenCV."""
    z = np.empty(Z.shape + (2,), dtype=np.float64)
    z[..., 0], z[..., 1] = Z.real, Z.imag
    return cv2.idft(z, flags=cv2.DFT_COMPLEX_OUTPUT)[..., 0]


@dataclass
class _Eval:
    z: float
    shift: tuple[float, float]      # (sy, sx) in tile pixels, sub-pixel
    U: np.ndarray                   # phase-only T x T spectrum of the fold
    F: np.ndarray                   # raw T x T spectrum of the fold
    A: np.ndarray


def _pilot_corr(U: np.ndarray, spec: TileSpec) -> tuple[float, tuple[float, float]]:
    """Max over (sub-pixel grid) cyclic shifts of the phase-only pilot correlation, as z."""
    up = _UP * T
    Z = np.zeros((up, up), dtype=np.complex128)
    Z[spec.pilot_up_idx] = U[spec.pilot_idx] * spec.pilot_ref
    c = _ifft2_real(Z)                      # == real(ifft2(Z)) * up^2
    m = len(spec.pilot_ref)
    zmap = c / math.sqrt(m / 2.0)
    i = int(np.argmax(zmap))
    iy, ix = divmod(i, up)
    zmax = float(zmap[iy, ix])

    def parab(a, b, cc):
        den = a - 2 * b + cc
        return 0.0 if den >= 0 else float(np.clip(0.5 * (a - cc) / den, -0.5, 0.5))

    dy = parab(zmap[(iy - 1) % up, ix], zmax, zmap[(iy + 1) % up, ix])
    dx = parab(zmap[iy, (ix - 1) % up], zmax, zmap[iy, (ix + 1) % up])
    return zmax, ((iy + dy) / _UP, (ix + dx) / _UP)


def _evaluate(r: np.ndarray, A: np.ndarray | None, spec: TileSpec) -> _Eval | None:
    if A is None:
        g = r
        A = np.eye(2)
    else:
        h, w = r.shape
        Ainv = np.linalg.inv(A)
        corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], dtype=np.float64).T   # (x, y)
        u = Ainv @ corners
        umin = u.min(axis=1)
        size = np.ceil(u.max(axis=1) - umin).astype(int)
        if size[0] * size[1] > 6 * h * w or min(size) < T // 2:
            return None
        M = np.hstack([A, (A @ umin)[:, None]]).astype(np.float64)
        g = cv2.warpAffine(r, M, (int(size[0]), int(size[1])),
                           flags=P.WARP_INTERP | cv2.WARP_INVERSE_MAP,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    F = _fft2(fold(g))
    U = F / (np.abs(F) + 1e-12)
    z, shift = _pilot_corr(U, spec)
    return _Eval(z, shift, U, F, A)


class _Frames:
    """Whitened grids of one image at several resolutions. A geometric hypothesis A (tile frame
    -> working grid) whose scale s = sqrt|det A| is far from 1 is evaluated on the luma
    resampled by ~1/s (from the full-resolution luma, anti-aliased), so the tile is back near
    TILE pixels: the whitening then acts on the mark's own band and the warp neither aliases
    image noise into it (s > 1: crops, downscales) nor loses the band above the working grid's
    Nyquist (s < 1: upscales)."""

    def __init__(self, luma: np.ndarray, yw: np.ndarray, r: np.ndarray | None = None,
                 chroma: tuple[np.ndarray, np.ndarray] | None = None,
                 white_luma: dict[tuple[int, int], np.ndarray] | None = None,
                 grid: int = P.WORK_SHORT, edges: bool = False):
        self.luma = luma
        self.fine = is_fine(grid)      # the fine grid's resampling and whitening
        self.edges = edges              # edge suppression, as grid_front_end chose
        self.chroma = chroma            # full-resolution (Cr, Cb): chroma-guided front end
        self.hw, self.ww = yw.shape
        # whitened luma per (w, h), shared by the luma and chroma-guided passes of one image:
        # the chroma-guided front end starts from the same whitened luma at the same sizes
        self.white_luma = {} if white_luma is None else white_luma
        if r is None:                   # the front end on the working grid itself
            r = self.front_end(self.ww, self.hw)
        elif chroma is None:
            self.white_luma.setdefault((self.ww, self.hw), r)
        self.r = r
        self.cache: dict[int, tuple[np.ndarray, np.ndarray]] = {0: (r, np.eye(2))}

    def _resample(self, img: np.ndarray, nw: int, nh: int) -> np.ndarray:
        H, W = img.shape
        if nh * nw < H * W:
            return area_reduce(img, (nw, nh), self.fine).astype(np.float32)
        return cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR).astype(np.float32)

    def front_end(self, nw: int, nh: int) -> np.ndarray:
        """The detector's whitened grid of the image resampled to nw x nh."""
        r = self.white_luma.get((nw, nh))
        if r is None:
            r = self.white_luma[(nw, nh)] = detector_front(self._resample(self.luma, nw, nh), self.fine,
                                                           self.edges)
        if self.chroma is not None:
            r = chroma_guided(r, *(detector_front(self._resample(c, nw, nh), self.fine, self.edges)
                                   for c in self.chroma))
        return r

    def get(self, A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = math.sqrt(abs(float(np.linalg.det(A))))
        q = int(round(P.RESCALE_STEPS * math.log2(max(s, 1e-6))))
        if abs(q) < P.RESCALE_MIN_STEP:
            q = 0
        if q not in self.cache:
            sq = 2.0 ** (q / P.RESCALE_STEPS)
            nh, nw = max(1, int(round(self.hw / sq))), max(1, int(round(self.ww / sq)))
            self.cache[q] = (self.front_end(nw, nh), np.diag([nw / self.ww, nh / self.hw]))
        return self.cache[q]


def _evaluate_geom(frames: _Frames, A: np.ndarray, spec: TileSpec) -> _Eval | None:
    r, D = frames.get(A)
    ev = _evaluate(r, D @ A, spec)
    if ev is not None:
        ev.A = A                    # report the map to the working grid
    return ev


def _parab(a: float, b: float, c: float) -> float:
    den = a - 2 * b + c
    return 0.0 if den >= 0 else float(np.clip(0.5 * (a - c) / den, -0.5, 0.5))


def sync_candidates(r: np.ndarray, spec: TileSpec, max_n: int) -> list[np.ndarray]:
    """Candidate maps A (tile frame -> working frame) from the two sync peaks in the spectrum.

    A sinusoid of tile frequency k becomes a spectral peak at w = A^-T k / T, so the peaks
    w1, w2 of the two sync sinusoids (k1, k2) give A = (T [w1 w2] [k1 k2]^-1)^-T. The
    strongest SYNC_POOL_PEAKS local maxima of each angular sector (whitened power) are paired;
    only plausible maps are kept (tile axes near perpendicular, bounded aspect and rotation), the
    SYNC_CANDIDATES strongest pairs are returned."""
    h, w = r.shape
    win = cv2.createHanningWindow((w, h), cv2.CV_32F)
    F = np.fft.fftshift(np.fft.fft2(r * win))
    pw = (F.real ** 2 + F.imag ** 2).astype(np.float32)
    # detection map: pool 3x3 (a peak between bins splits its power), whiten by the local mean;
    # the position is refined on the raw power
    raw = pw
    pw = cv2.blur(raw, (P.SYNC_POOL, P.SYNC_POOL)) if P.SYNC_POOL > 1 else raw
    pw = pw / (cv2.blur(pw, (11, 11)) + 1e-12)
    fy = (np.arange(h) - h // 2) / h
    fx = (np.arange(w) - w // 2) / w
    # spectral lines (JPEG 8x8 grid of the image as it is now, straight edges, borders) are
    # whole rows/columns of raised power: divide each row and column by its median, so only
    # isolated peaks stand out (a sync peak lying on such a line survives, unlike blanking it)
    pw = pw / np.maximum(quantile(pw, 0.5, axis=1), 1.0)[:, None]
    pw = pw / np.maximum(quantile(pw, 0.5, axis=0), 1.0)[None, :]
    rad = np.hypot(fy[:, None], fx[None, :])
    ang = np.degrees(np.arctan2(fy[:, None], fx[None, :]))
    K = np.array(spec.sync_k, dtype=np.float64).T                       # columns k1, k2 (x, y)
    f_lo = float(np.linalg.norm(K, axis=0).min()) / T
    f_hi = float(np.linalg.norm(K, axis=0).max()) / T
    ring = (rad >= f_lo / P.SCALE_MAX) & (rad <= min(0.5, f_hi / P.SCALE_MIN))
    Kinv = np.linalg.inv(K)
    locmax = pw >= cv2.dilate(pw, np.ones((3, 3), np.uint8))
    logp = np.log(raw + 1e-12 * float(raw.mean()) + 1e-30)

    def peaks(sector):
        idx = np.flatnonzero((sector & ring & locmax).ravel())
        if idx.size == 0:
            return np.zeros(0), np.zeros((0, 2))
        top = idx[np.argsort(pw.ravel()[idx])[::-1][:P.SYNC_POOL_PEAKS]]
        sc, pos = [], []
        for i in top:
            iy, ix = divmod(int(i), w)
            if 0 < iy < h - 1 and 0 < ix < w - 1:        # raw maximum of the pooled 3x3
                j = int(np.argmax(raw[iy - 1:iy + 2, ix - 1:ix + 2]))
                iy, ix = iy - 1 + j // 3, ix - 1 + j % 3
            dy = _parab(logp[iy - 1, ix], logp[iy, ix], logp[iy + 1, ix]) if 0 < iy < h - 1 else 0.0
            dx = _parab(logp[iy, ix - 1], logp[iy, ix], logp[iy, ix + 1]) if 0 < ix < w - 1 else 0.0
            sc.append(float(pw.ravel()[i]))
            pos.append((fx[ix] + dx / w, fy[iy] + dy / h))
        return np.array(sc), np.array(pos)

    mr = P.MAX_ROT_DEG

    def sector(k):
        a0 = math.degrees(math.atan2(k[1], k[0]))
        d = (ang - a0 + 180.0) % 360.0 - 180.0
        return np.abs(d) <= mr

    s1, w1 = peaks(sector(K[:, 0]))
    s2, w2 = peaks(sector(K[:, 1]))
    if len(s1) == 0 or len(s2) == 0:
        return []
    # every pair (vectorized): B = T [w1 w2] K^-1, A = B^-T
    n1, n2 = len(s1), len(s2)
    W1 = np.repeat(w1, n2, axis=0)
    W2 = np.tile(w2, (n1, 1))
    S = np.repeat(s1, n2) + np.tile(s2, n1)
    Bm = T * np.stack([W1, W2], axis=2) @ Kinv              # (n, 2, 2), columns w1, w2
    det = Bm[:, 0, 0] * Bm[:, 1, 1] - Bm[:, 0, 1] * Bm[:, 1, 0]
    ok = np.abs(det) > 1e-9
    det = np.where(ok, det, 1.0)
    # A = inv(B)^T
    A = np.empty_like(Bm)
    A[:, 0, 0] = Bm[:, 1, 1] / det
    A[:, 1, 1] = Bm[:, 0, 0] / det
    A[:, 0, 1] = -Bm[:, 1, 0] / det
    A[:, 1, 0] = -Bm[:, 0, 1] / det
    c1 = np.hypot(A[:, 0, 0], A[:, 1, 0])
    c2 = np.hypot(A[:, 0, 1], A[:, 1, 1])
    ok &= (c1 >= P.SCALE_MIN) & (c1 <= P.SCALE_MAX) & (c2 >= P.SCALE_MIN) & (c2 <= P.SCALE_MAX)
    # plausible maps only: the tile's axes stay (near) perpendicular (scale, aspect, rotation,
    # crop: any shear is second order), the aspect is bounded and the rotation within range
    cosang = (A[:, 0, 0] * A[:, 0, 1] + A[:, 1, 0] * A[:, 1, 1]) / (c1 * c2 + 1e-12)
    ok &= np.abs(cosang) <= math.sin(math.radians(P.SYNC_MAX_SKEW_DEG))
    asp = c1 / (c2 + 1e-12)
    ok &= (asp >= 1.0 / P.SYNC_MAX_ASPECT) & (asp <= P.SYNC_MAX_ASPECT)
    rot = np.degrees(np.arctan2(A[:, 1, 0], A[:, 0, 0]))
    ok &= np.abs(rot) <= mr
    idx = np.flatnonzero(ok)
    idx = idx[np.argsort(-S[idx], kind="stable")[:max_n]]
    out = [A[i] for i in idx]
    # one-peak similarity maps (scale + rotation, no aspect change: crops, resizes, rotations)
    # from the strongest peaks of each sector: they cover a sync peak lost in the host spectrum
    singles = []
    for j, (sc, ws) in enumerate(((s1, w1), (s2, w2))):
        k = K[:, j]
        for sv, wv in zip(sc[:P.SYNC_SINGLE_PEAKS], ws[:P.SYNC_SINGLE_PEAKS]):
            nw = float(np.hypot(wv[0], wv[1]))
            if nw <= 0:
                continue
            sc_ = float(np.hypot(k[0], k[1])) / (T * nw)
            th = math.atan2(wv[1], wv[0]) - math.atan2(k[1], k[0])
            th = (th + math.pi) % (2 * math.pi) - math.pi
            if not (P.SCALE_MIN <= sc_ <= P.SCALE_MAX) or abs(math.degrees(th)) > mr:
                continue
            # w = A^-T k / T with A = s R(th): A^-T = R(th) / s
            singles.append((sv, sc_ * np.array([[math.cos(th), -math.sin(th)],
                                                [math.sin(th), math.cos(th)]])))
    singles.sort(key=lambda t: -t[0])
    return out + [a for _, a in singles]


def _shift_phasor(k: np.ndarray, s: np.ndarray) -> np.ndarray:
    """exp(2 pi i k . s / T) for bins k (M, 2) (ky, kx): undoes a cyclic shift s = (sy, sx)."""
    return np.exp(2j * np.pi * (k[:, 0] * s[0] + k[:, 1] * s[1]) / T)


def _bin_noise(F: np.ndarray) -> np.ndarray:
    """Per-bin noise power of a T x T fold spectrum: cyclic 5 x 5 mean of |F|^2."""
    m2 = np.tile(F.real ** 2 + F.imag ** 2, (3, 3))
    return cv2.blur(m2, (5, 5))[T:2 * T, T:2 * T]


def _ring_gain(ev: _Eval, spec: TileSpec, s: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Per data bin, the channel's gain at that bin's radial frequency as the pilot bins measure
    it (least squares over the pilot bins of each of SOFT_RINGS equal-width rings of the band,
    floored at 0). Compression, resizing and blur attenuate the band's upper part more than its
    lower part; the matched filter weights each bin by its expected signal, so a ring the
    attack emptied adds little noise to the soft values."""
    nr = P.SOFT_RINGS
    kp, kd = spec.pilot_k, spec.data_k
    yp = np.real(ev.F[spec.pilot_idx] * spec.pilot_ref * _shift_phasor(kp, s))   # amp * gain + noise
    wp = spec.pilot_amp / (noise[spec.pilot_idx] + 1e-12)
    edges = np.linspace(P.BAND_LO, P.BAND_HI, nr + 1)[1:-1]
    rp = np.searchsorted(edges, np.hypot(kp[:, 0], kp[:, 1]) / T)
    rd = np.searchsorted(edges, np.hypot(kd[:, 0], kd[:, 1]) / T)
    num = np.bincount(rp, weights=yp * wp, minlength=nr)
    den = np.bincount(rp, weights=spec.pilot_amp * wp, minlength=nr)
    g = np.maximum(num / np.maximum(den, 1e-30), 0.0)
    return g[rd] if np.any(g > 0) else np.ones(len(rd))


def _soft_values(ev: _Eval, spec: TileSpec) -> np.ndarray:
    """Payload soft values (per coded bit) at an evaluation's (sub-pixel) pilot shift."""
    k = spec.data_k
    s = np.array(ev.shift)
    ph = _shift_phasor(k, s)
    if P.SOFT_WEIGHTING == "mrc":
        # per-bin noise power from the neighbouring bins (cyclic 5x5 mean of |F|^2):
        # Re(F conj(S)) / sigma^2 is the matched-filter LLR for Gaussian noise; with SOFT_RINGS
        # the expected signal S also carries the pilot-measured gain of the bin's frequency ring
        noise = _bin_noise(ev.F)
        y = np.real(ev.F[spec.data_idx] * spec.data_ref * ph) * spec.data_amp / (noise[spec.data_idx] + 1e-12)
        if P.SOFT_RINGS > 0:
            y = y * _ring_gain(ev, spec, s, noise)
    else:
        return _phase_soft(ev, spec)
    return np.bincount(spec.data_bit, weights=y, minlength=coding.N_CODED)


def _phase_soft(ev: _Eval, spec: TileSpec) -> np.ndarray:
    """Phase-only payload soft values: per coded bit, the sum of Re(U conj(S)) over its data
    bins at the evaluation's (sub-pixel) pilot shift."""
    ph = _shift_phasor(spec.data_k, np.array(ev.shift))
    y = np.real(ev.U[spec.data_idx] * spec.data_ref * ph)
    return np.bincount(spec.data_bit, weights=y, minlength=coding.N_CODED)


@dataclass
class LumaDetection:
    z: float
    log10_p: float
    p_value: float
    soft: np.ndarray | None
    details: dict
    alt_soft: list = None        # soft values at the other maps decoded (refined sync maps, sweep)
    tests: int = 1               # front ends counted in p_value (each: N_DECODE decodes at most)
    decoded: coding.DecodeResult | None = None   # first of soft, *alt_soft whose CRC holds,
                                                 # else the last one tried
    sweep_best: list | None = None      # the scale sweep's best maps, when it ran
    crc_checks: float = 0.0             # CRC checks the combined p-value counts (crc_checks())


def p_from_z(z: float) -> tuple[float, float]:
    """(p, log10 p) of the max statistic over N_HYPOTHESES N(0,1) values: 1 - (1 - Q(z))^N
    (Sidak; ~ N Q(z) in the tail, computed in the log domain). The hypotheses are positively
    correlated (neighbouring shifts/scales), so this over-counts: it is conservative."""
    logq = float(log_ndtr(-z))
    if _LOG_N + logq < math.log(1e-4):
        logp = _LOG_N + logq
    else:
        logp = math.log(max(-math.expm1(N_HYPOTHESES * math.log1p(-math.exp(logq))), 1e-300))
    return math.exp(logp), logp / math.log(10)


def detect_luma(luma: np.ndarray, key: bytes, yw: np.ndarray | None = None,
                rgb: np.ndarray | None = None, grids: tuple[int, ...] | None = None) -> LumaDetection:
    """Presence statistic, payload soft values and their decode for uint8 ``luma`` (H x W).
    ``yw``: its working luma on the coarse grid (:func:`work_luma`) when the caller already
    has it.

    The search runs on each working grid of ``grids`` (default :func:`detect_grids`) in turn
    (the grid this size is marked on first) until a payload decodes, and every grid is counted
    whether or not it ran: p = n_grids x the smallest grid's p. The grids after the first are
    read on the luma front end only, and decode only where their pilot p is at most
    SECOND_GRID_DECODE_P (:func:`crc_checks`).

    ``rgb``: the H x W x 3 colour image ``luma`` came from. When it has chroma
    (:func:`has_chroma`), the search on a grid runs a second time on the chroma-guided front
    end (:func:`chroma_guided`) if no payload decodes on the first pass (crops and other
    geometric changes leave the host's interference uncancelled by the informed embedding;
    chroma predicts part of it), and two tests are counted however many ran: p = 2 min(p1, p2),
    and up to 2 N_DECODE decodes. The chroma planes are only computed for that second pass."""
    grids = detect_grids(*luma.shape) if grids is None else grids
    done: list[LumaDetection] = []
    for i, grid in enumerate(grids):
        # the other grids: luma front end only, decoding only where their pilot is conclusive
        gate = 0.0 if i == 0 else math.log10(P.SECOND_GRID_DECODE_P)
        res = _detect_grid(luma, key, yw if grid == P.WORK_SHORT else None, rgb if i == 0 else None,
                           grid, gate)
        done.append(res)
        if res.decoded.crc_ok:
            break
    res = next((r for r in done if r.decoded.crc_ok), None) or min(done, key=lambda r: r.log10_p)
    front_ends = done[0].tests
    res.crc_checks = crc_checks(front_ends, len(grids))
    if len(grids) > 1:
        res.p_value, res.log10_p = _bonferroni(min(r.log10_p for r in done), len(grids))
        res.z = max(r.z for r in done)
        res.tests = front_ends + len(grids) - 1
        res.details["log10_p"] = round(res.log10_p, 3)
    res.details["grids_read"] = [r.details["grid"] for r in done]
    res.details["grids"] = len(grids)
    return res


def crc_checks(front_ends: int, grids: int) -> float:
    """CRC checks the combined p-value counts (coding.presence_log_p's ``n_checks``) for a
    picture read on ``grids`` working grids, the first with ``front_ends`` passes: N_DECODE
    per pass there; each other grid has one pass (luma), which decodes only when its pilot p
    is at most SECOND_GRID_DECODE_P, so under H0 it adds SECOND_GRID_DECODE_P x N_DECODE
    checks at most (the payload bins are disjoint from the pilot's)."""
    return P.N_DECODE * (front_ends + (grids - 1) * P.SECOND_GRID_DECODE_P)


def _detect_grid(luma: np.ndarray, key: bytes, yw: np.ndarray | None, rgb: np.ndarray | None,
                 grid: int, gate: float = 0.0) -> LumaDetection:
    """:func:`detect_luma` on one working grid (p-value counted over its front ends); each
    pass decodes only when its pilot's log10 p is at most ``gate``."""
    spec = tile_spec(bytes(key))
    yw = work_luma(luma, grid) if yw is None else yw
    tests = 2 if rgb is not None and has_chroma(rgb) else 1
    white_luma: dict[tuple[int, int], np.ndarray] = {}
    edges, r = grid_front_end(yw, is_fine(grid))
    res = _search(_Frames(luma, yw, r, white_luma=white_luma, grid=grid, edges=edges),
                  spec, yw, decode_max_log10_p=gate)
    res.details["front_end"] = "luma"
    if tests == 2 and not res.decoded.crc_ok:
        res2 = _search(_Frames(luma, yw, chroma=chroma_planes(rgb), white_luma=white_luma, grid=grid,
                               edges=edges),
                       spec, yw, res.sweep_best, gate)
        res2.details["front_end"] = "chroma-guided"
        res2.details["luma_pass_log10_p"] = res.details["log10_p"]
        res2.log10_p = min(res.log10_p, res2.log10_p)
        res2.z = max(res.z, res2.z)
        res = res2
    res.tests = tests
    res.details["front_ends"] = tests
    res.details["grid"] = grid
    res.details["edge_suppression"] = edges
    if tests > 1:
        res.p_value, res.log10_p = _bonferroni(res.log10_p, tests)
        res.details["log10_p"] = round(res.log10_p, 3)
    return res


def identity_read(luma: np.ndarray, key: bytes) -> tuple[float, coding.DecodeResult]:
    """The blind detector's first hypothesis alone: the identity geometry, where a marked image
    that nothing has altered carries its mark. Returns (log10 p of the pilot there, counted
    over the whole search and every grid as :func:`detect_luma` counts it, and the payload
    decode there), on the grid this size is marked on. A few ms per megapixel, never a
    search: for checking freshly marked pixels."""
    spec = tile_spec(bytes(key))
    grid = embed_grid(*luma.shape)
    ev = _evaluate(grid_front_end(work_luma(luma, grid), is_fine(grid))[1], None, spec)
    log10_p = min(0.0, p_from_z(ev.z)[1] + math.log10(n_grids(*luma.shape)))
    return log10_p, coding.decode_payload(_soft_values(ev, spec))


def has_chroma(rgb: np.ndarray) -> bool:
    """Whether an H x W x 3 image has colour (sampled on every 8th pixel): grey pictures stored
    as RGB (R = G = B) give the chroma-guided pass nothing to predict from."""
    sub = rgb[::8, ::8]
    return not (np.array_equal(sub[..., 0], sub[..., 1]) and np.array_equal(sub[..., 1], sub[..., 2]))


def chroma_planes(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Full-resolution (Cr, Cb) uint8 planes of an H x W x 3 RGB image."""
    _, cr, cb = cv2.split(cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb))
    return cr, cb


def _bonferroni(log10_p: float, n: int) -> tuple[float, float]:
    """(p, log10 p) of the smallest of n tests' p-values (given as log10), Bonferroni-corrected."""
    lp = min(0.0, log10_p + math.log10(n))
    return 10.0 ** lp, lp


def _search(frames: _Frames, spec: TileSpec, yw: np.ndarray,
            sweep_best: list[np.ndarray] | None = None, decode_max_log10_p: float = 0.0) -> LumaDetection:
    """One geometric search on one front end: identity and sync candidates (the presence
    p-value), then, when the payload does not decode there, refinement of the best sync maps,
    the scale sweep (``sweep_best``: its best maps from an earlier front end, reused) and the
    decision-directed refinement, which only choose where the payload is read."""
    r = frames.r
    best = _evaluate(r, None, spec)
    n_eval = 1
    done = lambda: p_from_z(best.z)[0] <= P.EARLY_EXIT_P
    evs: list[_Eval] = []
    if not done():
        for A in sync_candidates(r, spec, P.SYNC_PAIRS):
            ev = _evaluate_geom(frames, A, spec)
            n_eval += 1
            if ev is not None:
                evs.append(ev)
                if ev.z > best.z:
                    best = ev
                    if done():
                        break
    assert n_eval <= P.MAX_GEOM_CANDIDATES
    presence = best                 # the p-value counts exactly these hypotheses
    p, log10p = p_from_z(presence.z)
    # Local refinement of the best few sync candidates for DECODING (the sync peaks give the map
    # to ~0.5 %, the pilot needs ~0.2 %): pattern search on (x scale, y scale, rotation), halving
    # steps. Hill-climbing the pilot surface of an unmarked picture inflates its maximum beyond a
    # union bound (heavy-tailed neighbourhoods), so the refined z is NOT used for the presence
    # p-value; it only chooses where the payload is read, whose CRC is the evidence
    # (watermark.detect_image: every decode is counted there).
    alts: list[_Eval] = []
    swept: _Eval | None = None          # the scale sweep's best map, refined
    n_ref = 0
    # no refinement needed when the payload already decodes where the pilot is
    soft0 = None if done() else _soft_values(presence, spec)
    # a gated pass (the second grid, :func:`detect_luma`) decodes nothing unless its pilot is
    # conclusive: its CRC checks then cost the p-value almost nothing
    gated = log10p > decode_max_log10_p
    if gated:
        dec0 = coding.DecodeResult(None, False, 0.0)
    else:
        dec0 = None if soft0 is None else coding.decode_payload(soft0)
    if dec0 is not None and not dec0.crc_ok and not gated:
        evs.sort(key=lambda e: -e.z)
        starts = [e for e in evs[:P.REFINE_CANDIDATES] if e.z >= P.REFINE_MIN_Z]
        # a crop or aspect change whose sync peaks drowned in the host's spectrum: sweep the
        # scales with the pilot itself and read the payload at the sweep's best map too
        sweep = None
        if P.SWEEP_MAX_EVALS:
            sweep, sweep_best = _scale_sweep(frames, spec, sweep_best)
        for ev0 in starts + ([sweep] if sweep is not None else []):
            cur, n = _pattern_search(frames, spec, ev0, lambda e: e.z,
                                     P.REFINE_STEP, P.REFINE_ROT_DEG, P.REFINE_ROUNDS)
            n_ref += n
            if ev0 is sweep:
                swept = cur
            else:
                alts.append(cur)
            if cur.z > best.z:
                best = cur
    alts.sort(key=lambda e: -e.z)
    # decodes (N_DECODE at most, every one a CRC check counted in the p-value): the first one
    # at the pilot's best map (dec0), the best map after refinement when it moved, the
    # next-best refined sync maps, the sweep's, and (when all those fail) the
    # decision-directed refinement of the best map. The sync alternatives get what is left:
    # the budget always reserves one decode each for dec0 and the moved best map, so the
    # decodes made never exceed N_DECODE whichever map refinement ends on.
    dd = P.DD_ROUNDS > 0 and dec0 is not None and not dec0.crc_ok and not gated
    n_sync = P.N_DECODE - 2 - (swept is not None) - dd
    alt = [_soft_values(e, spec) for e in alts if e is not best][:n_sync]
    if swept is not None and swept is not best:
        alt.append(_soft_values(swept, spec))
    if soft0 is not None and best is presence:
        # refinement did not move the best geometry: its soft values and decode are at hand
        soft = soft0
        decoded = dec0 if dec0.crc_ok or not alt else _decode_first(alt)
    else:
        soft = _soft_values(best, spec)
        decoded = _decode_first([soft] + alt)
    if dd and not decoded.crc_ok:
        ev_dd, n = _pattern_search(frames, spec, best, lambda e: _data_energy(e, spec),
                                   P.DD_STEP, P.DD_ROT_DEG, P.DD_ROUNDS)
        n_ref += n
        if ev_dd is not best:
            soft_dd = _soft_values(ev_dd, spec)
            decoded = coding.decode_payload(soft_dd)
            if decoded.crc_ok:
                best, soft = ev_dd, soft_dd
    A = best.A
    sx, sy = float(np.linalg.norm(A[:, 0])), float(np.linalg.norm(A[:, 1]))
    details = {
        "scale": round(math.sqrt(abs(np.linalg.det(A))), 4),
        "aspect": round(sx / sy, 4),
        "angle_deg": round(math.degrees(math.atan2(A[1, 0], A[0, 0])), 3),
        "shift": [round(best.shift[0], 2), round(best.shift[1], 2)],
        "geom_evaluated": n_eval,
        "geom_refined": n_ref,
        "refined_z": round(float(best.z), 3),
        "log10_p": round(log10p, 3),
        "work_size": list(yw.shape),
    }
    if swept is not None:
        details["sweep_map"] = [round(float(v), 4) for v in swept.A.ravel()]
        details["sweep_z"] = round(float(swept.z), 3)
    return LumaDetection(z=presence.z, log10_p=log10p, p_value=p, soft=soft, details=details,
                         alt_soft=alt, decoded=decoded, sweep_best=sweep_best)


def _sweep_grid(lo: float, hi: float, extent: float) -> np.ndarray:
    """Scale factors lo..hi (both > 0) on a grid uniform in 1/s with step 2 SWEEP_EDGE_PX /
    extent: a relative scale error e moves the far edge of the fold (extent / s tile-frame
    pixels for a working grid of that extent) by e extent / s pixels and the pilot tolerates
    about SWEEP_EDGE_PX of that, so the step in ln s is 2 SWEEP_EDGE_PX s / extent (coarsened
    to SWEEP_MAX_EVALS points on very long images)."""
    a, b = 1.0 / lo, 1.0 / hi
    n = max(2, min(int(math.ceil(abs(a - b) * extent / (2.0 * P.SWEEP_EDGE_PX))), P.SWEEP_MAX_EVALS))
    return 1.0 / (a + (b - a) * (np.arange(n) + 0.5) / n)


def sweep_maps(hw: int, ww: int) -> list[np.ndarray]:
    """The maps (tile frame -> working grid) of the scale sweep for an hw x ww working grid:
    isotropic scales SWEEP_S_MIN..SWEEP_S_MAX (centre and off-grid crops), then one axis scaled
    by 1/SWEEP_ASPECT_MAX..SWEEP_ASPECT_MAX with the other at 1 (one side resized: after the
    working grid's short-side normalisation an aspect change leaves one axis at scale 1),
    omitting |ln a| < SWEEP_ASPECT_MIN (the identity and the sync maps cover those)."""
    maps = [np.eye(2) * s for s in _sweep_grid(P.SWEEP_S_MIN, P.SWEEP_S_MAX, max(hw, ww))]
    for axis, extent in ((0, ww), (1, hw)):
        for half in ((1.0 / P.SWEEP_ASPECT_MAX, math.exp(-P.SWEEP_ASPECT_MIN)),
                     (math.exp(P.SWEEP_ASPECT_MIN), P.SWEEP_ASPECT_MAX)):
            for a in _sweep_grid(*half, extent):
                d = [1.0, 1.0]
                d[axis] = float(a)
                maps.append(np.diag(d))
    return maps


def _scale_sweep(frames: _Frames, spec: TileSpec,
                 maps: list[np.ndarray] | None = None) -> tuple[_Eval | None, list[np.ndarray]]:
    """Best pilot evaluation over the scale sweep's maps (:func:`sweep_maps`: crops and
    one-axis resizes, no rotation) -> (evaluation, maps evaluated in full).

    Every grid map gets a cheap evaluation (:func:`_sweep_z`); the SWEEP_KEEP best are evaluated
    like any other map. ``maps``: skip the grid and evaluate these (the chroma-guided pass reuses
    the luma pass's best). Used to choose where the payload is READ only (like refinement): the
    sweep's maximum over a few hundred maps is not in the presence p-value, and the CRC of the
    decode there is the evidence."""
    if maps is None:
        grid = sweep_maps(frames.hw, frames.ww)
        zs = np.array([_sweep_z(frames, A, spec) for A in grid])
        maps = [grid[i] for i in np.argsort(-zs)[:P.SWEEP_KEEP]]
    best = None
    for A in maps:
        ev = _evaluate_geom(frames, A, spec)
        if ev is not None and (best is None or ev.z > best.z):
            best = ev
    return best, maps


def _sweep_z(frames: _Frames, A: np.ndarray, spec: TileSpec) -> float:
    """Cheap pilot z of a diagonal map A (for ranking sweep points only): linear resize instead
    of the cubic warp, and whole-pixel shifts only (a 64^2 correlation instead of the sub-pixel
    128^2 one). ~2.5x faster than :func:`_evaluate`, and 10-20 % lower z near the true map
    (sub-pixel loss), which barely changes the ranking."""
    r, D = frames.get(A)
    M = D @ A
    g = cv2.resize(r, (0, 0), fx=1.0 / float(M[0, 0]), fy=1.0 / float(M[1, 1]),
                   interpolation=cv2.INTER_LINEAR)
    if min(g.shape) < T // 2:
        return -np.inf
    F = _fft2(fold(g))
    Fp = F[spec.pilot_idx]
    Z = np.zeros((T, T), dtype=np.complex128)
    Z[spec.pilot_idx] = Fp / (np.abs(Fp) + 1e-12) * spec.pilot_ref
    return float(_ifft2_real(Z).max()) / math.sqrt(len(spec.pilot_ref) / 2.0)


def _data_energy(ev: _Eval, spec: TileSpec) -> float:
    """Mean square of the phase-only data-bin sums per coded bit at the evaluation's shift.

    At the true map every coded bit's bins add up coherently (to +-a), so this energy rises
    and falls with how well the payload reads, and it uses all ~600 data bins where the pilot z
    uses ~200: on a 50 % crop of a grey photo the pilot z is flat within +-0.4 over a
    1.5 % x 1.5 % patch of maps of which a third decode, and this energy peaks inside that
    third (as does the soft values' correlation with their re-encoded Viterbi codeword, at
    several times the cost)."""
    e = _phase_soft(ev, spec)
    return float(np.mean(e * e))


def _pattern_search(frames: _Frames, spec: TileSpec, ev0: _Eval, score, step: float,
                    rot_deg: float, rounds: int) -> tuple[_Eval, int]:
    """Local search of the map around ``ev0`` maximizing ``score(evaluation)``: each round
    tries x scale and y scale x (1 +- step) and rotation +- rot_deg, moving to any improvement,
    then halves the steps -> (best evaluation, maps evaluated).

    Used to READ the payload only: on the pilot z (refinement of sync / sweep maps) and on
    :func:`_data_energy` (decision-directed refinement). Whatever it maximizes, only its result
    is decoded, and neither score sees the bits' signs, so under H0 that decode's CRC still
    holds with probability 2^-24."""
    cur, cs = ev0, score(ev0)
    st, rt = step, math.radians(rot_deg)
    n = 0
    for _round in range(rounds):
        center = cur.A
        c, sn = math.cos(rt), math.sin(rt)
        moves = (np.diag([1 + st, 1.0]), np.diag([1 - st, 1.0]),
                 np.diag([1.0, 1 + st]), np.diag([1.0, 1 - st]),
                 np.array([[c, -sn], [sn, c]]), np.array([[c, sn], [-sn, c]]))
        for i, M in enumerate(moves):
            ev = _evaluate_geom(frames, M @ center if i >= 4 else center @ M, spec)
            n += 1
            if ev is not None:
                sc = score(ev)
                if sc > cs:
                    cur, cs = ev, sc
        st /= 2
        rt /= 2
    return cur, n


def _decode_first(softs: list[np.ndarray]) -> coding.DecodeResult:
    """Decode soft-value sets in order up to the first whose CRC holds (else the last)."""
    for sv in softs:
        dec = coding.decode_payload(sv)
        if dec.crc_ok:
            break
    return dec
