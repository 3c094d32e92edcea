"""Video engine (issue #5): every container end to end, label timing and size, metadata
read-back by ffprobe and our readers, C2PA trust and tamper, rotation, bad inputs.

Clips are small (480x270, 15 fps, 2.5-4 s) and made here with PyAV; encodes use a fast preset.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import soundfile as sf
from conftest import label_again_and_again, require_tool, synthetic_photo

from synthlabel import watermark
from synthlabel.core import text_label, wm_video
from synthlabel.formats import mkvmeta, mp4meta, video_io
from synthlabel.labeling import LabelingError
from synthlabel import labeling_video
from synthlabel.labeling_video import detect_video, label_video_file, verify_video_file
from synthlabel.models import LabelSpec, Status

W, H, FPS = 480, 270, 15
FAST = {"preset": "ultrafast"}

_FORMATS = {  # key -> (muxer, extension, video encoder, audio encoder)
    "mp4": ("mp4", ".mp4", "libx264", "aac"),
    "mov": ("mov", ".mov", "libx264", "aac"),
    "mkv": ("matroska", ".mkv", "libx264", "aac"),
    "webm": ("webm", ".webm", "libvpx-vp9", "libopus"),
}


def make_clip(path: Path, kind: str = "mp4", *, seconds: float = 3.0, audio: bool = True,
              rotation: int | None = None, seed: int = 3, faststart: bool = False,
              pan: int = 120) -> Path:
    """A W x H clip panning ``pan`` px across a synthetic photo (0: a still camera), with a
    moving red square, and a tone + noise soundtrack."""
    muxer, _ext, venc, aenc = _FORMATS[kind]
    base = synthetic_photo(H, W + 120, seed)
    n = int(seconds * FPS)
    opts = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", format=muxer, options=opts) as out:
        vs = out.add_stream(venc, rate=FPS)
        vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
        vs.options = ({"crf": "20", "b": "0", "deadline": "realtime", "cpu-used": "8"}
                      if venc == "libvpx-vp9" else {"crf": "18", "preset": "ultrafast"})
        if rotation:
            vs.set_display_rotation(rotation)
        aus = out.add_stream(aenc, rate=48000, layout="stereo") if audio else None
        for i in range(n):
            off = int(i * pan / n)
            img = np.ascontiguousarray(base[:, off:off + W])
            x = (40 + 9 * i) % (W - 40)
            img[100:140, x:x + 40] = (200, 40, 40)
            fr = av.VideoFrame.from_ndarray(img, "rgb24")
            fr.pts, fr.time_base = i, Fraction(1, FPS)
            for p in vs.encode(fr):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
        if aus is not None:
            rng = np.random.default_rng(seed)
            t = np.arange(int(seconds * 48000)) / 48000
            sig = (0.15 * np.sin(2 * np.pi * 330 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
            st = np.stack([sig, 0.8 * sig])
            for j in range(0, st.shape[1], 960):
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(st[:, j:j + 960]), format="fltp",
                                                layout="stereo")
                af.sample_rate, af.pts, af.time_base = 48000, j, Fraction(1, 48000)
                for p in aus.encode(af):
                    out.mux(p)
            for p in aus.encode():
                out.mux(p)
    return path


def write_clip(path: Path, frames, *, size: tuple[int, int] = (W, H), vp9: bool = False,
               muxer: str | None = None) -> Path:
    """A silent clip of the RGB uint8 frames ``frames`` yields (``size`` = (width, height)), at
    FPS: H.264, or VP9 with ``vp9`` (which takes odd sides, as x264 does not)."""
    with av.open(str(path), "w", format=muxer) as out:
        vs = out.add_stream("libvpx-vp9" if vp9 else "libx264", rate=FPS)
        vs.width, vs.height, vs.pix_fmt = size[0], size[1], "yuv420p"
        vs.options = ({"crf": "20", "b": "0", "deadline": "realtime", "cpu-used": "8"} if vp9
                      else {"crf": "18", "preset": "ultrafast"})
        for i, img in enumerate(frames):
            fr = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), "rgb24")
            fr.pts, fr.time_base = i, Fraction(1, FPS)
            for p in vs.encode(fr):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
    return path


def frames_rgb(path: Path):
    """(time, display-oriented RGB) of every frame."""
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            rgb = f.to_ndarray(format="rgb24")
            k = (round(f.rotation or 0) // 90) % 4
            yield float(f.time), np.ascontiguousarray(np.rot90(rgb, k)) if k else rgb


@pytest.fixture(scope="module", autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.fixture(scope="module")
def labeled(tmp_path_factory, credentials):
    """One labeled file per container (made once for the module)."""
    d = tmp_path_factory.mktemp("video")
    out = {}
    for kind, (_m, ext, _v, _a) in _FORMATS.items():
        src = make_clip(d / f"in_{kind}{ext}", kind)
        dst = d / f"out_{kind}{ext}"
        res = label_video_file(src, dst, credentials=credentials, **FAST)
        out[kind] = (src, dst, res)
    return out


@pytest.mark.parametrize("kind", list(_FORMATS))
def test_every_layer_present_and_valid(labeled, credentials, kind):
    src, dst, res = labeled[kind]
    assert res.output == dst and dst.is_file()
    assert res.layers == ["explicit", "watermark", "metadata", "c2pa"]
    d = json.loads(json.dumps(res.to_dict()))          # a log line: plain JSON types
    assert d["output"] == str(dst) and d["content_id"] == res.content_id.hex
    assert d["label_box"] == list(res.label_box) and d["frames"] == res.frames
    rep = verify_video_file(dst, key=credentials.watermark_key,
                            trust_anchors_pem=credentials.trust_anchors_pem)
    assert rep.error is None
    for name in ("explicit", "metadata", "watermark", "c2pa"):
        assert rep.layers[name].status is Status.OK, (name, rep.layers[name].summary)
    assert set(rep.content_ids.values()) == {res.content_id.hex}
    assert rep.ok()
    assert "audio" in rep.layers["watermark"].details
    if kind in ("mkv", "webm"):
        assert res.sidecar is not None and res.sidecar.is_file()
    else:
        assert res.sidecar is None
    info_in, info_out = video_io.probe(src), video_io.probe(dst)
    assert (info_out.width, info_out.height, info_out.fps) == (info_in.width, info_in.height, info_in.fps)
    assert info_out.audio is not None and info_out.audio.channels == 2
    assert info_out.codec == ("vp9" if kind == "webm" else "h264")
    assert abs(info_out.duration - info_in.duration) < 0.15
    # the unlabeled input: nothing
    bare = verify_video_file(src, key=credentials.watermark_key,
                             trust_anchors_pem=credentials.trust_anchors_pem)
    assert {n: r.status for n, r in bare.layers.items()} == {
        "explicit": Status.MISSING, "metadata": Status.MISSING, "watermark": Status.MISSING,
        "c2pa": Status.MISSING}


def test_no_fragmented_mp4_and_faststart(labeled):
    _src, dst, _ = labeled["mp4"]
    data = dst.read_bytes()
    assert b"moof" not in data[:4096] and b"mvex" not in data
    assert data.find(b"moov") < data.find(b"mdat")


def test_ffprobe_reads_aigc(labeled):
    ffprobe = require_tool("ffprobe")
    for kind in _FORMATS:
        _src, dst, res = labeled[kind]
        out = subprocess.run([ffprobe, "-v", "error", "-show_entries", "format_tags", "-of", "json", str(dst)],
                             capture_output=True, text=True, check=True)
        tags = json.loads(out.stdout)["format"]["tags"]
        aigc = {k.upper(): v for k, v in tags.items()}["AIGC"]
        # the form each channel expects: MP4's key is AIGC already (the inner object), a
        # Matroska tag holds the Annex E string, wrapped, as a Vorbis comment does (it held
        # the inner object until stop 44; labeling-rules.md names only XMP and MP4 for it)
        inner = json.loads(aigc) if kind in ("mp4", "mov") else json.loads(aigc)["AIGC"]
        assert inner["ProduceID"] == res.content_id.hex and list(inner)[0] == "Label", (kind, aigc)
        # our readers agree and see exactly one label
        if kind in ("mp4", "mov"):
            found = mp4meta.read_mp4_metadata_file(dst)
        else:
            found = mkvmeta.read_mkv_metadata_file(dst)
            assert found.doctype == ("webm" if kind == "webm" else "matroska")
        assert len(found.aigc) == 1 and found.aigc[0][1] == aigc
        assert found.digital_source_type.endswith("trainedAlgorithmicMedia")
        if kind in ("mp4", "mov"):
            # the IPTC property itself, in the XMP box ExifTool reads (as on pictures)
            ex = json.loads(subprocess.run([require_tool("exiftool"), "-j", "-G1", "-XMP-iptcExt:all", dst],
                                           capture_output=True, text=True, check=True).stdout)[0]
            assert ex["XMP-iptcExt:DigitalSourceType"] == found.digital_source_type, (kind, ex)


def _bright_rows(rgb: np.ndarray, box) -> int:
    x, y, w, h = box
    region = rgb[y:y + h, x:x + w].astype(np.float32).mean(axis=2)
    rows = np.flatnonzero((region > 200).sum(axis=1) >= 2)
    return int(rows[-1] - rows[0] + 1) if rows.size else 0


def test_label_duration_and_size(tmp_path, credentials):
    src = make_clip(tmp_path / "in.mp4", seconds=4.0, audio=False)
    dst = tmp_path / "out.mp4"
    res = label_video_file(src, dst, credentials=credentials, label_seconds=2.5, **FAST)
    assert res.glyph_height >= 0.05 * min(W, H)
    seen, after = [], []
    for t, rgb in frames_rgb(dst):
        det = text_label.detect_label(rgb, "AI生成")
        if t < 2.0:
            seen.append(det.found)
            if abs(t - 1.0) < 0.05:
                # measure the text in pixels: white glyph rows inside the plate
                assert det.box is not None
                assert _bright_rows(rgb, res.label_box) >= 0.05 * min(W, H)
                assert det.position == "bottom-right"
        elif t > 2.7:
            after.append(det.found)
    assert seen and all(seen)
    assert after and not any(after)

    dst2 = tmp_path / "persistent.mp4"
    label_video_file(src, dst2, credentials=credentials, persistent=True,
                     spec=LabelSpec(watermark=False, c2pa=False, metadata=False), **FAST)
    last = list(frames_rgb(dst2))[-1]
    assert last[0] > 3.5 and text_label.detect_label(last[1], "AI生成").found


def test_label_seconds_must_be_two_or_more(tmp_path, credentials):
    src = make_clip(tmp_path / "in.mp4", seconds=1.0, audio=False)
    with pytest.raises(LabelingError, match="at least 2"):
        label_video_file(src, tmp_path / "o.mp4", credentials=credentials, label_seconds=1.5)
    with pytest.raises(LabelingError, match="finite number of at least 2"):
        label_video_file(src, tmp_path / "o.mp4", credentials=credentials,
                         label_seconds=float("inf"))
    # the CLI says so once, as a usage error (it failed each file, as if inf were under 2)
    from test_pipeline_cli import run

    r = run("label", src, "-o", tmp_path / "out", "--label-seconds", "inf")
    assert r.returncode == 2 and "at least 2 s (GB 45438) and a finite time" in r.stderr, r.stderr
    assert not (tmp_path / "out").exists()


def test_c2pa_tamper_reports_bmff_mismatch(labeled, credentials, tmp_path):
    _src, dst, _ = labeled["mp4"]
    data = bytearray(dst.read_bytes())
    # find mdat among the top-level boxes and flip bytes in the middle of its payload
    pos = 0
    while pos < len(data):
        size = int.from_bytes(data[pos:pos + 4], "big")
        typ = bytes(data[pos + 4:pos + 8])
        hdr = 8
        if size == 1:
            size, hdr = int.from_bytes(data[pos + 8:pos + 16], "big"), 16
        if typ == b"mdat":
            mid = pos + hdr + (size - hdr) // 2
            for i in range(64):
                data[mid + i] ^= 0x5A
            break
        pos += size
    else:
        pytest.fail("no mdat")
    bad = tmp_path / "tampered.mp4"
    bad.write_bytes(bytes(data))
    rep = verify_video_file(bad, key=credentials.watermark_key,
                            trust_anchors_pem=credentials.trust_anchors_pem, layers=("c2pa",))
    c = rep.layers["c2pa"]
    assert c.status is Status.INVALID
    assert "assertion.bmffHash.mismatch" in c.details["codes"]


def test_sidecar_bound_to_file(labeled, credentials, tmp_path):
    _src, dst, res = labeled["webm"]
    copy = tmp_path / "copy.webm"
    data = bytearray(dst.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    (tmp_path / "copy.c2pa").write_bytes(res.sidecar.read_bytes())
    rep = verify_video_file(copy, key=credentials.watermark_key,
                            trust_anchors_pem=credentials.trust_anchors_pem, layers=("c2pa",))
    assert rep.layers["c2pa"].status is Status.INVALID


def test_video_without_audio(tmp_path, credentials):
    src = make_clip(tmp_path / "silent.mp4", audio=False, seconds=2.5)
    dst = tmp_path / "out.mp4"
    res = label_video_file(src, dst, credentials=credentials, **FAST)
    assert video_io.probe(dst).audio is None
    rep = verify_video_file(dst, key=credentials.watermark_key,
                            trust_anchors_pem=credentials.trust_anchors_pem)
    assert all(r.status is Status.OK for r in rep.layers.values()), rep.to_dict()
    assert rep.layers["watermark"].details["audio"] is None
    assert rep.content_ids["watermark"] == res.content_id.hex


def test_progress_reports_the_fraction_written(tmp_path, credentials):
    src = make_clip(tmp_path / "p.mp4", audio=False, seconds=2.5)
    seen: list[float] = []
    res = label_video_file(src, tmp_path / "out.mp4", credentials=credentials,
                           progress=seen.append, **FAST)
    assert len(seen) == res.frames // 10                    # every PROGRESS_EVERY frames
    assert seen == sorted(seen) and 0.0 <= seen[0] and seen[-1] <= 1.0
    assert seen[-1] >= 0.75                                 # 2.5 s: the last call at >= 60 frames


def _packets_md5(path, stream: str) -> str:
    """MD5 of one stream's packets (``stream``: ffmpeg's specifier, "0:a:1"), copied out by
    ffmpeg: equal when the packets are the same bytes."""
    ffmpeg = require_tool("ffmpeg")
    return subprocess.run([ffmpeg, "-v", "error", "-i", path, "-map", stream, "-c", "copy", "-f", "md5", "-"],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_other_audio_streams_are_carried(labeled, tmp_path, credentials):
    """A second audio track (another language) was left out of every labeled video (with a
    warning; --in-place refused). It is now carried as it is where the output container holds
    its codec: its packets the same bytes, its language and title kept (read back by ffprobe),
    its lack of a watermark said; verify passes. Where the container cannot hold
    it (AAC in WebM) it is still left out and named; a file that would lose a stream (a second
    video track) is still not labeled in place, nor in a dry run."""
    ffmpeg = require_tool("ffmpeg")
    ffprobe = require_tool("ffprobe")
    src = make_clip(tmp_path / "a.mkv", "mkv", seconds=2.0)
    srt = tmp_path / "s.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:01,000\nhello\n")
    multi = tmp_path / "multi.mkv"
    subprocess.run([ffmpeg, "-loglevel", "error", "-i", src, "-f", "lavfi", "-i", "anoisesrc=d=2:c=pink:a=0.2",
                    "-i", srt, "-map", "0:v", "-map", "0:a", "-map", "1:a", "-map", "2", "-c", "copy",
                    "-c:a:1", "libvorbis", "-metadata:s:a:1", "language=fra", "-metadata:s:a:1",
                    "title=Commentaire", multi], check=True)
    info = video_io.probe(multi)
    assert info.extra_streams == {"audio": 1, "subtitle": 1} and info.other_audio == ((2, "vorbis"),)

    def audio_streams(path):
        return [(st["codec_name"], st.get("tags", {}).get("language"), st.get("tags", {}).get("title"))
                for st in json.loads(subprocess.run(
                    [ffprobe, "-v", "error", "-select_streams", "a", "-show_entries",
                     "stream=codec_name:stream_tags=language,title", "-of", "json", path],
                    capture_output=True, check=True).stdout)["streams"]]

    out = tmp_path / "out.mkv"
    res = label_video_file(multi, out, credentials=credentials, **FAST)
    assert not any("not in the output" in w for w in res.warnings), res.warnings
    assert "1 more audio stream(s) (#2 vorbis) carried as they are: only the first audio stream " \
           "carries the audio watermark" in res.warnings, res.warnings
    assert audio_streams(out)[1:] == [("vorbis", "fra", "Commentaire")], audio_streams(out)
    assert _packets_md5(out, "0:a:1") == _packets_md5(multi, "0:a:1")
    back = video_io.probe(out)
    assert back.extra_streams == {"audio": 1, "subtitle": 1}
    rep = verify_video_file(out, key=credentials.watermark_key, trust_anchors_pem=None,
                            layers=("watermark", "metadata"))
    # (the soundtrack's own mark is not asserted: 2 s is under what the audio mark needs)
    assert all(rep.layers[k].status is Status.OK for k in ("watermark", "metadata")), rep.layers
    assert not any("not in the output" in w for _s, _d, r in labeled.values() for w in r.warnings)

    # WebM holds Vorbis: carried again; but not AAC, which is left out and named
    res = label_video_file(multi, tmp_path / "vorbis.webm", credentials=credentials, **FAST)
    assert audio_streams(res.output)[1:] == [("vorbis", "fra", "Commentaire")]
    aac2 = tmp_path / "aac2.mkv"
    subprocess.run([ffmpeg, "-loglevel", "error", "-i", multi, "-map", "0", "-c", "copy", "-c:a:1", "aac",
                    aac2], check=True)
    res = label_video_file(aac2, tmp_path / "aac2.webm", credentials=credentials, **FAST)
    assert any(w.startswith("not in the output: 1 audio, 1 subtitle: WEBM takes no aac audio or subrip "
                            "subtitles (a labeled file holds") for w in res.warnings), res.warnings
    assert len(audio_streams(res.output)) == 1
    # into MP4, whose sound is timed in 1/rate where Matroska's is in ms: every packet was
    # taken as out of order, moved, and then refused by the muxer
    res = label_video_file(aac2, tmp_path / "aac2.mp4", credentials=credentials, **FAST)
    assert not any("stream #" in w for w in res.warnings), res.warnings
    # (FFmpeg's MP4 muxer writes no track title, as with ffmpeg -c copy)
    assert audio_streams(res.output)[1:] == [("aac", "fra", None)]
    assert _packets_md5(res.output, "0:a:1") == _packets_md5(aac2, "0:a:1")

    # a dry run says so too
    r = subprocess.run([sys.executable, "-m", "synthlabel", "label", "--dry-run", "--json", "-j", "1",
                        multi, "-o", tmp_path / "dry0"], capture_output=True, text=True, timeout=300)
    row = json.loads(r.stdout.splitlines()[0])
    assert r.returncode == 0 and "1 more audio stream(s) (#2 vorbis) carried as they are: only the first " \
        "audio stream carries the audio watermark" in row["warnings"], (r.stdout, r.stderr)
    # in place: nothing would be lost, so it is labeled there, the second track kept
    inplace = tmp_path / "inplace.mkv"
    shutil.copy(multi, inplace)
    label_video_file(inplace, inplace, credentials=credentials, in_place=True, **FAST)
    assert audio_streams(inplace)[1:] == [("vorbis", "fra", "Commentaire")]
    assert _packets_md5(inplace, "0:a:1") == _packets_md5(multi, "0:a:1")

    # a second video track is still left out: in place, the input is not replaced by a file
    # without it: refused, untouched (the CLI's --in-place too: the file named, exit 1). An
    # M4A with two audio tracks likewise (audio files keep one track).
    cover = tmp_path / "cover.png"
    cv2.imwrite(str(cover), synthetic_photo(120, 96, seed=5))
    withvid = tmp_path / "withvid.mkv"
    subprocess.run([ffmpeg, "-loglevel", "error", "-i", multi, "-i", cover, "-map", "0", "-map", "1:v",
                    "-c", "copy", "-c:v:1", "mjpeg", withvid], check=True)
    before = withvid.read_bytes()
    with pytest.raises(LabelingError, match=r"in place would lose .*\(1 other video; "):
        label_video_file(withvid, withvid, credentials=credentials, in_place=True, **FAST)
    two = tmp_path / "two.m4a"
    subprocess.run([ffmpeg, "-loglevel", "error", "-i", src, "-i", src, "-map", "0:a", "-map", "1:a",
                    "-c", "copy", two], check=True)
    two_before = two.read_bytes()
    r = subprocess.run([sys.executable, "-m", "synthlabel", "label", "--in-place", "-j", "1",
                        withvid, two], capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stderr
    assert "withvid.mkv: labeling in place would lose its other streams" in r.stderr, r.stderr
    assert "two.m4a: labeling in place would lose streams for good (the file holds 2 audio" in r.stderr
    assert withvid.read_bytes() == before and two.read_bytes() == two_before
    # a dry run says the same before any work: the stream left out, the in-place refusal
    r = subprocess.run([sys.executable, "-m", "synthlabel", "label", "--dry-run", "--json", "-j", "1",
                        withvid, "-o", tmp_path / "dry"], capture_output=True, text=True, timeout=300)
    row = json.loads(r.stdout.splitlines()[0])
    assert r.returncode == 0 and any(w.startswith("not in the output: 1 other video (a labeled")
                                     for w in row["warnings"]), (r.stdout, r.stderr)
    r = subprocess.run([sys.executable, "-m", "synthlabel", "label", "--dry-run", "--in-place", "-j", "1",
                        withvid], capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and "withvid.mkv: labeling in place would lose its other streams" in r.stderr, r.stderr
    assert withvid.read_bytes() == before

    # a first audio stream that cannot be decoded (a codec FFmpeg does not know) is named as
    # left out, not dropped unsaid, and in place is refused (QA: it was lost, in place too)
    mp3first = tmp_path / "mp3first.mkv"
    subprocess.run([ffmpeg, "-loglevel", "error", "-i", src, "-f", "lavfi", "-i", "sine=d=2", "-map", "0:v",
                    "-map", "1:a", "-map", "0:a", "-c:v", "copy", "-c:a:0", "libmp3lame", "-c:a:1", "aac",
                    mp3first], check=True)
    unknown = tmp_path / "unknown.mkv"
    unknown.write_bytes(mp3first.read_bytes().replace(b"A_MPEG/L3", b"A_XPEG/L3", 1))
    info = video_io.probe(unknown)
    assert info.audio is None and [i for i, _c in info.other_audio] == [1, 2], info
    res = label_video_file(unknown, tmp_path / "unknown_out.mkv", credentials=credentials, **FAST)
    assert any(w.startswith("not in the output: 1 audio: MKV takes no unknown audio") for w in res.warnings), \
        res.warnings
    assert any("none carries the audio watermark" in w for w in res.warnings), res.warnings
    assert len(audio_streams(res.output)) == 1
    before = unknown.read_bytes()
    with pytest.raises(LabelingError, match=r"in place would lose .*\(1 audio: MKV takes no unknown audio"):
        label_video_file(unknown, unknown, credentials=credentials, in_place=True, **FAST)
    assert unknown.read_bytes() == before


def _subtitles(path) -> list[tuple[str, str | None, list[tuple[float, str]]]]:
    """(codec, language, [(start s, text)]) of each subtitle stream of ``path``, by ffprobe
    (an independent reader); the start relative to the first video frame's."""
    ffprobe = require_tool("ffprobe")

    def probe(*args):
        return json.loads(subprocess.run([ffprobe, "-v", "error", *args, "-of", "json", path],
                                         capture_output=True, check=True).stdout)

    streams = probe("-show_entries", "stream=index,codec_type,codec_name:stream_tags=language")["streams"]
    video0 = next(float(p["pts_time"]) for p in probe(
        "-select_streams", "v:0", "-show_entries", "packet=pts_time", "-read_intervals", "%+#1")["packets"])
    out = []
    for st in streams:
        if st["codec_type"] != "subtitle":
            continue
        packets = probe("-select_streams", str(st["index"]), "-show_entries",
                        "packet=pts_time,size:packet=data", "-show_data")["packets"]
        cues = []
        for p in packets:
            hexdump = "".join(line[10:49].replace(" ", "") for line in p.get("data", "").splitlines())
            text = bytes.fromhex(hexdump).decode("utf-8", "replace")
            cues.append((round(float(p["pts_time"]) - video0, 3), text))
        out.append((st["codec_name"], st.get("tags", {}).get("language"), cues))
    return out


