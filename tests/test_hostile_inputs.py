"""Crafted files a user may be handed to label or verify (found by a security QA pass): each
once cost minutes of CPU or gigabytes of memory from a file of a few kilobytes, or crashed
with a traceback. Each is now a one-line metadata error or a bounded amount of work."""
from __future__ import annotations

import io
import zlib

import pytest
from PIL import Image

import synthlabel
from conftest import synthetic_photo
from synthlabel.formats import png, xmp
from synthlabel.formats.image_meta import read_image_metadata
from synthlabel.formats.xmp import MetadataError

NS = ('xmlns:x="adobe:ns:meta/" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
      'xmlns:dc="http://purl.org/dc/elements/1.1/"')


def _xmpmeta(description: str) -> str:
    return (f'<x:xmpmeta {NS}><rdf:RDF><rdf:Description rdf:about="">{description}'
            '</rdf:Description></rdf:RDF></x:xmpmeta>')


def _jpeg_with_xmp(packet: bytes) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(synthetic_photo(64, 64, 1)).save(buf, "JPEG")
    data = buf.getvalue()
    payload = b"http://ns.adobe.com/xap/1.0/\x00" + packet
    return data[:2] + b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload + data[2:]


def test_a_utf16_packet_cannot_hide_an_entity_bomb():
    """The "no DTD" check looked for the bytes <!DOCTYPE and <!ENTITY, which a UTF-16 packet
    does not contain; expat still expanded its entities (a 5 KB JPEG: 400 MB, minutes)."""
    bomb = ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
            + "".join(f'<!ENTITY {c}{i} "{("&" + c + str(i - 1) + ";") * 10 if i else "&a;" * 10}">'
                      for c in "b" for i in range(6))
            + ']><x:xmpmeta xmlns:x="adobe:ns:meta/">&b5;<!-- \u7463\u3236\u3041 --></x:xmpmeta>')
    # (the comment's characters are the bytes "tc260A" in UTF-16BE: past the cheap "could
    # this hold a label?" check, which looks for b"tc260")
    assert b"tc260" in bomb.encode("utf-16-be").lower()
    for packet in (bomb.encode("utf-16"), bomb.encode("utf-16-be")):
        with pytest.raises(MetadataError, match="not UTF-8"):
            xmp.check_packet(packet)
    found = read_image_metadata(_jpeg_with_xmp(bomb.encode("utf-16-be")), "jpeg")
    assert any("not UTF-8" in e for e in found.errors), found.errors     # a broken packet, noted
    # labeling drops such a packet, with a warning, and labels the picture
    out = synthlabel.label_image_bytes(_jpeg_with_xmp(bomb.encode("utf-16")),
                                       spec=synthlabel.LabelSpec(c2pa=False))
    assert any("not UTF-8" in w for w in out.warnings), out.warnings
    assert synthlabel.verify_bytes(out.data, layers=("metadata",)).ok()


def test_deeply_nested_xmp_is_a_metadata_error_not_a_recursion_error():
    deep = "<dc:x>" * 3000 + "</dc:x>" * 3000
    packet = _xmpmeta(deep).encode()
    with pytest.raises(MetadataError, match="nested deeper"):
        xmp.check_packet(packet)
    out = synthlabel.label_image_bytes(_jpeg_with_xmp(packet), spec=synthlabel.LabelSpec(c2pa=False))
    assert any("nested deeper" in w for w in out.warnings), out.warnings


def test_png_text_chunks_inflate_to_a_bounded_total():
    """Each compressed chunk was capped at 16 MiB, but not their total: sixty of them (a 1 MB
    file) held a gigabyte in memory at once."""
    buf = io.BytesIO()
    Image.fromarray(synthetic_photo(32, 32, 2)).save(buf, "PNG")
    data = buf.getvalue()
    body = _xmpmeta("<dc:title>" + "a" * (3 << 20) + "</dc:title>").encode()
    one = png.chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x01\x00\x00\x00" + zlib.compress(body, 9))
    assert len(one) < 64 << 10
    bombed = data[:33] + one * 6 + data[33:]          # 6 x 3 MiB: over 16 MiB together
    with pytest.raises(MetadataError, match="in total"):
        read_image_metadata(bombed, "png")
    assert read_image_metadata(data[:33] + one * 2 + data[33:], "png") is not None


