"""Label one image in memory with every layer: the hot-path entry point for generation services.

The order is forced by the hashes (see ``shared/docs/design.md``):
decode → explicit label → watermark → encode → AIGC/XMP metadata → C2PA sign.
Nothing here touches the file system; :mod:`synthlabel.pipeline` adds files and batches.
"""
from __future__ import annotations

import contextlib
import io
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePath

import numpy as np
from PIL import Image

from . import watermark
from .core import text_label
from .formats import image_codec, image_meta
from .formats import xmp as xmp_packet
from .fsutil import shared_sidecar
from .models import AIGCLabel, ContentID, LabelError, LabelSpec, OutputFormat, result_dict
from .provenance import c2pa_io
from .provenance.credentials import Credentials, resolved as resolved_credentials


class LabelingError(LabelError):
    """Labeling one input failed; the message is one line, fit for a batch log. A
    :class:`~synthlabel.models.LabelError` (and so a ValueError): ``except LabelError`` takes
    every refusal of bad input, a spec's or a file's."""


def claim_output(dst: Path, source: Path | None, sidecar: Path | None, *, overwrite: bool,
                 in_place: bool) -> bool:
    """Check that labeling may write ``dst`` (and its C2PA ``sidecar``, if any) before any
    work is done; return whether this is labeling in place. In place only when asked and
    ``dst`` is the source itself: "-o" naming the input's own folder must not replace it."""
    if in_place and source is not None and dst != source:
        in_place = dst.exists() and dst.samefile(source)
    # lexists: a broken link there is an entry too, which the output must not replace unasked
    if not overwrite and not in_place and os.path.lexists(dst):
        raise LabelingError(f"output {dst} exists (overwrite=True replaces it)")
    if sidecar is not None and os.path.lexists(sidecar):
        if not overwrite and not in_place:
            # e.g. x.ogg and x.opus in one folder would share x.c2pa: never clobber another's.
            raise LabelingError(f"C2PA sidecar {sidecar} exists (another file with this base "
                                "name?); overwrite=True replaces it")
        if why := shared_sidecar(sidecar, dst):
            # overwrite=True is for earlier outputs: a later batch writing x.ogg replaced the
            # x.c2pa of the x.opus an earlier one wrote there (or of an original), whose
            # manifest then failed validation (QA, stop 47)
            raise LabelingError(why)
    return in_place


@dataclass
class LabeledMedia:
    """Encoded bytes carrying every requested layer, plus what was done."""

    data: bytes
    format: str                      # "jpeg" | "png" | "webp"
    mime: str
    content_id: ContentID
    layers: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage

    @property
    def extension(self) -> str:
        return image_codec.EXTENSION[self.format]

    def to_dict(self) -> dict:
        """What was done, as plain JSON types (for a log line): the fields but the bytes,
        whose length is ``bytes``; the content ID as hex."""
        return result_dict(self, leave_out=("data",), bytes=len(self.data),
                           extension=self.extension)

    def __repr__(self) -> str:   # not the file's bytes: a logged result must stay one line
        return (f"LabeledMedia(data=<{len(self.data)} bytes>, format={self.format!r}, "
                f"content_id={self.content_id.hex}, layers={self.layers!r}, "
                f"warnings={self.warnings!r})")


#: JPEG/WebP qualities below this are read back from the encoded output (decoding costs a few
#: ms; the defaults, 92 and 90, are not): at 512² a photo's mark survived quality 20 and was
#: lost at 10, and a blurred 384² one was lost in WebP at 50 and 60 while it read back fine
#: from the pixels before encoding.
READBACK_BELOW_QUALITY = 80


def _check_pixels(height: int = 1, width: int = 1) -> None:
    """The decoder's pixel limit holds for arrays too: a bigger picture was labeled, and its
    output then refused by verify and by labeling again."""
    if height * width > image_codec.MAX_PIXELS:
        raise LabelingError(f"image is {width}x{height}, above the {image_codec.MAX_PIXELS:,} "
                            f"pixel limit")


def _exif_orientation(image: Image.Image) -> int | None:
    """The EXIF Orientation (1-8) a PIL image opened from a file carries, or None."""
    try:
        value = image.getexif().get(0x0112)
    except Exception:  # noqa: BLE001 - unreadable EXIF: no orientation to apply
        return None
    return value if isinstance(value, int) and 1 <= value <= 8 else None


def checked_spec(spec) -> LabelSpec:
    """``spec``, or the default one for None; anything else is a TypeError (``{}`` was taken as
    "no spec" by ``spec or LabelSpec()``)."""
    if spec is None:
        return LabelSpec()
    if not isinstance(spec, LabelSpec):
        raise TypeError(f"spec must be a LabelSpec, got {type(spec).__name__}")
    return spec


