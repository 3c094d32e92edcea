"""The frame mark that follows the picture's motion, and the registered pool that reads it.

In memory, on synthetic frames (no codec): the encoder-facing effect (cost) is measured by
``benchmarks/bench_video.py``; the end-to-end labeling of panning clips is in test_video.py.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from synthlabel import watermark
from synthlabel.core import motion, wm_video

KEY = bytes(range(32))
PAYLOAD = 0x5EED_F00D_CAFE_0042


def _texture(h: int, w: int, seed: int = 1) -> np.ndarray:
    """A photo-like float32 texture: blurred noise at two scales."""
    rng = np.random.default_rng(seed)
    fine = cv2.GaussianBlur(rng.normal(0, 30, (h, w)).astype(np.float32), (0, 0), 1.2)
    coarse = cv2.GaussianBlur(rng.normal(0, 60, (h, w)).astype(np.float32), (0, 0), 12.0)
    return np.clip(128 + fine + coarse, 0, 255).astype(np.float32)


def _pan(base: np.ndarray, w: int, step: int, n: int) -> list[np.ndarray]:
    """n uint8 frames of width ``w`` panning ``step`` px per frame to the right (the picture
    moves left by ``step``)."""
    return [np.ascontiguousarray(base[:, i * step:i * step + w]).astype(np.uint8) for i in range(n)]


@pytest.mark.parametrize("dx,dy", [(3.0, 0.0), (-5.5, 2.25), (0.4, -7.0)])
def test_shift_tracker_recovers_a_translation(dx, dy):
    rng = np.random.default_rng(5)
    a = _texture(270, 480)
    m = np.float32([[1, 0, dx], [0, 1, dy]])              # b(x) = a(x - d)
    b = cv2.warpAffine(a, m, (480, 270), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    a, b = (p + rng.normal(0, 2.0, p.shape).astype(np.float32) for p in (a, b))   # sensor noise
    tr = motion.ShiftTracker(270, 480)
    assert tr.update(a) == (0.0, 0.0)                         # positions count from the first
    got = tr.update(b)
    assert got is not None and abs(got[0] - dx) < 0.15 and abs(got[1] - dy) < 0.15, got
    assert tr.peak > 0.2


def test_shift_tracker_says_nothing_without_structure():
    rng = np.random.default_rng(2)
    tr = motion.ShiftTracker(270, 480)
    assert tr.update(np.full((270, 480), 90, np.float32)) == (0.0, 0.0)
    # a flat picture under fresh sensor noise: no peak to trust
    assert tr.update(np.float32(90) + rng.normal(0, 1, (270, 480)).astype(np.float32)) is None
    assert tr.peak < motion.MIN_PEAK
    assert motion.ShiftTracker(20, 20).update(np.zeros((20, 20), np.float32)) is None   # too small


@pytest.mark.parametrize("size,scale", [((1920, 1080), 1), ((1920, 1080), 2), ((854, 480), 1),
                                        ((480, 854), 2), ((480, 270), 1)])
def test_pattern_period_is_the_patterns(size, scale):
    w, h = size
    pat = wm_video.video_pattern(w, h, PAYLOAD, KEY, scale)
    periods = wm_video.pattern_period(w, h, scale)
    ty, tx = (wm_video.whole_period(t, side) for t, side in zip(periods, (h, w)))
    inner = (slice(8, -8), slice(8, -8))
    same_x = np.corrcoef(pat[:, :w - tx][inner].ravel(), pat[:, tx:][inner].ravel())[0, 1]
    same_y = np.corrcoef(pat[:h - ty][inner].ravel(), pat[ty:][inner].ravel())[0, 1]
    half = round(periods[1] / 2)                    # half a period off: another part of the tile
    off = np.corrcoef(pat[:, :w - half][inner].ravel(), pat[:, half:][inner].ravel())[0, 1]
    assert same_x > 0.99 and same_y > 0.99 and abs(off) < 0.3, (same_x, same_y, off)


def _deltas(frames: list[np.ndarray], follow: bool) -> tuple[wm_video.FrameMarker, list[np.ndarray]]:
    h, w = frames[0].shape
    fm = wm_video.FrameMarker(w, h, PAYLOAD, KEY, full_range=True, follow=follow)
    out = []
    for f in frames:
        y = f.copy()
        fm.mark(y)
        out.append(y.astype(np.int16) - f)
    return fm, out


def test_mark_moves_with_the_picture():
    step, n = 6, 8
    frames = _pan(_texture(270, 480 + step * n), 480, step, n)
    fm, deltas = _deltas(frames, follow=True)
    assert abs(fm.offset[0] + step * (n - 1)) < 2.0 and abs(fm.offset[1]) < 1.0, fm.offset
    k = n - 1
    moved = np.corrcoef(deltas[k][:, :480 - step * k].ravel(), deltas[0][:, step * k:].ravel())[0, 1]
    assert moved > 0.9, moved
    # the mark of the releases before stays on the screen: the same comparison fails
    _fm, fixed = _deltas(frames, follow=False)
    stayed = np.corrcoef(fixed[k][:, :480 - step * k].ravel(), fixed[0][:, step * k:].ravel())[0, 1]
    assert abs(stayed) < 0.3, stayed


def test_mark_stays_put_on_a_still_shot():
    rng = np.random.default_rng(3)
    base = _texture(270, 480)
    frames = [np.clip(base + rng.normal(0, 2.0, base.shape), 0, 255).astype(np.uint8) for _ in range(8)]
    fm, deltas = _deltas(frames, follow=True)
    assert tuple(fm.offset) == (0.0, 0.0)
    assert np.corrcoef(deltas[-1].ravel(), deltas[0].ravel())[0, 1] > 0.95


def test_registered_pool_reads_a_mark_that_follows_the_picture():
    step, n = 5, 24
    frames = _pan(_texture(360, 640 + step * n, seed=4), 640, step, n)
    fm = wm_video.FrameMarker(640, 360, PAYLOAD, KEY, full_range=True, follow=True, strength=0.6)
    pool = wm_video.LumaPool()
    for f in frames:
        y = f.copy()
        fm.mark(y)
        pool.add(y)
    regs = pool.registered_images()
    assert len(regs) == 1
    reg = regs[0]
    assert reg.shape[1] > 640 + step * (n - 2)                          # the canvas follows the pan
    static = watermark.detect_image(pool.image(), KEY)
    registered = watermark.detect_image(reg, KEY)
    assert registered.payload == PAYLOAD and registered.p_value < 1e-12
    assert static.p_value > registered.p_value * 1e6        # the static average smears it
    det = wm_video.detect_pooled(pool, KEY)
    assert det.detected and det.payload == PAYLOAD and det.tests == 2
    assert det.p_value == pytest.approx(min(1.0, 2 * registered.p_value), rel=1e-6)
    assert not wm_video.detect_pooled(pool, bytes(32)).detected          # another key


def test_registered_pool_is_skipped_when_nothing_moves():
    base = _texture(270, 480).astype(np.uint8)
    pool = wm_video.LumaPool()
    for _ in range(4):
        pool.add(base)
    assert pool.registered_images() == []
    det = wm_video.detect_pooled(pool, KEY)
    assert det.tests == 1 and not det.detected


def test_mark_left_still_under_a_slow_drift():
    """A drift slower than FOLLOW_SPEED (a zoom's creeping estimate, a nearly still camera) does
    not move the mark: it would cost the codec more than a still mark, and lose the payload."""
    rng = np.random.default_rng(6)
    base = _texture(270, 520)
    v = 0.6 * wm_video.FOLLOW_SPEED
    frames = []
    for i in range(40):
        m = np.float32([[1, 0, -v * i], [0, 1, 0]])
        f = cv2.warpAffine(base, m, (480, 270), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
        frames.append(np.clip(f + rng.normal(0, 1.0, f.shape), 0, 255).astype(np.uint8))
    fm, _ = _deltas(frames, follow=True)
    assert tuple(fm.offset) == (0.0, 0.0)
    assert fm.follow.pos[0] < -0.5 * v * 39                # the drift was seen, and not followed
    # the same picture moving faster is followed, unless the content does not move as a
    # whole (the labeler's motion class: a still shot with something crossing it)
    fast = [np.ascontiguousarray(base[:, 3 * i:3 * i + 480]).astype(np.uint8) for i in range(12)]
    fm, _ = _deltas(fast, follow=True)
    assert abs(fm.offset[0] + 3 * 11) <= 1.0
    # ffmpeg's test pattern: still colour fields with a textured box crossing them
    av = pytest.importorskip("av")
    with av.open("testsrc2=size=320x240:rate=15:duration=2", format="lavfi") as c:
        crossing = [f.to_ndarray(format="gray") for f in c.decode(video=0)]
    fm, _ = _deltas(crossing, follow=True)
    assert np.hypot(*fm.follow.pos) > 20                       # the tracker follows the box...
    assert tuple(fm.offset) == (0.0, 0.0)                      # ...the mark does not


def test_runs_after_seeks_are_tested_apart():
    """Frames after a seek start a new registered run (the picture between was not seen);
    frames sampled alone feed the static pool only. Each run is one more test."""
    step = 5
    base = _texture(360, 640 + 400, seed=7)
    fm = wm_video.FrameMarker(640, 360, PAYLOAD, KEY, full_range=True, follow=True, strength=0.6)
    marked = []
    for f in _pan(base, 640, step, 60):
        y = f.copy()
        fm.mark(y)
        marked.append(y)
    pool = wm_video.LumaPool()
    for i in (0, 25, 50):                           # three runs of 8 frames, seeking between them
        for j in range(8):
            pool.add(marked[i + j], new_run=j == 0)
    pool.add(marked[40], run=False)
    assert len(pool.runs) == 3 and pool.count == 25
    assert [r.frames for r in pool.runs] == [8, 8, 8]
    det = wm_video.detect_pooled(pool, KEY)
    assert det.tests == 4 and det.details["pool"].startswith("registered")
    assert det.detected and det.payload == PAYLOAD


def test_a_still_label_plate_does_not_stop_the_mark_following():
    """The labeler's explicit label stands still over the pan on purpose: left out of the
    "is the motion global" test (FrameMarker.still_rect), the mark follows the pan under it."""
    step, n = 4, 12
    frames = _pan(_texture(270, 480 + step * n, seed=11), 480, step, n)
    plate = np.where(np.indices((60, 200)).sum(axis=0) % 6 < 3, 255, 0).astype(np.uint8)
    for f in frames:
        f[190:250, 260:460] = plate                          # a high-contrast, still text block
    fm = wm_video.FrameMarker(480, 270, PAYLOAD, KEY, full_range=True, follow=True)
    fm.still_rect = (260, 190, 460, 250)
    for f in frames:
        fm.mark(f.copy())
    assert abs(fm.offset[0] + step * (n - 1)) <= 2.0, fm.offset
