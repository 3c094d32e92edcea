"""Carry a source file's tags (title, artist, cover art, INFO chunks, ...) over to the
re-encoded labeled file, so that labeling keeps what the file said about itself.

Labeling changes the samples, so the audio is re-encoded into a new file; without this step
every existing tag would be lost. Our own AIGC label is written afterwards by
:mod:`synthlabel.formats.audio_meta` (which replaces any old one), so stale AIGC tags copied
here are dropped first.
"""
from __future__ import annotations

import copy
import os
import re
import struct
from collections.abc import Iterator

from . import chapters, id3

_AIGC_NAMES = {"aigc", "txxx:aigc"}
# A chapter's start time (CHAPTER001=00:01:02.500); its CHAPTER001NAME is not a time.
_VORBIS_CHAPTER = re.compile(r"^chapter\d+$", re.IGNORECASE)


def _is_c2pa_frame(frame) -> bool:
    """c2pa embeds its manifest store in MP3 as a GEOB frame of type application/c2pa."""
    return frame.FrameID == "GEOB" and "c2pa" in (getattr(frame, "mime", "") or "").lower()


def _open_tagged(path: str | os.PathLike, fmt: str):
    """``path`` opened with the mutagen class of its sniffed format ``fmt`` (mutagen.File
    scores candidates by the file name too: a FLAC named .mp3 was opened as MP3, failed, and
    every tag and picture was dropped), or None for a format mutagen does not tag."""
    from mutagen import MutagenError
    from mutagen.flac import FLAC
    from mutagen.mp3 import MP3
    from mutagen.mp4 import MP4
    from mutagen.oggflac import OggFLAC
    from mutagen.oggopus import OggOpus
    from mutagen.oggvorbis import OggVorbis

    kinds = {"mp3": (MP3,), "flac": (FLAC,), "m4a": (MP4,), "opus": (OggOpus,),
             "ogg": (OggVorbis, OggOpus, OggFLAC)}.get(fmt, ())
    for i, kind in enumerate(kinds):
        try:
            return kind(path)
        except MutagenError:
            if i == len(kinds) - 1:    # the last candidate's error says what is wrong
                raise
    return None


