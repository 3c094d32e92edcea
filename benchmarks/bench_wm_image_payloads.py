"""Image watermark generality: does the mark read for *any* payload and crop offset, on pictures
the robustness benchmark does not hold? (issue #3)

    python benchmarks/bench_wm_image_payloads.py [--payloads 10] [--jobs 2]
                                                 [--attacks none,jpeg50,resize0.5] [--crops]

The robustness benchmark (bench_wm_image.py) marks each picture with one payload and crops it
at one offset. A picture whose informed embedding runs short decodes for some payloads and not
others (stop 28: gravel read unattacked for 7 of 20 random payloads, the benchmark's own among
the 7), so this run marks every picture with ``--payloads`` random payloads and counts exact
reads per attack (names from bench_wm_image.ATTACKS). ``--crops`` adds 50 % crops at four
offsets, one payload per picture.

Pictures: the benchmark's 22 photos; 14 scikit-image photos fitted to 640 x 853 (other sizes,
and grass, which the benchmark does not use); when matplotlib, scikit-learn and PyWavelets are
installed, 10 pictures never used for tuning (grace_hopper, china, flower, aero, ascent, each
native and upscaled to a 900-px short side).
"""
from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_data as B  # noqa: E402
import bench_wm_image as BW  # noqa: E402
from synthlabel import watermark as W  # noqa: E402

#: 50 % crops at these (oy, ox, dy, dx) (bench_wm_image.crop); the first is the benchmark's.
CROP_OFFSETS = [(0.3, 0.7, 3, 5), (0.5, 0.5, 1, 1), (0.1, 0.2, 7, 2), (0.8, 0.4, 5, 9)]
OTHER_FITS = ["astronaut", "camera", "coffee", "chelsea", "rocket", "hubble", "moto_left",
              "moto_right", "ihc", "brick", "grass", "gravel", "coins", "page"]


