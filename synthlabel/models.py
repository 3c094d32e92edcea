"""Data models: the GB 45438 AIGC label, what to apply (``LabelSpec``) and what was found
(``VerificationReport``).

Everything here is plain data with validation; no file or network I/O.
"""
from __future__ import annotations

import enum
import json
import math
import os
import re
import secrets
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

# IPTC digital source type vocabulary (full URIs, as the rules require).
DST_TRAINED = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
DST_COMPOSITE = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
DIGITAL_SOURCE_TYPES = (DST_TRAINED, DST_COMPOSITE)
DST_PREFIX = "http://cv.iptc.org/newscodes/digitalsourcetype/"


def source_type_problem(value: str | None) -> str | None:
    """Why a digital source type read from a file (IPTC metadata or a C2PA action) is not an AI
    declaration the rules accept, in words; None when it is one of DIGITAL_SOURCE_TYPES.
    ``digitalCapture`` (a camera photo) or a short name without the IPTC URI are not."""
    if value in DIGITAL_SOURCE_TYPES:
        return None
    if not value:
        return "no digital source type"
    name = str(value).rsplit("/", 1)[-1]
    if DST_PREFIX + name in DIGITAL_SOURCE_TYPES:
        return f"digital source type {value!r} is not the full IPTC URI ({DST_PREFIX}{name})"
    return f"digital source type {name!r} does not declare AI generation"

DEFAULT_PRODUCER = "synthlabel"
DEFAULT_LABEL_TEXT = "AI生成"
#: What ``verify`` looks for on pictures by default: the phrasings GB 45438 §5 names (an AI
#: element and a generation element), as synthlabel's renderer draws them.
STANDARD_LABEL_TEXTS = ("AI生成", "AI合成", "人工智能生成", "人工智能合成", "人工智能生成合成")


def label_texts(texts=None) -> tuple[str, ...]:
    """The visible-label texts to look for: ``texts`` (one string or several) first, then the
    standard phrasings; repeats dropped, order kept."""
    if texts is not None and not isinstance(texts, (str, list, tuple)):
        raise ValueError(f"label texts must be a string or a list of strings, got {texts!r}")
    given = [texts] if isinstance(texts, str) else list(texts or ())
    if not all(isinstance(t, str) and t.strip() for t in given):
        raise ValueError(f"label texts must be non-empty strings, got {texts!r}")
    return tuple(dict.fromkeys([*given, *STANDARD_LABEL_TEXTS]))
#: x264/x265 presets (VP9 maps them to its speed setting).
VIDEO_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                 "slower", "veryslow", "placebo")


#: How long a video's visible label shows by default (GB 45438 asks for at least 2 s)
DEFAULT_VIDEO_LABEL_SECONDS = 3.0


class LabelError(ValueError):
    """An AIGC label or label spec violates the rules; also the base of
    :class:`synthlabel.LabelingError` (an input that cannot be labeled), so that one ``except
    LabelError`` takes every refusal of bad input."""


class SpecTypeError(LabelError, TypeError):
    """A LabelSpec setting of the wrong type: a TypeError as any wrong argument type is, and a
    LabelError as every other refusal of a spec is (``except`` either takes it)."""


# --------------------------------------------------------------------------- content ID


@dataclass(frozen=True)
class ContentID:
    """The 64-bit content ID that links the layers: watermark payload, ``ProduceID`` and the
    C2PA soft-binding value all carry it."""

    value: int

    def __post_init__(self) -> None:
        if not isinstance(self.value, int) or not 0 <= self.value < 2**64:
            raise LabelError(f"content ID must be a 64-bit unsigned integer, got {self.value!r}")

    @classmethod
    def new(cls) -> ContentID:
        return cls(secrets.randbits(64))

    @classmethod
    def parse(cls, text: str) -> ContentID:
        """Parse the 16-hex-digit form (as written to ``ProduceID``)."""
        if not re.fullmatch(r"[0-9a-fA-F]{16}", text or ""):
            raise LabelError(f"not a 16-hex-digit content ID: {text!r}")
        return cls(int(text, 16))

    @property
    def hex(self) -> str:
        return f"{self.value:016x}"

    def to_bytes(self) -> bytes:
        return self.value.to_bytes(8, "big")

    def __str__(self) -> str:
        return self.hex


# --------------------------------------------------------------------------- AIGC label

