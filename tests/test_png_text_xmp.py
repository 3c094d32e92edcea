"""PNG metadata that other tools write in plain text chunks: XMP in a tEXt/zTXt chunk keyword
``XML:com.adobe.xmp`` (ImageMagick) is the file's XMP, and EXIF in an ImageMagick ``Raw profile
type exif/APP1`` chunk is not carried beside the eXIf chunk that now holds it. Checked through
the public API and with ExifTool as the independent reader."""
from __future__ import annotations

import io
import json
import subprocess
import zlib

import numpy as np
import pytest
from conftest import require_tool
from PIL import Image, PngImagePlugin

import synthlabel
from synthlabel.formats.image_meta import read_image_metadata, write_image_metadata
from synthlabel.formats.xmp import build_packet
from synthlabel.models import DST_TRAINED, AIGCLabel, LabelSpec

XMP_KEY = "XML:com.adobe.xmp"
OTHER = AIGCLabel.create(producer="othertool", produce_id="abc123", label="1")
OURS = AIGCLabel.create(producer="synthlabel", produce_id="0123456789abcdef")


def _prior_xmp(title: str = "A cat") -> bytes:
    """Another tool's packet: its AIGC label plus properties that must survive labeling."""
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
        'xmlns:TC260="http://www.tc260.org.cn/ns/AIGC/1.0/" '
        'xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" photoshop:City="Hangzhou" '
        f'TC260:AIGC="{OTHER.to_inner_json().replace(chr(34), "&quot;")}">'
        f'<dc:title><rdf:Alt><rdf:li xml:lang="x-default">{title}</rdf:li></rdf:Alt></dc:title>'
        '</rdf:Description></rdf:RDF></x:xmpmeta>'
    ).encode("utf-8")


def _photo() -> Image.Image:
    """Textured enough for the watermark to read back; 256 x 192 (landscape)."""
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:192, 0:256]
    rgb = np.stack([x, y + 40, (x + y) // 2], axis=-1).astype(np.uint8)
    return Image.fromarray(rgb ^ rng.integers(0, 24, rgb.shape, dtype=np.uint8), "RGB")


def _png(info: PngImagePlugin.PngInfo, **kw) -> bytes:
    buf = io.BytesIO()
    _photo().save(buf, "PNG", pnginfo=info, **kw)
    return buf.getvalue()


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, body) of every chunk: a reader of our own, independent of synthlabel's."""
    out, pos = [], 8
    while pos < len(data):
        n = int.from_bytes(data[pos:pos + 4], "big")
        out.append((data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]))
        pos += 12 + n
    return out


def _keyword_chunks(data: bytes, keyword: str) -> list[bytes]:
    """Types of the text chunks with ``keyword``."""
    return [t for t, body in _chunks(data)
            if t in (b"tEXt", b"zTXt", b"iTXt") and body.split(b"\x00", 1)[0] == keyword.encode()]


def _exiftool(path, *args: str) -> dict:
    exe = require_tool("exiftool")
    r = subprocess.run([exe, "-j", "-G1", "-a", *args, str(path)], capture_output=True,
                       text=True, check=True, timeout=30)
    return json.loads(r.stdout)[0]


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _text_xmp_png(tmp_path, kind: str, packet: bytes | None = None):
    info = PngImagePlugin.PngInfo()
    # bytes are written as they are (a str is Latin-1 encoded by Pillow)
    info.add_text(XMP_KEY, packet or _prior_xmp(), zip=kind == "zTXt")
    path = tmp_path / f"{kind}_xmp.png"
    path.write_bytes(_png(info))
    assert _keyword_chunks(path.read_bytes(), XMP_KEY) == [kind.encode()]
    return path


# --------------------------------------------------------------------------- XMP in tEXt / zTXt


