"""Writing files safely: a reader never sees a half-written output, a crash leaves the old
file intact, and temporary files never outlive the step that made them.

Everything is written to a temp file in the target's own directory (so the final rename is
atomic on the same file system) and published with :func:`os.replace`, or, where nothing
may be replaced, by a hard link that fails if the name was taken meanwhile.
"""
from __future__ import annotations

import errno
import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def _umask() -> int:
    """The process umask, read without changing it where the platform allows (setting it,
    even briefly, would race with other threads creating files)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def default_mode() -> int:
    """The mode a plain ``open(..., "w")`` would give: 0666 less the umask (``mkstemp``
    creates 0600, which would make labeled media private by accident)."""
    return 0o666 & ~_umask()


def broken_link(path: Path) -> str | None:
    """'broken symbolic link to <target>' (or 'symbolic link loop') when ``path`` is one,
    else None (for errors)."""
    if not path.is_symlink():
        return None
    try:
        path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop"
        return f"broken symbolic link to {os.readlink(path)}"
    return None


#: Longest file name (bytes) on the file systems we write to (ext4, XFS, APFS, NTFS via WSL).
NAME_MAX = 255


def open_checked(path) -> tuple[BinaryIO, os.stat_result]:
    """``path`` opened for reading without blocking, and the open file's own stat. A file
    checked by name and then swapped (for a FIFO, a link to /dev/zero) before it is opened is
    caught on the stat of what was opened; a FIFO's open() would have blocked for good."""
    f = os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb")
    return f, os.fstat(f.fileno())


#: Containers c2pa cannot embed into: their manifest is a ``.c2pa`` sidecar of the same stem.
#: By format name (the sniffed container, and the audio writer's "opus") and by suffix.
SIDECAR_FORMATS = frozenset({"ogg", "opus", "mkv", "webm"})
SIDECAR_SUFFIXES = (".ogg", ".oga", ".opus", ".mkv", ".webm")


def sidecar_owner(sidecar: Path, source: Path) -> Path | None:
    """Another media file beside ``source`` that ``sidecar`` (``<stem>.c2pa``) may belong to:
    one of the same base name in a sidecar format (``v.mkv`` beside ``v.ogg``). ``source``
    need not exist yet (an output about to be written)."""
    for suffix in SIDECAR_SUFFIXES:
        for other in (sidecar.with_suffix(suffix), sidecar.with_suffix(suffix.upper())):
            try:
                if other.is_file() and not (os.path.lexists(source) and other.samefile(source)):
                    return other
            except OSError:
                continue
    return None


def shared_sidecar(sidecar: Path, dst: Path) -> str | None:
    """Why writing ``sidecar`` for the output ``dst`` would take another file's C2PA manifest:
    ``sidecar`` exists and also belongs to a media file of the same base name beside ``dst``
    (``x.c2pa`` of ``x.opus`` when writing ``x.ogg``). Refused even with overwrite, which is
    for earlier outputs: that file's manifest would then fail validation."""
    if not os.path.lexists(sidecar):
        return None
    other = sidecar_owner(sidecar, dst)
    if other is None:
        return None
    return (f"C2PA sidecar {sidecar} is {other.name}'s too (same base name), which would lose "
            "its manifest; write this file elsewhere or rename one of them")


def with_extension(path: Path, extension: str) -> Path:
    """``path`` named with ``extension`` (".mp4"): a suffix that is only digits (``take.01``,
    ``shot.0001``: a numbered sequence, not an extension) or none gets it appended, any other
    suffix is replaced. Replacing the numbers made ``take.01`` and ``take.02`` one output, and
    ``--in-place`` renamed the first to ``take.mp4``."""
    suffix = path.suffix
    if not suffix or suffix[1:].isdigit():
        return path.with_name(path.name + extension)
    return path.with_suffix(extension)


def _temp_prefix(name: str, suffix: str) -> str:
    """``.name.``, with ``name`` cut so that the temp name (prefix, mkstemp's 8 random
    characters, suffix) stays within NAME_MAX bytes, with room for the ``.part`` that the
    metadata writers add to a temp file of their own: an output whose own name is near the
    limit must still get its temp files."""
    room = NAME_MAX - len(os.fsencode(suffix)) - 8 - 2 - 8
    raw = os.fsencode(name)
    if len(raw) > room:
        name = raw[:room].decode("utf-8", "ignore")   # never half a character
    return f".{name}."


