"""Keyed, blind, robust audio watermark: the signal math (no file I/O).

Design (every constant in :mod:`wm_audio_params`):

* **Internal domain.** The channels are averaged to mono and resampled to 16 kHz (short
  polyphase filters: only < 4 kHz matters). The mark is computed there and the residual is
  resampled back to the input rate and added to *every* channel, so rate and channel count are
  kept and a stereo -> mono downmix keeps the mark.
* **Magnitude modulation.** STFT (256 / hop 128, sine window) at 16 kHz; the band
  ``BAND_LO``..``BAND_HI`` (~470-3720 Hz, survives MP3/AAC/Opus, 16 kHz, 4 kHz low-pass and a
  500 Hz high-pass) is split into ``N_BANDS`` bands; each (cell of ``CELL_FRAMES`` frames, band)
  gets a gain ``1 + alpha * sign * chip`` where the chip is +-1 over the cell's frames
  (``TIME_CHIP``) and over the band's lower/upper half (``FREQ_SPLIT``): every cell is
  self-referencing (the detector reads a log-energy contrast inside the cell), which cancels
  the host's envelope and spectral shape. Multiplicative: the residual is the signal's own band content
  times ``alpha * sign``, so it vanishes in silence and is masked by the signal. ``alpha`` follows
  the band's own envelope fluctuation (a steady tone gets less), is tilted toward the weak bands
  (``BAND_TILT_POW``: the detector's contrast does not depend on a band's level, the residual's
  energy does) and is held to a per-frame SNR budget (``SNR_FLOOR_DB``), relaxed where the
  sound is noise-like (``NOISY_RELIEF_DB``: noise masks the mark far better than a tone, and
  its own random envelope hides the mark from the detector more).
* **Keyed periodic pattern.** One *period* (``PERIOD_CELLS`` cells x ``N_BANDS``, 5.12 s) holds a
  pilot (keyed random signs on a keyed subset of cells) and the 282 coded payload bits
  (:mod:`coding`: 64 bits + CRC-24, K=7 rate-1/3 convolutional code) spread over the remaining
  cells by a keyed permutation with keyed scrambling signs. The period repeats through the file,
  frame ``j`` carrying row ``j % PERIOD_FRAMES``.
* **Detector.** Sub-band log-energies per STFT frame (hop/2 sub-hop phases), contrasted like the
  chips (a band's two halves combined by their local covariance), local-rms normalized,
  clipped, level weighted. For each speed hypothesis (0.968..1.032 in
  three stages: coarse grid on search segments, fine refinement, whole input; band edges scaled
  in frequency, frames resampled in time) and each analysis window, the features are
  folded modulo the period and cross-correlated with the pilot over every cyclic offset (FFT).
  Given the data, the pilot's key-random signs make the correlation a Rademacher sum, so
  ``z = C / sqrt(sum S_c^2)`` has a (sub-)Gaussian tail; the p-value is
  ``N_hypotheses * TAIL_FACTOR * Q(z)`` with every speed x offset x window counted. The
  coarse speeds start at 1 and stop there when the mark is already beyond doubt
  (``EARLY_EXIT_P``). When the chosen speed gives no payload on a short input, it is read
  again at ``READ_PHASES`` sub-hop phases (1 ms steps: a noiseless tone carries the mark only
  in step with the embedder's frames). Hypotheses skipped either way are counted all the same.
* **Payload.** The whole input is folded modulo the period at the best (speed, phase, offset)
  and the data cells give soft values per coded bit, each band weighted by its reliability as
  its pilot cells measure it (maximal-ratio combining: a band a low-pass or noise emptied adds
  nothing); fallbacks: windows with a clear pilot soft-combined (weighted by their z), then the
  best window alone. Each is Viterbi-decoded and CRC-checked, then list-decoded (the
  ``LIST_SIZE`` best paths) if no CRC held. The presence p-value combines the pilot's with the
  CRC (every path checked is counted), and the payload is reported only when the CRC holds and
  that p-value is under the threshold.
"""
from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from . import coding
from .errors import ArgumentTypeError
from .numeric import log_ndtr, quantile
from .resample import Polyphase
from . import wm_audio_params as P

AUDIO_ALG = P.AUDIO_ALG
FS = P.INTERNAL_RATE
N = P.N_FFT
H = P.HOP
PF = P.PERIOD_FRAMES
CF = P.CELL_FRAMES
NB = P.N_BANDS
# band edges in (continuous) bin coordinates; bin k covers [k - 0.5, k + 0.5)
_BIN_HZ = FS / N
_LO_BIN = int(round(P.BAND_LO_HZ / _BIN_HZ + 0.5))          # first bin whose centre is in band
_HI_BIN = int(round(P.BAND_HI_HZ / _BIN_HZ + 0.5))          # one past the last
NSUB = 2 if P.FREQ_SPLIT else 1                             # sub-bands per band
_EDGES = np.linspace(_LO_BIN - 0.5, _HI_BIN - 0.5, NB * NSUB + 1)   # sub-band edges, nominal
_BIN_SUB = np.minimum(((np.arange(_LO_BIN, _HI_BIN) - (_LO_BIN - 0.5)) /
                       ((_HI_BIN - _LO_BIN) / (NB * NSUB))).astype(int), NB * NSUB - 1)
_BIN_BAND = _BIN_SUB // NSUB
_BAND_BINS = (_HI_BIN - _LO_BIN) // NB                      # bins per band (8)
assert np.array_equal(_BIN_BAND, np.repeat(np.arange(NB), _BAND_BINS))
# per-bin frequency chip: +1 on a band's lower half, -1 on its upper half (FREQ_SPLIT), else +1
_BIN_CHIP = (1.0 - 2.0 * (_BIN_SUB % 2)) if P.FREQ_SPLIT else np.ones(_BIN_SUB.size)
# time chip over the frames of a cell
_TCHIP = np.asarray(P.TIME_CHIP, dtype=np.float64)
assert _TCHIP.size == CF
_WIN = np.sin(np.pi * (np.arange(N) + 0.5) / N)              # sine window: win^2 OLA == 1 at N/2
_EPS = 1e-12
_SPEEDS = 1.0 + P.SPEED_STEP * np.arange(-P.SPEED_STEPS, P.SPEED_STEPS + 1)
_DET_BINS = int(math.ceil((_HI_BIN + 1) * _SPEEDS.max())) + 2  # bins the detector needs


# --------------------------------------------------------------------------- validation

def uniform_filter1d(*args, **kwargs):
    """scipy.ndimage's, imported on first use: scipy.ndimage takes ~0.6 s to import, which
    image-only users of :mod:`synthlabel.watermark` (it re-exports this module) need not pay."""
    from scipy.ndimage import uniform_filter1d as f

    return f(*args, **kwargs)


def _scipy_fft():
    """scipy.fft, imported on first use (0.4 s), for the detector's float32 FFTs: numpy's
    pocketfft computes float32 in float64, scipy's in single precision at about twice the
    speed, which is most of the pilot search's cost after the features."""
    import scipy.fft

    return scipy.fft


def _check_key(key) -> bytes:
    if not isinstance(key, (bytes, bytearray, memoryview)):
        raise ArgumentTypeError(f"key must be bytes, got {type(key).__name__}")
    key = bytes(key)
    if len(key) < P.MIN_KEY_BYTES:
        raise ValueError(f"key must be at least {P.MIN_KEY_BYTES} bytes, got {len(key)}")
    return key


def _check_rate(sample_rate) -> int:
    if isinstance(sample_rate, (bool, np.bool_)) or not isinstance(sample_rate, (int, np.integer)):
        raise ArgumentTypeError(f"sample_rate must be an int, got {type(sample_rate).__name__}")
    sr = int(sample_rate)
    if not P.MIN_SAMPLE_RATE <= sr <= P.MAX_SAMPLE_RATE:
        raise ValueError(f"sample_rate must be in [{P.MIN_SAMPLE_RATE}, {P.MAX_SAMPLE_RATE}] Hz, got {sr}")
    return sr


#: More channels than this in a (frames, channels) array is taken for a transposed array.
MAX_CHANNELS = 64


def _check_samples(samples, channels: int | None = None, nonempty: bool = False) -> np.ndarray:
    if not isinstance(samples, np.ndarray):
        raise ArgumentTypeError(f"samples must be a numpy array, got {type(samples).__name__}")
    if samples.dtype not in (np.float32, np.float64):
        raise ValueError(f"samples must be float32 or float64 in [-1, 1], got dtype {samples.dtype}")
    if samples.ndim not in (1, 2):
        raise ValueError(f"samples must have shape (frames,) or (frames, channels), got {samples.shape}")
    if samples.ndim == 2 and samples.shape[1] < 1:
        raise ValueError("samples must have at least one channel")
    if samples.ndim == 2 and samples.shape[1] > MAX_CHANNELS:
        raise ValueError(f"samples must be shaped (frames, channels) with at most {MAX_CHANNELS} "
                         f"channels, got {samples.shape} (transposed?)")
    if nonempty and samples.shape[0] == 0:
        raise ValueError("samples are empty (no frames)")
    if channels is not None:
        got = 1 if samples.ndim == 1 else samples.shape[1]
        if got != channels:
            raise ValueError(f"expected {channels} channel(s), got {got}")
    with np.errstate(over="ignore", invalid="ignore"):     # a sum of huge values overflows
        total = float(np.sum(samples, dtype=np.float64))      # one pass: cheaper than isfinite
    if not math.isfinite(total):
        if not np.isfinite(samples).all():
            raise ValueError("samples contain NaN or infinity")
        raise ValueError("samples hold values far beyond [-1, 1] (their sum overflows): not audio "
                         "samples, or integers passed as floats")
    return samples


