"""Explicit (perceptible) image label, GB 45438 §5: render it and find it again.

Rendering
    White text on a semi-opaque dark rounded plate, placed on a corner or an edge midpoint
    (:class:`synthlabel.models.Position`) with a margin. The font size is chosen by *measuring*
    the rendered ink box of the CJK glyphs (coverage >= 50 %), so that their height is at least
    ``height_frac`` (5 %) of the image's shortest side, with an 8 % safety factor (5.4 % by
    default), never below :data:`MIN_GLYPH_PX`. Only the plate region is touched.

    The font is the bundled OFL subset of Noto Sans CJK SC Bold (``synthlabel/fonts``), so no
    system font is needed; ``font_path=`` takes any other TrueType/OpenType font.

Detection
    The label's geometry is a function of the image size, so the expected template (the text
    coverage on its plate) is known. Each of the 8 candidate places (expected box, enlarged) is
    cropped, converted to luma, scaled so that the glyphs are ~:data:`_WORK_GLYPH_PX` high and
    searched with ``cv2.matchTemplate(TM_CCOEFF_NORMED)`` over a few scales. The score of a
    candidate is the *minimum* of the per-glyph normalised correlations (each CJK character and
    each Latin word is a segment), so a label whose text differs in a single character
    ("AI合成" vs "AI生成") scores low. Two gates force the score to 0: the text must be clearly
    brighter than its plate, and the plate's side padding must be free of text (rejects labels
    that merely *contain* ours, "由AI生成", "AI生成内容").

    Limits: the whole image may be re-encoded or rescaled (tested: JPEG 75/50, 0.5x, 0.75x) but
    not cropped or padded (the expected geometry comes from the image size); a label rendered
    at the :data:`MIN_GLYPH_PX` clamp (short side < ~185 px) is only found at its original size.
"""
from __future__ import annotations

import functools
import math
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from synthlabel.models import DEFAULT_LABEL_TEXT, Position

__all__ = [
    "DEFAULT_FONT_PATH", "DETECT_THRESHOLD", "LabelBox", "LabelDetection", "MIN_GLYPH_PX",
    "check_text", "detect_label", "render_label",
]

DEFAULT_FONT_PATH = str(Path(__file__).resolve().parent.parent / "fonts" / "SynthLabelSansCJK-Bold.otf")

#: The rendered CJK glyph height aims at ``height_frac * SAFETY`` of the short side, so that
#: rounding, resampling or a different ink threshold never drops it below ``height_frac``.
SAFETY = 1.08
#: Smallest glyph height we render (tiny images): below ~10 px CJK is not legible.
MIN_GLYPH_PX = 10
#: Plate padding around the text ink box and corner radius, as fractions of the glyph height.
PAD_X_FRAC = 0.40
PAD_Y_FRAC = 0.28
RADIUS_FRAC = 0.30

TEXT_RGB = (255, 255, 255)
PLATE_RGB = (0, 0, 0)
# Contrast (WCAG 2 relative luminance, L = lin(R,G,B) . (0.2126, 0.7152, 0.0722)):
#   text: opaque white, L_t = 1.0.
#   plate as composited over background b: p = (1 - a) * b + a * 0. The worst case is a pure
#   white background: p = (1 - a) * 255. Contrast (L_t + 0.05) / (L_p + 0.05) >= 4.5 needs
#   L_p <= 0.1833, i.e. sRGB p <= 0.4614 (117.7/255), i.e. a >= 0.539.
#   We use a = 0.72: p = 0.28 * 255 = 71.4 -> L_p = ((0.280 + 0.055) / 1.055) ** 2.4 = 0.0632
#   -> contrast 1.05 / 0.1132 = 9.3:1 on white (WCAG AAA >= 7 too); any darker background
#   gives a darker plate, so >= 9.3:1 everywhere (21:1 on black).
PLATE_ALPHA = 0.72

_REF_SIZE = 100
_LAYOUT = ImageFont.Layout.BASIC  # same result with or without libraqm


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class LabelBox:
    """Where the label went: plate box ``x, y, w, h`` in pixels, the measured height of the
    CJK glyphs' ink box (``glyph_height``, px), and ``plate``: bool ``(h, w)``, True where
    the label covers the pixel (the box less the rounded plate's outside corners)."""

    x: int
    y: int
    w: int
    h: int
    glyph_height: int
    plate: np.ndarray | None = None