@contextmanager
def temp_path(directory: Path, name: str, suffix: str = ".tmp") -> Iterator[Path]:
    """A hidden temp file beside the eventual output, removed on exit unless it was
    published (renamed away) in the meantime."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(name, suffix), suffix=suffix, dir=directory)
    except OSError as exc:
        # Not the temp file's random name: the folder is what the user can do something about.
        raise OSError(exc.errno, f"cannot write to {directory}: {exc.strerror or exc}") from None
    os.close(fd)
    try:
        yield Path(tmp)
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass


def _place(tmp: Path, dst: Path, replace: bool) -> None:
    """Rename ``tmp`` to ``dst``; with ``replace=False`` never over an existing entry (a file,
    or a link, broken or not): a hard link made and the temp name dropped, which fails
    atomically when ``dst`` exists. Two batches labeling into one folder each checked that
    an output did not exist, then each renamed over the other's (QA, stop 44). On a file
    system without hard links, a check just before the rename is the best there is."""
    taken = FileExistsError(errno.EEXIST, f"output {dst} exists: another process wrote it "
                            "meanwhile (overwrite replaces it)")
    if replace:
        os.replace(tmp, dst)
        return
    try:
        os.link(tmp, dst)
    except FileExistsError:
        raise taken from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV,
                             errno.EMLINK, errno.ENOSYS):
            raise
        if os.path.lexists(dst):
            raise taken from None
        os.replace(tmp, dst)
        return
    os.unlink(tmp)


def publish(tmp: Path, dst: Path, *, mode: int | None = None, durable: bool = True,
            replace: bool = True) -> None:
    """Give ``tmp`` its final mode, flush it to disk and rename it over ``dst`` atomically
    (then sync the directory), so a crash leaves either the old file or the new one.
    ``durable=False`` skips the syncs, for files in a temporary folder that are read back
    at once (an in-memory labeling call). ``replace=False``: raise FileExistsError rather
    than replace anything at ``dst`` (see :func:`_place`)."""
    os.chmod(tmp, default_mode() if mode is None else mode)
    if not durable:
        _place(tmp, dst, replace)
        return
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    _place(tmp, dst, replace)
    try:
        dfd = os.open(dst.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def atomic_write(path: Path, data: bytes, *, mode: int | None = None, replace: bool = True) -> None:
    """Write ``data`` to ``path`` through a synced temp file and a rename (``replace``: as
    for :func:`publish`)."""
    with temp_path(path.parent, path.name) as tmp:
        tmp.write_bytes(data)
        publish(tmp, path, mode=mode, replace=replace)


def publish_media(tmp: Path, dst: Path, *, mode: int | None = None,
                  manifest: bytes | None = None, sidecar_format: bool = False,
                  durable: bool = True, replace: bool = True) -> None:
    """Publish a labeled media file and, for containers c2pa cannot embed into
    (``sidecar_format``), its ``.c2pa`` manifest beside it. Both are fully written before
    either is published, so a failure leaves neither a new file without its manifest nor a
    stale sidecar; replacing a file without a new manifest removes its old sidecar, which
    signed the old content and would read as tampered. ``replace=False``: FileExistsError
    rather than replace either (the media file taken back if its sidecar's name was)."""
    sidecar = dst.with_suffix(".c2pa")
    replacing = dst.exists()
    with temp_path(dst.parent, sidecar.name) as side_tmp:
        if manifest is not None:
            side_tmp.write_bytes(manifest)
        with signals_held():
            publish(tmp, dst, mode=mode, durable=durable, replace=replace)
            if manifest is not None:
                try:
                    publish(side_tmp, sidecar, durable=durable, replace=replace)
                except FileExistsError:
                    dst.unlink()
                    raise
            elif sidecar_format and replacing and sidecar.is_file():
                sidecar.unlink()


@contextmanager
def signals_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM (a batch being stopped) while a file and its sidecar are
    renamed into place, or a result is written to both the report and stdout, so that an
    interrupt never leaves one without the other; a signal
    that came meanwhile is raised again right after. (Python runs signal handlers in the main
    thread, whichever thread the signal hit, so swapping the handlers is enough; masking the
    signal would not be, with codec and BLAS threads around.)"""
    if threading.current_thread() is not threading.main_thread():
        yield                      # handlers can only be changed from the main thread
        return
    pending: list[int] = []
    old = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(sig)
        if previous is not None:   # None: installed outside Python, cannot be restored
            old[sig] = signal.signal(sig, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        for sig in pending:
            signal.raise_signal(sig)


def read_range(f: BinaryIO, start: int, length: int, block: int = 1 << 20) -> Iterator[bytes]:
    """The bytes ``[start, start + length)`` of the file open in ``f``, in blocks of at most
    ``block`` bytes (copying or hashing a large file without loading it). Raises
    :class:`EOFError` if the file ends first (it shrank while being read)."""
    f.seek(start)
    while length > 0:
        buf = f.read(min(block, length))
        if not buf:
            raise EOFError(f"file ended {length} bytes early")
        yield buf
        length -= len(buf)
