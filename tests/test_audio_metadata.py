"""AIGC metadata in audio and MP4-family files: written by us, read back by us and by
independent readers (mutagen, ffprobe, exiftool, the stdlib ``wave`` module and a manual RIFF
walk), on real files made with real encoders."""
from __future__ import annotations

import io
import json
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
from conftest import require_tool

from synthlabel.formats import audio_io as A
from synthlabel.formats import mp4meta
from synthlabel.formats.audio_meta import (
    MetadataError,
    read_audio_metadata,
    read_audio_metadata_file,
    write_audio_metadata,
    write_audio_metadata_file,
)
from synthlabel.models import DST_TRAINED, AIGCLabel, LabelError

LABEL = AIGCLabel.create(producer="synthlabel", produce_id="0123456789abcdef")
LABEL2 = AIGCLabel.create(producer="synthlabel", produce_id="fedcba9876543210")
EXT = {"wav": "wav", "flac": "flac", "mp3": "mp3", "ogg": "ogg", "opus": "opus", "m4a": "m4a"}
FORMATS = list(EXT)


def _signal(seconds: float = 1.0, rate: int = 48000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    x = 0.4 * np.sin(2 * np.pi * 440 * t) + 0.01 * np.random.default_rng(1).standard_normal(len(t))
    return np.stack([x, 0.5 * x], 1).astype(np.float32)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("audio-meta")
    out = {}
    for fmt, ext in EXT.items():
        p = d / f"plain.{ext}"
        A.write(p, _signal(), 48000, fmt, **({"subtype": "PCM_24"} if fmt == "flac" else {}))
        out[fmt] = p
    return out


def _run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


def ffprobe_tags(path: Path) -> dict[str, str]:
    """Format and stream tags as ffprobe reports them (Vorbis comments in Ogg are stream
    tags; ID3, FLAC and MP4 tags are format tags)."""
    out = _run(require_tool("ffprobe"), "-v", "error", "-show_format", "-show_streams",
               "-of", "json", str(path))
    assert out.returncode == 0, out.stderr
    j = json.loads(out.stdout)
    tags = dict(j["format"].get("tags", {}))
    for s in j.get("streams", []):
        tags.update(s.get("tags", {}))
    return tags


def decode_md5(path: Path) -> str:
    """MD5 of the decoded audio/video; asserts ffmpeg reports no error at all."""
    out = _run(require_tool("ffmpeg"), "-v", "error", "-i", str(path), "-map", "0",
               "-f", "md5", "-")
    assert out.returncode == 0 and not out.stderr.strip(), out.stderr
    return out.stdout.strip()


def with_title(src: Path, dst: Path, **extra: str) -> Path:
    """Copy ``src`` with a title and artist written by ffmpeg (existing tags to keep)."""
    args = ["-metadata", "title=Original Title", "-metadata", "artist=Someone"]
    for k, v in extra.items():
        args += ["-metadata", f"{k}={v}"]
    movflags = ["-movflags", "+faststart"] if dst.suffix == ".m4a" else []
    out = _run(require_tool("ffmpeg"), "-v", "error", "-y", "-i", str(src), "-map", "0",
               "-c", "copy", *args, *movflags, str(dst))
    assert out.returncode == 0, out.stderr
    return dst


def riff_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """Independent RIFF walk (written for the test, not shared with synthlabel.formats.riff)."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    assert int.from_bytes(data[4:8], "little") + 8 == len(data)
    pos, out = 12, []
    while pos < len(data):
        cid, n = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "little")
        out.append((cid, data[pos + 8:pos + 8 + n]))
        pos += 8 + n + (n & 1)
    assert pos == len(data)
    return out


# --------------------------------------------------------------------------- every format


@pytest.mark.parametrize("fmt", FORMATS)
def test_label_roundtrip_with_independent_readers(media, tmp_path, fmt):
    src = with_title(media[fmt], tmp_path / f"titled.{EXT[fmt]}")
    before = decode_md5(src)
    data = src.read_bytes()
    once = write_audio_metadata(data, None, LABEL, DST_TRAINED)
    twice = write_audio_metadata(once, fmt if fmt != "opus" else "ogg", LABEL2, DST_TRAINED)
    out = tmp_path / f"labeled.{EXT[fmt]}"
    out.write_bytes(twice)

    meta = read_audio_metadata(twice)
    assert meta.aigc == LABEL2 and meta.aigc_count == 1 and not meta.errors
    # (WAV: in its XMP _PMX chunk; see synthlabel.formats.riff)
    assert meta.digital_source_type == DST_TRAINED
    assert read_audio_metadata_file(out).aigc == LABEL2
    expected_raw = LABEL2.to_inner_json() if fmt == "m4a" else LABEL2.to_wrapped_json()
    assert meta.raw == expected_raw

    # audio untouched, file still decodes without a single error
    assert decode_md5(out) == before

    tags = ffprobe_tags(out)
    if fmt == "wav":
        # ffprobe does not show unknown RIFF chunks: walk the chunks ourselves, open with the
        # stdlib wave module and soundfile, and list chunks with exiftool
        chunks = riff_chunks(twice)
        ids = [c for c, _ in chunks]
        assert ids.count(b"AIGC") == 1 and b"LIST" in ids and b"data" in ids
        assert ids.count(b"_PMX") == 1 and b"TC260:AIGC" not in dict(chunks)[b"_PMX"]
        payload = dict(chunks)[b"AIGC"]
        assert payload.rstrip(b"\0").decode() == LABEL2.to_wrapped_json()
        with wave.open(str(out)) as w:
            assert (w.getnchannels(), w.getframerate()) == (2, 48000)
        assert A.probe(out).frames == 48000
        assert tags.get("title") == "Original Title"  # LIST/INFO survived
        ex = _run(require_tool("exiftool"), "-v2", str(out)).stdout
        assert f"RIFF 'AIGC' chunk ({len(LABEL2.to_wrapped_json())} bytes of data)" in ex
        # the IPTC property itself, in Adobe's WAV XMP chunk (as on pictures)
        j = json.loads(_run(require_tool("exiftool"), "-j", "-G1", str(out)).stdout)[0]
        assert j["XMP-iptcExt:DigitalSourceType"] == DST_TRAINED
    else:
        assert json.loads(tags["AIGC"]) == json.loads(expected_raw)
        assert [k.lower() for k in tags].count("aigc") == 1
        assert tags.get("title") == "Original Title" and tags.get("artist") == "Someone"
    if fmt == "mp3":
        from mutagen.id3 import ID3

        id3 = ID3(str(out))
        assert [f.text[0] for f in id3.getall("TXXX:AIGC")] == [LABEL2.to_wrapped_json()]
        assert id3.getall("TIT2")[0].text[0] == "Original Title"
        # the IPTC property itself, in the tag's XMP (PRIV owned by XMP), once (as on pictures)
        assert [f.owner for f in id3.getall("PRIV")] == ["XMP"]
        j = json.loads(_run(require_tool("exiftool"), "-j", "-G1", str(out)).stdout)[0]
        assert j["XMP-iptcExt:DigitalSourceType"] == DST_TRAINED
    elif fmt in ("flac", "ogg", "opus"):
        import mutagen

        mf = mutagen.File(str(out))
        assert mf.tags["AIGC"] == [LABEL2.to_wrapped_json()]
        assert mf.tags["DIGITALSOURCETYPE"] == [DST_TRAINED]
        assert mf.tags["TITLE"] == ["Original Title"]
    elif fmt == "m4a":
        ex = _run(require_tool("exiftool"), "-j", "-G1", str(out))
        j = json.loads(ex.stdout)[0]
        assert json.loads(j["Keys:AIGC"]) == LABEL2.to_dict()
        # the IPTC property itself too, in the XMP box ExifTool reads (as on pictures)
        assert j["XMP-iptcExt:DigitalSourceType"] == DST_TRAINED


@pytest.mark.parametrize("fmt", FORMATS)
def test_file_variant_matches_bytes(media, tmp_path, fmt):
    dst = tmp_path / f"f.{EXT[fmt]}"
    write_audio_metadata_file(media[fmt], dst, LABEL, DST_TRAINED)
    assert dst.read_bytes() == write_audio_metadata(media[fmt].read_bytes(), None, LABEL,
                                                    DST_TRAINED)
    assert not list(tmp_path.glob("*.part"))
    with pytest.raises(MetadataError):
        write_audio_metadata_file(dst, dst, LABEL)


@pytest.mark.parametrize("fmt", FORMATS)
def test_unlabeled_and_corrupt(media, tmp_path, fmt):
    data = media[fmt].read_bytes()
    meta = read_audio_metadata(data)
    assert meta.aigc is None and meta.aigc_count == 0
    cut = {"wav": 60, "flac": 30, "mp3": None, "ogg": 40, "opus": 40, "m4a": 300}[fmt]
    bad = [b"", b"not audio, just text\n" * 5]
    if cut:
        bad.append(data[:cut])
    for b in bad:
        for fn in (lambda b=b: read_audio_metadata(b),
                   lambda b=b: write_audio_metadata(b, None, LABEL)):
            with pytest.raises(MetadataError) as ei:
                fn()
            assert "\n" not in str(ei.value) and str(ei.value)


def test_truncated_mp3_and_mismatched_format(media):
    mp3 = media["mp3"].read_bytes()
    with pytest.raises(MetadataError, match="MP3"):
        write_audio_metadata(mp3[:4000].split(b"\xff\xfb")[0] + b"\x00" * 64, None, LABEL)
    with pytest.raises(MetadataError, match="content is wav"):
        write_audio_metadata(media["wav"].read_bytes(), "mp3", LABEL)
    with pytest.raises(MetadataError, match="not 'png'"):
        write_audio_metadata(media["wav"].read_bytes(), "png", LABEL)
    with pytest.raises(LabelError):
        write_audio_metadata(media["wav"].read_bytes(), None, LABEL, "trainedAlgorithmicMedia")


# --------------------------------------------------------------------------- reading details


def test_reader_accepts_both_forms_and_counts(media):
    import mutagen

    # Vorbis comment with the inner form, plus a second (stale) label in wrapped form
    buf = io.BytesIO(media["flac"].read_bytes())
    f = mutagen.File(buf)
    if f.tags is None:
        f.add_tags()
    f.tags.append(("AIGC", LABEL.to_inner_json()))
    f.tags.append(("aigc", '{"AIGC":{"Label":"9"}}'))
    buf.seek(0)
    f.save(buf)
    meta = read_audio_metadata(buf.getvalue())
    assert meta.aigc == LABEL and meta.aigc_count == 2 and len(meta.errors) == 1
    # our writer leaves exactly one
    fixed = read_audio_metadata(write_audio_metadata(buf.getvalue(), "flac", LABEL2))
    assert fixed.aigc == LABEL2 and fixed.aigc_count == 1

    # WAV: two AIGC chunks (inner form + broken JSON) appended by hand
    wav = media["wav"].read_bytes()
    extra = b""
    for payload in (LABEL.to_inner_json().encode() + b"\0", b"{broken"):
        extra += b"AIGC" + len(payload).to_bytes(4, "little") + payload + b"\0" * (len(payload) & 1)
    body = wav[12:] + extra
    wav2 = b"RIFF" + (4 + len(body)).to_bytes(4, "little") + b"WAVE" + body
    meta = read_audio_metadata(wav2)
    assert meta.aigc == LABEL and meta.aigc_count == 2 and "not valid JSON" in meta.errors[0]
    relabeled = write_audio_metadata(wav2, "wav", LABEL2)
    assert [c for c, _ in riff_chunks(relabeled)].count(b"AIGC") == 1
    assert read_audio_metadata(relabeled).aigc == LABEL2


def test_mp3_id3v23_stays_v23_and_keeps_frames(media, tmp_path):
    from mutagen.id3 import ID3, TIT2, TXXX

    p = tmp_path / "v23.mp3"
    p.write_bytes(media["mp3"].read_bytes())
    tags = ID3(str(p))
    tags.add(TIT2(encoding=1, text=["Titel"]))
    tags.add(TXXX(encoding=1, desc="aigc", text=[LABEL.to_inner_json()]))  # inner, lower case
    tags.save(str(p), v2_version=3)
    assert read_audio_metadata(p.read_bytes()).aigc == LABEL
    out = write_audio_metadata(p.read_bytes(), "mp3", LABEL2, DST_TRAINED)
    t2 = ID3(io.BytesIO(out))
    assert t2.version[:2] == (2, 3)
    assert t2.getall("TIT2")[0].text[0] == "Titel"
    assert [f.desc for f in t2.getall("TXXX")].count("AIGC") == 1
    assert read_audio_metadata(out).aigc_count == 1


def test_ffmpeg_written_label_is_read_and_replaced(media, tmp_path):
    # what ffmpeg writes with use_metadata_tags, here with the wrapped form
    ff = tmp_path / "ff.m4a"
    out = _run(require_tool("ffmpeg"), "-v", "error", "-y", "-i", str(media["m4a"]), "-c",
               "copy", "-movflags", "use_metadata_tags+faststart", "-metadata",
               f"AIGC={LABEL.to_wrapped_json()}", "-metadata", "title=T", str(ff))
    assert out.returncode == 0, out.stderr
    meta = read_audio_metadata(ff.read_bytes())
    assert meta.aigc == LABEL and meta.aigc_count == 1 and meta.source == "mp4-mdta"
    relabeled = tmp_path / "re.m4a"
    relabeled.write_bytes(write_audio_metadata(ff.read_bytes(), "m4a", LABEL2))
    tags = ffprobe_tags(relabeled)
    assert json.loads(tags["AIGC"]) == LABEL2.to_dict() and tags["title"] == "T"
    assert "encoder" in tags and "major_brand" in tags  # ffmpeg's other mdta keys merged
    assert read_audio_metadata(relabeled.read_bytes()).aigc_count == 1
    decode_md5(relabeled)


def test_a_freeform_label_beside_ffmpegs_mdta_label_is_counted_and_replaced(media, tmp_path):
    """A tagger (mutagen) adds an iTunes freeform ``----:com.apple.iTunes:AIGC`` item to the
    mdta meta ffmpeg wrote: the reader skipped freeform items in an mdta meta, so two
    disagreeing labels read as one valid label; relabeling left the second in place."""
    from mutagen.mp4 import MP4, MP4FreeForm

    ff = tmp_path / "ff.m4a"
    out = _run(require_tool("ffmpeg"), "-v", "error", "-y", "-i", str(media["m4a"]), "-c",
               "copy", "-movflags", "use_metadata_tags", "-metadata",
               f"AIGC={LABEL.to_inner_json()}", str(ff))
    assert out.returncode == 0, out.stderr
    tagged = MP4(ff)
    tagged["----:com.apple.iTunes:AIGC"] = [MP4FreeForm(LABEL2.to_inner_json().encode())]
    tagged.save()
    meta = read_audio_metadata(ff.read_bytes())
    assert meta.aigc_count == 2
    relabeled = tmp_path / "re.m4a"
    relabeled.write_bytes(write_audio_metadata(ff.read_bytes(), "m4a", LABEL))
    again = read_audio_metadata(relabeled.read_bytes())
    assert again.aigc == LABEL and again.aigc_count == 1
    assert "----:com.apple.iTunes:AIGC" not in MP4(relabeled)
    decode_md5(relabeled)


def test_a_txxx_frame_with_two_values_is_two_labels(media, tmp_path):
    """ID3 frames hold several NUL-separated values: the reader joined them, so two labels in
    one TXXX:AIGC frame were "not valid JSON: Extra data" (FLAC's two values: 2 labels)."""
    from mutagen.id3 import ID3, TXXX

    mp3 = tmp_path / "two.mp3"
    mp3.write_bytes(media["mp3"].read_bytes())
    tags = ID3()
    tags.add(TXXX(encoding=3, desc="AIGC", text=[LABEL.to_wrapped_json(), LABEL2.to_wrapped_json()]))
    tags.save(mp3)
    meta = read_audio_metadata(mp3.read_bytes())
    assert meta.aigc_count == 2
    tags.delall("TXXX")
    tags.add(TXXX(encoding=3, desc="AIGC", text=[LABEL.to_wrapped_json(), ""]))    # a trailing NUL
    tags.save(mp3)
    meta = read_audio_metadata(mp3.read_bytes())
    assert meta.aigc == LABEL and meta.aigc_count == 1


def test_wav_labels_in_list_info_and_an_id3_chunk_are_read_and_replaced(media, tmp_path):
    """RIFF taggers put tags in LIST/INFO (ffmpeg) or in an ``id3 `` chunk (mutagen,
    ExifTool): an AIGC label there went unseen ("no AIGC metadata label"), and beside our
    chunk a second, disagreeing label passed as one. Relabeling keeps their other entries."""
    from mutagen.id3 import TIT2, TXXX
    from mutagen.wave import WAVE

    def chunk(cid: bytes, data: bytes) -> bytes:
        return cid + len(data).to_bytes(4, "little") + data + b"\0" * (len(data) & 1)

    base = media["wav"].read_bytes()
    body = base[12:] + chunk(b"LIST", b"INFO" + chunk(b"INAM", b"Song\0")
                             + chunk(b"AIGC", LABEL.to_wrapped_json().encode() + b"\0"))
    info = b"RIFF" + (len(body) + 4).to_bytes(4, "little") + b"WAVE" + body
    meta = read_audio_metadata(info)
    assert meta.aigc == LABEL and meta.aigc_count == 1
    assert ffprobe_tags(_written(tmp_path / "info.wav", info))["AIGC"] == LABEL.to_wrapped_json()

    tagged = _written(tmp_path / "id3.wav", base)
    wave = WAVE(tagged)
    wave.add_tags()
    wave.tags.add(TIT2(encoding=3, text=["Song"]))
    wave.tags.add(TXXX(encoding=3, desc="AIGC", text=[LABEL2.to_wrapped_json()]))
    wave.save()
    meta = read_audio_metadata(tagged.read_bytes())
    assert meta.aigc == LABEL2 and meta.aigc_count == 1
    both = write_audio_metadata(base, "wav", LABEL)             # our chunk ...
    wave = WAVE(_written(tmp_path / "both.wav", both))
    wave.add_tags()
    wave.tags.add(TXXX(encoding=3, desc="AIGC", text=[LABEL2.to_wrapped_json()]))
    wave.save()                                                 # ... and a tagger's
    assert read_audio_metadata((tmp_path / "both.wav").read_bytes()).aigc_count == 2

    for src in (info, tagged.read_bytes(), (tmp_path / "both.wav").read_bytes()):
        out = _written(tmp_path / "re.wav", write_audio_metadata(src, "wav", LABEL))
        again = read_audio_metadata(out.read_bytes())
        assert again.aigc == LABEL and again.aigc_count == 1 and again.source == "riff-aigc"
        tags = WAVE(out).tags
        assert tags is None or not tags.getall("TXXX")
        decode_md5(out)
    assert ffprobe_tags(_written(tmp_path / "re1.wav", write_audio_metadata(info, "wav", LABEL)))["title"] == "Song"
    assert str(WAVE(_written(tmp_path / "re2.wav", write_audio_metadata(tagged.read_bytes(), "wav", LABEL))).tags["TIT2"]) == "Song"


def test_mp3_xmp_keeps_another_tools_properties(media, tmp_path):
    """The source type is set in the XMP packet an MP3's ID3 tag already has (a PRIV frame
    owned by XMP), whose other properties stay; one such frame after labeling twice."""
    from mutagen.id3 import ID3, PRIV

    src = _written(tmp_path / "x.mp3", media["mp3"].read_bytes())
    tags = ID3(str(src))
    tags.add(PRIV(owner="XMP", data=(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator><rdf:Seq>'
        '<rdf:li>Someone</rdf:li></rdf:Seq></dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>').encode()))
    tags.save()
    out = _written(tmp_path / "out.mp3", write_audio_metadata(src.read_bytes(), "mp3", LABEL, DST_TRAINED))
    out = _written(tmp_path / "out2.mp3", write_audio_metadata(out.read_bytes(), "mp3", LABEL2, DST_TRAINED))
    assert [f.owner for f in ID3(str(out)).getall("PRIV")] == ["XMP"]
    j = json.loads(_run(require_tool("exiftool"), "-j", "-G1", str(out)).stdout)[0]
    assert j["XMP-iptcExt:DigitalSourceType"] == DST_TRAINED and j["XMP-dc:Creator"] == "Someone"
    meta = read_audio_metadata(out.read_bytes())
    assert meta.aigc == LABEL2 and meta.aigc_count == 1 and meta.digital_source_type == DST_TRAINED
    assert decode_md5(out) == decode_md5(src)


_CREATOR_XMP = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-'
                'syntax-ns#"><rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
                'xmlns:TC260="http://www.tc260.org.cn/ns/AIGC/1.0/"><dc:creator><rdf:Seq><rdf:li>Someone'
                '</rdf:li></rdf:Seq></dc:creator><TC260:AIGC>{"Label":"1","ProduceID":"old"}</TC260:AIGC>'
                '</rdf:Description></rdf:RDF></x:xmpmeta>')


def test_quicktime_udta_xmp_takes_the_source_type_and_loses_its_label(tmp_path, credentials):
    """QuickTime (and ExifTool writing a MOV) keeps XMP in ``moov/udta/XMP_``. The writer
    ignored it: a labeled MOV had two XMP packets (ExifTool: "Duplicate XMP"), and a
    TC260:AIGC there stayed beside ours, two labels, which verify calls invalid (QA finding).
    The source type now goes into that packet (no uuid box added), its TC260:AIGC removed,
    its other properties kept; and labeling a MOV or M4A through the pipeline, which re-encodes
    it, carries the input's XMP into the output (it was lost)."""
    ffmpeg, exiftool = require_tool("ffmpeg"), require_tool("exiftool")
    src = tmp_path / "m.mov"
    out = _run(ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=160x120:r=10:d=1", "-f", "lavfi", "-i",
               "sine=d=1", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(src))
    assert out.returncode == 0, out.stderr
    # an XMP_ box at the end of moov/udta, as QuickTime writes it (moov and udta grow; the
    # chunk offsets past moov move with it)
    data = bytearray(src.read_bytes())
    moov = data.index(b"moov") - 4
    size = int.from_bytes(data[moov:moov + 4], "big")
    box = (8 + len(_CREATOR_XMP)).to_bytes(4, "big") + b"XMP_" + _CREATOR_XMP.encode()
    pos = moov + 8
    while data[pos + 4:pos + 8] != b"udta":                 # FFmpeg writes one udta
        pos += int.from_bytes(data[pos:pos + 4], "big")
    udta_end = pos + int.from_bytes(data[pos:pos + 4], "big")
    data[pos:pos + 4] = (udta_end - pos + len(box)).to_bytes(4, "big")
    data[udta_end:udta_end] = box
    data[moov:moov + 4] = (size + len(box)).to_bytes(4, "big")
    new_moov = bytearray(data[moov:moov + size + len(box)])
    if moov < data.index(b"mdat"):
        mp4meta._shift_chunk_offsets(new_moov, [(moov + size, len(box))])
    data[moov:moov + size + len(box)] = new_moov
    src.write_bytes(bytes(data))
    assert json.loads(_run(exiftool, "-j", "-XMP-dc:Creator", str(src)).stdout)[0]["Creator"] == "Someone"
    assert read_audio_metadata_file(src).aigc_count == 1            # the XMP label is counted
    before = decode_md5(src)
    dst = tmp_path / "labeled.mov"
    write_audio_metadata_file(src, dst, LABEL, DST_TRAINED, fmt="mov")
    assert decode_md5(dst) == before
    meta = read_audio_metadata_file(dst)
    assert meta.aigc == LABEL and meta.aigc_count == 1 and meta.digital_source_type == DST_TRAINED
    assert mp4meta.XMP_UUID not in dst.read_bytes()
    ex = json.loads(_run(exiftool, "-j", "-G1", "-a", str(dst)).stdout)[0]
    assert ex["XMP-iptcExt:DigitalSourceType"] == DST_TRAINED and ex["XMP-dc:Creator"] == "Someone"
    assert "XMP-TC260:AIGC" not in ex
    valid = json.loads(_run(exiftool, "-j", "-validate", "-warning", "-a", str(dst)).stdout)[0]
    assert valid["Validate"] == "OK", valid

    # through the pipeline (re-encoded): the XMP goes along, into a uuid box
    import synthlabel

    m4a = tmp_path / "a.m4a"
    assert _run(ffmpeg, "-v", "error", "-f", "lavfi", "-i", "sine=d=3", "-c:a", "aac", str(m4a)).returncode == 0
    assert _run(exiftool, "-q", "-overwrite_original", "-XMP-dc:Creator=Someone", str(m4a)).returncode == 0
    for name in (m4a, src):
        res = synthlabel.label_file(name, tmp_path / "out" / name.name, credentials=credentials)
        ex = json.loads(_run(exiftool, "-j", "-G1", "-a", str(res.output)).stdout)[0]
        assert ex["XMP-dc:Creator"] == "Someone" and ex["XMP-iptcExt:DigitalSourceType"] == DST_TRAINED, ex
        assert "XMP-TC260:AIGC" not in ex
        assert read_audio_metadata_file(res.output).aigc_count == 1


def test_wav_source_type_goes_into_its_xmp_chunk(media, tmp_path):
    """WAV carried no IPTC DigitalSourceType at all. It now goes into Adobe's WAV XMP chunk
    (``_PMX``) as Iptc4xmpExt:DigitalSourceType, which ExifTool reads: set in the packet the
    file has, whose other properties (a creator) stay and whose TC260:AIGC (a second label)
    goes, or in a new chunk; the samples are untouched and the file stays one label."""
    exiftool = require_tool("exiftool")

    def chunk(cid: bytes, data: bytes) -> bytes:
        return cid + len(data).to_bytes(4, "little") + data + b"\0" * (len(data) & 1)

    base = media["wav"].read_bytes()
    before = decode_md5(_written(tmp_path / "base.wav", base))
    packet = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-'
              'syntax-ns#"><rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
              'xmlns:TC260="http://www.tc260.org.cn/ns/AIGC/1.0/"><dc:creator><rdf:Seq><rdf:li>Someone'
              '</rdf:li></rdf:Seq></dc:creator><TC260:AIGC>' + LABEL2.to_inner_json().replace('"', "&quot;")
              + '</TC260:AIGC></rdf:Description></rdf:RDF></x:xmpmeta>').encode()
    body = base[12:] + chunk(b"_PMX", packet)
    with_xmp = b"RIFF" + (len(body) + 4).to_bytes(4, "little") + b"WAVE" + body
    assert read_audio_metadata(with_xmp).aigc == LABEL2
    for src in (base, with_xmp):
        out = _written(tmp_path / "out.wav", write_audio_metadata(src, "wav", LABEL, DST_TRAINED))
        assert decode_md5(out) == before
        ids = [c for c, _ in riff_chunks(out.read_bytes())]
        assert ids.count(b"_PMX") == 1 and ids.count(b"AIGC") == 1, ids
        meta = read_audio_metadata(out.read_bytes())
        assert meta.aigc == LABEL and meta.aigc_count == 1 and meta.digital_source_type == DST_TRAINED
        j = json.loads(_run(exiftool, "-j", "-G1", str(out)).stdout)[0]
        assert j["XMP-iptcExt:DigitalSourceType"] == DST_TRAINED
        assert "XMP-TC260:AIGC" not in j
        if src is with_xmp:
            assert j["XMP-dc:Creator"] == "Someone"
        # labeled again: still one XMP chunk, one label
        again = write_audio_metadata(out.read_bytes(), "wav", LABEL2, DST_TRAINED)
        assert [c for c, _ in riff_chunks(again)].count(b"_PMX") == 1
        assert read_audio_metadata(again).aigc == LABEL2
    # a packet that does not parse is another tool's: kept as it is, and no second one added
    # beside it (QA: ExifTool then said "Duplicate XMP")
    body = base[12:] + chunk(b"_PMX", b"<x:xmpmeta><rdf:RDF><unclosed")
    broken = b"RIFF" + (len(body) + 4).to_bytes(4, "little") + b"WAVE" + body
    out = write_audio_metadata(broken, "wav", LABEL, DST_TRAINED)
    chunks = riff_chunks(out)
    assert [c for c, _ in chunks].count(b"_PMX") == 1 and dict(chunks)[b"_PMX"].startswith(b"<x:xmpmeta><rdf")
    assert read_audio_metadata(out).aigc == LABEL


