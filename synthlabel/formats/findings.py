"""What a metadata reader found: the AIGC label(s) of one file, judged the same way for every
container (images, audio, video)."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..models import AIGCLabel, LabelError


@dataclass
class LabelFindings:
    aigc: AIGCLabel | None = None  # the first valid label
    aigc_count: int = 0  # labels found across all channels, valid or not (rules: exactly one)
    source: str | None = None  # channel of the label reported, e.g. "xmp", "id3-txxx", "mp4-mdta"
    raw: str | None = None  # raw JSON of the label reported (first valid, else first found)
    digital_source_type: str | None = None
    errors: list[str] = field(default_factory=list)  # labels present but invalid
    # every label found, in order: {"source", "aigc"} or {"source", "error", "raw"}; with
    # two or more, the report says what each one holds, not only how many there are
    labels: list[dict] = field(default_factory=list)


def collect(candidates: list[tuple[str, str]], *, digital_source_type: str | None = None,
            errors: list[str] | None = None, unreadable: int = 0) -> LabelFindings:
    """Parse (channel, raw JSON) candidates: the first valid one is *the* label, invalid ones
    become errors naming their channel, and every candidate counts toward ``aigc_count``, as
    do ``unreadable`` labels (a broken XMP packet that holds one: it is a second label beside
    a valid one, and with none it is the file's one label, invalid)."""
    meta = LabelFindings(aigc_count=len(candidates) + unreadable,
                         digital_source_type=digital_source_type, errors=list(errors or []))
    for source, raw in candidates:
        try:
            label = AIGCLabel.parse(raw)
        except (LabelError, UnicodeDecodeError) as exc:
            meta.errors.append(f"{exc} (in {source})")
            meta.labels.append({"source": source, "error": str(exc), "raw": raw})
            if meta.raw is None:
                meta.source, meta.raw = source, raw
            continue
        meta.labels.append({"source": source, "aigc": label.to_dict()})
        if meta.aigc is None:
            meta.aigc, meta.source, meta.raw = label, source, raw
    return meta