_AIGC_KEYS = (
    ("Label", "label"),
    ("ContentProducer", "content_producer"),
    ("ProduceID", "produce_id"),
    ("ReservedCode1", "reserved_code1"),
    ("ContentPropagator", "content_propagator"),
    ("PropagateID", "propagate_id"),
    ("ReservedCode2", "reserved_code2"),
)
# Annex E: printable ASCII 0x21-0x7E except '"' and '\', with '\"' escapes allowed. That is the
# JSON text: a value may hold a quote, which JSON writes as \"; a backslash (JSON \\) it may
# not. The values checked here are the decoded strings.
_ANNEX_E = re.compile(r'[\x21-\x5b\x5d-\x7e]*')
# TC260 provider code: "00" + "11" + 18-char USCC + service type (1 generation, 2 propagation)
# + 4-char model/app code = 27 characters.
_TC260_CODE = re.compile(r"0011[0-9A-HJ-NP-RTUW-Y]{18}[12][0-9A-Za-z]{4}")
_TC260_LIKE = re.compile(r"0011[0-9A-Z]{23}")


def _check_value(name: str, value: str) -> None:
    if not isinstance(value, str):
        kind = {type(None): "null", bool: "a boolean", int: "a number", float: "a number",
                list: "an array", dict: "an object"}.get(type(value), type(value).__name__)
        raise LabelError(f"AIGC {name} must be a string, got {kind}")
    if not _ANNEX_E.fullmatch(value):
        bad = next((c for c in value if not ("\x21" <= c <= "\x7e") or c == "\\"), value[:1])
        raise LabelError(
            f"AIGC {name} has a character outside GB 45438 Annex E (printable ASCII, "
            f"no space or backslash; a quote is written escaped): {bad!r} in {value!r}"
        )


def check_tc260_code(code: str, *, role: str) -> None:
    """Check a 27-character TC260 provider code's structure. ``role`` is "producer" (service
    type 1) or "propagator" (service type 2)."""
    if len(code) != 27 or not _TC260_CODE.fullmatch(code):
        raise LabelError(
            f"{code!r} looks like a TC260 provider code but is not one: expected '00' + '11' + "
            "18-character unified social credit code + service type (1|2) + 4-character code, "
            "27 characters"
        )
    expected = "1" if role == "producer" else "2"
    if code[22] != expected:
        kind = "generation (1)" if expected == "1" else "propagation (2)"
        raise LabelError(f"TC260 code {code!r} for the {role} should have service type {kind}")


