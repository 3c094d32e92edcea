"""Verify every layer of a file independently and cross-check the content IDs.

Each check is isolated: one layer failing to parse never hides what the others found.
"""
from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterator
from contextlib import closing
from functools import partial
from pathlib import Path

import numpy as np

from . import watermark
from .batch import init_worker_process, one_line, pool_map, worker_count
from .core import audio_cue, text_label
from .core import wm_audio_params as _AP
from .formats import audio_io, audio_meta, image_codec, image_meta
from .formats.sniff import UnsupportedMedia, sniff_data, sniff_streams
from .fsutil import broken_link
from .models import (DST_COMPOSITE, LAYERS, AIGCLabel, ContentID, LabelError, LayerReport, Status,
                     VerificationReport, label_texts, source_type_problem)
from .provenance import c2pa_io


def looked_for(texts: tuple[str, ...]) -> str:
    """How a report names the label texts it looked for."""
    return repr(texts[0]) if len(texts) == 1 else "visible AI"


#: A visible label whose glyphs measure under this fraction of the short side is "weak".
GLYPH_FRAC_WEAK = 0.049


#: Quarter turns (counter-clockwise) of the picture the pixel layers are looked for in, after
#: the picture as displayed, when a file declares a label (AIGC metadata or a C2PA manifest)
#: and they are not found upright: a photo turned by a viewer or an app, its pixels or only
#: its EXIF Orientation (both layers were reported missing). Every watermark test is one of
#: len(TURNS) then (Bonferroni, as for several keys).
TURNS = (0, 1, 2, 3)
#: Which quarter turns verify looks at (``turns=``): "auto" all of TURNS for a file that
#: declares a label, the picture as displayed otherwise; "all" every file in all of TURNS (a
#: turned screenshot keeps no metadata to say it is labeled; four looks cost four times the
#: watermark search, and each test counts as one of four); "upright" as displayed only.
TURN_MODES = ("auto", "all", "upright")


def turn_mode(turns: str) -> str:
    """``turns`` checked against :data:`TURN_MODES` (ValueError naming them otherwise; a
    TypeError for what is not a str)."""
    if not isinstance(turns, str):
        raise TypeError(f"turns must be a str, one of {', '.join(TURN_MODES)}, got {type(turns).__name__}")
    if turns not in TURN_MODES:
        raise ValueError(f"turns must be one of {', '.join(TURN_MODES)}, got {turns!r}")
    return turns


def _turned(rgb: np.ndarray, turn: int) -> np.ndarray:
    return np.ascontiguousarray(np.rot90(rgb, turn)) if turn else rgb


def _turn_note(turn: int) -> str:
    return f" (with the picture turned {90 * turn}° counter-clockwise)" if turn else ""


def _explicit(rgb, texts: tuple[str, ...], turns: tuple[int, ...] = (0,)) -> LayerReport:
    found = None
    for turn in turns:
        text, det = text_label.detect_any(_turned(rgb, turn), texts)
        if found is None or det.found:
            found = (text, det, turn)       # upright's finding, unless a turn finds it
        if det.found:
            break
    text, det, turn = found
    details = dict(det.to_dict(), text=text if det.found else None, looked_for=list(texts),
                   turned=90 * turn if det.found else None)
    if det.found and det.glyph_frac is not None and det.glyph_frac < GLYPH_FRAC_WEAK:
        # GB 45438: the glyphs at least 5 % of the short side. The match measures in steps of
        # ~6 %, so only a label that matched below 4.9 % is called small (ours are drawn at 5.4).
        return LayerReport(Status.WEAK, f"label {text!r} found at {det.position}{_turn_note(turn)}, "
                                        f"but its glyphs measure about {100 * det.glyph_frac:.1f} % "
                                        f"of the short side (GB 45438: at least 5 %)", details)
    if det.found:
        return LayerReport(Status.OK, f"label {text!r} found at {det.position}{_turn_note(turn)}",
                           details)
    return LayerReport(Status.MISSING, f"no {looked_for(texts)} label found on an edge or corner "
                                       f"(looked for {', '.join(texts)})", details)




def _explicit_shown(rgb, alpha, texts: tuple[str, ...], turns: tuple[int, ...] = (0,)) -> LayerReport:
    """:func:`_explicit` on what a viewer sees: a picture with transparency is looked at
    composited onto white and, where the label is not seen there, onto black (a label made
    transparent passed, read from the colour channels alone)."""
    if alpha is None or int(alpha.min()) == 255:
        return _explicit(rgb, texts, turns)
    a = alpha.astype(np.float32)[..., None] / 255.0
    first = None
    for name, bg in (("white", 255.0), ("black", 0.0)):
        shown = (rgb.astype(np.float32) * a + bg * (1.0 - a) + 0.5).astype(np.uint8)
        rep = _explicit(shown, texts, turns)
        rep.details["background"] = name
        if rep.status in (Status.OK, Status.WEAK):
            return rep
        first = first or rep
    first.summary += " (the picture's transparency taken into account)"
    return first


