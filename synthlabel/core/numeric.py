"""Small numeric helpers shared by the watermark engines.

``np.median`` / ``np.percentile`` spend most of their time in generic bookkeeping on the small
arrays the engines use (a few hundred to a few thousand values, called per image, per frame or
per speed hypothesis); :func:`quantile` does the same computation with one ``np.partition``.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["quantile"]


def quantile(a: np.ndarray, q: float, axis: int | None = 0) -> np.ndarray | float:
    """Quantile ``q`` (0..1) of ``a`` along ``axis`` (``None``: of all values), with linear
    interpolation between order statistics: what ``np.quantile(a, q, axis)`` returns (``q=0.5``
    is the median), to float rounding. A float when ``axis`` is None."""
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be within 0..1, got {q!r}")
    if axis is None:
        a = np.ravel(a)
        axis = 0
    a = np.moveaxis(np.asarray(a), axis, 0)
    n = a.shape[0]
    if n == 0:
        raise ValueError("quantile of an empty array")
    pos = q * (n - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, n - 1)
    part = np.partition(a, [lo, hi] if hi != lo else lo, axis=0)
    out = part[lo] + (pos - lo) * (part[hi] - part[lo])
    return float(out) if out.ndim == 0 else out