def test_subtitles_are_carried_as_they_are(tmp_path, credentials):
    """Subtitle tracks were left out of every labeled video (with a warning): a film lost its
    captions. They are now copied as they are, packets untouched: MP4 text (mov_text), MKV
    SubRip and WebM WebVTT keep their words, language and timing against the picture, read back
    by ffprobe; verify passes; a kind the output container cannot hold (an MP4's mov_text into
    MKV) is left out and said; --in-place on a file whose extra streams are all carried works."""
    ffmpeg = require_tool("ffmpeg")
    srt = tmp_path / "s.srt"
    srt.write_text("1\n00:00:00,500 --> 00:00:01,200\nHello there\n\n"
                   "2\n00:00:01,400 --> 00:00:01,900\nSecond line\n")
    cases = {"mp4": ("mov_text", "libx264", "aac"), "mkv": ("srt", "libx264", "aac"),
             "webm": ("webvtt", "libvpx-vp9", "libopus")}
    for ext, (scodec, vcodec, acodec) in cases.items():
        src = tmp_path / f"sub_{ext}.{ext}"
        subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=2",
                        "-f", "lavfi", "-i", "sine=d=2", "-i", srt, "-map", "0", "-map", "1", "-map", "2",
                        "-c:v", vcodec, "-deadline", "realtime", "-cpu-used", "8", "-preset", "ultrafast",
                        "-pix_fmt", "yuv420p", "-c:a", acodec, "-c:s", scodec,
                        "-metadata:s:s:0", "language=fra", src], check=True)
        before = _subtitles(src)
        assert [c[1] for c in before] == ["fra"] and len(before[0][2]) >= 2, before
        res = label_video_file(src, tmp_path / f"out_{ext}.{ext}", credentials=credentials, **FAST)
        assert not any("not in the output" in w or "subtitle" in w for w in res.warnings), res.warnings
        after = _subtitles(res.output)
        assert after[0][:2] == before[0][:2], (ext, after)
        # the picture and the sound are the default tracks; the subtitles keep their own flag
        def flags(path):
            return [(f["codec_type"], f["disposition"]["default"]) for f in json.loads(subprocess.run(
                [require_tool("ffprobe"), "-v", "error", "-show_entries",
                 "stream=codec_type:stream_disposition=default", "-of", "json", path],
                capture_output=True, check=True).stdout)["streams"]]
        assert flags(res.output) == [("video", 1), ("audio", 1), flags(src)[2]], (ext, flags(res.output))
        # the same cues, at the same times against the first frame (within a millisecond:
        # Matroska's clock), with the same words
        texts = lambda cues: [(t, x.strip()) for t, x in cues if x.strip(" \x00\x02\x0b")]
        got, want = texts(after[0][2]), texts(before[0][2])
        assert len(got) == len(want) == 2 and all(
            abs(a[0] - b[0]) <= 0.0015 and a[1] == b[1] for a, b in zip(got, want)), (ext, got, want)
        assert any("Hello there" in x for _t, x in got) and any("Second line" in x for _t, x in got)
        rep = verify_video_file(res.output, key=credentials.watermark_key,
                                trust_anchors_pem=credentials.trust_anchors_pem)
        assert rep.error is None and rep.ok(), {k: v.summary for k, v in rep.layers.items()}
    # into another container: the kind it cannot hold is left out, named
    res = label_video_file(tmp_path / "sub_mp4.mp4", tmp_path / "to.mkv", credentials=credentials, **FAST)
    assert any(w.startswith("not in the output: 1 subtitle: MKV takes no mov_text subtitles (a labeled")
               for w in res.warnings), res.warnings
    assert _subtitles(res.output) == []
    # in place: nothing would be lost, so it is done, the subtitles kept; a Matroska
    # attachment (an ASS subtitle's font) goes along whole, file name and type included
    font = next(Path(labeling_video.__file__).parent.joinpath("fonts").glob("*.[ot]t[fc]"))
    inplace = tmp_path / "inplace.mkv"
    subprocess.run([ffmpeg, "-v", "error", "-i", tmp_path / "sub_mkv.mkv", "-map", "0", "-c", "copy",
                    "-attach", font, "-metadata:s:t", "mimetype=font/otf", inplace], check=True)
    assert video_io.probe(inplace).extra_streams == {"subtitle": 1, "attachment": 1}
    res = label_video_file(inplace, inplace, credentials=credentials, in_place=True, **FAST)
    assert res.output == inplace and [c[0] for c in _subtitles(inplace)] == ["subrip"]
    assert not any("not in the output" in w for w in res.warnings), res.warnings
    dumped = tmp_path / "dumped.font"
    subprocess.run([ffmpeg, "-v", "error", "-dump_attachment:t:0", dumped, "-i", inplace, "-f", "null",
                    "-"], capture_output=True)
    assert dumped.read_bytes() == font.read_bytes()
    res = label_video_file(inplace, tmp_path / "att.webm", credentials=credentials, **FAST)
    assert any(w.startswith("not in the output: 1 attachment, 1 subtitle: WEBM takes no subrip "
                            "subtitles or attachments (") for w in res.warnings), res.warnings