def metadata_report(meta, *, expect_dst: bool = True) -> tuple[LayerReport, str | None]:
    """Judge an image or audio metadata finding (same shape for both). ``expect_dst``: the
    container has a standard place for IPTC DigitalSourceType (WAV has none)."""
    details = {
        "source": meta.source,
        "count": meta.aigc_count,
        "aigc": meta.aigc.to_dict() if meta.aigc else None,
        "raw": meta.raw if meta.aigc is None else None,
        "digital_source_type": meta.digital_source_type,
        "errors": meta.errors,
        "labels": meta.labels,
    }
    cid = _metadata_content_id(meta.aigc) if meta.aigc else None
    if meta.errors and meta.aigc is None:
        return LayerReport(Status.INVALID, "AIGC label present but invalid: " + "; ".join(meta.errors), details), None
    if meta.aigc is None:
        return LayerReport(Status.MISSING, "no AIGC metadata label", details), None
    if meta.aigc_count > 1:
        return LayerReport(Status.INVALID, f"{meta.aigc_count} AIGC labels{_each_label(details['labels'])}; "
                           f"GB 45438 allows exactly one", details), cid
    summary = f"AIGC Label={meta.aigc.label} producer={meta.aigc.content_producer} ProduceID={meta.aigc.produce_id}"
    a = meta.aigc
    if (a.content_propagator or a.propagate_id) and \
            (a.content_propagator, a.propagate_id) != (a.content_producer, a.produce_id):
        summary += f" propagator={a.content_propagator} PropagateID={a.propagate_id}"
    if not meta.digital_source_type and expect_dst:
        summary += " (no IPTC DigitalSourceType)"
    elif meta.digital_source_type and (why := source_type_problem(meta.digital_source_type)):
        # The IPTC field contradicts the AIGC label (a camera capture) or is not the full URI.
        return LayerReport(Status.WEAK, f"{summary}, but the IPTC {why}", details), cid
    return LayerReport(Status.OK, summary, details), cid


def _each_label(labels: list[dict]) -> str:
    """Where each of several labels is and what it says, for the summary: " (xmp: Label=1
    ProduceID=abc; png-text: Label=3 ProduceID=zzz, they disagree)"."""
    if not labels:
        return ""
    said = [f"{x['source']}: Label={x['aigc']['Label']} ProduceID={x['aigc']['ProduceID']}"
            if "aigc" in x else f"{x['source']}: invalid" for x in labels]
    parsed = {json.dumps(x["aigc"], sort_keys=True) for x in labels if "aigc" in x}
    return f" ({'; '.join(said)}{', they disagree' if len(parsed) > 1 else ''})"


def _metadata_content_id(aigc: AIGCLabel) -> str | None:
    """The content ID the metadata label gives: its ProduceID when that is one of ours (16 hex
    digits), else the PropagateID of a re-publisher's label (ours re-publishing another
    producer's file, whose ProduceID is theirs): that is what our watermark and manifest
    carry, and it went unchecked."""
    if aigc.content_id is not None:
        return aigc.content_id.hex
    if aigc.content_propagator and aigc.content_propagator != aigc.content_producer:
        try:
            return ContentID.parse(aigc.propagate_id).hex
        except LabelError:
            return None
    return None


#: The AIGC fields a signed manifest's assertion must share with the file's metadata label.
_AIGC_COMPARED = ("Label", "ContentProducer", "ProduceID", "ContentPropagator", "PropagateID")


def _manifest_agrees(report: VerificationReport) -> None:
    """The manifest's AIGC assertion is signed and the metadata is not: where both are there
    and the manifest's signature holds, a field they do not share makes the metadata label
    invalid (a trusted manifest saying another producer or ProduceID passed, all layers OK)."""
    meta, c2 = report.layers.get("metadata"), report.layers.get("c2pa")
    if meta is None or c2 is None or c2.status not in (Status.OK, Status.WEAK):
        return
    ours = (meta.details or {}).get("aigc")
    theirs = (c2.details or {}).get("aigc")
    if not ours or not isinstance(theirs, dict):
        return
    def fields(label: dict) -> dict:
        # a label that leaves the propagator fields out is its producer's own first write:
        # they default to the producer's (models.AIGCLabel), on either side
        got = {k: str(label.get(k, "") or "") for k in _AIGC_COMPARED}
        for prop, prod in (("ContentPropagator", "ContentProducer"), ("PropagateID", "ProduceID")):
            got[prop] = got[prop] or got[prod]
        return got

    mine, signed = fields(ours), fields(theirs)
    differ = [f"{k} {mine[k]!r} vs {signed[k]!r}" for k in _AIGC_COMPARED if mine[k] != signed[k]]
    if differ:
        meta.status = Status.INVALID
        meta.summary += f"; disagrees with the signed C2PA manifest's AIGC ({', '.join(differ)})"
        meta.details["manifest_disagrees"] = differ


