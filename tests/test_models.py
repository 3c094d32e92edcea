"""The data models: the GB 45438 AIGC label, label specs and reports."""
from __future__ import annotations

import json

import pytest

from synthlabel.models import (AIGCLabel, ContentID, LabelError, LabelSpec, LayerReport,
                               Status, VerificationReport, check_label_text)

CODE = "001191110102MAD55U9H0F10002"  # the TC260 example: generation service


def test_first_write_copies_producer_into_propagator_fields():
    lab = AIGCLabel.create(producer=CODE, produce_id="0123456789abcdef", reserved_code1="sig")
    assert lab.content_propagator == CODE
    assert lab.propagate_id == "0123456789abcdef"
    assert lab.reserved_code2 == "sig"
    assert lab.label == "1"


def test_serialises_to_wrapped_and_inner_forms_and_parses_both():
    lab = AIGCLabel.create(producer="svc", produce_id="abc")
    inner = json.loads(lab.to_inner_json())
    wrapped = json.loads(lab.to_wrapped_json())
    assert list(inner) == ["Label", "ContentProducer", "ProduceID", "ReservedCode1",
                           "ContentPropagator", "PropagateID", "ReservedCode2"]
    assert wrapped == {"AIGC": inner}
    assert all(isinstance(v, str) for v in inner.values())
    assert " " not in lab.to_wrapped_json()
    assert AIGCLabel.parse(lab.to_inner_json()) == lab
    assert AIGCLabel.parse(lab.to_wrapped_json().encode()) == lab


@pytest.mark.parametrize("value", ["1", "2", "3"])
def test_label_values(value):
    assert AIGCLabel.create(producer="p", produce_id="i", label=value).label == value


@pytest.mark.parametrize("bad", ["0", "4", "", "01", 1])
def test_label_value_refused(bad):
    with pytest.raises(LabelError):
        AIGCLabel.create(producer="p", produce_id="i", label=bad)


@pytest.mark.parametrize("bad", ["has space", 'a\\"b', "back\\slash", "生成", "tab\t", "\x7f"])
def test_annex_e_character_set_enforced(bad):
    with pytest.raises(LabelError, match="Annex E"):
        AIGCLabel.create(producer=bad, produce_id="i")


def test_quote_is_allowed_and_written_escaped():
    """Annex E's '\\" escapes allowed' is the JSON text: a quote in a value is written \\",
    and parsed back; a backslash is refused (above)."""
    lab = AIGCLabel.create(producer='Acme"X', produce_id="i")
    assert '"ContentProducer":"Acme\\"X"' in lab.to_wrapped_json()
    assert AIGCLabel.parse(lab.to_wrapped_json()).content_producer == 'Acme"X'


def test_source_type_problem():
    from synthlabel.models import DST_COMPOSITE, DST_PREFIX, DST_TRAINED, source_type_problem

    assert source_type_problem(DST_TRAINED) is None and source_type_problem(DST_COMPOSITE) is None
    assert "not the full IPTC URI" in source_type_problem("trainedAlgorithmicMedia")
    assert "'digitalCapture' does not declare AI" in source_type_problem(DST_PREFIX + "digitalCapture")
    assert source_type_problem(None) == "no digital source type"


def test_required_fields():
    with pytest.raises(LabelError, match="ContentProducer"):
        AIGCLabel.create(producer="", produce_id="i")
    with pytest.raises(LabelError, match="ProduceID"):
        AIGCLabel.create(producer="p", produce_id="")
    with pytest.raises(LabelError, match="lacks the required key"):
        AIGCLabel.parse('{"AIGC":{"Label":"1","ContentProducer":"p"}}')
    with pytest.raises(LabelError, match="unknown keys"):
        AIGCLabel.parse('{"Label":"1","ContentProducer":"p","ProduceID":"i","Extra":"x"}')
    with pytest.raises(LabelError, match="not valid JSON"):
        AIGCLabel.parse("{nope")


