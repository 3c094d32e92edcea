"""Decode images to RGB arrays and encode them back, carrying EXIF, ICC and XMP across.

Pixels go in and out as RGB ``uint8`` H×W×3 plus an optional alpha plane H×W; the metadata that
a re-encode would otherwise drop (EXIF, ICC profile, an existing XMP packet) travels in
:class:`DecodedImage` so the labeled file keeps it.
"""
from __future__ import annotations

import contextlib
import io
import stat
import struct
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageOps

from ..fsutil import open_checked
from . import exif as exif_layout
from .xmp import swapped_dimensions, upright_orientation

# Formats we write; anything else we can decode is written as PNG.
WRITABLE = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}
MIME = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
EXTENSION = {"jpeg": ".jpg", "png": ".png", "webp": ".webp"}
#: Other names of image formats (file suffixes without the dot) -> our format name.
FORMAT_ALIASES = {"jpg": "jpeg", "jpe": "jpeg", "jfif": "jpeg", "tif": "tiff"}


def canonical_format(name) -> str:
    """A format name as the codec spells it: "JPG", ".jpeg" and "jfif" are "jpeg"."""
    name = str(name).lower().lstrip(".")
    return FORMAT_ALIASES.get(name, name)

# Decompression-bomb guard: refuse images beyond this many pixels. Pillow's own limit (its
# DecompressionBombError, at twice the pixels of its warning; ~13.4k x 13.4k): above it Pillow
# will not open the file. The warning below it is not an error (a 96 MP photo is legitimate).
MAX_PIXELS = 2 * 89_478_485
#: Image files larger than this are refused before they are read: the largest image Pillow
#: decodes within MAX_PIXELS is well under it (a 16-bit RGBA TIFF at the limit: 1.4 GB), and
#: a file is read whole (a sparse 3 GB PNG of 548 KB on disk took 3 GB of memory).
MAX_FILE_BYTES = 2 << 30


def read_file(path) -> bytes:
    """The bytes of the image file ``path``, or OSError when it is larger than MAX_FILE_BYTES."""
    f, st = open_checked(path)          # a file swapped since it was sniffed is caught here
    with f:
        if not stat.S_ISREG(st.st_mode):
            raise OSError("not a regular file")
        if st.st_size > MAX_FILE_BYTES:
            raise OSError(f"{st.st_size / 2**30:.1f} GiB is more than an image file can hold "
                          f"({MAX_FILE_BYTES >> 30} GiB at most)")
        return f.read()


class ImageDecodeError(ValueError):
    """The bytes are not a decodable image (corrupt, truncated, unsupported)."""


@dataclass
class DecodedImage:
    rgb: np.ndarray                      # uint8 H×W×3, display orientation
    alpha: np.ndarray | None = None      # uint8 H×W, or None
    format: str = "png"                  # sniffed source format ("jpeg", "png", ...)
    exif: bytes | None = None            # with Orientation reset to 1 (pixels are upright)
    icc_profile: bytes | None = None
    xmp: bytes | None = None
    warnings: list[str] = field(default_factory=list)
    extras: Extras = field(default_factory=lambda: Extras())


@dataclass
class Extras:
    """What else a re-encode keeps from the source file, beyond EXIF, ICC and XMP."""

    lossless: bool = False               # a lossless WebP source: the output stays lossless
    grey: bool = False                   # a greyscale source: written grey where it still is
    progressive: bool = False            # a progressive JPEG source: a JPEG output is too
    # Pixel density (dots per inch), from any source that states it (JPEG JFIF, PNG pHYs,
    # BMP, TIFF): written as JFIF density into JPEG and as pHYs into PNG (a PNG source's own
    # pHYs chunk, in png_chunks, goes as it is); WebP has no field for it.
    dpi: tuple[float, float] | None = None
    comment: bytes | None = None         # JPEG COM segment
    jpeg_segments: list[bytes] = field(default_factory=list)  # ExtendedXMP, IPTC-IIM (jpeg.carried_segments)
    png_chunks: list[bytes] = field(default_factory=list)   # raw PNG chunks (png.ancillary)
    # Bytes after a JPEG's end-of-image marker (a Motion Photo's video, MPF pictures): a
    # re-encode cannot carry them (they describe the old picture), so they are said lost.
    trailer: int = 0
    # PNG chunks a re-encode drops, named for the warning (png.dropped)
    png_dropped: list[str] = field(default_factory=list)