def test_subtitles_stored_out_of_time_order_are_all_carried(tmp_path, credentials):
    """An MKV whose subtitle blocks are stored out of time order (2.5 s, then 2.0 s, 4.0 s):
    the muxer refused the second, and the whole track stopped there (2 of 3 cues lost). The late
    cue now follows the one before, as ffmpeg -c copy places it, and every cue is carried."""
    ffmpeg = require_tool("ffmpeg")
    srt = tmp_path / "r.srt"
    srt.write_text("1\n00:00:00,500 --> 00:00:01,500\nHello first\n\n2\n00:00:02,000 --> "
                   "00:00:03,000\nSecond\n\n3\n00:00:04,000 --> 00:00:04,500\nThird\n")
    ok = tmp_path / "ok.mkv"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=5", "-i", srt,
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:s", "srt", ok],
                   check=True)
    data = bytearray(ok.read_bytes())
    i = data.find(b"Hello first")
    tc = int.from_bytes(data[i - 3:i - 1], "big", signed=True)   # the block's relative time (ms)
    data[i - 3:i - 1] = (tc + 2000).to_bytes(2, "big", signed=True)
    ooo = tmp_path / "ooo.mkv"
    ooo.write_bytes(bytes(data))
    assert [round(t, 1) for t, _x in _subtitles(ooo)[0][2]] == [2.5, 2.0, 4.0]
    res = label_video_file(ooo, tmp_path / "out.mkv", credentials=credentials, **FAST)
    cues = _subtitles(res.output)[0][2]
    assert [x for _t, x in cues] == ["Hello first", "Second", "Third"], cues
    assert [round(t, 2) for t, _x in cues] == [2.5, 2.5, 4.0], cues
    assert any("1 packet(s) stored out of time order were moved" in w for w in res.warnings), res.warnings
    # two ASS lines shown together (one time, two packets) are not out of order: kept as they are
    ass = tmp_path / "two.ass"
    ass.write_text("[Script Info]\nScriptType: v4.00+\n\n[V4+ Styles]\nFormat: Name, Fontname, Fontsize\n"
                   "Style: Default,Arial,20\n\n[Events]\nFormat: Layer, Start, End, Style, Text\n"
                   "Dialogue: 0,0:00:00.50,0:00:01.50,Default,Top line\n"
                   "Dialogue: 0,0:00:00.50,0:00:01.50,Default,Bottom line\n")
    together = tmp_path / "together.mkv"
    subprocess.run([ffmpeg, "-v", "error", "-i", ok, "-i", ass, "-map", "0:v", "-map", "1", "-c:v", "copy",
                    "-c:s", "ass", together], check=True)
    res = label_video_file(together, tmp_path / "together_out.mkv", credentials=credentials, **FAST)
    assert not any("stream #" in w for w in res.warnings), res.warnings
    cues = _subtitles(res.output)[0][2]
    assert [round(t, 3) for t, _x in cues] == [0.5, 0.5] and \
        [x.endswith(("Top line", "Bottom line")) for _t, x in cues] == [True, True], cues


def test_cover_art_is_never_taken_for_the_film(tmp_path, credentials):
    """A one-frame MJPEG cover stored as Matroska's first video track (no attached-picture
    flag there) was labeled in place of the film, and the film dropped; an MP4 cover art
    stream (attached picture) listed first among the video streams likewise. The film is
    labeled and kept, and the cover is named as left out; verify reads the film."""
    ffmpeg = require_tool("ffmpeg")
    film = make_clip(tmp_path / "film.mp4", seconds=2.0)
    cover = tmp_path / "cover.png"
    cv2.imwrite(str(cover), synthetic_photo(120, 96, seed=5))
    cases = {
        "mkv": (["-map", "1:v", "-map", "0:v", "-map", "0:a", "-c:v:0", "mjpeg"], {"other video": 1}),
        "mp4": (["-map", "1:v", "-map", "0:v", "-map", "0:a", "-c:v:0", "mjpeg",
                 "-disposition:v:0", "attached_pic"], {"cover art": 1}),
    }
    for ext, (args, left_out) in cases.items():
        src = tmp_path / f"with_cover.{ext}"
        subprocess.run([ffmpeg, "-loglevel", "error", "-i", film, "-i", cover, *args, "-c:v:1", "copy",
                        "-c:a", "copy", src], check=True)
        info = video_io.probe(src)
        assert (info.width, info.height) == (W, H) and info.extra_streams == left_out, (ext, info)
        out = tmp_path / f"out.{ext}"
        res = label_video_file(src, out, credentials=credentials, **FAST)
        kinds = ", ".join(f"1 {k}" for k in left_out)
        assert any(w.startswith(f"not in the output: {kinds} (") for w in res.warnings), res.warnings
        back = video_io.probe(out)
        assert (back.width, back.height) == (W, H) and back.extra_streams == {}
        assert res.frames == video_io.probe(film).frames
        rep = verify_video_file(out, key=credentials.watermark_key, trust_anchors_pem=None,
                                layers=("watermark",))
        assert rep.layers["watermark"].status is Status.OK, rep.layers["watermark"].summary


def test_a_timecode_track_is_carried(tmp_path, credentials):
    """A camera's or editor's MOV / MP4 with a start timecode (a tmcd track) lost it, with a
    warning about a dropped data stream: an editor then placed the labeled clip at 00:00:00:00.
    The output carries the same timecode (as a tmcd track again), and nothing is said dropped."""
    ffmpeg = require_tool("ffmpeg")
    ffprobe = require_tool("ffprobe")
    for ext in ("mov", "mp4"):
        src = tmp_path / f"tc.{ext}"
        subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=2",
                        "-f", "lavfi", "-i", "sine=d=2", "-timecode", "01:02:03:04", "-c:v", "libx264",
                        "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", src], check=True)
        res = label_video_file(src, tmp_path / f"out.{ext}", credentials=credentials, **FAST)
        assert not any("not in the output" in w for w in res.warnings), res.warnings
        probe = json.loads(subprocess.run(
            [ffprobe, "-v", "error", "-show_entries", "stream=codec_type,codec_tag_string:stream_tags=timecode",
             "-of", "json", res.output], capture_output=True, check=True).stdout)["streams"]
        tracks = {(st["codec_type"], st.get("codec_tag_string")): st.get("tags", {}).get("timecode")
                  for st in probe}
        assert tracks.get(("data", "tmcd")) == "01:02:03:04", (ext, probe)
        rep = verify_video_file(res.output, key=credentials.watermark_key,
                                trust_anchors_pem=credentials.trust_anchors_pem)
        assert rep.ok(), rep.to_json()


def test_mark_follows_the_pan_and_the_registered_pool_reads_it(labeled, tmp_path, credentials):
    # the fixture clips pan: the mark moves with the picture (the image engine's tile, the
    # "still" profile), and the detector reads it from the registered pool; a still camera's
    # mark stays put and the static pool reads it. Payloads included.
    for kind, (_src, _dst, res) in labeled.items():
        assert res.watermark_profile == "still" and res.motion >= wm_video.MOTION_MOVING, (kind, res.motion)
    mp4_src, mp4_dst, mp4_res = labeled["mp4"]
    det = detect_video(mp4_dst, credentials.watermark_key)
    assert det.detected and det.payload == mp4_res.content_id.value
    assert det.details["pool"] == "registered" and det.tests == 2
    assert abs(det.details["image_details"]["scale"] - 1.0) < 0.05
    src = make_clip(tmp_path / "still.mp4", audio=False, seconds=2.5, pan=0)
    dst = tmp_path / "still_out.mp4"
    res = label_video_file(src, dst, credentials=credentials, **FAST)
    assert res.watermark_profile == "still" and res.motion < wm_video.MOTION_MOVING
    det = detect_video(dst, credentials.watermark_key)
    assert det.detected and det.payload == res.content_id.value


def test_fixed_mark_of_earlier_releases_still_read(tmp_path, credentials, monkeypatch):
    # Videos labeled before the mark followed the picture carry a fixed mark, on a pan the
    # octave-lower "moving" profile: the static pool reads them.
    monkeypatch.setattr(wm_video, "FOLLOW_MOTION", False)
    src = make_clip(tmp_path / "pan.mp4", audio=False, seconds=2.5)
    dst = tmp_path / "pan_out.mp4"
    res = label_video_file(src, dst, credentials=credentials, **FAST)
    assert res.watermark_profile == "moving"
    det = detect_video(dst, credentials.watermark_key)
    assert det.detected and det.payload == res.content_id.value and det.details["pool"] == "static"
    assert abs(det.details["image_details"]["scale"] - 2.0) < 0.05     # the moving profile's tile


def test_flat_video_is_labeled_with_a_warning(labeled, tmp_path, credentials):
    """Like a flat image, a video too flat to carry a reliable mark is labeled and says so."""
    sky = np.linspace(20, 60, H, dtype=np.float32)[:, None, None] * np.ones((1, W, 3), np.float32)
    rng = np.random.default_rng(5)

    def frames():
        for i in range(int(2.0 * FPS)):
            img = np.clip(sky + rng.normal(0, 1.0, (H, W, 1)), 0, 255).astype(np.uint8)
            img[100:140, 40 + 6 * i:80 + 6 * i] = (220, 220, 210)      # a small object crossing
            yield img

    path = write_clip(tmp_path / "flat.mp4", frames())
    res = label_video_file(path, tmp_path / "flat_out.mp4", credentials=credentials, **FAST)
    assert any("video is mostly flat" in w for w in res.warnings), res.warnings
    assert not any("flat" in w for w in labeled["mp4"][2].warnings)
    # limited-range luma (16-235) is compared in RGB-equivalent levels: x 255/219
    y = np.clip(128 + np.random.default_rng(1).normal(0, 2.5, (270, 480)), 0, 255).astype(np.uint8)
    level = watermark.texture_level(y)
    assert level < watermark.FLAT_TEXTURE <= level * 255 / 219
    assert "median texture 1.47" in wm_video.flat_warning([y], full_range=True)
    assert wm_video.flat_warning([y], full_range=False) is None


def test_profile_follows_a_change_of_motion(tmp_path, credentials, monkeypatch):
    """With a fixed mark (FOLLOW_MOTION off), a camera move that settles into a still shot:
    the opening probe picks the moving profile, the tracker switches to the still one once
    the stillness lasts SWITCH_SECONDS, and the video still decodes."""
    monkeypatch.setattr(wm_video, "FOLLOW_MOTION", False)
    base = synthetic_photo(H, W + 200, 9)
    n_pan, n_still = int(1.0 * FPS), int(2.6 * FPS)
    path = write_clip(tmp_path / "pan_then_still.mp4",
                      (base[:, 12 * min(i, n_pan):12 * min(i, n_pan) + W] for i in range(n_pan + n_still)))
    dst = tmp_path / "out.mp4"
    res = label_video_file(path, dst, credentials=credentials, **FAST)
    assert res.watermark_profile == "moving"
    assert [name for _t, name in res.profile_switches] == ["still"], res.profile_switches
    t_switch = res.profile_switches[0][0]
    lag = wm_video.TRACK_PAIRS * wm_video.TRACK_SECONDS + 0.1      # the pairs' median catching up
    assert 1.0 + wm_video.SWITCH_SECONDS <= t_switch <= 1.0 + wm_video.SWITCH_SECONDS + lag
    det = detect_video(dst, credentials.watermark_key)
    assert det.detected and det.payload == res.content_id.value


def test_motion_tracker_needs_a_lasting_change():
    rng = np.random.default_rng(4)
    tex = cv2.GaussianBlur(rng.normal(128, 40, (270, 560)).astype(np.float32), (0, 0), 1.5)
    frame = lambda x: np.clip(tex[:, x:x + 480], 0, 255).astype(np.uint8)    # noqa: E731
    still, moving = (frame(0), frame(0)), (frame(0), frame(8))
    dt = wm_video.TRACK_SECONDS
    # still content under the moving profile: switches once, after SWITCH_SECONDS of pairs
    tr = wm_video.MotionTracker(wm_video.MOVING, dt)
    calls = [tr.add_pair(*still) for _ in range(12)]
    switched = [i for i, c in enumerate(calls) if c is not None]
    assert len(switched) == 1 and calls[switched[0]] is wm_video.STILL
    assert (switched[0] + 1 - wm_video.TRACK_PAIRS + 1) * dt >= wm_video.SWITCH_SECONDS
    # motion that comes and goes never lasts long enough: no switch, whichever profile
    for profile in (wm_video.STILL, wm_video.MOVING):
        tr = wm_video.MotionTracker(profile, dt)
        pairs = [moving if i % 2 else still for i in range(24)]       # flips every pair
        assert all(tr.add_pair(*pr) is None for pr in pairs)
    # a lasting pan switches the still profile to the moving one; differently sized planes
    # (a resolution change) are ignored
    tr = wm_video.MotionTracker(wm_video.STILL, dt)
    assert tr.add_pair(frame(0), frame(0)[:200]) is None
    assert any(tr.add_pair(*moving) is wm_video.MOVING for _ in range(12))


def test_moving_fraction_separates_still_from_panning():
    rng = np.random.default_rng(5)
    scene = cv2.GaussianBlur(rng.normal(128, 40, (400, 700)).astype(np.float32), (0, 0), 2.0)
    noisy = lambda a: np.clip(a + rng.normal(0, 2.0, a.shape), 0, 255).astype(np.uint8)
    still = [noisy(scene[:, :640]) for _ in range(6)]
    pan = [noisy(scene[:, 6 * i:6 * i + 640]) for i in range(6)]
    # a still scene with one small high-contrast object crossing it is still a still camera
    obj = [f.copy() for f in still]
    for i, f in enumerate(obj):
        f[150:190, 30 + 40 * i:70 + 40 * i] = 255
    assert wm_video.moving_fraction(still) < 0.05
    assert wm_video.moving_fraction(obj) < 0.2 * wm_video.MOTION_MOVING
    assert wm_video.moving_fraction(pan) > 0.9
    assert wm_video.profile_for(wm_video.moving_fraction(still), follow=False) is wm_video.STILL
    assert wm_video.profile_for(wm_video.moving_fraction(obj), follow=False) is wm_video.STILL
    assert wm_video.profile_for(wm_video.moving_fraction(pan), follow=False) is wm_video.MOVING
    # a mark that follows the picture uses the image engine's tile whatever the motion
    assert wm_video.profile_for(wm_video.moving_fraction(pan), follow=True) is wm_video.STILL
    assert wm_video.moving_fraction(still[:1]) == 0.0


def test_moving_profile_pattern_is_an_octave_lower():
    key = bytes(range(32))
    radial = []
    for scale in (1, 2):
        p = wm_video.video_pattern(640, 360, 0x1234, key, scale)
        assert p.shape == (360, 640) and p.dtype == np.float32
        assert abs(float(np.sqrt(np.mean(p * p))) - 1.0) < 1e-3
        P2 = np.abs(np.fft.fft2(p)) ** 2
        fy, fx = np.meshgrid(np.fft.fftfreq(360), np.fft.fftfreq(640), indexing="ij")
        radial.append(float(np.sum(np.hypot(fy, fx) * P2) / np.sum(P2)))
    assert 0.4 < radial[1] / radial[0] < 0.6, radial
    with pytest.raises(ValueError):
        wm_video.video_pattern(640, 360, 0x1234, key, 3)


