"""Quick robustness / quality / speed check of the audio watermark (single thread). The full
benchmark (issue #4 targets, held-out clips, FP run) is benchmarks/bench_wm_audio.py.

    python benchmarks/wm_audio_quick.py [--n 8] [--seconds 20] [--null 200] [--attacks mp3_64,noise_20]

Clips: synthesized music (chords with harmonics, melody, bass, drums), synthesized speech
(glottal source with a pitch contour through moving formant filters, with pauses), and, when
installed, espeak-ng speech and a fluidsynth rendering of a generated MIDI file (General MIDI
soundfont). All 44.1 kHz stereo. Prints per attack: exact-payload rate, bit accuracy (coded-bit
hard decisions vs. the embedded codeword, at the detector's chosen alignment), detection rate
(p <= 1e-6), median z; then SNR and embed/detect speed (x real time, one thread); then a
false-positive check on unmarked clips and wrong keys.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402
from scipy.signal import butter, lfilter, resample_poly, sosfilt  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from synthlabel.core import coding  # noqa: E402
from synthlabel.core import wm_audio as WA  # noqa: E402

SR = 44100
KEY = bytes.fromhex("6b8f0c3e1d2a4b5c6d7e8f901a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d")
OTHER_KEY = bytes(range(32))


# --------------------------------------------------------------------------- synthetic clips

def synth_music(seconds: float, sr: int = SR, seed: int = 0) -> np.ndarray:
    """Stereo music-like clip: chord pads with harmonics, a melody, bass, kick/snare/hat."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    L = np.zeros(n)
    R = np.zeros(n)
    bpm = rng.uniform(80, 140)
    beat = 60.0 / bpm
    root = 110.0 * 2 ** (rng.integers(0, 12) / 12)
    scale = np.array([0, 2, 4, 5, 7, 9, 11, 12, 14, 16])
    prog = rng.choice([0, 3, 4, 5], size=64)

    def tone(f, dur, amp, harm, decay, pan):
        m = int(dur * sr)
        t = np.arange(m) / sr
        env = np.minimum(1.0, t / 0.01) * np.exp(-t * decay)
        v = np.zeros(m)
        for k in range(1, harm + 1):
            if f * k > sr / 2.2:
                break
            v += (rng.uniform(0.3, 1.0) / k) * np.sin(2 * np.pi * f * k * t + rng.uniform(0, 6.28))
        return amp * env * v, pan

    def add(pos, sig_pan):
        sig, pan = sig_pan
        a = int(pos * sr)
        if a >= n:
            return
        b = min(n, a + sig.size)
        L[a:b] += sig[: b - a] * (1 - pan)
        R[a:b] += sig[: b - a] * pan

    t = 0.0
    bar = 0
    while t < seconds:
        deg = prog[bar % 64]
        chord = [scale[deg % 7], scale[(deg + 2) % 7], scale[(deg + 4) % 7]]
        for c in chord:
            add(t, tone(root * 2 * 2 ** (c / 12), 4 * beat, 0.12, 10, rng.uniform(0.3, 1.2), rng.uniform(0.3, 0.7)))
        add(t, tone(root / 2 * 2 ** (chord[0] / 12), 2 * beat, 0.35, 6, 1.5, 0.5))
        add(t + 2 * beat, tone(root / 2 * 2 ** (chord[0] / 12), 2 * beat, 0.3, 6, 1.5, 0.5))
        for i in range(8):                       # melody, eighth notes, some rests
            if rng.random() < 0.75:
                f = root * 4 * 2 ** (scale[rng.integers(0, 10)] / 12)
                add(t + i * beat / 2, tone(f, beat * rng.uniform(0.4, 1.0), 0.12, 6, 3.0, rng.uniform(0.2, 0.8)))
        for i in range(4):                       # drums
            kick = np.sin(2 * np.pi * np.cumsum(np.linspace(120, 45, int(0.15 * sr))) / sr)
            kick *= np.exp(-np.arange(kick.size) / (0.05 * sr)) * 0.5
            if i % 2 == 0:
                add(t + i * beat, (kick, 0.5))
            else:
                sn = rng.normal(0, 1, int(0.12 * sr)) * np.exp(-np.arange(int(0.12 * sr)) / (0.03 * sr)) * 0.2
                add(t + i * beat, (sn, 0.5))
            for h in range(2):
                hat = rng.normal(0, 1, int(0.04 * sr))
                hat = np.diff(hat, prepend=0) * np.exp(-np.arange(hat.size) / (0.008 * sr)) * 0.06
                add(t + i * beat + h * beat / 2, (hat, rng.uniform(0.3, 0.7)))
        t += 4 * beat
        bar += 1
    x = np.stack([L, R], axis=1)
    return (0.8 * x / (np.abs(x).max() + 1e-9)).astype(np.float32)


