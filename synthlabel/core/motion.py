"""Global translation between video frames, for a watermark that follows the picture.

Phase correlation on a central window of a small luma plane: the embedder uses it to move the
frame mark with a pan (so the codec's motion compensation predicts the mark as it predicts the
picture), the detector to register sampled frames before pooling them. Both sides estimate the
*content's* motion with the same function; no key is involved, so registering frames before
the keyed test leaves its p-value valid.

Functions take float32 H x W arrays; nothing here reads files, and the only state is
:class:`ShiftTracker`'s (the previous and the reference spectrum, the position).
"""
from __future__ import annotations

import math

import cv2
import numpy as np

#: Size (px) of the central window the correlation runs on (height x width of a landscape
#: plane): powers of two (fast DFT), smaller when the plane is.
WINDOW_H = 128
WINDOW_W = 256
#: Box high-pass (px) before the correlation: gradients, vignettes and slow fades carry no
#: position and would pull the peak towards zero.
HIGHPASS_BOX = 9
#: Planes between two checks against the reference plane, and the fraction of the window the
#: content may move from the reference before the reference is replaced (the overlap, and
#: with it the peak, shrinks as it moves).
REF_EVERY = 4
REANCHOR = 0.2
#: The expected peak (:func:`correlate`): searched within this many px of where the last
#: step predicts, and taken when it reaches this share of the highest peak.
EXPECT_RADIUS = 2
EXPECT_SHARE = 0.5
#: A correlation peak below this (the phase-only surface's maximum, 1.0 for a pure shift) is
#: treated as "no reliable motion": flat, noisy or changing content.
MIN_PEAK = 0.08


def window_size(h: int, w: int) -> tuple[int, int]:
    """(height, width) of the correlation window for an ``h`` x ``w`` plane: powers of two,
    at most :data:`WINDOW_H` x :data:`WINDOW_W` (swapped for a portrait plane); (0, 0) when the
    plane is too small."""
    wh, ww = (WINDOW_H, WINDOW_W) if w >= h else (WINDOW_W, WINDOW_H)
    sh = 1 << int(math.log2(max(1, min(h, wh))))
    sw = 1 << int(math.log2(max(1, min(w, ww))))
    return (sh, sw) if min(sh, sw) >= 32 else (0, 0)


def highpass(a: np.ndarray) -> np.ndarray:
    """``a`` (float32) minus its :data:`HIGHPASS_BOX` box average: the texture that carries
    position."""
    return a - cv2.blur(a, (HIGHPASS_BOX, HIGHPASS_BOX))


def spectrum(a: np.ndarray, win: np.ndarray) -> np.ndarray:
    """The windowed (``win``: a Hanning window of the correlation window's shape), high-passed
    DFT (OpenCV complex layout) of ``a``'s central window."""
    h, w = a.shape
    sh, sw = win.shape
    y0, x0 = (h - sh) // 2, (w - sw) // 2
    c = highpass(np.asarray(a[y0:y0 + sh, x0:x0 + sw], np.float32))
    c *= win
    return cv2.dft(c, flags=cv2.DFT_COMPLEX_OUTPUT)


def _vertex(m: float, c: float, p: float) -> float:
    """Sub-pixel offset of a correlation peak ``c`` from its neighbours ``m`` (at -1) and ``p``
    (at +1): the vertex of a parabola through their logarithms (a Gaussian peak). With sensor
    noise, as in any real video, it was within 0.07 px of the truth on a textured picture,
    a plain parabola within 0.10 px, and the sinc model (the larger neighbour's share) was off
    by up to 0.38 px around whole-pixel shifts."""
    if m > 0 and c > 0 and p > 0:
        lm, lc, lp = math.log(m), math.log(c), math.log(p)
        den = lm - 2.0 * lc + lp
        if den < 0:
            return max(-0.5, min(0.5, 0.5 * (lm - lp) / den))
    den = m - 2.0 * c + p
    return max(-0.5, min(0.5, 0.5 * (m - p) / den)) if den < 0 else 0.0