def _written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_m4a_with_itunes_tags_at_end(media, tmp_path):
    """moov after mdat, udta/meta owned by iTunes 'mdir' tags: those stay, ours goes to
    a second mdta meta in udta; a stale iTunes freeform AIGC item is removed."""
    import mutagen.mp4

    p = tmp_path / "itunes.m4a"
    out = _run(require_tool("ffmpeg"), "-v", "error", "-y", "-i", str(media["m4a"]), "-c",
               "copy", "-metadata", "title=Song", str(p))
    assert out.returncode == 0
    data = p.read_bytes()
    assert data.index(b"mdat") < data.index(b"moov")
    m = mutagen.mp4.MP4(str(p))
    m.tags["----:com.apple.iTunes:AIGC"] = [LABEL.to_wrapped_json().encode()]
    m.save()
    assert read_audio_metadata(p.read_bytes()).source == "mp4-itunes"
    before = decode_md5(p)
    out_p = tmp_path / "itunes-labeled.m4a"
    out_p.write_bytes(write_audio_metadata(p.read_bytes(), None, LABEL2, DST_TRAINED))
    meta = read_audio_metadata(out_p.read_bytes())
    assert meta.aigc == LABEL2 and meta.aigc_count == 1 and meta.source == "mp4-mdta"
    assert decode_md5(out_p) == before
    tags = ffprobe_tags(out_p)
    assert tags["title"] == "Song" and json.loads(tags["AIGC"]) == LABEL2.to_dict()
    assert mutagen.mp4.MP4(str(out_p)).tags["\xa9nam"] == ["Song"]
    ex = json.loads(_run(require_tool("exiftool"), "-j", "-G1", str(out_p)).stdout)[0]
    assert json.loads(ex["Keys:AIGC"]) == LABEL2.to_dict()
    assert ex["Keys:DigitalSourceType"] == DST_TRAINED
    # a later iTunes-style edit by another tool keeps our label
    m2 = mutagen.mp4.MP4(str(out_p))
    m2.tags["\xa9nam"] = ["Renamed"]
    m2.save()
    assert read_audio_metadata_file(out_p).aigc == LABEL2
    assert ffprobe_tags(out_p)["title"] == "Renamed"
    decode_md5(out_p)


