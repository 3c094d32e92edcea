"""Verify's cross-checks between layers, and what it says of damaged or foreign labels (found
by a QA pass over the verify side: each case passed, or was called the wrong thing, before)."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
from conftest import synthetic_photo
from PIL import Image, PngImagePlugin

import synthlabel
from synthlabel.models import AIGCLabel, LabelSpec, Status
from synthlabel.provenance import c2pa_io


def _png(**text) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in text.items():
        if key == "xmp":
            info.add_itxt("XML:com.adobe.xmp", value)
        else:
            info.add_text(key, value)
    buf = io.BytesIO()
    Image.fromarray(synthetic_photo(240, 320, 4)).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def _aigc_json(**fields) -> str:
    return json.dumps({"AIGC": fields}, separators=(",", ":"))


#: A complete label's fields, for the tests to vary.
FIELDS = dict(Label="1", ContentProducer="x", ProduceID="0123456789abcdef", ReservedCode1="",
              ContentPropagator="x", PropagateID="0123456789abcdef", ReservedCode2="")


def _xmp_with(label: str, ns: str = "http://www.tc260.org.cn/ns/AIGC/1.0/", close: str = ">") -> str:
    """An XMP packet whose Description holds ``label`` as a TC260:AIGC attribute under ``ns``
    (``close=">"`` leaves the Description unclosed: not well-formed XML)."""
    return ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/'
            f'02/22-rdf-syntax-ns#"><rdf:Description xmlns:TC260="{ns}" TC260:AIGC=\'{label}\''
            f'{close}</rdf:RDF></x:xmpmeta>')


def test_a_signed_manifest_that_contradicts_the_metadata(credentials):
    """The manifest's AIGC assertion was never compared with the metadata label: a trusted
    manifest naming another producer and ProduceID passed, every layer OK."""
    out = synthlabel.label_image(synthetic_photo(240, 320, 2), format="jpeg",
                                 spec=LabelSpec(c2pa=False), credentials=credentials)
    rep = synthlabel.verify_bytes(out.data, credentials=credentials)
    assert rep.layers["c2pa"].status is Status.MISSING and rep.layers["metadata"].status is Status.OK
    other = AIGCLabel.create(producer="evilcorp", produce_id="deadbeefdeadbeef")
    manifest = c2pa_io.build_manifest(aigc=other, content_id=out.content_id,
                                      watermark_alg=synthlabel.watermark.IMAGE_ALG, title="x.jpg")
    signed = c2pa_io.sign_bytes(out.data, "image/jpeg", manifest, credentials)
    rep = synthlabel.verify_bytes(signed, credentials=credentials)
    assert rep.layers["c2pa"].status is Status.OK            # its signature holds
    meta = rep.layers["metadata"]
    assert meta.status is Status.INVALID and not rep.ok(), meta.summary
    assert "disagrees with the signed C2PA manifest's AIGC" in meta.summary
    assert "ProduceID" in meta.summary and "deadbeefdeadbeef" in meta.summary
    # the same manifest with the file's own AIGC agrees
    manifest = c2pa_io.build_manifest(aigc=AIGCLabel.create(producer="synthlabel",
                                                            produce_id=out.content_id.hex),
                                      content_id=out.content_id,
                                      watermark_alg=synthlabel.watermark.IMAGE_ALG, title="x.jpg")
    rep = synthlabel.verify_bytes(c2pa_io.sign_bytes(out.data, "image/jpeg", manifest, credentials),
                                  credentials=credentials)
    assert rep.ok(), rep.to_json()


def test_propagate_id_is_checked_when_the_produce_id_is_another_producers(credentials):
    """Re-publishing another producer's file (its ProduceID not one of ours): the PropagateID
    we wrote was never compared with the watermark, so an edited one passed."""
    src = _png(AIGC=_aigc_json(Label="1", ContentProducer="othertool", ProduceID="abc123",
                                ReservedCode1="", ContentPropagator="othertool",
                                PropagateID="abc123", ReservedCode2=""))
    out = synthlabel.label_image_bytes(src, spec=LabelSpec(propagator="PlatformX", c2pa=False,
                                                           output_format="jpeg"),
                                       credentials=credentials)
    rep = synthlabel.verify_bytes(out.data, credentials=credentials)
    aigc = rep.layers["metadata"].details["aigc"]
    assert aigc["ProduceID"] == "abc123" and aigc["PropagateID"] == out.content_id.hex
    assert rep.content_ids == {"metadata": out.content_id.hex, "watermark": out.content_id.hex}
    assert rep.ids_agree is True
    at = out.data.index(b'"PropagateID":"') + len(b'"PropagateID":"')
    edited = out.data[:at] + b"1111111111111111" + out.data[at + 16:]
    rep = synthlabel.verify_bytes(edited, credentials=credentials)
    assert rep.content_ids["metadata"] == "1111111111111111" and rep.ids_agree is False
    assert not rep.ok()


def test_a_broken_xmp_label_counts_as_a_label():
    """A broken XMP packet holding a TC260 label beside a valid PNG text label passed as one
    label, OK; alone it was "invalid" with count 0."""
    label = _aigc_json(**FIELDS)
    broken = _xmp_with(label)
    both = synthlabel.verify_bytes(_png(xmp=broken, AIGC=label), layers=("metadata",))
    meta = both.layers["metadata"]
    assert meta.status is Status.INVALID and meta.details["count"] == 2, meta.summary
    alone = synthlabel.verify_bytes(_png(xmp=broken), layers=("metadata",)).layers["metadata"]
    assert alone.status is Status.INVALID and alone.details["count"] == 1, alone.summary


def test_two_labels_are_each_named_with_what_they_say():
    """Two labels that disagree were reported as "2 AIGC labels" with the first one's fields
    only: where the second was and what it said were nowhere in the text or the JSON."""
    fields = FIELDS
    other = dict(fields, Label="3", ProduceID="zzz-999")
    rep = synthlabel.verify_bytes(_png(AIGC=_aigc_json(**fields), aigc=_aigc_json(**other)),
                                  layers=("metadata",)).layers["metadata"]
    assert rep.status is Status.INVALID
    assert "Label=1 ProduceID=0123456789abcdef" in rep.summary and "Label=3 ProduceID=zzz-999" in rep.summary
    assert "they disagree" in rep.summary, rep.summary
    assert [x["aigc"]["ProduceID"] for x in rep.details["labels"]] == ["0123456789abcdef", "zzz-999"]
    same = synthlabel.verify_bytes(_png(AIGC=_aigc_json(**fields), aigc=_aigc_json(**fields)),
                                   layers=("metadata",)).layers["metadata"]
    assert same.status is Status.INVALID and "disagree" not in same.summary, same.summary


def test_an_aigc_property_under_another_namespace_is_named():
    """TC260:AIGC written under https:// (or another URI) was "no AIGC metadata label", with
    no word that an AIGC property is there."""
    packet = _xmp_with(_aigc_json(**FIELDS), ns="https://www.tc260.org.cn/ns/AIGC/1.0/", close="/>")
    rep = synthlabel.verify_bytes(_png(xmp=packet), layers=("metadata",)).layers["metadata"]
    assert rep.status is Status.INVALID, rep.summary
    assert "namespace 'https://www.tc260.org.cn/ns/AIGC/1.0/' is not a GB 45438 label" in rep.summary


def test_a_label_without_propagator_fields_is_summarised_plainly():
    """An Annex E label with only Label, ContentProducer and ProduceID (other tools write
    that) was summarised with "propagator= PropagateID="."""
    data = _png(AIGC=_aigc_json(Label="1", ContentProducer="x", ProduceID="y"))
    meta = synthlabel.verify_bytes(data, layers=("metadata",)).layers["metadata"]
    assert meta.status is Status.OK and "propagator" not in meta.summary, meta.summary


def test_a_wav_whose_structure_changed_after_signing_is_invalid_not_unsigned(credentials):
    """One flipped byte in a signed WAV's AIGC chunk size: c2pa cannot find the manifest, and
    verify said "no C2PA manifest" (missing) although the store is in the file."""
    from synthlabel.labeling_audio import label_audio

    t = np.arange(48000 * 6) / 48000
    sound = (0.2 * np.sin(2 * np.pi * 440 * t) * (1 + 0.5 * np.sin(3 * t))).astype(np.float32)
    data, _side, _res = label_audio(sound, 48000, format="wav", credentials=credentials)
    assert synthlabel.verify_bytes(data, credentials=credentials).layers["c2pa"].status is Status.OK
    damaged = bytearray(data)
    damaged[damaged.index(b"AIGC") + 6] ^= 1
    c2 = synthlabel.verify_bytes(bytes(damaged), credentials=credentials,
                                 layers=("c2pa",)).layers["c2pa"]
    assert c2.status is Status.INVALID, c2.summary
    assert "structure was changed" in c2.summary


def test_a_visible_label_smaller_than_the_rule_is_weak():
    """Glyphs 4.7 % of the short side (GB 45438 asks for 5 %) were accepted as the label."""
    from synthlabel.core import text_label

    img = synthetic_photo(512, 640, 5)
    for frac, status in ((0.042, Status.WEAK), (0.05, Status.OK)):
        drawn, box = text_label.render_label(img, height_frac=frac)
        buf = io.BytesIO()
        Image.fromarray(drawn).save(buf, "PNG")
        rep = synthlabel.verify_bytes(buf.getvalue(), layers=("explicit",)).layers["explicit"]
        assert rep.status is status, (box.glyph_height / 512, rep.summary)
    assert "glyphs measure about 4.8 % of the short side (GB 45438: at least 5 %)" in rep.summary \
        or status is Status.OK


def test_a_broken_xmp_label_in_a_wav_counts_as_a_label(credentials):
    """As for images: a WAV's broken _PMX XMP packet holding a TC260 label beside its valid
    AIGC chunk passed as one label."""
    import struct

    from synthlabel.labeling_audio import label_audio

    t = np.arange(48000 * 3) / 48000
    data, _side, _res = label_audio((0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 48000,
                                    format="wav", spec=LabelSpec(c2pa=False), credentials=credentials)
    assert synthlabel.verify_bytes(data, layers=("metadata",)).layers["metadata"].status is Status.OK
    broken = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/'
              b'02/22-rdf-syntax-ns#"><rdf:Description xmlns:TC260="http://www.tc260.org.cn/ns/'
              b'AIGC/1.0/" TC260:AIGC="{}"></rdf:RDF></x:xmpmeta>')
    chunk = b"_PMX" + struct.pack("<I", len(broken)) + broken + b"\0" * (len(broken) & 1)
    wav = bytearray(data + chunk)
    wav[4:8] = struct.pack("<I", len(wav) - 8)
    meta = synthlabel.verify_bytes(bytes(wav), layers=("metadata",)).layers["metadata"]
    assert meta.status is Status.INVALID and meta.details["count"] == 2, meta.summary


def test_to_dict_is_the_json_line_and_an_unreadable_file_has_every_layer(credentials, tmp_path):
    """``to_dict()`` gave the 64-bit payload as an int (``json.dumps`` of it then loses digits
    in jq or JavaScript) where the CLI's JSON gives 16 hex digits; a file that could not be
    opened had no layers at all, where a file that failed to decode had all four."""
    out = synthlabel.label_image(synthetic_photo(240, 320, 5), format="png", credentials=credentials)
    rep = synthlabel.verify_bytes(out.data, credentials=credentials)
    d = rep.to_dict()
    assert json.loads(json.dumps(d)) == json.loads(rep.to_json()) == d
    assert d["layers"]["watermark"]["details"]["payload"] == out.content_id.hex
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a picture")
    for path, layers in ((bad, None), (tmp_path / "gone.png", "metadata,c2pa")):
        kw = {} if layers is None else {"layers": layers}
        rep = synthlabel.verify_file(path, credentials=credentials, **kw)
        d = rep.to_dict()
        assert rep.error and set(d["layers"]) == {"explicit", "metadata", "watermark", "c2pa"}
        want = {"error"} if layers is None else {"error", "skipped"}
        assert {v["status"] for v in d["layers"].values()} == want
        assert not rep.ok()


def test_verify_bytes_of_nothing_has_every_layer_and_bad_arguments_raise(credentials):
    """verify_bytes(b"") (or garbage) gave no layers (report.layers["c2pa"] a KeyError) where
    verify_file gives all four; verify_file(None) gave an "internal error" report instead of
    raising; a sidecar given as a path raised an error that did not name it."""
    for data in (b"", b"\x00garbage" * 10):
        rep = synthlabel.verify_bytes(data, credentials=credentials)
        assert rep.error and not rep.ok()
        assert {k: v.status for k, v in rep.layers.items()} == dict.fromkeys(
            ("explicit", "metadata", "watermark", "c2pa"), Status.ERROR)
    with pytest.raises(TypeError, match="path must be a str or os.PathLike, got NoneType"):
        synthlabel.verify_file(None, credentials=credentials)
    with pytest.raises(TypeError, match="sidecar must be the .c2pa manifest's bytes"):
        synthlabel.verify_bytes(b"RIFF", sidecar="t.c2pa", credentials=credentials)


def test_a_cut_mp3_is_not_fully_readable(credentials, tmp_path):
    """verify read the opening seconds of a labeled MP3 cut in half and said nothing of the
    cut (exit 1, for the C2PA hash alone), where a cut WAV or FLAC is a file that could not be
    read (exit 2). Its layers are still read from what is there."""
    from synthlabel.labeling_audio import label_audio

    rng = np.random.default_rng(3)
    t = np.arange(44100 * 40) / 44100
    x = (0.3 * np.sin(2 * np.pi * 330 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    data, _, res = label_audio(x[:, None], 44100, format="mp3", credentials=credentials)
    whole, cut = tmp_path / "whole.mp3", tmp_path / "cut.mp3"
    whole.write_bytes(data)
    cut.write_bytes(data[: len(data) // 2])
    assert synthlabel.verify_file(whole, credentials=credentials).ok()
    rep = synthlabel.verify_file(cut, credentials=credentials)
    assert rep.error and "ends early" in rep.error, rep.error
    assert rep.layers["metadata"].status is Status.OK
    assert rep.layers["watermark"].status is Status.OK
    assert rep.content_ids["watermark"] == res.content_id.hex


def test_an_mp3_cut_inside_its_tag_says_so_and_is_unreadable_for_the_layers_asked(credentials, tmp_path):
    """Cut inside its ID3 tag, an MP3's metadata error was "malformed MP3: error" (mutagen's
    class name), and checked for metadata alone it exited 1 with "0 unreadable": nothing asked
    for could be read, which is exit 2 with all layers."""
    from synthlabel.labeling_audio import label_audio

    t = np.arange(44100 * 3) / 44100
    data, _, _ = label_audio((0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)[:, None], 44100,
                             format="mp3", credentials=credentials)
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(data[:200])
    rep = synthlabel.verify_file(cut, credentials=credentials, layers=("metadata",))
    assert "ends inside its ID3 tag (200 of" in rep.layers["metadata"].summary, rep.layers["metadata"].summary
    assert rep.error and rep.error.startswith("metadata: "), rep.error
    assert synthlabel.verify_file(cut, credentials=credentials).error


def test_a_sidecar_beside_its_own_media_is_not_read_for_another_file(credentials, tmp_path):
    """clip.webm's sidecar clip.c2pa was read for the never-labeled clip.mp4 beside it, which
    verify then called tampered ("the file was changed after it was signed"). The sidecar read
    is now named in the report."""
    from synthlabel.labeling_audio import label_audio

    t = np.arange(44100 * 6) / 44100
    x = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[:, None]
    data, side, _ = label_audio(x, 44100, format="ogg", credentials=credentials)
    (tmp_path / "a.ogg").write_bytes(data)
    (tmp_path / "a.c2pa").write_bytes(side)
    wav, _, _ = label_audio(x, 44100, format="wav", spec=LabelSpec(c2pa=False), credentials=credentials)
    (tmp_path / "a.wav").write_bytes(wav)
    rep = synthlabel.verify_file(tmp_path / "a.wav", credentials=credentials, layers=("c2pa",))
    assert rep.layers["c2pa"].status is Status.MISSING, rep.layers["c2pa"].summary
    rep = synthlabel.verify_file(tmp_path / "a.ogg", credentials=credentials, layers=("c2pa",))
    c2pa = rep.layers["c2pa"]
    assert c2pa.status is Status.OK and "from the sidecar a.c2pa" in c2pa.summary
    assert c2pa.details["sidecar"] == "a.c2pa"


def test_a_pictures_detached_manifest_beside_it_is_read(credentials, tmp_path):
    """Other tools publish a picture's manifest as a detached ``.c2pa`` beside it: verify read
    sidecars for audio and video only, and called the picture unsigned ("no C2PA manifest"),
    tampered or not."""
    out = synthlabel.label_image(synthetic_photo(240, 320, 4), format="jpeg",
                                 spec=LabelSpec(c2pa=False), credentials=credentials)
    manifest = c2pa_io.build_manifest(aigc=AIGCLabel.create(producer="synthlabel",
                                                            produce_id=out.content_id.hex),
                                      content_id=out.content_id,
                                      watermark_alg=synthlabel.watermark.IMAGE_ALG, title="p.jpg")
    (tmp_path / "p.jpg").write_bytes(out.data)
    (tmp_path / "p.c2pa").write_bytes(c2pa_io.sign_sidecar(out.data, "image/jpeg", manifest, credentials))
    rep = synthlabel.verify_file(tmp_path / "p.jpg", credentials=credentials)
    c2pa = rep.layers["c2pa"]
    assert rep.ok() and "from the sidecar p.c2pa" in c2pa.summary, rep.to_json()
    assert c2pa.details["sidecar"] == "p.c2pa"
    # the picture changed after signing: its detached manifest no longer matches
    (tmp_path / "p.jpg").write_bytes(out.data[:-200] + bytes(198) + out.data[-2:])
    rep = synthlabel.verify_file(tmp_path / "p.jpg", credentials=credentials, layers=("c2pa",))
    assert rep.layers["c2pa"].status is Status.INVALID, rep.layers["c2pa"].summary
    # in memory, given as sidecar=
    rep = synthlabel.verify_bytes(out.data, credentials=credentials, layers=("c2pa",),
                                  sidecar=(tmp_path / "p.c2pa").read_bytes())
    assert rep.layers["c2pa"].status is Status.OK


def test_a_labeled_photo_turned_by_a_quarter_is_still_verified(tmp_path, credentials, monkeypatch):
    """A labeled photo turned by a viewer or an app, through its EXIF Orientation alone (the
    pixels untouched): verify turned it upright as the tag says, and reported the visible label
    and the watermark missing. On a file that declares a label, the pixel layers are now also
    looked for in the other quarter turns, each watermark test counted as one of four."""
    import subprocess

    from conftest import require_tool

    from synthlabel import verify as V

    exiftool = require_tool("exiftool")
    out = synthlabel.label_image(synthetic_photo(480, 640, 21), format="jpeg", credentials=credentials)
    src = tmp_path / "labeled.jpg"
    src.write_bytes(out.data)
    upright = synthlabel.verify_file(src, credentials=credentials, layers=("explicit", "watermark"))
    assert upright.ok() and upright.layers["watermark"].details["turned"] == 0
    for orientation in (6, 3, 8):
        turned = tmp_path / f"o{orientation}.jpg"
        turned.write_bytes(out.data)
        subprocess.run([exiftool, "-q", "-overwrite_original", f"-IFD0:Orientation#={orientation}",
                        str(turned)], check=True)
        rep = synthlabel.verify_file(turned, credentials=credentials, layers=("explicit", "watermark"))
        ex, wm = rep.layers["explicit"], rep.layers["watermark"]
        assert ex.status.value == "ok" and wm.status.value == "ok", (orientation, ex.summary, wm.summary)
        assert wm.details["turned"] in (90, 180, 270) and "counter-clockwise" in wm.summary
        assert ex.details["turned"] == wm.details["turned"]
        assert rep.content_ids["watermark"] == out.content_id.hex
    # unlabeled pixels: one look (the picture as displayed), not four
    calls = []
    real = V.watermark.detect_image

    def counting(img, key):
        calls.append(img.shape)
        return real(img, key)

    plain = tmp_path / "plain.png"
    Image.fromarray(synthetic_photo(200, 300, 22)).save(plain)
    monkeypatch.setattr(V.watermark, "detect_image", counting)
    rep = synthlabel.verify_file(plain, credentials=credentials, layers=("watermark",))
    assert rep.layers["watermark"].status.value == "missing" and len(calls) == 1


def test_turns_all_finds_a_turned_screenshot_that_declares_nothing(tmp_path, credentials):
    """A labeled picture turned by a quarter and saved again without its metadata (a rotated
    screenshot) declares no label, so verify looked at it as displayed only and found neither
    the visible label nor the mark. ``turns="all"`` (``--turns all``) looks at every picture in
    all four quarter turns; "upright" never turns, even a file that declares a label."""
    from typer.testing import CliRunner

    from synthlabel.cli import app

    out = synthlabel.label_image(synthetic_photo(480, 640, 23), format="png", credentials=credentials)
    shot = tmp_path / "shot.png"
    Image.open(io.BytesIO(out.data)).rotate(90, expand=True).save(shot)   # no metadata kept
    layers = ("explicit", "watermark")
    auto = synthlabel.verify_file(shot, credentials=credentials, layers=layers)
    assert auto.layers["watermark"].status is Status.MISSING
    assert auto.layers["explicit"].status is Status.MISSING
    every = synthlabel.verify_file(shot, credentials=credentials, layers=layers, turns="all")
    assert every.ok(), every.to_json()
    assert every.layers["watermark"].details["turned"] == 270
    assert every.layers["explicit"].details["turned"] == 270
    assert every.content_ids["watermark"] == out.content_id.hex
    # in memory too; and the labeled file as it came out is read upright under every mode
    assert synthlabel.verify_bytes(shot.read_bytes(), credentials=credentials, layers=layers,
                                   turns="all").ok()
    for mode in ("auto", "all", "upright"):
        assert synthlabel.verify_bytes(out.data, credentials=credentials, layers=layers, turns=mode).ok()
    # upright: a turned file that declares a label is not turned back
    turned = tmp_path / "turned.png"
    turned.write_bytes(out.data)
    Image.open(io.BytesIO(out.data)).rotate(90, expand=True).save(
        turned, pnginfo=_copied_text(Image.open(io.BytesIO(out.data))))
    assert synthlabel.verify_file(turned, credentials=credentials, layers=layers).ok()
    up = synthlabel.verify_file(turned, credentials=credentials, layers=layers, turns="upright")
    assert up.layers["watermark"].status is Status.MISSING
    with pytest.raises(ValueError, match="auto, all, upright"):
        synthlabel.verify_file(shot, credentials=credentials, turns="sideways")
    # the CLI: --turns all, and a clear error for an unknown mode
    runner = CliRunner()
    res = runner.invoke(app, ["verify", str(shot), "--layers", "watermark", "--turns", "all", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout.splitlines()[0])["layers"]["watermark"]["details"]["turned"] == 270
    res = runner.invoke(app, ["verify", str(shot), "--turns", "sideways"])
    assert res.exit_code == 2 and "--turns" in res.output


def _copied_text(im: Image.Image) -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    for k, v in im.text.items():
        info.add_itxt(k, v) if k.startswith("XML") else info.add_text(k, v)
    return info


def test_a_format_c2pa_does_not_handle_is_unsigned_not_an_error(credentials):
    """A BMP (c2pa does not handle the format) was a C2PA "error" in verify, where a GIF or TIFF
    without a manifest is "missing"; with no manifest store in it, it is missing too."""
    for fmt in ("BMP", "GIF", "TIFF"):
        buf = io.BytesIO()
        Image.fromarray(synthetic_photo(60, 80, 3)).save(buf, fmt)
        c2 = synthlabel.verify_bytes(buf.getvalue(), credentials=credentials, layers=("c2pa",)).layers["c2pa"]
        assert c2.status is Status.MISSING, (fmt, c2.summary)


def _other_tools_manifest(credentials, jpeg: bytes, *, embed: bool, aigc: dict | None = None) -> bytes:
    """A manifest another tool makes with c2pa-python (our development signer): the signed
    JPEG (``embed``) or a detached manifest store."""
    import c2pa

    assertions = [{"label": "c2pa.actions", "data": {"actions": [{
        "action": "c2pa.created",
        "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"}]}}]
    if aigc is not None:
        assertions.append({"label": "org.synthlabel.aigc", "data": aigc})
    manifest = {"claim_generator_info": [{"name": "other-tool", "version": "1"}], "title": "x",
                "assertions": assertions}
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(b"es256", credentials.cert_chain_pem,
                                                        credentials.private_key_pem, None))
    builder = c2pa.Builder(json.dumps(manifest))
    out = io.BytesIO()
    if not embed:
        builder.set_no_embed()
        return builder.sign(signer, "image/jpeg", io.BytesIO(jpeg), out)
    builder.sign(signer, "image/jpeg", io.BytesIO(jpeg), out)
    return out.getvalue()


def _jpeg(comment: bytes = b"", xmp: bytes | None = None) -> bytes:
    buf = io.BytesIO()
    kw = {"xmp": xmp} if xmp else {}
    Image.fromarray(synthetic_photo(160, 200, 5)).save(buf, "JPEG", quality=90, comment=comment, **kw)
    return buf.getvalue()


def test_a_pictures_sidecar_is_read_whatever_its_bytes_say(tmp_path, credentials):
    """A picture's detached manifest (.c2pa beside it) was looked for only when the bytes
    "c2pa" were nowhere in the file: a JPEG comment mentioning C2PA (or 1 JPEG in ~1000, by
    chance) made a trusted manifest "missing" (found by QA helper). A broken sidecar's error
    names the sidecar."""
    for name, comment in (("plain", b"hello"), ("word", b"provenance: see the c2pa sidecar")):
        data = _jpeg(comment)
        (tmp_path / f"{name}.jpg").write_bytes(data)
        (tmp_path / f"{name}.c2pa").write_bytes(_other_tools_manifest(credentials, data, embed=False))
        rep = synthlabel.verify_file(tmp_path / f"{name}.jpg", credentials=credentials, layers="c2pa")
        assert rep.layers["c2pa"].status is Status.OK, (name, rep.layers["c2pa"])
        assert f"from the sidecar {name}.c2pa" in rep.layers["c2pa"].summary
    (tmp_path / "broken.jpg").write_bytes(_jpeg())
    (tmp_path / "broken.c2pa").write_bytes(b"garbage\n")
    rep = synthlabel.verify_file(tmp_path / "broken.jpg", credentials=credentials, layers="c2pa")
    assert rep.layers["c2pa"].status is Status.INVALID
    assert rep.layers["c2pa"].summary.endswith("(in the sidecar broken.c2pa)"), rep.layers["c2pa"]


def test_a_label_without_propagator_fields_agrees_with_its_manifest(credentials):
    """A label that leaves out ContentPropagator / PropagateID (they default to the
    producer's) was called invalid, "disagrees with the signed C2PA manifest" ('' vs 'acme'),
    against a manifest that spells them out (found by QA helper). A real difference still
    makes it invalid."""
    signed = {"Label": "1", "ContentProducer": "acme", "ProduceID": "x1", "ReservedCode1": "",
              "ContentPropagator": "acme", "PropagateID": "x1", "ReservedCode2": ""}

    def xmp(label: str) -> bytes:
        return ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/'
                '02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:TC260="http://www.'
                'tc260.org.cn/ns/AIGC/1.0/"><TC260:AIGC>' + label.replace('"', "&quot;")
                + "</TC260:AIGC></rdf:Description></rdf:RDF></x:xmpmeta>").encode()

    for produce_id, status in (("x1", Status.OK), ("x2", Status.INVALID)):
        label = '{"Label":"1","ContentProducer":"acme","ProduceID":"%s"}' % produce_id
        data = _other_tools_manifest(credentials, _jpeg(xmp=xmp(label)), embed=True, aigc=signed)
        rep = synthlabel.verify_bytes(data, credentials=credentials, layers="metadata,c2pa")
        assert rep.layers["c2pa"].status is Status.OK, rep.layers["c2pa"]
        assert rep.layers["metadata"].status is status, rep.layers["metadata"]
    assert "ProduceID 'x2' vs 'x1'" in rep.layers["metadata"].summary


def test_a_bad_label_text_raises_instead_of_failing_every_file(tmp_path, credentials):
    """verify_file(label_text="") reported a valid labeled file as failed ("internal error
    (ValueError)"), and a batch every file (found by QA helper); label_text=5 was a TypeError
    from inside. Both raise ValueError before any file is read, as bad layers do."""
    from synthlabel.verify import verify_files

    path = tmp_path / "a.png"
    path.write_bytes(synthlabel.label_image(synthetic_photo(120, 160, 2), credentials=credentials).data)
    for bad in ("", 5, ["AI生成", ""]):
        with pytest.raises(ValueError, match="label texts must be"):
            synthlabel.verify_file(path, credentials=credentials, label_text=bad)
        with pytest.raises(ValueError, match="label texts must be"):
            synthlabel.verify_bytes(path.read_bytes(), credentials=credentials, label_text=bad)
        with pytest.raises(ValueError, match="label texts must be"):
            next(verify_files([path], label_text=bad, key=credentials.watermark_key))
    assert synthlabel.verify_file(path, credentials=credentials, label_text="AI生成").ok()


def test_a_transparent_label_is_not_a_visible_label(credentials):
    """A labeled PNG whose label was made transparent (alpha 0, or 12: all but invisible)
    passed the explicit check, which read the colour channels alone (found by QA helper). The
    check looks at the picture composited onto white and black; our own labels on a
    half-transparent picture still pass."""
    rgb = synthetic_photo(600, 800, 4)
    alpha = np.full((600, 800), 255, np.uint8)
    alpha[300:, 400:] = 128                       # the label's corner half transparent
    out = synthlabel.label_image(np.dstack([rgb, alpha]), credentials=credentials)
    rep = synthlabel.verify_bytes(out.data, credentials=credentials, layers="explicit")
    assert rep.layers["explicit"].status is Status.OK, rep.layers["explicit"]
    a = np.array(Image.open(io.BytesIO(out.data)).convert("RGBA"))
    for level in (0, 12):
        a[520:, 640:, 3] = level
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, "PNG")
        rep = synthlabel.verify_bytes(buf.getvalue(), credentials=credentials, layers="explicit")
        assert rep.layers["explicit"].status is Status.MISSING, (level, rep.layers["explicit"])
        assert "transparency taken into account" in rep.layers["explicit"].summary


def test_the_plate_on_transparent_pixels_keeps_its_rounded_corners(credentials):
    """On transparent pixels the label's whole box was made opaque: a square plate with the
    hidden colours showing at its rounded corners (found by QA helper). Only the plate is
    made opaque; the label is still found."""
    rgb = synthetic_photo(600, 800, 4)
    alpha = np.full((600, 800), 255, np.uint8)
    alpha[300:, 400:] = 0
    out = synthlabel.label_image(np.dstack([rgb, alpha]), credentials=credentials)
    got = np.asarray(Image.open(io.BytesIO(out.data)))[..., 3]
    ys, xs = np.nonzero(got[300:, 400:])
    y0, x0, y1, x1 = ys.min() + 300, xs.min() + 400, ys.max() + 300, xs.max() + 400
    corners = [got[y0, x0], got[y0, x1], got[y1, x0], got[y1, x1]]
    assert corners == [0, 0, 0, 0], corners                 # outside the rounded corners
    assert got[(y0 + y1) // 2, (x0 + x1) // 2] == 255         # the plate itself
    rep = synthlabel.verify_bytes(out.data, credentials=credentials, layers="explicit")
    assert rep.layers["explicit"].status is Status.OK


def test_library_verify_never_creates_development_credentials(credentials, tmp_path, monkeypatch):
    """verify_bytes / verify_file with the default credentials created development ones in an
    empty home (and then checked the watermark against a key made that instant), or raised
    where the home was unwritable; the CLI and the README say verify never creates them
    (found by QA helper). Without them the watermark is left unchecked."""
    out = synthlabel.label_image(synthetic_photo(240, 320, 5), format="png", credentials=credentials)
    home = tmp_path / "reader"
    monkeypatch.setenv("SYNTHLABEL_HOME", str(home))
    for var in ("SYNTHLABEL_WATERMARK_KEY", "SYNTHLABEL_CERT_CHAIN", "SYNTHLABEL_PRIVATE_KEY"):
        monkeypatch.delenv(var, raising=False)
    rep = synthlabel.verify_bytes(out.data)
    assert not home.exists()
    assert rep.layers["watermark"].status is Status.SKIPPED and rep.layers["metadata"].status is Status.OK
    (tmp_path / "x.png").write_bytes(out.data)
    assert synthlabel.verify_file(tmp_path / "x.png").layers["c2pa"].status is Status.WEAK   # untrusted here
    assert not home.exists()
    # the key and anchors the environment names are used, as the CLI uses them
    (tmp_path / "wm.key").write_text(credentials.watermark_key.hex())
    (tmp_path / "wm.key").chmod(0o600)
    (tmp_path / "roots.pem").write_bytes(credentials.trust_anchors_pem)
    monkeypatch.setenv("SYNTHLABEL_WATERMARK_KEY", str(tmp_path / "wm.key"))
    monkeypatch.setenv("SYNTHLABEL_TRUST_ANCHORS", str(tmp_path / "roots.pem"))
    rep = synthlabel.verify_file(tmp_path / "x.png")
    assert {k: v.status for k, v in rep.layers.items()} == dict.fromkeys(rep.layers, Status.OK), rep
    assert not home.exists()