def _as_rgb(image, warns: list[str]) -> tuple[np.ndarray, np.ndarray | None]:
    """Accept a PIL image or an array H×W, H×W×1, H×W×3 (RGB) or H×W×4 (RGBA): uint8 as it
    is, uint16 scaled to 8 bits, float taken as 0..1 (skimage's convention). A conversion that
    loses something (16-bit or float made 8-bit) is added to ``warns``."""
    if image is None or isinstance(image, (str, PurePath)):
        raise TypeError(f"image must be a PIL image or a numpy array, got {type(image).__name__}"
                        + (" (a path: use synthlabel.label_file)" if image is not None else ""))
    if isinstance(image, Image.Image):
        try:
            return _pil_pixels(image, warns)
        except (OSError, ValueError, AssertionError) as exc:
            if isinstance(exc, LabelingError):
                raise
            # a closed image (AssertionError, no message), a truncated file (OSError)
            why = " ".join(str(exc).split()) or ("the image is closed?" if isinstance(exc, AssertionError)
                                                 else type(exc).__name__)
            raise LabelingError(f"cannot read the PIL image's pixels: {why}") from None
    if not isinstance(image, (np.ndarray, bytes, bytearray, memoryview)):   # (bytes: said below)
        # a list of lists became an int64 array, refused as "got int64"
        raise TypeError(f"image must be a PIL image or a numpy array, got {type(image).__name__}")
    return _array_pixels(image, warns)


def _metadata_args(exif, icc_profile, xmp, check_xmp: bool = True
                   ) -> tuple[bytes | None, bytes | None, bytes | None]:
    """label_image's ``exif``, ``icc_profile`` and ``xmp`` checked before any work: each
    failed deep in the encoder after the watermark (Pillow's "not a TIFF file", an
    AttributeError for an ``Image.Exif``) or was written as it was (garbage EXIF into a
    JPEG). An ``Image.Exif`` and an XMP ``str`` are taken too."""
    if isinstance(exif, Image.Exif):
        exif = exif.tobytes() if len(exif) else None
    for name, value in (("exif", exif), ("icc_profile", icc_profile)):
        if value is not None and not isinstance(value, (bytes, bytearray, memoryview)):
            raise TypeError(f"{name} must be bytes, got {type(value).__name__}")
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8")
    elif xmp is not None and not isinstance(xmp, (bytes, bytearray, memoryview)):
        raise TypeError(f"xmp must be bytes or str, got {type(xmp).__name__}")
    exif = bytes(exif) if exif else None
    icc_profile = bytes(icc_profile) if icc_profile else None
    xmp = bytes(xmp) if xmp else None
    if exif is not None and exif.removeprefix(b"Exif\x00\x00")[:4] not in (b"II*\x00", b"MM\x00*"):
        raise LabelingError("exif is not an EXIF block (a TIFF header, II*\\0 or MM\\0*, "
                            "after an optional Exif\\0\\0)")
    if icc_profile is not None and (len(icc_profile) < 132 or icc_profile[36:40] != b"acsp"):
        raise LabelingError("icc_profile is not an ICC profile (no 'acsp' signature)")
    if xmp is not None and check_xmp:     # the label goes into it: it must parse
        try:
            xmp_packet.check_packet(xmp)
        except xmp_packet.MetadataError as exc:
            raise LabelingError(f"xmp: {exc}") from None
    return exif, icc_profile, xmp


def _pil_pixels(image: Image.Image, warns: list[str]) -> tuple[np.ndarray, np.ndarray | None]:
    _check_pixels(image.height, image.width)
    orientation = _exif_orientation(image)
    if orientation not in (None, 1):
        # A phone photo opened with Pillow is stored sideways with an EXIF Orientation
        # telling viewers to turn it; the output carries no such tag, so it came out
        # sideways, labeled at the stored corner. Turned upright first, as a file is.
        from PIL import ImageOps

        image = ImageOps.exif_transpose(image)
        warns.append(f"EXIF orientation {orientation} applied: the pixels were turned "
                     "upright (the output carries no orientation tag)")
    if image.mode in ("La", "RGBa"):    # premultiplied: Pillow un-premultiplies only
        image = image.convert(image.mode.upper())   # to LA / RGBA (else the alpha is lost)
    if image.mode.startswith("I;16"):
        # as for a uint16 array (getextrema() fails on I;16B / L / N)
        _check_wide_values(int(np.asarray(image).max(initial=0)), 16, warns)
    if image.mode in image_codec.WIDE_MODES:
        try:
            image, warning = image_codec.to_8bit(image)
        except ValueError as exc:
            raise LabelingError(str(exc)) from None
        warns.append(warning)
    if image.mode == "CMYK":
        warns.append("CMYK image converted to RGB")
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        a = np.asarray(image.convert("RGBA"))
        return np.ascontiguousarray(a[..., :3]), np.ascontiguousarray(a[..., 3])
    return np.asarray(image.convert("RGB")), None


