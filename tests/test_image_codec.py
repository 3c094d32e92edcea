"""Image decode/encode: what a re-encode keeps from the source file (beyond EXIF, ICC and XMP),
what it must drop, and the size guard. Real files through Pillow, OpenCV and ExifTool."""
from __future__ import annotations

import io
import json
import subprocess
import warnings
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms, PngImagePlugin

from conftest import require_tool, synthetic_photo
from synthlabel.formats import image_codec, png

PHOTO = synthetic_photo(240, 320, 5)


def _png(**kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(PHOTO).save(buf, "PNG", **kw)
    return buf.getvalue()


def _chunk_types(data: bytes) -> list[bytes]:
    chunks, _ = png._chunks(data)
    return [c.type for c in chunks]


def test_png_text_density_and_colour_chunks_are_kept():
    """Generation parameters (the tEXt chunk Stable Diffusion writes), an iTXt description,
    pHYs and gAMA survive a re-encode; a stale AIGC text chunk and the XMP packet are not
    copied (they are rewritten from the decoded values)."""
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a red fox, steps 20, seed 7")
    info.add_itxt("Description", "ünïcode description")
    info.add_text("AIGC", '{"Label": "1"}')
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
    src = _png(pnginfo=info, dpi=(300, 300))
    src = src[:33] + png.chunk(b"gAMA", (45455).to_bytes(4, "big")) + src[33:]
    dec = image_codec.decode(src, "png")
    assert png.text_keywords(dec.extras.png_chunks) == ["parameters", "Description"]
    out = image_codec.encode(dec.rgb, "png", xmp=dec.xmp, extras=dec.extras)
    im = Image.open(io.BytesIO(out))
    assert im.text["parameters"] == "a red fox, steps 20, seed 7"
    assert im.text["Description"] == "ünïcode description"
    assert "AIGC" not in im.text
    assert round(im.info["dpi"][0]) == 300 and im.info["gamma"] == pytest.approx(0.45455)
    assert _chunk_types(out).count(b"iTXt") == 2          # Description + the one XMP packet
    assert np.array_equal(np.asarray(im.convert("RGB")), dec.rgb)


def test_srgb_chunk_dropped_beside_an_icc_profile():
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    src = _png(icc_profile=icc)
    src = src[:33] + png.chunk(b"sRGB", b"\x00") + src[33:]
    dec = image_codec.decode(src, "png")
    out = image_codec.encode(dec.rgb, "png", icc_profile=dec.icc_profile, extras=dec.extras)
    types = _chunk_types(out)
    assert b"iCCP" in types and b"sRGB" not in types


def test_jpeg_density_and_comment_are_kept():
    exiftool = require_tool("exiftool")
    buf = io.BytesIO()
    Image.fromarray(PHOTO).save(buf, "JPEG", quality=90, dpi=(300, 300), comment=b"shot 12")
    dec = image_codec.decode(buf.getvalue(), "jpeg")
    assert dec.extras.dpi == (300.0, 300.0) and dec.extras.comment == b"shot 12"
    out = image_codec.encode(dec.rgb, "jpeg", extras=dec.extras)
    tags = json.loads(subprocess.run([exiftool, "-j", "-"], input=out, capture_output=True,
                                     check=True).stdout)[0]
    assert tags["XResolution"] == 300 and tags["ResolutionUnit"] == "inches"
    assert tags["Comment"] == "shot 12"


def test_every_jpeg_comment_is_kept_in_order():
    """A JPEG with several COM segments kept only one (Pillow reads one; found by QA helper).
    All are carried, in order; ExifTool reads them back."""
    from synthlabel.formats import jpeg

    exiftool = require_tool("exiftool")
    buf = io.BytesIO()
    Image.fromarray(PHOTO).save(buf, "JPEG", quality=90, comment=b"second")
    data = buf.getvalue()
    data = data[:2] + jpeg.comment_segment(b"first") + data[2:]
    assert jpeg.comments(data) == [b"first", b"second"]
    dec = image_codec.decode(data, "jpeg")
    out = image_codec.encode(dec.rgb, "jpeg", extras=dec.extras)
    assert jpeg.comments(out) == [b"first", b"second"]
    # (ExifTool's JSON keeps one of repeated tags: its text output lists each)
    got = subprocess.run([exiftool, "-a", "-s", "-s", "-s", "-Comment", "-"], input=out,
                         capture_output=True, check=True).stdout.decode().split()
    assert got == ["first", "second"], got


@pytest.mark.parametrize("progressive", [False, True])
def test_a_jpeg_trailer_is_said_lost_when_the_pixels_are_rewritten(progressive, credentials):
    """A Motion Photo (a JPEG with its MP4 appended after the end of image) lost the video
    without a word when labeled (found by QA helper). The end of the image is found by
    walking the scans; what follows is named in a warning. Metadata-only labeling, which keeps
    the file's bytes, keeps it; a plain JPEG gets no such warning."""
    import synthlabel
    from synthlabel.formats import jpeg
    from synthlabel.models import LabelSpec

    buf = io.BytesIO()
    Image.fromarray(PHOTO).save(buf, "JPEG", quality=90, progressive=progressive)
    plain = buf.getvalue()
    video = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8 + b"\xff\xd9\xff\x00 tail"
    motion = plain + video
    assert jpeg.image_end(plain) == len(plain) and jpeg.image_end(motion) == len(plain)
    res = synthlabel.label_image_bytes(motion, credentials=credentials)
    assert [w for w in res.warnings if "after the JPEG's end of image" in w] == [
        f"the {len(video)} bytes after the JPEG's end of image (a Motion Photo's video, further "
        "MPF pictures?) are not carried: they belong to the old picture (label with "
        "--no-explicit --no-watermark to keep the file's bytes)"]
    res = synthlabel.label_image_bytes(plain, credentials=credentials)
    assert not any("end of image" in w for w in res.warnings)
    kept = synthlabel.label_image_bytes(motion, credentials=credentials,
                                        spec=LabelSpec(explicit=False, watermark=False))
    assert video in kept.data and not any("end of image" in w for w in kept.warnings)


def test_density_crosses_formats():
    """The pixel density was kept only from JPEG to JPEG and from PNG to PNG: a 300 dpi PNG
    written as JPEG, a JPEG or BMP written as PNG, came out without one. It is written where
    the output has a place for it (JFIF density, one pHYs chunk), and said lost for WebP."""
    from synthlabel.labeling import _lost_extras

    sources = {}
    for fmt, name in (("png", "PNG"), ("jpeg", "JPEG"), ("bmp", "BMP"), ("tiff", "TIFF")):
        buf = io.BytesIO()
        Image.fromarray(PHOTO).save(buf, name, dpi=(300, 300))
        sources[fmt] = image_codec.decode(buf.getvalue(), fmt)
    for fmt, dec in sources.items():
        assert dec.extras.dpi is not None and round(dec.extras.dpi[0]) == 300, fmt
        for out_fmt in ("png", "jpeg"):
            out = image_codec.encode(dec.rgb, out_fmt, extras=dec.extras)
            assert round(Image.open(io.BytesIO(out)).info["dpi"][0]) == 300, (fmt, out_fmt)
            if out_fmt == "png":
                assert _chunk_types(out).count(b"pHYs") == 1, fmt
        assert any("density" in w for w in _lost_extras(dec.extras, "webp"))
        assert not any("density" in w for w in _lost_extras(dec.extras, "png"))


def test_a_tiff_without_density_gets_none():
    """A TIFF without XResolution (as OpenCV writes one) came out at 1 dpi (Pillow reports
    (1, 1) for it; found by QA helper), so a layout program placed a 320 px picture 320
    inches wide. It gets no density, as a JPEG without one does."""
    ok, tiff = cv2.imencode(".tiff", PHOTO[..., ::-1])
    assert ok and Image.open(io.BytesIO(tiff.tobytes())).info.get("dpi") == (1, 1)  # Pillow's
    dec = image_codec.decode(tiff.tobytes(), "tiff")
    assert dec.extras.dpi is None
    for out_fmt in ("png", "jpeg"):
        out = image_codec.encode(dec.rgb, out_fmt, extras=dec.extras)
        if out_fmt == "png":
            assert b"pHYs" not in _chunk_types(out)
        else:                      # JFIF density unit 0: an aspect ratio, no density
            assert Image.open(io.BytesIO(out)).info.get("jfif_unit") == 0


def test_png_colour_space_chunks_are_kept():
    """A PNG tagged Display P3 or HDR (PQ) through cICP (and HDR mastering chunks) came out
    untagged, so viewers showed it as sRGB. They are carried into PNG, said lost otherwise."""
    from synthlabel.formats import png as png_chunks
    from synthlabel.labeling import _lost_extras

    plain = _png()
    ihdr_end = 8 + 12 + int.from_bytes(plain[8:12], "big")
    cicp = png_chunks.chunk(b"cICP", bytes([12, 13, 0, 1]))     # Display P3, sRGB curve, RGB, full
    clli = png_chunks.chunk(b"cLLI", (10_000_000).to_bytes(4, "big") + (4_000_000).to_bytes(4, "big"))
    src = plain[:ihdr_end] + cicp + clli + plain[ihdr_end:]
    dec = image_codec.decode(src, "png")
    out = image_codec.encode(dec.rgb, "png", extras=dec.extras)
    chunks, _ = png._chunks(out)
    got = {c.type: c.body(out) for c in chunks}
    assert got[b"cICP"] == bytes([12, 13, 0, 1]) and b"cLLI" in got
    types = _chunk_types(out)
    assert types.index(b"cICP") < types.index(b"IDAT")
    assert any("cICP, cLLI" in w and "JPEG" in w for w in _lost_extras(dec.extras, "jpeg"))
    assert not _lost_extras(dec.extras, "png")


def test_jpeg_extended_xmp_and_iptc_iim_are_kept(tmp_path):
    """ExifTool splits a large XMP packet into ExtendedXMP segments and keeps IPTC-IIM in a
    Photoshop APP13; the re-encode dropped both, leaving the main packet's HasExtendedXMP
    pointing at nothing. They are carried over unchanged."""
    exiftool = require_tool("exiftool")
    src = tmp_path / "src.jpg"
    Image.fromarray(PHOTO).save(src, "JPEG", quality=90)
    text = tmp_path / "long.txt"
    text.write_text("word " * 16000)      # 80 kB: beyond one segment
    subprocess.run([exiftool, "-q", "-overwrite_original", f"-XMP-dc:Description<={text}",
                    "-IPTC:Keywords=kw1", "-IPTC:Caption-Abstract=cap", str(src)], check=True)
    data = src.read_bytes()
    assert data.count(b"http://ns.adobe.com/xmp/extension/\x00") >= 2
    dec = image_codec.decode(data, "jpeg")
    out = image_codec.encode(dec.rgb, "jpeg", exif=dec.exif, xmp=dec.xmp, extras=dec.extras)
    assert out.count(b"http://ns.adobe.com/xmp/extension/\x00") == data.count(
        b"http://ns.adobe.com/xmp/extension/\x00")
    tags = json.loads(subprocess.run([exiftool, "-j", "-G1", "-a", "-"], input=out,
                                     capture_output=True, check=True).stdout)[0]
    tags.update(json.loads(subprocess.run([exiftool, "-j", "-G1", "-validate", "-"], input=out,
                                          capture_output=True, check=True).stdout)[0])
    assert tags["XMP-dc:Description"].startswith("word word") and len(tags["XMP-dc:Description"]) > 70000
    assert tags["IPTC:Keywords"] == "kw1" and tags["IPTC:Caption-Abstract"] == "cap"
    assert tags["ExifTool:Validate"] == "OK", tags
    assert Image.open(io.BytesIO(out)).size == (PHOTO.shape[1], PHOTO.shape[0])


def test_lossless_webp_stays_lossless():
    buf = io.BytesIO()
    Image.fromarray(PHOTO).save(buf, "WEBP", lossless=True)
    dec = image_codec.decode(buf.getvalue(), "webp")
    assert dec.extras.lossless
    out = image_codec.encode(dec.rgb, "webp", quality=90, extras=dec.extras)
    assert b"VP8L" in out[:64]
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(out)).convert("RGB")), dec.rgb)
    lossy = io.BytesIO()
    Image.fromarray(PHOTO).save(lossy, "WEBP", quality=80)
    assert not image_codec.decode(lossy.getvalue(), "webp").extras.lossless