def synth_speech(seconds: float, sr: int = SR, seed: int = 0) -> np.ndarray:
    """Stereo (identical channels) speech-like clip: glottal pulses with a pitch contour through
    moving formant resonators, noise fricatives, and pauses (silence-heavy)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    out = np.zeros(n)
    vowels = np.array([[730, 1090, 2440], [270, 2290, 3010], [300, 870, 2240], [530, 1840, 2480],
                       [570, 840, 2410], [440, 1020, 2240], [660, 1720, 2410]], dtype=float)
    f0base = rng.uniform(95, 210)
    pos = int(rng.uniform(0.1, 0.5) * sr)
    while pos < n:
        dur = int(rng.uniform(0.8, 2.5) * sr)          # a phrase
        m = min(dur, n - pos)
        t = np.arange(m) / sr
        f0 = f0base * (1 + 0.15 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * t) - 0.1 * t / max(t[-1], 1e-3))
        phase = np.cumsum(f0 / sr)
        pulses = np.diff(np.floor(phase), prepend=0.0)
        src = lfilter([1.0], [1.0, -0.97], pulses) - 0.5 * pulses
        seg_len = int(0.12 * sr)
        y = np.zeros(m)
        for s0 in range(0, m, seg_len):
            s1 = min(m, s0 + seg_len)
            if rng.random() < 0.2:                     # fricative
                y[s0:s1] = sosfilt(butter(4, [2500, 6000], "bandpass", fs=sr, output="sos"),
                                   rng.normal(0, 0.05, s1 - s0))
                continue
            v = src[s0:s1]
            for f, bw in zip(vowels[rng.integers(0, 7)], (80, 100, 140)):
                r = np.exp(-np.pi * bw / sr)
                v = lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * f / sr), r * r], v)
            y[s0:s1] = v
        env = np.minimum(1, np.minimum(t, t[-1] - t) / 0.05) * (0.6 + 0.4 * np.abs(np.sin(2 * np.pi * 3 * t)))
        out[pos:pos + m] = y * env
        pos += m + int(rng.uniform(0.3, 1.2) * sr)     # pause
    out = 0.7 * out / (np.abs(out).max() + 1e-9)
    return np.stack([out, out], axis=1).astype(np.float32)


def espeak_speech(seconds: float, seed: int = 0) -> np.ndarray | None:
    exe = shutil.which("espeak-ng")
    if not exe:
        return None
    texts = ["The quick brown fox jumps over the lazy dog while the committee reviews the budget.",
             "Synthetic media should carry a label that survives compression and editing.",
             "Please remember to bring the documents, the keys, and a warm coat tomorrow morning.",
             "Weather today is mostly cloudy with a chance of light rain in the afternoon."]
    rng = np.random.default_rng(seed)
    parts = []
    total = 0
    with tempfile.TemporaryDirectory() as d:
        i = 0
        while total < seconds * SR:
            wav = Path(d) / f"s{i}.wav"
            subprocess.run([exe, "-s", str(int(rng.integers(140, 190))), "-p", str(int(rng.integers(30, 70))),
                            "-w", str(wav), texts[(seed + i) % len(texts)]], check=True, capture_output=True)
            y = _ffmpeg_decode(wav)
            parts.append(y)
            parts.append(np.zeros((int(rng.uniform(0.2, 0.8) * SR), 2), np.float32))
            total += y.shape[0]
            i += 1
    x = np.concatenate(parts)[: int(seconds * SR)]
    return (0.7 * x / (np.abs(x).max() + 1e-9)).astype(np.float32)


def _smf(seconds: float, seed: int) -> bytes:
    """A tiny Standard MIDI File (format 0): piano chords + melody + bass + drums."""
    rng = np.random.default_rng(seed)
    tpq = 480
    events = []                                 # (tick, bytes)

    def note(tick, dur, ch, key, vel):
        events.append((tick, bytes([0x90 | ch, key, vel])))
        events.append((tick + dur, bytes([0x80 | ch, key, 0])))
    progs = [(0, int(rng.choice([0, 4, 24, 48]))), (1, int(rng.choice([0, 73, 40, 56]))), (2, 33)]
    for ch, pg in progs:
        events.append((0, bytes([0xC0 | ch, pg])))
    bpm = int(rng.integers(90, 130))
    beats = int(seconds * bpm / 60) + 1
    root = int(rng.integers(48, 60))
    scale = [0, 2, 4, 5, 7, 9, 11, 12, 14, 16]
    for b in range(0, beats, 4):
        deg = int(rng.choice([0, 3, 4, 5]))
        for c in (0, 2, 4):
            note(b * tpq, 4 * tpq, 0, root + scale[(deg + c) % 7], 70)
        note(b * tpq, 2 * tpq, 2, root - 12 + scale[deg % 7], 90)
        note((b + 2) * tpq, 2 * tpq, 2, root - 12 + scale[deg % 7], 85)
        for i in range(8):
            if rng.random() < 0.7:
                note(b * tpq + i * tpq // 2, tpq // 2, 1, root + 12 + scale[int(rng.integers(0, 10))], 80)
        for i in range(4):
            note((b + i) * tpq, tpq // 4, 9, 36 if i % 2 == 0 else 38, 100)
            note((b + i) * tpq + tpq // 2, tpq // 8, 9, 42, 70)
    events.sort(key=lambda e: e[0])
    trk = bytearray()
    tempo = 60_000_000 // bpm
    trk += b"\x00\xff\x51\x03" + tempo.to_bytes(3, "big")
    last = 0
    for tick, data in events:
        d = tick - last
        last = tick
        vlq = [d & 0x7F]
        d >>= 7
        while d:
            vlq.append(0x80 | (d & 0x7F))
            d >>= 7
        trk += bytes(reversed(vlq)) + data
    trk += b"\x00\xff\x2f\x00"
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, tpq) + b"MTrk" + struct.pack(">I", len(trk)) + bytes(trk)


def fluidsynth_music(seconds: float, seed: int = 0) -> np.ndarray | None:
    exe = shutil.which("fluidsynth")
    sf = next((p for p in ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/soundfonts/FluidR3_GM.sf2",
                           "/usr/share/sounds/sf2/default-GM.sf2") if os.path.exists(p)), None)
    if not exe or not sf:
        return None
    with tempfile.TemporaryDirectory() as d:
        mid = Path(d) / "a.mid"
        wav = Path(d) / "a.wav"
        mid.write_bytes(_smf(seconds, seed))
        subprocess.run([exe, "-ni", "-q", "-g", "0.8", "-r", str(SR), "-F", str(wav), sf, str(mid)],
                       check=True, capture_output=True)
        x = _ffmpeg_decode(wav)
    x = x[: int(seconds * SR)]
    if x.shape[0] < int(seconds * SR):
        x = np.concatenate([x, np.zeros((int(seconds * SR) - x.shape[0], 2), np.float32)])
    return (0.8 * x / (np.abs(x).max() + 1e-9)).astype(np.float32)


def clips(n: int, seconds: float) -> list[tuple[str, np.ndarray]]:
    out = []
    makers = [("music", lambda i: synth_music(seconds, seed=i)),
              ("speech", lambda i: synth_speech(seconds, seed=i)),
              ("gm-midi", lambda i: fluidsynth_music(seconds, seed=i)),
              ("espeak", lambda i: espeak_speech(seconds, seed=i))]
    i = 0
    while len(out) < n and i < 4 * n:
        name, mk = makers[i % len(makers)]
        x = mk(i)
        if x is not None:
            out.append((f"{name}{i}", x))
        i += 1
    return out


# --------------------------------------------------------------------------- attacks

def _ffmpeg_decode(path, sr=SR) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "f32le", "-ac", "2", "-ar", str(sr), "-"],
                         check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.float32).reshape(-1, 2).copy()


def codec(fmt: str, bitrate: str, ext: str, extra=()):
    def a(x):
        with tempfile.TemporaryDirectory() as d:
            src = Path(d) / "in.f32"
            dst = Path(d) / f"out.{ext}"
            src.write_bytes(np.ascontiguousarray(x, np.float32).tobytes())
            subprocess.run(["ffmpeg", "-v", "error", "-f", "f32le", "-ar", str(SR), "-ac", str(x.shape[1]),
                            "-i", str(src), "-c:a", fmt, "-b:a", bitrate, *extra, str(dst)],
                           check=True, capture_output=True)
            return _ffmpeg_decode(dst)
    return a


def resample(sr_to, mono=False):
    def a(x):
        y = x.mean(axis=1, keepdims=True) if mono else x
        g = np.gcd(SR, sr_to)
        return resample_poly(y, sr_to // g, SR // g, axis=0).astype(np.float32), sr_to
    return a


def roundtrip(sr_mid):
    def a(x):
        g = np.gcd(SR, sr_mid)
        y = resample_poly(x, sr_mid // g, SR // g, axis=0)
        return resample_poly(y, SR // g, sr_mid // g, axis=0).astype(np.float32)
    return a


def noise(snr_db, seed=7):
    def a(x):
        rng = np.random.default_rng(seed)
        p = np.mean(x.astype(np.float64) ** 2)
        return (x + rng.normal(0, np.sqrt(p / 10 ** (snr_db / 10)), x.shape)).astype(np.float32)
    return a


def volume(g):
    return lambda x: np.clip(x * g, -1, 1).astype(np.float32)


def filt(kind, hz, order=6):
    sos = butter(order, hz, kind, fs=SR, output="sos")
    return lambda x: sosfilt(sos, x, axis=0).astype(np.float32)


def echo(g=0.3, ms=120):
    def a(x):
        d = int(SR * ms / 1000)
        y = x.astype(np.float64).copy()
        y[d:] += g * x[:-d]
        return (y / max(1.0, np.abs(y).max())).astype(np.float32)
    return a


def to_mono(x):
    return x.mean(axis=1, keepdims=True)


def excerpt(seconds, start=3.217):
    return lambda x: x[int(start * SR): int((start + seconds) * SR)]


def prepend_silence(seconds=1.3):
    return lambda x: np.concatenate([np.zeros((int(seconds * SR), x.shape[1]), x.dtype), x])


def speed(f):
    """Play f times faster by resampling (pitch and tempo change together)."""
    def a(x):
        from fractions import Fraction
        fr = Fraction(f).limit_denominator(200)
        return resample_poly(x, fr.denominator, fr.numerator, axis=0).astype(np.float32)
    return a


def mix_music(db=-10, seed=999):
    def a(x):
        other = synth_music(x.shape[0] / SR + 0.1, seed=seed)[: x.shape[0]]
        other = other * np.sqrt(np.mean(x ** 2) / (np.mean(other ** 2) + 1e-12)) * 10 ** (db / 20)
        return np.clip(x + other, -1, 1).astype(np.float32)
    return a


ATTACKS = {
    "none": lambda x: x,
    "mp3_128": codec("libmp3lame", "128k", "mp3"),
    "mp3_64": codec("libmp3lame", "64k", "mp3"),
    "aac_64": codec("aac", "64k", "m4a"),
    "opus_32": codec("libopus", "32k", "opus"),
    "resample_16k_mono": resample(16000, mono=True),
    "resample_22k_back": roundtrip(22050),
    "noise_20dB": noise(20),
    "volume_0.5": volume(0.5),
    "volume_2_clip": volume(2.0),
    "lowpass_4k": filt("lowpass", 4000),
    "highpass_500": filt("highpass", 500),
    "echo_0.3_120ms": echo(),
    "stereo_to_mono": to_mono,
    "excerpt_10s": excerpt(10.0),
    "excerpt_5s_presence": excerpt(5.0, start=7.71),
    "prepend_1.3s_silence": prepend_silence(),
    "speed_+2%": speed(1.02),
    "speed_-2%": speed(0.98),
    "mix_music_-10dB": mix_music(),
}


def apply(name, x):
    y = ATTACKS[name](x)
    sr = SR
    if isinstance(y, tuple):
        y, sr = y
    return y, sr


def bit_accuracy(y, sr, det, coded) -> float | None:
    """Coded-bit accuracy at the detector's alignment: compare the sign of the per-bit soft
    values (from the details) with the embedded codeword."""
    soft = det.details.get("soft")
    if soft is None:
        return None
    return float(np.mean((np.asarray(soft) > 0) == (coded == 1)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--null", type=int, default=100, help="unmarked clips for the FP check")
    ap.add_argument("--attacks", default="")
    a = ap.parse_args()
    names = [s for s in a.attacks.split(",") if s] or list(ATTACKS)

    cl = clips(a.n, a.seconds)
    print(f"{len(cl)} clips x {a.seconds:.0f} s, 44.1 kHz stereo: {', '.join(c[0] for c in cl)}")
    rng = np.random.default_rng(0)
    marked = []
    snrs, t_emb, t_det = [], [], []
    for name, x in cl:
        payload = int(rng.integers(0, 2 ** 63))
        t0 = time.perf_counter()
        y = WA.embed_audio(x, SR, payload, KEY)
        t_emb.append(a.seconds / (time.perf_counter() - t0))
        d = y.astype(np.float64) - x
        snrs.append(10 * np.log10(np.sum(x.astype(np.float64) ** 2) / max(np.sum(d ** 2), 1e-20)))
        marked.append((name, x, y, payload))

    print(f"\n{'attack':24s} {'exact':>6s} {'bitacc':>7s} {'detect':>7s} {'med z':>6s} {'med log10p':>10s}")
    for att in names:
        ok = det = 0
        zs, lps, accs = [], [], []
        for name, x, y, payload in marked:
            ya, sr = apply(att, y)
            t0 = time.perf_counter()
            r = WA.detect_audio(ya, sr, KEY)
            if att == "none":
                t_det.append((ya.shape[0] / sr) / (time.perf_counter() - t0))
            ok += r.payload == payload
            det += r.detected
            zs.append(r.score)
            lps.append(r.details.get("log10_p", 0.0))
            acc = bit_accuracy(ya, sr, r, coding.encode_payload(payload))
            if acc is not None:
                accs.append(acc)
        k = len(marked)
        acc_s = f"{np.mean(accs):7.3f}" if accs else "    n/a"
        print(f"{att:24s} {ok / k:6.2f} {acc_s} {det / k:7.2f} {statistics.median(zs):6.1f} {statistics.median(lps):10.1f}",
              flush=True)

    print(f"\nSNR dB: median {statistics.median(snrs):.1f}, min {min(snrs):.1f}, max {max(snrs):.1f}")
    print(f"embed x real time: median {statistics.median(t_emb):.0f}   detect x real time: median "
          f"{statistics.median(t_det) if t_det else float('nan'):.0f}")

    # false positives: unmarked clips (fresh seeds) + marked clips with another key
    fp = 0
    zmax = []
    n_null = 0
    for i in range(a.null):
        x = synth_music(8.0, seed=10_000 + i) if i % 2 == 0 else synth_speech(8.0, seed=10_000 + i)
        if i % 3 == 0:
            x = (x + np.random.default_rng(i).normal(0, 0.05, x.shape)).astype(np.float32)
        r = WA.detect_audio(x, SR, KEY)
        fp += r.detected
        zmax.append(r.score)
        n_null += 1
    for name, x, y, payload in marked:
        r = WA.detect_audio(y, SR, OTHER_KEY)
        fp += r.detected or (r.payload is not None)
        zmax.append(r.score)
        n_null += 1
    print(f"false positives: {fp}/{n_null} (unmarked + wrong key); max z {max(zmax):.2f}, "
          f"median z {statistics.median(zmax):.2f}")


if __name__ == "__main__":
    main()
