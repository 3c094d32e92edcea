"""The ``synthlabel`` command line: label, verify, keys.

Exit status: 0 success; 1 something failed to label, or a layer is missing/invalid;
2 usage or file errors (verify) / configuration errors.
"""
from __future__ import annotations

import json
import os
import re
import sys
import warnings
from collections import deque
from glob import escape as glob_escape
from pathlib import Path
from typing import Annotated, NoReturn, Optional

import typer
from rich.console import Console
from rich.markup import escape as esc

from . import __version__
from .models import (
    DEFAULT_LABEL_TEXT,
    DST_COMPOSITE,
    DST_TRAINED,
    LAYERS,
    LabelError,
    LabelResult,
    LabelSpec,
    OutputFormat,
    Position,
    STANDARD_LABEL_TEXTS,
    Status,
    label_texts,
)
from .formats import native_stderr
from .fsutil import broken_link, signals_held
from .provenance import credentials as credmod

if not os.environ.get("TERMINAL_WIDTH") and not sys.stdout.isatty():
    # Help piped to a pager or a file: rich assumes 80 columns, where long option and
    # variable names were cut ("--allow-nonconforming…"). typer's help formatter takes its
    # width from TERMINAL_WIDTH when it is first imported (lazily: importing it here cost
    # every command ~0.15 s); a TERMINAL_WIDTH the user set still decides.
    os.environ["TERMINAL_WIDTH"] = "110"

