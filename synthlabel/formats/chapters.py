"""Chapters: the named time ranges a file declares, carried into the labeled output.

They live in different places per container: an M4A / MP4 / MOV chapter track, Matroska
chapters (both read and written through PyAV here), ID3 ``CHAP`` frames in MP3 and
``CHAPTERxxx`` Vorbis comments in FLAC / Ogg / Opus (copied with the other tags by
:mod:`synthlabel.formats.audio_tags`, which uses :func:`moved` below).

Labeling audio may insert the rhythm cue before the content. Every chapter boundary then moves
by the cue's length, so that it still points at the same sound; a boundary at 0 stays at 0, so
the first chapter still begins the file (and holds the cue). A cue appended after the content
goes into the last chapter, which is stretched over it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

__all__ = ["Chapter", "read", "shifted", "write", "moved", "shift_vorbis_time"]


@dataclass(frozen=True)
class Chapter:
    """One chapter, kept in its container's time base so that copying does not round it:
    ``start`` / ``end`` in ticks of ``time_base`` seconds; ``metadata`` its tags ("title")."""
    start: int
    end: int
    time_base: Fraction
    metadata: dict = field(default_factory=dict)

    @property
    def title(self) -> str | None:
        return self.metadata.get("title")


def moved(t, shift):
    """A chapter boundary ``t`` on a timeline that gained ``shift`` (same unit) at its start."""
    return t + shift if t > 0 else t


def read(container) -> tuple[Chapter, ...]:
    """The chapters of an open PyAV input container (none when it has none, or they do not
    parse: chapters are never worth failing a file over)."""
    try:
        raw = container.chapters()
    except Exception:  # noqa: BLE001 - a PyAV without chapters(), or a container without them
        return ()
    out = []
    for c in raw:
        try:
            tb = Fraction(c["time_base"])
            start, end = int(c["start"]), int(c["end"])
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            continue
        if tb > 0 and end >= start:
            out.append(Chapter(start, end, tb, dict(c.get("metadata") or {})))
    return tuple(out)


def _ticks(seconds: float, time_base: Fraction) -> int:
    return round(Fraction(seconds).limit_denominator(1 << 30) / time_base)


def shifted(chapters, seconds: float, tail: float = 0.0) -> tuple[Chapter, ...]:
    """``chapters`` on a timeline that gained ``seconds`` at its start (see the module notes)
    and ``tail`` seconds at its end, over which the last chapter is stretched."""
    if not seconds and not tail:
        return tuple(chapters)
    last = max(range(len(chapters)), key=lambda i: chapters[i].end * chapters[i].time_base,
               default=None)
    out = []
    for i, c in enumerate(chapters):
        ticks = _ticks(seconds, c.time_base)
        end = moved(c.end, ticks) + (_ticks(tail, c.time_base) if i == last else 0)
        out.append(Chapter(moved(c.start, ticks), end, c.time_base, dict(c.metadata)))
    return tuple(out)


def write(container, chapters) -> None:
    """Give an open PyAV output container ``chapters``; call before the first packet is muxed
    (the muxer writes them with the header: a chapter track in MP4 / MOV, the Chapters element
    in Matroska)."""
    if chapters:
        container.set_chapters([{"id": i + 1, "start": c.start, "end": c.end,
                                 "time_base": c.time_base, "metadata": dict(c.metadata)}
                                for i, c in enumerate(chapters)])


_VORBIS_TIME = re.compile(r"^\s*(\d+):(\d{1,2}):(\d{1,2}(?:\.\d+)?)\s*$")


def clock_seconds(value: str | None) -> float | None:
    """Seconds of an ``HH:MM:SS.fff`` clock time (a Vorbis chapter time, a Matroska
    ``DURATION`` tag); None when absent or not in that form."""
    m = _VORBIS_TIME.match(value or "")
    return int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3]) if m else None


def shift_vorbis_time(value: str, seconds: float) -> str:
    """A Vorbis-comment chapter time ("HH:MM:SS.mmm") moved by ``seconds`` (see :func:`moved`);
    a value that does not parse is returned unchanged."""
    t = clock_seconds(value)
    if t is None or not seconds:
        return value
    ms = round(moved(t, seconds) * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"