def test_splitting_a_packet_of_many_small_properties_serialises_it_a_few_times(monkeypatch):
    """split_extended serialised the whole packet again after every property it moved: a PNG
    with 10,000 small properties written as JPEG took six minutes. It now moves properties
    by their measured sizes and checks once per pass."""
    props = "".join(f"<dc:p{i}>v{i}</dc:p{i}>" for i in range(6000))
    packet = _xmpmeta(props).encode()
    assert len(packet) > 2 * 65000
    calls = []
    real = xmp._serialize
    monkeypatch.setattr(xmp, "_serialize", lambda *a, **k: calls.append(1) or real(*a, **k))
    main, extended, guid = xmp.split_extended(packet, 65000)
    assert len(main) <= 65000 and guid and extended
    assert len(calls) <= 25, len(calls)
    moved = sum(extended.count(f"<dc:p{i}>".encode()) for i in range(6000))
    kept = sum(main.count(f"<dc:p{i}>".encode()) for i in range(6000))
    assert moved + kept == 6000                          # every property in one of the two


def _cli(*args, cwd=None):
    import os
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "synthlabel", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env=dict(os.environ), timeout=300)


def test_an_error_never_shows_a_files_bytes(tmp_path):
    """"not a recognised media file (starts with 37 35 64 35 ...)": through a crafted folder's
    link named photo.jpg, that put a key file's first 32 bits into the report."""
    secret = tmp_path / "watermark.key"
    secret.write_text("75d53d57aa0e1c2b9f00112233445566778899aabbccddeeff00112233445566\n")
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "photo.jpg").symlink_to(secret)
    r = _cli("label", folder, "-o", tmp_path / "out", "-j", "1", "--json")
    assert r.returncode == 1 and "not a recognised media file (text)" in r.stderr, r.stderr
    for shown in ("75 d5", "37 35", "75d5"):
        assert shown not in r.stdout + r.stderr


def test_a_linked_folder_inside_the_output_folder_is_not_written_through(tmp_path):
    """out/sub -> ../in/sub: outputs went through the link into the input folder, among the
    originals (or replaced another tree's files with --overwrite)."""
    src = tmp_path / "in" / "sub"
    src.mkdir(parents=True)
    Image.fromarray(synthetic_photo(64, 80, 3)).save(src / "c.gif")
    out = tmp_path / "out"
    out.mkdir()
    (out / "sub").symlink_to(src)
    r = _cli("label", tmp_path / "in", "-o", out, "-j", "1", "--overwrite")
    assert r.returncode == 1 and "is a symbolic link: outputs stay inside" in r.stderr, r.stderr
    assert sorted(p.name for p in src.iterdir()) == ["c.gif"]


def test_names_with_bidi_and_c1_controls_are_escaped_on_the_terminal(tmp_path):
    """Only C0 controls were escaped: U+202E (right-to-left override) made "x\\u202egnp.exe"
    show as another name, and U+009B is an 8-bit CSI."""
    src = tmp_path / "in"
    src.mkdir()
    name = "x\u202egnp.exe\u009b.png"
    Image.fromarray(synthetic_photo(64, 80, 4)).save(src / name)
    r = _cli("label", src, "-o", tmp_path / "out", "-j", "1")
    assert r.returncode == 0, r.stderr
    shown = r.stdout + r.stderr
    assert "\u202e" not in shown and "\u009b" not in shown and "\\u202e" in shown, shown


def test_oversized_images_and_sidecars_are_refused_before_they_are_read(tmp_path):
    """Images and .c2pa sidecars were read whole whatever their size: a sparse PNG of 3 GB
    (548 KB on disk, as tar can deliver) took 3 GB of memory, a 2 GB sidecar 4 GB."""
    import os
    import subprocess

    from conftest import require_tool

    big = tmp_path / "big.png"
    Image.fromarray(synthetic_photo(32, 32, 5)).save(big)
    os.truncate(big, 3 << 30)                          # sparse: no disk space used
    rep = synthlabel.verify_file(big)
    assert rep.error and "more than an image file can hold" in rep.error, rep.error
    r = _cli("label", big, "-o", tmp_path / "out", "-j", "1")
    assert r.returncode == 1 and "more than an image file can hold" in r.stderr, r.stderr
    ffmpeg = require_tool("ffmpeg")
    ogg = tmp_path / "a.ogg"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "sine=d=2", "-c:a", "libvorbis", ogg],
                   check=True)
    side = tmp_path / "a.c2pa"
    side.write_bytes(b"\0")
    os.truncate(side, 1 << 30)
    rep = synthlabel.verify_file(ogg, layers=("c2pa",))
    c2pa = rep.layers["c2pa"]
    assert c2pa.status.value == "error" and "larger than 64 MiB" in c2pa.summary, c2pa.summary