def test_rotation_kept_and_label_upright(tmp_path, credentials):
    src = make_clip(tmp_path / "rot.mp4", audio=False, seconds=2.5, rotation=90)
    assert video_io.probe(src).rotation == 90
    for ext in (".mp4", ".mkv"):
        dst = tmp_path / f"rot_out{ext}"
        label_video_file(src, dst, credentials=credentials, **FAST)
        info = video_io.probe(dst)
        assert info.rotation == 90 and (info.width, info.height) == (W, H)
        _t, rgb = next(iter(frames_rgb(dst)))       # displayed orientation: H x W swapped
        assert rgb.shape[:2] == (W, H)
        det = text_label.detect_label(rgb, "AI生成")
        assert det.found and det.position == "bottom-right"
        assert detect_video(dst, credentials.watermark_key).detected


def test_audio_cue_mixed_without_changing_duration(tmp_path, credentials):
    src = make_clip(tmp_path / "in.mp4", seconds=3.0)
    dst = tmp_path / "cue.mp4"
    res = label_video_file(src, dst, credentials=credentials, audio_cue=True, **FAST)
    assert res.cue_times and res.cue_times[0] < 0.5
    assert abs(video_io.probe(dst).duration - video_io.probe(src).duration) < 0.15
    rep = verify_video_file(dst, key=credentials.watermark_key,
                            trust_anchors_pem=credentials.trust_anchors_pem, layers=("explicit",))
    assert rep.layers["explicit"].details["audio_cue"]["found"]
    assert "; audio cue at 0." in rep.layers["explicit"].summary    # the text report says so too
    # labeled again with the cue: the soundtrack's cue is kept, not mixed in a second time
    # (which only made it louder: twice the amplitude over the content ducked twice)
    again = tmp_path / "again.mp4"
    res2 = label_video_file(dst, again, credentials=credentials, audio_cue=True, **FAST)
    assert res2.cue_times == [], res2.cue_times
    assert any("rhythm cue is at the start of the soundtrack already" in w for w in res2.warnings)
    x1, rate = video_io.read_audio(dst, 0.0, 1.5)
    x2, _ = video_io.read_audio(again, 0.0, 1.5)
    level = [float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) for x in (x1, x2)]
    assert 0.8 < level[1] / level[0] < 1.2, level
    rep = verify_video_file(again, key=credentials.watermark_key,
                            trust_anchors_pem=credentials.trust_anchors_pem, layers=("explicit",))
    assert rep.layers["explicit"].details["audio_cue"]["found"]


def test_read_audio_decodes_a_span_from_the_timestamps(tmp_path):
    """video_io.read_audio: the samples the streaming reader decodes there; after a seek, to
    Matroska's 1 ms timestamp precision. (A FLAC soundtrack: an AAC decoder's noise
    substitution draws other noise after a seek.)"""
    src = tmp_path / "in.mkv"
    subprocess.run([require_tool("ffmpeg"), "-v", "error", "-f", "lavfi", "-i",
                    "testsrc=size=160x120:rate=10:d=4", "-f", "lavfi", "-i",
                    "anoisesrc=d=4:c=pink:r=48000:a=0.3", "-ac", "2", "-c:v", "libx264",
                    "-preset", "ultrafast", "-c:a", "flac", str(src)], check=True)
    rate = video_io.probe(src).audio.sample_rate
    full = np.concatenate([v[0] for k, v in video_io.VideoReader(src) if k == "audio"])
    for start, seconds in ((0.0, 1.0), (2.2, 1.0), (3.5, 5.0)):
        x, r = video_io.read_audio(src, start, seconds)
        lo, n = round(start * rate), round(seconds * rate)
        assert r == rate and x.dtype == np.float32 and len(x) == len(full[lo:lo + n]), start
        tol = 0 if start == 0 else rate // 1000
        err = min(np.max(np.abs(x[tol:len(x) - tol] - full[lo + d + tol:lo + d + len(x) - tol]))
                  for d in range(-tol, tol + 1))
        assert err < 1e-3, (start, err)
    assert video_io.read_audio(make_clip(tmp_path / "mute.mp4", seconds=1.0, audio=False),
                               0.0, 1.0) is None


def test_unmarked_and_wrong_key_not_detected(labeled, credentials):
    src, dst, _ = labeled["mp4"]
    assert not detect_video(src, credentials.watermark_key).detected
    det = detect_video(dst, bytes(reversed(credentials.watermark_key)))
    assert not det.detected and det.p_value > 1e-6


def test_several_watermark_keys(labeled, credentials):
    """Keys tried in turn on frames and soundtrack: the labeling key, given second, is found
    and named in the report; a foreign key alone finds nothing in either."""
    _src, dst, res = labeled["mp4"]
    other = bytes(reversed(credentials.watermark_key))
    det = detect_video(dst, [other, credentials.watermark_key], audio=True)
    assert det.detected and f"{det.payload:016x}" == res.content_id.hex
    assert det.details["key_index"] == 2
    # A 3 s soundtrack is short of the audio mark's 5 s presence and 8 s payload lengths, so
    # its detection is not asserted; when it is found, it is under the right key.
    sound = det.details["audio"]
    assert not sound["detected"] or sound["key_index"] == 2
    rep = verify_video_file(dst, key=[other, credentials.watermark_key],
                            trust_anchors_pem=credentials.trust_anchors_pem, layers=("watermark",))
    wm = rep.layers["watermark"]
    assert wm.status is Status.OK and "key 2 of 2" in wm.summary
    sound = wm.details["audio"]
    assert not sound["detected"] or sound["key_index"] == 2
    assert ("soundtrack agrees" in wm.summary) == (sound["payload"] is not None), wm.summary
    rep = verify_video_file(dst, key=[other], trust_anchors_pem=None, layers=("watermark",))
    assert rep.layers["watermark"].status is Status.MISSING
    assert not rep.layers["watermark"].details["audio"]["detected"]


@pytest.mark.parametrize("case", ["garbage", "text", "truncated_moov", "truncated_mdat", "audio_only", "empty"])
def test_bad_inputs_raise_one_line(tmp_path, credentials, case):
    p = tmp_path / f"bad_{case}.mp4"
    if case == "garbage":
        p.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    elif case == "text":
        p = tmp_path / "bad.mkv"
        p.write_text("this is not a video\n" * 100)
    elif case == "truncated_moov":          # moov at the end (PyAV default): cut it off
        full = make_clip(tmp_path / "full.mp4", audio=False, seconds=2.0)
        p.write_bytes(full.read_bytes()[: full.stat().st_size * 2 // 3])
    elif case == "truncated_mdat":          # moov first, media data cut
        full = make_clip(tmp_path / "full.mp4", audio=False, seconds=3.0, faststart=True)
        p.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    elif case == "audio_only":
        p = tmp_path / "audio.m4a"
        with av.open(str(p), "w", format="ipod") as out:
            s = out.add_stream("aac", rate=48000, layout="mono")
            af = av.AudioFrame.from_ndarray(np.zeros((1, 48000), np.float32), format="fltp", layout="mono")
            af.sample_rate, af.pts = 48000, 0
            for pk in s.encode(af):
                out.mux(pk)
            for pk in s.encode():
                out.mux(pk)
    else:
        p.write_bytes(b"")
    with pytest.raises(LabelingError) as ei:
        label_video_file(p, tmp_path / "out.mp4", credentials=credentials, **FAST)
    msg = str(ei.value)
    assert msg and "\n" not in msg
    assert not (tmp_path / "out.mp4").exists()
    assert not [q for q in tmp_path.iterdir() if q.name.startswith(".out.mp4")]


def test_existing_output_not_overwritten(labeled, credentials, tmp_path):
    src, _dst, _ = labeled["mp4"]
    target = tmp_path / "exists.mp4"
    target.write_bytes(b"keep me")
    with pytest.raises(LabelingError, match="exists"):
        label_video_file(src, target, credentials=credentials, **FAST)
    assert target.read_bytes() == b"keep me"


def test_codec_choice_and_h265(tmp_path, credentials):
    src = make_clip(tmp_path / "in.mp4", audio=False, seconds=2.0)
    dst = tmp_path / "h265.mp4"
    label_video_file(src, dst, credentials=credentials, codec="h265", crf=26, **FAST)
    assert video_io.probe(dst).codec == "hevc"
    with pytest.raises(LabelingError, match="WEBM cannot carry h264"):
        label_video_file(src, tmp_path / "x.webm", credentials=credentials, codec="h264")


def test_container_follows_content_not_name(tmp_path):
    """A WebM named .mkv stays WebM (VP9) and is written as .webm; the name is not trusted."""
    ffmpeg = require_tool("ffmpeg")
    src = tmp_path / "clip.mkv"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=15",
                    "-t", "2.5", "-c:v", "libvpx-vp9", "-b:v", "300k", "-f", "webm", str(src)],
                   check=True)
    from test_pipeline_cli import run

    r = run("label", src, "-o", tmp_path / "out", "-j", "1")
    assert r.returncode == 0, r.stderr
    assert "does not match the content" in r.stderr
    out = tmp_path / "out" / "clip.webm"
    assert out.exists() and (tmp_path / "out" / "clip.c2pa").exists()
    assert not (tmp_path / "out" / "clip.mkv").exists()
    rep = json.loads(run("verify", "--json", out).stdout)
    assert rep["media_type"] == "video/webm" and rep["ok"] is True, rep


def test_odd_frame_sizes_and_hevc_tag(tmp_path, credentials):
    """H.264/H.265 need even sides: a 481 x 271 video is encoded at 480 x 270 with a warning
    (it used to fail with the encoder's raw error); HEVC in MP4 is tagged hvc1, which Apple
    players require; --video-cue on a silent video says the cue was not mixed."""
    ffprobe = require_tool("ffprobe")
    base = synthetic_photo(271, 541, 8)
    src = write_clip(tmp_path / "odd.mp4", (base[:, i:i + 481] for i in range(2 * FPS)),
                     size=(481, 271), vp9=True)
    for codec, tag in (("h264", "avc1"), ("h265", "hvc1")):
        dst = tmp_path / f"out_{codec}.mp4"
        res = label_video_file(src, dst, credentials=credentials, codec=codec, audio_cue=True, **FAST)
        assert f"{codec.upper()} needs even frame sides: 481x271 encoded as 480x270" in res.warnings
        assert "audio cue not mixed: the video has no soundtrack" in res.warnings
        (st,) = json.loads(subprocess.run([ffprobe, "-v", "error", "-show_streams", "-of", "json", dst],
                                          capture_output=True, text=True, check=True).stdout)["streams"]
        assert (st["width"], st["height"], st["codec_tag_string"]) == (480, 270, tag)
        rep = verify_video_file(dst, key=credentials.watermark_key,
                                trust_anchors_pem=credentials.trust_anchors_pem)
        assert all(r.status is Status.OK for r in rep.layers.values()), rep.to_dict()


def test_very_short_and_heavily_compressed_videos(tmp_path, credentials):
    """A one-frame video: verify looks at the frame there is (its sample times lie beyond the
    clip). Every video is read back after encoding (unless watermark_readback=False), and the
    labeler warns exactly when verify would not find the frame mark."""
    one = make_clip(tmp_path / "one.mp4", audio=False, seconds=1 / FPS)
    res = label_video_file(one, tmp_path / "one_out.mp4", credentials=credentials, **FAST)
    rep = verify_video_file(tmp_path / "one_out.mp4", key=credentials.watermark_key,
                            trust_anchors_pem=None, layers=("explicit", "watermark"))
    assert rep.layers["explicit"].status is Status.OK, rep.layers["explicit"].summary
    assert "readback" in res.timings
    warned = any("read back from the encoded video" in w for w in res.warnings)
    assert warned == (rep.layers["watermark"].status is not Status.OK), (res.warnings, rep.to_dict())
    src = make_clip(tmp_path / "tex.mp4", audio=False, seconds=3.5)
    outcomes = set()
    for crf in (30, 51):
        dst = tmp_path / f"crf{crf}.mp4"
        res = label_video_file(src, dst, credentials=credentials, crf=crf, **FAST)
        assert "readback" in res.timings
        det = detect_video(dst, credentials.watermark_key)
        warned = [w for w in res.warnings if "read back from the encoded video" in w]
        assert bool(warned) == (det.payload != int(res.content_id.hex, 16)), (crf, res.warnings)
        if warned:
            assert f"H264 CRF {crf}" in warned[0] and "try a lower CRF (default 23)" in warned[0]
        outcomes.add(bool(warned))
    assert True in outcomes, "CRF 51 should wipe the frame mark"
    res = label_video_file(src, tmp_path / "default.mp4", credentials=credentials, **FAST)
    assert "readback" in res.timings and not any("read back" in w for w in res.warnings)
    res = label_video_file(src, tmp_path / "unchecked.mp4", credentials=credentials,
                           spec=LabelSpec(watermark_readback=False), **FAST)
    assert "readback" not in res.timings


def test_a_short_soundtrack_is_read_back(tmp_path, credentials, monkeypatch):
    """A 6 s soundtrack at its source's 64 kb/s mono AAC lost its mark without a word (the
    frames read back, the sound was never checked): under 10 s it is now read back from the
    encoded file, and labeling warns exactly when the detector would miss it there. (Noise
    and content IDs are seeded: whether a 6 s clip's payload outlives AAC depends on both.)"""
    from synthlabel.models import ContentID

    ffmpeg = require_tool("ffmpeg")
    rng = np.random.default_rng(6)
    monkeypatch.setattr(ContentID, "new", classmethod(lambda cls: cls(int(rng.integers(0, 2**63)))))
    src = tmp_path / "in.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=3",
                    "-f", "lavfi", "-i", "sine=f=300:d=6,volume=0.5", "-f", "lavfi", "-i",
                    "anoisesrc=d=6:a=0.1:seed=7", "-filter_complex", "[1][2]amix=inputs=2[a]",
                    "-map", "0:v", "-map", "[a]", "-ar", "44100", "-c:v", "libx264", "-preset",
                    "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", src], check=True)
    outcomes = []
    for kbps in (None, 160_000):
        spec = LabelSpec(audio_bitrate=kbps) if kbps else None
        res = label_video_file(src, tmp_path / f"out{kbps}.mp4", spec=spec, credentials=credentials, **FAST)
        assert "readback_sound" in res.timings
        warned = any(w.startswith("watermark: soundtrack read back") for w in res.warnings)
        sound, rate = video_io.read_audio(tmp_path / f"out{kbps}.mp4", 0.0, 10.0)
        det = watermark.detect_audio(sound, rate, credentials.watermark_key)
        assert warned is (det.payload != int(res.content_id.hex, 16)), (kbps, res.warnings)
        outcomes.append(warned)
    assert outcomes[0], "64 kb/s: the 6 s soundtrack's mark does not outlive AAC"