@dataclass(frozen=True)
class AIGCLabel:
    """The GB 45438-2025 Annex E implicit label. All values are strings.

    ``label``: "1" AI-generated, "2" possibly, "3" suspected. Propagator fields default to the
    producer's (the rule for a first write). Build with :meth:`create` or :meth:`parse`; the
    constructor validates either way.
    """

    label: str
    content_producer: str
    produce_id: str
    reserved_code1: str = ""
    content_propagator: str = ""
    propagate_id: str = ""
    reserved_code2: str = ""

    def __post_init__(self) -> None:
        if self.label not in ("1", "2", "3"):
            raise LabelError(f'AIGC Label must be "1", "2" or "3", got {self.label!r}')
        for key, attr in _AIGC_KEYS:
            _check_value(key, getattr(self, attr))
        if not self.content_producer:
            raise LabelError("AIGC ContentProducer must not be empty")
        if not self.produce_id:
            raise LabelError("AIGC ProduceID must not be empty")
        if _TC260_LIKE.fullmatch(self.content_producer):
            check_tc260_code(self.content_producer, role="producer")
        if self.content_propagator and self.content_propagator != self.content_producer:
            if _TC260_LIKE.fullmatch(self.content_propagator):
                check_tc260_code(self.content_propagator, role="propagator")

    @classmethod
    def create(
        cls,
        *,
        producer: str,
        produce_id: str,
        label: str = "1",
        reserved_code1: str = "",
        propagator: str | None = None,
        propagate_id: str | None = None,
        reserved_code2: str | None = None,
    ) -> AIGCLabel:
        """A producer's first write: propagator fields default to the producer's."""
        return cls(
            label=label,
            content_producer=producer,
            produce_id=produce_id,
            reserved_code1=reserved_code1,
            content_propagator=producer if propagator is None else propagator,
            propagate_id=produce_id if propagate_id is None else propagate_id,
            reserved_code2=reserved_code1 if reserved_code2 is None else reserved_code2,
        )

    # -- serialisation -----------------------------------------------------------------
    def to_dict(self) -> dict[str, str]:
        """The inner 7-key object, keys in Annex E order."""
        return {key: getattr(self, attr) for key, attr in _AIGC_KEYS}

    def to_inner_json(self) -> str:
        """Inner form, for channels whose key is already ``AIGC`` (XMP, MP4)."""
        return json.dumps(self.to_dict(), ensure_ascii=True, separators=(",", ":"))

    def to_wrapped_json(self) -> str:
        """Annex E wrapped form ``{"AIGC":{...}}`` (PNG tEXt, RIFF, ID3, Vorbis comments, Matroska tags)."""
        return json.dumps({"AIGC": self.to_dict()}, ensure_ascii=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> AIGCLabel:
        if not isinstance(obj, dict):
            raise LabelError("AIGC value is not a JSON object")
        if "AIGC" in obj and isinstance(obj["AIGC"], dict):
            obj = obj["AIGC"]
        known = {k for k, _ in _AIGC_KEYS}
        unknown = set(obj) - known
        if unknown:
            cased = {k: m for k in unknown for m in known if k.lower() == m.lower()}
            said = [f"{k!r} should be {m!r}" for k, m in sorted(cased.items())]
            more = f", and {len(said) - 2} more" if len(said) > 2 else ""
            hint = f" (keys are case-sensitive: {', '.join(said[:2])}{more})" if said else ""
            raise LabelError(f"AIGC object has unknown keys: {sorted(unknown)}{hint}")
        for key in ("Label", "ContentProducer", "ProduceID"):
            if key not in obj:
                raise LabelError(f"AIGC object lacks the required key {key!r}")
        kwargs = {attr: obj.get(key, "") for key, attr in _AIGC_KEYS}
        return cls(**kwargs)

    @classmethod
    def parse(cls, text: str | bytes) -> AIGCLabel:
        """Parse either the wrapped or the inner JSON form."""
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="strict")
        try:
            # a byte order mark before the JSON is ignored, as RFC 8259 allows readers to
            obj = json.loads(text.strip().rstrip("\x00").lstrip("\ufeff").strip())
        except json.JSONDecodeError as exc:
            raise LabelError(f"AIGC value is not valid JSON: {exc.msg}") from None
        return cls.from_dict(obj)

    @property
    def content_id(self) -> ContentID | None:
        """The synthlabel content ID, if ``ProduceID`` carries one."""
        try:
            return ContentID.parse(self.produce_id)
        except LabelError:
            return None


# --------------------------------------------------------------------------- label spec


class Position(str, enum.Enum):
    """Where an explicit label goes: a corner or the middle of an edge."""

    TOP_LEFT = "top-left"
    TOP = "top"
    TOP_RIGHT = "top-right"
    LEFT = "left"
    RIGHT = "right"
    BOTTOM_LEFT = "bottom-left"
    BOTTOM = "bottom"
    BOTTOM_RIGHT = "bottom-right"


_AI_ELEMENTS = ("人工智能", "AI")
_GEN_ELEMENTS = ("生成", "合成")


def check_label_text(text: str) -> None:
    """GB 45438 §5: a text label holds an AI element ("人工智能" or "AI") and a generation
    element ("生成" and/or "合成")."""
    if not text or not text.strip():
        raise LabelError("label text is empty")
    has_ai = any(e in text for e in _AI_ELEMENTS)
    has_gen = any(e in text for e in _GEN_ELEMENTS)
    if not (has_ai and has_gen):
        missing = []
        if not has_ai:
            missing.append('an AI element ("人工智能" or "AI")')
        if not has_gen:
            missing.append('a generation element ("生成" or "合成")')
        raise LabelError(
            f"label text {text!r} lacks {' and '.join(missing)} required by GB 45438; "
            "pass --allow-nonconforming-text to use it anyway"
        )


class OutputFormat(str, enum.Enum):
    SAME = "same"
    JPEG = "jpeg"
    PNG = "png"
    WEBP = "webp"


