"""Large XMP in JPEG (ExtendedXMP, XMP spec part 3) through the public labeling path.

The inputs are built byte by byte here, as Adobe's XMP toolkit lays them out (a main packet
filled nearly to the 65,504-byte APP1 limit that names its extension by GUID, then the
extension's APP1 segments), not with synthlabel's own writer; ExifTool is the reader.
"""
from __future__ import annotations

import hashlib
import io
import json
import subprocess
from pathlib import Path

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

import synthlabel
from synthlabel.models import LabelSpec
from conftest import require_tool, synthetic_photo

MAIN_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
EXT_HEADER = b"http://ns.adobe.com/xmp/extension/\x00"
APP1_LIMIT = 65504          # XMP bytes one APP1 segment holds after its header
NS = ('xmlns:x="adobe:ns:meta/" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
      'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:xmpNote="http://ns.adobe.com/xmp/note/" '
      'xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/" '
      'xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#" '
      'xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"')
ANCESTORS = 700             # ~100 kB: more than one extension segment


def _xmpmeta(description: str, attrs: str = "") -> str:
    return (f'<x:xmpmeta {NS}><rdf:RDF><rdf:Description rdf:about=""{attrs}>{description}'
            '</rdf:Description></rdf:RDF></x:xmpmeta>')


def _history(n: int) -> str:
    items = "".join(
        f'<rdf:li stEvt:action="saved" stEvt:instanceID="xmp.iid:{i:08d}-aaaa-bbbb-cccc-{i:012d}" '
        'stEvt:when="2024-01-01T00:00:00Z" stEvt:softwareAgent="Adobe Photoshop 25.0 (Windows)" '
        'stEvt:changed="/"/>' for i in range(n))
    return f"<dc:creator><rdf:Seq><rdf:li>Bob</rdf:li></rdf:Seq></dc:creator>" \
           f"<xmpMM:History><rdf:Seq>{items}</rdf:Seq></xmpMM:History>"


def _packet(body: str) -> bytes:
    return ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>' + body
            + '<?xpacket end="w"?>').encode()


def _app1(payload: bytes) -> bytes:
    return b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload


def _adobe_layout_jpeg(drop_piece: bool = False) -> bytes:
    """A JPEG whose main packet is nearly full (a long Photoshop history) and points at an
    ExtendedXMP holding photoshop:DocumentAncestors."""
    ancestors = "".join(f"<rdf:li>xmp.did:{i:08d}-{'d' * 120}</rdf:li>" for i in range(ANCESTORS))
    extension = _xmpmeta(f"<photoshop:DocumentAncestors><rdf:Bag>{ancestors}</rdf:Bag>"
                         "</photoshop:DocumentAncestors>").encode()
    guid = hashlib.md5(extension).hexdigest().upper()
    pointer = f' xmpNote:HasExtendedXMP="{guid}"'
    n = 1
    while len(_packet(_xmpmeta(_history(n + 1), pointer))) < APP1_LIMIT - 300:
        n += 1
    main = _packet(_xmpmeta(_history(n), pointer))
    assert APP1_LIMIT - 500 < len(main) <= APP1_LIMIT
    step = 65000
    pieces = [_app1(EXT_HEADER + guid.encode() + len(extension).to_bytes(4, "big")
                    + off.to_bytes(4, "big") + extension[off:off + step])
              for off in range(0, len(extension), step)]
    assert len(pieces) >= 2
    if drop_piece:
        pieces.pop()
    buf = io.BytesIO()
    Image.fromarray(synthetic_photo(256, 320, seed=3)).save(buf, "JPEG", quality=92)
    plain = buf.getvalue()
    after_app0 = 4 + int.from_bytes(plain[4:6], "big")   # SOI, then Pillow's JFIF APP0
    return plain[:after_app0] + _app1(MAIN_HEADER + main) + b"".join(pieces) + plain[after_app0:]


def _app1_payloads(data: bytes, header: bytes) -> list[bytes]:
    """Payloads (header cut) of the APP1 segments starting with ``header``, up to SOS."""
    out, pos = [], 2
    while data[pos + 1] != 0xDA:
        end = pos + 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
        if data[pos + 1] == 0xE1 and data[pos + 4:].startswith(header):
            out.append(data[pos + 4 + len(header):end])
        pos = end
    return out


def _exiftool_pairs(path: Path) -> list[tuple[str, object]]:
    """ExifTool's XMP tags as (group:name, value) pairs: duplicates stay visible."""
    exiftool = require_tool("exiftool")
    out = subprocess.run([exiftool, "-j", "-G1", "-a", "-m", "-XMP:all", "-Warning", str(path)],
                         capture_output=True, check=True).stdout
    return json.loads(out, object_pairs_hook=list)[0]


def _assert_one_extension_named_by_its_md5(data: bytes) -> None:
    mains = _app1_payloads(data, MAIN_HEADER)
    pieces = _app1_payloads(data, EXT_HEADER)
    assert len(mains) == 1 and pieces
    assert len({p[:32] for p in pieces}) == 1, "more than one ExtendedXMP GUID"
    whole = bytearray(int.from_bytes(pieces[0][32:36], "big"))
    for p in pieces:
        off = int.from_bytes(p[36:40], "big")
        whole[off:off + len(p) - 40] = p[40:]
    guid = hashlib.md5(bytes(whole)).hexdigest().upper().encode()
    assert pieces[0][:32] == guid
    assert mains[0].count(b"HasExtendedXMP") == 1 and guid in mains[0]
    assert b"TC260:AIGC" in mains[0] and b"TC260:AIGC" not in whole


