"""Content sniffing: real files of every format, identified by their bytes, never their name."""
from __future__ import annotations

import io
import re
import wave
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthlabel.formats.sniff import MediaType, UnsupportedFormat, UnsupportedMedia, sniff_bytes, sniff_file

# --------------------------------------------------------------------------- sample makers


def _image(fmt: str, **kw) -> bytes:
    rgb = np.random.default_rng(1).integers(0, 256, (12, 16, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, fmt, **kw)
    return buf.getvalue()


def _wav() -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x01" * 800)
    return buf.getvalue()


def _av_audio(path: Path, fmt: str, codec: str, rate: int = 48000, options=None) -> bytes:
    import av

    with av.open(str(path), "w", format=fmt, options=options or {}) as out:
        stream = out.add_stream(codec, rate=rate)
        layout = "mono" if codec not in ("libopus", "opus") else "stereo"
        t = np.arange(2048) / rate
        wave_ = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        samples = np.tile(wave_, (2 if layout == "stereo" else 1, 1))
        fmt_name = stream.codec_context.format.name if stream.codec_context.format else "fltp"
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout=layout)
        frame.rate = rate
        resampler = av.AudioResampler(format=fmt_name, layout=layout, rate=rate)
        for f in resampler.resample(frame):
            for p in stream.encode(f):
                out.mux(p)
        for p in stream.encode(None):
            out.mux(p)
    return path.read_bytes()


def _av_video(path: Path, fmt: str, codec: str) -> bytes:
    import av

    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for i in range(2):
            img = np.full((32, 32, 3), i * 60, dtype=np.uint8)
            for p in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in stream.encode(None):
            out.mux(p)
    return path.read_bytes()


@pytest.fixture(scope="session")
def samples(tmp_path_factory) -> dict[str, bytes]:
    d = tmp_path_factory.mktemp("sniff")
    s = {
        "jpeg": _image("JPEG"),
        "png": _image("PNG"),
        "webp": _image("WEBP"),
        "gif": _image("GIF"),
        "tiff": _image("TIFF"),
        "tiff-be": b"MM\x00*\x00\x00\x00\x08" + bytes(56),
        "bmp": _image("BMP"),
        "wav": _wav(),
    }
    s["flac"] = _av_audio(d / "a.flac", "flac", "flac")
    s["mp3"] = _av_audio(d / "a.mp3", "mp3", "libmp3lame")  # with an ID3v2 header
    s["mp3-bare"] = _av_audio(d / "b.mp3", "mp3", "libmp3lame", options={"id3v2_version": "0"})
    import soundfile as sf
    sf.write(d / "a.ogg", 0.2 * np.sin(np.arange(4800) / 8.0), 48000, format="OGG", subtype="VORBIS")
    s["ogg"] = (d / "a.ogg").read_bytes()
    s["opus"] = _av_audio(d / "a.opus", "ogg", "libopus")
    s["m4a"] = _av_audio(d / "a.m4a", "ipod", "aac")
    s["mp4"] = _av_video(d / "v.mp4", "mp4", "mpeg4")
    s["mov"] = _av_video(d / "v.mov", "mov", "mpeg4")
    s["mkv"] = _av_video(d / "v.mkv", "matroska", "mpeg4")
    s["webm"] = _av_video(d / "v.webm", "webm", "libvpx")
    return s


EXPECTED = {
    "jpeg": ("image", "jpeg", "image/jpeg", ".jpg"),
    "png": ("image", "png", "image/png", ".png"),
    "webp": ("image", "webp", "image/webp", ".webp"),
    "gif": ("image", "gif", "image/gif", ".gif"),
    "tiff": ("image", "tiff", "image/tiff", ".tiff"),
    "tiff-be": ("image", "tiff", "image/tiff", ".tiff"),
    "bmp": ("image", "bmp", "image/bmp", ".bmp"),
    "wav": ("audio", "wav", "audio/wav", ".wav"),
    "flac": ("audio", "flac", "audio/flac", ".flac"),
    "mp3": ("audio", "mp3", "audio/mpeg", ".mp3"),
    "mp3-bare": ("audio", "mp3", "audio/mpeg", ".mp3"),
    "ogg": ("audio", "ogg", "audio/ogg", ".ogg"),
    # the same format (an Ogg file), but a renamed one is labeled as x.opus, not x.ogg
    "opus": ("audio", "ogg", "audio/ogg", ".opus"),
    "m4a": ("audio", "m4a", "audio/mp4", ".m4a"),
    "mp4": ("video", "mp4", "video/mp4", ".mp4"),
    "mov": ("video", "mov", "video/quicktime", ".mov"),
    "mkv": ("video", "mkv", "video/x-matroska", ".mkv"),
    "webm": ("video", "webm", "video/webm", ".webm"),
}


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sniff_real_files(samples, name):
    data = samples[name]
    assert sniff_bytes(data[:64]) == MediaType(*EXPECTED[name])


