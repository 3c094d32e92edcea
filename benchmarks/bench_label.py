"""Time image labeling per layer and end to end, and verification, at 1 MP and 4K.

    python benchmarks/bench_label.py [--repeat 7] [--threads 1]

Prints medians (ms) per stage: render (visible label), watermark, encode, metadata (XMP),
sign (C2PA, no thumbnail), end to end (label_image on an array), and verify (all four layers).
Images are procedural photo-like scenes (samples/make_samples.py), so no downloads are needed.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "samples"))
from make_samples import scene  # noqa: E402
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_args import at_least, names_from  # noqa: E402

import synthlabel  # noqa: E402
from synthlabel.models import LabelSpec  # noqa: E402

SIZES = {"1MP (1024x1024)": (1024, 1024), "4K (3840x2160)": (2160, 3840)}
STAGES = ("render", "watermark", "readback", "encode", "metadata", "sign")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=at_least(1), default=7,
                    help="timed runs per image and format; medians are printed (default: 7)")
    ap.add_argument("--threads", type=int, default=1, help="OpenCV threads (1 = one core)")
    ap.add_argument("--formats", type=names_from(("jpeg", "png", "webp"), "format", empty_ok=False),
                    default="jpeg,png,webp",
                    help="comma-separated output formats (default: jpeg,png,webp)")
    args = ap.parse_args()
    cv2.setNumThreads(args.threads)
    creds = synthlabel.load_credentials()
    spec = LabelSpec()
    print(f"synthlabel {synthlabel.__version__}; median of {args.repeat} runs; "
          f"OpenCV threads={args.threads}; times in ms")
    header = f"{'size':<16} {'format':<6} " + " ".join(f"{s:>9}" for s in STAGES) + f" {'total':>9} {'verify':>9}"
    print(header)
    print("-" * len(header))
    for name, (h, w) in SIZES.items():
        rgb = scene(h, w, 11)
        for fmt in args.formats:
            synthlabel.label_image(rgb, format=fmt, spec=spec, credentials=creds)  # warm-up
            stage = {s: [] for s in STAGES}
            total, verify = [], []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                res = synthlabel.label_image(rgb, format=fmt, spec=spec, credentials=creds)
                total.append(time.perf_counter() - t0)
                for s in STAGES:
                    stage[s].append(res.timings.get(s, 0.0))
                t0 = time.perf_counter()
                rep = synthlabel.verify_bytes(res.data, credentials=creds)
                verify.append(time.perf_counter() - t0)
                assert rep.ok(), rep.to_json()
            med = lambda xs: 1000 * statistics.median(xs)  # noqa: E731
            print(f"{name:<16} {fmt:<6} " + " ".join(f"{med(stage[s]):9.1f}" for s in STAGES)
                  + f" {med(total):9.1f} {med(verify):9.1f}")


if __name__ == "__main__":
    main()
