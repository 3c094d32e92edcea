"""The XMP packet that carries the GB 45438 implicit label in image files.

One packet holds two properties:

* ``TC260:AIGC`` (namespace ``http://www.tc260.org.cn/ns/AIGC/1.0/``), value = the *inner*
  7-key JSON object (the property name already says AIGC), XML-escaped;
* ``Iptc4xmpExt:DigitalSourceType``, value = the full IPTC vocabulary URI.

An existing packet is updated property-wise: it is parsed with :mod:`xml.etree`, only those two
properties are removed/added, and everything else (other properties, their namespaces, comments,
``rdf:about``) is written back. ElementTree forgets the original prefixes on output (it invents
``ns0``), so the packet is re-serialised by :func:`_serialize` with the prefixes recorded while
parsing. Namespace declarations are hoisted to the root element, which is equivalent XML.
"""
from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

__all__ = [
    "extended_pointer",
    "merge_extended",
    "MetadataError", "TC260_NS", "IPTC_EXT_NS", "RDF_NS", "XMPFindings",
    "Extracted", "XMPUpdater", "EXIFCleaner", "build_packet", "update_packet", "strip_packet",
    "mend_packet", "source_type_packet", "find_in_packet", "packet_has_aigc", "check_packet", "upright_orientation", "split_extended",
]

TC260_NS = "http://www.tc260.org.cn/ns/AIGC/1.0/"
IPTC_EXT_NS = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
X_NS = "adobe:ns:meta/"
XMP_NOTE_NS = "http://ns.adobe.com/xmp/note/"
XML_NS = "http://www.w3.org/XML/1998/namespace"

TC260_PREFIX = "TC260"
IPTC_EXT_PREFIX = "Iptc4xmpExt"

_AIGC = f"{{{TC260_NS}}}AIGC"
_DST = f"{{{IPTC_EXT_NS}}}DigitalSourceType"
_RDF_DESC = f"{{{RDF_NS}}}Description"
_RDF_RDF = f"{{{RDF_NS}}}RDF"
_RDF_ABOUT = f"{{{RDF_NS}}}about"
_RDF_RESOURCE = f"{{{RDF_NS}}}resource"
_HAS_EXTENDED = f"{{{XMP_NOTE_NS}}}HasExtendedXMP"

_XPACKET_BEGIN = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
_XPACKET_END = '<?xpacket end="w"?>'


class MetadataError(ValueError):
    """Malformed container or metadata; the message is one short line."""


def _is_tc260(uri: str) -> bool:
    # Tolerate a missing trailing slash when reading and when replacing a stale label.
    return uri.rstrip("/") == TC260_NS.rstrip("/")


def _is_aigc_name(name: str) -> bool:
    if not name.startswith("{"):
        return False
    uri, _, local = name[1:].partition("}")
    return local == "AIGC" and _is_tc260(uri)


# --------------------------------------------------------------------------- parsing


class _NSRecorder(ET.TreeBuilder):
    """TreeBuilder that remembers every prefix -> URI binding seen (XMLParser calls
    ``start_ns`` on targets that have it) and keeps comments and PIs."""

    def __init__(self) -> None:
        super().__init__(insert_comments=True, insert_pis=True)
        self.bindings: list[tuple[str, str]] = []

    def start_ns(self, prefix: str, uri: str) -> None:
        self.bindings.append((prefix, uri))


def _packet_xml(packet: bytes) -> bytes:
    """The XML document inside a packet: trailing NULs/padding after the xpacket end PI, which
    expat would call junk, are cut."""
    end = packet.rfind(b"<?xpacket end")
    if end >= 0:
        close = packet.find(b"?>", end)
        if close >= 0:
            return packet[: close + 2]
    return packet.rstrip(b"\x00 \t\r\n")


#: Deepest element nesting a packet may have (real ones: under 20). Deeper, the recursive
#: serialiser would hit Python's recursion limit (a 33 KB packet did).
_MAX_DEPTH = 100