@dataclass(frozen=True)
class LabelDetection:
    """Result of :func:`detect_label`. ``score`` is the per-glyph minimum correlation in
    [-1, 1]; ``box`` is ``(x, y, w, h)`` of the best match in image pixels."""

    found: bool
    score: float
    position: str | None
    box: tuple[int, int, int, int] | None
    #: The found label's CJK glyph height over the image's short side, as measured by the
    #: scale that matched (steps of ~6 %); None when not found.
    glyph_frac: float | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["box"] = list(self.box) if self.box is not None else None
        return d


# --------------------------------------------------------------------------- font


@functools.lru_cache(maxsize=64)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size, layout_engine=_LAYOUT)


def _resolve_font(font_path: str | None) -> str:
    path = str(font_path) if font_path is not None else DEFAULT_FONT_PATH
    if not Path(path).is_file():
        raise ValueError(f"font file not found: {path}")
    return path


@functools.lru_cache(maxsize=4096)
def _is_missing(path: str, ch: str) -> bool:
    """A character the font has no glyph for renders as .notdef: compare with a code point no
    font maps (U+10FFFD, private use)."""
    font = _font(path, 48)
    notdef = font.getmask("\U0010fffd")
    mask = font.getmask(ch)
    if mask.size != notdef.size:
        return False
    return bytes(mask) == bytes(notdef) and font.getlength(ch) == font.getlength("\U0010fffd")


def check_text(text: str, font_path: str | None = None) -> None:
    """ValueError (one line: why) unless ``text`` can be drawn as a label with the font
    (default: the bundled one): one line, no control characters, every glyph in the font."""
    _check_text(_resolve_font(font_path), text)


def _check_text(path: str, text: str) -> None:
    if not isinstance(text, str) or not text.strip():
        raise ValueError("label text is empty")
    ctrl = sorted({c for c in text if unicodedata.category(c).startswith("C")})
    if ctrl:
        raise ValueError(f"label text must be a single line without control characters: {ctrl!r}")
    missing = sorted({c for c in text if not c.isspace() and _is_missing(path, c)})
    if missing:
        which = "the bundled label font" if path == DEFAULT_FONT_PATH else f"font {path}"
        raise ValueError(
            f"{which} has no glyph for {''.join(missing)!r} "
            f"({', '.join(f'U+{ord(c):04X}' for c in missing)}): use a label text without "
            f"{'it' if len(missing) == 1 else 'them'}"
            + ("" if path != DEFAULT_FONT_PATH else " (or, drawing with synthlabel.core."
               "text_label yourself, font_path= a font that covers them)")
        )


def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return (
        0x3400 <= o <= 0x4DBF or 0x4E00 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF
        or 0x20000 <= o <= 0x3FFFF or 0x3040 <= o <= 0x30FF or 0xAC00 <= o <= 0xD7AF
    )


def _render_mask(path: str, size: int, text: str) -> tuple[np.ndarray, int, int]:
    """Text coverage (uint8) drawn at baseline origin; returns (mask, origin_x, baseline_y)
    in mask coordinates."""
    font = _font(path, size)
    left, top, right, bottom = font.getbbox(text, anchor="ls")
    pad = 2
    w, h = right - left + 2 * pad, bottom - top + 2 * pad
    img = Image.new("L", (max(w, 1), max(h, 1)), 0)
    ox, oy = pad - left, pad - top
    ImageDraw.Draw(img).text((ox, oy), text, font=font, fill=255, anchor="ls")
    return np.asarray(img), ox, oy


def _ink_rows(mask: np.ndarray, thresh: int = 128) -> tuple[int, int] | None:
    rows = np.flatnonzero((mask >= thresh).any(axis=1))
    if rows.size == 0:
        return None
    return int(rows[0]), int(rows[-1])


@functools.lru_cache(maxsize=1024)
def _glyph_height(path: str, size: int, text: str) -> int:
    """Measured ink height (coverage >= 50 %) of the text's CJK glyphs (or of all its glyphs
    when it has none) at font size ``size``."""
    cjk = "".join(c for c in text if _is_cjk(c)) or "".join(text.split())
    mask, _, _ = _render_mask(path, size, cjk)
    rows = _ink_rows(mask)
    return 0 if rows is None else rows[1] - rows[0] + 1


