#!/usr/bin/env python3
"""Build the small label font shipped in ``synthlabel/fonts/``.

Source: Noto Sans CJK SC Bold, taken from the Debian package ``fonts-noto-cjk``
(``/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc``, SIL Open Font License 1.1).
We pick the Simplified-Chinese face out of the collection, keep only the characters a label
needs (printable ASCII, the label's CJK characters and a few related ones, CJK / full-width
punctuation) and rename the family.

Why rename: OFL 1.1 condition 3 forbids a Modified Version (a subset is one) from using a
Reserved Font Name as its primary name. The Debian copyright file declares none, but the
upstream noto-cjk LICENSE declares "Source" as reserved (Adobe) and the font's own name table
says "Noto is a trademark of Google Inc.", so the subset carries neither name:
it is called "SynthLabel Sans CJK Subset". Copyright and licence notices are kept in the name
table (IDs 0, 13, 14) and in ``synthlabel/fonts/OFL.txt``.

Usage::

    python tools/make_font_subset.py [--src TTC] [--out synthlabel/fonts/SynthLabelSansCJK-Bold.otf]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SRC = "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"
DEFAULT_OUT = ROOT / "synthlabel" / "fonts" / "SynthLabelSansCJK-Bold.otf"

FAMILY = "SynthLabel Sans CJK Subset"
STYLE = "Bold"
PS_NAME = "SynthLabelSansCJKSubset-Bold"
VERSION = "1.000"

ASCII = "".join(chr(c) for c in range(0x20, 0x7F))
# The label's CJK characters plus related ones users are likely to write.
CJK = "人工智能生成合成" "由内容标识深度图像视频音频本含有部分使用"
# CJK / full-width punctuation.
PUNCT = (
    "\u3000、。〈〉《》「」『』【】〔〕〖〗・"  # CJK symbols and punctuation
    "！（），－．：；？［］｛｝～"  # full-width forms
    "\u2014\u2013\u2026\u00b7\u2018\u2019\u201c\u201d"  # — – … · ‘ ’ “ ”
)
TEXT = ASCII + CJK + PUNCT


def pick_sc_face(ttc_path: str):
    coll = TTCollection(ttc_path, lazy=False)
    for font in coll.fonts:
        family = font["name"].getDebugName(1) or ""
        if family.endswith("CJK SC") and "Mono" not in family:
            return font
    raise SystemExit(f"no 'Noto Sans CJK SC' face in {ttc_path}")


def rename(font) -> None:
    name = font["name"]
    src_copyright = name.getDebugName(0) or ""
    src_license = name.getDebugName(13) or ""
    src_license_url = name.getDebugName(14) or "https://openfontlicense.org"
    src_full = name.getDebugName(4) or "Noto Sans CJK SC Bold"
    src_version = name.getDebugName(5) or ""
    name.names = []  # drop every record (incl. Mac/localised ones carrying the old name)
    records = {
        0: src_copyright,
        1: FAMILY,
        2: STYLE,
        3: f"{VERSION};SYNTHLABEL;{PS_NAME}",
        4: f"{FAMILY} {STYLE}",
        5: f"Version {VERSION}; subset of {src_full} {src_version.split(';')[0]}",
        6: PS_NAME,
        10: (
            f"Subset of {src_full} (SIL OFL 1.1) made with fontTools by "
            "tools/make_font_subset.py for synthlabel's visible AIGC labels; renamed as a "
            "Modified Version under OFL condition 3."
        ),
        13: src_license,
        14: src_license_url,
    }
    for nid, value in records.items():
        if value:
            name.setName(value, nid, 3, 1, 0x409)
    # The CFF table carries its own names.
    if "CFF " in font:
        cff = font["CFF "].cff
        cff.fontNames = [PS_NAME]
        top = cff.topDictIndex[0]
        top.FullName = f"{FAMILY} {STYLE}"
        top.FamilyName = FAMILY
        # Keep the copyright notice; drop the "Noto is a trademark" claim with the old name.
        if hasattr(top, "Notice"):
            top.Notice = src_copyright
        if hasattr(top, "Copyright"):
            top.Copyright = src_copyright


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", default=DEFAULT_SRC)
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    args = ap.parse_args(argv)

    font = pick_sc_face(args.src)
    opts = subset.Options()
    opts.layout_features = ["kern", "palt", "halt", "liga", "locl"]  # minimal, horizontal only
    opts.name_IDs = ["*"]
    opts.name_languages = ["*"]
    opts.notdef_outline = True
    opts.hinting = True
    opts.desubroutinize = True  # smaller after subsetting, and simpler CFF
    opts.drop_tables += ["VORG", "vhea", "vmtx", "BASE"]  # vertical metrics not needed
    sub = subset.Subsetter(opts)
    sub.populate(text=TEXT)
    sub.subset(font)
    rename(font)

    cmap = font.getBestCmap()
    missing = [c for c in TEXT if ord(c) not in cmap]
    if missing:
        print(f"warning: source lacks {''.join(missing)!r}", file=sys.stderr)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    font.save(str(out))
    print(f"{out}: {out.stat().st_size / 1024:.1f} KB, {len(cmap)} characters, "
          f"{len(font.getGlyphOrder())} glyphs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