def _array_pixels(image, warns: list[str]) -> tuple[np.ndarray, np.ndarray | None]:
    if isinstance(image, (bytes, bytearray, memoryview)):
        raise LabelingError("got encoded bytes, not pixels: use synthlabel.label_image_bytes "
                            "(or decode them first; an array's memoryview: np.asarray it)")
    _check_pixels(*np.shape(image)[:2])
    arr = np.asarray(image)
    if arr.ndim in (2, 3) and 0 in arr.shape[:2]:
        # (said as "expected a uint8 ... got float32", or as the label not fitting 0x0)
        raise LabelingError(f"the image is empty ({arr.shape[1]}x{arr.shape[0]} pixels)")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.dtype == np.uint16:
        # Colour alone: an opaque alpha of 65535 beside 8-bit colour values would hide them.
        colour = arr[..., :3] if arr.ndim == 3 and arr.shape[2] == 4 else arr
        _check_wide_values(int(colour.max(initial=0)), 16, warns)
        arr = (arr >> 8).astype(np.uint8)
        warns.append("16-bit image reduced to 8 bits per channel")
    elif arr.dtype.kind == "f" and arr.size:
        if not np.isfinite(arr).all():
            raise LabelingError("the float image holds NaN or infinity")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0.0 or hi > 1.0:
            raise LabelingError(f"a float image must hold values in 0..1 (got {lo:g}..{hi:g}); "
                                "pass uint8 for 0..255")
        arr = np.round(arr * 255.0).astype(np.uint8)
        warns.append("float image (0..1) converted to 8 bits per channel")
    if arr.dtype != np.uint8:
        raise LabelingError(f"expected a uint8, uint16 or float (0..1) array, got {arr.dtype}")
    if arr.ndim == 2:
        return np.repeat(arr[..., None], 3, axis=2), None
    if arr.ndim == 3 and arr.shape[2] == 3:
        return arr, None
    if arr.ndim == 3 and arr.shape[2] == 4:
        return np.ascontiguousarray(arr[..., :3]), np.ascontiguousarray(arr[..., 3])
    raise LabelingError(f"expected an H×W, H×W×3 or H×W×4 array, got shape {arr.shape}")


def _check_wide_values(top: int, bits: int, warns: list[str]) -> None:
    """16-bit pixels are scaled from full scale. 8-bit values in them would come out nearly
    black: refused. Values of 10 or 12 bits (a camera's or a video frame's) come out dark: said,
    since a dark 16-bit picture may be just that."""
    if 0 < top <= 255:
        raise LabelingError("a 16-bit image whose values are all <= 255 holds 8-bit values: "
                            "pass it as uint8 (arr.astype(np.uint8))")
    if 0 < top < 1 << (bits - 3):
        used = top.bit_length()
        warns.append(f"the 16-bit image's values reach only {top} ({used}-bit range) and are "
                     f"scaled from 16-bit full scale, so it comes out dark; if it holds "
                     f"{used}-bit data, scale it to 16 bits first (arr << {bits - used})")