#: TIFF tags that describe the TIFF file itself (dimensions, strips and tiles, sample layout,
#: compression, embedded XMP and ICC): dropped from the EXIF carried into another format.
_TIFF_STRUCTURE_TAGS = (256, 257, 258, 259, 262, 266, 273, 277, 278, 279, 284, 317, 322, 323,
                        324, 325, 338, 339, 340, 341, 530, 531, 532, 700, 34675)
#: A TIFF's IPTC-IIM (33723) and Photoshop resources (34377): binary blocks Pillow's EXIF
#: writer lays out as garbage (the IPTC became a 7-byte number string ExifTool rejects).
#: PNG's eXIf has no place for them; they are dropped with a warning.
_TIFF_BLOCK_TAGS = {33723: "IPTC-IIM", 34377: "Photoshop"}


def _xmp_of(im: Image.Image) -> bytes | None:
    xmp = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8")
    return xmp or None


def decode(data: bytes, fmt: str) -> DecodedImage:
    """Decode image bytes. EXIF orientation is applied so that a label drawn in the
    bottom-right lands bottom-right as viewers show it."""
    try:
        return _decode(data, fmt)
    except ImageDecodeError:
        if fmt != "png":
            raise
        from . import png

        cleaned, dropped = png.without_bad_ancillary(data)
        if not dropped:
            raise
    out = _decode(cleaned, fmt)
    out.warnings.append(f"dropped PNG {', '.join(dropped)} chunk(s) with a bad CRC (corrupt "
                        f"metadata; the image itself is intact)")
    return out


#: ``warnings.catch_warnings`` swaps process-wide state (the filters and the display hook):
#: two decodes in threads that overlapped restored each other's temporary state, and the
#: application's own warnings were then swallowed for good. The blocks that record Pillow's
#: warnings are therefore serialized, and kept short: header and EXIF parsing, not the decode.
_WARNINGS_LOCK = threading.Lock()


@contextlib.contextmanager
def _recorded_warnings(*ignored: type[Warning]) -> Iterator[list[warnings.WarningMessage]]:
    """The UserWarnings raised inside (every one, not once per place), ``ignored`` dropped."""
    with _WARNINGS_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        for category in ignored:
            warnings.simplefilter("ignore", category)
        yield caught


#: The decoders' words for data they could not make a picture of: a damaged or cut file
#: ("could not create decoder object" read as a fault of the machine)
_DAMAGED_DATA = ("could not create decoder object", "failed to read next frame",
                 "cannot load this image", "Truncated File Read", "broken data stream")


def _say_notes(out: DecodedImage, caught: list[warnings.WarningMessage], what: str,
               unsaid: Callable[[str], bool] = lambda note: False) -> None:
    """Pillow's UserWarnings about the file, as the file's warnings (once each); ``unsaid``:
    the notes to leave out."""
    for note in dict.fromkeys(" ".join(str(w.message).split()) for w in caught
                              if issubclass(w.category, UserWarning)):
        if not unsaid(note) and (said := f"{what}: {note}") not in out.warnings:
            out.warnings.append(said)