def test_sixteen_bit_colour_is_reported():
    ok, buf = cv2.imencode(".png", (PHOTO.astype(np.uint16) * 257)[..., ::-1])
    assert ok
    dec = image_codec.decode(buf.tobytes(), "png")
    assert "16-bit colour image reduced to 8 bits per channel" in dec.warnings
    assert np.abs(dec.rgb.astype(int) - PHOTO).max() <= 1
    assert not image_codec.decode(_png(), "png").warnings
    # 16-bit grey + alpha (Pillow opens it as RGBA) is grey, and stays grey + alpha in PNG: it
    # came out as 8-bit colour, called "colour" (QA helper)
    grey = (PHOTO[..., 1].astype(np.uint16) * 257)
    import struct
    import zlib

    def chunk(t: bytes, d: bytes) -> bytes:
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))

    h, w = grey.shape
    rows = b"".join(b"\x00" + np.dstack([grey, np.full_like(grey, 40000)])[y].astype(">u2").tobytes() for y in range(h))
    la16 = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 4, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    dec = image_codec.decode(la16, "png")
    assert "16-bit grey image reduced to 8 bits per channel" in dec.warnings and dec.extras.grey
    out = image_codec.encode(dec.rgb, "png", alpha=dec.alpha, extras=dec.extras)
    assert Image.open(io.BytesIO(out)).mode == "LA"