def test_a_file_swapped_for_a_fifo_after_its_check_does_not_block(tmp_path):
    """sniff_file checked the path with stat() and then opened it: a file replaced by a FIFO
    in between (someone else writing into the input folder) blocked open() forever. The check
    is made again on the file opened without blocking. The swap is simulated by having
    stat() describe the FIFO as the regular file it was a moment before."""
    import os
    import subprocess
    import sys

    fifo = tmp_path / "photo.png"
    os.mkfifo(fifo)
    code = (
        "import os, stat, sys\n"
        "real = os.stat\n"
        "regular = real(sys.argv[2])\n"
        "os.stat = lambda p, *a, **k: regular if os.fspath(p) == sys.argv[1] else real(p, *a, **k)\n"
        "from synthlabel.formats.sniff import sniff_file, UnsupportedMedia\n"
        "try:\n"
        "    sniff_file(sys.argv[1])\n"
        "except UnsupportedMedia as exc:\n"
        "    print(exc)\n"
        "from synthlabel.formats.image_codec import read_file\n"
        "try:\n"
        "    read_file(sys.argv[1])\n"
        "except OSError as exc:\n"
        "    print(exc)\n")
    r = subprocess.run([sys.executable, "-c", code, str(fifo), __file__], capture_output=True,
                       text=True, timeout=60)
    assert r.stdout.splitlines() == ["not a regular file (a FIFO)", "not a regular file"], r.stdout + r.stderr


def _png_with_bad_iend() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(synthetic_photo(96, 128, 6)).save(buf, "PNG")
    data = buf.getvalue()
    assert data[-8:-4] == b"IEND"
    return data[:-12] + b"\xff\xff\xff\xff" + data[-8:]        # IEND's length: 4 GiB


def _tiff_whose_next_page_is_past_the_end() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(synthetic_photo(96, 128, 7)).save(buf, "TIFF")
    data = bytearray(buf.getvalue())
    assert data[:4] == b"II*\x00"
    ifd = int.from_bytes(data[4:8], "little")
    entries = int.from_bytes(data[ifd:ifd + 2], "little")
    at = ifd + 2 + 12 * entries
    data[at:at + 4] = (len(data) + 4096).to_bytes(4, "little")  # IFD0's next-IFD offset
    return bytes(data)


@pytest.mark.parametrize("damaged", [_png_with_bad_iend, _tiff_whose_next_page_is_past_the_end],
                         ids=["png-iend-length", "tiff-next-ifd"])
def test_damage_after_the_picture_is_reported_not_raised(damaged, credentials):
    """Found by fuzzing: a PNG whose IEND chunk declares 4 GiB made verify_bytes raise
    MetadataError ("invalid PNG chunk") instead of reporting; a TIFF whose first page links a
    next page beyond the file raised Pillow's internal TypeError "Missing dimensions" while
    the pages were counted. The picture itself is whole: both verify and label, and what
    Pillow notes on the way is the file's warning, not a Python warning on stderr."""
    import warnings

    data = damaged()
    with warnings.catch_warnings(record=True) as leaked:
        warnings.simplefilter("always")
        rep = synthlabel.verify_bytes(data, layers=("explicit", "metadata"))
        out = synthlabel.label_image_bytes(data, credentials=credentials)
    assert not [str(w.message) for w in leaked if "PIL" in w.filename]
    assert rep.error is None, rep.error
    assert rep.layers["metadata"].status.value == "missing", rep.layers["metadata"].summary
    again = synthlabel.verify_bytes(out.data, credentials=credentials)
    assert again.error is None and again.layers["metadata"].status.value == "ok"
    assert again.layers["watermark"].status.value == "ok", again.layers["watermark"].summary
    if damaged is _tiff_whose_next_page_is_past_the_end:
        assert any("what follows the first frame cannot be read" in w for w in out.warnings), \
            out.warnings
        assert any(w.startswith("TIFF: Corrupt EXIF data") for w in out.warnings), out.warnings


def test_pillows_size_warning_while_decoding_a_large_tiff_stays_off_stderr(monkeypatch, credentials):
    """A 1-bit TIFF of 9500 x 9500 (3 KB in Group 4) is above Pillow's warning size and below
    our limit: Pillow warned again as it decoded the strips, and the two-line Python warning
    reached the terminal. Pillow's size is lowered here to keep the picture small."""
    import warnings

    buf = io.BytesIO()
    Image.fromarray(synthetic_photo(120, 160, 8)[..., 0] > 128).save(buf, "TIFF", compression="group4")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 120 * 160 - 1)
    with warnings.catch_warnings(record=True) as leaked:
        warnings.simplefilter("always")
        rep = synthlabel.verify_bytes(buf.getvalue(), layers=("explicit", "metadata"))
        out = synthlabel.label_image_bytes(buf.getvalue(), credentials=credentials)
    assert rep.error is None and out.data
    assert not [str(w.message) for w in leaked if issubclass(w.category, Image.DecompressionBombWarning)]