def _decode(data: bytes, fmt: str) -> DecodedImage:
    try:
        with _recorded_warnings(Image.DecompressionBombWarning) as opening:
            im = Image.open(io.BytesIO(data))
            # Pillow (13) turns a TIFF upright by its orientation tag as it loads it and drops
            # the tag: read before the load, so that the turn is said and the XMP follows it
            stored_orientation = im.getexif().get(0x0112, 1) if fmt == "tiff" else 1
            if im.width * im.height > MAX_PIXELS:
                raise ImageDecodeError(f"image is {im.width}x{im.height}, above the "
                                       f"{MAX_PIXELS:,} pixel limit")
        if im.width * im.height > Image.MAX_IMAGE_PIXELS:
            # Pillow warns again while decoding a picture this large (a TIFF checks when it
            # loads): our own limit is above, and the warning reached stderr. Only these
            # rare decodes are serialized by the lock.
            with _recorded_warnings(Image.DecompressionBombWarning):
                im.load()
        else:
            im.load()  # full decode now: truncation shows here, not later
    except ImageDecodeError:
        raise
    except Image.DecompressionBombError:
        raise ImageDecodeError(f"image is larger than the {MAX_PIXELS:,} pixel limit") from None
    except Image.UnidentifiedImageError:
        # PIL's message names the in-memory buffer ("<_io.BytesIO object at 0x...>"): say what
        # it means instead.
        raise ImageDecodeError(f"cannot decode {fmt.upper()} image: the data is not a readable "
                               f"{fmt.upper()} file (corrupt or truncated header)") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning,
            Image.DecompressionBombError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if any(k in reason for k in _DAMAGED_DATA):
            reason = f"the data is damaged or cut short ({reason})"
        raise ImageDecodeError(f"cannot decode {fmt.upper()} image: {reason}") from None
    out = DecodedImage(rgb=np.empty((0, 0, 3), np.uint8), format=fmt)
    out.icc_profile = im.info.get("icc_profile") or None
    out.xmp = _xmp_of(im)
    if fmt == "jpeg" and out.xmp is None:
        from . import jpeg

        out.xmp = jpeg.loose_xmp(data)
        if out.xmp is not None:
            out.warnings.append("the XMP packet under a non-standard APP1 header is carried in "
                                "a standard one")
    elif fmt == "jpeg" and len(packets := _jpeg_xmp_packets(data)) > 1:
        # A file holds one XMP packet; Pillow keeps the last of several, and the others' were
        # lost without a word (ExifTool reads them all)
        out.warnings.append(f"the JPEG holds {len(packets)} XMP packets: only the last is carried "
                            f"(merge them into one first: exiftool -tagsfromfile @ -xmp:all FILE)")
    if fmt == "png" and out.xmp:
        # Pillow reads a tEXt / zTXt XMP packet as Latin-1; png.extract reads its UTF-8
        from . import png

        packets = png.extract(data).xmp
        out.xmp = packets[0] if packets else out.xmp
    try:
        with _recorded_warnings() as noted:
            # Pillow's notes on damaged metadata ("Corrupt EXIF data", "tag ... had too many
            # entries", here and when opening) went to stderr as Python warnings: they are
            # about the file, so they are said as its warnings
            exif = im.getexif()
            if 0x8769 in exif:
                # (only where there is one: asked for, Pillow makes an empty Exif directory,
                # which it then writes, and ExifTool warns about the output)
                exif.get_ifd(0x8769)
    except (ValueError, SyntaxError, struct.error) as exc:
        # e.g. an ImageMagick raw-profile chunk whose hex does not decode: the EXIF is lost,
        # the picture is not
        exif, noted = Image.Exif(), []
        out.warnings.append(f"unreadable EXIF dropped ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})")
    _say_notes(out, [*opening, *noted], "EXIF",          # (the TIFF blocks: dropped anyway)
               unsaid=lambda note: any(f"tag {tag} " in note for tag in _TIFF_BLOCK_TAGS))
    # the bytes it was read from (taken before exif_transpose, which lays them out anew)
    exif_source = data if fmt == "tiff" else im.info.get("exif")
    if fmt == "tiff":
        # A TIFF's first IFD is its image directory: the strip/tile layout, sample format, its
        # own XMP (tag 700, carried separately) and ICC profile (34675) describe the TIFF, not
        # the PNG written from it.
        for tag in _TIFF_STRUCTURE_TAGS:
            exif.pop(tag, None)
        with _recorded_warnings():                       # Pillow's note on its layout
            blocks = [name for tag, name in _TIFF_BLOCK_TAGS.items() if exif.pop(tag, None) is not None]
        if blocks:
            out.warnings.append(f"the TIFF's {' and '.join(blocks)} metadata is not carried "
                                "(the output has no place for it)")
    orientation = exif.get(0x0112, 1)
    turned = orientation == 1 and stored_orientation in range(2, 9)     # by Pillow's load
    if turned:
        orientation = stored_orientation
    if orientation in range(2, 9):                  # 1 is upright; other values mean nothing
        if not turned:
            with _recorded_warnings() as turning:   # (it reads the EXIF again)
                im = ImageOps.exif_transpose(im)
            _say_notes(out, turning, "EXIF")
        exif[0x0112] = 1
        if orientation >= 5:                        # a quarter turn: width and height swap
            _swap_exif_dimensions(exif)
        if out.xmp:
            out.xmp = upright_orientation(out.xmp)
            if orientation >= 5:
                out.xmp = swapped_dimensions(out.xmp, im.width, im.height)
        out.warnings.append(f"applied EXIF orientation {orientation} to the pixels")
    if len(exif):
        # The source's own bytes, edited in place, keep a maker note's offsets; Pillow's
        # layout (for a TIFF's image directory, or EXIF Pillow had to mend) moves every value
        # and loses the source's UNDEFINED field types (ExifTool then warns)
        kept = None
        if fmt != "tiff" and exif_source and not noted:
            kept = exif_layout.edited_in_place(exif_source, orientation_applied=orientation in range(2, 9),
                                               quarter_turn=orientation in range(5, 9))
        out.exif = kept or exif_layout.restore_types(exif_source, exif.tobytes())
        if fmt != "tiff" and exif_source and exif_layout.has_thumbnail(exif_source):
            # (a TIFF's IFD0 links its next page, not a thumbnail: the frames warning says it)
            out.warnings.append("the EXIF thumbnail is not kept (it shows the picture without "
                                "its label)")
    unread = None
    with _recorded_warnings() as counting:
        # (Pillow notes a damaged later page's EXIF as a warning: it is the file's)
        try:
            frames = getattr(im, "n_frames", 1)
        except (TypeError, ValueError, OSError, SyntaxError, EOFError, struct.error) as exc:
            # Counting walks every frame's header: a damaged later one (a TIFF's next-IFD
            # offset beyond the file) raised Pillow's TypeError "Missing dimensions"
            frames, unread = 1, str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    _say_notes(out, counting, fmt.upper())
    if unread is not None:
        out.warnings.append(f"{fmt.upper()}: what follows the first frame cannot be read ({unread}); "
                            "the output is a still of the first, labeled")
        try:
            im.seek(0)
        except Exception:  # noqa: BLE001 - the first frame is decoded already
            pass
    if frames > 1:
        out.warnings.append(f"{fmt.upper()} has {frames} frames; the output is a still of "
                            "the first, labeled (the others are not kept)")
    _carry_extras(out, im, data, fmt)
    if orientation in range(5, 9) and out.extras.dpi:
        # a quarter turn swaps the density too, as the EXIF resolution fields are swapped (the
        # JFIF density kept the old order, and the two disagreed)
        out.extras.dpi = out.extras.dpi[::-1]
    # A tRNS chunk makes one colour (grey level) of an RGB or grey PNG transparent: Pillow keeps
    # it in info["transparency"], not as an alpha band, so it is read out here.
    # a grey source (8- or 16-bit, bilevel) is written grey again when its labeled pixels are
    # (encode): as RGB, a grey PNG tripled in size
    out.extras.grey = im.mode in WIDE_MODES + ("L", "LA", "1") or _png_grey(data, fmt)
    out.extras.progressive = fmt == "jpeg" and bool(im.info.get("progressive") or im.info.get("progression"))
    if im.mode in ("P", "PA"):
        out.warnings.append("palette image written as full colour (the mark needs more levels "
                            "than a palette holds)")
    key_alpha = None
    if im.mode in WIDE_MODES + ("L", "RGB") and "transparency" in im.info:
        key = im.info["transparency"]
        px = np.asarray(im)
        hit = np.all(px == np.asarray(key), axis=-1) if px.ndim == 3 else px == key
        if hit.any():
            key_alpha = np.where(hit, 0, 255).astype(np.uint8)
    if im.mode in WIDE_MODES:
        try:
            im, warning = to_8bit(im)
        except ValueError as exc:
            raise ImageDecodeError(f"cannot decode {fmt.upper()} image: {exc}") from None
        out.warnings.append(warning)
    elif _sixteen_bit_color(im, data, fmt):
        # Pillow itself opens 16-bit colour PNG and TIFF as 8-bit RGB(A), and 16-bit grey +
        # alpha PNG as RGBA.
        what = "grey" if _png_grey(data, fmt) else "colour"
        out.warnings.append(f"16-bit {what} image reduced to 8 bits per channel")
    has_alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
    if key_alpha is not None:
        out.rgb = np.ascontiguousarray(np.asarray(im.convert("RGB")))
        out.alpha = key_alpha
    elif has_alpha:
        rgba = np.asarray(im.convert("RGBA"))
        out.rgb = np.ascontiguousarray(rgba[..., :3])
        alpha = rgba[..., 3]
        out.alpha = None if alpha.min() == 255 else np.ascontiguousarray(alpha)
    else:
        if im.mode == "CMYK":
            dropped = " and its CMYK ICC profile dropped (colours approximate)" if out.icc_profile else ""
            out.warnings.append(f"CMYK image converted to RGB{dropped}")
            out.icc_profile = None  # a CMYK profile would mislabel RGB pixels
        # (an RGB image is not converted: convert() would copy every pixel once more)
        out.rgb = np.ascontiguousarray(np.asarray(im if im.mode == "RGB" else im.convert("RGB")))
    if is_grey_profile(out.icc_profile) and not out.extras.grey:
        # A colour picture goes out as RGB: a greyscale profile would make the file invalid
        # (viewers refuse or misread it). Without it the levels are read as sRGB. (A grey
        # picture's grey profile goes with it, where it is written grey: see encode.)
        out.warnings.append("greyscale ICC profile dropped (the output is RGB)")
        out.icc_profile = None
    return out