def test_greyscale_icc_profile_goes_with_grey_output_and_is_dropped_from_rgb(credentials):
    """A grey picture's grey profile is kept where the picture is written grey (PNG, JPEG),
    and dropped with a warning where it is written as RGB (WebP has no grey mode), since it
    cannot describe RGB pixels."""
    import synthlabel
    from synthlabel.models import LabelSpec

    gray = Image.fromarray(PHOTO[..., 1])
    icc = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    icc[16:20] = b"GRAY"                 # the colour-space field of the profile header
    buf = io.BytesIO()
    gray.save(buf, "PNG", icc_profile=bytes(icc))
    dec = image_codec.decode(buf.getvalue(), "png")
    assert dec.icc_profile == bytes(icc) and dec.rgb.shape == (240, 320, 3)
    for fmt, mode, kept in (("png", "L", True), ("jpeg", "L", True), ("webp", "RGB", False)):
        out = synthlabel.label_image_bytes(buf.getvalue(), spec=LabelSpec(output_format=fmt),
                                           credentials=credentials)
        im = Image.open(io.BytesIO(out.data))
        assert im.mode == mode and (im.info.get("icc_profile") == bytes(icc)) == kept, fmt
        assert any("greyscale ICC profile dropped" in w for w in out.warnings) == (not kept), out.warnings
    # on a colour picture a grey profile is dropped at once, as before
    buf = io.BytesIO()
    Image.fromarray(PHOTO).save(buf, "PNG", icc_profile=bytes(icc))
    dec = image_codec.decode(buf.getvalue(), "png")
    assert dec.icc_profile is None and any("greyscale ICC profile dropped" in w for w in dec.warnings)


def test_size_guard_allows_large_photos_and_refuses_bombs():
    """Pillow's decompression-bomb *warning* (89.5 MP) is not an error: a 9,500 x 9,500 image
    (90 MP) decodes. Above Pillow's hard limit the message says what the limit is."""
    w = h = 9500
    raw = zlib.compress(b"".join(b"\x00" + bytes(3 * w) for _ in range(h)), 9)
    ihdr = w.to_bytes(4, "big") + h.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    big = png.SIGNATURE + png.chunk(b"IHDR", ihdr) + png.chunk(b"IDAT", raw) + png.chunk(b"IEND", b"")
    dec = image_codec.decode(big, "png")
    assert dec.rgb.shape == (h, w, 3)
    del dec
    w = h = 20000
    ihdr = w.to_bytes(4, "big") + h.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    bomb = png.SIGNATURE + png.chunk(b"IHDR", ihdr) + png.chunk(b"IDAT", b"") + png.chunk(b"IEND", b"")
    with pytest.raises(image_codec.ImageDecodeError, match="pixel limit"):
        image_codec.decode(bomb, "png")


def test_tiff_structure_tags_are_not_carried_into_png():
    """A TIFF's first IFD describes the TIFF (strips, sample layout, its XMP and ICC): carried
    into a PNG's EXIF it pointed at offsets of another file. Camera tags stay."""
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "ACME", "Cam"
    Image.fromarray(PHOTO).save(buf, "TIFF", exif=exif)
    dec = image_codec.decode(buf.getvalue(), "tiff")
    out = image_codec.encode(dec.rgb, "png", exif=dec.exif, extras=dec.extras)
    tags = dict(Image.open(io.BytesIO(out)).getexif())
    assert tags.get(271) == "ACME" and tags.get(272) == "Cam"
    assert not {256, 257, 258, 259, 273, 277, 278, 279} & set(tags), tags