def test_whole_video_is_judged_near_the_end(tmp_path, credentials):
    """"whole video" comes from a frame half a second before the end: a label shown for 5 s of
    a 6 s clip is not reported persistent (the check used to look at 4 s only)."""
    src = make_clip(tmp_path / "in.mp4", seconds=6.0, audio=False)
    spec = LabelSpec(watermark=False, c2pa=False, metadata=False)
    for name, kw, want in (("five", {"label_seconds": 5.0}, False), ("all", {"persistent": True}, True)):
        dst = tmp_path / f"{name}.mp4"
        label_video_file(src, dst, credentials=credentials, spec=spec, **kw, **FAST)
        rep = verify_video_file(dst, key=credentials.watermark_key, trust_anchors_pem=None,
                                layers=("explicit",))
        ex = rep.layers["explicit"]
        assert ex.status is Status.OK and ex.details["persistent"] is want, (name, ex.summary)
        assert ("whole video" in ex.summary) is want


def test_lossless_soundtrack_reencoded_lossy_is_warned(tmp_path, credentials):
    ffmpeg = require_tool("ffmpeg")
    src = tmp_path / "flac.mkv"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", f"testsrc2=size={W}x{H}:rate={FPS}",
                    "-f", "lavfi", "-i", "sine=frequency=440", "-t", "2", "-c:v", "libx264",
                    "-preset", "ultrafast", "-c:a", "flac", src], check=True)
    res = label_video_file(src, tmp_path / "out.mkv", credentials=credentials,
                           spec=LabelSpec(c2pa=False), **FAST)
    assert "the FLAC soundtrack is re-encoded as AAC (lossy; labeled MKV files carry AAC sound)" in res.warnings


def test_a_soundtrack_mark_clipped_at_full_scale_is_warned(tmp_path, credentials):
    """A soundtrack at full scale: the mark's peaks past it are clipped, and the report says
    how many (as for audio files); a soundtrack with headroom gets no such word."""
    ffmpeg = require_tool("ffmpeg")
    rng = np.random.default_rng(4)
    for name, peak in (("loud", 0.999), ("room", 0.5)):
        wav = tmp_path / f"{name}.wav"
        sf.write(wav, np.clip(rng.normal(0, 0.3, (48000 * 2, 2)), -1, 1) * peak, 48000, subtype="PCM_24")
        src = tmp_path / f"{name}.mkv"
        subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", f"testsrc2=size={W}x{H}:rate={FPS}",
                        "-i", wav, "-t", "2", "-c:v", "libx264", "-preset", "ultrafast",
                        "-c:a", "flac", src], check=True)
        res = label_video_file(src, tmp_path / f"{name}.out.mkv", credentials=credentials,
                               spec=LabelSpec(c2pa=False), **FAST)
        said = [w for w in res.warnings if "past full scale" in w]
        if peak > 0.99:
            assert len(said) == 1 and said[0].startswith("soundtrack: the watermark took"), res.warnings
        else:
            assert not said, res.warnings


def test_edit_lists_and_start_offsets_are_not_truncation(tmp_path, credentials):
    """Valid files were refused as "truncated or corrupt": an MP4 cut with "-ss ... -c copy"
    (its edit list hides stored frames) and Matroska with a start offset (its duration runs
    to the last timestamp)."""
    import synthlabel

    ffmpeg = require_tool("ffmpeg")
    base = tmp_path / "base.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=5",
                    "-f", "lavfi", "-i", "sine=d=5", "-c:v", "libx264", "-bf", "8", "-g", "100",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", "-movflags", "+faststart",
                    base], check=True)
    cut = tmp_path / "cut.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-ss", "1.3", "-i", base, "-t", "3", "-c", "copy", cut],
                   check=True)
    late = tmp_path / "late.mkv"
    subprocess.run([ffmpeg, "-v", "error", "-i", base, "-t", "3", "-c", "copy",
                    "-output_ts_offset", "10", late], check=True)
    for src in (cut, late):
        res = synthlabel.label_file(src, tmp_path / "out", credentials=credentials)
        rep = synthlabel.verify_file(res.output, credentials=credentials, layers=("watermark",))
        assert rep.layers["watermark"].status.value == "ok", (src.name, rep.layers["watermark"].summary)
    # A really truncated file (moov first, media data cut) is still refused.
    data = base.read_bytes()
    short = tmp_path / "short.mp4"
    short.write_bytes(data[: len(data) // 2])
    with pytest.raises(synthlabel.LabelingError, match="truncated|corrupt"):
        synthlabel.label_file(short, tmp_path / "out2", credentials=credentials)


def test_matroska_cut_short_is_refused(tmp_path, credentials):
    """A Matroska / WebM file cut short by under a tenth was labeled as if complete (and verify
    never noticed a cut at all: it now runs labeling's check, video_io.cut_short): it has no
    frame count, and its declared length (the longest stream's) was checked with a 10 % + 0.5 s
    tolerance, there for files whose soundtrack outlasts the picture. Each stream's own
    DURATION tag is now checked against where its data ends, or without tags, where every
    stream's data ends against the declared length."""
    ffmpeg = require_tool("ffmpeg")

    def run(*args):
        subprocess.run([ffmpeg, "-v", "error", *map(str, args)], check=True)

    full = tmp_path / "full.mkv"                   # 6 s of picture and sound
    run("-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=6", "-f", "lavfi", "-i", "sine=d=6",
        "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", full)
    long_sound = tmp_path / "long_sound.mkv"       # 3 s of picture, 6 s of sound
    run("-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=3", "-f", "lavfi", "-i", "sine=d=6",
        "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", long_sound)
    srt = tmp_path / "s.srt"                       # a subtitle running past the end
    srt.write_text("1\n00:00:00,000 --> 00:00:09,000\nhello\n")
    subtitled = tmp_path / "subtitled.mkv"
    run("-i", full, "-i", srt, "-map", "0", "-map", "1", "-c", "copy", subtitled)
    webm = tmp_path / "w.webm"
    run("-f", "lavfi", "-i", "testsrc2=s=320x240:r=24:d=5", "-c:v", "libvpx-vp9", "-deadline",
        "realtime", "-cpu-used", "8", webm)
    untagged = tmp_path / "untagged.mkv"           # as muxers that write no DURATION tags
    data = full.read_bytes()
    assert data.count(b"DURATION") == 2
    untagged.write_bytes(data.replace(b"DURATION", b"XURATION"))

    def cut(src, fraction):
        dst = tmp_path / f"cut_{fraction}_{src.name}"
        data = src.read_bytes()
        dst.write_bytes(data[: int(len(data) * fraction)])
        return dst

    def verify_error(path):
        return verify_video_file(path, key=credentials.watermark_key, trust_anchors_pem=None).error

    for src in (full, long_sound, subtitled, webm, untagged):
        res = label_video_file(src, tmp_path / f"out_{src.name}", credentials=credentials, **FAST)
        assert res.output.exists(), src.name
        assert verify_error(src) is None and verify_error(res.output) is None, src.name
    for src, what in ((cut(full, 0.97), "frames end"), (cut(long_sound, 0.9), "sound ends"),
                      (cut(webm, 0.97), "frames end"), (cut(untagged, 0.97), "data ends")):
        out = tmp_path / f"out_{src.name}"
        with pytest.raises(LabelingError, match=f"truncated or corrupt video: {what} at ") as ei:
            label_video_file(src, out, credentials=credentials, **FAST)
        assert "\n" not in str(ei.value)
        assert not out.exists()
        # verify read them as whole (exit 0 or 1 for the layers); now as labeling does, a
        # file not fully readable (exit 2), its layers read from what is there
        assert f"truncated or corrupt video: {what} at " in (verify_error(src) or ""), src.name


def test_low_frame_rate_label_checked_on_the_frames_on_screen(tmp_path, credentials):
    """A 1 fps slideshow labeled with the defaults (label on frames 0-2, the first 3 s) was
    "weak" in verify: it sampled the first frames at or after 0.1, 1.0 and 1.9 s, i.e. those
    at 1, 2 and 3 s, the last past the label. It now samples the frames on screen then."""
    import synthlabel

    ffmpeg = require_tool("ffmpeg")
    src = tmp_path / "slides.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=480x270:r=1:d=5",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", src], check=True)
    res = synthlabel.label_file(src, tmp_path / "out", credentials=credentials)
    rep = synthlabel.verify_file(res.output, credentials=credentials, layers=("explicit",))
    explicit = rep.layers["explicit"]
    assert explicit.status.value == "ok", explicit.summary
    assert [f["t"] for f in explicit.details["frames"]] == [0.0, 1.0]


def test_video_cue_follows_a_soundtrack_shorter_than_the_picture(tmp_path, credentials):
    """--video-cue --cue end on a 5 s video with 3 s of sound placed the cue at 5 s, past the
    sound: none was mixed, without a word. It now ends with the soundtrack; a soundtrack
    shorter than the cue itself gets a warning instead of silence."""
    import synthlabel

    ffmpeg = require_tool("ffmpeg")
    spec = synthlabel.LabelSpec(video_audio_cue=True, cue_where="end")
    for secs, fits in ((3, True), (1, False)):
        src = tmp_path / f"a{secs}.mp4"
        subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=5",
                        "-f", "lavfi", "-i", f"anoisesrc=d={secs}:a=0.05", "-c:v", "libx264",
                        "-pix_fmt", "yuv420p", "-c:a", "aac", src], check=True)
        res = synthlabel.label_file(src, tmp_path / f"out{secs}.mp4", spec=spec if fits else
                                    synthlabel.LabelSpec(video_audio_cue=True), credentials=credentials)
        rep = synthlabel.verify_file(res.output, credentials=credentials, layers=("explicit",))
        cue = rep.layers["explicit"].details["audio_cue"]
        short = [w for w in res.warnings if w.startswith("audio cue not fully mixed")]
        if fits:
            assert cue["found"] and not short, (cue, res.warnings)
            assert cue["times"] and 1.0 < cue["times"][-1] < secs - 1.0, cue
        else:
            assert short and "1.00 s of sound" in short[0], res.warnings


def test_audio_only_webm_is_refused_with_the_way_out(tmp_path, credentials, monkeypatch):
    """A browser's audio-only WebM (MediaRecorder) was refused as "no video stream (not a video
    file?)". It is still refused, by what it is, with the command that takes the sound out,
    and that sound labels. The command names the file as it was given (it named it alone,
    which ran only in the file's own folder), quoted for the shell."""
    import shlex

    import synthlabel

    ffmpeg = require_tool("ffmpeg")
    (tmp_path / "in box").mkdir()
    src = tmp_path / "in box" / "voice.webm"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "sine=d=3", "-c:a", "libopus", src],
                   check=True)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(synthlabel.LabelingError, match=r"audio-only WEBM \(opus\) is not supported") as exc:
        synthlabel.label_file(Path("in box/voice.webm"), tmp_path / "out.webm", credentials=credentials)
    cmd = shlex.split(str(exc.value).split("(ffmpeg ", 1)[1].split(") and")[0])
    assert cmd[1] == "in box/voice.webm", cmd
    subprocess.run([ffmpeg, "-v", "error", *cmd], cwd=tmp_path, check=True)
    shutil.move(tmp_path / "in box" / "voice.opus", tmp_path / "voice.opus")
    res = synthlabel.label_file(tmp_path / "voice.opus", tmp_path / "voice_l.opus", credentials=credentials)
    assert res.ok and "c2pa" in res.layers


def test_anamorphic_aspect_kept_and_a_downmix_said(tmp_path, credentials):
    """An anamorphic video (720x480 at SAR 32:27) came out with square pixels, squashed; a
    5.1 Opus soundtrack in WebM became stereo without a word."""
    import json as _json

    import synthlabel

    ffmpeg, ffprobe = require_tool("ffmpeg"), require_tool("ffprobe")
    ana = tmp_path / "ana.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=720x480:r=25:d=2",
                    "-vf", "setsar=32/27", "-c:v", "libx264", "-pix_fmt", "yuv420p", ana], check=True)
    res = synthlabel.label_file(ana, tmp_path / "out", credentials=credentials)
    probe = _json.loads(subprocess.run([ffprobe, "-v", "error", "-show_entries",
                                        "stream=sample_aspect_ratio,display_aspect_ratio", "-of", "json",
                                        res.output], capture_output=True, check=True).stdout)
    assert probe["streams"][0]["sample_aspect_ratio"] == "32:27"
    assert probe["streams"][0]["display_aspect_ratio"] == "16:9"
    web = tmp_path / "surround.webm"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=2",
                    "-f", "lavfi", "-i", "anoisesrc=d=2:a=0.2,aformat=channel_layouts=5.1",
                    "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8",
                    "-c:a", "libopus", "-b:a", "256k", "-shortest", web], check=True)
    res = synthlabel.label_file(web, tmp_path / "out", credentials=credentials)
    assert any("6-channel soundtrack is downmixed to stereo" in w for w in res.warnings), res.warnings


def test_chapters_are_carried_and_interlacing_and_small_frames_told(tmp_path, credentials):
    """Chapters (Matroska's, an MP4's chapter track) are carried into the output, which ffprobe
    reads; an MP4's chapter track is not reported as a dropped stream. Interlaced input is
    written progressive with a warning; a tiny frame's mark is read back."""
    import synthlabel

    ffmpeg = require_tool("ffmpeg")
    meta = tmp_path / "chapters.txt"
    meta.write_text(";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=1000\ntitle=A\n"
                    "[CHAPTER]\nTIMEBASE=1/1000\nSTART=1000\nEND=2000\ntitle=B\n")

    def chapters(path):
        out = subprocess.run([require_tool("ffprobe"), "-v", "error", "-show_chapters", "-of", "json",
                              path], check=True, capture_output=True, text=True).stdout
        return [(float(c["start_time"]), float(c["end_time"]), c["tags"]["title"])
                for c in json.loads(out)["chapters"]]

    src = tmp_path / "c.mkv"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=2",
                    "-i", meta, "-map_chapters", "1", "-c:v", "libx264", "-flags", "+ildct+ilme",
                    "-pix_fmt", "yuv420p", src], check=True)
    res = synthlabel.label_file(src, tmp_path / "out", credentials=credentials)
    assert not any("chapter" in w for w in res.warnings), res.warnings
    assert chapters(res.output) == [(0.0, 1.0, "A"), (1.0, 2.0, "B")]
    assert any("interlaced video is written progressive" in w for w in res.warnings), res.warnings
    mp4 = tmp_path / "c.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=2",
                    "-i", meta, "-map_chapters", "1", "-c:v", "libx264", "-pix_fmt", "yuv420p", mp4],
                   check=True)
    res = synthlabel.label_file(mp4, tmp_path / "c_out.mp4", credentials=credentials)
    assert res.warnings == [], res.warnings
    assert chapters(res.output) == [(0.0, 1.0, "A"), (1.0, 2.0, "B")]
    rep = synthlabel.verify_file(res.output, credentials=credentials)
    assert rep.ok() and rep.ids_agree, rep.to_json()
    tiny = tmp_path / "tiny.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=64x64:r=25:d=4",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", tiny], check=True)
    res = synthlabel.label_file(tiny, tmp_path / "out", credentials=credentials)
    warned = any("read back from the encoded video" in w for w in res.warnings)
    rep = synthlabel.verify_file(res.output, credentials=credentials, layers=("watermark",))
    assert warned == (rep.layers["watermark"].status.value != "ok"), (res.warnings, rep.layers["watermark"].summary)


