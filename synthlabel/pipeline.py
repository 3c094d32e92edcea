"""Files and batches: find inputs, map them to outputs, label in a process pool, write each
output atomically, and report one JSON line per file.

Rules a batch keeps: inputs are never modified (unless in-place), existing outputs are never
overwritten (unless asked), a bad file costs one line of error and the rest go on.
"""
from __future__ import annotations

import io
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from PIL import Image

from .batch import init_worker_process, one_line, pool_map, worker_count
from .formats import image_codec
from .formats.sniff import (M4A_SUFFIXES, MediaType, UnsupportedFormat, UnsupportedMedia, sniff_file,
                            sniff_streams)
from .fsutil import SIDECAR_FORMATS, atomic_write, broken_link, shared_sidecar, sidecar_owner, with_extension
from .labeling import LabelingError, label_image_bytes
from .models import LabelResult, LabelSpec
from .provenance.credentials import Credentials

# Extensions whose meaning we know, to warn when the content says otherwise.
KNOWN_EXTENSIONS = {".jpg": "jpeg", ".jpeg": "jpeg", ".jpe": "jpeg", ".jfif": "jpeg", ".png": "png", ".webp": "webp",
                    ".gif": "gif", ".tif": "tiff", ".tiff": "tiff", ".bmp": "bmp",
                    ".wav": "wav", ".flac": "flac", ".mp3": "mp3", ".ogg": "ogg", ".oga": "ogg",
                    ".opus": "ogg", ".m4a": "m4a", ".m4b": "m4a", ".mp4": "mp4", ".mov": "mov",
                    ".mkv": "mkv", ".webm": "webm",
                    ".m4v": "mp4", ".qt": "mov"}


# --------------------------------------------------------------------------- files


@dataclass(frozen=True)
class Job:
    source: Path
    target: Path | None    # output path; its extension is set from the format written
    in_place: bool = False
    from_walk: bool = False  # found by walking a directory (not named by the user)
    # A retry after the batch's worker pool broke (batch.pool_map): the first attempt may have
    # written its output before its result was lost with the pool, so an output written
    # since this time (time.time()) is this job's own and is replaced.
    retry_since: float | None = None
    out_root: Path | None = None   # the -o folder ``target`` is under (plan_jobs)
    # ``out_root`` lies inside an input folder (not walked): a file already there may be an
    # original rather than an earlier output, which --overwrite must not replace
    out_in_input: bool = False


def skippable(path: Path, from_walk: bool, error: UnsupportedMedia | None = None) -> bool:
    """A file met while walking a directory that neither is media nor claims to be (by its
    extension): a README or script beside the media. Named files, media-named files that turn
    out not to be media, and media in a format synthlabel does not handle (AIFF, AVI, HEIC: an
    :class:`UnsupportedFormat`) are errors instead. ``error``: the sniffing error when the
    caller has it; otherwise the file's head is sniffed here."""
    if not from_walk or path.suffix.lower() in KNOWN_EXTENSIONS:
        return False
    if error is None:
        try:
            sniff_file(path)
            return False
        except UnsupportedMedia as exc:
            error = exc
        except OSError:
            return False
    return not isinstance(error, UnsupportedFormat)


def _inside(directory: Path, other: Path | None) -> tuple[str, ...] | None:
    """The parts of ``other`` relative to ``directory`` when it lies strictly inside it."""
    if other is None:
        return None
    try:
        parts = other.resolve().relative_to(directory.resolve()).parts
    except ValueError:
        return None
    return parts or None


def _dir_prefixes(paths: list[Path]) -> dict[Path, Path]:
    """Where each directory argument mirrors to: its name, extended by parent folders while
    another directory argument ends the same way."""
    dirs = [p for p in paths if p.is_dir()]
    full = {p: p.resolve().parts for p in dirs}
    out = {}
    for p in dirs:
        k = 1
        while k < len(full[p]) and any(q != p and full[q] != full[p] and full[q][-k:] == full[p][-k:]
                                       for q in dirs):
            k += 1
        out[p] = Path(*full[p][-k:])
    return out


def _walk(top: Path, exclude: Path | None) -> list[Path]:
    """Every file under ``top``, sorted, following linked folders (``Path.rglob`` passes them
    over silently before Python 3.13, and a dataset's link farm is often folders of links). A
    folder reached again (a link to an ancestor, or two links to one folder) is walked once;
    ``exclude`` (the output folder), reached directly or through a link, is not walked."""
    seen = {os.path.realpath(top)}
    if exclude is not None:
        seen.add(os.path.realpath(exclude))
    found = []
    for root, dirs, files in os.walk(top, followlinks=True):
        keep = []
        for d in sorted(dirs):
            real = os.path.realpath(os.path.join(root, d))
            if real not in seen:
                seen.add(real)
                keep.append(d)
        dirs[:] = keep
        found.extend(Path(root, name) for name in files)
    return sorted(found)