#: Pillow modes of one wide channel (16-bit or 32-bit integer, 32-bit float).
WIDE_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")


def _jpeg_xmp_packets(data: bytes) -> list[bytes]:
    """The standard XMP packets of a JPEG's APP1 segments (none when it does not parse)."""
    from . import jpeg
    from .xmp import MetadataError

    try:
        return jpeg.extract(data).xmp
    except MetadataError:
        return []


def to_8bit(im: Image.Image) -> tuple[Image.Image, str]:
    """A wide single-channel image (:data:`WIDE_MODES`) as 8-bit grey, and the warning
    saying so. Levels are kept wherever the values name their range: 16-bit modes from 16-bit
    full scale; a 32-bit integer ("I") image from the 8-bit range when its values fit there
    (``convert("I")`` of an 8-bit image) else from 16-bit full scale when they fit there (a
    16-bit PNG or TIFF); a float ("F") image from [0, 1] when it lies within, else from
    [0, 255] (``convert("F")``). Only values beyond every such range (HDR, a 32-bit count)
    are scaled from their own minimum..maximum, and the warning says so: stretching an image
    that had a range would change how it looks."""
    arr = np.asarray(im, np.float64)
    if not np.isfinite(arr).all():
        raise ValueError("the float image holds NaN or infinity")
    lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
    warning = f"{im.mode} image reduced to 8 bits per channel"
    if im.mode.startswith("I;16") or (im.mode == "I" and lo >= 0 and 255 < hi <= 65535):
        offset, scale = 0.0, 255.0 / 65535.0
    elif im.mode == "F" and lo >= 0 and hi <= 1.0:
        offset, scale = 0.0, 255.0
    elif lo >= 0 and hi <= 255:     # an "I" or "F" image of 8-bit levels
        offset, scale = 0.0, 1.0
    else:
        offset, scale = lo, 255.0 / max(hi - lo, 1e-12)
        warning += f" (its values, {lo:g} to {hi:g}, fit no fixed range: stretched to 0..255)"
    out = Image.fromarray(np.clip((arr - offset) * scale + 0.5, 0, 255).astype(np.uint8), "L")
    return out, warning


