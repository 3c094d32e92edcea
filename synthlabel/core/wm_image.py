"""Keyed, blind, invisible image watermark: the signal math (no file I/O).

Design (constants in :mod:`wm_params`):

* **Working grid.** Luma is resampled so its short side is ``WORK_SHORT`` px. The mark is
  computed there and the residual is upsampled to full size, so the cost stays flat with
  megapixels and a uniform resize is invisible to the detector.
* **Keyed tile.** A ``TILE`` x ``TILE`` pattern is built in the 2-D DFT domain: the unique
  (half-plane) bins of a mid-frequency ring are permuted with a key-derived PRNG; a fraction
  carries the *pilot* (fixed keyed phases), the rest carry the coded payload (keyed phase times
  +-1 per coded bit, round-robin over the 282 coded bits). The tile repeats over the picture,
  scaled by a perceptual mask (local texture and darkness; never zero).
* **Detector.** Pre-whiten the working luma (high-pass / local contrast), fold it into one tile
  (sum of tiles: a crop becomes a cyclic shift), take the phase-only spectrum of the fold and
  cross-correlate with the pilot over all (sub-pixel) cyclic shifts. Under H0 the phases are
  uniform, so every correlation value is ~N(0, M/2) for M pilot bins: z is exact, and the
  p-value of the max is Bonferroni over every shift and geometric hypothesis evaluated.
* **Geometry.** Besides the identity, candidates for scale / aspect / rotation come from the
  periodicity of the mark itself: the autocorrelation of the whitened working luma has peaks on
  the tile lattice (key-independent); each candidate lattice is warped back to the tile frame
  and tested with the pilot. All candidates are counted in the p-value.
* **Payload.** At the pilot's (sub-pixel) shift the payload bins give soft values per coded bit
  (phase-only, phase-corrected for the fractional shift) for the soft Viterbi decoder + CRC.
"""
from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np
from scipy.special import log_ndtr

from . import coding
from . import wm_params as P

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
    pilot_up_idx: tuple[np.ndarray, np.ndarray] = field(repr=False, default=None)  # in (UP*T)^2 grid


