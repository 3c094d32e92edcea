"""Damaged media found by a fuzzing pass (2,420 mutants of fresh ffmpeg and Pillow files):
nothing crashed, but the reasons given were the libraries' internal texts ("Internal error :
SF_INFO struct incomplete", "Input/output error", "bytearray index out of range", a private
temp file's path), or an internal error of ours. Each case rebuilds its damaged file from a
fresh one by a structural edit, and asserts the reason a person gets."""
from __future__ import annotations

import io
import struct
import subprocess

import pytest
from PIL import Image

import synthlabel
from conftest import require_tool, synthetic_photo

V = ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2"]
A = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=2"]
SEEDS = {
    "mp4": V + A + ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
                    "-movflags", "+faststart"],
    "mkv": V + A + ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "libopus", "-shortest"],
    "mp3": A + ["-c:a", "libmp3lame", "-b:a", "96k"],
    "flac": A + ["-c:a", "flac"],
    "ogg": A + ["-c:a", "libvorbis"],
}


@pytest.fixture(scope="module")
def seed(tmp_path_factory):
    """A fresh file of each kind, made once for the module (as bytes)."""
    ffmpeg = require_tool("ffmpeg")
    folder = tmp_path_factory.mktemp("seeds")
    made: dict[str, bytes] = {}

    def make(kind: str) -> bytearray:
        if kind not in made:
            p = folder / f"seed.{kind}"
            subprocess.run([ffmpeg, "-v", "error", "-y", *SEEDS[kind], p], check=True)
            made[kind] = p.read_bytes()
        return bytearray(made[kind])
    return make


def _error(data: bytes) -> str:
    rep = synthlabel.verify_bytes(bytes(data))
    assert rep.error, rep.to_json()
    assert "internal error" not in rep.error
    return rep.error


def _box(d: bytes, path: str) -> int:
    """Offset of the first box at ``path`` ("moov/trak/...") in an MP4."""
    off, end = 0, len(d)
    for name in path.split("/"):
        while off < end:
            size, typ = struct.unpack(">I4s", d[off:off + 8])
            if typ == name.encode():
                break
            off += size
        else:
            raise KeyError(name)
        hit, off, end = off, off + 8, off + size
        off += 8 if name == "stsd" else 0
    return hit


def _mp3_frames(d: bytes):
    size = 0
    for b in d[6:10]:
        size = (size << 7) | (b & 0x7F)
    off = 10 + size if d[:3] == b"ID3" else 0
    rates = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320]
    while off + 4 <= len(d) and d[off] == 0xFF:
        yield off
        h = d[off + 2]
        off += 144 * rates[h >> 4] * 1000 // [44100, 48000, 32000][(h >> 2) & 3] + ((h >> 1) & 1)


def test_an_mp3_frame_unlike_the_stream_is_converted_not_an_internal_error(seed, credentials, tmp_path):
    """A damaged frame header whose frame decodes at another rate or channel count: PyAV's
    resampler raised "Frame does not match AudioResampler setup.", verify's internal error and
    label's failure. Converted to the stream's format, both go on."""
    d = seed("mp3")
    at = list(_mp3_frames(d))[4]
    d[at:at + 4] = b"\x00\x00\xff\xff"
    rep = synthlabel.verify_bytes(bytes(d))
    assert rep.error is None, rep.error
    assert rep.layers["metadata"].status.value == "missing"
    src = tmp_path / "d.mp3"
    src.write_bytes(bytes(d))
    res = synthlabel.label_file(src, tmp_path / "out.mp3", credentials=credentials)
    assert "watermark" in res.layers
    rep = synthlabel.verify_file(tmp_path / "out.mp3", credentials=credentials)
    assert rep.error is None and rep.layers["watermark"].status.value == "ok", rep.to_json()


def test_an_ogg_comment_running_past_its_packet_is_said_so(seed):
    """The metadata layer said "malformed OGG: bytearray index out of range"."""
    d = seed("ogg")
    i = d.index(b"\x03vorbis")
    vendor = int.from_bytes(d[i + 7:i + 11], "little")
    c = i + 11 + vendor
    d[c + 4:c + 8] = (0xB60F676B).to_bytes(4, "little")   # the first comment's length
    summary = synthlabel.verify_bytes(bytes(d)).layers["metadata"].summary
    assert "malformed OGG: a length or count in its tags points past their data" in summary, summary


def test_a_damaged_id3_tag_is_named_without_a_temp_files_path(seed):
    """verify_bytes' metadata layer named its private temp copy: "malformed MP3:
    '/tmp/synthlabel-x/input.mp3' has invalid flags 0x8"."""
    d = seed("mp3")
    assert d[:3] == b"ID3"
    d[5] = 0x08                                              # a flag ID3v2.4 does not define
    summary = synthlabel.verify_bytes(bytes(d)).layers["metadata"].summary
    assert "the tag has invalid flags 0x8" in summary and "/tmp" not in summary, summary
    d = seed("mp3")
    d[3] = 0x80                                              # ID3v2.128
    summary = synthlabel.verify_bytes(bytes(d)).layers["metadata"].summary
    assert "malformed MP3: ID3v2.128 not supported" in summary, summary