def _carry_extras(out: DecodedImage, im: Image.Image, data: bytes, fmt: str) -> None:
    # the density, whatever the source: lost when the format changed (PNG -> JPEG, BMP -> PNG)
    dpi = im.info.get("dpi")
    if fmt == "tiff" and 282 not in getattr(im, "tag_v2", {}):
        dpi = None    # Pillow says (1, 1) for a TIFF without XResolution: 1 dpi was written
    if dpi and (fmt != "jpeg" or im.info.get("jfif_unit") in (1, 2)) and \
            all(float(v) > 0 for v in dpi):
        out.extras.dpi = (float(dpi[0]), float(dpi[1]))
    if fmt == "png":
        from . import png

        out.extras.png_chunks = png.ancillary(data)
        out.extras.png_dropped = png.dropped(data)
    elif fmt == "jpeg":
        from . import jpeg

        # The last comment is written by the encoder, after the header's APPn segments; any
        # before it (Pillow reads only one) go over as segments of their own, ahead of it.
        notes = jpeg.comments(data)
        out.extras.comment = notes[-1] if notes else None
        out.extras.jpeg_segments = jpeg.carried_segments(data) + \
            [jpeg.comment_segment(c) for c in notes[:-1]]
        # (the scan costs ~1 ms per 2 MB: skipped where the file ends with EOI and holds no
        # MPF index, whose further pictures would end with one too)
        if not data.rstrip(b"\x00").endswith(b"\xff\xd9") or b"MPF\x00" in data[:65536]:
            end = jpeg.image_end(data)
            if end is not None and data[end:].strip(b"\x00\xff"):   # padding is no trailer
                out.extras.trailer = len(data) - end
    elif fmt == "webp":
        out.extras.lossless = _webp_lossless(data)
    elif fmt == "gif":
        # Written as PNG: the comment goes into a tEXt chunk, the XMP (which Pillow does not
        # read: it keeps only the extension's name) into the output's packet. Both were lost.
        comment = im.info.get("comment")
        if isinstance(comment, bytes) and comment:
            from . import png

            # tEXt holds Latin-1 without NUL bytes
            out.extras.png_chunks = [png.chunk(b"tEXt", b"Comment\x00" + comment.replace(b"\x00", b""))]
        if out.xmp is None:
            out.xmp = _gif_xmp(data)