def _choice(kind: type[enum.Enum], name: str, value):
    """``value`` as a member of ``kind``: the member itself, its value in any case ("JPEG"),
    with "_" for "-" ("bottom_right"), or "jpg" for JPEG; else a LabelError naming the
    choices (the enum's own error did not)."""
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        text = value.strip().lower().replace("_", "-")
        text = "jpeg" if kind is OutputFormat and text == "jpg" else text
        for member in kind:
            if member.value == text:
                return member
    choices = ", ".join(m.value for m in kind)
    error = LabelError if isinstance(value, str) else SpecTypeError     # (None, 3: a wrong type)
    raise error(f"{name} must be one of {choices}; got {value!r}")


@dataclass(frozen=True)
class LabelSpec:
    """What to apply to a file. Defaults give every layer the rules ask for."""

    explicit: bool = True
    metadata: bool = True
    watermark: bool = True
    c2pa: bool = True
    text: str = DEFAULT_LABEL_TEXT
    position: Position = Position.BOTTOM_RIGHT
    allow_nonconforming_text: bool = False
    producer: str = DEFAULT_PRODUCER
    label_value: str = "1"
    # A distributing platform re-publishing content: its name or TC260 code (service type 2).
    # The input's own AIGC label keeps its producer fields; the propagator fields become this
    # and the new content ID (see aigc_for).
    propagator: str | None = None
    digital_source_type: str = DST_TRAINED
    output_format: OutputFormat = OutputFormat.SAME
    jpeg_quality: int = 92
    webp_quality: int = 90
    thumbnail: bool = False
    # Read the watermark back with the blind detector and warn when its payload does not come
    # back. Images: from the labeled pixels (bilevel, clipped or periodic pictures defeat the
    # mark); 4-10 ms for 0.25-2 MP and 15 ms at 4K when it does. Audio: from the opening minute
    # of the marked signal (mostly silent audio); ~1 % of that duration. A hot path that
    # accepts the risk can turn it off.
    watermark_readback: bool = True
    # Audio (and video soundtracks): the GB 45438 rhythm cue or a spoken-label clip.
    cue_where: str = "start"             # "start" | "end" | "both"
    cue_tone_hz: float = 1000.0
    cue_unit_ms: float = 120.0
    cue_level_dbfs: float = -14.0
    spoken_label: str | None = None      # path to a spoken-label clip used instead of the tone
    audio_bitrate: int | None = None     # lossy outputs; None = the format's default
    # Video: the visible label shows for the first label_seconds (>= 2 s by GB 45438).
    video_label_seconds: float = DEFAULT_VIDEO_LABEL_SECONDS
    video_persistent: bool = False       # keep the visible label for the whole video
    video_audio_cue: bool = False        # also mix the rhythm cue into the soundtrack
    video_codec: str | None = None       # h264 | h265 | vp9; None = the container's default
    video_crf: int | None = None         # None = codec default (H.264 23, H.265 28, VP9 32)
    video_preset: str | None = None      # x264/x265 preset; None = medium

    def __post_init__(self) -> None:
        object.__setattr__(self, "position", _choice(Position, "position", self.position))
        object.__setattr__(self, "output_format", _choice(OutputFormat, "output_format", self.output_format))
        self._check_types()
        if self.explicit and not self.allow_nonconforming_text:
            check_label_text(self.text)
        if self.explicit:
            # drawable at all (every glyph in the bundled font): said once, up front, not per
            # picture of a batch
            from .core.text_label import check_text

            try:
                check_text(self.text)
            except ValueError as exc:
                raise LabelError(str(exc)) from None
        if self.digital_source_type not in DIGITAL_SOURCE_TYPES:
            raise LabelError(
                f"digital source type must be one of {DIGITAL_SOURCE_TYPES}, "
                f"got {self.digital_source_type!r}"
            )
        for name in ("jpeg_quality", "webp_quality"):
            q = getattr(self, name)
            if not 1 <= q <= 100:
                raise LabelError(f"{name.replace('_', ' ')} must be 1..100, got {q}")
        if not (self.explicit or self.metadata or self.watermark or self.c2pa):
            raise LabelError("every layer is switched off (explicit, metadata, watermark, c2pa): "
                             "there would be nothing to label")
        if self.cue_where not in ("start", "end", "both"):
            raise LabelError(f'cue position (--cue) must be "start", "end" or "both", got {self.cue_where!r}')
        from .core.audio_cue import CueParams

        try:
            # (the ranges too, as the types are checked: a spec made once at a service's
            # start with cue_tone_hz=-5 failed every label_audio call instead)
            CueParams(tone_hz=self.cue_tone_hz, unit_ms=self.cue_unit_ms, level_dbfs=self.cue_level_dbfs)
        except ValueError as exc:
            raise LabelError(" ".join(str(exc).split())) from None
        if self.video_audio_cue and not self.explicit:
            # the cue is part of the explicit label: it was dropped without a word
            raise LabelError("the soundtrack cue (--video-cue) is part of the explicit label, "
                             "which --no-explicit switches off")
        if self.video_persistent and math.isfinite(self.video_label_seconds) \
                and self.video_label_seconds > 0:
            pass    # shown throughout: the label's seconds do not apply (nor need 2 s)
        elif not 2.0 <= self.video_label_seconds < math.inf:
            raise LabelError("the video label must show for at least 2 s (GB 45438) and a "
                             "finite time (--persistent shows it throughout), got "
                             f"{self.video_label_seconds}")
        if self.video_codec not in (None, "h264", "h265", "vp9"):
            raise LabelError(f"video codec must be h264, h265 or vp9, got {self.video_codec!r}")
        # (the codec's own range: x264/x265 0..51, libvpx-vp9 0..63; with no codec given the
        # container chooses, and a file whose codec takes less fails alone)
        top = 51 if self.video_codec in ("h264", "h265") else 63
        if self.video_crf is not None and not 0 <= self.video_crf <= top:
            codec = f" for {self.video_codec}" if self.video_codec else ""
            raise LabelError(f"CRF (--crf) must be 0..{top}{codec}, got {self.video_crf}")
        if self.video_preset is not None and self.video_preset not in VIDEO_PRESETS:
            raise LabelError(f"video preset must be one of {', '.join(VIDEO_PRESETS)}, "
                             f"got {self.video_preset!r}")
        if self.audio_bitrate is not None and not 8_000 <= self.audio_bitrate <= 512_000:
            raise LabelError(f"audio bitrate must be 8000..512000 bit/s, got {self.audio_bitrate}")
        if self.propagator is not None and not str(self.propagator).strip():
            # an empty one was taken as none: the file was labeled as a first write
            raise LabelError("AIGC ContentPropagator must not be empty (leave it out for a "
                             "first write)")
        # Validates producer/propagator/label characters early, before any work is done.
        AIGCLabel.create(producer=self.producer, produce_id="0" * 16, label=self.label_value,
                         propagator=self.propagator,
                         propagate_id="0" * 16 if self.propagator else None)

    _BOOLS = ("explicit", "metadata", "watermark", "c2pa", "allow_nonconforming_text", "thumbnail",
              "watermark_readback", "video_persistent", "video_audio_cue")
    _INTS = ("jpeg_quality", "webp_quality", "video_crf", "audio_bitrate")
    _REALS = ("cue_tone_hz", "cue_unit_ms", "cue_level_dbfs", "video_label_seconds")

    def _check_types(self) -> None:
        """Each setting has its type, numpy's scalars included (normalised to Python's): a
        string or a fraction used to fail at encode time, after the watermark work, with the
        encoder's message, and True was taken as JPEG quality 1; 'no' switched a layer on."""
        for name in self._BOOLS:
            v = getattr(self, name)
            if not isinstance(v, (bool, np.bool_)):
                raise SpecTypeError(f"{name} must be True or False, got {v!r}")
            object.__setattr__(self, name, bool(v))
        for name in self._INTS:
            v = getattr(self, name)
            if v is None and name in ("video_crf", "audio_bitrate"):
                continue
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
                raise SpecTypeError(f"{name} must be a whole number, got {v!r}")
            object.__setattr__(self, name, int(v))
        for name in self._REALS:
            v = getattr(self, name)
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
                raise SpecTypeError(f"{name} must be a number, got {v!r}")
            if math.isnan(float(v)):
                raise LabelError(f"{name} must be a number, got NaN")
            object.__setattr__(self, name, float(v))
        if isinstance(self.spoken_label, os.PathLike):
            object.__setattr__(self, "spoken_label", os.fspath(self.spoken_label))
        for name in ("text", "producer", "propagator", "spoken_label"):
            v = getattr(self, name, None)
            if v is not None and not isinstance(v, str):
                # text=5 was an AttributeError ('int' object has no attribute 'strip')
                raise SpecTypeError(f"{name} must be a string, got {v!r}")

    def keeps_marked_id(self) -> bool:
        """Whether labeling looks for the mark made with its key in a labeled input, to keep
        that mark's content ID: when it lays a mark (a second one laid over the first left
        neither readable), and when it lays none but writes a ProduceID, which must name the
        mark the content still carries (a new one made verify fail: "content ID DISAGREES").
        A re-publish (``propagator``) keeps the producer's ProduceID instead."""
        return self.watermark or (self.metadata and not self.propagator)

    def kept_label(self, prior: AIGCLabel | None) -> AIGCLabel | None:
        """With ``metadata`` off, the AIGC label the input carries (``prior``), kept in the
        output as it is: nobody may remove one (Deep Synthesis Provisions Art. 18), and
        re-encoding had dropped it from audio, video and PNG text chunks. The new C2PA
        manifest then repeats it (a manifest naming another label made verify fail the file).
        None when metadata is written or the input has none."""
        return prior if not self.metadata else None

    def aigc_for(self, content_id: ContentID, prior: AIGCLabel | None = None) -> AIGCLabel:
        """The label to write, ``prior`` being the one the input carries. A producer's first
        write: the propagator fields equal the producer's. With ``propagator`` set
        (re-publishing): ``prior`` keeps its Label, producer, ProduceID and ReservedCode1
        (this service's ``producer`` when it has none), and ContentPropagator / PropagateID
        become ``propagator`` and ``content_id``; ReservedCode2 is cleared (it was the
        previous party's integrity data). With ``metadata`` off: ``prior`` as it is
        (:meth:`kept_label`)."""
        if (kept := self.kept_label(prior)) is not None:
            return kept
        if not self.propagator:
            return AIGCLabel.create(
                producer=self.producer, produce_id=content_id.hex, label=self.label_value
            )
        if prior is None:
            return AIGCLabel.create(producer=self.producer, produce_id=content_id.hex,
                                    label=self.label_value, propagator=self.propagator,
                                    propagate_id=content_id.hex, reserved_code2="")
        return AIGCLabel.create(producer=prior.content_producer, produce_id=prior.produce_id,
                                label=prior.label, reserved_code1=prior.reserved_code1,
                                propagator=self.propagator, propagate_id=content_id.hex,
                                reserved_code2="")