def udta_metas(data: bytes) -> list[bytes]:
    """Handler types of the meta boxes in moov/udta, walked here independently of mp4meta."""
    def kids(buf, start, end):
        pos = start
        while pos + 8 <= end:
            size, typ = int.from_bytes(buf[pos:pos + 4], "big"), buf[pos + 4:pos + 8]
            size = int.from_bytes(buf[pos + 8:pos + 16], "big") if size == 1 else size or end - pos
            yield typ, pos, pos + size
            pos += size
    moov = next((s, e) for t, s, e in kids(data, 0, len(data)) if t == b"moov")
    udta = next((s, e) for t, s, e in kids(data, moov[0] + 8, moov[1]) if t == b"udta")
    out = []
    for t, s, e in kids(data, udta[0] + 8, udta[1]):
        if t == b"meta":
            hdlr = next(hs for ht, hs, _he in kids(data, s + 12, e) if ht == b"hdlr")
            out.append(data[hdlr + 16:hdlr + 20])
    return out


def test_m4a_with_only_the_encoder_tag_gets_one_meta(media, tmp_path):
    """FFmpeg writes every MP4/M4A with an iTunes meta that holds only its encoder tag: that
    meta becomes ours, the tag kept as the mdta key "encoder", and ExifTool validates the file
    (with a second meta beside it, it warned "Duplicate tag 'meta'")."""
    p = tmp_path / "plain.m4a"
    assert _run(require_tool("ffmpeg"), "-v", "error", "-y", "-i", str(media["m4a"]), "-c",
                "copy", str(p)).returncode == 0
    assert udta_metas(p.read_bytes()) == [b"mdir"]
    encoder = ffprobe_tags(p)["encoder"]
    before = decode_md5(p)
    out_p = tmp_path / "plain-labeled.m4a"
    out_p.write_bytes(write_audio_metadata(p.read_bytes(), "m4a", LABEL, DST_TRAINED))
    assert udta_metas(out_p.read_bytes()) == [b"mdta"]
    tags = ffprobe_tags(out_p)
    assert tags["encoder"] == encoder and json.loads(tags["AIGC"]) == LABEL.to_dict()
    assert decode_md5(out_p) == before
    ex = json.loads(_run(require_tool("exiftool"), "-j", "-validate", "-warning", "-a",
                         str(out_p)).stdout)[0]
    assert ex["Validate"] == "OK" and "Warning" not in ex, ex
    # relabeled: still one meta, one label, the encoder once
    again = write_audio_metadata(out_p.read_bytes(), "m4a", LABEL2)
    assert udta_metas(again) == [b"mdta"]
    found = read_audio_metadata(again)
    assert found.aigc == LABEL2 and found.aigc_count == 1
    assert again.count(b"encoder") == 1


