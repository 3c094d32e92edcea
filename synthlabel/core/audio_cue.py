"""Explicit (perceptible) audio label, GB 45438 §5: the rhythm cue "short-long-short-short".

The standard lets an audio label be either a spoken label or the rhythm "short-long-short-short",
i.e. Morse "·− ··" for "AI". It fixes no tone frequency, unit length or loudness, so they are
:class:`CueParams` (defaults below, each justified). Pure numpy/scipy, no file I/O.

Rendering (:func:`render_cue`)
    Morse timing: dot = 1 unit, dash = 3 units, gap inside a letter = 1 unit, gap between the
    letters A and I = 3 units, so the cue is 11 units long (1.32 s by default)::

        ·  _  −−−  _ _ _  ·  _  ·
        0  1  2-4  5 6 7  8  9  10

    Every element is a phase-continuous sine with raised-cosine fades, so the spectrum outside
    the tone band is >= 40 dB down (no clicks). :func:`insert_cue` puts ``lead_ms`` of silence on
    both sides of the cue and prepends / appends that block (content is never overwritten);
    a user-supplied spoken-label ``clip`` can be used instead of the tone.

Detection (:func:`detect_cue`)
    1. Analysis regions: the first and last ``max_seconds`` (``search="ends"``), or the whole
       signal in overlapping 30 s blocks (``search="all"``). Channels are averaged; at >= 32 kHz
       sample pairs too (2x decimation: the tone band is far below the new Nyquist).
    2. STFT, 48 ms Hann window, 10 ms hop (bins ~21 Hz at every rate; a note 4-5 % off the cue,
       e.g. C6 vs 1 kHz, is resolved), only the band of candidate tones (350-3500 Hz when
       ``params`` is None, else tone ±5 %). Per bin and frame: tone level ``E`` (dB re a
       full-scale sine) and tonality: ``E`` over the quieter of the mean levels 133-333 Hz below
       and above (another note on one side does not hide the tone; broadband drums/noise raise
       both sides).
    3. Per bin, frames are "on" when tonal (>= 10 dB), above -60 dBFS and within ``d`` dB of the
       bin's running maximum (about ±7 units), for d in 6, 12 and 20 dB: the level that splits
       elements from gaps is not known when music sits in the gaps. 1-frame holes/blips are
       closed/opened.
    4. Rhythm: every 4 consecutive on-runs of a bin are tested against the Morse pattern, with the
       unit estimated from the runs themselves (onset span = offset span = 10 units; the unit must
       lie in ``UNIT_RANGE_MS``, or ``params.unit_ms`` ±20 %): element midpoints at 0.5, 3.5,
       8.5, 10.5 units and durations 1:3:1:1 (up to a common smear), each within 0.22 unit + 1
       hop; no other run in this bin closer than 1.5 units before/after (a "·− ··" inside longer
       Morse, e.g. "··− ··" = "UI", is not the letters A I). Vectorised over all runs of all bins.
    5. Verification of the few rhythm matches on the raw spectrum: the 4 elements have the same
       frequency (±3 %, parabolic peak interpolation), a steady frequency inside each element
       (p90-p10 <= 3 %), steady (std <= 3 dB) and similar (spread <= 6 dB) levels, i.e. one flat
       tone, not syllables, decaying notes or a melody; and contrast min(element level) -
       max(gap level) >= ``MIN_CONTRAST_DB``. ``score`` is that contrast (dB) of the best verified
       cue; rejected matches are listed in ``details["near_misses"]``.
    6. The start time comes from a least-squares fit of the element midpoints (unbiased by the
       window smear, which is symmetric): measured within ±5 ms, also after MP3.

    Cost: ~5-7 ms per 10 s region of 44.1 kHz stereo (FFT-bound), so "ends" is bounded whatever
    the file length; "all" ~1 ms per second of audio.

Caveats
    A melody note within ~±3 % of the cue tone (e.g. B5 = 988 Hz under a 1 kHz cue), as loud as
    the cue and overlapping its gaps, can mask the rhythm (the bins cannot separate them in
    48 ms); channels are averaged, so a cue in exact anti-phase between channels cancels.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

# scipy (~0.5 s to import) is imported where a cue is analysed: checking the CLI's cue options
# (CueParams) and every image-only run never need it.

__all__ = [
    "MIN_CONTRAST_DB",
    "MORSE_AI",
    "TONE_RANGE_HZ",
    "UNIT_RANGE_MS",
    "CueDetection",
    "CueParams",
    "cue_length",
    "detect_cue",
    "insert_cue",
    "render_cue",
]

#: (is_tone, length in units) for Morse "·− ··" ("AI"): 11 units in total.
MORSE_AI: tuple[tuple[bool, int], ...] = (
    (True, 1), (False, 1), (True, 3), (False, 3), (True, 1), (False, 1), (True, 1),
)
_MIDS = np.array([0.5, 3.5, 8.5, 10.5])     # element midpoints, units
_DURS = np.array([1.0, 3.0, 1.0, 1.0])      # element durations, units
_CUE_UNITS = 11

#: ``params=None`` detection tolerates any tone in this band and any unit in this range.
TONE_RANGE_HZ = (350.0, 3500.0)
UNIT_RANGE_MS = (55.0, 300.0)
#: The quietest cue level accepted (dBFS): a cue at -60 dBFS, which was accepted, lies at the
#: detector's floor (_FLOOR_DB: it ignores anything quieter) and was labeled, then reported
#: missing by verify; and a cue that quiet is not perceptible, which the rule asks.
LEVEL_MIN_DBFS = -50.0
#: A verified match needs its quietest element this many dB above its loudest gap.
MIN_CONTRAST_DB = 10.0

# analysis constants
_WIN_S = 0.048             # STFT window (bin width ~21 Hz, Hann main lobe +-42 Hz)
_HOP_S = 0.010             # STFT hop
_NB_LO_HZ, _NB_HI_HZ = 133.0, 333.0   # neighbour bins for the tonality measure
_TONAL_DB = 10.0           # tone bin over the quieter neighbour side's mean
_FLOOR_DB = -60.0          # ignore anything quieter (dB re full-scale sine)
_SPLITS_DB = (6.0, 12.0, 20.0)
_FREQ_TOL = 0.03           # same frequency across elements, ±3 %
_FREQ_STEADY = 0.03        # p90-p10 of the frequency inside one element / median
_LEVEL_SPREAD_DB = 6.0     # max - min of the element levels
_LEVEL_STD_DB = 3.0        # level std inside an element
_RHYTHM_TOL_U = 0.22       # timing tolerance in units (+ one hop)
_QUIET_AROUND_U = 1.5      # nothing in this bin this many units before/after the cue


@dataclass(frozen=True)
class CueParams:
    """Look and sound of the rhythm cue. All times in milliseconds.

    Defaults:
    * ``tone_hz`` 1000: the ear is most sensitive around 1-4 kHz, a 1 kHz tone passes telephone
      bands (300-3400 Hz), small speakers and any MP3/AAC bitrate untouched, and it is the
      classic test / "beep" tone, distinct from speech fundamentals and most melody notes.
    * ``unit_ms`` 120: Morse at 10 words per minute (PARIS: unit = 1200 / wpm ms), slow enough
      that listeners who know no Morse still hear "short-long-short-short" as four distinct
      beeps (dot 120 ms, dash 360 ms), while the whole cue stays short (11 units = 1.32 s).
    * ``level_dbfs`` -14: tone peak at -14 dBFS (RMS -17 dBFS) sits at typical programme
      loudness (streaming -14 LUFS, broadcast -23 LUFS): clearly audible, not startling, and
      leaves headroom for codec overshoot.
    * ``fade_ms`` 8: raised-cosine ramps >= 5 ms make the gating inaudible (no clicks; spectrum
      outside the tone band >= 40 dB down), short enough to keep a 112 ms dot crisp.
    * ``lead_ms`` 250: silence on each side of the cue (~2 units): separates the cue from the
      content like a Morse letter/word gap, so the rhythm stays unambiguous.
    """

    tone_hz: float = 1000.0
    unit_ms: float = 120.0
    level_dbfs: float = -14.0
    fade_ms: float = 8.0
    lead_ms: float = 250.0

    def __post_init__(self) -> None:
        flags = {"tone_hz": "the cue tone (tone_hz, --cue-tone)",
                 "unit_ms": "the cue unit (unit_ms, --cue-unit)",
                 "level_dbfs": "the cue level (level_dbfs, --cue-level)"}
        for name in ("tone_hz", "unit_ms", "level_dbfs", "fade_ms", "lead_ms"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"{flags.get(name, f'CueParams.{name}')} must be a finite "
                                 f"number, got {v!r}")
        # Only a cue that verify can find is a label: verify searches without knowing the
        # tone or unit, within TONE_RANGE_HZ and UNIT_RANGE_MS.
        (f_lo, f_hi), (u_lo, u_hi) = TONE_RANGE_HZ, UNIT_RANGE_MS
        if not f_lo <= self.tone_hz <= f_hi:
            raise ValueError(f"the cue tone (tone_hz, --cue-tone) must be within "
                             f"{f_lo:g}..{f_hi:g} Hz, where verify finds cues, got {self.tone_hz:g}")
        if not u_lo <= self.unit_ms <= u_hi:
            raise ValueError(f"the cue unit (unit_ms, --cue-unit) must be within "
                             f"{u_lo:g}..{u_hi:g} ms, where verify finds cues, got {self.unit_ms:g}")
        if not LEVEL_MIN_DBFS <= self.level_dbfs <= 0.0:
            raise ValueError(f"the cue level (level_dbfs, --cue-level) must be within "
                             f"{LEVEL_MIN_DBFS:g}..0 dBFS, where it is heard and verify finds it, "
                             f"got {self.level_dbfs:g}")
        if not 1.0 <= self.fade_ms <= self.unit_ms / 2:
            raise ValueError(
                f"the cue fade (fade_ms) must be within 1 ms..unit_ms/2 ({self.unit_ms / 2:g} ms), "
                f"got {self.fade_ms}")
        if not 0.0 <= self.lead_ms <= 10000.0:
            raise ValueError(f"the cue lead (lead_ms) must be within 0..10000 ms, got {self.lead_ms:g}")

    def check_rate(self, sample_rate: int) -> None:
        """ValueError unless the tone is representable at ``sample_rate`` (below 0.45 x fs)."""
        _check_rate(sample_rate)
        if self.tone_hz >= 0.45 * sample_rate:
            raise ValueError(
                f"the cue tone {self.tone_hz:g} Hz (tone_hz, --cue-tone) is at or above 0.45 x "
                f"the sample rate of {sample_rate} Hz ({0.45 * sample_rate:g} Hz)")


def _check_rate(sample_rate) -> None:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)):
        raise ValueError(f"sample_rate must be an integer, got {sample_rate!r}")  # noqa: TRY004
    if not 8000 <= sample_rate <= 384000:
        raise ValueError(f"sample_rate must be within 8000..384000 Hz, got {sample_rate}")


# --------------------------------------------------------------------------- rendering

def _element_bounds(sample_rate: int, unit_ms: float) -> list[tuple[bool, int, int]]:
    """(is_tone, start, stop) in samples; boundaries rounded from exact times (no drift)."""
    out, u = [], 0
    for tone, n in MORSE_AI:
        a = round((u * unit_ms) * sample_rate / 1000.0)
        b = round(((u + n) * unit_ms) * sample_rate / 1000.0)
        out.append((tone, a, b))
        u += n
    return out


def _cue_frames(sample_rate: int, params: CueParams) -> int:
    return round(_CUE_UNITS * params.unit_ms * sample_rate / 1000.0)


def _lead_frames(sample_rate: int, params: CueParams) -> int:
    return round(params.lead_ms * sample_rate / 1000.0)


def render_cue(sample_rate: int, channels: int = 1, params: CueParams = CueParams()) -> np.ndarray:
    """The bare cue (no lead silence) as float32 ``(frames, channels)``; starts and ends at 0."""
    params.check_rate(sample_rate)
    if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)) or not 1 <= channels <= 64:
        raise ValueError(f"channels must be an integer within 1..64, got {channels!r}")
    n = _cue_frames(sample_rate, params)
    t = np.arange(n, dtype=np.float64) / sample_rate
    tone = np.sin(2.0 * np.pi * params.tone_hz * t)            # phase-continuous over the cue
    env = np.zeros(n, dtype=np.float64)
    nf = max(1, round(params.fade_ms * sample_rate / 1000.0))
    ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(nf) + 0.5) / nf)   # raised cosine, 0 -> 1
    for is_tone, a, b in _element_bounds(sample_rate, params.unit_ms):
        if not is_tone:
            continue
        k = min(nf, (b - a) // 2)
        r = ramp if k == nf else 0.5 - 0.5 * np.cos(np.pi * (np.arange(k) + 0.5) / k)
        seg = np.ones(b - a)
        seg[:k] = r
        seg[b - a - k:] = r[::-1]
        env[a:b] = seg
    amp = 10.0 ** (params.level_dbfs / 20.0)
    mono = (amp * env * tone).astype(np.float32)
    return np.repeat(mono[:, None], channels, axis=1)


def cue_length(sample_rate: int, params: CueParams = CueParams(), clip: np.ndarray | None = None) -> int:
    """Frames inserted at one place: ``lead`` silence + cue (or ``clip``) + ``lead`` silence."""
    params.check_rate(sample_rate)
    body = _cue_frames(sample_rate, params) if clip is None else int(np.asarray(clip).shape[0])
    return body + 2 * _lead_frames(sample_rate, params)


def _as_frames(samples: np.ndarray, what: str) -> np.ndarray:
    a = np.asarray(samples)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[1] < 1:
        raise ValueError(f"{what} must be (frames,) or (frames, channels), got shape {np.shape(samples)}")
    if a.dtype.kind in "iu":
        info = np.iinfo(a.dtype)
        a = (a.astype(np.float64) - (info.max + 1 + info.min) / 2) / ((info.max - info.min + 1) / 2)
    elif a.dtype.kind != "f":
        raise ValueError(f"{what} must be float or integer PCM, got dtype {a.dtype}")
    a = a.astype(np.float32, copy=False)
    if a.size and not np.isfinite(a).all():
        raise ValueError(f"{what} contains NaN or infinite values")
    return a


def insert_cue(samples: np.ndarray, sample_rate: int, where: str = "start",
               params: CueParams = CueParams(),
               clip: np.ndarray | None = None) -> tuple[np.ndarray, list[float]]:
    """Prepend / append the cue (or a spoken ``clip``) with ``lead_ms`` silence on both sides.

    ``where``: "start", "end" or "both". The content is kept sample-exact, never overwritten or
    mixed. Returns the new float32 ``(frames, channels)`` signal and the start time (s) of each
    inserted cue/clip. ``clip`` is float or integer PCM, mono or with the content's channel count
    (mono is copied to all channels; a multichannel clip on mono content is averaged).
    """
    if where not in ("start", "end", "both"):
        raise ValueError(f"where must be 'start', 'end' or 'both', got {where!r}")
    params.check_rate(sample_rate)
    x = _as_frames(samples, "samples")
    ch = x.shape[1]
    if clip is None:
        body = render_cue(sample_rate, ch, params)
    else:
        c = _as_frames(clip, "clip")
        if c.shape[0] == 0:
            raise ValueError("clip is empty")
        if c.shape[1] == ch:
            body = c
        elif c.shape[1] == 1:
            body = np.repeat(c, ch, axis=1)
        elif ch == 1:
            body = c.mean(axis=1, keepdims=True)
        else:
            raise ValueError(f"clip has {c.shape[1]} channels, content has {ch}")
    lead = np.zeros((_lead_frames(sample_rate, params), ch), dtype=np.float32)
    block = np.concatenate([lead, body, lead])
    parts, times = [], []
    if where in ("start", "both"):
        parts.append(block)
        times.append(lead.shape[0] / sample_rate)
    parts.append(x)
    if where in ("end", "both"):
        offset = sum(p.shape[0] for p in parts)
        parts.append(block)
        times.append((offset + lead.shape[0]) / sample_rate)
    return np.concatenate(parts).astype(np.float32, copy=False), times


# --------------------------------------------------------------------------- detection

@dataclass(frozen=True)
class CueDetection:
    found: bool
    times: list[float]
    score: float
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"found": self.found, "times": list(self.times), "score": self.score,
                "details": self.details}


@dataclass
class _Spec:
    fs: float         # analysis rate (after the optional 2x decimation)
    decim: int
    win: int
    hop: int
    f_lo: float
    f_hi: float
    u_lo: float       # seconds
    u_hi: float


def _spec_for(sample_rate: int, params: CueParams | None) -> _Spec:
    if params is None:
        f_lo, f_hi = TONE_RANGE_HZ
        f_hi = min(f_hi, 0.45 * sample_rate)
        u_lo, u_hi = UNIT_RANGE_MS[0] / 1000, UNIT_RANGE_MS[1] / 1000
    else:
        params.check_rate(sample_rate)
        f_lo, f_hi = params.tone_hz * 0.95, params.tone_hz * 1.05
        u_lo, u_hi = params.unit_ms * 0.8 / 1000, params.unit_ms * 1.2 / 1000
    # Pair-averaging (2x decimation) halves the FFT work at >= 32 kHz. Its gain is
    # cos(pi f / fs) (-0.3 dB at 3.5 kHz / 44.1 kHz); what folds down from near fs/2 is
    # attenuated by sin(pi f / fs) and is neither tonal nor rhythmic in practice.
    decim = 2 if (sample_rate >= 32000 and f_hi <= sample_rate / 8) else 1
    fs = sample_rate / decim
    from scipy import fft as _fft

    win = _fft.next_fast_len(round(_WIN_S * fs), real=True)
    return _Spec(fs, decim, win, round(_HOP_S * fs), f_lo, f_hi, u_lo, u_hi)


_WINDOWS: dict[int, np.ndarray] = {}


def _hann(n: int) -> np.ndarray:
    w = _WINDOWS.get(n)
    if w is None:
        w = (0.5 - 0.5 * np.cos(2 * np.pi * (np.arange(n) + 0.5) / n)).astype(np.float32)
        _WINDOWS[n] = w
    return w


def _mono(seg: np.ndarray, decim: int) -> np.ndarray:
    """Channel average (and pair average when decimating), float32, non-finite -> 0."""
    if seg.dtype.kind in "iu" or seg.dtype.kind != "f":
        seg = _as_frames(seg, "samples")
    ch = seg.shape[1]
    n = seg.shape[0] // decim * decim
    v = np.ascontiguousarray(seg[:n], dtype=np.float32).ravel()
    step = decim * ch                               # strided sums: fastest channel/pair average
    acc = v[0::step].copy()
    for j in range(1, step):
        acc += v[j::step]
    if step > 1:
        acc *= np.float32(1.0 / step)
    if not np.isfinite(acc).all():
        acc = np.nan_to_num(acc, nan=0.0, posinf=0.0, neginf=0.0)
    return acc


def _runmax(E_db: np.ndarray, half: int) -> np.ndarray:
    """Approximate running max over +-half frames along time (axis 1): block max, then a
    max filter over blocks; the reach is +-half frames rounded up to whole blocks."""
    K, T = E_db.shape
    blk = max(1, half // 8)
    nb = -(-T // blk)
    padded = np.full((K, nb * blk), -np.inf, dtype=E_db.dtype)
    padded[:, :T] = E_db
    bm = padded.reshape(K, nb, blk).max(axis=2)
    hb = -(-half // blk)
    from scipy.ndimage import maximum_filter1d

    bm = maximum_filter1d(bm, size=2 * hb + 1, axis=1, mode="nearest")
    return np.repeat(bm, blk, axis=1)[:, :T]


def _analyse(x: np.ndarray, sp: _Spec, t_offset: float) -> tuple[list[dict], dict]:
    """Verified cues in one mono region ``x`` (float32, rate ``sp.fs``) at ``t_offset`` s."""
    stats = {"rhythm_matches": 0, "verified": 0, "rejected": {}, "near_misses": []}
    n = x.shape[0]
    fs, win, hop = sp.fs, sp.win, sp.hop
    if n < win + 4 * hop:
        return [], stats
    df = fs / win
    nb_lo, nb_hi = max(3, round(_NB_LO_HZ / df)), max(5, round(_NB_HI_HZ / df))
    k_lo = max(2, math.floor(sp.f_lo / df))
    k_hi = min(win // 2 - 2, math.ceil(sp.f_hi / df))
    if k_hi < k_lo:
        return [], stats
    b_lo, b_hi = max(0, k_lo - nb_hi), min(win // 2, k_hi + nb_hi)    # bins to compute

    frames = np.lib.stride_tricks.sliding_window_view(x, win)[::hop]
    T = frames.shape[0]
    from scipy import fft as _fft

    spec = _fft.rfft(frames * _hann(win), axis=1)[:, b_lo:b_hi + 1]
    P = np.ascontiguousarray((spec.real ** 2 + spec.imag ** 2).T)    # (bins, frames)
    P *= np.float32(4.0 / float(_hann(win).sum()) ** 2)   # full-scale sine -> ~1 in its bin
    c = np.empty((P.shape[0] + 1, T), dtype=np.float64)     # float64: differences of sums
    c[0] = 0.0
    np.cumsum(P, axis=0, out=c[1:])
    k0, k1 = k_lo - b_lo, k_hi - b_lo + 1           # band bins, local index range
    E = P[k0:k1].copy()                             # tone power, one bin
    ks = np.arange(k0, k1)
    lo_a, lo_b = np.maximum(ks - nb_hi, 0), ks - nb_lo + 1
    hi_a, hi_b = ks + nb_lo, np.minimum(ks + nb_hi + 1, P.shape[0])
    # neighbour level: the quieter of the two sides' means, so that another note on one side
    # (music under the cue) does not hide the tone, while broadband sound raises both sides
    Nb = np.minimum((c[lo_b] - c[lo_a]) / (lo_b - lo_a)[:, None],
                    (c[hi_b] - c[hi_a]) / (hi_b - hi_a)[:, None]).astype(np.float32)
    tiny = np.float32(1e-12)
    np.maximum(E, tiny, out=E)
    E_db = np.log10(E)
    E_db *= np.float32(10.0)                          # (band bins, frames)
    np.maximum(Nb, tiny, out=Nb)
    base = E >= Nb * np.float32(10.0 ** (_TONAL_DB / 10.0))
    base &= E_db >= _FLOOR_DB
    if not base.any():
        return [], stats
    rel = E_db - _runmax(E_db, round(7 * sp.u_hi * fs / hop))   # <= 0

    ts = hop / fs                                     # seconds per frame
    t_frame0 = (win / 2) / fs                         # time of frame 0's centre
    cands = []
    pad = np.zeros((E_db.shape[0], T + 1), dtype=np.int8)    # a 0 column separates bins
    for d in _SPLITS_DB:
        on = base & (rel >= -d)
        on[:, 1:-1] |= on[:, :-2] & on[:, 2:]         # close 1-frame holes
        on[:, 1:-1] &= on[:, :-2] | on[:, 2:]         # open 1-frame blips
        on[:, 0] &= on[:, 1]
        on[:, -1] &= on[:, -2]
        pad[:, 1:] = on
        dd = np.diff(pad.ravel())
        st_ = np.flatnonzero(dd == 1) + 1             # sorted by bin, then time
        en_ = np.flatnonzero(dd == -1) + 1
        if st_.size > en_.size:                       # last bin ends "on"
            en_ = np.append(en_, pad.size)
        rk, rs = np.divmod(st_, T + 1)
        re_ = en_ - rk * (T + 1) - 1
        rs = rs - 1
        if rk.size < 4:
            continue
        m = rk.size - 3
        same = rk[:m] == rk[3:]
        if not same.any():
            continue
        o = np.stack([rs[i:i + m] for i in range(4)], axis=1) * ts    # onsets (s)
        f = np.stack([re_[i:i + m] for i in range(4)], axis=1) * ts   # offsets (s)
        u = ((o[:, 3] - o[:, 0]) + (f[:, 3] - f[:, 0])) / 20.0
        mids = (o + f) / 2
        t0 = (mids - _MIDS[None] * u[:, None]).mean(axis=1)
        mid_res = np.abs(mids - _MIDS[None] * u[:, None] - t0[:, None]).max(axis=1)
        dur = f - o
        b = (dur - _DURS[None] * u[:, None]).mean(axis=1)
        dur_res = np.abs(dur - _DURS[None] * u[:, None] - b[:, None]).max(axis=1)
        tol = _RHYTHM_TOL_U * u + ts
        need = _QUIET_AROUND_U * u - b - tol          # measured gaps shrink by the smear b
        idx = np.arange(m)
        prev_same = np.zeros(m, dtype=bool)
        prev_same[1:] = rk[:m - 1] == rk[1:m]
        prev_gap = o[:, 0] - np.concatenate([[0.0], re_[:m - 1] * ts])
        nxt = np.minimum(idx + 4, rk.size - 1)
        nxt_same = (idx + 4 < rk.size) & (rk[nxt] == rk[:m])
        next_gap = rs[nxt] * ts - f[:, 3]
        ok = (same & (u >= sp.u_lo) & (u <= sp.u_hi) & (mid_res <= tol) & (dur_res <= tol)
              & (b >= -0.4 * u) & (b <= 0.6 * u)
              & (~prev_same | (prev_gap >= need)) & (~nxt_same | (next_gap >= need)))
        for i in np.nonzero(ok)[0]:
            s4, e4 = rs[i:i + 4], re_[i:i + 4]
            strength = float(E_db[rk[i], (s4[1] + e4[1]) // 2])      # level mid-dash
            cands.append((strength, d, int(rk[i]), s4, e4, float(u[i]), float(t0[i])))
    stats["rhythm_matches"] = len(cands)

    # Duplicates (neighbouring bins, level splits) cluster in time; verify the strongest few.
    cands.sort(key=lambda c_: -c_[0])
    clusters: list[list] = []                         # [t0, u, attempts, accepted]
    out = []
    for strength, d, kk, s4, e4, u, t0 in cands:
        cl = next((c_ for c_ in clusters if abs(c_[0] - t0) < 0.5 * min(u, c_[1])), None)
        if cl is None:
            cl = [t0, u, 0, False]
            clusters.append(cl)
        if cl[3] or cl[2] >= 3:
            continue
        cl[2] += 1
        stats["verified"] += 1
        res = _verify(P, E_db, kk + (k_lo - b_lo), kk, s4, e4, df, b_lo)
        res.update(time=round(t_offset + t_frame0 - ts / 2 + t0, 4), unit_ms=round(u * 1000, 1),
                   split_db=d)
        reasons = res.pop("reasons")
        if reasons:
            for r in reasons:
                stats["rejected"][r] = stats["rejected"].get(r, 0) + 1
            stats["near_misses"].append(dict(res, reasons=reasons))
            continue
        cl[3] = True
        out.append(res)
    return out, stats


def _verify(P, E_db, kP: int, kE: int, s4, e4, df: float, b_lo: int) -> dict:
    """Measure one rhythm match on the raw levels / frequencies. Returns the metrics and
    ``reasons`` (empty when the match is accepted)."""
    elem_lv, elem_f, lv_std, f_spread = [], [], [], []
    for s, e in zip(s4, e4):
        q = (e - s) // 4                              # interior: the middle half
        a, b = s + q, e - q
        if b <= a:
            a, b = s, e
        lv = E_db[kE, a:b]
        lv_std.append(float(lv.std()))
        elem_lv.append(float(np.median(lv)))
        # peak frequency per frame: local max within +-1 bin, parabolic interpolation (log power)
        c0 = max(kP - 2, 0)
        seg = np.log(P[c0:kP + 3, a:b].T + 1e-20)
        j = np.argmax(seg[:, 1:-1], axis=1) + 1
        rows = np.arange(seg.shape[0])
        l, c, r = seg[rows, j - 1], seg[rows, j], seg[rows, j + 1]
        den = l - 2 * c + r
        delta = np.where(den < -1e-9, 0.5 * (l - r) / np.where(den < -1e-9, den, -1.0), 0.0)
        fr = np.sort((c0 + j + np.clip(delta, -0.5, 0.5) + b_lo) * df)
        med = float(fr[len(fr) // 2])
        elem_f.append(med)
        if len(fr) >= 3:
            p10, p90 = fr[int(0.1 * (len(fr) - 1))], fr[math.ceil(0.9 * (len(fr) - 1))]
            f_spread.append(float((p90 - p10) / med))
    gap_lv = []
    for e, s in zip(e4[:-1], s4[1:]):
        q = (s - e) // 4
        a, b = e + q, s - q
        if b <= a:
            a, b = e, max(s, e + 1)
        gap_lv.append(float(np.median(E_db[kE, a:b])))
    fmed = float(np.median(elem_f))
    m = {
        "tone_hz": round(fmed, 1),
        "contrast_db": round(min(elem_lv) - max(gap_lv), 2),
        "level_db": round(float(np.median(elem_lv)), 2),
        "freq_dev": round(max(abs(v - fmed) for v in elem_f) / fmed, 4),
        "freq_spread": round(max(f_spread, default=0.0), 4),
        "level_spread_db": round(max(elem_lv) - min(elem_lv), 2),
        "level_std_db": round(max(lv_std), 2),
    }
    reasons = []
    if m["level_std_db"] > _LEVEL_STD_DB:
        reasons.append("level_unsteady")
    if m["freq_spread"] > _FREQ_STEADY:
        reasons.append("freq_unsteady")
    if m["freq_dev"] > _FREQ_TOL:
        reasons.append("freq_mismatch")
    if m["level_spread_db"] > _LEVEL_SPREAD_DB:
        reasons.append("level_mismatch")
    if m["contrast_db"] < MIN_CONTRAST_DB:
        reasons.append("low_contrast")
    m["reasons"] = reasons
    return m


def detect_cue(samples: np.ndarray, sample_rate: int, params: CueParams | None = None, *,
               search: str = "ends", max_seconds: float = 10.0) -> CueDetection:
    """Find the "·− ··" rhythm cue; see the module docstring for the method.

    ``samples``: float (or integer PCM) ``(frames, channels)`` or ``(frames,)``.
    ``params=None`` accepts any tone in :data:`TONE_RANGE_HZ` and unit in :data:`UNIT_RANGE_MS`
    (covers the defaults); explicit ``params`` restrict to tone ±5 %, unit ±20 %.
    ``search="ends"``: only the first and last ``max_seconds``; ``"all"``: the whole signal.
    ``score`` is the contrast (dB) of the best verified cue, 0 when none.
    """
    t_start = time.perf_counter()
    _check_rate(sample_rate)
    if search not in ("ends", "all"):
        raise ValueError(f"search must be 'ends' or 'all', got {search!r}")
    if isinstance(max_seconds, bool) or not isinstance(max_seconds, (int, float)) \
            or not math.isfinite(max_seconds) or max_seconds <= 0:
        raise ValueError(f"max_seconds must be a positive number, got {max_seconds!r}")
    sp = _spec_for(sample_rate, params)
    x = np.asarray(samples)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] < 1:
        raise ValueError(f"samples must be (frames,) or (frames, channels), got shape {np.shape(samples)}")
    N = x.shape[0]

    if search == "ends":
        m = round(max_seconds * sample_rate)
        regions = [(0, N)] if N <= 2 * m else [(0, m), (N - m, N)]
    else:
        block = int(30 * sample_rate)
        overlap = math.ceil((14 * sp.u_hi + 2 * _WIN_S) * sample_rate)
        regions, a = [], 0
        while True:
            b = min(N, a + block)
            regions.append((a, b))
            if b >= N:
                break
            a = b - overlap

    found: list[dict] = []
    stats = {"rhythm_matches": 0, "verified": 0, "rejected": {}, "near_misses": []}
    for a, b in regions:
        res, st = _analyse(_mono(x[a:b], sp.decim), sp, a / sample_rate)
        found.extend(res)
        stats["rhythm_matches"] += st["rhythm_matches"]
        stats["verified"] += st["verified"]
        stats["near_misses"].extend(st["near_misses"])
        for k, v in st["rejected"].items():
            stats["rejected"][k] = stats["rejected"].get(k, 0) + v

    # merge duplicates across overlapping regions
    found.sort(key=lambda r: -r["contrast_db"])
    kept: list[dict] = []
    for r in found:
        if all(abs(r["time"] - k["time"]) > 0.5 * min(r["unit_ms"], k["unit_ms"]) / 1000 for k in kept):
            kept.append(r)
    kept.sort(key=lambda r: r["time"])
    score = max((r["contrast_db"] for r in kept), default=0.0)
    details = {
        "cues": kept,
        "min_contrast_db": MIN_CONTRAST_DB,
        "search": search,
        "regions_s": [(round(a / sample_rate, 3), round(b / sample_rate, 3)) for a, b in regions],
        "tone_range_hz": (round(sp.f_lo, 1), round(sp.f_hi, 1)),
        "unit_range_ms": (round(sp.u_lo * 1000, 1), round(sp.u_hi * 1000, 1)),
        "rhythm_matches": stats["rhythm_matches"],
        "verified": stats["verified"],
        "rejected": stats["rejected"],
        # rhythm matches that failed verification (at most 5, strongest contrast first)
        "near_misses": sorted(stats["near_misses"], key=lambda r: -r["contrast_db"])[:5],
        "elapsed_ms": round((time.perf_counter() - t_start) * 1000, 2),
    }
    return CueDetection(found=bool(kept), times=[r["time"] for r in kept], score=float(score),
                        details=details)
