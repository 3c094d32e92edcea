"""The partition-based quantile equals numpy's (linear interpolation), on every axis."""
import numpy as np
import pytest

from synthlabel.core.numeric import quantile


@pytest.mark.parametrize("shape", [(1,), (2,), (7,), (100,), (1, 13), (37, 5), (256, 455)])
@pytest.mark.parametrize("q", [0.0, 0.25, 0.5, 0.8, 1.0])
def test_matches_numpy(shape, q):
    a = np.random.default_rng(sum(shape)).standard_normal(shape).astype(np.float32)
    for axis in [0, None] + ([1] if len(shape) > 1 else []):
        got, want = quantile(a, q, axis=axis), np.quantile(a, q, axis=axis)
        assert np.allclose(got, want, rtol=1e-6, atol=1e-6)
    assert isinstance(quantile(a, q, axis=None), float)


def test_median_of_even_count_is_the_mean_of_the_middle_pair():
    assert quantile(np.array([4.0, 1.0, 3.0, 2.0]), 0.5) == 2.5


def test_rejects_bad_input():
    with pytest.raises(ValueError):
        quantile(np.arange(3.0), 1.5)
    with pytest.raises(ValueError):
        quantile(np.zeros((0, 3)), 0.5)


def test_log_ndtr_matches_scipy_in_both_tails():
    from scipy.special import log_ndtr as reference

    from synthlabel.core.numeric import log_ndtr

    xs = np.concatenate([np.linspace(-60, 10, 1401), [-19.999, -20.0, -20.001, -38.5, -200.0, 40.0]])
    ours = np.array([log_ndtr(x) for x in xs])
    ref = reference(xs)
    assert np.allclose(ours, ref, rtol=1e-9, atol=1e-14), np.max(np.abs(ours - ref))
