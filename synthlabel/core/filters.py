"""Gaussian smoothing helpers shared by the watermark engines (float32 2-D arrays in and out).

The engines' front ends blur float32 grids many times per image or video (the image engine's
whitening, texture mask and chroma regression; the video detector's per-frame whitening), and
OpenCV's Gaussian blur is a large part of their cost:

* :func:`gaussian` truncates the kernel at 3 sigma. OpenCV's default for float images is 4 sigma,
  a third more taps for the last 0.3 % of the kernel's mass.
* :func:`local_mean` is for wide blurs whose exact kernel shape does not matter (local energy
  for a mask or a contrast normalisation; the low-pass a wide high-pass subtracts). It blurs at
  half resolution between OpenCV's ``pyrDown`` and ``pyrUp`` (each a 5-tap binomial filter of
  variance 1 pixel^2 at full resolution), with the half-resolution sigma chosen so that the
  three variances add up to ``sigma^2``: a quarter of the pixels and half the taps. Away from
  the borders it is within 0.3 % of the exact blur (tests/test_filters.py); at the borders the
  pyramid's edge handling differs a little.

The image detector's whitening keeps :func:`gaussian` for both of its blurs: with
:func:`local_mean` for its local contrast, the benchmark decoded as many attacked images in
total but one crop + resize + JPEG case flipped below that attack's target (marginal cases
move with any change there). The video detector's whitening (sigmas of 8-13 pixels) uses
:func:`local_mean` for both blurs: same p-values on the same attacked files, 3.6x faster.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = ["gaussian", "local_contrast", "local_mean"]

#: Kernel half-width in sigmas.
TRUNCATE = 3.0
#: Below this sigma (pixels) or this short side, :func:`local_mean` blurs at full resolution:
#: the pyramid's own variance (2 pixel^2) would exceed the blur, or the half grid is too small.
_POOL_MIN_SIGMA = 2.0
_POOL_MIN_SIDE = 16


def gaussian(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of ``x`` (H x W, float32) with a kernel truncated at 3 sigma (reflect-101
    borders, as ``cv2.GaussianBlur``). Returns a new array of the same shape and dtype."""
    k = 2 * int(math.ceil(TRUNCATE * float(sigma))) + 1
    return cv2.GaussianBlur(x, (k, k), float(sigma))


def local_mean(x: np.ndarray, sigma: float) -> np.ndarray:
    """Approximate Gaussian blur (``sigma`` pixels), computed at half resolution (see the module
    notes). ``x``: H x W float32; returns H x W float32."""
    h, w = x.shape
    if sigma < _POOL_MIN_SIGMA or min(h, w) < _POOL_MIN_SIDE:
        return gaussian(x, sigma)
    small = cv2.pyrDown(x)
    # pyrDown and pyrUp each add a variance of 1 full-resolution pixel^2; the blur in between
    # (on the half grid) supplies the rest
    small = gaussian(small, math.sqrt(sigma * sigma - 2.0) / 2.0)
    return cv2.pyrUp(small, dstsize=(w, h))


def local_contrast(x: np.ndarray, hp_sigma: float, pool_sigma: float, *,
                   hp_blur=gaussian, pool_blur=local_mean) -> tuple[np.ndarray, np.ndarray]:
    """(hp, rms): ``x`` (H x W, cast to float32) minus its blur at ``hp_sigma``, and the local
    rms of that high-pass (its square blurred at ``pool_sigma``, square-rooted), both float32
    arrays the caller may modify. ``hp_blur`` / ``pool_blur`` choose :func:`gaussian` or
    :func:`local_mean` for each step. The texture masks and whitenings of both engines are this
    step followed by their own normalisation."""
    x = np.asarray(x, dtype=np.float32)
    hp = x - hp_blur(x, hp_sigma)
    rms = pool_blur(hp * hp, pool_sigma)             # positive kernels: never below 0
    np.sqrt(rms, out=rms)
    return hp, rms