def test_tc260_code_structure_checked():
    assert AIGCLabel.create(producer=CODE, produce_id="i").content_producer == CODE
    with pytest.raises(LabelError, match="service type"):  # a propagation code as producer
        AIGCLabel.create(producer=CODE[:22] + "2" + CODE[23:], produce_id="i")
    with pytest.raises(LabelError, match="TC260"):  # 'I' is not in the credit-code alphabet
        AIGCLabel.create(producer=CODE[:6] + "I" + CODE[7:], produce_id="i")
    with pytest.raises(LabelError, match="TC260"):  # service type must be 1 or 2
        AIGCLabel.create(producer=CODE[:22] + "7" + CODE[23:], produce_id="i")
    prop = CODE[:22] + "2" + CODE[23:]
    lab = AIGCLabel.create(producer=CODE, produce_id="i", propagator=prop, propagate_id="j")
    assert lab.content_propagator == prop
    with pytest.raises(LabelError, match="propagation"):
        AIGCLabel.create(producer="svc", produce_id="i", propagator=CODE)
    # a plain name is not a code and is not checked as one
    assert AIGCLabel.create(producer="0011short", produce_id="i")


def test_content_id():
    cid = ContentID(0x0123456789ABCDEF)
    assert cid.hex == "0123456789abcdef" and ContentID.parse(cid.hex) == cid
    assert cid.to_bytes() == bytes.fromhex("0123456789abcdef")
    assert ContentID.new() != ContentID.new()
    for bad in (-1, 2**64):
        with pytest.raises(LabelError):
            ContentID(bad)
    with pytest.raises(LabelError):
        ContentID.parse("xyz")
    assert AIGCLabel.create(producer="p", produce_id=cid.hex).content_id == cid
    assert AIGCLabel.create(producer="p", produce_id="other").content_id is None


@pytest.mark.parametrize("text", ["AI生成", "AI合成", "人工智能生成合成", "AI-generated AI生成", "由AI生成"])
def test_conforming_label_texts(text):
    check_label_text(text)
    assert LabelSpec(text=text).text == text


@pytest.mark.parametrize("text", ["AI", "生成", "AI-generated", "人工智能", ""])
def test_nonconforming_label_texts(text):
    with pytest.raises(LabelError):
        check_label_text(text)
    with pytest.raises(LabelError):
        LabelSpec(text=text)
    if text:
        assert LabelSpec(text=text, allow_nonconforming_text=True).text == text


def test_label_spec_validation():
    assert LabelSpec().aigc_for(ContentID(5)).produce_id == "0000000000000005"
    with pytest.raises(LabelError):
        LabelSpec(producer="bad name")
    with pytest.raises(LabelError):
        LabelSpec(jpeg_quality=0)
    with pytest.raises(LabelError):
        LabelSpec(digital_source_type="trainedAlgorithmicMedia")  # must be the full URI
    with pytest.raises(ValueError):
        LabelSpec(position="middle")
    with pytest.raises(LabelError):
        LabelSpec(cue_where="middle")
    # a character the bundled font cannot draw failed each picture of a batch, with advice
    # (font_path=) no LabelSpec or CLI option takes
    with pytest.raises(LabelError, match="no glyph for '🤖'.*use a label text without it"):
        LabelSpec(text="AI生成 🤖")
    LabelSpec(text="AI生成 🤖", explicit=False)         # nothing is drawn
    # every layer off labeled nothing and said "labeled 1 file(s)"
    with pytest.raises(LabelError, match="every layer is switched off"):
        LabelSpec(explicit=False, metadata=False, watermark=False, c2pa=False)
    for on in ("explicit", "metadata", "watermark", "c2pa"):
        LabelSpec(**{k: k == on for k in ("explicit", "metadata", "watermark", "c2pa")})
    with pytest.raises(LabelError, match="finite time"):
        LabelSpec(video_label_seconds=float("inf"))