def _mono(x2: np.ndarray) -> np.ndarray:
    """float64 mean of the channels of a (frames, channels) array (column adds: fast)."""
    m = x2[:, 0].astype(np.float64)
    for c in range(1, x2.shape[1]):
        m += x2[:, c]
    if x2.shape[1] > 1:
        m *= 1.0 / x2.shape[1]
    return m


# --------------------------------------------------------------------------- keyed pattern

def keyed_rng(key: bytes, label: str) -> np.random.Generator:
    """A numpy Generator seeded by HMAC-SHA256(key, KEY_DOMAIN + label)."""
    digest = hmac.new(bytes(key), P.KEY_DOMAIN + label.encode(), hashlib.sha256).digest()
    return np.random.Generator(np.random.PCG64(int.from_bytes(digest, "big")))


@dataclass(frozen=True)
class Pattern:
    pilot: np.ndarray        # (PERIOD_CELLS, NB) +-1 on pilot cells, 0 elsewhere
    data_bit: np.ndarray     # (PERIOD_CELLS, NB) coded-bit index, -1 on pilot cells
    data_sign: np.ndarray    # (PERIOD_CELLS, NB) keyed scrambling sign (+-1), 0 on pilot cells
    pilot_hat: np.ndarray    # conj rfft (over frames) of the pilot impulses, (PF//2+1, NB), complex64
    mask_hat: np.ndarray     # conj rfft of the pilot-cell indicator impulses, complex64
    data_q: np.ndarray       # (n_data,) cell index of every data cell
    data_b: np.ndarray       # (n_data,) band of every data cell
    data_bits: np.ndarray    # (n_data,) coded bit of every data cell
    data_s: np.ndarray       # (n_data,) sign of every data cell
    pilot_q: np.ndarray      # (n_pilot,) cell index of every pilot cell
    pilot_b: np.ndarray      # (n_pilot,) band of every pilot cell
    pilot_s: np.ndarray      # (n_pilot,) sign of every pilot cell


@lru_cache(maxsize=32)
def pattern(key: bytes) -> Pattern:
    rng = keyed_rng(key, "pattern")
    n_cells = P.PERIOD_CELLS * NB
    perm = rng.permutation(n_cells)
    n_pilot = int(round(P.PILOT_FRACTION * n_cells))
    if n_cells - n_pilot < coding.N_CODED:
        raise RuntimeError("period too short for the coded payload")
    signs = rng.integers(0, 2, n_cells) * 2 - 1
    pilot = np.zeros(n_cells)
    pilot[perm[:n_pilot]] = signs[perm[:n_pilot]]
    data_cells = perm[n_pilot:]
    data_bit = np.full(n_cells, -1, dtype=np.int64)
    data_bit[data_cells] = np.arange(data_cells.size) % coding.N_CODED
    data_sign = np.zeros(n_cells)
    data_sign[data_cells] = signs[data_cells]
    pilot = pilot.reshape(P.PERIOD_CELLS, NB)
    data_bit = data_bit.reshape(P.PERIOD_CELLS, NB)
    data_sign = data_sign.reshape(P.PERIOD_CELLS, NB)
    imp = np.zeros((PF, NB))
    imp[::CF] = pilot
    pilot_hat = np.conj(np.fft.rfft(imp, axis=0)).astype(np.complex64)
    imp[::CF] = np.abs(pilot)
    mask_hat = np.conj(np.fft.rfft(imp, axis=0)).astype(np.complex64)
    q, b = np.nonzero(data_bit >= 0)
    pq, pb = np.nonzero(pilot)
    return Pattern(pilot, data_bit, data_sign, pilot_hat, mask_hat,
                   q, b, data_bit[q, b], data_sign[q, b], pq, pb, pilot[pq, pb])


def cell_signs(pat: Pattern, coded: np.ndarray) -> np.ndarray:
    """(PERIOD_CELLS, NB) +-1: pilot signs, and scrambled +-1 coded bits on data cells."""
    sym = 2.0 * np.asarray(coded, dtype=np.float64) - 1.0
    out = pat.pilot.copy()
    d = pat.data_bit >= 0
    out[d] = pat.data_sign[d] * sym[pat.data_bit[d]]
    return out


# --------------------------------------------------------------------------- resampling

@lru_cache(maxsize=16)
def _ratio(sr: int) -> tuple[int, int]:
    """(U, D): internal = input * U / D, both at most MAX_RESAMPLE_TERM. Every common rate's
    ratio is exact (44.1 kHz: 160 / 441); an odd rate's is the nearest such fraction (47993 Hz:
    1 / 3, 1.5e-4 off). The polyphase filter runs at FS * D: the exact 16000 / 47993 made it
    millions of taps, and verifying a 2 s WAV at that rate took 5-20 s and 6 GB (at 191999 Hz
    74 s and 21 GB). Embedder and detector use the same ratio, so a file's own rate reads
    exactly; the approximation is a speed change of at most ~1e-4, far inside the search."""
    if sr < FS:
        inverse = Fraction(sr, FS).limit_denominator(P.MAX_RESAMPLE_TERM)
        return inverse.denominator, inverse.numerator
    ratio = Fraction(FS, sr).limit_denominator(P.MAX_RESAMPLE_TERM)
    return ratio.numerator, ratio.denominator


@lru_cache(maxsize=16)
def _filter(sr: int) -> np.ndarray:
    """Short linear-phase low-pass for the polyphase resampling between ``sr`` and the internal rate."""
    U, D = _ratio(sr)
    fs_up = FS * D                      # == sr * U: the polyphase filter's rate
    lo = min(P.RESAMPLE_PASS_HZ, 0.45 * min(sr, FS))
    hi = min(P.RESAMPLE_STOP_HZ, 0.5 * min(sr, FS) + (0.5 * min(sr, FS) - lo) * 0.9)
    hi = max(hi, lo * 1.05)
    ntaps, beta = _kaiserord(P.RESAMPLE_ATTEN_DB, (hi - lo) / (0.5 * fs_up))
    ntaps |= 1
    return _kaiser_lowpass(ntaps, 0.5 * (lo + hi), beta, fs_up)


# The filter design of scipy.signal (kaiserord, and firwin with a Kaiser window), in numpy:
# importing scipy.signal took ~1.2 s in every process that labeled or verified audio, for
# these few lines. Same operations in the same order: bit-identical taps
# (tests/test_wm_audio.py checks them against scipy).

def _kaiserord(ripple_db: float, width: float) -> tuple[int, float]:
    """(taps, beta) of a Kaiser-window FIR with ``ripple_db`` attenuation and transition
    ``width`` (a fraction of Nyquist): ``scipy.signal.kaiserord``."""
    a = abs(ripple_db)
    if a > 50:
        beta = 0.1102 * (a - 8.7)
    elif a > 21:
        beta = 0.5842 * (a - 21) ** 0.4 + 0.07886 * (a - 21)
    else:
        beta = 0.0
    return int(math.ceil((a - 7.95) / 2.285 / (np.pi * width) + 1)), beta


def _kaiser_lowpass(ntaps: int, cutoff_hz: float, beta: float, fs: float) -> np.ndarray:
    """A linear-phase low-pass of ``ntaps`` taps, Kaiser window ``beta``, unit gain at DC:
    ``scipy.signal.firwin(ntaps, cutoff_hz, window=("kaiser", beta), fs=fs)``."""
    right = cutoff_hz / (0.5 * fs)
    m = np.arange(0, ntaps) - 0.5 * (ntaps - 1)
    h = right * np.sinc(right * m) - 0.0 * np.sinc(0.0 * m)   # the band [0, right]
    a = (ntaps - 1) / 2.0
    n = np.arange(0, ntaps)
    h *= np.i0(beta * np.sqrt(1 - ((n - a) / a) ** 2.0)) / np.i0(beta)
    return h / np.sum(h * np.cos(np.pi * m * 0.0))


def _margin(sr: int) -> int:
    """Internal samples of filter support on each side (+ slack)."""
    U, D = _ratio(sr)
    half = (_filter(sr).size - 1) // 2          # taps at rate FS * D
    return int(math.ceil(half / D)) + 8


@lru_cache(maxsize=16)
def _resampler(sr: int, to_internal_rate: bool) -> Polyphase:
    """Resampler between ``sr`` and the internal rate (either way), with :func:`_filter`."""
    U, D = _ratio(sr)
    return Polyphase(U, D, _filter(sr)) if to_internal_rate else Polyphase(D, U, _filter(sr))


def to_internal(mono: np.ndarray, sr: int) -> np.ndarray:
    U, D = _ratio(sr)
    if U == D == 1:
        return np.asarray(mono, dtype=np.float64)
    return _resampler(sr, True)(mono)


# --------------------------------------------------------------------------- STFT helpers

def _frame_view(x: np.ndarray, n_frames: int, hop: int) -> np.ndarray:
    """(n_frames, N) read-only strided view of the N-sample frames of contiguous 1-D ``x`` at
    ``hop`` (x must be long enough)."""
    return np.lib.stride_tricks.as_strided(x, shape=(n_frames, N), strides=(x.strides[0] * hop, x.strides[0]),
                                           writeable=False)


def _frames(x: np.ndarray, n_frames: int) -> np.ndarray:
    """(n_frames, N) windowed frames of x at hop H (x must be long enough)."""
    return _frame_view(x, n_frames, H) * _WIN


#: Frames per block of the detector's STFT: blocks keep the windowed frames and their spectra
#: in cache (one pass over a whole file's frames was ~3x slower on a 30 s input).
_STFT_BLOCK = 512