def test_h264_faststart_mp4(tmp_path):
    src = tmp_path / "v.mp4"
    out = _run(require_tool("ffmpeg"), "-v", "error", "-y", "-f", "lavfi", "-i",
               "testsrc=size=160x120:rate=10", "-t", "1", "-pix_fmt", "yuv420p",
               "-movflags", "+faststart", str(src))
    assert out.returncode == 0, out.stderr
    data = src.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")
    before = decode_md5(src)
    dst = tmp_path / "v-labeled.mp4"
    write_audio_metadata_file(src, dst, LABEL, DST_TRAINED, fmt="mp4")
    labeled = dst.read_bytes()
    assert len(labeled) > len(data)  # moov grew, so every chunk offset had to move
    assert decode_md5(dst) == before
    assert json.loads(ffprobe_tags(dst)["AIGC"]) == LABEL.to_dict()
    found = mp4meta.read_mp4_metadata_file(dst)
    assert [s for s, _ in found.aigc] == ["mp4-mdta"] and found.digital_source_type == DST_TRAINED
    # relabel shrinks/grows again; still one label, still decodes identically
    again = write_audio_metadata(labeled, "mp4", LABEL2)
    assert read_audio_metadata(again).aigc == LABEL2
    dst.write_bytes(again)
    assert decode_md5(dst) == before
    # truncation anywhere is caught
    for cut in (len(data) - 10, 40):
        with pytest.raises(MetadataError, match="truncated|moov"):
            write_audio_metadata(labeled[:cut], "mp4", LABEL)
    # A TC260:AIGC another tool put in the file's XMP (ExifTool writes MP4 XMP into a
    # top-level uuid box) is a second label: GB 45438 allows one per file.
    from synthlabel.formats.xmp import build_packet

    packet = build_packet(LABEL2.to_inner_json(), DST_TRAINED)
    body = mp4meta.XMP_UUID + packet
    dst.write_bytes(again + (8 + len(body)).to_bytes(4, "big") + b"uuid" + body)
    found = mp4meta.read_mp4_metadata_file(dst)
    assert [s for s, _ in found.aigc] == ["mp4-xmp", "mp4-mdta"]
    meta = read_audio_metadata(dst.read_bytes())
    assert meta.aigc_count == 2
    assert decode_md5(dst) == before
    # labeling it again leaves one: the XMP packet loses its TC260:AIGC, keeps the source type
    once = write_audio_metadata(dst.read_bytes(), "mp4", LABEL)
    assert read_audio_metadata(once).aigc_count == 1 and mp4meta.XMP_UUID in once
    dst.write_bytes(once)
    assert decode_md5(dst) == before


