"""Labeling a labeled file again: does every label still verify, with one content ID?

Each input is labeled ``--labels`` times in a row, each label's output the next one's input,
with the same (development) credentials, and verified after every label. A label counts as OK
when ``verify`` is OK and the watermark's content ID is the label's; the table also says
whether the ID stayed the first label's (it should: a labeled file keeps the content ID its
watermark carries) and the watermark's log10 p after each label.

Inputs: the natural pictures of the image benchmark set (bench_data.robustness_set) as JPEG
(quality 92) and PNG, and the audio benchmark clips (audio_data.dataset) as WAV and MP3.

    python benchmarks/bench_relabel.py                 # everything (~10 min on 2 cores)
    python benchmarks/bench_relabel.py --quick         # 6 pictures, 4 clips
"""
from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import synthlabel  # noqa: E402
from synthlabel.formats import audio_io  # noqa: E402
from synthlabel.provenance.credentials import load_credentials  # noqa: E402


def chain(src: Path, work: Path, ext: str, labels: int, creds) -> list[tuple[bool, bool, float]]:
    """(verify OK with the label's ID, ID kept from the first label, log10 p) per label."""
    out, f, first = [], src, None
    for n in range(labels):
        res = synthlabel.label_file(f, work / f"l{n}.{ext}", credentials=creds)
        first = first or res.content_id
        rep = synthlabel.verify_file(res.output, credentials=creds)
        p = rep.layers["watermark"].details.get("p_value")
        ok = rep.ok() and rep.content_ids.get("watermark") == res.content_id
        out.append((ok, res.content_id == first, math.log10(p) if p else float("nan")))
        f = Path(res.output)
    return out


def row(name: str, results) -> str:
    cells = [f"{'ok' if ok else 'FAIL'}{'' if kept else ' (new ID)'} {lp:.0f}" for ok, kept, lp in results]
    return f"| {name} | " + " | ".join(cells) + " |"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--labels", type=int, default=4, help="labels in a row per input (default 4)")
    ap.add_argument("--quick", action="store_true", help="6 pictures and 4 clips")
    ap.add_argument("--no-images", action="store_true")
    ap.add_argument("--no-audio", action="store_true")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    creds = load_credentials()
    t0 = time.perf_counter()
    header = "| input | " + " | ".join(f"label {n + 1}" for n in range(args.labels)) + " |"
    rule = "|---|" + "---|" * args.labels
    fails = np.zeros(args.labels, int)
    total = 0

    def run(name, src, work, ext):
        nonlocal total
        res = chain(src, work, ext, args.labels, creds)
        print(row(name, res), flush=True)
        fails[:] += [not (ok and kept) for ok, kept, _ in res]
        total += 1

    if not args.no_images:
        import bench_data

        pics = [b for b in bench_data.robustness_set(quick=False) if b.kind == "natural"]
        pics = pics[:6] if args.quick else pics
        print(header + "\n" + rule)
        for im in pics:
            for ext, kw in (("jpg", {"quality": 92}), ("png", {})):
                work = Path(tempfile.mkdtemp(prefix="relabel-"))
                try:
                    src = work / f"in.{ext}"
                    Image.fromarray(im.rgb).save(src, **kw)
                    run(f"{im.name} {ext}", src, work, ext)
                finally:
                    shutil.rmtree(work)
    if not args.no_audio:
        import audio_data

        clips = audio_data.dataset()
        clips = clips[:4] if args.quick else clips
        print("\n" + header + "\n" + rule)
        for spec, x, _kind in clips:
            for ext in ("wav", "mp3"):
                work = Path(tempfile.mkdtemp(prefix="relabel-"))
                try:
                    src = work / f"in.{ext}"
                    if ext == "wav":
                        sf.write(src, x, spec.rate, subtype="PCM_16")
                    else:
                        audio_io.write(src, x, spec.rate, "mp3", bitrate=128000)
                    run(f"{spec.name} {ext}", src, work, ext)
                finally:
                    shutil.rmtree(work)
    print(f"\n{total} inputs x {args.labels} labels; failed or given a new content ID, by label: "
          + ", ".join(f"{n + 1}: {k}" for n, k in enumerate(fails)))
    print(f"runtime {time.perf_counter() - t0:.0f} s")
    return int(fails.any())


if __name__ == "__main__":
    sys.exit(main())