def _unseen() -> list[tuple[str, str, np.ndarray]]:
    try:
        import matplotlib.cbook as cbook
        import pywt.data
        import sklearn.datasets
    except ImportError as exc:
        # said, not skipped in silence: the "unseen" column is the generality check
        print(f"note: the 10 unseen pictures are left out ({exc.name} is not installed: "
              "pip install -e '.[bench]')", file=sys.stderr)
        return []
    grey = lambda a: np.dstack([a, a, a]) if a.ndim == 2 else a  # noqa: E731
    hopper = cv2.imread(str(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    raw = [("grace", cv2.cvtColor(hopper, cv2.COLOR_BGR2RGB)),
           ("china", sklearn.datasets.load_sample_image("china.jpg")),
           ("flower", sklearn.datasets.load_sample_image("flower.jpg")),
           ("aero", grey(np.clip(pywt.data.aero(), 0, 255).astype(np.uint8))),
           ("ascent", grey(np.clip(pywt.data.ascent(), 0, 255).astype(np.uint8)))]
    out = []
    for name, a in raw:
        a = np.ascontiguousarray(a)
        out.append((name, "unseen", a))
        h, w = a.shape[:2]
        s = 900 / min(h, w)
        out.append((f"{name}_900", "unseen",
                    cv2.resize(a, (round(w * s), round(h * s)), interpolation=cv2.INTER_CUBIC)))
    return out


def pictures() -> list[tuple[str, str, np.ndarray]]:
    """(name, set, RGB uint8): set is "bench", "fits" or "unseen"."""
    out = [(b.name, "bench", b.rgb) for b in B.robustness_set() if b.kind == "natural"]
    out += [(f"{n}_640x853", "fits", B._fit(B.photo(n), 640, 853)) for n in OTHER_FITS]
    return out + _unseen()


PICS = pictures()
ATTACKS = {name: fn for name, fn, _ in BW.ATTACKS}


def job(args: tuple[int, int, list[str], bool]) -> dict:
    i, n_payloads, attacks, crops = args
    name, group, rgb = PICS[i]
    exact = {a: 0 for a in attacks}
    psnr = []
    for j in range(n_payloads):
        payload = BW.payload_for(9000 + 37 * i + j)
        marked = W.embed_image(rgb, payload, BW.KEY)
        psnr.append(cv2.PSNR(rgb, marked))
        for a in attacks:
            exact[a] += W.detect_image(ATTACKS[a](marked), BW.KEY).payload == payload
    crop_ok = []
    if crops:
        payload = BW.payload_for(9500 + i)
        marked = W.embed_image(rgb, payload, BW.KEY)
        crop_ok = [W.detect_image(BW.crop(0.5, *o)(marked), BW.KEY).payload == payload
                   for o in CROP_OFFSETS]
    return dict(name=name, group=group, exact=exact, psnr=float(np.median(psnr)), crops=crop_ok,
                short=min(rgb.shape[:2]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--payloads", type=int, default=10, help="random payloads per picture")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--attacks", default="none,jpeg50,resize0.5",
                    help=f"comma list of: {', '.join(ATTACKS)}")
    ap.add_argument("--crops", action="store_true", help="also 50 %% crops at 4 offsets")
    args = ap.parse_args()
    attacks = [a for a in args.attacks.split(",") if a]
    unknown = [a for a in attacks if a not in ATTACKS]
    if unknown:
        ap.error(f"unknown attack(s) {', '.join(unknown)}")
    t0 = time.time()
    with ProcessPoolExecutor(args.jobs) as ex:
        res = list(ex.map(job, [(i, args.payloads, attacks, args.crops) for i in range(len(PICS))]))
    groups = [g for g in ("bench", "fits", "unseen") if any(r["group"] == g for r in res)]
    counts = ", ".join(f"{g} {sum(r['group'] == g for r in res)}" for g in groups)
    print(f"{W.IMAGE_ALG}: {len(res)} pictures ({counts}), {args.payloads} random payloads each\n")
    print("| attack | " + " | ".join(groups) + " | all |")
    print("|---|" + "---|" * (len(groups) + 1))
    for a in attacks:
        cells = [f"{sum(r['exact'][a] for r in res if r['group'] == g)} / "
                 f"{args.payloads * sum(r['group'] == g for r in res)}" for g in groups]
        print(f"| {a} | " + " | ".join(cells) + f" | {sum(r['exact'][a] for r in res)} / {args.payloads * len(res)} |")
    if args.crops:
        for label, pick in (("crop50, 4 offsets, short side < 1080", lambda r: r["short"] < 1080),
                            ("crop50, 4 offsets, short side >= 1080", lambda r: r["short"] >= 1080)):
            cells = [f"{sum(sum(r['crops']) for r in res if r['group'] == g and pick(r))} / "
                     f"{4 * sum(r['group'] == g and pick(r) for r in res)}" for g in groups]
            print(f"| {label} | " + " | ".join(cells) + f" | {sum(sum(r['crops']) for r in res if pick(r))} / "
                  f"{4 * sum(pick(r) for r in res)} |")
    ps = [r["psnr"] for r in res]
    print(f"\nPSNR (median over payloads per picture): median {statistics.median(ps):.2f} dB, "
          f"min {min(ps):.2f} dB ({min(res, key=lambda r: r['psnr'])['name']})")
    misses = [r for r in res if min(r["exact"].values(), default=args.payloads) < args.payloads
              or not all(r["crops"])]
    for r in misses:
        lost = [f"{a} lost {args.payloads - c} of {args.payloads} payloads"
                for a, c in r["exact"].items() if c < args.payloads]
        offs = [k for k, ok in enumerate(r["crops"]) if not ok]
        if offs:
            lost.append(f"crop50 lost at offset(s) {', '.join(map(str, offs))}")
        print(f"  missed: {r['name']} ({r['group']}): {'; '.join(lost)}")
    print(f"\nRuntime {time.time() - t0:.0f} s with {args.jobs} worker(s).")


if __name__ == "__main__":
    main()