def _power_blocks(x: np.ndarray, nf: int, hop: int):
    """Yield (a, b, power) for blocks of the ``nf`` sine-windowed N-sample frames of ``x`` at
    ``hop``: power is float32 (b - a, _DET_BINS + 1), bins 0.._DET_BINS only (the detector's
    band and speed range).

    Single precision (scipy.fft; numpy's computes float32 in float64): twice as fast, and its
    ~1e-7 relative error sits ~140 dB under a frame's strongest bin, far below the features'
    energy floor (FLOOR_DB under each band's mean)."""
    frames = _frame_view(np.ascontiguousarray(x), nf, hop)
    buf = np.empty((_STFT_BLOCK, N), dtype=np.float32)
    win = _WIN.astype(np.float32)
    rfft = _scipy_fft().rfft
    for a in range(0, nf, _STFT_BLOCK):
        b = min(nf, a + _STFT_BLOCK)
        w = np.multiply(frames[a:b], win, out=buf[:b - a], casting="same_kind")
        X = rfft(w, axis=1, overwrite_x=True)[:, :_DET_BINS + 1]
        yield a, b, X.real * X.real + X.imag * X.imag


def _power_frames(x: np.ndarray, nf: int, hop: int) -> np.ndarray:
    """(nf, _DET_BINS + 1) float32 power spectrum of the frames of :func:`_power_blocks`."""
    pw = np.empty((nf, _DET_BINS + 1), dtype=np.float32)
    for a, b, pwb in _power_blocks(x, nf, hop):
        pw[a:b] = pwb
    return pw


def _band_energy_nominal(pw: np.ndarray) -> np.ndarray:
    """(frames, NB) energy per band from a power spectrum (frames, N/2+1), nominal band
    edges (each band a run of _BAND_BINS bins)."""
    return pw[:, _LO_BIN:_HI_BIN].reshape(pw.shape[0], NB, _BAND_BINS).sum(axis=2)


def _alpha(L: np.ndarray) -> np.ndarray:
    """Per (frame, band) modulation depth from the band envelope's own fluctuation."""
    k = 2 * P.MASK_HALF_FRAMES + 1
    d = L - uniform_filter1d(L, k, axis=0, mode="nearest")
    fl = np.sqrt(np.maximum(uniform_filter1d(d * d, k, axis=0, mode="nearest"), 0.0))
    return np.clip(P.ALPHA_MASK_GAIN * fl, P.ALPHA_MIN, P.ALPHA_MAX)