def test_ffmpegs_errors_on_damaged_video_say_what_they_mean(seed):
    d = seed("mp4")
    o = _box(d, "moov/trak/mdia/minf/stbl/stsd/avc1")
    d[o] |= 0x80                                             # the sample entry's size: 2 GiB more
    assert _error(d) == ("cannot read video: a size in the file is impossibly large "
                         "(FFmpeg: Cannot allocate memory)")
    d = seed("mkv")
    cut = d.index(bytes.fromhex("1654AE6B")) + 20            # inside the Tracks element
    assert _error(d[:cut]) == ("cannot read video: the data ends early or is damaged "
                               "(FFmpeg: Input/output error)")
    d = seed("mkv")
    i = d.index(b"\x42\xf7\x81")                             # EBMLReadVersion 1 -> 128
    d[i + 3] = 0x80
    assert _error(d).startswith("cannot read video: an unsupported header version, most "
                                "likely damage (FFmpeg: Not yet implemented in FFmpeg")
    d = seed("mkv")
    i = d.index(b"V_MPEG4/ISO/AVC")
    d[i + 8:i + 11] = b"XXX"
    assert _error(d) == ("corrupt video data: no decoder for its codec: a damaged codec ID, or "
                         "one FFmpeg does not have (FFmpeg: Decoder not found)")


def test_a_broken_ogg_page_is_said_damaged(seed):
    d = seed("ogg")
    d[22] ^= 0x01                                            # the first page's CRC
    assert _error(d) == ("cannot decode audio: the data ends early or is damaged "
                         "(FFmpeg: End of file)")


def test_libsndfiles_internal_errors_on_a_damaged_flac_say_what_they_mean(seed):
    d = seed("flac")
    assert _error(d[:42]) == ("truncated or corrupt FLAC data after 0 of 96000 frames "
                              "(libsndfile: Internal psf_fseek() failed)")
    off = 4                                                  # the last metadata block: made
    while not d[off] & 0x80:                                 # a second STREAMINFO, not last
        off += 4 + int.from_bytes(d[off + 1:off + 4], "big")
    d[off:off + 4] = b"\x00\x00\x00\x40"
    assert _error(d) == ("cannot decode audio: its header is damaged or incomplete (libsndfile: "
                         "Internal error : SF_INFO struct incomplete)")


def test_a_flac_behind_a_long_or_damaged_id3_tag_is_a_flac(seed, credentials, tmp_path):
    """verify_bytes looked at the first 4 KB alone: a FLAC whose ID3 tag in front (where
    c2pa puts a FLAC's manifest) is longer was an MP3, and so was a labeled FLAC whose tag
    size was damaged ("malformed MP3", "the audio ends early")."""
    flac = bytes(seed("flac"))
    pad = 6000
    tag = b"ID3\x04\x00\x00" + bytes([(pad >> 21) & 0x7F, (pad >> 14) & 0x7F, (pad >> 7) & 0x7F,
                                      pad & 0x7F]) + bytes(pad)
    rep = synthlabel.verify_bytes(tag + flac, layers=("metadata",))
    assert rep.media_type == "audio/flac" and rep.error is None, rep.to_json()
    (tmp_path / "a.flac").write_bytes(flac)
    labeled = synthlabel.label_file(tmp_path / "a.flac", tmp_path / "out.flac", credentials=credentials)
    data = bytearray(open(labeled.output, "rb").read())
    assert data[:3] == b"ID3"
    data[6:10] = b"\xff\xff\xff\xfe"                          # not a syncsafe size
    assert synthlabel.verify_bytes(bytes(data)).media_type == "audio/flac"


def test_pictures_whose_data_is_damaged_say_so(seed):
    ex = Image.Exif()
    ex[0x010F] = "QACam"
    buf = io.BytesIO()
    Image.fromarray(synthetic_photo(240, 320, 2)).save(buf, "WEBP", quality=80, exif=ex.tobytes())
    d = bytearray(buf.getvalue())
    i = d.index(b"EXIF")
    d[i:i + 8] = bytes(8)                                    # the EXIF chunk's header
    assert _error(d) == ("cannot decode WEBP image: the data is damaged or cut short "
                         "(could not create decoder object)")
    buf = io.BytesIO()
    Image.fromarray(synthetic_photo(240, 320, 3)).save(buf, "JPEG")
    d = bytearray(buf.getvalue())
    i = d.index(b"\xff\xda")
    d[i] = 0xEF                                              # the start of scan, gone
    assert _error(d).startswith("cannot decode JPEG image: the data is damaged or cut short (")