def key_match(details: dict, keys: tuple[bytes, ...], index: int, found: bool) -> str:
    """Record which of several watermark keys matched (``details["keys"]``: how many were
    tried, the matching one's position and fingerprint, never the key) and return the words
    the summary adds. One key: nothing is added, reports look as they always did."""
    if len(keys) == 1:
        return ""
    fp = watermark.key_fingerprint(keys[index]) if found else None
    details["keys"] = {"tried": len(keys), "index": index + 1 if found else None, "fingerprint": fp}
    return f", key {index + 1} of {len(keys)}: fingerprint {fp}" if found else ""


def for_keys(keys: tuple[bytes, ...]) -> str:
    return "this key" if len(keys) == 1 else f"any of the {len(keys)} keys"


def _watermark(rgb, key, turns: tuple[int, ...] = (0,), prefer=()) -> tuple[LayerReport, str | None]:
    keys = watermark.watermark_keys(key)
    best = None
    for turn in turns:
        img = _turned(rgb, turn)
        det, i = watermark.detect_with_keys(lambda k: watermark.detect_image(img, k), keys, prefer)
        if len(turns) > 1:
            det = watermark.bonferroni(det, len(turns))
        if best is None or det.detected or det.p_value < best[0].p_value:
            best = (det, i, turn)
        if det.detected:
            break
    det, i, turn = best
    details = det.to_dict()
    details["alg"] = watermark.IMAGE_ALG
    details["turned"] = 90 * turn if det.detected else None
    which = key_match(details, keys, i, det.detected)
    # A CRC-checked payload with a significant presence test is a finding, even on an image
    # the embedder flagged as low-capacity; "weak" is for marks seen without a payload.
    if det.detected and det.payload is not None:
        cid = f"{det.payload:016x}"
        return LayerReport(Status.OK, f"payload {cid} (p={det.p_value:.1e}{which}){_turn_note(turn)}",
                           details), cid
    if det.detected:
        why = ("image too small or flat to carry a reliable mark" if det.weak
               else "payload did not decode")
        return LayerReport(Status.WEAK, f"weak: mark present but {why} (p={det.p_value:.1e}{which})"
                                        f"{_turn_note(turn)}", details), None
    caveat = "; the image is too small or flat for a reliable check" if det.weak else ""
    return LayerReport(Status.MISSING, f"no watermark for {for_keys(keys)} (p={det.p_value:.2g}){caveat}",
                       details), None


def _c2pa(data: bytes, mime: str, trust_anchors_pem: bytes | None, sidecar: bytes | None = None,
          sidecar_name: str = "sidecar") -> tuple[LayerReport, str | None]:
    """An image's manifest: embedded, else from ``sidecar`` (a detached ``.c2pa`` store, as
    other tools publish beside a picture)."""
    res = c2pa_io.read_manifest(data, mime, trust_anchors_pem=trust_anchors_pem)
    if not res.present and not res.no_store and sidecar is not None:
        res = c2pa_io.read_sidecar(data, mime, sidecar, trust_anchors_pem=trust_anchors_pem)
        res.sidecar = sidecar_name
    return _c2pa_report(res, sidecar=bool(res.sidecar))


def _c2pa_report(res, sidecar: bool = False) -> tuple[LayerReport, str | None]:
    """Judge a C2PA reading. ``sidecar``: the manifest came from a ``.c2pa`` file beside the
    media, so a hash mismatch may also mean it belongs to another file."""
    details = res.to_dict()
    cid = res.content_id.hex if res.content_id else None
    if res.no_store:
        # e.g. an RF64 WAV, which c2pa cannot parse: there is no manifest to miss reading
        return LayerReport(Status.MISSING, f"no C2PA manifest (none in the file; {res.error})",
                           details), None
    if res.error and not res.present:
        return LayerReport(Status.ERROR, f"could not read manifest: {res.error}", details), None
    if not res.present:
        return LayerReport(Status.MISSING, "no C2PA manifest", details), None
    dst_problem = source_type_problem(res.digital_source_type)
    ai = ("AI-edited" if res.digital_source_type == DST_COMPOSITE else "AI-generated") \
        if dst_problem is None else dst_problem
    if res.sidecar:
        ai += f"; from the sidecar {res.sidecar}"
    if res.soft_binding and res.content_id is None and res.soft_binding.get("alg"):
        # another vendor's watermark (Digimarc, a neural mark): named, not compared with ours
        ai += f"; soft binding {res.soft_binding['alg']}"
    if res.replaced_aigc:
        r = res.replaced_aigc
        ai += (f"; replaced the AIGC label of producer {r.get('ContentProducer')} "
               f"(ProduceID {r.get('ProduceID')})")
    if res.parent:
        # The input's own manifest, kept as the parent ingredient when the file was labeled.
        ai += f"; parent manifest signed by {res.parent.get('signer') or 'an unknown signer'}"
        if res.parent.get("failures"):
            ai += f", which was altered or invalid ({', '.join(res.parent['failures'])})"
    if res.state == "Trusted":
        if dst_problem:   # a trusted manifest that does not say "AI" is no AI label
            return LayerReport(Status.WEAK, f"Trusted, signed by {res.signer}, but {ai}", details), cid
        return LayerReport(Status.OK, f"Trusted, signed by {res.signer} ({ai})", details), cid
    if res.state == "Valid":
        return LayerReport(Status.WEAK, f"Valid signature but untrusted signer {res.signer} "
                                        f"(add its root with --trust-anchors; {ai})", details), cid
    codes = ", ".join(res.codes) or res.error or "unknown failure"
    changed = any(c.endswith("Hash.mismatch") and c.startswith("assertion.") for c in res.codes)
    plain = ""
    if changed:
        plain = (" (the file was changed after it was signed, or this .c2pa sidecar belongs to "
                 "another file)" if sidecar or res.sidecar else
                 " (the file was changed after it was signed)")
    # a broken sidecar beside a picture with nothing embedded read as a broken embedded one
    where = f" (in the sidecar {res.sidecar})" if res.sidecar and not changed else ""
    return LayerReport(Status.INVALID, f"Invalid: {codes}{plain}{where}", details), cid