def _gif_xmp(data: bytes) -> bytes | None:
    """The XMP packet of a GIF's "XMP DataXMP" application extension (XMP spec part 3: the
    packet's bytes as they are, then a 258-byte "magic trailer"), or None."""
    at = data.find(b"\x21\xff\x0bXMP DataXMP")
    if at < 0:
        return None
    start = at + 14
    end = data.find(b"<?xpacket end=", start)
    close = data.find(b"?>", end) if end >= 0 else -1
    if end < 0 or close < 0 or not data.startswith(b"<?xpacket", start):
        return None
    return data[start:close + 2]


def _webp_lossless(data: bytes) -> bool:
    """A WebP whose image is VP8L (lossless), simple or extended (VP8X) layout."""
    if data[12:16] == b"VP8L":
        return True
    pos = 12
    while pos + 8 <= len(data):
        ctype, size = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "little")
        if ctype in (b"VP8L", b"VP8 "):
            return ctype == b"VP8L"
        if ctype == b"ANMF":
            return data[pos + 24:pos + 28] == b"VP8L"   # the first frame's bitstream
        pos += 8 + size + (size & 1)
    return False


def _swap_exif_dimensions(exif: Image.Exif) -> None:
    """After a quarter turn of the pixels: the Exif IFD's PixelXDimension / PixelYDimension
    (ExifImageWidth / Height) swap, as do IFD0's resolutions, or they describe the old
    layout."""
    ifd = exif.get_ifd(0x8769) if 0x8769 in exif else {}   # (asking makes an empty one)
    if 0xA002 in ifd and 0xA003 in ifd:
        ifd[0xA002], ifd[0xA003] = ifd[0xA003], ifd[0xA002]
    if 282 in exif and 283 in exif:
        exif[282], exif[283] = exif[283], exif[282]


def _png_grey(data: bytes, fmt: str) -> bool:
    """A PNG whose IHDR says grey (colour type 0) or grey + alpha (4): Pillow opens the 16-bit
    grey + alpha one as RGBA, and it came out as colour."""
    return fmt == "png" and len(data) > 25 and data[25] in (0, 4)


def _sixteen_bit_color(im: Image.Image, data: bytes, fmt: str) -> bool:
    if fmt == "png":
        # IHDR: bit depth at byte 24, colour type 2 (RGB), 4 (grey + alpha; Pillow opens it as
        # 8-bit LA) or 6 (RGBA) at byte 25
        return len(data) > 25 and data[24] == 16 and data[25] in (2, 4, 6)
    if fmt == "tiff":
        bits = getattr(im, "tag_v2", {}).get(258)
        bits = bits if isinstance(bits, tuple) else (bits,)
        return im.mode in ("RGB", "RGBA") and any(b and int(b) > 8 for b in bits)
    return False


#: Largest side each writable format holds (libwebp's limit; JPEG's 16-bit header fields).
MAX_SIDE = {"webp": 16383, "jpeg": 65535}
#: Largest EXIF block (with its "Exif\0\0" header) a JPEG APP1 segment holds: 64 KiB less
#: the length field, as Pillow checks it.
MAX_JPEG_EXIF = 65533


