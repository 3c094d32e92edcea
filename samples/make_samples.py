"""Generate the bundled sample media (procedural, so they are "generated content" themselves).

    python samples/make_samples.py [OUTDIR]

Writes: scene.png (640x480), scene.jpg (1024x768), tone.wav (10 s, 22.05 kHz mono),
clip.mp4 (2 s, 320x240 H.264 + AAC). Deterministic (seeded); needs numpy, Pillow, PyAV.
"""
from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image


def fractal_noise(h: int, w: int, rng: np.random.Generator, octaves: int = 6) -> np.ndarray:
    """Sum of upsampled random grids: a cheap stand-in for natural texture, in [0, 1]."""
    out = np.zeros((h, w), np.float64)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        gh, gw = 2 + 2**o, 2 + int(2**o * w / h)
        grid = Image.fromarray(rng.random((gh, gw)).astype(np.float32), mode="F")
        out += amp * np.asarray(grid.resize((w, h), Image.BICUBIC), np.float64)
        total += amp
        amp *= 0.55
    out /= total
    return (out - out.min()) / (np.ptp(out) + 1e-9)


def scene(h: int, w: int, seed: int) -> np.ndarray:
    """A landscape: sky gradient, sun, fractal hills, textured ground. RGB uint8."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, h)[:, None]
    x = np.linspace(0, 1, w)[None, :]
    sky = np.stack([0.35 + 0.4 * y, 0.55 + 0.3 * y, 0.95 - 0.1 * y], -1) * np.ones((1, w, 1))
    sun = np.exp(-(((x - 0.72) * w / h) ** 2 + (y - 0.25) ** 2) / 0.004)[..., None]
    img = sky + sun * np.array([0.6, 0.45, 0.1])
    hills = fractal_noise(h, w, rng)
    horizon = 0.45 + 0.18 * np.sin(6 * x + 1.3) + 0.12 * (hills[h // 3][None, :] - 0.5)
    ground = y > horizon
    tex = fractal_noise(h, w, rng, 7)
    grass = np.stack([0.2 + 0.3 * tex, 0.45 + 0.35 * tex, 0.15 + 0.15 * tex], -1)
    img = np.where(ground[..., None], grass * (0.7 + 0.3 * (1 - y[..., None])), img)
    # Clouds in the sky and fine grass detail: generated photos are not airbrush-smooth.
    clouds = np.clip(fractal_noise(h, w, rng, 7) * 1.6 - 0.8, 0, 1)[..., None]
    img = np.where(ground[..., None], img, img * (1 - 0.5 * clouds) + 0.5 * clouds)
    blades = rng.normal(0, 1, (h, w))
    blades = 0.5 * blades + 0.5 * np.roll(blades, 1, axis=0)  # short vertical strokes
    img += np.where(ground, 0.06 * blades, 0.0)[..., None] * np.array([0.8, 1.0, 0.5])
    img += rng.normal(0, 0.012, img.shape)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def tone_wav(path: Path, seconds: float = 10.0, rate: int = 22050) -> None:
    import soundfile as sf

    t = np.arange(int(seconds * rate)) / rate
    notes = [261.63, 329.63, 392.0, 523.25]
    sig = sum(np.sin(2 * np.pi * f * t) * np.exp(-((t % 0.75) * 3)) for f in notes) / len(notes)
    sf.write(path, (0.5 * sig).astype(np.float32), rate, subtype="PCM_16")


def clip_mp4(path: Path, seconds: float = 2.0, fps: int = 15) -> None:
    import av

    rng_seed = 7
    base = scene(240, 480, rng_seed)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = 320, 240, "yuv420p"
        vs.options = {"crf": "28", "preset": "veryfast"}
        a_rate = 22050
        aus = out.add_stream("aac", rate=a_rate)
        aus.layout = "mono"
        for i in range(int(seconds * fps)):
            off = int(i * 160 / (seconds * fps))  # slow pan
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(base[:, off:off + 320]), "rgb24")
            for pkt in vs.encode(frame):
                out.mux(pkt)
        for pkt in vs.encode():
            out.mux(pkt)
        t = np.arange(int(seconds * a_rate)) / a_rate
        samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
        n = 1024
        for start in range(0, samples.shape[1], n):
            af = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, start:start + n]), "fltp", "mono")
            af.sample_rate = a_rate
            af.pts = start
            af.time_base = Fraction(1, a_rate)
            for pkt in aus.encode(af):
                out.mux(pkt)
        for pkt in aus.encode():
            out.mux(pkt)


def main(outdir: Path) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    Image.fromarray(scene(480, 640, 1)).save(outdir / "scene.png", optimize=True)
    Image.fromarray(scene(768, 1024, 2)).save(outdir / "scene.jpg", quality=90)
    tone_wav(outdir / "tone.wav")
    clip_mp4(outdir / "clip.mp4")
    for p in sorted(outdir.iterdir()):
        print(f"{p.name:12s} {p.stat().st_size / 1024:8.1f} KB")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent)