def _exif_with_sub_ifds() -> bytes:
    ex = Image.Exif()
    ex[0x010F] = "TestCam"
    sub = ex.get_ifd(0x8769)
    sub[0x9003] = "2026:11:30 10:00:00"
    sub[0x9286] = b"ASCII\x00\x00\x00shot at dusk"       # UserComment: UNDEFINED in a camera file
    ex.get_ifd(0x8825)[0x0001] = "N"
    return ex.tobytes()


def test_png_exif_layout_moves_ifd0_off_8_and_keeps_every_ifd():
    from synthlabel.formats import exif

    src = _exif_with_sub_ifds()
    tiff = exif.for_png(src)
    order = "little" if tiff[:2] == b"II" else "big"
    ifd0 = int.from_bytes(tiff[4:8], order)
    assert ifd0 not in (8, 16) and ifd0 % 2 == 0          # ExifTool's JUMBF collision
    assert tiff[8:ifd0] == src[6 + 8:6 + ifd0]            # every other byte where it was
    got, want = Image.Exif(), Image.Exif()
    got.load(tiff)
    want.load(src)
    assert got[0x010F] == "TestCam"
    for ifd in (0x8769, 0x8825):
        assert got.get_ifd(ifd) == want.get_ifd(ifd) and got.get_ifd(ifd)
    # EXIF it cannot follow is laid out by Pillow, IFD0 at PNG_IFD0_OFFSET
    broken = src[:6 + 8] + b"\xff\xff"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)            # Pillow: "Corrupt EXIF data"
        laid_out = exif.for_png(src[:6] + src[6:6 + 4] + (10**6).to_bytes(4, order))
    assert int.from_bytes(laid_out[4:8], order) == exif.PNG_IFD0_OFFSET
    assert exif.edited_in_place(broken, orientation_applied=False, quarter_turn=False) is None


def _canon_exif(orientation: int = 1) -> bytes:
    """A little-endian EXIF block as a Canon camera lays it out: IFD0 (Make, Orientation,
    X/YResolution, Exif pointer), the Exif IFD (pixel dimensions, MakerNote), a maker note
    whose value offsets count from the TIFF header, and IFD1 with a JPEG thumbnail."""
    import struct

    le = "<"
    thumb = b"\xff\xd8THUMBNAIL-OF-THE-UNLABELED-PICTURE\xff\xd9"
    make = b"Canon\x00"
    ifd0 = 8
    n0 = 5
    make_at = ifd0 + 2 + 12 * n0 + 4
    res_at = make_at + len(make)
    exif_at = res_at + 16
    n_ex = 3
    mn_at = exif_at + 2 + 12 * n_ex + 4 + 20                     # a gap, as cameras leave
    image_type = b"Canon EOS 5D Mark IV".ljust(32, b"\x00")
    mn = struct.pack(le + "H", 1) + struct.pack(le + "HHII", 0x0006, 2, 32, mn_at + 18) \
        + struct.pack(le + "I", 0) + image_type
    ifd1 = mn_at + len(mn)
    thumb_at = ifd1 + 2 + 12 * 2 + 4
    t = b"II*\x00" + struct.pack(le + "I", ifd0) + struct.pack(le + "H", n0)
    t += struct.pack(le + "HHII", 0x010F, 2, len(make), make_at)
    t += struct.pack(le + "HHIHH", 0x0112, 3, 1, orientation, 0)
    t += struct.pack(le + "HHII", 0x011A, 5, 1, res_at)
    t += struct.pack(le + "HHII", 0x011B, 5, 1, res_at + 8)
    t += struct.pack(le + "HHII", 0x8769, 4, 1, exif_at)
    t += struct.pack(le + "I", ifd1) + make + struct.pack(le + "IIII", 300, 1, 72, 1)
    t += struct.pack(le + "H", n_ex)
    t += struct.pack(le + "HHII", 0x927C, 7, len(mn), mn_at)
    t += struct.pack(le + "HHII", 0xA002, 4, 1, 640)
    t += struct.pack(le + "HHII", 0xA003, 3, 1, 480)
    t += struct.pack(le + "I", 0) + bytes(20)
    assert len(t) == mn_at
    t += mn + struct.pack(le + "H", 2)
    t += struct.pack(le + "HHII", 0x0201, 4, 1, thumb_at) + struct.pack(le + "HHII", 0x0202, 4, 1, len(thumb))
    t += struct.pack(le + "I", 0) + thumb
    return b"Exif\x00\x00" + t


