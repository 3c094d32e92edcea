"""Audio watermark (synthlabel.core.wm_audio): round trip, keys, false positives, codec,
excerpts, streaming, silence, SNR, validation. Synthesized audio only (no downloads)."""
from __future__ import annotations

import math
import subprocess

import numpy as np
import pytest

from conftest import require_tool
from synthlabel.core import wm_audio as WA

SR = 44100
KEY = bytes.fromhex("00112233445566778899aabbccddeeff0123456789abcdef0011223344556677")
PAYLOAD = 0x0123456789ABCDEF


def music(seconds: float, seed: int = 0, sr: int = SR, stereo: bool = True) -> np.ndarray:
    """Music-like clip: chords of harmonic tones with decays, bass, melody and noise hits."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    x = np.zeros(n)
    t_note = 0.0
    beat = rng.uniform(0.35, 0.6)
    while t_note < seconds:
        a = int(t_note * sr)
        root = 110.0 * 2 ** (rng.integers(0, 24) / 12)
        for ratio, amp in ((1.0, 0.5), (1.26, 0.3), (1.5, 0.3), (4.0, 0.2)):
            m = min(n - a, int(beat * sr * rng.uniform(1.0, 3.0)))
            tt = np.arange(m) / sr
            env = np.minimum(1, tt / 0.01) * np.exp(-tt * rng.uniform(0.5, 4))
            for k in range(1, 9):
                x[a:a + m] += amp / k * env * np.sin(2 * np.pi * root * ratio * k * tt + rng.uniform(0, 6.3))
        m = min(n - a, int(0.08 * sr))
        x[a:a + m] += 0.4 * rng.normal(0, 1, m) * np.exp(-np.arange(m) / (0.015 * sr))
        for half in (0, 1):                       # melody: two notes per beat, 500-1800 Hz
            b0 = a + int(half * beat * sr / 2)
            m = min(n - b0, int(beat * sr / 2))
            if m <= 0:
                continue
            tt = np.arange(m) / sr
            f = 500.0 * 2 ** (rng.integers(0, 22) / 12)
            env = np.minimum(1, tt / 0.005) * np.exp(-tt * 6)
            x[b0:b0 + m] += 0.25 * env * (np.sin(2 * np.pi * f * tt) + 0.4 * np.sin(4 * np.pi * f * tt))
        t_note += beat
    x = 0.7 * x / np.abs(x).max()
    if stereo:
        return np.stack([x, 0.8 * np.roll(x, 37)], axis=1).astype(np.float32)
    return x.astype(np.float32)


@pytest.fixture(scope="module")
def clip():
    return music(20.0, seed=1)


@pytest.fixture(scope="module")
def marked(clip):
    return WA.embed_audio(clip, SR, PAYLOAD, KEY)


def test_round_trip(clip, marked):
    assert marked.shape == clip.shape and marked.dtype == clip.dtype
    det = WA.detect_audio(marked, SR, KEY)
    assert det.detected and det.payload == PAYLOAD
    assert det.p_value < 1e-9
    assert det.offset_seconds is not None and 0 <= det.offset_seconds < det.details["period_seconds"]
    assert det.offset_seconds == pytest.approx(0.0, abs=0.02)
    assert det.speed == pytest.approx(1.0, abs=0.004)
    d = det.to_dict()
    assert d["alg"] == WA.AUDIO_ALG and d["payload"] == PAYLOAD and "soft" not in d["details"]


def test_nominal_read_agrees_and_is_conservative(clip, marked):
    """The read-back's fast path (speed 1 only): the same payload as the full detector on a
    marked clip, an offset excerpt too, with a p-value no smaller (it counts the full search's
    hypotheses); nothing on the unmarked clip or under another key."""
    for x in (marked, marked[SR // 3:]):
        full, fast = WA.detect_audio(x, SR, KEY), WA.nominal_read(x, SR, KEY)
        assert fast.detected and fast.payload == full.payload == PAYLOAD
        assert fast.p_value >= full.p_value * 0.5 and fast.details["n_hypotheses"] >= full.details["n_hypotheses"]
    for x, k in ((clip, KEY), (marked, bytes(32))):
        fast = WA.nominal_read(x, SR, k)
        assert not fast.detected and fast.payload is None


def test_full_detector_reads_what_the_nominal_read_reads(tmp_path, monkeypatch):
    """The speed that scores best on the pilot is not always the one whose payload decodes:
    on a 6 s tone-and-noise clip through AAC at 160 kb/s, keys 28 and 99 of this seed had
    their payload at speed 1 (where labeling's read-back found it) while the search chose
    1.0005 / 0.9995 and decoded nothing, so verify missed a payload labeling had checked (a
    flaky video test). The detector now retries speed 1 when the searched speed's payload
    fails, counted in the p-value whether it runs or not. Which keys need the retry moves with
    any change to the embedder (a search over the 100: keys 28 and 99 when this was written,
    57 alone since stop 47's onset gate), so the test keeps each one found."""
    ffmpeg = require_tool("ffmpeg")

    def decoded(path):
        out = subprocess.run([ffmpeg, "-v", "error", "-i", str(path), "-f", "f32le", "-ac", "1", "-"],
                             capture_output=True, check=True).stdout
        return np.frombuffer(out, np.float32).reshape(-1, 1).copy()

    import soundfile as sf
    src = tmp_path / "src.m4a"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "sine=f=300:d=6,volume=0.5", "-f", "lavfi",
                    "-i", "anoisesrc=d=6:a=0.1:seed=7", "-filter_complex", "[0][1]amix=inputs=2[a]",
                    "-map", "[a]", "-ar", "44100", "-c:a", "aac", "-b:a", "64k", str(src)], check=True)
    x = decoded(src)
    rng = np.random.default_rng(1)
    keys = [(rng.bytes(32), int(rng.integers(0, 2**63))) for _ in range(100)]
    retried = 0
    for key, pay in (keys[57], keys[28], keys[99], keys[0]):
        sf.write(tmp_path / "m.wav", WA.embed_audio(x, SR, pay, key), SR, subtype="FLOAT")
        subprocess.run([ffmpeg, "-v", "error", "-y", "-i", str(tmp_path / "m.wav"), "-c:a", "aac",
                        "-b:a", "160k", str(tmp_path / "m.m4a")], check=True)
        z = decoded(tmp_path / "m.m4a")
        full, fast = WA.detect_audio(z, SR, key), WA.nominal_read(z, SR, key)
        if fast.payload == pay:
            assert full.payload == pay, "verify misses a payload the read-back found"
            assert full.p_value <= fast.p_value
        with monkeypatch.context() as m:
            m.setattr(WA, "NOMINAL_RETRY_LOG10_P", -math.inf)      # no retry: the old detector
            old = WA.detect_audio(z, SR, key)
        assert old.details["n_hypotheses"] == full.details["n_hypotheses"]
        retried += old.payload is None and full.payload == pay
    assert retried >= 1, "no clip needed the nominal retry (another AAC encoder?)"