def correlate(prev: np.ndarray, cur: np.ndarray, expect: tuple[float, float] | None = None, *,
              radius: int | None = None, share: float | None = None) -> tuple[float, float, float]:
    """(dx, dy, peak): ``cur`` shows ``prev``'s content moved by (dx, dy) px (cur(x) ~
    prev(x - d)), from two :func:`spectrum` results of one size. Whole-pixel peak of the
    phase-only correlation, refined to a fraction of a pixel (:func:`_vertex`).

    ``expect``: where the motion so far says the peak should be. A peak within ``radius``
    (:data:`EXPECT_RADIUS`) px of it is taken when it reaches ``share`` (:data:`EXPECT_SHARE`)
    of the highest one: static things on the screen (a logo, burnt-in text, the label plate,
    a noise pattern) make a second peak at zero shift that can outgrow the picture's own."""
    x = cv2.mulSpectrums(cur, prev, 0, conjB=True)
    mag = cv2.magnitude(x[..., 0], x[..., 1])
    mag += 1e-3
    x = cv2.divide(x, cv2.merge([mag, mag]))          # phase only (4x faster than numpy's)
    r = cv2.idft(x, flags=cv2.DFT_REAL_OUTPUT | cv2.DFT_SCALE)
    _, peak, _, (ix, iy) = cv2.minMaxLoc(r)
    h, w = r.shape
    if expect is not None:
        ex, ey = int(round(expect[0])), int(round(expect[1]))
        k = EXPECT_RADIUS if radius is None else radius
        rows = np.arange(ey - k, ey + k + 1) % h
        cols = np.arange(ex - k, ex + k + 1) % w
        near = r[np.ix_(rows, cols)]
        j = int(np.argmax(near))
        jy, jx = int(rows[j // near.shape[1]]), int(cols[j % near.shape[1]])
        around = r[np.ix_(np.arange(jy - 1, jy + 2) % h, np.arange(jx - 1, jx + 2) % w)]
        # a peak of its own (not the flank of one outside the neighbourhood), high enough
        if near.flat[j] >= around.max() and near.flat[j] >= (EXPECT_SHARE if share is None else share) * peak:
            iy, ix, peak = jy, jx, float(near.flat[j])
    dx = ix + _vertex(r[iy, ix - 1], peak, r[iy, (ix + 1) % w])
    dy = iy + _vertex(r[iy - 1, ix], peak, r[(iy + 1) % h, ix])
    if dx > w / 2:
        dx -= w
    if dy > h / 2:
        dy -= h
    return float(dx), float(dy), float(peak)


class ShiftTracker:
    """Position of each plane's content relative to the first plane's (see :func:`correlate`).

    Two estimates, each covering the other's weakness:

    * plane to plane (every plane): robust, since consecutive planes differ least, but adding
      steps adds their biases (a steady sub-pixel pan is estimated a few hundredths of a pixel
      off every frame, always the same way: pixels of drift after a few seconds, and the mark
      then no longer lines up where the codec and the registered pool look);
    * against a *reference* plane (every :data:`REF_EVERY` planes), for the position without
      that drift. Only a peak within a pixel of where the steps lead is taken: far from the
      reference the picture's own peak shrinks and a static pattern's may outgrow it. The
      reference moves to the current plane once the content has moved :data:`REANCHOR` of
      the window from it, or when it is lost.

    ``update(a)`` returns the (x, y) position in the plane's pixels (0, 0 for the first), or
    None when the correlation is unreliable (peak below :data:`MIN_PEAK`: a cut, a flash, flat
    content; the next planes go on from the last position); ``reset()`` starts a new segment
    (after a seek) at the same position."""

    def __init__(self, h: int, w: int) -> None:
        sh, sw = window_size(h, w)
        self.win = cv2.createHanningWindow((sw, sh), cv2.CV_32F) if sh else None
        self.prev: np.ndarray | None = None
        self.ref: np.ndarray | None = None
        self.ref_pos = np.zeros(2)
        self.pos = np.zeros(2)
        self.velocity = np.zeros(2)                  # last step, for the expected peak
        self.peak = 0.0
        self._n = 0

    def update(self, a: np.ndarray) -> tuple[float, float] | None:
        if self.win is None:
            return None
        spec = spectrum(a, self.win)
        prev, self.prev = self.prev, spec
        if prev is None:
            self._anchor(spec)
            return float(self.pos[0]), float(self.pos[1])
        # the expected peak only once a step is known: expecting "no motion" would favour
        # whatever stands still on the screen at the start of a pan
        dx, dy, self.peak = correlate(prev, spec, self.velocity if self._n else None)
        if self.peak < MIN_PEAK:
            self._anchor(spec)
            self._n = 0
            return None
        self.velocity = np.array((dx, dy))
        pos = self.pos + self.velocity
        self._n += 1
        if self._n % REF_EVERY == 0:
            want = pos - self.ref_pos
            rx, ry, rpeak = correlate(self.ref, spec, want, radius=1, share=0.0)
            if rpeak >= MIN_PEAK and max(abs(rx - want[0]), abs(ry - want[1])) <= 1.5:
                pos = self.ref_pos + (rx, ry)       # (else no peak of its own there: keep the steps)
            self.pos = pos
            far = max(abs(pos[0] - self.ref_pos[0]) / self.win.shape[1],
                      abs(pos[1] - self.ref_pos[1]) / self.win.shape[0])
            if rpeak < MIN_PEAK or far > REANCHOR:
                self._anchor(spec)
        self.pos = pos
        return float(pos[0]), float(pos[1])

    def _anchor(self, spec: np.ndarray) -> None:
        self.ref, self.ref_pos = spec, self.pos.copy()

    def reset(self) -> None:
        self.prev = None
        self.velocity[:] = 0.0
        self._n = 0
