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