def test_bytes_payload_and_float64_mono():
    x = music(12.0, seed=2, stereo=False).astype(np.float64)
    y = WA.embed_audio(x, 22050 * 2, PAYLOAD.to_bytes(8, "big"), KEY)
    assert y.shape == x.shape and y.dtype == np.float64
    assert WA.detect_audio(y, 44100, KEY).payload == PAYLOAD


def test_wrong_key(marked):
    det = WA.detect_audio(marked, SR, bytes(32))
    assert not det.detected and det.payload is None and det.p_value > 1e-3


def test_unmarked_not_detected():
    rng = np.random.default_rng(5)
    for i in range(30):
        x = music(6.0, seed=100 + i, sr=16000, stereo=False)
        if i % 2:
            x = (x + rng.normal(0, 0.1, x.shape)).astype(np.float32)
        if i % 5 == 0:
            x = rng.normal(0, 0.2, x.shape).astype(np.float32)
        det = WA.detect_audio(x, 16000, KEY)
        assert det.p_value > 1e-6 and not det.detected and det.payload is None


def test_mp3_64k(marked):
    ffmpeg = require_tool("ffmpeg")
    raw = np.ascontiguousarray(marked, np.float32).tobytes()
    enc = subprocess.run([ffmpeg, "-v", "error", "-f", "f32le", "-ar", str(SR), "-ac", "2", "-i", "-",
                          "-c:a", "libmp3lame", "-b:a", "64k", "-f", "mp3", "-"],
                         input=raw, capture_output=True, check=True).stdout
    dec = subprocess.run([ffmpeg, "-v", "error", "-f", "mp3", "-i", "-", "-f", "f32le", "-ac", "2", "-"],
                         input=enc, capture_output=True, check=True).stdout
    y = np.frombuffer(dec, np.float32).reshape(-1, 2)
    det = WA.detect_audio(y, SR, KEY)
    assert det.detected and det.payload == PAYLOAD


def test_excerpt_odd_offset(marked):
    start = int(4.321 * SR)
    y = marked[start:start + 10 * SR]
    det = WA.detect_audio(y, SR, KEY)
    assert det.detected and det.payload == PAYLOAD
    period = det.details["period_seconds"]
    expect = (-4.321) % period
    assert min(abs(det.offset_seconds - expect), period - abs(det.offset_seconds - expect)) < 0.03


def test_band_reliability_weighting(monkeypatch):
    # a folded feature block whose upper bands carry no mark but loud noise (what a low-pass,
    # noise over weak bands or a narrowband host leaves): weighting each band by its pilot-
    # measured reliability keeps the payload decodable; equal weights let the dead bands win
    from synthlabel.core import coding, wm_audio_params as P
    pat = WA.pattern(KEY)
    rng = np.random.default_rng(8)
    cells = WA.cell_signs(pat, coding.encode_payload(PAYLOAD))           # (PERIOD_CELLS, NB)
    live = np.arange(WA.NB) < 5
    B = rng.normal(0, 3.0, (WA.PF, WA.NB))
    o = 37
    rows = (o + np.arange(cells.shape[0]) * WA.CF) % WA.PF
    B[rows] = np.where(live, cells + rng.normal(0, 1.0, cells.shape), rng.normal(0, 6.0, cells.shape))
    truth = coding.encode_payload(PAYLOAD) == 1
    monkeypatch.setattr(P, "BAND_MRC", False)
    flat = WA._soft_values(B, o, pat)
    monkeypatch.setattr(P, "BAND_MRC", True)
    mrc = WA._soft_values(B, o, pat)
    acc = lambda s: float(np.mean((s > 0) == truth))  # noqa: E731
    assert acc(mrc) > acc(flat) + 0.1
    assert coding.decode_payload(mrc).payload == PAYLOAD
    assert coding.decode_payload(flat, list_size=16).payload is None