def iter_inputs(paths: Iterable[str | Path], exclude: Path | None = None,
                hidden: list[Path] | None = None) -> Iterator[tuple[Path, Path, bool]]:
    """Yield (file, path relative to the output root, found by walking a directory).
    Directories recurse; hidden files (our temp files among them) and ``.c2pa`` sidecars are
    skipped, and so is the tree under ``exclude`` (an output directory inside an input
    directory: a second run must not label the first run's outputs). A single directory
    argument mirrors into the output root; with several arguments each directory mirrors
    under its own name, so that ``a/x.png`` and ``b/x.png`` do not collide (and under as
    much of its path as tells it apart from another directory of that name: ``x/imgs`` and
    ``y/imgs``). ``hidden``: collects the hidden files passed over, for the summary."""
    paths = list(paths)
    prefixes = _dir_prefixes([Path(p) for p in paths]) if len(paths) > 1 else {}
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            prefix = prefixes.get(p, Path())
            for f in _walk(p, exclude):
                rel = f.relative_to(p)
                if any(part.startswith(".") for part in rel.parts):
                    if hidden is not None and f.is_file():
                        hidden.append(f)
                    continue
                if f.suffix == ".c2pa":    # sidecars travel with their media
                    continue
                if f.exists() or f.suffix.lower() in KNOWN_EXTENSIONS:
                    # A file, or a FIFO, socket or device (never opened: sniff_file refuses
                    # it; an error when named like media, a skip otherwise), or a broken
                    # link named like media (an error for this file, not silence).
                    yield f, prefix / rel, True
        else:
            yield p, Path(p.name), False


def plan_jobs(paths: Iterable[str | Path], outdir: Path | None, *, in_place: bool,
              hidden: list[Path] | None = None) -> list[Job]:
    """One job per input file. A file reached twice (named twice, named and inside a folder
    also given, or beside a link to it) is labeled once, where it was first reached, under its
    own name rather than a link's. ``hidden``: collects the hidden files passed over."""
    entries: list[tuple[Path, Path, bool]] = []
    index: dict[Path, int] = {}
    for src, rel, walked in iter_inputs(paths, exclude=outdir, hidden=hidden):
        try:
            key = src.resolve()
        except (OSError, RuntimeError):   # a link loop: its own error later
            key = src
        if key in index:
            i = index[key]
            if entries[i][0].is_symlink() and not src.is_symlink():
                entries[i] = (src, rel, walked)     # the file itself, not a link to it
            continue
        index[key] = len(entries)
        entries.append((src, rel, walked))
    nested = not in_place and outdir is not None and any(
        Path(p).is_dir() and _inside(Path(p), outdir) for p in paths)
    return [Job(source=src, target=None if in_place else outdir / rel, in_place=in_place,
                from_walk=walked, out_root=None if in_place else outdir, out_in_input=nested)
            for src, rel, walked in entries]


def _link_in_output(job: Job) -> str | None:
    """Why ``job``'s output would land outside its -o folder: a folder on the way there is a
    symbolic link (``out/sub -> ../elsewhere``: outputs went into the input folder, among the
    originals, or replaced files of another tree with --overwrite)."""
    if job.target is None or job.out_root is None:
        return None
    for parent in job.target.parents:
        if parent == job.out_root or job.out_root not in parent.parents:
            break
        if parent.is_symlink():
            return (f"{parent} is a symbolic link: outputs stay inside {job.out_root} (remove "
                    "the link, or give its target as -o)")
    return None


# --------------------------------------------------------------------------- one file


def sniff_job(job: Job) -> MediaType:
    """What ``job.source`` holds, by content (head only, then streams for MP4 audio)."""
    try:
        media = sniff_streams(job.source)
    except IsADirectoryError:
        raise LabelingError("is a directory") from None
    except OSError as exc:
        raise LabelingError(f"cannot read: {broken_link(job.source) or exc.strerror or exc}") from None
    return media


def _suffix_fits(path: Path, fmt: str) -> bool:
    return KNOWN_EXTENSIONS.get(path.suffix.lower()) == fmt or (
        fmt == "m4a" and path.suffix.lower() in M4A_SUFFIXES)


def output_path(base: Path, fmt: str, extension: str) -> Path:
    """``base`` if its suffix already names ``fmt`` (``x.jpeg`` stays ``x.jpeg``), else
    ``base`` with the format's canonical ``extension``: names follow content."""
    return base if _suffix_fits(base, fmt) else with_extension(base, extension)