def _guard(name: str, fn) -> tuple[LayerReport, str | dict | None]:
    """Run one layer's check; a crash in it becomes an ERROR for that layer only."""
    try:
        out = fn()
    except Exception as exc:  # noqa: BLE001 - isolating layers is the point
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return LayerReport(Status.ERROR, f"{name} check failed: {msg}"), None
    return out if isinstance(out, tuple) else (out, None)


def wanted_layers(layers) -> tuple[str, ...]:
    """The layers to check, from a sequence of names or a comma-separated string; raises
    ValueError for an unknown name or none at all (a typo must not make an empty, passing
    report), TypeError for what is neither. Repeats are dropped."""
    if not isinstance(layers, (str, list, tuple, set, frozenset)):
        # (None was "'NoneType' object is not iterable")
        raise TypeError(f"layers must be a str or a sequence of layer names, got {type(layers).__name__}")
    names = layers.split(",") if isinstance(layers, str) else list(layers)
    if not all(isinstance(n, str) for n in names):
        raise TypeError(f"layers must be names from {', '.join(LAYERS)}, got {layers!r}")
    names = [n.strip() for n in names if n.strip()]
    bad = [n for n in names if n not in LAYERS]
    if not names:
        raise ValueError(f"no layer given; choose from {', '.join(LAYERS)}")
    if bad:
        raise ValueError(f"unknown layer(s) {', '.join(bad)}; choose from {', '.join(LAYERS)}")
    return tuple(dict.fromkeys(names))


def check_layers(report: VerificationReport, layers: tuple[str, ...], checks: dict) -> VerificationReport:
    """Run each requested layer's check (a zero-argument callable returning a LayerReport,
    or a (LayerReport, content ID hex or None) pair, or a (LayerReport, {name: content ID})
    pair for a layer that read several) in isolation, and record the findings.
    Shared by images, audio and video so every medium is judged the same way.
    The watermark's check runs last and takes ``prefer``: the content IDs the other layers
    read, which a mark under one of several keys is preferred for (``detect_with_keys``)."""
    found: dict[str, tuple[LayerReport, str | dict | None]] = {}
    for name in sorted(LAYERS, key=lambda n: n == "watermark"):
        if name not in layers:
            found[name] = (LayerReport(Status.SKIPPED, "not checked"), None)
        elif name == "watermark":
            found[name] = _guard(name, lambda: checks[name](prefer=_named_ids(found)))
        else:
            found[name] = _guard(name, checks[name])
    for name in LAYERS:               # (reported in the usual order)
        rep, cid = found[name]
        report.layers[name] = rep
        if isinstance(cid, dict):     # several IDs read by one layer (a video's soundtrack)
            report.content_ids.update({k: v for k, v in cid.items() if v})
        elif cid:
            report.content_ids[name] = cid
    errors = [(n, report.layers[n]) for n in layers if n in report.layers]
    if report.error is None and errors and all(r.status is Status.ERROR for _, r in errors):
        # nothing asked for could be read (an MP3 cut inside its tag, checked for metadata
        # only): the file is unreadable (exit 2), as when its media does not decode
        report.error = f"{errors[0][0]}: {errors[0][1].summary}"
    _propagated_id(report)
    _manifest_agrees(report)
    _explain_missing_mark(report)
    _declared_spoken_label(report)
    return report


def _named_ids(found: dict[str, tuple[LayerReport, str | dict | None]]) -> frozenset[int]:
    """The content IDs (as ints) the layers in ``found`` read; the metadata's PropagateID too
    (a re-published file's mark carries it)."""
    ids: set[str] = set()
    for rep, cid in found.values():
        ids.update(cid.values() if isinstance(cid, dict) else [cid] if cid else [])
        aigc = (rep.details or {}).get("aigc")
        if isinstance(aigc, dict) and aigc.get("PropagateID"):
            ids.add(str(aigc["PropagateID"]))
    return frozenset(int(v, 16) for v in ids if re.fullmatch(r"[0-9a-fA-F]{16}", v or ""))