def test_verification_report_json_and_verdict():
    rep = VerificationReport(path="x.png", media_type="image/png")
    for name in ("explicit", "metadata", "watermark", "c2pa"):
        rep.layers[name] = LayerReport(Status.OK, "fine")
    rep.content_ids = {"metadata": "00000000000000aa", "watermark": "00000000000000aa"}
    d = json.loads(rep.to_json())
    assert d["ok"] is True and d["ids_agree"] is True and d["status"] == "ok"
    assert d["layers"]["c2pa"]["status"] == "ok"
    rep.content_ids["c2pa"] = "00000000000000bb"
    assert rep.ids_agree is False and not rep.ok()
    assert json.loads(rep.to_json())["status"] == "fail"      # the text's FAIL
    rep.content_ids.pop("c2pa")
    rep.layers["c2pa"] = LayerReport(Status.SKIPPED)
    # by default judged on the layers that were checked, as the JSON and the CLI judge it
    assert rep.ok() and json.loads(rep.to_json())["ok"] is True
    assert not rep.ok(("explicit", "metadata", "watermark", "c2pa"))  # c2pa asked, not checked
    assert rep.ok(("explicit", "metadata", "watermark"))
    rep.error = "boom"
    assert not rep.ok(("explicit",)) and json.loads(rep.to_json())["status"] == "error"


@pytest.mark.parametrize("kw", [{"video_codec": "av1"}, {"video_crf": 64}, {"video_preset": "bogus"},
                                {"video_codec": "h264", "video_crf": 52}])
def test_video_options_are_checked_up_front(kw):
    """A bad video option is a usage error before any file is touched (it used to fail each
    video of a batch with the encoder's message)."""
    with pytest.raises(LabelError):
        LabelSpec(**kw)
    LabelSpec(video_codec="h265", video_crf=28, video_preset="slow")


def test_republishing_keeps_the_producer_and_sets_the_propagator():
    from synthlabel.models import ContentID

    prop = CODE[:22] + "2" + CODE[23:]
    cid = ContentID(0xABCDEF)
    prior = AIGCLabel.create(producer=CODE, produce_id="gen-20250901-0001", reserved_code1="sig1")
    lab = LabelSpec(propagator=prop).aigc_for(cid, prior)
    assert (lab.content_producer, lab.produce_id, lab.reserved_code1) == (CODE, "gen-20250901-0001", "sig1")
    assert (lab.content_propagator, lab.propagate_id, lab.reserved_code2) == (prop, cid.hex, "")
    fresh = LabelSpec(producer=CODE, propagator=prop).aigc_for(cid)     # an input with no label
    assert (fresh.content_producer, fresh.produce_id, fresh.content_propagator) == (CODE, cid.hex, prop)
    first = LabelSpec(producer=CODE).aigc_for(cid, prior)               # no propagator: first write
    assert (first.content_producer, first.produce_id, first.content_propagator) == (CODE, cid.hex, CODE)
    with pytest.raises(LabelError, match="propagation"):                # a generation code as propagator
        LabelSpec(propagator=CODE[:22] + "1" + CODE[23:] + "")
    # metadata off: the input's label is kept as it is (producer or propagator alike)
    for spec in (LabelSpec(metadata=False), LabelSpec(metadata=False, propagator=prop)):
        assert spec.kept_label(prior) is prior and spec.aigc_for(cid, prior) is prior
        assert spec.kept_label(None) is None and spec.aigc_for(cid).produce_id == cid.hex
    assert LabelSpec().kept_label(prior) is None


@pytest.mark.parametrize("kw, msg", [
    ({"jpeg_quality": 92.5}, "jpeg_quality must be a whole number"),
    ({"jpeg_quality": "92"}, "jpeg_quality must be a whole number"),
    ({"jpeg_quality": True}, "jpeg_quality must be a whole number"),
    ({"explicit": "no"}, "explicit must be True or False"),
    ({"cue_tone_hz": "1k"}, "cue_tone_hz must be a number"),
    ({"video_label_seconds": float("nan")}, "video_label_seconds must be a number"),
])
def test_label_spec_checks_types_up_front(kw, msg):
    """A fractional or string quality failed at encode time, after the watermark work, with
    Pillow's message; True was taken as quality 1, and explicit='no' switched the layer on."""
    with pytest.raises(LabelError, match=msg):
        LabelSpec(**kw)


