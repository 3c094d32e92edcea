"""Benchmark image sets for the image watermark (reusable; no downloads).

Natural photos come from the images scikit-image ships *inside its wheel* (``skimage/data/*.png|jpg``:
astronaut, camera, coffee, chelsea, rocket, hubble_deep_field, retina, motorcycle, ...). Images that
``skimage.data`` would fetch with pooch (eagle, lily, skin, brain, cells3d, ...) are never touched:
we load the files from the package folder directly, so nothing reaches the network.

    robustness_set(quick=False) -> list[BenchImage]      # >= 20 images, 512^2 .. 4K, + flat/gradient
    null_images(n, seed) -> iterator of (name, kind, rgb) # unmarked natural crops + synthetic images

All images are uint8 RGB (H x W x 3).
"""
from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

#: Files bundled in the scikit-image wheel (skimage/data/), by name -> file.
BUNDLED = {
    "astronaut": "astronaut.png", "camera": "camera.png", "coffee": "coffee.png",
    "chelsea": "chelsea.png", "rocket": "rocket.jpg", "hubble": "hubble_deep_field.jpg",
    "retina": "retina.jpg", "moto_left": "motorcycle_left.png", "moto_right": "motorcycle_right.png",
    "ihc": "ihc.png", "brick": "brick.png", "grass": "grass.png", "gravel": "gravel.png",
    "moon": "moon.png", "coins": "coins.png", "page": "page.png", "text": "text.png",
    "clock": "clock_motion.png", "cell": "cell.png", "color": "color.png", "logo": "logo.png",
    "horse": "horse.png",
}


@dataclass
class BenchImage:
    name: str
    kind: str          # "natural" | "flat" (flat / gradient: capacity-warned by design)
    rgb: np.ndarray


def _data_dir() -> str:
    import skimage
    return os.path.join(os.path.dirname(skimage.__file__), "data")