def _propagated_id(report: VerificationReport) -> None:
    """A re-published file's metadata holds two IDs: the producer's ProduceID and the
    propagator's PropagateID. The watermark and manifest carry the one of whoever marked and
    signed last, so the metadata's content ID is the PropagateID when that is what they
    carry."""
    meta = report.layers.get("metadata")
    aigc = (meta.details or {}).get("aigc") if meta is not None else None
    if not aigc or "metadata" not in report.content_ids:
        return
    if aigc.get("ContentPropagator") == aigc.get("ContentProducer"):
        # a producer's own label (its propagator fields repeat its producer's): ProduceID is
        # what was marked and signed, and a PropagateID that alone agrees would hide an edit
        return
    propagate = str(aigc.get("PropagateID", ""))
    others = {v for k, v in report.content_ids.items() if k != "metadata"}
    if others and report.content_ids["metadata"] not in others and propagate in others:
        report.content_ids["metadata"] = propagate


def _declared_spoken_label(report: VerificationReport) -> None:
    """Audio labeled with a spoken label (``--spoken-label``) has no tone cue to find, and its
    words cannot be checked here: its explicit layer was "missing", and such a file could
    never pass. When a trusted manifest declares the spoken label, the layer is "skipped"
    (not checked), saying where it is to be heard: not counted for or against the file."""
    ex, c2 = report.layers.get("explicit"), report.layers.get("c2pa")
    if ex is None or c2 is None or ex.status is not Status.MISSING or c2.status is not Status.OK:
        return
    spoken = (c2.details or {}).get("spoken_label")
    if not isinstance(spoken, dict) or not spoken.get("at"):
        return
    where = " and ".join(f"{t:.2f} s" for t in spoken["at"])
    length = spoken.get("seconds")
    lasting = f" ({length:.1f} s)" if isinstance(length, (int, float)) else ""
    report.layers["explicit"] = LayerReport(
        Status.SKIPPED, f"not checked: the signed manifest declares a spoken label{lasting} at "
                        f"{where}, which cannot be checked automatically (listen to it); no "
                        "rhythm cue", dict(ex.details or {}, spoken_label=spoken))


def _explain_missing_mark(report: VerificationReport) -> None:
    """A watermark not found although the file's C2PA manifest says it was watermarked (a
    soft binding by one of our algorithms): say so, since the usual causes are a different
    watermark key or an edit the mark did not survive."""
    wm, c2 = report.layers.get("watermark"), report.layers.get("c2pa")
    if wm is None or c2 is None or wm.status is not Status.MISSING or c2.details is None:
        return
    binding = c2.details.get("soft_binding") or {}
    alg = binding.get("alg") or ""
    if alg.startswith("org.synthlabel.wm.") and c2.details.get("content_id"):
        wm.summary += (f"; its C2PA manifest says it was watermarked ({alg}, content ID "
                       f"{c2.details['content_id']}): another watermark key, or an edit the mark "
                       "did not survive")
    elif c2.status is Status.OK and not binding:
        # labeled without a mark (--no-watermark, or a picture too small to carry one): the
        # signed manifest, valid, binds none, so its absence is what the signer declared
        wm.summary += "; its C2PA manifest names no watermark (no soft binding): labeled without one"