@pytest.mark.parametrize("out_fmt", ["jpeg", "png"])
def test_a_maker_notes_offsets_survive_and_the_thumbnail_goes(out_fmt, tmp_path):
    """Canon's maker note counts its value offsets from the TIFF header: when Pillow laid the
    EXIF out again its values moved, and ExifTool said "Bad offset for MakerNotes". The
    source's bytes are now carried, edited in place: a quarter turn applied resets Orientation
    and swaps the dimensions and resolutions; the thumbnail (the unlabeled picture) is
    unlinked and zeroed, with a warning."""
    from synthlabel.formats import exif

    src = _canon_exif(orientation=6)
    buf = io.BytesIO()
    Image.fromarray(PHOTO).save(buf, "JPEG", quality=90, exif=src)
    dec = image_codec.decode(buf.getvalue(), "jpeg")
    assert any("thumbnail is not kept" in w for w in dec.warnings), dec.warnings
    assert b"THUMBNAIL-OF" not in dec.exif and not exif.has_thumbnail(dec.exif)
    out = image_codec.encode(dec.rgb, out_fmt, exif=dec.exif, extras=dec.extras)
    tiff = exif._tiff(Image.open(io.BytesIO(out)).info["exif"])[1]
    body = exif._tiff(src)[1]
    mn = body.index(b"Canon EOS 5D")
    assert tiff[mn:mn + 32] == body[mn:mn + 32]                  # the maker note's value, in place
    ex = Image.Exif()
    ex.load(tiff)
    assert ex[0x0112] == 1 and ex[0x010F] == "Canon"
    assert (ex[0x011A], ex[0x011B]) == (72, 300)
    sub = ex.get_ifd(0x8769)
    assert (sub[0xA002], sub[0xA003]) == (480, 640)
    note = sub[0x927C]
    at = int.from_bytes(note[2 + 8:2 + 12], "little")           # ImageType's offset, from the header
    assert tiff[at:at + 20] == b"Canon EOS 5D Mark IV"
    path = tmp_path / f"canon.{out_fmt}"
    path.write_bytes(out)
    got = subprocess.run([require_tool("exiftool"), "-a", "-G1", "-s", str(path)],
                         capture_output=True, text=True).stdout
    assert "[Canon]" in got and "Canon EOS 5D Mark IV" in got, got
    assert "Bad offset" not in got and "maker notes" not in got, got


def test_exif_types_restored_in_place_and_malformed_exif_left_alone():
    from synthlabel.formats import exif

    src = bytearray(_exif_with_sub_ifds()[6:])
    entries = exif._entries(bytes(src))
    typ, at = entries[("exif", 0x9286)]
    assert typ == 1                                     # Pillow wrote it as BYTE
    order = "little" if src[:2] == b"II" else "big"
    src[at + 2:at + 4] = (7).to_bytes(2, order)          # what the camera had: UNDEFINED
    carried = _exif_with_sub_ifds()
    mended = exif.restore_types(bytes(src), carried)
    assert len(mended) == len(carried)
    assert exif._entries(mended[6:])[("exif", 0x9286)][0] == 7
    diff = [i for i, (a, b) in enumerate(zip(mended, carried)) if a != b]
    assert diff == [6 + at + (3 if order == "big" else 2)]    # the type's low byte only
    for junk in (b"", b"Exif\x00\x00", b"MM\x00*\x00\x00\x00\x08\xff\xff", bytes(src[:40])):
        assert exif.restore_types(junk, carried) is carried
        assert exif.restore_types(bytes(src), junk) == junk


def test_png_with_a_bad_crc_in_a_metadata_chunk_decodes_with_a_warning():
    """libpng only warns about an ancillary chunk whose CRC is wrong, and viewers show the
    image; Pillow refused the file, and we said its "header" was unreadable. The chunk is
    dropped with a warning. A bad CRC in a critical chunk (IHDR) still fails."""
    buf = io.BytesIO()
    rgb = synthetic_photo(64, 96, 3)
    Image.fromarray(rgb).save(buf, "PNG")
    good = buf.getvalue()
    text = png.chunk(b"tEXt", b"Comment\x00hi")
    bad_text = text[:-4] + bytes(4)
    out = image_codec.decode(good[:33] + bad_text + good[33:], "png")
    assert np.array_equal(out.rgb, rgb)
    assert out.warnings == ["dropped PNG tEXt chunk(s) with a bad CRC (corrupt metadata; the "
                            "image itself is intact)"]
    assert image_codec.decode(good[:33] + text + good[33:], "png").warnings == []
    broken_ihdr = good[:29] + bytes(4) + good[33:]
    with pytest.raises(image_codec.ImageDecodeError):
        image_codec.decode(broken_ihdr, "png")


def test_tiff_iptc_and_photoshop_blocks_are_dropped_with_a_warning(tmp_path):
    """A TIFF's IPTC-IIM (tag 33723) went into the PNG's eXIf as a 7-byte number string
    (Pillow's EXIF writer), which ExifTool rejects as bad IPTC; the keywords were gone anyway."""
    exiftool = require_tool("exiftool")
    src = tmp_path / "rich.tiff"
    Image.fromarray(synthetic_photo(64, 80, 2)).save(src)
    subprocess.run([exiftool, "-q", "-overwrite_original", "-IPTC:Keywords=kw", src], check=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)     # Pillow's note stays off stderr
        dec = image_codec.decode(src.read_bytes(), "tiff")
    assert any("IPTC-IIM" in w and "not carried" in w for w in dec.warnings), dec.warnings
    out = tmp_path / "out.png"
    out.write_bytes(image_codec.encode(dec.rgb, "png", exif=dec.exif))
    check = subprocess.run([exiftool, "-validate", "-warning", "-a", "-j", out],
                           capture_output=True, text=True, check=True)
    assert "IPTC" not in check.stdout and "0x83bb" not in check.stdout, check.stdout