def _mutagen_copy(src: str | os.PathLike, dst: str | os.PathLike, fmt: str,
                  shift_seconds: float = 0.0, tail_seconds: float = 0.0) -> str | None:
    """Copy what mutagen reads of ``src``'s tags into ``dst``; a note on what was not carried
    as it was, or None."""
    s = _open_tagged(src, fmt)
    if s is None or s.tags is None:
        return None
    d = _open_tagged(dst, fmt)
    if d is None:
        return None
    if d.tags is None:
        d.add_tags()
    if type(s.tags) is not type(d.tags):  # e.g. ID3 on a FLAC file: not ours to convert
        return None
    notes: list[str] = []
    if hasattr(s.tags, "getall"):  # ID3: copy frames, including pictures
        last_end = max((f.end_time for f in s.tags.getall("CHAP")), default=None)
        for frame in s.tags.values():
            if frame.HashKey.lower() in _AIGC_NAMES or _is_c2pa_frame(frame):
                continue
            if frame.FrameID == "CHAP" and (shift_seconds or tail_seconds):
                frame = copy.deepcopy(frame)
                shift_ms = round(shift_seconds * 1000)
                last = frame.end_time == last_end
                frame.start_time = chapters.moved(frame.start_time, shift_ms)
                frame.end_time = chapters.moved(frame.end_time, shift_ms)
                if last:              # stretched over a cue appended after the content
                    frame.end_time += round(tail_seconds * 1000)
                # byte offsets into the old encoding point nowhere now: "not given"
                frame.start_offset = frame.end_offset = 0xFFFFFFFF
            if frame.FrameID == "TLEN" and getattr(d.info, "length", None):
                # the length in ms: the new file's (a cue makes it longer)
                frame = type(frame)(encoding=frame.encoding, text=[str(round(d.info.length * 1000))])
            d.tags.add(frame)
    elif isinstance(s.tags, list):  # Vorbis comments: (key, value) pairs, in order
        # Pairs are appended in the source's order and case: a reader pairs CHAPTERxxxNAME
        # with the CHAPTERxxx before it.
        pairs = [(k, v) for k, v in s.tags if k.lower() not in _AIGC_NAMES]
        for key in {k.lower() for k, _ in pairs}:
            if key in d.tags:
                del d.tags[key]
        for key, value in pairs:
            if _VORBIS_CHAPTER.match(key):
                value = chapters.shift_vorbis_time(value, shift_seconds)
            d.tags.append((key, value))
    else:  # MP4 ilst atoms
        for key, value in s.tags.items():
            if key.lower() in _AIGC_NAMES or key.lower().endswith(":aigc"):
                continue
            if key[:1] < " ":   # an mdta item's key index, not an iTunes atom: _mdta_copy
                continue
            d.tags[key] = value
        # atoms mutagen could not parse (a Latin-1 title where MP4 wants UTF-8) it keeps raw
        # and writes back as they were: carry them too, or the title vanishes silently
        failed = getattr(s.tags, "_failed_atoms", None)
        if isinstance(failed, dict) and isinstance(getattr(d.tags, "_failed_atoms", None), dict):
            for key, raw in failed.items():
                if key.lower() in _AIGC_NAMES or key.lower().endswith(":aigc") or key in d.tags:
                    continue
                d.tags._failed_atoms[key] = list(raw)
    pictures = getattr(s, "pictures", None)  # FLAC cover art lives outside the comments
    if pictures and hasattr(d, "add_picture"):
        for pic in pictures:
            d.add_picture(pic)
    if getattr(s, "cuesheet", None) is not None and hasattr(d, "cuesheet"):
        d.cuesheet = _shifted_cuesheet(s.cuesheet, round(shift_seconds * s.info.sample_rate),
                                       d.info.total_samples)
    kw = {}
    v1 = None                   # the source's ID3v1 tag (ID3 files)
    if hasattr(s.tags, "getall"):
        # frames mutagen did not decode (unknown IDs, text it cannot read) would be lost
        with open(src, "rb") as f:
            undecoded = id3.undecoded_frames(f)
            v1 = id3.id3v1_tag(f)
        id3.keep_undecoded(d.tags, undecoded)
        if undecoded and undecoded.repaired:
            notes.append("the ID3 " + ", ".join(sorted({fr.FrameID for fr in undecoded.repaired}))
                         + " frame(s) said UTF-8 but were not: read as Latin-1, carried as UTF-8")
        if undecoded and undecoded.lost:
            notes.append("the ID3 " + ", ".join(sorted(set(undecoded.lost)))
                         + " frame(s) could not be decoded (malformed) and were not carried over")
        if v1 is not None:
            kw["v1"] = 2        # the source's ID3v1 tag too (mutagen writes one only when asked)
        if getattr(s.tags, "version", (2, 4, 0))[1] == 3:
            # an ID3v2.3 tag stays 2.3 (older players and Windows read 2.4 poorly); mutagen
            # writes 2.4 unless told
            d.tags.update_to_v23()
            kw["v2_version"] = 3
    d.save(**kw)
    has_chapters = hasattr(s.tags, "getall") and bool(s.tags.getall("CHAP"))
    if v1 is not None or has_chapters:
        with open(dst, "r+b") as f:
            id3.restore_id3v1(f, v1)        # the source's, comment and all
            if has_chapters:                # (the tag is read again only where it has them)
                id3.order_chapters(f)
    return "; ".join(notes) or None