def verify_bytes(data: bytes, *, key, trust_anchors_pem: bytes | None,
                 path: str = "<bytes>", layers: tuple[str, ...] = ("explicit", "metadata", "watermark", "c2pa"),
                 label_text=None, sidecar: bytes | None = None, turns: str = "auto") -> VerificationReport:
    """Check the requested layers of one encoded file. ``key``: the watermark key, or a
    sequence of keys to try in turn (see :func:`synthlabel.watermark.detect_with_keys`).
    ``label_text``: the visible label's text, or several; they are looked for first, then the
    standard phrasings (:data:`synthlabel.models.STANDARD_LABEL_TEXTS`).
    ``turns``: which quarter turns of a picture the pixel layers are looked for in, one of
    :data:`TURN_MODES` ("auto": all four only for a file that declares a label).
    ``sidecar``: the ``.c2pa`` manifest store of an Ogg, Opus, MKV or WebM file (what
    ``label_audio`` returns beside the data), or a picture's detached manifest (read when the
    picture has none embedded). Bad media never raises: the report's ``error``
    says what went wrong; unknown layer names raise ValueError, data that is not bytes
    TypeError."""
    layers = wanted_layers(layers)
    texts = label_texts(label_text)
    turns = turn_mode(turns)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    if sidecar is not None and not isinstance(sidecar, (bytes, bytearray, memoryview)):
        raise TypeError(f"sidecar must be the .c2pa manifest's bytes (Path(...).read_bytes()), "
                        f"got {type(sidecar).__name__}")
    data = bytes(data)
    report = VerificationReport(path=path)
    try:
        media = sniff_data(data)
    except UnsupportedMedia as exc:
        report.error = str(exc)
        return report
    report.media_type = media.mime
    if media.kind in ("audio", "video"):
        # Audio and video readers stream from files; a temp copy keeps one code path.
        with tempfile.TemporaryDirectory(prefix="synthlabel-") as d:
            tmp = Path(d) / f"input{media.extension}"
            tmp.write_bytes(data)
            if sidecar is not None:
                tmp.with_suffix(".c2pa").write_bytes(sidecar)
            # (never raises: bad media is the report's error, as for a picture)
            rep = verify_file_safe(tmp, key=key, trust_anchors_pem=trust_anchors_pem, layers=layers,
                                   label_text=texts)
        rep.path = path
        c2 = rep.layers.get("c2pa")
        if sidecar is None and c2 is not None and c2.status is Status.MISSING and "sidecar" in c2.summary:
            c2.summary = ("no C2PA manifest: this format carries it in a .c2pa sidecar, and none "
                          "was given (pass sidecar=)")
        return rep
    need_pixels = "explicit" in layers or "watermark" in layers
    rgb = alpha = None
    if need_pixels:
        try:
            decoded = image_codec.decode(data, media.format)
            rgb, alpha = decoded.rgb, decoded.alpha
        except image_codec.ImageDecodeError as exc:
            # The pixel layers cannot be checked; metadata and C2PA still can.
            report.error = str(exc)

    def pixels():
        if rgb is None:
            raise image_codec.ImageDecodeError(report.error or "pixels not decoded")
        return rgb

    read: dict[str, object] = {}

    def metadata():
        # read once: the metadata layer and the quarter-turn decision below both need it
        if "meta" not in read:
            read["meta"] = image_meta.read_image_metadata(data, media.format)
        return read["meta"]

    def turned() -> tuple[int, ...]:
        # the other quarter turns only for a file that says it is labeled (or when asked): an
        # unlabeled picture costs one look, not four (the count of tests is fixed before any
        # is made)
        if turns != "auto":
            return TURNS if turns == "all" else (0,)
        if "turns" not in read:
            try:
                declared = c2pa_io.holds_manifest_store(data) or metadata().aigc is not None
            except Exception:  # noqa: BLE001 - unreadable metadata: its own layer says so
                declared = c2pa_io.holds_manifest_store(data)
            read["turns"] = TURNS if declared else (0,)
        return read["turns"]

    return check_layers(report, layers, {
        "explicit": lambda: _explicit_shown(pixels(), alpha, texts, turned()),
        "metadata": lambda: metadata_report(metadata()),
        "watermark": lambda prefer: _watermark(pixels(), key, turned(), prefer),
        "c2pa": lambda: _c2pa(data, media.mime, trust_anchors_pem, sidecar,
                              Path(path).with_suffix(".c2pa").name if path != "<bytes>" else "sidecar"),
    })


# Audio verification reads bounded excerpts, so hour-long files verify in bounded memory.
CUE_SECONDS = 15.0        # the cue is looked for in the first and last this-many seconds
WATERMARK_SECONDS = 60.0  # the watermark detector reads at most this much from the start


def _audio_excerpts(path: Path) -> tuple[int, np.ndarray, np.ndarray | None, float, np.ndarray, str | None]:
    """(sample_rate, head, tail or None, tail start in seconds, watermark window, damage),
    read with bounded memory. ``damage``: the sound ends well before the length its header
    declares (a file cut short: the tail read where the header puts it came back short), by
    labeling's rule (more than 2 % or a second), else None."""
    info = audio_io.probe(path)
    sr = info.sample_rate
    n_wm = int(WATERMARK_SECONDS * sr)
    n_cue = int(CUE_SECONDS * sr)
    window, _ = audio_io.read(path, frames=max(n_wm, n_cue))
    head = window[:n_cue]
    tail = None
    damage = None
    total = info.frames
    if total is not None and total > len(window):
        start = max(0, total - n_cue)
        tail, _ = audio_io.read(path, start=start)
        if start + len(tail) < total - max(0.02 * total, sr):
            damage = (f"the audio ends early: it stops before {(start + len(tail)) / sr:.1f} s of the "
                      f"{total / sr:.1f} s its header declares (truncated?); the layers were read "
                      f"from what is there")
            tail = tail if len(tail) >= sr else None
            total = start + len(tail) if tail is not None else len(window)
    elif len(window) > n_cue:
        tail = window[-n_cue:]
    length = max(total or 0, len(window))
    tail_start = (length - len(tail)) / sr if tail is not None else 0.0
    return sr, head, tail, tail_start, window[:n_wm], damage