def expected_outputs(job: Job, media: MediaType | None, spec: LabelSpec) -> list[Path]:
    """The paths labeling ``job`` will write (media, and a C2PA sidecar where one is
    written), so a batch can refuse two inputs that would write the same file."""
    base = job.source if job.in_place else job.target
    assert base is not None
    if media is None:
        return [base]
    if media.kind == "image":
        from .labeling import output_format_for

        fmt, _ = output_format_for(media.format, spec)
        out = output_path(base, fmt, image_codec.EXTENSION[fmt])
    else:
        out = output_path(base, media.format, media.extension)
    outs = [out]
    if spec.c2pa and media.format in SIDECAR_FORMATS:
        outs.append(out.with_suffix(".c2pa"))
    return outs


def prior_label(path: Path, media: MediaType, data: bytes | None = None) -> str | None:
    """Describe the AIGC metadata label ``path`` already carries ("ProduceID ..., producer
    ..."), or None. Only the metadata is read, so this costs next to nothing; a labeled file
    whose metadata was stripped (a screenshot, a re-encode) is not recognised. ``data``: the
    file's bytes when the caller holds them (images)."""
    found = _label_findings(path, media, data)
    if found is None:
        return None
    if found.aigc is not None:
        return f"ProduceID {found.aigc.produce_id}, producer {found.aigc.content_producer}"
    if found.aigc_count:
        return UNPARSED_LABEL
    return None


#: :func:`prior_label` of an input whose AIGC label is there but does not parse.
UNPARSED_LABEL = "an AIGC label that does not parse"


def _label_findings(path: Path, media: MediaType, data: bytes | None = None):
    """The AIGC metadata findings of ``path`` (None when its metadata does not read)."""
    try:
        if media.kind == "image":
            from .formats import image_meta

            found = image_meta.read_image_metadata(data if data is not None else path.read_bytes(),
                                                   media.format)
        elif media.kind == "audio":
            from .formats import audio_meta

            found = audio_meta.read_audio_metadata_file(path)
        else:
            from .labeling_video import metadata_findings

            found = metadata_findings(path, media.format)
    except Exception:  # noqa: BLE001 - unreadable metadata: labeling itself will say what is wrong
        return None
    return found


def _relabel_warning(prior: str, dry_run: bool = False, spec: LabelSpec | None = None,
                     kind: str = "image", mark_kept: bool = False, label_kept: bool = False) -> str:
    if spec is not None and spec.propagator:
        if prior == UNPARSED_LABEL:
            # nothing of the producer's can be kept (labeling then says whom the label names)
            return ("re-published: the input's AIGC label does not parse, so none of its fields "
                    "can be kept; a new label replaces it")
        # Re-publishing: the producer's fields are kept, which is the point; what is worth a
        # word is a second visible label / cue and watermark over the producer's. (An audio
        # file's rhythm cue is not inserted again where it has one, mostly: labeling_audio
        # warns either way.) ``mark_kept``: the producer's mark is of this key and was kept
        # (labeling says so), so no second one was added; ``label_kept``: likewise the visible
        # label the producer's picture or video shows.
        added = [n for n, on in (("visible label or cue", spec.explicit and kind != "audio"
                                  and not label_kept),
                                 ("watermark", spec.watermark and not mark_kept)) if on]
        if not added:
            return f"re-published: the producer's AIGC fields ({prior}) are kept"
        # (whether the producer's file carries a watermark of another key is not known here)
        return (f"re-published: the producer's AIGC fields ({prior}) are kept, and this "
                f"labeling's {' and '.join(added)} is added to what the producer's file carries "
                "(--no-explicit --no-watermark keeps only the producer's)")
    # What relabeling does to each layer is in the README; the line stays short for batches.
    return (f"already labeled ({prior}); {'would be labeled' if dry_run else 'labeled'} again "
            "over it (--skip-labeled leaves such files alone)")