def test_long_video_read_from_runs_of_frames(tmp_path, credentials, monkeypatch):
    """Past SEQUENTIAL_SECONDS the detector seeks: single frames for the static pool, and runs
    of consecutive frames in which a mark that follows the picture lines up (each run is one
    test). Shortened here: a 4 s pan read as if it were long."""
    src = make_clip(tmp_path / "pan.mp4", audio=False, seconds=4.0, pan=160)
    dst = tmp_path / "pan_out.mp4"
    res = label_video_file(src, dst, credentials=credentials, **FAST)
    assert res.watermark_follows
    monkeypatch.setattr(labeling_video, "SEQUENTIAL_SECONDS", 1.0)
    monkeypatch.setattr(labeling_video, "RUN_SECONDS", 1.0)
    det = detect_video(dst, credentials.watermark_key)
    assert det.detected and det.payload == res.content_id.value
    assert det.details["pool"].startswith("registered") and det.tests == labeling_video.SEEK_RUNS + 1


def test_surround_pcm_mov_labels_without_aborting(tmp_path):
    """FFmpeg writes 6.1 / 7.1 PCM in MOV with a channel layout tag that FFmpeg 8 reads back as
    a custom-order layout, and PyAV 18 double-frees such a layout's channel map once it has
    been read: probing or decoding the file aborted the process, and with it the batch
    (video_io.native_layouts). Run in a subprocess, so that a regression fails this test
    instead of killing the test run."""
    import sys

    ffmpeg = require_tool("ffmpeg")
    src = tmp_path / "in"
    src.mkdir()
    pan8 = "pan=7.1|" + "|".join(f"c{i}=c0" for i in range(8))
    pan7 = "pan=6.1|" + "|".join(f"c{i}=c0" for i in range(7))
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=24:d=3",
                    "-f", "lavfi", "-i", "anoisesrc=d=3:a=0.2:r=48000", "-af", pan8, "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", "-c:a", "pcm_s16le", "-shortest", src / "surround.mov"],
                   check=True)
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "anoisesrc=d=12:a=0.2:r=48000",
                    "-af", pan7, "-c:a", "pcm_s16le", "-f", "mov", src / "music61.mov"], check=True)
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "synthlabel.cli", "label", src, "-o", out, "--jobs", "1",
                        "--json"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    results = {Path(j["source"]).name: j for j in map(json.loads, r.stdout.splitlines())}
    assert set(results) == {"surround.mov", "music61.mov"}, r.stdout
    for name, res in results.items():
        assert res["ok"] and res["error"] is None, res
        with av.open(res["output"]) as c:               # the channel count kept, read back
            assert c.streams.audio[0].codec_context.channels == (8 if name == "surround.mov" else 7)
    v = subprocess.run([sys.executable, "-m", "synthlabel.cli", "verify", out / "surround.mov", "--json"],
                       capture_output=True, text=True, timeout=600)
    rep = json.loads(v.stdout.splitlines()[0])
    assert v.returncode == 0 and rep["layers"]["watermark"]["status"] == "ok", v.stdout + v.stderr


@pytest.mark.parametrize("kind", ["mp4", "mkv"])
def test_relabeling_a_video_keeps_its_watermark_and_content_id(tmp_path, credentials, kind):
    """A labeled video labeled again got a second frame and soundtrack mark with a new payload,
    in step over the first: at the third label verify read no payload. Now it keeps the mark
    made with this key and its content ID (MKV: the label read from its tags)."""
    label_again_and_again(make_clip(tmp_path / f"c.{kind}", kind), tmp_path, kind, 3, credentials)


def test_a_kept_mark_the_new_encode_loses_is_laid_again(tmp_path, credentials):
    """Labeling a labeled video keeps its mark and content ID instead of laying a second mark.
    On a few frames of a small picture, the new encode lost the kept mark: the output's
    metadata and manifest named a content ID no mark carried, and verify failed it (3 of 5
    runs of a 4-frame 320x240 clip; QA, stop 44). When the kept mark does not read back, the
    video is labeled again with the mark laid afresh, same payload.

    Made certain here by relabeling at CRF 51, which no mark on such a clip outlives: the
    retry is said and keeps the content ID, and the output does not claim a mark it does not
    carry. Then the relay itself, at the default CRF: the same payload laid in step over the
    old mark reads, with that content ID."""
    import synthlabel
    from synthlabel.labeling_video import _label_video_file

    ffmpeg = require_tool("ffmpeg")
    src = tmp_path / "tiny.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25",
                    "-frames:v", "8", "-c:v", "libx264", str(src)], check=True)
    one = label_video_file(src, tmp_path / "one.mp4", credentials=credentials, **FAST)
    assert "watermark" in one.layers, one.warnings
    lost = label_video_file(one.output, tmp_path / "lost.mp4", credentials=credentials,
                            crf=51, **FAST)
    said = [w for w in lost.warnings if "did not read back after re-encoding" in w]
    assert said == [f"watermark: the video carries this key's watermark already, but it did not "
                    f"read back after re-encoding: laid again with the same content ID "
                    f"{one.content_id.hex}"], lost.warnings
    assert lost.content_id == one.content_id
    wm = synthlabel.verify_file(lost.output, credentials=credentials,
                                layers=("watermark",)).layers["watermark"]
    assert ("watermark" in lost.layers) is (wm.status.value == "ok"), (lost.layers, wm.summary)

    again = _label_video_file(one.output, tmp_path / "again.mp4", credentials=credentials,
                              relay=one.content_id.value, spec=None, overwrite=False, crf=None,
                              preset="ultrafast", codec=None, label_seconds=None,
                              persistent=None, audio_cue=None, strength=1.0, in_place=False,
                              progress=None)
    assert again.content_id == one.content_id and "watermark" in again.layers, again.warnings
    rep = synthlabel.verify_file(again.output, credentials=credentials)
    assert rep.ok() and rep.layers["watermark"].details["payload_hex"] == one.content_id.hex, \
        rep.to_json()


def test_quicktime_reverse_dns_keys_are_carried(tmp_path, credentials):
    """An iPhone's MOV names its camera and place in QuickTime keys (``com.apple.quicktime.make``,
    ``...location.ISO6709``). FFmpeg's muxer writes only the tags it has a name for, so these
    were dropped without a word; they are carried beside the label, once, relabel or not. So
    are a MOV's ``description`` and ``keywords`` keys (found by QA helper), while the title,
    which FFmpeg writes itself, is not written twice."""
    import synthlabel

    ffmpeg = require_tool("ffmpeg")
    src = tmp_path / "phone.mov"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=2",
                    "-c:v", "libx264", "-preset", "ultrafast", "-movflags", "use_metadata_tags",
                    "-metadata", "com.apple.quicktime.make=Apple",
                    "-metadata", "com.apple.quicktime.location.ISO6709=+37.3349-122.0090/",
                    "-metadata", "title=Walk", "-metadata", "description=A walk",
                    "-metadata", "keywords=park,dog", str(src)], check=True)
    want = [("com.apple.quicktime.make", "Apple"),
            ("com.apple.quicktime.location.ISO6709", "+37.3349-122.0090/")]
    one = label_video_file(src, tmp_path / "one.mov", credentials=credentials, **FAST)
    two = label_video_file(one.output, tmp_path / "two.mov", credentials=credentials, **FAST)
    for res in (one, two):
        keys = mp4meta.read_mp4_metadata_file(res.output).mdta
        assert [k for k in keys if k[0].startswith("com.")] == want, keys
        assert [k for k in keys if k[0] in ("description", "keywords", "title")] == [
            ("description", "A walk"), ("keywords", "park,dog")], keys
        assert [k for k, _ in keys].count("AIGC") == 1
        rep = synthlabel.verify_file(res.output, credentials=credentials)
        assert rep.ok() and rep.ids_agree, rep.to_json()
    assert video_io.probe(two.output).metadata.get("title") == "Walk"


