"""The BLAS polyphase resampler reproduces scipy's resample_poly (same filter, alignment, length)."""
import numpy as np
import pytest
from scipy.signal import resample_poly

from synthlabel.core import wm_audio
from synthlabel.core.resample import Polyphase


@pytest.mark.parametrize("sr", [44100, 48000, 22050, 32000, 8000])
@pytest.mark.parametrize("n", [1, 2, 7, 441, 5000])
def test_matches_resample_poly_both_ways(sr, n):
    up, down = wm_audio._ratio(sr)
    h = wm_audio._filter(sr)
    x = np.random.default_rng(n).standard_normal(n)
    for u, d in ((up, down), (down, up)):
        ref = resample_poly(x, u, d, window=h)
        got = Polyphase(u, d, h)(x)
        assert got.shape == ref.shape
        assert np.max(np.abs(got - ref)) <= 1e-6 * np.max(np.abs(ref))


def test_tone_keeps_its_level_and_frequency():
    # a 1 kHz tone 44.1 kHz -> 16 kHz: same amplitude, same frequency (away from the edges)
    up, down = wm_audio._ratio(44100)
    t = np.arange(44100) / 44100
    y = Polyphase(up, down, wm_audio._filter(44100))(np.sin(2 * np.pi * 1000 * t))
    assert y.size == 16000
    mid = y[2000:14000]
    assert abs(np.sqrt(2 * np.mean(mid ** 2)) - 1.0) < 1e-3
    f = np.fft.rfftfreq(mid.size, 1 / 16000)[np.argmax(np.abs(np.fft.rfft(mid)))]
    assert abs(f - 1000) < 2


def test_rejects_bad_arguments():
    with pytest.raises(ValueError):
        Polyphase(2, 4, np.ones(5))
    with pytest.raises(ValueError):
        Polyphase(2, 3, np.ones(5))(np.zeros((4, 2)))
