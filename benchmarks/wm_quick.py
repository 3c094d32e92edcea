"""Quick robustness / quality / speed check of the image watermark (single thread).

    python benchmarks/wm_quick.py [--n 10] [--null 200] [--only jpeg75,crop50]

On ~10 synthetic natural-ish images (512^2 .. 4K; no downloads, no extra packages) prints, per
attack: exact-payload rate, detection rate (p <= 1e-6), median pilot z; then PSNR/SSIM and
embed/detect ms per megapixel; then a false-positive check on unmarked and wrong-key images.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_args import at_least, names_from  # noqa: E402
from synthlabel import watermark as W

cv2.setNumThreads(1)

KEY = bytes.fromhex("6b8f0c3e1d2a4b5c6d7e8f901a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d")
OTHER_KEY = bytes(32)
SIZES = [(512, 512), (480, 640), (1024, 768), (1024, 1024), (720, 1280), (600, 800),
         (1080, 1920), (1536, 1536), (1365, 2048), (2160, 3840)]


def natural_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth gradients + anti-aliased shapes + multi-scale texture + sensor noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    c0, c1 = rng.uniform(30, 220, 3), rng.uniform(30, 220, 3)
    t = xx / w * rng.uniform(0.3, 1) + yy / h * rng.uniform(0.3, 1)
    t /= t.max()
    img = (c0 * (1 - t[..., None]) + c1 * t[..., None]).astype(np.float32)
    s = max(h, w) / 512
    for _ in range(int(rng.integers(8, 20))):
        col = tuple(float(v) for v in rng.uniform(0, 255, 3))
        if rng.random() < 0.5:
            cv2.circle(img, (int(rng.integers(0, w)), int(rng.integers(0, h))),
                       int(rng.integers(10, 120) * s), col, -1, cv2.LINE_AA)
        else:
            p = rng.integers(0, [w, h], (2, 2))
            cv2.rectangle(img, tuple(int(v) for v in p[0]), tuple(int(v) for v in p[1]), col, -1, cv2.LINE_AA)
    img = cv2.GaussianBlur(img, (0, 0), s)
    for sc, a in ((1, 10), (3, 12), (8, 15)):
        n = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), sc * s)
        n /= n.std() + 1e-9
        m = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 40 * s)
        m = (m - m.min()) / (np.ptp(m) + 1e-9)
        img += (a * n * m)[..., None] * rng.uniform(0.7, 1.2, 3).astype(np.float32)
    img += rng.normal(0, 1.5, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- attacks

def _codec(x, ext, params):
    ok, buf = cv2.imencode(ext, np.ascontiguousarray(x[..., ::-1]), params)
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy()


def jpeg(q):
    return lambda x: _codec(x, ".jpg", [cv2.IMWRITE_JPEG_QUALITY, q])


def webp(q):
    return lambda x: _codec(x, ".webp", [cv2.IMWRITE_WEBP_QUALITY, q])


def resize(f, fy=None):
    def a(x):
        h, w = x.shape[:2]
        return cv2.resize(x, (max(1, round(w * f)), max(1, round(h * (fy if fy is not None else f)))),
                          interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
    return a


def crop(frac, oy=0.5, ox=0.5, dy=0, dx=0):
    def a(x):
        h, w = x.shape[:2]
        ch, cw = round(h * frac), round(w * frac)
        y0 = min(h - ch, int((h - ch) * oy) + dy)
        x0 = min(w - cw, int((w - cw) * ox) + dx)
        return x[y0:y0 + ch, x0:x0 + cw].copy()
    return a


def rotate(deg):
    def a(x):
        h, w = x.shape[:2]
        M = cv2.getRotationMatrix2D((w / 2, h / 2), deg, 1.0)
        return cv2.warpAffine(x, M, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return a


def blur(s):
    return lambda x: cv2.GaussianBlur(x, (0, 0), s)


def noise(s, seed=5):
    rng = np.random.default_rng(seed)
    return lambda x: np.clip(x + rng.normal(0, s, x.shape), 0, 255).astype(np.uint8)


def affine_levels(g, b):
    return lambda x: np.clip(x.astype(np.float32) * g + b, 0, 255).astype(np.uint8)


def gray(x):
    g = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY)
    return np.dstack([g, g, g])


def chain(*fs):
    def a(x):
        for f in fs:
            x = f(x)
        return x
    return a


# (name, attack, target exact-payload rate)
ATTACKS = [
    ("none", lambda x: x, 1.0),
    ("jpeg90", jpeg(90), 0.95),
    ("jpeg75", jpeg(75), 0.95),
    ("jpeg50", jpeg(50), 0.95),
    ("webp50", webp(50), 0.95),
    ("resize0.5", resize(0.5), 0.95),
    ("resize0.75", resize(0.75), 0.95),
    ("resize1.5", resize(1.5), 0.95),
    ("aspect_w0.8", resize(0.8, 1.0), 0.95),
    ("crop75_center", crop(0.75), 0.95),
    ("crop50_offgrid", crop(0.5, 0.3, 0.7, 3, 5), 0.95),
    ("blur1", blur(1.0), 0.95),
    ("noise5", noise(5.0), 0.95),
    ("bright1.2+10", affine_levels(1.2, 10), 0.95),
    ("contrast0.7+30", affine_levels(0.7, 30), 0.95),
    ("grayscale", gray, 0.95),
    ("resize0.6+jpeg80", chain(resize(0.6), jpeg(80)), 0.95),
    ("rotate2", rotate(2.0), 0.90),
    ("crop80+rs0.7+jpeg60", chain(crop(0.8, 0.4, 0.6, 1, 3), resize(0.7), jpeg(60)), 0.90),
]


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    a = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY).astype(np.float64)
    b = cv2.cvtColor(b, cv2.COLOR_RGB2GRAY).astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    g = lambda x: cv2.GaussianBlur(x, (11, 11), 1.5)
    ma, mb = g(a), g(b)
    va, vb, cov = g(a * a) - ma * ma, g(b * b) - mb * mb, g(a * b) - ma * mb
    s = ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
    return float(s.mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=at_least(1), default=len(SIZES), help="number of images")
    ap.add_argument("--null", type=at_least(0), default=100, help="unmarked images for the FP check")
    ap.add_argument("--only", type=names_from([a[0] for a in ATTACKS], "attack"), default=[],
                    help="comma-separated attack names")
    args = ap.parse_args()
    sizes = (SIZES * 10)[:args.n]
    attacks = [a for a in ATTACKS if not args.only or a[0] in args.only]
    rng = np.random.default_rng(1234)
    stats = {name: {"ok": 0, "det": 0, "z": []} for name, _, _ in attacks}
    psnrs, ssims, emb_ms, det_ms, fp = [], [], [], [], 0
    for i, (h, w) in enumerate(sizes):
        img = natural_image(h, w, seed=100 + i)
        payload = int(rng.integers(0, 2**63)) * 2 + int(rng.integers(0, 2))
        mp = h * w / 1e6
        W.embed_image(img, payload, KEY)       # warm caches
        t0 = time.perf_counter()
        marked = W.embed_image(img, payload, KEY)
        emb_ms.append((time.perf_counter() - t0) * 1e3 / mp)
        psnrs.append(cv2.PSNR(img, marked))
        ssims.append(ssim(img, marked))
        t0 = time.perf_counter()
        W.detect_image(marked, KEY)
        det_ms.append((time.perf_counter() - t0) * 1e3 / mp)
        fp += W.detect_image(img, KEY).detected + W.detect_image(marked, OTHER_KEY).detected
        for name, atk, _ in attacks:
            d = W.detect_image(atk(marked), KEY)
            st = stats[name]
            st["ok"] += d.payload == payload
            st["det"] += d.detected
            st["z"].append(d.score)
        print(f"  image {i + 1}/{len(sizes)} {w}x{h} done", file=sys.stderr)
    n = len(sizes)
    print(f"\n{'attack':22s} {'payload':>8s} {'detect':>7s} {'med z':>6s} {'min z':>6s} target")
    for name, _, target in attacks:
        st = stats[name]
        rate = st["ok"] / n
        flag = "" if rate >= target else "  <-- below target"
        print(f"{name:22s} {rate:8.0%} {st['det'] / n:7.0%} {statistics.median(st['z']):6.1f} "
              f"{min(st['z']):6.1f} {target:.0%}{flag}")
    print(f"\nPSNR dB: median {statistics.median(psnrs):.2f}, min {min(psnrs):.2f}   "
          f"SSIM: median {statistics.median(ssims):.4f}, min {min(ssims):.4f}")
    big = [m for (h, w), m in zip(sizes, emb_ms) if h * w > 4e6]
    print(f"embed ms/MP: median {statistics.median(emb_ms):.1f}, max {max(emb_ms):.1f}"
          + (f"; 4K total {big[0] * 3840 * 2160 / 1e6:.1f} ms" if big else ""))
    print(f"detect ms/MP: median {statistics.median(det_ms):.1f}, max {max(det_ms):.1f}")
    print(f"false positives on {2 * n} unmarked/wrong-key images: {fp}")
    if args.null:
        ps, fpn = [], 0
        for j in range(args.null):
            h, w = [(256, 256), (384, 512), (512, 512)][j % 3]
            x = natural_image(h, w, seed=10_000 + j) if j % 2 else \
                np.random.default_rng(j).integers(0, 256, (h, w, 3), dtype=np.uint8)
            d = W.detect_image(x, KEY)
            ps.append(d.p_value)
            fpn += d.detected
        ps = np.array(ps)
        print(f"null: {args.null} unmarked images: detections {fpn}, min p {ps.min():.2e}, "
              f"median p {np.median(ps):.2f}, frac p<0.1 {np.mean(ps < 0.1):.2f}")


if __name__ == "__main__":
    main()