def _top_boxes(data: bytes) -> list[bytes]:
    pos, out = 0, []
    while pos + 8 <= len(data):
        out.append(data[pos + 4:pos + 8])
        pos += int.from_bytes(data[pos:pos + 4], "big")
    return out


@pytest.mark.parametrize("layout", ["faststart", "moov-last", "xmp-before-media"])
def test_mp4_source_type_goes_into_its_xmp_too(tmp_path, layout):
    """The IPTC DigitalSourceType was only an mdta key in MP4 / MOV / M4A (ExifTool shows it as
    Keys:DigitalSourceType), not the IPTC property Iptc4xmpExt:DigitalSourceType that pictures
    carry in XMP and that tools look for. It now goes into the file's XMP box (the ISO uuid box
    ExifTool and Adobe's tools read and write), added after moov, or set in the XMP packet the
    file already has, whose other properties stay, wherever the box sits: the media data's
    chunk offsets follow (the decoded streams are the same), and ExifTool validates the file."""
    ffmpeg, exiftool = require_tool("ffmpeg"), require_tool("exiftool")
    src = tmp_path / "v.mp4"
    flags = ["-movflags", "+faststart"] if layout == "faststart" else []
    out = _run(ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10", "-f", "lavfi",
               "-i", "sine=d=1", "-t", "1", "-pix_fmt", "yuv420p", "-c:a", "aac", *flags, str(src))
    assert out.returncode == 0, out.stderr
    data = src.read_bytes()
    if layout == "xmp-before-media":
        # another tool's XMP (a creator) in a uuid box before the media data, moov at the end
        assert _top_boxes(data)[-1] == b"moov"
        packet = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-'
                  'syntax-ns#"><rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">'
                  '<dc:creator><rdf:Seq><rdf:li>Someone</rdf:li></rdf:Seq></dc:creator></rdf:Description>'
                  '</rdf:RDF></x:xmpmeta>').encode()
        box = (24 + len(packet)).to_bytes(4, "big") + b"uuid" + mp4meta.XMP_UUID + packet
        mdat = data.index(b"mdat") - 4
        moov = data.rindex(b"moov") - 4
        tail = bytearray(data[moov:])
        mp4meta._shift_chunk_offsets(tail, [(mdat, len(box))])
        data = data[:mdat] + box + data[mdat:moov] + bytes(tail)
        src.write_bytes(data)
        assert json.loads(_run(exiftool, "-j", "-XMP-dc:Creator", str(src)).stdout)[0]["Creator"] == "Someone"
    before = decode_md5(src)
    dst = tmp_path / "labeled.mp4"
    write_audio_metadata_file(src, dst, LABEL, DST_TRAINED, fmt="mp4")
    assert decode_md5(dst) == before
    boxes = _top_boxes(dst.read_bytes())
    assert boxes.count(b"uuid") == 1, boxes
    if layout != "xmp-before-media":
        assert boxes[boxes.index(b"moov") + 1] == b"uuid", boxes
    ex = json.loads(_run(exiftool, "-j", "-G1", "-a", str(dst)).stdout)[0]
    assert ex["XMP-iptcExt:DigitalSourceType"] == DST_TRAINED
    assert ex["Keys:DigitalSourceType"] == DST_TRAINED and json.loads(ex["Keys:AIGC"]) == LABEL.to_dict()
    valid = json.loads(_run(exiftool, "-j", "-G1", "-a", "-validate", "-warning", str(dst)).stdout)[0]
    assert valid["ExifTool:Validate"] == "OK", valid
    if layout == "xmp-before-media":
        assert ex["XMP-dc:Creator"] == "Someone"
    meta = read_audio_metadata_file(dst)
    assert meta.aigc == LABEL and meta.aigc_count == 1 and meta.digital_source_type == DST_TRAINED
    # and again (relabeling): still one box, the same decode
    again = tmp_path / "again.mp4"
    write_audio_metadata_file(dst, again, LABEL2, DST_TRAINED, fmt="mp4")
    assert _top_boxes(again.read_bytes()).count(b"uuid") == 1 and decode_md5(again) == before
    assert read_audio_metadata_file(again).aigc == LABEL2