def test_sixteen_bit_grey_alpha_is_reported():
    """A 16-bit grey + alpha PNG (colour type 4) became 8-bit without the warning colour
    types 2 and 6 get."""
    h, w = 20, 24
    rows = b"".join(b"\0" + np.full((w, 2), [40000, 65535], ">u2").tobytes() for _ in range(h))

    def chunk(kind, body):
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", w.to_bytes(4, "big") + h.to_bytes(4, "big")
                                          + bytes([16, 4, 0, 0, 0]))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    dec = image_codec.decode(data, "png")
    assert any("16-bit" in w and "8 bits" in w for w in dec.warnings), dec.warnings
    assert abs(int(dec.rgb[0, 0, 0]) - 40000 // 257) <= 1


def _jpeg_with_exif(orientation: int, size=(80, 60)) -> bytes:
    ex = Image.Exif()
    ex[0x0112] = orientation
    ex[282], ex[283] = 300.0, 72.0
    ex.get_ifd(0x8769)[0xA002], ex.get_ifd(0x8769)[0xA003] = size
    buf = io.BytesIO()
    Image.fromarray(synthetic_photo(size[1], size[0], 3)).save(buf, format="JPEG", exif=ex.tobytes(),
                                                               dpi=(300, 72))
    return buf.getvalue()


def test_invalid_orientation_is_not_said_to_be_applied():
    dec = image_codec.decode(_jpeg_with_exif(9), "jpeg")
    assert not any("orientation" in w for w in dec.warnings), dec.warnings
    assert dec.rgb.shape[:2] == (60, 80)


def test_quarter_turn_swaps_the_exif_dimensions(tmp_path):
    """After orientation 6 was applied, the EXIF still gave the old width and height (and
    resolutions), so the file described a layout it no longer had."""
    dec = image_codec.decode(_jpeg_with_exif(6), "jpeg")
    assert dec.rgb.shape[:2] == (80, 60)
    ex = Image.Exif()
    ex.load(dec.exif)
    assert ex[0x0112] == 1
    assert (ex.get_ifd(0x8769)[0xA002], ex.get_ifd(0x8769)[0xA003]) == (60, 80)
    assert (float(ex[282]), float(ex[283])) == (72.0, 300.0)
    # ... and the JFIF density with them (it kept 300 x 72, disagreeing with EXIF; QA helper)
    assert dec.extras.dpi == (72.0, 300.0)
    out = image_codec.encode(dec.rgb, "jpeg", exif=dec.exif, extras=dec.extras)
    assert tuple(round(v) for v in Image.open(io.BytesIO(out)).info["dpi"]) == (72, 300)


def test_quarter_turn_swaps_the_xmp_dimensions(tmp_path):
    """The XMP copies of the dimensions (ExifTool's XMP-exif:ExifImageWidth/Height and
    XMP-tiff:ImageWidth) kept the old layout after orientation 6 was applied: a reader of the
    XMP saw 80 x 60 on a 60 x 80 picture."""
    exiftool = require_tool("exiftool")
    src = tmp_path / "phone.jpg"
    src.write_bytes(_jpeg_with_exif(6))
    subprocess.run([exiftool, "-q", "-overwrite_original", "-XMP-exif:ExifImageWidth=80",
                    "-XMP-exif:ExifImageHeight=60", "-XMP-tiff:ImageWidth=80",
                    "-XMP-tiff:Orientation#=6", str(src)], check=True)
    dec = image_codec.decode(src.read_bytes(), "jpeg")
    out = image_codec.encode(dec.rgb, "jpeg", exif=dec.exif, xmp=dec.xmp, extras=dec.extras)
    tags = json.loads(subprocess.run([exiftool, "-j", "-G1", "-n", "-"], input=out,
                                     capture_output=True, check=True).stdout)[0]
    assert (tags["XMP-exif:ExifImageWidth"], tags["XMP-exif:ExifImageHeight"]) == (60, 80)
    assert tags["XMP-tiff:ImageWidth"] == 60 and tags["XMP-tiff:Orientation"] == 1
    assert (tags["ExifIFD:ExifImageWidth"], tags["ExifIFD:ExifImageHeight"]) == (60, 80)


def test_a_tiffs_orientation_is_said_and_its_xmp_follows():
    """Pillow 13 turns a TIFF upright by its orientation tag as it loads it, and drops the tag:
    the turn was then not said (JPEG, PNG and WebP say it), and the TIFF's XMP kept
    tiff:Orientation 6 on pixels already upright (QA, stop 44). The turn is made once,
    whichever Pillow does it, said, and the XMP says upright."""
    rgb = synthetic_photo(60, 80, 3)                      # stored 80 wide, 60 high
    ex = Image.Exif()
    ex[0x0112] = 6
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
           b'22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:tiff="http://ns.adobe.com/'
           b'tiff/1.0/" tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>')
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="TIFF", exif=ex.tobytes(), tiffinfo={700: xmp})
    dec = image_codec.decode(buf.getvalue(), "tiff")
    assert dec.warnings == ["applied EXIF orientation 6 to the pixels"], dec.warnings
    # orientation 6: turned a quarter clockwise, the stored top row becomes the right column
    assert np.array_equal(dec.rgb, np.rot90(rgb, k=-1))
    assert b"tiff:Orientation" not in dec.xmp and b"xmlns:tiff" in dec.xmp, dec.xmp  # (1 is the default)


def test_xmp_dimensions_swap_at_byte_level():
    from synthlabel.formats.xmp import swapped_dimensions

    packet = (b'<rdf:Description exif:PixelXDimension="4032" exif:PixelYDimension = \'3024\'>'
              b"<tiff:ImageLength> 3024 </tiff:ImageLength></rdf:Description>")
    got = swapped_dimensions(packet, 3024, 4032)
    assert got == (b'<rdf:Description exif:PixelXDimension="3024" exif:PixelYDimension = \'4032\'>'
                   b"<tiff:ImageLength> 4032 </tiff:ImageLength></rdf:Description>")
    assert swapped_dimensions(b"<tiff:ImageWidth>999</tiff:ImageWidth>", 3024, 4032) == \
        b"<tiff:ImageWidth>999</tiff:ImageWidth>"              # not the old side: left alone


def test_unreadable_raw_profile_exif_is_dropped_with_a_warning():
    """An ImageMagick "Raw profile type exif" chunk whose hex does not decode failed the whole
    file with Python's fromhex() message (raised by Pillow's getexif)."""
    info = PngImagePlugin.PngInfo()
    info.add_text("Raw profile type exif", "\nexif\n  20\nzzzz not hex at all\n", zip=True)
    buf = io.BytesIO()
    Image.fromarray(synthetic_photo(48, 64, 1)).save(buf, "PNG", pnginfo=info)
    dec = image_codec.decode(buf.getvalue(), "png")
    assert dec.rgb.shape == (48, 64, 3)
    assert any(w.startswith("unreadable EXIF dropped") for w in dec.warnings), dec.warnings