def _noisiness(pw: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """How noise-like the mark band is, per frame, in [0, 1] (0 below ``NOISY_SFM_LO``, 1 from
    ``NOISY_SFM_HI``), and the band's mean bin power averaged over ``k`` frames, both of shape
    (frames,), from a power spectrum (frames, N/2+1).

    The flatness is the geometric over the arithmetic mean of the band's bin powers. Its log is
    averaged weighted by the band's energy, so the loud frames, which set the residual's
    budget, decide (a silent frame is perfectly "flat"), over ``k`` frames and over
    ``NOISY_SHORT_FRAMES``, and the less noisy of the two counts: the mark is masked by noise
    only while the noise sounds (a tone just before a noise burst gets no relief). Frames that
    take in a sharp onset (``NOISY_ONSET_DB`` over ``NOISY_ONSET_LAG`` frames) get none either:
    they span the quiet before the hit, where a louder mark would be a pre-echo."""
    band = pw[:, _LO_BIN:_HI_BIN]
    e = band.mean(axis=1)
    # the floor under each bin follows the frame's level, so a faint tone stays tonal
    log_sfm = np.log(band + (1e-6 * e[:, None] + 1e-30)).mean(axis=1) - np.log(e + 1e-30)
    noisy, e_k = None, None
    for n in (k, P.NOISY_SHORT_FRAMES):
        e_n = np.maximum(uniform_filter1d(e, n, mode="nearest"), 0.0)   # running sums round
        # a log flatness is <= 0; where e_n is ~0, rounding in the running sums is all there is
        sfm = np.exp(np.minimum(uniform_filter1d(e * log_sfm, n, mode="nearest") / (e_n + 1e-30), 0.0))
        # no relief where the window is silent: nothing there to mask or to mark
        q = np.where(e_n > 1e-20, np.clip((sfm - P.NOISY_SFM_LO) / (P.NOISY_SFM_HI - P.NOISY_SFM_LO), 0.0, 1.0), 0.0)
        noisy, e_k = (q, e_n) if noisy is None else (np.minimum(noisy, q), e_k)
    # no relief in a frame that spans the quiet before a sharp onset (a pre-echo)
    lag = P.NOISY_ONSET_LAG
    before = np.concatenate([np.repeat(e[:1], lag), e])[:e.size]      # e, lag frames earlier
    rise = 10 * np.log10((e + 1e-30) / (before + 1e-30))
    lo, hi = P.NOISY_ONSET_DB
    return noisy * np.clip((hi - rise) / (hi - lo), 0.0, 1.0), e_k


def _floor_db(pw: np.ndarray, k: int, channels=None) -> np.ndarray:
    """Per-frame SNR floor (dB), shape (frames,): ``SNR_FLOOR_DB``, less up to
    ``NOISY_RELIEF_DB`` where the mark band is noise-like (:func:`_noisiness`; noise masks the
    mark better). ``pw``: the mono mix's power spectrum (frames, N/2+1); ``channels``: None, or
    a function returning each channel's (same frames), for input with more than one; it is
    called only where the mix itself earns some relief (most sound earns none).

    The residual goes into every channel alike, so the relief holds only as far as it keeps
    *each* channel at or above its own floor (its own noisiness, and the residual nearer to a
    channel quieter than the mix): noise in one channel must not buy a louder mark in a quiet
    tonal or silent other one."""
    if P.NOISY_RELIEF_DB <= 0:
        return np.full(pw.shape[0], P.SNR_FLOOR_DB)
    noisy, e_mix = _noisiness(pw, k)
    relief = P.NOISY_RELIEF_DB * noisy
    for pc in (channels() if channels is not None and relief.any() else ()):
        q, e_c = _noisiness(pc, k)
        # the residual sits 10 log10(E_mix / E_c) dB closer to a channel quieter than the mix:
        # the relief may not take that channel under its own floor (nor the base floor anywhere)
        own = P.NOISY_RELIEF_DB * q + 10 * np.log10((e_c + 1e-30) / (e_mix + 1e-30))
        relief = np.minimum(relief, np.maximum(own, 0.0))
    return P.SNR_FLOOR_DB - relief


# --------------------------------------------------------------------------- embedding

class AudioEmbedder:
    """Streaming embedder with bounded memory.

    Feed blocks of shape (frames, channels) (or (frames,) for mono) to :meth:`process`; it returns
    the marked samples that are ready (it lags by about one chunk); :meth:`flush` returns the rest.
    The output is identical to :func:`embed_audio` on the concatenated input, for any block split.
    Each block is copied as it comes in, so the caller may reuse its buffer.

    ``remove=True`` subtracts the mark instead: run over sound that this ``payload`` and ``key``
    marked from its first sample (a labeled file, decoded), it leaves the old mark 16-20 dB
    under what it was, which the detector no longer finds, so that a new mark can take its
    place without lying in step over it.

    ``clip=False`` leaves marked samples beyond [-1, 1] as they are (for a float output, which
    holds them); by default they are clipped, as integer PCM must be, and ``clipped`` counts the
    samples the mark took past full scale (input samples already beyond it are not counted).
    """

    def __init__(self, sample_rate: int, channels: int, payload: int | bytes, key: bytes, *,
                 remove: bool = False, clip: bool = True):
        self.sample_rate = _check_rate(sample_rate)
        self._clip = bool(clip)
        #: samples (over all channels) the mark pushed past full scale and that were clipped
        self.clipped = 0
        if isinstance(channels, (bool, np.bool_)) or not isinstance(channels, (int, np.integer)) or channels < 1:
            raise ValueError(f"channels must be a positive int, got {channels!r}")
        self.channels = int(channels)
        key = _check_key(key)
        coded = coding.encode_payload(payload)               # validates the payload
        cells = cell_signs(pattern(key), coded)              # (PERIOD_CELLS, NB)
        self._frame_sign = np.repeat(cells, CF, axis=0) * np.tile(_TCHIP, P.PERIOD_CELLS)[:, None]  # (PF, NB)
        if remove:
            # The residual is the frame's spectrum times alpha * sign; alpha follows the marked
            # sound's masking, close to the original's, so the negated residual cancels the old
            # one up to second-order terms.
            self._frame_sign = -self._frame_sign
        sr = self.sample_rate
        self._U, self._D = _ratio(sr)
        U = self._U
        self._h = _filter(sr) if (self._U, self._D) != (1, 1) else None
        m = _margin(sr) if self._h is not None else 0
        self._Q = U * int(math.ceil((m + 1) / U))            # residual margin for upsampling
        self._Q2 = m + 1                                     # signal margin for downsampling
        step = U * H // math.gcd(U, H)
        self._C = step * int(math.ceil(P.CHUNK_INTERNAL / step))
        self._ctx = 2 * P.MASK_HALF_FRAMES + 1               # extra analysis frames each side
        self._blocks: list[tuple[int, np.ndarray]] = []   # (input index of row 0, 2-D block)
        self._n_in = 0             # input samples received
        self._k = 0                # next chunk to produce
        self._dtype = None
        self._done = False

    # chunk geometry ------------------------------------------------------
    def _geometry(self, k: int):
        A = k * self._C
        B = A + self._C
        j0 = (A - self._Q - N) // H + 1
        j1 = -((-(B + self._Q)) // H) - 1
        ja, jb = j0 - self._ctx, j1 + self._ctx              # analysis frames (with context)
        U = self._U
        S0 = ((ja * H - self._Q2) // U) * U
        S1 = -((-(jb * H + N + self._Q2)) // U) * U
        return A, B, j0, j1, ja, jb, S0, S1

    def _in_range(self, k: int) -> tuple[int, int]:
        *_, S0, S1 = self._geometry(k)
        return S0 * self._D // self._U, S1 * self._D // self._U

    def _slice(self, a: int, b: int) -> np.ndarray:
        """Input samples [a, b) in the input dtype (zeros outside what was received); a view
        when one received block covers the range."""
        for s0, blk in self._blocks:
            if s0 <= a and b <= s0 + blk.shape[0]:
                return blk[a - s0:b - s0]
        out = np.zeros((b - a, self.channels), dtype=self._dtype or np.float64)
        for s0, blk in self._blocks:
            lo, hi = max(a, s0), min(b, s0 + blk.shape[0])
            if hi > lo:
                out[lo - a:hi - a] = blk[lo - s0:hi - s0]
        return out

    def _channel_power(self, seg: np.ndarray, X: np.ndarray, ja: int, jb: int, S0: int) -> list[np.ndarray]:
        """Each channel's power spectrum over analysis frames ja..jb, for the noise relief's
        per-channel check (``X``: the mix's spectrum there, as :meth:`_chunk` made it). The
        mix is the channels' mean and every step is linear, so the last channel's spectrum is
        C * X less the others': one transform fewer."""
        C = self.channels
        spectra, rest = [], C * X
        for c in range(C - 1):
            col = seg[:, c].astype(np.float64)
            x16 = col if self._h is None else _resampler(self.sample_rate, True)(col)
            Xc = np.fft.rfft(_frames(np.ascontiguousarray(x16[ja * H - S0: jb * H + N - S0]), jb - ja + 1), axis=1)
            spectra.append(Xc)
            rest = rest - Xc
        return [Z.real ** 2 + Z.imag ** 2 for Z in spectra + [rest]]

    def _chunk(self, k: int, out: np.ndarray | None = None) -> np.ndarray:
        """The marked input rows of chunk ``k`` (input dtype), written into ``out`` (a view of
        the caller's output) when given and of the chunk's size."""
        A, B, j0, j1, ja, jb, S0, S1 = self._geometry(k)
        U, D = self._U, self._D
        seg = self._slice(S0 * D // U, S1 * D // U)
        mono = _mono(seg)
        x16 = mono if self._h is None else _resampler(self.sample_rate, True)(mono)
        nfa = jb - ja + 1
        xa = np.ascontiguousarray(x16[ja * H - S0: jb * H + N - S0])
        X = np.fft.rfft(_frames(xa, nfa), axis=1)
        pw = X.real ** 2 + X.imag ** 2
        Eb = _band_energy_nominal(pw)
        alpha = _alpha(np.log(Eb + _EPS))
        kk = 2 * P.MASK_HALF_FRAMES + 1
        # the whole frame's energy, smoothed over the masking window (both SNR budgets use it)
        e_tot = uniform_filter1d(pw.sum(axis=1), kk, mode="nearest")
        if P.BAND_TILT_POW > 0:
            # weak bands get more depth, loud bands less (the detector's contrast does not depend
            # on a band's level, the residual's energy does): alpha *= (E_band / mean)^-pow
            Es = uniform_filter1d(Eb, kk, axis=0, mode="nearest")
            rel = Es / (Es.mean(axis=1, keepdims=True) + _EPS)
            alpha = np.clip(alpha * np.maximum(rel, P.TILT_MIN_REL) ** -P.BAND_TILT_POW,
                            P.ALPHA_FLOOR, P.ALPHA_CAP)
        if P.SNR_BOOST_DB > 0:
            # where the mark band is weak next to the whole signal (bass-heavy music), raise
            # alpha until the residual sits SNR_BOOST_DB below the local signal (cap ALPHA_CAP)
            e_band = uniform_filter1d(Eb.sum(axis=1), kk, mode="nearest")
            e_res = P.RESIDUAL_EFFICIENCY * uniform_filter1d((alpha ** 2 * Eb).sum(axis=1), kk, mode="nearest")
            boost = np.sqrt(np.maximum(e_tot, 0) * 10 ** (-P.SNR_BOOST_DB / 10) /
                            np.maximum(e_res, _EPS + 1e-9 * np.maximum(e_band, 0)))
            alpha = np.minimum(alpha * np.clip(boost, 1.0, None)[:, None], P.ALPHA_CAP)
        if P.SNR_FLOOR_DB > 0:
            # budget: the residual never rises above the floor below the local signal energy;
            # noise-like stretches mask more and get a lower floor (_floor_db)
            e_res = P.RESIDUAL_EFFICIENCY * uniform_filter1d((alpha ** 2 * Eb).sum(axis=1), kk, mode="nearest")
            channels = (lambda: self._channel_power(seg, X, ja, jb, S0)) if self.channels > 1 else None
            budget = 10 ** (-_floor_db(pw, kk, channels) / 10)
            cut = np.sqrt(np.maximum(e_tot, 0) * budget / np.maximum(e_res, 1e-30))
            alpha = np.maximum(alpha * np.minimum(cut, 1.0)[:, None], P.ALPHA_FLOOR)
        alpha = alpha[j0 - ja: j1 - ja + 1]                  # (nf, NB)
        Xc = X[j0 - ja: j1 - ja + 1]
        nf = j1 - j0 + 1
        g = alpha * self._frame_sign[np.arange(j0, j1 + 1) % PF]   # (nf, NB)
        G = np.zeros((nf, N // 2 + 1))
        G[:, _LO_BIN:_HI_BIN] = g[:, _BIN_BAND] * _BIN_CHIP
        rf = np.fft.irfft(Xc * G, n=N, axis=1) * _WIN
        r = np.zeros((nf + 1) * H)
        r[: nf * H] += rf[:, :H].reshape(-1)
        r[H:] += rf[:, H:].reshape(-1)
        rn = r[A - self._Q - j0 * H: B + self._Q - j0 * H]
        if self._h is not None:
            rn = _resampler(self.sample_rate, False)(rn)
        qo = self._Q * D // U
        res = rn[qo: qo + self._C * D // U]
        a0 = A * D // U
        x = self._slice(a0, a0 + res.size)
        if out is None or out.shape[0] != res.size:
            out = np.empty_like(x)
        res = res.astype(x.dtype)
        for c in range(x.shape[1]):         # per channel: a broadcast add over rows of 2 is ~5x slower
            np.add(x[:, c], res, out=out[:, c])
        if self._clip:
            # two reductions are cheap next to the count, which runs only when something clips
            if out.max(initial=0.0) > 1.0 or out.min(initial=0.0) < -1.0:
                self.clipped += int(np.count_nonzero((np.abs(out) > 1.0) & (np.abs(x) <= 1.0)))
            np.clip(out, -1.0, 1.0, out=out)
        return out

    @property
    def frames_in(self) -> int:
        """Input frames received so far (``clipped`` counts over these times ``channels``)."""
        return self._n_in

    # streaming API -------------------------------------------------------
    def _emit(self, upto_chunk_ready) -> list[np.ndarray]:
        outs = []
        size = self._C * self._D // self._U                  # input rows per chunk
        while upto_chunk_ready(self._k):
            a0 = self._k * size
            sink = self._sink
            # written in place when the chunk lies inside the output (all but a last one that
            # runs past the end of the input)
            dest = sink[a0:a0 + size] if sink is not None and a0 + size <= sink.shape[0] else None
            c = self._chunk(self._k, dest)
            n_keep = min(c.shape[0], max(0, self._n_in - a0)) if self._done else c.shape[0]
            if sink is None:
                outs.append(c[:n_keep])
            elif dest is None:
                sink[a0:a0 + n_keep] = c[:n_keep]
            self._k += 1
            # drop input nobody needs any more
            keep_from = self._in_range(self._k)[0]
            self._blocks = [(s0, blk) for s0, blk in self._blocks if s0 + blk.shape[0] > keep_from]
        return outs

    def _cast(self, outs: list[np.ndarray]) -> np.ndarray:
        dt = self._dtype or np.float64
        if not outs:
            out = np.zeros((0, self.channels), dtype=dt)
        else:
            out = outs[0] if len(outs) == 1 else np.concatenate(outs, axis=0)
            out = out.astype(dt, copy=False)
        return out[:, 0] if self._mono_1d else out

    def process(self, block: np.ndarray) -> np.ndarray:
        if self._done:
            raise ValueError("process() called after flush()")
        block = _check_samples(block, self.channels)
        if self._dtype is None:
            self._dtype = block.dtype
            self._mono_1d = block.ndim == 1
        elif block.dtype != self._dtype:
            raise ValueError(f"block dtype {block.dtype} differs from the first block's {self._dtype}")
        b2 = block.reshape(block.shape[0], self.channels)   # -1 fails on zero frames
        if b2.shape[0]:
            # Kept until the chunks that need it are out (about one chunk later): a copy, as
            # a stream reader or an audio callback refills one buffer (a view let those later
            # samples into the marked output; QA, stop 44). embed_audio lends its input whole.
            self._blocks.append((self._n_in, b2 if self._borrow else b2.copy()))
        # many tiny blocks: merge the tail so look-ups stay cheap
        if len(self._blocks) > 64:
            s0 = self._blocks[0][0]
            self._blocks = [(s0, np.concatenate([blk for _, blk in self._blocks], axis=0))]
        self._n_in += b2.shape[0]
        outs = self._emit(lambda k: self._in_range(k)[1] <= self._n_in)
        return self._cast(outs)

    def flush(self) -> np.ndarray:
        if self._done:
            raise ValueError("flush() called twice")
        if self._dtype is None:
            self._dtype, self._mono_1d = np.float64, False
        self._done = True
        outs = self._emit(lambda k: k * self._C * self._D // self._U < self._n_in)
        return self._cast(outs)

    _mono_1d = False
    #: keep views of the blocks given instead of copies (embed_audio: its one block outlives
    #: the embedder)
    _borrow = False
    #: (frames, channels) array the chunks are written into instead of returned (embed_audio:
    #: the whole output allocated once, no per-chunk arrays or concatenations)
    _sink: np.ndarray | None = None


def embed_audio(samples: np.ndarray, sample_rate: int, payload: int | bytes, key: bytes, *,
                clip: bool = True) -> np.ndarray:
    """Mark ``samples`` (float32/64, (frames, channels) or (frames,), in [-1, 1]).

    Returns an array of the same shape and dtype at the same rate (every channel gets the same
    residual, computed on the mono mix at the internal rate). Marked samples are clipped to
    [-1, 1] (as integer PCM must be), and input beyond it is refused (clipping it would distort
    the sound without a word: scale it first); ``clip=False`` takes any finite values and
    keeps the marked ones as they come (for a float output, which holds them)."""
    samples = _check_samples(samples, nonempty=True)
    if clip:
        peak = max(float(samples.max()), -float(samples.min()))
        if peak > 1.0:
            raise ValueError(f"samples exceed [-1, 1] (peak {peak:.3g}): the marked sound would be "
                             f"clipped; scale it (by 1/{peak:.3g}), or pass clip=False to keep "
                             f"values beyond full scale")
    ch = 1 if samples.ndim == 1 else samples.shape[1]
    emb = AudioEmbedder(sample_rate, ch, payload, key, clip=clip)
    out = np.empty(samples.shape, dtype=samples.dtype)
    emb._sink = out.reshape(samples.shape[0], -1)                # a view (C order)
    emb._borrow = True
    emb.process(samples)
    emb.flush()
    return out


# --------------------------------------------------------------------------- detection

@dataclass(frozen=True)
class AudioDetection:
    detected: bool
    payload: int | None
    p_value: float
    score: float
    offset_seconds: float | None
    speed: float | None
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "alg": AUDIO_ALG, "detected": self.detected, "payload": self.payload,
            "payload_hex": None if self.payload is None else f"{self.payload:016x}",
            "p_value": self.p_value, "score": round(float(self.score), 3),
            "offset_seconds": self.offset_seconds,
            "speed": self.speed,
            "details": {k: v for k, v in self.details.items() if k != "soft"},
        }


def _features(E: np.ndarray) -> np.ndarray:
    """Cell statistics for a cell starting at every frame: (frames, NB), float32.

    Sub-band log-energies (with a floor) -> correlated with the time chip over CF frames ->
    divided by a local rms -> clipped -> weighted (calm host, level). With FREQ_SPLIT the two
    halves of each band are combined by their local covariance (:func:`_features_split`).

    Computed in float32 (the log and the filters run ~3x faster than in float64; the features
    are clipped to +-FEATURE_CLIP and only their signs and rough sizes matter), and the median
    and percentile references are taken on every _REF_STRIDE-th frame (both are of series already
    smoothed over 2 * NORM_HALF + 1 frames). The p-value does not depend on how the features are
    computed: given the features, the pilot's key-random signs bound the statistic's tail."""
    E = np.asarray(E, dtype=np.float32)
    ones_t = np.ones(E.shape[0], dtype=np.float32)
    if P.FLOOR_PER_BAND:
        # each sub-band's floor relative to its own mean: a weak band (tonal host, low-passed
        # edge) keeps its modulation instead of sinking under the strong bands' floor (the
        # column means as a BLAS product: ~7x faster than a reduction over axis 0)
        floor = np.maximum((ones_t @ E) * np.float32(10 ** (-P.FLOOR_DB / 10) / E.shape[0]),
                           np.float32(_EPS))
    else:
        floor = np.float32(max(float(np.mean(E)) * 10 ** (-P.FLOOR_DB / 10), _EPS))
    if P.FREQ_SPLIT:
        return _features_split(E, np.broadcast_to(floor, (E.shape[1],)))
    L = np.add(E, floor)
    np.log(L, out=L)
    if P.BAND_MEAN_REMOVE:
        L -= L.mean(axis=1, keepdims=True)
    if P.WHITEN_HALF > 0:
        L -= uniform_filter1d(L, 2 * P.WHITEN_HALF + 1, axis=0, mode="nearest")
    n = L.shape[0]
    D = np.zeros_like(L)
    for i, c in enumerate(_TCHIP):
        if c == 1.0:                                        # +-1 chips: no scaled temporaries
            D[: n - i] += L[i:]
        elif c == -1.0:
            D[: n - i] -= L[i:]
        else:
            D[: n - i] += np.float32(c) * L[i:]
    s = uniform_filter1d(D * D, 2 * P.NORM_HALF + 1, axis=0, mode="nearest")
    np.maximum(s, 0.0, out=s)
    np.sqrt(s, out=s)
    s += np.float32(P.NORM_FLOOR)                           # s is rms + floor from here on
    W = D / s
    np.clip(W, -P.FEATURE_CLIP, P.FEATURE_CLIP, out=W)
    if P.NORM_EXTRA_POW > 0:
        # inverse-variance weighting: the mark's contrast is about the same in every cell, the
        # host's is not, so cells with a calm host count more (weight relative to the median)
        ref = quantile(s[::_REF_STRIDE], 0.5)[None, :]
        w = np.minimum(ref / s, np.float32(P.NORM_MAX_WEIGHT))
        W *= np.sqrt(w) if P.NORM_EXTRA_POW == 0.5 else w ** np.float32(P.NORM_EXTRA_POW)
    if P.LEVEL_WEIGHT_POW > 0:
        W *= _level_weight(E)[:, None]
    if P.NOISE_WEIGHT_MULT > 0:
        W *= _noise_weight(E)
    return W


def _features_split(E: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """The cell statistic of :func:`_features` with FREQ_SPLIT: (frames, NB) float32 from
    ``E`` (frames, 2 NB) sub-band energies (each band's lower, upper half) and their floors.

    The mark raises one half of a band's log energy and lowers the other (by the cell's sign
    times the time chip). Each half is time-chipped on its own (d_lo, d_hi), and the two are
    combined as the best linear unbiased estimate of that +a / -a pattern under their local
    covariance C (variances and covariance over 2 NORM_HALF + 1 frames):
    (1, -1) C^-1 (d_lo, d_hi) / sqrt((1, -1) C^-1 (1, -1)). Where the host moves both halves
    together (a note's onset, speech's envelope) the covariance is high and this is their
    difference, as a plain log ratio was. Where one half holds a steady partial and the
    other only what an attack put there (mixed-in music, noise), it leans on the steady half,
    which the log ratio could not (stop 29: mixing with music at -10 dB 0.71 -> 0.86 on the
    benchmark, the tonal clips above all).

    Computed with bands as rows (each half's time series contiguous), in float32."""
    n = E.shape[0]
    B = E.shape[1] // 2
    X = np.empty((2 * B, n), dtype=np.float32)            # rows: lower halves, upper halves
    X[:B] = E[:, 0::2].T
    X[B:] = E[:, 1::2].T
    X += np.concatenate([floor[0::2], floor[1::2]]).astype(np.float32)[:, None]
    np.log(X, out=X)
    D = np.zeros_like(X)
    if tuple(_TCHIP) == (1.0, -1.0, -1.0, 1.0) and n >= 4:
        # (x0 - x1) - (x2 - x3): two passes over a first difference instead of four
        G = X[:, :-1] - X[:, 1:]
        np.subtract(G[:, : n - 3], G[:, 2:], out=D[:, : n - 3])
        # the last cells run past the end: their partial sums, as the general loop gives
        D[:, n - 3] = G[:, n - 3] - X[:, n - 1]
        D[:, n - 2] = G[:, n - 2]
        D[:, n - 1] = X[:, n - 1]
    else:
        for i, c in enumerate(_TCHIP):
            D[:, : n - i] += np.float32(c) * X[:, i:]
    lo, hi = D[:B], D[B:]
    M = np.empty((3 * B, n), dtype=np.float32)             # local second moments, one filter
    np.multiply(D, D, out=M[: 2 * B])
    np.multiply(lo, hi, out=M[2 * B:])
    M = uniform_filter1d(M, 2 * P.NORM_HALF + 1, axis=-1, mode="nearest")
    np.maximum(M[: 2 * B], 0.0, out=M[: 2 * B])
    M[: 2 * B] += np.float32(P.NORM_FLOOR) ** 2
    vlo, vhi, c = M[:B], M[B:2 * B], M[2 * B:]
    det = vlo * vhi
    t = np.sqrt(det)
    t *= np.float32(P.SPLIT_CORR_MAX)
    np.minimum(c, t, out=c)                                # a well-conditioned 2 x 2 solve
    np.multiply(c, c, out=t)
    det -= t
    wl = np.add(vhi, c, out=vhi)                           # C^-1 (1, -1) = (wl, -wh) / det
    wh = np.add(vlo, c, out=vlo)
    np.add(wl, wh, out=t)                                  # t = wl + wh
    # BLUE: (wl d_lo - wh d_hi) / det, over its standard deviation sqrt((wl + wh) / det);
    # sd = sqrt(det / (wl + wh)) is the estimate's own standard deviation
    W = np.multiply(wl, lo, out=wl)
    W -= np.multiply(wh, hi, out=wh)
    sd = np.divide(det, t, out=det)
    np.sqrt(sd, out=sd)
    W /= sd
    W /= t
    np.clip(W, -P.FEATURE_CLIP, P.FEATURE_CLIP, out=W)
    if P.NORM_EXTRA_POW > 0:
        # inverse-variance weighting, as for the log ratio: sd relative to each band's median
        ref = quantile(np.ascontiguousarray(sd[:, ::_REF_STRIDE].T), 0.5)[:, None]
        w = np.divide(ref, sd, out=sd)
        np.minimum(w, np.float32(P.NORM_MAX_WEIGHT), out=w)
        W *= np.sqrt(w, out=w) if P.NORM_EXTRA_POW == 0.5 else w ** np.float32(P.NORM_EXTRA_POW)
    if P.LEVEL_WEIGHT_POW > 0:
        W *= _level_weight(E)[None, :]
    W = np.ascontiguousarray(W.T)
    if P.NOISE_WEIGHT_MULT > 0:
        W *= _noise_weight(E[:, 0::2] + E[:, 1::2])
    return W


def _noise_weight(Eb: np.ndarray) -> np.ndarray:
    """(frames, NB) float32 weight of each cell against a stationary noise floor (see
    NOISE_WEIGHT_* in wm_audio_params): clip(1 - k * N / E_cell, 0, 1), E_cell the band's energy
    over the cell's CF frames, N a low percentile of it over the input. Added noise fills pauses
    and weak bands; those cells hold only the noise's fluctuation, which the local normalisation
    would otherwise give full weight. Digital silence, or a floor far below the sound, gives
    w ~ 1; a narrow range of levels (a stationary host, which carries the mark in every cell)
    gives k = 0. Computed from the input alone: the pilot's key-random signs still bound the
    p-value."""
    n = Eb.shape[0]
    Ec = np.array(Eb, dtype=np.float32)
    for i in range(1, CF):
        Ec[: n - i] += Eb[i:]
    # both percentiles from one partition of every _REF_STRIDE-th cell, bands as rows (order
    # statistics, not interpolated: this runs for every hypothesis the search tries)
    Es = np.array(Ec[::_REF_STRIDE].T, order="C")
    m = Es.shape[1]
    i_lo = round(P.NOISE_WEIGHT_PCT / 100.0 * (m - 1))
    i_hi = round(P.NOISE_WEIGHT_HI_PCT / 100.0 * (m - 1))
    Es.partition(sorted({i_lo, i_hi}), axis=-1)
    lo, hi = Es[:, i_lo], Es[:, i_hi]
    # White noise fills every band alike, a quiet band of music does not: the floor is the
    # lowest band's, the range the widest band's. Only a host whose levels span a wide range
    # (pauses, weak stretches) is weighted: a stationary host (noise, a steady texture) carries
    # the mark in every cell and is left alone.
    floor = np.float32(lo.min())
    r = float(np.max(10 * np.log10(np.maximum(hi, _EPS) / np.maximum(lo, _EPS))))
    d0, d1 = P.NOISE_WEIGHT_RANGE_DB
    k = np.float32(P.NOISE_WEIGHT_MULT * min(max((r - d0) / (d1 - d0), 0.0), 1.0))
    if k == 0:
        return np.ones_like(Ec)
    w = np.maximum(Ec, np.float32(_EPS), out=Ec)            # in place: one array, no copies
    np.divide(k * floor, w, out=w)
    np.subtract(np.float32(1.0), w, out=w)
    return np.clip(w, 0.0, 1.0, out=w)


def _level_weight(E: np.ndarray) -> np.ndarray:
    """(frames,) float32: min(1, level / its LEVEL_REF_PERCENTILE) ** LEVEL_WEIGHT_POW, the
    level being the mark band's energy over 2 NORM_HALF + 1 frames: quiet frames (pauses,
    fades: noise and codec floor dominate there) weigh less."""
    lvl = np.maximum(uniform_filter1d(E @ np.ones(E.shape[1], dtype=np.float32), 2 * P.NORM_HALF + 1,
                                      mode="nearest"), 0.0)
    ref = quantile(lvl[::_REF_STRIDE], P.LEVEL_REF_PERCENTILE / 100.0) + _EPS
    lw = np.minimum(1.0, lvl / ref)
    lw = np.sqrt(lw) if P.LEVEL_WEIGHT_POW == 0.5 else lw ** P.LEVEL_WEIGHT_POW
    return lw.astype(np.float32)


#: Frame stride of the samples the feature references (median rms, level percentile) are
#: taken on: both series are smoothed over 2 * NORM_HALF + 1 frames, so every 4th frame
#: gives the same reference to within a few per cent at a fifth of the cost.
_REF_STRIDE = 4


def _edge_energy(pw: np.ndarray, s: float) -> np.ndarray:
    """(frames, NB*NSUB) float32 sub-band energies with the band edges scaled by speed ``s``,
    from ``pw``, a (frames, _DET_BINS + 1) float32 power spectrum (:func:`_power_frames`):
    frames as rows, so :func:`_at_phase` gathers whole rows.

    One product with :func:`_edge_weights` (BLAS; a sub-band is a few whole bins plus a
    fraction of each edge bin), in single precision: each energy is summed from its own bins,
    never a difference of running sums."""
    return pw @ _edge_weights(s)


def _n_at_phase(nf: int, s: float, phase: int, R: int) -> int:
    """Frames :func:`_at_phase` returns from ``nf`` fine frames."""
    if s == 1.0:
        return (nf - 1 - phase) // R + 1
    return int(math.floor((nf - 1 - phase) / R * s)) + 1


def _at_phase(E: np.ndarray, s: float, phase: int, R: int | None = None) -> np.ndarray:
    """(frames, NB*NSUB): compensated frame i (hop H) of speed ``s`` read at fine frame
    i * R / s + phase of ``E`` (:func:`_edge_energy` of an STFT at hop H / R; linear
    interpolation). Row gathers in float32: ~5x faster than column gathers in float64, and
    this runs once per (speed, phase) hypothesis. ``R``: DET_PHASES when None."""
    R = P.DET_PHASES if R is None else R
    nf = E.shape[0]
    if s == 1.0:
        return np.ascontiguousarray(E[phase::R])
    n_out = _n_at_phase(nf, s, phase, R)
    t = np.arange(n_out) * (R / s) + phase
    i0 = np.minimum(t.astype(int), nf - 2)
    w = (t - i0).astype(np.float32)[:, None]
    a = E[i0]
    b = E[i0 + 1]
    b -= a
    b *= w
    b += a
    return b


def _phase_features(E: np.ndarray, s: float, ph: int, R: int) -> np.ndarray:
    """The cell statistic at every frame (:func:`_features`) of speed ``s`` at sub-hop phase
    ``ph`` of R."""
    return _features(_at_phase(E, s, ph, R))


def _windows(n: int, periods: int) -> list[tuple[int, int]]:
    wl = periods * PF
    if n <= wl:
        return [(0, n)]
    st = P.WINDOW_STEP_PERIODS * PF
    starts = list(range(0, n - wl + 1, st))
    if starts[-1] != n - wl:
        starts.append(n - wl)
    return [(a, a + wl) for a in starts]


def _fold(W: np.ndarray) -> np.ndarray:
    """(PF, NB): the rows of ``W`` summed modulo the period, in W's dtype."""
    n = W.shape[0]
    reps = -(-n // PF)
    pad = np.zeros((reps * PF, NB), dtype=W.dtype)
    pad[:n] = W
    return pad.reshape(reps, PF, NB).sum(axis=0)


def _search(E: np.ndarray | None, s: float, ph: int, pat: Pattern, periods: int,
            R: int | None = None, W: np.ndarray | None = None):
    """Pilot search for one (speed, phase) over every window:
    ([(z, s, w0, o, len, B, ph, R)], n). ``E``: the edge energies at speed ``s``
    (:func:`_edge_energy` of the STFT at hop H / R), shared by the phases; or ``W``, their
    :func:`_phase_features` already computed.

    All windows are folded first and correlated with the pilot in one batch of FFTs (the
    windows are short: per-window FFT calls cost more in overhead than in arithmetic)."""
    R = P.DET_PHASES if R is None else R
    if W is None:
        W = _phase_features(E, s, ph, R)
    wins = _windows(W.shape[0], periods)
    B = np.stack([_fold(W[a:b]) for a, b in wins])         # (n_win, PF, NB) float32
    fft = _scipy_fft()
    Bh = fft.rfft(B, axis=1)
    B2h = fft.rfft(B * B, axis=1)
    C = fft.irfft(np.einsum("wfb,fb->wf", Bh, pat.pilot_hat), n=PF, axis=1)
    V = fft.irfft(np.einsum("wfb,fb->wf", B2h, pat.mask_hat), n=PF, axis=1)
    z = C / np.sqrt(np.maximum(V, 1e-12))
    out = []
    for i, (a, b) in enumerate(wins):
        o = int(np.argmax(z[i]))
        out.append((float(z[i, o]), s, a, o, b - a, B[i], ph, R))
    return out, len(out) * PF


def _soft_values(B: np.ndarray, o: int, pat: Pattern) -> np.ndarray:
    """Soft value per coded bit from a folded feature block ``B`` (PF, NB) aligned at ``o``.

    With BAND_MRC the cells of each band are weighted by that band's reliability, measured on
    its pilot cells (known signs): mean / variance of the sign-corrected pilot values, floored
    at 0 (maximal-ratio combining). A band the attack emptied (low-pass, noise over a weak
    band, a narrowband host) then adds nothing instead of noise."""
    v = B[(o + pat.data_q * CF) % PF, pat.data_b] * pat.data_s
    if P.BAND_MRC:
        u = B[(o + pat.pilot_q * CF) % PF, pat.pilot_b] * pat.pilot_s
        n = np.bincount(pat.pilot_b, minlength=NB)
        m = np.bincount(pat.pilot_b, weights=u, minlength=NB) / np.maximum(n, 1)
        var = np.bincount(pat.pilot_b, weights=(u - m[pat.pilot_b]) ** 2, minlength=NB) / np.maximum(n - 1, 1)
        w = np.maximum(m, 0.0) / np.maximum(var, 1e-12)
        if np.any(w > 0):
            v = v * w[pat.data_b]
    return np.bincount(pat.data_bits, weights=v, minlength=coding.N_CODED)


def _log_p(z: float, n_hyp: int) -> float:
    """log of the Bonferroni p-value bound for the max z over n_hyp hypotheses."""
    return min(0.0, math.log(n_hyp) + math.log(P.TAIL_FACTOR) + float(log_ndtr(-z)))


def _no_detection(reason: str, **extra) -> AudioDetection:
    return AudioDetection(False, None, 1.0, 0.0, None, None, {"reason": reason, **extra})


def _prepare(samples: np.ndarray, sample_rate: int) -> tuple[np.ndarray, int, np.ndarray] | None:
    """The detector's front end: fine-hop (H / DET_PHASES) power frames of the internal signal,
    (pw (frames, bins) float32, n_frames, internal signal); None when the input is too
    short."""
    sr = _check_rate(sample_rate)
    if samples.shape[0] < P.MIN_DETECT_SECONDS * sr:
        return None
    mono = samples.astype(np.float64) if samples.ndim == 1 else _mono(samples)
    x = to_internal(mono, sr)
    hf = H // P.DET_PHASES                              # fine hop
    nf = (x.size - N) // hf + 1
    if nf < 8 * CF * P.DET_PHASES:
        return None
    return _power_frames(x, nf, hf), nf, x


@lru_cache(maxsize=256)
def _edge_weights(s: float) -> np.ndarray:
    """(_DET_BINS + 1, NB*NSUB) float32 weights whose product with a power spectrum is
    :func:`_edge_energy` at speed ``s``: the energy below edge u is the bins under floor(u)
    plus the fraction u - floor(u) of bin floor(u). Cached (the speed grid is fixed); read-only."""
    u = _EDGES * s + 0.5
    m = np.floor(u).astype(int)
    below = (np.arange(_DET_BINS + 1)[None, :] < m[:, None]).astype(np.float64)
    below[np.arange(m.size), m] = u - m
    w = np.ascontiguousarray((below[1:] - below[:-1]).T, dtype=np.float32)
    w.setflags(write=False)
    return w


def _read_front(x: np.ndarray, s: float, E_fine: np.ndarray) -> np.ndarray:
    """Edge energies at speed ``s`` of the READ_PHASES front end (hop H / READ_PHASES) of the
    internal signal ``x``: :func:`_edge_energy` for one speed, each block of power frames
    multiplied by :func:`_edge_weights` while in cache (four times the frames of the
    detector's front end, never needed as a whole).

    Every (READ_PHASES / DET_PHASES)-th of these frames is a frame of the detector's front end,
    whose edge energies at ``s`` are ``E_fine``: those rows are taken from it and only the
    frames between them are transformed (a quarter fewer STFTs)."""
    hop = H // P.READ_PHASES
    k = P.READ_PHASES // P.DET_PHASES
    nf = (x.size - N) // hop + 1
    Wt = _edge_weights(s)
    E = np.empty((nf, Wt.shape[1]), dtype=np.float32)
    E[0::k] = E_fine[:len(range(0, nf, k))]         # frame j * k starts where fine frame j does
    for j in range(1, k):
        Ej = E[j::k]
        for a, b, pwb in _power_blocks(x[j * hop:], Ej.shape[0], hop * k):
            Ej[a:b] = pwb @ Wt
    return E


def _checked_front(samples, sample_rate, key) -> tuple[Pattern, tuple | None]:
    """The inputs checked, the key's pattern, and :func:`_prepare`'s front end (or None)."""
    samples = _check_samples(samples)
    _check_rate(sample_rate)
    return pattern(_check_key(key)), _prepare(samples, sample_rate)


def detect_audio(samples: np.ndarray, sample_rate: int, key: bytes) -> AudioDetection:
    """Blind detection: presence test (p-value over the whole offset x speed x window search)
    and payload decoding (soft-combined over windows, CRC-checked)."""
    pat, front = _checked_front(samples, sample_rate, key)
    if front is None:
        return _no_detection("too short")
    pw, nf, x = front
    R = P.DET_PHASES
    hf = H // R

    # Stage 1: coarse speed x phase grid on a few search segments (cheap on long inputs).
    # Stage 2: the best few (speed, phase) refined on a fine speed grid over the whole input.
    # Every hypothesis evaluated in either stage is counted in the Bonferroni p-value.
    n_hyp = 0
    seg_len = int(P.SEARCH_SECONDS * FS / hf)
    if nf <= seg_len * P.SEARCH_SEGMENTS:
        segs = [(0, nf)]
    else:
        starts = np.linspace(0, nf - seg_len, P.SEARCH_SEGMENTS).astype(int)
        segs = [(int(a), int(a) + seg_len) for a in starts]
    # Edge energies depend on the speed only: computed once per (segment, speed) and shared by
    # the sub-hop phases (the stage-1 phases, and stage-2 candidates of one speed).
    edge_cache: dict[tuple[int, float], np.ndarray] = {}

    def edges(i, a, b, s):
        E = edge_cache.get((i, s))
        if E is None:
            E = edge_cache[(i, s)] = _edge_energy(pw[a:b], s)
        return E

    def on_segments(s, ph, periods):
        zs = []
        nh = 0
        for i, (a, b) in enumerate(segs):
            c, n = _search(edges(i, a, b, s), s, ph, pat, periods)
            nh += n
            zs.append(max(w[0] for w in c))
        return max(zs), nh

    # Every coarse hypothesis is counted whether evaluated or not: the nominal speed goes first,
    # and a mark it already shows beyond doubt (EARLY_EXIT_P against twice the coarse count, a
    # rough bound on the whole search's) skips the other coarse speeds; stage 2 still refines
    # around it. What is skipped changes where the mark is looked for, never the p-value's count.
    def n_coarse(s, ph):
        return sum(len(_windows(_n_at_phase(b - a, s, ph, R), 1)) for a, b in segs) * PF

    n_stage1 = sum(n_coarse(float(s), ph) for s in _SPEEDS for ph in range(R))
    n_hyp += n_stage1
    stage1 = []
    for s in sorted(_SPEEDS, key=lambda v: (abs(v - 1.0), v)):     # coarse speeds x phases,
        for ph in range(R):                                      # 1-period windows
            z1, _ = on_segments(float(s), ph, 1)
            stage1.append((z1, float(s), ph))
        edge_cache.clear()
        if s == 1.0 and P.EARLY_EXIT_P > 0 and \
                _log_p(max(z for z, _, _ in stage1), 2 * n_stage1) <= math.log(P.EARLY_EXIT_P):
            break
    stage1.sort(reverse=True)
    fine = []
    for z1, s1, ph1 in stage1[:P.REFINE_TOP]:           # fine speeds around the best coarse ones
        for k in range(-P.REFINE_STEPS, P.REFINE_STEPS + 1):
            sf = round(s1 + k * P.REFINE_STEP, 6)
            zf, nh = on_segments(sf, ph1, P.WINDOW_PERIODS)
            n_hyp += nh
            fine.append((zf, sf, ph1))
    edge_cache.clear()
    fine.sort(reverse=True)
    s_fine = fine[0][1]
    E_fine = _edge_energy(pw, s_fine)               # whole input, every sub-hop phase
    # Stage 3 at the searched speed; when its payload fails there, at the nominal speed too
    # (below). Both reads are counted, whichever ran.
    n_both = n_hyp + _stage3_count(E_fine.shape[0], s_fine) + _stage3_count(E_fine.shape[0], 1.0)
    res = _read_at(E_fine, s_fine, pat, n_both, x=x)
    if res.payload is None and s_fine != 1.0 and \
            res.details["pilot_log10_p"] <= NOMINAL_RETRY_LOG10_P:
        # Most audio was never sped up, and the speed that scores best on the pilot is not
        # always the one whose payload decodes: on a 6 s clip after AAC, 1 key in 75 had its
        # payload at speed 1 (where the read-back had found it) but the search chose 1.0005.
        nominal = _read_at(_edge_energy(pw, 1.0), 1.0, pat, n_both, list_decode=False, x=x)
        if nominal.payload is not None:
            return nominal
    return res


#: The nominal-speed retry runs only where the searched speed's pilot is at least this
#: significant (log10 p; 1.2 % of unmarked inputs reach 0.1): it is for marks, and it is
#: counted in the p-value whether it runs or not.
NOMINAL_RETRY_LOG10_P = -1.0


def _stage3_count(n_fine: int, s: float) -> int:
    """Hypotheses a stage-3 read (:func:`_read_at`) at speed ``s`` makes over ``n_fine`` front
    end frames: each DET_PHASES phase's windows x period offsets, and on short inputs the
    READ_PHASES phases between them (each reads at most one frame more), read or not."""
    R = P.DET_PHASES
    n = [_n_at_phase(n_fine, s, ph, R) for ph in range(R)]
    count = sum(len(_windows(k, P.WINDOW_PERIODS)) for k in n)
    if _n_at_phase(n_fine, 1.0, 0, R) <= P.READ_MAX_PERIODS * PF:        # by length alone
        extra = P.READ_PHASES - R
        # each reads frames at hop H from the same samples, at most one more than these (the
        # finer STFT's last frame may start up to H / R - H / READ_PHASES samples later)
        count += extra * len(_windows(max(n) + 1, P.WINDOW_PERIODS))
    return count * PF


def nominal_read(samples: np.ndarray, sample_rate: int, key: bytes) -> AudioDetection:
    """Read a mark at the nominal speed only (no speed search): stage 3 of
    :func:`detect_audio` at speed 1, plain Viterbi decodes. For checking freshly marked audio
    (a read-back), whose speed is known, in about a fifth of the full search's time.

    Its p-value is conservative for that use: it counts the hypotheses the full search would
    add (an upper bound: every coarse and fine speed over the whole input), so a payload this
    finds at a passing p-value the full detector finds too (it evaluates speed 1 among others
    and keeps the highest pilot). A miss here says nothing: run :func:`detect_audio`."""
    pat, front = _checked_front(samples, sample_rate, key)
    if front is None:
        return _no_detection("too short")
    pw, _nf, _x = front
    E = _edge_energy(pw, 1.0)
    n_w = _n_at_phase(E.shape[0], 1.0, 0, P.DET_PHASES)
    # Stage 1: every coarse speed x phase with 1-period windows (one window more than at speed
    # 1, for the slowest speed's longer frame count); stage 2: the fine grid around the best.
    n1 = (len(_windows(n_w, 1)) + 1) * PF
    n2 = (len(_windows(n_w, P.WINDOW_PERIODS)) + 1) * PF
    earlier = len(_SPEEDS) * P.DET_PHASES * n1 + P.REFINE_TOP * (2 * P.REFINE_STEPS + 1) * n2
    # stage 3 at the searched speed and at speed 1 (this read): the fastest speed reads the
    # most frames, so its count bounds the searched one's
    fastest = max(_SPEEDS) + P.REFINE_STEPS * P.REFINE_STEP
    both = _stage3_count(E.shape[0], fastest) + _stage3_count(E.shape[0], 1.0)
    return _read_at(E, 1.0, pat, earlier + both, list_decode=False)


#: CRC checks counted in the presence p-value, whether made or not: every list-Viterbi path of
#: every decode attempt and the plain decodes of the READ_PHASES pass (:func:`_read_at`), and
#: the nominal-speed retry's plain decodes, of both passes (:func:`detect_audio`).
N_CHECKS = P.N_DECODE * P.LIST_SIZE + P.N_DECODE + 2 * P.N_DECODE


def _read_at(E_fine: np.ndarray, s_fine: float, pat: Pattern, n_hyp: int, *,
             list_decode: bool = True, x: np.ndarray | None = None) -> AudioDetection:
    """Stage 3 and the payload: every sub-hop phase over the whole input at speed ``s_fine``
    (edge energies ``E_fine``), the pilot's p-value counting ``n_hyp`` hypotheses (this read's
    own, :func:`_stage3_count`, included by the caller), then the payload decodes.
    ``list_decode``: also list-Viterbi when the plain decodes fail.

    ``x`` (the internal signal): when the DET_PHASES phases give no payload, the READ_PHASES
    phases between them are read too (:func:`_read_front`) and the payload is decoded again
    (plain Viterbi) if they moved the best alignment or a window's; only on inputs of at most
    READ_MAX_PERIODS periods (the count depends on the length alone). Every READ_PHASES phase
    and those decodes are counted whether they are made or not (``x`` None: never), so the
    p-value does not depend on which path was taken."""
    R = P.DET_PHASES
    best = None                # overall best (z, s, w0, o, n_frames, B, phase, R)
    per_window: dict[int, tuple] = {}
    # each phase's features over the whole input, searched and then folded whole by the decode
    feats: dict[tuple[int, int], np.ndarray] = {}
    n_windows_max = 0
    for ph in range(R):
        W = feats[(R, ph)] = _phase_features(E_fine, s_fine, ph, R)
        wins, _ = _search(None, s_fine, ph, pat, P.WINDOW_PERIODS, R, W)
        n_windows_max = max(n_windows_max, len(wins))
        best, _ = _merge(wins, per_window, best)
    # the READ_PHASES phases between these (counted in _stage3_count, read or not)
    RR = P.READ_PHASES
    short = _n_at_phase(E_fine.shape[0], 1.0, 0, R) <= P.READ_MAX_PERIODS * PF   # by length
    extra = [ph for ph in range(RR) if ph % (RR // R)] if short else []
    res = _decode_best(best, per_window, feats, pat, n_hyp, list_decode)
    if res.payload is None and x is not None and extra:
        E_read = _read_front(x, s_fine, E_fine)
        moved = False
        for ph in extra:
            W = feats[(RR, ph)] = _phase_features(E_read, s_fine, ph, RR)
            wins, _ = _search(None, s_fine, ph, pat, P.WINDOW_PERIODS, RR, W)
            best, m = _merge(wins, per_window, best)
            moved |= m
        if moved:
            res = _decode_best(best, per_window, feats, pat, n_hyp, False)
    z_best, s_best, a_best, o_best, _, _, ph_best, r_best = best
    start_frame = (a_best + o_best) % PF
    offset = (start_frame / s_best + ph_best / r_best) * H / FS
    details = {
        "z": z_best, "log10_p": res.logp / math.log(10), "pilot_log10_p": res.logp_pilot / math.log(10),
        "n_hypotheses": n_hyp, "sub_hop_phases": r_best,
        "windows": n_windows_max, "windows_combined": res.n_good,
        "code_agreement": res.agreement, "crc_ok": res.payload is not None,
        "period_seconds": PF * H / FS, "soft": res.soft,
    }
    return AudioDetection(res.detected, res.payload, res.p_value, float(z_best),
                          float(offset) if res.detected else None,
                          float(s_best) if res.detected else None, details)


def _merge(wins: list[tuple], per_window: dict[int, tuple], best: tuple | None) -> tuple[tuple, bool]:
    """Keep each window's best candidate in ``per_window`` (updated in place) and the overall
    best -> (overall best, whether any window's candidate improved)."""
    moved = False
    for wi, cand in enumerate(wins):
        prev = per_window.get(wi)
        if prev is None or cand[0] > prev[0]:
            per_window[wi] = cand
            moved = True
        if best is None or cand[0] > best[0]:
            best = cand
    return best, moved


class _Decoded(NamedTuple):
    detected: bool
    payload: int | None       # only when detected
    p_value: float
    logp: float
    logp_pilot: float
    agreement: float | None   # the plain Viterbi's; None when no decode ran
    soft: np.ndarray          # the soft values decoded (or the first attempt's)
    n_good: int               # windows soft-combined


def _decode_best(best: tuple, per_window: dict[int, tuple], feats: dict[tuple[int, int], np.ndarray],
                 pat: Pattern, n_hyp: int, list_decode: bool) -> _Decoded:
    """The presence p-value and the payload at the best alignment found so far. ``feats``:
    the whole input's features per (sub-hop phase count, phase), from the searches."""
    z_best, s_best, a_best, o_best, _, _, ph_best, r_best = best
    logp_pilot = _log_p(z_best, n_hyp)

    # payload: the whole input folded at the best alignment, then windows with a clear pilot
    # soft-combined (weighted by z), then the best window alone; the first CRC that holds wins
    def soft_of(c):
        return _soft_values(c[5], c[3], pat)

    good = [c for c in per_window.values() if c[0] >= P.COMBINE_MIN_Z]
    attempts = []
    if P.FULL_FOLD_DECODE and len(per_window) > 1:
        # every period of the input folded coherently at the best (speed, phase, alignment)
        attempts.append(_soft_values(_fold(feats[(r_best, ph_best)]), a_best + o_best, pat))
    if len(good) > 1:
        attempts.append(sum(c[0] * soft_of(c) for c in good))
    attempts.append(soft_of(best))
    payload = None
    agreement = None
    soft_used = attempts[0]
    # plain Viterbi on every attempt first; then list Viterbi (LIST_SIZE paths, each CRC-checked).
    # Neither runs where a CRC that holds could not make the combined p-value reach the
    # threshold: its payload would not be reported (most unmarked inputs end here; the soft
    # values are still returned, and the code agreement is then None)
    crc_could_detect = coding.presence_log_p(logp_pilot, True, N_CHECKS, P.CRC_WEIGHT) <= math.log(P.FPR_TARGET)
    sizes = ([1] + ([P.LIST_SIZE] if list_decode and P.LIST_SIZE > 1 else [])) if crc_could_detect else []
    for size in sizes:
        for soft in attempts:
            res = coding.decode_payload(soft, list_size=size)
            if size == 1:
                agreement = res.agreement
            if res.crc_ok:
                payload, agreement, soft_used = res.payload, res.agreement, soft
                break
        if payload is not None:
            break

    # Presence combines the pilot and the CRC (coding.presence_log_p, as for images): with the
    # defaults a CRC that holds detects whenever p_pilot <= 0.017.
    logp = coding.presence_log_p(logp_pilot, payload is not None, N_CHECKS, P.CRC_WEIGHT)
    p_value = math.exp(logp)
    detected = p_value <= P.FPR_TARGET
    if not detected:
        payload = None
    return _Decoded(bool(detected), payload, float(p_value), logp, logp_pilot, agreement, soft_used, len(good))