@dataclass(frozen=True)
class _Layout:
    size: int
    glyph_height: int
    text_cov: np.ndarray  # uint8, plate-sized, text coverage
    plate_cov: np.ndarray  # float32, plate-sized, rounded-rect coverage in [0, 1]
    segments: tuple[tuple[int, int], ...]  # column ranges (plate coords) of glyph segments
    pad: tuple[int, int]  # (pad_x, pad_y): empty plate around the text ink box
    keep: np.ndarray  # float32 h x w x 1: weight of the background in the composite
    add: np.ndarray  # float32 h x w x 3: plate + text contribution (+0.5 for rounding)

    @property
    def w(self) -> int:
        return self.text_cov.shape[1]

    @property
    def h(self) -> int:
        return self.text_cov.shape[0]


def _rounded_rect_cov(w: int, h: int, r: float) -> np.ndarray:
    """Anti-aliased coverage of a w x h rounded rectangle (signed distance at pixel centres)."""
    ys = np.abs(np.arange(h, dtype=np.float32) + 0.5 - h / 2)[:, None]
    xs = np.abs(np.arange(w, dtype=np.float32) + 0.5 - w / 2)[None, :]
    qx = xs - (w / 2 - r)
    qy = ys - (h / 2 - r)
    outside = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0))
    inside = np.minimum(np.maximum(qx, qy), 0)
    d = outside + inside - r
    return np.clip(0.5 - d, 0.0, 1.0).astype(np.float32)


def _segments(path: str, size: int, text: str, x_shift: float, glyph_h: int) -> list[tuple[int, int]]:
    """Column ranges of each CJK character and each run of other non-space characters."""
    font = _font(path, size)
    raw: list[list[float]] = []
    prev_kind = None
    for i, ch in enumerate(text):
        x0 = font.getlength(text[:i]) + x_shift
        x1 = font.getlength(text[: i + 1]) + x_shift
        if ch.isspace():
            prev_kind = None
            continue
        kind = "cjk" if _is_cjk(ch) else "other"
        if kind == "other" and prev_kind == "other":
            raw[-1][1] = x1
        else:
            raw.append([x0, x1])
        prev_kind = kind
    # Merge segments too narrow to be informative (punctuation) into a neighbour.
    merged: list[list[float]] = []
    for seg in raw:
        if merged and (seg[1] - seg[0] < 0.5 * glyph_h or merged[-1][1] - merged[-1][0] < 0.5 * glyph_h):
            merged[-1][1] = seg[1]
        else:
            merged.append(list(seg))
    return [(int(math.floor(a)), int(math.ceil(b))) for a, b in merged]


