"""Chapter timing arithmetic (the files themselves: test_audio_pipeline, test_video)."""
from __future__ import annotations

from fractions import Fraction

from synthlabel.formats import chapters
from synthlabel.formats.chapters import Chapter


def test_shifted_moves_every_boundary_but_the_start_of_the_file():
    tb = Fraction(1, 1_000_000_000)          # Matroska's nanoseconds
    chs = (Chapter(0, 5_000_000_000, tb, {"title": "a"}),
           Chapter(5_000_000_000, 9_000_000_000, tb, {"title": "b"}))
    out = chapters.shifted(chs, 1.8275)
    assert [(c.start, c.end, c.title) for c in out] == [
        (0, 6_827_500_000, "a"), (6_827_500_000, 10_827_500_000, "b")]
    assert chapters.shifted(chs, 0.0) == chs
    ms = chapters.shifted((Chapter(1000, 2000, Fraction(1, 1000)),), 0.0004)
    assert (ms[0].start, ms[0].end) == (1000, 2000)   # under one tick: rounded away


def test_vorbis_chapter_times():
    assert chapters.shift_vorbis_time("00:59:59.500", 1.0) == "01:00:00.500"
    assert chapters.shift_vorbis_time("0:00:05", 1.25) == "00:00:06.250"
    assert chapters.shift_vorbis_time("00:00:00.000", 1.25) == "00:00:00.000"
    assert chapters.shift_vorbis_time("Intro", 1.25) == "Intro"      # not a time: unchanged
    assert chapters.shift_vorbis_time("00:01:00.000", 0.0) == "00:01:00.000"


def test_a_cue_appended_after_the_content_goes_into_the_last_chapter():
    tb = Fraction(1, 1000)
    cs = (Chapter(0, 5000, tb, {"title": "a"}), Chapter(5000, 12000, tb, {"title": "b"}))
    out = chapters.shifted(cs, 1.5, 2.0)
    assert [(c.start, c.end) for c in out] == [(0, 6500), (6500, 15500)]
    # only the tail: nothing moves but the last end
    assert [(c.start, c.end) for c in chapters.shifted(cs, 0.0, 2.0)] == [(0, 5000), (5000, 14000)]
    assert chapters.shifted((), 1.0, 1.0) == ()