@pytest.mark.parametrize("kind", ["tEXt", "zTXt"])
def test_text_chunk_xmp_label_is_found_and_skipped(kind, tmp_path, credentials):
    src = _text_xmp_png(tmp_path, kind)
    # ExifTool reads the packet from this chunk: the file does carry a label
    assert json.loads(_exiftool(src, "-XMP-TC260:all")["XMP-TC260:Aigc"]) == OTHER.to_dict()
    rep = synthlabel.verify_file(src, credentials=credentials, layers=("metadata",))
    meta = rep.layers["metadata"]
    assert rep.ok(), meta.summary
    assert (meta.details["count"], meta.details["aigc"]) == (1, OTHER.to_dict())
    res = synthlabel.label_file(src, tmp_path / "out.png", credentials=credentials,
                                skip_labeled=True)
    assert res.skipped and "othertool" in res.skipped, res.to_dict()
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("kind", ["tEXt", "zTXt"])
def test_labeling_replaces_text_chunk_xmp(kind, tmp_path, credentials):
    src = _text_xmp_png(tmp_path, kind)
    res = synthlabel.label_file(src, tmp_path / "out.png", credentials=credentials)
    out = tmp_path / "out.png"
    # exactly one packet, in iTXt: the old chunk is not copied beside the new one
    assert _keyword_chunks(out.read_bytes(), XMP_KEY) == [b"iTXt"]
    tags = _exiftool(out, "-XMP:all")
    aigc = [json.loads(v) for v in _as_list(tags["XMP-TC260:Aigc"])]
    assert len(aigc) == 1 and aigc[0]["ContentProducer"] == "synthlabel", aigc
    assert aigc[0]["ContentPropagator"] and aigc[0]["ProduceID"] == res.content_id
    # the rest of the other tool's packet is kept
    assert (tags["XMP-photoshop:City"], tags["XMP-dc:Title"]) == ("Hangzhou", "A cat")
    rep = synthlabel.verify_file(out, credentials=credentials)
    assert rep.ok() and rep.layers["metadata"].details["count"] == 1, rep.to_json()


def test_labeling_keeps_utf8_text_in_text_chunk_xmp(tmp_path, credentials):
    src = _text_xmp_png(tmp_path, "zTXt", _prior_xmp("\u732b"))
    synthlabel.label_file(src, tmp_path / "out.png", credentials=credentials)
    assert _exiftool(tmp_path / "out.png", "-XMP-dc:Title")["XMP-dc:Title"] == "\u732b"


def test_text_chunk_xmp_in_latin1_is_read():
    """tEXt is Latin-1 by the PNG spec: a packet that is not UTF-8 is read as Latin-1."""
    packet = _prior_xmp("Café").replace("é".encode("utf-8"), b"\xe9")
    info = PngImagePlugin.PngInfo()
    info.add_text(XMP_KEY, packet)
    data = _png(info)
    meta = read_image_metadata(data, "png")
    assert (meta.aigc, meta.aigc_count, meta.errors) == (OTHER, 1, [])
    out = write_image_metadata(data, "png", OURS, DST_TRAINED)
    assert "Café".encode("utf-8") in out and b"Caf\xe9<" not in out


def test_splice_turns_text_chunk_xmp_into_one_itxt(tmp_path):
    """The byte-level writer (no re-encode) replaces a zTXt packet in place, as an iTXt one;
    with a second (iTXt) packet beside it, that one loses its label as it did before, so
    ExifTool finds exactly one label either way."""
    src = _text_xmp_png(tmp_path, "zTXt", _prior_xmp("\u732b"))   # UTF-8, as XMP is
    out = tmp_path / "spliced.png"
    out.write_bytes(write_image_metadata(src.read_bytes(), "png", OURS, DST_TRAINED))
    assert _keyword_chunks(out.read_bytes(), XMP_KEY) == [b"iTXt"]
    tags = _exiftool(out, "-XMP:all")
    assert json.loads(tags["XMP-TC260:Aigc"]) == OURS.to_dict()
    assert tags["XMP-dc:Title"] == "\u732b"
    with Image.open(src) as a, Image.open(out) as b:
        assert a.tobytes() == b.tobytes()

    info = PngImagePlugin.PngInfo()
    info.add_text(XMP_KEY, _prior_xmp(), zip=True)
    info.add_itxt(XMP_KEY, build_packet(OTHER.to_inner_json(), DST_TRAINED).decode())
    two = tmp_path / "two.png"
    two.write_bytes(write_image_metadata(_png(info), "png", OURS, DST_TRAINED))
    assert _keyword_chunks(two.read_bytes(), XMP_KEY) == [b"iTXt", b"iTXt"]
    aigc = _as_list(_exiftool(two, "-XMP-TC260:all")["XMP-TC260:Aigc"])
    assert [json.loads(v) for v in aigc] == [OURS.to_dict()]
    assert read_image_metadata(two.read_bytes(), "png").aigc_count == 1


# --------------------------------------------------------------------------- raw EXIF profiles


def _exif(orientation: int, make: str = "Canon") -> bytes:
    ex = Image.Exif()
    ex[0x0112], ex[0x010F] = orientation, make
    return ex.tobytes()          # "Exif\0\0" + TIFF, as ImageMagick's profile holds it


def _raw_profile(name: str, payload: bytes) -> str:
    """ImageMagick's layout: "\\n<name>\\n<length, 8 wide>\\n" then hex, 72 digits a line."""
    hexed = payload.hex()
    lines = "\n".join(hexed[i:i + 72] for i in range(0, len(hexed), 72))
    return f"\n{name}\n{len(payload):8d}\n{lines}\n"


