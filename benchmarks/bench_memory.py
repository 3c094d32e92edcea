"""Peak memory of labeling long audio (issue #4: a one-hour 48 kHz stereo file labels with under
1 GB resident), per output format, in one run.

    python benchmarks/bench_memory.py                       # 60 min, every format (~12 min)
    python benchmarks/bench_memory.py --minutes 10 --formats wav,flac

Steps:
1. synthesize a ``--minutes`` long 48 kHz stereo 16-bit WAV, streamed (a chord progression
   with harmonics over noise, different every second), and convert it with ffmpeg to FLAC,
   MP3 (192 kbps), M4A/AAC (192 kbps), Ogg Vorbis (q 4) and Opus (96 kbps);
2. label each in its own child process with ``label_audio_file`` (every layer: rhythm cue,
   watermark, AIGC metadata, C2PA), and report the child's own peak resident memory
   (``VmHWM``; ``ru_maxrss`` would include this parent's peak), CPU and wall time;
3. verify each labeled file in another child (all four layers must be ok) and report its peak;
4. for comparison, label the WAV once more with C2PA embedded through c2pa-rs's own RIFF
   writer (``Builder.sign``) instead of synthlabel's data-hash route
   (``synthlabel.provenance.c2pa_datahash``): the row marked ``c2pa-rs writer``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench_video import peak_rss_mb   # this process's own peak (VmHWM), not the parent's
from bench_args import temp_home  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_MB = 1000.0
FORMATS = {  # name: (suffix, ffmpeg codec args)
    "wav": (".wav", None),
    "flac": (".flac", ["-c:a", "flac"]),
    "mp3": (".mp3", ["-c:a", "libmp3lame", "-b:a", "192k"]),
    "m4a": (".m4a", ["-c:a", "aac", "-b:a", "192k"]),
    "ogg": (".ogg", ["-c:a", "libvorbis", "-q:a", "4"]),
    "opus": (".opus", ["-c:a", "libopus", "-b:a", "96k"]),
}


def synthesize(path: Path, minutes: float, rate: int = 48000) -> None:
    from synthlabel.formats import audio_io

    rng = np.random.default_rng(1)
    notes = (220.0, 277.2, 329.6, 440.0, 493.9)
    with audio_io.Writer(path, "wav", rate, 2, subtype="PCM_16") as w:
        for s in range(int(round(minutes * 60))):
            t = s + np.arange(rate) / rate
            k = s % len(notes)
            x = sum(0.05 / h * np.sin(2 * np.pi * h * notes[(k + j) % len(notes)] * t)
                    for j in range(3) for h in (1, 2, 3))
            x = x + 0.01 * rng.standard_normal(rate)
            w.write(np.stack([x, 0.9 * x], 1).astype(np.float32))


def child(mode: str, src: str, dst: str) -> None:
    """Run in a child process: label (``label``, ``label-c2pa-writer``) or verify, print JSON."""
    from synthlabel.provenance.credentials import load_credentials

    creds = load_credentials()
    c0 = time.process_time()
    t0 = time.perf_counter()
    out: dict = {}
    if mode.startswith("label"):
        from synthlabel.labeling_audio import label_audio_file
        from synthlabel.provenance import c2pa_datahash

        if mode == "label-c2pa-writer":
            c2pa_datahash.available = lambda: False     # sign_file falls back to Builder.sign
        res = label_audio_file(src, dst, credentials=creds, overwrite=True)
        out["layers"] = res.layers
    else:
        from synthlabel import verify_file

        rep = verify_file(src, credentials=creds)
        out["ok"] = rep.ok()
        out["layers"] = {k: v.status.value for k, v in rep.layers.items() if v is not None}
    out.update(seconds=time.perf_counter() - t0, cpu=time.process_time() - c0,
               peak_mb=peak_rss_mb())
    print("RESULT " + json.dumps(out))


def run_child(*args: str) -> dict:
    p = subprocess.run([sys.executable, __file__, "--_child", *args], capture_output=True,
                       text=True, cwd=ROOT, check=False)
    if p.returncode != 0:
        raise SystemExit(f"child {args[0]} failed:\n{p.stderr[-3000:]}")
    return json.loads(next(x for x in p.stdout.splitlines() if x.startswith("RESULT "))[7:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    ap.add_argument("--minutes", type=float, default=60.0,
                    help="length of the synthesized test file (default: 60)")
    ap.add_argument("--formats", default=",".join(FORMATS),
                    help=f"comma-separated, from {', '.join(FORMATS)}")
    ap.add_argument("--no-writer-comparison", action="store_true",
                    help="skip the WAV row through c2pa-rs's own writer")
    ap.add_argument("--keep", type=Path, help="work directory to keep (default: a temp dir)")
    ap.add_argument("--_child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._child:
        child(*args._child)
        return
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise SystemExit(f"unknown format(s): {', '.join(bad)}")
    if any(FORMATS[f][1] for f in formats) and not shutil.which("ffmpeg"):
        raise SystemExit("ffmpeg is needed to make the FLAC/MP3/M4A/Ogg/Opus inputs")
    temp_home("synthlabel-home-")
    work = args.keep or Path(tempfile.mkdtemp(prefix="synthlabel-bench-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"# {args.minutes:g} min 48 kHz stereo, {os.cpu_count()} CPUs, files in {work}")
    wav = work / "long.wav"
    t0 = time.perf_counter()
    synthesize(wav, args.minutes)
    print(f"synthesized {wav.name} ({wav.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.0f} s")
    rows = []
    jobs = [(f, f) for f in formats]
    if "wav" in formats and not args.no_writer_comparison:
        jobs.append(("wav", "wav (c2pa-rs writer)"))
    for fmt, name in jobs:
        suffix, codec = FORMATS[fmt]
        src = wav if codec is None else work / f"long{suffix}"
        if codec is not None and not src.exists():
            subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(wav),
                            *codec, str(src)], check=True)
        dst = work / "out" / f"{name.split()[0]}{'-c2pawriter' if '(' in name else ''}{suffix}"
        dst.parent.mkdir(exist_ok=True)
        lab = run_child("label-c2pa-writer" if "(" in name else "label", str(src), str(dst))
        ver = run_child("verify", str(dst), "-")
        rows.append((name, src.stat().st_size / 1e6, lab, ver))
        print(f"{name:22s} in {src.stat().st_size / 1e6:6.0f} MB: label peak {lab['peak_mb']:6.0f} MB "
              f"({lab['seconds']:.0f} s), verify {'ok' if ver['ok'] else 'FAILED ' + str(ver['layers'])} "
              f"peak {ver['peak_mb']:.0f} MB", flush=True)
    print()
    print("| output | input size | label peak RSS | label wall / CPU | verify | verify peak RSS |")
    print("|---|---|---|---|---|---|")
    for name, size, lab, ver in rows:
        mark = "**" if lab["peak_mb"] < TARGET_MB else ""
        print(f"| {name} | {size:.0f} MB | {mark}{lab['peak_mb']:.0f} MB{mark} | "
              f"{lab['seconds']:.0f} / {lab['cpu']:.0f} s | {'all 4 ok' if ver['ok'] else 'FAILED'} | "
              f"{ver['peak_mb']:.0f} MB |")
    ours = [r for r in rows if "(" not in r[0]]
    worst = max(r[2]["peak_mb"] for r in ours) if ours else 0.0
    failed = [r[0] for r in rows if not r[3]["ok"]]
    print(f"\nlargest peak over synthlabel's rows: {worst:.0f} MB (target < {TARGET_MB:.0f} MB): "
          f"{'met' if worst < TARGET_MB else 'NOT met'}; verify failures: {failed or 'none'}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