@lru_cache(maxsize=None)
def photo(name: str) -> np.ndarray:
    """A bundled scikit-image photo as uint8 RGB (gray photos replicated to 3 channels)."""
    path = os.path.join(_data_dir(), BUNDLED[name])
    x = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if x is None:
        raise FileNotFoundError(path)
    if x.dtype != np.uint8:
        x = cv2.normalize(x, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    if x.ndim == 2:
        x = np.dstack([x, x, x])
    elif x.shape[2] == 4:
        a = x[..., 3:4].astype(np.float32) / 255.0
        x = (x[..., :3] * a + 255.0 * (1 - a)).astype(np.uint8)
        x = x[..., ::-1]
    else:
        x = x[..., ::-1]
    return np.ascontiguousarray(x)


def available_photos() -> list[str]:
    d = _data_dir()
    return [n for n, f in BUNDLED.items() if os.path.exists(os.path.join(d, f))]


def _fit(x: np.ndarray, h: int, w: int) -> np.ndarray:
    """Scale (Lanczos up / area down) to cover h x w, then center-crop to exactly h x w."""
    sh, sw = x.shape[:2]
    c = max(h / sh, w / sw)
    nh, nw = max(h, int(round(sh * c))), max(w, int(round(sw * c)))
    if (nh, nw) != (sh, sw):
        x = cv2.resize(x, (nw, nh), interpolation=cv2.INTER_LANCZOS4 if c > 1 else cv2.INTER_AREA)
    y0, x0 = (nh - h) // 2, (nw - w) // 2
    return np.ascontiguousarray(x[y0:y0 + h, x0:x0 + w])


def _mosaic(names: list[str], h: int, w: int, rows: int, cols: int) -> np.ndarray:
    """A collage of photos at their native scale-ish (keeps real texture at 4K)."""
    out = np.zeros((h, w, 3), np.uint8)
    ys = np.linspace(0, h, rows + 1).astype(int)
    xs = np.linspace(0, w, cols + 1).astype(int)
    k = 0
    for i in range(rows):
        for j in range(cols):
            out[ys[i]:ys[i + 1], xs[j]:xs[j + 1]] = _fit(photo(names[k % len(names)]),
                                                       ys[i + 1] - ys[i], xs[j + 1] - xs[j])
            k += 1
    return out


def flat(h: int, w: int, value=(128, 128, 128)) -> np.ndarray:
    return np.full((h, w, 3), value, np.uint8)


def gradient(h: int, w: int, c0=(40, 60, 90), c1=(220, 200, 170), radial=False) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if radial:
        t = np.hypot(yy - h / 2, xx - w / 2) / np.hypot(h / 2, w / 2)
    else:
        t = (xx / w + yy / h) / 2
    c0, c1 = np.array(c0, np.float32), np.array(c1, np.float32)
    return np.clip(c0 * (1 - t[..., None]) + c1 * t[..., None] + 0.5, 0, 255).astype(np.uint8)


def robustness_set(quick: bool = False) -> list[BenchImage]:
    """>= 20 natural images from 512 x 512 to 4K (3840 x 2160) + flat / gradient images."""
    P = photo
    nat: list[tuple[str, np.ndarray]] = [
        ("astronaut_512", P("astronaut")),
        ("camera_512", P("camera")),
        ("ihc_512", P("ihc")),
        ("gravel_512", P("gravel")),
        ("brick_512", P("brick")),
        ("moon_512", P("moon")),
        ("rocket_512x768", _fit(P("rocket"), 512, 768)),
        ("coffee_600x900", _fit(P("coffee"), 600, 900)),
        ("chelsea_600x900", _fit(P("chelsea"), 600, 900)),
        ("coins_606x768", _fit(P("coins"), 606, 768)),
        ("moto_750x1111", _fit(P("moto_left"), 750, 1111)),
        ("hubble_872x1000", P("hubble")),
        ("retina_crop_1024", P("retina")[190:1214, 190:1214].copy()),
        ("camera_up_1024", _fit(P("camera"), 1024, 1024)),
        ("astronaut_720p", _fit(P("astronaut"), 720, 1280)),
        ("retina_1411", P("retina")),
        ("page_up_768x1536", _fit(P("page"), 768, 1536)),
        ("moto_1080p", _fit(P("moto_right"), 1080, 1920)),
        ("mosaic_1536x2048", _mosaic(["coffee", "rocket", "chelsea", "hubble", "ihc", "moto_left"],
                                     1536, 2048, 2, 3)),
        ("astronaut_up_2048", _fit(P("astronaut"), 2048, 2048)),
        ("coffee_4k", _fit(P("coffee"), 2160, 3840)),
        ("mosaic_4k", _mosaic(["astronaut", "rocket", "retina", "coffee", "gravel", "moto_left",
                               "hubble", "chelsea", "ihc", "camera", "grass", "coins"], 2160, 3840, 3, 4)),
    ]
    flats = [
        ("flat_gray_768x1024", flat(768, 1024)),
        ("gradient_1024", gradient(1024, 1024)),
        ("radial_gradient_720p", gradient(720, 1280, (250, 240, 200), (30, 40, 80), radial=True)),
    ]
    if quick:
        keep = {"astronaut_512", "camera_512", "rocket_512x768", "coffee_600x900", "hubble_872x1000",
                "moto_1080p", "mosaic_4k", "gravel_512"}
        nat = [t for t in nat if t[0] in keep]
        flats = flats[:1]
    return [BenchImage(n, "natural", x) for n, x in nat] + [BenchImage(n, "flat", x) for n, x in flats]


# --------------------------------------------------------------------------- null set

def _text_like(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    bg = rng.integers(180, 256)
    img = np.full((h, w, 3), bg, np.uint8)
    fonts = [cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
             cv2.FONT_HERSHEY_PLAIN, cv2.FONT_HERSHEY_TRIPLEX]
    scale = rng.uniform(0.4, 1.6)
    step = int(30 * scale) + 6
    alphabet = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJ0123456789.,;"
    for y in range(step, h, step):
        s = "".join(rng.choice(list(alphabet), int(w / (12 * scale)) + 1))
        col = tuple(int(v) for v in rng.integers(0, 90, 3))
        cv2.putText(img, s, (int(rng.integers(0, 10)), y), fonts[int(rng.integers(len(fonts)))], scale, col,
                    1 + int(rng.random() < 0.3), cv2.LINE_AA)
    return img


def _synthetic(kind: str, rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    if kind == "noise":
        x = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        s = rng.choice([0.0, 0.7, 1.5, 3.0])
        return cv2.GaussianBlur(x, (0, 0), s) if s else x
    if kind == "gradient":
        c0, c1 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        g = gradient(h, w, tuple(int(v) for v in c0), tuple(int(v) for v in c1), radial=bool(rng.random() < 0.4))
        if rng.random() < 0.5:
            g = np.clip(g + rng.normal(0, rng.uniform(0.5, 3), g.shape), 0, 255).astype(np.uint8)
        return g
    if kind == "flat":
        v = tuple(int(c) for c in rng.integers(0, 256, 3))
        x = flat(h, w, v)
        if rng.random() < 0.5:
            x = np.clip(x + rng.normal(0, rng.uniform(0.3, 2), x.shape), 0, 255).astype(np.uint8)
        return x
    if kind == "text":
        return _text_like(rng, h, w)
    if kind == "shapes":
        x = gradient(h, w, tuple(int(v) for v in rng.integers(0, 256, 3)),
                     tuple(int(v) for v in rng.integers(0, 256, 3)))
        for _ in range(int(rng.integers(3, 30))):
            col = tuple(int(v) for v in rng.integers(0, 256, 3))
            if rng.random() < 0.5:
                cv2.circle(x, (int(rng.integers(0, w)), int(rng.integers(0, h))), int(rng.integers(5, max(6, h // 3))),
                           col, -1, cv2.LINE_AA)
            else:
                p = rng.integers(0, [w, h], (2, 2))
                cv2.rectangle(x, (int(p[0, 0]), int(p[0, 1])), (int(p[1, 0]), int(p[1, 1])), col, -1)
        return x
    if kind == "checker":
        p = int(rng.integers(2, 65))
        yy, xx = np.mgrid[0:h, 0:w]
        c = (((yy // p) + (xx // p)) % 2 * 255).astype(np.uint8)
        return np.dstack([c, c, c])
    raise ValueError(kind)


SYNTH_KINDS = ("noise", "gradient", "flat", "text", "shapes", "checker")
NULL_SIZES = [(256, 256), (384, 512), (512, 512), (480, 640), (600, 800), (768, 1024), (1080, 1920)]


def null_item(i: int, seed: int = 7) -> tuple[str, str, np.ndarray]:
    """The i-th unmarked image (deterministic): 2/3 natural crops/rescales/JPEG of the bundled
    photos, 1/3 synthetic (noise, gradient, flat, text-like, shapes, checkerboard)."""
    rng = np.random.default_rng([seed, i])
    names = available_photos()
    if i % 3 != 2:
        name = names[int(rng.integers(len(names)))]
        x = photo(name)
        H, W = x.shape[:2]
        frac = rng.uniform(0.3, 1.0)
        ch, cw = max(64, int(H * frac * rng.uniform(0.7, 1.0))), max(64, int(W * frac * rng.uniform(0.7, 1.0)))
        ch, cw = min(ch, H), min(cw, W)
        y0, x0 = int(rng.integers(0, H - ch + 1)), int(rng.integers(0, W - cw + 1))
        x = x[y0:y0 + ch, x0:x0 + cw]
        sc = float(rng.choice([1.0, 1.0, rng.uniform(0.5, 3.0)]))
        if sc != 1.0:
            x = cv2.resize(x, (max(32, int(cw * sc)), max(32, int(ch * sc))),
                           interpolation=cv2.INTER_AREA if sc < 1 else cv2.INTER_CUBIC)
        if rng.random() < 0.2:
            M = cv2.getRotationMatrix2D((x.shape[1] / 2, x.shape[0] / 2), float(rng.uniform(-10, 10)), 1.0)
            x = cv2.warpAffine(x, M, (x.shape[1], x.shape[0]), borderMode=cv2.BORDER_REFLECT)
        if rng.random() < 0.4:
            ok, buf = cv2.imencode(".jpg", x, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 96))])
            x = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        return f"{name}_crop{i}", "natural", np.ascontiguousarray(x)
    kind = SYNTH_KINDS[(i // 3) % len(SYNTH_KINDS)]
    h, w = NULL_SIZES[int(rng.integers(len(NULL_SIZES)))]
    if rng.random() < 0.5:
        h, w = w, h
    return f"{kind}{i}", kind, _synthetic(kind, rng, h, w)


def null_images(n: int, seed: int = 7, start: int = 0) -> Iterator[tuple[str, str, np.ndarray]]:
    for i in range(start, start + n):
        yield null_item(i, seed)


if __name__ == "__main__":
    for im in robustness_set():
        print(f"{im.name:24s} {im.kind:8s} {im.rgb.shape[1]}x{im.rgb.shape[0]}")


def command_line() -> str:
    """The command this benchmark was run with, as typed (for the report's "Command:" line,
    so that a figure in RESULTS.md names the options that made it)."""
    script = Path(sys.argv[0]).as_posix()
    script = script[script.index("benchmarks/"):] if "benchmarks/" in script else script
    return " ".join(["python", script, *map(shlex.quote, sys.argv[1:])])