def _onto_white(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Composite RGB with its alpha onto white (what a viewer shows a transparent PNG on),
    for formats without alpha: transparent areas would otherwise show whatever colour they
    hold, often black."""
    a = alpha.astype(np.float32)[..., None] / 255.0
    return np.round(rgb * a + 255.0 * (1.0 - a)).astype(np.uint8)


def kept_mark_warning(medium: str, content_id: ContentID, marking: bool) -> str:
    """The warning for a labeled input (``medium``: "image", "video") that keeps the mark made
    with this key, and its content ID. ``marking``: the spec lays a mark, which the old one
    stands in for; else none is laid."""
    why = "a second mark laid over it would leave neither readable" if marking else "no new mark is laid"
    return (f"watermark: the {medium} carries this key's watermark already; the label keeps its "
            f"content ID {content_id.hex} and the mark as it is ({why})")


def kept_label_warning(aigc: AIGCLabel) -> str:
    """The note for an input whose AIGC label is kept as it is (metadata off,
    :meth:`LabelSpec.kept_label`)."""
    return (f"metadata: not written (metadata off); the input's AIGC label (ContentProducer "
            f"{aigc.content_producer}, ProduceID {aigc.produce_id}) is kept as it was, and the "
            "C2PA manifest names it")


def unlabeled_republish_warning(spec: LabelSpec, prior: AIGCLabel | None) -> str | None:
    """The note for a re-publish (``spec.propagator``) of an input that carries no AIGC label:
    the new label names this service's ``producer`` as the producer (the default, synthlabel,
    passed without a word), and with both pixel layers off the output had no visible label
    and no watermark while verify failed it for them. None otherwise."""
    if not spec.propagator or prior is not None or not spec.metadata:
        return None
    note = (f"metadata: the input carries no AIGC label of its own that parses, so its new "
            f"label names {spec.producer} (--producer) as the producer")
    if not spec.explicit and not spec.watermark:
        note += ("; the output has neither a visible label nor a watermark (--no-explicit "
                 "--no-watermark), which AI-generated content needs: without those flags it "
                 "gets both")
    return note


def shown_label_warning(medium: str, where: str) -> str:
    """The note for a labeled input that shows a visible label already (``where``: its
    position), which is not drawn a second time."""
    return (f"explicit: the {medium} shows a visible label already (at {where}); it is kept and "
            "no second one is drawn")


def _shown_label(rgb: np.ndarray, alpha: np.ndarray | None, spec: LabelSpec) -> str | None:
    """Where ``rgb`` shows a visible label (the spec's text or a standard one), or None."""
    from .models import label_texts
    from .verify import _explicit_shown

    rep = _explicit_shown(rgb, alpha, label_texts(spec.text))
    return rep.details.get("position") if rep.details.get("found") else None


def _verify_tests(spec: LabelSpec) -> int:
    """How many tests verify counts an output's mark among: its quarter turns when the file
    declares a label (AIGC metadata or a C2PA manifest), else one (see verify.TURNS)."""
    from .verify import TURNS

    return len(TURNS) if spec.metadata or spec.c2pa else 1


def label_pixels(rgb: np.ndarray, spec: LabelSpec, key: bytes, content_id: ContentID,
                 timings: dict[str, float] | None = None, alpha: np.ndarray | None = None,
                 keep_watermark: bool = False,
                 ) -> tuple[np.ndarray, np.ndarray | None, list[str], list[str]]:
    """The pixel layers: explicit label then watermark. Returns (rgb, alpha, layers,
    warnings); where the label's plate lands, alpha is made opaque so that the label shows
    on transparent areas too. ``keep_watermark``: ``rgb`` carries ``content_id``'s mark made
    with ``key`` already; it is kept, not laid a second time."""
    layers: list[str] = []
    warns: list[str] = []
    t = timings if timings is not None else {}
    if spec.explicit:
        t0 = time.perf_counter()
        try:
            rgb, box = text_label.render_label(rgb, spec.text, position=spec.position.value)
        except ValueError as exc:
            raise LabelingError(f"explicit label: {exc}") from None
        if alpha is not None:
            # opaque where the plate is, so that it shows on transparent areas; outside its
            # rounded corners the picture's own alpha stays (the whole box went opaque: a
            # square with the hidden colours at its corners)
            alpha = alpha.copy()
            alpha[box.y:box.y + box.h, box.x:box.x + box.w][box.plate] = 255
        t["render"] = time.perf_counter() - t0
        layers.append("explicit")
    if spec.watermark and keep_watermark:
        layers.append("watermark")
        warns.append(kept_mark_warning("image", content_id, marking=True))
    elif spec.watermark:
        t0 = time.perf_counter()
        rgb, warning = watermark.embed_image_checked(rgb, content_id.value, key)
        t["watermark"] = time.perf_counter() - t0
        if min(rgb.shape[:2]) < watermark.MIN_SIDE:
            warns.append(f"watermark: {warning}")      # left unmarked: not a layer it carries
            return rgb, alpha, layers, warns
        layers.append("watermark")
        rb = watermark.ReadBack(None, True)
        if spec.watermark_readback:
            # Read the mark back from the marked pixels, as verify will (see
            # watermark.image_readback): a failure is told now, not discovered later.
            t0 = time.perf_counter()
            rb = watermark.image_readback(rgb, content_id.value, key, tests=_verify_tests(spec))
            t["readback"] = time.perf_counter() - t0
            if not rb.found:
                # Not a trace of it (a bilevel, QR-like picture): the output does not claim a
                # watermark, in its layers or its C2PA manifest (verify had called a fresh
                # output's mark "another key, or an edit the mark did not survive").
                layers.remove("watermark")
        if warning and rb.warning and "barely present" in rb.warning:
            warns.append(f"watermark: {warning}; even from the unprocessed output it barely "
                         "reads back, so the first processing may lose it")
        elif warning and rb.warning:
            # Too small or flat, and indeed unreadable already: say it plainly, once.
            unclaimed = "" if rb.found else f"; {watermark.UNCLAIMED}"
            warns.append(f"watermark: {warning}; it does not read back even from the "
                         f"unprocessed output, so verify will report it missing{unclaimed}")
        elif warning or rb.warning:
            warns.append(f"watermark: {warning or rb.said}")
    return rgb, alpha, layers, warns


def label_image(image, *, format: str | None = None, spec: LabelSpec | None = None,
                credentials: Credentials | None = None, content_id: ContentID | None = None,
                title: str = "image", exif: bytes | None = None, icc_profile: bytes | None = None,
                xmp: bytes | None = None, parent: c2pa_io.Parent | None = None,
                extras: image_codec.Extras | None = None,
                prior_aigc: AIGCLabel | None = None, keep_watermark: bool = False) -> LabeledMedia:
    """Label an image held in memory and return the encoded file with every layer.

    ``image``: a PIL image or a numpy array H×W, H×W×1, H×W×3 (RGB) or H×W×4 (RGBA), uint8
    (uint16 and float 0..1 are converted with a warning); encoded bytes go to
    :func:`label_image_bytes`. RGBA written as JPEG is composited onto white first.
    ``format``: "jpeg" (or "jpg"), "png" or "webp"; by default ``spec.output_format``, else
    PNG (the two must agree when both are given). ``credentials``: signing and watermark keys; the
    development credentials (created on first use) when omitted. ``parent``: the source
    file's own C2PA manifest (:func:`synthlabel.provenance.c2pa_io.parent_of`), kept as the
    new manifest's parent ingredient. ``extras``: what else to keep from a source file
    (:class:`synthlabel.formats.image_codec.Extras`: PNG text chunks, density, a JPEG
    comment, lossless WebP). ``prior_aigc``: the AIGC label the source carried, whose
    producer fields a re-publishing spec (``spec.propagator``) keeps, and which a spec
    without ``metadata`` keeps as it is (written back if the encoding dropped it). ``keep_watermark``: the
    image carries ``content_id``'s mark, made with the credentials' key, already (a labeled
    image labeled again, see :func:`label_image_bytes`); it is kept, not laid a second time.
    Raises :class:`LabelingError` for pixels it cannot label (empty, above the pixel limit or
    the format's largest side, NaN or out-of-range floats, too small for the visible label) and
    ``TypeError`` for an argument of the wrong type. The input is never modified.
    """
    spec = checked_spec(spec)
    wanted = None if spec.output_format is OutputFormat.SAME else spec.output_format.value
    if format is not None:
        if not isinstance(format, str):     # format=3 was "cannot write 3", a LabelingError
            raise TypeError(f"format must be a str, got {type(format).__name__}")
        given = image_codec.canonical_format(format)
        if given not in image_codec.WRITABLE:
            raise LabelingError(f"cannot write {format!r}; choose jpeg, png or webp")
        if wanted is not None and wanted != given:
            # spec.output_format was ignored without a word (a PNG came back)
            raise LabelingError(f"format {format!r} and spec.output_format {wanted!r} disagree")
        format = given
    else:
        format = wanted or "png"
    exif, icc_profile, xmp = _metadata_args(exif, icc_profile, xmp, check_xmp=spec.metadata)
    if not isinstance(title, str):
        raise TypeError(f"title must be a str, got {type(title).__name__}")
    creds = resolved_credentials(credentials, signing=True)
    converted: list[str] = []
    rgb, alpha = _as_rgb(image, converted)
    try:
        # before any work: the encoder refused it (a ValueError) after the label and the mark
        image_codec.check_encodable(rgb.shape[1], rgb.shape[0], format, exif=exif)
    except ValueError as exc:
        raise LabelingError(str(exc)) from None
    if format == "jpeg" and alpha is not None:
        # Before the label and the mark, so that both are laid on the pixels that are shown.
        if alpha.min() < 255:
            converted.append("JPEG has no alpha channel; transparent areas were composited onto white")
        rgb, alpha = _onto_white(rgb, alpha), None
    if keep_watermark and content_id is None:
        raise ValueError("keep_watermark needs the content_id the image's watermark carries")
    content_id = _content_id(content_id)
    timings: dict[str, float] = {}
    with _as_labeling_error():
        rgb, alpha, layers, warns = label_pixels(rgb, spec, creds.watermark_key, content_id, timings,
                                                 alpha=alpha, keep_watermark=keep_watermark)
    warns[:0] = converted

    t0 = time.perf_counter()
    quality = spec.jpeg_quality if format == "jpeg" else spec.webp_quality
    lossy = format == "jpeg" or (format == "webp" and not (extras and extras.lossless))
    data = image_codec.encode(rgb, format, alpha=alpha, quality=quality, exif=exif,
                              icc_profile=icc_profile, xmp=xmp, extras=extras)
    timings["encode"] = time.perf_counter() - t0
    if image_codec.is_grey_profile(icc_profile) and Image.open(io.BytesIO(data)).mode != "L":
        warns.append(f"greyscale ICC profile dropped (the {format.upper()} output is RGB)")
    if (lossy and quality < READBACK_BELOW_QUALITY and spec.watermark_readback
            and "watermark" in layers and not any(w.startswith("watermark:") for w in warns)):
        # At a low quality the encoder itself can take the mark: read back what was written.
        t0 = time.perf_counter()
        decoded = image_codec.decode(data, format).rgb
        rb = watermark.image_readback(decoded, content_id.value, creds.watermark_key,
                                      encoded=f"{format.upper()} at quality {quality}",
                                      tests=_verify_tests(spec))
        if not rb.found:                      # the encoder took it all: claimed nowhere
            layers.remove("watermark")
        if rb.warning:
            warns.append(f"watermark: {rb.said}")
        timings["readback"] = timings.get("readback", 0.0) + time.perf_counter() - t0

    return _metadata_and_manifest(data, format, spec, creds, content_id, prior_aigc, title,
                                  parent, layers, warns, timings)


def _metadata_and_manifest(data: bytes, format: str, spec: LabelSpec, creds: Credentials,
                           content_id: ContentID, prior_aigc: AIGCLabel | None, title: str,
                           parent, layers: list[str], warns: list[str],
                           timings: dict[str, float]) -> LabeledMedia:
    """The file layers on encoded ``data``: the AIGC metadata, then the signed C2PA manifest
    (which binds the watermark when ``layers`` holds one)."""
    aigc = spec.aigc_for(content_id, prior_aigc)
    if note := unlabeled_republish_warning(spec, prior_aigc):
        warns.append(note)
    if spec.metadata:
        t0 = time.perf_counter()
        data = image_meta.write_image_metadata(data, format, aigc, spec.digital_source_type)
        timings["metadata"] = time.perf_counter() - t0
        layers.append("metadata")
    elif (kept := spec.kept_label(prior_aigc)) is not None:
        # Written back where re-encoding dropped it (a PNG text chunk), with the source type
        # the XMP carried; an XMP label stays as it was.
        had = image_meta.read_image_metadata(data, format).digital_source_type
        data = image_meta.write_image_metadata(data, format, kept, had or spec.digital_source_type)
        warns.append(kept_label_warning(kept))
    if spec.c2pa:
        t0 = time.perf_counter()
        marked = "watermark" in layers    # not when the image was too small to mark
        manifest = c2pa_io.build_manifest(
            aigc=aigc,
            content_id=content_id if marked else None,
            watermark_alg=watermark.IMAGE_ALG if marked else None,
            title=title,
            digital_source_type=spec.digital_source_type,
            replaced=c2pa_io.replaced_label(prior_aigc, aigc, spec.metadata),
        )
        with _as_labeling_error():
            data = c2pa_io.sign_bytes(data, image_codec.MIME[format], manifest, creds,
                                      thumbnail=spec.thumbnail, parent=parent)
        if warning := c2pa_io.parent_warning(parent):
            warns.append(warning)
        timings["sign"] = time.perf_counter() - t0
        layers.append("c2pa")
    return LabeledMedia(data=data, format=format, mime=image_codec.MIME[format],
                        content_id=content_id, layers=layers, warnings=warns, timings=timings)


@contextlib.contextmanager
def _as_labeling_error() -> Iterator[None]:
    """The engine's and the signer's checks (a key of the wrong type, credentials that do not
    work) as :class:`LabelingError`, as audio and video raise them: one exception type for
    "this input could not be labeled", still a ValueError."""
    try:
        yield
    except LabelingError:
        raise
    except ValueError as exc:
        raise LabelingError(" ".join(str(exc).split())) from None


def output_format_for(source_format: str, spec: LabelSpec) -> tuple[str, str | None]:
    """The format to write, and a warning when the source's format cannot be kept."""
    if spec.output_format is not OutputFormat.SAME:
        return spec.output_format.value, None
    if source_format in image_codec.WRITABLE:
        return source_format, None
    return "png", f"{source_format.upper()} output is not supported; wrote PNG"


def _content_id(value) -> ContentID:
    """A ContentID from None (a new random one), a ContentID, or its value as an int."""
    if value is None:
        return ContentID.new()
    if isinstance(value, ContentID):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        try:
            return ContentID(int(value))                # numpy's integers too (np.uint64)
        except LabelError as exc:                       # out of range: bad input, as documented
            raise LabelingError(str(exc)) from None
    raise TypeError(f"content_id must be a ContentID or a 64-bit int, got {type(value).__name__}")


def label_image_bytes(data: bytes, source_format: str | None = None, *,
                      spec: LabelSpec | None = None, credentials: Credentials | None = None,
                      title: str = "image") -> LabeledMedia:
    """Label an encoded image file's bytes (JPEG, PNG, WebP; GIF, TIFF, BMP are read),
    keeping its EXIF, ICC profile and XMP, and its C2PA manifest as the new manifest's parent
    ingredient. ``source_format``: optional; the bytes are sniffed, and a format given that
    they do not hold is an error. The output keeps the
    format (``spec.output_format`` to change it). An image labeled before, whose watermark
    made with the credentials' key reads, keeps that mark and its content ID: a second mark
    with another payload, laid in step over the first, left neither readable after a few
    relabels. With neither pixel layer (``explicit`` and ``watermark`` off) and the format
    kept, the bytes are not re-encoded: the metadata and the manifest go into the file as
    it is."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    if source_format is not None and not isinstance(source_format, str):
        raise TypeError(f"source_format must be a str, got {type(source_format).__name__}")
    data = bytes(data)
    spec = checked_spec(spec)
    credentials = resolved_credentials(credentials, signing=True)
    from .formats.sniff import UnsupportedMedia, sniff_data

    try:
        media = sniff_data(data)
    except UnsupportedMedia as exc:
        raise LabelingError(str(exc)) from None
    if media.kind != "image":
        raise LabelingError(f"not an image: {media.mime} (use label_file or label_audio)")
    if source_format is not None:
        # the content decides, as for files: a given format is checked against it (a PNG
        # passed as "jpeg" was silently written as JPEG; "JPEG" wrote a PNG)
        given = image_codec.canonical_format(source_format)
        if given not in (*image_codec.MIME, "gif", "tiff", "bmp"):
            raise LabelingError(f"unknown source_format {source_format!r}; images read are "
                                "jpeg, png, webp, gif, tiff and bmp (or leave it out: the data "
                                "is sniffed)")
        if given != media.format:
            raise LabelingError(f"source_format {source_format!r} does not match the data, "
                                f"which is {media.format.upper()}")
    source_format = media.format
    try:
        decoded = image_codec.decode(data, source_format)
    except image_codec.ImageDecodeError as exc:
        raise LabelingError(str(exc)) from None
    fmt, warn = output_format_for(source_format, spec)
    name = PurePath(title).name
    # (looked for with C2PA off too: dropping it is said)
    parent = c2pa_io.parent_of(data, image_codec.MIME.get(source_format, f"image/{source_format}"), name)
    unsigned = None if spec.c2pa else parent
    parent = parent if spec.c2pa else None
    # the source's AIGC label, read once: a sign of an old mark, and the propagator's producer
    # (and the one kept as it is with metadata off)
    try:
        label = image_meta.read_image_metadata(data, source_format)
    except Exception:  # noqa: BLE001 - unreadable metadata is "no label" here
        label = None
    prior = label.aigc if label is not None else None
    xmp, notes = decoded.xmp, []
    if xmp and spec.metadata:
        try:
            xmp_packet.check_packet(xmp)
        except xmp_packet.MetadataError as exc:
            # the label goes into the XMP: a packet that does not parse cannot take it, and
            # failing the file over another tool's broken metadata helps nobody
            xmp = None
            notes.append(f"the file's XMP packet is dropped ({exc}); the output holds the "
                         f"label's own packet")
    # A labeled image keeps the content ID of this key's mark it carries: a mark laid afresh
    # keeps it in its payload, and without one (--no-watermark) the new ProduceID names the
    # mark still there (see LabelSpec.keeps_marked_id).
    own = (_own_mark(decoded.rgb, credentials.watermark_key)
           if spec.keeps_marked_id() and label is not None and label.aigc_count else None)
    kept_note = ([] if own is None or spec.watermark else
                 [kept_mark_warning("image", ContentID(own), marking=False)])
    # A labeled input that shows its label keeps it: a second one was drawn over it (a darker
    # plate) or beside it (two labels). Looked for only where the metadata says "labeled":
    # ~0.15 s per megapixel that a fresh picture never pays.
    shown = None
    if spec.explicit and label is not None and label.aigc_count and (
            shown := _shown_label(decoded.rgb, decoded.alpha, spec)) is not None:
        spec = replace(spec, explicit=False)
        kept_note.append(shown_label_warning("picture", shown))

    def with_shown(res: LabeledMedia) -> LabeledMedia:
        # the output carries the visible label it kept, as it carries a kept watermark: its
        # layers left "explicit" out, and listed "watermark"
        if shown is not None and "explicit" not in res.layers:
            res.layers.insert(0, "explicit")
        return res
    if not (spec.explicit or spec.watermark) and fmt == source_format and not notes:
        # Metadata and manifest only (a platform re-publishing, --no-explicit --no-watermark):
        # the pixels are not touched, so the file's own bytes take them. It was decoded and
        # re-encoded: a JPEG lost quality at every re-publish (a quality-50 one doubled in
        # size), a 16-bit PNG its depth. c2pa replaces the file's manifest store with the new
        # one, the old manifest kept as its parent ingredient.
        try:
            res = _metadata_and_manifest(data, fmt, spec, credentials,
                                         ContentID(own) if own is not None else ContentID.new(),
                                         prior, name, parent, [], [], {})
            res.warnings[:0] = kept_note
            if res.data != data and (note := c2pa_io.unsigned_note(
                    unsigned, c2pa_io.holds_manifest_store(res.data))):
                res.warnings.append(note)     # (unchanged bytes: the manifest still holds)
            return with_shown(res)
        except (image_meta.MetadataError, LabelingError):
            pass    # metadata or a structure it cannot edit in place: the full path rewrites it
    pixels = np.dstack([decoded.rgb, decoded.alpha]) if decoded.alpha is not None else decoded.rgb

    def label(own: int | None) -> LabeledMedia:
        return label_image(
            pixels, format=fmt, spec=spec, credentials=credentials, title=name,
            exif=decoded.exif, icc_profile=decoded.icc_profile, xmp=xmp, parent=parent,
            extras=decoded.extras, prior_aigc=prior, content_id=own,
            keep_watermark=own is not None and spec.watermark,
        )

    result = label(own)
    if (own is None and spec.watermark and spec.watermark_readback
            and any(w.startswith("watermark:") for w in result.warnings)):
        # The new mark does not read back. One cause: this key's mark is there already, on
        # an image whose metadata was removed (so it was not looked for), and the two marks,
        # laid in step, garble each other (on the fourth such round on a test photo). Only
        # now is the old mark looked for: a few ms per megapixel that a fresh image never pays.
        own = _own_mark(decoded.rgb, credentials.watermark_key)
        if own is not None:
            result = label(own)
            result.warnings.insert(0, "watermark: the image has no AIGC label but carries this "
                                      "key's watermark (its metadata was removed?)")
    result.warnings[:0] = (decoded.warnings + notes + ([warn] if warn else []) + kept_note
                           + _lost_extras(decoded.extras, fmt))
    if note := c2pa_io.unsigned_note(unsigned, c2pa_io.holds_manifest_store(result.data)):
        result.warnings.append(note)
    return with_shown(result)


def _own_mark(rgb: np.ndarray, key: bytes) -> int | None:
    """The payload of the mark made with ``key`` that a labeled image carries where it was
    laid, when it reads; else None. Only that mark would lie in step with a new one (a cropped
    image's would not), and reading it there costs a few ms per megapixel, where a full
    detection of an image labeled with another key took up to 3.4 s. Called only where the
    image has an AIGC label."""
    try:
        return watermark.payload_in_place(rgb, key)
    except ValueError:        # not an image the detector takes
        return None


def _lost_extras(extras: image_codec.Extras, fmt: str) -> list[str]:
    """Warnings for source metadata the output format has no place for."""
    from .formats import png

    out = []
    keywords = png.text_keywords(extras.png_chunks)
    if keywords and fmt != "png":
        out.append(f"PNG text chunks ({', '.join(sorted(set(keywords)))}) are not carried "
                   f"into {fmt.upper()}")
    if extras.comment and fmt != "jpeg":
        out.append(f"the JPEG comment is not carried into {fmt.upper()}")
    if fmt != "jpeg" and any(seg[1:2] == b"\xed" for seg in extras.jpeg_segments):
        out.append(f"the JPEG's IPTC-IIM (Photoshop APP13) is not carried into {fmt.upper()}")
    colour = sorted({c[4:8].decode("latin-1") for c in extras.png_chunks} & {"cICP", "mDCV", "cLLI"})
    if colour and fmt != "png":
        out.append(f"the PNG's colour-space chunks ({', '.join(colour)}: wide gamut or HDR) are "
                   f"not carried into {fmt.upper()}, where the picture shows as sRGB")
    if extras.trailer:
        out.append(f"the {extras.trailer} bytes after the JPEG's end of image (a Motion Photo's "
                   "video, further MPF pictures?) are not carried: they belong to the old "
                   "picture (label with --no-explicit --no-watermark to keep the file's bytes)")
    if extras.png_dropped:
        out.append(f"PNG chunks {', '.join(extras.png_dropped)} are not carried")
    if fmt != "png" and png.non_srgb(extras.png_chunks):
        out.append(f"the PNG's gamma / primaries (gAMA, cHRM: not sRGB) are not carried into "
                   f"{fmt.upper()}, where the picture shows as sRGB")
    if extras.dpi and fmt == "webp":
        out.append(f"the pixel density ({extras.dpi[0]:.0f} dpi) is not carried into WEBP, "
                   "which has no field for it")
    return out