def _orientations(path) -> list[str]:
    return _as_list(_exiftool(path, "-Orientation").get("IFD0:Orientation", []))


@pytest.mark.parametrize("kind", ["tEXt", "zTXt"])
def test_raw_exif_profile_is_not_carried_beside_exif(kind, tmp_path, credentials):
    info = PngImagePlugin.PngInfo()
    info.add_text("Raw profile type exif", _raw_profile("exif", _exif(6)), zip=kind == "zTXt")
    info.add_text("parameters", "a cat, steps 20")
    src = tmp_path / "rawprof.png"
    src.write_bytes(_png(info))
    assert _orientations(src) == ["Rotate 90 CW"]
    res = synthlabel.label_file(src, tmp_path / "out.png", credentials=credentials)
    out = tmp_path / "out.png"
    # the pixels were turned, and exactly one EXIF, the eXIf chunk, says so
    assert _orientations(out) == ["Horizontal (normal)"]
    tags = _exiftool(out, "-IFD0:Make", "-ImageSize", "-PNG:all")
    assert (tags["IFD0:Make"], tags["Composite:ImageSize"]) == ("Canon", "192x256")
    assert _keyword_chunks(out.read_bytes(), "Raw profile type exif") == []
    assert tags["PNG:Parameters"] == "a cat, steps 20"
    # nothing was lost, so nothing is said beyond the turn
    assert res.warnings == ["applied EXIF orientation 6 to the pixels"], res.warnings
    # into JPEG the EXIF goes along too: no "text chunks not carried" for the profile
    res = synthlabel.label_file(src, tmp_path / "out.jpg", credentials=credentials,
                                spec=LabelSpec(output_format="jpeg"))
    assert not any("Raw profile" in w for w in res.warnings), res.warnings
    assert _orientations(tmp_path / "out.jpg") == ["Horizontal (normal)"]


def test_raw_app1_profile_with_exif(tmp_path, credentials):
    """An APP1 profile holding EXIF goes when eXIf carries the EXIF; alone it is the only
    copy (the decoder does not read it, nor turn the pixels by it), so it stays."""
    app1 = _raw_profile("APP1", _exif(6, "Nikon"))
    info = PngImagePlugin.PngInfo()
    info.add_text("Raw profile type APP1", app1, zip=True)
    src = tmp_path / "both.png"
    src.write_bytes(_png(info, exif=_exif(6)))
    # ExifTool takes the profile (it comes first) and skips eXIf's IFD0 at the same offset:
    # a stale copy would hide the EXIF written for the turned pixels
    assert _exiftool(src, "-IFD0:Make")["IFD0:Make"] == "Nikon"
    synthlabel.label_file(src, tmp_path / "both_out.png", credentials=credentials)
    assert _orientations(tmp_path / "both_out.png") == ["Horizontal (normal)"]
    assert _exiftool(tmp_path / "both_out.png", "-IFD0:Make")["IFD0:Make"] == "Canon"
    assert _keyword_chunks((tmp_path / "both_out.png").read_bytes(), "Raw profile type APP1") == []

    info = PngImagePlugin.PngInfo()
    info.add_text("Raw profile type APP1", app1, zip=True)
    src = tmp_path / "alone.png"
    src.write_bytes(_png(info))
    res = synthlabel.label_file(src, tmp_path / "alone_out.png", credentials=credentials)
    assert not any("orientation" in w for w in res.warnings), res.warnings
    assert _orientations(tmp_path / "alone_out.png") == ["Rotate 90 CW"]
    assert _keyword_chunks((tmp_path / "alone_out.png").read_bytes(),
                           "Raw profile type APP1") == [b"zTXt"]


def test_raw_app1_profile_with_xmp_is_kept(tmp_path, credentials):
    """An APP1 profile that is not EXIF (ImageMagick puts XMP there too) is carried as before."""
    payload = b"http://ns.adobe.com/xap/1.0/\x00" + _prior_xmp().replace(b"TC260:AIGC=", b"x=")
    info = PngImagePlugin.PngInfo()
    info.add_text("Raw profile type APP1", _raw_profile("APP1", payload), zip=True)
    src = tmp_path / "xmp_app1.png"
    src.write_bytes(_png(info, exif=_exif(6)))
    synthlabel.label_file(src, tmp_path / "out.png", credentials=credentials)
    body = [b for t, b in _chunks((tmp_path / "out.png").read_bytes())
            if b.startswith(b"Raw profile type APP1\x00")]
    assert len(body) == 1
    assert zlib.decompress(body[0].split(b"\x00", 2)[2]) == _raw_profile("APP1", payload).encode()