def _audio_explicit(sr: int, head: np.ndarray, tail: np.ndarray | None, tail_start: float) -> LayerReport:
    hits: list[float] = []
    best = None
    for seg, t0 in ((head, 0.0), (tail, tail_start)):
        if seg is None:
            continue
        det = audio_cue.detect_cue(seg, sr, None, search="all")
        best = det if best is None or det.score > best.score else best
        hits += [round(t0 + t, 3) for t in det.times] if det.found else []
    # A short file's head and tail overlap: one cue found in both, a few ms apart, is one cue.
    times: list[float] = []
    for t in sorted(hits):
        if not times or t - times[-1] > 0.05:
            times.append(t)
    details = dict(best.to_dict() if best else {}, times=times)
    if hits:
        where = ", ".join(f"{t:.2f} s" for t in times)
        return LayerReport(Status.OK, f"rhythm cue (Morse 'AI') at {where}", details)
    return LayerReport(Status.MISSING, "no rhythm cue in the first or last "
                                       f"{CUE_SECONDS:.0f} s (a spoken label, if one was used, "
                                       "cannot be checked automatically)", details)


def _audio_watermark(samples: np.ndarray, sr: int, key, prefer=()) -> tuple[LayerReport, str | None]:
    keys = watermark.watermark_keys(key)
    det, i = watermark.detect_with_keys(lambda k: watermark.detect_audio(samples, sr, k), keys, prefer)
    details = dict(det.to_dict(), alg=watermark.AUDIO_ALG)
    # as an image's report has it: too little sound for a reliable mark
    seconds = len(samples) / sr
    details["weak"] = seconds < _AP.RELIABLE_SECONDS
    which = key_match(details, keys, i, det.detected)
    if det.detected and det.payload is not None:
        cid = f"{det.payload:016x}"
        at = f" at {det.offset_seconds:.2f} s" if det.offset_seconds is not None else ""
        return LayerReport(Status.OK, f"payload {cid}{at} (p={det.p_value:.1e}{which})", details), cid
    short = (f"{seconds:.1f} s of audio is too short for a reliable check "
             f"(payloads need about {_AP.RELIABLE_SECONDS:.0f} s)") if details["weak"] else ""
    if det.detected:
        why = short or "payload did not decode"
        return LayerReport(Status.WEAK, f"weak: mark present but {why} (p={det.p_value:.1e}{which})",
                           details), None
    caveat = f"; {short}" if short else ""
    return LayerReport(Status.MISSING, f"no watermark for {for_keys(keys)} (p={det.p_value:.2g}){caveat}",
                       details), None


def _audio_metadata(path: Path, fmt: str) -> tuple[LayerReport, str | None]:
    return metadata_report(audio_meta.read_audio_metadata_file(path), expect_dst=fmt != "wav")


def _audio_c2pa(path: Path, mime: str, trust_anchors_pem: bytes | None) -> tuple[LayerReport, str | None]:
    if mime == "audio/ogg" and not path.with_suffix(".c2pa").is_file():
        # c2pa cannot embed into Ogg: without the sidecar there is simply no manifest.
        return LayerReport(Status.MISSING, f"no C2PA sidecar ({path.with_suffix('.c2pa').name})",
                           c2pa_io.C2PAResult(present=False).to_dict()), None
    res = c2pa_io.read_manifest_file(path, mime, trust_anchors_pem=trust_anchors_pem)
    return _c2pa_report(res, sidecar=bool(res.sidecar))


def verify_audio_file(path: str | Path, *, key, trust_anchors_pem: bytes | None,
                      layers: tuple[str, ...] = ("explicit", "metadata", "watermark", "c2pa"),
                      media=None, **_ignored) -> VerificationReport:
    """Check the requested layers of one audio file (C2PA from the file or its ``.c2pa``
    sidecar). ``media``: the file's sniffed type when the caller has it. Never raises for bad
    input: the report's ``error`` says what went wrong."""
    p = Path(path)
    report = VerificationReport(path=str(p))
    try:
        media = media or sniff_streams(p)
    except (UnsupportedMedia, OSError) as exc:
        report.error = one_line(exc)
        return report
    report.media_type = media.mime
    excerpts = None
    if "explicit" in layers or "watermark" in layers:
        try:
            excerpts = _audio_excerpts(p)
        except (audio_io.AudioError, OSError) as exc:
            # The sound layers cannot be checked; metadata and C2PA still can (as for images).
            report.error = one_line(exc)

    def sound():
        if excerpts is None:
            raise audio_io.AudioError(report.error or "audio not decoded")
        if not _AP.MIN_SAMPLE_RATE <= excerpts[0] <= _AP.MAX_SAMPLE_RATE:
            # (the detectors' own ValueError spoke of a "sample_rate" argument)
            raise audio_io.AudioError(f"{excerpts[0]} Hz audio cannot be checked: synthlabel "
                                      f"reads {_AP.MIN_SAMPLE_RATE} to {_AP.MAX_SAMPLE_RATE} Hz")
        return excerpts

    report = check_layers(report, layers, {
        "explicit": lambda: _audio_explicit(*sound()[:4]),
        "metadata": lambda: _audio_metadata(p, media.format),
        "watermark": lambda prefer: _audio_watermark(sound()[4], sound()[0], key, prefer),
        "c2pa": lambda: _audio_c2pa(p, media.mime, trust_anchors_pem),
    })
    if excerpts is not None and excerpts[5] and not report.error:
        report.error = excerpts[5]      # as a cut WAV or FLAC: not fully readable (exit 2)
    return report