def check_encodable(width: int, height: int, fmt: str, *, exif: bytes | None = None) -> None:
    """Raise ``ValueError`` (one line, naming the way out) for a picture ``fmt`` cannot hold:
    WebP's and JPEG's largest sides, an EXIF block over JPEG's segment limit. What labeling
    would fail on after its work (libwebp's "encoding error 5", Pillow's "EXIF data is too
    long"), said before it, and by a dry run."""
    limit = MAX_SIDE.get(fmt)
    if limit and max(width, height) > limit:
        raise ValueError(f"{fmt.upper()} holds at most {limit} px a side and the picture is "
                         f"{width}x{height}: write PNG (-f png; format=\"png\" in the library)")
    if fmt == "jpeg" and exif and len(exif) > MAX_JPEG_EXIF:
        raise ValueError(f"its EXIF ({len(exif):,} bytes) is over JPEG's 64 KB segment limit: "
                         "write PNG or WebP (-f png; format=\"png\" in the library), or strip "
                         "the EXIF first")


def encode(rgb: np.ndarray, fmt: str, *, alpha: np.ndarray | None = None, quality: int = 92,
           exif: bytes | None = None, icc_profile: bytes | None = None,
           xmp: bytes | None = None, extras: Extras | None = None) -> bytes:
    """Encode RGB (+alpha) to ``fmt`` ("jpeg", "png" or "webp"). JPEG drops alpha.
    ``extras``: what else to keep from the source (:class:`Extras`; each part goes where the
    output format has a place for it: raw PNG chunks into PNG, density, comment, ExtendedXMP
    and IPTC-IIM into JPEG, the ExtendedXMP merged into a PNG's or WebP's packet;
    ``lossless`` makes a WebP lossless). A JPEG's XMP too large for one segment is split
    into ExtendedXMP."""
    if fmt not in WRITABLE:
        raise ValueError(f"cannot write {fmt!r}; choose one of {sorted(WRITABLE)}")
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected uint8 HxWx3 RGB, got {rgb.dtype} {rgb.shape}")
    check_encodable(rgb.shape[1], rgb.shape[0], fmt, exif=exif)
    extras = extras or Extras()
    from . import jpeg

    # A grey source whose labeled pixels are still grey (the mark and the label plate are
    # neutral) goes out grey in PNG and JPEG; WebP has no grey mode. An RGB profile cannot
    # describe grey pixels, so one attached keeps the output RGB.
    # (Grey with alpha stays grey with alpha in PNG: written as RGBA, a grey + alpha PNG
    # grew 2.7x.)
    grey = (extras.grey and fmt in ("png", "jpeg")
            and (not icc_profile or is_grey_profile(icc_profile)) and _neutral(rgb))
    if is_grey_profile(icc_profile) and not grey:
        icc_profile = None      # it cannot describe RGB pixels (label_image says it is dropped)
    if fmt != "jpeg" and xmp and extras.jpeg_segments:
        # a JPEG source's ExtendedXMP: PNG and WebP hold the whole packet, so it is merged
        # back (it was lost, and the packet kept pointing at it)
        xmp = jpeg.with_extension(xmp, extras.jpeg_segments)
    if fmt == "png":
        chunks = list(extras.png_chunks)
        if extras.dpi and not any(c[4:8] == b"pHYs" for c in chunks):
            from . import png

            # pixels per metre, unit 1 (metre)
            ppm = [max(1, round(v / 0.0254)) for v in extras.dpi]
            chunks.append(png.chunk(b"pHYs", ppm[0].to_bytes(4, "big") + ppm[1].to_bytes(4, "big") + b"\x01"))
        return _encode_png(rgb[..., :1] if grey else rgb, alpha, exif=exif, icc_profile=icc_profile,
                           xmp=xmp, chunks=chunks)
    if alpha is not None and fmt != "jpeg":
        im = Image.fromarray(np.dstack([rgb, alpha]), "RGBA")
    elif grey:
        im = Image.fromarray(np.ascontiguousarray(rgb[..., 0]), "L")
    else:
        im = Image.fromarray(rgb, "RGB")
    kw: dict = {}
    if exif:
        kw["exif"] = exif
    if icc_profile:
        kw["icc_profile"] = icc_profile
    # Pillow refuses an XMP packet larger than one JPEG segment: jpeg.with_xmp splits such a
    # packet into ExtendedXMP once the pixels are written.
    split_xmp = fmt == "jpeg" and xmp is not None and len(xmp) > jpeg.MAX_XMP_PACKET
    if xmp and not split_xmp:
        kw["xmp"] = xmp
    if fmt == "jpeg":
        # 4:2:0 like every camera and service; optimize costs little and saves ~5 %.
        kw.update(quality=quality, subsampling=2 if quality < 95 else 0, optimize=False,
                  progressive=extras.progressive)   # a progressive source stays progressive
        if extras.dpi:
            kw["dpi"] = extras.dpi
        if extras.comment:
            kw["comment"] = extras.comment
    elif fmt == "webp" and extras.lossless:
        # quality is the compression effort for lossless WebP; 20 with method 1 is fast.
        kw.update(lossless=True, quality=20, method=1)
    elif fmt == "webp":
        # method 2: ~2.4x faster than the default 4 at 1 MP for ~2 % more bytes (measured).
        kw.update(quality=quality, method=2)
    if fmt == "webp" and alpha is not None:
        # libwebp throws away the colour under alpha 0 unless told to keep it: a fully
        # transparent picture lost its mark (and any colour a viewer that ignores alpha shows)
        kw["exact"] = True
    buf = io.BytesIO()
    im.save(buf, WRITABLE[fmt], **kw)
    data = buf.getvalue()
    if fmt == "jpeg":
        # the carried ExtendedXMP first: with_xmp merges it if the new packet points at it
        data = jpeg.insert_segments(data, extras.jpeg_segments)
        if split_xmp:
            data = jpeg.with_xmp(data, xmp)
    return data