def test_wav_rf64_odd_chunk_and_xmp(tmp_path, credentials):
    import soundfile as sf

    from synthlabel.formats.xmp import build_packet

    x = (np.random.default_rng(0).standard_normal((1001, 1)) * 0.1).astype(np.float32)
    # RF64: the RIFF size lives in ds64 and must be fixed there
    sf.write(tmp_path / "rf.wav", x, 8000, format="RF64", subtype="PCM_16")
    rf = tmp_path / "rf-l.wav"
    rf.write_bytes(write_audio_metadata((tmp_path / "rf.wav").read_bytes(), "wav", LABEL))
    assert rf.read_bytes()[:4] == b"RF64" and read_audio_metadata_file(rf).aigc == LABEL
    np.testing.assert_array_equal(sf.read(rf, dtype="float32")[0],
                                  sf.read(tmp_path / "rf.wav", dtype="float32")[0])
    decode_md5(rf)
    # c2pa cannot parse RF64; with no manifest store in it, verify says "missing", not error
    import synthlabel

    c2pa_layer = synthlabel.verify_file(rf, layers=("c2pa",), credentials=credentials).layers["c2pa"]
    assert c2pa_layer.status.value == "missing", c2pa_layer.summary
    # written to a pipe (ffmpeg -f wav -): RIFF and data sizes left at 0xFFFFFFFF. Reading it
    # raised "truncated WAV" (verify: metadata error), and a label written after the data
    # must come with the data size filled in, or it would read as samples.
    sf.write(tmp_path / "s.wav", x, 8000, subtype="PCM_16")
    d = bytearray((tmp_path / "s.wav").read_bytes())
    at = d.index(b"data")
    d[4:8] = d[at + 4:at + 8] = b"\xff" * 4
    assert read_audio_metadata(bytes(d)).aigc is None
    out = write_audio_metadata(bytes(d), "wav", LABEL)
    assert read_audio_metadata(out).aigc == LABEL
    assert [c for c, _ in riff_chunks(out)] == [b"fmt ", b"data", b"AIGC"]
    np.testing.assert_array_equal(sf.read(io.BytesIO(out), dtype="float32")[0],
                                  sf.read(tmp_path / "s.wav", dtype="float32")[0])
    # an odd-sized data chunk whose pad byte is missing at the end of the file
    sf.write(tmp_path / "u8.wav", x, 8000, subtype="PCM_U8")
    d = (tmp_path / "u8.wav").read_bytes()[:-1]
    d = d[:4] + (len(d) - 8).to_bytes(4, "little") + d[8:]
    out = write_audio_metadata(d, "wav", LABEL)
    assert [c for c, _ in riff_chunks(out)] == [b"fmt ", b"data", b"AIGC"]
    # a TC260 label in Adobe's _PMX XMP chunk counts, and is stripped when we label
    pk = build_packet(LABEL.to_inner_json(), DST_TRAINED)
    pmx = b"_PMX" + len(pk).to_bytes(4, "little") + pk + b"\0" * (len(pk) & 1)
    body = out[12:] + pmx
    both = b"RIFF" + (4 + len(body)).to_bytes(4, "little") + b"WAVE" + body
    meta = read_audio_metadata(both)
    assert meta.aigc_count == 2 and meta.digital_source_type == DST_TRAINED
    relabeled = write_audio_metadata(both, "wav", LABEL2)
    meta = read_audio_metadata(relabeled)
    assert meta.aigc == LABEL2 and meta.aigc_count == 1 and meta.source == "riff-aigc"
    assert [c for c, _ in riff_chunks(relabeled)] == [b"fmt ", b"data", b"AIGC", b"_PMX"]