def verify_file(path: str | Path, **kwargs) -> VerificationReport:
    """Verify the file at ``path`` (images via :func:`verify_bytes`, audio streamed). A bad
    argument (``layers``, ``label_text``) raises ValueError; a bad file gives a report."""
    if "layers" in kwargs:
        kwargs["layers"] = wanted_layers(kwargs["layers"])
    if kwargs.get("label_text") is not None:
        label_texts(kwargs["label_text"])   # a bad one failed every file's report instead
    p = Path(path)
    try:
        media = sniff_streams(p)
        kind = media.kind
    except UnsupportedMedia as exc:
        return VerificationReport(path=str(p), error=str(exc))
    except FileNotFoundError:
        why = broken_link(p)
        return VerificationReport(path=str(p), error=f"cannot read: {why}" if why else "no such file or directory")
    except OSError as exc:
        return VerificationReport(path=str(p), error=f"cannot read: {broken_link(p) or exc.strerror or exc}")
    if kind == "audio":
        return verify_audio_file(p, media=media, **kwargs)
    if kind == "video":
        from .labeling_video import verify_video_file

        report = verify_video_file(p, **kwargs)
        report.media_type = report.media_type or media.mime   # a container too broken to open
        return report
    try:
        data = image_codec.read_file(p)
    except OSError as exc:
        return VerificationReport(path=str(p), error=f"cannot read: {exc.strerror or exc}")
    if "sidecar" not in kwargs and not c2pa_io.holds_manifest_store(data):
        # no embedded manifest: a .c2pa beside the picture is its detached one
        side = c2pa_io.sidecar_beside(p)
        if isinstance(side, c2pa_io.C2PAResult):
            report = verify_bytes(data, path=str(p), **kwargs)
            if report.layers["c2pa"].status is not Status.SKIPPED:
                report.layers["c2pa"] = _c2pa_report(side)[0]
            return report
        if side is not None:
            kwargs["sidecar"] = side.read_bytes()
    return verify_bytes(data, path=str(p), **kwargs)


def verify_file_safe(path: str | Path, **kwargs) -> VerificationReport:
    """:func:`verify_file` that never raises: a surprise becomes the report's one-line error
    (a batch goes on with the other files)."""
    try:
        report = verify_file(path, **kwargs)
    except Exception as exc:  # noqa: BLE001 - one file's surprise must not stop the run
        report = VerificationReport(path=str(path),
                                    error=f"internal error ({type(exc).__name__}): {one_line(exc)}")
    return unchecked_layers(report, kwargs.get("layers", LAYERS))


def unchecked_layers(report: VerificationReport, layers=LAYERS) -> VerificationReport:
    """Give a report that stopped before any layer (a file that cannot be opened, a worker
    that died) every layer all the same: ERROR for those asked for, SKIPPED for the others.
    A JSON reader then finds the same four layers in every record."""
    if report.error and not report.layers:
        try:
            asked = wanted_layers(layers)
        except ValueError:
            asked = LAYERS
        for name in LAYERS:
            report.layers[name] = (LayerReport(Status.ERROR, "not checked: the file could not be read")
                                   if name in asked else LayerReport(Status.SKIPPED, "not checked"))
    return report


def verify_files(paths, *, workers: int = 1, fork: bool = False,
                 **kwargs) -> Iterator[VerificationReport]:
    """Verify ``paths`` with ``workers`` processes (0 = all cores, 1 = in this process),
    yielding one report per path *in input order* as soon as it (and every earlier one) is
    ready, so a caller can stream the results. ``kwargs`` go to :func:`verify_file`.
    ``fork``: start the workers by forking this process, only safe where it has not read
    any media itself (:func:`batch._context`)."""
    paths = list(paths)
    if "layers" in kwargs:          # bad arguments raise here, not as every file's error
        kwargs["layers"] = wanted_layers(kwargs["layers"])
    if kwargs.get("label_text") is not None:
        label_texts(kwargs["label_text"])
    workers = worker_count(workers, len(paths))
    if workers == 1:
        for p in paths:
            yield verify_file_safe(p, **kwargs)
        return
    # reports come back as files finish and leave in input order; a worker that dies (a
    # native crash, the OOM killer) costs only its own file
    ready: dict[int, VerificationReport] = {}
    nxt = 0
    with closing(pool_map(partial(verify_file_safe, **kwargs), paths, workers,
                          init_worker_process, fork=fork)) as results:   # closed: workers stop
        for i, res in results:
            ready[i] = res if isinstance(res, VerificationReport) else unchecked_layers(
                VerificationReport(path=str(paths[i]), error=f"worker failed: {one_line(res)}"),
                kwargs.get("layers", LAYERS))
            while nxt in ready:
                yield ready.pop(nxt)
                nxt += 1