def test_label_spec_takes_numpy_scalars_as_python_values():
    import numpy as np

    spec = LabelSpec(jpeg_quality=np.int64(80), cue_tone_hz=np.float32(900.0), explicit=np.bool_(True))
    assert (spec.jpeg_quality, spec.cue_tone_hz, spec.explicit) == (80, 900.0, True)
    assert type(spec.jpeg_quality) is int and type(spec.cue_tone_hz) is float and type(spec.explicit) is bool


def test_label_spec_choices_take_common_spellings_and_name_the_choices_otherwise():
    """``LabelSpec(position="center")`` raised the enum's bare "'center' is not a valid
    Position"; "jpg" and "BOTTOM_RIGHT", which users write, were refused alike."""
    from synthlabel.models import OutputFormat, Position

    spec = LabelSpec(position="BOTTOM_RIGHT", output_format="jpg")
    assert spec.position is Position.BOTTOM_RIGHT and spec.output_format is OutputFormat.JPEG
    with pytest.raises(LabelError, match="position must be one of top-left, .*bottom-right; got 'center'"):
        LabelSpec(position="center")
    with pytest.raises(LabelError, match="output_format must be one of same, jpeg, png, webp; got 'gif'"):
        LabelSpec(output_format="gif")


def test_near_miss_labels_are_read_or_said_plainly():
    """A BOM before the JSON failed with Python's advice ("decode using utf-8-sig"); keys in
    another case were "unknown keys" with no word of the case; a JSON null was "NoneType"."""
    label = AIGCLabel.create(producer="x", produce_id="0123456789abcdef")
    assert AIGCLabel.parse("\ufeff" + label.to_wrapped_json()) == label
    assert AIGCLabel.parse(b"\xef\xbb\xbf" + label.to_inner_json().encode()) == label
    lower = {k[0].lower() + k[1:]: v for k, v in label.to_dict().items()}
    with pytest.raises(LabelError, match=r"case-sensitive: 'contentProducer' should be "
                                         r"'ContentProducer', .* and 5 more\)"):
        AIGCLabel.parse(json.dumps(lower))
    with pytest.raises(LabelError, match="ReservedCode1 must be a string, got null$"):
        AIGCLabel.parse(json.dumps(dict(label.to_dict(), ReservedCode1=None)))
    with pytest.raises(LabelError, match="PropagateID must be a string, got a number$"):
        AIGCLabel.parse(json.dumps(dict(label.to_dict(), PropagateID=12)))


def test_video_options_that_did_not_apply_are_settled():
    """--video-cue with --no-explicit was dropped without a word, and --persistent with
    --label-seconds 1 was refused with a message that suggested --persistent (found by QA
    helper): the first is refused, naming why; the second is taken (shown throughout)."""
    with pytest.raises(LabelError, match="--video-cue.*--no-explicit"):
        LabelSpec(explicit=False, video_audio_cue=True)
    assert LabelSpec(video_persistent=True, video_label_seconds=1.0).video_persistent
    with pytest.raises(LabelError, match="at least 2 s"):
        LabelSpec(video_label_seconds=1.0)


@pytest.mark.parametrize("kw, what", [({"cue_tone_hz": -5}, "cue tone"), ({"cue_unit_ms": 0}, "cue unit"),
                                      ({"cue_level_dbfs": 10}, "cue level")])
def test_cue_settings_out_of_range_are_refused_when_the_spec_is_made(kw, what):
    """They were accepted, and every label_audio call with the spec then failed."""
    with pytest.raises(LabelError, match=what):
        LabelSpec(**kw)
