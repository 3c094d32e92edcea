"""Quick robustness / quality / speed check of the audio watermark (single thread). The full
benchmark (issue #4 targets, held-out clips, FP run) is benchmarks/bench_wm_audio.py.

    python benchmarks/wm_audio_quick.py [--n 8] [--seconds 20] [--null 200] [--attacks mp3_64,noise_20dB]

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
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402
from scipy.signal import butter, resample_poly, sosfilt  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import audio_data as AD  # noqa: E402
from bench_args import at_least, help_list, names_from  # noqa: E402
from synthlabel.core import coding  # noqa: E402
from synthlabel.core import wm_audio as WA  # noqa: E402

SR = 44100
KEY = bytes.fromhex("6b8f0c3e1d2a4b5c6d7e8f901a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d")
OTHER_KEY = bytes(range(32))


# --------------------------------------------------------------------------- clips
# The generators are benchmarks/audio_data.py's (one home for the benchmark clips), at 44.1 kHz
# stereo.

def synth_music(seconds: float, seed: int = 0) -> np.ndarray:
    return AD._shape(AD.synth_music(seconds, SR, seed), 2)


def synth_speech(seconds: float, seed: int = 0) -> np.ndarray:
    return AD._shape(AD.synth_speech(seconds, SR, seed), 2)


def clips(n: int, seconds: float) -> list[tuple[str, np.ndarray]]:
    out = []
    makers = [("music", lambda i: synth_music(seconds, seed=i)),
              ("speech", lambda i: synth_speech(seconds, seed=i)),
              ("gm-midi", lambda i: AD.fluidsynth_music(seconds, SR, seed=i)),
              ("espeak", lambda i: AD.espeak_speech(seconds, SR, seed=i))]
    i = 0
    while len(out) < n and i < 4 * n:
        name, mk = makers[i % len(makers)]
        x = mk(i)
        if x is not None:
            out.append((f"{name}{i}", AD._shape(x, 2)))
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
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=at_least(1), default=8)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--null", type=at_least(0), default=100, help="unmarked clips for the FP check")
    ap.add_argument("--attacks", type=names_from(ATTACKS, "attack"), default=[],
                    help=f"comma list of: {help_list(ATTACKS)} (default: all)")
    a = ap.parse_args()
    names = a.attacks or list(ATTACKS)

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
    det_s = f"{statistics.median(t_det):.0f}" if t_det else "n/a (timed on the 'none' attack)"
    print(f"embed x real time: median {statistics.median(t_emb):.0f}   detect x real time: median {det_s}")

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