def _check_readable(path: Path, media: MediaType, data: bytes | None, spec: LabelSpec,
                    target: Path, in_place: bool = False) -> list[str]:
    """What a dry run can check short of labeling: images decode, audio and video streams
    open (their headers; a file damaged further in fails only when labeled), the options that
    depend on the file (the cue tone against the sample rate, the CRF against the codec), and
    that the output folder can be written. Raises the one-line error labeling would give;
    returns the warnings it would give about them (a soundtrack cue that cannot be mixed)."""
    warns: list[str] = []
    if media.kind == "image":
        from .core import text_label
        from .labeling import output_format_for

        decoded = image_codec.decode(data, media.format)
        h, w = decoded.rgb.shape[:2]
        fmt, _ = output_format_for(media.format, spec)
        # what labeling fails on after its work: a label that does not fit, a picture or an
        # EXIF block the output format cannot hold
        try:
            image_codec.check_encodable(w, h, fmt, exif=decoded.exif)
        except ValueError as exc:
            raise LabelingError(str(exc)) from None
        if spec.explicit:
            try:
                text_label.check_fits(w, h, spec.text)
            except ValueError as exc:
                raise LabelingError(f"explicit label: {exc}") from None
    elif media.kind == "audio":
        from .formats import audio_io
        from .labeling_audio import check_file_rate, cue_params

        info = audio_io.probe(path)
        audio_io.check_channels(info.format, info.channels)
        check_file_rate(info.sample_rate)
        if info.frames == 0 and info.format == "wav":
            # its header counts the frames (one that says 0 with sound after it is refused by
            # probe; a FLAC's 0 may mean "unknown", a lossy file's count is an estimate)
            raise LabelingError("no samples to label: the file holds no audio")
        if spec.explicit and not spec.spoken_label:
            cue_params(spec).check_rate(info.sample_rate)
    else:
        from .formats import video_io

        from .labeling_video import EXTENSIONS, left_out_warning, other_audio_note

        info = video_io.probe(path)
        vcodec, _, _ = video_io.encoder_settings(info.container, spec.video_codec, spec.video_crf,
                                                 spec.video_preset)
        # the streams the output would not hold: an in-place run is refused for them (the dry
        # run said "would label"), any other is warned
        container = EXTENSIONS.get(target.suffix.lower(), info.container)
        if left_out := left_out_warning(info, container, in_place):
            warns.append(left_out)
        cue = bool(spec.video_audio_cue and spec.explicit and info.audio is not None)
        if note := other_audio_note(info, video_io.carried_streams(info, container), cue=cue):
            warns.append(note)
        if spec.explicit:
            # a picture too small for the label: the real run fails on it (the dry run said
            # "would label")
            from .core import text_label
            from .labeling_video import kept_sar, shown_size

            sar = kept_sar(info, vcodec, info.container)
            try:
                text_label.check_fits(*shown_size(info.width, info.height, info.rotation, sar), spec.text)
            except ValueError as exc:
                raise LabelingError(f"explicit label: {exc}") from None
        if spec.video_audio_cue and spec.explicit:
            from .labeling_audio import cue_params

            if info.audio is None:
                warns.append("audio cue not mixed: the video has no soundtrack")
            else:
                try:
                    cue_params(spec).check_rate(info.audio.sample_rate)
                except ValueError as exc:
                    warns.append(f"audio cue not mixed: {exc}")
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        # an output folder under a file: the real run fails with "Not a directory"
        raise LabelingError(f"cannot write to {target.parent}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK):
        raise LabelingError(f"cannot write to {folder} (read-only or no permission)")
    return warns


def _replaces_input(job: Job, targets: list[Path]) -> str | None:
    """Why writing ``targets`` would replace an original: the input itself without
    ``--in-place`` (``-o`` naming the inputs' own folder), or, with ``--in-place``, another
    file (``photo.png -f jpeg`` beside an unrelated ``photo.jpg``), or a symbolic link instead
    of the file it points to; with ``-o``, a C2PA sidecar another file of the same base name
    there shares (:func:`fsutil.shared_sidecar`). Refused even with ``--overwrite``, which is
    for earlier outputs, never for the originals or another file's manifest."""
    if job.in_place:
        if job.source.is_symlink():
            return (f"is a symbolic link: --in-place would replace the link, not the file it "
                    f"points to; label {os.path.realpath(job.source)} itself, or use -o")
        for t in targets:
            if t.suffix == ".c2pa" and t.exists() and (other := sidecar_owner(t, job.source)):
                return (f"{t} is the C2PA sidecar of {other.name} too (same base name), which "
                        "labeling in place would replace; use -o OUTDIR")
            if t.suffix == ".c2pa" or not t.exists():
                continue   # the sidecar is this file's own, from an earlier labeling
            try:
                same = t.samefile(job.source)
            except OSError:
                same = False
            if not same:
                return (f"{t} exists and is another file, which labeling in place as "
                        f"{t.suffix.lstrip('.').upper()} would replace; use -o OUTDIR")
        return None
    for t in targets:
        # -o: checked here, before any work and whatever --overwrite says, so that --dry-run
        # reports it too (it was only found when the sidecar was about to be written)
        if t.suffix == ".c2pa" and (why := shared_sidecar(t, targets[0])):
            return why
        try:
            same = t.exists() and t.samefile(job.source)
        except OSError:
            same = False
        if same:
            return (f"output {t} would replace the input itself; write it elsewhere, or label "
                    "in place (--in-place; in_place=True in the library)")
    return None


def _original_in_output(target: Path) -> str | None:
    """Why --overwrite may not replace ``target`` in an -o folder inside an input folder: it
    carries no AIGC label, so it is not an earlier output but a file that was there (the
    folder is not walked, so it is not labeled either)."""
    if not target.is_file():
        return None
    try:
        media = sniff_file(target)
    except (UnsupportedMedia, OSError):
        media = None
    if media is not None and prior_label(target, media) is not None:
        return None
    return (f"output {target} exists and carries no AIGC label: it is not an earlier output "
            "but a file in the output folder, which lies inside an input folder; --overwrite "
            "replaces earlier outputs only (move it, or choose another -o)")


#: How a container is named in messages (an Opus file is Ogg: "OGG" read as a format name)
_CONTAINER_NAMES = {"ogg": "Ogg", "mkv": "Matroska (MKV)", "webm": "WebM"}


def _existing_output(job: Job, targets: list[Path]) -> str | None:
    """Why labeling ``job`` would overwrite a file that exists (checked before any work, so a
    re-run batch fails its done files at once instead of labeling them first). The input
    itself is :func:`_replaces_input`'s case, checked first."""
    for t in targets:
        if not os.path.lexists(t):      # (a broken link there is an entry all the same)
            continue
        if job.retry_since is not None and _written_since(t, job.retry_since):
            continue   # this job's own output from the attempt the broken pool lost
        if job.in_place and t.resolve() == job.source.resolve():
            continue   # replacing the input is what --in-place asks for; -o never does
        if t.suffix == ".c2pa":
            if job.in_place:
                continue   # our own sidecar from an earlier labeling of this file
            return (f"C2PA sidecar {t} exists (another file with this base name?); "
                    "use --overwrite (overwrite=True in the library) to replace it")
        return (f"output {t} exists (use --overwrite to replace it, or --skip-existing to leave "
                "its input alone; overwrite=True in the library)")
    return None


def _written_since(path: Path, t: float) -> bool:
    try:
        return path.stat().st_mtime >= t
    except OSError:
        return False


def label_one(job: Job, spec: LabelSpec, creds: Credentials, overwrite: bool = False,
              skip_labeled: bool = False, dry_run: bool = False,
              progress: Callable[[float], None] | None = None,
              skip_existing: bool = False) -> LabelResult:
    """Label one file; every failure becomes ``LabelResult.error`` (one line), never an
    exception, so that a batch goes on. An input that already carries an AIGC metadata
    label is labeled again with a warning, or left alone (``skipped``) with
    ``skip_labeled``; ``LabelResult.prior_label`` names that label either way.
    ``dry_run``: every check (content, output path, existing output, prior label), nothing
    labeled or written; ``output`` is where the file would go. ``progress``: given the
    fraction done of a video as it is labeled (other files are quick). ``skip_existing``: an
    output that exists already (an interrupted batch run again) leaves the file ``skipped``,
    not failed."""
    t0 = time.perf_counter()
    res = LabelResult(source=str(job.source), dry_run=dry_run)   # every row of a dry run says so
    try:
        if job.retry_since is not None and job.in_place and _written_since(job.source, job.retry_since):
            # labeling it again would stack a second label and watermark on the first
            raise LabelingError("the batch's worker pool broke while this file was labeled in "
                                "place, and the file changed since the batch started: it may be "
                                "labeled already (check it with `synthlabel verify`)")
        try:
            media = sniff_job(job)
        except UnsupportedMedia as exc:
            if skippable(job.source, job.from_walk, exc):
                res.skipped = str(exc)
                return res
            raise LabelingError(str(exc)) from None
        res.media_type = media.mime
        ext = job.source.suffix.lower()
        if ext in KNOWN_EXTENSIONS and not _suffix_fits(job.source, media.format):
            res.warnings.append(f"extension {ext} does not match the content ({media.format}); "
                                "labeled by content")
        data = None
        if media.kind == "image":
            try:
                data = image_codec.read_file(job.source)
            except OSError as exc:
                raise LabelingError(f"cannot read: {exc.strerror or exc}") from None
        res.prior_label = prior_label(job.source, media, data)
        if res.prior_label and skip_labeled:
            res.skipped = f"already labeled ({res.prior_label})"
            return res
        targets = expected_outputs(job, media, spec)
        asked = job.target
        if asked is not None and targets[0] != asked and asked.suffix.lower() in KNOWN_EXTENSIONS \
                and asked.suffix.lower() != job.source.suffix.lower():
            # an output named for another format than the input's (label_file("a.flac",
            # "b.mp3")): its name follows the format written, which the caller should hear
            res.warnings.append(f"written as {targets[0].name}: an output's name follows the "
                                f"format written, not the {asked.suffix} asked")
        if why := _replaces_input(job, targets) or _link_in_output(job):
            raise LabelingError(why)
        if why := _in_place_loses_frames(job, data, targets[0], spec):
            raise LabelingError(why)
        if overwrite and job.out_in_input and (why := _original_in_output(targets[0])):
            raise LabelingError(why)
        if dirs := [t for t in targets if t.is_dir()]:
            # found before any work (writing it failed late, naming our hidden temp file,
            # and --skip-existing took the folder for a finished output)
            raise LabelingError(f"output {dirs[0]} is a directory; move it away or use another -o")
        if not overwrite and (why := _existing_output(job, targets)):
            if skip_existing and not job.in_place and targets[0].exists():
                if missing := [t for t in targets[1:] if not t.exists()]:
                    # media published, its sidecar not (a run killed between the two renames):
                    # not a finished output to skip (QA, stop 44)
                    raise LabelingError(f"output {targets[0]} exists without its C2PA sidecar "
                                        f"{missing[0].name} (an interrupted run?): use "
                                        "--overwrite to label it again")
                # The media output, not a sidecar left alone (its media gone) nor one whose
                # media is missing: those are errors, as without --skip-existing.
                res.existing_output = str(targets[0])
                res.skipped = f"output exists ({targets[0]})"
                # the earlier run's ID, so that a report read last-line-wins keeps it
                found = _label_findings(targets[0], media)
                res.content_id = found.aigc.produce_id if found is not None and found.aigc else None
                return res
            raise LabelingError(why)
        if res.prior_label:     # only now: a file skipped above is not labeled again
            res.warnings.append(_relabel_warning(res.prior_label, dry_run, spec, media.kind))
        if dry_run:
            res.warnings += _check_readable(job.source, media, data, spec, targets[0], job.in_place)
            res.output = str(targets[0])
            return res
        if media.kind in ("audio", "video"):
            return _label_av_job(media, job, targets[0], spec, creds, overwrite, res, t0, progress)
        labeled = label_image_bytes(data, media.format, spec=spec, credentials=creds,
                                    title=job.source.name)
        res.content_id = labeled.content_id.hex
        res.layers = labeled.layers
        res.warnings.extend(labeled.warnings)
        _settle_relabel_warning(res, spec, media.kind)
        target = targets[0]
        # Checked again: another process may have written it while this one was labeling.
        if why := _replaces_input(job, [target]):
            raise LabelingError(why)
        if not overwrite and (why := _existing_output(job, [target])):
            raise LabelingError(why)
        mode = job.source.stat().st_mode & 0o777 if job.in_place else None
        # (and at the rename itself: another batch may write it between that check and here)
        atomic_write(target, labeled.data, mode=mode,
                     replace=overwrite or job.in_place or (job.retry_since is not None
                                                           and _written_since(target, job.retry_since)))
        if job.in_place and target != job.source:
            if (frames := _frame_count(data)) > 1:
                # the output holds the first frame (page) only: deleting the original would
                # lose the others for good
                res.warnings.append(f"the original {job.source.name} is kept: it has {frames} "
                                    f"frames (pages) and {target.name} only the first")
            else:
                job.source.unlink()
        res.output = str(target)
    except (LabelingError, image_codec.ImageDecodeError, ValueError, OSError) as exc:
        res.fail(one_line(exc))
    except Exception as exc:  # noqa: BLE001 - one file's surprise must not stop the batch
        res.fail(f"internal error ({type(exc).__name__}): {one_line(exc)}")
    res.seconds = round(time.perf_counter() - t0, 4)
    return res


def _settle_relabel_warning(res: LabelResult, spec: LabelSpec, kind: str) -> None:
    """Once labeled: a re-published file whose watermark was kept (the producer's, of this
    key), or whose visible label was, gets no second one, so the warning given up front no
    longer says it does."""
    if not (spec.propagator and res.prior_label and (spec.watermark or spec.explicit)):
        return
    mark_kept = spec.watermark and any("carries this key's watermark already" in w for w in res.warnings)
    label_kept = spec.explicit and any(w.startswith("explicit: the ") and "shows a visible label "
                                       "already" in w for w in res.warnings)
    if mark_kept or label_kept:
        before = _relabel_warning(res.prior_label, False, spec, kind)
        res.warnings = [_relabel_warning(res.prior_label, False, spec, kind, mark_kept=mark_kept,
                                         label_kept=label_kept)
                        if w == before else w for w in res.warnings]


def _in_place_loses_frames(job: Job, data: bytes | None, target: Path, spec: LabelSpec) -> str | None:
    """Why labeling an animated WebP or PNG in place is refused: the labeled output is a
    still of the first frame (the label and the watermark are drawn on pixels), and it
    would replace the original, losing the other frames for good. (A GIF or TIFF becomes a
    PNG beside it, and the original is kept; metadata-only labeling keeps every frame.)"""
    if not job.in_place or data is None or not (spec.explicit or spec.watermark):
        return None
    if (frames := _frame_count(data)) <= 1 or target.resolve() != job.source.resolve():
        return None
    return (f"has {frames} frames and the labeled output only the first: --in-place would "
            "lose the others; label it with -o OUTDIR (the original stays), or with "
            "--no-explicit --no-watermark, which keeps every frame")


def _frame_count(data: bytes) -> int:
    """Frames (pages) of an animated or multi-page image; 1 when it cannot tell."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            return int(getattr(im, "n_frames", 1))
    except Exception:  # noqa: BLE001 - it was decoded already; this is only a count
        return 1


def _label_av_job(media: MediaType, job: Job, target: Path, spec: LabelSpec,
                  creds: Credentials, overwrite: bool, res: LabelResult, t0: float,
                  progress: Callable[[float], None] | None = None) -> LabelResult:
    """Audio and video stream from file to file (bounded memory), so they take paths.
    ``target``: from :func:`expected_outputs` (the content's container; a misleading name
    is corrected)."""
    extra = {}
    if media.kind == "audio":
        from .labeling_audio import label_audio_file as label_file
    else:
        from .labeling_video import label_video_file as label_file

        extra = {"progress": progress}
    try:
        labeled = label_file(job.source, target, spec=spec, credentials=creds,
                             overwrite=overwrite, in_place=job.in_place, **extra)
        if job.in_place and labeled.output != job.source:
            job.source.unlink()
        res.output = str(labeled.output)
        res.content_id = labeled.content_id.hex
        res.layers = labeled.layers
        res.warnings.extend(labeled.warnings)
        _settle_relabel_warning(res, spec, media.kind)
        if labeled.sidecar:
            res.sidecar = str(labeled.sidecar)
            res.warnings.append(f"C2PA manifest written as sidecar {labeled.sidecar.name} "
                                f"(c2pa cannot embed into "
                                f"{_CONTAINER_NAMES.get(media.format, media.format.upper())})")
    except (LabelingError, ValueError, OSError) as exc:
        res.fail(one_line(exc))
    except Exception as exc:  # noqa: BLE001 - one file's surprise must not stop the batch
        res.fail(f"internal error ({type(exc).__name__}): {one_line(exc)}")
    res.seconds = round(time.perf_counter() - t0, 4)
    return res


# --------------------------------------------------------------------------- batches

_worker_state: dict = {}


def _init_worker(spec: LabelSpec, creds: Credentials, overwrite: bool, skip_labeled: bool,
                 dry_run: bool, skip_existing: bool = False) -> None:
    # c2pa objects do not survive fork: each worker builds its own signer lazily.
    _worker_state.update(spec=spec, creds=creds, overwrite=overwrite, skip_labeled=skip_labeled,
                         dry_run=dry_run, skip_existing=skip_existing)
    init_worker_process()


def _work(job: Job) -> LabelResult:
    return label_one(job, _worker_state["spec"], _worker_state["creds"], _worker_state["overwrite"],
                     _worker_state["skip_labeled"], _worker_state["dry_run"],
                     skip_existing=_worker_state["skip_existing"])


def _opens(job: Job, media: MediaType | None) -> bool:
    """Whether labeling ``job`` gets past opening its input (called for inputs that would
    write the same output as another only: it costs a probe)."""
    if media is None:
        return False
    try:
        if media.kind == "video":
            from .formats import video_io

            video_io.probe(job.source)
        elif media.kind == "audio":
            from .formats import audio_io

            audio_io.probe(job.source)
    except Exception:  # noqa: BLE001 - any failure to open: label_one says why
        return False
    return True


def run_batch(jobs: list[Job], spec: LabelSpec, creds: Credentials, *, workers: int = 0,
              overwrite: bool = False, skip_labeled: bool = False, dry_run: bool = False,
              skip_existing: bool = False,
              on_result: Callable[[LabelResult], None] | None = None,
              on_progress: Callable[[Job, float], None] | None = None,
              fork: bool = False) -> list[LabelResult]:
    """Label ``jobs`` with ``workers`` processes (0 = all cores; 1 = in this process) and
    return the results in input order. ``on_result`` is called as each file finishes.
    ``skip_labeled``: leave inputs that already carry an AIGC label alone. ``skip_existing``:
    leave inputs whose output exists alone (resuming a batch). ``dry_run``: check
    everything, label and write nothing (see :func:`label_one`). ``on_progress(job,
    fraction)``: a video's progress while it is labeled, when the batch runs in this process
    (``workers`` 1, or a single file). ``fork``: start the workers by forking this process,
    only safe where it has not labeled anything itself (:func:`batch._context`)."""
    workers = worker_count(workers, len(jobs))
    started = time.time()
    results: dict[int, LabelResult] = {}
    targets: dict[Path, int] = {}
    todo: list[tuple[int, Job]] = []
    medias: dict[int, MediaType | None] = {}
    planned = []
    for i, job in enumerate(jobs):
        try:
            media = sniff_job(job)
        except (LabelingError, UnsupportedMedia):
            media = None
        medias[i] = media
        planned.append((i, job, expected_outputs(job, media, spec)))
    # Two inputs writing one output (x.gif and x.png both give x.png; x.ogg and x.mkv share
    # the sidecar x.c2pa) would clobber each other: one is refused. The output goes to the
    # input whose own name it is (x.png, not the x.gif written as PNG), else to the first;
    # an input that will fail anyway (an audio-only x.mka beside x.webm) claims nothing and
    # gets its own error.
    claims: dict[Path, list[int]] = {}
    for i, job, outs in planned:
        for o in outs:
            claims.setdefault(o, []).append(i)
    doomed = {i for c in claims.values() if len(c) > 1 for i in c if not _opens(jobs[i], medias[i])}
    for i, job, outs in planned:
        if i in doomed:
            continue
        for o in outs:
            cur = targets.get(o)
            if cur is None or (o.name == job.source.name and jobs[cur].source.name != o.name):
                targets[o] = i
    for i, job, outs in planned:
        hit = None if i in doomed else next((o for o in outs if targets[o] != i), None)
        if hit is not None:
            what = (f"the C2PA sidecar {hit.name}" if hit.suffix == ".c2pa" else f"the same output {hit}")
            media = medias[i]
            results[i] = LabelResult(source=str(job.source), dry_run=dry_run,
                                     media_type=media.mime if media is not None else None,
                                     error=f"would write {what} as {jobs[targets[hit]].source} does")
            if on_result:
                on_result(results[i])
            continue
        todo.append((i, job))
    try:
        if workers == 1:
            for i, job in todo:
                progress = (lambda f, job=job: on_progress(job, f)) if on_progress else None
                results[i] = label_one(job, spec, creds, overwrite, skip_labeled, dry_run,
                                       progress, skip_existing=skip_existing)
                if on_result:
                    on_result(results[i])
        else:
            # a worker that dies (a native crash, the OOM killer) costs only its own file
            for k, res in pool_map(_work, [job for _, job in todo], workers, _init_worker,
                                   (spec, creds, overwrite, skip_labeled, dry_run, skip_existing),
                                   retry=lambda job: replace(job, retry_since=started), fork=fork):
                i = todo[k][0]
                results[i] = res if isinstance(res, LabelResult) else \
                    LabelResult(source=str(jobs[i].source), dry_run=dry_run,
                                error=f"worker failed: {one_line(res)}")
                if on_result:
                    on_result(results[i])
    except KeyboardInterrupt:
        if not dry_run:
            for i, job in todo:
                if i not in results and (res := _published(job, medias[i], spec, started)):
                    results[i] = res
                    if on_result:
                        on_result(res)
        raise
    return [results[i] for i in range(len(jobs))]


def _published(job: Job, media: MediaType | None, spec: LabelSpec,
               started: float) -> LabelResult | None:
    """After an interrupt: the result of a file whose output was published while the batch
    stopped, read back from that output. A file being published holds the signal until its
    rename is done (nothing is left half-written), so a worker stopped then had written its
    output but its result never came back: the file was missing from ``--json`` and
    ``--report``, its content ID with it, and a resumed batch (``--skip-existing``) skipped it."""
    if media is None:
        return None
    out = expected_outputs(job, media, spec)[0]
    if not _written_since(out, started):
        return None
    sidecar = next((str(p) for p in expected_outputs(job, media, spec)[1:] if p.exists()), None)
    found = _label_findings(out, media)
    layers = [n for n, on in (("explicit", spec.explicit), ("watermark", spec.watermark),
                              ("metadata", spec.metadata), ("c2pa", spec.c2pa)) if on]
    return LabelResult(
        source=str(job.source), output=str(out), media_type=media.mime, layers=layers, sidecar=sidecar,
        content_id=found.aigc.produce_id if found is not None and found.aigc else None,
        warnings=["finished as the batch was interrupted: its result was read back from the "
                  "output (the content ID from its AIGC label; the layers are those asked for)"])