def _ape_copy(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """An MP3's APEv2 tag (foobar2000 and MP3Gain write one, after the audio), which
    mutagen.File does not see beside ID3: carried as it is, after the new file's audio."""
    from mutagen.apev2 import APENoHeaderError, APEv2

    try:
        s = APEv2(src)
    except APENoHeaderError:
        return
    d = APEv2()
    for key, value in s.items():
        if key.lower() not in _AIGC_NAMES:
            d[key] = value
    if d:
        d.save(dst)


def _shifted_cuesheet(cs, shift: int, total: int):
    """A FLAC CUESHEET block with its tracks ``shift`` samples later (but one at the start of
    the file) and the lead-out at the new end (``total`` samples). A CD's cue sheet needs
    every offset on a 588-sample frame, which a cue's length is not: it is then kept as a
    plain cue sheet, not a CD's."""
    cs = type(cs)(cs.write())                     # a copy (its index tuples do not deepcopy)
    for track in cs.tracks:
        if track.track_number in (170, 255):      # lead-out (CD / other)
            track.start_offset = total
        else:                                     # as chapters: the first still starts the file
            track.start_offset = chapters.moved(track.start_offset, shift)
    if cs.compact_disc and any(t.start_offset % 588 for t in cs.tracks):
        cs.compact_disc = False
        cs.lead_in_samples = 0
        for track in cs.tracks:
            if track.track_number == 170:
                track.track_number = 255
    return cs


# RIFF chunks that describe the file rather than its samples: copy them; everything
# structural (fmt, data, fact, our AIGC) is the encoder's business.
# The old C2PA manifest is never copied: it signs the old samples and would read as tampered
# (a new one is signed after labeling, or none with --no-c2pa).
#: Chunks not carried: the sample layout and data (written anew), our labels, padding, and
#: PEAK (a float file's peak per channel, which libsndfile writes anew for the new samples).
_WAV_SKIP = {b"fmt ", b"data", b"fact", b"AIGC", b"C2PA", b"JUNK", b"PAD ", b"ds64", b"FLLR",
             b"PEAK"}


def _shift_cues(body: bytes, frames: int) -> bytes:
    """A ``cue `` chunk's points moved ``frames`` later (each point: name, position, chunk id,
    chunk start, block start, sample offset; the position and the sample offset are in
    frames of the data chunk), but one at the start of the sound, which still starts the
    file, as the first chapter does in every other format (:func:`chapters.moved`)."""
    if frames == 0 or len(body) < 4:
        return body
    n = struct.unpack("<I", body[:4])[0]
    if len(body) < 4 + 24 * n:
        return body
    out = bytearray(body)
    for i in range(n):
        at = 4 + 24 * i
        name, pos, cid, cstart, bstart, off = struct.unpack("<II4sIII", body[at:at + 24])
        out[at:at + 24] = struct.pack("<II4sIII", name, chapters.moved(pos, frames) & 0xFFFFFFFF, cid,
                                      cstart, bstart, chapters.moved(off, frames) & 0xFFFFFFFF)
    return bytes(out)


# bext (EBU Tech 3285): Description 256, Originator 32, OriginatorReference 32, OriginationDate
# 10, OriginationTime 8 bytes, then TimeReference (uint64, frames since midnight).
_BEXT_TIME_REF = 338


def _bext_time_ref(body: bytes) -> int | None:
    """A ``bext`` chunk's TimeReference (frames since midnight), or None when it is too short."""
    if len(body) < _BEXT_TIME_REF + 8:
        return None
    return struct.unpack("<Q", body[_BEXT_TIME_REF:_BEXT_TIME_REF + 8])[0]


def _shift_bext(body: bytes, frames: int) -> bytes:
    """A ``bext`` chunk whose TimeReference (the time of the first frame) is ``frames``
    earlier: the inserted cue now plays first, so the sound keeps its time of day. Floored at
    0 (midnight)."""
    ref = _bext_time_ref(body)
    if frames == 0 or ref is None:
        return body
    return (body[:_BEXT_TIME_REF] + struct.pack("<Q", max(0, ref - frames))
            + body[_BEXT_TIME_REF + 8:])


def _shift_smpl(body: bytes, frames: int) -> bytes:
    """A ``smpl`` chunk's loops moved ``frames`` later (nine header words, the eighth the loop
    count; each loop: cue id, type, start, end, fraction, play count; start and end in
    frames)."""
    if frames == 0 or len(body) < 36:
        return body
    n = struct.unpack("<I", body[28:32])[0]
    if len(body) < 36 + 24 * n:
        return body
    out = bytearray(body)
    for i in range(n):
        at = 36 + 24 * i + 8
        start, end = struct.unpack("<II", body[at:at + 8])
        out[at:at + 8] = struct.pack("<II", (start + frames) & 0xFFFFFFFF,
                                     (end + frames) & 0xFFFFFFFF)
    return bytes(out)


#: Chunks that hold positions in frames of the sound, and how to move them by inserted frames.
_WAV_SHIFT = {b"cue ": _shift_cues, b"bext": _shift_bext, b"smpl": _shift_smpl}


def _riff_chunks(f) -> Iterator[tuple[bytes, int, int]]:
    """(ID, size, payload offset) of each chunk of the WAVE file open as ``f`` (RIFF or RF64),
    in file order; nothing for another file. The caller may read ``f`` between chunks."""
    f.seek(0)
    head = f.read(12)
    if head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
        return
    # A RIFF's chunks end where its size says: bytes appended after it (padding, another
    # tool's trailer) are no chunks (125 empty "\0\0\0\0" ones were carried into a label).
    riff_size = struct.unpack("<I", head[4:8])[0]
    end = 8 + riff_size if head[:4] == b"RIFF" else None     # RF64: the size is in ds64
    pos = 12
    while end is None or pos + 8 <= end:
        f.seek(pos)
        h = f.read(8)
        if len(h) < 8 or not all(0x20 <= c <= 0x7E for c in h[:4]):
            return                                  # the end, or no chunk ID: not a chunk
        n = struct.unpack("<I", h[4:])[0]
        yield h[:4], n, pos + 8
        pos += 8 + n + (n & 1)


def _wav_channel_mask(src_fmt: bytes, dst: str | os.PathLike) -> None:
    """Give ``dst`` the speaker positions (WAVE_FORMAT_EXTENSIBLE channel mask) of the source
    whose ``fmt `` payload is ``src_fmt``: libsndfile writes its own default mask for the
    channel count, which moved a 4.0 file's back centre to the back left and right (quad) and
    a 7.1 file's sides to the front."""
    if len(src_fmt) < 24 or src_fmt[:2] != b"\xfe\xff":
        return
    with open(dst, "r+b") as f:
        for cid, n, at in _riff_chunks(f):
            if cid == b"fmt ":
                d = f.read(min(n, 64))
                if len(d) >= 24 and d[:2] == b"\xfe\xff" and d[2:4] == src_fmt[2:4]:
                    f.seek(at + 20)                     # same channel count: the mask
                    f.write(src_fmt[20:24])
                return


def _wav_copy(src: str | os.PathLike, dst: str | os.PathLike, shift_frames: int = 0) -> str | None:
    """Carry a WAV's chunks; returns a note on what could not be kept exactly, or None."""
    extra, fmt, note = [], b"", None
    with open(src, "rb") as f:
        for cid, n, _at in _riff_chunks(f):
            if cid == b"fmt ":
                fmt = f.read(min(n, 64))
                continue
            if cid in _WAV_SKIP or n > 16 << 20:  # metadata chunks are small; skip the rest
                continue
            body = f.read(n)
            if len(body) < n:
                break
            ref = _bext_time_ref(body) if cid == b"bext" else None
            if ref and ref < shift_frames:
                # floored at midnight by _shift_bext (0: no timecode was set, nothing lost)
                rate = struct.unpack("<I", fmt[4:8])[0] if len(fmt) >= 8 else 0
                off = f"{(shift_frames - ref) / rate:.2f} s" if rate else f"{shift_frames - ref} frames"
                note = (f"the broadcast WAV's time reference is shorter than the inserted "
                        f"rhythm cue: it is set to 00:00:00, so the sound's timecode is {off} "
                        f"late (put the cue at the end, --cue end, to keep it)")
            if cid in _WAV_SHIFT:
                body = _WAV_SHIFT[cid](body, shift_frames)
            extra.append(cid + struct.pack("<I", n) + body + (b"\0" if n & 1 else b""))
    _wav_channel_mask(fmt, dst)
    if not extra:
        return note
    blob = b"".join(extra)
    with open(dst, "r+b") as f:
        head = f.read(12)
        if head[:4] != b"RIFF":  # RF64 outputs (> 4 GiB) keep their own layout
            return
        f.seek(0, os.SEEK_END)
        f.write(blob)
        size = f.tell() - 8
        f.seek(4)
        f.write(struct.pack("<I", size))
    return note


# mdta keys not carried over: the old label (the new one is written after), the encoder (the
# labeled file's own encoder wrote it), and the file-type brands FFmpeg writes as keys with
# use_metadata_tags (the labeled file has its own ftyp).
#: ID3 frames and the Vorbis comment each becomes when an ID3 tag in front of a FLAC stream
#: is carried (the names MusicBrainz Picard and foobar2000 use); TXXX:NAME becomes NAME.
_ID3_TO_VORBIS = {"TIT2": "TITLE", "TIT3": "SUBTITLE", "TPE1": "ARTIST", "TPE2": "ALBUMARTIST",
                  "TPE3": "CONDUCTOR", "TALB": "ALBUM", "TRCK": "TRACKNUMBER", "TPOS": "DISCNUMBER",
                  "TDRC": "DATE", "TYER": "DATE", "TCON": "GENRE", "TCOM": "COMPOSER",
                  "TEXT": "LYRICIST", "TCOP": "COPYRIGHT", "TSRC": "ISRC", "TPUB": "LABEL",
                  "TBPM": "BPM", "TENC": "ENCODED-BY", "TLAN": "LANGUAGE", "COMM": "COMMENT",
                  "USLT": "LYRICS"}


def _flac_id3_copy(src: str | os.PathLike, dst: str | os.PathLike) -> str | None:
    """An ID3v2 tag in front of a FLAC stream (not part of FLAC, but some rippers write one)
    was dropped without a word: mutagen's FLAC reads only the Vorbis comments. Its text
    frames with a Vorbis-comment name, its TXXX frames and its pictures are carried into
    ``dst``'s comments and pictures (a comment the file has already wins). Returns a warning
    naming the frames that could not be carried, else None."""
    with open(src, "rb") as f:
        if f.read(3) != b"ID3":
            return None
    from mutagen.flac import FLAC, Picture
    from mutagen.id3 import ID3

    d = FLAC(dst)
    if d.tags is None:
        d.add_tags()
    have = {k.lower() for k, _ in d.tags}
    left = []
    for frame in ID3(src).values():
        fid = frame.FrameID
        if fid == "APIC":
            pic = Picture()
            pic.data, pic.mime, pic.type, pic.desc = frame.data, frame.mime, int(frame.type), frame.desc
            d.add_picture(pic)
            continue
        name = frame.desc.upper() if fid == "TXXX" else _ID3_TO_VORBIS.get(fid)
        if name is None or _is_c2pa_frame(frame):
            if not _is_c2pa_frame(frame):
                left.append(fid)
            continue
        if name.lower() in _AIGC_NAMES or name.lower() in have:
            continue
        values = [frame.text] if fid == "USLT" else [str(t) for t in frame.text]
        for v in values:
            d.tags.append((name, v))
    d.save()
    if left:
        return ("the ID3 tag in front of the FLAC stream is carried as Vorbis comments, except "
                f"its {', '.join(sorted(set(left)))} frame(s)")
    return None


_MDTA_SKIP = {"aigc", "encoder", "major_brand", "minor_version", "compatible_brands"}


def _mdta_copy(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Carry ``src``'s text ``mdta`` keys (QuickTime metadata, as FFmpeg writes with
    ``use_metadata_tags`` and as the AIGC label is written) into ``dst``: mutagen reads only
    iTunes atoms, so these were lost, and a labeled file labeled again had its keys' items
    copied as garbage iTunes atoms. Its XMP packet goes along in the same pass (mutagen
    carries none; without a TC260:AIGC)."""
    from . import mp4meta

    entries = [(k, v) for k, v in mp4meta.read_mp4_metadata_file(src).mdta
               if k.strip().lower() not in _MDTA_SKIP]
    xmp = mp4meta.read_xmp_packet_file(src)
    if not entries and xmp is None:
        return
    tmp = os.fspath(dst) + ".mdta"
    try:
        mp4meta.write_mp4_entries_file(dst, tmp, entries, xmp_base=xmp)
        os.replace(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def copy_tags(src: str | os.PathLike, dst: str | os.PathLike, fmt: str,
              shift_frames: int = 0, sample_rate: int | None = None,
              tail_frames: int = 0) -> str | None:
    """Copy ``src``'s tags into ``dst`` (same container family). Returns a warning when tags
    could not be carried over (or not exactly: a WAV time reference), else None; never raises
    for odd tags. ``shift_frames``: how
    many frames (at ``sample_rate``, the source's rate) were inserted before the audio (the
    rhythm cue), by which a WAV's cue points (markers), sampler loops and broadcast time
    reference, an MP3's ID3 chapters and Vorbis-comment chapters move, so that they still
    point at the same sound. ``tail_frames``: how many were appended after it, over which
    the last ID3 chapter is stretched."""
    if (shift_frames or tail_frames) and fmt != "wav" and not sample_rate:
        raise ValueError("copy_tags: shift_frames needs the sample_rate")
    try:
        if fmt == "wav":
            return _wav_copy(src, dst, shift_frames)
        else:
            note = _mutagen_copy(src, dst, fmt, shift_frames / sample_rate if shift_frames else 0.0,
                                 tail_frames / sample_rate if tail_frames else 0.0)
            if fmt == "m4a":
                _mdta_copy(src, dst)
            if fmt == "mp3":
                _ape_copy(src, dst)
            if fmt == "flac":
                return _flac_id3_copy(src, dst)
            return note
    except Exception as exc:  # noqa: BLE001 - a tag we cannot copy must not fail labeling
        from .mutagen_errors import reason

        return f"existing tags could not be carried over: {reason(exc)}"
    return None