def _band_bins() -> np.ndarray:
    """Signed (ky, kx) of the unique half-plane bins in the mark's radial band."""
    k = np.arange(-T // 2 + 1, T // 2)
    ky, kx = np.meshgrid(k, k, indexing="ij")
    f = np.hypot(ky, kx) / T
    half = (ky > 0) | ((ky == 0) & (kx > 0))
    sel = half & (f >= P.BAND_LO) & (f <= P.BAND_HI)
    return np.stack([ky[sel], kx[sel]], axis=1)


_BAND = _band_bins()


@lru_cache(maxsize=32)
def tile_spec(key: bytes) -> TileSpec:
    rng = keyed_rng(key, "tile")
    bins = _BAND[rng.permutation(len(_BAND))]
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
    return TileSpec(
        pilot_idx=(pb[:, 0] % T, pb[:, 1] % T), pilot_k=pb, pilot_ref=np.conj(phases[:n_pilot]),
        pilot_amp=amp[:n_pilot],
        data_idx=(db[:, 0] % T, db[:, 1] % T), data_k=db, data_ref=np.conj(phases[n_pilot:]),
        data_amp=amp[n_pilot:], data_bit=data_bit,
        pilot_up_idx=(pb[:, 0] % up, pb[:, 1] % up),
    )


def make_tile(spec: TileSpec, coded_bits: np.ndarray) -> np.ndarray:
    """Spatial T x T tile (float32, unit rms) = pilot + payload."""
    S = np.zeros((T, T), dtype=np.complex128)
    S[spec.pilot_idx] = spec.pilot_amp * np.conj(spec.pilot_ref)
    sym = 2.0 * np.asarray(coded_bits, dtype=np.float64)[spec.data_bit] - 1.0
    S[spec.data_idx] = sym * spec.data_amp * np.conj(spec.data_ref)
    # Hermitian partner of every bin makes the tile real: tile = 2 Re(ifft2(S)).
    tile = np.real(np.fft.ifft2(S))
    tile /= np.sqrt(np.mean(tile ** 2))
    return tile.astype(np.float32)


# --------------------------------------------------------------------------- helpers

def work_size(h: int, w: int) -> tuple[int, int]:
    """(Hw, Ww) of the working grid for an h x w image."""
    short = min(h, w)
    if short <= P.WORK_SHORT:
        return h, w
    c = P.WORK_SHORT / short
    return max(1, int(round(h * c))), max(1, int(round(w * c)))


def to_luma(rgb: np.ndarray) -> np.ndarray:
    """uint8 luma (BT.601) of an H x W x 3 RGB or H x W gray uint8 image."""
    if rgb.ndim == 2:
        return rgb
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def work_luma(luma: np.ndarray) -> np.ndarray:
    h, w = luma.shape
    hw, ww = work_size(h, w)
    if (hw, ww) != (h, w):
        luma = cv2.resize(luma, (ww, hw), interpolation=cv2.INTER_AREA)
    return luma.astype(np.float32)


def activity(yw: np.ndarray) -> np.ndarray:
    """Local texture (rms of high-passed luma, 8-bit levels) on the working grid."""
    hp = yw - cv2.GaussianBlur(yw, (0, 0), P.MASK_HP_SIGMA)
    return np.sqrt(cv2.GaussianBlur(hp * hp, (0, 0), P.MASK_POOL_SIGMA))


def capacity_issue(luma: np.ndarray) -> str | None:
    h, w = luma.shape
    if min(h, w) < P.WEAK_SIDE:
        return (f"image is too small to carry a reliable watermark ({w}x{h}; short side under "
                f"{P.WEAK_SIDE} px): it is embedded weakly and may not survive any processing")
    act = float(np.median(activity(work_luma(luma))))
    if act < P.FLAT_ACTIVITY:
        return (f"image is too flat to carry a reliable watermark (median texture {act:.2f} < "
                f"{P.FLAT_ACTIVITY} levels): it is embedded at reduced strength and may not "
                f"survive lossy compression")
    return None


def _tiled(tile: np.ndarray, hw: int, ww: int) -> np.ndarray:
    reps = (-(-hw // T), -(-ww // T))
    return np.tile(tile, reps)[:hw, :ww]


# --------------------------------------------------------------------------- embedding

def embed_rgb(rgb: np.ndarray, coded_bits: np.ndarray, key: bytes, strength: float = 1.0) -> np.ndarray:
    """Add the keyed mark to the luma of an H x W x 3 (or H x W) uint8 image; returns a new array."""
    luma = to_luma(rgb)
    h, w = luma.shape
    yw = work_luma(luma)
    hw, ww = yw.shape
    tile = make_tile(tile_spec(bytes(key)), coded_bits)
    mask = np.clip(activity(yw) / P.MASK_ACT_REF, P.MASK_MIN, P.MASK_MAX)
    mask *= np.clip((yw + P.DARK_OFFSET) / (128.0 + P.DARK_OFFSET), P.DARK_MIN, 1.0)
    delta = (strength * P.BASE_AMP) * mask * _tiled(tile, hw, ww)
    # Upsample the residual as offset uint8 with q fractional steps (fast SIMD resize), then add
    # it with rounding and saturation in one pass: out = rgb + (d8 - 128) / q.
    peak = float(np.max(np.abs(delta))) if delta.size else 0.0
    q = 16.0
    while q > 1.0 and peak * q > 127.0:
        q /= 2.0
    d8 = np.clip(np.rint(delta * q + 128.0), 0, 255).astype(np.uint8)
    if (hw, ww) != (h, w):
        d8 = cv2.resize(d8, (w, h), interpolation=cv2.INTER_LINEAR)
    if rgb.ndim == 3:
        d8 = cv2.merge([d8, d8, d8])
    return cv2.addWeighted(rgb, 1.0, d8, 1.0 / q, -128.0 / q)


# --------------------------------------------------------------------------- detection

def whiten(yw: np.ndarray) -> np.ndarray:
    """Detector pre-whitening: high-pass, then divide by local contrast (weights every region
    roughly by mark-to-noise, since the mark amplitude follows the texture)."""
    hp = yw - cv2.GaussianBlur(yw, (0, 0), P.DET_HP_SIGMA)
    loc = np.sqrt(cv2.GaussianBlur(hp * hp, (0, 0), P.DET_POOL_SIGMA))
    return hp / (loc + 0.5)


def fold(g: np.ndarray) -> np.ndarray:
    h, w = g.shape
    ph, pw = -h % T, -w % T
    if ph or pw:
        g = np.pad(g, ((0, ph), (0, pw)))
    return g.reshape(g.shape[0] // T, T, g.shape[1] // T, T).sum(axis=(0, 2))


@dataclass
class _Eval:
    z: float
    shift: tuple[float, float]      # (sy, sx) in tile pixels, sub-pixel
    U: np.ndarray                   # phase-only T x T spectrum of the fold
    A: np.ndarray


def _pilot_corr(U: np.ndarray, spec: TileSpec) -> tuple[float, tuple[float, float]]:
    """Max over (sub-pixel grid) cyclic shifts of the phase-only pilot correlation, as z."""
    up = _UP * T
    Z = np.zeros((up, up), dtype=np.complex128)
    Z[spec.pilot_up_idx] = U[spec.pilot_idx] * spec.pilot_ref
    c = np.real(np.fft.ifft2(Z)) * (up * up)
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
                           flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    F = np.fft.fft2(fold(g))
    U = F / (np.abs(F) + 1e-12)
    z, shift = _pilot_corr(U, spec)
    return _Eval(z, shift, U, A)


def _subpix_peak(acf: np.ndarray, y: int, x: int) -> tuple[float, float]:
    h, w = acf.shape

    def parab(a, b, c):
        den = a - 2 * b + c
        return 0.0 if den >= 0 else float(np.clip(0.5 * (a - c) / den, -0.5, 0.5))

    if 0 < y < h - 1 and 0 < x < w - 1:
        return y + parab(acf[y - 1, x], acf[y, x], acf[y + 1, x]), x + parab(acf[y, x - 1], acf[y, x], acf[y, x + 1])
    return float(y), float(x)


def lattice_candidates(r: np.ndarray, max_n: int) -> list[np.ndarray]:
    """Candidate affine maps A (tile frame -> working frame) from the autocorrelation lattice."""
    h, w = r.shape
    lim = 2 * P.WORK_SHORT
    if h > lim:
        r = r[(h - lim) // 2:(h - lim) // 2 + lim]
    if w > lim:
        r = r[:, (w - lim) // 2:(w - lim) // 2 + lim]
    h, w = r.shape
    F = np.fft.rfft2(r)
    Pw = (F.real ** 2 + F.imag ** 2).astype(np.float32)
    # whiten the power spectrum: lines (the periodic mark) stand out of the local average
    Pw = Pw / (cv2.blur(Pw, (9, 9)) + 1e-9)
    fy = np.abs(np.fft.fftfreq(h))[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    fr = np.hypot(fy, fx)
    Pw[(fr < P.BAND_LO / P.SCALE_MAX * 0.8) | (fr > min(0.5, P.BAND_HI / P.SCALE_MIN))] = 0
    acf = np.fft.fftshift(np.fft.irfft2(Pw, s=(h, w))).astype(np.float32)
    cy, cx = h // 2, w // 2
    yy, xx = np.mgrid[0:h, 0:w]
    ly, lx = yy - cy, xx - cx
    rad = np.hypot(ly, lx)
    region = (rad >= T * P.SCALE_MIN * 0.9) & (rad <= T * P.SCALE_MAX * 1.1)
    region &= (ly > 0) | ((ly == 0) & (lx > 0))
    region &= (np.abs(ly) < cy - 1) & (np.abs(lx) < cx - 1)
    if not region.any():
        return []
    locmax = acf >= cv2.dilate(acf, np.ones((3, 3), np.uint8))
    cand = np.flatnonzero((region & locmax).ravel())
    if cand.size == 0:
        return []
    vals = acf.ravel()[cand]
    order = np.argsort(vals)[::-1][:P.ACF_PEAKS]
    peaks = []
    for i in cand[order]:
        y, x = divmod(int(i), w)
        py, px = _subpix_peak(acf, y, x)
        v = np.array([px - cx, py - cy])
        # refine with the second lattice multiple when it is inside the map
        y2, x2 = int(round(cy + 2 * v[1])), int(round(cx + 2 * v[0]))
        if 2 <= y2 < h - 2 and 2 <= x2 < w - 2:
            win = acf[y2 - 2:y2 + 3, x2 - 2:x2 + 3]
            j = int(np.argmax(win))
            yj, xj = y2 - 2 + j // 5, x2 - 2 + j % 5
            if acf[yj, xj] > 0.3 * acf[y, x]:
                qy, qx = _subpix_peak(acf, yj, xj)
                v2 = np.array([qx - cx, qy - cy])
                v = (v + 2 * v2) / 5.0
        peaks.append((float(acf[y, x]), v))
    # vectors in both signs; v1 ~ +x axis, v2 ~ +y axis (image coords: y down)
    vecs = [(s, v) for s, v in peaks] + [(s, -v) for s, v in peaks]
    maxrot = math.radians(P.MAX_ROT_DEG)
    xs = [(s, v) for s, v in vecs if abs(math.atan2(v[1], v[0])) <= maxrot]
    ys = [(s, v) for s, v in vecs if abs(math.atan2(v[1], v[0]) - math.pi / 2) <= maxrot]
    bases = []
    for s1, v1 in xs:
        for s2, v2 in ys:
            n1, n2 = np.linalg.norm(v1), np.linalg.norm(v2)
            if not 0.55 <= n1 / n2 <= 1.8:
                continue
            a1 = math.atan2(v1[1], v1[0])
            a2 = math.atan2(v2[1], v2[0]) - math.pi / 2
            if abs(a1 - a2) > math.radians(12):
                continue
            bases.append((s1 + s2, np.column_stack([v1, v2]) / T))
    bases.sort(key=lambda t: -t[0])
    out: list[np.ndarray] = []
    for _, A in bases:
        if all(np.abs(A - B).max() > 0.01 for B in out) and np.abs(A - np.eye(2)).max() > 0.004:
            out.append(A)
        if len(out) >= max_n:
            break
    return out


@dataclass
class LumaDetection:
    z: float
    log10_p: float
    p_value: float
    soft: np.ndarray | None
    details: dict


def p_from_z(z: float) -> tuple[float, float]:
    """(p, log10 p) of the max statistic: Bonferroni over N_HYPOTHESES Gaussian tails."""
    logp = min(0.0, _LOG_N + float(log_ndtr(-z)))
    return math.exp(logp), logp / math.log(10)


def detect_luma(luma: np.ndarray, key: bytes) -> LumaDetection:
    spec = tile_spec(bytes(key))
    yw = work_luma(luma)
    r = whiten(yw)
    best = _evaluate(r, None, spec)
    n_eval = 1
    if p_from_z(best.z)[0] > P.EARLY_EXIT_P:
        for A in lattice_candidates(r, P.MAX_GEOM_CANDIDATES - 1):
            ev = _evaluate(r, A, spec)
            n_eval += 1
            if ev is not None and ev.z > best.z:
                best = ev
                if p_from_z(best.z)[0] <= P.EARLY_EXIT_P:
                    break
    p, log10p = p_from_z(best.z)
    # payload soft values at the pilot's sub-pixel shift
    k = spec.data_k
    s = np.array(best.shift)
    ph = np.exp(2j * np.pi * (k[:, 0] * s[0] + k[:, 1] * s[1]) / T)
    y = np.real(best.U[spec.data_idx] * spec.data_ref * ph)
    soft = np.bincount(spec.data_bit, weights=y, minlength=coding.N_CODED)
    A = best.A
    sx, sy = float(np.linalg.norm(A[:, 0])), float(np.linalg.norm(A[:, 1]))
    details = {
        "scale": round(math.sqrt(abs(np.linalg.det(A))), 4),
        "aspect": round(sx / sy, 4),
        "angle_deg": round(math.degrees(math.atan2(A[1, 0], A[0, 0])), 3),
        "shift": [round(best.shift[0], 2), round(best.shift[1], 2)],
        "geom_evaluated": n_eval,
        "log10_p": round(log10p, 3),
        "work_size": list(yw.shape),
    }
    return LumaDetection(z=best.z, log10_p=log10p, p_value=p, soft=soft, details=details)