def _parse(packet: bytes) -> tuple[ET.Element, list[tuple[str, str]]]:
    xml = _packet_xml(packet)
    # XMP is UTF-8 in every container synthlabel reads. A UTF-16 or UTF-32 packet (NUL bytes
    # between its characters) would hide a DTD from the byte check below while expat still
    # expanded its entities: a 5 KB JPEG took 400 MB and minutes.
    if b"\x00" in xml or xml.startswith((b"\xfe\xff", b"\xff\xfe")):
        raise MetadataError("XMP packet is not UTF-8")
    # XMP forbids DTDs; refusing them also rules out entity-expansion tricks.
    if b"<!DOCTYPE" in xml or b"<!ENTITY" in xml:
        raise MetadataError("XMP packet contains a DTD, which XMP forbids")
    builder = _NSRecorder()
    parser = ET.XMLParser(target=builder)
    try:
        parser.feed(xml)
        root = parser.close()
    except ET.ParseError as exc:
        raise MetadataError(f"XMP packet is not well-formed XML: {exc}") from None
    level = [(root, 1)]
    while level:                                   # iterative: no recursion to run out of
        el, depth = level.pop()
        if depth > _MAX_DEPTH:
            raise MetadataError(f"XMP packet is nested deeper than {_MAX_DEPTH} elements")
        level.extend((child, depth + 1) for child in el)
    return root, builder.bindings


def check_packet(packet: bytes) -> None:
    """Raise :class:`MetadataError` (one line: why) unless ``packet`` is XMP the label can be
    added to: well-formed XML without a DTD."""
    _parse(packet)


# --------------------------------------------------------------------------- serialising