def is_grey_profile(icc_profile: bytes | None) -> bool:
    """Whether an ICC profile describes grey pixels (its header's colour space is GRAY)."""
    return bool(icc_profile) and icc_profile[16:20] == b"GRAY"


def _neutral(rgb: np.ndarray) -> bool:
    """Whether every pixel of ``rgb`` has R == G == B (a sparse sample first: a colour picture
    is told from a few hundred pixels, a grey one costs two full comparisons)."""
    sample = rgb[::17, ::13]
    if not (np.array_equal(sample[..., 0], sample[..., 1]) and np.array_equal(sample[..., 1], sample[..., 2])):
        return False
    return bool(np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]))


def _encode_png(rgb: np.ndarray, alpha: np.ndarray | None, *, exif: bytes | None,
                icc_profile: bytes | None, xmp: bytes | None, chunks: list[bytes] = ()) -> bytes:
    """PNG through OpenCV with zlib's Huffman-only strategy: measured at 1 MP about 2x faster
    than Pillow's level-1 deflate and ~15 % smaller on photo-like content (filters + Huffman
    capture most of the gain; LZ77 matches are rare in noisy pixels). Ancillary chunks that
    OpenCV cannot write (iCCP, eXIf, XMP iTXt) are inserted right after IHDR."""
    import zlib

    import cv2

    from . import png as png_chunks

    # rgb: H x W x 3, or H x W x 1 for a grey picture (written grey)
    if rgb.shape[2] == 1 and alpha is not None:
        # grey + alpha: OpenCV's PNG encoder takes 1, 3 or 4 channels, Pillow writes LA
        out = io.BytesIO()
        Image.fromarray(np.dstack([rgb[..., 0], alpha]), "LA").save(out, "PNG", compress_level=1)
        data = out.getvalue()
    else:
        bgr = np.ascontiguousarray(rgb[..., 0]) if rgb.shape[2] == 1 else cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        if alpha is not None:
            bgr = np.dstack([bgr, alpha])
        ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1,
                                             cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY])
        if not ok:
            raise ValueError("PNG encoding failed")
        data = buf.tobytes()
    extra = []
    if icc_profile:
        extra.append(png_chunks.chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc_profile)))
    if exif:
        extra.append(png_chunks.chunk(b"eXIf", exif_layout.for_png(exif)))
    if xmp:
        extra.append(png_chunks.itxt(b"XML:com.adobe.xmp", xmp))
    extra.extend(chunks)
    if not extra:
        return data
    ihdr_end = 8 + 12 + int.from_bytes(data[8:12], "big")
    return data[:ihdr_end] + b"".join(extra) + data[ihdr_end:]
