"""Small numeric helpers shared by the watermark engines.

``np.median`` / ``np.percentile`` spend most of their time in generic bookkeeping on the small
arrays the engines use (a few hundred to a few thousand values, called per image, per frame or
per speed hypothesis); :func:`quantile` does the same computation with one ``np.partition``.
:func:`log_ndtr` is scipy.special's, for one float: importing scipy.special cost ~0.5 s of a
service's first call for this one function.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["log_ndtr", "quantile"]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def log_ndtr(x: float) -> float:
    """log of the standard normal CDF at ``x``, accurate far into the lower tail (detection
    p-values reach 1e-300 and beyond): ``log(erfc(-x / sqrt 2) / 2)`` while erfc does not
    underflow, then the asymptotic series (Abramowitz & Stegun 26.2.12), whose first omitted
    term at x = -20 is ~1e-11 relative."""
    x = float(x)
    if x > -20.0:
        return math.log(0.5 * math.erfc(-x / math.sqrt(2.0)))
    x2 = x * x
    series = 1.0 - 1.0 / x2 + 3.0 / x2 ** 2 - 15.0 / x2 ** 3 + 105.0 / x2 ** 4
    return -0.5 * x2 - math.log(-x) - _LOG_SQRT_2PI + math.log(series)


def quantile(a: np.ndarray, q: float, axis: int | None = 0) -> np.ndarray | float:
    """Quantile ``q`` (0..1) of ``a`` along ``axis`` (``None``: of all values), with linear
    interpolation between order statistics: what ``np.quantile(a, q, axis)`` returns (``q=0.5``
    is the median), to float rounding. A float when ``axis`` is None."""
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be within 0..1, got {q!r}")
    a = np.asarray(a)
    # partitioned along the last axis of a C-contiguous copy: np.partition along a strided
    # axis (axis 0 of a (frames, bands) array) runs ~2x slower than on contiguous rows
    part = np.array(np.ravel(a) if axis is None else np.moveaxis(a, axis, -1), order="C", copy=True)
    n = part.shape[-1]
    if n == 0:
        raise ValueError("quantile of an empty array")
    pos = q * (n - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, n - 1)
    if pos == lo or hi == lo:               # an order statistic itself: one partition point
        part.partition(lo, axis=-1)
        out = part[..., lo].copy()
    else:
        part.partition([lo, hi], axis=-1)
        out = part[..., lo] + (pos - lo) * (part[..., hi] - part[..., lo])
    return float(out) if out.ndim == 0 else out