def test_transparency_and_hdr_metadata_lost_are_warned(tmp_path, credentials):
    """A VP9 WebM with an alpha channel came out opaque without a word (FFmpeg's default VP9
    decoder does not report the alpha, so no pixel-format warning fired), and an HDR10 HEVC
    lost its mastering-display metadata with only "written as 8-bit" said. A plain video gets
    neither warning."""
    ffmpeg = require_tool("ffmpeg")
    src = tmp_path / "in"
    src.mkdir()
    lavfi = ["-v", "error", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=1.2"]
    subprocess.run([ffmpeg, *lavfi, "-vf", "format=yuva420p,geq=lum='p(X,Y)':cb='p(X,Y)':"
                    "cr='p(X,Y)':a='X*255/W'", "-c:v", "libvpx-vp9", "-pix_fmt", "yuva420p",
                    "-auto-alt-ref", "0", "-deadline", "realtime", str(src / "alpha.webm")], check=True)
    subprocess.run([ffmpeg, *lavfi, "-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt",
                    "yuv420p10le", "-color_primaries", "bt2020", "-color_trc", "smpte2084",
                    "-colorspace", "bt2020nc", "-x265-params",
                    "hdr10=1:max-cll=1000,400:log-level=error", str(src / "hdr.mp4")], check=True)
    subprocess.run([ffmpeg, *lavfi, "-c:v", "libx264", "-preset", "ultrafast",
                    str(src / "plain.mp4")], check=True)
    assert video_io.probe(src / "alpha.webm").pix_fmt == "yuv420p"    # the alpha is unseen
    warned = {}
    for name in ("alpha.webm", "hdr.mp4", "plain.mp4"):
        res = label_video_file(src / name, tmp_path / name, credentials=credentials, **FAST)
        warned[name] = [w for w in res.warnings if "transparency" in w or "HDR" in w]
    assert warned == {
        "alpha.webm": ["the video's transparency (alpha channel) is not kept: the output is opaque"],
        "hdr.mp4": ["HDR (PQ) video: its mastering-display and light-level metadata are not kept "
                    "(the output is 8-bit)"],
        "plain.mp4": []}, warned


def test_fourth_qa_round_of_video_inputs(tmp_path, credentials):
    """Track languages (and the soundtrack's title) became "und" / were dropped; a Matroska
    file whose timestamps start at 10 s was taken as 10 s longer (an end cue placed past the
    sound, a persistent label checked only at the start); VP9 in WebM / MKV lost a non-square
    pixel aspect ratio without a word."""
    ffmpeg = require_tool("ffmpeg")
    ffprobe = require_tool("ffprobe")

    def run(*args):
        subprocess.run([ffmpeg, "-v", "error", *map(str, args)], check=True)

    def tags(path):
        out = subprocess.run([ffprobe, "-v", "error", "-show_entries", "stream=codec_type:stream_tags",
                              "-of", "json", str(path)], capture_output=True, text=True, check=True)
        return {s["codec_type"]: {k.lower(): v for k, v in s.get("tags", {}).items()}
                for s in json.loads(out.stdout)["streams"]}

    base = ["-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=4", "-f", "lavfi", "-i", "sine=d=4",
            "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"]
    for ext in ("mp4", "mkv"):
        src = tmp_path / f"lang.{ext}"
        run(*base, "-metadata:s:v:0", "language=jpn", "-metadata:s:a:0", "language=jpn",
            "-metadata:s:a:0", "title=Commentary", "-metadata:s:a:0", "handler_name=My Sound", src)
        out = label_video_file(src, tmp_path / f"out_lang.{ext}", credentials=credentials, **FAST).output
        t = tags(out)
        assert t["video"].get("language") == "jpn" and t["audio"].get("language") == "jpn", (ext, t)
        # an MP4 track's title is its name box, which the FFmpeg in PyAV reads as "name" (the
        # Debian ffprobe shows none): it was lost there (QA helper), and so was a handler name
        # of the file's own
        with av.open(str(out)) as c:
            audio_tags = {k.lower(): v for k, v in c.streams.audio[0].metadata.items()}
        assert audio_tags.get("title" if ext == "mkv" else "name") == "Commentary", (ext, audio_tags)
        assert t["audio"].get("handler_name") == "My Sound", (ext, t)
    late = tmp_path / "late.mkv"
    run(*[a.replace(":d=4", ":d=6").replace("sine=d=4", "sine=d=6") for a in base],
        "-output_ts_offset", "10", late)
    assert abs(video_io.probe(late).duration - 6.0) < 0.1
    res = label_video_file(late, tmp_path / "out_late.mkv", credentials=credentials,
                           spec=LabelSpec(video_persistent=True, video_audio_cue=True, cue_where="both"),
                           **FAST)
    assert not [w for w in res.warnings if "cue" in w], res.warnings
    import synthlabel

    rep = synthlabel.verify_file(res.output, credentials=credentials, layers=("explicit",))
    assert "whole video" in rep.layers["explicit"].summary, rep.layers["explicit"].summary
    sar = tmp_path / "sar.webm"
    run("-f", "lavfi", "-i", "testsrc2=s=720x576:r=25:d=2", "-vf", "setsar=16/15", "-c:v",
        "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", sar)
    res = label_video_file(sar, tmp_path / "out_sar.webm", credentials=credentials, **FAST)
    assert any("pixel aspect ratio 16:15 is not kept in VP9 WEBM" in w for w in res.warnings), res.warnings


def test_verify_reports_a_labeled_video_cut_short(labeled, credentials, tmp_path):
    """verify read the frames before the cut of a labeled MP4 (moov first) and said nothing
    of the cut: exit 1 for the C2PA hash alone, where a cut WAV, FLAC or PNG is a file that
    could not be read (exit 2). The layers are still read from the frames that decode."""
    _src, dst, res = labeled["mp4"]
    data = dst.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 2 // 3])
    rep = verify_video_file(cut, key=credentials.watermark_key,
                            trust_anchors_pem=credentials.trust_anchors_pem)
    assert rep.error and "truncated or corrupt video" in rep.error, rep.error
    assert rep.layers["metadata"].status is Status.OK
    assert rep.layers["c2pa"].status is Status.INVALID
    assert rep.content_ids.get("metadata") == res.content_id.hex and not rep.ok()
    # the whole file: no such error
    assert verify_video_file(dst, key=credentials.watermark_key,
                             trust_anchors_pem=credentials.trust_anchors_pem).error is None


def test_a_gap_in_the_soundtrack_stays_a_gap(tmp_path, credentials):
    """Audio packets from 2 s on stamped 1 s later (a dropout, an edit): the soundtrack was
    written as one contiguous block, so everything after the gap sounded a second early, out
    of step with the picture. The gap is now silence in the output."""
    ffmpeg = require_tool("ffmpeg")
    run = lambda *a: subprocess.run([ffmpeg, "-v", "error", "-y", *map(str, a)], check=True)  # noqa: E731
    video = make_clip(tmp_path / "v.mp4", audio=False, seconds=6.0)
    run("-f", "lavfi", "-i", "sine=f=1000:d=5:r=48000", "-c:a", "aac", tmp_path / "a.m4a")
    run("-i", tmp_path / "a.m4a", "-c", "copy", "-bsf:a",
        "setts=pts='if(gte(PTS*TB,2),PTS+1/TB,PTS)':dts='if(gte(DTS*TB,2),DTS+1/TB,DTS)'",
        tmp_path / "gap.m4a")
    src = tmp_path / "gap.mp4"
    run("-i", video, "-i", tmp_path / "gap.m4a", "-map", "0:v", "-map", "1:a", "-c", "copy", src)
    out = tmp_path / "out.mp4"
    label_video_file(src, out, credentials=credentials, **FAST)
    with av.open(str(out)) as c:
        st = c.streams.audio[0]
        pcm = np.concatenate([f.to_ndarray()[0] for f in c.decode(st)])   # AAC: planar, channel 0
        rate = st.codec_context.sample_rate
    rms = lambda a, b: float(np.sqrt(np.mean(pcm[int(a * rate):int(b * rate)] ** 2)))  # noqa: E731
    assert abs(len(pcm) / rate - 6.0) < 0.15, len(pcm) / rate
    assert rms(2.2, 2.8) < 0.1 * rms(3.2, 3.8), (rms(2.2, 2.8), rms(3.2, 3.8))


def test_a_mirroring_display_matrix_is_refused(tmp_path, credentials):
    """A display matrix that mirrors (a flip, or a transpose) was taken as a rotation: the
    visible label showed mirrored or upside down in players, and verify, mapping the frames
    the same way, said OK. Rotations alone are handled (test_rotation_kept_and_label_upright)."""
    src = make_clip(tmp_path / "in.mp4", seconds=1.0)
    for name, m in (("hflip", (-65536, 0, 0, 65536)), ("transpose", (0, 65536, 65536, 0))):
        dst = tmp_path / f"{name}.mp4"
        with av.open(str(src)) as i, av.open(str(dst), "w") as o:
            vin, ain = i.streams.video[0], i.streams.audio[0]
            vo, ao = o.add_stream_from_template(vin), o.add_stream_from_template(ain)
            vo.set_display_matrix([m[0], m[1], 0, m[2], m[3], 0, 0, 0, 1 << 30])
            for p in i.demux():
                if p.dts is not None:
                    p.stream = vo if p.stream is vin else ao
                    o.mux(p)
        assert video_io.probe(dst).mirrored
        with pytest.raises(LabelingError, match="mirrors the picture"):
            label_video_file(dst, tmp_path / f"out_{name}.mp4", credentials=credentials, **FAST)
    assert not video_io.probe(src).mirrored


def test_a_mark_the_read_back_cannot_find_is_not_claimed(tmp_path, credentials):
    """A 64x48 clip: labeling's read-back found no mark, yet the result listed "watermark" and
    the C2PA manifest claimed one, so verify called the fresh output "watermarked per its
    manifest, but edited since"."""
    ffmpeg = require_tool("ffmpeg")
    src = tmp_path / "tiny.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=64x48:r=25:d=3",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", src], check=True)
    out = tmp_path / "out.mp4"
    res = label_video_file(src, out, credentials=credentials, crf=45, **FAST)
    assert "watermark" not in res.layers and "c2pa" in res.layers, res.layers
    assert any("not said to carry a watermark" in w for w in res.warnings), res.warnings
    rep = verify_video_file(out, key=credentials.watermark_key,
                            trust_anchors_pem=credentials.trust_anchors_pem)
    c2pa = rep.layers["c2pa"]
    assert c2pa.status is Status.OK and not c2pa.details["soft_binding"], c2pa.details
    assert "says it was watermarked" not in rep.layers["watermark"].summary


def test_videos_labeled_in_overlapping_threads_give_opencv_its_threads_back(tmp_path, credentials):
    """Each video sets OpenCV's process-wide thread count to 1 and put back what it had saved:
    overlapping calls saved each other's 1, and the last one left OpenCV single-threaded for
    every later call in the process."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    import cv2

    from synthlabel.labeling_video import _opencv_threads

    before = cv2.getNumThreads()
    # the order that went wrong: A claims, B claims, A ends, B ends
    _opencv_threads.claim()
    _opencv_threads.claim()
    assert cv2.getNumThreads() == 1
    _opencv_threads.release()
    assert cv2.getNumThreads() == 1             # B still labeling
    _opencv_threads.release()
    assert cv2.getNumThreads() == before
    # and for real: three labels, staggered so that each ends while the next runs
    src = make_clip(tmp_path / "in.mp4", seconds=1.0, audio=False)
    started = threading.Barrier(3)

    def run(i: int):
        started.wait()
        time.sleep(0.05 * i)
        return label_video_file(src, tmp_path / f"out{i}.mp4", credentials=credentials, **FAST)

    with ThreadPoolExecutor(3) as pool:
        assert all(r.content_id for r in pool.map(run, range(3)))
    assert cv2.getNumThreads() == before


def test_a_video_whose_frames_cannot_carry_the_mark_is_not_said_to(tmp_path, credentials):
    """Bilevel frames (a Game of Life clip) do not carry the frame mark. Videos of 3 s and more
    at 128 px and more were not read back, so one was listed as watermarked, its manifest said
    so, and verify right after found no mark. Every video is read back now."""
    import subprocess

    from conftest import require_tool

    src = tmp_path / "life.mp4"
    subprocess.run([require_tool("ffmpeg"), "-v", "error", "-f", "lavfi", "-i",
                    "life=s=480x360:r=12:mold=10,format=yuv420p,trim=duration=3.5",
                    "-c:v", "libx264", "-preset", "ultrafast", str(src)], check=True)
    res = label_video_file(src, tmp_path / "out.mp4", credentials=credentials, **FAST)
    assert "watermark" not in res.layers, res.layers
    assert any("frame mark is not found" in w and "not said to carry a watermark" in w
               for w in res.warnings), res.warnings
    import synthlabel

    rep = synthlabel.verify_file(tmp_path / "out.mp4", credentials=credentials, layers=("c2pa",))
    assert not rep.layers["c2pa"].details["soft_binding"], rep.layers["c2pa"].details


def test_the_read_back_reads_the_opening_seconds_first(tmp_path, credentials, monkeypatch):
    """Labeling's read-back decoded all of a clip (1.7-2.9 s of a 10 s 1080p one: labeling
    cost 1.30-1.32x a plain transcode). It pools the opening READBACK_PREFIX_SECONDS first and
    reads the whole clip only when they do not give the payload: a clip that opens on 5 s of
    black is still found marked, through the full read. The real detector runs; the spy only
    records how it was called."""
    import synthlabel
    from synthlabel import labeling_video as LV

    calls = []
    real = LV.detect_video

    def spy(path, key, **kw):
        calls.append(kw.get("max_seconds"))
        return real(path, key, **kw)

    monkeypatch.setattr(LV, "detect_video", spy)
    ffmpeg = require_tool("ffmpeg")
    busy = tmp_path / "busy.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=7",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", str(busy)], check=True)
    late = tmp_path / "late.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "color=black:s=320x240:r=25:d=5",
                    "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=3", "-filter_complex",
                    "[0:v][1:v]concat=n=2:v=1[v]", "-map", "[v]", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", str(late)], check=True)
    for src, want in ((busy, [LV.READBACK_PREFIX_SECONDS]),
                      (late, [LV.READBACK_PREFIX_SECONDS, None])):
        calls.clear()
        res = label_video_file(src, tmp_path / f"out_{src.name}", credentials=credentials, **FAST)
        assert calls == want, (src.name, calls)
        assert "watermark" in res.layers, (src.name, res.warnings)
        rep = synthlabel.verify_file(res.output, credentials=credentials, layers=("watermark",))
        assert rep.layers["watermark"].details["payload_hex"] == res.content_id.hex, rep.to_json()


def test_a_codec_change_is_said(tmp_path, credentials):
    """A VP9 + Opus MKV came out as H.264 + AAC, and an HEVC MP4 as H.264 (half again its
    size), without a word: the container's default encoders are used, and now that is said,
    with the --codec that keeps the picture's codec. The same codecs say nothing."""
    ffmpeg = require_tool("ffmpeg")
    webm = make_clip(tmp_path / "in.webm", "webm", seconds=2.0)
    mkv = tmp_path / "in.mkv"
    subprocess.run([ffmpeg, "-v", "error", "-i", str(webm), "-c", "copy", str(mkv)], check=True)
    res = label_video_file(mkv, tmp_path / "out.mkv", credentials=credentials, **FAST)
    said = [w for w in res.warnings if "re-encoded as" in w]
    assert said == ["the VP9 video is re-encoded as H264 (the MKV default; --codec vp9 keeps it)",
                    "the OPUS soundtrack is re-encoded as AAC (labeled MKV files carry AAC sound)"], res.warnings
    res = label_video_file(mkv, tmp_path / "kept.mkv", credentials=credentials, codec="vp9", **FAST)
    assert [w for w in res.warnings if "video is re-encoded" in w] == []
    res = label_video_file(webm, tmp_path / "same.webm", credentials=credentials, **FAST)
    assert [w for w in res.warnings if "re-encoded as" in w] == [], res.warnings
    # the codec is named, not the decoder that read it (AV1 said "LIBDAV1D")
    av1 = tmp_path / "av1.mp4"
    with av.open(str(av1), "w") as out:
        vs = out.add_stream("libsvtav1", rate=FPS)
        vs.width, vs.height, vs.pix_fmt, vs.options = W, H, "yuv420p", {"preset": "12"}
        for i in range(FPS):
            fr = av.VideoFrame.from_ndarray(synthetic_photo(H, W, seed=i), "rgb24")
            fr.pts, fr.time_base = i, Fraction(1, FPS)
            for pkt in vs.encode(fr):
                out.mux(pkt)
        for pkt in vs.encode():
            out.mux(pkt)
    res = label_video_file(av1, tmp_path / "av1-out.mp4", credentials=credentials, **FAST)
    assert "the AV1 video is re-encoded as H264 (the MP4 default)" in res.warnings, res.warnings


@pytest.mark.parametrize("kind", ["mp4", "mkv", "m4a"])
def test_a_latin1_tag_is_carried_byte_for_byte(tmp_path, credentials, kind):
    """A title written as Latin-1 (``Caf\\xe9``, not UTF-8) made MP4, MKV and M4A files
    impossible to label or verify ("'utf-8' codec can't decode byte 0xe9"); in an M4A the
    title was then dropped silently. Such a file is labeled and verified now, and the tag's
    bytes come out as they went in."""
    import synthlabel

    ffmpeg = require_tool("ffmpeg")
    clip = make_clip(tmp_path / "clip.mp4", "mp4", seconds=2.5)
    src = tmp_path / f"latin1.{kind}"
    streams = ["-map", "0:a", "-c", "copy"] if kind == "m4a" else ["-c", "copy"]
    subprocess.run([ffmpeg, "-v", "error", "-i", str(clip), *streams,
                    "-metadata", b"title=Caf\xe9", str(src)], check=True)
    assert b"Caf\xe9" in src.read_bytes()
    res = synthlabel.label_file(src, tmp_path / "out", credentials=credentials)
    assert res.layers == ["explicit", "watermark", "metadata", "c2pa"], res.warnings
    assert b"Caf\xe9" in Path(res.output).read_bytes()   # the tag's own bytes, not U+FFFD
    rep = synthlabel.verify_file(res.output, credentials=credentials)
    assert rep.ok() and rep.ids_agree, {k: v.summary for k, v in rep.layers.items()}


def test_a_soundtrack_of_another_labeled_file_makes_the_ids_disagree(tmp_path, credentials):
    """A labeled video's frames with another labeled file's soundtrack: the watermark layer
    said "video payload X but audio payload Y", and the cross-check below it said "content ID
    agrees X" (ids_agree true; found by QA helper). The soundtrack's ID is cross-checked too.
    (8 s clips: a 3 s soundtrack's payload does not always read.)"""
    import synthlabel

    one, other = (label_video_file(make_clip(tmp_path / f"{n}.mp4", seconds=8.0, seed=seed),
                                   tmp_path / f"{n}_l.mp4", credentials=credentials, **FAST)
                  for n, seed in (("one", 3), ("other", 9)))
    assert other.content_id != one.content_id
    mixed = tmp_path / "mixed.mp4"
    subprocess.run([require_tool("ffmpeg"), "-v", "error", "-i", str(one.output), "-i", str(other.output),
                    "-map", "0:v", "-map", "1:a", "-c", "copy", str(mixed)], check=True)
    rep = synthlabel.verify_file(mixed, credentials=credentials, layers="metadata,watermark")
    assert rep.layers["watermark"].status.value == "invalid", rep.layers["watermark"]
    assert rep.content_ids["soundtrack watermark"] == other.content_id.hex
    assert rep.content_ids["watermark"] == one.content_id.hex and rep.ids_agree is False
    assert not rep.ok()


def test_damaged_soundtrack_packets_are_skipped_and_said(tmp_path, credentials):
    """A few damaged AAC packets (ffmpeg skips them) failed the whole video with "corrupt video
    data: Error number -50531338 occurred", blaming the picture (found by QA helper). They are
    skipped, as silence, with a warning naming them; the labeled file verifies. A soundtrack
    mostly damaged is an error that names the soundtrack."""
    import synthlabel
    from synthlabel.formats.video_io import MAX_BAD_AUDIO_PACKETS

    src = make_clip(tmp_path / "in.mp4", seconds=4.0)
    with av.open(str(src)) as c:
        where = [p.pos for p in c.demux(c.streams.audio[0]) if p.size and p.pos is not None]
    assert len(where) > 20 + MAX_BAD_AUDIO_PACKETS

    def damaged(name: str, packets: list[int]) -> Path:
        data = bytearray(src.read_bytes())
        for pos in packets:
            data[pos:pos + 40] = b"\xff" * 40
        (tmp_path / name).write_bytes(bytes(data))
        return tmp_path / name

    res = label_video_file(damaged("bad.mp4", where[20:25]), tmp_path / "out.mp4",
                           credentials=credentials, **FAST)
    assert ("5 damaged soundtrack packet(s) did not decode and were skipped (silence in their "
            "place)") in res.warnings, res.warnings
    rep = synthlabel.verify_file(res.output, credentials=credentials, layers="metadata,c2pa")
    assert rep.ok(), rep.to_json()
    with pytest.raises(LabelingError, match=r"^corrupt soundtrack data at \d+\.\d\d s"):
        label_video_file(damaged("worse.mp4", where[10:]), tmp_path / "out2.mp4",
                         credentials=credentials, **FAST)