def _assert_labeled_and_complete(path: Path, credentials, *, ancestors: int, history: int) -> None:
    pairs = _exiftool_pairs(path)
    names = [k for k, _ in pairs]
    tags = dict(pairs)
    assert names.count("XMP-TC260:Aigc") == 1, names
    assert json.loads(tags["XMP-TC260:Aigc"])["Label"] == "1"
    assert tags["XMP-dc:Creator"] == "Bob"
    assert len(tags["XMP-xmpMM:HistoryAction"]) == history
    if ancestors:
        assert len(tags["XMP-photoshop:DocumentAncestors"]) == ancestors
    assert "ExifTool:Warning" not in tags, tags.get("ExifTool:Warning")
    _assert_one_extension_named_by_its_md5(path.read_bytes())
    rep = synthlabel.verify_file(path, credentials=credentials)
    assert rep.ok() and rep.ids_agree, rep.to_json()


def _history_count(data: bytes) -> int:
    return data.count(b'stEvt:action="saved"')


def test_full_main_packet_with_extended_xmp_is_labeled(tmp_path, credentials):
    """Was: "XMP packet of 65627 bytes does not fit one JPEG APP1 segment ... and the file
    has ExtendedXMP already". The old extension is merged and split again: one new
    extension, the label in the main packet, every old property still there."""
    src = tmp_path / "ps_ext.jpg"
    src.write_bytes(_adobe_layout_jpeg())
    history = _history_count(src.read_bytes())
    res = synthlabel.label_file(src, tmp_path / "out.jpg", credentials=credentials)
    _assert_labeled_and_complete(Path(res.output), credentials, ancestors=ANCESTORS,
                                 history=history)


def test_labeled_again_keeps_one_label_and_every_property(tmp_path, credentials):
    src = tmp_path / "ps_ext.jpg"
    src.write_bytes(_adobe_layout_jpeg())
    history = _history_count(src.read_bytes())
    first = synthlabel.label_file(src, tmp_path / "l1.jpg", credentials=credentials)
    again = synthlabel.label_file(first.output, tmp_path / "l2.jpg", credentials=credentials)
    assert again.content_id == first.content_id
    _assert_labeled_and_complete(Path(again.output), credentials, ancestors=ANCESTORS,
                                 history=history)


def test_incomplete_extended_xmp_is_refused_in_one_line(tmp_path, credentials):
    """A missing extension piece cannot be merged without losing properties: say so."""
    src = tmp_path / "broken.jpg"
    src.write_bytes(_adobe_layout_jpeg(drop_piece=True))
    with pytest.raises(synthlabel.LabelingError, match=r"ExtendedXMP is incomplete \(\d+ of \d+ bytes\)"
                       ) as err:
        synthlabel.label_file(src, tmp_path / "out.jpg", credentials=credentials)
    assert "\n" not in str(err.value)


def _big_xmp_source(fmt: str, path: Path) -> int:
    """A PNG or WebP whose XMP (a long history) is ~120 kB; returns the history length."""
    packet = _packet(_xmpmeta(_history(600)))
    assert len(packet) > APP1_LIMIT + 50_000
    im = Image.fromarray(synthetic_photo(256, 320, seed=4))
    if fmt == "png":
        info = PngInfo()
        info.add_itxt("XML:com.adobe.xmp", packet.decode())
        im.save(path, "PNG", pnginfo=info)
    else:
        im.save(path, "WEBP", quality=90, xmp=packet)
    return 600


@pytest.mark.parametrize("fmt", ["png", "webp"])
def test_big_xmp_written_as_jpeg_goes_to_extended_xmp(tmp_path, credentials, fmt):
    """Was: "XMP data is too long" (Pillow's JPEG writer refuses more than one segment)."""
    src = tmp_path / f"big.{fmt}"
    history = _big_xmp_source(fmt, src)
    res = synthlabel.label_file(src, tmp_path / "out.jpg", credentials=credentials,
                                spec=LabelSpec(output_format="jpeg"))
    out = Path(res.output)
    assert out.read_bytes()[:2] == b"\xff\xd8"
    _assert_labeled_and_complete(out, credentials, ancestors=0, history=history)


@pytest.mark.parametrize("fmt", ["png", "webp"])
def test_extended_xmp_is_merged_into_a_png_or_webp(tmp_path, credentials, fmt):
    """A JPEG's ExtendedXMP was lost when written as PNG or WebP (whose one packet has no size
    limit), and the packet kept pointing at it."""
    src = tmp_path / "ps_ext.jpg"
    src.write_bytes(_adobe_layout_jpeg())
    history = _history_count(src.read_bytes())
    res = synthlabel.label_file(src, tmp_path / f"out.{fmt}", credentials=credentials,
                                spec=LabelSpec(output_format=fmt))
    out = Path(res.output)
    pairs = _exiftool_pairs(out)
    tags = dict(pairs)
    assert [k for k, _ in pairs].count("XMP-TC260:Aigc") == 1
    assert len(tags["XMP-photoshop:DocumentAncestors"]) == ANCESTORS
    assert len(tags["XMP-xmpMM:HistoryAction"]) == history
    assert b"HasExtendedXMP" not in out.read_bytes()
    assert synthlabel.verify_file(out, credentials=credentials).ok()
