"""Verify every layer of a file independently and cross-check the content IDs.

Each check is isolated: one layer failing to parse never hides what the others found.
"""
from __future__ import annotations

from pathlib import Path

from . import watermark
from .core import text_label
from .formats import image_codec, image_meta
from .formats.sniff import UnsupportedMedia, sniff_bytes
from .models import DEFAULT_LABEL_TEXT, LayerReport, Status, VerificationReport
from .provenance import c2pa_io


def _explicit(rgb, text: str) -> LayerReport:
    det = text_label.detect_label(rgb, text)
    if det.found:
        return LayerReport(Status.OK, f"label {text!r} found at {det.position}", det.to_dict())
    return LayerReport(Status.MISSING, f"no {text!r} label found on an edge or corner", det.to_dict())


def _metadata(data: bytes, fmt: str) -> tuple[LayerReport, str | None]:
    meta = image_meta.read_image_metadata(data, fmt)
    details = {
        "source": meta.source,
        "count": meta.aigc_count,
        "aigc": meta.aigc.to_dict() if meta.aigc else None,
        "raw": meta.raw if meta.aigc is None else None,
        "digital_source_type": meta.digital_source_type,
        "errors": meta.errors,
    }
    cid = meta.aigc.content_id.hex if meta.aigc and meta.aigc.content_id else None
    if meta.errors and meta.aigc is None:
        return LayerReport(Status.INVALID, "AIGC label present but invalid: " + "; ".join(meta.errors), details), None
    if meta.aigc is None:
        return LayerReport(Status.MISSING, "no AIGC metadata label", details), None
    if meta.aigc_count > 1:
        return LayerReport(Status.INVALID, f"{meta.aigc_count} AIGC labels; GB 45438 allows exactly one", details), cid
    summary = f"AIGC Label={meta.aigc.label} producer={meta.aigc.content_producer} ProduceID={meta.aigc.produce_id}"
    if not meta.digital_source_type:
        summary += " (no IPTC DigitalSourceType)"
    return LayerReport(Status.OK, summary, details), cid


def _watermark(rgb, key: bytes) -> tuple[LayerReport, str | None]:
    det = watermark.detect_image(rgb, key)
    details = det.to_dict()
    details["alg"] = watermark.IMAGE_ALG
    # A CRC-checked payload with a significant presence test is a finding, even on an image
    # the embedder flagged as low-capacity; "weak" is for marks seen without a payload.
    if det.detected and det.payload is not None:
        cid = f"{det.payload:016x}"
        return LayerReport(Status.OK, f"payload {cid} (p={det.p_value:.1e})", details), cid
    if det.detected or det.weak:
        why = ("image too small or flat to carry a reliable mark" if det.weak
               else "mark present but the payload did not decode")
        return LayerReport(Status.WEAK, f"weak: {why} (p={det.p_value:.1e})", details), None
    return LayerReport(Status.MISSING, f"no watermark for this key (p={det.p_value:.2g})", details), None


def _c2pa(data: bytes, mime: str, trust_anchors_pem: bytes | None) -> tuple[LayerReport, str | None]:
    res = c2pa_io.read_manifest(data, mime, trust_anchors_pem=trust_anchors_pem)
    details = res.to_dict()
    cid = res.content_id.hex if res.content_id else None
    if res.error and not res.present:
        return LayerReport(Status.ERROR, f"could not read manifest: {res.error}", details), None
    if not res.present:
        return LayerReport(Status.MISSING, "no C2PA manifest", details), None
    ai = "AI-generated" if res.digital_source_type else "no AI source type"
    if res.state == "Trusted":
        return LayerReport(Status.OK, f"Trusted, signed by {res.signer} ({ai})", details), cid
    if res.state == "Valid":
        return LayerReport(Status.WEAK, f"Valid signature but untrusted signer {res.signer} "
                                        "(add its root with --trust-anchors)", details), cid
    codes = ", ".join(res.codes) or res.error or "unknown failure"
    return LayerReport(Status.INVALID, f"Invalid: {codes}", details), cid


def _guard(name: str, fn, *args):
    """Run one layer's check; a crash in it becomes an ERROR for that layer only."""
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 - isolating layers is the point
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        rep = LayerReport(Status.ERROR, f"{name} check failed: {msg}")
        return (rep, None) if name != "explicit" else rep


def verify_bytes(data: bytes, *, key: bytes, trust_anchors_pem: bytes | None,
                 path: str = "<bytes>", layers: tuple[str, ...] = ("explicit", "metadata", "watermark", "c2pa"),
                 label_text: str = DEFAULT_LABEL_TEXT) -> VerificationReport:
    """Check the requested layers of one encoded file. Never raises for bad input: the
    report's ``error`` says what went wrong."""
    report = VerificationReport(path=path)
    try:
        media = sniff_bytes(data[:4096])
    except UnsupportedMedia as exc:
        report.error = str(exc)
        return report
    report.media_type = media.mime
    if media.kind != "image":
        report.error = f"verifying {media.kind} files is not supported yet"
        return report
    need_pixels = "explicit" in layers or "watermark" in layers
    rgb = None
    if need_pixels:
        try:
            rgb = image_codec.decode(data, media.format).rgb
        except image_codec.ImageDecodeError as exc:
            report.error = str(exc)
            return report
    for name in ("explicit", "metadata", "watermark", "c2pa"):
        if name not in layers:
            report.layers[name] = LayerReport(Status.SKIPPED, "not checked")
            continue
        if name == "explicit":
            report.layers[name] = _guard(name, _explicit, rgb, label_text)
            continue
        if name == "metadata":
            rep, cid = _guard(name, _metadata, data, media.format)
        elif name == "watermark":
            rep, cid = _guard(name, _watermark, rgb, key)
        else:
            rep, cid = _guard(name, _c2pa, data, media.mime, trust_anchors_pem)
        report.layers[name] = rep
        if cid:
            report.content_ids[name] = cid
    return report


def verify_file(path: str | Path, **kwargs) -> VerificationReport:
    """Read ``path`` and verify it (see :func:`verify_bytes`)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        return VerificationReport(path=str(p), error=f"cannot read: {exc.strerror or exc}")
    return verify_bytes(data, path=str(p), **kwargs)