def test_gif_comment_and_xmp_are_carried_into_png(tmp_path):
    """A GIF (written as PNG) lost its comment and its XMP without a word: Pillow keeps only
    the XMP extension's name."""
    exiftool = require_tool("exiftool")
    src = tmp_path / "a.gif"
    Image.fromarray(synthetic_photo(60, 80, 3)).convert("P").save(src, comment=b"made by hand")
    subprocess.run([exiftool, "-q", "-overwrite_original", "-XMP-dc:Creator=Someone", src], check=True)
    dec = image_codec.decode(src.read_bytes(), "gif")
    assert dec.xmp is not None and b"Someone" in dec.xmp and dec.xmp.rstrip().endswith(b"?>")
    out = tmp_path / "a.png"
    out.write_bytes(image_codec.encode(dec.rgb, "png", xmp=dec.xmp, extras=dec.extras))
    tags = json.loads(subprocess.run([exiftool, "-j", "-G1", "-a", out], capture_output=True,
                                     text=True, check=True).stdout)[0]
    assert tags.get("PNG:Comment") == "made by hand" and tags.get("XMP-dc:Creator") == "Someone", tags


def test_decoding_in_threads_keeps_each_files_warnings_and_the_process_warning_state():
    """Pillow's notes on a file's EXIF are recorded with ``warnings.catch_warnings``, which
    swaps process-wide state: decodes overlapping in a generation service's threads lost a
    file's warning or gave it another file's, and left the filters and the display hook in
    their temporary state, so the application's own warnings were swallowed from then on."""
    import struct
    from concurrent.futures import ThreadPoolExecutor

    buf = io.BytesIO()
    Image.fromarray(synthetic_photo(96, 128, 2)).save(buf, "JPEG")
    good = buf.getvalue()
    # an ImageDescription pointing past the EXIF's end: Pillow warns "Tag data larger than file"
    app1 = b"Exif\0\0" + struct.pack("<2sHIH", b"II", 42, 8, 1) + struct.pack("<HHII", 0x010E, 2, 1000, 26) + bytes(4)
    bad = good[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + good[2:]
    note = "Tag data larger than file"
    filters, hook = list(warnings.filters), warnings._showwarnmsg_impl

    def noted(i: int) -> tuple[int, bool]:
        dec = image_codec.decode(bad if i % 2 == 0 else good, "jpeg")
        return i, any(note in w for w in dec.warnings)

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(noted, range(800)))
    assert [i for i, has in got if has != (i % 2 == 0)] == []
    assert warnings.filters == filters and warnings._showwarnmsg_impl is hook


def test_a_grey_picture_stays_grey_and_a_progressive_jpeg_progressive(credentials):
    """Grey pictures (8-bit, 16-bit, bilevel, with alpha) came out as RGB, a grey PNG three times its
    size, and a progressive JPEG as baseline, without a word. The labeled pixels of a grey
    picture are still grey (the mark and the label plate are neutral): they are written grey.
    A palette picture cannot stay one (the mark needs more levels): that is said."""
    import synthlabel

    grey = Image.fromarray(synthetic_photo(240, 320, 6)).convert("L")
    for fmt, mode in (("PNG", "L"), ("JPEG", "L")):
        buf = io.BytesIO()
        grey.save(buf, fmt)
        out = synthlabel.label_image_bytes(buf.getvalue(), credentials=credentials)
        assert Image.open(io.BytesIO(out.data)).mode == mode, fmt
        assert synthlabel.verify_bytes(out.data, credentials=credentials).ok(), fmt
    # grey + alpha stays grey + alpha in PNG (it came out RGBA, 2.7 times the size), its alpha
    # as it was
    alpha = np.full(grey.size[::-1], 255, np.uint8)
    alpha[:60, :100] = 0
    alpha[60:120] = 128
    la = Image.merge("LA", (grey, Image.fromarray(alpha)))
    out = synthlabel.label_image_bytes(_saved(la, "PNG"), credentials=credentials)
    back = Image.open(io.BytesIO(out.data))
    assert back.mode == "LA" and np.array_equal(np.asarray(back)[..., 1], alpha)
    assert synthlabel.verify_bytes(out.data, credentials=credentials).ok()
    buf = io.BytesIO()
    Image.fromarray(PHOTO).save(buf, "JPEG", progressive=True)
    dec = image_codec.decode(buf.getvalue(), "jpeg")
    out = image_codec.encode(dec.rgb, "jpeg", extras=dec.extras)
    assert Image.open(io.BytesIO(out)).info.get("progressive") and image_codec.decode(out, "jpeg").rgb.shape == PHOTO.shape
    assert not Image.open(io.BytesIO(image_codec.encode(PHOTO, "jpeg"))).info.get("progressive")
    # a colour picture is never written grey, even from a grey source's extras
    dec_grey = image_codec.decode(_saved(grey, "PNG"), "png")
    assert dec_grey.extras.grey
    assert Image.open(io.BytesIO(image_codec.encode(PHOTO, "png", extras=dec_grey.extras))).mode == "RGB"
    pal = image_codec.decode(_saved(Image.fromarray(PHOTO).quantize(64), "PNG"), "png")
    assert any("palette image written as full colour" in w for w in pal.warnings)


def _saved(im: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt)
    return buf.getvalue()