# --------------------------------------------------------------------------- reports


class Status(str, enum.Enum):
    """Outcome of one layer's check."""

    OK = "ok"            # present and valid
    WEAK = "weak"        # present but below confidence (e.g. watermark without payload)
    MISSING = "missing"  # not found
    INVALID = "invalid"  # found but fails validation (tampered, malformed)
    SKIPPED = "skipped"  # not asked for
    ERROR = "error"      # could not be checked


@dataclass
class LayerReport:
    """One layer's finding. ``details`` holds layer-specific facts (JSON-serialisable)."""

    status: Status
    summary: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status.value, "summary": self.summary, "details": self.details}


LAYERS = ("explicit", "metadata", "watermark", "c2pa")


@dataclass
class VerificationReport:
    """What ``verify`` found in one file: each layer independently, then the cross-check."""

    path: str
    media_type: str | None = None
    layers: dict[str, LayerReport] = field(default_factory=dict)
    content_ids: dict[str, str] = field(default_factory=dict)  # layer -> hex content ID
    error: str | None = None

    @property
    def ids_agree(self) -> bool | None:
        """True when every layer that carries a content ID carries the same one; None when
        fewer than two layers carry one."""
        ids = set(self.content_ids.values())
        if len(self.content_ids) < 2:
            return None
        return len(ids) == 1

    def ok(self, required: tuple[str, ...] | None = None) -> bool:
        """Every layer in ``required`` is OK and the content IDs do not disagree. By default
        the layers that were checked (those not skipped), as the JSON's ``ok`` and the CLI's
        exit status have it: a report of ``layers=("metadata",)`` said False here and True
        there."""
        if self.error:
            return False
        if required is None:
            required = self.checked_layers
        for name in required:
            layer = self.layers.get(name)
            if layer is None or layer.status is not Status.OK:
                return False
        return self.ids_agree is not False

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON types, as ``to_json`` writes it: watermark payloads as
        16 hex digits, tuples as lists (``json.dumps(report.to_dict())`` is the JSON line)."""
        return _json_safe({
            "path": self.path,
            "media_type": self.media_type,
            "error": self.error,
            "layers": {k: v.to_dict() for k, v in self.layers.items()},
            "content_ids": self.content_ids,
            "ids_agree": self.ids_agree,
            "ok": self.ok(),
            # the verdict the text output prints (OK / FAIL / ERROR), as label's JSON has one
            "status": "error" if self.error else "ok" if self.ok() else "fail",
        })

    @property
    def checked_layers(self) -> tuple[str, ...]:
        """The layers looked at (not skipped), in report order."""
        return tuple(k for k, v in self.layers.items() if v.status is not Status.SKIPPED)

    def to_json(self) -> str:
        """One JSON object. Watermark payloads (64-bit) are written as their 16 hex digits:
        JSON readers that hold numbers as doubles (JavaScript, jq) would round them."""
        return _dumps(self.to_dict())


def _dumps(obj) -> str:
    """JSON as UTF-8 text; a path whose bytes are not UTF-8 (held with surrogate escapes) is
    written with ``\\u`` escapes instead, as UTF-8 cannot hold it (writing the report line
    failed, and ended the batch); ``json.loads`` then ``os.fsencode`` give the bytes back."""
    text = json.dumps(obj, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(obj, ensure_ascii=True)
    return text


_JSON_MAX_INT = 1 << 53


def _json_safe(value: Any, key: str | None = None) -> Any:
    """``value`` with every ``payload`` integer as 16 hex digits, and any other integer a
    double cannot hold exactly as a decimal string; content IDs as their hex, paths as
    strings, enums as their values, numpy scalars as Python numbers."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, ContentID):
        return value.hex
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, enum.Enum):
        return value.value
    if hasattr(value, "item") and hasattr(value, "dtype"):      # a numpy scalar
        value = value.item()
    if isinstance(value, int) and not isinstance(value, bool):
        if key == "payload":
            return f"{value:016x}"
        if abs(value) > _JSON_MAX_INT:
            return str(value)
    return value