@functools.lru_cache(maxsize=128)
def _layout(path: str, text: str, target: int) -> _Layout:
    """Smallest font size whose measured CJK ink height is >= ``target`` px, and the plate."""
    ratio = _glyph_height(path, _REF_SIZE, text) / _REF_SIZE
    if ratio <= 0:
        raise ValueError(f"label text {text!r} renders no visible glyphs")
    size = max(1, math.ceil(target / ratio))
    while _glyph_height(path, size, text) < target:
        size += 1
    while size > 1 and _glyph_height(path, size - 1, text) >= target:
        size -= 1
    glyph_h = _glyph_height(path, size, text)

    mask, ox, _ = _render_mask(path, size, text)
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    ink = mask[ys[0] : ys[-1] + 1, xs[0] : xs[-1] + 1]
    pad_x = max(2, round(PAD_X_FRAC * glyph_h))
    pad_y = max(2, round(PAD_Y_FRAC * glyph_h))
    ph, pw = ink.shape[0] + 2 * pad_y, ink.shape[1] + 2 * pad_x
    text_cov = np.zeros((ph, pw), np.uint8)
    text_cov[pad_y : pad_y + ink.shape[0], pad_x : pad_x + ink.shape[1]] = ink
    plate_cov = _rounded_rect_cov(pw, ph, min(RADIUS_FRAC * glyph_h, ph / 2))
    segs = _segments(path, size, text, ox - xs[0] + pad_x, glyph_h)
    # Tile the whole plate width: the first/last segment take the side padding, neighbours
    # meet half-way. A label with extra characters ("AI生成内容") then fails the check where
    # our template expects empty plate.
    cuts = [0] + [(segs[i][1] + segs[i + 1][0]) // 2 for i in range(len(segs) - 1)] + [pw]
    segs = tuple((cuts[i], cuts[i + 1]) for i in range(len(segs)))
    # out = (bg * (1 - a) + plate * a) * (1 - t) + text * t  =  bg * keep + add
    a = (PLATE_ALPHA * plate_cov)[..., None]
    t = (text_cov.astype(np.float32) * (1.0 / 255.0))[..., None]
    keep = ((1.0 - a) * (1.0 - t)).astype(np.float32)
    add = (np.asarray(PLATE_RGB, np.float32) * a * (1.0 - t)
           + np.asarray(TEXT_RGB, np.float32) * t + 0.5).astype(np.float32)
    for arr in (text_cov, plate_cov, keep, add):
        arr.setflags(write=False)
    return _Layout(size, glyph_h, text_cov, plate_cov, segs, (pad_x, pad_y), keep, add)


def _target_px(short: int, height_frac: float) -> int:
    return max(MIN_GLYPH_PX, math.ceil(short * height_frac * SAFETY))


def _place(W: int, H: int, w: int, h: int, margin: int, position: Position) -> tuple[int, int]:
    p = position.value
    if "left" in p:
        x = margin
    elif "right" in p:
        x = W - margin - w
    else:
        x = (W - w) // 2
    if p.startswith("top"):
        y = margin
    elif p.startswith("bottom"):
        y = H - margin - h
    else:
        y = (H - h) // 2
    return x, y


def _margin(short: int, margin_frac: float) -> int:
    return max(2, round(short * margin_frac))


def _check_image(rgb: np.ndarray) -> None:
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(
            f"expected a uint8 H x W x 3 RGB array, got "
            f"{getattr(rgb, 'dtype', type(rgb).__name__)} {getattr(rgb, 'shape', '')}"
        )


# --------------------------------------------------------------------------- render


def check_fits(width: int, height: int, text: str = DEFAULT_LABEL_TEXT, *,
               height_frac: float = 0.05, margin_frac: float = 0.02,
               font_path: str | None = None) -> None:
    """Raise ``ValueError`` as :func:`render_label` would for a ``width`` x ``height`` picture
    (a label that does not fit, a character the font lacks), without drawing it: for a dry run."""
    _fitted(width, height, text, height_frac, margin_frac, font_path)


def _fitted(W: int, H: int, text: str, height_frac: float, margin_frac: float,
            font_path: str | None) -> tuple[_Layout, int]:
    """The label's layout and margin on a W x H picture; ValueError when it does not fit (or
    the fractions are out of range)."""
    if not 0 < height_frac < 1:
        raise ValueError(f"height_frac must be in (0, 1), got {height_frac}")
    if not 0 <= margin_frac < 0.5:
        raise ValueError(f"margin_frac must be in [0, 0.5), got {margin_frac}")
    path = _resolve_font(font_path)
    _check_text(path, text)
    short = min(H, W)
    lay = _layout(path, text, _target_px(short, height_frac))
    margin = _margin(short, margin_frac)
    if lay.w + 2 * margin > W or lay.h + 2 * margin > H:
        raise ValueError(
            f"label {text!r} does not fit: it needs {lay.w}x{lay.h} px plus a {margin} px margin "
            f"(glyphs {lay.glyph_height} px high) but the picture (image or video frame) is only "
            f"{W}x{H}; use a shorter text or a larger picture"
        )
    return lay, margin


def render_label(
    rgb: np.ndarray,
    text: str = DEFAULT_LABEL_TEXT,
    *,
    position: Position | str = Position.BOTTOM_RIGHT,
    height_frac: float = 0.05,
    margin_frac: float = 0.02,
    font_path: str | None = None,
) -> tuple[np.ndarray, LabelBox]:
    """Draw the visible label on a copy of ``rgb`` (uint8 H x W x 3); return it and the plate
    box. Whether ``text`` conforms to GB 45438 is checked elsewhere
    (:func:`synthlabel.models.check_label_text`). Raises ``ValueError`` for a character the
    font lacks or a label that does not fit the image."""
    _check_image(rgb)
    position = Position(position)
    H, W = rgb.shape[:2]
    lay, margin = _fitted(W, H, text, height_frac, margin_frac, font_path)
    x, y = _place(W, H, lay.w, lay.h, margin, position)

    out = rgb.copy()  # the only full-image copy
    view = out[y : y + lay.h, x : x + lay.w]
    region = view.astype(np.float32)
    region *= lay.keep
    region += lay.add
    np.clip(region, 0, 255, out=region)
    view[...] = region  # float -> uint8 truncation; ``add`` holds the +0.5 rounding
    return out, LabelBox(x, y, lay.w, lay.h, lay.glyph_height, plate=lay.keep[..., 0] < 0.999)


# --------------------------------------------------------------------------- detect

#: Decision threshold on the score (minimum per-glyph TM_CCOEFF_NORMED, forced to 0 when the
#: text is not clearly brighter than its plate or the empty padding holds text). Measured with
#: ``python -m tests.test_text_label`` (sets in tests/test_text_label.py):
#:   positives, n=98 (14 labeled images: natural/white/black/busy, all 8 positions, 768-1080 px
#:   short side; x {PNG, JPEG 75, JPEG 50, 0.5x, 0.75x, 0.5x+JPEG 75, 0.75x+JPEG 50}):
#:       min 0.824, p5 0.858, median 0.931, max 0.998
#:   negatives, n=56 (21 unlabeled: natural-ish, noise, busy, text-heavy incl. white-on-dark
#:   plates with other words, flat, gradients, checker; + 7 labels with other texts
#:   "AI合成", "人工智能生成合成", "AI-generated", "由AI生成", "生成AI", "AI生成内容", "深度合成";
#:   each as PNG and JPEG 75): max 0.576 ("AI合成": one glyph differs), next 0.369 ("生成AI").
#:   Without the two gates the correlation alone gives at most 0.790 ("AI生成内容"), 0.641
#:   ("由AI生成"), 0.438 (text-heavy image).
#: 0.70 sits in the middle of the 0.576 .. 0.824 gap.
DETECT_THRESHOLD = 0.70
#: Minimum mean luma difference between text and plate (0-255) at the match.
_MIN_INK_CONTRAST = 40.0
#: Largest fraction of the empty-padding pixels allowed to be text-bright.
_MAX_PAD_INK = 0.02
_WORK_GLYPH_PX = 26
_SCALES = (0.88, 0.94, 1.0, 1.06, 1.12)
_PREFILTER = 0.35


def _luma(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY).astype(np.float32)


def _ncc_best(img: np.ndarray, tpl: np.ndarray) -> float:
    if img.shape[0] < tpl.shape[0] or img.shape[1] < tpl.shape[1] or float(tpl.std()) < 1e-3:
        return -1.0
    r = cv2.matchTemplate(img, tpl, cv2.TM_CCOEFF_NORMED)
    return float(np.nan_to_num(r, nan=-1.0).max())


def detect_label(
    rgb: np.ndarray,
    text: str = DEFAULT_LABEL_TEXT,
    *,
    font_path: str | None = None,
    height_frac: float = 0.05,
    margin_frac: float = 0.02,
    threshold: float = DETECT_THRESHOLD,
) -> LabelDetection:
    """Look for our own visible label (as :func:`render_label` draws it with ``text``) in the
    corner/edge places of ``rgb``. Robust to JPEG and moderate resizing of the whole image."""
    _check_image(rgb)
    path = _resolve_font(font_path)
    _check_text(path, text)
    H, W = rgb.shape[:2]
    short = min(H, W)
    none = LabelDetection(False, 0.0, None, None)
    lay = _layout(path, text, _target_px(short, height_frac))
    margin = _margin(short, margin_frac)
    if lay.w + 2 * margin > W or lay.h + 2 * margin > H:
        return none

    s = min(1.0, _WORK_GLYPH_PX / lay.glyph_height)
    tpl_full = lay.text_cov.astype(np.float32)
    tw0, th0 = lay.w * s, lay.h * s
    tpls = []
    for k in _SCALES:
        tw, th = max(4, round(tw0 * k)), max(4, round(th0 * k))
        tpl = cv2.resize(tpl_full, (tw, th), interpolation=cv2.INTER_AREA)
        fx = tw / lay.w
        segs = [(int(a * fx), max(int(a * fx) + 2, int(math.ceil(b * fx)))) for a, b in lay.segments]
        # Empty-plate strips (left/right padding, minus 1 px next to the ink) for the pad gate.
        px = max(1, int(lay.pad[0] * fx) - 1)
        empty = np.zeros(tpl.shape, bool)
        empty[:, :px] = True
        empty[:, tw - px :] = True
        empty &= cv2.resize(lay.plate_cov, (tw, th), interpolation=cv2.INTER_AREA) > 0.99
        # 2 px off the plate edge as well: resampling phase and the match position (the
        # template is the text, the plate edge does not pin it) move it by a pixel or so.
        empty = cv2.erode(empty.astype(np.uint8), np.ones((5, 5), np.uint8),
                          borderType=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)
        tpls.append((tpl, segs, empty))

    best = (-1.0, None, None, None)
    ex, ey = round(0.18 * lay.w) + 4, round(0.30 * lay.h) + 4
    for pos in Position:
        x, y = _place(W, H, lay.w, lay.h, margin, pos)
        x0, y0 = max(0, x - ex), max(0, y - ey)
        x1, y1 = min(W, x + lay.w + ex), min(H, y + lay.h + ey)
        reg = _luma(rgb[y0:y1, x0:x1])
        if s < 1.0:
            reg = cv2.resize(reg, (max(1, round((x1 - x0) * s)), max(1, round((y1 - y0) * s))),
                             interpolation=cv2.INTER_AREA)
        for tpl, segs, empty in tpls:
            th, tw = tpl.shape
            if reg.shape[0] < th or reg.shape[1] < tw:
                continue
            r = cv2.matchTemplate(reg, tpl, cv2.TM_CCOEFF_NORMED)
            r = np.nan_to_num(r, nan=-1.0)
            _, full, _, (mx, my) = cv2.minMaxLoc(r)
            if full < _PREFILTER or full <= best[0]:
                continue  # the segment score is <= ~full: it cannot beat the best
            # Per-glyph check (each segment may move by +-1 px after resampling).
            seg_scores = []
            for a, b in segs:
                sub = reg[max(0, my - 1) : my + th + 1, max(0, mx + a - 1) : mx + b + 1]
                seg_scores.append(_ncc_best(sub, tpl[:, a:b]))
            score = min(seg_scores) if seg_scores else full
            # Polarity / contrast: the text must be clearly brighter than its plate.
            # Empty padding: a label with more text ("由AI生成", "AI生成内容") has bright strokes
            # where ours has bare plate.
            patch = reg[my : my + th, mx : mx + tw]
            on, off = tpl > 160, tpl < 20
            if on.any() and off.any():
                hi, lo = float(patch[on].mean()), float(patch[off].mean())
                if hi - lo < _MIN_INK_CONTRAST:
                    score = min(score, 0.0)
                elif empty.any() and float((patch[empty] > (hi + lo) / 2).mean()) > _MAX_PAD_INK:
                    score = min(score, 0.0)
            if score > best[0]:
                box = (x0 + round(mx / s), y0 + round(my / s), round(tw / s), round(th / s))
                best = (score, pos.value, box, lay.glyph_height * (tw / tw0) / short)

    score, pos, box, frac = best
    if pos is None:
        return none
    found = score >= threshold
    return LabelDetection(bool(found), round(float(score), 4), _where(box, W, H) if found else None,
                          box if found else None, round(frac, 4) if found else None)


def detect_any(rgb: np.ndarray, texts, **kw) -> tuple[str, LabelDetection]:
    """:func:`detect_label` for each of ``texts`` in turn: the first text found and its
    detection, else the best-scoring text and its (negative) detection."""
    best: tuple[str, LabelDetection] | None = None
    for text in texts:
        det = detect_label(rgb, text, **kw)
        if det.found:
            return text, det
        if best is None or det.score > best[1].score:
            best = (text, det)
    if best is None:
        raise ValueError("no label text to look for")
    return best


def _where(box: tuple[int, int, int, int], W: int, H: int) -> str:
    """Name where ``box`` (x, y, w, h) sits from its margins: a corner, an edge's middle, or
    "center". On a picture narrower than the label's corner regions those regions coincide,
    so the name comes from the box itself, not from the region searched."""
    x, y, w, h = box

    def side(before: int, after: int, extent: int, low: str, high: str) -> str:
        if abs(before - after) <= max(2, 0.05 * extent):
            return ""
        return low if before < after else high

    v = side(y, H - y - h, H, "top", "bottom")
    u = side(x, W - x - w, W, "left", "right")
    return "-".join(t for t in (v, u) if t) or "center"
