"""Gaussian smoothing helpers shared by the watermark engines (float32 2-D arrays in and out).

The image engine blurs small float32 grids several times per image (whitening, texture mask,
chroma regression), and OpenCV's Gaussian blur is a large part of its cost:

* :func:`gaussian` truncates the kernel at 3 sigma. OpenCV's default for float images is 4 sigma,
  a third more taps for the last 0.3 % of the kernel's mass.
* :func:`local_mean` is for *pooling* maps that only matter smoothed (the texture mask's local
  energy). It blurs at half resolution between OpenCV's ``pyrDown`` and ``pyrUp`` (each a 5-tap
  binomial filter of variance 1 pixel^2 at full resolution), with the half-resolution sigma
  chosen so that the three variances add up to ``sigma^2``: a quarter of the pixels and half the
  taps. Away from the borders it is within 0.3 % of the exact blur (tests/test_filters.py); at
  the borders the pyramid's edge handling differs a little. Not used for the detector's
  whitening: there the half-resolution pooling changed which marginal crops decode (one
  benchmark image lost the crop + resize + JPEG chain), so the whitening keeps exact blurs.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = ["gaussian", "local_mean"]

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
    """Approximate Gaussian blur (``sigma`` pixels) of a map that is only used smoothed: blurred
    at half resolution (see the module notes). ``x``: H x W float32; returns H x W float32."""
    h, w = x.shape
    if sigma < _POOL_MIN_SIGMA or min(h, w) < _POOL_MIN_SIDE:
        return gaussian(x, sigma)
    small = cv2.pyrDown(x)
    # pyrDown and pyrUp each add a variance of 1 full-resolution pixel^2; the blur in between
    # (on the half grid) supplies the rest
    small = gaussian(small, math.sqrt(sigma * sigma - 2.0) / 2.0)
    return cv2.pyrUp(small, dstsize=(w, h))