def test_samples_have_the_shape_we_think(samples):
    # Guards the cases above: the sniffer must decide on these very properties.
    assert samples["mp3"][:3] == b"ID3"
    assert samples["mp3-bare"][:2] in (b"\xff\xfb", b"\xff\xfa", b"\xff\xf3", b"\xff\xf2")
    assert samples["m4a"][8:12] == b"M4A "
    assert samples["mov"][8:12] == b"qt  "
    assert samples["mkv"][:4] == samples["webm"][:4] == b"\x1a\x45\xdf\xa3"


@pytest.mark.parametrize("name", ["jpeg", "png", "webp", "wav", "mp3", "mkv", "webm", "m4a"])
def test_sniff_file_ignores_the_extension(samples, tmp_path, name):
    wrong = {"jpeg": ".png", "png": ".jpg", "webp": ".gif"}.get(name, ".txt")
    p = tmp_path / f"mislabeled{wrong}"
    p.write_bytes(samples[name])
    assert sniff_file(p).format == EXPECTED[name][1]


@pytest.mark.parametrize(
    "head, fmt",
    [
        (b"\xff\xd8\xff\xe0" + bytes(60), "jpeg"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(48), "wav"),
        (b"RF64\xff\xff\xff\xffWAVEds64" + bytes(48), "wav"),
        (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00" + bytes(44), "mp4"),
        (b"\x00\x00\x00\x20ftypmp42\x00\x00\x00\x00" + bytes(44), "mp4"),
        (b"\x00\x00\x00\x20ftypavc1\x00\x00\x00\x00" + bytes(44), "mp4"),
        (b"\x00\x00\x00\x20ftypiso5\x00\x00\x00\x00" + bytes(44), "mp4"),
        (b"\x00\x00\x00\x20ftypM4B \x00\x00\x00\x00" + bytes(44), "m4a"),
        (b"\x00\x00\x00\x08wide\x00\x00\x10\x00mdat" + bytes(48), "mov"),
        (b"\xff\xe3\x18\xc4" + bytes(60), "mp3"),  # MPEG-2.5 layer III
        (b"\xff\xf3\x90\xc4" + bytes(60), "mp3"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x05" + bytes(5) + b"fLaC" + bytes(45), "flac"),
    ],
)
def test_sniff_headers(head, fmt):
    assert sniff_bytes(head).format == fmt


def test_id3_fronted_flac_beyond_the_head(tmp_path):
    # A large ID3 tag (cover art) pushes fLaC past the head that sniff_file reads.
    size = 10_000
    syncsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    p = tmp_path / "tagged.mp3"
    p.write_bytes(b"ID3\x04\x00\x00" + syncsafe + bytes(size) + b"fLaC\x00\x00\x00\x22" + bytes(64))
    assert sniff_file(p).format == "flac"


def test_an_mp3_behind_zero_padding_is_an_mp3(tmp_path, credentials):
    """Zero bytes before an MP3's first frame or its ID3 tag (a tag blanked in place): ffmpeg
    skips them, and the file was "binary data". It labels and verifies."""
    import subprocess

    from conftest import require_tool

    import synthlabel

    src = tmp_path / "base.mp3"
    subprocess.run([require_tool("ffmpeg"), "-v", "error", "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=7", "-c:a", "libmp3lame", str(src)], check=True)
    data = src.read_bytes()
    tag_end = 10 + int.from_bytes(bytes(b & 0x7F for b in data[6:10]), "big") if data[:3] == b"ID3" else 0
    for lead in (bytes(2048) + data, bytes(700) + data[tag_end:]):
        assert sniff_bytes(lead[:4096]).format == "mp3"
    padded = tmp_path / "padded.mp3"
    padded.write_bytes(bytes(2048) + data)
    out = synthlabel.label_file(padded, tmp_path / "out" / "padded.mp3", credentials=credentials)
    assert synthlabel.verify_file(out.output, credentials=credentials).ok()
    with pytest.raises(UnsupportedMedia):
        sniff_bytes(bytes(1000) + b"\xff\xfb" + bytes(3000))   # a lone sync word is no frame


@pytest.mark.parametrize(
    "head, needle",
    [
        (b"", "empty file"),
        (b"hello, world: this is just a text file, not a picture at all....", "not a recognised"),
        (bytes(64), "not a recognised"),
        (b"\x89PNG\r\n", "not a recognised"),  # truncated signature
        (b"\xff\xd8", "not a recognised"),  # truncated SOI
        (b"RIFF\x10\x00\x00\x00CDXALIST" + bytes(48), "RIFF form"),
        (b"\xff\xf1\x50\x80" + bytes(60), "not a recognised"),  # an ADTS-like sync, no frame
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00" + bytes(44), "still image"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00" + bytes(44), "still image"),
        (b"%PDF-1.7\n" + bytes(55), "not a recognised"),
        (b"BM" + bytes(62), "not a recognised"),  # "BM" alone is not a bitmap
    ],
)
def test_sniff_rejects(head, needle):
    with pytest.raises(UnsupportedMedia, match=needle):
        sniff_bytes(head)


def _unsupported_samples(tmp_path: Path) -> dict[str, bytes]:
    """Real files in media formats synthlabel does not handle, written by real muxers."""
    import soundfile as sf

    x = (0.2 * np.sin(2 * np.pi * 440 * np.arange(4000) / 8000)).astype(np.float32)
    out = {}
    for name, fmt in (("AIFF audio", "AIFF"), ("Sony Wave64 audio", "W64"),
                      ("Core Audio Format", "CAF"), ("Sun/NeXT AU audio", "AU")):
        f = tmp_path / f"a.{fmt.lower()}"
        sf.write(f, x, 8000, format=fmt, subtype="PCM_16")
        out[name] = f.read_bytes()
    out["raw AAC (ADTS)"] = _av_audio(tmp_path / "a.aac", "adts", "aac")
    # a music collection's other formats: passed over in a folder as "not media" before
    for name, fmt, codec in (("WavPack audio", "wv", "wavpack"), ("TTA (True Audio) audio", "tta", "tta"),
                             ("AC-3 / E-AC-3 (Dolby Digital) audio", "ac3", "ac3"),
                             ("E-AC-3 (Dolby Digital)", "eac3", "eac3")):
        out[name] = _av_audio(tmp_path / f"a.{fmt}", fmt, codec)
    for name, fmt, codec in (("AVI video", "avi", "mpeg4"), ("Flash video", "flv", "flv"),
                             ("MPEG transport stream", "mpegts", "mpeg2video"),
                             ("MPEG program stream", "vob", "mpeg2video"),
                             ("ASF (WMV/WMA)", "asf", "wmv2")):
        out[name] = _av_video(tmp_path / f"v.{fmt}", fmt, codec)
    buf = io.BytesIO()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(buf, "JPEG2000")
    out["JPEG 2000 image"] = buf.getvalue()
    return out


def test_other_media_is_named_not_passed_over(tmp_path):
    """Media in formats synthlabel does not handle is named, with what to convert it to, and
    raised as UnsupportedFormat (a batch reports it as failed, not as "not media")."""
    samples = _unsupported_samples(tmp_path)
    kinds = {}
    for name, data in samples.items():
        with pytest.raises(UnsupportedFormat) as e:
            sniff_bytes(data[:4096])
        assert name in str(e.value) and "is not supported (convert it to" in str(e.value), (name, e.value)
        kinds[name] = e.value.kind
    assert kinds["AIFF audio"] == kinds["raw AAC (ADTS)"] == "audio"
    assert kinds["AVI video"] == kinds["MPEG transport stream"] == "video"
    assert kinds["JPEG 2000 image"] == "image"
    with pytest.raises(UnsupportedFormat, match="HEIF/AVIF"):
        sniff_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00" + bytes(44))
    # formats no encoder here writes: their signatures, as their specifications give them
    for head, name in ((b"\x7f\xfe\x80\x01\xfc\x3c", "DTS audio"), (b"MAC \x96\x0f", "Monkey's Audio"),
                       (b"MPCK", "Musepack"), (b"MP+\x07", "Musepack"), (b"tBaK", "TAK audio"),
                       (b"ajkg\x02", "Shorten"), (b"DSD " + (28).to_bytes(8, "little"), "DSD audio (DSF)"),
                       (b"FRM8" + bytes(8) + b"DSD ", "DSD audio (DSDIFF)"),
                       (b"Creative Voice File\x1a", "Creative Voice"), (b"MThd\x00\x00\x00\x06", "MIDI music"),
                       (b".RMF\x00\x00\x00\x12", "RealMedia")):
        with pytest.raises(UnsupportedFormat, match=re.escape(name)):
            sniff_bytes(head + bytes(64))
    # ... while plain non-media stays UnsupportedMedia, not UnsupportedFormat
    for head in (b"hello, world" + bytes(52), b"%PDF-1.7\n" + bytes(55), b"RIFF\x10\x00\x00\x00CDXA" + bytes(52)):
        with pytest.raises(UnsupportedMedia) as e:
            sniff_bytes(head)
        assert not isinstance(e.value, UnsupportedFormat)


def test_reject_message_names_the_kind_of_file_not_its_bytes():
    """The message showed the first 8 bytes, which reached reports: those of a key file a
    crafted folder linked to, say (tests/test_hostile_inputs.py)."""
    for head, kind in ((b"GARBAGE!" + bytes(56), "binary data"), (b"just some notes\n", "text"),
                       (b"<!doctype html><html>", "XML or HTML text"), (b"PK\x03\x04" + bytes(30), "ZIP")):
        with pytest.raises(UnsupportedMedia) as e:
            sniff_bytes(head)
        assert kind in str(e.value) and "\n" not in str(e.value)
        assert "47 41" not in str(e.value) and "GARBAGE" not in str(e.value)


def test_sniff_file_empty_and_truncated(tmp_path, samples):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(UnsupportedMedia, match="empty file"):
        sniff_file(empty)
    # A file cut right after its signature is still identified; parsing it is the
    # container readers' job (they raise MetadataError).
    cut = tmp_path / "cut.bin"
    cut.write_bytes(samples["png"][:8])
    assert sniff_file(cut).format == "png"
    assert isinstance(UnsupportedMedia("x"), ValueError)


def test_raw_video_streams_are_named_not_called_non_media(tmp_path):
    """A raw H.264 stream (.h264, as cameras and DVRs write) and a .y4m were "not a recognised
    media file" (or skipped as non-media in a folder): media left unlabeled must be named."""
    import subprocess

    from conftest import require_tool

    ffmpeg = require_tool("ffmpeg")
    raw = tmp_path / "cam.h264"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc=d=0.2:s=64x48", "-c:v",
                    "libx264", "-f", "h264", raw], check=True)
    y4m = tmp_path / "clip.y4m"
    y4m.write_bytes(b"YUV4MPEG2 W64 H48 F25:1 Ip A1:1 C420jpeg\nFRAME\n" + bytes(64 * 48 * 3 // 2))
    for path, name in ((raw, "raw H.264/H.265 stream"), (y4m, "YUV4MPEG2")):
        with pytest.raises(UnsupportedFormat) as e:
            sniff_file(path)
        assert e.value.kind == "video" and name in str(e.value), str(e.value)


def test_what_an_id3_tag_fronts_is_looked_at(tmp_path):
    """ADTS AAC behind an ID3 tag (podcasts, HLS audio) and MP2 with or without one were taken
    for MP3 (silently re-encoded as one, its tags dropped) or called unrecognised binary data.
    They are named as the unsupported audio they are; MP3 and FLAC behind a tag as before,
    also when the tag is longer than the head read first."""
    import subprocess

    from conftest import require_tool

    ffmpeg = require_tool("ffmpeg")

    def make(name, *args):
        path = tmp_path / name
        subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "sine=d=1", *args, path], check=True)
        return path

    def tag_len(data):
        return 10 + ((data[6] << 21) | (data[7] << 14) | (data[8] << 7) | data[9])

    adts_id3 = make("a.aac", "-c:a", "aac", "-f", "adts", "-write_id3v2", "1", "-metadata", "title=x")
    mp2 = make("b.mp2", "-c:a", "mp2", "-f", "mp2")
    mp3_id3 = make("d.mp3", "-c:a", "libmp3lame", "-metadata", "title=x")
    tagged = mp3_id3.read_bytes()
    tag = tagged[:tag_len(tagged)]
    mp2_id3 = tmp_path / "c.mp3"
    mp2_id3.write_bytes(tag + mp2.read_bytes())
    for path, name in ((adts_id3, "raw AAC (ADTS) audio behind an ID3 tag"),
                       (mp2, "MPEG Layer I/II audio (MP2)"),
                       (mp2_id3, "MPEG Layer I/II audio (MP2) behind an ID3 tag")):
        assert (path.read_bytes()[:3] == b"ID3") == (path is not mp2)
        with pytest.raises(UnsupportedFormat, match=name.replace("(", r"\(").replace(")", r"\)")):
            sniff_file(path)
    assert sniff_file(mp3_id3).format == "mp3"
    # a tag longer than the head read first: what follows it is read on
    pad = 8000
    n = tag_len(tag) - 10 + pad
    header = tag[:6] + bytes([(n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F])
    long_tag = tmp_path / "e.mp3"
    long_tag.write_bytes(header + tag[10:] + bytes(pad) + mp2.read_bytes())
    with pytest.raises(UnsupportedFormat, match="MP2\\) behind an ID3 tag"):
        sniff_file(long_tag)
    long_mp3 = tmp_path / "f.mp3"
    long_mp3.write_bytes(header + tag[10:] + bytes(pad) + tagged[len(tag):])
    assert sniff_file(long_mp3).format == "mp3"
