"""The watermark engines' smoothing helpers against the exact Gaussian blurs they stand for."""
import cv2
import numpy as np
import pytest

from synthlabel.core.filters import gaussian, local_contrast, local_mean


def _texture_energy(shape, seed=0):
    """Squared high-pass of a smoothed random field: the kind of map local_mean pools."""
    rng = np.random.default_rng(seed)
    y = cv2.GaussianBlur(rng.uniform(0, 255, shape).astype(np.float32), (0, 0), 1.5)
    y += np.linspace(0, 60, shape[1], dtype=np.float32)[None, :]       # a ramp, for a non-flat map
    hp = y - cv2.GaussianBlur(y, (0, 0), 4.0)
    return hp * hp


@pytest.mark.parametrize("sigma", [1.5, 2.0, 4.0, 6.0])
def test_gaussian_is_the_exact_blur_to_its_truncation(sigma):
    x = _texture_energy((96, 131))
    got, exact = gaussian(x, sigma), cv2.GaussianBlur(x, (0, 0), sigma)
    assert got.shape == x.shape and got.dtype == np.float32
    # the 3-sigma kernel drops 0.27 % of the mass: relative error well under 1 %
    assert np.max(np.abs(got - exact)) <= 0.01 * float(np.max(exact))


@pytest.mark.parametrize("shape", [(256, 455), (97, 64), (255, 256)])
@pytest.mark.parametrize("sigma", [4.0, 6.0])
def test_local_mean_tracks_the_gaussian_it_replaces(shape, sigma):
    x = _texture_energy(shape, seed=shape[0])
    got, exact = local_mean(x, sigma), cv2.GaussianBlur(x, (0, 0), sigma)
    assert got.shape == x.shape and got.dtype == np.float32
    assert np.min(got) >= 0.0                                # positive kernels on a positive map
    inner = (slice(3 * int(sigma), -3 * int(sigma)),) * 2    # borders are handled differently
    rel = np.abs(got[inner] - exact[inner]) / np.mean(exact)
    assert np.max(rel) < 0.01                                # measured: 0.3 % at most
    assert np.corrcoef(got[inner].ravel(), exact[inner].ravel())[0, 1] > 0.9999
    assert np.corrcoef(got.ravel(), exact.ravel())[0, 1] > 0.99         # borders included
    # same total (the pyramid's filters are normalised)
    assert abs(float(np.mean(got)) / float(np.mean(exact)) - 1.0) < 0.01


def test_local_mean_small_inputs_and_sigmas_fall_back_to_the_blur():
    x = _texture_energy((12, 40))
    assert np.array_equal(local_mean(x, 4.0), gaussian(x, 4.0))
    y = _texture_energy((64, 64))
    assert np.array_equal(local_mean(y, 1.5), gaussian(y, 1.5))


def test_a_constant_map_stays_constant():
    x = np.full((50, 77), 3.0, np.float32)
    assert np.allclose(local_mean(x, 6.0), 3.0, atol=1e-5)
    assert np.allclose(gaussian(x, 6.0), 3.0, atol=1e-5)


def test_local_contrast_is_the_high_pass_and_its_local_rms():
    x = _texture_energy((80, 120)).astype(np.float32) ** 0.5
    hp, rms = local_contrast(x, 4.0, 6.0, pool_blur=gaussian)
    assert hp.dtype == rms.dtype == np.float32 and hp.shape == rms.shape == x.shape
    assert np.array_equal(hp, x - gaussian(x, 4.0))
    assert np.allclose(rms, np.sqrt(gaussian(hp * hp, 6.0)), rtol=1e-6)
    # a uint8 plane is accepted as is (cast to float32)
    u = np.clip(x, 0, 255).astype(np.uint8)
    hp8, _ = local_contrast(u, 4.0, 6.0)
    assert np.array_equal(hp8, u.astype(np.float32) - gaussian(u.astype(np.float32), 4.0))