def result_dict(result: Any, *, leave_out: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    """A labeling result dataclass (``LabeledMedia``, ``LabeledAudio``, ``LabeledVideo``) as
    plain JSON types: its fields but ``leave_out``, then ``extra`` (``json.dumps`` of it is a
    log or report line; content IDs as hex, paths as strings)."""
    d = {f.name: getattr(result, f.name) for f in fields(result) if f.name not in leave_out}
    d.update(extra)
    return _json_safe(d)


@dataclass
class LabelResult:
    """What ``label`` did to one file (one line of the JSONL report)."""

    source: str
    output: str | None = None
    media_type: str | None = None
    content_id: str | None = None
    layers: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    skipped: str | None = None   # why the file was left alone (non-media met in a walk;
    #                              already labeled, with --skip-labeled)
    prior_label: str | None = None  # the AIGC label the input already carried, if any
    existing_output: str | None = None  # the output that already existed (--skip-existing)
    dry_run: bool = False        # checked only (--dry-run): ``output`` is where it would go
    seconds: float = 0.0
    sidecar: str | None = None   # the C2PA sidecar written beside ``output`` (Ogg, Opus, MKV, WebM)

    def fail(self, error: str) -> None:
        """Record ``error``. Nothing was labeled, so no content ID or layers are reported: a
        write that failed after the labeling in memory must not read as a labeled file."""
        self.error = error
        self.content_id = None
        self.layers = []

    @property
    def ok(self) -> bool:
        """No error (a skipped or dry-run file is ok too: see :attr:`status`)."""
        return self.error is None

    @property
    def status(self) -> str:
        """What happened to the file, one word: "labeled", "skipped" (left alone: not media,
        already labeled with --skip-labeled, output exists with --skip-existing), "checked"
        (a dry run found nothing wrong) or "failed"."""
        if self.error is not None:
            return "failed"
        if self.skipped is not None:
            return "skipped"
        return "checked" if self.dry_run else "labeled"

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["ok"] = self.ok
        d["status"] = self.status
        return d

    def to_json(self) -> str:
        return _dumps(self.to_dict())


__all__ = [
    "AIGCLabel", "ContentID", "LabelError", "LabelSpec", "LabelResult", "LayerReport",
    "OutputFormat", "Position", "Status", "VerificationReport", "check_label_text",
    "check_tc260_code", "DST_TRAINED", "DST_COMPOSITE", "LAYERS", "asdict",
]