app = typer.Typer(
    name="synthlabel",
    help=(
        "Label AI-generated media with every layer GB 45438, the EU AI Act and C2PA ask for "
        "(visible label, AIGC + IPTC metadata, invisible watermark, signed C2PA manifest), "
        "and verify each layer of labeled files.\n\n"
        "Quick start:  synthlabel label samples/ -o labeled/  &&  synthlabel verify labeled/"
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    add_completion=False,
)
keys_app = typer.Typer(help="Create and inspect signing and watermark credentials.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


#: Escaped in what reaches the terminal: C0 and C1 controls (U+009B is an 8-bit CSI) and the
#: bidirectional formatting characters (U+202E shows "x\u202egnp.exe" as "xexe.png").
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _shown(text) -> str:
    """A path or message for a terminal line: rich markup escaped, and control characters (a
    newline in a file name) written as escapes, so one file stays on one line."""
    return esc(_CONTROL.sub(lambda m: repr(m.group())[1:-1], str(text)))


def _version(value: bool) -> None:
    if value:
        print(f"synthlabel {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    # The command line owns its process: libmpg123's notes are kept off its stderr (the
    # workers it starts inherit this); the library leaves descriptor 2 alone by default.
    os.environ.setdefault(native_stderr.ENV_CAPTURE, "1")


def _path(value: str) -> Path:
    """Parser of every path argument and option: typer would turn an empty string into
    Path("."), so ``-o ""`` (an unset shell variable) would quietly mean the current folder."""
    if value == "":
        raise typer.BadParameter("an empty path (for the current folder, give '.')")
    return Path(value)


# --------------------------------------------------------------------------- credentials

HomeOpt = Annotated[Optional[Path], typer.Option(
    "--home", envvar="SYNTHLABEL_HOME", show_envvar=True,
    parser=_path, metavar="DIR", help="Where development credentials live (default ~/.synthlabel).")]
CertOpt = Annotated[Optional[Path], typer.Option(
    "--cert-chain", parser=_path, metavar="FILE", help="Signing certificate chain PEM, leaf first (env SYNTHLABEL_CERT_CHAIN).")]
KeyOpt = Annotated[Optional[Path], typer.Option(
    "--private-key", parser=_path, metavar="FILE", help="Signing private key PEM (env SYNTHLABEL_PRIVATE_KEY); a passphrase is "
                          "read from env SYNTHLABEL_KEY_PASSPHRASE, never from the command line.")]
WmKeyOpt = Annotated[Optional[Path], typer.Option(
    "--watermark-key", parser=_path, metavar="FILE", help="Watermark key file (env SYNTHLABEL_WATERMARK_KEY).")]
WmKeysOpt = Annotated[Optional[list[Path]], typer.Option(
    "--watermark-key", parser=_path, metavar="FILE", help="Watermark key file (env SYNTHLABEL_WATERMARK_KEY). Repeat it to try "
                            "several keys, e.g. after a key rotation: the report names the key "
                            "that matched by its fingerprint, and p-values are multiplied by the "
                            "number of keys so the false-positive rate stays 1e-6 per file.")]
AnchorsOpt = Annotated[Optional[list[Path]], typer.Option(
    "--trust-anchors", parser=_path, metavar="PATH", help="Extra trusted root certificates (PEM file or folder); repeatable "
                            "(env SYNTHLABEL_TRUST_ANCHORS, paths separated by ':').")]


def _load_creds(home, cert_chain, private_key, watermark_key, trust_anchors, *, verifying=False):
    """Load credentials, printing the development-credentials warning once. ``verifying``:
    development credentials are used when they exist but never created (a key made now
    cannot have marked anything, a root made now signed nothing); without them, those of
    ``credentials.verifying_without_home`` (no certificate)."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", credmod.DevelopmentCredentialsWarning)
            warnings.simplefilter("always", credmod.InsecureCredentialsWarning)
            try:
                creds = credmod.load_credentials(
                    home=home, cert_chain=cert_chain, private_key=private_key,
                    watermark_key_file=watermark_key, trust_anchors=trust_anchors or None,
                    create=not verifying, signing=not verifying)
            except credmod.HomeUnavailableError as exc:
                if not verifying:
                    raise
                # (not worth a word where the key and the anchors are given: nothing of the
                # home would be used)
                if not ((watermark_key or os.environ.get(credmod.ENV_WATERMARK_KEY))
                        and (trust_anchors or os.environ.get(credmod.ENV_TRUST_ANCHORS))):
                    err.print(f"[yellow]warning:[/yellow] {esc(str(exc))}; verifying without "
                              "them (verify does not create them)")
                # as the library does: the key given (or the environment's), only the anchors
                # given (or the environment's)
                creds = credmod.verifying_without_home(watermark_key_file=watermark_key,
                                                       trust_anchors=trust_anchors or None)
    except (credmod.CredentialError, OSError, ValueError) as exc:
        # OSError: unwritable home or unreadable key file; messages never hold key material.
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        err.print(f"[red]error:[/red] credentials: {esc(msg)}")
        raise typer.Exit(2) from None
    _show_warnings(caught)
    return creds


def _show_warnings(caught) -> None:
    """Credential warnings as "warning:" lines; any other as Python shows it."""
    for w in caught:
        if issubclass(w.category, (credmod.DevelopmentCredentialsWarning, credmod.InsecureCredentialsWarning)):
            err.print(f"[yellow]warning:[/yellow] {esc(str(w.message))}")
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)


def _read_wm_key(path: Path) -> bytes:
    """A further watermark key file (verify tries several); errors as for the first."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", credmod.InsecureCredentialsWarning)
            key = credmod.read_watermark_key(path)
    except (credmod.CredentialError, OSError, ValueError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        err.print(f"[red]error:[/red] credentials: {esc(msg)}")
        raise typer.Exit(2) from None
    _show_warnings(caught)
    return key


def _stopped(exc: KeyboardInterrupt) -> tuple[str, int]:
    """("interrupted", 130) for Ctrl-C, ("terminated", 143) for SIGTERM: 128 + the signal's
    number, as a shell reports a process stopped by it."""
    from .batch import Terminated

    return ("terminated", 143) if isinstance(exc, Terminated) else ("interrupted", 130)


# --------------------------------------------------------------------------- label


@app.command()
def label(
    paths: Annotated[list[Path], typer.Argument(parser=_path, metavar="PATH...", help="Files and directories (recursed) to label.", show_default=False)],
    output: Annotated[Optional[Path], typer.Option("-o", "--output", parser=_path, metavar="OUTDIR", help="Output directory. A file named goes in by its name; a single folder is mirrored into it (in/sub/a.png -> OUTDIR/sub/a.png); with several paths, each folder is mirrored under its own name (OUTDIR/in/sub/a.png).")] = None,
    in_place: Annotated[bool, typer.Option("--in-place", help="Replace the inputs (atomically) instead of writing to -o.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace outputs that already exist (never an original).")] = False,
    skip_existing: Annotated[bool, typer.Option("--skip-existing", help="Leave inputs whose output already exists alone, counted as skipped: run an interrupted batch again to finish it.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check every input (content, output path, existing outputs, earlier labels) and print where each would go; label and write nothing.")] = False,
    skip_labeled: Annotated[bool, typer.Option("--skip-labeled", help="Leave inputs that already carry an AIGC metadata label alone (default: label them again, with a warning).")] = False,
    text: Annotated[str, typer.Option("--text", help="Visible label text; needs an AI element (AI/人工智能) and a generation element (生成/合成).")] = DEFAULT_LABEL_TEXT,
    position: Annotated[Position, typer.Option("--position", metavar="WHERE", help="Corner or edge for the visible label: " + ", ".join(p.value for p in Position) + ".")] = Position.BOTTOM_RIGHT,
    allow_nonconforming_text: Annotated[bool, typer.Option("--allow-nonconforming-text", help="Accept label text that GB 45438 would not.")] = False,
    no_explicit: Annotated[bool, typer.Option("--no-explicit", help="Skip the visible label.")] = False,
    no_metadata: Annotated[bool, typer.Option("--no-metadata", help="Skip the AIGC/IPTC metadata (an AIGC label the input carries is kept as it is).")] = False,
    no_watermark: Annotated[bool, typer.Option("--no-watermark", help="Skip the invisible watermark.")] = False,
    no_c2pa: Annotated[bool, typer.Option("--no-c2pa", help="Skip the C2PA manifest (an input's own manifest is then not carried: said).")] = False,
    producer: Annotated[str, typer.Option("--producer", help="AIGC ContentProducer: your service's name or 27-character TC260 code (ASCII, no spaces).")] = "synthlabel",
    propagator: Annotated[Optional[str], typer.Option("--propagator", help="Re-publishing as a distribution platform: your name or TC260 code (service type 2). An input's own AIGC label keeps its producer fields; ContentPropagator/PropagateID become yours. Often with --no-explicit --no-watermark when the producer labeled already.")] = None,
    composite: Annotated[bool, typer.Option("--composite", help="Content is an AI edit of real media (IPTC digital source type: composite with trained algorithmic media).")] = False,
    format: Annotated[OutputFormat, typer.Option("-f", "--format", metavar="FORMAT", help="Images: output format, one of " + ", ".join(f.value for f in OutputFormat) + "; 'same' keeps the input's (GIF/TIFF/BMP become PNG). Audio and video always keep their format.")] = OutputFormat.SAME,
    jpeg_quality: Annotated[int, typer.Option("--jpeg-quality", min=1, max=100, help="Images: JPEG output quality.")] = 92,
    webp_quality: Annotated[int, typer.Option("--webp-quality", min=1, max=100, help="Images: WebP output quality.")] = 90,
    thumbnail: Annotated[bool, typer.Option("--thumbnail", help="Images: embed a C2PA thumbnail (larger, slower).")] = False,
    cue: Annotated[str, typer.Option("--cue", help="Audio: where the Morse 'AI' rhythm cue is inserted: start, end or both (each adds about 1.8 s at the defaults; none where the sound has a cue already).")] = "start",
    cue_tone: Annotated[float, typer.Option("--cue-tone", help="Audio: cue tone frequency in Hz, 350-3500 (the band verify finds cues in).")] = 1000.0,
    cue_unit: Annotated[float, typer.Option("--cue-unit", help="Audio: cue unit (dot) length in ms, 55-300; a dash is 3 units.")] = 120.0,
    cue_level: Annotated[float, typer.Option("--cue-level", help="Audio: cue peak level in dBFS, -50 to 0.")] = -14.0,
    spoken_label: Annotated[Optional[Path], typer.Option("--spoken-label", parser=_path, metavar="FILE", help="Audio: a spoken-label clip to insert instead of the tone cue.")] = None,
    bitrate: Annotated[Optional[int], typer.Option("--bitrate", help="Audio: bitrate for lossy outputs in bit/s (default per format, for stereo: MP3 192k, Vorbis 160k, Opus 96k, AAC 160k; per pair of channels beyond two; for mono MP3 96k, Opus 64k, AAC 80k; the input's own where higher).")] = None,
    label_seconds: Annotated[float, typer.Option("--label-seconds", help="Video: show the visible label for the first N seconds (at least 2).")] = 3.0,
    persistent: Annotated[bool, typer.Option("--persistent", help="Video: keep the visible label for the whole video.")] = False,
    video_cue: Annotated[bool, typer.Option("--video-cue", help="Video: also mix the rhythm cue into the soundtrack (not where it has one already); part of the explicit layer, so not with --no-explicit.")] = False,
    codec: Annotated[Optional[str], typer.Option("--codec", help="Video: h264, h265 or vp9 (default: H.264; VP9 for WebM).")] = None,
    crf: Annotated[Optional[int], typer.Option("--crf", help="Video: encoder CRF, lower is better quality (H.264 and H.265 0-51, default 23 and 28; VP9 0-63, default 32).")] = None,
    preset: Annotated[Optional[str], typer.Option("--preset", help="Video: x264/x265 preset (default medium); for VP9 it sets the matching speed (cpu-used).")] = None,
    jobs: Annotated[int, typer.Option("-j", "--jobs", min=0, help="Worker processes; 0 = all cores.")] = 0,
    report: Annotated[Optional[Path], typer.Option("--report", parser=_path, metavar="FILE", help="Write one JSON line per file here (atomically, at the end; an existing file is replaced with --overwrite and added to with --skip-existing; a link's target gets it; a device or pipe is written as the batch goes; - or /dev/stdout: stdout, then holding the JSON lines alone).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON line per file on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only print errors.")] = False,
    home: HomeOpt = None, cert_chain: CertOpt = None, private_key: KeyOpt = None,
    watermark_key: WmKeyOpt = None,
) -> None:
    """Label images, audio and video with every layer: visible label or audible cue, AIGC metadata, watermark, C2PA.

    Inputs are sniffed by content, never by extension. Outputs are written atomically; \
inputs are never modified unless --in-place. A bad file gets a one-line error and the batch \
goes on; so does media in a format synthlabel does not label (AIFF, AVI, HEIC...), which \
counts as failed. Other files met in a folder (a README) are skipped, and so is an output \
directory inside an input folder. An input that already carries an AIGC label is labeled \
again with a warning (--skip-labeled leaves it alone). --dry-run checks all of this and \
writes nothing. The exit status is 1 if any file failed (or would fail), 2 for bad options \
or when the inputs hold nothing to label; Ctrl-C (130) or SIGTERM (143) stops the batch \
without leaving partial files.

    Example:  synthlabel label generated/ -o labeled/ --report labeled/report.jsonl
    """
    from .batch import terminate_as_interrupt
    from .pipeline import plan_jobs, run_batch

    terminate_as_interrupt()

    if in_place == (output is not None):
        err.print("[red]error:[/red] give either -o OUTDIR or --in-place")
        raise typer.Exit(2)
    if output is not None and output.exists() and not output.is_dir():
        err.print(f"[red]error:[/red] -o {_shown(output)}: exists and is not a directory")
        raise typer.Exit(2)
    if overwrite and skip_existing:
        err.print("[red]error:[/red] --overwrite and --skip-existing contradict each other")
        raise typer.Exit(2)
    if in_place and (overwrite or skip_existing):
        # both are about outputs in -o OUTDIR; in place, the output is the input itself
        flag = "--overwrite" if overwrite else "--skip-existing"
        err.print(f"[red]error:[/red] {flag} applies to outputs in -o OUTDIR, not to --in-place "
                  "(which replaces each input; --skip-labeled leaves labeled inputs alone)")
        raise typer.Exit(2)
    if output is not None and (why := _own_folder(paths, output)):
        err.print(f"[red]error:[/red] -o {_shown(output)}: {_shown(why)}")
        raise typer.Exit(2)
    try:
        spec = LabelSpec(
            explicit=not no_explicit, metadata=not no_metadata, watermark=not no_watermark,
            c2pa=not no_c2pa, text=text, position=position,
            allow_nonconforming_text=allow_nonconforming_text, producer=producer,
            propagator=propagator,
            digital_source_type=DST_COMPOSITE if composite else DST_TRAINED,
            output_format=format, jpeg_quality=jpeg_quality, webp_quality=webp_quality,
            thumbnail=thumbnail, cue_where=cue, cue_tone_hz=cue_tone, cue_unit_ms=cue_unit,
            cue_level_dbfs=cue_level, spoken_label=str(spoken_label) if spoken_label else None,
            audio_bitrate=bitrate, video_label_seconds=label_seconds, video_persistent=persistent,
            video_audio_cue=video_cue, video_codec=codec, video_crf=crf, video_preset=preset)
        from .labeling_audio import cue_params

        cue_params(spec)  # refuse a nonsense cue before any file is touched
        if spoken_label is not None:
            _check_spoken_label(spoken_label)
    except (LabelError, ValueError) as exc:
        err.print(f"[red]error:[/red] {esc(str(exc))}")
        raise typer.Exit(2) from None
    creds = _load_creds(home, cert_chain, private_key, watermark_key, None)
    hidden: list[Path] = []
    jobs_list = plan_jobs([p for p in paths if p.exists()], output, in_place=in_place, hidden=hidden)
    # (a named link loop or broken link says so, as it does inside a folder)
    missing = [LabelResult(source=str(p), error=(f"cannot read: {why}" if (why := broken_link(p))
                                                 else "no such file or directory"), dry_run=dry_run)
               for p in paths if not p.exists()]
    if not jobs_list and not missing:
        _nothing_to("label", paths, "(hidden files, .c2pa sidecars and an output folder "
                                    "inside an input are not labeled)")

    report_tmp = report_fh = report_dest = None
    quiet_lines = quiet             # the per-file "a -> b" lines (errors and warnings aside)
    if report:
        report_fh, report_tmp, report_dest = _open_report(report, jobs_list, replace=overwrite or skip_existing,
                                                          keep=skip_existing, dry_run=dry_run)
        if _names_stdout(report):
            # --report /dev/stdout (or -): stdout carries the JSON lines alone; the per-file
            # lines would break them, and --json would print every record twice
            json_out, quiet_lines = False, True
    progress = None
    n_total = len(jobs_list) + len(missing)
    n_done = 0
    file_tasks: dict[str, object] = {}   # a video being labeled in this process: its own bar
    # A bar on the terminal (stderr) while labeling; not when JSON lines go to that same
    # terminal, where the bar's redraws would garble them.
    if err.is_terminal and not quiet and jobs_list and not (json_out and out.is_terminal):
        from rich.progress import (
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )

        # redirect_stdout=False: rich would otherwise send what is printed to stdout (the
        # JSON lines) to the bar's console, stderr.
        progress = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                            TimeRemainingColumn(), console=err, transient=True,
                            redirect_stdout=False, redirect_stderr=False)
        task = progress.add_task(f"labeling 0/{n_total}", total=n_total)
        progress.start()

    def on_progress(job, fraction: float) -> None:
        key = str(job.source)
        if key not in file_tasks:
            file_tasks[key] = progress.add_task(f"  {job.source.name}", total=1.0)
        progress.update(file_tasks[key], completed=fraction)

    # The JSON lines (--json, --report) come in input order, as verify's do: files finish in
    # an order that changed from run to run. A line waits for the files before it; the
    # person's lines (errors, "a -> b") come as each file finishes.
    slots: dict[str, deque[int]] = {}
    for k, src in enumerate([r.source for r in missing] + [str(j.source) for j in jobs_list]):
        slots.setdefault(src, deque()).append(k)
    held: dict[int, str] = {}
    next_line = 0

    def write_line(line: str) -> None:
        # both or neither: a Ctrl-C between the two left a row in --report that --json never
        # printed (a flaky CI run of the Ctrl-C test)
        with signals_held():
            if report_fh:
                report_fh.write(line + "\n")
                report_fh.flush()
            if json_out:
                print(line, flush=True)

    def in_order(r: LabelResult) -> None:
        nonlocal next_line
        if not (report_fh or json_out):
            return
        queue = slots.get(r.source)
        if not queue:                   # (not planned: cannot happen, but never lose a line)
            write_line(r.to_json())
            return
        held[queue.popleft()] = r.to_json()
        while next_line in held:
            write_line(held.pop(next_line))
            next_line += 1

    def flush_held() -> None:
        """After an interrupt: the lines of the files that finished, still in input order."""
        for k in sorted(held):
            write_line(held.pop(k))

    def on_result(r: LabelResult) -> None:
        nonlocal n_done
        n_done += 1
        in_order(r)
        if r.error:
            err.print(f"[red]error:[/red] {_shown(r.source)}: {_shown(r.error)}")
        elif r.skipped:
            if (r.prior_label or r.existing_output) and not quiet:
                err.print(f"skipped: {_shown(r.source)}: {_shown(r.skipped)}")
        else:
            for w in r.warnings:
                if not quiet:
                    err.print(f"[yellow]warning:[/yellow] {_shown(r.source)}: {_shown(w)}")
            if not quiet_lines and not json_out:
                # While the bar is live, print through its console so lines land above it.
                done = (f"would be labeled ({r.media_type})" if r.dry_run
                        else f"{esc('[' + ', '.join(r.layers) + ']')} id={r.content_id}")
                (progress.console if progress and out.is_terminal else out).print(
                    f"{_shown(r.source)} -> {_shown(r.output)}  {done}")
        if progress:
            progress.update(task, advance=1, description=f"labeling {n_done}/{n_total}")
            if str(r.source) in file_tasks:
                progress.remove_task(file_tasks.pop(str(r.source)))

    try:
        for r in missing:  # reported like any other failed file, JSONL included
            on_result(r)
        results = run_batch(jobs_list, spec, creds, workers=jobs, overwrite=overwrite,
                            skip_labeled=skip_labeled, dry_run=dry_run,
                            skip_existing=skip_existing, on_result=on_result,
                            on_progress=on_progress if progress else None,
                            fork=True)   # this process only plans: forking it is safe and free
    except KeyboardInterrupt as exc:
        if progress:
            progress.stop()
            progress = None
        word, code = _stopped(exc)
        err.print(f"[red]{word}[/red] after {n_done - len(missing)} of {len(jobs_list)} file(s); "
                  "the files in progress were not written (no partial outputs are left)")
        raise typer.Exit(code) from None
    finally:
        if progress:
            progress.stop()
        flush_held()           # (only after an interrupt do finished files wait for others)
        if report_fh:
            report_fh.close()
        if report_tmp:
            os.replace(report_tmp, report_dest)
    failed_files = sum(1 for r in results if r.error)
    skipped = sum(1 for r in results if r.skipped)
    # skipped for their label (--skip-labeled), not for an existing output that they also have
    already = sum(1 for r in results if r.skipped and r.prior_label and not r.existing_output)
    existing = sum(1 for r in results if r.skipped and r.existing_output)
    failed = failed_files + len(missing)
    other = skipped - already - existing
    if not failed and results and other == len(results):    # the error alone, not a summary first
        hidden_note = f", {len(hidden)} hidden" if hidden else ""
        _nothing_to("label", paths, f"({other} other file(s){hidden_note} passed over)", media=True)
    if not quiet:
        note = f", {other} non-media file(s) skipped" if other else ""
        note += f", {already} already-labeled file(s) left alone" if already else ""
        note += f", {existing} file(s) with an existing output left alone" if existing else ""
        note += f", {len(hidden)} hidden file(s) passed over" if hidden else ""
        verb, fail = ("would label", "would fail") if dry_run else ("labeled", "failed")
        err.print(f"{verb} {len(results) - failed_files - skipped} file(s), {failed} {fail}{note}")
    raise typer.Exit(1 if failed else 0)


def _nothing_to(verb: str, paths: list[Path], why: str, *, media: bool = False) -> NoReturn:
    """Exit 2: the inputs held no file (``media``: no media file, only others passed over)
    to label or verify. Nothing done is not a success: a batch or a check pointed at the wrong
    or an empty folder must not pass unnoticed."""
    err.print(f"[red]error:[/red] no {'media ' if media else ''}files to {verb} in "
              f"{_shown(', '.join(map(str, paths)))} {why}")
    raise typer.Exit(2)


def _own_folder(paths: list[Path], output: Path) -> str | None:
    """Why ``-o`` is refused before any work: it names an input folder, or the folder of an
    input file. Outputs would land among the originals (replacing those of the same name,
    and picked up as inputs by the next run over that folder)."""
    try:
        out = output.resolve()
    except OSError:
        return None
    for p in paths:
        if not p.exists():
            continue
        folder = p if p.is_dir() else p.parent
        if folder.resolve() == out:
            return (f"is the folder of the input {p}: outputs would land among the originals; "
                    "choose another output folder, or use --in-place")
    return None


def _check_spoken_label(clip: Path) -> None:
    """The spoken-label clip is checked once, before any file: a bad clip would fail every
    audio file of the batch with the same error."""
    from .labeling import LabelingError
    from .labeling_audio import read_spoken_clip

    if not clip.is_file():
        raise LabelError(f"spoken label clip {clip}: no such file")
    try:
        read_spoken_clip(clip)
    except LabelingError as exc:
        raise LabelError(str(exc)) from None


def _open_report(report: Path, jobs: list, *, replace: bool, keep: bool = False,
                 dry_run: bool = False):
    """Open the report's temp file beside it, after checking the path: not a folder, not named
    like media or a sidecar, not an input, an output or a sidecar of this run, not an existing
    file unless ``replace``, and writable. Any problem is a one-line usage error before
    labeling starts. ``keep``: the temp file starts with the existing report's lines (a
    resumed batch keeps the content IDs of the files labeled before). Returns (file, temp,
    destination): the temp file replaces the destination (a link's target) at the end; a
    device or FIFO is written directly (temp None). ``dry_run``: an existing report file is
    refused whatever ``replace`` says (a dry run changes no file; it replaced a resumed
    batch's report, content IDs and all)."""
    from .pipeline import KNOWN_EXTENSIONS

    def ours(j) -> list[Path]:
        """What this run writes, and an input's sidecar (the inputs are checked first)."""
        paths = [j.source.with_suffix(".c2pa")]
        if j.target is not None:
            paths += [j.target, j.target.with_suffix(".c2pa")]
        return paths

    why = None
    if _names_stdout(report):
        # written to our stdout as the batch goes, whatever stdout is: a file it is
        # redirected to is added to, never replaced (with --overwrite it was, with the lines
        # written before; without, it was refused as existing)
        return os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8"), None, report
    target = _report_target(report)
    parent = next((q for q in target.parents if q.exists()), None)
    if report.exists() and not report.is_file() and not report.is_dir():
        # a device or a FIFO, or a link to one (/dev/null, /dev/stdout, a named pipe): written
        # straight through, never replaced by a regular file (os.replace over /dev/null, as
        # root, would do that)
        try:
            return open(report, "w", encoding="utf-8"), None, report
        except OSError as exc:
            why = f"cannot write: {exc.strerror or exc}"
    elif parent is not None and not parent.is_dir():
        why = f"{parent} is not a folder"
    elif report.is_dir():
        why = "is a folder; give a file name, e.g. report.jsonl"
    elif any(_same_path(report, j.source) for j in jobs):
        why = "is one of the inputs"
    elif any(_same_path(report, p) for j in jobs for p in ours(j)):
        why = "is an output or a C2PA sidecar of this run"
    elif report.suffix.lower() in KNOWN_EXTENSIONS or report.suffix.lower() == ".c2pa":
        why = "is named like media or a C2PA sidecar; a report is JSON Lines, e.g. report.jsonl"
    elif report.exists() and dry_run:
        why = "exists, and a dry run changes no file; give the dry run's report a new name"
    elif report.exists() and not replace:
        why = "exists (use --overwrite to replace it, or --skip-existing to add to it)"
    if why is None:
        # beside the file a symbolic link names: the link stays, its target gets the report
        tmp = target.with_name(f".{target.name}.tmp")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fh = open(tmp, "w", encoding="utf-8")
            if keep and target.is_file():
                fh.write(target.read_text(encoding="utf-8"))
            return fh, tmp, target
        except OSError as exc:
            why = f"cannot write: {exc.strerror or exc}"
    err.print(f"[red]error:[/red] --report {_shown(report)}: {_shown(why)}")
    raise typer.Exit(2)


def _names_stdout(path: Path) -> bool:
    """Whether ``path`` (-, /dev/stdout, /dev/fd/1, /proc/self/fd/1, or the file stdout is
    redirected to) is this process's stdout."""
    if str(path) == "-":
        return True
    try:
        a, b = os.stat(path), os.fstat(sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _report_target(report: Path) -> Path:
    """The file a --report path writes: a symbolic link's target (followed to the end), else
    the path itself."""
    return Path(os.path.realpath(report)) if report.is_symlink() else report


def _same_path(a: Path, b: Path) -> bool:
    """The same file (a link or another spelling included), or the same path when neither
    exists yet."""
    try:
        if a.exists() and b.exists():
            return a.samefile(b)
        return os.path.realpath(a) == os.path.realpath(b)
    except OSError:
        return False


# --------------------------------------------------------------------------- verify


def _print_report(rep) -> None:
    if rep.error:
        out.print(f"[bold]{_shown(rep.path)}[/bold]  [red]ERROR[/red] {_shown(rep.error)}")
        # The layers read without the pixels or samples (metadata, C2PA) still say what they
        # found, as --json does: a tampered file's hash mismatch was hidden here.
        if all(v.status in (Status.ERROR, Status.SKIPPED) for v in rep.layers.values()):
            return
    else:
        verdict = "[green]OK[/green]" if rep.ok() else "[red]FAIL[/red]"
        out.print(f"[bold]{_shown(rep.path)}[/bold]  {esc(str(rep.media_type))}  {verdict}")
    colour = {Status.OK: "green", Status.WEAK: "yellow", Status.MISSING: "red",
              Status.INVALID: "red", Status.ERROR: "red", Status.SKIPPED: "dim"}
    for name, layer in rep.layers.items():
        c = colour[layer.status]
        out.print(f"  {name:<10} [{c}]{layer.status.value:<8}[/{c}] {_shown(layer.summary)}")
    if rep.ids_agree is True:
        ids = next(iter(rep.content_ids.values()))
        out.print(f"  {'content ID':<10} [green]agrees[/green]  {esc(str(ids))} ({', '.join(rep.content_ids)})")
    elif rep.ids_agree is False:
        pairs = ", ".join(f"{k}={v}" for k, v in rep.content_ids.items())
        out.print(f"  {'content ID':<10} [red]DISAGREES[/red] {esc(str(pairs))}")


@app.command()
def verify(
    paths: Annotated[list[Path], typer.Argument(parser=_path, metavar="PATH...", help="Files and directories (recursed) to verify.", show_default=False)],
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object per file on stdout.")] = False,
    layers: Annotated[str, typer.Option("--layers", metavar="LIST", show_default=False, help="Comma-separated layers to check, of: " + ", ".join(LAYERS) + " (default: all).")] = ",".join(LAYERS),
    label_text: Annotated[Optional[list[str]], typer.Option(
        "--label-text", help="A visible label text to look for (repeatable; needed for a label "
                             "made with another --text), before the standard phrasings, which "
                             "are always tried: " + ", ".join(STANDARD_LABEL_TEXTS))] = None,
    no_default_trust: Annotated[bool, typer.Option("--no-default-trust", help="Do not trust the configured/development root; only --trust-anchors (or env SYNTHLABEL_TRUST_ANCHORS).")] = False,
    trust_anchors: AnchorsOpt = None,
    home: HomeOpt = None, watermark_key: WmKeysOpt = None,
    jobs: Annotated[int, typer.Option("-j", "--jobs", min=0, help="Worker processes; 0 = all cores. Reports still come out in input order.")] = 0,
    turns: Annotated[str, typer.Option(
        "--turns", metavar="WHICH",
        help="Pictures: which quarter turns the visible label and watermark are looked for in. "
             "auto: all four for a file that declares a label (AIGC metadata or a C2PA manifest), "
             "as displayed otherwise; all: every picture in all four (a turned screenshot has "
             "no metadata left to say it is labeled; four times the watermark search); "
             "upright: as displayed only.")] = "auto",
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Print only the files that fail or cannot be read, and the summary line for more than one file (--json: every file still gets its line).")] = False,
) -> None:
    """Verify every layer of each file independently and cross-check the content IDs.

    Exit status: 0 when every checked layer is present and valid, 1 when something is \
missing, weak or invalid, 2 when a file could not be read or decoded, or there was nothing \
to verify.
    """
    from .batch import terminate_as_interrupt
    from .pipeline import iter_inputs
    from .verify import verify_files

    terminate_as_interrupt()

    from .verify import turn_mode, wanted_layers

    try:
        wanted = wanted_layers(layers)
    except ValueError as exc:
        err.print(f"[red]error:[/red] --layers: {esc(str(exc))}")
        raise typer.Exit(2) from None
    try:
        label_text = list(label_texts(label_text))
    except ValueError:
        err.print("[red]error:[/red] --label-text: an empty text cannot be looked for")
        raise typer.Exit(2) from None
    try:
        turns = turn_mode(turns)
    except ValueError as exc:
        err.print(f"[red]error:[/red] --turns: {esc(str(exc))}")
        raise typer.Exit(2) from None
    key_files = list(watermark_key or [])
    notes: dict[str, str] = {}     # why a layer the user asked for is not checked
    creds = _load_creds(home, None, None, key_files[0] if key_files else None, trust_anchors,
                        verifying=True)
    # (no key: a production certificate configured without one, or no credentials of this
    # machine and none given; verify signs nothing)
    wm_keys = [creds.watermark_key] if creds.watermark_key is not None else []
    wm_keys += [_read_wm_key(f) for f in key_files[1:]]
    anchors = creds.trust_anchors_pem
    home_less = not creds.cert_chain_pem    # no credentials of this machine: the anchors given
    if not wm_keys and "watermark" in wanted:
        wanted = tuple(w for w in wanted if w != "watermark")
        notes["watermark"] = ("not checked: no watermark key (no credentials of this machine)"
                              if home_less else "not checked: no watermark key")
        err.print("[yellow]warning:[/yellow] the watermark is not checked: no watermark key "
                  "(give --watermark-key or set SYNTHLABEL_WATERMARK_KEY)")
        if not wanted:
            err.print("[red]error:[/red] nothing left to check")
            raise typer.Exit(2)
    if no_default_trust and not home_less:   # (home_less: the anchors are these already)
        # Only the anchors given here: by flag, or by the environment variable.
        try:
            anchors = credmod.given_trust_anchors(trust_anchors or None) or None
        except (credmod.CredentialError, OSError) as exc:
            err.print(f"[red]error:[/red] credentials: {esc(str(exc).splitlines()[0])}")
            raise typer.Exit(2) from None
    status = 0
    files = []
    hidden: list[Path] = []
    sidecars: list[Path] = []
    for p in paths:
        if p.is_file() and p.suffix.lower() == ".c2pa":
            # named by a shell glob (verify *): a sidecar is checked with its media file, as
            # a folder walk does; on its own it was "not a recognised media file" (exit 2)
            sidecars.append(p)
        elif p.exists():
            files.extend((f, walked) for f, _, walked in iter_inputs([p], hidden=hidden))
        else:
            # Kept in its place: its report (an error: unreadable) comes out in input order
            # like every other, JSON included, and counts in the summary.
            files.append((p, False))
    files = _once(files)
    if not files and sidecars:
        # "no files to verify in t.c2pa" spoke of the file as a folder
        side = sidecars[0]
        beside = sorted(f.name for f in side.parent.glob(glob_escape(side.stem) + ".*")
                        if f.suffix.lower() != ".c2pa" and f.is_file())
        which = f" ({', '.join(beside)} beside it)" if beside else ""
        err.print(f"[red]error:[/red] {_shown(side)} is a C2PA sidecar: verify the media file "
                  f"of the same name{_shown(which)}, which reads it")
        raise typer.Exit(2)
    if not files:
        _nothing_to("verify", paths, "(hidden files and .c2pa sidecars are not checked on their "
                    "own: name the media file a sidecar belongs to)")
    reports = verify_files([f for f, _ in files], workers=jobs, key=wm_keys,
                           trust_anchors_pem=anchors, layers=wanted, label_text=label_text,
                           turns=turns, fork=True)   # this process reads no media: forking it is safe
    done: list = []
    bar = None
    if err.is_terminal and not out.is_terminal and len(files) > 1:
        # Reports go to a file or a pipe: show the count on the terminal meanwhile. (When they
        # go to the terminal, they are the progress.)
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

        bar = Progress(TextColumn("verifying"), BarColumn(), TaskProgressColumn(),
                       TimeRemainingColumn(), console=err, transient=True,
                       redirect_stdout=False, redirect_stderr=False)
        task = bar.add_task("verifying", total=len(files))
        bar.start()
    try:
        status = _print_reports(files, reports, done, json_out, status,
                                step=(lambda: bar.advance(task)) if bar else None, notes=notes,
                                quiet=quiet)
    except KeyboardInterrupt as exc:
        if bar:
            bar.stop()
            bar = None
        reports.close()   # stops the workers (batch.stopping_on_interrupt)
        word, code = _stopped(exc)
        err.print(f"[red]{word}[/red] after {len(done)} of {len(files)} file(s)")
        raise typer.Exit(code) from None
    finally:
        if bar:
            bar.stop()
        # zip() stops at the last file without asking the generator for more, which left it
        # suspended inside its worker pool until interpreter exit; a pool shut down that late
        # sometimes printed a worker's "EOFError: Ran out of input" traceback after the summary
        reports.close()
    if not done:
        hidden_note = f", {len(hidden)} hidden" if hidden else ""
        _nothing_to("verify", paths, f"({len(files)} other file(s){hidden_note} passed over)", media=True)
    other = len(files) - len(done)    # non-media files met in a folder (a README, a script)
    if len(done) > 1 or hidden or other or sidecars:
        err.print(_verify_summary(done, wanted)
                  + (f"; {other} non-media file(s) passed over" if other else "")
                  + (f"; {len(hidden)} hidden file(s) passed over" if hidden else "")
                  + (f"; {len(sidecars)} .c2pa sidecar(s) passed over (each is checked with its "
                     "media file)" if sidecars else ""))
    raise typer.Exit(status)


def _once(files: list[tuple[Path, bool]]) -> list[tuple[Path, bool]]:
    """A file reached twice (named and inside a folder also given, or named twice) is checked
    and counted once, where it was first reached, as ``label`` does (pipeline.plan_jobs)."""
    seen: set[Path] = set()
    kept = []
    for f, walked in files:
        try:
            key = f.resolve() if f.exists() else None
        except (OSError, RuntimeError):      # a link loop: its own error later
            key = None
        if key is not None:
            if key in seen:
                continue
            seen.add(key)
        kept.append((f, walked))
    return kept


def _print_reports(files, reports, done: list, json_out: bool, status: int,
                   step=None, notes: dict[str, str] | None = None, quiet: bool = False) -> int:
    """Print each report as it comes (in input order) and return the exit status. ``step``:
    called once per file (a progress bar). ``notes``: why a skipped layer was not checked.
    ``quiet``: the text reports of files that pass are left out."""
    from .pipeline import skippable

    for (f, walked), rep in zip(files, reports):
        if step:
            step()
        if rep.error and rep.media_type is None and skippable(f, walked):
            continue  # a script or README beside the media
        for name, note in (notes or {}).items():
            layer = rep.layers.get(name)
            if layer is not None and layer.status is Status.SKIPPED:
                layer.summary = note
        done.append(rep)
        if json_out:
            print(rep.to_json(), flush=True)
        elif not (quiet and rep.ok()):
            _print_report(rep)
        if rep.error:
            status = 2
            if json_out:
                err.print(f"[red]error:[/red] {_shown(f)}: {_shown(rep.error)}")
        elif not rep.ok() and status == 0:
            status = 1
    return status


def _verify_summary(reports: list, wanted: tuple[str, ...]) -> str:
    """One line for a batch (stderr, so that --json's stdout stays one object per line):
    how many files passed, and which layers failed how often."""
    unreadable = sum(1 for r in reports if r.error)
    passed = sum(1 for r in reports if r.ok())
    line = (f"verified {len(reports)} file(s): {passed} OK, "
            f"{len(reports) - passed - unreadable} with a layer not ok, {unreadable} unreadable")
    problems = []
    for name in wanted:
        counts: dict[str, int] = {}
        for r in reports:
            layer = r.layers.get(name)
            # a layer a file's reading stopped (ERROR) is in the unreadable count already; one
            # it checked all the same (the manifest of a file whose sound is damaged) counts
            # here, as its own line shows it (it was left out, its content IDs counted)
            if layer is None or (r.error and layer.status is Status.ERROR):
                continue
            if layer.status not in (Status.OK, Status.SKIPPED):
                counts[layer.status.value] = counts.get(layer.status.value, 0) + 1
        if counts:
            problems.append(f"{name} " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    disagree = sum(1 for r in reports if r.ids_agree is False)
    if disagree:
        problems.append(f"content IDs disagree on {disagree}")
    return line + (f" ({'; '.join(problems)})" if problems else "")


# --------------------------------------------------------------------------- keys


@keys_app.command("init")
def keys_init(
    home: HomeOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Replace existing development credentials; the old set is kept beside them (dev.replaced-TIME), whose watermark key and root still read and trust what was labeled with it.")] = False,
) -> None:
    """Create development credentials (root CA, ES256 signer, watermark key). NOT for production."""
    try:
        with warnings.catch_warnings():
            # The library warns on creation; the line below says it for the command line.
            warnings.simplefilter("ignore", credmod.DevelopmentCredentialsWarning)
            if force:
                path, kept = credmod.replace_dev_credentials(home)
            else:
                path, kept = credmod.init_dev_credentials(home), None
    except (credmod.CredentialError, OSError) as exc:
        err.print(f"[red]error:[/red] {esc(str(exc))}")
        raise typer.Exit(2) from None
    err.print(f"[yellow]warning:[/yellow] created DEVELOPMENT credentials in {esc(str(path))}; "
              "use your own certificate chain and keys in production")
    if kept is not None:
        # (deleted before: files labeled with the old key could never be read again)
        err.print(f"the replaced ones are kept in {esc(str(kept))}: files labeled with them are "
                  f"verified with --watermark-key {esc(str(kept / credmod.DEV_WM_KEY))} "
                  f"--trust-anchors {esc(str(kept / credmod.DEV_ROOT))}")


@keys_app.command("show")
def keys_show(home: HomeOpt = None, cert_chain: CertOpt = None, private_key: KeyOpt = None,
              watermark_key: WmKeyOpt = None, trust_anchors: AnchorsOpt = None) -> None:
    """Show which credentials would be used: signer, watermark-key fingerprint, number of trust anchors (never key material). Development credentials are created if none exist."""
    from .watermark import key_fingerprint

    creds = _load_creds(home, cert_chain, private_key, watermark_key, trust_anchors)
    # "signer" as verify names a manifest's signer (an allow-list built from this matches)
    signer, organization = credmod.signer_names(creds.cert_chain_pem)
    info = {
        "development": creds.is_development,
        "signer": signer,
        "signer_organization": organization,
        "watermark_key_fingerprint": key_fingerprint(creds.watermark_key),
        "trust_anchor_certificates": creds.trust_anchors_pem.count(b"BEGIN CERTIFICATE"),
    }
    print(json.dumps(info, indent=2, ensure_ascii=False))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