def test_xmp_under_a_non_standard_jpeg_header_is_carried(credentials, tmp_path):
    """An XMP packet in an APP1 segment whose header reads ``XMP\\0://ns.adobe.com/xap/1.0/\\0``
    (scikit-learn's china.jpg has one, from a camera's software: lens, serial number, rating)
    was dropped by labeling without a word: Pillow knows only the standard header. It is now
    carried under the standard one, with a warning, and ExifTool reads it there."""
    import subprocess

    import synthlabel
    from conftest import require_tool

    exe = require_tool("exiftool")
    packet = (b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>'
              b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
              b'<rdf:Description rdf:about="" xmlns:aux="http://ns.adobe.com/exif/1.0/aux/" '
              b'aux:Lens="EF-S18-135mm f/3.5-5.6 IS" aux:SerialNumber="1080508419"/>'
              b'</rdf:RDF></x:xmpmeta><?xpacket end="w"?>')
    body = b"XMP\x00://ns.adobe.com/xap/1.0/\x00" + packet
    plain = _saved(Image.fromarray(PHOTO), "JPEG")
    odd = plain[:2] + b"\xff\xe1" + (len(body) + 2).to_bytes(2, "big") + body + plain[2:]
    assert image_codec.decode(plain, "jpeg").xmp is None
    out = synthlabel.label_image_bytes(odd, credentials=credentials)
    assert any("non-standard APP1 header" in w for w in out.warnings), out.warnings
    path = tmp_path / "out.jpg"
    path.write_bytes(out.data)
    r = subprocess.run([exe, "-j", "-Lens", "-SerialNumber", "-AIGC", str(path)], capture_output=True,
                       text=True, timeout=30, check=True)
    tags = json.loads(r.stdout)[0]
    assert tags["Lens"] == "EF-S18-135mm f/3.5-5.6 IS" and str(tags["SerialNumber"]) == "1080508419"
    assert json.loads(tags["Aigc"])["ProduceID"] == out.content_id.hex
    assert synthlabel.verify_bytes(out.data, credentials=credentials).ok()


def test_png_colour_and_background_chunks_lost_are_said(credentials):
    """A linear-light PNG (gAMA 1.0, wide primaries) written as JPEG or WebP showed as sRGB,
    and a PNG's bKGD / sBIT were dropped, all without a word (found by QA helper). Each is
    said; an sRGB-valued gAMA/cHRM is not."""
    import struct

    import synthlabel

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    head = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 320, 240, 8, 2, 0, 0, 0))
    tail = chunk(b"IDAT", zlib.compress(b"".join(b"\0" + r.tobytes() for r in PHOTO[:240, :320]))) \
        + chunk(b"IEND", b"")
    linear = head + chunk(b"gAMA", struct.pack(">I", 100000)) + chunk(
        b"cHRM", struct.pack(">8I", 31270, 32900, 70800, 29200, 17000, 79700, 13100, 4600)) + tail
    srgbish = head + chunk(b"gAMA", struct.pack(">I", 45455)) + tail
    bkgd = head + chunk(b"bKGD", struct.pack(">HHH", 255, 0, 0)) + chunk(b"sBIT", b"\x08\x08\x08") + tail
    from synthlabel.models import LabelSpec

    for data, fmt, said in ((linear, "jpeg", True), (linear, "webp", True), (linear, "png", False),
                            (srgbish, "jpeg", False)):
        res = synthlabel.label_image_bytes(data, spec=LabelSpec(output_format=fmt), credentials=credentials)
        assert any("gamma / primaries" in w for w in res.warnings) == said, (fmt, res.warnings)
    res = synthlabel.label_image_bytes(bkgd, credentials=credentials)
    assert "PNG chunks bKGD (background colour), sBIT (significant bits) are not carried" in res.warnings
    # every chunk left out is said: a private one and tIME went without a word (QA helper);
    # a labeled file's own C2PA store (caBX) is replaced, not "left out"
    private = head + chunk(b"prVt", b"vendor data") + chunk(b"tIME", struct.pack(">HBBBBB", 2024, 1, 2, 3, 4, 5)) + tail
    res = synthlabel.label_image_bytes(private, credentials=credentials)
    assert "PNG chunks prVt (a private chunk), tIME (modification time) are not carried" in res.warnings
    again = synthlabel.label_image_bytes(res.data, credentials=credentials)
    assert not any("not carried" in w for w in again.warnings), again.warnings


def test_no_empty_exif_directory_is_written():
    """A TIFF without an Exif sub-directory (or a JPEG whose EXIF has none) came out with a
    pointer to an empty one (Pillow makes it when asked; a TIFF directory must hold an
    entry), and ExifTool warned about the labeled PNG (found by QA helper)."""
    from PIL.TiffImagePlugin import ImageFileDirectory_v2

    ifd = ImageFileDirectory_v2()
    ifd[270], ifd[315] = "tiff description", "tiff artist"
    tiff = io.BytesIO()
    Image.fromarray(PHOTO).save(tiff, "TIFF", tiffinfo=ifd)
    exif = Image.Exif()
    exif[0x0112], exif[0x010F] = 6, "Canon"          # a quarter turn, and no Exif directory
    jpeg = io.BytesIO()
    Image.fromarray(PHOTO).save(jpeg, "JPEG", exif=exif.tobytes())
    for data, fmt in ((tiff.getvalue(), "tiff"), (jpeg.getvalue(), "jpeg")):
        dec = image_codec.decode(data, fmt)
        got = Image.Exif()
        got.load(dec.exif)
        assert 0x8769 not in got, (fmt, dict(got))
    exiftool = require_tool("exiftool")
    out = image_codec.encode(image_codec.decode(tiff.getvalue(), "tiff").rgb, "png",
                             exif=image_codec.decode(tiff.getvalue(), "tiff").exif)
    check = subprocess.run([exiftool, "-validate", "-warning", "-a", "-"], input=out,
                           capture_output=True, check=True).stdout.decode()
    assert "Validate" in check and "Warning" not in check, check