def test_crc_in_presence_p_value(marked):
    # unmarked: p = p_pilot / (1 - CRC_WEIGHT); marked: a CRC that holds multiplies the pilot's
    # p-value by the chance of a false CRC over every path checked
    from synthlabel.core import wm_audio_params as P
    import math
    noise = np.random.default_rng(2).normal(0, 0.1, (8 * SR, 2)).astype(np.float32)
    det = WA.detect_audio(noise, SR, KEY)
    assert not det.details["crc_ok"]
    assert det.details["log10_p"] == pytest.approx(min(0.0, det.details["pilot_log10_p"] - math.log10(1 - P.CRC_WEIGHT)))
    det = WA.detect_audio(marked, SR, KEY)
    assert det.details["crc_ok"] and det.payload == PAYLOAD
    crc = math.log10(WA.N_CHECKS * 2.0 ** -24 / P.CRC_WEIGHT)
    # list paths of every attempt, the finer pass's plain decodes, the nominal retry's (both passes)
    assert WA.N_CHECKS == P.N_DECODE * P.LIST_SIZE + P.N_DECODE + 2 * P.N_DECODE
    assert det.details["log10_p"] == pytest.approx(det.details["pilot_log10_p"] + crc)


def tonal(seconds: float, sr: int, seed: int) -> np.ndarray:
    """Noiseless tonal music: a decaying note every 0.5 s (4 harmonics of 220-415 Hz) over a
    110 Hz pad. Mono float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = np.zeros_like(t)
    for k in range(int(seconds / 0.5)):
        a, b = int(k * 0.5 * sr), min(t.size, int((k + 1) * 0.5 * sr))
        f0 = 220 * 2 ** (rng.integers(0, 12) / 12)
        env = np.exp(-(t[a:b] - k * 0.5) * 4)
        for h in range(1, 5):
            x[a:b] += env * np.sin(2 * np.pi * f0 * h * t[a:b]) / h
    x += 0.2 * np.sin(2 * np.pi * 110 * t)
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def test_tonal_excerpt_off_the_hop_grid(monkeypatch):
    """A 5 s excerpt of noiseless tonal music that starts between the detector's two sub-hop
    phases (80 and 48 samples past the 128-sample hop at 16 kHz): the READ_PHASES pass finds
    the mark and its payload; with only DET_PHASES nothing is detected (the tone's window
    leakage carries the mark in every band only in step with the embedder's frames)."""
    from synthlabel.core import wm_audio_params as P
    sr = 16000
    y = WA.embed_audio(tonal(12.0, sr, seed=1), sr, PAYLOAD, KEY)
    # (96048 was the second offset until stop 29: with the split features its first pass reads
    # the payload, weakly (p 3e-7), so the finer pass never runs there; 64048 is as far off
    # the grid. Over 24 random 5 s excerpts of tonal clips they read 23 payloads, 12 before.)
    for start in (32080, 64048):
        e = y[start:start + 5 * sr]
        det = WA.detect_audio(e, sr, KEY)
        assert det.detected and det.payload == PAYLOAD and det.p_value < 1e-12
        assert det.details["sub_hop_phases"] == P.READ_PHASES
        with monkeypatch.context() as m:
            m.setattr(P, "READ_PHASES", P.DET_PHASES)
            assert not WA.detect_audio(e, sr, KEY).detected


def test_read_phases_counted_when_not_read(marked, monkeypatch):
    """A mark the DET_PHASES phases read never runs the finer pass, yet its p-value counts
    every READ_PHASES phase: the count does not depend on which path was taken."""
    from synthlabel.core import wm_audio_params as P

    def no_finer_pass(*a, **k):
        raise AssertionError("the finer pass ran on a mark the first pass read")

    monkeypatch.setattr(WA, "_read_front", no_finer_pass)
    det = WA.detect_audio(marked, SR, KEY)
    assert det.payload == PAYLOAD and det.details["sub_hop_phases"] == P.DET_PHASES
    phases = P.READ_PHASES
    extra = (phases - P.DET_PHASES) * WA.PF              # hypotheses per window not read
    assert extra > 0
    monkeypatch.setattr(P, "READ_PHASES", P.DET_PHASES)
    base = WA.detect_audio(marked, SR, KEY)
    assert base.payload == PAYLOAD and base.details["z"] == det.details["z"]
    w = det.details["windows"]
    # two stage-3 reads are counted (the searched speed's and the nominal retry's), each with
    # w windows or, reading one frame more, w + 1
    assert det.details["n_hypotheses"] - base.details["n_hypotheses"] in \
        (extra * 2 * w, extra * (2 * w + 1), extra * (2 * w + 2))
    assert det.p_value > base.p_value
    # inputs longer than READ_MAX_PERIODS periods never read the finer phases nor count them
    long = np.concatenate([marked, marked[: 5 * SR]])
    assert long.shape[0] > P.READ_MAX_PERIODS * WA.PF * WA.H / WA.FS * SR
    monkeypatch.setattr(P, "READ_PHASES", phases)
    n_read = WA.detect_audio(long, SR, KEY).details["n_hypotheses"]
    monkeypatch.setattr(P, "READ_PHASES", P.DET_PHASES)
    assert WA.detect_audio(long, SR, KEY).details["n_hypotheses"] == n_read


def test_stage1_early_exit_keeps_count_and_result(marked, monkeypatch):
    """A mark beyond doubt at the nominal speed stops the coarse speed search there; the
    p-value still counts every coarse hypothesis, and the result is the full search's."""
    from synthlabel.core import wm_audio_params as P
    calls = []
    real = WA._search

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(WA, "_search", counting)
    fast = WA.detect_audio(marked, SR, KEY)
    n_fast = len(calls)
    monkeypatch.setattr(P, "EARLY_EXIT_P", 0.0)                  # never stop early
    calls.clear()
    full = WA.detect_audio(marked, SR, KEY)
    assert len(calls) > n_fast + 20                               # 16 coarse speeds x 2 phases skipped
    assert fast.payload == full.payload == PAYLOAD
    assert fast.details["n_hypotheses"] == full.details["n_hypotheses"]
    assert fast.p_value == pytest.approx(full.p_value, rel=1e-6)
    assert fast.speed == full.speed and fast.offset_seconds == full.offset_seconds


@pytest.mark.parametrize("layout", ["stereo float32", "mono 1-D float64"])
def test_streaming_equals_one_shot(clip, layout):
    # embed_audio writes its chunks into one preallocated output; the streaming API returns
    # them: both must give the same samples, shape and dtype (also for a length that ends
    # inside a chunk, and for a 1-D mono input); an empty block (a decoder's, at a seam)
    # is taken, not a crash
    if layout == "stereo float32":
        x, ch = clip[: 9 * SR], 2
    else:
        x, ch = clip[: 5 * SR + 123, 0].astype(np.float64), 1
    ref = WA.embed_audio(x, SR, PAYLOAD, KEY)
    assert ref.shape == x.shape and ref.dtype == x.dtype
    assert not np.array_equal(ref, x)
    rng = np.random.default_rng(3)
    for sizes in ([1, 0, 7, 4410, 100000], None):
        emb = WA.AudioEmbedder(SR, ch, PAYLOAD, KEY)
        outs, pos = [], 0
        while pos < x.shape[0]:
            n = int(rng.integers(1, 30000)) if sizes is None else sizes[len(outs) % len(sizes)]
            outs.append(emb.process(x[pos:pos + n]))
            pos += n
        outs.append(emb.flush())
        y = np.concatenate(outs)
        assert y.shape == ref.shape and y.dtype == ref.dtype
        assert np.array_equal(y, ref)
    # A stream reader or an audio callback refills one buffer: the embedder kept views of the
    # blocks it still needed (its output lags by about a chunk), so later samples leaked into
    # the marked output (max error 0.53 on a 0.48-peak input; QA, stop 44)
    emb = WA.AudioEmbedder(SR, ch, PAYLOAD, KEY)
    buf = np.empty((4096,) + x.shape[1:], dtype=x.dtype)
    outs = []
    for pos in range(0, x.shape[0], 4096):
        n = min(4096, x.shape[0] - pos)
        buf[:n] = x[pos:pos + n]
        outs.append(emb.process(buf[:n]))
    outs.append(emb.flush())
    assert np.array_equal(np.concatenate(outs), ref)


def test_silence_stays_silent():
    x = music(12.0, seed=4)
    x[3 * SR:7 * SR] = 0.0
    y = WA.embed_audio(x, SR, PAYLOAD, KEY)
    quiet = y[int(3.2 * SR):int(6.8 * SR)]
    assert np.max(np.abs(quiet)) < 1e-4
    z = WA.embed_audio(np.zeros((SR * 3, 2), np.float32), SR, PAYLOAD, KEY)
    assert np.max(np.abs(z)) == 0.0


def test_pure_tone_gentle():
    # a steady tone gets the smallest modulation depth and the residual stays on the tone
    sr = 16000
    t = np.arange(6 * sr) / sr
    x = (0.3 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    y = WA.embed_audio(x, sr, PAYLOAD, KEY)
    d = (y.astype(np.float64) - x)[sr:-sr]
    xs = x[sr:-sr].astype(np.float64)
    assert np.sqrt(np.mean(d ** 2) / np.mean(xs ** 2)) < 0.04       # AM depth (rms) under 4 %
    f = np.fft.rfftfreq(d.size, 1 / sr)
    D = np.abs(np.fft.rfft(d * np.hanning(d.size))) ** 2
    X = np.abs(np.fft.rfft(xs * np.hanning(xs.size))) ** 2
    assert 10 * np.log10(X.sum() / D[np.abs(f - 1000) > 100].sum()) > 40


def test_snr_music(clip, marked):
    d = marked.astype(np.float64) - clip
    snr = 10 * np.log10(np.sum(clip.astype(np.float64) ** 2) / np.sum(d ** 2))
    assert snr >= 30.0


def test_validation():
    x = np.zeros((1000, 2), np.float32)
    with pytest.raises(ValueError):
        WA.embed_audio(x.astype(np.int16), SR, PAYLOAD, KEY)
    with pytest.raises(ValueError):
        WA.embed_audio(np.zeros((10, 2, 2), np.float32), SR, PAYLOAD, KEY)
    with pytest.raises(ValueError):
        WA.embed_audio(x, 4000, PAYLOAD, KEY)
    with pytest.raises(ValueError):
        WA.embed_audio(x, SR, PAYLOAD, b"short")
    with pytest.raises(ValueError):
        WA.embed_audio(x, SR, 2 ** 64, KEY)
    with pytest.raises(ValueError):
        WA.embed_audio(x, SR, b"abc", KEY)
    bad = x.copy()
    bad[3, 0] = np.nan
    with pytest.raises(ValueError):
        WA.embed_audio(bad, SR, PAYLOAD, KEY)
    with pytest.raises(ValueError):
        WA.detect_audio(x, SR, "not bytes")
    with pytest.raises(ValueError):
        WA.AudioEmbedder(SR, 0, PAYLOAD, KEY)
    emb = WA.AudioEmbedder(SR, 2, PAYLOAD, KEY)
    with pytest.raises(ValueError):
        emb.process(np.zeros((10, 1), np.float32))
    emb.flush()
    with pytest.raises(ValueError):
        emb.process(x)
    assert not WA.detect_audio(x[:100], SR, KEY).detected


def test_input_beyond_full_scale_is_refused_not_clipped_silently():
    """embed_audio clipped float input beyond [-1, 1] without a word (label_audio warns), and
    values near 1e308 overflowed the finiteness check with a numpy RuntimeWarning."""
    import warnings

    x = music(2.0, seed=9)
    loud = x * (1.5 / np.abs(x).max())
    with pytest.raises(ValueError, match=r"exceed \[-1, 1\] \(peak 1.5\)"):
        WA.embed_audio(loud, SR, PAYLOAD, KEY)
    kept = WA.embed_audio(loud, SR, PAYLOAD, KEY, clip=False)      # a float output holds them
    assert np.abs(kept).max() > 1.4
    huge = np.full((SR, 2), 1e308)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="far beyond"):
            WA.embed_audio(huge, SR, PAYLOAD, KEY, clip=False)


def test_transposed_or_empty_input_is_a_clear_error():
    """(channels, frames) by mistake used to try a 242 GiB allocation; no frames failed in a
    reshape."""
    x = np.zeros((2, 48000), np.float32)
    with pytest.raises(ValueError, match="transposed"):
        WA.embed_audio(x, 48000, PAYLOAD, KEY)
    with pytest.raises(ValueError, match="empty"):
        WA.embed_audio(np.zeros((0, 2), np.float32), 48000, PAYLOAD, KEY)
    assert not WA.detect_audio(np.zeros((0, 2), np.float32), 48000, KEY).detected


def test_remove_takes_out_the_mark_it_names(clip, marked):
    """AudioEmbedder(remove=True) with the payload and key of a mark that starts at the first
    sample leaves it far under what it was (the detector no longer finds it); another key
    removes nothing (removal, like forgery, needs the key), and a mark laid after the removal
    reads alone (relabeling, labeling_audio)."""
    def run(x, payload, key=KEY, **kw):
        e = WA.AudioEmbedder(SR, x.shape[1], payload, key, **kw)
        return np.concatenate([e.process(x), e.flush()])

    cleaned = run(marked, PAYLOAD, remove=True)
    left = np.sum((cleaned - clip) ** 2) / np.sum((marked - clip) ** 2)
    assert 10 * np.log10(left) < -12, left
    assert WA.detect_audio(cleaned, SR, KEY).p_value > 1e-3
    wrong = run(marked, PAYLOAD, bytes(32), remove=True)
    det = WA.detect_audio(wrong, SR, KEY)
    assert det.detected and det.payload == PAYLOAD
    new = PAYLOAD ^ 0xFFFF0000
    det = WA.detect_audio(run(cleaned, new), SR, KEY)
    assert det.detected and det.payload == new


def test_filter_design_is_scipys_without_importing_scipy_signal():
    """The resampling filter was designed with scipy.signal (kaiserord, firwin), whose import
    took ~1.2 s in every process that labeled or verified audio. The numpy port gives the
    same taps to float rounding (scipy 1.17.1's differ from ours in the last bits, 1e-18 on
    taps up to 0.3; a wrong design differs by far more), and labeling code imports scipy only
    where a cue is analysed."""

    from scipy.signal import firwin, kaiserord

    from synthlabel.core import wm_audio

    for atten in (40, 60, 80, 100):
        for width in (0.0007, 0.003, 0.02, 0.2):
            ntaps, beta = kaiserord(atten, width)
            assert wm_audio._kaiserord(atten, width) == (ntaps, beta)
            for cut, fs in ((7000, 48000), (3500, 16000), (20000, 1411200)):
                want = firwin(ntaps | 1, cut, window=("kaiser", beta), fs=fs)
                np.testing.assert_allclose(wm_audio._kaiser_lowpass(ntaps | 1, cut, beta, fs), want,
                                           rtol=0, atol=1e-15)
    code = ("import sys; import synthlabel.cli, synthlabel.verify, synthlabel.labeling_audio; "
            "before = any(m.startswith('scipy') for m in sys.modules); "
            "from synthlabel.core import wm_audio; wm_audio._filter(44100); wm_audio._filter(16000); "
            "print(before, 'scipy.signal' in sys.modules)")
    import sys

    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.split() == ["False", "False"], r.stdout + r.stderr


def test_the_read_back_warning_names_a_short_clips_length():
    """A clip under half a second was said to be read back from its "first 0 s"."""
    from synthlabel.watermark import audio_readback_warning

    short = WA.embed_audio(music(0.3, seed=2), SR, PAYLOAD, KEY)
    warning = audio_readback_warning(short, SR, PAYLOAD, KEY)
    assert warning is not None and "the labeled signal's first 0.3 s, the mark is" in warning, warning


def test_a_loud_cue_at_both_ends_does_not_weaken_the_read():
    """Quiet music labeled with the rhythm cue at both ends read at p = 2e-31 where one cue
    gave 1e-85: the level weighting's reference (then the 80th percentile of the level) was
    the cue's, and every frame of the music counted less. A 2 % speed change then lost the
    payload (found by QA helper)."""
    from synthlabel.core import audio_cue

    x = music(10.0, seed=12)
    x = (x * (0.025 / np.sqrt(np.mean(x ** 2)))).astype(np.float32)           # about -32 dBFS
    cue, _ = audio_cue.insert_cue(np.zeros((0, 2), np.float32), SR, "start")
    cue = cue.astype(np.float32)
    z = {}
    for name, parts in (("start", [cue, x]), ("both", [cue, x, cue])):
        marked = WA.embed_audio(np.concatenate(parts), SR, PAYLOAD, KEY)
        det = WA.detect_audio(marked, SR, KEY)
        assert det.payload == PAYLOAD, name
        z[name] = det.score
    assert z["both"] > 0.85 * z["start"], z


def test_an_odd_sample_rate_costs_what_a_common_one_does():
    """A 2 s WAV at 47993 Hz took 5-20 s and 6 GB to verify (191999 Hz: 74 s, 21 GB): the exact
    ratio 16000 / 47993 made the resampling filter millions of taps long (found by QA helper).
    An odd rate is resampled by the nearest fraction with small terms; common rates stay
    exact, and the mark still reads at the odd rate."""
    for sr, exact in ((44100, (160, 441)), (48000, (1, 3)), (11025, (640, 441)), (8000, (2, 1))):
        assert WA._ratio(sr) == exact
    for sr in (47993, 8001, 96001, 191999, 44056):
        u, d = WA._ratio(sr)
        assert max(u, d) <= 1000 and abs(u / d * sr / WA.FS - 1) < 2e-4, (sr, u, d)
        assert len(WA._filter(sr)) < 20000, sr
    x = music(10.0, seed=3, sr=47993)
    marked = WA.embed_audio(x, 47993, PAYLOAD, KEY)
    assert WA.detect_audio(marked, 47993, KEY).payload == PAYLOAD


def speechlike(seconds: float, seed: int, sr: int = 16000) -> np.ndarray:
    """Mono speech-like clip: voiced syllables (harmonics of 100-220 Hz), fricatives (high-
    passed noise) and pauses, about a third of the time silent."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    x = np.zeros(n)
    t = 0
    while t < n:
        kind = rng.choice(3, p=[0.45, 0.2, 0.35])          # voiced, fricative, pause
        m = min(int(rng.uniform(0.08, 0.3) * sr), n - t)
        env = np.sin(np.pi * np.arange(m) / m)
        if kind == 0:
            tt = np.arange(m) / sr
            f0 = rng.uniform(100, 220)
            x[t:t + m] = sum(0.6 ** h * np.sin(2 * np.pi * f0 * (h + 1) * tt + rng.uniform(0, 6.3))
                             for h in range(12)) * np.sqrt(env)
        elif kind == 1:
            x[t:t + m] = np.diff(rng.normal(0, 1, m + 2), 2) * env
        t += m
    return (0.7 * x / np.abs(x).max())[:, None].astype(np.float32)


def test_noise_in_the_pauses_is_weighed_out(monkeypatch):
    """White noise added at 20 dB SNR fills speech's pauses and weak bands; those cells hold
    only the noise's fluctuation, which the local normalisation gave full weight. The noise-
    floor weight (wm_audio._noise_weight) reads the mark there with a far smaller p-value, and
    the payload; a stationary host (noise alone, a steady chord) is left unweighted."""
    from synthlabel.core import wm_audio_params as P
    sr = 16000
    for seed in (0, 2):
        x = speechlike(15.0, seed, sr)
        y = WA.embed_audio(x, sr, PAYLOAD, KEY)
        rng = np.random.default_rng(100 + seed)
        noisy = y + rng.normal(0, math.sqrt(float(np.mean(y ** 2)) / 100), y.shape).astype(np.float32)
        weighed = WA.detect_audio(noisy, sr, KEY)
        monkeypatch.setattr(P, "NOISE_WEIGHT_MULT", 0.0)
        plain = WA.detect_audio(noisy, sr, KEY)
        monkeypatch.setattr(P, "NOISE_WEIGHT_MULT", 1.5)
        assert weighed.payload == PAYLOAD, (seed, weighed)
        assert math.log10(weighed.p_value) < math.log10(plain.p_value) - 3, (seed, weighed, plain)
        # the pauses' cells (noise alone) weigh nothing, the syllables' count
        E = rng.uniform(0.5, 1.5, (400, WA.NB)).astype(np.float32)     # band energy per frame
        loud = (np.arange(400) // 40) % 2 == 0              # 40 frames of sound, 40 of pause
        E[loud] *= 100.0
        w = WA._noise_weight(E)
        assert w.shape == E.shape and w.min() >= 0.0 and w.max() <= 1.0
        inside = np.convolve(loud, np.ones(8), "same") == 0   # cells well inside a pause
        assert np.median(w[inside]) < 0.2 and np.median(w[loud]) > 0.95
    # stationary: every cell carries the mark, none is weighed down
    steady = np.random.default_rng(5).uniform(0.8, 1.2, (400, WA.NB)).astype(np.float32)
    assert np.all(WA._noise_weight(steady) == 1.0)


def whisperlike(seconds: float, seed: int, sr: int = 16000) -> np.ndarray:
    """Mono whisper-like clip: noise-excited syllables (white noise through three broad formant
    resonators that move from syllable to syllable, plus some of the noise itself, as the
    aspiration of whispered speech; no voicing) and short pauses."""
    from scipy.signal import lfilter
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    x = np.zeros(n)
    t = 0
    while t < n:
        m = min(int(rng.uniform(0.12, 0.35) * sr), n - t)
        if rng.random() < 0.8:
            s = rng.normal(0, 1, m)
            y = 0.2 * s
            for f, bw in ((rng.uniform(300, 800), 300), (rng.uniform(900, 2200), 400),
                          (rng.uniform(2300, 3200), 500)):
                r = math.exp(-math.pi * bw / sr)
                y += lfilter([1 - r], [1, -2 * r * math.cos(2 * math.pi * f / sr), r * r], s)
            x[t:t + m] = y * np.sin(np.pi * np.arange(m) / m)
        t += m + int(rng.uniform(0.0, 0.1) * sr)
    return (0.5 * x / np.abs(x).max())[:, None].astype(np.float32)


def test_noise_like_sound_gets_a_lower_floor_and_reads(monkeypatch):
    """Whispered speech is noise throughout: its half-band contrasts swing far more than a
    voiced partial's, so at the tonal sound's SNR floor the mark did not read from a short
    clip. Noise masks the mark better than tones do, and the floor is relaxed there by up to
    NOISY_RELIEF_DB (wm_audio._floor_db); tonal sound keeps the full floor."""
    from synthlabel.core import wm_audio_params as P
    sr = 16000
    t = np.arange(4 * sr) / sr
    frames = lambda x: np.abs(np.fft.rfft(WA._frames(x, (x.size - WA.N) // WA.H + 1), axis=1)) ** 2
    noise = np.random.default_rng(3).normal(0, 0.1, 4 * sr)
    chord = sum(0.1 / h * np.sin(2 * np.pi * 180 * h * t) for h in range(1, 16))
    k = 2 * P.MASK_HALF_FRAMES + 1
    assert np.allclose(WA._floor_db(frames(noise), k), P.SNR_FLOOR_DB - P.NOISY_RELIEF_DB)
    assert np.allclose(WA._floor_db(frames(chord), k), P.SNR_FLOOR_DB)
    # a faint tone is still a tone, and a tone just before noise starts keeps the full floor
    assert np.allclose(WA._floor_db(frames(1e-9 * chord), k), P.SNR_FLOOR_DB)
    onset = WA._floor_db(frames(np.r_[0.01 * chord, noise]), k)
    edge = (chord.size - WA.N) // WA.H                      # last frame of the tone alone
    assert np.all(onset[:edge - 3] == P.SNR_FLOOR_DB), onset[edge - 30:edge]
    assert np.allclose(onset[edge + 30:-30], P.SNR_FLOOR_DB - P.NOISY_RELIEF_DB)
    # the residual goes into every channel alike: noise in one channel buys no relief for a
    # quiet tone (or silence) in the other
    for quiet in (0.03 * chord, 0.0 * chord):
        pair = [frames(noise), frames(quiet)]
        mix = frames((noise + quiet) / 2)
        assert np.allclose(WA._floor_db(mix, k, lambda: pair), P.SNR_FLOOR_DB)
    # noise panned to one side: the quieter channel (6 dB under the mix) ends at its own floor
    floor = WA._floor_db(frames(noise), k, lambda: [frames(1.5 * noise), frames(0.5 * noise)])
    assert np.allclose(floor, P.SNR_FLOOR_DB - P.NOISY_RELIEF_DB + 20 * np.log10(2))
    for seed in (2, 3):
        x = whisperlike(8.0, seed, sr)
        hiss = np.random.default_rng(100 + seed).normal(0, 1, x.shape)
        reads = {}
        for relief in (P.NOISY_RELIEF_DB, 0.0):            # as shipped, then the tonal floor everywhere
            monkeypatch.setattr(P, "NOISY_RELIEF_DB", relief)
            y = WA.embed_audio(x, sr, PAYLOAD, KEY)
            d = y.astype(np.float64) - x
            snr = 10 * np.log10(np.sum(x.astype(np.float64) ** 2) / np.sum(d ** 2))
            noisy = y + (hiss * math.sqrt(float(np.mean(y ** 2)) / 100)).astype(np.float32)  # 20 dB
            reads[relief] = (snr, WA.detect_audio(noisy, sr, KEY))
        monkeypatch.undo()
        (snr, new), (old_snr, old) = reads[P.NOISY_RELIEF_DB], reads[0.0]
        assert new.payload == PAYLOAD and old.payload is None, (seed, new, old)
        # the relief is bounded: the residual stays far under the noise it hides in
        assert 24.0 < snr < old_snr - 2.0, (seed, snr, old_snr)


def test_sharp_noise_hits_get_no_louder_pre_echo(monkeypatch):
    """Claps over silence: the frame that takes in a hit spans the quiet before it, and the
    mark it carries is spread over that whole frame. The noise relief made that pre-echo
    5.5-7 dB louder (QA, stop 45); the frames of a sharp onset now keep the full floor, so the
    20 ms before each hit hold what they held without the relief, while the claps' bodies
    keep it."""
    from synthlabel.core import wm_audio_params as P
    sr = 44100
    rng = np.random.default_rng(11)
    x = np.zeros(6 * sr)
    onsets, t, m = [], int(0.3 * sr), int(0.25 * sr)
    env = np.minimum(np.arange(m) / (0.001 * sr), 1.0) * np.exp(-np.arange(m) / (0.06 * sr))
    while t + m < x.size:
        x[t:t + m] = 0.12 * rng.standard_normal(m) * env
        onsets.append(t)
        t += int(0.5 * sr) + int(rng.integers(0, 997))
    x = x[:, None].astype(np.float32)
    w = int(0.020 * sr)

    def levels():
        r = WA.embed_audio(x, sr, PAYLOAD, KEY)[:, 0].astype(np.float64) - x[:, 0]
        db = lambda a, b: np.median([10 * np.log10(np.mean(r[o + a:o + b] ** 2) + 1e-30) for o in onsets])
        return db(-w, 0), db(w, 4 * w)                      # before the hit, in its body
    before, body = levels()
    monkeypatch.setattr(P, "NOISY_RELIEF_DB", 0.0)
    before0, body0 = levels()
    assert abs(before - before0) < 1.0, (before, before0)
    assert body > body0 + 4.0, (body, body0)


def test_noise_in_one_channel_buys_no_louder_mark_in_the_other(monkeypatch):
    """The mark is made on the mix and added to every channel alike. Loud noise in the left
    channel must not relax the floor for a quiet tone in the right one (QA, stop 45: its SNR
    fell 21.5 -> 15.6 dB), while noise in both channels keeps the relief."""
    from synthlabel.core import wm_audio_params as P
    sr, n = 16000, 8 * 16000
    rng = np.random.default_rng(7)
    noise = 0.2 * rng.standard_normal(n)
    tone = 0.01 * np.sin(2 * np.pi * 440 * np.arange(n) / sr)

    def snrs(x):
        d = WA.embed_audio(x, sr, PAYLOAD, KEY).astype(np.float64) - x
        return [10 * np.log10(np.sum(x[:, c] ** 2) / np.sum(d[:, c] ** 2)) for c in range(x.shape[1])]
    split = np.stack([noise, tone], axis=1).astype(np.float32)
    both = np.stack([noise, 0.7 * noise], axis=1).astype(np.float32)
    with_relief = snrs(split), snrs(both)
    monkeypatch.setattr(P, "NOISY_RELIEF_DB", 0.0)
    without = snrs(split), snrs(both)
    assert abs(with_relief[0][1] - without[0][1]) < 0.3, (with_relief, without)   # the tone's channel
    assert with_relief[1][0] < without[1][0] - 4.0, (with_relief, without)        # noise in both