def test_a_mark_read_in_the_soundtrack_only_is_the_layers_result(tmp_path, credentials):
    """Frames without a mark, soundtrack with one (the picture re-encoded hard, the sound
    copied): the layer said "ok, payload in the soundtrack only" but its own p_value, detected
    and payload were the frames' (p=1, no payload); and where the soundtrack's mark was found
    without its payload the layer said "missing", not "weak" (found by QA helper). The layer's
    fields are the soundtrack's, the frames' kept beside them."""
    import synthlabel

    labeled = label_video_file(make_clip(tmp_path / "a.mp4", seconds=8.0, seed=5), tmp_path / "l.mp4",
                               credentials=credentials, **FAST)
    plain = make_clip(tmp_path / "plain.mp4", seconds=8.0, seed=6)
    mixed = tmp_path / "mixed.mp4"
    subprocess.run([require_tool("ffmpeg"), "-v", "error", "-i", str(plain), "-i", str(labeled.output),
                    "-map", "0:v", "-map", "1:a", "-c", "copy", str(mixed)], check=True)
    rep = synthlabel.verify_file(mixed, credentials=credentials, layers="watermark")
    wm = rep.layers["watermark"]
    assert wm.status.value == "ok" and "read from the soundtrack (frames: p=" in wm.summary, wm
    audio = wm.details["audio"]
    assert wm.details["detected"] is True and wm.details["payload"] == audio["payload"]
    assert wm.details["p_value"] == audio["p_value"] < 1e-6
    assert wm.details["frames_result"]["detected"] is False
    assert rep.content_ids["watermark"] == labeled.content_id.hex


def test_a_picture_size_that_changes_mid_stream_is_scaled_to_the_first(tmp_path, credentials):
    """Two H.264 segments of different sizes in one MKV (spliced MPEG-TS, remuxed) failed with
    the engine's "expected a 320x240 uint8 luma plane, got (480, 640)"; --no-watermark wrote
    shrunk frames with the plate misplaced. Later frames are scaled to the first size, as
    ffmpeg does, and the warning says so."""
    import synthlabel

    ffmpeg = require_tool("ffmpeg")
    parts = []
    for i, size in enumerate(("320x240", "480x360")):
        parts.append(tmp_path / f"{i}.ts")
        subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25:duration=1.6",
                        "-c:v", "libx264", "-pix_fmt", "yuv420p", str(parts[-1])], check=True)
    (tmp_path / "spliced.ts").write_bytes(b"".join(p.read_bytes() for p in parts))
    src = tmp_path / "spliced.mkv"
    subprocess.run([ffmpeg, "-v", "error", "-i", str(tmp_path / "spliced.ts"), "-c", "copy", str(src)], check=True)
    with av.open(str(src)) as c:
        assert {(f.width, f.height) for f in c.decode(video=0)} == {(320, 240), (480, 360)}
    for watermark_on in (True, False):
        out = tmp_path / f"out-{watermark_on}.mkv"
        res = label_video_file(src, out, credentials=credentials,
                               spec=LabelSpec(watermark=watermark_on), **FAST)
        assert any("the picture size changes mid-stream (480x360 from 1.6" in w and
                   "scaled to the first frame's 320x240" in w for w in res.warnings), res.warnings
        with av.open(str(out)) as c:
            assert {(f.width, f.height) for f in c.decode(video=0)} == {(320, 240)}
        layers = "explicit,watermark,metadata,c2pa" if watermark_on else "explicit,metadata,c2pa"
        rep = synthlabel.verify_file(out, credentials=credentials, layers=layers)
        assert rep.ok(), rep.to_json()


def test_a_soundtrack_of_more_than_eight_channels_is_mixed_down(tmp_path, credentials):
    """A 10-channel PCM soundtrack in MOV passed the dry run, then failed labeling with "video
    encode failed: Invalid argument" (AAC takes at most 8 channels). It is mixed down to mono,
    said, and the labeled file verifies with the soundtrack's mark."""
    import synthlabel

    ffmpeg = require_tool("ffmpeg")
    src = tmp_path / "ten.mov"
    inputs = "".join(f"[a{i}]" for i in range(10))
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=3",
                    "-f", "lavfi", "-i", "sine=frequency=440:duration=3", "-filter_complex",
                    f"[1:a]asplit=10{inputs};{inputs}amerge=inputs=10[a]", "-map", "0:v", "-map", "[a]",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "pcm_s16le", str(src)], check=True)
    assert video_io.probe(src).audio.channels == 10
    res = label_video_file(src, tmp_path / "out.mov", credentials=credentials, **FAST)
    assert "the 10-channel soundtrack is mixed down to mono (soundtracks are written with at most " \
           "8 channels)" in res.warnings, res.warnings
    assert video_io.probe(res.output).audio.channels == 1
    rep = synthlabel.verify_file(res.output, credentials=credentials)
    assert rep.ok() and "audio" in rep.layers["watermark"].details, rep.to_json()


def test_a_soundtrack_whose_channels_or_rate_change_mid_stream(tmp_path, credentials):
    """MP3 segments spliced (stereo then mono, or 44.1 then 32 kHz) failed labeling with
    PyAV's "Frame does not match AudioResampler setup." (verify: an internal error). The later frames are converted to the
    first frames' layout and rate, and the soundtrack keeps its length."""
    import synthlabel

    ffmpeg = require_tool("ffmpeg")

    def segment(name: str, channels: int, rate: int) -> bytes:
        p = tmp_path / f"{name}.ts"
        subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2",
                        "-f", "lavfi", "-i", f"sine=frequency=440:duration=2:sample_rate={rate}",
                        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "libmp3lame", "-ac", str(channels),
                        "-ar", str(rate), "-shortest", str(p)], check=True)
        return p.read_bytes()

    def sound_seconds(path: Path) -> float:
        with av.open(str(path)) as c:
            return sum(f.samples / f.sample_rate for f in c.decode(audio=0))

    first = segment("a", 2, 44100)
    for name, later in (("mono", segment("b", 1, 44100)), ("rate", segment("c", 2, 32000))):
        (tmp_path / f"{name}.ts").write_bytes(first + later)
        src = tmp_path / f"{name}.mkv"
        subprocess.run([ffmpeg, "-v", "error", "-i", str(tmp_path / f"{name}.ts"), "-c", "copy", str(src)], check=True)
        with av.open(str(src)) as c:
            assert len({(f.layout.name, f.sample_rate) for f in c.decode(audio=0)}) == 2, name
        before = synthlabel.verify_file(src, credentials=credentials)       # read too, unlabeled
        assert before.error is None and before.layers["watermark"].status is Status.MISSING, name
        res = label_video_file(src, tmp_path / f"out-{name}.mkv", credentials=credentials, **FAST)
        assert abs(sound_seconds(res.output) - sound_seconds(src)) < 0.05, name
        # said, as the README promises (it was not: QA helper)
        assert any(w.startswith("the soundtrack changes mid-stream (") and
                   w.endswith("converted to its first layout and rate (stereo, 44100 Hz)")
                   for w in res.warnings), (name, res.warnings)
        rep = synthlabel.verify_file(res.output, credentials=credentials)
        assert rep.ok(), (name, rep.to_json())


def test_an_anamorphic_video_gets_its_label_at_the_shown_geometry(tmp_path, credentials):
    """A 360x720 video stored at SAR 2:1 (shown 720x720) got its plate laid on the stored
    pixels: stretched twice as wide when shown, its glyphs 2.8 % of the shown short side
    (GB 45438 asks 5 %), and verify judged the stored size. The plate is laid out on the
    picture as shown and brought to the stored samples; verify looks at the shown picture."""
    import synthlabel

    ffmpeg = require_tool("ffmpeg")
    src = tmp_path / "ana.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=360x720:rate=25:duration=2",
                    "-vf", "setsar=2/1", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(src)], check=True)
    assert video_io.probe(src).sar == Fraction(2, 1)
    res = label_video_file(src, tmp_path / "out.mp4", credentials=credentials, **FAST)
    assert res.glyph_height >= 0.05 * 720, res.glyph_height
    x, y, w, h = res.label_box
    assert x + w <= 720 and w > h, res.label_box          # display coordinates, a wide plate
    # the stored frame holds the plate at half its shown width
    with av.open(str(res.output)) as c:
        frame = next(c.decode(video=0))
        assert Fraction(c.streams.video[0].sample_aspect_ratio) == Fraction(2, 1)
        out = frame.to_ndarray(format="rgb24").astype(int)
    with av.open(str(src)) as c:
        before = next(c.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    cols = np.nonzero(np.abs(out - before).max(axis=(0, 2)) > 60)[0]
    assert abs((cols.max() - cols.min() + 1) - w / 2) <= 6, (cols.min(), cols.max(), w)
    rep = synthlabel.verify_file(res.output, credentials=credentials)
    ex = rep.layers["explicit"]
    assert ex.status is Status.OK and ex.details["size"] == [720, 720], ex.details
    assert rep.ok(), rep.to_json()


def test_a_soundtrack_under_8_khz_gets_the_cue_and_the_mark(tmp_path, credentials):
    """A 6 kHz soundtrack is written at 48 kHz (no soundtrack codec here takes 6 kHz), but the
    cue and the mark were checked against 6 kHz and left out ("sample_rate must be within
    8000..384000 Hz"). It is raised to 48 kHz as it is read, and both go in."""
    import synthlabel

    ffmpeg = require_tool("ffmpeg")
    src = tmp_path / "low.mov"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=4",
                    "-f", "lavfi", "-i", "sine=frequency=440:duration=4:sample_rate=6000",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "pcm_s16le", str(src)], check=True)
    res = label_video_file(src, tmp_path / "out.mov", credentials=credentials,
                           spec=LabelSpec(video_audio_cue=True), **FAST)
    assert "the 6000 Hz soundtrack is written at 48000 Hz" in res.warnings, res.warnings
    assert not any("not mixed" in w or "not watermarked" in w for w in res.warnings), res.warnings
    assert res.cue_times and video_io.probe(res.output).audio.sample_rate == 48000
    rep = synthlabel.verify_file(res.output, credentials=credentials)
    assert rep.ok() and "audio" in rep.layers["watermark"].details, rep.to_json()
    assert "audio cue at" in rep.layers["explicit"].summary, rep.layers["explicit"].summary


def test_an_anamorphic_vp9_webm_gets_its_label_on_the_stored_pixels(tmp_path, credentials):
    """VP9 WebM cannot keep the pixel aspect ratio (warned): the output shows as stored. The
    plate was laid out for the shape the input showed, so it came out squeezed and verify did
    not find it in synthlabel's own output (found by QA helper). It is laid out on the stored
    pixels when the aspect ratio is not kept."""
    import synthlabel

    ffmpeg = require_tool("ffmpeg")
    src = tmp_path / "ana.webm"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=360x288:rate=25:duration=2",
                    "-vf", "setsar=64/45", "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8",
                    "-pix_fmt", "yuv420p", str(src)], check=True)
    assert video_io.probe(src).sar == Fraction(64, 45)
    res = label_video_file(src, tmp_path / "out.webm", credentials=credentials, **FAST)
    assert any("is not kept in VP9 WEBM" in w for w in res.warnings), res.warnings
    x, y, w, h = res.label_box
    assert x + w <= 360, res.label_box                 # the stored width: what will be shown
    rep = synthlabel.verify_file(res.output, credentials=credentials)
    assert rep.layers["explicit"].status is Status.OK, rep.layers["explicit"].summary


def test_a_dry_run_refuses_a_video_too_small_for_the_label(tmp_path):
    """A 32x16 video passed --dry-run ("would label") and then failed the real run: the label
    does not fit. A picture of that size was refused by both (found by QA helper)."""
    ffmpeg = require_tool("ffmpeg")
    src = tmp_path / "small.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=32x16:rate=25:duration=1",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", str(src)], check=True)
    for extra in (["--dry-run"], []):
        r = subprocess.run([sys.executable, "-m", "synthlabel.cli", "label", str(src), "-o", str(tmp_path / "out"),
                            "-j", "1", *extra], capture_output=True, text=True)
        assert r.returncode == 1 and "explicit label: label 'AI生成' does not fit" in r.stderr, (extra, r.stderr)


def test_an_mp4_without_streams_is_said_to_hold_none(tmp_path):
    """An MP4 holding no stream at all (0 frames encoded) was "no audio stream in the file"
    (it is sniffed as audio: none of its video moves); it holds neither (QA helper)."""
    ffmpeg = require_tool("ffmpeg")
    src = tmp_path / "zero.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=25",
                    "-frames:v", "0", "-c:v", "libx264", str(src)], check=True)
    r = subprocess.run([sys.executable, "-m", "synthlabel.cli", "label", str(src), "-o", str(tmp_path / "out"),
                        "-j", "1"], capture_output=True, text=True)
    assert r.returncode == 1 and "no audio or video stream in the file" in r.stderr, r.stderr


def test_a_label_asked_longer_than_the_video_is_said_and_verify_names_the_span_checked(tmp_path, credentials):
    """--label-seconds 5 on a 2 s clip was accepted without a word; verify said "in the opening
    2 s" of every labeled video, which read as how long the label was shown."""
    import synthlabel

    ffmpeg = require_tool("ffmpeg")
    src = tmp_path / "short.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc=d=2:s=320x240:r=25",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", src], check=True)
    res = synthlabel.label_file(src, tmp_path / "out.mp4", credentials=credentials,
                                spec=synthlabel.LabelSpec(video_label_seconds=5, c2pa=False))
    assert any("the video is 2.0 s long, shorter than the 5 s asked" in w for w in res.warnings), res.warnings
    rep = synthlabel.verify_file(tmp_path / "out.mp4", credentials=credentials, layers=("explicit",))
    assert rep.layers["explicit"].status.value == "ok"
    assert "on every frame checked in the opening 2 s" in rep.layers["explicit"].summary, \
        rep.layers["explicit"].summary
    res = synthlabel.label_file(src, tmp_path / "out3.mp4", credentials=credentials,
                                spec=synthlabel.LabelSpec(video_label_seconds=2, c2pa=False))
    assert not any("asked to show the label" in w for w in res.warnings)


def test_a_fragmented_mp4_is_said_to_become_a_regular_one(tmp_path, credentials):
    """A fragmented MP4 (moof boxes, as streaming writes) came out unfragmented without a
    word (found by a video QA pass); a regular one is not warned about."""
    ffmpeg = require_tool("ffmpeg")
    src = make_clip(tmp_path / "a.mp4", seconds=2.0, seed=7)
    frag = tmp_path / "frag.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-i", str(src), "-c", "copy", "-movflags",
                    "frag_keyframe+empty_moov", str(frag)], check=True)
    assert b"moof" in frag.read_bytes()
    said = "a fragmented MP4 (movie fragments, as for streaming) is written as a regular, unfragmented one"
    res = label_video_file(frag, tmp_path / "out.mp4", credentials=credentials, **FAST)
    assert said in res.warnings and b"moof" not in (tmp_path / "out.mp4").read_bytes()
    res = label_video_file(src, tmp_path / "plain.mp4", credentials=credentials, **FAST)
    assert said not in res.warnings