def _esc_text(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def _esc_attr(s: str) -> str:
    return (
        _esc_text(s).replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;")
    )


_WELL_KNOWN = {X_NS: "x", RDF_NS: "rdf", XMP_NOTE_NS: "xmpNote"}


class _Prefixes:
    """URI -> prefix map. Keeps the document's prefixes, forces ours, never reuses a prefix for
    two URIs, and never uses a default namespace (unqualified names stay unqualified)."""

    def __init__(self, bindings: list[tuple[str, str]]) -> None:
        self.by_uri: dict[str, str] = {XML_NS: "xml"}
        self.taken: dict[str, str] = {"xml": XML_NS}
        # Our prefixes first so a foreign URI squatting on "TC260" gets renamed, not ours.
        self._bind(TC260_NS, TC260_PREFIX)
        self._bind(IPTC_EXT_NS, IPTC_EXT_PREFIX)
        for prefix, uri in bindings:
            if _is_tc260(uri):
                continue  # normalised to TC260_NS on output
            if uri not in self.by_uri:
                self._bind(uri, prefix or "ns")

    def _bind(self, uri: str, prefix: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][\w.-]*", prefix) or prefix.lower().startswith("xml"):
            prefix = "ns"
        candidate, n = prefix, 0
        while candidate in self.taken and self.taken[candidate] != uri:
            n += 1
            candidate = f"{prefix}{n}"
        self.taken[candidate] = uri
        self.by_uri[uri] = candidate
        return candidate

    def qname(self, name: str) -> str:
        if not name.startswith("{"):
            return name
        uri, _, local = name[1:].partition("}")
        if _is_tc260(uri):
            uri = TC260_NS
        prefix = self.by_uri.get(uri) or self._bind(uri, _WELL_KNOWN.get(uri, "ns"))
        return f"{prefix}:{local}"

    def declarations(self) -> str:
        # Document order, ours last (cosmetic: x and rdf first, as every XMP writer does).
        ours = (TC260_NS, IPTC_EXT_NS)
        items = [(u, p) for u, p in self.by_uri.items() if p != "xml" and u not in ours]
        items += [(u, self.by_uri[u]) for u in ours]
        return "".join(f' xmlns:{p}="{_esc_attr(u)}"' for u, p in items)


def _serialize(root: ET.Element, bindings: list[tuple[str, str]], padding: int = 0,
               wrapper: bool = True) -> bytes:
    prefixes = _Prefixes(bindings)

    def open_tag(el: ET.Element) -> tuple[str, str]:
        name = prefixes.qname(el.tag)
        attrs = "".join(f' {prefixes.qname(k)}="{_esc_attr(v)}"' for k, v in el.attrib.items())
        return name, attrs

    def inner(el: ET.Element, out: list[str]) -> None:
        if el.text:
            out.append(_esc_text(el.text))
        for child in el:
            node(child, out)

    def node(el: ET.Element, out: list[str]) -> None:
        if el.tag is ET.Comment:
            out.append(f"<!--{el.text or ''}-->")
        elif el.tag is ET.ProcessingInstruction:
            out.append(f"<?{el.text or ''}?>")
        else:
            name, attrs = open_tag(el)
            if len(el) == 0 and not el.text:
                out.append(f"<{name}{attrs}/>")
            else:
                out.append(f"<{name}{attrs}>")
                inner(el, out)
                out.append(f"</{name}>")
        if el.tail:
            out.append(_esc_text(el.tail))

    # The subtree first, so that every URI it uses has a prefix; then the root with all the
    # namespace declarations.
    body: list[str] = []
    inner(root, body)
    name, attrs = open_tag(root)
    decls = prefixes.declarations()
    pad = ("\n" + " " * 99) * (padding // 100) if padding > 0 else ""
    text = f"<{name}{decls}{attrs}>{''.join(body)}</{name}>"
    if wrapper:
        text = f"{_XPACKET_BEGIN}\n{text}{pad}\n{_XPACKET_END}"
    return text.encode("utf-8")


# --------------------------------------------------------------------------- editing


def _new_root() -> ET.Element:
    root = ET.Element(f"{{{X_NS}}}xmpmeta", {f"{{{X_NS}}}xmptk": "synthlabel"})
    root.text = "\n "
    rdf = ET.SubElement(root, _RDF_RDF)
    rdf.text = "\n  "
    rdf.tail = "\n"
    desc = ET.SubElement(rdf, _RDF_DESC, {_RDF_ABOUT: ""})
    desc.tail = "\n "
    return root


def _descriptions(root: ET.Element) -> list[ET.Element]:
    return [el for el in root.iter(_RDF_DESC)]


def _ours(name: object) -> bool:
    return isinstance(name, str) and (name == _DST or _is_aigc_name(name))


def _aigc_only(name: object) -> bool:
    return isinstance(name, str) and _is_aigc_name(name)


def _remove_ours(root: ET.Element, ours=_ours) -> None:
    """Drop every TC260:AIGC and Iptc4xmpExt:DigitalSourceType (or what ``ours`` names),
    attribute or element form, wherever it sits, keeping the surrounding indentation tidy."""
    for parent in list(root.iter()):
        for key in [k for k in parent.attrib if ours(k)]:
            del parent.attrib[key]
        kids = list(parent)
        kept = [c for c in kids if not ours(c.tag)]
        if len(kept) == len(kids):
            continue
        # A removed element's tail is the indentation before the next sibling (or before the
        # closing tag, for the last one); the kept sibling before it already carries one.
        closing = kids[-1].tail
        for child in kids:
            if ours(child.tag):
                parent.remove(child)
        if ours(kids[-1].tag) and kept:
            kept[-1].tail = closing
        # With no child left, parent.text keeps the children's indentation for _add_ours.


def _add_ours(root: ET.Element, aigc_inner_json: str | None, digital_source_type: str) -> None:
    """Add TC260:AIGC (unless None) and Iptc4xmpExt:DigitalSourceType to the first
    rdf:Description."""
    descs = _descriptions(root)
    if descs:
        desc = descs[0]
    else:
        rdf = root if root.tag == _RDF_RDF else next(root.iter(_RDF_RDF), None)
        if rdf is None:
            raise MetadataError("XMP packet has no rdf:RDF element")
        desc = ET.SubElement(rdf, _RDF_DESC, {_RDF_ABOUT: ""})
        desc.tail = "\n"
    kids = list(desc)
    indent = desc.text if desc.text and desc.text.isspace() else "\n   "
    if kids:
        closing = kids[-1].tail if kids[-1].tail and kids[-1].tail.isspace() else "\n  "
        kids[-1].tail = indent
    else:
        # One level less than the children, e.g. "\n   " -> "\n  ".
        closing = indent[:-1] if len(indent) > 1 and indent.endswith((" ", "\t")) else "\n"
        desc.text = indent
    if aigc_inner_json is not None:
        a = ET.SubElement(desc, _AIGC)
        a.text = aigc_inner_json
        a.tail = indent
    d = ET.SubElement(desc, _DST)
    d.text = digital_source_type
    d.tail = closing


def build_packet(aigc_inner_json: str, digital_source_type: str, *, padding: int = 0) -> bytes:
    """A fresh packet with only our two properties."""
    root = _new_root()
    _add_ours(root, aigc_inner_json, digital_source_type)
    return _serialize(root, [], padding)


def update_packet(
    packet: bytes | None, aigc_inner_json: str, digital_source_type: str, *, padding: int = 0
) -> bytes:
    """Set our two properties in ``packet`` (or a new packet), keeping every other property."""
    if not packet or not packet.strip(b"\x00 \t\r\n"):
        return build_packet(aigc_inner_json, digital_source_type, padding=padding)
    root, bindings = _parse(packet)
    _remove_ours(root)
    _add_ours(root, aigc_inner_json, digital_source_type)
    return _serialize(root, bindings, padding)


def source_type_packet(packet: bytes | None, digital_source_type: str | None, *,
                       padding: int = 0) -> bytes:
    """``packet`` (or a new packet) with no TC260:AIGC and, unless ``digital_source_type`` is
    None, Iptc4xmpExt:DigitalSourceType set; every other property kept. For files whose AIGC
    label lives in a channel of its own (an MP4's mdta key), where a second one in XMP would
    make two labels."""
    if not packet or not packet.strip(b"\x00 \t\r\n"):
        root, bindings = _new_root(), []
    else:
        root, bindings = _parse(packet)
    if digital_source_type is None:
        _remove_ours(root, _aigc_only)
    else:
        _remove_ours(root)
        _add_ours(root, None, digital_source_type)
    return _serialize(root, bindings, padding)


def strip_packet(packet: bytes) -> bytes:
    """``packet`` without our two properties (for a redundant second packet: keeps the rest)."""
    root, bindings = _parse(packet)
    _remove_ours(root)
    return _serialize(root, bindings)


def mend_packet(packet: bytes, digital_source_type: str | None) -> bytes | None:
    """An XMP packet a media file already holds, where its AIGC label lives elsewhere (WAV,
    MP3, MP4): :func:`source_type_packet` of it, or None when it needs no change (no source
    type to set and no TC260:AIGC in it) or does not parse (another tool's properties, not
    ours to lose: left as it is)."""
    if digital_source_type is None and not packet_has_aigc(packet):
        return None
    try:
        return source_type_packet(packet, digital_source_type)
    except MetadataError:
        return None


def _pointer(root: ET.Element) -> str | None:
    """The GUID ``xmpNote:HasExtendedXMP`` names, attribute or element form."""
    for desc in root.iter(_RDF_DESC):
        if desc.get(_HAS_EXTENDED):
            return desc.get(_HAS_EXTENDED).strip()
        for el in desc.findall(_HAS_EXTENDED):
            return (el.text or "").strip()
    return None


def _merge_extension(root: ET.Element, extension: bytes) -> list[tuple[str, str]]:
    """Move the properties of ``extension`` (a serialised ``x:xmpmeta``) into the main
    packet's first rdf:Description, and drop the pointer to it: per XMP part 3 they are
    properties of the main packet that only lived elsewhere for size. The main packet wins a
    (non-conforming) duplicate. Returns the extension's namespace bindings."""
    ext_root, bindings = _parse(extension)
    desc = next(root.iter(_RDF_DESC))
    for el in desc.findall(_HAS_EXTENDED):
        desc.remove(el)
    desc.attrib.pop(_HAS_EXTENDED, None)
    have = {el.tag for el in desc} | set(desc.attrib)
    indent = desc.text if desc.text and desc.text.isspace() else "\n   "
    for ext_desc in ext_root.iter(_RDF_DESC):
        for key, value in ext_desc.attrib.items():
            if key not in have:
                desc.set(key, value)
        for el in list(ext_desc):
            if isinstance(el.tag, str) and el.tag not in have:
                if len(desc):
                    desc[-1].tail = indent
                el.tail = "\n  "
                desc.append(el)
    return bindings


def extended_pointer(packet: bytes) -> str | None:
    """The GUID a main packet's ``xmpNote:HasExtendedXMP`` names (its ExtendedXMP), or None."""
    return _pointer(_parse(packet)[0])


def merge_extended(packet: bytes, extension: bytes) -> bytes:
    """A main packet with its ExtendedXMP (a serialised ``x:xmpmeta``, XMP part 3) merged
    back in and the pointer to it dropped; the document's namespace prefixes are kept."""
    root, bindings = _parse(packet)
    bindings += _merge_extension(root, extension)
    return _serialize(root, bindings)


def split_extended(packet: bytes, limit: int) -> tuple[bytes, bytes, str]:
    """Split a packet too large for one JPEG segment as XMP part 3 (ExtendedXMP) says:
    (main packet, extended XMP, GUID). The largest properties move to the extended XMP (a
    serialised ``x:xmpmeta`` with no packet wrapper) until the main packet holds at most
    ``limit`` bytes; the main packet then names the extension by its GUID, the MD5 of the
    extended XMP in upper-case hex (``xmpNote:HasExtendedXMP``). Our two label properties
    always stay in the main packet: readers that do not follow the extension (and GB 45438's
    label readers look in the main packet) still find them. MetadataError when even that does
    not fit."""
    root, bindings = _parse(packet)
    descs = _descriptions(root)
    if not descs:
        raise MetadataError("XMP packet has no rdf:Description to split")
    for d in descs:
        d.attrib.pop(_HAS_EXTENDED, None)        # a stale pointer: this split makes the one
    movable = [(len(ET.tostring(el)), i, d, el) for d in descs for i, el in enumerate(d)
               if not _ours(el.tag) and el.tag not in (ET.Comment, ET.ProcessingInstruction)]
    movable.sort(key=lambda m: (-m[0], m[1]))
    ext_root = _new_root()
    ext_desc = _descriptions(ext_root)[0]
    ext_desc.text = "\n   "
    # room for the pointer attribute and its namespace declaration
    room = limit - len(f' xmlns:xmpNote="{XMP_NOTE_NS}" xmpNote:HasExtendedXMP="{"0" * 32}"')
    moved = 0
    size = len(_serialize(root, bindings))
    while size > room:
        # Move properties by their measured sizes, then serialise once to check (not after
        # every move: thousands of small properties took minutes, serialising each time)
        est = size
        while est > room:
            if moved == len(movable):
                raise MetadataError(f"XMP packet does not fit one JPEG APP1 segment (max {limit} "
                                    "bytes) even with its other properties moved to ExtendedXMP")
            n, _, desc, el = movable[moved]
            desc.remove(el)
            el.tail = "\n   "
            ext_desc.append(el)
            moved += 1
            est -= n
        size = len(_serialize(root, bindings))
    if moved == 0:
        return _serialize(root, bindings), b"", ""
    ext_desc[-1].tail = "\n  "
    extended = _serialize(ext_root, bindings, wrapper=False)
    guid = hashlib.md5(extended).hexdigest().upper()
    descs[0].set(_HAS_EXTENDED, guid)
    return _serialize(root, bindings), extended, guid


# --------------------------------------------------------------------------- reading


@dataclass
class XMPFindings:
    aigc: list[str] = field(default_factory=list)  # raw values, in document order
    digital_source_type: str | None = None
    # namespace URIs of AIGC properties that are not TC260's (an https:// or a made-up one):
    # not a label, but worth saying when the packet holds none
    foreign_aigc: list[str] = field(default_factory=list)


def _element_value(el: ET.Element) -> str:
    if el.get(_RDF_RESOURCE) is not None:
        return el.get(_RDF_RESOURCE) or ""
    # A structured value (rdf:Alt/Seq/Bag): take the first rdf:li.
    for li in el.iter(f"{{{RDF_NS}}}li"):
        return (li.text or "").strip()
    return (el.text or "").strip()


def find_in_packet(packet: bytes) -> XMPFindings:
    """Every TC260:AIGC value (attribute or element form) and the DigitalSourceType.

    Raises :class:`MetadataError` when the packet is not well-formed XML."""
    root, _ = _parse(packet)
    found = XMPFindings()
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        for key, value in el.attrib.items():
            if _is_aigc_name(key):
                found.aigc.append(value.strip())
            elif key == _DST and found.digital_source_type is None:
                found.digital_source_type = value.strip()
            elif key.endswith("}AIGC"):
                found.foreign_aigc.append(key[1:].partition("}")[0])
        if _is_aigc_name(el.tag):
            found.aigc.append(_element_value(el))
        elif el.tag == _DST and found.digital_source_type is None:
            found.digital_source_type = _element_value(el)
        elif el.tag.endswith("}AIGC"):
            found.foreign_aigc.append(el.tag[1:].partition("}")[0])
    return found


def foreign_note(found: XMPFindings) -> str | None:
    """What to say of a packet whose AIGC property is under another namespace than TC260's,
    when it holds no TC260 one (None otherwise)."""
    if found.aigc or not found.foreign_aigc:
        return None
    return (f"an AIGC property under the namespace {found.foreign_aigc[0]!r} is not a GB 45438 "
            f"label: TC260:AIGC is in {TC260_NS}")


# tiff:Orientation in either form XMP writes it: an attribute or a simple element
_ORIENTATION = re.compile(
    rb"""(:Orientation\s*=\s*["']\s*)\d(\s*["'])|(:Orientation>\s*)\d(\s*</)""")


def upright_orientation(packet: bytes) -> bytes:
    """``packet`` with ``tiff:Orientation`` set to 1 (normal), for pixels the EXIF orientation
    has been applied to; a reader that trusted a stale XMP value would turn them again. Byte
    level (same length), so the rest of the packet is left exactly as it was."""
    def upright(m: re.Match) -> bytes:
        return (m.group(1) or m.group(3)) + b"1" + (m.group(2) or m.group(4))

    return _ORIENTATION.sub(upright, packet)


#: XMP copies of a picture's dimensions (exif:PixelX/YDimension, tiff:ImageWidth/Length):
#: the pairs a quarter turn swaps.
_DIMENSION_PAIRS = ((b"PixelXDimension", b"PixelYDimension"), (b"ImageWidth", b"ImageLength"))


def _dimension(name: bytes) -> re.Pattern:
    return re.compile(rb":" + name + rb"""(?:\s*=\s*["']\s*(\d+)\s*["']|>\s*(\d+)\s*</)""")


def swapped_dimensions(packet: bytes, width: int, height: int) -> bytes:
    """``packet`` with its dimension properties (:data:`_DIMENSION_PAIRS`) made to describe
    pixels a quarter turn of the EXIF orientation has been applied to, now ``width`` x
    ``height``: the two of a pair trade values, as the EXIF's own copies do; one found alone
    is set to the new side where it held the old one. Byte level: only the numbers change."""
    def put(packet: bytes, edits: list[tuple[re.Match, bytes]]) -> bytes:
        for m, value in sorted(edits, key=lambda t: t[0].start(), reverse=True):
            g = 1 if m.group(1) is not None else 2
            packet = packet[:m.start(g)] + value + packet[m.end(g):]
        return packet

    def value(m: re.Match) -> bytes:
        return m.group(1) if m.group(1) is not None else m.group(2)

    for a, b in _DIMENSION_PAIRS:
        ma, mb = _dimension(a).search(packet), _dimension(b).search(packet)
        if ma and mb:
            packet = put(packet, [(ma, value(mb)), (mb, value(ma))])
        elif ma and value(ma) == str(height).encode():
            packet = put(packet, [(ma, str(width).encode())])
        elif mb and value(mb) == str(width).encode():
            packet = put(packet, [(mb, str(height).encode())])
    return packet


def packet_has_aigc(packet: bytes) -> bool:
    """Cheap pre-check: could this packet hold a TC260 label?"""
    return b"tc260" in packet.lower()


# --------------------------------------------------------------------------- container glue


class Extracted(NamedTuple):
    """What a container reader hands to :mod:`synthlabel.formats.image_meta`."""

    xmp: list[bytes]  # XMP packets, in file order
    exif: list[bytes]  # TIFF-structured EXIF blobs (no "Exif\\0\\0" header)
    text: list[tuple[str, bytes]]  # (chunk type, value) of PNG text chunks with keyword AIGC


# update_xmp(existing packets) -> new packets (same count, or one when there were none)
XMPUpdater = Callable[[list[bytes]], list[bytes]]
# clean_exif(tiff) -> tiff of the same length (stale AIGC UserComment blanked) or the same object
EXIFCleaner = Callable[[bytes], bytes]
